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
//! and deadlines), opened on first use, or beforehand on a thread of its
//! own while the Automation API logs in and finds the VM
//! ([`Vim25::open_in_background`]: neither waits for the other), and
//! logged out on every way out, the signal handler's included
//! ([`Vim25Logout`]), a login still under way then included. Each read
//! of a VM follows it to its host in the same request where the server
//! allows it (vsphere-soap's `read_named`). The Automation API's
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

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use agent_framework::{logging, Deadline, Secret};
use vsphere_core::{
    names, Backend, BackendError, Connection, HostId, HostReading, Listed, Lookup, VmId, VmReading,
};
use vsphere_soap::{to_backend, HttpPost, LogoutHandle, SoapBackend};

use crate::gate::Gate;

/// What vim25 calls the product a vCenter runs (ServiceContent
/// `about.apiType`; an ESXi host says `HostAgent`).
pub(crate) const VCENTER_API_TYPE: &str = "VirtualCenter";

/// How long ending a session that a login under way brought late may
/// take (the wait for it may have used up the caller's time).
const LATE_LOGOUT: Duration = Duration::from_secs(2);

/// How long after its own deadline a login thread is still waited for:
/// its calls end at that deadline, and a session that came just before it
/// is handed over in this time, not left to a thread the process may not
/// outlive.
const HANDOVER: Duration = Duration::from_millis(250);

pub struct Vim25 {
    http: Arc<dyn HttpPost>,
    username: String,
    password: Secret,
    /// Reached (RetrieveServiceContent) on first use.
    backend: Option<SoapBackend>,
    /// A login under way on another thread, whose session the next call
    /// takes over.
    opening: Option<Opening>,
    gate: Arc<Gate<LogoutHandle>>,
    /// The VM's host as the last read of a VM found it: what the fencer
    /// asks next, for its message, when that read is refused.
    last_host: Option<(HostId, HostReading)>,
}

/// What the login thread has come to.
enum Outcome {
    Running,
    /// Boxed: a session is large beside the other outcomes.
    Done(Box<Result<SoapBackend, BackendError>>),
    /// Nobody waits any more: the thread ends the session it opens.
    Abandoned,
}

/// A login under way on another thread.
struct Opening {
    outcome: Arc<(Mutex<Outcome>, Condvar)>,
    /// The login's own deadline: it never runs past it.
    deadline: Deadline,
}

fn lock(m: &Mutex<Outcome>) -> MutexGuard<'_, Outcome> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Opening {
    /// The login's outcome, once it is there, waiting until `until` at
    /// most; `None` while it runs.
    fn wait(&self, until: Deadline) -> Option<Result<SoapBackend, BackendError>> {
        let (m, changed) = &*self.outcome;
        let mut outcome = lock(m);
        while matches!(*outcome, Outcome::Running) && !until.expired() {
            outcome = match changed.wait_timeout(outcome, until.remaining()) {
                Ok((guard, _)) => guard,
                Err(p) => p.into_inner().0,
            };
        }
        match std::mem::replace(&mut *outcome, Outcome::Running) {
            Outcome::Done(result) => Some(*result),
            other => {
                *outcome = other;
                None
            }
        }
    }

    /// Leaves the session the login opens to the login's thread to end.
    /// One it opened already is in the gate, for the caller to end.
    fn abandon(self) {
        let (m, _) = &*self.outcome;
        *lock(m) = Outcome::Abandoned;
    }
}

