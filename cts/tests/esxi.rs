//! fence_vmware_esxi against real SSH servers on loopback: OpenSSH's sshd
//! configured like ESXi 5.1+ and dropbear like ESXi 4.x, each logging in a
//! test user whose shell runs the fake vim-cmd, esxcli and localcli of
//! cts/esxi/.
//!
//! Every test that fences reads back the state of every VM on the fake
//! host afterwards: the right VM changed, or nothing did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cts::esxi_host::{fingerprint, keygen, FakeEsxi, Vm, PASSWORD, USER};
use cts::support::{
    assert_valid_metadata, bin, is_root, repo_root, skip_unless, AgentRun, Outcome, TempDir,
};

fn agent() -> PathBuf {
    bin("fence_vmware_esxi")
}

/// VMs the way ESXi lists them: names with blanks, brackets and unicode,
/// prefix names, an annotation over three lines whose later lines start
/// with digits and '[', a VM hostd cannot read, in no particular order.
fn inventory() -> Vec<Vm> {
    vec![
        Vm::new("12", "node10", "on").guest("rhel7_64Guest", "vmx-13"),
        Vm::new("1", "node1", "off")
            .guest("rhel7_64Guest", "vmx-13")
            .annotation("cluster node 1"),
        Vm::new("3", "web server (prod) [eu]", "on")
            .file("[datastore 2] web server (prod) [eu]/web server (prod) [eu].vmx")
            .guest("windows9Server64Guest", "vmx-19")
            .annotation("owner: ops\n42 is the answer\n[important] never power this off by hand"),
        Vm::new("4", "Bücher-Ω vm 🚀", "off").guest("otherLinux64Guest", "vmx-14"),
        Vm::new("7", "unreadable", "off"),
        Vm::new("5", "sleeper", "suspended").guest("otherGuest", "vmx-10"),
    ]
}

const INVENTORY_STATES: &[(&str, &str)] = &[
    ("12", "on"),
    ("1", "off"),
    ("3", "on"),
    ("4", "off"),
    ("7", "off"),
    ("5", "suspended"),
];

/// A fake ESXi host (OpenSSH) holding `vms`, or None when these tests
/// cannot run here (they need root: a test user, sshd and dropbear).
fn esxi_with(vms: &[Vm]) -> Option<FakeEsxi> {
    if skip_unless(
        is_root(),
        "the ESXi tests need root (a test user, sshd and dropbear)",
    ) {
        return None;
    }
    let h = FakeEsxi::openssh();
    h.set_vms(vms);
    Some(h)
}

/// A fake ESXi host with the standard inventory.
fn esxi() -> Option<FakeEsxi> {
    let h = esxi_with(&inventory())?;
    h.vm_file("7", "invalid", "");
    h.write("stderr", "Skipping invalid VM '8'\n");
    Some(h)
}

/// The standard host, with its hostd down.
fn no_hostd() -> Option<FakeEsxi> {
    let h = esxi()?;
    h.write("hostd-down", "");
    Some(h)
}

/// The agent's command line against a fake host, built up as needed.
#[derive(Clone)]
struct Invocation {
    args: Vec<String>,
    env: Vec<(String, PathBuf)>,
    without_auth_sock: bool,
}

/// The host's address, port and user, and a known_hosts that trusts it;
/// no credentials yet.
fn agent_on(h: &FakeEsxi) -> Invocation {
    Invocation {
        args: vec![
            "--ip=127.0.0.1".into(),
            format!("--ipport={}", h.port),
            format!("--username={USER}"),
        ],
        env: Vec::new(),
        without_auth_sock: false,
    }
    .ssh_options(&h.ssh_options())
}

impl Invocation {
    fn with(mut self, extra: &[&str]) -> Self {
        self.args.extend(extra.iter().map(|s| s.to_string()));
        self
    }

    fn password(self) -> Self {
        self.with(&[&format!("--password={PASSWORD}")])
    }

    fn identity(self, key: &Path) -> Self {
        self.with(&[&format!("--identity-file={}", key.display())])
    }

    /// Replace the ssh_options.
    fn ssh_options(mut self, options: &str) -> Self {
        self.args.retain(|a| !a.starts_with("--ssh-options="));
        self.args.push(format!("--ssh-options={options}"));
        self
    }

    fn env(mut self, name: &str, value: &Path) -> Self {
        self.env.push((name.into(), value.to_path_buf()));
        self
    }

    fn no_ssh_agent(mut self) -> Self {
        self.without_auth_sock = true;
        self
    }

    fn run(&self) -> Outcome {
        let mut run = AgentRun::new(agent())
            .args(&self.args)
            .limit(Duration::from_secs(60));
        for (k, v) in &self.env {
            run = run.env(k, v);
        }
        if self.without_auth_sock {
            run.command().env_remove("SSH_AUTH_SOCK");
        }
        run.run()
    }
}

/// The agent with the password and `extra` options.
fn run(h: &FakeEsxi, extra: &[&str]) -> Outcome {
    agent_on(h).password().with(extra).run()
}

/// `-o ACTION -n PLUG`, then `extra`.
fn act(h: &FakeEsxi, action: &str, plug: &str, extra: &[&str]) -> Outcome {
    run(h, &[&["-o", action, "-n", plug], extra].concat())
}

/// Short enough that a hung hostd costs seconds, not minutes.
const HUNG_BOUNDS: &[&str] = &["--shell-timeout=2", "--power-timeout=8"];

/// Every VM on the host is in exactly these states.
fn assert_states(h: &FakeEsxi, want: &[(&str, &str)]) {
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(id, s)| (id.to_string(), s.to_string()))
        .collect();
    assert_eq!(h.states(), want, "calls: {:?}", h.calls());
}

/// The standard inventory's VMs are as set up, but for `changed`.
fn assert_inventory_but(h: &FakeEsxi, changed: &[(&str, &str)]) {
    let want: Vec<(&str, &str)> = INVENTORY_STATES
        .iter()
        .map(|(id, s)| {
            changed
                .iter()
                .find(|(c, _)| c == id)
                .map_or((*id, *s), |(c, n)| (*c, *n))
        })
        .collect();
    assert_states(h, &want);
}

/// Nothing was powered or killed: every VM of the inventory is as set up.
fn assert_inventory_untouched(h: &FakeEsxi) {
    assert_nothing_powered(h);
    assert_inventory_but(h, &[]);
}

