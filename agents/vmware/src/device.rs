//! `vmware_type=esx` (the default, and fence_vmware_soap): the framework's
//! [`Device`] on vsphere-core's [`Fencer`], over the vim25 (SOAP) backend.
//! Every rule lives in the core; this is only the wiring.

use std::sync::Arc;
use std::time::Duration;

use agent_framework::{
    logging, signals, Config, Deadline, Device, FenceError, Outlet, Plug, PowerState,
};
use vsphere_core::error::login_failure;
use vsphere_core::{Backend, Fencer, FencerOptions};
use vsphere_soap::HttpPost;
use vsphere_soap::{SdkHttp, SoapBackend, TlsPolicy};

use crate::settings::SoapSettings;

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

pub struct VsphereDevice<B: Backend>(Fencer<B>);

/// RetrieveServiceContent, then Login, within `deadline`.
pub fn connect_soap(
    cfg: &Config,
    s: SoapSettings,
    deadline: Deadline,
) -> Result<Box<dyn Device>, FenceError> {
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
    let password = cfg.password().ok_or(FenceError::PasswordMissing)?.clone();
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
    let options = FencerOptions {
        datacenter: s.datacenter,
        command_timeout: cfg.timeouts.shell.max(Duration::from_secs(1)),
    };
    Ok(Box::new(VsphereDevice(Fencer::new(backend, options))))
}

impl<B: Backend> Device for VsphereDevice<B> {
    fn power_state(&mut self, plug: &Plug, deadline: Deadline) -> Result<PowerState, FenceError> {
        self.0.power_state(plug, deadline)
    }

    fn set_power(
        &mut self,
        plug: &Plug,
        target: PowerState,
        deadline: Deadline,
    ) -> Result<(), FenceError> {
        self.0.set_power(plug, target, deadline)
    }

    fn list(&mut self, with_status: bool, deadline: Deadline) -> Result<Vec<Outlet>, FenceError> {
        self.0.list(with_status, deadline)
    }

    fn monitor(&mut self, _deadline: Deadline) -> Result<(), FenceError> {
        // Logging in was the check; disconnect() logs out.
        Ok(())
    }

    fn disconnect(&mut self) {
        self.0.disconnect();
    }
}
