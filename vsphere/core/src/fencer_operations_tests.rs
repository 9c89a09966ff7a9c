//! A guest shutdown and the boot order against the scripted in-memory
//! device: the lookup and vouching rules hold for them as for power, the
//! boot order change is followed to its end within the deadline and read
//! back.

use std::time::{Duration, Instant};

use agent_framework::{Deadline, FenceError};

use crate::boot::{BootClass, BootEntry, BootTarget, DeviceKey, Firmware};
use crate::error::{BackendError, OperationError};
use crate::fencer::tests::{fencer, plug, soon};
use crate::fencer::{Fencer, FencerOptions};
use crate::scripted::{Call, FakeVm, Scripted};
use crate::state::{Connection, VmPower};

fn inventory() -> Vec<FakeVm> {
    vec![
        FakeVm::new(1, "node1", ""),
        FakeVm::new(2, "node10", ""),
        FakeVm::new(4, "dup", ""),
        FakeVm::new(5, "dup", "/sub"),
    ]
}

fn pxe() -> BootTarget {
    BootTarget::First {
        class: BootClass::Ethernet,
        efi: false,
    }
}

fn disk() -> BootTarget {
    BootTarget::First {
        class: BootClass::Disk,
        efi: false,
    }
}

fn invalid_state(e: OperationError) -> String {
    match e {
        OperationError::InvalidState(m) => m,
        other => panic!("not InvalidState: {other:?}"),
    }
}

fn fence(e: OperationError) -> FenceError {
    match e {
        OperationError::Fence(f) => f,
        other => panic!("not a fence failure: {other:?}"),
    }
}

#[test]
fn a_guest_running_vmware_tools_is_asked_to_shut_down_once() {
    let mut f = fencer(Scripted::new(inventory()));
    f.shutdown_guest(&plug("node10"), soon()).unwrap();
    assert_eq!(f.backend().count("shutdown_guest vm-2"), 1);
    assert_eq!(f.backend().count("shutdown_guest"), 1, "no other VM");
    // Asked, not done: the core claims nothing about the power state.
    assert_eq!(f.backend().vm("node10").power, VmPower::PoweredOn);
}

#[test]
fn a_guest_without_tools_or_an_off_vm_is_not_in_a_state_to_shut_down() {
    let mut backend = Scripted::new(inventory());
    backend.vm_mut("node10").guest_tools = false;
    backend.vm_mut("node1").power = VmPower::PoweredOff;
    let mut f = fencer(backend);
    let m = invalid_state(f.shutdown_guest(&plug("node10"), soon()).unwrap_err());
    assert!(
        m.contains("asking the guest of plug node10 (vm-2) to shut down")
            && m.contains("VMware Tools is not running"),
        "{m}"
    );
    let m = invalid_state(f.shutdown_guest(&plug("node1"), soon()).unwrap_err());
    assert!(m.contains("is off: there is no running guest"), "{m}");
    assert_eq!(
        f.backend().count("shutdown_guest vm-1"),
        0,
        "an off VM is not asked"
    );
}

#[test]
fn operations_beside_power_refuse_what_the_device_cannot_vouch_for() {
    for state in ["disconnected", "orphaned", "inaccessible", "invalid"] {
        let mut backend = Scripted::new(inventory());
        let vm = backend.vm_mut("node10");
        vm.connection = Connection::parse(state);
        let mut f = fencer(backend);
        let e = fence(f.shutdown_guest(&plug("node10"), soon()).unwrap_err());
        assert!(matches!(e, FenceError::Status(_)), "{e:?}");
        assert!(e.message_lines().join(" ").contains(state), "{e:?}");
        let e = fence(f.set_boot(&plug("node10"), pxe(), soon()).unwrap_err());
        assert!(matches!(e, FenceError::Status(_)), "{e:?}");
        let e = fence(f.boot_setting(&plug("node10"), soon()).unwrap_err());
        assert!(matches!(e, FenceError::Status(_)), "{e:?}");
        let b = f.backend();
        assert_eq!(
            (
                b.count("shutdown_guest"),
                b.count("start_boot_order"),
                b.count("read_boot")
            ),
            (0, 0, 0),
            "{state}: {:?}",
            b.calls
        );
    }
    let mut backend = Scripted::new(inventory());
    backend.vm_mut("node10").template = true;
    let mut f = fencer(backend);
    let e = fence(f.set_boot(&plug("node10"), pxe(), soon()).unwrap_err());
    assert!(
        e.message_lines().join(" ").contains("is a template"),
        "{e:?}"
    );
    // Two VMs answer to "dup": neither is touched.
    let e = fence(f.shutdown_guest(&plug("dup"), soon()).unwrap_err());
    assert!(matches!(e, FenceError::AmbiguousPlug(_)), "{e:?}");
    let e = fence(f.set_boot(&plug("dup"), pxe(), soon()).unwrap_err());
    assert!(matches!(e, FenceError::AmbiguousPlug(_)), "{e:?}");
    assert_eq!(f.backend().count("shutdown_guest"), 0);
    assert_eq!(f.backend().count("start_boot_order"), 0);
}

