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
