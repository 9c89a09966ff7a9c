//! The vim25 session fence_vmware_rest keeps beside its Automation API
//! session, for what that API does not show:
//!
//! - whether vCenter is in touch with a VM. The Automation API has no VM
//!   connection state, and vCenter keeps answering with the last power
//!   state it heard for a VM that is orphaned (unregistered on its host,
//!   perhaps running elsewhere), inaccessible, invalid or on a lost host.
//!   vim25's `runtime.connectionState` says so, read in the same
//!   RetrievePropertiesEx as `runtime.powerState` (vim25
//!   `VirtualMachineConnectionState`);
//! - VMs by UUID: SearchIndex.FindAllByUuid answers in one call, where the
//!   Automation API needs a request per VM.
//!
//! The session is vsphere-soap's [`SoapBackend`] on the same endpoint
//! (`/sdk` at the same address and port, the same TLS policy, credentials
//! and deadlines), opened on first use and logged out on every way out,
//! the signal handler's included ([`Vim25Logout`]). The Automation API's
//! VM and host ids are vim25's managed object ids (`vm-42`, `host-21`),
//! and each read checks that vim25 gives the VM the name the Automation
//! API gave it: two APIs at one address that answered for two servers
//! would otherwise pair one VM's state with another VM's id.
//!
//! A failure here is never a session ending for the caller (the fencer
//! would log in to the Automation API again): a vim25 session that ended
//! is logged into again once; anything else the read cannot get becomes
//! [`BackendError::CannotVouch`], saying why and what to do, or a timeout.
//!
//! Not tried first: the VI/JSON protocol of vCenter 8.0 U1 and later
//! (`GET /sdk/vim25/{release}/VirtualMachine/{id}/runtime`, Broadcom's
//! "Virtual Infrastructure JSON API"). It reads the same properties with
//! the same privileges at the same `/sdk`, so it would vouch for nothing
//! SOAP does not; SOAP is needed anyway for every vCenter before 8.0 U1;
//! it would add its own login (SessionManager over JSON), a release to
//! negotiate and a 404 round trip on older servers; and no real peer
//! serves it here (Debian's govmomi 0.24 simulator has no VI/JSON).

use std::sync::Arc;

use agent_framework::{logging, Deadline, Secret};
use vsphere_core::{
    names, Backend, BackendError, Connection, HostId, HostReading, Listed, Lookup, VmId, VmReading,
};
use vsphere_soap::{to_backend, HttpPost, LogoutHandle, SoapBackend};

use crate::gate::Gate;

/// What vim25 calls the product a vCenter runs (ServiceContent
/// `about.apiType`; an ESXi host says `HostAgent`).
const VCENTER_API_TYPE: &str = "VirtualCenter";

pub struct Vim25 {
    http: Arc<dyn HttpPost>,
    username: String,
    password: Secret,
    /// Reached (RetrieveServiceContent) on first use.
    backend: Option<SoapBackend>,
    gate: Arc<Gate<LogoutHandle>>,
}

/// Logs the vim25 session out from another thread (the signal handler).
#[derive(Clone)]
pub struct Vim25Logout {
    gate: Arc<Gate<LogoutHandle>>,
}

impl Vim25Logout {
    /// Logs the session out, if one is open, and refuses any later login
    /// (a login under way is waited for first). Whether a session was
    /// logged out.
    pub fn logout(&self, deadline: Deadline) -> Result<bool, BackendError> {
        match self.gate.close_waiting(deadline) {
            Some(handle) => handle.logout(deadline).map(|()| true).map_err(to_backend),
            None => Ok(false),
        }
    }
}

impl Vim25 {
    /// Nothing is sent until a call needs the session.
    pub fn new(http: Arc<dyn HttpPost>, username: &str, password: &Secret) -> Vim25 {
        Vim25 {
            http,
            username: username.to_string(),
            password: password.clone(),
            backend: None,
            gate: Arc::default(),
        }
    }

    /// The SDK URL, for messages.
    pub fn url(&self) -> &str {
        self.http.url()
    }

    pub fn logout_handle(&self) -> Vim25Logout {
        Vim25Logout {
            gate: Arc::clone(&self.gate),
        }
    }

    /// Whether a session is open now.
    pub fn is_open(&self) -> bool {
        self.gate.current().is_some()
    }

