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
            logging::info(format!(
                "Delay {} second(s) before logging in to the fence device",
                left.as_secs()
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

struct Watchdog(Arc<AtomicBool>);

impl Watchdog {
    fn start(bound: Duration, code: i32) -> Watchdog {
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
                    logging::warning(format!(
                        "Closing the session did not finish within {} s; leaving without it",
                        bound.as_secs()
                    ));
                    std::process::exit(code);
                }
            });
        Watchdog(done)
    }

    fn cancel(self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
