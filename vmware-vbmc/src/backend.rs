//! The vSphere side of the daemon: one session with vCenter or ESXi
//! (vsphere-core's [`Fencer`] over vsphere-soap's [`SoapBackend`]), shared
//! by every endpoint, and a [`PowerControl`] per configured VM on it.
//!
//! Every rule of fencing a VM is the core's, applied exactly as
//! fence_vmware applies it: how a plug is looked up and when it names two
//! VMs, which states the device vouches for, how a power task is followed
//! and the state verified, logging in again when the session ended. This
//! module adds only what a long-running daemon needs and a one-shot agent
//! does not:
//!
//! - The session serves one request at a time ([`Turn`]), and a request
//!   waits for it no longer than its own deadline: it is answered in time,
//!   with an error, rather than queued behind another VM's slow task.
//! - Every HTTP exchange ends by the deadline of the IPMI request it serves
//!   ([`RequestBoundHttp`]). The core bounds some reads by its own command
//!   time; in a daemon that would stretch an answer past the console's
//!   retry window, where nobody reads it.
//! - Each request looks its plug up anew (VMs come and go while the daemon
//!   runs) and refuses when the plug now names another VM than the one it
//!   named first: a BMC belongs to one machine.
//!
//! What the core has no operation for is not improvised here: a hard reset
//! is a verified power-off followed by a verified power-on. A guest
//! shutdown and the boot order are the core's operations too, under the
//! same lookup and vouching rules.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_framework::{Deadline, FenceError, Plug, PowerState};
use vsphere_core::error::login_failure;
use vsphere_core::{
    Backend, BootClass, BootTarget, Fencer, FencerOptions, Firmware, OperationError, Status, VmId,
};
use vsphere_soap::http::{HttpPost, HttpReply, HttpRequest};
use vsphere_soap::{Endpoint, Family, LogoutHandle, SdkHttp, SoapBackend, TlsPolicy};

use crate::config::{AddressFamily, Config, SecretSource, Tls};
use crate::log::Logger;
use crate::power::{BootDevice, BootOverride, PowerControl, PowerError, PowerStatus};
use crate::turn::Turn;

/// Connecting and logging in at start.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Looking up one plug at start.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a power change is read back until verified.
const VERIFY_POLL: Duration = Duration::from_millis(250);
/// The logout when the daemon stops.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(4);

/// The vSphere session every endpoint shares.
pub struct Session {
    fencer: Turn<Fencer<SoapBackend>>,
    http: Arc<RequestBoundHttp>,
    logout: LogoutHandle,
    closed: AtomicBool,
    url: String,
    log: Logger,
}

/// What [`connect`] gives the daemon: a [`PowerControl`] per configured VM,
/// in order, and the session to close when it stops.
pub struct Connected {
    pub powers: Vec<Arc<dyn PowerControl>>,
    pub session: Arc<Session>,
}

/// vsphere-soap's HTTP client, with every exchange bounded by the deadline
/// of the request the session serves now, and logins and logouts logged
/// (the core logs in again on its own when the session ended).
struct RequestBoundHttp {
    inner: Box<dyn HttpPost>,
    bound: Mutex<Option<Deadline>>,
    logins: AtomicUsize,
    log: Logger,
}

impl RequestBoundHttp {
    fn bound_to(&self, deadline: Option<Deadline>) {
        *self
            .bound
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = deadline;
    }
}

impl HttpPost for RequestBoundHttp {
    fn post(
        &self,
        request: &HttpRequest<'_>,
        deadline: Deadline,
    ) -> Result<HttpReply, vsphere_soap::Error> {
        let bound = *self
            .bound
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let deadline = bound.map_or(deadline, |b| deadline.min(b));
        let reply = self.inner.post(request, deadline);
        let ok = matches!(&reply, Ok(r) if r.status < 300);
        match request.what {
            "Login" if ok => {
                let n = self.logins.fetch_add(1, Ordering::AcqRel) + 1;
                if n > 1 {
                    self.log.info(format_args!(
                        "vCenter session ended; logged in to {} again (login {n})",
                        self.inner.url()
                    ));
                }
            }
            "Logout" if ok => self
                .log
                .info(format_args!("logged out of {}", self.inner.url())),
            "Logout" => self.log.warn(format_args!(
                "logout from {} failed: {}",
                self.inner.url(),
                match &reply {
                    Ok(r) => format!("HTTP {}", r.status),
                    Err(e) => e.to_string(),
                }
            )),
            _ => {}
        }
        reply
    }

    fn url(&self) -> &str {
        self.inner.url()
    }
}

