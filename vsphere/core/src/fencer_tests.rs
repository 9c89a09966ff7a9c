//! The fencer's rules against the scripted in-memory device: no network.

use std::time::Duration;

use agent_framework::{Deadline, FenceError, Plug, PowerState};

use super::{Fencer, FencerOptions, Status};
use crate::backend::{HostId, TaskId, VmId};
use crate::error::BackendError;
use crate::scripted::{moved_or_copied, serial_file, Call, FakeVm, Scripted};
use crate::state::{Connection, HostReading, Refusal, VmPower};

fn inventory() -> Vec<FakeVm> {
    let mut vms = vec![
        FakeVm::new(1, "node1", ""),
        FakeVm::new(2, "node10", ""),
        FakeVm::new(3, "web%2f01", ""),
        FakeVm::new(4, "dup", ""),
        FakeVm::new(5, "dup", "/sub"),
        FakeVm::new(6, "clone-a", ""),
        FakeVm::new(7, "clone-b", ""),
        // A VM named like another VM's managed object id.
        FakeVm::new(8, "vm-1", ""),
        FakeVm::new(9, "100%25 ünï", ""),
    ];
    let shared = vms[5].bios_uuid.clone();
    vms[6].bios_uuid = shared;
    vms
}

pub(super) fn fencer(backend: Scripted) -> Fencer<Scripted> {
    Fencer::new(
        backend,
        FencerOptions {
            datacenter: None,
            command_timeout: Duration::from_secs(2),
        },
    )
}

pub(super) fn soon() -> Deadline {
    Deadline::after(Duration::from_secs(5))
}

pub(super) fn plug(p: &str) -> Plug {
    Plug::new(p)
}

fn cause(e: &FenceError) -> String {
    e.message_lines().join("\n")
}

#[test]
fn every_plug_form_finds_the_one_vm() {
    let backend = Scripted::new(inventory());
    let node10 = backend.vm("node10").clone();
    let mut f = fencer(backend);
    for p in [
        "node10",
        "/DC0/vm/node10",
        node10.instance_uuid.as_str(),
        &node10.instance_uuid.to_uppercase(),
        node10.bios_uuid.as_str(),
        "vm-2",
    ] {
        assert_eq!(
            f.resolve(&plug(p), soon()).unwrap(),
            VmId("vm-2".into()),
            "{p}"
        );
    }
    // vCenter's escapes: the plain name and the stored form both work.
    for p in ["web/01", "web%2f01", "/DC0/vm/web%2f01"] {
        assert_eq!(
            f.resolve(&plug(p), soon()).unwrap(),
            VmId("vm-3".into()),
            "{p}"
        );
    }
    assert_eq!(
        f.resolve(&plug("100% ünï"), soon()).unwrap(),
        VmId("vm-9".into())
    );
    // A prefix is not a name.
    let e = f.resolve(&plug("node"), soon()).unwrap_err();
    assert!(
        cause(&e).contains("no virtual machine matches plug \"node\""),
        "{e:?}"
    );
}

#[test]
fn a_plug_matching_several_vms_fails_naming_each_and_nothing_is_powered() {
    let mut f = fencer(Scripted::new(inventory()));
    for (p, want) in [
        ("dup", vec!["/DC0/vm/dup (vm-4)", "/DC0/vm/sub/dup (vm-5)"]),
        // Clones share a BIOS UUID.
        (
            "42000000-0000-0000-0000-000000000006",
            vec!["/DC0/vm/clone-a (vm-6)", "/DC0/vm/clone-b (vm-7)"],
        ),
        // vm-1 is node1's id and another VM's name.
        ("vm-1", vec!["/DC0/vm/node1 (vm-1)", "/DC0/vm/vm-1 (vm-8)"]),
    ] {
        let e = f.set_power(&plug(p), PowerState::Off, soon()).unwrap_err();
        assert!(matches!(e, FenceError::AmbiguousPlug(_)), "{e:?}");
        let text = cause(&e);
        assert!(text.contains("matches 2 virtual machines"), "{text}");
        for line in want {
            assert!(text.contains(line), "{line:?} missing: {text}");
        }
    }
    assert_eq!(f.backend().count("start"), 0, "{:?}", f.backend().calls);
    // A clone's instance UUID is its own.
    assert_eq!(
        f.resolve(&plug("50000000-0000-0000-0000-000000000007"), soon())
            .unwrap(),
        VmId("vm-7".into())
    );
}