/// RetrieveServiceContent, the check that it is a vCenter, then Login.
fn reach(
    http: &Arc<dyn HttpPost>,
    username: &str,
    password: &Secret,
    deadline: Deadline,
) -> Result<SoapBackend, BackendError> {
    let backend = SoapBackend::open(Arc::clone(http), username, password.clone(), None, deadline)?;
    let api_type = backend.about().api_type.clone();
    if api_type != VCENTER_API_TYPE {
        return Err(BackendError::Fault(format!(
            "it is {} (apiType {api_type:?}), not a vCenter: /sdk and the Automation API at this \
             address are not the same server",
            backend.about().full_name
        )));
    }
    Ok(backend)
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
            opening: None,
            gate: Arc::default(),
            last_host: None,
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
            self.backend = Some(reach(&self.http, &self.username, &self.password, deadline)?);
        }
        self.backend
            .as_mut()
            .ok_or_else(|| BackendError::Protocol("no vim25 session".into()))
    }

    /// Starts logging in on another thread, within `deadline`, so that the
    /// session is open (or its failure known) when the first call needs
    /// it; that call, or the logout, takes it over. Nothing is started
    /// when a session is open or opening, or the agent is stopping; when
    /// no thread can be started, the first call logs in as before.
    pub fn open_in_background(&mut self, deadline: Deadline) {
        if self.backend.is_some() || self.opening.is_some() || self.is_open() {
            return;
        }
        // Marked before the thread exists: a signal that comes before it
        // runs waits for its login too.
        if self.gate.begin_login().is_err() {
            return;
        }
        let outcome = Arc::new((Mutex::new(Outcome::Running), Condvar::new()));
        let (http, username, password, gate, shared) = (
            Arc::clone(&self.http),
            self.username.clone(),
            self.password.clone(),
            Arc::clone(&self.gate),
            Arc::clone(&outcome),
        );
        let spawned = std::thread::Builder::new()
            .name("vim25 login".into())
            .spawn(move || {
                let result = catch_unwind(AssertUnwindSafe(|| {
                    let mut backend = reach(&http, &username, &password, deadline)?;
                    backend.login(deadline)?;
                    Ok(backend)
                }))
                .unwrap_or_else(|_| {
                    Err(BackendError::Fault("the vim25 login thread failed".into()))
                });
                // The signal handler, waiting in the gate, ends it from here on.
                gate.end_login(result.as_ref().ok().map(SoapBackend::logout_handle));
                let (m, changed) = &*shared;
                let mut now = lock(m);
                if matches!(*now, Outcome::Abandoned) {
                    drop(now);
                    // Unless the caller or the signal handler took it first.
                    if let Some(session) = gate.close() {
                        let _ = session.logout(deadline.at_least(LATE_LOGOUT));
                    }
                    return;
                }
                *now = Outcome::Done(Box::new(result));
                changed.notify_all();
            });
        match spawned {
            Ok(_) => self.opening = Some(Opening { outcome, deadline }),
            Err(e) => {
                self.gate.end_login(None);
                logging::debug(format!(
                    "No thread for the vim25 login ({e}); logging in when it is needed"
                ));
            }
        }
    }

    /// Takes over the login under way on another thread, if any, once it
    /// is done (until `deadline` at most): its session, or its failure,
    /// as if this call had logged in itself.
    fn settle(&mut self, deadline: Deadline) -> Result<(), BackendError> {
        let Some(opening) = self.opening.take() else {
            return Ok(());
        };
        match opening.wait(deadline) {
            Some(Ok(backend)) => {
                self.backend = Some(backend);
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => {
                self.opening = Some(opening);
                Err(BackendError::Timeout(
                    "the vim25 login under way did not finish in time".into(),
                ))
            }
        }
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
        let mut result = self
            .settle(deadline)
            .and_then(|()| self.session_call(deadline, &mut call));
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
    /// host's connection state from the same request, or from the next
    /// when the server did not follow the VM to its host; `rest_name` is
    /// the name the Automation API gave `vm`, which vim25 must give too.
    pub fn read(
        &mut self,
        vm: &VmId,
        rest_name: &str,
        deadline: Deadline,
    ) -> Result<VmReading, BackendError> {
        self.last_host = None;
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
        let connected = reading.connection == Connection::Connected;
        self.last_host = match (reading.host.clone(), named.host) {
            // Read in the same request as the VM: no older than its state.
            (Some(host), Some(h)) => Some((host, h)),
            // Read after the VM (a server that does not follow the VM to
            // its host): a host lost since then counts too. A VM already
            // refused needs no host to be.
            (Some(host), None) if connected => {
                let h = self.ask_host(&host, deadline)?;
                Some((host, h))
            }
            _ => None,
        };
        if connected {
            match &self.last_host {
                Some((_, h)) if h.connection != Connection::Connected => {
                    reading.connection = Connection::Disconnected;
                }
                Some(_) => {}
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

    /// A host's name and connection state: as the last read of a VM on it
    /// found them, once (the fencer's message about that read), or read
    /// now.
    pub fn read_host(
        &mut self,
        host: &HostId,
        deadline: Deadline,
    ) -> Result<HostReading, BackendError> {
        if let Some((h, reading)) = self.last_host.take() {
            if h == *host {
                return Ok(reading);
            }
        }
        self.ask_host(host, deadline)
    }

    /// A host's name and connection state, read now.
    fn ask_host(&mut self, host: &HostId, deadline: Deadline) -> Result<HostReading, BackendError> {
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

    /// Logs out, if a session is open; no login after this. A login under
    /// way on another thread is waited for, until `deadline` or its own
    /// deadline (and [`HANDOVER`]), whichever is later: it never runs past
    /// its own, so its session is ended here. Past both, its thread ends
    /// the session if one comes.
    pub fn logout(&mut self, mut deadline: Deadline) -> Result<(), BackendError> {
        if let Some(opening) = self.opening.take() {
            let login_over = opening.deadline.instant() + HANDOVER;
            let until = Deadline::at(deadline.instant().max(login_over));
            if opening.wait(until).is_none() {
                opening.abandon();
            }
            // The wait may have used up the caller's time: the session it
            // brought still gets some of its own to end.
            deadline = deadline.at_least(LATE_LOGOUT);
        }
        // The gate holds the session to end, whichever thread opened it:
        // taking it there leaves none to the login thread, and the login
        // thread's leaves none here.
        match self.gate.close() {
            Some(session) => session.logout(deadline).map_err(to_backend),
            None => Ok(()),
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
/// request; crate::testing): each test scripts what it answers, behind
/// vsphere-soap's HttpPost, or on a socket where the transport itself is
/// under test.
#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::time::Instant;

    use vsphere_soap::{Endpoint, Family, SdkHttp, TlsPolicy};

    use crate::testing::{
        assert_one_logout_of_the_session, count, fake, fault, host_object, login_ok, methods,
        objects, saw, service_content, soon, vcenter, vm_object,
    };

    fn vm42() -> VmId {
        VmId("vm-42".into())
    }

    /// A vCenter where vm-42 is (power, connection) and host-21 `host`.
    fn states(
        vm: (&'static str, &'static str),
        host: &'static str,
    ) -> (Vim25, crate::testing::Seen) {
        fake(move |m, b| Some(vcenter(m, b, vm, host)))
    }

    #[test]
    fn nothing_is_sent_before_a_read_and_the_session_is_logged_out_once() {
        let (mut vim, seen) = fake(|_, _| None);
        assert!(methods(&seen).is_empty());
        let r = vim.read(&vm42(), "node1", soon()).unwrap();
        assert_eq!(r.connection, Connection::Connected);
        assert_eq!(r.power, vsphere_core::VmPower::PoweredOff);
        // The VM and its host from one request.
        assert_eq!(
            methods(&seen),
            ["RetrieveServiceContent", "Login", "RetrievePropertiesEx"]
        );
        // Every read reads again, the session kept.
        vim.read(&vm42(), "node1", soon()).unwrap();
        assert_eq!(methods(&seen).len(), 4);
        vim.logout(soon()).unwrap();
        vim.logout(soon()).unwrap();
        assert_one_logout_of_the_session(&seen);
        assert!(
            vim.read(&vm42(), "node1", soon()).is_err(),
            "no login after the logout"
        );
    }

    #[test]
    fn every_state_but_connected_is_kept_and_a_lost_host_makes_the_vm_disconnected() {
        for state in ["orphaned", "inaccessible", "invalid", "disconnected"] {
            let (mut vim, seen) = states(("poweredOff", state), "connected");
            let r = vim.read(&vm42(), "node1", soon()).unwrap();
            assert_eq!(r.connection, Connection::parse(state));
            assert!(vsphere_core::state::vouch(&r).is_err(), "{state}");
            // The host, for the message, was read with the VM.
            assert_eq!(methods(&seen).len(), 3, "{state}");
            let h = vim.read_host(&HostId("host-21".into()), soon()).unwrap();
            assert_eq!(h.name.as_deref(), Some("esx7"));
            assert_eq!(methods(&seen).len(), 3, "{state}");
        }
        for state in ["notResponding", "disconnected", "poweredOn"] {
            let (mut vim, seen) = states(("poweredOff", "connected"), state);
            let r = vim.read(&vm42(), "node1", soon()).unwrap();
            assert_eq!(r.connection, Connection::Disconnected, "host {state}");
            assert_eq!(count(&seen, "RetrievePropertiesEx"), 1, "host {state}");
            // The fencer's question about the host is the reading's, once;
            // a second one is asked of vim25.
            let h21 = HostId("host-21".into());
            assert_eq!(
                vim.read_host(&h21, soon()).unwrap().connection,
                Connection::parse(state)
            );
            vim.read_host(&h21, soon()).unwrap();
            assert_eq!(count(&seen, "RetrievePropertiesEx"), 2, "host {state}");
        }
    }

    /// A server that does not follow the VM to its host answers the VM
    /// alone: the host is read after it, as before, and its state counts
    /// the same way. A server that refuses to follow is asked for the VM
    /// alone, and never again to follow.
    #[test]
    fn without_the_host_in_the_reply_the_host_is_read_after_the_vm() {
        for host in ["connected", "notResponding"] {
            let (mut vim, seen) = fake(move |m, b| {
                (m == "RetrievePropertiesEx").then(|| {
                    if crate::testing::reads_host(b) {
                        objects(&[host_object(host)])
                    } else {
                        objects(&[vm_object("node1", "poweredOn", "connected")])
                    }
                })
            });
            let r = vim.read(&vm42(), "node1", soon()).unwrap();
            let want = if host == "connected" {
                Connection::Connected
            } else {
                Connection::Disconnected
            };
            assert_eq!(r.connection, want, "{host}");
            assert_eq!(count(&seen, "RetrievePropertiesEx"), 2, "{host}");
        }
        let (mut vim, seen) = fake(|m, b| {
            (m == "RetrievePropertiesEx" && crate::testing::follows_host(b))
                .then(|| fault("InvalidProperty", "runtime.host"))
        });
        for _ in 0..2 {
            let r = vim.read(&vm42(), "node1", soon()).unwrap();
            assert_eq!(r.connection, Connection::Connected);
        }
        // Refused once, then VM and host apart in each read.
        assert_eq!(
            count(&seen, "RetrievePropertiesEx"),
            5,
            "{:?}",
            methods(&seen)
        );
        // Another host in the reply, or the VM's host twice, is no reading
        // of the VM's host: it is read on its own.
        for extra in [
            host_object("connected").replace("host-21", "host-99"),
            format!("{}{}", host_object("connected"), host_object("connected")),
        ] {
            let (mut vim, seen) = fake(move |m, b| {
                (m == "RetrievePropertiesEx" && !crate::testing::reads_host(b)).then(|| {
                    objects(&[vm_object("node1", "poweredOn", "connected"), extra.clone()])
                })
            });
            vim.read(&vm42(), "node1", soon()).unwrap();
            assert_eq!(count(&seen, "RetrievePropertiesEx"), 2);
        }
    }

    #[test]
    fn a_vm_vim25_names_otherwise_is_not_the_vm_the_automation_api_named() {
        let (mut vim, _) = fake(|m, b| {
            (m == "RetrievePropertiesEx" && !crate::testing::reads_host(b)).then(|| {
                objects(&[
                    vm_object("db07", "poweredOff", "connected"),
                    host_object("connected"),
                ])
            })
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
            (m == "RetrievePropertiesEx" && !crate::testing::reads_host(b)).then(|| {
                objects(&[
                    vm_object("web%2f01", "poweredOn", "connected"),
                    host_object("connected"),
                ])
            })
        });
        assert!(vim.read(&vm42(), "web/01", soon()).is_ok());
    }

    #[test]
    fn a_refused_login_is_a_refusal_saying_what_to_do_and_never_a_state() {
        for background in [false, true] {
            let (mut vim, seen) = fake(|m, _| {
                (m == "Login").then(|| {
                    fault(
                        "InvalidLogin",
                        "Cannot complete login due to an incorrect user name or password.",
                    )
                })
            });
            if background {
                vim.open_in_background(soon());
            }
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
            // One login either way: the read took the background's refusal.
            assert_eq!(count(&seen, "Login"), 1, "background {background}");
        }
    }

    #[test]
    fn properties_vim25_will_not_read_are_a_refusal_naming_the_privilege() {
        let (mut vim, _) = fake(|m, b| {
            (m == "RetrievePropertiesEx" && !crate::testing::reads_host(b)).then(|| {
                objects(&[r#"<objects><obj type="VirtualMachine">vm-42</obj><propSet><name>name</name><val xsi:type="xsd:string">node1</val></propSet><missingSet><path>runtime.connectionState</path><fault><fault xsi:type="NoPermission"/></fault></missingSet></objects>"#.to_string()])
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
                if m != "RetrievePropertiesEx" || crate::testing::reads_host(b) {
                    return None;
                }
                let mut n = reads.lock().unwrap();
                *n += 1;
                (*n == 1).then(|| fault("NotAuthenticated", "The session is not authenticated."))
            }
        });
        assert!(vim.read(&vm42(), "node1", soon()).is_ok());
        assert_eq!(count(&seen, "Login"), 2);
        // Only the session still open is logged out.
        vim.logout(soon()).unwrap();
        assert_eq!(count(&seen, "Logout"), 1);
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
        assert_eq!(count(&seen, "Login"), 2);
    }

    #[test]
    fn an_sdk_that_is_not_a_vcenter_is_not_asked_for_states() {
        for background in [false, true] {
            let (mut vim, seen) =
                fake(|m, _| (m == "RetrieveServiceContent").then(|| service_content("HostAgent")));
            if background {
                vim.open_in_background(soon());
            }
            match vim.read(&vm42(), "node1", soon()) {
                Err(BackendError::CannotVouch(m)) => assert!(m.contains("not a vCenter"), "{m}"),
                other => panic!("{other:?}"),
            }
            assert_eq!(methods(&seen), ["RetrieveServiceContent"]);
        }
    }

    #[test]
    fn uuids_are_found_in_one_call_per_kind_whatever_the_inventory() {
        let (mut vim, seen) = fake(|m, b| {
            (m == "FindAllByUuid").then(|| {
                let instance = b.contains("<instanceUuid>true</instanceUuid>");
                crate::testing::ok(&format!(
                    r#"<FindAllByUuidResponse xmlns="urn:vim25"><returnval type="VirtualMachine">vm-{}</returnval><returnval type="VirtualMachine">vm-7</returnval></FindAllByUuidResponse>"#,
                    if instance { 42 } else { 43 }
                ))
            })
        });
        let ids = vim
            .find_by_uuid("42 1c", soon())
            .map(|v| v.into_iter().map(|i| i.0).collect::<Vec<_>>());
        assert_eq!(ids.unwrap(), ["vm-42", "vm-7", "vm-43"]);
        assert_eq!(count(&seen, "FindAllByUuid"), 2);
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
        assert_eq!(count(&seen, "Login"), 1, "{seen:?}");
        assert_one_logout_of_the_session(&seen);
    }

    /// A vCenter whose Login answers only once the test says so.
    fn held_login() -> (Vim25, crate::testing::Seen, mpsc::Sender<()>) {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let (vim, seen) = fake(move |m, _| {
            (m == "Login").then(|| {
                let _ = release_rx
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(10));
                login_ok()
            })
        });
        (vim, seen, release_tx)
    }

    /// The login runs on its own thread while the caller goes on; the
    /// first read takes its session over, and logs in no second time.
    #[test]
    fn a_login_in_the_background_is_taken_over_by_the_first_read() {
        let (mut vim, seen, release) = held_login();
        vim.open_in_background(soon());
        assert!(saw(&seen, "Login"), "the login did not start");
        // The caller is not held by it.
        assert_eq!(methods(&seen), ["RetrieveServiceContent", "Login"]);
        let started = Instant::now();
        let reader = std::thread::spawn(move || {
            let r = vim.read(&vm42(), "node1", soon());
            (r, vim)
        });
        std::thread::sleep(Duration::from_millis(200));
        release.send(()).unwrap();
        let (r, mut vim) = reader.join().unwrap();
        assert_eq!(r.unwrap().connection, Connection::Connected);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(
            methods(&seen),
            ["RetrieveServiceContent", "Login", "RetrievePropertiesEx"]
        );
        vim.logout(soon()).unwrap();
        assert_eq!(count(&seen, "Logout"), 1);
    }

    /// The agent stops (the Automation API refused, the plug matched
    /// nothing) while the vim25 login is under way: the logout waits for
    /// it and ends the session it opened.
    #[test]
    fn a_logout_while_the_login_runs_waits_for_it_and_ends_its_session() {
        let (mut vim, seen, release) = held_login();
        vim.open_in_background(soon());
        assert!(saw(&seen, "Login"));
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            release.send(()).unwrap();
        });
        vim.logout(Deadline::after(Duration::from_millis(50)))
            .unwrap();
        releaser.join().unwrap();
        assert_one_logout_of_the_session(&seen);
        assert!(
            vim.read(&vm42(), "node1", soon()).is_err(),
            "no login after"
        );
    }

    /// A login that outlives even its own deadline (a server that does
    /// not let go) is left to its thread, which ends the session itself
    /// when it comes; the logout does not wait for it.
    #[test]
    fn a_login_past_every_deadline_is_ended_by_its_own_thread() {
        let (mut vim, seen, release) = held_login();
        vim.open_in_background(Deadline::after(Duration::from_millis(100)));
        assert!(saw(&seen, "Login"));
        let started = Instant::now();
        vim.logout(Deadline::after(Duration::from_millis(100)))
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(count(&seen, "Logout"), 0);
        release.send(()).unwrap();
        assert!(saw(&seen, "Logout"), "the late session was not ended");
        assert_eq!(count(&seen, "Logout"), 1);
    }

    /// The signal handler comes while the login runs on its thread: it
    /// waits for it and ends that session, and the agent's own logout
    /// ends nothing twice.
    #[test]
    fn the_signal_logout_catches_a_background_login() {
        let (mut vim, seen, release) = held_login();
        let handle = vim.logout_handle();
        vim.open_in_background(soon());
        assert!(saw(&seen, "Login"));
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            release.send(()).unwrap();
        });
        assert!(handle.logout(soon()).unwrap(), "a session was logged out");
        releaser.join().unwrap();
        vim.logout(soon()).unwrap();
        assert!(vim.read(&vm42(), "node1", soon()).is_err());
        assert_eq!(count(&seen, "Logout"), 1, "{:?}", methods(&seen));
        assert_eq!(count(&seen, "Login"), 1);
    }

    /// A read whose deadline passes before the login under way is done
    /// is a timeout, and the login stays the session's: the next read
    /// takes it over.
    #[test]
    fn a_read_that_cannot_wait_for_the_login_times_out_and_the_next_takes_it() {
        let (mut vim, seen, release) = held_login();
        vim.open_in_background(soon());
        assert!(saw(&seen, "Login"));
        match vim.read(
            &vm42(),
            "node1",
            Deadline::after(Duration::from_millis(100)),
        ) {
            Err(BackendError::Timeout(m)) => {
                assert!(m.contains("login under way"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        release.send(()).unwrap();
        assert!(vim.read(&vm42(), "node1", soon()).is_ok());
        assert_eq!(count(&seen, "Login"), 1);
        vim.logout(soon()).unwrap();
        assert_eq!(count(&seen, "Logout"), 1);
    }

    /// A thread that dies in the login leaves a failure, not a wait until
    /// the deadline.
    #[test]
    fn a_login_thread_that_dies_is_a_refusal_at_once() {
        let (mut vim, _) = fake(|m, _| {
            if m == "Login" {
                panic!("the fake dies in Login, as a bug would");
            }
            None
        });
        vim.open_in_background(Deadline::after(Duration::from_secs(30)));
        let started = Instant::now();
        match vim.read(&vm42(), "node1", Deadline::after(Duration::from_secs(30))) {
            Err(BackendError::CannotVouch(m)) => {
                assert!(m.contains("login thread failed"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        vim.logout(soon()).unwrap();
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
        for background in [false, true] {
            let mut vim = on_socket(|mut c| {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                std::thread::sleep(Duration::from_secs(5));
            });
            let started = Instant::now();
            let deadline = Deadline::after(Duration::from_millis(600));
            if background {
                vim.open_in_background(deadline);
            }
            match vim.read(&vm42(), "node1", deadline) {
                Err(BackendError::Timeout(m)) => assert!(m.contains("through vim25 at"), "{m}"),
                other => panic!("{other:?}"),
            }
            assert!(started.elapsed() < Duration::from_secs(2));
            vim.logout(Deadline::after(Duration::from_millis(300)))
                .unwrap();
            assert!(started.elapsed() < Duration::from_secs(2));
        }
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
            for background in [false, true] {
                let mut vim = on_socket(behave);
                if background {
                    vim.open_in_background(soon());
                }
                match vim.read(&vm42(), "node1", soon()) {
                    Err(BackendError::CannotVouch(m)) => {
                        assert!(m.contains("reading the connection state of vm-42"), "{m}")
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }
}