/// The failure's own words, without fence-agents' interface line, on one
/// line: a list the core prints one item a line (the VMs a plug matches)
/// follows its heading, separated by commas.
fn describe(e: &FenceError) -> String {
    let lines = e.message_lines();
    let cause = match lines.split_first() {
        Some((first, [])) => return first.clone(),
        Some((_, cause)) => cause,
        None => return String::new(),
    };
    let items: Vec<&str> = cause[1..].iter().map(|l| l.trim()).collect();
    if items.is_empty() {
        cause[0].clone()
    } else {
        format!("{} {}", cause[0], items.join(", "))
    }
}

/// The core's failures as the completion codes' classes.
fn power_error(e: FenceError) -> PowerError {
    let text = describe(&e);
    match e {
        FenceError::WaitingOn(_) | FenceError::WaitingOff(_) | FenceError::TimedOut(_) => {
            PowerError::Timeout(text)
        }
        // No VM, two VMs, a template, a state the device cannot vouch for.
        FenceError::Status(_) | FenceError::AmbiguousPlug(_) => PowerError::NotVouched(text),
        FenceError::Unsupported(_) => PowerError::Unsupported(text),
        _ => PowerError::Failed(text),
    }
}

/// The core's failures of a guest shutdown or a boot order change: what
/// the VM's state forbids keeps its class (D5h).
fn operation_error(e: OperationError) -> PowerError {
    match e {
        OperationError::Fence(e) => power_error(e),
        OperationError::InvalidState(why) => PowerError::InvalidState(why),
    }
}

/// IPMI's boot device as the core's boot class; `None` for no override.
fn boot_class(device: BootDevice) -> Option<BootClass> {
    match device {
        BootDevice::NoOverride => None,
        BootDevice::Pxe => Some(BootClass::Ethernet),
        BootDevice::Disk => Some(BootClass::Disk),
        BootDevice::Cdrom => Some(BootClass::Cdrom),
        BootDevice::Floppy => Some(BootClass::Floppy),
    }
}

fn boot_device_of(class: Option<BootClass>) -> BootDevice {
    match class {
        None => BootDevice::NoOverride,
        Some(BootClass::Ethernet) => BootDevice::Pxe,
        Some(BootClass::Disk) => BootDevice::Disk,
        Some(BootClass::Cdrom) => BootDevice::Cdrom,
        Some(BootClass::Floppy) => BootDevice::Floppy,
    }
}

fn busy(waited: Duration) -> String {
    format!(
        "waited {:.1} s for the vCenter session, which served other requests until this \
         one's deadline",
        waited.as_secs_f64()
    )
}

impl Session {
    /// Runs `call` on the fencer when it is this request's turn, with every
    /// exchange bounded by `deadline`; `Err` with why not otherwise.
    fn with<R>(
        &self,
        deadline: Deadline,
        call: impl FnOnce(&mut Fencer<SoapBackend>) -> R,
    ) -> Result<R, String> {
        let waited_from = std::time::Instant::now();
        let Some(mut fencer) = self.fencer.take(deadline) else {
            return Err(busy(waited_from.elapsed()));
        };
        if self.closed.load(Ordering::Acquire) {
            return Err("the daemon is stopping; its vCenter session is closed".into());
        }
        self.http.bound_to(Some(deadline));
        let r = call(&mut fencer);
        self.http.bound_to(None);
        Ok(r)
    }

    /// Logs out (once), after the request holding the session, if any, is
    /// done or `within` passed; then no request uses the session again.
    pub fn close(&self, within: Duration) {
        match self.fencer.take(Deadline::after(within)) {
            Some(mut fencer) => {
                self.closed.store(true, Ordering::Release);
                self.http.bound_to(Some(Deadline::after(LOGOUT_TIMEOUT)));
                fencer.disconnect();
                self.http.bound_to(None);
            }
            None => {
                self.closed.store(true, Ordering::Release);
                self.log.warn(format_args!(
                    "a request still holds the session with {} after {} s; logging out under it",
                    self.url,
                    within.as_secs()
                ));
                // Logged by RequestBoundHttp, success or not.
                let _ = self.logout.logout(Deadline::after(LOGOUT_TIMEOUT));
            }
        }
    }
}

/// One configured VM, on the shared session.
struct VmPower {
    session: Arc<Session>,
    plug: Plug,
    /// The VM the plug named at its first lookup.
    named: Mutex<Option<VmId>>,
}

