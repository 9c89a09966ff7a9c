//! `vmware_type=server1` and `server2`: fence-agents' VIX mode, kept for
//! compatibility. The agent runs VMware's `vmrun` (`exec`, default
//! /usr/bin/vmrun) with the command lines fence-agents uses:
//!
//! - version check: `vmrun` alone, output must say `vmrun version 2` or later;
//! - server2: `vmrun -h https://IP/sdk -u USER -p PASS -T server list`
//!   (running VMs) and `listRegisteredVM` (all VMs);
//! - server1: `vmrun -h HOST -u USER -p PASS -T server1 [-P PORT] list`
//!   (running VMs only: VMware Server 1 has no `listRegisteredVM`);
//! - `start 'PLUG'`, `stop 'PLUG' hard`.
//!
//! Each list output's first line is a header (`Total running VMs: 2`).
//!
//! vmrun takes the password nowhere but on its command line, where every
//! local user can read it (`ps`, /proc) while vmrun runs. The agent says
//! so once per run, and never writes that command line to the log with
//! the password in it.
//!
//! server1 cannot tell a VM that is off from a name that is not a VM:
//! neither is in `list`. fence-agents calls both off, so a mistyped plug
//! is "Success: Already OFF" while the real VM runs on. Here a plug is off
//! only if this run saw it running first (it is then a VM of that host,
//! and our `stop` made it leave the list); otherwise the state is refused.
//! So with server1, `off` and `reboot` of a running VM work and are
//! verified, and `status`, `on` and `off` of a VM that is not running fail.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use agent_framework::subprocess::{self, ChildError};
use agent_framework::{logging, Config, Deadline, Device, FenceError, Outlet, Plug, PowerState};

pub const DEFAULT_VMRUN: &str = "/usr/bin/vmrun";
const MINIMUM_VERSION: u32 = 2;

/// A list of thousands of VMs is well under this; more is not vmrun.
const MAX_OUTPUT: usize = 8 * 1024 * 1024;

/// What the log shows in place of the password.
const HIDDEN: &str = "****";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Server1,
    Server2,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Server1 => "server1",
            Kind::Server2 => "server2",
        }
    }
}

pub struct Vmrun {
    exec: String,
    kind: Kind,
    /// The login arguments, the password among them as `None`.
    login_args: Vec<Option<String>>,
    password: String,
    /// shell_timeout + login_timeout: fence-agents' bound on one vmrun run.
    base: Duration,
    power: Duration,
    /// VMs `list` showed running during this run: VMs of this host.
    seen_running: HashSet<String>,
}