#[test]
fn without_inventory_paths_ambiguity_names_the_ids() {
    let mut backend = Scripted::new(inventory());
    backend.has_tasks_and_paths = false;
    let mut f = fencer(backend);
    let text = cause(&f.resolve(&plug("dup"), soon()).unwrap_err());
    assert!(
        text.contains("\n  vm-4") && text.contains("\n  vm-5"),
        "{text}"
    );
}

#[test]
fn each_plug_is_resolved_on_its_own_and_once() {
    let mut f = fencer(Scripted::new(inventory()));
    assert_eq!(f.resolve(&plug("node1"), soon()).unwrap().0, "vm-1");
    assert_eq!(f.resolve(&plug("node10"), soon()).unwrap().0, "vm-2");
    let lookups = f.backend().count("find");
    assert_eq!(f.resolve(&plug("node1"), soon()).unwrap().0, "vm-1");
    assert_eq!(f.backend().count("find"), lookups, "resolved once per plug");
}

#[test]
fn a_path_to_something_else_than_a_vm_is_refused() {
    let mut f = fencer(Scripted::new(inventory()));
    let e = f.resolve(&plug("/DC0/vm/sub"), soon()).unwrap_err();
    assert!(
        cause(&e).contains("is a Folder, not a virtual machine"),
        "{e:?}"
    );
    let e = f.resolve(&plug("a\u{1}b"), soon()).unwrap_err();
    assert!(matches!(e, FenceError::Usage(_)), "{e:?}");
}

#[test]
fn the_datacenter_is_named_when_nothing_matches() {
    let mut f = Fencer::new(
        Scripted::new(inventory()),
        FencerOptions {
            datacenter: Some("DC1".into()),
            command_timeout: Duration::from_secs(2),
        },
    );
    let e = f.resolve(&plug("nosuch"), soon()).unwrap_err();
    assert!(cause(&e).contains("in datacenter \"DC1\""), "{e:?}");
}

#[test]
fn off_starts_a_task_watches_it_and_the_state_is_read_back() {
    let mut f = fencer(Scripted::new(inventory()));
    f.set_power(&plug("node10"), PowerState::Off, soon())
        .unwrap();
    assert_eq!(f.backend().vm("node10").power, VmPower::PoweredOff);
    assert_eq!(f.backend().count("start vm-2 off"), 1);
    assert_eq!(
        f.power_state(&plug("node10"), soon()).unwrap(),
        PowerState::Off
    );
    // Already there: the device refuses, nothing is waited for.
    f.set_power(&plug("node10"), PowerState::Off, soon())
        .unwrap();
    assert_eq!(f.backend().count("start vm-2 off"), 2);
    // A suspended VM is fenced.
    f.backend_mut().vm_mut("node1").power = VmPower::Suspended;
    assert_eq!(
        f.power_state(&plug("node1"), soon()).unwrap(),
        PowerState::Off
    );
}

#[test]
fn a_task_still_running_after_one_command_time_is_left_to_the_verification() {
    let mut backend = Scripted::new(inventory());
    backend.task_reads = 1000;
    let mut f = Fencer::new(
        backend,
        FencerOptions {
            datacenter: None,
            command_timeout: Duration::from_millis(600),
        },
    );
    let started = std::time::Instant::now();
    f.set_power(&plug("node10"), PowerState::Off, soon())
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        f.power_state(&plug("node10"), soon()).unwrap(),
        PowerState::On
    );
    // The next read still carries the task.
    let reads = f.backend().count("read vm-2");
    assert!(reads >= 2, "{:?}", f.backend().calls);
    // When the caller's deadline is the watch's own end, the watch stops
    // without a read that has no time left.
    f.set_power(
        &plug("node1"),
        PowerState::Off,
        Deadline::after(Duration::from_millis(600)),
    )
    .unwrap();
}

