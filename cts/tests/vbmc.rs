//! vmware-vbmc, the daemon binary, fronting VMware's vSphere simulator
//! (cts/vcsim) on 127.0.0.1, driven by real IPMI consoles: Debian's
//! `ipmitool -I lanplus` and fence-agents' `fence_ipmilan`. After every
//! step the VM's state is read from the simulator's control endpoint,
//! never through the daemon; the simulator's session counters show how
//! many times the daemon logged in and out.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cts::support::{bin, is_root, skip_unless, AgentRun, Outcome, TempDir};
use cts::vcsim::{self, Options, Sessions, Vcsim, PASSWORD, USER};
use cts::vim25_session::Vim25Session;

const IPMI_USER: &str = "fence";
const IPMI_PASSWORD: &str = "k7#Vq2!mZp9@Lw4$";

/// The simulator, or None where it or the daemon's needs are missing (the
/// test is then skipped, loudly; under CI that fails).
fn vcsim_with(opts: Options) -> Option<Vcsim> {
    if skip_unless(
        vcsim::available(),
        "the vSphere simulator needs Go and golang-github-vmware-govmomi-dev",
    ) || skip_unless(
        is_root(),
        "vmware-vbmc only reads a configuration file that root owns",
    ) || skip_unless(
        std::path::Path::new("/usr/bin/ipmitool").exists()
            && std::path::Path::new("/usr/sbin/fence_ipmilan").exists(),
        "ipmitool and fence-agents' fence_ipmilan are needed",
    ) {
        return None;
    }
    Some(Vcsim::start_with(opts))
}

fn vcsim() -> Option<Vcsim> {
    vcsim_with(Options::default())
}

fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
    s.local_addr().expect("local addr").port()
}

/// How a test's daemon is set up beyond its plugs.
#[derive(Default)]
struct Setup {
    /// More [vcenter] settings. The simulator's CA is trusted (cacert)
    /// unless they hold notls, ssl_insecure or `# no cacert`.
    vcenter: &'static str,
    /// The body of the [daemon] section.
    daemon: &'static str,
    /// The vCenter password, when not the simulator's.
    password: Option<&'static str>,
    /// `run --debug`.
    debug: bool,
}

/// One `vmware-vbmc run` process, an endpoint per plug, its log in a file.
struct Daemon {
    child: Option<Child>,
    dir: TempDir,
    ports: Vec<(String, u16)>,
}

/// Writes the daemon's configuration for `sim` into `dir` (root's, 0600);
/// the endpoint of each plug, on a free UDP port of 127.0.0.1.
fn write_config(
    dir: &TempDir,
    sim: &Vcsim,
    plugs: &[&str],
    setup: &Setup,
) -> (PathBuf, Vec<(String, u16)>) {
    let vcenter = setup.vcenter;
    let tls = if ["notls", "ssl_insecure", "# no cacert"]
        .iter()
        .any(|w| vcenter.contains(w))
    {
        String::new()
    } else {
        format!("cacert = {:?}\n", sim.ca().display().to_string())
    };
    let password = setup.password.unwrap_or(PASSWORD);
    let mut text = format!(
        "[vcenter]\nip = \"127.0.0.1\"\nipport = {}\nusername = {USER:?}\npassword = {password:?}\n{tls}{vcenter}\n\n[daemon]\n{}\n",
        sim.port, setup.daemon
    );
    let mut ports = Vec::new();
    for plug in plugs {
        let port = free_udp_port();
        text.push_str(&format!(
            "\n[[vm]]\nplug = {plug:?}\nlisten_address = \"127.0.0.1\"\nlisten_port = {port}\nipmi_username = {IPMI_USER:?}\nipmi_password = {IPMI_PASSWORD:?}\nprivilege_limit = \"operator\"\n"
        ));
        ports.push((plug.to_string(), port));
    }
    let config = dir.path().join("vmware-vbmc.toml");
    std::fs::write(&config, text).expect("config");
    let mut perms = std::fs::metadata(&config).expect("config").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&config, perms).expect("chmod");
    (config, ports)
}

/// `vmware-vbmc run` that is expected to stop by itself (it cannot start).
fn run_until_it_stops(sim: &Vcsim, setup: Setup) -> Outcome {
    let dir = TempDir::new("vbmc-once");
    let (config, _) = write_config(&dir, sim, &["node10"], &setup);
    AgentRun::new(bin("vmware-vbmc"))
        .args(["run", "--debug"])
        .args([&config])
        .limit(Duration::from_secs(40))
        .run()
}

