//! fence_vmware_esxi against real SSH servers on loopback: OpenSSH's sshd
//! configured like ESXi 5.1+ and dropbear like ESXi 4.x, each logging in a
//! test user whose shell runs the fake vim-cmd of cts/esxi/.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cts::esxi_host::{fingerprint, keygen, FakeEsxi, PASSWORD, USER};
use cts::support::{
    assert_valid_metadata, bin, is_root, repo_root, skip_unless, AgentRun, Outcome, TempDir,
};

fn agent() -> PathBuf {
    bin("fence_vmware_esxi")
}

fn no_root() -> bool {
    skip_unless(
        is_root(),
        "the ESXi tests need root (a test user, sshd and dropbear)",
    )
}

/// getallvms rows the way ESXi prints them: runs of blanks between
/// columns, names with blanks, brackets and unicode, prefix names, an
/// annotation over three lines whose later lines start with digits and
/// '[', rows in no particular order.
const ROWS: &str = "\
12     node10                          [datastore1] node10/node10.vmx                         rhel7_64Guest           vmx-13
1      node1                           [datastore1] node1/node1.vmx                           rhel7_64Guest           vmx-13    cluster node 1
3      web server (prod) [eu]          [datastore 2] web server (prod) [eu]/web server (prod) [eu].vmx   windows9Server64Guest   vmx-19    owner: ops
42 is the answer
[important] never power this off by hand
4      Bücher-Ω vm 🚀                  [datastore1] Bücher-Ω vm 🚀/Bücher-Ω vm 🚀.vmx          otherLinux64Guest       vmx-14
Skipping invalid VM '7'
5      sleeper                         [datastore1] sleeper/sleeper.vmx                       otherGuest              vmx-10
";

const STATES: &[(&str, &str)] = &[
    ("12", "on"),
    ("1", "off"),
    ("3", "on"),
    ("4", "off"),
    ("5", "suspended"),
];

fn host() -> FakeEsxi {
    let h = FakeEsxi::openssh();
    h.set_vms(ROWS, STATES);
    h.write("stderr", "Skipping invalid VM '8'\n");
    h
}

fn base(h: &FakeEsxi) -> Vec<String> {
    vec![
        "--ip=127.0.0.1".into(),
        format!("--ipport={}", h.port),
        format!("--username={USER}"),
        format!("--password={PASSWORD}"),
        format!("--ssh-options={}", h.ssh_options()),
    ]
}

fn run(h: &FakeEsxi, extra: &[&str]) -> Outcome {
    let mut args = base(h);
    args.extend(extra.iter().map(|s| s.to_string()));
    AgentRun::new(agent())
        .args(args)
        .limit(Duration::from_secs(40))
        .run()
}

fn distinct_ports(h: &FakeEsxi) -> BTreeSet<String> {
    h.calls().into_iter().map(|c| c.client_port).collect()
}

fn assert_no_tty(h: &FakeEsxi) {
    let calls = h.calls();
    assert!(!calls.is_empty(), "no vim-cmd call was logged");
    assert!(
        calls.iter().all(|c| !c.tty),
        "a command ran on a tty: {calls:?}"
    );
}

#[test]
fn status_by_name_vmid_and_path_with_hard_names() {
    if no_root() {
        return;
    }
    let h = host();
    run(&h, &["-o", "status", "-n", "node1"])
        .assert_code(2)
        .assert_stdout_has("Status: OFF");
    run(&h, &["-o", "status", "-n", "node10"])
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    run(&h, &["-o", "status", "-n", "web server (prod) [eu]"])
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    run(&h, &["-o", "status", "-n", "Bücher-Ω vm 🚀"]).assert_code(2);
    run(&h, &["-o", "status", "-n", "12"]).assert_code(0);
    run(&h, &["-o", "status", "-n", "[datastore1] node1/node1.vmx"]).assert_code(2);
    // Suspended counts as off.
    run(&h, &["-o", "status", "-n", "sleeper"])
        .assert_code(2)
        .assert_stdout_has("Status: OFF");
    // Exact match only: a prefix, a different case, an annotation line,
    // a skipped VM are not VMs.
    for plug in ["node", "Node1", "42", "7", "8", "[important]"] {
        run(&h, &["-o", "status", "-n", plug])
            .assert_code(1)
            .assert_stderr_has("Failed: Unable to obtain correct plug status");
    }
    assert_no_tty(&h);
}

