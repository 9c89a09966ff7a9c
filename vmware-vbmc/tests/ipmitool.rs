//! Debian's ipmitool (-I lanplus) against the daemon's endpoint on
//! 127.0.0.1, the VM being the in-memory stand-in for vSphere
//! (support/mod.rs). Every test asserts the VM's state, not only
//! ipmitool's words.

mod support;

use std::time::{Duration, Instant};

use support::*;
use vmware_vbmc::ipmi::Privilege;
use vmware_vbmc::power::BootDevice;
use vmware_vbmc::server::Limits;

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "ipmitool failed: {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

#[test]
fn power_status_off_on_with_cipher_suites_3_and_17() {
    for suite in ["3", "17"] {
        let bmc = Bmc::default_started();
        let started = Instant::now();
        let out = ok(&ipmitool(
            &bmc,
            &["-C", suite, "chassis", "power", "status"],
        ));
        assert_eq!(out.trim(), "Chassis Power is on");
        // ipmitool's session setup probes HPM.2 support with a PICMG
        // command: answered C1h at once, not left to time out.
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "took {:?}",
            started.elapsed()
        );
        let out = ok(&ipmitool(&bmc, &["-C", suite, "chassis", "power", "off"]));
        assert_eq!(out.trim(), "Chassis Power Control: Down/Off");
        assert!(!bmc.power.is_on());
        let out = ok(&ipmitool(
            &bmc,
            &["-C", suite, "chassis", "power", "status"],
        ));
        assert_eq!(out.trim(), "Chassis Power is off");
        let out = ok(&ipmitool(&bmc, &["-C", suite, "chassis", "power", "on"]));
        assert_eq!(out.trim(), "Chassis Power Control: Up/On");
        assert!(bmc.power.is_on());
        assert_eq!(bmc.power.count("power_off"), 1);
        assert_eq!(bmc.power.count("power_on"), 1);
        let log = bmc.log.text();
        assert!(
            log.contains(&format!("(cipher suite {suite}, up to administrator)")),
            "{log}"
        );
        // Every session ipmitool opened, it closed.
        assert_eq!(bmc.sessions_in_use(), 0, "{log}");
    }
}

#[test]
fn without_c_ipmitool_picks_suite_17_from_the_list() {
    let bmc = Bmc::default_started();
    let out = ok(&ipmitool(&bmc, &["chassis", "power", "status"]));
    assert_eq!(out.trim(), "Chassis Power is on");
    assert!(
        bmc.log.text().contains("(cipher suite 17,"),
        "{}",
        bmc.log.text()
    );
    let out = ok(&ipmitool(&bmc, &["channel", "getciphers", "ipmi"]));
    let ids: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids, vec!["3", "17"], "{out}");
}

#[test]
fn cycle_reset_and_soft_shutdown() {
    let bmc = Bmc::default_started();
    let out = ok(&ipmitool(&bmc, &["chassis", "power", "cycle"]));
    assert_eq!(out.trim(), "Chassis Power Control: Cycle");
    assert!(bmc.power.is_on());
    let calls = bmc.power.calls();
    let off = calls.iter().position(|c| c == "power_off").unwrap();
    let on = calls.iter().position(|c| c == "power_on").unwrap();
    assert!(off < on, "{calls:?}");

    let out = ok(&ipmitool(&bmc, &["chassis", "power", "reset"]));
    assert_eq!(out.trim(), "Chassis Power Control: Reset");
    assert_eq!(bmc.power.count("reset"), 1);
    assert!(bmc.power.is_on());

    let out = ok(&ipmitool(&bmc, &["chassis", "power", "soft"]));
    assert_eq!(out.trim(), "Chassis Power Control: Soft");
    assert_eq!(bmc.power.count("soft_shutdown"), 1);
    assert!(!bmc.power.is_on(), "the guest shut down");
}

