//! vmware-vbmc: validate a configuration, or run the virtual BMC.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use vmware_vbmc::config::{self, Config, SecretSource};
use vmware_vbmc::crypto::UserKey;
use vmware_vbmc::log::{Level, Logger};
use vmware_vbmc::server::{self, EndpointConfig, IpmiUser};
use vmware_vbmc::{backend, harden_process};

const USAGE: &str = "usage: vmware-vbmc check [CONFIG]
       vmware-vbmc run [--debug] [CONFIG]
       vmware-vbmc --help | --version

check  validates CONFIG without starting anything (exit 0 when valid)
run    serves one IPMI v2.0 (RMCP+) endpoint per configured VM until
       SIGTERM or SIGINT

CONFIG defaults to /etc/vmware-vbmc/vmware-vbmc.toml; see vmware-vbmc(8).";

enum Command {
    Check(PathBuf),
    Run { path: PathBuf, debug: bool },
    Help,
    Version,
}

fn parse_args(args: Vec<OsString>) -> Result<Command, String> {
    let mut words = Vec::new();
    for a in args {
        match a.into_string() {
            Ok(s) => words.push(s),
            Err(bad) => return Err(format!("argument {bad:?} is not valid UTF-8")),
        }
    }
    let mut it = words.into_iter();
    let verb = it.next().ok_or("no command given")?;
    let mut path = None;
    let mut debug = false;
    match verb.as_str() {
        "-h" | "--help" | "help" => return Ok(Command::Help),
        "-V" | "--version" => return Ok(Command::Version),
        "check" | "run" => {}
        other => return Err(format!("unknown command {other:?}")),
    }
    for word in it {
        match word.as_str() {
            "--debug" if verb == "run" => debug = true,
            w if w.starts_with('-') => return Err(format!("unknown option {w:?}")),
            w if path.is_none() => path = Some(PathBuf::from(w)),
            w => return Err(format!("unexpected argument {w:?}")),
        }
    }
    let path = path.unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    Ok(if verb == "check" {
        Command::Check(path)
    } else {
        Command::Run { path, debug }
    })
}

fn fail(lines: &[String]) -> ExitCode {
    for l in lines {
        eprintln!("vmware-vbmc: {l}");
    }
    ExitCode::FAILURE
}

fn check(path: PathBuf) -> ExitCode {
    match config::load(&path) {
        Ok(c) => {
            let scripts = std::iter::once(&c.vcenter.password)
                .chain(c.vms.iter().map(|v| &v.ipmi_password))
                .filter(|s| matches!(s, SecretSource::Script(_)))
                .count();
            println!(
                "{}: valid: {} virtual machine(s){}",
                path.display(),
                c.vms.len(),
                if scripts > 0 {
                    format!(", {scripts} password script(s) not run by check")
                } else {
                    String::new()
                }
            );
            ExitCode::SUCCESS
        }
        Err(problems) => fail(&problems),
    }
}

/// Runs every password script now (the daemon keeps the passwords in
/// memory), and checks the IPMI passwords they printed.
fn resolve_secrets(config: &mut Config) -> Result<(), Vec<String>> {
    let timeout = config.script_timeout;
    let mut problems = Vec::new();
    match config.vcenter.password.resolve(timeout) {
        Ok(s) => config.vcenter.password = SecretSource::Value(s),
        Err(e) => problems.push(format!("[vcenter] password_script: {e}")),
    }
    for vm in &mut config.vms {
        match vm.ipmi_password.resolve(timeout) {
            Ok(s) => {
                if let Some(p) = config::ipmi_password_problem(s.expose()) {
                    problems.push(format!("[[vm]] (plug {}): {p}", vm.plug));
                }
                vm.ipmi_password = SecretSource::Value(s);
            }
            Err(e) => problems.push(format!(
                "[[vm]] (plug {}): ipmi_password_script: {e}",
                vm.plug
            )),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn run(path: PathBuf, debug: bool) -> ExitCode {
    // Before the first secret is read.
    if let Err(e) = harden_process() {
        return fail(&[e]);
    }
    // Blocked in this thread before any other exists, so every thread
    // inherits the mask and only the wait below receives them.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    if let Err(e) = signals.thread_block() {
        return fail(&[format!("cannot block signals: {e}")]);
    }
    let log = Logger::stderr(if debug { Level::Debug } else { Level::Info });
    let mut config = match config::load(&path) {
        Ok(c) => c,
        Err(problems) => return fail(&problems),
    };
    if let Err(problems) = resolve_secrets(&mut config) {
        return fail(&problems);
    }
    // vsphere-core logs through the agent framework, to stderr: its
    // warnings always, its steps (lookups, tasks) with --debug.
    agent_framework::logging::set_verbose_level(if debug { 2 } else { 0 });
    let connected = match backend::connect(&config, &log) {
        Ok(c) => c,
        Err(e) => return fail(&[format!("cannot control the VMs: {e}")]),
    };
    let powers = connected.powers;
    let mut endpoints = Vec::new();
    for (vm, power) in config.vms.iter().zip(powers) {
        let SecretSource::Value(password) = &vm.ipmi_password else {
            return fail(&[format!("[[vm]] (plug {}): password not resolved", vm.plug)]);
        };
        let Some(key) = UserKey::new(password.expose().as_bytes()) else {
            return fail(&[format!("[[vm]] (plug {}): ipmi_password too long", vm.plug)]);
        };
        endpoints.push(EndpointConfig {
            name: vm.plug.clone(),
            listen: vm.listen,
            user: IpmiUser {
                name: vm.ipmi_username.as_bytes().to_vec(),
                key,
                privilege_limit: vm.privilege_limit,
            },
            power: Arc::clone(&power),
        });
    }
    let server = match server::start(endpoints, config.limits, log.clone()) {
        Ok(s) => s,
        Err(e) => {
            connected.session.close(Duration::ZERO);
            return fail(&[e.to_string()]);
        }
    };
    log.info(format_args!(
        "serving {} virtual machine(s); SIGTERM or SIGINT stops",
        server.local_addrs().len()
    ));
    let signal = signals.wait();
    log.info(format_args!(
        "stopping on {}",
        signal.map(|s| s.as_str()).unwrap_or("a signal")
    ));
    server.stop();
    // A power change still running gets its whole time, then the session
    // is logged out.
    connected
        .session
        .close(config.limits.reply_within + Duration::from_secs(1));
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    match parse_args(std::env::args_os().skip(1).collect()) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            // The bare version, as the fence agents of the same package print it.
            println!("{}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Check(path)) => check(path),
        Ok(Command::Run { path, debug }) => run(path, debug),
        Err(e) => fail(&[e, "see vmware-vbmc --help".into()]),
    }
}