#[test]
fn list_and_list_status_skip_invalid_vms_and_annotations() {
    if no_root() {
        return;
    }
    let h = host();
    let out = run(&h, &["-o", "list"]);
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "node10,12",
            "node1,1",
            "web server (prod) [eu],3",
            "Bücher-Ω vm 🚀,4",
            "sleeper,5"
        ],
        "{}",
        out.stderr
    );
    let out = run(&h, &["-o", "list-status"]);
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "node10,12,ON",
            "node1,1,OFF",
            "web server (prod) [eu],3,ON",
            "Bücher-Ω vm 🚀,4,OFF",
            "sleeper,5,OFF"
        ]
    );
    run(&h, &["-o", "monitor"]).assert_code(0);
}

#[test]
fn duplicate_names_fail_naming_both_and_touch_nothing() {
    if no_root() {
        return;
    }
    let h = FakeEsxi::openssh();
    h.set_vms(
        "\
21     db     [datastore1] db/db.vmx         otherGuest   vmx-10
22     db     [datastore2] db-copy/db.vmx    otherGuest   vmx-10
",
        &[("21", "on"), ("22", "on")],
    );
    let out = run(&h, &["-o", "off", "-n", "db"]);
    out.assert_code(1)
        .assert_stderr_has("vmid 21 ([datastore1] db/db.vmx)")
        .assert_stderr_has("vmid 22 ([datastore2] db-copy/db.vmx)");
    assert!(
        !h.calls().iter().any(|c| c.args.contains("power.")),
        "{:?}",
        h.calls()
    );
    assert_eq!(h.state("21"), "on");
    assert_eq!(h.state("22"), "on");
    // The vmid or the path still names one.
    run(&h, &["-o", "off", "-n", "[datastore2] db-copy/db.vmx"]).assert_code(0);
    assert_eq!(h.state("22"), "off");
    assert_eq!(h.state("21"), "on");
}

#[test]
fn reboot_with_delayed_transitions_uses_one_connection_and_no_tty() {
    if no_root() {
        return;
    }
    let h = host();
    h.write("delay", "2\n");
    let started = Instant::now();
    let out = run(&h, &["-o", "reboot", "-n", "node10", "--power-timeout=15"]);
    out.assert_code(0).assert_stdout_has("Success: Rebooted");
    assert!(started.elapsed() >= Duration::from_secs(3), "not verified");
    assert_eq!(h.state("12"), "on");
    let calls = h.calls();
    let args: Vec<&str> = calls.iter().map(|c| c.args.as_str()).collect();
    let off = args
        .iter()
        .position(|a| *a == "vmsvc/power.off 12")
        .expect("power.off");
    let on = args
        .iter()
        .position(|a| *a == "vmsvc/power.on 12")
        .expect("power.on");
    assert!(off < on);
    // Between off and on, getstate polls saw the VM still on, then off.
    assert!(
        args[off + 1..on]
            .iter()
            .filter(|a| **a == "vmsvc/power.getstate 12")
            .count()
            >= 2,
        "{args:?}"
    );
    assert_eq!(distinct_ports(&h).len(), 1, "{calls:?}");
    assert_no_tty(&h);
}

#[test]
fn off_not_reached_in_power_timeout_fails() {
    if no_root() {
        return;
    }
    let h = host();
    h.write("delay", "30\n");
    let out = run(&h, &["-o", "off", "-n", "node10", "--power-timeout=2"]);
    out.assert_code(1)
        .assert_stderr_has("Failed: Timed out waiting to power OFF");
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
}

