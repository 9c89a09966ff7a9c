//! The fault matrix: every wait bounded, no crash, no "Success" under a
//! broken network or a broken peer.
//!
//! Each case runs an agent against a real peer (VMware's simulator, or
//! OpenSSH's sshd as a fake ESXi host) with short timeouts, the fault
//! made by the peer itself where it can make it (cts/vcsim/faults.go's
//! knobs, the fake vim-cmd's control files, sshd's host key rotation) and
//! by cts/src/fault_proxy.rs where only a network can (refusal, SYNs
//! swallowed, silence, trickles, stalls, resets, name servers). Each case
//! asserts: exit 1, within the timeouts that apply plus 2 s (and, for a
//! timeout, not before the timeout: the option bounded the wait, nothing
//! else ended it), fence-agents' first line then the cause, no
//! "Success", every VM's state read back unchanged or as reported, and
//! every session closed (the simulator's /sessions counters; sshd's
//! children) whenever the peer is still reachable.
//!
//! With CTS_FAULT_REPORT=FILE, each case appends its row (fault, agent,
//! action, expected, observed exit code, time, first lines and what the
//! peer reads back) to FILE: cts/RELIABILITY.md's tables come from such a
//! run.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use cts::esxi_host::{FakeEsxi, Vm, PASSWORD as ESXI_PASSWORD, USER as ESXI_USER};
use cts::fault_proxy::{
    refusing_port, run_with_dns, run_with_hosts, Action, BlackHole, Dns, Fault, FaultProxy, Trigger,
};
use cts::support::{bin, is_root, skip_unless, AgentRun, Outcome};
use cts::vcsim::{self, Options, Sessions, Vcsim, VmState, PASSWORD, USER};

const LOGIN: Duration = Duration::from_secs(3);
const SHELL: Duration = Duration::from_secs(2);
const POWER: Duration = Duration::from_secs(5);
/// What the issue allows beyond the configured timeouts.
const SLACK: Duration = Duration::from_secs(2);
/// A timeout must not end much before its option says.
const EARLY: Duration = Duration::from_millis(500);

fn timeouts() -> Vec<String> {
    vec![
        format!("--login-timeout={}", LOGIN.as_secs()),
        format!("--shell-timeout={}", SHELL.as_secs()),
        format!("--power-timeout={}", POWER.as_secs()),
    ]
}

/// How long a case may take: the timeouts of every stage the agent goes
/// through until the fault, plus SLACK.
fn budget(stages: &[Duration]) -> Duration {
    stages.iter().sum::<Duration>() + SLACK
}

// ---------------------------------------------------------------------------
// What every case checks, and the report.

/// What a case must show.
#[derive(Clone)]
struct Expect {
    /// The first error line, fence-agents' wording (a prefix of it for
    /// "Failed: ..." lines, whose rest is the cause).
    first: &'static str,
    /// Text the error lines must contain (the cause).
    cause: &'static str,
    /// The latest the agent may end.
    within: Duration,
    /// For a timeout: the wait the option allowed, which must have been
    /// used (less EARLY).
    waited: Option<Duration>,
}

impl Expect {
    /// A failure before there is a session, with nothing to wait for.
    fn at_login(first: &'static str, cause: &'static str) -> Expect {
        Expect {
            first,
            cause,
            within: budget(&[LOGIN]),
            waited: None,
        }
    }

    /// login_timeout running out.
    fn login_timeout(cause: &'static str) -> Expect {
        Expect {
            first: "Connection timed out",
            cause,
            within: budget(&[LOGIN]),
            waited: Some(LOGIN),
        }
    }

    fn describe(&self) -> String {
        let first = if self.first.ends_with(": ") {
            format!("{}…", self.first)
        } else {
            self.first.to_string()
        };
        let cause = if self.cause.is_empty() {
            String::new()
        } else {
            format!(" + \"{}\"", self.cause)
        };
        format!(
            "exit 1 in ≤ {} s{}: {first}{cause}",
            self.within.as_secs(),
            self.waited
                .map(|w| format!(", ≥ {:.1} s", (w - EARLY).as_secs_f32()))
                .unwrap_or_default(),
        )
    }
}

/// The error lines of stderr, without the time and level prefix.
fn error_lines(out: &Outcome) -> Vec<String> {
    out.stderr
        .lines()
        .filter_map(|l| l.split_once(" ERROR: ").map(|(_, m)| m.to_string()))
        .collect()
}

static REPORT: Mutex<()> = Mutex::new(());

/// The matrix measures waits against timeouts with 2 s to spare; twenty
/// agents at once would eat into that on a small machine. The matrix's
/// tests share this lock, the concurrency tests take it alone.
static LOAD: RwLock<()> = RwLock::new(());

fn matrix_share() -> RwLockReadGuard<'static, ()> {
    LOAD.read().unwrap_or_else(|p| p.into_inner())
}

fn load_alone() -> RwLockWriteGuard<'static, ()> {
    LOAD.write().unwrap_or_else(|p| p.into_inner())
}

/// A case's row: what was expected, and what was observed (exit code,
/// time, first error lines, what the peer says afterwards).
fn report(
    (fault, agent, action): (&str, &str, &str),
    expect: &Expect,
    out: &Outcome,
    read_back: &str,
) {
    let lines = error_lines(out);
    let shown: Vec<String> = lines
        .iter()
        .take(2)
        .map(|l| {
            let l = l.replace('|', "\\|");
            if l.chars().count() > 220 {
                format!("{}…", l.chars().take(220).collect::<String>())
            } else {
                l
            }
        })
        .collect();
    append_to_report(&format!(
        "| {fault} | {agent} | {action} | {} | {} | {:.2} s | {} | {read_back} |",
        expect.describe(),
        out.code,
        out.elapsed.as_secs_f32(),
        shown.join(" / ")
    ));
}

/// One line more in CTS_FAULT_REPORT's file, if one is named.
fn append_to_report(line: &str) {
    let Ok(path) = std::env::var("CTS_FAULT_REPORT") else {
        return;
    };
    let _g = REPORT.lock().unwrap_or_else(|p| p.into_inner());
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("report file");
    writeln!(f, "{line}").expect("write report");
}