/// Nothing was asked to change power: no power command, no kill.
fn assert_nothing_powered(h: &FakeEsxi) {
    let calls = h.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.args.contains("power.") || c.args.contains("kill")),
        "{calls:?}"
    );
}

fn call_lines(h: &FakeEsxi) -> Vec<String> {
    h.calls().iter().map(|c| c.line()).collect()
}

fn assert_no_tty_and_one_connection(h: &FakeEsxi) {
    let calls = h.calls();
    assert!(!calls.is_empty(), "no call was logged");
    assert!(
        calls.iter().all(|c| !c.tty),
        "a command ran on a tty: {calls:?}"
    );
    let ports: std::collections::BTreeSet<&str> =
        calls.iter().map(|c| c.client_port.as_str()).collect();
    assert_eq!(ports.len(), 1, "{calls:?}");
}

// ---- finding the VM ------------------------------------------------------

#[test]
fn status_by_name_vmid_and_path_with_hard_names() {
    let Some(h) = esxi() else { return };
    for (plug, code, status) in [
        ("node1", 2, "Status: OFF"),
        ("node10", 0, "Status: ON"),
        ("web server (prod) [eu]", 0, "Status: ON"),
        ("Bücher-Ω vm 🚀", 2, "Status: OFF"),
        ("12", 0, "Status: ON"),
        ("[datastore1] node1/node1.vmx", 2, "Status: OFF"),
        // Suspended counts as off.
        ("sleeper", 2, "Status: OFF"),
    ] {
        run(&h, &["-o", "status", "-n", plug])
            .assert_code(code)
            .assert_stdout_has(status);
    }
    // Exact match only: a prefix, a different case, an annotation line,
    // a skipped VM are not VMs.
    for plug in ["node", "Node1", "42", "7", "8", "[important]", "unreadable"] {
        run(&h, &["-o", "status", "-n", plug])
            .assert_code(1)
            .assert_stderr_has("Failed: Unable to obtain correct plug status");
    }
    assert_inventory_but(&h, &[]);
}