impl Daemon {
    /// The daemon reaching `sim` (see [`Setup`]).
    fn start(sim: &Vcsim, plugs: &[&str], setup: Setup) -> Daemon {
        let dir = TempDir::new("vbmc");
        let (config, ports) = write_config(&dir, sim, plugs, &setup);
        let debug = setup.debug;
        let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log");
        let mut cmd = Command::new(bin("vmware-vbmc"));
        cmd.arg("run");
        if debug {
            cmd.arg("--debug");
        }
        let child = cmd
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start vmware-vbmc");
        let mut d = Daemon {
            child: Some(child),
            dir,
            ports,
        };
        let ready = format!("serving {} virtual machine(s)", plugs.len());
        let started = Instant::now();
        while !d.log().contains(&ready) {
            if let Some(c) = d.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("vmware-vbmc exited ({status}):\n{}", d.log());
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "vmware-vbmc not serving after 30 s:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Fails unless the daemon's log holds every one of `texts`.
    fn assert_logged(&self, texts: &[&str]) {
        let log = self.log();
        for t in texts {
            assert!(log.contains(t), "the log lacks {t:?}:\n{log}");
        }
    }

    fn port(&self, plug: &str) -> u16 {
        self.ports
            .iter()
            .find(|(p, _)| p == plug)
            .map(|(_, port)| *port)
            .unwrap_or_else(|| panic!("no endpoint for {plug}"))
    }

    /// SIGTERM; the exit status and how long it took.
    fn stop(&mut self) -> (Option<i32>, Duration) {
        let Some(mut child) = self.child.take() else {
            return (None, Duration::ZERO);
        };
        let started = Instant::now();
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return (status.code(), started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("vmware-vbmc ignored SIGTERM for 30 s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// ipmitool -I lanplus against an endpoint, the password in the
/// environment (-E), with cipher suite `suite` (None: ipmitool's choice).
fn ipmitool(d: &Daemon, plug: &str, suite: Option<&str>, args: &[&str]) -> Outcome {
    let port = d.port(plug).to_string();
    let mut cmd = vec!["-I", "lanplus", "-H", "127.0.0.1", "-p", &port];
    cmd.extend(["-U", IPMI_USER, "-E", "-L", "OPERATOR"]);
    if let Some(s) = suite {
        cmd.extend(["-C", s]);
    }
    cmd.extend(args);
    AgentRun::new("/usr/bin/ipmitool")
        .args(cmd)
        .env("IPMI_PASSWORD", IPMI_PASSWORD)
        .limit(Duration::from_secs(60))
        .run()
}

/// fence-agents' fence_ipmilan, its options on stdin as Pacemaker's
/// fencer passes them.
fn fence_ipmilan(d: &Daemon, plug: &str, action: &str) -> Outcome {
    AgentRun::new("/usr/sbin/fence_ipmilan")
        .stdin(format!(
            "ip=127.0.0.1\nipport={}\nusername={IPMI_USER}\npassword={IPMI_PASSWORD}\nlanplus=1\nprivlvl=operator\naction={action}\n",
            d.port(plug)
        ))
        .limit(Duration::from_secs(120))
        .run()
}

/// The one VM of this name in DC0, by moref.
fn moref(sim: &Vcsim, name: &str) -> String {
    sim.vm(name, Some("DC0")).moref.clone()
}

fn calls(sim: &Vcsim, method: &str) -> u64 {
    sim.calls().get(method).copied().unwrap_or(0)
}

fn sessions(sim: &Vcsim) -> (u64, u64, u64) {
    let Sessions {
        logins,
        logouts,
        active,
    } = sim.sessions();
    (logins, logouts, active)
}

fn assert_fails(o: &Outcome, what: &str) {
    assert_ne!(o.code, 0, "{what} must fail\n{}{}", o.stdout, o.stderr);
    assert!(
        !o.stdout.contains("Chassis Power is off") && !o.stdout.contains("Success"),
        "{what}: never off, never success\n{}",
        o.stdout
    );
}

#[test]
fn ipmitool_drives_a_vm_with_cipher_suites_3_and_17() {
    let Some(sim) = vcsim() else { return };
    let d = Daemon::start(&sim, &["node10"], Setup::default());
    let vm = moref(&sim, "node10");
    for suite in ["3", "17"] {
        let s = Some(suite);
        let o = ipmitool(&d, "node10", s, &["chassis", "power", "status"]);
        o.assert_code(0);
        assert_eq!(o.stdout.trim(), "Chassis Power is on");
        assert_eq!(sim.power(&vm), "poweredOn");

        let o = ipmitool(&d, "node10", s, &["chassis", "power", "off"]);
        // Read the moment ipmitool reports: the VM is already off.
        assert_eq!(sim.power(&vm), "poweredOff", "suite {suite}");
        o.assert_code(0);
        assert_eq!(o.stdout.trim(), "Chassis Power Control: Down/Off");
        let o = ipmitool(&d, "node10", s, &["chassis", "power", "status"]);
        assert_eq!(o.stdout.trim(), "Chassis Power is off");
        let o = ipmitool(&d, "node10", s, &["chassis", "status"]);
        o.assert_code(0)
            .assert_stdout_has("System Power         : off");

        let o = ipmitool(&d, "node10", s, &["chassis", "power", "on"]);
        assert_eq!(sim.power(&vm), "poweredOn");
        o.assert_code(0);
        assert_eq!(o.stdout.trim(), "Chassis Power Control: Up/On");
        let o = ipmitool(&d, "node10", s, &["chassis", "status"]);
        o.assert_code(0)
            .assert_stdout_has("System Power         : on");

        // Cycle and reset: an off then an on, each verified, through vCenter.
        for (action, words) in [("cycle", "Cycle"), ("reset", "Reset")] {
            let (offs, ons) = (
                calls(&sim, "PowerOffVM_Task"),
                calls(&sim, "PowerOnVM_Task"),
            );
            let o = ipmitool(&d, "node10", s, &["chassis", "power", action]);
            o.assert_code(0);
            assert_eq!(o.stdout.trim(), format!("Chassis Power Control: {words}"));
            assert_eq!(sim.power(&vm), "poweredOn", "{action}");
            assert_eq!(calls(&sim, "PowerOffVM_Task"), offs + 1, "{action}");
            assert_eq!(calls(&sim, "PowerOnVM_Task"), ons + 1, "{action}");
        }
    }
    d.assert_logged(&[
        "(cipher suite 3, up to operator)",
        "(cipher suite 17, up to operator)",
    ]);
    // Suite 0 (no authentication, no encryption) does not exist here.
    let offs = calls(&sim, "PowerOffVM_Task");
    let o = ipmitool(&d, "node10", Some("0"), &["chassis", "power", "off"]);
    assert_fails(&o, "ipmitool -C 0");
    assert_eq!(sim.power(&vm), "poweredOn");
    assert_eq!(calls(&sim, "PowerOffVM_Task"), offs);
}

#[test]
fn fence_ipmilan_status_off_on_reboot_monitor() {
    let Some(sim) = vcsim() else { return };
    let d = Daemon::start(&sim, &["/DC0/vm/node1"], Setup::default());
    let vm = moref(&sim, "node1");
    let plug = "/DC0/vm/node1";
    let o = fence_ipmilan(&d, plug, "status");
    o.assert_code(0);
    assert_eq!(o.stdout.trim(), "Status: ON");

    let o = fence_ipmilan(&d, plug, "off");
    assert_eq!(sim.power(&vm), "poweredOff");
    o.assert_code(0);
    assert_eq!(o.stdout.trim(), "Success: Powered OFF");
    let o = fence_ipmilan(&d, plug, "status");
    o.assert_code(2);
    assert_eq!(o.stdout.trim(), "Status: OFF");

    let o = fence_ipmilan(&d, plug, "on");
    assert_eq!(sim.power(&vm), "poweredOn");
    o.assert_code(0);
    assert_eq!(o.stdout.trim(), "Success: Powered ON");

    let (offs, ons) = (
        calls(&sim, "PowerOffVM_Task"),
        calls(&sim, "PowerOnVM_Task"),
    );
    let o = fence_ipmilan(&d, plug, "reboot");
    assert_eq!(sim.power(&vm), "poweredOn");
    o.assert_code(0);
    assert_eq!(o.stdout.trim(), "Success: Rebooted");
    assert_eq!(calls(&sim, "PowerOffVM_Task"), offs + 1);
    assert_eq!(calls(&sim, "PowerOnVM_Task"), ons + 1);

    fence_ipmilan(&d, plug, "monitor").assert_code(0);
    // The other node1, in DC1, was never touched.
    assert_eq!(sim.power(&sim.vm("node1", Some("DC1")).moref), "poweredOn");
}

/// A simulator whose VM "slow" takes `seconds` for each power task, the
/// daemon serving it, and its moref.
fn slow_vm(seconds: u32) -> Option<(Vcsim, Daemon, String)> {
    let sim = vcsim_with(Options {
        slow_seconds: Some(seconds),
        ..Options::default()
    })?;
    let d = Daemon::start(&sim, &["slow"], Setup::default());
    let vm = moref(&sim, "slow");
    Some((sim, d, vm))
}

/// The simulator's "slow" VM: its power tasks run for 3 s, within the
/// daemon's 8 s. The answer waits for the verified state.
#[test]
fn a_slow_power_off_is_answered_once_verified() {
    let Some((sim, d, vm)) = slow_vm(3) else {
        return;
    };
    let o = ipmitool(&d, "slow", None, &["chassis", "power", "off"]);
    assert_eq!(sim.power(&vm), "poweredOff", "off when ipmitool reports");
    o.assert_code(0);
    assert_eq!(o.stdout.trim(), "Chassis Power Control: Down/Off");
    assert!(o.elapsed >= Duration::from_secs(3), "{:?}", o.elapsed);
    assert_eq!(
        calls(&sim, "PowerOffVM_Task"),
        1,
        "one task for every resend"
    );

    let o = fence_ipmilan(&d, "slow", "on");
    assert_eq!(sim.power(&vm), "poweredOn");
    o.assert_code(0);
    let o = fence_ipmilan(&d, "slow", "off");
    assert_eq!(sim.power(&vm), "poweredOff");
    o.assert_code(0);
    assert_eq!(o.stdout.trim(), "Success: Powered OFF");
}

/// Two VMs, one vCenter session: a status of node10 while the slow VM's
/// power-off holds the session waits its turn and is answered, truthfully,
/// within ipmitool's window; the off is answered once verified.
#[test]
fn requests_for_two_vms_take_the_one_session_in_turns() {
    let Some(sim) = vcsim_with(Options {
        slow_seconds: Some(3),
        ..Options::default()
    }) else {
        return;
    };
    let d = std::sync::Arc::new(Daemon::start(&sim, &["slow", "node10"], Setup::default()));
    let slow = moref(&sim, "slow");
    let background = std::sync::Arc::clone(&d);
    let off = std::thread::spawn(move || {
        ipmitool(&background, "slow", None, &["chassis", "power", "off"])
    });
    let until = Instant::now() + Duration::from_secs(10);
    while calls(&sim, "PowerOffVM_Task") == 0 {
        assert!(Instant::now() < until, "the off never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = ipmitool(&d, "node10", None, &["chassis", "power", "status"]);
    let off = off.join().expect("ipmitool off");
    status.assert_code(0);
    assert_eq!(status.stdout.trim(), "Chassis Power is on");
    assert!(
        status.elapsed < Duration::from_secs(10),
        "{:?}",
        status.elapsed
    );
    off.assert_code(0);
    assert_eq!(sim.power(&slow), "poweredOff");
    assert_eq!(sessions(&sim), (1, 0, 1));
}

/// Power tasks of 14 s, longer than the daemon may take (8 s, below
/// ipmitool's 10 s of retries): ipmitool gets an error, never success, while
/// the VM is still on; fence_ipmilan, which then reads the status until
/// off, reports success only once the VM is off.
#[test]
fn a_power_off_slower_than_the_window_is_an_error_then_fence_ipmilan_waits() {
    let Some((sim, d, vm)) = slow_vm(14) else {
        return;
    };
    let o = ipmitool(&d, "slow", None, &["chassis", "power", "off"]);
    assert_eq!(
        sim.power(&vm),
        "poweredOn",
        "still on when ipmitool gives up"
    );
    assert_fails(&o, "an unverified power off");
    assert!(
        o.stderr.contains("Timeout"),
        "C3h, as ipmitool words it: {}",
        o.stderr
    );
    assert!(o.elapsed < Duration::from_secs(10), "{:?}", o.elapsed);
    d.assert_logged(&["not confirmed before the deadline", "answered C3h"]);
    // The task goes on in vCenter; wait for it, then try fence_ipmilan on a
    // fresh slow power-off.
    let until = Instant::now() + Duration::from_secs(30);
    while sim.power(&vm) != "poweredOff" {
        assert!(Instant::now() < until, "the task never ended");
        std::thread::sleep(Duration::from_millis(200));
    }
    sim.set_power(&vm, "poweredOn");
    let o = fence_ipmilan(&d, "slow", "off");
    assert_eq!(
        sim.power(&vm),
        "poweredOff",
        "off when fence_ipmilan reports"
    );
    o.assert_code(0);
    assert_eq!(o.stdout.trim(), "Success: Powered OFF");
    assert!(o.elapsed >= Duration::from_secs(14), "{:?}", o.elapsed);
}

/// A VM whose host vCenter lost, or that is orphaned: its last known state
/// is "off", and that is never reported.
#[test]
fn a_vm_vcenter_cannot_vouch_for_is_an_error_never_off() {
    let Some(sim) = vcsim() else { return };
    let d = Daemon::start(&sim, &["node10", "web server 01"], Setup::default());
    let vm = moref(&sim, "node10");
    let host = sim.state(&vm).host;
    sim.set_power(&vm, "poweredOff");
    sim.set_host_connection(&host, "disconnected");
    sim.set_connection(&vm, "disconnected");
    let o = ipmitool(&d, "node10", None, &["chassis", "power", "status"]);
    assert_fails(&o, "status of a disconnected VM");
    assert!(
        o.stderr.contains("Command response could not be provided"),
        "CEh: {}",
        o.stderr
    );
    let o = fence_ipmilan(&d, "node10", "status");
    o.assert_code(1);
    let offs = calls(&sim, "PowerOffVM_Task");
    let o = fence_ipmilan(&d, "node10", "off");
    assert_fails(&o, "fence_ipmilan off of a disconnected VM");
    o.assert_code(1);
    assert_eq!(calls(&sim, "PowerOffVM_Task"), offs, "nothing was done");
    d.assert_logged(&[
        "its connection state is disconnected (its host is not connected to vCenter)",
    ]);

    let vm = moref(&sim, "web server 01");
    sim.set_power(&vm, "poweredOff");
    sim.set_connection(&vm, "orphaned");
    let o = ipmitool(&d, "web server 01", None, &["chassis", "power", "status"]);
    assert_fails(&o, "status of an orphaned VM");
    let o = fence_ipmilan(&d, "web server 01", "off");
    o.assert_code(1);
    assert_eq!(calls(&sim, "PowerOffVM_Task"), offs);
    d.assert_logged(&["its connection state is orphaned"]);
}

/// "dup" names two VMs (DC0 and its folder sub), "nosuch" none: errors,
/// logged with what was found, and nothing powered.
#[test]
fn a_plug_naming_two_vms_or_none_is_an_error() {
    let Some(sim) = vcsim() else { return };
    let d = Daemon::start(&sim, &["dup", "nosuch"], Setup::default());
    for plug in ["dup", "nosuch"] {
        let o = ipmitool(&d, plug, None, &["chassis", "power", "status"]);
        assert_fails(&o, plug);
        let o = ipmitool(&d, plug, None, &["chassis", "power", "off"]);
        assert_fails(&o, plug);
        let o = fence_ipmilan(&d, plug, "off");
        o.assert_code(1);
    }
    assert_eq!(calls(&sim, "PowerOffVM_Task"), 0);
    for s in sim.states("dup") {
        assert_eq!(s.power, "poweredOn", "{}", s.path);
    }
    d.assert_logged(&[
        "plug \"dup\" matches 2 virtual machines; nothing was done",
        "/DC0/vm/dup (",
        "/DC0/vm/sub/dup (",
        "no virtual machine matches plug \"nosuch\"",
    ]);
}

/// The daemon logs in once, whatever the number of IPMI sessions and
/// commands, and logs out when stopped.
#[test]
fn one_vcenter_login_for_every_command_and_a_logout_on_sigterm() {
    let Some(sim) = vcsim() else { return };
    let mut d = Daemon::start(&sim, &["node10", "/DC0/vm/node1"], Setup::default());
    assert_eq!(sessions(&sim), (1, 0, 1));
    for _ in 0..3 {
        for plug in ["node10", "/DC0/vm/node1"] {
            ipmitool(&d, plug, None, &["chassis", "power", "status"]).assert_code(0);
        }
    }
    ipmitool(&d, "node10", None, &["chassis", "power", "off"]).assert_code(0);
    fence_ipmilan(&d, "node10", "on").assert_code(0);
    fence_ipmilan(&d, "/DC0/vm/node1", "reboot").assert_code(0);
    assert_eq!(sessions(&sim), (1, 0, 1), "{}", d.log());
    let (code, took) = d.stop();
    assert_eq!(code, Some(0), "{}", d.log());
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(sessions(&sim), (1, 1, 0), "{}", d.log());
    d.assert_logged(&["logged out of https://127.0.0.1:"]);
}

/// vCenter ended the session (an administrator, its idle timeout): the
/// next command logs in again, and succeeds.
#[test]
fn an_expired_vcenter_session_is_logged_into_again() {
    let Some(sim) = vcsim() else { return };
    let d = Daemon::start(&sim, &["node10"], Setup::default());
    let vm = moref(&sim, "node10");
    ipmitool(&d, "node10", None, &["chassis", "power", "status"]).assert_code(0);
    sim.terminate_sessions();
    assert_eq!(sessions(&sim).2, 0);
    let o = fence_ipmilan(&d, "node10", "off");
    assert_eq!(sim.power(&vm), "poweredOff");
    o.assert_code(0);
    assert_eq!(o.stdout.trim(), "Success: Powered OFF");
    let (logins, _, active) = sessions(&sim);
    assert_eq!((logins, active), (2, 1), "{}", d.log());
    d.assert_logged(&["vCenter session ended; logged in to"]);
}

/// The simulator's process id, from its ready.json.
fn simulator_pid(sim: &Vcsim) -> libc::pid_t {
    let ready: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sim.state_dir().join("ready.json")).expect("ready.json"),
    )
    .expect("json");
    ready["pid"].as_i64().expect("pid") as libc::pid_t
}

/// The simulator's process, stopped (SIGSTOP: connections are accepted by
/// the kernel, nothing answers) or gone: the console gets an error in
/// time, never a hang and never "off"; when it answers again, so does the
/// daemon.
#[test]
fn an_unreachable_vcenter_is_an_error_in_time() {
    let Some(sim) = vcsim() else { return };
    let mut d = Daemon::start(&sim, &["node10"], Setup::default());
    let pid = simulator_pid(&sim);
    // SAFETY: kill(2) on the simulator this test started.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let o = ipmitool(&d, "node10", None, &["chassis", "power", "status"]);
    let o2 = fence_ipmilan(&d, "node10", "off");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert_fails(&o, "status while vCenter does not answer");
    assert!(o.elapsed < Duration::from_secs(10), "{:?}", o.elapsed);
    o2.assert_code(1);
    assert!(!o2.stdout.contains("Success"), "{}", o2.stdout);
    assert_eq!(sim.power(&moref(&sim, "node10")), "poweredOn");
    let o = ipmitool(&d, "node10", None, &["chassis", "power", "status"]);
    o.assert_code(0);
    assert_eq!(o.stdout.trim(), "Chassis Power is on");

    // Gone: refused connections, answered at once.
    drop(sim);
    let o = ipmitool(&d, "node10", None, &["chassis", "power", "status"]);
    assert_fails(&o, "status without vCenter");
    assert!(o.elapsed < Duration::from_secs(5), "{:?}", o.elapsed);
    let o = fence_ipmilan(&d, "node10", "off");
    o.assert_code(1);
    let (code, _) = d.stop();
    assert_eq!(code, Some(0), "{}", d.log());
}

/// The plug's VM is renamed away and another VM takes its name: the
/// endpoint refuses to act on the newcomer, since a BMC belongs to one
/// machine, and says how to accept the change.
#[test]
fn a_plug_that_comes_to_name_another_vm_is_refused() {
    let Some(sim) = vcsim_with(Options {
        plain_http: true,
        ..Options::default()
    }) else {
        return;
    };
    let d = Daemon::start(
        &sim,
        &["node10"],
        Setup {
            vcenter: "notls = true",
            ..Setup::default()
        },
    );
    ipmitool(&d, "node10", None, &["chassis", "power", "status"]).assert_code(0);
    let first = moref(&sim, "node10");
    let other = moref(&sim, "web server 01");
    let soap = Vim25Session::login(&sim);
    soap.rename(&first, "node10-retired");
    soap.rename(&other, "node10");
    let until = Instant::now() + Duration::from_secs(10);
    while sim.state(&other).name != "node10" {
        assert!(Instant::now() < until, "rename not done");
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = ipmitool(&d, "node10", None, &["chassis", "power", "off"]);
    assert_fails(&o, "power off of a VM the plug did not name at first");
    let o = fence_ipmilan(&d, "node10", "off");
    o.assert_code(1);
    assert_eq!(sim.power(&other), "poweredOn");
    assert_eq!(sim.power(&first), "poweredOn");
    assert_eq!(calls(&sim, "PowerOffVM_Task"), 0);
    d.assert_logged(&[&format!(
        "plug \"node10\" now names {other}, not {first} as it did before"
    )]);
}

/// The daemon's stderr never holds a password, even with --debug; a
/// wrong vCenter password stops it at start with vCenter's refusal.
#[test]
fn no_password_in_the_daemon_log() {
    let Some(sim) = vcsim() else { return };
    let d = Daemon::start(
        &sim,
        &["node10", "dup"],
        Setup {
            debug: true,
            ..Setup::default()
        },
    );
    ipmitool(&d, "node10", None, &["chassis", "power", "status"]).assert_code(0);
    ipmitool(&d, "dup", None, &["chassis", "power", "off"]);
    let log = d.log();
    for secret in [PASSWORD, IPMI_PASSWORD] {
        assert!(!log.contains(secret), "{log}");
    }
    assert!(log.contains("DEBUG: "), "the core's debug lines: {log}");

    let wrong = "wrong-vcenter-pw";
    let o = run_until_it_stops(
        &sim,
        Setup {
            password: Some(wrong),
            ..Setup::default()
        },
    );
    o.assert_code(1);
    assert!(
        o.stderr
            .contains("vmware-vbmc: cannot control the VMs: cannot log in to https://127.0.0.1:")
            && o.stderr.contains("InvalidLogin"),
        "{}",
        o.stderr
    );
    for secret in [wrong, IPMI_PASSWORD] {
        assert!(!o.stderr.contains(secret), "{}", o.stderr);
    }
}

/// fence_vmware's TLS rules: the simulator's certificate (its own CA) is
/// refused without cacert, as an untrusted certificate must be; with
/// ssl_insecure the daemon serves, and says the certificate is not checked.
#[test]
fn vcenters_certificate_is_verified_unless_ssl_insecure() {
    let Some(sim) = vcsim() else { return };
    let o = run_until_it_stops(
        &sim,
        Setup {
            vcenter: "# no cacert: the system's trust store",
            ..Setup::default()
        },
    );
    o.assert_code(1);
    assert!(
        o.stderr.contains("cannot log in to https://127.0.0.1:")
            && o.stderr
                .contains("TLS: the server's certificate or host name could not be verified"),
        "{}",
        o.stderr
    );
    assert_eq!(
        sessions(&sim).0,
        0,
        "no login over an unverified connection"
    );
    let d = Daemon::start(
        &sim,
        &["node10"],
        Setup {
            vcenter: "ssl_insecure = true",
            ..Setup::default()
        },
    );
    assert!(
        d.log()
            .contains("ssl_insecure: the certificate of https://127.0.0.1:"),
        "{}",
        d.log()
    );
    ipmitool(&d, "node10", None, &["chassis", "power", "status"]).assert_code(0);
}

/// Every VM as the simulator's control endpoint reports it now, by moref,
/// every field (power, connection, boot order, VMware Tools...): what a
/// test compares whole, so that a change to any VM it did not mean to
/// change fails it.
fn every_vm(sim: &Vcsim) -> std::collections::BTreeMap<String, serde_json::Value> {
    let url = format!("http://{}/vm", sim.control);
    let body = ureq::get(&url)
        .timeout(Duration::from_secs(10))
        .call()
        .expect("GET /vm")
        .into_string()
        .expect("body");
    let list: serde_json::Value = serde_json::from_str(&body).expect("json");
    list.as_array()
        .expect("a list")
        .iter()
        .map(|vm| (vm["moref"].as_str().expect("moref").to_string(), vm.clone()))
        .collect()
}

/// `world` with one field of one VM changed.
fn with(
    mut world: std::collections::BTreeMap<String, serde_json::Value>,
    vm: &str,
    field: &str,
    value: serde_json::Value,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    world.get_mut(vm).expect("the VM")[field] = value;
    world
}

/// VMware Tools running in the guest, or not (guest.toolsRunningStatus).
fn set_tools_running(sim: &Vcsim, vm: &str, running: bool) {
    let url = format!(
        "http://{}/vm/tools?moref={vm}&running={running}",
        sim.control
    );
    ureq::post(&url)
        .timeout(Duration::from_secs(10))
        .call()
        .expect("POST /vm/tools");
}

fn boot_order(sim: &Vcsim, vm: &str) -> Vec<String> {
    every_vm(sim)[vm]["boot_order"]
        .as_array()
        .expect("boot_order")
        .iter()
        .map(|e| e.as_str().expect("word").to_string())
        .collect()
}

/// `chassis power soft` is vSphere's ShutdownGuest: with VMware Tools
/// running, accepted and the guest's shutdown seen in the simulator (whose
/// ShutdownGuest powers the VM off), never a hard power-off; without
/// Tools, vCenter's ToolsUnavailable is D5h, logged, and nothing happens;
/// a VM that is off has no guest to ask. Cipher suites 3 and 17.
#[test]
fn chassis_power_soft_is_a_guest_shutdown_only_with_vmware_tools_running() {
    let Some(sim) = vcsim() else { return };
    let d = Daemon::start(&sim, &["node10", "/DC0/vm/node1"], Setup::default());
    let vm = moref(&sim, "node10");
    let before = every_vm(&sim);

    let o = ipmitool(&d, "node10", Some("17"), &["chassis", "power", "soft"]);
    assert_fails(&o, "a guest shutdown without VMware Tools");
    o.assert_stderr_has("Command not supported in present state");
    assert_eq!(calls(&sim, "ShutdownGuest"), 1, "vCenter was asked");
    assert_eq!(every_vm(&sim), before, "nothing changed");
    d.assert_logged(&[
        "soft shutdown for user 'fence'",
        "VMware Tools is not running in the guest",
        "ToolsUnavailable: Cannot complete operation because VMware Tools is not running",
        "answered D5h",
    ]);

    for (n, suite) in ["3", "17"].into_iter().enumerate() {
        set_tools_running(&sim, &vm, true);
        let o = ipmitool(&d, "node10", Some(suite), &["chassis", "power", "soft"]);
        o.assert_code(0);
        assert_eq!(o.stdout.trim(), "Chassis Power Control: Soft");
        assert_eq!(calls(&sim, "ShutdownGuest"), 2 + n as u64, "suite {suite}");
        // The simulator's guest shut down when asked; the daemon only said
        // the request was accepted.
        let mut expected = with(before.clone(), &vm, "power", "poweredOff".into());
        expected = with(expected, &vm, "tools_running", false.into());
        assert_eq!(every_vm(&sim), expected, "suite {suite}");
        // Off: there is no guest to ask, and vCenter is not asked.
        let o = ipmitool(&d, "node10", Some(suite), &["chassis", "power", "soft"]);
        assert_fails(&o, "a guest shutdown of an off VM");
        o.assert_stderr_has("Command not supported in present state");
        assert_eq!(calls(&sim, "ShutdownGuest"), 2 + n as u64);
        sim.set_power(&vm, "poweredOn");
    }
    assert_eq!(calls(&sim, "PowerOffVM_Task"), 0, "never a hard power-off");
    assert_eq!(every_vm(&sim), before);
    d.assert_logged(&[
        "soft shutdown for user 'fence' from 127.0.0.1:",
        "done, the guest was asked to shut down",
        "is off: there is no running guest to shut down",
    ]);
    let log = d.log();
    assert!(
        !log.contains("the VM is verified off") && !log.contains("Chassis Power is off"),
        "a guest shutdown is never claimed as off:\n{log}"
    );
}

/// `chassis bootdev` with options=persistent sets the VM's
/// config.bootOptions.bootOrder through ReconfigVM_Task, the device
/// chosen first; `chassis bootparam get 5` reads it back from vCenter.
/// What vSphere cannot do is refused and changes nothing: a device for
/// the next boot only, an EFI boot of a BIOS VM, PXE from a VM without a
/// network adapter. Cipher suites 3 and 17; every VM checked after each
/// step.
#[test]
fn bootdev_sets_the_vms_boot_order_and_bootparam_reads_it_back() {
    let Some(sim) = vcsim() else { return };
    // The simulator's own VMs have a CD-ROM, a disk and an E1000 (key
    // 4000); the ones cts/vcsim adds (node10) have none of them.
    let d = Daemon::start(&sim, &["DC0_H0_VM0", "node10"], Setup::default());
    let vm = moref(&sim, "DC0_H0_VM0");
    let node10 = moref(&sim, "node10");
    let before = every_vm(&sim);
    assert_eq!(boot_order(&sim, &vm), Vec::<String>::new());
    let bootparam = |suite: &str| {
        let o = ipmitool(
            &d,
            "DC0_H0_VM0",
            Some(suite),
            &["chassis", "bootparam", "get", "5"],
        );
        o.assert_code(0);
        o.stdout
    };
    let mut reconfigs = 0;
    for suite in ["3", "17"] {
        let s = Some(suite);
        for (word, shown, first) in [
            ("pxe", "Force PXE", "ethernet:4000"),
            ("disk", "Force Boot from default Hard-Drive", "disk:"),
            ("cdrom", "Force Boot from CD/DVD", "cdrom"),
        ] {
            let o = ipmitool(
                &d,
                "DC0_H0_VM0",
                s,
                &["chassis", "bootdev", word, "options=persistent"],
            );
            assert_eq!(
                o.stdout.trim(),
                format!("Set Boot Device to {word}"),
                "{}",
                o.stderr
            );
            reconfigs += 1;
            assert_eq!(calls(&sim, "ReconfigVM_Task"), reconfigs, "{word}");
            let order = boot_order(&sim, &vm);
            assert!(order[0].starts_with(first), "{word}: {order:?}");
            assert_eq!(
                every_vm(&sim),
                with(before.clone(), &vm, "boot_order", serde_json::json!(order)),
                "{word}: only the boot order of DC0_H0_VM0 changed"
            );
            let out = bootparam(suite);
            for line in [
                &format!("Boot Device Selector : {shown}"),
                "Boot Flag Valid",
                "Options apply to all future boots",
                "BIOS PC Compatible (legacy) boot",
            ] {
                assert!(out.contains(line), "{word}: {line:?} missing:\n{out}");
            }
        }
        // The devices chosen before follow the first, in the order chosen.
        let order = boot_order(&sim, &vm);
        assert_eq!(order.len(), 3, "{order:?}");
        assert_eq!(
            (order[0].as_str(), order[2].as_str()),
            ("cdrom", "ethernet:4000")
        );
        assert!(order[1].starts_with("disk:"), "{order:?}");

        // A boot device for the next boot only: vSphere has none. CCh,
        // logged, nothing written (ipmitool exits 0 after it).
        let o = ipmitool(&d, "DC0_H0_VM0", s, &["chassis", "bootdev", "pxe"]);
        assert!(!o.stdout.contains("Set Boot Device"), "{}", o.stdout);
        o.assert_stderr_has("Set Chassis Boot Parameter 5 failed: Invalid data field in request");
        // An EFI boot of a BIOS VM: D5h, nothing written.
        let o = ipmitool(
            &d,
            "DC0_H0_VM0",
            s,
            &["chassis", "bootdev", "pxe", "options=persistent,efiboot"],
        );
        assert!(!o.stdout.contains("Set Boot Device"), "{}", o.stdout);
        o.assert_stderr_has(
            "Set Chassis Boot Parameter 5 failed: Command not supported in present state",
        );
        assert_eq!(calls(&sim, "ReconfigVM_Task"), reconfigs);
        assert_eq!(boot_order(&sim, &vm), order);

        // No override: the firmware's own order again.
        let o = ipmitool(&d, "DC0_H0_VM0", s, &["chassis", "bootdev", "none"]);
        assert_eq!(o.stdout.trim(), "Set Boot Device to none", "{}", o.stderr);
        reconfigs += 1;
        assert_eq!(every_vm(&sim), before, "suite {suite}");
        assert!(bootparam(suite).contains("Boot Device Selector : No override"));
    }

    // A VM without a network adapter cannot boot from the network.
    let o = ipmitool(
        &d,
        "node10",
        None,
        &["chassis", "bootdev", "pxe", "options=persistent"],
    );
    assert!(!o.stdout.contains("Set Boot Device"), "{}", o.stdout);
    o.assert_stderr_has("Command not supported in present state");
    assert_eq!(calls(&sim, "ReconfigVM_Task"), reconfigs);
    assert_eq!(every_vm(&sim), before);
    assert_eq!(boot_order(&sim, &node10), Vec::<String>::new());
    d.assert_logged(&[
        "refused, answered CCh: a boot device for the next boot only was asked for",
        "an EFI boot was asked for, and the VM's firmware is bios",
        "the VM has no network adapter to boot from; nothing was changed",
        "boot device set to pxe by user 'fence'",
    ]);
}

/// A VM whose firmware is EFI (set with vim25's own ReconfigVM_Task):
/// parameter 5 says so, an EFI boot device is accepted and a legacy one
/// refused.
#[test]
fn an_efi_vm_takes_efi_boot_devices_only() {
    let Some(sim) = vcsim_with(Options {
        plain_http: true,
        ..Options::default()
    }) else {
        return;
    };
    let vm = moref(&sim, "DC0_H0_VM1");
    Vim25Session::login(&sim).set_firmware(&vm, "efi");
    let d = Daemon::start(
        &sim,
        &["DC0_H0_VM1"],
        Setup {
            vcenter: "notls = true",
            ..Setup::default()
        },
    );
    let before = every_vm(&sim);
    assert_eq!(before[&vm]["firmware"], "efi");
    let o = ipmitool(
        &d,
        "DC0_H0_VM1",
        None,
        &["chassis", "bootparam", "get", "5"],
    );
    o.assert_code(0).assert_stdout_has("BIOS EFI boot");
    let o = ipmitool(
        &d,
        "DC0_H0_VM1",
        None,
        &["chassis", "bootdev", "disk", "options=persistent"],
    );
    o.assert_stderr_has("Command not supported in present state");
    assert_eq!(every_vm(&sim), before);
    let o = ipmitool(
        &d,
        "DC0_H0_VM1",
        None,
        &["chassis", "bootdev", "disk", "options=persistent,efiboot"],
    );
    assert_eq!(o.stdout.trim(), "Set Boot Device to disk", "{}", o.stderr);
    let order = boot_order(&sim, &vm);
    assert!(
        order.len() == 1 && order[0].starts_with("disk:"),
        "{order:?}"
    );
    assert_eq!(
        every_vm(&sim),
        with(before, &vm, "boot_order", serde_json::json!(order))
    );
    let o = ipmitool(
        &d,
        "DC0_H0_VM1",
        None,
        &["chassis", "bootparam", "get", "5"],
    );
    o.assert_stdout_has("Force Boot from default Hard-Drive")
        .assert_stdout_has("BIOS EFI boot");
}

/// A VM whose host vCenter lost: no guest shutdown and no boot order
/// change on the strength of vCenter's stale copy; CEh, and nothing
/// reaches the VM.
#[test]
fn a_vm_vcenter_cannot_vouch_for_gets_no_guest_shutdown_and_no_boot_change() {
    let Some(sim) = vcsim() else { return };
    let d = Daemon::start(&sim, &["DC0_H0_VM0"], Setup::default());
    let vm = moref(&sim, "DC0_H0_VM0");
    let host = sim.state(&vm).host;
    set_tools_running(&sim, &vm, true);
    sim.set_host_connection(&host, "disconnected");
    sim.set_connection(&vm, "disconnected");
    let before = every_vm(&sim);
    let o = ipmitool(&d, "DC0_H0_VM0", Some("3"), &["chassis", "power", "soft"]);
    assert_fails(&o, "a guest shutdown of a disconnected VM");
    o.assert_stderr_has("Command response could not be provided");
    let o = ipmitool(
        &d,
        "DC0_H0_VM0",
        Some("17"),
        &["chassis", "bootdev", "pxe", "options=persistent"],
    );
    assert!(!o.stdout.contains("Set Boot Device"), "{}", o.stdout);
    o.assert_stderr_has("Command response could not be provided");
    let o = ipmitool(
        &d,
        "DC0_H0_VM0",
        None,
        &["chassis", "bootparam", "get", "5"],
    );
    assert!(!o.stdout.contains("Boot Device Selector"), "{}", o.stdout);
    assert_eq!(calls(&sim, "ShutdownGuest"), 0);
    assert_eq!(calls(&sim, "ReconfigVM_Task"), 0);
    assert_eq!(every_vm(&sim), before, "nothing changed");
    assert_eq!(before[&vm]["power"], "poweredOn");
    d.assert_logged(&[
        "its connection state is disconnected (its host is not connected to vCenter)",
        "answered CEh",
    ]);
}

/// vCenter stalls (SIGSTOP: connections accepted, nothing answered):
/// a guest shutdown, a boot device and a boot device read are each an error
/// within ipmitool's window, never "done" and never a made-up "no
/// override"; once vCenter answers again, nothing was changed.
#[test]
fn a_stalled_vcenter_gets_errors_in_time_for_soft_and_boot_devices() {
    let Some(sim) = vcsim() else { return };
    let d = Daemon::start(&sim, &["DC0_H0_VM0"], Setup::default());
    let vm = moref(&sim, "DC0_H0_VM0");
    set_tools_running(&sim, &vm, true);
    let before = every_vm(&sim);
    let pid = simulator_pid(&sim);
    // SAFETY: kill(2) on the simulator this test started.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let soft = ipmitool(&d, "DC0_H0_VM0", None, &["chassis", "power", "soft"]);
    let set = ipmitool(
        &d,
        "DC0_H0_VM0",
        None,
        &["chassis", "bootdev", "pxe", "options=persistent"],
    );
    let get = ipmitool(
        &d,
        "DC0_H0_VM0",
        None,
        &["chassis", "bootparam", "get", "5"],
    );
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert_fails(&soft, "a guest shutdown while vCenter stalls");
    assert!(!set.stdout.contains("Set Boot Device"), "{}", set.stdout);
    set.assert_stderr_has("Set Chassis Boot Parameter 5 failed");
    assert!(
        !get.stdout.contains("Boot Device Selector"),
        "{}",
        get.stdout
    );
    for o in [&soft, &set, &get] {
        assert!(o.elapsed < Duration::from_secs(10), "{:?}", o.elapsed);
    }
    d.assert_logged(&["answered C3h"]);
    // The requests vCenter took while stopped never got past the lookup.
    let o = ipmitool(&d, "DC0_H0_VM0", None, &["chassis", "power", "status"]);
    o.assert_code(0);
    assert_eq!(calls(&sim, "ShutdownGuest"), 0);
    assert_eq!(calls(&sim, "ReconfigVM_Task"), 0);
    assert_eq!(every_vm(&sim), before);
}
