//! vsphere-soap's `SoapBackend::read_named`, the read fence_vmware_rest
//! makes of every VM through vim25: power, connection, host, template,
//! the VM's name and what the server would not read, from one
//! RetrievePropertiesEx; and `read_host` from the same reply. Driven end
//! to end (envelope, HTTP reply, tree, object, reading) through a
//! scripted `HttpPost`.
//!
//! The reply holds one real VM (vm-42, its properties in an order and
//! with gaps the fuzzer picks) among objects the fuzzer names (other VMs,
//! vm-42 again, hosts) and, after it, XML the fuzzer writes raw. What
//! must hold: when the reply holds vm-42 once, with each property once,
//! the reading is exactly that VM's, its name as stored (trimmed), and a
//! property in `missingSet` is reported unreadable and never guessed;
//! otherwise the read is refused. The VM's host, read with it or on its
//! own, reads from its own object, there once with each property once, or
//! not at all.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_framework::{Deadline, Secret};
use vsphere_core::{Backend, BackendError, Connection, HostId, VmId, VmPower};
use vsphere_soap::http::{HttpReply, HttpRequest};
use vsphere_soap::parse::{host_reading, retrieve_result, ObjectContent};
use vsphere_soap::reply::parse_reply;
use vsphere_soap::{Error, HttpPost, Moref, NamedReading, SoapBackend};

use crate::esxi::{xml_char, xml_text};
use crate::{Choices, Fields};

const SERVICE_CONTENT: &str = r#"<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><viewManager type="ViewManager">ViewManager</viewManager><about><fullName>VMware vCenter Server 8.0.2 build-22385739</fullName><apiType>VirtualCenter</apiType></about><searchIndex type="SearchIndex">SearchIndex</searchIndex><sessionManager type="SessionManager">SessionManager</sessionManager></returnval></RetrieveServiceContentResponse>"#;

fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
    )
}

/// A vCenter that answers RetrieveServiceContent, then `reply` to
/// RetrievePropertiesEx; it keeps what it was asked.
struct Scripted {
    reply: String,
    asked: Mutex<Vec<String>>,
}

impl HttpPost for Scripted {
    fn post(&self, r: &HttpRequest<'_>, _: Deadline) -> Result<HttpReply, Error> {
        if let Ok(mut asked) = self.asked.lock() {
            asked.push(r.body.to_string());
        }
        let body = match r.what {
            "RetrieveServiceContent" => envelope(SERVICE_CONTENT),
            _ => self.reply.clone(),
        };
        Ok(HttpReply {
            status: 200,
            body,
            set_cookies: Vec::new(),
        })
    }

    fn url(&self) -> &str {
        "https://127.0.0.1:443/sdk"
    }
}

const POWERS: [(&str, VmPower); 3] = [
    ("poweredOn", VmPower::PoweredOn),
    ("poweredOff", VmPower::PoweredOff),
    ("suspended", VmPower::Suspended),
];

const CONNECTIONS: [(&str, Connection); 6] = [
    ("connected", Connection::Connected),
    ("disconnected", Connection::Disconnected),
    ("orphaned", Connection::Orphaned),
    ("inaccessible", Connection::Inaccessible),
    ("invalid", Connection::Invalid),
    ("notResponding", Connection::NotResponding),
];

/// The properties `read_named` asks for, in the order the planted VM
/// lists them before the fuzzer's rotation.
const PATHS: [&str; 5] = [
    "name",
    "runtime.powerState",
    "runtime.connectionState",
    "runtime.host",
    "config.template",
];

/// The planted VM: what each property says, and which ones the server
/// would not read (with the fault's type).
struct Planted {
    name: String,
    power: usize,
    connection: usize,
    host: String,
    template: bool,
    missing: Vec<(&'static str, &'static str)>,
}