#[test]
fn not_connected_vms_are_never_vouched_for_and_the_host_is_named() {
    for state in ["disconnected", "orphaned", "inaccessible", "invalid"] {
        let mut backend = Scripted::new(inventory());
        backend.hosts.insert(
            HostId("host-1".into()),
            HostReading {
                name: Some("esx1.example.test".into()),
                connection: Connection::parse("notResponding"),
            },
        );
        let vm = backend.vm_mut("node10");
        vm.connection = Connection::parse(state);
        vm.power = VmPower::PoweredOff;
        let mut f = fencer(backend);
        let e = f.power_state(&plug("node10"), soon()).unwrap_err();
        assert!(matches!(e, FenceError::Status(_)), "{e:?}");
        let text = cause(&e);
        for part in [
            state,
            "\"esx1.example.test\" (host-1) is notResponding",
            "poweredOff is only the last state",
        ] {
            assert!(text.contains(part), "{state}: {part:?} missing: {text}");
        }
        match f.status(&plug("node10"), soon()).unwrap() {
            Status::NotVouched(Refusal::NotConnected { connection, .. }) => {
                assert_eq!(connection.to_string(), state)
            }
            other => panic!("{state}: {other:?}"),
        }
        // No power operation starts on a state nobody vouches for.
        let e = f
            .set_power_verified(
                &plug("node10"),
                PowerState::Off,
                soon(),
                Duration::from_millis(10),
            )
            .unwrap_err();
        assert!(cause(&e).contains(state), "{e:?}");
    }
}

#[test]
fn a_vm_that_disconnects_during_the_watch_fails_the_power_change() {
    let mut backend = Scripted::new(inventory());
    backend.task_reads = 3;
    // After the second read: the host is lost, vCenter still says off.
    backend.after_read = Some((2, |vms| {
        for v in vms.iter_mut().filter(|v| v.name == "node10") {
            v.connection = Connection::Disconnected;
            v.power = VmPower::PoweredOff;
        }
    }));
    let mut f = fencer(backend);
    let e = f
        .set_power(&plug("node10"), PowerState::Off, soon())
        .unwrap_err();
    assert!(cause(&e).contains("disconnected"), "{e:?}");
    // And every later read refuses too.
    assert!(f.power_state(&plug("node10"), soon()).is_err());
}

#[test]
fn a_disconnect_between_verification_polls_is_caught_by_the_poll() {
    let mut backend = Scripted::new(inventory());
    backend.task_reads = 0;
    let mut f = fencer(backend);
    f.set_power(&plug("node10"), PowerState::Off, soon())
        .unwrap();
    f.backend_mut().vm_mut("node10").connection = Connection::Orphaned;
    let e = f.power_state(&plug("node10"), soon()).unwrap_err();
    assert!(cause(&e).contains("orphaned"), "{e:?}");
}

#[test]
fn a_template_is_not_a_fence_target() {
    let mut backend = Scripted::new(inventory());
    backend.vm_mut("node10").template = true;
    let mut f = fencer(backend);
    let e = f.power_state(&plug("node10"), soon()).unwrap_err();
    assert!(cause(&e).contains("is a template"), "{e:?}");
    let e = f
        .set_power(&plug("node10"), PowerState::Off, soon())
        .unwrap_err();
    assert!(cause(&e).contains("template"), "{e:?}");
    assert_eq!(f.backend().count("start"), 0);
}

#[test]
fn moved_or_copied_is_answered_moved_and_the_identity_kept() {
    let mut backend = Scripted::new(inventory());
    let bios = backend.vm("node10").bios_uuid.clone();
    let vm = backend.vm_mut("node10");
    vm.power = VmPower::PoweredOff;
    vm.asks_on_power_on = Some(moved_or_copied("_vmx1"));
    let mut f = fencer(backend);
    f.set_power(&plug("node10"), PowerState::On, soon())
        .unwrap();
    let b = f.backend();
    assert_eq!(b.count("answer vm-2 _vmx1 1"), 1, "{:?}", b.calls);
    assert_eq!(b.count("answer"), 1, "{:?}", b.calls);
    assert_eq!(b.vm("node10").bios_uuid, bios, "identity changed");
    assert_eq!(b.vm("node10").power, VmPower::PoweredOn);
}

#[test]
fn an_allowlisted_question_gets_its_default() {
    let mut backend = Scripted::new(inventory());
    let vm = backend.vm_mut("node10");
    vm.power = VmPower::PoweredOff;
    vm.asks_on_power_on = Some(serial_file(Some(1)));
    let mut f = fencer(backend);
    f.set_power(&plug("node10"), PowerState::On, soon())
        .unwrap();
    assert_eq!(
        f.backend().count("answer vm-2 _vmx2 1"),
        1,
        "{:?}",
        f.backend().calls
    );
    assert_eq!(f.backend().vm("node10").power, VmPower::PoweredOn);
}

