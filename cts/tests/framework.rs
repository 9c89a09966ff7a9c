//! The framework's rules (fencing.py's behaviour) where they need a real
//! agent process: argv and stdin as a program gets them, exit codes,
//! wall-clock deadlines, signals, syslog, the debug file, password_script
//! as a child process, the process's own protections. The agent is
//! `fence_cts_state`, whose device is a directory of state files scripted
//! by knob files, and which logs every device call to `calls.log` with a
//! millisecond timestamp. The rules of the actions (polling, retries,
//! multi-plug, reboot, method=cycle, list) are proven in-process by
//! agent-framework's own tests, against a scripted device.
//!
//! Each test has its own state directory, so they run in parallel.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cts::support::{assert_group_gone, assert_valid_metadata, bin, AgentRun, Outcome, TempDir};

// ---------------------------------------------------------------- helpers

/// A scripted device: a state directory.
struct Dev {
    dir: TempDir,
}

impl Dev {
    fn new(tag: &str) -> Dev {
        Dev {
            dir: TempDir::new(&format!("fw-{tag}")),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn ip(&self) -> String {
        self.path().display().to_string()
    }

    /// A plug in the given state ("on", "off", or anything else).
    fn plug(&self, name: &str, state: &str) -> &Self {
        std::fs::write(self.path().join(name), state).unwrap();
        self
    }

    fn knob(&self, plug: &str, suffix: &str, value: &str) -> &Self {
        std::fs::write(self.path().join(format!("{plug}.{suffix}")), value).unwrap();
        self
    }

    fn state(&self, plug: &str) -> String {
        std::fs::read_to_string(self.path().join(plug)).unwrap_or_default()
    }

    /// calls.log as (unix ms, call) pairs.
    fn calls(&self) -> Vec<(u128, String)> {
        std::fs::read_to_string(self.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (t, what) = l.split_once(' ').unwrap();
                (t.parse().unwrap(), what.to_string())
            })
            .collect()
    }

    /// Forget the calls so far (before a part that must not contact it).
    fn reset_calls(&self) {
        let _ = std::fs::remove_file(self.path().join("calls.log"));
    }

    fn call_names(&self) -> Vec<String> {
        self.calls().into_iter().map(|(_, c)| c).collect()
    }

    fn time_of(&self, call: &str) -> u128 {
        self.calls()
            .into_iter()
            .find(|(_, c)| c == call)
            .unwrap_or_else(|| panic!("no {call:?} in calls.log: {:?}", self.call_names()))
            .0
    }

    /// Run with these stdin lines, `ip=` first.
    fn stdin(&self, lines: &str) -> Outcome {
        self.stdin_run(lines, |r| r)
    }

    fn stdin_run(&self, lines: &str, f: impl FnOnce(AgentRun) -> AgentRun) -> Outcome {
        let text = format!("ip={}\n{lines}", self.ip());
        f(agent().stdin(text)).run()
    }

    fn argv(&self, args: &[&str]) -> Outcome {
        let mut v = vec!["-a".to_string(), self.ip()];
        v.extend(args.iter().map(|s| s.to_string()));
        agent().args(v).run()
    }
}

fn agent() -> AgentRun {
    AgentRun::new(bin("fence_cts_state")).limit(Duration::from_secs(25))
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// Nothing in the output looks like a Rust panic.
fn assert_no_panic(o: &Outcome) {
    for marker in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(
            !o.stderr.contains(marker) && !o.stdout.contains(marker),
            "{marker} in output\nstderr:\n{}",
            o.stderr
        );
    }
    assert_ne!(o.code, 101, "exit code 101 is Rust's panic\n{}", o.stderr);
}

/// The message of every stderr line at a level (format checked).
fn lines_at(o: &Outcome, level: &str) -> Vec<String> {
    o.stderr
        .lines()
        .filter_map(parse_log_line)
        .filter(|(lv, _)| lv == level)
        .map(|(_, m)| m)
        .collect()
}

/// `YYYY-mm-dd HH:MM:SS,mmm LEVEL: message` -> (LEVEL, message).
fn parse_log_line(line: &str) -> Option<(String, String)> {
    let b = line.as_bytes();
    if b.len() < 25 {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b','
        && digits(20..23)
        && b[23] == b' ';
    if !shape {
        return None;
    }
    let rest = &line[24..];
    let (level, msg) = rest.split_once(": ")?;
    if !["ERROR", "WARNING", "INFO", "DEBUG"].contains(&level) {
        return None;
    }
    Some((level.to_string(), msg.to_string()))
}

/// The first ERROR line: the interface message.
fn first_error(o: &Outcome) -> String {
    lines_at(o, "ERROR")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no ERROR line\nstderr:\n{}", o.stderr))
}

fn assert_no_device_contact(dev: &Dev) {
    assert!(
        !dev.call_names().iter().any(|c| c == "connect"),
        "the device was contacted: {:?}",
        dev.call_names()
    );
}

// ------------------------------------------------------------ stdin input

#[test]
fn stdin_comments_last_value_wins_unknown_keys_ignored() {
    let dev = Dev::new("stdin-basic");
    dev.plug("vm1", "off");
    let o = dev
        .stdin("# action=on\n#plug=vm2\nplug=vm1\naction=on\naction=status\nbogus_key=1\n\n   \n");
    o.assert_code(2).assert_stdout_has("Status: OFF");
    assert_eq!(o.stdout, "Status: OFF\n");
    // Unknown keys are not worth a warning by default...
    assert!(!o.stderr.contains("bogus_key"), "{}", o.stderr);
    assert_eq!(dev.call_names(), ["connect", "status vm1", "disconnect"]);
    // ... only at verbose.
    let o = dev.stdin("plug=vm1\naction=status\nbogus_key=1\nverbose=1\n");
    o.assert_code(2);
    assert!(
        lines_at(&o, "DEBUG")
            .iter()
            .any(|l| l.contains("Ignoring unknown option 'bogus_key'")),
        "{}",
        o.stderr
    );
}

#[test]
fn stdin_leading_blanks_ignored_value_kept_exactly() {
    let dev = Dev::new("stdin-exact");
    dev.plug("vm1", "off").plug("vm1 ", "on");
    // The trailing space is part of the value: plug "vm1 " is on.
    let o = dev.stdin("   \taction=status\n  plug=vm1 \n");
    o.assert_code(0).assert_stdout_has("Status: ON");
    assert!(dev.call_names().contains(&"status vm1 ".to_string()));
    // A CRLF line ending is not part of the value.
    let o = dev.stdin("action=status\r\nplug=vm1\r\n");
    o.assert_code(2).assert_stdout_has("Status: OFF");
    // One pair of double quotes around the whole value goes, as with
    // fence-agents; what is inside stays exactly.
    dev.stdin("action=status\nplug=\"vm1 \"\nipport=\"443\"\n")
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    dev.stdin("action=status\nplug=\"vm1\"\n")
        .assert_code(2)
        .assert_stdout_has("Status: OFF");
    // '=' in a value is kept (only the first one splits).
    dev.plug("a=b", "on");
    dev.stdin("action=status\nplug=a=b\n")
        .assert_code(0)
        .assert_stdout_has("Status: ON");
}

#[test]
fn stdin_legacy_names() {
    let dev = Dev::new("stdin-legacy");
    dev.plug("vm1", "on").plug("node2", "off");
    std::fs::write(dev.path().join("login.password"), "pw 1").unwrap();
    // option= (cman), ipaddr, login, passwd, port; agent= and name= are
    // part of the conversation, not options, and are not even "unknown".
    let text = format!(
        "agent=fence_cts_state\nname=fencedev1\noption=status\nipaddr={}\nlogin=admin\npasswd=pw 1\nport=vm1\nverbose=1\n",
        dev.ip()
    );
    let o = agent().stdin(text).run();
    o.assert_code(0).assert_stdout_has("Status: ON");
    assert!(!o.stderr.contains("Ignoring unknown"), "{}", o.stderr);
    // passwd_script is password_script.
    let text = format!(
        "option=status\nipaddr={}\npasswd_script=echo 'pw 1'\nport=vm1\n",
        dev.ip()
    );
    agent()
        .stdin(text)
        .run()
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    // nodename is the target when there is no plug or port ...
    let o = dev.stdin("action=status\nnodename=node2\npasswd=pw 1\n");
    o.assert_code(2).assert_stdout_has("Status: OFF");
    // ... and only then.
    let o = dev.stdin("action=status\nnodename=node2\nport=vm1\npasswd=pw 1\n");
    o.assert_code(0).assert_stdout_has("Status: ON");
    let o = dev.stdin("action=status\nplug=vm1\nnodename=node2\npasswd=pw 1\n");
    o.assert_code(0).assert_stdout_has("Status: ON");
}

// ------------------------------------------------------------- argv input

#[test]
fn argv_getopt_forms() {
    let dev = Dev::new("argv");
    dev.plug("vm1", "off");
    for args in [
        &["-o", "status", "-n", "vm1"][..],
        &["-ostatus", "-nvm1"],
        &["--action=status", "--plug=vm1"],
        &["--action", "status", "--plug", "vm1"],
        &["--action=STATUS", "--plug=vm1"],
        &["-o", "on", "--plug=vm1", "-o", "status"], // last one wins
        &["-o", "status", "--nodename", "vm1"],
        &["-o", "status", "-n", "vm1", "-l", "admin", "-p", "-pw-"],
    ] {
        let o = dev.argv(args);
        o.assert_code(2).assert_stdout_has("Status: OFF");
        assert_eq!(o.stderr, "", "{args:?}");
    }
    // --ipaddr is the Perl agents' spelling of --ip.
    agent()
        .args(["--ipaddr", &dev.ip(), "-o", "status", "-n", "vm1"])
        .run()
        .assert_code(2);
    // -vvv, -v -v -v and --verbose-level=3 all reach protocol traffic;
    // combined flags with a value at the end (-vvo status).
    for args in [
        &["-vvv", "-o", "status", "-n", "vm1"][..],
        &["-v", "-v", "-v", "-o", "status", "-n", "vm1"],
        &["--verbose-level=3", "-o", "status", "-n", "vm1"],
        &["-vvvostatus", "-n", "vm1"],
    ] {
        let o = dev.argv(args);
        o.assert_code(2);
        assert!(
            lines_at(&o, "DEBUG")
                .iter()
                .any(|l| l.starts_with("device traffic")),
            "{args:?}: {}",
            o.stderr
        );
    }
    let o = dev.argv(&["-v", "-o", "status", "-n", "vm1"]);
    assert!(lines_at(&o, "DEBUG").iter().any(|l| l == "Plug vm1 is OFF"));
    assert!(
        !o.stderr.contains("device traffic"),
        "-v is not protocol level: {}",
        o.stderr
    );
    // Words that are not options are warned about, not fatal.
    let o = dev.argv(&["-o", "status", "-n", "vm1", "stray"]);
    o.assert_code(2);
    assert_eq!(
        lines_at(&o, "WARNING"),
        ["Unused arguments on command line: stray"]
    );
    dev.reset_calls();
    // An unknown option is one line, exit 1, nothing contacted.
    let o = dev.argv(&["-o", "status", "-n", "vm1", "--bogus"]);
    o.assert_code(1);
    assert_eq!(
        first_error(&o),
        "Parse error: option --bogus not recognized"
    );
    // fence-agents (Python's getopt) words them the same.
    if Path::new("/usr/sbin/fence_vmware_soap").exists() {
        for (args, message) in [
            (
                &["-o", "status", "--bogus"][..],
                "Parse error: option --bogus not recognized",
            ),
            (
                &["-n", "vm1", "-o"],
                "Parse error: option -o requires argument",
            ),
            (
                &["-o", "status", "--ssl-insecure=1"],
                "Parse error: option --ssl-insecure must not have an argument",
            ),
        ] {
            let py = AgentRun::new("/usr/sbin/fence_vmware_soap")
                .args(args)
                .run();
            assert_eq!(py.code, 1);
            assert!(py.stderr.contains(message), "{args:?}: {}", py.stderr);
            let ours = dev.argv(args);
            ours.assert_code(1);
            assert_eq!(first_error(&ours), message, "{args:?}");
        }
    }
    let o = dev.argv(&["-n", "vm1", "-o"]);
    o.assert_code(1);
    assert!(first_error(&o).starts_with("Parse error: option"));
    assert_no_device_contact(&dev);
}

// --------------------------------------------------------------- booleans

#[test]
fn booleans_all_spellings_and_zero_means_off() {
    let dev = Dev::new("bool");
    dev.plug("vm1", "on");
    let cases = [
        ("1", true),
        ("yes", true),
        ("on", true),
        ("true", true),
        ("YES", true),
        ("True", true),
        ("oN", true),
        ("0", false),
        ("no", false),
        ("off", false),
        ("false", false),
        ("NO", false),
        ("False", false),
        ("OFF", false),
    ];
    for (value, on) in cases {
        let o = dev.stdin(&format!(
            "action=status\nplug=vm1\nverbose=1\nssl_insecure={value}\n"
        ));
        o.assert_code(0);
        let want = format!("ssl_insecure={on}");
        assert!(
            lines_at(&o, "DEBUG").contains(&want),
            "ssl_insecure={value}: wanted {want}\n{}",
            o.stderr
        );
    }
    // Absent is off; the argv flag is on.
    let o = dev.stdin("action=status\nplug=vm1\nverbose=1\n");
    assert!(lines_at(&o, "DEBUG").contains(&"ssl_insecure=false".to_string()));
    let o = dev.argv(&["-o", "status", "-n", "vm1", "-v", "--ssl-insecure"]);
    assert!(lines_at(&o, "DEBUG").contains(&"ssl_insecure=true".to_string()));
    // A value that is no boolean is refused before any contact.
    dev.reset_calls();
    let o = dev.stdin("action=status\nplug=vm1\nquiet=0\nverbose=0\nssl_insecure=maybe\n");
    o.assert_code(1);
    assert_eq!(
        first_error(&o),
        "Failed: ssl_insecure must be a boolean (1/yes/on/true or 0/no/off/false), got \"maybe\""
    );
    assert_no_device_contact(&dev);
}

// -------------------------------------------------------- password_script

#[test]
fn password_script_first_line_never_shown() {
    let dev = Dev::new("pwscript");
    dev.plug("vm1", "on");
    let secret = "S3cr3t pass";
    std::fs::write(dev.path().join("login.password"), secret).unwrap();
    // The script prints the password from a file (so that its own command
    // line does not hold it), then a second line that must not be used.
    let secret_file = TempDir::new("fw-pwscript-secret");
    let sf = secret_file.path().join("pw");
    std::fs::write(&sf, format!("{secret}\nsecond line\n")).unwrap();
    let record = dev.path().join("script-saw");
    let debug_file = dev.path().join("debug.txt");
    // The script records what it can see of us: its own command line and
    // environment, and the agent's command line.
    let script = format!(
        "tr '\\0' ' ' < /proc/$PPID/cmdline > {r}; tr '\\0' ' ' < /proc/$$/cmdline >> {r}; env >> {r}; cat {sf}",
        r = record.display(),
        sf = sf.display()
    );
    let o = dev.stdin(&format!(
        "action=status\nplug=vm1\nverbose_level=3\npassword_script={script}\ndebug_file={}\n",
        debug_file.display()
    ));
    o.assert_code(0).assert_stdout_has("Status: ON");
    o.assert_nothing_contains(secret);
    // The agent logged its "login request": masked, on stderr and in the file.
    assert!(
        o.stderr.contains("device traffic: login password=****"),
        "{}",
        o.stderr
    );
    let saw = std::fs::read_to_string(&record).unwrap();
    assert!(!saw.contains(secret), "{saw}");
    let file = std::fs::read_to_string(&debug_file).unwrap();
    assert!(file.contains("login password=****"), "{file}");
    assert!(!file.contains(secret), "{file}");
    // Through argv too (-S), and a password from stdin at -vvv.
    let o = dev.argv(&[
        "-o",
        "status",
        "-n",
        "vm1",
        "-vvv",
        "-S",
        &format!("cat {}", sf.display()),
    ]);
    o.assert_code(0);
    o.assert_nothing_contains(secret);
    let o = dev.stdin(&format!(
        "action=status\nplug=vm1\nverbose=3\npassword={secret}\n"
    ));
    o.assert_code(0);
    o.assert_nothing_contains(secret);
    // A failing script fails the action before the device is contacted.
    let dev2 = Dev::new("pwscript-fail");
    dev2.plug("vm1", "on");
    let o = dev2.stdin("action=status\nplug=vm1\npassword_script=exit 3\n");
    o.assert_code(1);
    assert!(
        first_error(&o).starts_with("Failed: password_script exited"),
        "{}",
        o.stderr
    );
    assert_no_device_contact(&dev2);
}

/// password_script runs bounded in its own process group: a child it
/// leaves behind holding stdout does not hold the agent and does not
/// survive it; a script that never exits is stopped with everything it
/// started; a flood is cut; bytes that are not UTF-8 are refused.
#[test]
fn password_script_is_bounded_and_leaves_nothing_running() {
    let dev = Dev::new("pwscript-bounded");
    dev.plug("vm1", "on");
    std::fs::write(dev.path().join("login.password"), "pw").unwrap();
    let pid_file = dev.path().join("script-pid");
    let group = || -> i32 {
        std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let o = dev.stdin(&format!(
        "action=status\nplug=vm1\npassword_script=echo $$ > {}; sleep 40 & echo pw\n",
        pid_file.display()
    ));
    o.assert_code(0).assert_stdout_has("Status: ON");
    assert!(o.elapsed < Duration::from_secs(3), "{:?}", o.elapsed);
    assert_group_gone(group());

    // Never exits: stopped at its bound (shell_timeout, at least 10 s).
    let o = dev.stdin(&format!(
        "action=status\nplug=vm1\npassword_script=echo $$ > {}; sleep 60 & sleep 60\n",
        pid_file.display()
    ));
    o.assert_code(1);
    assert_eq!(
        first_error(&o),
        "Failed: password_script did not finish within 10 seconds"
    );
    assert!(
        o.elapsed >= Duration::from_secs(10) && o.elapsed < Duration::from_secs(13),
        "{:?}",
        o.elapsed
    );
    assert_group_gone(group());

    let o = dev.stdin("action=status\nplug=vm1\npassword_script=yes pw\n");
    o.assert_code(1);
    assert_eq!(
        first_error(&o),
        "Failed: password_script printed more than 65536 bytes and was stopped"
    );
    let o = dev.stdin("action=status\nplug=vm1\npassword_script=printf 'p\\377w\\n'\n");
    o.assert_code(1);
    assert_eq!(
        first_error(&o),
        "Failed: password_script printed a password that is not valid UTF-8"
    );
    // What the script says on stderr is logged, in the log's own shape.
    let o = dev.stdin("action=status\nplug=vm1\npassword_script=echo vault is down >&2; exit 4\n");
    o.assert_code(1);
    assert_eq!(lines_at(&o, "WARNING"), ["password_script: vault is down"]);
    assert_eq!(
        first_error(&o),
        "Failed: password_script exited with status 4"
    );
    assert_eq!(
        dev.call_names().iter().filter(|c| *c == "connect").count(),
        1,
        "only the run with a password reached the device"
    );
}

/// The password is in the agent's memory: no other process of the same
/// user may read it (ptrace, /proc/<pid>/mem) and no core file may hold
/// it. The test agent reports what the kernel says about itself.
#[test]
fn the_process_is_not_dumpable_and_writes_no_core() {
    let dev = Dev::new("dumpable");
    dev.plug("vm1", "on");
    let o = dev.stdin("action=status\nplug=vm1\nverbose=1\n");
    o.assert_code(0);
    let debug = lines_at(&o, "DEBUG");
    assert!(
        debug.contains(&"process dumpable=0".to_string()),
        "{}",
        o.stderr
    );
    assert!(
        debug.contains(&"process Max core file size 0 0 bytes".to_string()),
        "{}",
        o.stderr
    );
}

/// A device that echoes the password back puts it in the -vvv output and
/// the debug file in its own encoding: the test agent logs it XML-escaped
/// (a SOAP fault), URL-encoded and JSON-escaped. None of those forms, nor
/// the raw one, may reach stderr or the debug file.
#[test]
fn an_echoed_password_is_masked_in_every_encoding() {
    let dev = Dev::new("echo-encodings");
    dev.plug("vm1", "on");
    let password = "p&ss <w>\"rd\" it's/é\\";
    let forms = [
        password,
        "p&amp;ss &lt;w&gt;&quot;rd&quot; it&apos;s/&#233;\\",
        "p%26ss+%3Cw%3E%22rd%22+it%27s%2F%C3%A9%5C",
        "p&ss <w>\\\"rd\\\" it's\\/\\u00e9\\\\",
    ];
    let debug_file = dev.path().join("debug.log");
    let o = dev.stdin(&format!(
        "action=status\nplug=vm1\nverbose=3\npassword={password}\ndebug_file={}\n",
        debug_file.display()
    ));
    o.assert_code(0);
    let file = std::fs::read_to_string(&debug_file).unwrap();
    for form in forms {
        o.assert_nothing_contains(form);
        assert!(!file.contains(form), "{form:?} in the debug file:\n{file}");
    }
    for (what, line) in [
        (
            "SOAP fault",
            "device traffic: <faultstring>InvalidLogin: ****</faultstring>",
        ),
        ("URL", "device traffic: GET /session?password=****"),
        ("JSON", "device traffic: {\"password\":\"****\"}"),
    ] {
        assert!(
            lines_at(&o, "DEBUG").contains(&line.to_string()),
            "{what}: {}",
            o.stderr
        );
        assert!(file.contains(line), "{what}: {file}");
    }
}

// ------------------------------------------------------------- validation

#[test]
fn validation_errors_name_the_option_one_line_exit_1() {
    let dev = Dev::new("validate");
    dev.plug("vm1", "on");
    let cases = [
        (
            "power_timeout=abc",
            "Failed: power_timeout must be a number of seconds, got \"abc\"",
        ),
        (
            "power-timeout=1.5",
            "Failed: power_timeout must be a number of seconds, got \"1.5\"",
        ),
        (
            "delay=-1",
            "Failed: delay must be a number of seconds, got \"-1\"",
        ),
        (
            "ipport=0",
            "Failed: ipport must be an integer from 1 to 65535, got \"0\"",
        ),
        (
            "ipport=65536",
            "Failed: ipport must be an integer from 1 to 65535, got \"65536\"",
        ),
        (
            "ipport=https",
            "Failed: ipport must be an integer from 1 to 65535, got \"https\"",
        ),
        (
            "method=bogus",
            "Failed: method must be one of onoff, cycle, got \"bogus\"",
        ),
        (
            "retry_on=many",
            "Failed: retry_on must be an integer of at least 0, got \"many\"",
        ),
    ];
    for (line, want) in cases {
        for action in ["status", "validate-all"] {
            let o = dev.stdin(&format!("action={action}\nplug=vm1\n{line}\n"));
            o.assert_code(1);
            assert_no_panic(&o);
            let errors = lines_at(&o, "ERROR");
            assert_eq!(errors[0], want, "{line}");
            assert_eq!(
                errors.iter().filter(|l| l.starts_with("Failed")).count(),
                1,
                "one failure line for {line}: {errors:?}"
            );
            assert_eq!(o.stdout, "");
        }
    }
    // The bounds themselves are valid; choices are case-insensitive.
    for line in ["ipport=1", "ipport=65535", "method=CYCLE", "method=onoff"] {
        dev.stdin(&format!("action=validate-all\n{line}\n"))
            .assert_code(0);
    }
    // argv names the same option the same way.
    let o = dev.argv(&["-o", "status", "-n", "vm1", "--power-timeout=abc"]);
    o.assert_code(1);
    assert_eq!(
        first_error(&o),
        "Failed: power_timeout must be a number of seconds, got \"abc\""
    );
    // Missing required options, with fence-agents' wording.
    let o = agent().stdin("action=status\nplug=vm1\n").run();
    o.assert_code(1);
    assert_eq!(first_error(&o), "Failed: You have to enter fence address");
    let o = dev.stdin("action=off\n");
    o.assert_code(1);
    assert_eq!(
        first_error(&o),
        "Failed: You have to enter plug number or machine identification"
    );
    assert_no_device_contact(&dev);
}

#[test]
fn garbage_input_never_panics() {
    let dev = Dev::new("garbage");
    dev.plug("vm1", "on");
    let mut garbage: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    garbage.extend_from_slice(b"\n\xff\xfe=\x00\x01\n=\n==\n\x00\n");
    let huge_key = vec![b'k'; 5 * 1024 * 1024];
    let mut huge_action = b"action=".to_vec();
    huge_action.extend(vec![b'x'; 5 * 1024 * 1024]);
    huge_action.push(b'\n');
    let mut huge_plug = format!("ip={}\naction=status\nplug=", dev.ip()).into_bytes();
    huge_plug.extend(vec![b'p'; 5 * 1024 * 1024]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("binary", garbage),
        (
            "invalid utf-8 in a value",
            b"action=status\nip=\xff\xfe\n".to_vec(),
        ),
        ("5 MB key", huge_key),
        ("5 MB action", huge_action),
        ("5 MB plug", huge_plug),
        ("only newlines", vec![b'\n'; 10_000]),
        ("NUL in a value", b"action=sta\x00tus\n".to_vec()),
    ];
    for (what, bytes) in cases {
        let o = agent().stdin(bytes).run();
        assert_no_panic(&o);
        assert_eq!(o.code, 1, "{what}: exit code\n{}", o.stderr);
        assert!(
            o.stderr.len() < 16 * 1024,
            "{what}: {} bytes of stderr",
            o.stderr.len()
        );
        assert!(
            first_error(&o).starts_with("Failed"),
            "{what}: {}",
            o.stderr
        );
    }
    // Invalid UTF-8 and huge words on argv.
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"\xff\xfe").to_os_string();
    let huge = "y".repeat(100_000);
    for args in [
        vec!["-o".into(), "status".into(), "-n".into(), bad.clone()],
        vec![bad.clone()],
        vec!["-o".into(), huge.clone().into()],
        vec![format!("--{huge}").into()],
    ] {
        let o = agent().args(&args).run();
        assert_no_panic(&o);
        assert_eq!(o.code, 1, "{args:?}\n{}", o.stderr);
        assert!(
            o.stderr.len() < 16 * 1024,
            "{} bytes of stderr",
            o.stderr.len()
        );
    }
}

#[test]
fn validate_all_never_contacts_the_device() {
    let dev = Dev::new("validate-all");
    dev.plug("vm1", "on");
    std::fs::write(dev.path().join("login.fail"), "").unwrap();
    let marker = dev.path().join("script-ran");
    let o = dev.stdin(&format!(
        "action=validate-all\nplug=vm1\npassword_script=touch {}; echo pw\n",
        marker.display()
    ));
    o.assert_code(0);
    assert_eq!(o.stdout, "");
    assert!(!marker.exists(), "validate-all ran password_script");
    dev.argv(&["-o", "validate-all"]).assert_code(0);
    // Invalid options: exit 1, still nothing contacted.
    let o = dev.stdin("action=validate-all\nshell_timeout=soon\n");
    o.assert_code(1);
    assert_eq!(
        first_error(&o),
        "Failed: shell_timeout must be a number of seconds, got \"soon\""
    );
    agent()
        .stdin("action=validate-all\n")
        .run()
        .assert_code(1)
        .assert_stderr_has("Failed: You have to enter fence address");
    assert_no_device_contact(&dev);
    assert!(dev.calls().is_empty(), "{:?}", dev.call_names());
}

#[test]
fn unknown_action_is_one_line_exit_1() {
    let dev = Dev::new("unknown-action");
    dev.plug("vm1", "on");
    let o = dev.argv(&["-o", "frobnicate", "-n", "vm1"]);
    o.assert_code(1);
    assert_eq!(first_error(&o), "Failed: Unrecognised action 'frobnicate'");
    // Before any other check: no address needed to be told.
    let o = agent().stdin("action=frobnicate\n").run();
    o.assert_code(1);
    assert_eq!(first_error(&o), "Failed: Unrecognised action 'frobnicate'");
    // The same words as fence-agents.
    if Path::new("/usr/sbin/fence_vmware_soap").exists() {
        let py = AgentRun::new("/usr/sbin/fence_vmware_soap")
            .args(["-o", "frobnicate"])
            .run();
        assert!(py
            .stderr
            .contains("ERROR: Failed: Unrecognised action 'frobnicate'"));
        assert_eq!(py.code, o.code);
    }
    assert_no_device_contact(&dev);
}

// ---------------------------------------------------------------- actions

#[test]
fn on_off_status_messages_and_exit_codes() {
    let dev = Dev::new("actions");
    dev.plug("vm1", "on");
    let o = dev.stdin("action=status\nplug=vm1\n");
    o.assert_code(0);
    assert_eq!(o.stdout, "Status: ON\n");
    let o = dev.stdin("action=on\nplug=vm1\n");
    o.assert_code(0);
    assert_eq!(o.stdout, "Success: Already ON\n");
    let o = dev.stdin("action=off\nplug=vm1\n");
    o.assert_code(0);
    assert_eq!(o.stdout, "Success: Powered OFF\n");
    assert_eq!(dev.state("vm1"), "off");
    let o = dev.stdin("action=status\nplug=vm1\n");
    o.assert_code(2);
    assert_eq!(o.stdout, "Status: OFF\n");
    let o = dev.stdin("action=off\nplug=vm1\n");
    o.assert_code(0);
    assert_eq!(o.stdout, "Success: Already OFF\n");
    let o = dev.stdin("action=on\nplug=vm1\n");
    o.assert_code(0);
    assert_eq!(o.stdout, "Success: Powered ON\n");
    assert_eq!(dev.state("vm1"), "on");
    // fabric names
    dev.stdin("action=disable\nplug=vm1\n")
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    dev.stdin("action=enable\nplug=vm1\n")
        .assert_code(0)
        .assert_stdout_has("Success: Powered ON");
    // No errors on stderr for any of that.
    assert!(lines_at(&o, "ERROR").is_empty(), "{}", o.stderr);
    // An unknown plug: fence-agents' EC_STATUS message, disconnect after.
    let o = dev.stdin("action=off\nplug=nosuch\n");
    o.assert_code(1);
    assert_eq!(
        first_error(&o),
        "Failed: Unable to obtain correct plug status or plug is not available"
    );
    assert_eq!(dev.call_names().last().unwrap(), "disconnect");
    // A refused login.
    std::fs::write(dev.path().join("login.fail"), "").unwrap();
    let o = dev.stdin("action=status\nplug=vm1\n");
    o.assert_code(1);
    assert_eq!(first_error(&o), "Unable to connect/login to fencing device");
}

#[test]
fn metadata_manpage_help_version() {
    let m1 = agent().args(["-o", "metadata"]).run();
    m1.assert_code(0);
    let m2 = agent().stdin("action=meta-data\n").run();
    m2.assert_code(0);
    assert_eq!(m1.stdout, m2.stdout);
    assert_eq!(m1.stderr, "");
    let xml = &m1.stdout;
    assert!(xml.starts_with("<?xml"), "{xml}");
    // Deprecated names declared, with obsoletes on the canonical entry.
    for (new, old) in [
        ("ip", "ipaddr"),
        ("username", "login"),
        ("password", "passwd"),
        ("password_script", "passwd_script"),
        ("plug", "port"),
    ] {
        assert!(
            xml.contains(&format!("<parameter name=\"{new}\" unique=\"0\" required=")),
            "{new}"
        );
        let canonical = xml
            .lines()
            .find(|l| l.contains(&format!("<parameter name=\"{new}\" ")))
            .unwrap();
        assert!(
            canonical.contains(&format!("obsoletes=\"{old}\"")),
            "{canonical}"
        );
        let deprecated = xml
            .lines()
            .find(|l| l.contains(&format!("<parameter name=\"{old}\" ")))
            .unwrap_or_else(|| panic!("no {old} entry"));
        assert!(deprecated.contains("deprecated=\"1\""), "{deprecated}");
    }
    // Actions: on first and not automatic, list and list-status offered.
    let actions: Vec<&str> = xml
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("<action "))
        .collect();
    assert_eq!(actions[0], "<action name=\"on\" automatic=\"0\"/>");
    for a in [
        "off",
        "reboot",
        "status",
        "list",
        "list-status",
        "monitor",
        "metadata",
        "validate-all",
    ] {
        assert!(
            actions.contains(&format!("<action name=\"{a}\"/>").as_str()),
            "{a}: {actions:?}"
        );
    }
    // Valid against fence-agents' schema.
    assert_valid_metadata(xml, "fence_cts_state -o metadata");
    // man page, --help, --version
    let man = agent().args(["-o", "manpage"]).run();
    man.assert_code(0);
    assert!(
        man.stdout.starts_with(".TH FENCE_CTS_STATE 8"),
        "{}",
        man.stdout
    );
    for flag in ["--help", "-h"] {
        let h = agent().args([flag]).run();
        h.assert_code(0);
        for opt in [
            "-a, --ip=[ip]",
            "-n, --plug=[id]",
            "-o, --action=[action]",
            "-S, --password-script=[script]",
            "--power-timeout=[seconds]",
            "--ssl-insecure",
            "-m, --method=[method]",
        ] {
            assert!(h.stdout.contains(opt), "{flag} lacks {opt}:\n{}", h.stdout);
        }
    }
    let v = agent().args(["--version"]).run();
    v.assert_code(0);
    assert_eq!(v.stdout, format!("{}\n", env!("CARGO_PKG_VERSION")));
    agent()
        .args(["-V"])
        .run()
        .assert_code(0)
        .assert_stdout_has(env!("CARGO_PKG_VERSION"));
}

/// Metadata compared with fence-agents' own for the options both have:
/// same names, same getopt forms, same types, same deprecated pairs and
/// the same action list, so pcs and Pacemaker see the same interface.
#[test]
fn metadata_matches_fence_agents_shapes() {
    let py_bin = "/usr/sbin/fence_vmware_soap";
    if !Path::new(py_bin).exists() {
        eprintln!("SKIPPED: {py_bin} is not installed");
        return;
    }
    let py = AgentRun::new(py_bin).args(["-o", "metadata"]).run();
    let ours = agent().args(["-o", "metadata"]).run();
    let params = |xml: &str| -> Vec<(String, String)> {
        // (name, "getopt|type|deprecated|obsoletes|required")
        let mut v = Vec::new();
        let mut cur: Option<(String, String)> = None;
        for l in xml.lines().map(str::trim) {
            if l.starts_with("<parameter ") {
                let name = attr(l, "name").unwrap();
                let extra = format!(
                    "dep={:?} obs={:?} req={:?}",
                    attr(l, "deprecated"),
                    attr(l, "obsoletes"),
                    attr(l, "required")
                );
                cur = Some((name, extra));
            } else if l.starts_with("<getopt ") {
                if let Some(c) = cur.as_mut() {
                    c.1.push_str(&format!(" getopt={:?}", attr(l, "mixed")));
                }
            } else if l.starts_with("<content ") {
                if let Some(c) = cur.as_mut() {
                    c.1.push_str(&format!(" type={:?}", attr(l, "type")));
                }
            } else if l.starts_with("</parameter>") {
                v.extend(cur.take());
            }
        }
        v
    };
    let py_params = params(&py.stdout);
    let our_params = params(&ours.stdout);
    let mut compared = 0;
    for (name, shape) in &our_params {
        if let Some((_, py_shape)) = py_params.iter().find(|(n, _)| n == name) {
            compared += 1;
            // The test agent makes username optional on purpose (its
            // device has no login); everything else must be identical.
            let (shape, py_shape) = if name == "username" || name == "login" {
                let no_req = |s: &str| {
                    s.replace("req=Some(\"0\")", "")
                        .replace("req=Some(\"1\")", "")
                };
                (no_req(shape), no_req(py_shape))
            } else {
                (shape.clone(), py_shape.clone())
            };
            assert_eq!(shape, py_shape, "parameter {name}");
        }
    }
    assert!(compared >= 20, "only {compared} parameters in common");
    let actions = |xml: &str| -> Vec<String> {
        xml.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("<action "))
            .map(|l| attr(l, "name").unwrap())
            .collect()
    };
    assert_eq!(actions(&ours.stdout), actions(&py.stdout));
}

