//! fence_vmware / fence_vmware_soap against VMware's vSphere simulator
//! (cts/vcsim); the vmware_type=server1/server2 mode is in vmrun.rs. VM
//! state is always read through the simulator's
//! control endpoint, never through the agent; after every run, every
//! session the agent opened must be logged out.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cts::support::{
    assert_valid_metadata, bin, fence_agents_program, link_named, repo_root, skip_unless,
    terminate, AgentRun, Outcome, TempDir,
};
use cts::vcsim::{self, Options, Vcsim, VmState, PASSWORD, USER};

fn fence_vmware() -> PathBuf {
    bin("fence_vmware")
}

/// A symlink named `name` to the same binary, as installed.
fn personality(name: &str) -> PathBuf {
    link_named(&fence_vmware(), name)
}

fn fence_vmware_soap() -> PathBuf {
    static LINK: OnceLock<PathBuf> = OnceLock::new();
    LINK.get_or_init(|| personality("fence_vmware_soap"))
        .clone()
}

fn fence_vmware_rest() -> PathBuf {
    static LINK: OnceLock<PathBuf> = OnceLock::new();
    LINK.get_or_init(|| personality("fence_vmware_rest"))
        .clone()
}

/// A simulator started with `opts`, or None where none can run (the test
/// is then skipped, loudly).
fn vcsim_with(opts: Options) -> Option<Vcsim> {
    Vcsim::start_if_available(opts)
}

/// A simulator of a vCenter with two datacenters.
fn vcsim() -> Option<Vcsim> {
    vcsim_with(Options::default())
}

/// A simulator whose VM "slow" takes `seconds` to power on or off.
fn vcsim_slow(seconds: u32) -> Option<Vcsim> {
    vcsim_with(Options {
        slow_seconds: Some(seconds),
        ..Options::default()
    })
}

/// `program` reaching `sim` (on 127.0.0.1) as `user` with `password`,
/// with no TLS option yet.
fn login_as(program: PathBuf, sim: &Vcsim, user: &str, password: &str) -> AgentRun {
    AgentRun::new(program).args([
        "-a",
        "127.0.0.1",
        "-u",
        &sim.port.to_string(),
        "-l",
        user,
        "-p",
        password,
    ])
}

/// The option that makes the agent trust `sim`'s CA.
fn ca_arg(sim: &Vcsim) -> String {
    format!("--cacert={}", sim.ca().display())
}

/// fence_vmware reaching `sim` as the agent's default user, trusting its
/// CA.
fn agent(sim: &Vcsim) -> AgentRun {
    login_as(fence_vmware(), sim, USER, PASSWORD).args([ca_arg(sim)])
}

/// Runs fence_vmware against `sim` with these arguments and checks that
/// it left no session behind.
fn fence(sim: &Vcsim, args: &[&str]) -> Outcome {
    checked(sim, agent(sim).args(args))
}

fn checked(sim: &Vcsim, r: AgentRun) -> Outcome {
    let out = r.run();
    assert_sessions_closed(sim, &out);
    out
}

fn assert_sessions_closed(sim: &Vcsim, out: &Outcome) {
    let s = sim.sessions();
    assert_eq!(
        s.logins, s.logouts,
        "sessions left open: {s:?}\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert_eq!(s.active, 0, "{s:?}");
}

fn power_of(sim: &Vcsim, name: &str, dc: Option<&str>) -> String {
    sim.power(&sim.vm(name, dc).moref)
}

/// Fails unless every VM is as it was in `before` (power, connection,
/// template, question, identity).
fn assert_nothing_changed(sim: &Vcsim, before: &[VmState], what: &str) {
    let after = sim.all_states();
    assert_eq!(after.len(), before.len(), "{what}: the inventory changed");
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "{what}: {} changed", b.name);
    }
}

fn calls_of(sim: &Vcsim, method: &str) -> u64 {
    sim.calls().get(method).copied().unwrap_or(0)
}