#[test]
fn a_question_without_a_safe_answer_fails_naming_it_and_is_not_answered() {
    let mut q = moved_or_copied("_vmx3");
    q.messages[0].id = "msg.hbacommon.outofspace".into();
    let mut backend = Scripted::new(inventory());
    let vm = backend.vm_mut("node10");
    vm.power = VmPower::PoweredOff;
    vm.asks_on_power_on = Some(q);
    let mut f = fencer(backend);
    let e = f
        .set_power(&plug("node10"), PowerState::On, soon())
        .unwrap_err();
    let text = cause(&e);
    for part in [
        "msg.hbacommon.outofspace",
        "I Copied It",
        "I Moved It",
        "vSphere Client",
    ] {
        assert!(text.contains(part), "{part:?}: {text}");
    }
    assert_eq!(f.backend().count("answer"), 0);
    assert_eq!(f.backend().vm("node10").power, VmPower::PoweredOff);
}

#[test]
fn a_question_on_a_task_this_agent_did_not_start_is_left_alone() {
    let mut backend = Scripted::new(inventory());
    let vm = backend.vm_mut("node10");
    vm.power = VmPower::PoweredOff;
    vm.question = Some(moved_or_copied("_vmx9"));
    let mut f = fencer(backend);
    assert_eq!(
        f.power_state(&plug("node10"), soon()).unwrap(),
        PowerState::Off
    );
    assert_eq!(f.backend().count("answer"), 0);
}

#[test]
fn a_failed_answer_fails_the_power_change() {
    let mut backend = Scripted::new(inventory());
    let vm = backend.vm_mut("node10");
    vm.power = VmPower::PoweredOff;
    vm.asks_on_power_on = Some(moved_or_copied("_vmx1"));
    backend.failures.push_back((
        Call::Answer,
        BackendError::NoPermission("NoPermission".into()),
    ));
    let mut f = fencer(backend);
    let e = f
        .set_power(&plug("node10"), PowerState::On, soon())
        .unwrap_err();
    assert!(matches!(e, FenceError::InvalidPrivileges(_)), "{e:?}");
    assert!(cause(&e).contains("I Moved It"), "{e:?}");
}

#[test]
fn a_failed_task_is_reported_and_already_in_state_is_not_a_failure() {
    let mut backend = Scripted::new(inventory());
    backend.next_task_fails = Some(BackendError::Fault("GenericVmConfigFault: no".into()));
    let mut f = fencer(backend);
    let e = f
        .set_power(&plug("node10"), PowerState::Off, soon())
        .unwrap_err();
    let text = cause(&e);
    assert!(
        text.contains("task-1") && text.contains("GenericVmConfigFault"),
        "{text}"
    );
    f.backend_mut().next_task_fails = Some(BackendError::AlreadyInState("off".into()));
    f.set_power(&plug("node10"), PowerState::Off, soon())
        .unwrap();
}

#[test]
fn another_task_on_the_vm_is_waited_for_then_the_start_is_tried_once_more() {
    let mut backend = Scripted::new(inventory());
    let busy = || BackendError::Busy {
        task: Some(TaskId("task-99".into())),
        detail: "TaskInProgress".into(),
    };
    backend.foreign_tasks.insert(TaskId("task-99".into()), 2);
    backend.failures.push_back((Call::Start, busy()));
    let mut f = fencer(backend);
    f.set_power(&plug("node10"), PowerState::Off, soon())
        .unwrap();
    assert_eq!(f.backend().count("task_state task-99"), 3);
    assert_eq!(f.backend().count("start vm-2 off"), 2);
    // Busy twice: the second is the failure.
    f.backend_mut().failures.push_back((Call::Start, busy()));
    f.backend_mut().failures.push_back((Call::Start, busy()));
    let e = f
        .set_power(&plug("node1"), PowerState::Off, soon())
        .unwrap_err();
    assert!(cause(&e).contains("TaskInProgress"), "{e:?}");
}

#[test]
fn a_busy_vm_without_a_task_named_is_given_one_command_time() {
    let mut backend = Scripted::new(inventory());
    backend.failures.push_back((
        Call::Start,
        BackendError::Busy {
            task: None,
            detail: "RESOURCE_BUSY".into(),
        },
    ));
    let mut f = fencer(backend);
    let started = std::time::Instant::now();
    f.set_power(&plug("node10"), PowerState::Off, soon())
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(f.backend().count("start vm-2 off"), 2);
}