#[test]
fn a_boot_device_is_put_first_its_task_followed_and_the_order_read_back() {
    let mut f = fencer(Scripted::new(inventory()));
    f.set_boot(&plug("node10"), pxe(), soon()).unwrap();
    let vm = f.backend().vm("node10");
    assert_eq!(vm.boot.order, vec![BootEntry::Ethernet(DeviceKey(4000))]);
    let calls = &f.backend().calls;
    let start = calls
        .iter()
        .position(|c| c == "start_boot_order vm-2 [ethernet 4000]")
        .unwrap_or_else(|| panic!("{calls:?}"));
    // The task was read until done, then the order read back.
    assert!(
        calls[start..]
            .iter()
            .filter(|c| c.starts_with("task_state"))
            .count()
            >= 2
    );
    assert_eq!(calls.last().map(String::as_str), Some("read_boot vm-2"));
    assert_eq!(
        f.boot_setting(&plug("node10"), soon()).unwrap().first,
        Some(BootClass::Ethernet)
    );

    // The disk first, the adapter after it: the order already named it.
    f.set_boot(&plug("node10"), disk(), soon()).unwrap();
    assert_eq!(
        f.backend().vm("node10").boot.order,
        vec![
            BootEntry::Disk(DeviceKey(2000)),
            BootEntry::Ethernet(DeviceKey(4000))
        ]
    );
    // Asked again: already so, nothing written.
    let starts = f.backend().count("start_boot_order");
    f.set_boot(&plug("node10"), disk(), soon()).unwrap();
    assert_eq!(f.backend().count("start_boot_order"), starts);

    f.set_boot(&plug("node10"), BootTarget::FirmwareOrder, soon())
        .unwrap();
    assert_eq!(f.backend().vm("node10").boot.order, Vec::new());
    assert_eq!(f.boot_setting(&plug("node10"), soon()).unwrap().first, None);
    // node1 was never touched.
    assert_eq!(f.backend().vm("node1").boot.order, Vec::new());
    assert!(!f
        .backend()
        .calls
        .iter()
        .any(|c| c.starts_with("start_boot_order vm-1")));
}

#[test]
fn a_device_the_vm_lacks_or_a_boot_kind_its_firmware_is_not_changes_nothing() {
    let mut backend = Scripted::new(inventory());
    backend.vm_mut("node1").boot.firmware = Firmware::Efi;
    let mut f = fencer(backend);
    let m = invalid_state(
        f.set_boot(
            &plug("node10"),
            BootTarget::First {
                class: BootClass::Floppy,
                efi: false,
            },
            soon(),
        )
        .unwrap_err(),
    );
    assert!(
        m.contains("the VM has no floppy drive") && m.contains("nothing was changed"),
        "{m}"
    );
    let m = invalid_state(f.set_boot(&plug("node1"), pxe(), soon()).unwrap_err());
    assert!(m.contains("firmware is efi"), "{m}");
    f.set_boot(
        &plug("node1"),
        BootTarget::First {
            class: BootClass::Ethernet,
            efi: true,
        },
        soon(),
    )
    .unwrap();
    assert_eq!(
        f.backend().vm("node1").boot.order,
        vec![BootEntry::Ethernet(DeviceKey(4000))]
    );
    assert_eq!(f.backend().count("start_boot_order vm-2"), 0);
}