impl VmPower {
    /// The VM the plug names now: the core's lookup, fresh for each
    /// request, and the same VM as at the first lookup.
    fn identify(
        &self,
        fencer: &mut Fencer<SoapBackend>,
        deadline: Deadline,
    ) -> Result<VmId, PowerError> {
        fencer.forget_plugs();
        let vm = fencer.resolve(&self.plug, deadline).map_err(power_error)?;
        let mut named = self
            .named
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match named.as_ref() {
            None => {
                self.session.log.info(format_args!(
                    "[{}] plug {:?} is {vm}",
                    self.plug,
                    self.plug.as_str()
                ));
                *named = Some(vm.clone());
            }
            Some(first) if *first == vm => {}
            Some(first) => {
                return Err(PowerError::NotVouched(format!(
                    "plug {:?} now names {vm}, not {first} as it did before: the VM was \
                     replaced, or another VM took its name; nothing was done. Restart \
                     vmware-vbmc if {vm} is the machine this endpoint is for",
                    self.plug.as_str()
                )))
            }
        }
        Ok(vm)
    }

    fn set_power(&self, target: PowerState, deadline: Deadline) -> Result<(), PowerError> {
        self.on_identified_vm(deadline, |fencer| {
            fencer
                .set_power_verified(&self.plug, target, deadline, VERIFY_POLL)
                .map_err(power_error)
        })
    }

    /// Runs `call` on the session once it is this request's turn and the
    /// plug still names the VM it named first.
    fn on_identified_vm<R>(
        &self,
        deadline: Deadline,
        call: impl FnOnce(&mut Fencer<SoapBackend>) -> Result<R, PowerError>,
    ) -> Result<R, PowerError> {
        self.session
            .with(deadline, |fencer| {
                self.identify(fencer, deadline)?;
                call(fencer)
            })
            .unwrap_or_else(|why| Err(PowerError::Timeout(why)))
    }
}

impl PowerControl for VmPower {
    fn status(&self, deadline: Deadline) -> PowerStatus {
        let read = self.session.with(deadline, |fencer| {
            let vm = self.identify(fencer, deadline)?;
            match fencer.status(&self.plug, deadline) {
                Ok(Status::Vouched(PowerState::On)) => Ok(PowerStatus::On),
                Ok(Status::Vouched(PowerState::Off)) => Ok(PowerStatus::Off),
                Ok(Status::NotVouched(refusal)) => Ok(PowerStatus::NotVouched(
                    refusal.describe(self.plug.as_str(), &vm.0),
                )),
                Err(e) => Err(power_error(e)),
            }
        });
        match read {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => PowerStatus::NotVouched(match e {
                PowerError::NotVouched(why) => why,
                other => other.to_string(),
            }),
            Err(why) => PowerStatus::NotVouched(why),
        }
    }

    fn power_off_verified(&self, deadline: Deadline) -> Result<(), PowerError> {
        self.set_power(PowerState::Off, deadline)
    }

    fn power_on_verified(&self, deadline: Deadline) -> Result<(), PowerError> {
        self.set_power(PowerState::On, deadline)
    }

    /// vsphere-core has no reset task: off, verified, then on, verified,
    /// each through the core. Only for a VM that is on, as a physical
    /// reset does nothing to a machine that is off.
    fn reset(&self, deadline: Deadline) -> Result<(), PowerError> {
        match self.status(deadline) {
            PowerStatus::On => {}
            PowerStatus::Off => {
                return Err(PowerError::InvalidState(
                    "the VM is off, and a reset does not power on an off machine".into(),
                ))
            }
            PowerStatus::NotVouched(why) => return Err(PowerError::NotVouched(why)),
        }
        self.set_power(PowerState::Off, deadline)?;
        self.set_power(PowerState::On, deadline)
    }

    /// vSphere's ShutdownGuest, through the core: answered once vCenter
    /// accepted it, which says nothing of when, or whether, the guest
    /// powers off (IPMI's soft shutdown only initiates one).
    fn soft_shutdown(&self, deadline: Deadline) -> Result<(), PowerError> {
        self.on_identified_vm(deadline, |fencer| {
            fencer
                .shutdown_guest(&self.plug, deadline)
                .map_err(operation_error)
        })
    }

    fn boot_device(&self, deadline: Deadline) -> Result<BootOverride, PowerError> {
        self.on_identified_vm(deadline, |fencer| {
            let setting = fencer
                .boot_setting(&self.plug, deadline)
                .map_err(operation_error)?;
            Ok(BootOverride {
                device: boot_device_of(setting.first),
                efi: setting.firmware == Firmware::Efi,
            })
        })
    }

    fn set_boot_device(&self, wanted: BootOverride, deadline: Deadline) -> Result<(), PowerError> {
        let target = match boot_class(wanted.device) {
            None => BootTarget::FirmwareOrder,
            Some(class) => BootTarget::First {
                class,
                efi: wanted.efi,
            },
        };
        self.on_identified_vm(deadline, |fencer| {
            fencer
                .set_boot(&self.plug, target, deadline)
                .map_err(operation_error)
        })
    }
}