    fn reach(&mut self, deadline: Deadline) -> Result<&mut SoapBackend, BackendError> {
        if self.backend.is_none() {
            let backend = SoapBackend::open(
                Arc::clone(&self.http),
                &self.username,
                self.password.clone(),
                None,
                deadline,
            )?;
            let api_type = backend.about().api_type.clone();
            if api_type != VCENTER_API_TYPE {
                return Err(BackendError::Fault(format!(
                    "it is {} (apiType {api_type:?}), not a vCenter: /sdk and the Automation API \
                     at this address are not the same server",
                    backend.about().full_name
                )));
            }
            self.backend = Some(backend);
        }
        self.backend
            .as_mut()
            .ok_or_else(|| BackendError::Protocol("no vim25 session".into()))
    }

    fn login(&mut self, deadline: Deadline) -> Result<(), BackendError> {
        self.gate.begin_login()?;
        let result = self.reach(deadline).and_then(|b| {
            b.login(deadline)?;
            Ok(b.logout_handle())
        });
        match result {
            Ok(handle) => {
                self.gate.end_login(Some(handle));
                Ok(())
            }
            Err(e) => {
                self.gate.end_login(None);
                Err(e)
            }
        }
    }

    /// Runs `call` on the session, logging in first when there is none
    /// and once more when it ended; its failures in the caller's terms
    /// (see the module's doc), `what` naming what was wanted.
    fn with_session<T>(
        &mut self,
        what: &str,
        deadline: Deadline,
        mut call: impl FnMut(&mut SoapBackend, Deadline) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let mut result = self.session_call(deadline, &mut call);
        if let Err(BackendError::NotAuthenticated(m)) = &result {
            logging::info(format!("The vim25 session ended ({m}); logging in again"));
            // Ended by the server: nothing to log out, whatever follows.
            self.gate.forget();
            result = self
                .login(deadline)
                .and_then(|()| self.session_call(deadline, &mut call));
        }
        result.map_err(|e| self.cannot_vouch(what, e))
    }

    fn session_call<T>(
        &mut self,
        deadline: Deadline,
        call: &mut impl FnMut(&mut SoapBackend, Deadline) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        if !self.is_open() {
            self.login(deadline)?;
        }
        let backend = self.reach(deadline)?;
        call(backend, deadline)
    }

    /// A vim25 failure as the reason nothing is vouched for. A timeout
    /// stays one (Pacemaker looks for "timed out").
    fn cannot_vouch(&self, what: &str, e: BackendError) -> BackendError {
        let url = self.url();
        match e {
            BackendError::Timeout(m) => {
                BackendError::Timeout(format!("{what} through vim25 at {url}: {m}"))
            }
            BackendError::CannotVouch(m) => BackendError::CannotVouch(m),
            other => BackendError::CannotVouch(format!(
                "{what} through vCenter's vim25 API at {url} failed: {other}. {}",
                advice(url)
            )),
        }
    }

    /// The VM's power and connection state from one vim25 request, and its
    /// host's connection state from the next; `rest_name` is the name the
    /// Automation API gave `vm`, which vim25 must give too.
    pub fn read(
        &mut self,
        vm: &VmId,
        rest_name: &str,
        deadline: Deadline,
    ) -> Result<VmReading, BackendError> {
        let what = format!("reading the connection state of {vm}");
        let named = self.with_session(&what, deadline, |b, d| b.read_named(vm, d))?;
        if !named.unreadable.is_empty() {
            let parts: Vec<String> = named
                .unreadable
                .iter()
                .map(|(path, fault)| format!("{path} ({fault})"))
                .collect();
            return Err(BackendError::CannotVouch(format!(
                "vim25 at {} would not read {} of {vm}. {}",
                self.url(),
                parts.join(", "),
                advice(self.url())
            )));
        }
        let same = named.name.as_deref().map(names::unescape) == Some(names::unescape(rest_name));
        if !same {
            return Err(BackendError::CannotVouch(format!(
                "{vm} is {rest_name:?} to the Automation API but {} to vim25 at {}: either the \
                 VM was renamed just now, or the two APIs at this address answer for different \
                 servers (a proxy?) and {vm} is not the same VM on both; nothing is done",
                named
                    .name
                    .as_deref()
                    .map(|n| format!("{n:?}"))
                    .unwrap_or_else(|| "nameless".into()),
                self.url()
            )));
        }
        let mut reading = named.reading;
        if reading.connection == Connection::Connected {
            match reading.host.clone() {
                // Read after the VM: a host lost since then counts too.
                Some(host) => {
                    if self.read_host(&host, deadline)?.connection != Connection::Connected {
                        reading.connection = Connection::Disconnected;
                    }
                }
                None => {
                    reading.connection = Connection::Other("on no host vim25 names".into());
                }
            }
        }
        Ok(reading)
    }

