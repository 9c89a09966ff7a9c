//! `vmware_type=server1` and `server2`: fence-agents' VIX mode, kept for
//! compatibility. The agent runs VMware's `vmrun` (`exec`, default
//! /usr/bin/vmrun) with the command lines fence-agents uses:
//!
//! - version check: `vmrun` alone, output must say `vmrun version 2` or later;
//! - server2: `vmrun -h https://IP/sdk -u USER -p PASS -T server list`
//!   (running VMs) and `listRegisteredVM` (all VMs);
//! - server1: `vmrun -h HOST -u USER -p PASS -T server1 [-P PORT] list`
//!   (running VMs; every VM it does not list is off);
//! - `start 'PLUG'`, `stop 'PLUG' hard`.
//!
//! Each output's first line is a header (`Total running VMs: 2`).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use agent_framework::{logging, Config, Deadline, Device, FenceError, Outlet, Plug, PowerState};

pub const DEFAULT_VMRUN: &str = "/usr/bin/vmrun";
const MINIMUM_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Server1,
    Server2,
}

pub struct Vmrun {
    exec: String,
    kind: Kind,
    login_args: Vec<String>,
    /// shell_timeout + login_timeout: fence-agents' bound on one vmrun run.
    base: Duration,
    power: Duration,
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

/// The VM lines of a `list` / `listRegisteredVM` output (the first line is
/// a header).
pub fn vm_lines(output: &str) -> Vec<String> {
    output
        .lines()
        .skip(1)
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

pub fn connect(cfg: &Config, kind: Kind) -> Result<Box<dyn Device>, FenceError> {
    let exec = cfg
        .text("exec")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_VMRUN)
        .to_string();
    let ip = cfg.text("ip").unwrap_or("").trim().to_string();
    let user = cfg.text("username").unwrap_or("").to_string();
    let password = cfg
        .password()
        .map(|p| p.expose().to_string())
        .unwrap_or_default();
    let mut login_args = vec!["-h".to_string()];
    match kind {
        Kind::Server2 => {
            login_args.push(format!("https://{ip}/sdk"));
            login_args.extend(["-u".into(), user, "-p".into(), password]);
            login_args.extend(["-T".into(), "server".into()]);
        }
        Kind::Server1 => {
            let mut parts = ip.splitn(2, ':');
            let host = parts.next().unwrap_or("").to_string();
            login_args.push(host);
            login_args.extend(["-u".into(), user, "-p".into(), password]);
            login_args.extend(["-T".into(), "server1".into()]);
            if let Some(port) = parts.next() {
                login_args.extend(["-P".into(), port.to_string()]);
            }
        }
    }
    let t = &cfg.timeouts;
    let dev = Vmrun {
        exec,
        kind,
        login_args,
        base: t.shell + t.login,
        power: t.power,
    };
    let banner = dev.run(&[], false, Duration::ZERO)?;
    match banner_version(&banner) {
        Some(v) if v >= MINIMUM_VERSION => {
            logging::debug(format!("{} is vmrun version {v}", dev.exec));
        }
        _ => {
            return Err(FenceError::usage(format!(
                "Failed: Unsupported version of vmrun command! You must use at least version {MINIMUM_VERSION}! ({} does not say \"vmrun version {MINIMUM_VERSION}.x\" or later)",
                dev.exec
            )))
        }
    }
    Ok(Box::new(dev))
}

impl Vmrun {
    /// Runs vmrun; with `login`, a non-zero exit is an error carrying the
    /// output. Bounded by shell_timeout + login_timeout + `extra`.
    fn run(&self, args: &[&str], login: bool, extra: Duration) -> Result<String, FenceError> {
        let mut cmd = Command::new(&self.exec);
        if login {
            cmd.args(&self.login_args);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown: Vec<String> = std::iter::once(self.exec.clone())
            .chain(if login {
                self.login_args.clone()
            } else {
                vec![]
            })
            .chain(args.iter().map(|a| a.to_string()))
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        logging::debug(shown.join(" "));
        let mut child = cmd.spawn().map_err(|e| {
            FenceError::usage(format!("Failed: Cannot run command {}: {e}", self.exec))
        })?;
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let out_t = std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_end(&mut s);
            }
            s
        });
        let err_t = std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_end(&mut s);
            }
            s
        });
        let limit = self.base + extra;
        let deadline = Deadline::after(limit);
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if deadline.expired() => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(FenceError::TimedOut(format!(
                        "{} did not finish within {} s",
                        self.exec,
                        limit.as_secs()
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    return Err(FenceError::Device(format!(
                        "waiting for {}: {e}",
                        self.exec
                    )))
                }
            }
        };
        let mut text = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
        text.push_str(&String::from_utf8_lossy(&err_t.join().unwrap_or_default()));
        logging::debug(&text);
        if login && !status.success() {
            return Err(FenceError::Device(format!(
                "{} returned {}",
                self.exec,
                text.trim()
            )));
        }
        Ok(text)
    }

    fn running(&self) -> Result<Vec<String>, FenceError> {
        Ok(vm_lines(&self.run(&["list"], true, Duration::ZERO)?))
    }

    fn registered(&self) -> Result<Vec<String>, FenceError> {
        match self.kind {
            Kind::Server2 => Ok(vm_lines(&self.run(
                &["listRegisteredVM"],
                true,
                Duration::ZERO,
            )?)),
            Kind::Server1 => self.running(),
        }
    }
}

impl Device for Vmrun {
    fn power_state(&mut self, plug: &Plug, _deadline: Deadline) -> Result<PowerState, FenceError> {
        let running = self.running()?;
        let on = running.iter().any(|m| m == plug.as_str());
        if self.kind == Kind::Server2 && !on {
            let registered = self.registered()?;
            if !registered.iter().any(|m| m == plug.as_str()) {
                return Err(FenceError::Status(format!(
                    "You have to enter existing name of virtual machine! ({:?} is not registered)",
                    plug.as_str()
                )));
            }
        }
        Ok(if on { PowerState::On } else { PowerState::Off })
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
            Kind::Server2 => self.registered()?,
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
            vm_lines(out),
            vec![
                "[standard] a/a.vmx".to_string(),
                "[standard] b b/b.vmx".into()
            ]
        );
        assert!(vm_lines("Total running VMs: 0\n").is_empty());
    }
}