fn attr(line: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = line.find(&key)? + key.len();
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_string())
}

// --------------------------------------------------- timing and deadlines

#[test]
fn stuck_device_times_out_after_power_timeout_wall_clock() {
    let dev = Dev::new("stuck");
    dev.plug("vm1", "on").knob("vm1", "stuck", "");
    let o = dev.stdin("action=off\nplug=vm1\npower_timeout=3\nstonith_status_sleep=1\n");
    o.assert_code(1);
    assert_eq!(first_error(&o), "Failed: Timed out waiting to power OFF");
    assert_eq!(o.stdout, "");
    assert!(
        o.elapsed >= Duration::from_secs(3) && o.elapsed < Duration::from_secs(5),
        "{:?}",
        o.elapsed
    );
    // The session is closed after the failure.
    assert_eq!(dev.call_names().last().unwrap(), "disconnect");
    assert_eq!(dev.state("vm1"), "on");
}

/// A device that never answers the logout cannot turn a verified fence
/// into a failure or a hang: the result stands, the process leaves after
/// the logout bound (5 s at least, shell_timeout at most 60 s).
#[test]
fn hanging_logout_keeps_the_verified_result() {
    let dev = Dev::new("logout-hang");
    dev.plug("vm1", "on");
    std::fs::write(dev.path().join("logout.hang"), "").unwrap();
    let o = dev.stdin("action=off\nplug=vm1\nshell_timeout=1\n");
    o.assert_code(0).assert_stdout_has("Success: Powered OFF");
    o.assert_stderr_has("Closing the session did not finish within 5 s");
    assert!(
        o.elapsed >= Duration::from_secs(5) && o.elapsed < Duration::from_secs(9),
        "{:?}",
        o.elapsed
    );
    assert_eq!(dev.state("vm1"), "off");
    // A failure stays a failure, with its exit code.
    dev.plug("vm2", "on").knob("vm2", "stuck", "");
    let o = dev.stdin("action=off\nplug=vm2\npower_timeout=1\nshell_timeout=1\n");
    o.assert_code(1)
        .assert_stderr_has("Failed: Timed out waiting to power OFF");
}

