//! A whole agent process: read the input, answer the actions that need no
//! device, validate, wait the delay, connect, act, disconnect, exit.

use std::ffi::OsString;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::action;
use crate::agent::AgentSpec;
use crate::config::{self, Action};
use crate::error::{exit_code, FenceError};
use crate::input::{self, RawInput};
use crate::logging;
use crate::timing::Deadline;
use crate::validate::{self, Environment};
use crate::{manpage, metadata, signals};

/// The agent's `main`: picks the personality by the name the program was
/// started as (the first is the default), runs it and exits.
pub fn main(agents: &[&AgentSpec]) -> ! {
    keep_memory_private();
    one_malloc_arena();
    signals::install();
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = if args.is_empty() {
        String::new()
    } else {
        args.remove(0).to_string_lossy().into_owned()
    };
    let program = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let agent = match agents.iter().find(|a| a.name == program) {
        Some(a) => *a,
        None => match agents.first() {
            Some(a) => *a,
            None => std::process::exit(exit_code::FAILURE),
        },
    };
    let stdout = std::io::stdout();
    let code = run(
        agent,
        &args,
        &mut stdout.lock(),
        &Environment::from_process(),
        input::read_stdin,
    );
    std::process::exit(code)
}

/// The process holds the password in memory from the moment it reads its
/// input. A core dump would write that memory to disk, and a dumpable
/// process can be read by any process of the same user (ptrace,
/// /proc/<pid>/mem). So, before any input is read: not dumpable, and no
/// core file at all. Children (password_script, vmrun) start dumpable
/// again at exec, as they should: they are other programs.
fn keep_memory_private() {
    use nix::sys::resource::{setrlimit, Resource};
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        logging::warning(format!("Unable to make the process non-dumpable: {e}"));
    }
    if let Err(e) = setrlimit(Resource::RLIMIT_CORE, 0, 0) {
        logging::warning(format!("Unable to disable core dumps: {e}"));
    }
}

/// glibc gives each thread that allocates an arena of its own: a 64 MiB
/// reservation whose first pages are faulted in one by one. An agent runs
/// for milliseconds with a few short threads (signals, the second login,
/// the logouts), where those page faults cost more (in a VM, several
/// microseconds each) than the lock contention the arenas avoid: one
/// arena serves them all. Called before any other thread exists.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable, and no other thread
    // exists yet to be allocating while it changes.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

fn fail(e: &FenceError) -> i32 {
    // Bad input is one line that names the problem; fence-agents adds a
    // "Please use '-h' for usage" line, which says nothing more.
    for line in e.message_lines() {
        logging::error(line);
    }
    e.exit_code()
}

/// Apply what can be known of verbosity and quietness before validation,
/// so that validation errors honour `quiet` and verbose sees the input.
fn early_logging(raw: &RawInput) {
    let quiet = raw
        .get("quiet")
        .and_then(config::parse_bool)
        .unwrap_or(false);
    logging::set_quiet(quiet);
    let level = raw
        .get("verbose_level")
        .and_then(config::saturating_u32)
        .or_else(|| {
            raw.get("verbose").map(|v| {
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .or_else(|| config::parse_bool(v).map(u32::from))
                    .unwrap_or(1)
            })
        })
        .unwrap_or(0);
    logging::set_verbose_level(level);
}