/// The checks every case shares; `what` names the case in failures.
fn check(fault: &str, agent: &str, action: &str, expect: &Expect, out: &Outcome) {
    let what = format!("{fault} / {agent} / {action}");
    let show = format!("\nstdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    assert_eq!(out.code, 1, "{what}: exit code{show}");
    assert!(
        !out.stdout.contains("Success") && !out.stderr.contains("Success"),
        "{what}: said Success{show}"
    );
    assert!(
        out.elapsed <= expect.within,
        "{what}: took {:?}, over {:?}{show}",
        out.elapsed,
        expect.within
    );
    if let Some(w) = expect.waited {
        assert!(
            out.elapsed + EARLY >= w,
            "{what}: gave up after {:?}, before the {w:?} the options allow{show}",
            out.elapsed
        );
    }
    let lines = error_lines(out);
    assert!(
        lines.first().is_some_and(|l| l.starts_with(expect.first)),
        "{what}: first error line is not {:?}{show}",
        expect.first
    );
    assert!(
        lines.iter().any(|l| l.contains(expect.cause)),
        "{what}: no error line says {:?}{show}",
        expect.cause
    );
    assert!(
        !out.stderr.contains("panicked") && !out.stderr.contains("RUST_BACKTRACE"),
        "{what}: a panic{show}"
    );
}

/// Runs `run` on every case, at most `width` at a time (they wait on
/// peers and timeouts far more than they compute); every failure is
/// reported, each named by `label`.
fn parallel<C: Send>(width: usize, cases: Vec<C>, label: fn(&C) -> String, run: fn(C)) {
    let queue = Mutex::new(cases.into_iter());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..width {
            s.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some(case) = next else { return };
                let name = label(&case);
                if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(case)))
                {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("{name}: {msg}"));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------
// fence_vmware against the simulator.

fn simulator_available() -> bool {
    !skip_unless(
        vcsim::available(),
        "the vSphere simulator needs Go and golang-github-vmware-govmomi-dev",
    )
}

/// The agent's outcome, once sure the name server in the namespace was
/// asked (a timeout or a refusal for any other reason proves nothing).
fn asked_the_name_server(fault: &str, (out, queries): (Outcome, usize)) -> Outcome {
    assert!(queries >= 1, "{fault}: no query reached the name server");
    out
}

fn namespaces_available() -> bool {
    !skip_unless(
        is_root(),
        "name-server and /etc/hosts faults need root (unshare)",
    )
}

/// How the agent reaches the simulator.
enum Route {
    /// Straight to it, trusting its CA.
    Direct,
    /// Straight to it, without its CA: the certificate is not trusted.
    Untrusted,
    /// HTTPS to a simulator that speaks plain HTTP.
    TlsToPlain,
    /// Through a fault proxy (HTTPS, or plain HTTP when the simulator is).
    Proxy(Fault),
    /// To a port where nothing listens.
    Refused,
    /// To an address that swallows SYNs.
    BlackHole,
    /// By a name the name server in a namespace of the test's own says
    /// nothing of.
    Dns(Dns),
    /// By a name /etc/hosts maps to the simulator's address, which its
    /// certificate does not name.
    NameNotInCertificate,
}

/// What a case leaves of the VM it acts on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    /// Every VM as before.
    Unchanged,
    /// The VM powered off (the command reached vCenter; the agent did not
    /// see it done and said so), every other VM as before.
    Off,
    /// The VM destroyed (by the fault), every other VM as before.
    Gone,
}

/// Sessions the case must end with: `logins` and `logouts` exactly,
/// none active.
#[derive(Clone, Copy)]
struct SessionsAfter {
    logins: u64,
    logouts: u64,
}

const NO_LOGIN: SessionsAfter = SessionsAfter {
    logins: 0,
    logouts: 0,
};
const LOGGED_OUT: SessionsAfter = SessionsAfter {
    logins: 1,
    logouts: 1,
};

/// What a case asks of the simulator before the agent runs, given the
/// plug's managed object id.
type Knob = fn(&Vcsim, &str);

struct VcCase {
    fault: &'static str,
    action: &'static str,
    plain_http: bool,
    route: Route,
    arm: Knob,
    expect: Expect,
    after: After,
    sessions: SessionsAfter,
}

fn no_knob(_: &Vcsim, _: &str) {}

/// The plug every vCenter case acts on: powered on, unique name.
const PLUG: &str = "node10";

fn fence_vmware_args(host: &str, port: u16, action: &str) -> Vec<String> {
    let mut a = vec![
        "-a".to_string(),
        host.to_string(),
        "-u".into(),
        port.to_string(),
        "-l".into(),
        USER.into(),
        "-p".into(),
        PASSWORD.into(),
        "-o".into(),
        action.into(),
        "-n".into(),
        PLUG.into(),
    ];
    a.extend(timeouts());
    a
}