#[test]
fn cycle_and_reset_of_an_off_vm_do_nothing_and_say_so() {
    let bmc = Bmc::start(BmcOptions {
        on: false,
        ..Default::default()
    });
    let o = ipmitool(&bmc, &["chassis", "power", "cycle"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(
            "Set Chassis Power Control to Cycle failed: Command not supported in present state"
        ),
        "{}",
        stderr(&o)
    );
    let o = ipmitool(&bmc, &["chassis", "power", "reset"]);
    assert!(!o.status.success());
    assert!(!bmc.power.is_on());
    assert_eq!(bmc.power.count("power_on"), 0);
    assert_eq!(bmc.power.count("power_off"), 0);
    let log = bmc.log.text();
    assert!(log.contains("power cycle for user 'fence'"), "{log}");
    assert!(log.contains("answered D5h"), "{log}");
}

#[test]
fn soft_shutdown_without_guest_tools_fails() {
    let bmc = Bmc::default_started();
    bmc.power.set_guest_tools(false);
    let o = ipmitool(&bmc, &["chassis", "power", "soft"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(bmc.power.is_on());
    assert!(bmc.log.text().contains("VMware Tools are not running"));
}

#[test]
fn chassis_status_reads_the_device() {
    let bmc = Bmc::default_started();
    let out = ok(&ipmitool(&bmc, &["chassis", "status"]));
    assert!(out.contains("System Power         : on"), "{out}");
    bmc.power.set_on(false);
    let out = ok(&ipmitool(&bmc, &["chassis", "status"]));
    assert!(out.contains("System Power         : off"), "{out}");
    assert_eq!(bmc.power.count("status"), 2);
}

#[test]
fn boot_device_pxe_disk_cdrom_persistent() {
    let bmc = Bmc::default_started();
    for (dev, word, shown) in [
        (BootDevice::Pxe, "pxe", "Force PXE"),
        (
            BootDevice::Disk,
            "disk",
            "Force Boot from default Hard-Drive",
        ),
        (BootDevice::Cdrom, "cdrom", "Force Boot from CD/DVD"),
    ] {
        let o = ipmitool(&bmc, &["chassis", "bootdev", word, "options=persistent"]);
        let out = ok(&o);
        assert_eq!(out.trim(), format!("Set Boot Device to {word}"));
        // Parameters 0 and 4 around parameter 5 are accepted without a
        // complaint.
        assert_eq!(stderr(&o), "", "{}", stderr(&o));
        assert_eq!(bmc.power.boot(), dev);
        let out = ok(&ipmitool(&bmc, &["chassis", "bootparam", "get", "5"]));
        assert!(
            out.contains(&format!("Boot Device Selector : {shown}")),
            "{out}"
        );
        assert!(out.contains("Boot Flag Valid"), "{out}");
        assert!(out.contains("Options apply to all future boots"), "{out}");
        assert!(out.contains("BIOS PC Compatible (legacy) boot"), "{out}");
    }
    let out = ok(&ipmitool(&bmc, &["chassis", "bootdev", "none"]));
    assert_eq!(out.trim(), "Set Boot Device to none");
    assert_eq!(bmc.power.boot(), BootDevice::NoOverride);
    let out = ok(&ipmitool(&bmc, &["chassis", "bootparam", "get", "5"]));
    assert!(out.contains("Boot Device Selector : No override"), "{out}");
    // BIOS setup is nothing a VM's boot order can say.
    let o = ipmitool(&bmc, &["chassis", "bootdev", "bios", "options=persistent"]);
    assert!(
        !stdout(&o).contains("Set Boot Device to bios"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("Set Chassis Boot Parameter 5 failed"),
        "{}",
        stderr(&o)
    );
    assert_eq!(bmc.power.boot(), BootDevice::NoOverride);
}

/// ipmitool's default, a boot device for the next boot only, cannot be
/// kept by a VM: refused with CCh and the reason logged, nothing changed.
#[test]
fn a_next_boot_only_device_is_refused_and_nothing_changes() {
    let bmc = Bmc::default_started();
    for word in ["pxe", "disk", "cdrom"] {
        let o = ipmitool(&bmc, &["chassis", "bootdev", word]);
        // ipmitool exits 0 after a completion code other than 00h here;
        // its words are what tell.
        assert_eq!(stdout(&o), "", "{}", stdout(&o));
        assert!(
            stderr(&o)
                .contains("Set Chassis Boot Parameter 5 failed: Invalid data field in request"),
            "{}",
            stderr(&o)
        );
        assert_eq!(bmc.power.boot(), BootDevice::NoOverride);
    }
    assert_eq!(bmc.power.count("set_boot_device pxe"), 0);
    assert_eq!(bmc.power.count("set_boot_device disk"), 0);
    assert_eq!(bmc.power.count("set_boot_device cdrom"), 0);
    let log = bmc.log.text();
    assert!(
        log.contains("user 'fence': refused, answered CCh: a boot device for the next boot only")
            && log.contains("options=persistent"),
        "{log}"
    );
}

/// The EFI bit must be the VM's firmware: asked otherwise, D5h and nothing
/// changes; read back, it reports the firmware.
#[test]
fn the_efi_bit_is_the_vms_firmware() {
    let bmc = Bmc::default_started();
    bmc.power.set_efi(true);
    let o = ipmitool(&bmc, &["chassis", "bootdev", "pxe", "options=persistent"]);
    assert_eq!(stdout(&o), "", "{}", stdout(&o));
    assert!(
        stderr(&o).contains(
            "Set Chassis Boot Parameter 5 failed: Command not supported in present state"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(bmc.power.boot(), BootDevice::NoOverride);
    let out = ok(&ipmitool(
        &bmc,
        &["chassis", "bootdev", "pxe", "options=persistent,efiboot"],
    ));
    assert_eq!(out.trim(), "Set Boot Device to pxe");
    assert_eq!(bmc.power.boot(), BootDevice::Pxe);
    let out = ok(&ipmitool(&bmc, &["chassis", "bootparam", "get", "5"]));
    assert!(out.contains("BIOS EFI boot"), "{out}");
    assert!(
        bmc.log.text().contains("answered D5h"),
        "{}",
        bmc.log.text()
    );
}

#[test]
fn cipher_suites_without_integrity_or_encryption_are_refused() {
    let bmc = Bmc::default_started();
    for suite in ["0", "1", "2", "15", "16"] {
        let o = ipmitool(&bmc, &["-C", suite, "chassis", "power", "status"]);
        assert!(!o.status.success(), "-C {suite}: {}", stdout(&o));
        assert!(!stdout(&o).contains("Chassis Power is"), "-C {suite}");
    }
    assert_eq!(bmc.power.calls(), Vec::<String>::new());
    let log = bmc.log.text();
    assert!(
        log.contains("Open Session refused: proposed algorithms 00h/00h/00h are neither cipher suite 3 nor 17"),
        "{log}"
    );
    assert_eq!(bmc.sessions_in_use(), 0);
}

#[test]
fn wrong_password_is_refused() {
    let bmc = Bmc::default_started();
    let o = ipmitool_as(
        bmc.addr,
        USER,
        "k7#Vq2!mZp9@Lw4%",
        &["chassis", "power", "off"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Unable to establish IPMI v2 / RMCP+ session"),
        "{}",
        stderr(&o)
    );
    assert!(bmc.power.is_on());
    assert_eq!(bmc.power.calls(), Vec::<String>::new());
}

#[test]
fn unknown_user_is_refused_and_the_network_cannot_tell() {
    let bmc = Bmc::default_started();
    let o = ipmitool_as(bmc.addr, "admin", PASSWORD, &["chassis", "power", "off"]);
    assert!(!o.status.success());
    // ipmitool sees the same "invalid RAKP 2" as for a wrong password: the
    // answer does not reveal whether the name exists.
    assert!(stderr(&o).contains("Unable to establish IPMI v2 / RMCP+ session"));
    assert!(bmc.power.is_on());
    assert_eq!(bmc.power.calls(), Vec::<String>::new());
    // The null user name: refused outright.
    let o = ipmitool_as(bmc.addr, "", PASSWORD, &["chassis", "power", "off"]);
    assert!(!o.status.success());
    assert!(bmc.power.is_on());
    let log = bmc.log.text();
    assert!(log.contains("null user name"), "{log}");
}

#[test]
fn a_slow_power_off_is_answered_once_and_only_when_off() {
    let bmc = Bmc::default_started();
    bmc.power.set_delays(Duration::from_secs(4), Duration::ZERO);
    let started = Instant::now();
    let o = ipmitool(&bmc, &["chassis", "power", "off"]);
    let took = started.elapsed();
    assert_eq!(ok(&o).trim(), "Chassis Power Control: Down/Off");
    assert!(took >= Duration::from_secs(4), "answered after {took:?}");
    assert!(!bmc.power.is_on());
    // ipmitool resent the request (after 1 s and 3 s); the resends were
    // recognised and did not start a second power-off.
    let log = bmc.log.text();
    assert!(log.contains("retransmission (rqSeq"), "{log}");
    assert_eq!(bmc.power.count("power_off"), 1, "{:?}", bmc.power.calls());
}

#[test]
fn a_power_off_not_verified_in_time_is_an_error_never_success() {
    let bmc = Bmc::start(BmcOptions {
        limits: Limits {
            reply_within: Duration::from_secs(2),
            ..Limits::default()
        },
        ..Default::default()
    });
    bmc.power.set_delays(Duration::from_secs(5), Duration::ZERO);
    let started = Instant::now();
    let o = ipmitool(&bmc, &["chassis", "power", "off"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(!stdout(&o).contains("Down/Off"));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(bmc.power.is_on(), "still going off");
    let log = bmc.log.text();
    assert!(log.contains("power down for user 'fence'"), "{log}");
    assert!(log.contains("answered C3h"), "{log}");
    // The task goes on; the status read afterwards tells the truth.
    std::thread::sleep(Duration::from_secs(4));
    let out = ok(&ipmitool(&bmc, &["chassis", "power", "status"]));
    assert_eq!(out.trim(), "Chassis Power is off");
}

#[test]
fn a_vm_the_device_cannot_vouch_for_is_never_off() {
    let bmc = Bmc::start(BmcOptions {
        on: false,
        ..Default::default()
    });
    bmc.power.cannot_vouch(Some("host esx3 is not responding"));
    let o = ipmitool(&bmc, &["chassis", "power", "status"]);
    assert!(!o.status.success());
    assert!(!stdout(&o).contains("off"), "{}", stdout(&o));
    assert!(
        stderr(&o)
            .contains("Get Chassis Power Status failed: Command response could not be provided"),
        "{}",
        stderr(&o)
    );
    let o = ipmitool(&bmc, &["chassis", "status"]);
    assert!(!o.status.success());
    assert!(!stdout(&o).contains("System Power"), "{}", stdout(&o));
    let o = ipmitool(&bmc, &["chassis", "power", "off"]);
    assert!(!o.status.success());
    let log = bmc.log.text();
    assert!(log.contains("host esx3 is not responding"), "{log}");
    assert!(log.contains("answered CEh"), "{log}");
}

#[test]
fn privilege_limits() {
    let bmc = Bmc::start(BmcOptions {
        limit: Privilege::Operator,
        ..Default::default()
    });
    // ipmitool asks for administrator by default: refused at RAKP 2.
    let o = ipmitool(&bmc, &["chassis", "power", "off"]);
    assert!(!o.status.success());
    assert!(bmc.power.is_on());
    let out = ok(&ipmitool(
        &bmc,
        &["-L", "OPERATOR", "chassis", "power", "off"],
    ));
    assert_eq!(out.trim(), "Chassis Power Control: Down/Off");
    assert!(!bmc.power.is_on());

    let bmc = Bmc::start(BmcOptions {
        limit: Privilege::User,
        ..Default::default()
    });
    let out = ok(&ipmitool(
        &bmc,
        &["-L", "USER", "chassis", "power", "status"],
    ));
    assert_eq!(out.trim(), "Chassis Power is on");
    let o = ipmitool(&bmc, &["-L", "USER", "chassis", "power", "off"]);
    assert!(!o.status.success());
    assert!(bmc.power.is_on());
    assert_eq!(bmc.power.count("power_off"), 0);
}

#[test]
fn device_id_and_unknown_commands() {
    let bmc = Bmc::default_started();
    let out = ok(&ipmitool(&bmc, &["mc", "info"]));
    assert!(out.contains("IPMI Version              : 2.0"), "{out}");
    assert!(out.contains("Chassis Device"), "{out}");
    // An unknown command: C1h, reported by ipmitool, not a timeout.
    let started = Instant::now();
    let o = ipmitool(&bmc, &["raw", "0x06", "0x02"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("rsp=0xc1"), "{}", stderr(&o));
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn no_secret_reaches_the_log_even_at_debug_level() {
    let bmc = Bmc::default_started();
    ok(&ipmitool(&bmc, &["chassis", "power", "status"]));
    let _ = ipmitool_as(
        bmc.addr,
        USER,
        "k7#Vq2!mZp9@Lw4%",
        &["chassis", "power", "status"],
    );
    let log = bmc.log.text();
    assert!(log.contains("debug:"), "the log ran at debug level");
    assert!(!log.contains(PASSWORD));
    assert!(!log.contains("k7#Vq2!mZp9@Lw4%"), "not even a wrong one");
    // The mask never had to hide anything: nothing tried to print it.
    assert!(!log.contains("****"), "{log}");
}
