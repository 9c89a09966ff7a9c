//! HAND-WRITTEN PEERS FOR UNIT TESTS: a vim25 server behind vsphere-soap's
//! `HttpPost` and an Automation API server on a 127.0.0.1 socket, each
//! answering as its test scripts, including late, wrongly or not at all,
//! which no real peer does on request. The cluster test suite
//! (cts/tests/rest.rs) runs the agent against VMware's simulator.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_framework::{Deadline, Secret};
use vsphere_soap::http::{HttpReply, HttpRequest};
use vsphere_soap::{Error, HttpPost};

use crate::vim25::{Vim25, VCENTER_API_TYPE};

pub const COOKIE: &str = "vmware_soap_session=\"s3ss10n\"";

pub fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
    )
}

pub fn ok(body: &str) -> HttpReply {
    HttpReply {
        status: 200,
        body: envelope(body),
        set_cookies: Vec::new(),
    }
}

pub fn fault(kind: &str, text: &str) -> HttpReply {
    HttpReply {
        status: 500,
        body: envelope(&format!(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>{text}</faultstring><detail><{kind}Fault xmlns="urn:vim25" xsi:type="{kind}"></{kind}Fault></detail></soapenv:Fault>"#
        )),
        set_cookies: Vec::new(),
    }
}

pub fn service_content(api_type: &str) -> HttpReply {
    ok(&format!(
        r#"<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><viewManager type="ViewManager">ViewManager</viewManager><about><fullName>VMware product</fullName><apiType>{api_type}</apiType></about><searchIndex type="SearchIndex">SearchIndex</searchIndex><sessionManager type="SessionManager">SessionManager</sessionManager></returnval></RetrieveServiceContentResponse>"#
    ))
}

pub fn login_ok() -> HttpReply {
    HttpReply {
        set_cookies: vec![format!("{COOKIE}; Path=/; HttpOnly")],
        ..ok(
            r#"<LoginResponse xmlns="urn:vim25"><returnval><key>k</key><userName>fence</userName></returnval></LoginResponse>"#,
        )
    }
}

