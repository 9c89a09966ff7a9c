//! fence_vmware's vmrun mode (vmware_type=server1/server2) against the fake
//! vmrun in cts/vmrun (VMware's vmrun cannot be installed here): the
//! command lines fence-agents runs, what the agent may claim about a VM
//! vmrun does not list, the password that vmrun can only take on its
//! command line, and the bounds on a vmrun that hangs, floods or leaves a
//! child holding its output.

use std::path::PathBuf;
use std::time::Duration;

use cts::support::{assert_group_gone, bin, repo_root, AgentRun, Outcome, TempDir};

const USER: &str = "fenceuser";
/// The fake's default password; a quote in it proves the shell-quoted
/// form is masked too.
const PASSWORD: &str = "s3cret pass";
const VMX_RUNNING: &str = "[standard] node a/node a.vmx";
const VMX_OFF: &str = "[standard] nodeb/nodeb.vmx";
const VMX_TYPO: &str = "[standard] nodeb/nodeB.vmx";

struct FakeVmrun {
    dir: TempDir,
    env: Vec<(&'static str, String)>,
}

impl FakeVmrun {
    fn new(tag: &str) -> FakeVmrun {
        let dir = TempDir::new(&format!("vmrun-{tag}"));
        std::fs::write(
            dir.path().join("registered"),
            format!("{VMX_RUNNING}\n{VMX_OFF}\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("running"), format!("{VMX_RUNNING}\n")).unwrap();
        FakeVmrun {
            dir,
            env: Vec::new(),
        }
    }

    fn env(mut self, k: &'static str, v: &str) -> Self {
        self.env.push((k, v.to_string()));
        self
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    fn running(&self) -> Vec<String> {
        self.file("running").lines().map(str::to_string).collect()
    }

    /// Every vmrun command line the agent ran, arguments joined by " | ".
    fn calls(&self) -> Vec<String> {
        self.file("calls.log").lines().map(str::to_string).collect()
    }

    /// The process groups of every vmrun run.
    fn groups(&self) -> Vec<i32> {
        self.file("pids")
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    fn agent(&self, kind: &str, password: &str, more: &[&str]) -> AgentRun {
        self.agent_at("esx1.example.test", kind, password, more)
    }

    /// fence_vmware in vmrun mode, with the fake as `exec`.
    fn agent_at(&self, ip: &str, kind: &str, password: &str, more: &[&str]) -> AgentRun {
        let exe = repo_root().join("cts/vmrun/vmrun");
        let mut args: Vec<String> = ["-a", ip, "-l", USER, "-p", password, "-d", kind]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(format!("--exec={}", exe.display()));
        args.extend(more.iter().map(|s| s.to_string()));
        let mut run = AgentRun::new(fence_vmware())
            .args(args)
            .env("FAKE_VMRUN_DIR", self.dir.path())
            .limit(Duration::from_secs(30));
        for (k, v) in &self.env {
            run = run.env(k, v);
        }
        run
    }

    fn run(&self, kind: &str, more: &[&str]) -> Outcome {
        self.agent(kind, PASSWORD, more).run()
    }
}

fn fence_vmware() -> PathBuf {
    bin("fence_vmware")
}

fn first_error(o: &Outcome) -> String {
    o.stderr
        .lines()
        .find_map(|l| l.split_once(" ERROR: ").map(|(_, m)| m.to_string()))
        .unwrap_or_else(|| panic!("no ERROR line\n{}", o.stderr))
}

const STATUS_FAILED: &str = "Failed: Unable to obtain correct plug status or plug is not available";

/// server2, fence-agents' command lines: list, listRegisteredVM, start,
/// stop hard, after the version banner.
#[test]
fn server2_does_what_fence_agents_does() {
    let f = FakeVmrun::new("server2");
    f.run("server2", &["-o", "list-status"])
        .assert_code(0)
        .assert_stdout_has(&format!("{VMX_RUNNING},,ON\n{VMX_OFF},,OFF\n"));
    f.run("server2", &["-o", "status", "-n", VMX_OFF])
        .assert_code(2)
        .assert_stdout_has("Status: OFF");
    f.run("server2", &["-o", "on", "-n", VMX_OFF])
        .assert_code(0);
    assert!(f.running().contains(&VMX_OFF.to_string()));
    f.run("server2", &["-o", "off", "-n", VMX_RUNNING])
        .assert_code(0);
    assert!(!f.running().contains(&VMX_RUNNING.to_string()));
    f.run("server2", &["-o", "reboot", "-n", VMX_OFF])
        .assert_code(0)
        .assert_stdout_has("Success: Rebooted");
    let calls = f.calls();
    assert!(
        calls.contains(&format!(
            "-h | https://esx1.example.test/sdk | -u | {USER} | -p | {PASSWORD} | -T | server | stop | {VMX_RUNNING} | hard"
        )),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.ends_with(&format!("| -T | server | start | {VMX_OFF}"))),
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|c| c.ends_with("| listRegisteredVM")),
        "{calls:?}"
    );
    // The version banner was checked (a bare call).
    assert!(calls.iter().any(String::is_empty), "{calls:?}");
}

/// server1 with a port: `-h HOST ... -T server1 -P PORT`.
#[test]
fn server1_takes_the_port_from_ip() {
    let f = FakeVmrun::new("server1-port");
    f.agent_at(
        "esx1.example.test:9002",
        "server1",
        PASSWORD,
        &["-o", "status", "-n", VMX_RUNNING],
    )
    .run()
    .assert_code(0)
    .assert_stdout_has("Status: ON");
    assert!(
        f.calls().contains(&format!(
            "-h | esx1.example.test | -u | {USER} | -p | {PASSWORD} | -T | server1 | -P | 9002 | list"
        )),
        "{:?}",
        f.calls()
    );
}

#[test]
fn vmrun_failures() {
    // Too old a vmrun: the device cannot do this.
    let f = FakeVmrun::new("old").env("FAKE_VMRUN_VERSION", "1.0.7");
    let o = f.run("server2", &["-o", "status", "-n", VMX_RUNNING]);
    o.assert_code(1);
    assert!(
        first_error(&o).starts_with(
            "Failed: Unsupported version of vmrun command! You must use at least version 2!"
        ),
        "{}",
        o.stderr
    );
    // A wrong password: vmrun's error is reported, the password is not,
    // and nothing is powered.
    let f = FakeVmrun::new("wrong-password");
    let o = f
        .agent(
            "server2",
            "not it",
            &["-o", "off", "-n", VMX_RUNNING, "-vvv"],
        )
        .run();
    o.assert_code(1)
        .assert_stderr_has("user name and/or password is incorrect")
        .assert_nothing_contains("not it");
    assert!(f.running().contains(&VMX_RUNNING.to_string()));
    // No vmrun at all: a failure of this node.
    let o = AgentRun::new(fence_vmware())
        .args([
            "-a",
            "h",
            "-l",
            USER,
            "-p",
            PASSWORD,
            "-d",
            "server2",
            "--exec=/nonexistent/vmrun",
            "-o",
            "status",
            "-n",
            VMX_RUNNING,
        ])
        .run();
    o.assert_code(1);
    assert!(
        first_error(&o).starts_with("Failed: Cannot run command /nonexistent/vmrun: "),
        "{}",
        o.stderr
    );
}

/// server1's vmrun lists running VMs only. fence-agents calls every plug
/// it does not list off, so a mistyped plug is "Success: Already OFF"
/// while the real VM runs on. Here that is a failure, and nothing is
/// powered.
#[test]
fn server1_never_calls_a_plug_it_cannot_vouch_for_off() {
    let f = FakeVmrun::new("server1-unknown");
    for (action, plug) in [
        ("off", VMX_TYPO),
        ("status", VMX_TYPO),
        ("status", VMX_OFF),
        ("off", VMX_OFF),
        ("on", VMX_OFF),
    ] {
        let o = f.run("server1", &["-o", action, "-n", plug]);
        o.assert_code(1);
        assert!(
            !o.stdout.contains("Success"),
            "{action} {plug}: {}",
            o.stdout
        );
        assert_eq!(first_error(&o), STATUS_FAILED, "{action} {plug}");
        o.assert_stderr_has("vmware_type=server1 vmrun cannot tell a VM that is off");
    }
    assert!(
        !f.calls()
            .iter()
            .any(|c| c.contains("| stop |") || c.contains("| start |")),
        "{:?}",
        f.calls()
    );
    assert_eq!(f.running(), [VMX_RUNNING]);
}

/// A VM server1 lists as running is a VM of the host: powering it off is
/// verified by its leaving the list.
#[test]
fn server1_off_and_reboot_of_a_running_vm_are_verified() {
    let f = FakeVmrun::new("server1-running");
    f.run("server1", &["-o", "status", "-n", VMX_RUNNING])
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    f.run("server1", &["-o", "reboot", "-n", VMX_RUNNING])
        .assert_code(0)
        .assert_stdout_has("Success: Rebooted");
    assert_eq!(f.running(), [VMX_RUNNING]);
    let o = f.run("server1", &["-o", "off", "-n", VMX_RUNNING]);
    o.assert_code(0);
    assert_eq!(o.stdout, "Success: Powered OFF\n");
    assert!(f.running().is_empty());
    let calls = f.calls();
    let stop = calls
        .iter()
        .rposition(|c| c.ends_with(&format!("| stop | {VMX_RUNNING} | hard")))
        .expect("a stop");
    assert!(
        calls[stop + 1..]
            .iter()
            .any(|c| c.ends_with("| -T | server1 | list")),
        "the state was read back after the stop: {calls:?}"
    );
}

/// server2 knows every registered VM: an unregistered plug is a failure,
/// a registered one that is off is off.
#[test]
fn server2_refuses_an_unregistered_plug() {
    let f = FakeVmrun::new("server2-unknown");
    let o = f.run("server2", &["-o", "off", "-n", VMX_TYPO]);
    o.assert_code(1);
    assert_eq!(first_error(&o), STATUS_FAILED);
    o.assert_stderr_has("existing name of virtual machine");
    assert!(!o.stdout.contains("Success"));
    f.run("server2", &["-o", "off", "-n", VMX_OFF])
        .assert_code(0)
        .assert_stdout_has("Success: Already OFF");
}

/// vmrun has the password in its argv (there is no other way): the agent
/// warns once per run, and never logs it, in any quoting.
#[test]
fn vmrun_password_is_warned_about_once_and_never_logged() {
    let password = "it's a \"secret\"";
    let f = FakeVmrun::new("password").env("FAKE_VMRUN_PASS", password);
    let debug_file = f.dir.path().join("debug.log");
    for kind in ["server1", "server2"] {
        let o = f
            .agent(
                kind,
                password,
                &[
                    "-o",
                    "status",
                    "-n",
                    VMX_RUNNING,
                    "-vvv",
                    &format!("--debug-file={}", debug_file.display()),
                ],
            )
            .run();
        o.assert_code(0).assert_nothing_contains("secret");
        let warning = format!(
            "WARNING: vmware_type={kind}: vmrun takes the password on its command line, where other local users can read it while vmrun runs"
        );
        assert_eq!(o.stderr.matches(&warning).count(), 1, "{}", o.stderr);
        assert!(
            o.stderr.contains(&format!("'-u' '{USER}' '-p' **** '-T'")),
            "{}",
            o.stderr
        );
        // ... and the password did reach vmrun.
        assert!(
            f.calls()
                .iter()
                .any(|c| c.contains(&format!("| -p | {password} |"))),
            "{:?}",
            f.calls()
        );
    }
    let logged = std::fs::read_to_string(&debug_file).unwrap();
    assert!(logged.contains("'-p' ****"), "{logged}");
    assert!(!logged.contains("secret"), "{logged}");
}

/// A vmrun that exits but leaves a child holding its stdout (a common
/// wrapper-script mistake) costs nothing, and the child is stopped.
#[test]
fn a_stray_child_of_vmrun_does_not_hold_the_agent() {
    let f = FakeVmrun::new("stray").env("FAKE_VMRUN_STRAY", "1");
    let o = f.run("server2", &["-o", "list-status"]);
    o.assert_code(0)
        .assert_stdout_has(&format!("{VMX_RUNNING},,ON\n{VMX_OFF},,OFF\n"));
    assert!(o.elapsed < Duration::from_secs(5), "{:?}", o.elapsed);
    let groups = f.groups();
    assert_eq!(groups.len(), 3, "banner, list, listRegisteredVM");
    for g in groups {
        assert_group_gone(g);
    }
}

/// A vmrun that never answers is stopped, with everything it started, at
/// shell_timeout + login_timeout, and that is a timeout.
#[test]
fn a_hanging_vmrun_is_stopped_with_its_group() {
    let f = FakeVmrun::new("hang")
        .env("FAKE_VMRUN_SLEEP", "40")
        .env("FAKE_VMRUN_STRAY", "1");
    let o = f.run(
        "server2",
        &[
            "-o",
            "status",
            "-n",
            VMX_RUNNING,
            "--shell-timeout=1",
            "--login-timeout=1",
        ],
    );
    o.assert_code(1);
    assert_eq!(first_error(&o), "Connection timed out");
    o.assert_stderr_has("did not finish within 2 s and was stopped");
    assert!(
        o.elapsed >= Duration::from_secs(2) && o.elapsed < Duration::from_secs(5),
        "{:?}",
        o.elapsed
    );
    let groups = f.groups();
    assert_eq!(groups.len(), 1, "only the banner call ran");
    assert_group_gone(groups[0]);
}

#[test]
fn a_flooding_vmrun_is_cut_off() {
    let f = FakeVmrun::new("flood").env("FAKE_VMRUN_FLOOD", "1");
    let o = f.run("server2", &["-o", "status", "-n", VMX_RUNNING]);
    o.assert_code(1);
    o.assert_stderr_has("printed more than 8388608 bytes and was stopped");
    assert!(
        o.stderr.len() < 16 * 1024,
        "{} bytes of stderr",
        o.stderr.len()
    );
    assert!(o.elapsed < Duration::from_secs(10), "{:?}", o.elapsed);
    for g in f.groups() {
        assert_group_gone(g);
    }
}

/// A VM path that is not UTF-8 is listed (lossily) and cannot be mistaken
/// for another VM.
#[test]
fn vm_paths_that_are_not_utf8() {
    let f = FakeVmrun::new("latin1");
    let mut registered = format!("{VMX_RUNNING}\n").into_bytes();
    registered.extend_from_slice(b"[standard] caf\xe9/caf\xe9.vmx\n");
    std::fs::write(f.dir.path().join("registered"), registered).unwrap();
    let o = f.run("server2", &["-o", "list"]);
    o.assert_code(0)
        .assert_stdout_has("[standard] caf\u{fffd}/caf\u{fffd}.vmx,\n");
    let o = f.run("server2", &["-o", "off", "-n", "[standard] café/café.vmx"]);
    o.assert_code(1);
    assert_eq!(first_error(&o), STATUS_FAILED);
}