    /// Logs in, if no session is open.
    pub fn open(&mut self, deadline: Deadline) -> Result<(), BackendError> {
        self.with_session("logging in", deadline, |_, _| Ok(()))
    }

    /// A host's name and connection state.
    pub fn read_host(
        &mut self,
        host: &HostId,
        deadline: Deadline,
    ) -> Result<HostReading, BackendError> {
        let what = format!("reading the connection state of host {}", host.0);
        self.with_session(&what, deadline, |b, d| b.read_host(host, d))
    }

    /// Every VM whose instance or BIOS UUID is `uuid`, whatever the
    /// inventory's size (SearchIndex.FindAllByUuid, once per kind).
    pub fn find_by_uuid(
        &mut self,
        uuid: &str,
        deadline: Deadline,
    ) -> Result<Vec<VmId>, BackendError> {
        let what = format!("looking up UUID {uuid:?}");
        let found = self.with_session(&what, deadline, |b, d| b.find(Lookup::Uuid(uuid), d))?;
        let mut ids: Vec<VmId> = Vec::new();
        for c in found {
            if !ids.contains(&c.id) {
                ids.push(c.id);
            }
        }
        Ok(ids)
    }

    /// Every VM with its power and connection state, each pair from one
    /// object of one read.
    pub fn states(&mut self, deadline: Deadline) -> Result<Vec<Listed>, BackendError> {
        self.with_session(
            "reading the connection states of the virtual machines",
            deadline,
            |b, d| b.list(true, d),
        )
    }

    /// Logs out, if a session is open; no login after this.
    pub fn logout(&mut self, deadline: Deadline) -> Result<(), BackendError> {
        match (self.gate.close(), self.backend.as_mut()) {
            (Some(_), Some(backend)) => backend.logout(deadline),
            _ => Ok(()),
        }
    }
}

/// What to do when vim25 cannot be read.
fn advice(url: &str) -> String {
    format!(
        "fence_vmware_rest reads there what the Automation API does not show (whether vCenter is \
         in touch with a VM: orphaned, inaccessible, invalid and disconnected VMs keep their last \
         power state there), and without it vouches for no state. Let this user log in at {url} \
         with the same credentials and read the virtual machines (System.Read, as the Read-only \
         role gives), or use fence_vmware_soap"
    )
}