#[test]
fn delay_comes_before_any_connection_for_off_and_reboot_only() {
    for action in ["off", "reboot"] {
        let dev = Dev::new("delay");
        dev.plug("vm1", "on");
        let start = now_ms();
        let o = dev.stdin(&format!("action={action}\nplug=vm1\ndelay=2\nverbose=1\n"));
        o.assert_code(0);
        let connect = dev.time_of("connect");
        assert!(
            connect >= start + 2000,
            "{action}: connected {} ms after start",
            connect - start
        );
        assert_eq!(dev.call_names()[0], "connect");
        assert!(o.elapsed < Duration::from_secs(4), "{:?}", o.elapsed);
        assert!(
            lines_at(&o, "INFO").iter().any(|l| l.starts_with("Delay ")
                && l.ends_with("second(s) before logging in to the fence device")),
            "{}",
            o.stderr
        );
    }
    for action in ["status", "on", "list", "monitor"] {
        let dev = Dev::new("nodelay");
        dev.plug("vm1", "off");
        let o = dev.stdin(&format!("action={action}\nplug=vm1\ndelay=2\n"));
        assert!(o.code == 0 || o.code == 2, "{action}: {}", o.stderr);
        assert!(
            o.elapsed < Duration::from_millis(1500),
            "{action} was delayed: {:?}",
            o.elapsed
        );
    }
}