#[test]
fn confirming_the_vm_costs_no_command_beyond_its_state_read() {
    let Some(h) = esxi() else { return };
    run(&h, &["-o", "status", "-n", "node10"]).assert_code(0);
    let args: Vec<String> = h.calls().into_iter().map(|c| c.args).collect();
    assert_eq!(args, ["vmsvc/getallvms", "vmsvc/get.summary 12"]);
    // And the agent logs out under its own name.
    let t0 = Instant::now();
    while !h.server_log().contains("fence_vmware_esxi done") {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no disconnect message: {}",
            h.server_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn list_and_list_status_skip_invalid_vms_and_annotations() {
    let Some(h) = esxi() else { return };
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
fn a_name_shared_by_two_vms_fails_naming_both_and_touches_nothing() {
    let Some(h) = esxi_with(&[
        Vm::new("21", "db", "on").file("[datastore1] db/db.vmx"),
        Vm::new("22", "db", "on").file("[datastore2] db-copy/db.vmx"),
    ]) else {
        return;
    };
    run(&h, &["-o", "off", "-n", "db"])
        .assert_code(1)
        .assert_stderr_has("vmid 21 (\"db\", [datastore1] db/db.vmx)")
        .assert_stderr_has("vmid 22 (\"db\", [datastore2] db-copy/db.vmx)");
    assert_nothing_powered(&h);
    assert_states(&h, &[("21", "on"), ("22", "on")]);
    // The vmid or the path still names one.
    run(&h, &["-o", "off", "-n", "[datastore2] db-copy/db.vmx"]).assert_code(0);
    assert_states(&h, &[("21", "on"), ("22", "off")]);
}

/// A line of web's annotation shaped exactly like a row for db07.
const FORGED_DB07_ROW: &str = "40      db07   [datastore1] db07/db07.vmx   rhel9_64Guest   vmx-19";

#[test]
fn a_forged_row_in_an_annotation_naming_an_existing_vm_is_refused() {
    let Some(h) = esxi_with(&[
        Vm::new("3", "web", "on").annotation(&format!("owner: ops\n{FORGED_DB07_ROW}")),
        Vm::new("7", "db07", "on").guest("rhel9_64Guest", "vmx-19"),
    ]) else {
        return;
    };
    for plug in ["db07", "[datastore1] db07/db07.vmx"] {
        run(&h, &["-o", "off", "-n", plug])
            .assert_code(1)
            .assert_stderr_has("matches 2 VMs")
            .assert_stderr_has("vmid 40")
            .assert_stderr_has("fix that annotation");
    }
    assert_nothing_powered(&h);
    assert_states(&h, &[("3", "on"), ("7", "on")]);
    // The vmid is not in the forged text: it still names db07, and only it.
    run(&h, &["-o", "off", "-n", "7"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    assert_states(&h, &[("3", "on"), ("7", "off")]);
}

#[test]
fn a_forged_row_naming_a_vm_not_on_this_host_is_refused() {
    // vmid 40 does not exist; vmid 41 is another VM.
    let Some(h) = esxi_with(&[
        Vm::new("3", "web", "on").annotation(&format!("owner: ops\n{FORGED_DB07_ROW}")),
        Vm::new("41", "prod-db", "on")
            .annotation("x\n41      db08   [datastore1] db08/db08.vmx   rhel9_64Guest   vmx-19"),
    ]) else {
        return;
    };
    run(&h, &["-o", "off", "-n", "db07"])
        .assert_code(1)
        .assert_stderr_has("get.summary 40");
    run(&h, &["-o", "status", "-n", "db07"]).assert_code(1);
    // vmid 41 is listed twice (its real row, its own annotation).
    run(&h, &["-o", "off", "-n", "db08"])
        .assert_code(1)
        .assert_stderr_has("vmid 41 is listed 2 times");
    assert_nothing_powered(&h);
    assert_states(&h, &[("3", "on"), ("41", "on")]);
}

#[test]
fn a_forged_row_reusing_an_existing_vmid_is_refused() {
    let Some(h) = esxi_with(&[
        Vm::new("1", "node1", "on"),
        Vm::new("3", "web", "on").annotation(
            "owner: ops\n1       db07   [datastore1] db07/db07.vmx   rhel9_64Guest   vmx-19",
        ),
    ]) else {
        return;
    };
    for plug in ["db07", "1", "node1", "[datastore1] node1/node1.vmx"] {
        run(&h, &["-o", "off", "-n", plug])
            .assert_code(1)
            .assert_stderr_has("vmid 1 is listed 2 times");
    }
    // vim-cmd reads "0001" as vmid 1 too.
    h.set_vms(&[
        Vm::new("1", "node1", "on"),
        Vm::new("3", "web", "on").annotation(
            "owner: ops\n0001    db07   [datastore1] db07/db07.vmx   rhel9_64Guest   vmx-19",
        ),
    ]);
    for plug in ["db07", "0001", "node1"] {
        run(&h, &["-o", "off", "-n", plug])
            .assert_code(1)
            .assert_stderr_has("is listed 2 times");
    }
    assert_nothing_powered(&h);
    assert_states(&h, &[("1", "on"), ("3", "on")]);
}

/// A display name that holds a whole row for db07.
const ROW_IN_A_NAME: &str = "db07   [datastore1] db07/db07.vmx   rhel9_64Guest   vmx-19";

#[test]
fn a_display_name_holding_a_whole_row_is_refused_for_the_name_it_imitates() {
    let Some(h) =
        esxi_with(&[Vm::new("55", ROW_IN_A_NAME, "on").file("[datastore1] evil/evil.vmx")])
    else {
        return;
    };
    // db07 is not on this host: the row proposes vmid 55, whose summary
    // says otherwise.
    run(&h, &["-o", "off", "-n", "db07"])
        .assert_code(1)
        .assert_stderr_has("get.summary 55")
        .assert_stderr_has("not \"db07\"");
    run(&h, &["-o", "off", "-n", "[datastore1] db07/db07.vmx"])
        .assert_code(1)
        .assert_stderr_has("not at [datastore1] db07/db07.vmx");
    assert_nothing_powered(&h);
    assert_states(&h, &[("55", "on")]);
    // Its own full name is confirmed by its summary: the right VM.
    run(&h, &["-o", "off", "-n", ROW_IN_A_NAME]).assert_code(0);
    assert_states(&h, &[("55", "off")]);
}

#[test]
fn a_display_name_holding_a_row_next_to_the_real_vm_is_refused() {
    let Some(h) = esxi_with(&[
        Vm::new("55", ROW_IN_A_NAME, "on").file("[datastore1] evil/evil.vmx"),
        Vm::new("7", "db07", "on").guest("rhel9_64Guest", "vmx-19"),
    ]) else {
        return;
    };
    for plug in ["db07", "[datastore1] db07/db07.vmx"] {
        run(&h, &["-o", "off", "-n", plug])
            .assert_code(1)
            .assert_stderr_has("matches 2 VMs");
    }
    assert_nothing_powered(&h);
    assert_states(&h, &[("55", "on"), ("7", "on")]);
    run(&h, &["-o", "off", "-n", "7"]).assert_code(0);
    assert_states(&h, &[("55", "on"), ("7", "off")]);
}

#[test]
fn a_vmx_path_given_as_plug_never_matches_a_name_that_imitates_it() {
    let Some(h) =
        esxi_with(&[Vm::new("8", "[datastore1] db07/db07.vmx", "on")
            .file("[datastore1] impostor/impostor.vmx")])
    else {
        return;
    };
    run(&h, &["-o", "off", "-n", "[datastore1] db07/db07.vmx"])
        .assert_code(1)
        .assert_stderr_has("No VM \"[datastore1] db07/db07.vmx\"");
    assert_nothing_powered(&h);
    assert_states(&h, &[("8", "on")]);
    // With the real db07 present, its path means it alone.
    h.set_vms(&[
        Vm::new("8", "[datastore1] db07/db07.vmx", "on").file("[datastore1] impostor/impostor.vmx"),
        Vm::new("7", "db07", "on"),
    ]);
    run(&h, &["-o", "off", "-n", "[datastore1] db07/db07.vmx"]).assert_code(0);
    assert_states(&h, &[("8", "on"), ("7", "off")]);
}

#[test]
fn names_differing_only_by_case_or_trailing_blanks_are_never_confused() {
    let Some(h) = esxi_with(&[
        Vm::new("1", "db", "on"),
        Vm::new("2", "DB", "on"),
        Vm::new("3", "db ", "on"),
    ]) else {
        return;
    };
    // getallvms cannot show the trailing blank: "db" reads as two VMs.
    run(&h, &["-o", "off", "-n", "db"])
        .assert_code(1)
        .assert_stderr_has("matches 2 VMs");
    run(&h, &["-o", "off", "-n", "db "])
        .assert_code(1)
        .assert_stderr_has("cannot show blanks at either end of a name");
    run(&h, &["-o", "off", "-n", "Db"]).assert_code(1);
    assert_nothing_powered(&h);
    assert_states(&h, &[("1", "on"), ("2", "on"), ("3", "on")]);
    run(&h, &["-o", "off", "-n", "DB"]).assert_code(0);
    assert_states(&h, &[("1", "on"), ("2", "off"), ("3", "on")]);
    run(&h, &["-o", "off", "-n", "3"]).assert_code(0);
    assert_states(&h, &[("1", "on"), ("2", "off"), ("3", "off")]);
}

#[test]
fn a_vmid_given_as_plug_when_another_vms_name_is_that_number_is_refused() {
    let Some(h) = esxi_with(&[Vm::new("1", "alpha", "on"), Vm::new("2", "1", "on")]) else {
        return;
    };
    run(&h, &["-o", "off", "-n", "1"])
        .assert_code(1)
        .assert_stderr_has("matches 2 VMs");
    assert_nothing_powered(&h);
    assert_states(&h, &[("1", "on"), ("2", "on")]);
    run(&h, &["-o", "off", "-n", "[datastore1] 1/1.vmx"]).assert_code(0);
    assert_states(&h, &[("1", "on"), ("2", "off")]);
    run(&h, &["-o", "off", "-n", "alpha"]).assert_code(0);
    assert_states(&h, &[("1", "off"), ("2", "off")]);
}

/// A guest's host name that closes its string in get.summary and opens a
/// config of its own there, naming db07.
const FORGED_CONFIG_HOST_NAME: &str = "x\",\n   },\n   config = (vim.vm.Summary.ConfigSummary) {\n      name = \"db07\",\n      template = false,\n      vmPathName = \"[datastore1] db07/db07.vmx\",\n      memorySizeMB = 2048,\n   },\n   junk = (x) {\n      a = \"";

/// Host names a broken or hostile guest may report. A double quote, or a
/// backslash before the closing one, makes get.summary unreadable; the
/// others are text in a string.
const HOSTILE_HOST_NAMES: &[&str] = &[
    "quote\"d",
    "back\\slash\\",
    "x\", name = \"db07",
    "two\nlines } { braces (x) [",
    FORGED_CONFIG_HOST_NAME,
];

fn args_of(h: &FakeEsxi) -> Vec<String> {
    h.calls().into_iter().map(|c| c.args).collect()
}

/// Forget the calls logged so far.
fn clear_calls(h: &FakeEsxi) {
    std::fs::write(h.dir.join("log"), "").unwrap();
}

/// The agent with the password and `extra`, running in the background,
/// once the host has logged a call whose arguments contain `call`.
fn spawn_until_call(h: &FakeEsxi, extra: &[&str], call: &str) -> std::process::Child {
    let mut args = agent_on(h).password().args;
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = Command::new(agent())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !h.calls().iter().any(|c| c.args.contains(call)) {
        assert!(t0.elapsed() < Duration::from_secs(15), "{call} never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_guest_reporting_any_host_name_is_still_fenced() {
    let mut vms: Vec<Vm> = HOSTILE_HOST_NAMES
        .iter()
        .enumerate()
        .map(|(i, host_name)| Vm::new(&format!("2{i}"), &format!("g{i}"), "on").hostname(host_name))
        .collect();
    vms.push(Vm::new("7", "db07", "on"));
    let Some(h) = esxi_with(&vms) else { return };
    // What Tools writes on its own (JSON), and a variable the guest set to
    // imitate get.config's fields: get.config holds them, the agent never
    // reads that far.
    h.guestinfo(
        "20",
        "guestinfo.appInfo",
        "{\"updateCounter\":\"1\",\"applications\":[{\"a\":\"sshd\",\"v\":\"\"}]}",
    );
    h.guestinfo(
        "21",
        "guestinfo.x",
        "\"},\n   name = \"db07\",\n   files = (x) {",
    );
    let mut states: Vec<(String, String)> = vms
        .iter()
        .map(|v| (v.vmid.clone(), "on".to_string()))
        .collect();
    // Confirming the VM costs get.config, get.filelayout and get.runtime
    // beyond the summary it could not read.
    run(&h, &["-o", "status", "-n", "g0"])
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    assert_eq!(
        args_of(&h),
        [
            "vmsvc/getallvms",
            "vmsvc/get.summary 20",
            "vmsvc/get.config 20",
            "vmsvc/get.filelayout 20",
            "vmsvc/get.runtime 20"
        ]
    );
    for i in 0..HOSTILE_HOST_NAMES.len() {
        let (vmid, plug) = (format!("2{i}"), format!("g{i}"));
        clear_calls(&h);
        run(&h, &["-o", "off", "-n", &plug])
            .assert_code(0)
            .assert_stdout_has("Success: Powered OFF");
        for s in states.iter_mut().filter(|(id, _)| *id == vmid) {
            s.1 = "off".into();
        }
        let want: Vec<(&str, &str)> = states
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_states(&h, &want);
        // Everything was asked of that VM alone.
        for args in args_of(&h) {
            assert!(
                args == "vmsvc/getallvms" || args.ends_with(&format!(" {vmid}")),
                "{plug}: {args}"
            );
        }
        run(&h, &["-o", "status", "-n", &plug])
            .assert_code(2)
            .assert_stdout_has("Status: OFF");
    }
    // A reboot's polls read get.runtime, each with get.filelayout to see
    // the same VM; the summary is not asked again after the first time.
    // The fake lands a change at a whole second at least `delay` after
    // the command: 3 leaves two polls at least before it does, however
    // the clock falls.
    h.write("delay", "3\n");
    clear_calls(&h);
    run(&h, &["-o", "reboot", "-n", "g4", "--power-timeout=15"])
        .assert_code(0)
        .assert_stdout_has("Success: Rebooted");
    let args = args_of(&h);
    assert_eq!(
        args.iter().filter(|a| *a == "vmsvc/get.summary 24").count(),
        1,
        "{args:?}"
    );
    assert!(
        args.iter().filter(|a| *a == "vmsvc/get.runtime 24").count() >= 3,
        "{args:?}"
    );
    assert_eq!(h.state("24"), "on");
    assert_eq!(h.state("7"), "on");
    // list-status vouches for them too.
    let out = run(&h, &["-o", "list-status"]);
    out.assert_code(0);
    assert!(out.stdout.contains("g0,20,OFF\n"), "{}", out.stdout);
    assert!(out.stdout.contains("g4,24,ON\n"), "{}", out.stdout);
    assert!(out.stdout.contains("db07,7,ON\n"), "{}", out.stdout);
}

#[test]
fn a_guest_turning_hostile_during_the_action_is_still_fenced() {
    let Some(h) = esxi() else { return };
    h.write("delay", "3\n");
    let child = spawn_until_call(
        &h,
        &["-o", "off", "-n", "node10", "--power-timeout=20"],
        "vmsvc/power.off 12",
    );
    // The guest, still running for 3 s, now reports a host name that
    // makes the summary unreadable.
    h.vm_file("12", "hostname", FORGED_CONFIG_HOST_NAME);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Success: Powered OFF"), "{stdout}");
    let args = args_of(&h);
    let off = args.iter().position(|a| a == "vmsvc/power.off 12").unwrap();
    assert!(
        args[off..].iter().any(|a| a == "vmsvc/get.runtime 12"),
        "{args:?}"
    );
    assert_inventory_but(&h, &[("12", "off")]);
}

#[test]
fn a_name_or_path_that_makes_every_source_unreadable_still_refuses() {
    let Some(h) = esxi_with(&[
        // A name that closes its string and writes another VM's path.
        Vm::new(
            "9",
            "evil\", vmPathName = \"[datastore1] db07/db07.vmx",
            "on",
        )
        .file("[datastore1] evil/evil.vmx"),
        // An annotation that repeats the name followed by a quote: where
        // the name ends cannot be told.
        Vm::new("11", "quoted", "on").annotation("see \"quoted\" in the wiki"),
        // A quote in the .vmx path.
        Vm::new("14", "pathq", "on").file("[datastore1] path\"q/pathq.vmx"),
        // A pending question whose text quotes a path with a quote, and a
        // guest whose host name hides the summary.
        Vm::new("15", "asks", "on").hostname("h\""),
        // Quotes in an annotation alone no longer stop anything.
        Vm::new("13", "fine", "on").annotation("name = \"db07\", vmPathName = \"x\""),
    ]) else {
        return;
    };
    h.vm_file("15", "question", "Cannot open [datastore1] a\"b/disk.vmdk");
    for (plug, source) in [
        ("9", "vim-cmd vmsvc/get.config 9 is not"),
        (
            "[datastore1] evil/evil.vmx",
            "vim-cmd vmsvc/get.config 9 is not",
        ),
        ("quoted", "followed by a double quote"),
        ("pathq", "vim-cmd vmsvc/get.filelayout 14 is not"),
        ("asks", "vim-cmd vmsvc/get.runtime 15 is not"),
    ] {
        for action in ["off", "status"] {
            run(&h, &["-o", action, "-n", plug])
                .assert_code(1)
                .assert_stderr_has("is not readable for sure")
                .assert_stderr_has(source)
                .assert_stderr_has("nothing was done");
        }
    }
    assert_nothing_powered(&h);
    // list-status does not vouch for them either.
    let out = run(&h, &["-o", "list-status"]);
    out.assert_code(0);
    for line in [
        "quoted,11,UNKNOWN",
        "pathq,14,UNKNOWN",
        "asks,15,UNKNOWN",
        "fine,13,ON",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "{line}: {}",
            out.stdout
        );
    }
    assert_states(
        &h,
        &[
            ("9", "on"),
            ("11", "on"),
            ("13", "on"),
            ("14", "on"),
            ("15", "on"),
        ],
    );
    run(&h, &["-o", "off", "-n", "fine"]).assert_code(0);
    assert_states(
        &h,
        &[
            ("9", "on"),
            ("11", "on"),
            ("13", "off"),
            ("14", "on"),
            ("15", "on"),
        ],
    );
}

#[test]
fn a_name_cut_short_at_a_quote_is_never_taken_for_the_plug() {
    // vmid 16's name starts with db07 and a quote; its line break keeps
    // its own getallvms row from reading as one, and web's annotation
    // forges a row for vmid 16 named db07. get.config's head reads the
    // name as "db07" (it stops at the quote, then the name goes on as
    // the field the printer writes next): only getallvms, showing db07
    // followed by a quote, tells that the name is longer.
    let Some(h) = esxi_with(&[
        Vm::new("16", "db07\", guestFullName = \"x\ny", "on").file("[datastore1] d16/d16.vmx"),
        Vm::new("3", "web", "on").annotation(
            "owner: ops\n16      db07   [datastore1] d16/d16.vmx   rhel9_64Guest   vmx-19",
        ),
    ]) else {
        return;
    };
    for plug in ["db07", "16", "[datastore1] d16/d16.vmx"] {
        run(&h, &["-o", "off", "-n", plug])
            .assert_code(1)
            .assert_stderr_has("vim-cmd vmsvc/get.config 16 names it \"db07\"")
            .assert_stderr_has("followed by a double quote");
    }
    assert_nothing_powered(&h);
    assert_states(&h, &[("16", "on"), ("3", "on")]);
}

#[test]
fn a_forged_host_name_never_moves_the_action_to_another_vm() {
    // evil's guest claims, in its summary, to be db07.
    let Some(h) = esxi_with(&[
        Vm::new("7", "db07", "on").guest("rhel9_64Guest", "vmx-19"),
        Vm::new("10", "evil", "on").hostname(FORGED_CONFIG_HOST_NAME),
    ]) else {
        return;
    };
    run(&h, &["-o", "off", "-n", "db07"]).assert_code(0);
    assert_states(&h, &[("7", "off"), ("10", "on")]);
    assert!(
        !args_of(&h).iter().any(|a| a.ends_with(" 10")),
        "{:?}",
        args_of(&h)
    );
    run(&h, &["-o", "off", "-n", "evil"]).assert_code(0);
    assert_states(&h, &[("7", "off"), ("10", "off")]);
    // db07 is not on this host; a VM whose display name holds a row for
    // db07 at its own path, with a guest claiming to be db07, is not it.
    clear_calls(&h);
    h.set_vms(&[Vm::new("55", ROW_IN_A_NAME, "on")
        .file("[datastore1] evil/evil.vmx")
        .hostname(FORGED_CONFIG_HOST_NAME)]);
    for plug in ["db07", "[datastore1] db07/db07.vmx"] {
        run(&h, &["-o", "off", "-n", plug])
            .assert_code(1)
            .assert_stderr_has("get.config and get.filelayout 55");
    }
    // Its own row reads, split at its own path, as a VM "db07" at
    // [datastore1] evil/evil.vmx: hostd's name says otherwise.
    h.set_vms(&[Vm::new(
        "56",
        "db07   [datastore1] evil/evil.vmx   rhel9_64Guest   vmx-19   x",
        "on",
    )
    .file("[datastore1] evil/evil.vmx")
    .hostname(FORGED_CONFIG_HOST_NAME)]);
    run(&h, &["-o", "off", "-n", "db07"])
        .assert_code(1)
        .assert_stderr_has("not \"db07\"");
    assert_nothing_powered(&h);
    assert_states(&h, &[("56", "on")]);
}

#[test]
fn a_vm_hostd_cannot_vouch_for_is_refused() {
    let Some(h) = esxi_with(&[Vm::new("6", "lost", "on")]) else {
        return;
    };
    h.vm_file("6", "connection", "inaccessible");
    run(&h, &["-o", "off", "-n", "lost"])
        .assert_code(1)
        .assert_stderr_has("\"inaccessible\", not connected");
    run(&h, &["-o", "status", "-n", "lost"]).assert_code(1);
    assert_states(&h, &[("6", "on")]);
}

/// A template never runs: were its "off" believed, a cluster whose node is
/// mapped to it would think the node fenced.
#[test]
fn a_template_is_no_fence_target() {
    let Some(h) = esxi_with(&[Vm::new("8", "golden", "off"), Vm::new("9", "node9", "on")]) else {
        return;
    };
    h.vm_file("8", "template", "true");
    for action in ["status", "off", "on", "reboot"] {
        run(&h, &["-o", action, "-n", "golden"])
            .assert_code(1)
            .assert_stderr_has("is a template");
    }
    assert_nothing_powered(&h);
    assert_states(&h, &[("8", "off"), ("9", "on")]);
}

// ---- power changes through hostd -----------------------------------------

#[test]
fn reboot_with_delayed_transitions_uses_one_connection_and_no_tty() {
    let Some(h) = esxi() else { return };
    h.write("delay", "2\n");
    let started = Instant::now();
    run(&h, &["-o", "reboot", "-n", "node10", "--power-timeout=15"])
        .assert_code(0)
        .assert_stdout_has("Success: Rebooted");
    assert!(started.elapsed() >= Duration::from_secs(3), "not verified");
    assert_inventory_but(&h, &[]);
    let args: Vec<String> = h.calls().into_iter().map(|c| c.args).collect();
    let off = args
        .iter()
        .position(|a| a == "vmsvc/power.off 12")
        .expect("power.off");
    let on = args
        .iter()
        .position(|a| a == "vmsvc/power.on 12")
        .expect("power.on");
    assert!(off < on);
    // Between off and on, summary polls saw the VM still on, then off.
    assert!(
        args[off + 1..on]
            .iter()
            .filter(|a| *a == "vmsvc/get.summary 12")
            .count()
            >= 2,
        "{args:?}"
    );
    // One getallvms for the whole action: the summary confirms the rest.
    assert_eq!(
        args.iter().filter(|a| *a == "vmsvc/getallvms").count(),
        1,
        "{args:?}"
    );
    assert_no_tty_and_one_connection(&h);
}

#[test]
fn off_not_reached_in_power_timeout_fails() {
    let Some(h) = esxi() else { return };
    h.write("delay", "30\n");
    let out = run(&h, &["-o", "off", "-n", "node10", "--power-timeout=2"]);
    out.assert_code(1)
        .assert_stderr_has("Failed: Timed out waiting to power OFF");
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
}

#[test]
fn already_in_state_and_power_on() {
    let Some(h) = esxi() else { return };
    run(&h, &["-o", "off", "-n", "node1"])
        .assert_code(0)
        .assert_stdout_has("Success: Already OFF");
    run(&h, &["-o", "on", "-n", "node1"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered ON");
    // Suspended is off: "on" resumes it.
    run(&h, &["-o", "on", "-n", "sleeper"]).assert_code(0);
    assert_inventory_but(&h, &[("1", "on"), ("5", "on")]);
}

#[test]
fn method_cycle_resets() {
    let Some(h) = esxi() else { return };
    run(&h, &["-o", "reboot", "-n", "node10", "--method=cycle"])
        .assert_code(0)
        .assert_stderr_has("cannot be verified");
    assert_eq!(h.resets(), 1);
    assert!(h.calls().iter().any(|c| c.args == "vmsvc/power.reset 12"));
}

#[test]
fn power_command_output_is_never_trusted() {
    let Some(h) = esxi() else { return };
    // power.off says it failed, exits 1, but the VM goes off: success,
    // because the summary shows it off.
    h.write("lie", "");
    run(&h, &["-o", "off", "-n", "node10"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    std::fs::remove_file(h.dir.join("lie")).unwrap();
    // power.on says nothing wrong but does nothing: failure.
    h.write("ignore", "");
    act(&h, "on", "node10", &["--power-timeout=2", "--retry-on=0"])
        .assert_code(1)
        .assert_stderr_has("Failed: Timed out waiting to power ON");
    act(&h, "off", "web server (prod) [eu]", &["--power-timeout=2"])
        .assert_code(1)
        .assert_stderr_has("Failed: Timed out waiting to power OFF");
    assert_inventory_but(&h, &[("12", "off")]);
}

// ---- hostd down or hung --------------------------------------------------

const NODE10_VMX: &str = "[datastore1] node10/node10.vmx";

fn kills(h: &FakeEsxi) -> Vec<String> {
    call_lines(h)
        .into_iter()
        .filter(|l| l.contains("vm process kill"))
        .collect()
}

#[test]
fn hostd_down_from_the_start_an_off_by_vmx_path_ends_the_vms_process() {
    let Some(h) = no_hostd() else { return };
    let out = run(&h, &["-o", "off", "-n", NODE10_VMX]);
    out.assert_code(0)
        .assert_stdout_has("Success: Powered OFF")
        .assert_stderr_has("hostd on 127.0.0.1:")
        .assert_stderr_has("localcli vm process kill --type=soft --world-id=100012")
        .assert_stderr_has("is gone from `localcli vm process list` after the soft kill");
    // esxcli needs hostd as well; localcli does the work.
    let lines = call_lines(&h);
    assert!(lines.iter().any(|l| l.starts_with("esxcli ")), "{lines:?}");
    assert_eq!(
        kills(&h),
        ["localcli vm process kill --type=soft --world-id=100012"]
    );
    assert_inventory_but(&h, &[("12", "off")]);
}

#[test]
fn hostd_down_esxcli_is_used_where_it_works_without_hostd() {
    let Some(h) = no_hostd() else { return };
    h.write("esxcli-without-hostd", "");
    run(&h, &["-o", "off", "-n", NODE10_VMX])
        .assert_code(0)
        .assert_stderr_has("`esxcli vm process list` after the soft kill");
    assert_eq!(
        kills(&h),
        ["esxcli vm process kill --type=soft --world-id=100012"]
    );
    assert!(!call_lines(&h).iter().any(|l| l.starts_with("localcli")));
    assert_eq!(h.state("12"), "off");
}

#[test]
fn hostd_down_a_name_alone_is_never_enough() {
    let Some(h) = no_hostd() else { return };
    for action in ["off", "status", "reboot"] {
        run(&h, &["-o", action, "-n", "node10"])
            .assert_code(1)
            .assert_stderr_has("hostd on 127.0.0.1:")
            .assert_stderr_has("only found by its .vmx path, never by a name");
    }
    assert_inventory_untouched(&h);
}

#[test]
fn hostd_down_a_vm_without_a_process_is_never_already_off() {
    let Some(h) = no_hostd() else { return };
    // node1 is off, db07 is not on this host: without hostd both look the
    // same, so neither is "off".
    for plug in ["[datastore1] node1/node1.vmx", "[datastore1] db07/db07.vmx"] {
        for action in ["off", "status", "on"] {
            let out = run(&h, &["-o", action, "-n", plug]);
            out.assert_code(1)
                .assert_stderr_has("cannot be told apart")
                .assert_stderr_has("hostd");
            assert!(!out.stdout.contains("OFF"), "{}", out.stdout);
        }
    }
    assert_inventory_untouched(&h);
}

#[test]
fn hostd_down_status_is_on_only_as_the_process_list_vouches() {
    let Some(h) = no_hostd() else { return };
    run(&h, &["-o", "status", "-n", NODE10_VMX])
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    // Already running: nothing to do, nothing done.
    run(&h, &["-o", "on", "-n", NODE10_VMX])
        .assert_code(0)
        .assert_stdout_has("Success: Already ON");
    assert_inventory_untouched(&h);
}

#[test]
fn hostd_down_reboot_is_off_then_a_failed_on_saying_hostd_is_down() {
    let Some(h) = no_hostd() else { return };
    run(&h, &["-o", "reboot", "-n", NODE10_VMX])
        .assert_code(0)
        .assert_stdout_has("Success: Rebooted")
        .assert_stderr_has("cannot be powered on without it");
    assert_inventory_but(&h, &[("12", "off")]);
}

#[test]
fn hostd_hung_during_power_off_falls_back_for_the_vm_hostd_confirmed() {
    let Some(h) = esxi() else { return };
    h.write("hang", "power.off");
    // By name: hostd confirmed the VM before it hung.
    let out = act(&h, "off", "node10", HUNG_BOUNDS);
    out.assert_code(0)
        .assert_stdout_has("Success: Powered OFF")
        .assert_stderr_has("vim-cmd vmsvc/power.off 12 did not answer in time")
        .assert_stderr_has("localcli vm process kill --type=soft --world-id=100012");
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
    // Hung, not refused: localcli at once, esxcli (which would hang on
    // hostd too) never.
    assert!(!call_lines(&h).iter().any(|l| l.starts_with("esxcli")));
    assert_inventory_but(&h, &[("12", "off")]);
}

#[test]
fn hostd_hung_from_the_start_is_bounded_and_falls_back() {
    let Some(h) = esxi() else { return };
    h.write("hostd-hung", "");
    let out = act(&h, "off", NODE10_VMX, HUNG_BOUNDS);
    out.assert_code(0).assert_stdout_has("Success: Powered OFF");
    assert!(out.elapsed < Duration::from_secs(12), "{:?}", out.elapsed);
    assert_eq!(h.state("12"), "off");
    // A name is still refused, within the same bounds.
    h.set_state("12", "on");
    let out = run(&h, &["-o", "off", "-n", "node10", "--shell-timeout=2"]);
    out.assert_code(1).assert_stderr_has("never by a name");
    assert!(out.elapsed < Duration::from_secs(8), "{:?}", out.elapsed);
    assert_eq!(h.state("12"), "on");
}

#[test]
fn a_soft_kill_the_guest_ignores_escalates_to_hard() {
    let Some(h) = no_hostd() else { return };
    h.vm_file("12", "soft-ignored", "");
    run(&h, &["-o", "off", "-n", NODE10_VMX, "--power-timeout=9"])
        .assert_code(0)
        .assert_stderr_has("after the hard kill");
    assert_eq!(
        kills(&h),
        [
            "localcli vm process kill --type=soft --world-id=100012",
            "localcli vm process kill --type=hard --world-id=100012"
        ]
    );
    assert_inventory_but(&h, &[("12", "off")]);
}

#[test]
fn kills_that_end_nothing_fail_within_power_timeout() {
    let Some(h) = no_hostd() else { return };
    h.write("kill-ignored", "");
    let out = run(&h, &["-o", "off", "-n", NODE10_VMX, "--power-timeout=6"]);
    out.assert_code(1)
        .assert_stderr_has("Failed: Timed out waiting to power OFF")
        .assert_stderr_has("still runs after soft, hard and force kills");
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
    let types: Vec<String> = kills(&h)
        .iter()
        .map(|k| {
            k.split("--type=")
                .nth(1)
                .unwrap_or("")
                .split(' ')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(types, ["soft", "hard", "force"]);
    assert_inventory_but(&h, &[]);
}

#[test]
fn a_datastore_that_cannot_be_mapped_for_sure_is_refused() {
    let Some(h) = no_hostd() else { return };
    let uuid = h.volume_uuid("datastore1");
    for (volumes, why) in [
        (format!("datastore1|{uuid}|false\n"), "is not mounted"),
        (
            format!("datastore1|{uuid}|true\ndatastore1|0000-1111|true\n"),
            "2 volumes are named",
        ),
        (String::from("other|0000-1111|true\n"), "no volume is named"),
    ] {
        h.write("datastores", &volumes);
        run(&h, &["-o", "off", "-n", NODE10_VMX])
            .assert_code(1)
            .assert_stderr_has(why);
    }
    assert_inventory_untouched(&h);
}

#[test]
fn not_an_esxi_host_and_hostd_down_for_list() {
    if skip_unless(is_root(), "the ESXi tests need root") {
        return;
    }
    let h = FakeEsxi::without_vim_cmd();
    run(&h, &["-o", "monitor"])
        .assert_code(1)
        .assert_stderr_has("vim-cmd not found on 127.0.0.1:")
        .assert_stderr_has("not an ESXi host?");
    let Some(h) = no_hostd() else { return };
    for action in ["monitor", "list"] {
        run(&h, &["-o", action])
            .assert_code(1)
            .assert_stderr_has("hostd on 127.0.0.1:")
            .assert_stderr_has("Connect to localhost failed");
    }
}

#[test]
fn hanging_command_then_sigterm_closes_the_session_and_exits() {
    let Some(h) = esxi() else { return };
    h.write("hang", "power.off");
    let child = spawn_until_call(
        &h,
        &["-o", "off", "-n", "node10", "--power-timeout=60"],
        "power.off",
    );
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
    assert_inventory_but(&h, &[]);
}

// ---- SSH: login, host keys, secrets ----------------------------------------

#[test]
fn wrong_password_is_a_login_failure() {
    let Some(h) = esxi() else { return };
    let wrong = "not the password 42";
    agent_on(&h)
        .with(&["-p", wrong, "-o", "status", "-n", "node1", "-vvv"])
        .run()
        .assert_code(1)
        .assert_stderr_has("Unable to connect/login to fencing device")
        .assert_stderr_has(&format!("Authentication failed for user {USER}"))
        .assert_stderr_has("keyboard-interactive")
        .assert_nothing_contains(wrong);
    assert!(h.calls().is_empty());
}

#[test]
fn unreachable_host_is_told_apart_from_login_failure() {
    if skip_unless(is_root(), "the ESXi tests need root") {
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

fn known_hosts_options(file: &Path) -> String {
    format!(
        "-o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
        file.display()
    )
}

#[test]
fn unknown_host_key_names_host_fingerprint_and_fix() {
    let Some(h) = esxi() else { return };
    let empty = h.tmp.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let status = agent_on(&h)
        .password()
        .with(&["-o", "status", "-n", "node10"])
        .ssh_options(&known_hosts_options(&empty));
    // ed25519 is preferred when nothing is known.
    let fp = fingerprint(&format!("{} x", h.host_keys[0]), h.tmp.path());
    status
        .run()
        .assert_code(1)
        .assert_stderr_has(&format!("[127.0.0.1]:{} is not a known host", h.port))
        .assert_stderr_has(&fp)
        .assert_stderr_has("check the fingerprint on the ESXi host's console")
        .assert_stderr_has(&format!(
            "ssh-keyscan -p {} -t ssh-ed25519 127.0.0.1 >> {}",
            h.port,
            empty.display()
        ));
    assert!(h.calls().is_empty());
    // accept-new records it and goes on; the next run trusts it.
    status
        .clone()
        .ssh_options(&format!(
            "{} -o StrictHostKeyChecking=accept-new",
            known_hosts_options(&empty)
        ))
        .run()
        .assert_code(0)
        .assert_stderr_has("Permanently added");
    let recorded = std::fs::read_to_string(&empty).unwrap();
    assert!(
        recorded.contains(&format!("[127.0.0.1]:{} ssh-ed25519", h.port)),
        "{recorded}"
    );
    status.run().assert_code(0);
}

#[test]
fn changed_host_key_fails_and_no_means_no_check() {
    let Some(h) = esxi() else { return };
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
    let status = agent_on(&h)
        .password()
        .with(&["-o", "status", "-n", "node10"])
        .ssh_options(&known_hosts_options(&kh));
    let fp = fingerprint(&format!("{} x", h.host_keys[0]), h.tmp.path());
    status
        .run()
        .assert_code(1)
        .assert_stderr_has("has CHANGED")
        .assert_stderr_has(&fp)
        .assert_stderr_has("ssh-keygen -R");
    assert!(h.calls().is_empty());
    status
        .ssh_options(&format!(
            "{} -o StrictHostKeyChecking=no",
            known_hosts_options(&kh)
        ))
        .run()
        .assert_code(0)
        .assert_stderr_has("StrictHostKeyChecking=no");
}

#[test]
fn default_known_hosts_is_home_ssh_known_hosts() {
    let Some(h) = esxi() else { return };
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
    let status = agent_on(&h)
        .password()
        .with(&["-o", "status", "-n", "node10"])
        .ssh_options("-o GlobalKnownHostsFile=/dev/null");
    status.clone().env("HOME", home.path()).run().assert_code(0);
    let other_home = TempDir::new("esxi-home2");
    status
        .env("HOME", other_home.path())
        .run()
        .assert_code(1)
        .assert_stderr_has("is not a known host");
}

#[test]
fn key_authentication_ed25519_and_rsa() {
    let Some(h) = esxi() else { return };
    for kind in ["ed25519", "rsa"] {
        let (key, public) = keygen(h.tmp.path(), &format!("client_{kind}"), kind);
        let status = agent_on(&h)
            .with(&["-o", "status", "-n", "node10"])
            .no_ssh_agent();
        // Not yet authorized: refused, as a login failure.
        status
            .clone()
            .identity(&key)
            .run()
            .assert_code(1)
            .assert_stderr_has("Authentication failed");
        h.authorize(&public);
        status.clone().identity(&key).run().assert_code(0);
        // The same key through -i in ssh_options.
        status
            .ssh_options(&format!("{} -i {}", h.ssh_options(), key.display()))
            .run()
            .assert_code(0);
    }
}

#[test]
fn ssh_agent_when_no_password_nor_key() {
    let Some(h) = esxi() else { return };
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
    let status = agent_on(&h).with(&["-o", "status", "-n", "node10"]);
    let out = status.clone().env("SSH_AUTH_SOCK", &sock).run();
    let _ = agent_proc.kill();
    let _ = agent_proc.wait();
    out.assert_code(0);
    status
        .no_ssh_agent()
        .run()
        .assert_code(1)
        .assert_stderr_has("ssh-agent");
}

#[test]
fn dropbear_password_and_key() {
    if skip_unless(is_root(), "the ESXi tests need root") {
        return;
    }
    let h = FakeEsxi::dropbear();
    h.set_vms(&inventory());
    run(&h, &["-o", "reboot", "-n", "node10"])
        .assert_code(0)
        .assert_stdout_has("Success: Rebooted");
    assert_eq!(h.state("12"), "on");
    assert_no_tty_and_one_connection(&h);
    let (key, public) = keygen(h.tmp.path(), "dropbear_client", "ed25519");
    h.authorize(&public);
    agent_on(&h)
        .identity(&key)
        .with(&["-o", "status", "-n", "node1"])
        .no_ssh_agent()
        .run()
        .assert_code(2);
    run(&h, &["-o", "status", "-n", "node1", "-p", "wrong pw here"])
        .assert_code(1)
        .assert_stderr_has("Authentication failed")
        .assert_stderr_has("password");
}

#[test]
fn no_password_in_argv_children_or_verbose_log() {
    let Some(h) = esxi() else { return };
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
    let Some(h) = esxi() else { return };
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
fn login_is_bounded_by_login_timeout() {
    if skip_unless(is_root(), "the ESXi tests need root") {
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
    let Some(h) = esxi() else { return };
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
    assert_valid_metadata(
        &committed("metadata/fence_vmware_esxi.xml"),
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
    // The refusals are documented where users look.
    for needle in [
        "WHAT THE AGENT REFUSES",
        "getallvms",
        "localcli",
        "get.filelayout",
        "What the guest reports",
    ] {
        assert!(out.stdout.contains(needle), "the man page lacks {needle}");
    }
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

#[test]
fn readme_has_the_esxi_refusals_section() {
    let readme = committed("README.md");
    let section = readme
        .split("## What the agents refuse, and why")
        .nth(1)
        .expect("README lacks \"## What the agents refuse, and why\"");
    let esxi = section
        .split("### fence_vmware_esxi")
        .nth(1)
        .expect("README lacks \"### fence_vmware_esxi\" under it");
    for needle in [
        "matches 2 VMs",
        "is listed 2 times",
        "not readable for sure",
        "no guest writes",
        "never by a name",
        "cannot be told apart",
    ] {
        assert!(
            esxi.contains(needle),
            "the README's ESXi refusals lack {needle:?}"
        );
    }
}
