//! How a backend fails, and the one place where those failures become
//! the framework's [`FenceError`] (its message line and exit code).

use std::fmt;

use agent_framework::FenceError;

use crate::backend::TaskId;

/// Every way a backend call can fail, whatever the API under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The device refused the credentials (vim25 InvalidLogin, HTTP 401
    /// at login).
    LoginRefused(String),
    /// The session is gone (vim25 NotAuthenticated, HTTP 401 later): a new
    /// login may help.
    NotAuthenticated(String),
    /// The user lacks a privilege (vim25 NoPermission, HTTP 403).
    NoPermission(String),
    /// The object does not exist (any more), or nothing has this name.
    NotFound(String),
    /// More than one object answers to a name the backend resolves itself
    /// (a datacenter).
    Ambiguous(String),
    /// An inventory path names an object that is not a VM: its type.
    WrongKind(String),
    /// The VM's power state does not allow the operation: it is already
    /// there (vim25 InvalidPowerState, REST already_in_desired_state).
    AlreadyInState(String),
    /// The VM's present state does not allow the call, which is not a
    /// power call: VMware Tools not running in its guest (vim25
    /// ToolsUnavailable), not powered on for a guest shutdown, a boot order
    /// its hardware or firmware cannot have.
    InvalidState(String),
    /// Another task runs on the VM (vim25 TaskInProgress).
    Busy {
        task: Option<TaskId>,
        detail: String,
    },
    /// This backend has no such lookup or call (REST: inventory paths,
    /// questions).
    Unsupported(&'static str),
    /// No answer in time.
    Timeout(String),
    /// TLS failed: certificate, host name or handshake.
    Tls(String),
    /// No connection could be made.
    Connect(String),
    /// The connection broke during the call.
    Io(String),
    /// Any other failure the device reported, described.
    Fault(String),
    /// A reply the backend cannot read.
    Protocol(String),
    /// What it takes to vouch for a VM's state could not be had, so no
    /// state of it may be believed (fence_vmware_rest: the vim25 read of
    /// its connection state failed). Says why and what to do.
    CannotVouch(String),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::LoginRefused(m)
            | BackendError::NotAuthenticated(m)
            | BackendError::NoPermission(m)
            | BackendError::NotFound(m)
            | BackendError::Ambiguous(m)
            | BackendError::AlreadyInState(m)
            | BackendError::Fault(m)
            | BackendError::CannotVouch(m) => f.write_str(m),
            BackendError::WrongKind(kind) => write!(f, "a {kind}, not a virtual machine"),
            BackendError::Busy { detail, .. } => f.write_str(detail),
            BackendError::InvalidState(m) => f.write_str(m),
            BackendError::Unsupported(what) => write!(f, "not supported by this API: {what}"),
            BackendError::Timeout(m) => write!(f, "no answer in time: {m}"),
            BackendError::Tls(m) => write!(f, "TLS: {m}"),
            BackendError::Connect(m) => write!(f, "cannot connect: {m}"),
            BackendError::Io(m) => write!(f, "connection lost: {m}"),
            BackendError::Protocol(m) => write!(f, "unexpected reply: {m}"),
        }
    }
}

/// A failure before there is a session: connecting, TLS, login.
pub fn login_failure(e: BackendError) -> FenceError {
    match e {
        BackendError::Timeout(m) => FenceError::TimedOut(format!("logging in: {m}")),
        BackendError::Tls(m) => FenceError::LoginDenied(format!(
            "TLS: the server's certificate or host name could not be verified, or TLS failed \
             ({m}). Trust its CA (cacert, or the system trust store) or, knowingly, set \
             ssl_insecure"
        )),
        other => FenceError::LoginDenied(other.to_string()),
    }
}

/// A failure on an open session, while doing `what`.
pub fn session_failure(e: BackendError, what: &str) -> FenceError {
    match e {
        BackendError::NoPermission(m) => FenceError::InvalidPrivileges(format!("{what}: {m}")),
        BackendError::NotAuthenticated(m) => {
            FenceError::ConnectionLost(format!("{what}: {m} (the session ended)"))
        }
        BackendError::NotFound(m) | BackendError::CannotVouch(m) => {
            FenceError::Status(format!("{what}: {m}"))
        }
        BackendError::Ambiguous(m) => FenceError::AmbiguousPlug(format!("{what}: {m}")),
        BackendError::Timeout(m) => FenceError::TimedOut(format!("{what}: {m}")),
        BackendError::Io(m) | BackendError::Connect(m) | BackendError::Tls(m) => {
            FenceError::ConnectionLost(format!("{what}: {m}"))
        }
        other => FenceError::Device(format!("{what}: {other}")),
    }
}

