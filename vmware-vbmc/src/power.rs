//! What the BMC needs from the thing that really powers the VM: the
//! [`PowerControl`] trait. Part 2 implements it on top of the shared
//! vSphere core (one logged-in session, the plug resolved exactly as
//! fence_vmware resolves it, verified power changes); the tests implement it
//! in memory.
//!
//! The IPMI side never trusts anything but what these calls return, and
//! maps every failure to a completion code in one place,
//! [`PowerError::completion_code`].

use std::fmt;

use agent_framework::Deadline;

use crate::ipmi::CompletionCode;

/// The VM's power state as the device reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerStatus {
    On,
    /// Powered off, or suspended (a suspended VM cannot write either).
    Off,
    /// The device cannot vouch for the VM's state: its host is disconnected
    /// or not responding, the VM is orphaned or inaccessible, the plug no
    /// longer names exactly one VM, or the device did not answer in time.
    /// Never reported to IPMI as "off".
    NotVouched(String),
}

/// Boot devices a VM's boot order can put first (vSphere's
/// VirtualMachineBootOptions bootable devices), as IPMI's boot device
/// selector names them (IPMI v2.0 §28.13, boot option parameter 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BootDevice {
    /// No override: the firmware's own order (an empty boot order).
    NoOverride,
    Pxe,
    Disk,
    Cdrom,
    Floppy,
}

impl BootDevice {
    pub fn name(self) -> &'static str {
        match self {
            BootDevice::NoOverride => "none",
            BootDevice::Pxe => "pxe",
            BootDevice::Disk => "disk",
            BootDevice::Cdrom => "cdrom",
            BootDevice::Floppy => "floppy",
        }
    }
}

impl fmt::Display for BootDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The boot device and how the VM boots, as the device reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootOverride {
    pub device: BootDevice,
    /// The VM boots with EFI firmware rather than BIOS.
    pub efi: bool,
}

/// Why a call failed. Each maps to one honest completion code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerError {
    /// The deadline passed before the device confirmed the result (what
    /// was not confirmed, or what did not answer). The operation may still
    /// complete later; nothing is claimed.
    Timeout(String),
    /// The device cannot vouch for the VM (see [`PowerStatus::NotVouched`]).
    NotVouched(String),
    /// Not possible in the VM's present state: resetting a powered-off VM,
    /// a guest shutdown without VMware Tools running.
    InvalidState(String),
    /// The device has no such operation or setting.
    Unsupported(String),
    /// Anything else: login refused, network failure, a fault from the
    /// device.
    Failed(String),
}

impl PowerError {
    /// The completion code a failed request is answered with (IPMI v2.0
    /// §5.2, Table 5-2). Never C0h ("busy") for a real failure: that code
    /// means "try again", which is not what happened.
    pub fn completion_code(&self) -> CompletionCode {
        match self {
            PowerError::Timeout(_) => CompletionCode::TIMEOUT,
            PowerError::NotVouched(_) => CompletionCode::RESPONSE_UNAVAILABLE,
            PowerError::InvalidState(_) => CompletionCode::NOT_IN_PRESENT_STATE,
            PowerError::Unsupported(_) => CompletionCode::SUBFUNCTION_UNAVAILABLE,
            PowerError::Failed(_) => CompletionCode::UNSPECIFIED,
        }
    }
}

impl fmt::Display for PowerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PowerError::Timeout(what) => write!(f, "not confirmed before the deadline: {what}"),
            PowerError::NotVouched(why) => write!(f, "the device cannot vouch for the VM: {why}"),
            PowerError::InvalidState(why) => write!(f, "not possible now: {why}"),
            PowerError::Unsupported(why) => write!(f, "not supported: {why}"),
            PowerError::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for PowerError {}

/// One VM's power, as the daemon's endpoint for it sees it.
///
/// Contract for every implementation:
/// - Every call returns by its `deadline` (give or take the time to notice
///   it passed); none blocks longer.
/// - Calls may come concurrently from several threads (a status poll while
///   a power-off is in progress); each must be safe and truthful on its
///   own.
/// - Every call acts on the one VM the configured plug identified at start
///   and still identifies; if that is no longer true (the VM was removed,
///   a second VM now matches), the call fails with `NotVouched` and acts on
///   nothing.
pub trait PowerControl: Send + Sync {
    /// The VM's power state, read from the device now (no cache). A state
    /// the device reports for a VM it cannot vouch for (host disconnected:
    /// the state is only what vCenter last heard) is `NotVouched`.
    fn status(&self, deadline: Deadline) -> PowerStatus;

    /// Power the VM off (hard, like pulling the plug) unless it is already
    /// off, and return `Ok` only once the device reports it off, for the
    /// same VM. `Err(Timeout)` if that is not confirmed by the deadline.
    fn power_off_verified(&self, deadline: Deadline) -> Result<(), PowerError>;

    /// Power the VM on unless it is already on, and return `Ok` only once
    /// the device reports it on.
    fn power_on_verified(&self, deadline: Deadline) -> Result<(), PowerError>;

    /// Hard reset of a running VM; `Ok` once the device reports the reset
    /// done and the VM on. A powered-off VM is `InvalidState`.
    fn reset(&self, deadline: Deadline) -> Result<(), PowerError>;

    /// Ask the guest operating system to shut down (VMware Tools); `Ok`
    /// once the device accepted the request. It does not wait for the VM to
    /// be off: IPMI's soft shutdown only initiates one. A guest without
    /// VMware Tools running, or a VM that is off, is `InvalidState`.
    fn soft_shutdown(&self, deadline: Deadline) -> Result<(), PowerError>;

    /// The device the VM boots from first, and its firmware.
    fn boot_device(&self, deadline: Deadline) -> Result<BootOverride, PowerError>;

    /// Put `wanted.device` first in the VM's boot order, for every boot
    /// (vSphere has no next-boot-only order); `NoOverride` clears the
    /// order. `wanted.efi` is the kind of boot asked for: a VM whose
    /// firmware is of the other kind is `InvalidState`, and nothing
    /// changes. `Ok` once the device confirmed the change.
    fn set_boot_device(&self, wanted: BootOverride, deadline: Deadline) -> Result<(), PowerError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_distinct_honest_codes() {
        let errors = [
            PowerError::Timeout("off".into()),
            PowerError::NotVouched("host disconnected".into()),
            PowerError::InvalidState("VM is off".into()),
            PowerError::Unsupported("no NMI".into()),
            PowerError::Failed("login refused".into()),
        ];
        let codes: Vec<u8> = errors.iter().map(|e| e.completion_code().0).collect();
        assert_eq!(codes, vec![0xC3, 0xCE, 0xD5, 0xD6, 0xFF]);
        assert!(!codes.contains(&0xC0), "busy is not an error report");
        assert!(!codes.contains(&0x00));
    }
}