#[test]
fn hanging_power_off_is_bounded_by_the_deadline() {
    if no_root() {
        return;
    }
    let h = host();
    h.write("hang", "power.off");
    let out = run(
        &h,
        &[
            "-o",
            "off",
            "-n",
            "node10",
            "--power-timeout=3",
            "--shell-timeout=2",
        ],
    );
    out.assert_code(1).assert_stderr_has("timed out");
    assert!(
        out.elapsed < Duration::from_secs(8),
        "took {:?}",
        out.elapsed
    );
    assert_eq!(h.state("12"), "on");
}

#[test]
fn already_in_state_and_power_on() {
    if no_root() {
        return;
    }
    let h = host();
    run(&h, &["-o", "off", "-n", "node1"])
        .assert_code(0)
        .assert_stdout_has("Success: Already OFF");
    run(&h, &["-o", "on", "-n", "node1"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered ON");
    assert_eq!(h.state("1"), "on");
    // Suspended is off: "on" resumes it.
    run(&h, &["-o", "on", "-n", "sleeper"]).assert_code(0);
    assert_eq!(h.state("5"), "on");
}

#[test]
fn method_cycle_resets() {
    if no_root() {
        return;
    }
    let h = host();
    run(&h, &["-o", "reboot", "-n", "node10", "--method=cycle"])
        .assert_code(0)
        .assert_stderr_has("cannot be verified");
    assert_eq!(h.resets(), 1);
    assert!(h.calls().iter().any(|c| c.args == "vmsvc/power.reset 12"));
}

#[test]
fn wrong_password_is_a_login_failure() {
    if no_root() {
        return;
    }
    let h = host();
    let wrong = "not the password 42";
    let out = AgentRun::new(agent())
        .args([
            "-a",
            "127.0.0.1",
            "-u",
            &h.port.to_string(),
            "-l",
            USER,
            "-p",
            wrong,
            "--ssh-options",
            &h.ssh_options(),
            "-o",
            "status",
            "-n",
            "node1",
            "-vvv",
        ])
        .run();
    out.assert_code(1)
        .assert_stderr_has("Unable to connect/login to fencing device")
        .assert_stderr_has(&format!("Authentication failed for user {USER}"))
        .assert_stderr_has("keyboard-interactive")
        .assert_nothing_contains(wrong);
    assert!(h.calls().is_empty());
}

#[test]
fn unreachable_host_is_told_apart_from_login_failure() {
    if no_root() {
        return;
    }
    let port = cts::support::free_port();
    let out = AgentRun::new(agent())
        .args([
            "-a",
            "127.0.0.1",
            "-u",
            &port.to_string(),
            "-p",
            "x y",
            "-o",
            "monitor",
        ])
        .run();
    out.assert_code(1)
        .assert_stderr_has("Unable to connect to 127.0.0.1:")
        .assert_stderr_has("refused");
    assert!(!out.stderr.contains("Authentication failed"));
    // inet6_only: 127.0.0.1 has no IPv6 address.
    AgentRun::new(agent())
        .args(["-a", "127.0.0.1", "-6", "-o", "monitor"])
        .run()
        .assert_code(1)
        .assert_stderr_has("has no IPv6 address");
}

#[test]
fn unknown_host_key_names_host_fingerprint_and_fix() {
    if no_root() {
        return;
    }
    let h = host();
    let empty = h.tmp.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let out = AgentRun::new(agent())
        .args([
            "-a",
            "127.0.0.1",
            "-u",
            &h.port.to_string(),
            "-l",
            USER,
            "-p",
            PASSWORD,
            "--ssh-options",
            &format!(
                "-o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
                empty.display()
            ),
            "-o",
            "status",
            "-n",
            "node1",
        ])
        .run();
    let fp = fingerprint(
        &format!("{} x", h.host_keys[0]),
        h.tmp.path(), // ed25519 is preferred when nothing is known
    );
    out.assert_code(1)
        .assert_stderr_has(&format!("[127.0.0.1]:{} is not a known host", h.port))
        .assert_stderr_has(&fp)
        .assert_stderr_has(&format!(
            "ssh-keyscan -p {} -t ssh-ed25519 127.0.0.1 >> {}",
            h.port,
            empty.display()
        ));
    assert!(h.calls().is_empty());

    // accept-new records it and goes on; the next run trusts it.
    let accept = format!(
        "-o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=accept-new",
        empty.display()
    );
    let mut args = base(&h);
    args[4] = format!("--ssh-options={accept}");
    args.extend(["-o", "status", "-n", "node10"].map(String::from));
    AgentRun::new(agent())
        .args(&args)
        .run()
        .assert_code(0)
        .assert_stderr_has("Permanently added");
    let recorded = std::fs::read_to_string(&empty).unwrap();
    assert!(
        recorded.contains(&format!("[127.0.0.1]:{} ssh-ed25519", h.port)),
        "{recorded}"
    );
    args[4] = format!(
        "--ssh-options=-o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
        empty.display()
    );
    AgentRun::new(agent()).args(&args).run().assert_code(0);
}

#[test]
fn changed_host_key_fails_and_no_means_no_check() {
    if no_root() {
        return;
    }
    let h = host();
    let (_, other) = keygen(h.tmp.path(), "impostor", "ed25519");
    let mut w = other.split_whitespace();
    let kh = h.tmp.path().join("changed_known_hosts");
    std::fs::write(
        &kh,
        format!(
            "[127.0.0.1]:{} {} {}\n",
            h.port,
            w.next().unwrap(),
            w.next().unwrap()
        ),
    )
    .unwrap();
    let opts = format!(
        "-o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
        kh.display()
    );
    let mut args = base(&h);
    args[4] = format!("--ssh-options={opts}");
    args.extend(["-o", "status", "-n", "node10"].map(String::from));
    let fp = fingerprint(&format!("{} x", h.host_keys[0]), h.tmp.path());
    AgentRun::new(agent())
        .args(&args)
        .run()
        .assert_code(1)
        .assert_stderr_has("has CHANGED")
        .assert_stderr_has(&fp)
        .assert_stderr_has("ssh-keygen -R");
    assert!(h.calls().is_empty());
    args[4] = format!("--ssh-options={opts} -o StrictHostKeyChecking=no");
    AgentRun::new(agent())
        .args(&args)
        .run()
        .assert_code(0)
        .assert_stderr_has("StrictHostKeyChecking=no");
}

#[test]
fn default_known_hosts_is_home_ssh_known_hosts() {
    if no_root() {
        return;
    }
    let h = host();
    let home = TempDir::new("esxi-home");
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    // Hashed, as HashKnownHosts=yes writes it.
    let kh = home.path().join(".ssh/known_hosts");
    std::fs::write(&kh, h.known_hosts_lines()).unwrap();
    let st = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&kh)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    let args = [
        "-a".to_string(),
        "127.0.0.1".into(),
        "-u".into(),
        h.port.to_string(),
        "-l".into(),
        USER.into(),
        "-p".into(),
        PASSWORD.into(),
        "--ssh-options=-o GlobalKnownHostsFile=/dev/null".into(),
        "-o".into(),
        "status".into(),
        "-n".into(),
        "node10".into(),
    ];
    AgentRun::new(agent())
        .args(&args)
        .env("HOME", home.path())
        .run()
        .assert_code(0);
    let other_home = TempDir::new("esxi-home2");
    AgentRun::new(agent())
        .args(&args)
        .env("HOME", other_home.path())
        .run()
        .assert_code(1)
        .assert_stderr_has("is not a known host");
}

#[test]
fn key_authentication_ed25519_and_rsa() {
    if no_root() {
        return;
    }
    let h = host();
    for kind in ["ed25519", "rsa"] {
        let (key, public) = keygen(h.tmp.path(), &format!("client_{kind}"), kind);
        // Not yet authorized: refused, as a login failure.
        let args = |extra: &[&str]| {
            let mut a = vec![
                "-a".to_string(),
                "127.0.0.1".into(),
                "-u".into(),
                h.port.to_string(),
                "-l".into(),
                USER.into(),
                "-k".into(),
                key.display().to_string(),
                format!("--ssh-options={}", h.ssh_options()),
            ];
            a.extend(extra.iter().map(|s| s.to_string()));
            a
        };
        AgentRun::new(agent())
            .args(args(&["-o", "status", "-n", "node10"]))
            .env_remove_auth_sock()
            .run()
            .assert_code(1)
            .assert_stderr_has("Authentication failed");
        h.authorize(&public);
        AgentRun::new(agent())
            .args(args(&["-o", "status", "-n", "node10"]))
            .env_remove_auth_sock()
            .run()
            .assert_code(0);
        // The same key through -i in ssh_options.
        let mut a = args(&["-o", "status", "-n", "node10"]);
        a.remove(7);
        a.remove(6);
        let i = a
            .iter()
            .position(|s| s.starts_with("--ssh-options"))
            .unwrap();
        a[i] = format!("{} -i {}", a[i], key.display());
        AgentRun::new(agent())
            .args(a)
            .env_remove_auth_sock()
            .run()
            .assert_code(0);
    }
}

#[test]
fn ssh_agent_when_no_password_nor_key() {
    if no_root() {
        return;
    }
    let h = host();
    let (key, public) = keygen(h.tmp.path(), "agent_key", "ed25519");
    h.authorize(&public);
    let sock = h.tmp.path().join("agent.sock");
    let mut agent_proc = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssh-agent");
    let t0 = Instant::now();
    while !sock.exists() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(added.success());
    let args = [
        "-a".to_string(),
        "127.0.0.1".into(),
        "-u".into(),
        h.port.to_string(),
        "-l".into(),
        USER.into(),
        format!("--ssh-options={}", h.ssh_options()),
        "-o".into(),
        "status".into(),
        "-n".into(),
        "node10".into(),
    ];
    let out = AgentRun::new(agent())
        .args(&args)
        .env("SSH_AUTH_SOCK", &sock)
        .run();
    let _ = agent_proc.kill();
    let _ = agent_proc.wait();
    out.assert_code(0);
    AgentRun::new(agent())
        .args(&args)
        .env_remove_auth_sock()
        .run()
        .assert_code(1)
        .assert_stderr_has("ssh-agent");
}

#[test]
fn dropbear_password_and_key() {
    if no_root() {
        return;
    }
    let h = FakeEsxi::dropbear();
    h.set_vms(ROWS, STATES);
    run(&h, &["-o", "reboot", "-n", "node10"])
        .assert_code(0)
        .assert_stdout_has("Success: Rebooted");
    assert_eq!(h.state("12"), "on");
    assert_eq!(distinct_ports(&h).len(), 1);
    assert_no_tty(&h);
    let (key, public) = keygen(h.tmp.path(), "dropbear_client", "ed25519");
    h.authorize(&public);
    AgentRun::new(agent())
        .args([
            "-a",
            "127.0.0.1",
            "-u",
            &h.port.to_string(),
            "-l",
            USER,
            "-k",
            &key.display().to_string(),
            "--ssh-options",
            &h.ssh_options(),
            "-o",
            "status",
            "-n",
            "node1",
        ])
        .env_remove_auth_sock()
        .run()
        .assert_code(2);
    let out = run(&h, &["-o", "status", "-n", "node1", "-p", "wrong pw here"]);
    out.assert_code(1)
        .assert_stderr_has("Authentication failed")
        .assert_stderr_has("password");
}

#[test]
fn not_an_esxi_host_and_hostd_down() {
    if no_root() {
        return;
    }
    let h = FakeEsxi::without_vim_cmd();
    run(&h, &["-o", "monitor"])
        .assert_code(1)
        .assert_stderr_has("vim-cmd not found on 127.0.0.1:")
        .assert_stderr_has("not an ESXi host?");
    let h = host();
    h.write("hostd-down", "");
    run(&h, &["-o", "status", "-n", "node1"])
        .assert_code(1)
        .assert_stderr_has("hostd on 127.0.0.1:")
        .assert_stderr_has("Failed to login");
}

#[test]
fn no_password_in_argv_children_or_verbose_log() {
    if no_root() {
        return;
    }
    let h = host();
    h.write("delay", "2\n");
    let stdin = format!(
        "action=reboot\nip=127.0.0.1\nipport={}\nlogin={USER}\npasswd={PASSWORD}\nport=node10\nssh_options={}\nverbose_level=3\npower_timeout=15\n",
        h.port,
        h.ssh_options()
    );
    let mut child = Command::new(agent())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
    }
    let pid = child.id();
    // While the reboot runs: no process has the password in its argv, and
    // the agent has no child at all (it runs no ssh program).
    let t0 = Instant::now();
    let mut samples = 0;
    while t0.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
                let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                // Other tests run agents with --password on purpose.
                let argv0 = text.split(' ').next().unwrap_or("");
                if argv0.ends_with("fence_vmware_esxi")
                    && entry.file_name().to_string_lossy() != pid.to_string()
                {
                    continue;
                }
                assert!(!text.contains(PASSWORD), "password in argv: {text}");
            }
        }
        let children = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|tasks| {
                tasks
                    .flatten()
                    .map(|t| std::fs::read_to_string(t.path().join("children")).unwrap_or_default())
                    .collect::<String>()
            })
            .unwrap_or_default();
        assert!(
            children.trim().is_empty(),
            "agent started a child: {children}"
        );
        samples += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(samples >= 5, "the run was too short to watch ({samples})");
    assert!(stderr.contains("Running on"), "not verbose: {stderr}");
    assert!(!stderr.contains(PASSWORD), "password in stderr: {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));
}