/// Why a VM operation beside power (a guest shutdown, a boot order
/// change or read) was not done.
#[derive(Debug)]
pub enum OperationError {
    /// As fence_vmware words its failures: no VM or several for the plug, a
    /// state the device cannot vouch for, the session, a fault, the time.
    Fence(FenceError),
    /// Not possible in the VM's present state (see
    /// [`BackendError::InvalidState`]): asking again will not help until
    /// the VM changes.
    InvalidState(String),
}

impl From<FenceError> for OperationError {
    fn from(e: FenceError) -> OperationError {
        OperationError::Fence(e)
    }
}

impl fmt::Display for OperationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperationError::Fence(e) => f.write_str(&e.message_lines().join("; ")),
            OperationError::InvalidState(m) => f.write_str(m),
        }
    }
}

/// A failure of an operation beside power, while doing `what`.
pub fn operation_failure(e: BackendError, what: &str) -> OperationError {
    match e {
        BackendError::InvalidState(m) => OperationError::InvalidState(format!("{what}: {m}")),
        BackendError::Unsupported(call) => OperationError::Fence(FenceError::Unsupported(format!(
            "{what}: this API has no call for {call}"
        ))),
        other => OperationError::Fence(session_failure(other, what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_fence_agents_interface_lines() {
        let cases = [
            (
                login_failure(BackendError::LoginRefused("InvalidLogin".into())),
                "Unable to connect/login to fencing device",
            ),
            (
                login_failure(BackendError::Timeout("Login".into())),
                "Connection timed out",
            ),
            (
                login_failure(BackendError::Tls("unknown CA".into())),
                "Unable to connect/login to fencing device",
            ),
            (
                session_failure(BackendError::NoPermission("NoPermission".into()), "off"),
                "Failed: The user does not have the correct privileges to do the requested action.",
            ),
            (
                session_failure(BackendError::NotAuthenticated("gone".into()), "off"),
                "Connection lost",
            ),
            (
                session_failure(BackendError::Io("reset".into()), "off"),
                "Connection lost",
            ),
            (
                session_failure(BackendError::Timeout("read".into()), "off"),
                "Connection timed out",
            ),
            (
                session_failure(BackendError::NotFound("vm-9".into()), "status"),
                "Failed: Unable to obtain correct plug status or plug is not available",
            ),
            (
                session_failure(BackendError::CannotVouch("vim25 refused".into()), "status"),
                "Failed: Unable to obtain correct plug status or plug is not available",
            ),
            (
                session_failure(BackendError::Ambiguous("two DC0".into()), "dc"),
                "Failed: Unable to obtain correct plug status or plug is not available",
            ),
        ];
        for (e, first) in cases {
            assert_eq!(e.message_lines()[0], first, "{e:?}");
            assert_eq!(e.exit_code(), 1);
        }
        let tls = login_failure(BackendError::Tls("unknown CA".into()));
        assert!(tls.message_lines()[1].contains("cacert"), "{tls:?}");
        let other = session_failure(BackendError::Fault("GenericVmConfigFault".into()), "on");
        assert_eq!(other.message_lines()[0], "Failed: on: GenericVmConfigFault");
    }

    /// A state the VM is in keeps its class; an API without the call is
    /// Unsupported, not a device failure; the rest is fence_vmware's.
    #[test]
    fn operation_failures_keep_their_class() {
        match operation_failure(
            BackendError::InvalidState("VMware Tools is not running".into()),
            "shutting the guest down",
        ) {
            OperationError::InvalidState(m) => {
                assert_eq!(m, "shutting the guest down: VMware Tools is not running")
            }
            other => panic!("{other:?}"),
        }
        match operation_failure(BackendError::Unsupported("guest shutdown"), "soft off") {
            OperationError::Fence(FenceError::Unsupported(m)) => {
                assert!(m.contains("no call for guest shutdown"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match operation_failure(BackendError::Timeout("read".into()), "boot order") {
            OperationError::Fence(e @ FenceError::TimedOut(_)) => {
                assert_eq!(e.message_lines()[0], "Connection timed out")
            }
            other => panic!("{other:?}"),
        }
        let e = operation_failure(BackendError::NoPermission("NoPermission".into()), "x");
        assert!(
            matches!(e, OperationError::Fence(FenceError::InvalidPrivileges(_))),
            "{e:?}"
        );
    }
}