/// Runs one agent invocation and returns its exit code. `read_stdin` is
/// called only when there are no arguments.
pub fn run(
    agent: &AgentSpec,
    args: &[OsString],
    out: &mut dyn Write,
    env: &Environment,
    read_stdin: impl FnOnce() -> Result<Vec<u8>, FenceError>,
) -> i32 {
    let started = Instant::now();
    let raw = if args.is_empty() {
        read_stdin().and_then(|bytes| input::parse_stdin(&bytes, &agent.options))
    } else {
        input::parse_argv(args, &agent.options)
    };
    let raw = match raw {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    early_logging(&raw);
    for key in &raw.ignored_keys {
        logging::debug(format!("Parse error: Ignoring unknown option '{key}'"));
    }
    if !raw.leftover_args.is_empty() {
        logging::warning(format!(
            "Unused arguments on command line: {}",
            raw.leftover_args.join(" ")
        ));
    }

    let write = |out: &mut dyn Write, text: &str| -> i32 {
        match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => exit_code::SUCCESS,
            Err(_) => exit_code::FAILURE,
        }
    };
    if raw.get("help").and_then(config::parse_bool) == Some(true) {
        return write(out, &manpage::usage(agent));
    }
    if raw.get("version").and_then(config::parse_bool) == Some(true) {
        return write(out, &format!("{}\n", env!("CARGO_PKG_VERSION")));
    }
    match validate::action_of(&raw, agent) {
        Ok(Action::Metadata) => return write(out, &metadata::render(agent)),
        Ok(Action::Manpage) => return write(out, &manpage::render(agent)),
        Ok(_) => {}
        Err(e) => return fail(&e),
    }

    // Syslog from here on, so that a refused configuration is in the
    // system log too, where the administrator of a cluster looks first.
    if env.syslog {
        logging::open_syslog(agent.name);
    }
    let mut cfg = match validate::validate(&raw, agent, env) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    if cfg.action == Action::ValidateAll {
        logging::debug("validate-all: the options are valid");
        return exit_code::SUCCESS;
    }

    if let Some(path) = cfg.debug_file.clone() {
        match logging::open_debug_file(&path) {
            Ok(None) => {}
            Ok(Some(concern)) => logging::warning(concern),
            // fence-agents' words, then why.
            Err(e) => {
                return fail(&FenceError::usage(format!(
                    "Failed: Unable to create file {path}: {e}"
                )))
            }
        }
    }
    if cfg.timeouts_disabled {
        logging::debug(format!(
            "disable_timeout: waits bounded by {} s (login), {} s (command) and {} s (power)",
            cfg.timeouts.login.as_secs(),
            cfg.timeouts.shell.as_secs(),
            cfg.timeouts.power.as_secs()
        ));
    }
    if let Err(e) = cfg.resolve_password() {
        return fail(&e);
    }

    // The delay staggers the two nodes of a two-node cluster that fence
    // each other: it applies to the actions that fence, before any
    // connection, counted from the start of the process.
    if matches!(cfg.action, Action::Off | Action::Reboot) && cfg.delay.0 > 0 {
        let left = cfg.delay.duration().saturating_sub(started.elapsed());
        if !left.is_zero() {
            // The configured delay: what is left of it, in whole seconds,
            // would read "Delay 0" with 0.99 s to go.
            logging::info(format!(
                "Delay {} second(s) before logging in to the fence device",
                cfg.delay
            ));
            std::thread::sleep(left);
        }
    }

    let mut device = match (agent.connect)(&cfg, Deadline::after(cfg.timeouts.login)) {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let result = action::perform(device.as_mut(), &cfg, out);
    // The outcome is final before logging out: a device that hangs while
    // closing the session must not turn a verified fence into a timeout.
    let code = match result {
        Ok(code) => code,
        Err(e) => fail(&e),
    };
    let bound = cfg.timeouts.shell.clamp(DISCONNECT_MIN, DISCONNECT_MAX);
    let watchdog = Watchdog::start(bound, code);
    device.disconnect();
    watchdog.cancel();
    signals::clear();
    code
}

/// How long closing the session may take before the process leaves
/// anyway with the outcome it already has.
const DISCONNECT_MIN: Duration = Duration::from_secs(5);
const DISCONNECT_MAX: Duration = Duration::from_secs(60);

/// The bound on closing the session: kept by the signal handler thread
/// (an alarm, no thread of its own) when it runs, else by a thread.
enum Watchdog {
    Alarm,
    Thread(Arc<AtomicBool>),
}

impl Watchdog {
    fn start(bound: Duration, code: i32) -> Watchdog {
        let warning = format!(
            "Closing the session did not finish within {} s; leaving without it",
            bound.as_secs()
        );
        if signals::exit_after(bound, code, warning.clone()) {
            return Watchdog::Alarm;
        }
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let _ = std::thread::Builder::new()
            .name("disconnect-watchdog".into())
            .spawn(move || {
                let until = Instant::now() + bound;
                while Instant::now() < until {
                    if flag.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                if !flag.load(Ordering::SeqCst) {
                    logging::warning(warning);
                    std::process::exit(code);
                }
            });
        Watchdog::Thread(done)
    }

    fn cancel(self) {
        match self {
            Watchdog::Alarm => signals::cancel_exit_after(),
            Watchdog::Thread(done) => done.store(true, Ordering::SeqCst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::PowerState;
    use crate::logging::Level;
    use crate::testing::{agent, bench, run_argv, run_stdin, run_with, PlugScript, Scripted};

    fn device(b: &crate::testing::Shared) -> Box<dyn crate::Device> {
        Box::new(Scripted(b.clone()))
    }

    #[test]
    fn a_whole_run_connects_acts_and_disconnects() {
        let b = bench(&[("vm1", PlugScript::on())]);
        let r = run_stdin(&agent(), device(&b), "action=off\nplug=vm1\n");
        assert_eq!((r.code, r.stdout.as_str()), (0, "Success: Powered OFF\n"));
        assert_eq!(
            b.borrow().call_names(),
            ["status vm1", "set vm1 OFF", "status vm1", "disconnect"]
        );
        // Status of an off plug exits 2; a failure exits 1, logged as
        // fence-agents' line then the cause, and still disconnects.
        let r = run_stdin(&agent(), device(&b), "action=status\nplug=vm1\n");
        assert_eq!((r.code, r.stdout.as_str()), (2, "Status: OFF\n"));
        let r = run_stdin(&agent(), device(&b), "action=on\nplug=nosuch\n");
        assert_eq!(r.code, 1);
        assert_eq!(
            r.at(Level::Error),
            [
                "Failed: Unable to obtain correct plug status or plug is not available",
                "plug nosuch is not on this device"
            ]
        );
        assert_eq!(b.borrow().call_names().last().unwrap(), "disconnect");
    }

    #[test]
    fn bad_input_is_one_line_exit_1_and_no_contact() {
        let b = bench(&[("vm1", PlugScript::on())]);
        for (lines, want) in [
            (
                "action=off\nplug=vm1\npower_timeout=soon\n",
                "Failed: power_timeout must be a number of seconds, got \"soon\"",
            ),
            (
                "action=frobnicate\n",
                "Failed: Unrecognised action 'frobnicate'",
            ),
            (
                "action=off\n",
                "Failed: You have to enter plug number or machine identification",
            ),
        ] {
            let r = run_stdin(&agent(), device(&b), lines);
            assert_eq!(r.code, 1, "{lines}");
            assert_eq!(r.at(Level::Error), [want], "{lines}");
            assert_eq!(r.stdout, "");
        }
        let r = run_argv(&agent(), device(&b), &["-o", "status", "--bogus"]);
        assert_eq!(r.code, 1);
        assert_eq!(
            r.at(Level::Error),
            ["Parse error: option --bogus not recognized"]
        );
        assert!(b.borrow().calls.is_empty(), "{:?}", b.borrow().call_names());
    }

    #[test]
    fn validate_all_neither_connects_nor_runs_the_password_script() {
        let b = bench(&[("vm1", PlugScript::on())]);
        let marker = std::env::temp_dir().join(format!("fw-validate-all-{}", std::process::id()));
        let r = run_stdin(
            &agent(),
            device(&b),
            &format!(
                "action=validate-all\nplug=vm1\npassword_script=touch {}\n",
                marker.display()
            ),
        );
        assert_eq!((r.code, r.stdout.as_str()), (0, ""));
        assert!(!marker.exists());
        assert!(b.borrow().calls.is_empty());
    }

    #[test]
    fn the_password_script_runs_before_connecting_and_its_failure_stops_the_run() {
        let b = bench(&[("vm1", PlugScript::on())]);
        let r = run_stdin(
            &agent(),
            device(&b),
            "action=status\nplug=vm1\npassword_script=exit 5\n",
        );
        assert_eq!(r.code, 1);
        assert_eq!(
            r.first_error(),
            "Failed: password_script exited with status 5"
        );
        assert!(b.borrow().calls.is_empty());
        let r = run_stdin(
            &agent(),
            device(&b),
            "action=status\nplug=vm1\npassword_script=echo 'pa ss'\nverbose=3\n",
        );
        assert_eq!(r.code, 0);
    }

    #[test]
    fn answers_that_need_no_device() {
        let b = bench(&[]);
        for (args, starts) in [
            (&["-o", "metadata"][..], "<?xml"),
            (&["-o", "manpage"], ".TH FENCE_SCRIPTED 8"),
            (&["--help"], "Usage:\n\tfence_scripted [options]\n"),
            (&["-V"], env!("CARGO_PKG_VERSION")),
        ] {
            let r = run_argv(&agent(), device(&b), args);
            assert_eq!(r.code, 0, "{args:?}");
            assert!(r.stdout.starts_with(starts), "{args:?}: {}", r.stdout);
        }
        // Metadata needs nothing else, not even an address.
        let r = run_with(
            &agent(),
            device(&b),
            &crate::testing::environment(),
            &["-o", "meta-data"],
            "",
        );
        assert!(r.stdout.starts_with("<?xml"));
        assert!(b.borrow().calls.is_empty());
    }

    #[test]
    fn unknown_keys_and_stray_words_are_logged_not_fatal() {
        let b = bench(&[("vm1", PlugScript::off())]);
        let r = run_stdin(
            &agent(),
            device(&b),
            "action=status\nplug=vm1\nbogus_key=1\n",
        );
        assert_eq!(r.code, 2);
        assert_eq!(
            r.at(Level::Debug)[0],
            "Parse error: Ignoring unknown option 'bogus_key'"
        );
        let r = run_argv(
            &agent(),
            device(&b),
            &["-o", "status", "-n", "vm1", "stray", "words"],
        );
        assert_eq!(r.code, 2);
        assert_eq!(
            r.at(Level::Warning),
            ["Unused arguments on command line: stray words"]
        );
    }

    /// The delay staggers two nodes fencing each other: it comes before
    /// any connection, for off and reboot only, counted from the start.
    #[test]
    fn delay_before_connecting_for_off_and_reboot_only() {
        for action in ["off", "reboot"] {
            let b = bench(&[("vm1", PlugScript::on())]);
            let started = std::time::Instant::now();
            let r = run_stdin(
                &agent(),
                device(&b),
                &format!("action={action}\nplug=vm1\ndelay=1\n"),
            );
            assert_eq!(r.code, 0, "{action}");
            let first_call = b.borrow().calls[0].0;
            assert!(first_call - started >= Duration::from_secs(1), "{action}");
            assert!(
                r.elapsed < Duration::from_secs(2),
                "{action}: {:?}",
                r.elapsed
            );
            assert!(
                r.at(Level::Info)
                    .contains(&"Delay 1 second(s) before logging in to the fence device"),
                "{:?}",
                r.logged
            );
        }
        for action in ["on", "status", "list", "monitor"] {
            let b = bench(&[("vm1", PlugScript::off())]);
            let r = run_stdin(
                &agent(),
                device(&b),
                &format!("action={action}\nplug=vm1\ndelay=1\n"),
            );
            assert!(r.code == 0 || r.code == 2, "{action}: {:?}", r.logged);
            assert!(
                r.elapsed < Duration::from_millis(500),
                "{action}: {:?}",
                r.elapsed
            );
        }
    }

    #[test]
    fn a_refused_login_is_fence_agents_login_failure() {
        let r = run_with(
            &agent(),
            Box::new(Refusing),
            &crate::testing::environment(),
            &[],
            "action=status\nplug=vm1\n",
        );
        assert_eq!(r.code, 1);
        assert_eq!(r.first_error(), "Unable to connect/login to fencing device");
    }

    /// A device whose session cannot be used at all.
    struct Refusing;

    impl crate::Device for Refusing {
        fn power_state(&mut self, _: &crate::Plug, _: Deadline) -> Result<PowerState, FenceError> {
            Err(FenceError::LoginDenied("InvalidLogin".into()))
        }
        fn set_power(
            &mut self,
            _: &crate::Plug,
            _: PowerState,
            _: Deadline,
        ) -> Result<(), FenceError> {
            Err(FenceError::LoginDenied("InvalidLogin".into()))
        }
        fn list(&mut self, _: bool, _: Deadline) -> Result<Vec<crate::Outlet>, FenceError> {
            Err(FenceError::LoginDenied("InvalidLogin".into()))
        }
        fn disconnect(&mut self) {}
    }
}