pub fn logout_ok() -> HttpReply {
    ok(r#"<LogoutResponse xmlns="urn:vim25"></LogoutResponse>"#)
}

/// vm-42 on host-21, named `name`, as one object of a reply.
pub fn vm_object(name: &str, power: &str, connection: &str) -> String {
    format!(
        r#"<objects><obj type="VirtualMachine">vm-42</obj><propSet><name>config.template</name><val xsi:type="xsd:boolean">false</val></propSet><propSet><name>name</name><val xsi:type="xsd:string">{name}</val></propSet><propSet><name>runtime.connectionState</name><val xsi:type="VirtualMachineConnectionState">{connection}</val></propSet><propSet><name>runtime.host</name><val type="HostSystem" xsi:type="ManagedObjectReference">host-21</val></propSet><propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">{power}</val></propSet></objects>"#
    )
}

/// host-21 ("esx7") as one object of a reply.
pub fn host_object(connection: &str) -> String {
    format!(
        r#"<objects><obj type="HostSystem">host-21</obj><propSet><name>name</name><val xsi:type="xsd:string">esx7</val></propSet><propSet><name>runtime.connectionState</name><val xsi:type="HostSystemConnectionState">{connection}</val></propSet></objects>"#
    )
}

/// A RetrievePropertiesEx reply of these objects.
pub fn objects(parts: &[String]) -> HttpReply {
    ok(&format!(
        r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>{}</returnval></RetrievePropertiesExResponse>"#,
        parts.concat()
    ))
}

/// Whether a RetrievePropertiesEx request follows the VM to its host.
pub fn follows_host(body: &str) -> bool {
    body.contains("<path>runtime.host</path>")
}

/// Whether a RetrievePropertiesEx request reads host-21 itself.
pub fn reads_host(body: &str) -> bool {
    body.contains(r#"type="HostSystem">host-21<"#)
}

/// What a vCenter where vm-42 ("node1", `vm` = (power, connection)) is on
/// host-21 (`host` = its connection state) answers to `method`.
pub fn vcenter(method: &str, body: &str, vm: (&str, &str), host: &str) -> HttpReply {
    match method {
        "RetrieveServiceContent" => service_content(VCENTER_API_TYPE),
        "Login" => login_ok(),
        "Logout" => logout_ok(),
        _ if reads_host(body) => objects(&[host_object(host)]),
        _ if follows_host(body) => objects(&[vm_object("node1", vm.0, vm.1), host_object(host)]),
        _ => objects(&[vm_object("node1", vm.0, vm.1)]),
    }
}

/// What the fake saw: each call's method and the cookie it carried.
pub type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

type Script = Box<dyn Fn(&str, &str) -> HttpReply + Send + Sync>;

/// A vim25 server answering each call with `script(method, body)`.
pub struct Fake {
    script: Script,
    seen: Seen,
}

impl HttpPost for Fake {
    fn post(&self, r: &HttpRequest<'_>, _: Deadline) -> Result<HttpReply, Error> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((r.what.to_string(), r.cookie.map(str::to_string)));
        }
        Ok((self.script)(r.what, r.body))
    }

    fn url(&self) -> &str {
        "https://vc.example.org:443/sdk"
    }
}

/// A vCenter where vm-42 is "node1", connected and off, on host-21,
/// connected; but where `script` answers a call (method, body), its
/// answer.
pub fn fake_sdk(
    script: impl Fn(&str, &str) -> Option<HttpReply> + Send + Sync + 'static,
) -> (Arc<Fake>, Seen) {
    let seen: Seen = Arc::default();
    let fake = Fake {
        script: Box::new(move |method, body| {
            script(method, body)
                .unwrap_or_else(|| vcenter(method, body, ("poweredOff", "connected"), "connected"))
        }),
        seen: Arc::clone(&seen),
    };
    (Arc::new(fake), seen)
}

/// [`fake_sdk`] behind a [`Vim25`] of user "fence".
pub fn fake(
    script: impl Fn(&str, &str) -> Option<HttpReply> + Send + Sync + 'static,
) -> (Vim25, Seen) {
    let (http, seen) = fake_sdk(script);
    (Vim25::new(http, "fence", &Secret::new("pw".into())), seen)
}

pub fn methods(seen: &Seen) -> Vec<String> {
    seen.lock()
        .map(|s| s.iter().map(|(m, _)| m.clone()).collect())
        .unwrap_or_default()
}

pub fn count(seen: &Seen, method: &str) -> usize {
    methods(seen).iter().filter(|m| *m == method).count()
}

/// The fake saw one Logout exactly, and it carried the session's cookie:
/// the session was ended once, and it was that session.
pub fn assert_one_logout_of_the_session(seen: &Seen) {
    let seen = seen.lock().unwrap().clone();
    let logouts: Vec<_> = seen.iter().filter(|(m, _)| m == "Logout").collect();
    assert_eq!(logouts.len(), 1, "{seen:?}");
    assert_eq!(logouts[0].1.as_deref(), Some(COOKIE), "{seen:?}");
}

/// Waits (5 s at most) until the fake has seen `method`; whether it did.
pub fn saw(seen: &Seen, method: &str) -> bool {
    let until = Deadline::after(Duration::from_secs(5));
    while !until.expired() {
        if count(seen, method) > 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

pub fn soon() -> Deadline {
    Deadline::after(Duration::from_secs(5))
}

/// One request an Automation API peer received: `METHOD /path`.
pub type Heard = Arc<Mutex<Vec<String>>>;

/// An Automation API server on 127.0.0.1, one request per connection:
/// `answer("POST /api/session")` gives the status line and JSON body
/// (after whatever wait it makes). Its port, and what it heard.
pub fn rest_peer(
    answer: impl Fn(&str) -> (&'static str, String) + Send + Sync + 'static,
) -> (u16, Heard) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("port").port();
    let heard: Heard = Arc::default();
    let answer = Arc::new(answer);
    let log = Arc::clone(&heard);
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let (answer, log) = (Arc::clone(&answer), Arc::clone(&log));
            std::thread::spawn(move || serve_one(c, &*answer, &log));
        }
    });
    (port, heard)
}

fn serve_one(c: TcpStream, answer: &dyn Fn(&str) -> (&'static str, String), heard: &Heard) {
    let mut reader = BufReader::new(match c.try_clone() {
        Ok(r) => r,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let mut parts = line.split_whitespace();
    let target = parts.next().unwrap_or("").to_string()
        + " "
        + parts.next().unwrap_or("").split('?').next().unwrap_or("");
    if let Ok(mut h) = heard.lock() {
        h.push(target.clone());
    }
    let (status, json) = answer(&target);
    let mut c = c;
    let _ = c.write_all(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        )
        .as_bytes(),
    );
}

pub fn heard(h: &Heard) -> Vec<String> {
    h.lock().map(|h| h.clone()).unwrap_or_default()
}

/// Waits (5 s at most) until the peer heard `target`; whether it did.
pub fn heard_it(h: &Heard, target: &str) -> bool {
    let until = Deadline::after(Duration::from_secs(5));
    while !until.expired() {
        if heard(h).iter().any(|t| t == target) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}