fn run_vc_case(c: VcCase) {
    let sim = Vcsim::start_with(Options {
        plain_http: c.plain_http,
        ..Options::default()
    });
    let vm = sim.vm(PLUG, None).moref.clone();
    let before = sim.all_states();
    (c.arm)(&sim, &vm);
    let tls = if c.plain_http {
        "--notls".to_string()
    } else {
        format!("--cacert={}", sim.ca().display())
    };
    let limit = c.expect.within + Duration::from_secs(10);
    let program = bin("fence_vmware");
    let direct = |host: &str, port: u16, more: &[String]| {
        AgentRun::new(&program)
            .args(fence_vmware_args(host, port, c.action))
            .args(more)
            .limit(limit)
            .run()
    };
    let sim_addr: SocketAddr = ([127, 0, 0, 1], sim.port).into();
    let out = match c.route {
        Route::Direct => direct("127.0.0.1", sim.port, &[tls]),
        Route::Untrusted => direct("127.0.0.1", sim.port, &[]),
        Route::TlsToPlain => direct("127.0.0.1", sim.port, &[]),
        Route::Proxy(fault) => {
            let keyed_to_a_reply = matches!(
                fault,
                Fault::Server {
                    trigger: Trigger::Reply { .. },
                    ..
                }
            );
            let proxy = FaultProxy::start(sim_addr, fault);
            let out = direct("127.0.0.1", proxy.port, &[tls]);
            // The fault happened: the agent came through the proxy, and
            // met the fault keyed to a reply.
            assert!(proxy.accepted() >= 1, "{}: never connected", c.fault);
            assert!(
                !keyed_to_a_reply || proxy.reply_fault_done(),
                "{}: the request the fault waits for never came\n{}",
                c.fault,
                out.stderr
            );
            out
        }
        Route::Refused => direct("127.0.0.1", refusing_port(), &[tls]),
        Route::BlackHole => {
            let Some(hole) = BlackHole::on("127.0.0.1", 0) else {
                eprintln!("{}: this kernel never drops SYNs: skipped", c.fault);
                return;
            };
            direct("127.0.0.1", hole.addr.port(), &[tls])
        }
        Route::Dns(_) | Route::NameNotInCertificate if !namespaces_available() => return,
        Route::Dns(dns) => {
            let mut args = fence_vmware_args("vcenter.example.test", sim.port, c.action);
            args.push(tls);
            asked_the_name_server(c.fault, run_with_dns(&program, &args, dns, limit))
        }
        Route::NameNotInCertificate => {
            let mut args = fence_vmware_args("vcenter.example.test", sim.port, c.action);
            args.push(tls);
            run_with_hosts(&program, &args, "127.0.0.1 vcenter.example.test\n", limit)
        }
    };
    let after = sim.all_states();
    let changed: Vec<(&VmState, Option<&VmState>)> = before
        .iter()
        .map(|b| (b, after.iter().find(|a| a.moref == b.moref)))
        .filter(|(b, a)| Some(*b) != *a)
        .collect();
    let s = sim.sessions();
    let vms = match changed.as_slice() {
        [] => "VMs unchanged".to_string(),
        [(b, None)] => format!("{} deleted", b.name),
        [(b, Some(a))] if b.power != a.power => format!("{} {} → {}", b.name, b.power, a.power),
        _ => format!("{} VMs changed", changed.len()),
    };
    report(
        (c.fault, "fence_vmware", c.action),
        &c.expect,
        &out,
        &format!("{vms}; sessions {}/{}/{}", s.logins, s.logouts, s.active),
    );
    check(c.fault, "fence_vmware", c.action, &c.expect, &out);
    let what = format!("{} / {}", c.fault, c.action);
    match c.after {
        After::Unchanged => assert!(changed.is_empty(), "{what}: VMs changed: {changed:?}"),
        After::Off => {
            assert_eq!(changed.len(), 1, "{what}: {changed:?}");
            assert_eq!(changed[0].0.moref, vm, "{what}: {changed:?}");
            assert_eq!(changed[0].1.map(|s| s.power.as_str()), Some("poweredOff"));
        }
        After::Gone => {
            assert_eq!(changed.len(), 1, "{what}: {changed:?}");
            assert_eq!(changed[0].0.moref, vm, "{what}: {changed:?}");
            assert!(changed[0].1.is_none(), "{what}: the VM is still there");
        }
    }
    let want = Sessions {
        logins: c.sessions.logins,
        logouts: c.sessions.logouts,
        active: 0,
    };
    assert_eq!(s, want, "{what}: sessions\n{}", out.stderr);
}

/// A reply keyed to the first request naming `marker`, after `keep` bytes.
fn reply_fault(marker: &str, keep: usize, action: Action) -> Route {
    Route::Proxy(Fault::Server {
        trigger: Trigger::Reply {
            marker: marker.into(),
            keep,
        },
        action,
    })
}

fn vc_network_cases() -> Vec<VcCase> {
    let at_login = Expect::at_login;
    let login_timeout = Expect::login_timeout;
    let call_timeout = |cause| Expect {
        first: "Connection timed out",
        cause,
        within: budget(&[LOGIN, SHELL]),
        waited: Some(SHELL),
    };
    let case = |fault, route, expect, sessions| VcCase {
        fault,
        action: "status",
        plain_http: false,
        route,
        arm: no_knob,
        expect,
        after: After::Unchanged,
        sessions,
    };
    let plain = |fault, action, route, expect, after| VcCase {
        fault,
        action,
        plain_http: true,
        route,
        arm: no_knob,
        expect,
        after,
        sessions: LOGGED_OUT,
    };
    vec![
        case(
            "connection refused",
            Route::Refused,
            at_login("Unable to connect/login to fencing device", "refused"),
            NO_LOGIN,
        ),
        case(
            "SYNs swallowed (connect)",
            Route::BlackHole,
            login_timeout("connecting"),
            NO_LOGIN,
        ),
        case(
            "unresolvable name (NXDOMAIN)",
            Route::Dns(Dns::NoSuchName),
            at_login(
                "Unable to connect/login to fencing device",
                "cannot resolve vcenter.example.test",
            ),
            NO_LOGIN,
        ),
        case(
            "silent DNS server",
            Route::Dns(Dns::Silent),
            login_timeout("resolving the host name"),
            NO_LOGIN,
        ),
        case(
            "TLS: certificate not trusted",
            Route::Untrusted,
            at_login("Unable to connect/login to fencing device", "TLS"),
            NO_LOGIN,
        ),
        VcCase {
            plain_http: true,
            ..case(
                "TLS: the server speaks plain HTTP",
                Route::TlsToPlain,
                at_login("Unable to connect/login to fencing device", "TLS"),
                NO_LOGIN,
            )
        },
        case(
            "certificate for another host",
            Route::NameNotInCertificate,
            at_login("Unable to connect/login to fencing device", "not valid for"),
            NO_LOGIN,
        ),
        case(
            "accepted, never answered",
            Route::Proxy(Fault::Silent),
            login_timeout("doing the TLS handshake"),
            NO_LOGIN,
        ),
        case(
            "trickled TLS handshake (1 byte/s)",
            Route::Proxy(Fault::Server {
                trigger: Trigger::Start,
                action: Action::Trickle,
            }),
            login_timeout("doing the TLS handshake"),
            NO_LOGIN,
        ),
        plain(
            "trickled reply (1 byte/s)",
            "status",
            reply_fault("RetrievePropertiesEx", 0, Action::Trickle),
            call_timeout("reading the status line"),
            After::Unchanged,
        ),
        plain(
            "trickled reply headers (1 byte/s)",
            "status",
            reply_fault("RetrievePropertiesEx", 20, Action::Trickle),
            call_timeout("reading the response headers"),
            After::Unchanged,
        ),
        plain(
            "trickled reply body (1 byte/s)",
            "status",
            reply_fault("RetrievePropertiesEx", 300, Action::Trickle),
            call_timeout("reading the response body"),
            After::Unchanged,
        ),
        plain(
            "stall in mid-reply",
            "status",
            reply_fault("RetrievePropertiesEx", 300, Action::Stall),
            call_timeout("reading the response body"),
            After::Unchanged,
        ),
        plain(
            "reset in mid-reply",
            "status",
            reply_fault("RetrievePropertiesEx", 300, Action::Reset),
            Expect {
                first: "Connection lost",
                cause: "reset",
                within: budget(&[LOGIN, SHELL]),
                waited: None,
            },
            After::Unchanged,
        ),
        plain(
            "truncated reply (FIN in mid-body)",
            "status",
            reply_fault("RetrievePropertiesEx", 300, Action::Close),
            Expect {
                first: "Connection lost",
                cause: "the connection closed while reading the response body",
                within: budget(&[LOGIN, SHELL]),
                waited: None,
            },
            After::Unchanged,
        ),
        plain(
            "stall in mid-reply to PowerOffVM_Task",
            "off",
            reply_fault("PowerOffVM_Task", 300, Action::Stall),
            Expect {
                first: "Connection timed out",
                cause: "reading the response body",
                within: budget(&[LOGIN, SHELL, POWER]),
                waited: Some(POWER),
            },
            After::Off,
        ),
        plain(
            "reset in mid-reply to PowerOffVM_Task",
            "reboot",
            reply_fault("PowerOffVM_Task", 300, Action::Reset),
            Expect {
                first: "Connection lost",
                cause: "reset",
                within: budget(&[LOGIN, SHELL, POWER]),
                waited: None,
            },
            After::Off,
        ),
    ]
}

