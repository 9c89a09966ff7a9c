//! The framework's [`Device`] on vsphere-core's [`Fencer`], over the vim25
//! (SOAP) backend (`vmware_type=esx`, fence_vmware_soap) or the Automation
//! API's (fence_vmware_rest). Every rule lives in the core; this is only
//! the wiring: the connection, the logout on signals, and what monitor
//! checks.

use std::sync::Arc;
use std::time::Duration;

use agent_framework::{
    logging, signals, Action, Config, Deadline, Device, FenceError, Outlet, Plug, PowerState,
    Secret,
};
use vsphere_core::error::{login_failure, session_failure};
use vsphere_core::{Backend, BackendError, Fencer, FencerOptions};
use vsphere_rest::RestBackend;
use vsphere_soap::{HttpPost, SdkHttp, SoapBackend, TlsPolicy};

use crate::settings::{ApiSettings, RestSettings};

/// Options fence-agents' fence_vmware takes for its other modes, which
/// the vSphere API does not use.
const NOT_USED: &[&str] = &[
    "ssh",
    "ssh_options",
    "ssh_path",
    "identity_file",
    "port_as_ip",
    "exec",
    "gnutlscli_path",
];

/// How long the logout after SIGTERM or SIGINT may take.
const SIGNAL_LOGOUT: Duration = Duration::from_secs(3);

/// What `monitor` proves.
enum Monitor<B> {
    /// Logging in worked (fence_vmware, fence_vmware_soap).
    LoggedIn,
    /// The user sees at least one VM: fence-agents' fence_vmware_rest
    /// fails monitor on an empty list since its PR #569 (a user without
    /// privileges on the VMs sees none, and could fence nothing). Then,
    /// with `then`, what else fencing needs of the backend
    /// (fence_vmware_rest: its vim25 session, without which no state is
    /// vouched for; a monitor that passed without it would tell the
    /// cluster a device works that can fence nothing).
    SeesVms { then: Option<BackendCheck<B>> },
}

/// A check monitor makes on the backend itself.
type BackendCheck<B> = fn(&mut B, Deadline) -> Result<(), BackendError>;

pub struct VsphereDevice<B: Backend> {
    fencer: Fencer<B>,
    monitor: Monitor<B>,
}

/// What every personality does before connecting; the password.
fn prepare(cfg: &Config, s: &ApiSettings) -> Result<Secret, FenceError> {
    for unused in NOT_USED {
        if cfg.is_given(unused) {
            logging::debug(format!(
                "{unused} is accepted for compatibility and not used by the vSphere API"
            ));
        }
    }
    if s.tls == TlsPolicy::Insecure {
        logging::info("ssl_insecure: the server's TLS certificate and host name are NOT verified");
    }
    if s.tls == TlsPolicy::PlainHttp {
        logging::info("Plain HTTP: the password and the session travel unencrypted");
    }
    cfg.password().cloned().ok_or(FenceError::PasswordMissing)
}

fn fencer_options(cfg: &Config, s: &ApiSettings) -> FencerOptions {
    FencerOptions {
        datacenter: s.datacenter.clone(),
        command_timeout: cfg.timeouts.shell.max(Duration::from_secs(1)),
    }
}

/// RetrieveServiceContent, then Login, within `deadline`.
pub fn connect_soap(
    cfg: &Config,
    s: ApiSettings,
    deadline: Deadline,
) -> Result<Box<dyn Device>, FenceError> {
    let password = prepare(cfg, &s)?;
    let options = fencer_options(cfg, &s);
    let http = SdkHttp::new(s.endpoint, &s.tls, s.family)
        .map_err(|e| login_failure(vsphere_soap::to_backend(e)))?;
    logging::debug(format!("Connecting to {}", http.url()));
    let mut backend = SoapBackend::open(
        Arc::new(http),
        &s.username,
        password,
        s.datacenter.clone(),
        deadline,
    )
    .map_err(login_failure)?;
    // Every way out logs out: disconnect() on the paths the framework
    // controls, this handler on SIGTERM and SIGINT. It is registered
    // before Login so that a signal during Login still closes the session
    // (a Logout without one only earns a NotAuthenticated fault).
    let handle = backend.logout_handle();
    signals::on_interrupt(
        move || match handle.logout(Deadline::after(SIGNAL_LOGOUT)) {
            Ok(()) => logging::info("Logged out of the vSphere session"),
            Err(e) => logging::error(format!("Logout after the signal failed: {e}")),
        },
    );
    if let Err(e) = backend.login(deadline) {
        signals::clear();
        return Err(login_failure(e));
    }
    Ok(Box::new(VsphereDevice {
        fencer: Fencer::new(backend, options),
        monitor: Monitor::LoggedIn,
    }))
}