impl Planted {
    fn prop_set(&self, path: &str) -> String {
        let val = match path {
            "name" => format!(
                r#"<val xsi:type="xsd:string">{}</val>"#,
                xml_text(&self.name)
            ),
            "runtime.powerState" => format!(
                r#"<val xsi:type="VirtualMachinePowerState">{}</val>"#,
                POWERS[self.power].0
            ),
            "runtime.connectionState" => format!(
                r#"<val xsi:type="VirtualMachineConnectionState">{}</val>"#,
                CONNECTIONS[self.connection].0
            ),
            "runtime.host" => format!(
                r#"<val type="HostSystem" xsi:type="ManagedObjectReference">{}</val>"#,
                self.host
            ),
            _ => format!(r#"<val xsi:type="xsd:boolean">{}</val>"#, self.template),
        };
        format!("<propSet><name>{path}</name>{val}</propSet>")
    }

    fn object(&self, rotation: usize) -> String {
        let mut out = String::from(r#"<objects><obj type="VirtualMachine">vm-42</obj>"#);
        for i in 0..PATHS.len() {
            let path = PATHS[(i + rotation) % PATHS.len()];
            if !self.missing.iter().any(|(p, _)| *p == path) {
                out.push_str(&self.prop_set(path));
            }
        }
        for (path, fault) in &self.missing {
            out.push_str(&format!(
                r#"<missingSet><path>{path}</path><fault><fault xsi:type="{fault}"></fault><localizedMessage></localizedMessage></fault></missingSet>"#
            ));
        }
        out.push_str("</objects>");
        out
    }

    fn is_missing(&self, path: &str) -> bool {
        self.missing.iter().any(|(p, _)| *p == path)
    }

    /// Each part of the reading checked against what was planted.
    fn check(&self, got: &NamedReading) {
        let r = &got.reading;
        if self.is_missing("runtime.powerState") {
            assert!(
                matches!(r.power, VmPower::Other(_)),
                "{r:?}: a missing power state guessed"
            );
        } else {
            assert_eq!(r.power, POWERS[self.power].1);
        }
        if self.is_missing("runtime.connectionState") {
            assert!(
                matches!(r.connection, Connection::Other(_)),
                "{r:?}: a missing connection state guessed"
            );
        } else {
            assert_eq!(r.connection, CONNECTIONS[self.connection].1);
        }
        let host = (!self.is_missing("runtime.host")).then(|| HostId(self.host.clone()));
        assert_eq!(r.host, host);
        assert_eq!(
            r.template,
            self.template && !self.is_missing("config.template")
        );
        assert_eq!((&r.question, &r.task), (&None, &None));
        let name = (!self.is_missing("name")).then(|| self.name.trim().to_string());
        assert_eq!(got.name, name, "the name read is not the VM's");
        let unreadable: Vec<(String, String)> = self
            .missing
            .iter()
            .map(|(p, f)| (p.to_string(), f.to_string()))
            .collect();
        assert_eq!(got.unreadable, unreadable);
    }
}

const FAULTS: [&str; 3] = ["NoPermission", "ManagedObjectNotFound", "SystemError"];

/// Another object of the reply: a VM (maybe vm-42 again) or a host, named
/// by the fuzzer.
fn other_object(name: &str, choices: &mut Choices) -> String {
    let (kind, id) = match choices.below(3) {
        0 => ("HostSystem", format!("host-{}", choices.below(50))),
        _ => ("VirtualMachine", format!("vm-{}", 30 + choices.below(16))),
    };
    format!(
        r#"<objects><obj type="{kind}">{id}</obj><propSet><name>name</name><val xsi:type="xsd:string">{}</val></propSet><propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">{}</val></propSet><propSet><name>runtime.connectionState</name><val xsi:type="VirtualMachineConnectionState">{}</val></propSet></objects>"#,
        xml_text(name),
        POWERS[choices.below(3)].0,
        CONNECTIONS[choices.below(CONNECTIONS.len())].0,
    )
}

/// The objects the reply holds for `obj`, as the tree reader sees it;
/// None when it does not read at all.
fn objects_in(reply: &str, obj: &Moref) -> Option<Vec<ObjectContent>> {
    let tree = parse_reply(reply).ok()?;
    Some(
        retrieve_result(&tree)
            .0
            .into_iter()
            .filter(|o| o.obj.as_ref() == Some(obj))
            .collect(),
    )
}

/// The host read in the same request is the object of the host the VM
/// names, there once with each property once, or nothing: never another
/// host's state, never a guess.
fn check_followed_host(got: &NamedReading, reply: &str) {
    let want = got.reading.host.as_ref().and_then(|h| {
        match objects_in(reply, &Moref::new("HostSystem", &h.0))?.as_slice() {
            [one] if once_each(one) => Some(host_reading(one)),
            _ => None,
        }
    });
    assert_eq!(
        got.host, want,
        "the host read with the VM is not its own host's object"
    );
}

fn once_each(o: &ObjectContent) -> bool {
    let mut names: Vec<&str> = o.props.iter().map(|(n, _)| n.as_str()).collect();
    names.extend(o.missing.iter().map(|(p, _)| p.as_str()));
    let all = names.len();
    names.sort_unstable();
    names.dedup();
    names.len() == all
}

/// Fields: the planted VM's name; choices (power, connection, host,
/// template, missing properties and their faults, the order of its
/// properties, where it stands, the other objects); raw XML put after it;
/// then the names of the other objects.
pub fn read_named(data: &[u8]) {
    let f = Fields::new(data);
    let name: String = f.text(0).chars().filter(|c| xml_char(*c)).collect();
    let mut choices = Choices::new(f.bytes(1));
    let missing_bits = choices.below(32);
    let planted = Planted {
        name,
        power: choices.below(POWERS.len()),
        connection: choices.below(CONNECTIONS.len()),
        host: format!("host-{}", choices.below(100)),
        template: choices.below(2) == 0,
        missing: PATHS
            .iter()
            .enumerate()
            .filter(|(i, _)| missing_bits & (1 << i) != 0)
            .map(|(_, p)| (*p, FAULTS[choices.below(FAULTS.len())]))
            .collect(),
    };
    let rotation = choices.below(PATHS.len());
    let others: Vec<String> = f
        .rest(3)
        .iter()
        .take(6)
        .map(|n| n.chars().filter(|c| xml_char(*c)).collect::<String>())
        .collect();
    let before = choices.below(others.len() + 1);
    let mut objects = String::new();
    for (i, n) in others.iter().enumerate() {
        if i == before {
            objects.push_str(&planted.object(rotation));
        }
        objects.push_str(&other_object(n, &mut choices));
    }
    if before == others.len() {
        objects.push_str(&planted.object(rotation));
    }
    objects.push_str(&f.text(2));
    let reply = envelope(&format!(
        r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>{objects}</returnval></RetrievePropertiesExResponse>"#
    ));

    let http = Arc::new(Scripted {
        reply: reply.clone(),
        asked: Mutex::new(Vec::new()),
    });
    let deadline = Deadline::after(Duration::from_secs(10));
    let mut backend = match SoapBackend::open(
        http.clone(),
        "fence",
        Secret::new("fuzz-password".into()),
        None,
        deadline,
    ) {
        Ok(b) => b,
        Err(e) => panic!("the scripted service content is refused: {e}"),
    };
    let got = backend.read_named(&VmId("vm-42".into()), deadline);
    let asked = http.asked.lock().map(|a| a.clone()).unwrap_or_default();
    let request = asked.last().map(String::as_str).unwrap_or("");
    assert!(
        request.contains(r#"<obj type="VirtualMachine">vm-42</obj>"#)
            && PATHS
                .iter()
                .all(|p| request.contains(&format!("<pathSet>{p}</pathSet>"))),
        "the request does not ask for vm-42's name and state: {request}"
    );

    // Read when the reply holds the VM once, with each property once, as
    // exactly it; refused otherwise (two readings are no reading).
    let vm42 = Moref::new("VirtualMachine", "vm-42");
    match (got, objects_in(&reply, &vm42)) {
        (Ok(got), Some(found)) if matches!(found.as_slice(), [one] if once_each(one)) => {
            planted.check(&got);
            check_followed_host(&got, &reply);
        }
        (Ok(got), found) => panic!("{got:?} read from vm-42's objects {found:?}"),
        (Err(e), Some(found)) if matches!(found.as_slice(), [one] if once_each(one)) => {
            panic!("vm-42, there once, is refused: {e}")
        }
        (Err(_), _) => {}
    }

    // The VM's host, from the same reply: its own object or nothing.
    let host = Moref::new("HostSystem", &planted.host);
    let read = backend.read_host(&HostId(planted.host.clone()), deadline);
    match (read, objects_in(&reply, &host)) {
        (Ok(r), Some(found)) if matches!(found.as_slice(), [one] if once_each(one)) => {
            assert_eq!(
                r,
                host_reading(&found[0]),
                "{} read from another object",
                host.value
            )
        }
        (Ok(r), found) => panic!("{r:?} read from {}'s objects {found:?}", host.value),
        (Err(BackendError::NotFound(_)), Some(found)) => {
            assert!(found.is_empty(), "{} is there, yet not found", host.value)
        }
        (Err(e), Some(found)) if matches!(found.as_slice(), [one] if once_each(one)) => {
            panic!("{}, there once, is refused: {e}", host.value)
        }
        (Err(_), _) => {}
    }
}