#[test]
fn a_boot_order_task_that_fails_outlasts_the_deadline_or_writes_otherwise_is_an_error() {
    let mut backend = Scripted::new(inventory());
    backend.next_boot_task_fails = Some(BackendError::Fault("InvalidDeviceSpec".into()));
    let mut f = fencer(backend);
    let e = fence(f.set_boot(&plug("node10"), pxe(), soon()).unwrap_err());
    let text = e.message_lines().join(" ");
    assert!(
        text.contains("task task-1 failed") && text.contains("InvalidDeviceSpec"),
        "{text}"
    );
    assert_eq!(f.backend().vm("node10").boot.order, Vec::new());

    // A task longer than the deadline: a timeout by the deadline, never
    // success.
    f.backend_mut().boot_task_reads = 1000;
    let started = Instant::now();
    let e = fence(
        f.set_boot(
            &plug("node10"),
            pxe(),
            Deadline::after(Duration::from_millis(900)),
        )
        .unwrap_err(),
    );
    assert!(matches!(e, FenceError::TimedOut(_)), "{e:?}");
    assert!(
        e.message_lines().join(" ").contains("still running"),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1100),
        "{:?}",
        started.elapsed()
    );

    // A device that writes another order than it was given is caught by
    // the read back.
    f.backend_mut().boot_task_reads = 0;
    f.backend_mut().boot_order_written = Some(vec![BootEntry::Cdrom]);
    let e = fence(f.set_boot(&plug("node10"), pxe(), soon()).unwrap_err());
    let text = e.message_lines().join(" ");
    assert!(
        matches!(e, FenceError::Device(_)) && text.contains("the device reports cdrom afterwards"),
        "{text}"
    );
}

#[test]
fn an_ended_session_is_logged_into_again_for_these_operations_too() {
    let mut backend = Scripted::new(inventory());
    backend.failures.push_back((
        Call::Shutdown,
        BackendError::NotAuthenticated("gone".into()),
    ));
    backend.failures.push_back((
        Call::ReadBoot,
        BackendError::NotAuthenticated("gone".into()),
    ));
    let mut f = fencer(backend);
    f.shutdown_guest(&plug("node10"), soon()).unwrap();
    f.set_boot(&plug("node10"), pxe(), soon()).unwrap();
    assert_eq!(f.backend().count("login"), 2);
    assert_eq!(f.backend().count("shutdown_guest vm-2"), 2);
}

/// A backend that has none of these calls (the trait's defaults): not
/// supported, said so, never a device failure.
#[test]
fn a_backend_without_the_calls_says_they_are_not_supported() {
    struct PowerOnly(Scripted);
    impl crate::backend::Backend for PowerOnly {
        fn login(&mut self, d: Deadline) -> Result<(), BackendError> {
            self.0.login(d)
        }
        fn find(
            &mut self,
            l: crate::backend::Lookup<'_>,
            d: Deadline,
        ) -> Result<Vec<crate::backend::Candidate>, BackendError> {
            self.0.find(l, d)
        }
        fn read(
            &mut self,
            vm: &crate::backend::VmId,
            t: Option<&crate::backend::TaskId>,
            d: Deadline,
        ) -> Result<crate::state::VmReading, BackendError> {
            self.0.read(vm, t, d)
        }
        fn read_host(
            &mut self,
            h: &crate::backend::HostId,
            d: Deadline,
        ) -> Result<crate::state::HostReading, BackendError> {
            self.0.read_host(h, d)
        }
        fn start_power(
            &mut self,
            vm: &crate::backend::VmId,
            op: crate::backend::PowerOp,
            d: Deadline,
        ) -> Result<crate::backend::Started, BackendError> {
            self.0.start_power(vm, op, d)
        }
        fn list(
            &mut self,
            s: bool,
            d: Deadline,
        ) -> Result<Vec<crate::backend::Listed>, BackendError> {
            self.0.list(s, d)
        }
        fn logout(&mut self, d: Deadline) -> Result<(), BackendError> {
            self.0.logout(d)
        }
    }
    let mut f = Fencer::new(
        PowerOnly(Scripted::new(inventory())),
        FencerOptions {
            datacenter: None,
            command_timeout: Duration::from_secs(2),
        },
    );
    for e in [
        f.shutdown_guest(&plug("node10"), soon()).unwrap_err(),
        f.set_boot(&plug("node10"), pxe(), soon()).unwrap_err(),
        f.boot_setting(&plug("node10"), soon()).unwrap_err(),
    ] {
        let e = fence(e);
        assert!(matches!(e, FenceError::Unsupported(_)), "{e:?}");
    }
}