#[test]
fn perl_agent_options_are_accepted() {
    if no_root() {
        return;
    }
    let h = host();
    AgentRun::new(agent())
        .args([
            "--ipaddr",
            "127.0.0.1",
            "--ipport",
            &h.port.to_string(),
            "--login",
            USER,
            "--passwd",
            PASSWORD,
            "--nodename",
            "node10",
            "--ssh-options",
            &h.ssh_options(),
            "--action",
            "status",
        ])
        .run()
        .assert_code(0)
        .assert_stdout_has("Status: ON");
}

#[test]
fn power_command_output_is_never_trusted() {
    if no_root() {
        return;
    }
    let h = host();
    // power.off says it failed, exits 1, but the VM goes off: success,
    // because power.getstate shows it off.
    h.write("lie", "");
    run(&h, &["-o", "off", "-n", "node10"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    assert_eq!(h.state("12"), "off");
    std::fs::remove_file(h.dir.join("lie")).unwrap();
    // power.on says nothing wrong but does nothing: failure.
    h.write("ignore", "");
    run(
        &h,
        &[
            "-o",
            "on",
            "-n",
            "node10",
            "--power-timeout=2",
            "--retry-on=0",
        ],
    )
    .assert_code(1)
    .assert_stderr_has("Failed: Timed out waiting to power ON");
    run(
        &h,
        &[
            "-o",
            "off",
            "-n",
            "web server (prod) [eu]",
            "--power-timeout=2",
        ],
    )
    .assert_code(1)
    .assert_stderr_has("Failed: Timed out waiting to power OFF");
    assert_eq!(h.state("3"), "on");
}

#[test]
fn sigterm_closes_the_session_and_exits() {
    if no_root() {
        return;
    }
    let h = host();
    h.write("hang", "power.off");
    let mut args = base(&h);
    args.extend(["-o", "off", "-n", "node10", "--power-timeout=60"].map(String::from));
    let child = Command::new(agent())
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until power.off is running on the host.
    let t0 = Instant::now();
    while !h.calls().iter().any(|c| c.args.contains("power.off")) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "power.off never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        killed.elapsed() < Duration::from_secs(4),
        "{:?}",
        killed.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
}

#[test]
fn login_is_bounded_by_login_timeout() {
    if no_root() {
        return;
    }
    // A server that accepts and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let conn = listener.accept();
        std::thread::sleep(Duration::from_secs(8));
        drop(conn);
    });
    let out = AgentRun::new(agent())
        .args([
            "-a",
            "127.0.0.1",
            "-u",
            &port.to_string(),
            "-p",
            "x y",
            "--login-timeout=2",
            "-o",
            "monitor",
        ])
        .run();
    out.assert_code(1).assert_stderr_has("timed out");
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    drop(holder);
}