fn vc_server_cases() -> Vec<VcCase> {
    let case = |fault, action, arm, expect, after, sessions| VcCase {
        fault,
        action,
        plain_http: false,
        route: Route::Direct,
        arm,
        expect,
        after,
        sessions,
    };
    let after_login = |first, cause| Expect {
        first,
        cause,
        within: budget(&[LOGIN, SHELL]),
        waited: None,
    };
    let power = |first, cause, waited| Expect {
        first,
        cause,
        within: budget(&[LOGIN, SHELL, POWER]),
        waited,
    };
    let mut cases = vec![
        case(
            "HTTP 500 with a SystemError fault",
            "status",
            |sim, _| {
                sim.fail_soap_with_fault(
                    "RetrievePropertiesEx",
                    1,
                    500,
                    "SystemError",
                    "A general system error occurred: vpxd is busy",
                )
            },
            after_login("Failed: ", "SystemError"),
            After::Unchanged,
            LOGGED_OUT,
        ),
        case(
            "HTTP 503 without a body",
            "status",
            |sim, _| sim.fail_soap_with_text("RetrievePropertiesEx", 1, 503, ""),
            after_login("Failed: ", "HTTP 503"),
            After::Unchanged,
            LOGGED_OUT,
        ),
        case(
            "HTTP 503 without a body, at PowerOffVM_Task",
            "off",
            |sim, _| sim.fail_soap_with_text("PowerOffVM_Task", 1, 503, ""),
            power("Failed: ", "HTTP 503", None),
            After::Unchanged,
            LOGGED_OUT,
        ),
        case(
            "session limit reached at Login (HTTP 503)",
            "off",
            |sim, _| {
                sim.fail_soap_with_text("Login", 1, 503, "Out of HTTP sessions: Limited to 2000")
            },
            Expect {
                first: "Unable to connect/login to fencing device",
                cause: "503",
                within: budget(&[LOGIN]),
                waited: None,
            },
            After::Unchanged,
            NO_LOGIN,
        ),
        case(
            "NotAuthenticated after Login, and again after the new Login",
            "status",
            |sim, _| sim.expire_session_at("RetrievePropertiesEx", 2),
            after_login("Connection lost", "the session ended"),
            After::Unchanged,
            SessionsAfter {
                logins: 2,
                logouts: 0,
            },
        ),
    ];
    // The power task's faults: off and reboot meet them alike (a reboot
    // starts with its off), and both are run.
    let power_task_faults: [(&str, Knob, Expect, After); 3] = [
        (
            "power task fails",
            |sim, vm| sim.next_power(vm, "fail"),
            power("Failed: ", "injected by the test", None),
            After::Unchanged,
        ),
        (
            "power task never finishes",
            |sim, vm| sim.next_power(vm, "hang"),
            power("Failed: Timed out waiting to power OFF", "", Some(POWER)),
            After::Unchanged,
        ),
        (
            "VM deleted between lookup and power-off",
            |sim, vm| sim.next_power(vm, "delete"),
            power(
                "Failed: Unable to obtain correct plug status or plug is not available",
                "ManagedObjectNotFound",
                None,
            ),
            After::Gone,
        ),
    ];
    for (fault, arm, expect, after) in power_task_faults {
        for action in ["off", "reboot"] {
            cases.push(case(fault, action, arm, expect.clone(), after, LOGGED_OUT));
        }
    }
    cases
}

fn run_vc_cases(cases: Vec<VcCase>) {
    let _share = matrix_share();
    parallel(
        4,
        cases,
        |c| format!("{} / {}", c.fault, c.action),
        run_vc_case,
    );
}

#[test]
fn vcenter_network_faults() {
    if !simulator_available() {
        return;
    }
    run_vc_cases(vc_network_cases());
}

#[test]
fn vcenter_server_faults() {
    if !simulator_available() {
        return;
    }
    run_vc_cases(vc_server_cases());
}