#[test]
fn an_ended_session_is_logged_into_again_once_per_call() {
    let mut backend = Scripted::new(inventory());
    backend
        .failures
        .push_back((Call::Read, BackendError::NotAuthenticated("expired".into())));
    let mut f = fencer(backend);
    assert_eq!(
        f.power_state(&plug("node10"), soon()).unwrap(),
        PowerState::On
    );
    assert_eq!(f.backend().count("login"), 1);
    // Refused again right after the new login: the session is lost.
    for _ in 0..2 {
        f.backend_mut()
            .failures
            .push_back((Call::Read, BackendError::NotAuthenticated("expired".into())));
    }
    let e = f.power_state(&plug("node10"), soon()).unwrap_err();
    assert!(matches!(e, FenceError::ConnectionLost(_)), "{e:?}");
    // A login that fails is the failure.
    f.backend_mut()
        .failures
        .push_back((Call::Find, BackendError::NotAuthenticated("expired".into())));
    f.backend_mut().failures.push_back((
        Call::Login,
        BackendError::LoginRefused("InvalidLogin".into()),
    ));
    let e = f.resolve(&plug("node1"), soon()).unwrap_err();
    assert!(cause(&e).contains("InvalidLogin"), "{e:?}");
}

#[test]
fn a_backend_without_tasks_or_paths_follows_the_same_rules() {
    let mut backend = Scripted::new(inventory());
    backend.has_tasks_and_paths = false;
    backend.vm_mut("node1").connection = Connection::Disconnected;
    let mut f = fencer(backend);
    // No inventory paths: a plug that looks like one is only a name.
    let e = f.resolve(&plug("/DC0/vm/node10"), soon()).unwrap_err();
    assert!(cause(&e).contains("no virtual machine matches"), "{e:?}");
    f.set_power(&plug("node10"), PowerState::Off, soon())
        .unwrap();
    assert_eq!(
        f.backend().count("read"),
        1,
        "the check before, no task to watch"
    );
    assert_eq!(
        f.power_state(&plug("node10"), soon()).unwrap(),
        PowerState::Off
    );
    assert!(f.power_state(&plug("node1"), soon()).is_err());
}

#[test]
fn list_hides_templates_unescapes_names_and_vouches_per_vm() {
    let mut backend = Scripted::new(inventory());
    backend.vm_mut("node1").connection = Connection::Inaccessible;
    backend.vm_mut("node10").power = VmPower::PoweredOff;
    backend.vm_mut("dup").template = false;
    backend.vm_mut("clone-a").template = true;
    let mut f = fencer(backend);
    let all = f.list(true, soon()).unwrap();
    let line = |id: &str| {
        all.iter()
            .find(|o| o.id == id)
            .unwrap_or_else(|| panic!("{id} not listed: {all:?}"))
    };
    assert_eq!(line("node1").status, None, "not connected: UNKNOWN");
    assert_eq!(line("node10").status, Some(PowerState::Off));
    assert_eq!(line("web/01").status, Some(PowerState::On));
    assert_eq!(line("web/01").alias, "50000000-0000-0000-0000-000000000003");
    assert!(all.iter().all(|o| o.id != "clone-a"), "{all:?}");
    assert_eq!(all.len(), 8);
    let without = f.list(false, soon()).unwrap();
    assert!(without.iter().all(|o| o.status.is_none()));
}

#[test]
fn set_power_verified_waits_for_the_vouched_state_within_its_deadline() {
    let mut backend = Scripted::new(inventory());
    backend.task_reads = 1;
    let mut f = fencer(backend);
    f.set_power_verified(
        &plug("node10"),
        PowerState::Off,
        soon(),
        Duration::from_millis(10),
    )
    .unwrap();
    assert_eq!(f.backend().vm("node10").power, VmPower::PoweredOff);
    // A task that never ends: WaitingOn at the deadline, not before.
    f.backend_mut().task_reads = 100_000;
    let started = std::time::Instant::now();
    let e = f
        .set_power_verified(
            &plug("node10"),
            PowerState::On,
            Deadline::after(Duration::from_millis(300)),
            Duration::from_millis(20),
        )
        .unwrap_err();
    assert!(matches!(e, FenceError::WaitingOn(_)), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn disconnect_logs_out_once() {
    let mut f = fencer(Scripted::new(inventory()));
    f.disconnect();
    f.disconnect();
    assert_eq!(f.backend().count("logout"), 1);
}