/// A session of the Automation API (/api, or /rest), within `deadline`,
/// and beside it a vim25 session at /sdk of the same address, for the
/// states and UUIDs (vsphere_rest::vim25), opened at the same time on
/// another thread unless the action is list.
pub fn connect_rest(
    cfg: &Config,
    s: RestSettings,
    deadline: Deadline,
) -> Result<Box<dyn Device>, FenceError> {
    let password = prepare(cfg, &s.api)?;
    let options = fencer_options(cfg, &s.api);
    let api = s.api;
    let sdk = SdkHttp::new(api.endpoint.clone(), &api.tls, api.family)
        .map_err(|e| login_failure(vsphere_soap::to_backend(e)))?;
    let http = vsphere_http::Client::new(api.endpoint, &api.tls, api.family)
        .map_err(|e| login_failure(vsphere_rest::error::transport("connecting", e)))?;
    logging::debug(format!("Connecting to {}", http.url("")));
    let mut backend = RestBackend::new(
        http,
        Arc::new(sdk),
        s.choice,
        &api.username,
        &password,
        api.datacenter,
        s.filter,
    );
    // As for SOAP: the handler ends the sessions on SIGTERM and SIGINT,
    // also one whose login is under way when the signal comes.
    let handle = backend.logout_handle();
    signals::on_interrupt(move || {
        let done = handle.logout(Deadline::after(SIGNAL_LOGOUT));
        for (api, result) in [("vSphere Automation API", done.rest), ("vim25", done.vim25)] {
            match result {
                Ok(true) => logging::info(format!("Ended the {api} session")),
                Ok(false) => logging::debug(format!("No {api} session to end")),
                Err(e) => logging::error(format!(
                    "Ending the {api} session after the signal failed: {e}"
                )),
            }
        }
    });
    // Every action but list reads or checks a VM's state through vim25:
    // its session opens while the Automation API logs in and finds the
    // VM, not after.
    let states = cfg.action != Action::List;
    if let Err(e) = backend.connect(states, deadline) {
        signals::clear();
        return Err(login_failure(e));
    }
    Ok(Box::new(VsphereDevice {
        fencer: Fencer::new(backend, options),
        monitor: Monitor::SeesVms {
            then: Some(RestBackend::open_vim25),
        },
    }))
}

impl<B: Backend> Device for VsphereDevice<B> {
    fn power_state(&mut self, plug: &Plug, deadline: Deadline) -> Result<PowerState, FenceError> {
        self.fencer.power_state(plug, deadline)
    }

    fn set_power(
        &mut self,
        plug: &Plug,
        target: PowerState,
        deadline: Deadline,
    ) -> Result<(), FenceError> {
        self.fencer.set_power(plug, target, deadline)
    }

    fn list(&mut self, with_status: bool, deadline: Deadline) -> Result<Vec<Outlet>, FenceError> {
        self.fencer.list(with_status, deadline)
    }

    fn monitor(&mut self, deadline: Deadline) -> Result<(), FenceError> {
        match self.monitor {
            // Logging in was the check; disconnect() logs out.
            Monitor::LoggedIn => Ok(()),
            Monitor::SeesVms { then } => {
                if self.fencer.list(false, deadline)?.is_empty() {
                    return Err(FenceError::Status(
                        "the server lists no virtual machine to this user (with this filter and \
                         vmware_datacenter): a user without privileges on the VMs sees none, and \
                         could fence none"
                            .into(),
                    ));
                }
                match then {
                    Some(check) => check(self.fencer.backend_mut(), deadline)
                        .map_err(|e| session_failure(e, "monitor")),
                    None => Ok(()),
                }
            }
        }
    }

    fn disconnect(&mut self) {
        self.fencer.disconnect();
    }
}