#[test]
fn disable_timeout_default_under_pacemaker_and_still_bounded() {
    // Under pacemaker-fenced, disable_timeout defaults to true:
    // power_timeout=1 no longer cuts off a device that needs 2 s.
    let dev = Dev::new("disable-timeout");
    dev.plug("vm1", "on").knob("vm1", "lag", "2");
    let o = dev.stdin_run("action=off\nplug=vm1\npower_timeout=1\nverbose=1\n", |r| {
        r.env("PCMK_service", "pacemaker-fenced")
    });
    o.assert_code(0).assert_stdout_has("Success: Powered OFF");
    // ... but the waits are still bounded, and the log says by what.
    assert!(
        lines_at(&o, "DEBUG").contains(
            &"disable_timeout: waits bounded by 60 s (login), 60 s (command) and 300 s (power)"
                .to_string()
        ),
        "{}",
        o.stderr
    );
    // disable_timeout=false under Pacemaker keeps power_timeout.
    let dev = Dev::new("disable-timeout-off");
    dev.plug("vm1", "on").knob("vm1", "lag", "3");
    let o = dev.stdin_run(
        "action=off\nplug=vm1\npower_timeout=1\ndisable_timeout=false\n",
        |r| r.env("PCMK_service", "pacemaker-fenced"),
    );
    o.assert_code(1);
    assert_eq!(first_error(&o), "Failed: Timed out waiting to power OFF");
    // Outside Pacemaker the default is off ...
    let dev = Dev::new("disable-timeout-none");
    dev.plug("vm1", "on").knob("vm1", "lag", "3");
    dev.stdin("action=off\nplug=vm1\npower_timeout=1\n")
        .assert_code(1);
    // ... and disable_timeout=true turns it on.
    let dev = Dev::new("disable-timeout-true");
    dev.plug("vm1", "on").knob("vm1", "lag", "2");
    dev.stdin("action=off\nplug=vm1\npower_timeout=1\ndisable_timeout=true\n")
        .assert_code(0);
}