/// Waits (20 s at most) until the simulator has been called `method`.
fn wait_for_call(sim: &Vcsim, method: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while calls_of(sim, method) == 0 {
        assert!(Instant::now() < until, "the agent never called {method}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Powers the VM named `name` off behind the agent's back and arms the
/// question (a kind of cts/vcsim's questionKinds) its next power-on asks.
fn off_and_asking(sim: &Vcsim, name: &str, question: &str) -> vcsim::VmInfo {
    let vm = sim.vm(name, None).clone();
    sim.set_power(&vm.moref, "poweredOff");
    sim.ask_on_power_on(&vm.moref, question);
    vm
}

#[test]
fn status_by_every_plug_form() {
    let Some(sim) = vcsim() else { return };
    let node10 = sim.vm("node10", None).clone();
    let forms = [
        "node10".to_string(),
        "/DC0/vm/node10".to_string(),
        "/DC0/vm/sub/dup".to_string(),
        node10.instance_uuid.clone(),
        node10.instance_uuid.to_uppercase(),
        node10.bios_uuid.clone(),
        node10.moref.clone(),
        "web/01".to_string(),
        "web%2f01".to_string(),
        "/DC0/vm/web%2f01".to_string(),
        "web server 01".to_string(),
        "ünïcødé-vm".to_string(),
        "a<b>&\"c'".to_string(),
        "dc1only".to_string(),
    ];
    for plug in &forms {
        fence(&sim, &["-o", "status", "-n", plug])
            .assert_code(0)
            .assert_stdout_has("Status: ON");
    }
    sim.set_power(&node10.moref, "poweredOff");
    fence(&sim, &["-o", "status", "-n", "node10"])
        .assert_code(2)
        .assert_stdout_has("Status: OFF");
    fence(&sim, &["-o", "status", "-n", "nosuchvm"])
        .assert_code(1)
        .assert_stderr_has("no virtual machine matches plug \"nosuchvm\"");
}

#[test]
fn off_on_reboot_verified_on_the_simulator() {
    let Some(sim) = vcsim() else { return };
    let vm = sim.vm("node10", None).clone();
    fence(&sim, &["-o", "off", "-n", &vm.instance_uuid])
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    assert_eq!(sim.power(&vm.moref), "poweredOff");
    // Off again: already off (and no task is started).
    fence(&sim, &["-o", "off", "-n", "node10"])
        .assert_code(0)
        .assert_stdout_has("Success: Already OFF");
    fence(&sim, &["-o", "on", "-n", &vm.moref])
        .assert_code(0)
        .assert_stdout_has("Success: Powered ON");
    assert_eq!(sim.power(&vm.moref), "poweredOn");
    let (offs, ons) = (
        calls_of(&sim, "PowerOffVM_Task"),
        calls_of(&sim, "PowerOnVM_Task"),
    );
    fence(&sim, &["-o", "reboot", "-n", "/DC0/vm/node10"])
        .assert_code(0)
        .assert_stdout_has("Success: Rebooted");
    assert_eq!(calls_of(&sim, "PowerOffVM_Task") - offs, 1);
    assert_eq!(calls_of(&sim, "PowerOnVM_Task") - ons, 1);
    assert_eq!(sim.power(&vm.moref), "poweredOn");
    // A web/01-style name, off by its unescaped name.
    fence(&sim, &["-o", "off", "-n", "web/01"]).assert_code(0);
    assert_eq!(power_of(&sim, "web%2f01", None), "poweredOff");
}

#[test]
fn several_plugs_each_resolved_and_acted_on() {
    let Some(sim) = vcsim() else { return };
    fence(
        &sim,
        &["-o", "off", "-n", "node10,web server 01,/DC1/vm/node1"],
    )
    .assert_code(0)
    .assert_stdout_has("Success: Powered OFF");
    assert_eq!(power_of(&sim, "node10", None), "poweredOff");
    assert_eq!(power_of(&sim, "web server 01", None), "poweredOff");
    assert_eq!(power_of(&sim, "node1", Some("DC1")), "poweredOff");
    assert_eq!(power_of(&sim, "node1", Some("DC0")), "poweredOn");
    // One plug on: status is ON.
    sim.set_power(&sim.vm("node10", None).moref, "poweredOn");
    fence(&sim, &["-o", "status", "-n", "node10,web server 01"])
        .assert_code(0)
        .assert_stdout_has("Status: ON");
}

#[test]
fn ambiguous_plugs_are_refused_and_nothing_is_powered() {
    let Some(sim) = vcsim() else { return };
    let before = sim.all_states();
    fence(&sim, &["-o", "off", "-n", "dup"])
        .assert_code(1)
        .assert_stderr_has("matches 2 virtual machines")
        .assert_stderr_has("/DC0/vm/dup")
        .assert_stderr_has("/DC0/vm/sub/dup");
    // node1 exists in DC0 and DC1; with another, valid plug first.
    fence(&sim, &["-o", "reboot", "-n", "node10,node1"])
        .assert_code(1)
        .assert_stderr_has("/DC0/vm/node1")
        .assert_stderr_has("/DC1/vm/node1");
    // Clones share a BIOS UUID.
    let bios = sim.vm("clone-a", None).bios_uuid.clone();
    assert_eq!(bios, sim.vm("clone-b", None).bios_uuid);
    fence(&sim, &["-o", "off", "-n", &bios])
        .assert_code(1)
        .assert_stderr_has("/DC0/vm/clone-a")
        .assert_stderr_has("/DC0/vm/clone-b");
    assert_nothing_changed(&sim, &before, "ambiguous plugs");
    assert_eq!(calls_of(&sim, "PowerOffVM_Task"), 0);
    // The clone's instance UUID is unique: accepted.
    let inst = sim.vm("clone-b", None).instance_uuid.clone();
    fence(&sim, &["-o", "status", "-n", &inst]).assert_code(0);
}

#[test]
fn datacenter_filter() {
    let Some(sim) = vcsim() else { return };
    fence(&sim, &["-o", "off", "-n", "node1", "-s", "DC1"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    assert_eq!(power_of(&sim, "node1", Some("DC1")), "poweredOff");
    assert_eq!(power_of(&sim, "node1", Some("DC0")), "poweredOn");
    fence(&sim, &["-o", "status", "-n", "dc1only", "-s", "DC0"])
        .assert_code(1)
        .assert_stderr_has("in datacenter \"DC0\"");
    fence(&sim, &["-o", "status", "-n", "/DC1/vm/node1", "-s", "DC0"]).assert_code(1);
    fence(&sim, &["-o", "status", "-n", "node1", "-s", "DC9"])
        .assert_code(1)
        .assert_stderr_has("there is no datacenter \"DC9\"");
    let out = fence(&sim, &["-o", "list", "-s", "DC1"]);
    out.assert_code(0);
    let names: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split(',').next().unwrap_or(""))
        .collect();
    assert!(
        names.contains(&"dc1only") && names.contains(&"node1"),
        "{names:?}"
    );
    assert!(!names.contains(&"node10"), "{names:?}");
}

#[test]
fn list_and_list_status_show_unescaped_names_and_instance_uuids() {
    let Some(sim) = vcsim() else { return };
    sim.set_power(&sim.vm("node10", None).moref, "poweredOff");
    let out = fence(&sim, &["-o", "list"]);
    out.assert_code(0);
    let web = sim.vm("web%2f01", None);
    out.assert_stdout_has(&format!("web/01,{}\n", web.instance_uuid));
    out.assert_stdout_has(&format!(
        "ünïcødé-vm,{}\n",
        sim.vm("ünïcødé-vm", None).instance_uuid
    ));
    assert!(!out.stdout.contains("%2f"), "{}", out.stdout);
    assert_eq!(out.stdout.lines().count(), sim.inventory.len());
    let out = fence(&sim, &["-o", "list-status"]);
    out.assert_code(0);
    out.assert_stdout_has(&format!(
        "node10,{},OFF\n",
        sim.vm("node10", None).instance_uuid
    ));
    out.assert_stdout_has(&format!("web/01,{},ON\n", web.instance_uuid));
    // Paged: with pages of 5 objects, the same list.
    let paged = checked(
        &sim,
        agent(&sim)
            .args(["-o", "list-status"])
            .env("FENCE_VMWARE_PAGE_SIZE", "5"),
    );
    paged.assert_code(0);
    assert_eq!(paged.stdout, out.stdout);
    assert!(calls_of(&sim, "ContinueRetrievePropertiesEx") >= 4);
    // As fence_vmware_soap too.
    checked(
        &sim,
        login_as(fence_vmware_soap(), &sim, USER, PASSWORD)
            .args([ca_arg(&sim)])
            .args(["-o", "list"]),
    )
    .assert_code(0)
    .assert_stdout_has("web/01,");
}

#[test]
fn a_status_poll_costs_one_object_read_whatever_the_inventory() {
    let Some(sim) = vcsim_slow(3) else { return };
    let calls0 = sim.calls();
    // Inventory path: no inventory scan at all, one property read.
    fence(&sim, &["-o", "status", "-n", "/DC0/vm/node10"]).assert_code(0);
    let calls1 = sim.calls();
    let d = |a: &std::collections::HashMap<String, u64>,
             b: &std::collections::HashMap<String, u64>,
             k: &str| b.get(k).copied().unwrap_or(0) - a.get(k).copied().unwrap_or(0);
    assert_eq!(d(&calls0, &calls1, "CreateContainerView"), 0);
    assert_eq!(d(&calls0, &calls1, "RetrievePropertiesEx"), 1, "{calls1:?}");
    // A name: one scan (paged), then one read per poll. Powering the slow
    // VM off takes about 3 s of 250 ms task polls and 1 s status polls;
    // the scan is still done once.
    checked(
        &sim,
        agent(&sim)
            .args(["-o", "off", "-n", "slow", "--power-timeout=20"])
            .env("FENCE_VMWARE_PAGE_SIZE", "4"),
    )
    .assert_code(0);
    let calls2 = sim.calls();
    assert_eq!(d(&calls1, &calls2, "CreateContainerView"), 1);
    assert_eq!(d(&calls1, &calls2, "DestroyView"), 1);
    let pages = 1 + d(&calls1, &calls2, "ContinueRetrievePropertiesEx");
    let reads = d(&calls1, &calls2, "RetrievePropertiesEx");
    assert!(pages >= 6, "the scan was paged: {calls2:?}");
    // Every other RetrievePropertiesEx read one VM (and its task): the
    // poll count depends on time, not on the inventory.
    let polls = reads - 1;
    assert!(polls >= 3, "{polls} polls");
    assert_eq!(power_of(&sim, "slow", None), "poweredOff");
}

/// The peak resident memory of one successful run of `program` with
/// `args` (and `SSL_CERT_FILE` set to `cert_file` when given), in KiB, as
/// GNU time reports it (the kernel's accounting of that process alone:
/// wait4 from this test would also count the test's own image, copied by
/// fork before exec).
fn peak_rss_kib(program: &PathBuf, args: &[String], cert_file: Option<&Path>) -> i64 {
    let dir = TempDir::new("rss");
    let report = dir.path().join("time");
    let mut time = Command::new("/usr/bin/time");
    time.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(program)
        .args(args)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(file) = cert_file {
        time.env("SSL_CERT_FILE", file);
    }
    let status = time.status().expect("GNU time (Debian package time)");
    assert!(status.success(), "{program:?} {args:?}: {status}");
    let text = std::fs::read_to_string(&report).expect("time's report");
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("time's report: {text:?}"))
}

/// Issue 10's bound on a status by name at 5,000 VMs, HTTP or HTTPS. The
/// release build peaks at about half of it (bench/RESULTS.md); the debug
/// build these tests run is the larger one, so the bound is checked on
/// the worse of the two.
const STATUS_AT_5000_VMS_MAX_KIB: i64 = 10 * 1024;

/// A status by name at 5,000 VMs peaks under 10 MiB over plain HTTP and
/// over HTTPS, with an RSA-2048 certificate verified against the CA file
/// or against a system store of Debian's bundle (~140 CAs read and
/// parsed). The absolute bound alone would not catch an agent that keeps
/// the whole listing (3.6 MiB more at 5,000 VMs, before it held one page
/// of (id, name) pairs at a time), so the status by name must also cost
/// no more than 1 MiB over a status by inventory path, which reads no
/// VM's name.
#[test]
fn a_status_by_name_at_5000_vms_peaks_under_10_mib_one_page_at_a_time() {
    for https in [false, true] {
        let Some(sim) = vcsim_with(Options {
            plain_http: !https,
            key_type: https.then_some("rsa2048"),
            extra_vms: Some(5000),
            ..Options::default()
        }) else {
            return;
        };
        assert!(sim.inventory.len() > 5000);
        let scratch = TempDir::new("rss-store");
        let system_store = scratch.path().join("system.pem");
        let ways: Vec<(&str, String, Option<&Path>)> = if https {
            let debian_bundle = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt")
                .expect("Debian's CA bundle (package ca-certificates)");
            let sim_ca = std::fs::read_to_string(sim.ca()).expect("the simulator's CA");
            std::fs::write(&system_store, format!("{debian_bundle}{sim_ca}"))
                .expect("system store");
            vec![
                ("HTTPS, cacert", ca_arg(&sim), None),
                ("HTTPS, system store", "--ssl".into(), Some(&system_store)),
            ]
        } else {
            vec![("HTTP", "--notls".into(), None)]
        };
        for (way, tls, cert_file) in ways {
            let run = |plug: &str| {
                let args: Vec<String> = [
                    "-a",
                    "127.0.0.1",
                    "-u",
                    &sim.port.to_string(),
                    "-l",
                    USER,
                    "-p",
                    PASSWORD,
                    &tls,
                    "-o",
                    "status",
                    "-n",
                    plug,
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                peak_rss_kib(&fence_vmware(), &args, cert_file)
            };
            let by_path = run("/DC0/vm/node10");
            let pages_before = calls_of(&sim, "ContinueRetrievePropertiesEx");
            let by_name = run("node10");
            assert!(
                calls_of(&sim, "ContinueRetrievePropertiesEx") - pages_before >= 50,
                "{way}: the status by name read every page of the inventory"
            );
            assert!(
                by_name <= STATUS_AT_5000_VMS_MAX_KIB,
                "{way}: a status by name at 5,000 VMs peaks at {by_name} KiB"
            );
            assert!(
                by_name <= by_path + 1024,
                "{way}: a status by name peaks at {by_name} KiB, by path at {by_path} KiB"
            );
        }
        assert_eq!(sim.sessions().active, 0);
    }
}

#[test]
fn wrong_password_and_no_permission() {
    let Some(sim) = vcsim() else { return };
    checked(
        &sim,
        login_as(fence_vmware(), &sim, USER, "wrong password")
            .args([ca_arg(&sim)])
            .args(["-o", "status", "-n", "node10"]),
    )
    .assert_code(1)
    .assert_stderr_has("Unable to connect/login to fencing device")
    .assert_stderr_has("InvalidLogin");
    let readonly = |action: &str| {
        checked(
            &sim,
            login_as(fence_vmware(), &sim, "readonly", PASSWORD)
                .args([ca_arg(&sim)])
                .args(["-o", action, "-n", "node10"]),
        )
    };
    readonly("off")
        .assert_code(1)
        .assert_stderr_has("The user does not have the correct privileges")
        .assert_stderr_has("NoPermission");
    assert_eq!(power_of(&sim, "node10", None), "poweredOn");
    // Reading is allowed to that user.
    readonly("status").assert_code(0);
    // monitor: login and logout.
    fence(&sim, &["-o", "monitor"]).assert_code(0);
    assert!(sim.sessions().logins >= 3);
}

#[test]
fn tls_verification() {
    let Some(sim) = vcsim() else { return };
    let port = sim.port.to_string();
    let untrusting = |program: PathBuf| {
        login_as(program, &sim, USER, PASSWORD)
            .env("SSL_CERT_FILE", "/nonexistent")
            .env("SSL_CERT_DIR", "/nonexistent")
    };
    // Untrusted: refused, nothing logged in.
    checked(
        &sim,
        untrusting(fence_vmware()).args(["-o", "status", "-n", "node10"]),
    )
    .assert_code(1)
    .assert_stderr_has("Unable to connect/login to fencing device")
    .assert_stderr_has("certificate");
    assert_eq!(sim.sessions().logins, 0);
    // The system store, pointed at the CA with SSL_CERT_FILE.
    checked(
        &sim,
        login_as(fence_vmware(), &sim, USER, PASSWORD)
            .args(["-o", "status", "-n", "node10"])
            .env("SSL_CERT_FILE", sim.ca()),
    )
    .assert_code(0);
    // ssl_insecure=0 on stdin still verifies.
    let stdin = |more: &str| {
        format!(
            "action=status\nip=127.0.0.1\nipport={port}\nusername={USER}\npassword={PASSWORD}\nplug=node10\n{more}"
        )
    };
    checked(
        &sim,
        AgentRun::new(fence_vmware_soap())
            .stdin(stdin("ssl_insecure=0\n"))
            .env("SSL_CERT_FILE", "/nonexistent")
            .env("SSL_CERT_DIR", "/nonexistent"),
    )
    .assert_code(1)
    .assert_stderr_has("certificate");
    // ssl_insecure=1 works and says so at verbose level.
    checked(
        &sim,
        AgentRun::new(fence_vmware_soap())
            .stdin(stdin("ssl_insecure=1\nverbose=1\n"))
            .env("SSL_CERT_FILE", "/nonexistent"),
    )
    .assert_code(0)
    .assert_stdout_has("Status: ON")
    .assert_stderr_has("NOT verified");
    // Plain HTTP against a TLS server: only with notls, and it fails.
    checked(
        &sim,
        untrusting(fence_vmware()).args(["-o", "status", "-n", "node10", "--notls"]),
    )
    .assert_code(1);
    // notls with ssl_insecure is a contradiction.
    checked(
        &sim,
        untrusting(fence_vmware()).args([
            "-o",
            "status",
            "-n",
            "node10",
            "--notls",
            "--ssl-insecure",
        ]),
    )
    .assert_code(1)
    .assert_stderr_has("notls");
}

/// A trusted CA is not enough: the certificate must name the host asked
/// for. The simulator's names localhost, 127.0.0.1 and ::1; served on
/// 127.0.0.2 (still loopback) it is refused, and nothing logs in.
#[test]
fn certificate_for_another_host_name_is_refused() {
    let Some(sim) = vcsim_with(Options {
        listen: Some("127.0.0.2:0".into()),
        ..Default::default()
    }) else {
        return;
    };
    let to_127_0_0_2 = |tls: &[String]| {
        checked(
            &sim,
            AgentRun::new(fence_vmware())
                .args(["-a", "127.0.0.2", "-u", &sim.port.to_string()])
                .args(["-l", USER, "-p", PASSWORD, "-o", "status", "-n", "node10"])
                .args(tls),
        )
    };
    to_127_0_0_2(&[ca_arg(&sim)])
        .assert_code(1)
        .assert_stderr_has("Unable to connect/login to fencing device")
        .assert_stderr_has("IP address mismatch");
    assert_eq!(sim.sessions().logins, 0);
    // Only the explicit opt-out accepts it.
    to_127_0_0_2(&["--ssl-insecure".to_string()])
        .assert_code(0)
        .assert_stdout_has("Status: ON");
}

#[test]
fn plain_http_only_when_asked() {
    let Some(sim) = vcsim_with(Options {
        plain_http: true,
        ..Options::default()
    }) else {
        return;
    };
    let plain = |more: &[&str]| {
        checked(
            &sim,
            login_as(fence_vmware(), &sim, USER, PASSWORD)
                .args(["-o", "status", "-n", "node10"])
                .args(more),
        )
    };
    plain(&[]).assert_code(1);
    plain(&["--notls"])
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    let stdin = format!(
        "action=status\nipaddr=127.0.0.1\nipport={}\nlogin={USER}\npasswd={PASSWORD}\nport=node10\nssl=0\n",
        sim.port
    );
    checked(&sim, AgentRun::new(fence_vmware_soap()).stdin(stdin))
        .assert_code(0)
        .assert_stdout_has("Status: ON");
}

#[test]
fn a_late_task_times_out_in_wall_clock_seconds() {
    let Some(sim) = vcsim_slow(12) else { return };
    let started = Instant::now();
    fence(
        &sim,
        &[
            "-o",
            "off",
            "-n",
            "slow",
            "--power-timeout=2",
            "--shell-timeout=2",
        ],
    )
    .assert_code(1)
    .assert_stderr_has("Failed: Timed out waiting to power OFF");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(7),
        "took {took:?} for power_timeout 2 + shell_timeout 2"
    );
    assert!(took >= Duration::from_secs(4), "took {took:?}");
    assert_eq!(power_of(&sim, "slow", None), "poweredOn");
}

// ---------------------------------------------------------------------------
// What fence_vmware refuses (README, "What the agents refuse, and why").

/// Every VM the device cannot vouch for, in every action: status fails
/// (never "Status: OFF"), off/on/reboot never print Success, list-status
/// says UNKNOWN, and nothing is powered.
#[test]
fn a_vm_vcenter_is_not_connected_to_is_never_reported_fenced() {
    let Some(sim) = vcsim() else { return };
    let node10 = sim.vm("node10", None).clone();
    let host = sim.state(&node10.moref).host;
    for state in ["disconnected", "orphaned", "inaccessible", "invalid"] {
        // Its host lost: vCenter marks the VM disconnected, and the host.
        let host_state = if state == "disconnected" {
            "notResponding"
        } else {
            "connected"
        };
        sim.set_host_connection(&host, host_state);
        sim.set_connection(&node10.moref, state);
        for (action, stale_power) in [
            ("status", "poweredOff"),
            ("off", "poweredOff"),
            ("reboot", "poweredOff"),
            ("on", "poweredOn"),
        ] {
            sim.set_power(&node10.moref, stale_power);
            let before = sim.all_states();
            let out = fence(&sim, &["-o", action, "-n", "node10"]);
            out.assert_code(1)
                .assert_stderr_has(&format!("its connection state is {state}"))
                .assert_stderr_has(&format!("{host}) is {host_state}"))
                .assert_stderr_has(&format!("{stale_power} is only the last state"));
            assert!(
                !out.stdout.contains("Success") && !out.stdout.contains("Status"),
                "{state}, {action}: {}",
                out.stdout
            );
            assert_nothing_changed(&sim, &before, &format!("{state}, {action}"));
        }
        let before = sim.all_states();
        let out = fence(&sim, &["-o", "list-status"]);
        out.assert_code(0)
            .assert_stdout_has(&format!("node10,{},UNKNOWN\n", node10.instance_uuid));
        let node1 = sim.vm("node1", Some("DC0"));
        out.assert_stdout_has(&format!("node1,{},ON\n", node1.instance_uuid));
        assert_nothing_changed(&sim, &before, &format!("{state}, list-status"));
    }
    assert_eq!(calls_of(&sim, "PowerOffVM_Task"), 0);
    assert_eq!(calls_of(&sim, "PowerOnVM_Task"), 0);
    // Connected again: believed again.
    sim.set_connection(&node10.moref, "connected");
    fence(&sim, &["-o", "status", "-n", "node10"])
        .assert_code(0)
        .assert_stdout_has("Status: ON");
}

/// The VM is lost while its power-off task runs, and vCenter's last word
/// is "poweredOff": the poll that reads it must refuse.
#[test]
fn a_vm_lost_during_the_verification_fails_the_off() {
    let Some(sim) = vcsim_slow(6) else { return };
    let slow = sim.vm("slow", None).moref.clone();
    let child = agent(&sim)
        .args(["-o", "off", "-n", "slow", "--power-timeout=30"])
        .limit(Duration::from_secs(40));
    let runner = std::thread::spawn(move || child.run());
    wait_for_call(&sim, "PowerOffVM_Task");
    sim.set_connection(&slow, "orphaned");
    sim.set_power(&slow, "poweredOff");
    let out = runner.join().expect("agent run");
    assert_sessions_closed(&sim, &out);
    out.assert_code(1)
        .assert_stderr_has("its connection state is orphaned");
    assert!(!out.stdout.contains("Success"), "{}", out.stdout);
    assert!(
        out.elapsed < Duration::from_secs(6),
        "refused at the next poll, not at the task's end: {:?}",
        out.elapsed
    );
    assert_eq!(sim.state(&slow).connection, "orphaned");
}

#[test]
fn a_template_is_not_a_fence_target() {
    let Some(sim) = vcsim() else { return };
    let node10 = sim.vm("node10", None).clone();
    sim.set_template(&node10.moref, true);
    let before = sim.all_states();
    for action in ["status", "off", "on", "reboot"] {
        let out = fence(&sim, &["-o", action, "-n", "node10"]);
        out.assert_code(1)
            .assert_stderr_has("is a template, not a virtual machine that runs");
        assert!(!out.stdout.contains("Success"), "{action}: {}", out.stdout);
    }
    // Not listed: it cannot be fenced.
    let out = fence(&sim, &["-o", "list-status"]);
    out.assert_code(0);
    assert!(
        !out.stdout.contains(&node10.instance_uuid),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.lines().count(), sim.inventory.len() - 1);
    assert_nothing_changed(&sim, &before, "template");
}

#[test]
fn moved_or_copied_is_answered_moved_and_the_vm_keeps_its_identity() {
    let Some(sim) = vcsim() else { return };
    let vm = off_and_asking(&sim, "questioned", "moved-or-copied");
    fence(&sim, &["-o", "on", "-n", "questioned", "-v"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered ON")
        .assert_stderr_has("msg.uuid.altered")
        .assert_stderr_has("answered \"I Moved It\" (button.uuid.movedTheVM, key 1)");
    let after = sim.state(&vm.moref);
    assert_eq!(after.power, "poweredOn");
    assert!(!after.question);
    assert_eq!(after.bios_uuid, vm.bios_uuid, "the BIOS UUID changed");
    // Reboot goes through the question too, with the same answer.
    fence(&sim, &["-o", "reboot", "-n", "questioned"]).assert_code(0);
    let answers = sim.answers();
    assert_eq!(answers.len(), 2, "{answers:?}");
    for a in &answers {
        assert_eq!(
            (a.vm.as_str(), a.message_id.as_str()),
            (vm.moref.as_str(), "msg.uuid.altered")
        );
        assert_eq!(a.choice, "1", "{a:?}");
    }
    let after = sim.state(&vm.moref);
    assert_eq!(
        (after.power.as_str(), after.bios_uuid.as_str()),
        ("poweredOn", vm.bios_uuid.as_str())
    );
    // The plug still finds it by its BIOS UUID.
    fence(&sim, &["-o", "status", "-n", &vm.bios_uuid]).assert_code(0);
}

#[test]
fn a_question_with_a_safe_default_gets_its_default() {
    let Some(sim) = vcsim() else { return };
    let vm = off_and_asking(&sim, "node10", "serial-file");
    fence(&sim, &["-o", "on", "-n", "node10", "-v"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered ON")
        .assert_stderr_has("msg.serial.file.open")
        .assert_stderr_has("answered \"Append\"");
    let answers = sim.answers();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(
        (answers[0].message_id.as_str(), answers[0].choice.as_str()),
        ("msg.serial.file.open", "1")
    );
    let after = sim.state(&vm.moref);
    assert_eq!((after.power.as_str(), after.question), ("poweredOn", false));
}

#[test]
fn a_question_without_a_safe_answer_fails_and_is_left_for_a_person() {
    let Some(sim) = vcsim() else { return };
    let vm = off_and_asking(&sim, "node10", "out-of-space");
    let out = fence(&sim, &["-o", "on", "-n", "node10"]);
    out.assert_code(1)
        .assert_stderr_has("msg.hbacommon.outofspace")
        .assert_stderr_has("1 \"Retry\"")
        .assert_stderr_has("0 \"Cancel\"")
        .assert_stderr_has("answer it in the vSphere Client");
    assert!(!out.stdout.contains("Success"), "{}", out.stdout);
    assert!(sim.answers().is_empty(), "{:?}", sim.answers());
    let after = sim.state(&vm.moref);
    assert_eq!((after.power.as_str(), after.question), ("poweredOff", true));
    assert_eq!(after.bios_uuid, vm.bios_uuid);
    for other in sim.all_states().iter().filter(|s| s.moref != vm.moref) {
        assert!(!other.question, "{other:?}");
    }
}

/// An administrator ends the session while the agent waits for its task:
/// the agent logs in again and finishes.
#[test]
fn a_session_ended_under_the_agent_is_logged_into_again() {
    let Some(sim) = vcsim_slow(3) else { return };
    let child = agent(&sim).args(["-o", "off", "-n", "slow", "--power-timeout=20"]);
    let runner = std::thread::spawn(move || child.run());
    wait_for_call(&sim, "PowerOffVM_Task");
    sim.terminate_sessions();
    let out = runner.join().expect("agent run");
    out.assert_code(0).assert_stdout_has("Success: Powered OFF");
    let s = sim.sessions();
    // Two logins (the second after the first session ended), one logout:
    // the ended session needs none.
    assert_eq!((s.logins, s.logouts, s.active), (2, 1, 0), "{}", out.stderr);
    assert_eq!(power_of(&sim, "slow", None), "poweredOff");
}

#[test]
fn sigterm_in_the_middle_still_logs_out() {
    let Some(sim) = vcsim_slow(20) else { return };
    let child = Command::new(fence_vmware())
        .args(["-a", "127.0.0.1", "-u", &sim.port.to_string(), "-l", USER])
        .args(["-p", PASSWORD, &ca_arg(&sim)])
        .args(["-o", "off", "-n", "slow", "--power-timeout=60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start agent");
    wait_for_call(&sim, "PowerOffVM_Task");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sim.sessions().active, 1);
    let (status, out) = terminate(child, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted by signal"), "{stderr}");
    let s = sim.sessions();
    assert_eq!((s.logins, s.logouts, s.active), (1, 1, 0), "{stderr}");
}

#[test]
fn the_password_never_shows_even_at_vvv() {
    let Some(sim) = vcsim() else { return };
    fence(&sim, &["-o", "status", "-n", "node10", "-vvv"])
        .assert_code(0)
        .assert_stderr_has("RetrievePropertiesEx")
        .assert_nothing_contains(PASSWORD);
    checked(
        &sim,
        login_as(fence_vmware(), &sim, USER, "an0ther secret")
            .args([ca_arg(&sim)])
            .args(["-o", "status", "-n", "node10", "-vvv"]),
    )
    .assert_code(1)
    .assert_nothing_contains("an0ther secret");
}

#[test]
fn stdin_and_the_seeds_pacemaker_parameters() {
    let Some(sim) = vcsim() else { return };
    let from_stdin = |program: PathBuf, lines: &str| {
        checked(
            &sim,
            AgentRun::new(program).stdin(format!(
                "ipaddr=127.0.0.1\nipport={}\nlogin={USER}\npasswd={PASSWORD}\ncacert={}\n{lines}",
                sim.port,
                sim.ca().display()
            )),
        )
    };
    // FenceAgentAPI form, as Pacemaker sends it.
    from_stdin(fence_vmware(), "action=status\nport=node10\n")
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    // The seed's primitive: ipaddr login passwd vmware_datacenter
    // vmware_type=esx action=reboot port (the address carries the port,
    // the CA comes from the system store).
    let stdin = format!(
        "ipaddr=127.0.0.1:{}\nlogin={USER}\npasswd={PASSWORD}\nvmware_datacenter=DC1\nvmware_type=esx\naction=reboot\nport=node1\npcmk_host_list=node95 node96\n",
        sim.port
    );
    let offs = calls_of(&sim, "PowerOffVM_Task");
    checked(
        &sim,
        AgentRun::new(fence_vmware())
            .stdin(stdin)
            .env("SSL_CERT_FILE", sim.ca()),
    )
    .assert_code(0)
    .assert_stdout_has("Success: Rebooted");
    assert_eq!(calls_of(&sim, "PowerOffVM_Task") - offs, 1);
    assert_eq!(power_of(&sim, "node1", Some("DC1")), "poweredOn");
    // nodename (the target) when no port is given.
    from_stdin(fence_vmware_soap(), "action=off\nnodename=dc1only\n").assert_code(0);
    assert_eq!(power_of(&sim, "dc1only", None), "poweredOff");
}

#[test]
fn standalone_esxi() {
    let Some(sim) = vcsim_with(Options {
        esx: true,
        ..Options::default()
    }) else {
        return;
    };
    fence(&sim, &["-o", "off", "-n", "node1"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    assert_eq!(power_of(&sim, "node1", None), "poweredOff");
    fence(
        &sim,
        &["-o", "status", "-n", "node10", "-s", "ha-datacenter"],
    )
    .assert_code(0);
}

// ---------------------------------------------------------------------------
// Metadata and man pages.

fn output_of(program: &PathBuf, args: &[&str]) -> String {
    let out = AgentRun::new(program).args(args).run();
    out.assert_code(0);
    out.stdout
}

#[test]
fn metadata_and_man_pages_match_the_committed_files() {
    let root = repo_root();
    for (program, name) in [
        (fence_vmware(), "fence_vmware"),
        (fence_vmware_soap(), "fence_vmware_soap"),
        (fence_vmware_rest(), "fence_vmware_rest"),
    ] {
        let meta = output_of(&program, &["-o", "metadata"]);
        let committed = std::fs::read_to_string(root.join(format!("metadata/{name}.xml")))
            .expect("committed metadata");
        assert!(
            meta == committed,
            "metadata/{name}.xml differs from `{name} -o metadata`: regenerate it"
        );
        let man = output_of(&program, &["-o", "manpage"]);
        let committed = std::fs::read_to_string(root.join(format!("man/{name}.8")))
            .expect("committed man page");
        assert!(
            man == committed,
            "man/{name}.8 differs from `{name} -o manpage`: regenerate it"
        );
    }
}

/// fence-agents' own metadata for `name`, from its installed Python agent.
fn fence_agents_metadata(name: &str) -> Option<String> {
    let program = fence_agents_program(name)?;
    let out = Command::new(program)
        .args(["-o", "metadata"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn metadata_declares_every_fence_agents_parameter_and_validates() {
    for (program, name) in [
        (fence_vmware(), "fence_vmware"),
        (fence_vmware_soap(), "fence_vmware_soap"),
        (fence_vmware_rest(), "fence_vmware_rest"),
    ] {
        let meta = output_of(&program, &["-o", "metadata"]);
        for a in [
            "on",
            "off",
            "reboot",
            "status",
            "list",
            "list-status",
            "monitor",
        ] {
            assert!(
                meta.contains(&format!("<action name=\"{a}\"")),
                "{name}: {a}"
            );
        }
        // Every parameter fence-agents' agent of the same name declares
        // (pcs refuses undeclared ones, so a configuration written for it
        // would be refused).
        let reference = fence_agents_metadata(name);
        if !skip_unless(
            reference.is_some(),
            "fence-agents (Debian package) is not installed",
        ) {
            let r = reference.unwrap_or_default();
            let params: Vec<&str> = r
                .split("<parameter name=\"")
                .skip(1)
                .map(|part| part.split('"').next().unwrap_or(""))
                .collect();
            assert!(
                params.len() > 20,
                "{name}: fence-agents' metadata has {params:?}"
            );
            for p in params {
                assert!(
                    meta.contains(&format!("<parameter name=\"{p}\" ")),
                    "{name} does not declare {p}, which fence-agents' {name} declares"
                );
            }
        }
        assert_valid_metadata(&meta, name);
    }
}

/// Each parameter's declared default: name -> default (None without one).
fn defaults(metadata: &str) -> std::collections::BTreeMap<String, Option<String>> {
    metadata
        .split("<parameter name=\"")
        .skip(1)
        .map(|part| {
            let name = part.split('"').next().unwrap_or("").to_string();
            let content = part.split("<content").nth(1).unwrap_or("");
            let content = content.split('>').next().unwrap_or("");
            let default = content
                .split("default=\"")
                .nth(1)
                .map(|d| d.split('"').next().unwrap_or("").to_string());
            (name, default)
        })
        .collect()
}

/// fence_vmware_rest declares fence-agents' defaults (shell_timeout 5,
/// power_wait 1, ...), except where it is safer on purpose: HTTPS on 443
/// by default (fence-agents: plain HTTP, ipport 80) and no fixed
/// api_path (fence-agents: /rest; here /api, or /rest when the server has
/// no /api).
#[test]
fn fence_vmware_rest_keeps_fence_agents_defaults_but_where_safer() {
    let ours = defaults(&output_of(&fence_vmware_rest(), &["-o", "metadata"]));
    assert_eq!(ours["shell_timeout"].as_deref(), Some("5"));
    assert_eq!(ours["power_wait"].as_deref(), Some("1"));
    let Some(reference) = fence_agents_metadata("fence_vmware_rest") else {
        skip_unless(false, "fence-agents (Debian package) is not installed");
        return;
    };
    let theirs = defaults(&reference);
    let on_purpose = [
        ("ipport", Some("80"), None),
        ("api_path", Some("/rest"), None),
    ];
    for (name, default) in &theirs {
        match on_purpose.iter().find(|(n, _, _)| n == name) {
            Some((_, was, is)) => {
                assert_eq!(default.as_deref(), *was, "fence-agents' {name} changed");
                assert_eq!(ours[name].as_deref(), *is, "{name}");
            }
            None => assert_eq!(
                ours.get(name),
                Some(default),
                "fence_vmware_rest's default of {name} differs from fence-agents'"
            ),
        }
    }
}
