//! fence-agents' own fence_ipmilan (/usr/sbin/fence_ipmilan, Python, which
//! runs ipmitool -I lanplus) against the daemon, its options on stdin as
//! Pacemaker passes them. Exit codes are fence-agents': status 0 on, 2
//! off, 1 failure.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use support::*;

fn fence_ipmilan(bmc: &Bmc, action: &str) -> Output {
    let stdin = format!(
        "ip=127.0.0.1\nipport={}\nusername={USER}\npassword={PASSWORD}\nlanplus=1\naction={action}\n",
        bmc.addr.port()
    );
    run_bounded(
        Command::new("/usr/sbin/fence_ipmilan"),
        Some(stdin.as_bytes()),
        Duration::from_secs(120),
    )
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn status_off_on_reboot_monitor() {
    let bmc = Bmc::default_started();
    let o = fence_ipmilan(&bmc, "status");
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o).trim(), "Status: ON");

    let o = fence_ipmilan(&bmc, "off");
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o).trim(), "Success: Powered OFF");
    assert!(!bmc.power.is_on());

    let o = fence_ipmilan(&bmc, "status");
    assert_eq!(code(&o), 2, "off is exit 2");
    assert_eq!(stdout(&o).trim(), "Status: OFF");

    let o = fence_ipmilan(&bmc, "on");
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o).trim(), "Success: Powered ON");
    assert!(bmc.power.is_on());

    bmc.power.clear_calls();
    let o = fence_ipmilan(&bmc, "reboot");
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o).trim(), "Success: Rebooted");
    assert!(bmc.power.is_on());
    let calls = bmc.power.calls();
    let off = calls.iter().position(|c| c == "power_off").unwrap();
    let on = calls.iter().position(|c| c == "power_on").unwrap();
    assert!(off < on, "{calls:?}");
    // fence_ipmilan checked the state between the two.
    assert!(calls[off..on].iter().any(|c| c == "status"), "{calls:?}");

    let o = fence_ipmilan(&bmc, "monitor");
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(bmc.sessions_in_use(), 0);
}

#[test]
fn a_slow_power_off_is_fenced_once() {
    let bmc = Bmc::default_started();
    bmc.power.set_delays(Duration::from_secs(3), Duration::ZERO);
    let o = fence_ipmilan(&bmc, "off");
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o).trim(), "Success: Powered OFF");
    assert!(!bmc.power.is_on());
    assert_eq!(bmc.power.count("power_off"), 1, "{:?}", bmc.power.calls());
}

#[test]
fn a_vm_the_device_cannot_vouch_for_cannot_be_fenced() {
    let bmc = Bmc::start(BmcOptions {
        on: false,
        ..Default::default()
    });
    bmc.power.cannot_vouch(Some("host esx3 is disconnected"));
    let o = fence_ipmilan(&bmc, "status");
    assert_eq!(code(&o), 1, "never 2 (off): {}{}", stdout(&o), stderr(&o));
    let o = fence_ipmilan(&bmc, "off");
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(!stdout(&o).contains("Success"), "{}", stdout(&o));
}

#[test]
fn a_wrong_password_cannot_fence() {
    let bmc = Bmc::default_started();
    let stdin = format!(
        "ip=127.0.0.1\nipport={}\nusername={USER}\npassword=k7#Vq2!mZp9@Lw4%\nlanplus=1\naction=off\n",
        bmc.addr.port()
    );
    let o = run_bounded(
        Command::new("/usr/sbin/fence_ipmilan"),
        Some(stdin.as_bytes()),
        Duration::from_secs(120),
    );
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(bmc.power.is_on());
    assert_eq!(bmc.power.calls(), Vec::<String>::new());
}