/// fence_vmware's TLS and address family settings, from the configuration's.
fn tls_and_family(config: &Config) -> (TlsPolicy, Family) {
    let vc = &config.vcenter;
    let tls = match &vc.tls {
        Tls::Verify { cacert } => TlsPolicy::Verify {
            ca_file: cacert.clone(),
        },
        Tls::Insecure => TlsPolicy::Insecure,
        Tls::PlainHttp => TlsPolicy::PlainHttp,
    };
    let family = match vc.family {
        AddressFamily::Any => Family::Any,
        AddressFamily::V4 => Family::V4,
        AddressFamily::V6 => Family::V6,
    };
    (tls, family)
}

/// vsphere-soap's HTTP client for vCenter's SDK, as fence_vmware makes it:
/// the one place this crate names the client and its endpoint.
fn sdk_client(config: &Config) -> Result<Box<dyn HttpPost>, String> {
    let vc = &config.vcenter;
    let (tls, family) = tls_and_family(config);
    let endpoint =
        Endpoint::parse(&vc.ip, vc.ipport, &tls).map_err(|e| format!("[vcenter] ip: {e}"))?;
    match SdkHttp::new(endpoint, &tls, family) {
        Ok(client) => Ok(Box::new(client)),
        Err(e) => Err(format!(
            "cannot log in to {} as {}: {}",
            vc.ip,
            vc.username,
            describe(&login_failure(vsphere_soap::to_backend(e)))
        )),
    }
}