/// The major version in vmrun's banner (`vmrun version 2.0.0 build-116503`).
pub fn banner_version(output: &str) -> Option<u32> {
    let lower = output.to_ascii_lowercase();
    let at = lower.find("vmrun version ")?;
    let rest = &lower[at + "vmrun version ".len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    // fence-agents wants "N." after the major number.
    if !rest[digits.len()..].starts_with('.') {
        return None;
    }
    digits.parse().ok()
}

/// The VM lines of a `list` / `listRegisteredVM` output, after checking
/// that it is one: a `Total ...: N` header and N VM lines. Anything else
/// (an error text on exit status 0, a cut output) is not taken as an
/// empty list, which would make every VM look off.
pub fn vm_lines(output: &str) -> Result<Vec<String>, String> {
    let mut lines = output.lines().map(|l| l.trim_end_matches('\r'));
    let header = lines.next().unwrap_or("");
    let vms: Vec<String> = lines
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let count = header
        .strip_prefix("Total ")
        .and_then(|rest| rest.rsplit_once(':'))
        .and_then(|(_, n)| n.trim().parse::<usize>().ok());
    match count {
        Some(n) if n == vms.len() => Ok(vms),
        Some(n) => Err(format!(
            "the header says {n} VM(s) but {} follow",
            vms.len()
        )),
        None => Err(format!("not a list of VMs: {:?}", cut(header))),
    }
}

fn cut(text: &str) -> String {
    text.chars().take(200).collect()
}

pub fn connect(cfg: &Config, kind: Kind) -> Result<Box<dyn Device>, FenceError> {
    let exec = cfg
        .text("exec")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_VMRUN)
        .to_string();
    logging::warning(format!(
        "vmware_type={}: vmrun takes the password on its command line, where other local users can read it while vmrun runs",
        kind.name()
    ));
    let ip = cfg.text("ip").unwrap_or("").trim().to_string();
    let user = cfg.text("username").unwrap_or("").to_string();
    let password = cfg
        .password()
        .map(|p| p.expose().to_string())
        .unwrap_or_default();
    let word = |s: &str| Some(s.to_string());
    let mut login_args = vec![word("-h")];
    match kind {
        Kind::Server2 => {
            login_args.push(Some(format!("https://{ip}/sdk")));
            login_args.extend([word("-u"), Some(user), word("-p"), None]);
            login_args.extend([word("-T"), word("server")]);
        }
        Kind::Server1 => {
            let mut parts = ip.splitn(2, ':');
            login_args.push(parts.next().map(str::to_string));
            login_args.extend([word("-u"), Some(user), word("-p"), None]);
            login_args.extend([word("-T"), word("server1")]);
            if let Some(port) = parts.next() {
                login_args.extend([word("-P"), word(port)]);
            }
        }
    }
    let t = &cfg.timeouts;
    let dev = Vmrun {
        exec,
        kind,
        login_args,
        password,
        base: t.shell.saturating_add(t.login),
        power: t.power,
        seen_running: HashSet::new(),
    };
    let banner = dev.run(&[], false, Duration::ZERO)?;
    match banner_version(&banner) {
        Some(v) if v >= MINIMUM_VERSION => {
            logging::debug(format!("{} is vmrun version {v}", dev.exec));
        }
        _ => {
            return Err(FenceError::Unsupported(format!(
                "Unsupported version of vmrun command! You must use at least version {MINIMUM_VERSION}! ({} does not say \"vmrun version {MINIMUM_VERSION}.x\" or later)",
                dev.exec
            )))
        }
    }
    Ok(Box::new(dev))
}

/// One argument as the log shows it: shell-quoted, the password hidden.
fn shown(arg: Option<&str>) -> String {
    match arg {
        Some(a) => format!("'{}'", a.replace('\'', "'\\''")),
        None => HIDDEN.to_string(),
    }
}

impl Vmrun {
    /// Runs vmrun; with `login`, a non-zero exit is an error carrying the
    /// output. Bounded by shell_timeout + login_timeout + `extra`, as
    /// fence-agents bounds it, with vmrun's whole process group stopped
    /// at that bound.
    fn run(&self, args: &[&str], login: bool, extra: Duration) -> Result<String, FenceError> {
        let login_args: &[Option<String>] = if login { &self.login_args } else { &[] };
        let mut command = Command::new(&self.exec);
        for a in login_args {
            command.arg(a.as_deref().unwrap_or(&self.password));
        }
        command.args(args);
        let line: Vec<String> = std::iter::once(shown(Some(&self.exec)))
            .chain(login_args.iter().map(|a| shown(a.as_deref())))
            .chain(args.iter().map(|a| shown(Some(a))))
            .collect();
        logging::debug(line.join(" "));
        let limit = self.base.saturating_add(extra);
        let finished =
            subprocess::run(command, Deadline::after(limit), MAX_OUTPUT).map_err(|e| match e {
                ChildError::Spawn(e) => {
                    FenceError::Local(format!("Cannot run command {}: {e}", self.exec))
                }
                ChildError::TimedOut => FenceError::TimedOut(format!(
                    "{} did not finish within {} s and was stopped",
                    self.exec,
                    limit.as_secs()
                )),
                ChildError::TooMuchOutput { cap } => FenceError::Device(format!(
                    "{} printed more than {cap} bytes and was stopped",
                    self.exec
                )),
                ChildError::Wait(e) => FenceError::Local(format!("waiting for {}: {e}", self.exec)),
            })?;
        let mut text = String::from_utf8_lossy(&finished.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&finished.stderr));
        logging::debug(&text);
        if login && !finished.status.success() {
            return Err(FenceError::Device(format!(
                "{} returned {}",
                self.exec,
                text.trim()
            )));
        }
        Ok(text)
    }

    fn listed(&self, command: &str) -> Result<Vec<String>, FenceError> {
        let output = self.run(&[command], true, Duration::ZERO)?;
        vm_lines(&output)
            .map_err(|why| FenceError::Device(format!("{} {command}: {why}", self.exec)))
    }

    fn running(&mut self) -> Result<Vec<String>, FenceError> {
        let running = self.listed("list")?;
        self.seen_running.extend(running.iter().cloned());
        Ok(running)
    }
}