#[test]
fn a_read_that_answers_at_its_deadline_fails_the_action() {
    let dev = Dev::new("deadline");
    dev.plug("vm1", "on").knob("vm1", "hang", "deadline");
    let o = dev.stdin("action=status\nplug=vm1\nshell_timeout=1\n");
    o.assert_code(1);
    assert_eq!(first_error(&o), "Connection timed out");
    assert!(o.elapsed < Duration::from_secs(3), "{:?}", o.elapsed);
    assert_eq!(dev.call_names().last().unwrap(), "disconnect");
}

/// Start the agent on `input`, wait until `ready` holds, send `signal`;
/// returns the exit code, stderr and the time from signal to exit.
fn interrupt(
    dev: &Dev,
    input: &str,
    ready: impl Fn(&Dev) -> bool,
    signal: &str,
) -> (Option<i32>, String, Duration) {
    let mut child = Command::new(bin("fence_cts_state"))
        .env_remove("PCMK_service")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        write!(stdin, "ip={}\n{input}", dev.ip()).unwrap();
    }
    let started = Instant::now();
    while !ready(dev) {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("never got ready: {:?}", dev.call_names());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let signalled = Instant::now();
    let ok = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if signalled.elapsed() > Duration::from_secs(8) {
            let _ = child.kill();
            panic!("still running 8 s after {signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = signalled.elapsed();
    let out = child.wait_with_output().unwrap();
    (
        code,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        took,
    )
}

#[test]
fn sigterm_during_a_hanging_action_cleans_up_and_exits_1() {
    let dev = Dev::new("sigterm");
    dev.plug("vm1", "on").knob("vm1", "hang", "forever");
    let (code, stderr, took) = interrupt(
        &dev,
        "action=off\nplug=vm1\n",
        |d| d.call_names().contains(&"status vm1".to_string()),
        "-TERM",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(
        dev.call_names().last().map(String::as_str),
        Some("cleanup"),
        "{:?}",
        dev.call_names()
    );
    assert!(stderr.contains("interrupted by signal SIGTERM"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for line in stderr.lines() {
        assert!(parse_log_line(line).is_some(), "bad log line {line:?}");
    }
}

#[test]
fn sigint_and_sigterm_during_the_delay_exit_1_before_connecting() {
    for signal in ["-INT", "-TERM"] {
        let dev = Dev::new("sigdelay");
        dev.plug("vm1", "on");
        let marker = dev.path().join("script-ran");
        let (code, stderr, took) = interrupt(
            &dev,
            &format!(
                "action=reboot\nplug=vm1\ndelay=20\npassword_script=touch {}; echo pw\n",
                marker.display()
            ),
            |_| marker.exists(),
            signal,
        );
        assert_eq!(code, Some(1), "{signal}: {stderr}");
        assert!(took < Duration::from_secs(2), "{signal}: {took:?}");
        assert!(dev.calls().is_empty(), "{:?}", dev.call_names());
        assert!(stderr.contains("interrupted by signal SIG"), "{stderr}");
    }
}

/// An agent stopped while its password_script runs takes the script's
/// whole process group with it.
#[test]
fn sigterm_during_password_script_stops_the_script_too() {
    let dev = Dev::new("sigterm-script");
    dev.plug("vm1", "on");
    let pid_file = dev.path().join("script-pid");
    let (code, stderr, took) = interrupt(
        &dev,
        &format!(
            "action=status\nplug=vm1\npassword_script=echo $$ > {}; sleep 60 & sleep 60\n",
            pid_file.display()
        ),
        |_| pid_file.exists(),
        "-TERM",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let group: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_group_gone(group);
    assert!(dev.calls().is_empty(), "{:?}", dev.call_names());
}

// ---------------------------------------------------------------- logging

#[test]
fn logging_format_levels_quiet_and_debug_file() {
    let dev = Dev::new("logging");
    dev.plug("vm1", "off");
    // Every stderr line has fence-agents' shape.
    let o = dev.stdin("action=on\nplug=vm1\nverbose=1\n");
    o.assert_code(0);
    assert!(!o.stderr.is_empty());
    for line in o.stderr.lines() {
        assert!(parse_log_line(line).is_some(), "bad log line {line:?}");
    }
    assert!(lines_at(&o, "INFO").contains(&"Powering ON plug vm1".to_string()));
    // Without verbose: no INFO or DEBUG.
    let o = dev.stdin("action=off\nplug=vm1\n");
    o.assert_code(0);
    assert_eq!(o.stderr, "");
    // verbose_level wins over verbose; 0 silences debug.
    let o = dev.stdin("action=status\nplug=vm1\nverbose=1\nverbose_level=0\n");
    assert!(lines_at(&o, "DEBUG").is_empty(), "{}", o.stderr);
    let o = dev.stdin("action=status\nplug=vm1\nverbose_level=3\n");
    assert!(o.stderr.contains("device traffic"), "{}", o.stderr);
    // quiet silences stderr, even a failure's message ...
    let o = dev.stdin("action=status\nplug=nosuch\nquiet=1\nverbose=1\n");
    o.assert_code(1);
    assert_eq!(o.stderr, "");
    let o = dev.argv(&["-q", "-o", "bogus"]);
    o.assert_code(1);
    assert_eq!(o.stderr, "");
    // ... but not the debug file, which gets debug lines without verbose.
    let file = dev.path().join("debug.log");
    let o = dev.stdin(&format!(
        "action=status\nplug=vm1\nquiet=1\ndebug_file={}\n",
        file.display()
    ));
    o.assert_code(2);
    assert_eq!(o.stderr, "");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("DEBUG: Plug vm1 is OFF"), "{text}");
    for line in text.lines() {
        assert!(parse_log_line(line).is_some(), "bad log line {line:?}");
    }
    // An unwritable debug file is a one-line failure.
    let o = dev.stdin("action=status\nplug=vm1\ndebug_file=/nonexistent/dir/x.log\n");
    o.assert_code(1);
    assert!(o
        .stderr
        .contains("Failed: Unable to create file /nonexistent/dir/x.log"));
}

/// debug_file is created 0600, a symbolic link there is refused (agents
/// run as root: a planted link would make root append to any file), and
/// an existing file keeps its mode but is warned about when others can
/// read it.
#[test]
fn debug_file_is_private_and_never_follows_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let dev = Dev::new("debug-file");
    dev.plug("vm1", "on");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let new = dev.path().join("new.log");
    dev.stdin(&format!(
        "action=status\nplug=vm1\ndebug_file={}\n",
        new.display()
    ))
    .assert_code(0);
    assert_eq!(mode(&new), 0o600);

    // A link, dangling or not: refused in one line, nothing written.
    let target = dev.path().join("target");
    std::fs::write(&target, "keep\n").unwrap();
    let link = dev.path().join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let dangling = dev.path().join("dangling.log");
    std::os::unix::fs::symlink(dev.path().join("nothing-here"), &dangling).unwrap();
    dev.reset_calls();
    for l in [&link, &dangling] {
        let o = dev.stdin(&format!(
            "action=off\nplug=vm1\ndebug_file={}\n",
            l.display()
        ));
        o.assert_code(1);
        assert_eq!(
            lines_at(&o, "ERROR"),
            [format!(
                "Failed: Unable to create file {}: it is a symbolic link, which debug_file never follows",
                l.display()
            )]
        );
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
    assert!(!dev.path().join("nothing-here").exists());
    assert_no_device_contact(&dev);

    // A FIFO would block every line: refused at once.
    let fifo = dev.path().join("fifo.log");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let o = dev.stdin(&format!(
        "action=status\nplug=vm1\ndebug_file={}\n",
        fifo.display()
    ));
    o.assert_code(1);
    assert_eq!(
        first_error(&o),
        format!(
            "Failed: Unable to create file {}: it is not a regular file",
            fifo.display()
        )
    );

    // An existing readable file: appended to, mode kept, a warning.
    let shared = dev.path().join("shared.log");
    std::fs::write(&shared, "earlier line\n").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = dev.stdin(&format!(
        "action=status\nplug=vm1\ndebug_file={}\n",
        shared.display()
    ));
    o.assert_code(0);
    assert_eq!(
        lines_at(&o, "WARNING"),
        [format!(
            "debug_file {}: other users may read or write it (mode 0644); it holds this agent's debug log",
            shared.display()
        )]
    );
    assert_eq!(mode(&shared), 0o644);
    let text = std::fs::read_to_string(&shared).unwrap();
    assert!(text.starts_with("earlier line\n"), "{text}");
    assert!(text.contains("DEBUG: Plug vm1 is ON"), "{text}");
    // A private existing file: no warning.
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = dev.stdin(&format!(
        "action=status\nplug=vm1\ndebug_file={}\n",
        shared.display()
    ));
    o.assert_code(0);
    assert_eq!(o.stderr, "");
}

#[test]
fn state_dir_paths_are_ours() {
    // Sanity for the harness itself: knob files are not plugs.
    let dev = Dev::new("harness");
    dev.plug("vm1", "on")
        .knob("vm1", "lag", "1")
        .knob("vm1", "stuck", "");
    std::fs::write(dev.path().join("login.password"), "x").unwrap();
    let o = dev.stdin("action=list\npassword=x\n");
    o.assert_code(0);
    assert_eq!(o.stdout, "vm1,vm1\n");
    let _unused: PathBuf = dev.path().to_path_buf();
}

#[test]
fn extreme_numbers_are_accepted_without_overflow() {
    let dev = Dev::new("extreme");
    dev.plug("vm1", "off").knob("vm1", "fail_on_n", "1");
    let max = u64::MAX.to_string();
    // Timeouts at the top of their range: no overflow adding them up.
    for line in [
        format!("action=list\nshell_timeout={max}\npower_timeout={max}"),
        format!("action=monitor\nshell_timeout={max}\npower_timeout=1"),
        format!("action=status\nplug=vm1\nlogin_timeout={max}\nshell_timeout={max}"),
    ] {
        let o = dev.stdin(&format!("{line}\n"));
        assert_no_panic(&o);
        assert!(o.code == 0 || o.code == 2, "{line}: {}", o.stderr);
    }
    // retry_on at the top of u32 and beyond: many attempts, not a crash
    // or a silent fall back to the default.
    for n in ["4294967295", "4294967296", "9223372036854775807"] {
        dev.plug("vm1", "off");
        let _ = std::fs::remove_file(dev.path().join("vm1.failures"));
        let o = dev.stdin(&format!(
            "action=on\nplug=vm1\nretry_on={n}\npower_timeout={max}\n"
        ));
        assert_no_panic(&o);
        o.assert_code(0).assert_stdout_has("Success: Powered ON");
    }
    // On a lagging device a huge power_timeout is just a long deadline.
    dev.knob("vm1", "lag", "1");
    let o = dev.stdin(&format!("action=off\nplug=vm1\npower_timeout={max}\n"));
    assert_no_panic(&o);
    o.assert_code(0).assert_stdout_has("Success: Powered OFF");
}

/// fence-agents reads power_timeout=0 as "no limit" (it is how
/// disable_timeout works there); here it waits up to the disable_timeout
/// ceiling instead of giving up after one poll.
#[test]
fn power_timeout_zero_means_no_limit_of_its_own() {
    let dev = Dev::new("power-timeout-0");
    dev.plug("vm1", "on").knob("vm1", "lag", "2");
    let o = dev.stdin("action=off\nplug=vm1\npower_timeout=0\n");
    o.assert_code(0).assert_stdout_has("Success: Powered OFF");
    assert!(o.elapsed >= Duration::from_secs(2), "{:?}", o.elapsed);
}

/// Errors reach syslog, as fence-agents sends them: ident = the agent's
/// name with its pid, facility daemon, and the password masked there too.
/// The test is the syslog daemon itself: it binds /dev/log (when no syslog
/// daemon owns it) and reads the datagrams the agent sends.
#[test]
fn errors_reach_syslog_as_daemon_facility_with_secrets_masked() {
    use std::os::unix::net::UnixDatagram;
    let path = Path::new("/dev/log");
    if path.exists() {
        eprintln!("NOTE: /dev/log belongs to a running syslog daemon; syslog not intercepted here");
        return;
    }
    if !cts::support::is_root() {
        eprintln!("NOTE: binding /dev/log needs root; syslog not intercepted here");
        return;
    }
    let sock = UnixDatagram::bind(path).expect("bind /dev/log");
    struct Unlink<'a>(&'a Path);
    impl Drop for Unlink<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _unlink = Unlink(path);
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();

    let dev = Dev::new("syslog");
    dev.plug("vm1", "on");
    let secret = "Sys10g-secret-pw";
    let o = dev.stdin(&format!(
        "action=off\nplug=vm1\npassword={secret}\npower_timeout=syslog-marker-abc\n"
    ));
    o.assert_code(1);
    // A stuck plug: a device failure, logged with its cause line.
    dev.plug("vm2", "on").knob("vm2", "stuck", "");
    let o2 = dev.stdin(&format!(
        "action=off\nplug=vm2\npassword={secret}\npower_timeout=1\nverbose=3\n"
    ));
    o2.assert_code(1);

    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = sock.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let ours: Vec<&String> = got
        .iter()
        .filter(|m| m.contains("fence_cts_state["))
        .collect();
    let validation = ours
        .iter()
        .find(|m| m.contains("syslog-marker-abc"))
        .unwrap_or_else(|| panic!("no validation error in syslog: {got:#?}"));
    // <27> = facility daemon (3) * 8 + severity err (3).
    assert!(validation.starts_with("<27>"), "{validation}");
    assert!(validation.contains("Failed: power_timeout must be a number of seconds"));
    assert!(
        ours.iter()
            .any(|m| m.starts_with("<27>") && m.contains("Failed: Timed out waiting to power OFF")),
        "{ours:#?}"
    );
    for m in &got {
        assert!(!m.contains(secret), "password in syslog: {m}");
    }
}