/// A session that ends once is logged into again, and the action still
/// gives the right answer; the ended session needs no logout.
#[test]
fn vcenter_session_expired_once_is_logged_into_again() {
    if !simulator_available() {
        return;
    }
    let _share = matrix_share();
    let sim = Vcsim::start();
    sim.expire_session_at("RetrievePropertiesEx", 1);
    let out = AgentRun::new(bin("fence_vmware"))
        .args(fence_vmware_args("127.0.0.1", sim.port, "status"))
        .args([format!("--cacert={}", sim.ca().display())])
        .limit(Duration::from_secs(20))
        .run();
    let s = sim.sessions();
    append_to_report(&format!(
        "| NotAuthenticated after Login, once | fence_vmware | status | exit 0 in ≤ {} s: Status: ON, logged in again | {} | {:.2} s | {} | VMs unchanged; sessions {}/{}/{} |",
        budget(&[LOGIN, SHELL]).as_secs(),
        out.code,
        out.elapsed.as_secs_f32(),
        out.stdout.trim(),
        s.logins,
        s.logouts,
        s.active
    ));
    out.assert_code(0).assert_stdout_has("Status: ON");
    assert!(out.elapsed <= budget(&[LOGIN, SHELL]), "{:?}", out.elapsed);
    assert_eq!((s.logins, s.logouts, s.active), (2, 1, 0), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// fence_vmware_esxi against sshd.

fn esxi_inventory() -> Vec<Vm> {
    vec![
        Vm::new("1", "node1", "on"),
        Vm::new("2", "node2", "on"),
        Vm::new("3", "node3", "off"),
    ]
}

const ESXI_PLUG: &str = "node1";

/// The agent reaching `host:port` as the test user, trusting the keys in
/// `known_hosts`, acting on `plug`; no timeouts yet.
fn esxi_args_for(
    host: &str,
    port: u16,
    known_hosts: &std::path::Path,
    action: &str,
    plug: &str,
) -> Vec<String> {
    vec![
        format!("--ip={host}"),
        format!("--ipport={port}"),
        format!("--username={ESXI_USER}"),
        format!("--password={ESXI_PASSWORD}"),
        format!(
            "--ssh-options=-o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
            known_hosts.display()
        ),
        "-o".into(),
        action.into(),
        "-n".into(),
        plug.into(),
    ]
}

/// The same on the matrix's plug, with the matrix's short timeouts.
fn esxi_args(host: &str, port: u16, known_hosts: &std::path::Path, action: &str) -> Vec<String> {
    let mut a = esxi_args_for(host, port, known_hosts, action, ESXI_PLUG);
    a.extend(timeouts());
    a
}

/// A known_hosts file trusting `h`'s keys under each of these names.
fn known_hosts_for(h: &FakeEsxi, names: &[String]) -> PathBuf {
    let path = h.tmp.path().join(format!("known_hosts-{}", names.len()));
    let mut text = String::new();
    for name in names {
        for key in &h.host_keys {
            text.push_str(&format!("{name} {key}\n"));
        }
    }
    std::fs::write(&path, text).expect("known_hosts");
    path
}

enum SshRoute {
    Direct,
    Proxy(Fault),
    Refused,
    BlackHole,
    Dns(Dns),
    /// The host's keys changed (sshd reloaded new ones) after known_hosts
    /// was written.
    KeyRotated,
    /// Through a proxy whose connections are all cut once the fake
    /// vim-cmd has logged a call matching the text.
    CutDuring(&'static str),
}

struct EsxiCase {
    fault: &'static str,
    action: &'static str,
    route: SshRoute,
    /// sshd looks the agent's key up with a command that takes a second
    /// (and finds nothing): the authentication has a pause the proxy can
    /// key a fault to. The agent offers a key, then the password.
    slow_key_lookup: bool,
    /// Control files of the fake host (name, content).
    control: &'static [(&'static str, &'static str)],
    expect: Expect,
}

/// A command for sshd's AuthorizedKeysCommand that takes a second and
/// authorizes nothing, as a directory server slow to answer. sshd runs
/// it only from a root-owned file in directories no one else may write
/// (not /tmp, not the test user's home).
fn slow_key_lookup() -> String {
    let dir = std::path::Path::new("/var/lib/cts-faults");
    std::fs::create_dir_all(dir).expect("/var/lib/cts-faults");
    cts::esxi_host::set_mode(dir, 0o755);
    let path = dir.join("slow-key-lookup");
    let tmp = dir.join(format!("slow-key-lookup.{}", std::process::id()));
    std::fs::write(
        &tmp,
        "#!/bin/sh\n# cts/tests/faults.rs: a slow key lookup\nsleep 1\n",
    )
    .expect("slow-key-lookup");
    cts::esxi_host::set_mode(&tmp, 0o755);
    std::fs::rename(&tmp, &path).expect("rename");
    format!(
        "AuthorizedKeysCommand {}\nAuthorizedKeysCommandUser {ESXI_USER}\n",
        path.display()
    )
}

fn run_esxi_case(c: EsxiCase) {
    cts::esxi_host::ensure_user();
    let mut h = if c.slow_key_lookup {
        FakeEsxi::openssh_with_config(&slow_key_lookup())
    } else {
        FakeEsxi::openssh()
    };
    h.set_vms(&esxi_inventory());
    let mut more: Vec<String> = Vec::new();
    if c.slow_key_lookup {
        let (key, _) = cts::esxi_host::keygen(h.tmp.path(), "id_unlisted", "ed25519");
        more.push(format!("--identity-file={}", key.display()));
    }
    for (name, content) in c.control {
        h.write(name, content);
    }
    let before = h.states();
    let limit = c.expect.within + Duration::from_secs(10);
    let program = bin("fence_vmware_esxi");
    let direct = |port: u16, known: &std::path::Path| {
        AgentRun::new(&program)
            .args(esxi_args("127.0.0.1", port, known, c.action))
            .args(&more)
            .limit(limit)
            .run()
    };
    let upstream: SocketAddr = ([127, 0, 0, 1], h.port).into();
    let out = match c.route {
        SshRoute::Direct => direct(h.port, &h.known_hosts_file()),
        SshRoute::Proxy(fault) => {
            let proxy = FaultProxy::start(upstream, fault);
            let known = known_hosts_for(&h, &[format!("[127.0.0.1]:{}", proxy.port)]);
            let out = direct(proxy.port, &known);
            assert!(proxy.accepted() >= 1, "{}: never connected", c.fault);
            out
        }
        SshRoute::Refused => direct(refusing_port(), &h.known_hosts_file()),
        SshRoute::BlackHole => {
            let Some(hole) = BlackHole::on("127.0.0.1", 0) else {
                eprintln!("{}: this kernel never drops SYNs: skipped", c.fault);
                return;
            };
            direct(hole.addr.port(), &h.known_hosts_file())
        }
        SshRoute::Dns(_) if !namespaces_available() => return,
        SshRoute::Dns(dns) => {
            let known = h.known_hosts_file();
            let args = esxi_args("esxi.example.test", h.port, &known, c.action);
            asked_the_name_server(c.fault, run_with_dns(&program, &args, dns, limit))
        }
        SshRoute::KeyRotated => {
            let known = h.known_hosts_file();
            h.rotate_host_keys();
            direct(h.port, &known)
        }
        SshRoute::CutDuring(call) => {
            let proxy = FaultProxy::start(upstream, Fault::Pass);
            let known = known_hosts_for(&h, &[format!("[127.0.0.1]:{}", proxy.port)]);
            let args = esxi_args("127.0.0.1", proxy.port, &known, c.action);
            let program = program.clone();
            let runner =
                std::thread::spawn(move || AgentRun::new(program).args(args).limit(limit).run());
            let until = Instant::now() + Duration::from_secs(15);
            while !h.calls().iter().any(|k| k.line().contains(call)) {
                assert!(Instant::now() < until, "{}: never called {call}", c.fault);
                std::thread::sleep(Duration::from_millis(20));
            }
            proxy.cut();
            let out = runner.join().expect("agent run");
            drop(proxy);
            out
        }
    };
    let after = h.states();
    let open = h.wait_sessions_closed();
    let vms = if after == before {
        "VMs unchanged".to_string()
    } else {
        format!("VMs changed: {after:?}")
    };
    report(
        (c.fault, "fence_vmware_esxi", c.action),
        &c.expect,
        &out,
        &format!("{vms}; SSH sessions left {open}"),
    );
    check(c.fault, "fence_vmware_esxi", c.action, &c.expect, &out);
    let what = format!("{} / {}", c.fault, c.action);
    assert_eq!(
        after,
        before,
        "{what}: VM states changed; calls: {:?}",
        h.calls()
    );
    assert_eq!(open, 0, "{what}: SSH sessions left open");
}

fn esxi_cases() -> Vec<EsxiCase> {
    let at_login = Expect::at_login;
    let login_timeout = Expect::login_timeout;
    let trickle_from = |trigger| {
        SshRoute::Proxy(Fault::Server {
            trigger,
            action: Action::Trickle,
        })
    };
    let case = |fault, route, expect| EsxiCase {
        fault,
        action: "status",
        route,
        slow_key_lookup: false,
        control: &[],
        expect,
    };
    // hostd answering one byte a second: the command's shell_timeout
    // ends it, and the agent treats hostd as hung.
    let trickled_output = |action, stages: &[Duration]| EsxiCase {
        action,
        control: &[("trickle", "")],
        ..case(
            "trickled command output (1 byte/s)",
            SshRoute::Direct,
            Expect {
                first: "Failed: Unable to obtain correct plug status or plug is not available",
                cause: "vim-cmd vmsvc/getallvms did not answer in time",
                within: budget(stages),
                waited: Some(SHELL),
            },
        )
    };
    vec![
        case(
            "connection refused",
            SshRoute::Refused,
            at_login("Unable to connect/login to fencing device", "refused"),
        ),
        case(
            "SYNs swallowed (connect)",
            SshRoute::BlackHole,
            login_timeout("Connecting to"),
        ),
        case(
            "unresolvable name (NXDOMAIN)",
            SshRoute::Dns(Dns::NoSuchName),
            at_login(
                "Unable to connect/login to fencing device",
                "Unable to resolve host name esxi.example.test",
            ),
        ),
        case(
            "silent DNS server",
            SshRoute::Dns(Dns::Silent),
            login_timeout("Resolving the host name"),
        ),
        case(
            "accepted, never answered",
            SshRoute::Proxy(Fault::Silent),
            login_timeout("banner and key exchange"),
        ),
        case(
            "trickled SSH banner (1 byte/s)",
            trickle_from(Trigger::Start),
            login_timeout("banner and key exchange"),
        ),
        case(
            "trickled key exchange (1 byte/s)",
            trickle_from(Trigger::AfterFirstLine),
            login_timeout("banner and key exchange"),
        ),
        case(
            "trickled authentication service request (1 byte/s)",
            trickle_from(Trigger::AfterSshNewKeys),
            login_timeout("request for the SSH authentication service"),
        ),
        case(
            "stall after the key exchange",
            SshRoute::Proxy(Fault::Server {
                trigger: Trigger::AfterSshNewKeys,
                action: Action::Stall,
            }),
            login_timeout("request for the SSH authentication service"),
        ),
        EsxiCase {
            slow_key_lookup: true,
            ..case(
                "trickled authentication (1 byte/s)",
                trickle_from(Trigger::AfterSshNewKeysAndPause(Duration::from_millis(500))),
                login_timeout("publickey with 127.0.0.1"),
            )
        },
        case(
            "SSH host key changed",
            SshRoute::KeyRotated,
            at_login("Unable to connect/login to fencing device", "has CHANGED"),
        ),
        trickled_output("status", &[LOGIN, SHELL, SHELL]),
        trickled_output("off", &[LOGIN, SHELL, POWER]),
        EsxiCase {
            action: "off",
            control: &[("hang", "power.off")],
            ..case(
                "connection dropped mid-command",
                SshRoute::CutDuring("power.off"),
                Expect {
                    first: "Connection lost",
                    cause: "",
                    within: budget(&[LOGIN, SHELL, POWER]),
                    waited: None,
                },
            )
        },
        EsxiCase {
            control: &[("hang", "getallvms")],
            ..case(
                "connection dropped mid-command",
                SshRoute::CutDuring("getallvms"),
                Expect {
                    first: "Connection lost",
                    cause: "",
                    within: budget(&[LOGIN, SHELL]),
                    waited: None,
                },
            )
        },
    ]
}

#[test]
fn esxi_faults() {
    if skip_unless(is_root(), "the ESXi tests need root (a test user, sshd)") {
        return;
    }
    let _share = matrix_share();
    parallel(
        4,
        esxi_cases(),
        |c| format!("{} / {}", c.fault, c.action),
        run_esxi_case,
    );
}

// ---------------------------------------------------------------------------
// Every form of the ip option, resolution included, within login_timeout.

/// Said loudly, but not a failure even under CI: IPv6 is a property of
/// the machine (a container may have none), not a package to install.
fn no_ipv6() {
    eprintln!("SKIPPED: no IPv6 loopback here: the IPv6 forms of ip are not tested");
}

/// Whether ::1 works here (a kernel or container without IPv6 has none).
fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// What every form must give: the right answer, within the timeouts.
fn assert_form(agent: &str, form: &str, out: &Outcome, answer: &str) {
    append_to_report(&format!(
        "FORM {agent} ip={form}: exit {} in {:.2} s, {}",
        out.code,
        out.elapsed.as_secs_f32(),
        out.stdout.trim()
    ));
    assert_eq!(
        out.code, 0,
        "ip={form}: exit code\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.contains(answer), "ip={form}: {}", out.stdout);
    assert!(
        out.elapsed <= budget(&[LOGIN, SHELL]),
        "ip={form}: took {:?}",
        out.elapsed
    );
}

/// The address that swallows SYNs was tried first, for its share of
/// login_timeout (half: one of two addresses), then given up.
fn assert_first_address_given_up(out: &Outcome) {
    let share = LOGIN / 2;
    assert!(
        out.elapsed + EARLY >= share,
        "done in {:?}: ::1 was not tried first for its {share:?}",
        out.elapsed
    );
}

/// The name with two addresses of TWO_ADDRESSES, the first swallowing
/// SYNs on `port`: the agent gives it up in time and gets the answer from
/// the second.
fn assert_two_addresses(agent: &str, program: &std::path::Path, args: &[String], port: u16) {
    if !namespaces_available() {
        return;
    }
    let Some(_hole) = BlackHole::on("::1", port) else {
        eprintln!("SKIPPED: SYNs are never dropped on ::1 here: the two-address case");
        return;
    };
    let out = run_with_hosts(program, args, TWO_ADDRESSES, Duration::from_secs(20));
    assert_form(
        agent,
        "localhost (::1 swallowing SYNs, then 127.0.0.1)",
        &out,
        "Status: ON",
    );
    assert_first_address_given_up(&out);
}

/// /etc/hosts for a name with two addresses: ::1, which swallows SYNs on
/// the peer's port, and 127.0.0.1, where the peer is. getaddrinfo puts
/// ::1 first (RFC 6724), so the agent must give up on it in time.
const TWO_ADDRESSES: &str = "::1 localhost\n127.0.0.1 localhost\n";

#[test]
fn fence_vmware_every_form_of_ip() {
    if !simulator_available() {
        return;
    }
    let _share = matrix_share();
    let sim = Vcsim::start();
    let program = bin("fence_vmware");
    let ca = format!("--cacert={}", sim.ca().display());
    let status = |ip: &str, port: u16| {
        AgentRun::new(&program)
            .args(fence_vmware_args(ip, port, "status"))
            .args([&ca])
            .limit(Duration::from_secs(20))
            .run()
    };
    for ip in ["127.0.0.1", "localhost"] {
        assert_form("fence_vmware", ip, &status(ip, sim.port), "Status: ON");
    }
    if ipv6_loopback() {
        // The simulator listens on 127.0.0.1; a proxy on ::1 reaches it
        // (its certificate names ::1 too).
        let v6 = FaultProxy::start_on("[::1]:0", ([127, 0, 0, 1], sim.port).into(), Fault::Pass);
        for ip in ["::1", "[::1]"] {
            assert_form("fence_vmware", ip, &status(ip, v6.port), "Status: ON");
        }
        let mut args = fence_vmware_args("localhost", sim.port, "status");
        args.push(ca.clone());
        assert_two_addresses("fence_vmware", &program, &args, sim.port);
    } else {
        no_ipv6();
    }
    let s = sim.sessions();
    assert_eq!(s.active, 0, "{s:?}");
    assert_eq!(s.logins, s.logouts, "{s:?}");
}

#[test]
fn fence_vmware_esxi_every_form_of_ip() {
    if skip_unless(is_root(), "the ESXi tests need root (a test user, sshd)") {
        return;
    }
    let _share = matrix_share();
    let h = FakeEsxi::openssh();
    h.set_vms(&esxi_inventory());
    let program = bin("fence_vmware_esxi");
    let v6 = ipv6_loopback()
        .then(|| FaultProxy::start_on("[::1]:0", ([127, 0, 0, 1], h.port).into(), Fault::Pass));
    let mut names = vec![
        format!("[127.0.0.1]:{}", h.port),
        format!("[localhost]:{}", h.port),
    ];
    if let Some(p) = &v6 {
        names.push(format!("[::1]:{}", p.port));
    }
    let known = known_hosts_for(&h, &names);
    let status = |ip: &str, port: u16| {
        AgentRun::new(&program)
            .args(esxi_args(ip, port, &known, "status"))
            .limit(Duration::from_secs(20))
            .run()
    };
    for ip in ["127.0.0.1", "localhost"] {
        assert_form("fence_vmware_esxi", ip, &status(ip, h.port), "Status: ON");
    }
    match &v6 {
        Some(p) => {
            for ip in ["::1", "[::1]"] {
                assert_form("fence_vmware_esxi", ip, &status(ip, p.port), "Status: ON");
            }
            let args = esxi_args("localhost", h.port, &known, "status");
            assert_two_addresses("fence_vmware_esxi", &program, &args, h.port);
        }
        None => no_ipv6(),
    }
    assert_eq!(h.wait_sessions_closed(), 0, "SSH sessions left open");
}

// ---------------------------------------------------------------------------
// Twenty agents at once.

/// What one of the twenty does, and what it must leave.
#[derive(Clone, Copy, Debug)]
enum Job {
    Reboot,
    Off,
    On,
    Status,
}

impl Job {
    fn of(i: usize) -> Job {
        [Job::Reboot, Job::Off, Job::On, Job::Status][i % 4]
    }

    fn action(self) -> &'static str {
        match self {
            Job::Reboot => "reboot",
            Job::Off => "off",
            Job::On => "on",
            Job::Status => "status",
        }
    }

    /// The line the agent must print.
    fn says(self) -> &'static str {
        match self {
            Job::Reboot => "Success: Rebooted",
            Job::Off => "Success: Powered OFF",
            Job::On => "Success: Powered ON",
            Job::Status => "Status: ON",
        }
    }

    /// The agent exited 0 and said what the job says.
    fn assert_done(self, plug: &str, out: &Outcome) {
        assert_eq!(
            out.code, 0,
            "{self:?} {plug}: {}\n{}",
            out.stdout, out.stderr
        );
        assert!(
            out.stdout.contains(self.says()),
            "{self:?} {plug}: {}",
            out.stdout
        );
    }

    /// Powered on at the end, except after an off.
    fn ends_on(self) -> bool {
        !matches!(self, Job::Off)
    }
}

/// Generous bounds: twenty processes share two CPUs with the peer.
fn concurrency_timeouts() -> [&'static str; 3] {
    [
        "--login-timeout=60",
        "--shell-timeout=60",
        "--power-timeout=120",
    ]
}

/// Runs the twenty agents at once; returns their outcomes in order.
fn twenty_at_once(runs: Vec<AgentRun>) -> Vec<Outcome> {
    let _alone = load_alone();
    let started = Instant::now();
    let handles: Vec<_> = runs
        .into_iter()
        .map(|r| std::thread::spawn(move || r.run()))
        .collect();
    let outs: Vec<Outcome> = handles
        .into_iter()
        .map(|h| h.join().expect("agent thread"))
        .collect();
    eprintln!("20 agents at once: {:?} in all", started.elapsed());
    outs
}

#[test]
fn twenty_fence_vmware_at_once_on_one_simulator() {
    if !simulator_available() {
        return;
    }
    let sim = Vcsim::start_with(Options {
        extra_vms: Some(20),
        ..Options::default()
    });
    let vms: Vec<(Job, String, String)> = (0..20)
        .map(|i| {
            let name = format!("extra-{:05}", i + 1);
            let moref = sim.vm(&name, None).moref.clone();
            let job = Job::of(i);
            let start = if matches!(job, Job::On) {
                "poweredOff"
            } else {
                "poweredOn"
            };
            sim.set_power(&moref, start);
            (job, name, moref)
        })
        .collect();
    let before = sim.all_states();
    let ca = format!("--cacert={}", sim.ca().display());
    let runs = vms
        .iter()
        .map(|(job, name, _)| {
            AgentRun::new(bin("fence_vmware"))
                .args(["-a", "127.0.0.1", "-u", &sim.port.to_string(), "-l", USER])
                .args(["-p", PASSWORD, &ca, "-o", job.action(), "-n", name])
                .args(concurrency_timeouts())
                .limit(Duration::from_secs(200))
        })
        .collect();
    let outs = twenty_at_once(runs);
    for ((job, name, moref), out) in vms.iter().zip(&outs) {
        job.assert_done(name, out);
        let want = if job.ends_on() {
            "poweredOn"
        } else {
            "poweredOff"
        };
        assert_eq!(sim.power(moref), want, "{job:?} {name}");
    }
    // No other VM was touched.
    let ours: Vec<&String> = vms.iter().map(|(_, _, m)| m).collect();
    let after = sim.all_states();
    for b in before.iter().filter(|b| !ours.contains(&&b.moref)) {
        assert!(after.contains(b), "{} changed", b.name);
    }
    let s = sim.sessions();
    assert_eq!((s.logins, s.logouts, s.active), (20, 20, 0), "{s:?}");
    report_concurrency("fence_vmware, one simulator", &outs);
}

#[test]
fn twenty_fence_vmware_esxi_at_once_on_one_host() {
    if skip_unless(is_root(), "the ESXi tests need root (a test user, sshd)") {
        return;
    }
    let h = FakeEsxi::openssh();
    let jobs: Vec<(Job, String, String)> = (0..20)
        .map(|i| (Job::of(i), format!("{}", i + 1), format!("vm{:02}", i + 1)))
        .collect();
    let vms: Vec<Vm> = jobs
        .iter()
        .map(|(job, vmid, name)| {
            Vm::new(
                vmid,
                name,
                if matches!(job, Job::On) { "off" } else { "on" },
            )
        })
        .collect();
    h.set_vms(&vms);
    // A power change lands a second after its command, as on a real host.
    h.write("delay", "1");
    let known = h.known_hosts_file();
    let runs = jobs
        .iter()
        .map(|(job, _, name)| {
            AgentRun::new(bin("fence_vmware_esxi"))
                .args(esxi_args_for(
                    "127.0.0.1",
                    h.port,
                    &known,
                    job.action(),
                    name,
                ))
                .args(concurrency_timeouts())
                .limit(Duration::from_secs(200))
        })
        .collect();
    let outs = twenty_at_once(runs);
    for ((job, vmid, name), out) in jobs.iter().zip(&outs) {
        job.assert_done(name, out);
        let want = if job.ends_on() { "on" } else { "off" };
        assert_eq!(h.state(vmid), want, "{job:?} {name}");
    }
    assert_eq!(h.wait_sessions_closed(), 0, "SSH sessions left open");
    report_concurrency("fence_vmware_esxi, one host (sshd)", &outs);
}

fn report_concurrency(what: &str, outs: &[Outcome]) {
    let longest = outs.iter().map(|o| o.elapsed).max().unwrap_or_default();
    let ok = outs.iter().filter(|o| o.code == 0).count();
    append_to_report(&format!(
        "CONCURRENCY {what}: {ok}/{} exit 0 with the right line and state, longest {:.2} s",
        outs.len(),
        longest.as_secs_f32()
    ));
}