impl Device for Vmrun {
    fn power_state(&mut self, plug: &Plug, _deadline: Deadline) -> Result<PowerState, FenceError> {
        let running = self.running()?;
        if running.iter().any(|m| m == plug.as_str()) {
            return Ok(PowerState::On);
        }
        match self.kind {
            Kind::Server2 => {
                if !self
                    .listed("listRegisteredVM")?
                    .iter()
                    .any(|m| m == plug.as_str())
                {
                    return Err(FenceError::Status(format!(
                        "You have to enter existing name of virtual machine! ({:?} is not registered)",
                        plug.as_str()
                    )));
                }
            }
            Kind::Server1 => {
                if !self.seen_running.contains(plug.as_str()) {
                    return Err(FenceError::Status(format!(
                        "{:?} is not running, and with vmware_type=server1 vmrun cannot tell a VM that is off from a name that is not a VM of this host: not calling it off",
                        plug.as_str()
                    )));
                }
            }
        }
        Ok(PowerState::Off)
    }

    fn set_power(
        &mut self,
        plug: &Plug,
        target: PowerState,
        _deadline: Deadline,
    ) -> Result<(), FenceError> {
        let args: Vec<&str> = match target {
            PowerState::On => vec!["start", plug.as_str()],
            PowerState::Off => vec!["stop", plug.as_str(), "hard"],
        };
        self.run(&args, true, self.power).map(|_| ())
    }

    fn list(&mut self, with_status: bool, _deadline: Deadline) -> Result<Vec<Outlet>, FenceError> {
        let running = self.running()?;
        let all = match self.kind {
            Kind::Server2 => self.listed("listRegisteredVM")?,
            // Only the running VMs are known (see the module's header).
            Kind::Server1 => running.clone(),
        };
        Ok(all
            .into_iter()
            .map(|m| {
                let on = running.contains(&m);
                Outlet {
                    id: m,
                    alias: String::new(),
                    status: with_status.then_some(if on {
                        PowerState::On
                    } else {
                        PowerState::Off
                    }),
                }
            })
            .collect())
    }

    fn monitor(&mut self, _deadline: Deadline) -> Result<(), FenceError> {
        self.running().map(|_| ())
    }

    fn disconnect(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_versions() {
        assert_eq!(
            banner_version("vmrun version 2.0.0 build-116503\n\nUsage: vmrun ..."),
            Some(2)
        );
        assert_eq!(banner_version("VMRUN VERSION 1.1.0 build-1"), Some(1));
        assert_eq!(banner_version("vmrun version 10.0.0"), Some(10));
        assert_eq!(banner_version("something else"), None);
        assert_eq!(banner_version("vmrun version x"), None);
    }

    #[test]
    fn list_outputs_skip_the_header() {
        let out = "Total running VMs: 2\n[standard] a/a.vmx\n[standard] b b/b.vmx\r\n\n";
        assert_eq!(
            vm_lines(out).unwrap(),
            vec![
                "[standard] a/a.vmx".to_string(),
                "[standard] b b/b.vmx".into()
            ]
        );
        assert!(vm_lines("Total running VMs: 0\n").unwrap().is_empty());
        assert_eq!(
            vm_lines("Total registered VMs: 1\r\n[a] b.vmx\r\n").unwrap(),
            vec!["[a] b.vmx".to_string()]
        );
    }

    /// Text that is not a list must not pass for an empty one: every VM
    /// would then look off.
    #[test]
    fn anything_but_a_list_is_refused() {
        for bad in [
            "",
            "Error: The operation is not supported\n",
            "Total running VMs: 2\n[standard] a/a.vmx\n",
            "Total running VMs: 0\n[standard] a/a.vmx\n",
            "Total running VMs: many\n",
            "[standard] a/a.vmx\n[standard] b/b.vmx\n",
        ] {
            assert!(vm_lines(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_password_is_never_in_the_logged_command_line() {
        assert_eq!(shown(None), "****");
        assert_eq!(shown(Some("it's")), "'it'\\''s'");
    }
}