/// Logs in to vCenter (or ESXi) once for every endpoint, and looks every
/// plug up. A plug that names no VM, or two, does not stop the daemon: its
/// endpoint answers with an error code until it names exactly one.
pub fn connect(config: &Config, log: &Logger) -> Result<Connected, String> {
    let vc = &config.vcenter;
    let SecretSource::Value(password) = &vc.password else {
        return Err("[vcenter] password not resolved".into());
    };
    let inner = sdk_client(config)?;
    let url = inner.url().to_string();
    match tls_and_family(config).0 {
        TlsPolicy::Insecure => log.warn(format_args!(
            "ssl_insecure: the certificate of {url} is NOT verified"
        )),
        TlsPolicy::PlainHttp => log.warn(format_args!(
            "notls: the vCenter password and session travel unencrypted to {url}"
        )),
        TlsPolicy::Verify { .. } => {}
    }
    let cannot = |e: vsphere_core::BackendError| {
        format!(
            "cannot log in to {url} as {}: {}",
            vc.username,
            describe(&login_failure(e))
        )
    };
    let http = Arc::new(RequestBoundHttp {
        inner,
        bound: Mutex::new(None),
        logins: AtomicUsize::new(0),
        log: log.clone(),
    });
    let deadline = Deadline::after(LOGIN_TIMEOUT);
    http.bound_to(Some(deadline));
    let mut backend = SoapBackend::open(
        http.clone() as Arc<dyn HttpPost>,
        &vc.username,
        password.clone(),
        vc.datacenter.clone(),
        deadline,
    )
    .map_err(cannot)?;
    backend.login(deadline).map_err(cannot)?;
    http.bound_to(None);
    log.info(format_args!(
        "logged in to {} ({}) as {}: one session for every endpoint",
        url,
        backend.about().full_name,
        vc.username
    ));
    let logout = backend.logout_handle();
    let options = FencerOptions {
        datacenter: vc.datacenter.clone(),
        // How long a power task is watched before its state is read back:
        // the whole time a request has.
        command_timeout: config.limits.reply_within,
    };
    let session = Arc::new(Session {
        fencer: Turn::new(Fencer::new(backend, options)),
        http,
        logout,
        closed: AtomicBool::new(false),
        url,
        log: log.clone(),
    });
    let mut powers: Vec<Arc<dyn PowerControl>> = Vec::new();
    for vm in &config.vms {
        let power = VmPower {
            session: Arc::clone(&session),
            plug: Plug::new(vm.plug.clone()),
            named: Mutex::new(None),
        };
        let deadline = Deadline::after(LOOKUP_TIMEOUT);
        let found = session
            .with(deadline, |fencer| power.identify(fencer, deadline))
            .unwrap_or_else(|why| Err(PowerError::Timeout(why)));
        if let Err(e) = found {
            log.warn(format_args!(
                "[{}] {e}; its endpoint answers with an error code until the plug names exactly one VM",
                vm.plug
            ));
        }
        powers.push(Arc::new(power));
    }
    Ok(Connected { powers, session })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cores_failures_keep_their_meaning() {
        let cases = [
            (
                FenceError::WaitingOff("plug slow is not off".into()),
                "C3h",
                "plug slow is not off",
            ),
            (
                FenceError::TimedOut("reading the state: no answer in time".into()),
                "C3h",
                "reading the state",
            ),
            (
                FenceError::AmbiguousPlug("plug \"dup\" matches 2 virtual machines".into()),
                "CEh",
                "matches 2 virtual machines",
            ),
            (
                FenceError::Status("no virtual machine matches plug \"x\"".into()),
                "CEh",
                "no virtual machine matches",
            ),
            (
                FenceError::AmbiguousPlug(
                    "plug \"dup\" matches 2 virtual machines; nothing was done. Use an \
                     inventory path:\n  /DC0/vm/dup (vm-1)\n  /DC0/vm/sub/dup (vm-2)"
                        .into(),
                ),
                "CEh",
                "inventory path: /DC0/vm/dup (vm-1), /DC0/vm/sub/dup (vm-2)",
            ),
            (
                FenceError::LoginDenied("InvalidLogin".into()),
                "FFh",
                "InvalidLogin",
            ),
            (
                FenceError::InvalidPrivileges("powering off: NoPermission".into()),
                "FFh",
                "NoPermission",
            ),
        ];
        for (e, code, words) in cases {
            let p = power_error(e);
            assert_eq!(p.completion_code().to_string(), code, "{p:?}");
            let text = p.to_string();
            assert!(text.contains(words), "{text}");
            assert!(!text.contains("Failed:"), "no interface line: {text}");
        }
    }

    #[test]
    fn a_state_the_vm_is_in_is_d5h_and_the_cores_other_failures_keep_their_codes() {
        let cases = [
            (
                OperationError::InvalidState(
                    "asking the guest of plug node10 (vm-2) to shut down: VMware Tools is not \
                     running in the guest"
                        .into(),
                ),
                "D5h",
            ),
            (
                OperationError::Fence(FenceError::Status(
                    "the device cannot vouch for the power state of plug \"node10\"".into(),
                )),
                "CEh",
            ),
            (
                OperationError::Fence(FenceError::Unsupported("no call".into())),
                "D6h",
            ),
            (
                OperationError::Fence(FenceError::TimedOut("task task-9 still running".into())),
                "C3h",
            ),
            (
                OperationError::Fence(FenceError::Device("InvalidDeviceSpec".into())),
                "FFh",
            ),
        ];
        for (e, code) in cases {
            let p = operation_error(e);
            assert_eq!(p.completion_code().to_string(), code, "{p:?}");
        }
    }

    #[test]
    fn ipmi_boot_devices_are_the_cores_classes_both_ways() {
        for device in [
            BootDevice::NoOverride,
            BootDevice::Pxe,
            BootDevice::Disk,
            BootDevice::Cdrom,
            BootDevice::Floppy,
        ] {
            assert_eq!(boot_device_of(boot_class(device)), device);
        }
        assert_eq!(boot_class(BootDevice::Pxe), Some(BootClass::Ethernet));
        assert_eq!(boot_class(BootDevice::NoOverride), None);
    }

    #[test]
    fn tls_settings_are_fence_vmwares() {
        let config = |tls: &str| {
            crate::config::parse(&format!(
                "[vcenter]\nip = \"vc.example.com:8443\"\nusername = \"u\"\npassword = \"p\"\n{tls}\n\
                 [[vm]]\nplug = \"a\"\nlisten_address = \"127.0.0.1\"\nipmi_username = \"f\"\n\
                 ipmi_password = \"0123456789abcdef\"\n"
            ))
            .unwrap()
        };
        let c = config("");
        assert_eq!(
            tls_and_family(&c),
            (TlsPolicy::Verify { ca_file: None }, Family::Any)
        );
        assert_eq!(
            sdk_client(&c).unwrap().url(),
            "https://vc.example.com:8443/sdk"
        );
        let c = config("notls = true\ninet6_only = true");
        assert_eq!(tls_and_family(&c), (TlsPolicy::PlainHttp, Family::V6));
        assert_eq!(
            sdk_client(&c).unwrap().url(),
            "http://vc.example.com:8443/sdk"
        );
        let c = config("ssl_insecure = 1\nipport = 9443");
        assert_eq!(tls_and_family(&c).0, TlsPolicy::Insecure);
        assert_eq!(
            sdk_client(&c).unwrap().url(),
            "https://vc.example.com:9443/sdk",
            "ipport wins"
        );
    }
}