#[test]
fn ssh_options_port_and_identity_passphrase() {
    if no_root() {
        return;
    }
    let h = host();
    let key = h.tmp.path().join("locked_key");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "key phrase 9", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    h.authorize(public.trim());
    // No ipport: -p in ssh_options gives the port. The password is the
    // key's passphrase (as a login password it would be refused).
    AgentRun::new(agent())
        .args([
            "-a".to_string(),
            "127.0.0.1".into(),
            "-l".into(),
            USER.into(),
            "-k".into(),
            key.display().to_string(),
            "-p".into(),
            "key phrase 9".into(),
            format!("--ssh-options={} -p {}", h.ssh_options(), h.port),
            "-o".into(),
            "status".into(),
            "-n".into(),
            "node10".into(),
            "-4".into(),
        ])
        .env_remove_auth_sock()
        .run()
        .assert_code(0)
        .assert_nothing_contains("key phrase 9");
}

// ---- metadata and man page: no servers needed --------------------------

fn committed(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn metadata_matches_committed_file_and_schema() {
    let out = AgentRun::new(agent()).args(["-o", "metadata"]).run();
    out.assert_code(0);
    assert!(
        out.stdout == committed("metadata/fence_vmware_esxi.xml"),
        "metadata/fence_vmware_esxi.xml is stale: regenerate it with `fence_vmware_esxi -o metadata`"
    );
    for needle in [
        "name=\"ipaddr\"",
        "name=\"login\"",
        "name=\"passwd_script\"",
        "name=\"identity_file\"",
        "name=\"port\"",
        "name=\"ssh_options\"",
        "name=\"inet4_only\"",
        "name=\"inet6_only\"",
        "<action name=\"list\"",
        "<action name=\"list-status\"",
        "<action name=\"monitor\"",
        // The Perl agent's default login; not required, so pcs accepts
        // configurations without one.
        "<parameter name=\"username\" unique=\"0\" required=\"0\" obsoletes=\"login\">",
        "<content type=\"string\" default=\"root\"/>",
        "<content type=\"integer\" default=\"22\"/>",
    ] {
        assert!(out.stdout.contains(needle), "metadata lacks {needle}");
    }
    let committed = repo_root().join("metadata/fence_vmware_esxi.xml");
    assert_valid_metadata(
        &std::fs::read_to_string(&committed).expect("committed metadata"),
        "metadata/fence_vmware_esxi.xml",
    );
}

#[test]
fn manpage_matches_committed_file_and_man_flag() {
    let out = AgentRun::new(agent()).args(["-o", "manpage"]).run();
    out.assert_code(0);
    assert!(
        out.stdout == committed("man/fence_vmware_esxi.8"),
        "man/fence_vmware_esxi.8 is stale: regenerate it with `fence_vmware_esxi -o manpage`"
    );
    assert!(out.stdout.contains("ssh\\-agent"));
    let man = AgentRun::new(agent()).args(["--man"]).run();
    man.assert_code(0);
    assert_eq!(man.stdout, out.stdout);
    // "--man" as an option's value is that value, not a request for the
    // page: fencing must not turn into an exit 0 that did nothing.
    let off = AgentRun::new(agent())
        .args([
            "-a",
            "127.0.0.1",
            "-u",
            "1",
            "-p",
            "--man",
            "-o",
            "off",
            "-n",
            "vm",
        ])
        .run();
    off.assert_code(1);
    assert!(!off.stdout.contains(".SH"), "{}", off.stdout);
}

trait NoAuthSock {
    fn env_remove_auth_sock(self) -> Self;
}

impl NoAuthSock for AgentRun {
    fn env_remove_auth_sock(mut self) -> Self {
        self.command().env_remove("SSH_AUTH_SOCK");
        self
    }
}