/// A hand-written vim25 server (no real one lies, stalls or refuses on
/// request): each test scripts what it answers, behind vsphere-soap's
/// HttpPost, or on a socket where the transport itself is under test.
#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use vsphere_soap::http::{HttpReply, HttpRequest};
    use vsphere_soap::{Endpoint, Error, Family, SdkHttp, TlsPolicy};

    const COOKIE: &str = "vmware_soap_session=\"s3ss10n\"";

    fn envelope(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
        )
    }

    fn ok(body: &str) -> HttpReply {
        HttpReply {
            status: 200,
            body: envelope(body),
            set_cookies: Vec::new(),
        }
    }

    fn fault(kind: &str, text: &str) -> HttpReply {
        HttpReply {
            status: 500,
            body: envelope(&format!(
                r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>{text}</faultstring><detail><{kind}Fault xmlns="urn:vim25" xsi:type="{kind}"></{kind}Fault></detail></soapenv:Fault>"#
            )),
            set_cookies: Vec::new(),
        }
    }

    fn service_content(api_type: &str) -> HttpReply {
        ok(&format!(
            r#"<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><viewManager type="ViewManager">ViewManager</viewManager><about><fullName>VMware product</fullName><apiType>{api_type}</apiType></about><searchIndex type="SearchIndex">SearchIndex</searchIndex><sessionManager type="SessionManager">SessionManager</sessionManager></returnval></RetrieveServiceContentResponse>"#
        ))
    }

    fn login_ok() -> HttpReply {
        HttpReply {
            set_cookies: vec![format!("{COOKIE}; Path=/; HttpOnly")],
            ..ok(
                r#"<LoginResponse xmlns="urn:vim25"><returnval><key>k</key><userName>fence</userName></returnval></LoginResponse>"#,
            )
        }
    }

    /// vm-42 on host-21, named `name`, with these properties.
    fn vm(name: &str, power: &str, connection: &str) -> HttpReply {
        ok(&format!(
            r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-42</obj><propSet><name>config.template</name><val xsi:type="xsd:boolean">false</val></propSet><propSet><name>name</name><val xsi:type="xsd:string">{name}</val></propSet><propSet><name>runtime.connectionState</name><val xsi:type="VirtualMachineConnectionState">{connection}</val></propSet><propSet><name>runtime.host</name><val type="HostSystem" xsi:type="ManagedObjectReference">host-21</val></propSet><propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">{power}</val></propSet></objects></returnval></RetrievePropertiesExResponse>"#
        ))
    }

    fn host(connection: &str) -> HttpReply {
        ok(&format!(
            r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="HostSystem">host-21</obj><propSet><name>name</name><val xsi:type="xsd:string">esx7</val></propSet><propSet><name>runtime.connectionState</name><val xsi:type="HostSystemConnectionState">{connection}</val></propSet></objects></returnval></RetrievePropertiesExResponse>"#
        ))
    }

    /// What the fake saw: each call's method and the cookie it carried.
    type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

    type Script = Box<dyn Fn(&str, &str) -> HttpReply + Send + Sync>;

    /// Answers each call with `script(method, body)`.
    struct Fake {
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
    fn fake(
        script: impl Fn(&str, &str) -> Option<HttpReply> + Send + Sync + 'static,
    ) -> (Vim25, Seen) {
        let seen: Seen = Arc::default();
        let fake = Fake {
            script: Box::new(move |method, body| {
                script(method, body).unwrap_or_else(|| match method {
                    "RetrieveServiceContent" => service_content(VCENTER_API_TYPE),
                    "Login" => login_ok(),
                    "Logout" => ok(r#"<LogoutResponse xmlns="urn:vim25"></LogoutResponse>"#),
                    _ if body.contains(r#"type="HostSystem">host-21<"#) => host("connected"),
                    _ => vm("node1", "poweredOff", "connected"),
                })
            }),
            seen: Arc::clone(&seen),
        };
        let vim = Vim25::new(Arc::new(fake), "fence", &Secret::new("pw".into()));
        (vim, seen)
    }

    fn methods(seen: &Seen) -> Vec<String> {
        seen.lock()
            .unwrap()
            .iter()
            .map(|(m, _)| m.clone())
            .collect()
    }

    fn soon() -> Deadline {
        Deadline::after(Duration::from_secs(5))
    }

    fn vm42() -> VmId {
        VmId("vm-42".into())
    }

    #[test]
    fn nothing_is_sent_before_a_read_and_the_session_is_logged_out_once() {
        let (mut vim, seen) = fake(|_, _| None);
        assert!(methods(&seen).is_empty());
        let r = vim.read(&vm42(), "node1", soon()).unwrap();
        assert_eq!(r.connection, Connection::Connected);
        assert_eq!(r.power, vsphere_core::VmPower::PoweredOff);
        assert_eq!(
            methods(&seen),
            [
                "RetrieveServiceContent",
                "Login",
                "RetrievePropertiesEx",
                "RetrievePropertiesEx"
            ]
        );
        // Every read reads again, the session kept.
        vim.read(&vm42(), "node1", soon()).unwrap();
        assert_eq!(methods(&seen).len(), 6);
        vim.logout(soon()).unwrap();
        vim.logout(soon()).unwrap();
        let seen = seen.lock().unwrap().clone();
        let logouts: Vec<_> = seen.iter().filter(|(m, _)| m == "Logout").collect();
        assert_eq!(logouts.len(), 1);
        assert_eq!(logouts[0].1.as_deref(), Some(COOKIE));
        assert!(
            vim.read(&vm42(), "node1", soon()).is_err(),
            "no login after the logout"
        );
    }

    #[test]
    fn every_state_but_connected_is_kept_and_a_lost_host_makes_the_vm_disconnected() {
        for state in ["orphaned", "inaccessible", "invalid", "disconnected"] {
            let (mut vim, seen) = fake(move |m, b| {
                (m == "RetrievePropertiesEx" && b.contains("VirtualMachine"))
                    .then(|| vm("node1", "poweredOff", state))
            });
            let r = vim.read(&vm42(), "node1", soon()).unwrap();
            assert_eq!(r.connection, Connection::parse(state));
            assert!(vsphere_core::state::vouch(&r).is_err(), "{state}");
            // No host read is needed to refuse.
            assert_eq!(methods(&seen).len(), 3, "{state}");
        }
        for state in ["notResponding", "disconnected", "poweredOn"] {
            let (mut vim, _) = fake(move |_, b| {
                b.contains(r#"type="HostSystem">host-21<"#)
                    .then(|| host(state))
            });
            let r = vim.read(&vm42(), "node1", soon()).unwrap();
            assert_eq!(r.connection, Connection::Disconnected, "host {state}");
        }
    }

    #[test]
    fn a_vm_vim25_names_otherwise_is_not_the_vm_the_automation_api_named() {
        let (mut vim, _) = fake(|m, b| {
            (m == "RetrievePropertiesEx" && b.contains("VirtualMachine"))
                .then(|| vm("db07", "poweredOff", "connected"))
        });
        match vim.read(&vm42(), "node1", soon()) {
            Err(BackendError::CannotVouch(m)) => {
                assert!(
                    m.contains("\"node1\" to the Automation API but \"db07\""),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        // The escaped and the plain form are one name.
        let (mut vim, _) = fake(|m, b| {
            (m == "RetrievePropertiesEx" && b.contains("VirtualMachine"))
                .then(|| vm("web%2f01", "poweredOn", "connected"))
        });
        assert!(vim.read(&vm42(), "web/01", soon()).is_ok());
    }

    #[test]
    fn a_refused_login_is_a_refusal_saying_what_to_do_and_never_a_state() {
        let (mut vim, seen) = fake(|m, _| {
            (m == "Login").then(|| {
                fault(
                    "InvalidLogin",
                    "Cannot complete login due to an incorrect user name or password.",
                )
            })
        });
        match vim.read(&vm42(), "node1", soon()) {
            Err(BackendError::CannotVouch(m)) => {
                for part in [
                    "reading the connection state of vm-42",
                    "https://vc.example.org:443/sdk",
                    "incorrect user name or password",
                    "System.Read",
                    "fence_vmware_soap",
                ] {
                    assert!(m.contains(part), "{part:?} missing: {m}");
                }
            }
            other => panic!("{other:?}"),
        }
        assert!(!vim.is_open());
        vim.logout(soon()).unwrap();
        assert!(!methods(&seen).contains(&"Logout".to_string()));
    }

    #[test]
    fn properties_vim25_will_not_read_are_a_refusal_naming_the_privilege() {
        let (mut vim, _) = fake(|m, b| {
            (m == "RetrievePropertiesEx" && b.contains("VirtualMachine")).then(|| {
                ok(r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-42</obj><propSet><name>name</name><val xsi:type="xsd:string">node1</val></propSet><missingSet><path>runtime.connectionState</path><fault><fault xsi:type="NoPermission"/></fault></missingSet></objects></returnval></RetrievePropertiesExResponse>"#)
            })
        });
        match vim.read(&vm42(), "node1", soon()) {
            Err(BackendError::CannotVouch(m)) => {
                assert!(m.contains("runtime.connectionState (NoPermission)"), "{m}");
                assert!(m.contains("System.Read"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_ended_session_is_logged_into_again_once_and_never_surfaces_as_ended() {
        // Ends once: logged into again, read again.
        let reads = Arc::new(Mutex::new(0));
        let (mut vim, seen) = fake({
            let reads = Arc::clone(&reads);
            move |m, b| {
                if m != "RetrievePropertiesEx" || !b.contains("VirtualMachine") {
                    return None;
                }
                let mut n = reads.lock().unwrap();
                *n += 1;
                (*n == 1).then(|| fault("NotAuthenticated", "The session is not authenticated."))
            }
        });
        assert!(vim.read(&vm42(), "node1", soon()).is_ok());
        assert_eq!(methods(&seen).iter().filter(|m| *m == "Login").count(), 2);
        // Only the session still open is logged out.
        vim.logout(soon()).unwrap();
        assert_eq!(methods(&seen).iter().filter(|m| *m == "Logout").count(), 1);
        // Ends every time: a refusal, not "the session ended" (which
        // would make the fencer log in to the Automation API again).
        let (mut vim, seen) = fake(|m, _| {
            (m == "RetrievePropertiesEx")
                .then(|| fault("NotAuthenticated", "The session is not authenticated."))
        });
        match vim.read(&vm42(), "node1", soon()) {
            Err(BackendError::CannotVouch(m)) => assert!(m.contains("not authenticated"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(methods(&seen).iter().filter(|m| *m == "Login").count(), 2);
    }

    #[test]
    fn an_sdk_that_is_not_a_vcenter_is_not_asked_for_states() {
        let (mut vim, seen) =
            fake(|m, _| (m == "RetrieveServiceContent").then(|| service_content("HostAgent")));
        match vim.read(&vm42(), "node1", soon()) {
            Err(BackendError::CannotVouch(m)) => assert!(m.contains("not a vCenter"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(methods(&seen), ["RetrieveServiceContent"]);
    }

    #[test]
    fn uuids_are_found_in_one_call_per_kind_whatever_the_inventory() {
        let (mut vim, seen) = fake(|m, b| {
            (m == "FindAllByUuid").then(|| {
                let instance = b.contains("<instanceUuid>true</instanceUuid>");
                ok(&format!(
                    r#"<FindAllByUuidResponse xmlns="urn:vim25"><returnval type="VirtualMachine">vm-{}</returnval><returnval type="VirtualMachine">vm-7</returnval></FindAllByUuidResponse>"#,
                    if instance { 42 } else { 43 }
                ))
            })
        });
        let ids = vim
            .find_by_uuid("42 1c", soon())
            .map(|v| v.into_iter().map(|i| i.0).collect::<Vec<_>>());
        assert_eq!(ids.unwrap(), ["vm-42", "vm-7", "vm-43"]);
        assert_eq!(
            methods(&seen)
                .iter()
                .filter(|m| *m == "FindAllByUuid")
                .count(),
            2
        );
    }

    /// The signal handler comes while the vim25 Login is under way: it
    /// waits for it, logs that session out, and no login follows.
    #[test]
    fn the_signal_logout_catches_a_vim25_login_in_flight() {
        let (in_login_tx, in_login_rx) = mpsc::channel::<()>();
        let in_login_tx = Mutex::new(in_login_tx);
        let (mut vim, seen) = fake(move |m, _| {
            (m == "Login").then(|| {
                let _ = in_login_tx.lock().unwrap().send(());
                std::thread::sleep(Duration::from_millis(500));
                login_ok()
            })
        });
        let handle = vim.logout_handle();
        let reader = std::thread::spawn(move || {
            let r = vim.read(&vm42(), "node1", soon());
            (r, vim)
        });
        in_login_rx.recv().unwrap();
        assert!(handle.logout(soon()).unwrap(), "a session was logged out");
        let (_, mut vim) = reader.join().unwrap();
        assert!(vim.read(&vm42(), "node1", soon()).is_err());
        assert!(!vim.is_open());
        let seen = seen.lock().unwrap().clone();
        let logins = seen.iter().filter(|(m, _)| m == "Login").count();
        let logouts: Vec<_> = seen.iter().filter(|(m, _)| m == "Logout").collect();
        assert_eq!(logins, 1, "{seen:?}");
        assert_eq!(logouts.len(), 1, "{seen:?}");
        assert_eq!(logouts[0].1.as_deref(), Some(COOKIE));
    }

    /// A real socket: vsphere-soap's client on vsphere-http, against a
    /// peer that accepts and then `behave`s.
    fn on_socket(behave: fn(std::net::TcpStream)) -> Vim25 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for c in l.incoming().take(4).flatten() {
                behave(c);
            }
        });
        let policy = TlsPolicy::PlainHttp;
        let e = Endpoint::parse("127.0.0.1", Some(port), &policy).unwrap();
        let http = SdkHttp::new(e, &policy, Family::Any).unwrap();
        Vim25::new(Arc::new(http), "fence", &Secret::new("pw".into()))
    }

    #[test]
    fn a_stalled_sdk_times_out_within_the_deadline() {
        let mut vim = on_socket(|mut c| {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            std::thread::sleep(Duration::from_secs(5));
        });
        let started = Instant::now();
        match vim.read(
            &vm42(),
            "node1",
            Deadline::after(Duration::from_millis(600)),
        ) {
            Err(BackendError::Timeout(m)) => assert!(m.contains("through vim25 at"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn an_sdk_that_dies_mid_reply_or_floods_is_a_refusal_not_a_state() {
        for behave in [
            (|mut c: std::net::TcpStream| {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n<?xml version=\"1.0\"?><soapenv:Envelope");
            }) as fn(std::net::TcpStream),
            |mut c| {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n");
                let chunk = vec![b'<'; 1 << 16];
                for _ in 0..200 {
                    if c.write_all(&chunk).is_err() {
                        break;
                    }
                }
            },
            |mut c| {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = c.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            },
        ] {
            let mut vim = on_socket(behave);
            match vim.read(&vm42(), "node1", soon()) {
                Err(BackendError::CannotVouch(m)) => {
                    assert!(m.contains("reading the connection state of vm-42"), "{m}")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
