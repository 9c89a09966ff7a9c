//! Support for the in-process tests of the framework's rules: a device
//! scripted per plug (states that change after some reads, commands that
//! fail or do nothing, slow reads), an agent around it, and a run that
//! reports its exit code, its standard output and what it logged.
//!
//! A hand-written fake on purpose: the rules are the framework's own, and
//! the process-level tests (cts/tests/framework.rs) run the same rules
//! through a real binary.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::agent::{no_extra_validation, AgentSpec, PasswordRule};
use crate::config::Config;
use crate::device::{Device, Outlet, Plug, PowerState};
use crate::error::FenceError;
use crate::input;
use crate::logging::{capture, Level};
use crate::options::{OptionSet, Required};
use crate::timing::Deadline;
use crate::validate::{self, Environment};

/// How one plug behaves.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlugScript {
    /// `None`: no such plug on the device.
    pub state: Option<PowerState>,
    /// Reads after a power command before the new state shows.
    pub lag_reads: u32,
    /// Power commands are accepted and do nothing.
    pub stuck: bool,
    /// Power-on commands that fail before one works.
    pub on_failures: u32,
    /// Every power-on command (and reset) fails.
    pub on_fails: bool,
    /// Each read takes this long; past the call's deadline it is a timeout.
    pub read_time: Duration,
    pub alias: Option<String>,
}

impl PlugScript {
    pub(crate) fn on() -> PlugScript {
        PlugScript {
            state: Some(PowerState::On),
            ..PlugScript::default()
        }
    }

    pub(crate) fn off() -> PlugScript {
        PlugScript {
            state: Some(PowerState::Off),
            ..PlugScript::default()
        }
    }
}

/// The device's state and every call made to it.
#[derive(Debug, Default)]
pub(crate) struct Bench {
    pub plugs: BTreeMap<String, PlugScript>,
    /// A command waiting to show: target and reads left.
    pending: BTreeMap<String, (PowerState, u32)>,
    pub calls: Vec<(Instant, String)>,
}

pub(crate) type Shared = Rc<RefCell<Bench>>;

pub(crate) fn bench(plugs: &[(&str, PlugScript)]) -> Shared {
    Rc::new(RefCell::new(Bench {
        plugs: plugs
            .iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect(),
        ..Bench::default()
    }))
}

impl Bench {
    fn record(&mut self, call: String) {
        self.calls.push((Instant::now(), call));
    }

    pub(crate) fn call_names(&self) -> Vec<String> {
        self.calls.iter().map(|(_, c)| c.clone()).collect()
    }

    pub(crate) fn count(&self, call: &str) -> usize {
        self.calls.iter().filter(|(_, c)| c == call).count()
    }

    pub(crate) fn state(&self, plug: &str) -> Option<PowerState> {
        self.plugs.get(plug).and_then(|p| p.state)
    }

    fn script(&mut self, plug: &Plug) -> Result<&mut PlugScript, FenceError> {
        self.plugs
            .get_mut(plug.as_str())
            .filter(|p| p.state.is_some())
            .ok_or_else(|| FenceError::Status(format!("plug {plug} is not on this device")))
    }
}

/// A device without a reset of its own.
pub(crate) struct Scripted(pub Shared);

/// The same device with a reset (`method=cycle`).
pub(crate) struct WithReset(pub Scripted);

impl Device for Scripted {
    fn power_state(&mut self, plug: &Plug, deadline: Deadline) -> Result<PowerState, FenceError> {
        let read_time = {
            let mut b = self.0.borrow_mut();
            b.record(format!("status {plug}"));
            b.script(plug)?.read_time
        };
        if !read_time.is_zero() {
            if read_time > deadline.remaining() {
                std::thread::sleep(deadline.remaining());
                return Err(FenceError::TimedOut(format!(
                    "no answer about plug {plug} before the deadline"
                )));
            }
            std::thread::sleep(read_time);
        }
        let mut b = self.0.borrow_mut();
        if let Some((target, left)) = b.pending.get(plug.as_str()).copied() {
            if left == 0 {
                b.pending.remove(plug.as_str());
                b.script(plug)?.state = Some(target);
            } else {
                b.pending.insert(plug.to_string(), (target, left - 1));
            }
        }
        b.script(plug)?
            .state
            .ok_or_else(|| FenceError::Status(format!("plug {plug} has no state")))
    }

    fn set_power(
        &mut self,
        plug: &Plug,
        target: PowerState,
        _deadline: Deadline,
    ) -> Result<(), FenceError> {
        let mut b = self.0.borrow_mut();
        b.record(format!("set {plug} {target}"));
        let script = b.script(plug)?;
        if target == PowerState::On {
            if script.on_fails {
                return Err(FenceError::Device(format!(
                    "the device refused to power on plug {plug}"
                )));
            }
            if script.on_failures > 0 {
                script.on_failures -= 1;
                return Err(FenceError::Device(format!(
                    "the device refused to power on plug {plug} (for now)"
                )));
            }
        }
        if script.stuck {
            return Ok(());
        }
        let lag = script.lag_reads;
        if lag == 0 {
            script.state = Some(target);
            b.pending.remove(plug.as_str());
        } else {
            b.pending.insert(plug.to_string(), (target, lag));
        }
        Ok(())
    }

    fn list(&mut self, with_status: bool, _deadline: Deadline) -> Result<Vec<Outlet>, FenceError> {
        let mut b = self.0.borrow_mut();
        b.record("list".into());
        Ok(b.plugs
            .iter()
            .map(|(name, s)| Outlet {
                id: name.clone(),
                alias: s.alias.clone().unwrap_or_else(|| name.clone()),
                status: if with_status { s.state } else { None },
            })
            .collect())
    }

    fn disconnect(&mut self) {
        self.0.borrow_mut().record("disconnect".into());
    }
}

impl Device for WithReset {
    fn power_state(&mut self, plug: &Plug, deadline: Deadline) -> Result<PowerState, FenceError> {
        self.0.power_state(plug, deadline)
    }

    fn set_power(
        &mut self,
        plug: &Plug,
        target: PowerState,
        deadline: Deadline,
    ) -> Result<(), FenceError> {
        self.0.set_power(plug, target, deadline)
    }

    fn list(&mut self, with_status: bool, deadline: Deadline) -> Result<Vec<Outlet>, FenceError> {
        self.0.list(with_status, deadline)
    }

    fn power_cycle(&mut self, plug: &Plug, _deadline: Deadline) -> Result<(), FenceError> {
        let mut b = self.0 .0.borrow_mut();
        b.record(format!("cycle {plug}"));
        let script = b.script(plug)?;
        if script.on_fails {
            return Err(FenceError::Device(format!(
                "the device refused to reset plug {plug}"
            )));
        }
        script.state = Some(PowerState::On);
        Ok(())
    }

    fn disconnect(&mut self) {
        self.0.disconnect()
    }
}

thread_local! {
    /// The device the next `connect` on this thread returns.
    static NEXT: RefCell<Option<Box<dyn Device>>> = const { RefCell::new(None) };
}

fn connect(_cfg: &Config, _deadline: Deadline) -> Result<Box<dyn Device>, FenceError> {
    NEXT.with(|n| n.borrow_mut().take())
        .ok_or_else(|| FenceError::LoginDenied("no scripted device".into()))
}

/// The test agent: a scripted device behind the options of a typical
/// agent. `ip` names nothing; it is required as it is for real agents.
pub(crate) fn agent() -> AgentSpec {
    AgentSpec {
        name: "fence_scripted",
        shortdesc: "In-process test agent",
        longdesc: "A scripted device for the framework's own tests.",
        vendor_url: "https://example.org",
        symlinks: &[],
        options: OptionSet::pick(&[
            "ip",
            "ipport",
            "username",
            "password",
            "password_script",
            "identity_file",
            "plug",
            "method",
            "separator",
            "ssl_insecure",
            "inet4_only",
            "inet6_only",
        ])
        .with_required("username", Required::No),
        password: PasswordRule::Optional,
        has_list: true,
        validate: no_extra_validation,
        connect,
        man_sections: &[],
    }
}

/// What a run did.
#[derive(Debug)]
pub(crate) struct Ran {
    pub code: i32,
    pub stdout: String,
    pub logged: Vec<(Level, String)>,
    pub elapsed: Duration,
}

impl Ran {
    pub(crate) fn at(&self, level: Level) -> Vec<&str> {
        self.logged
            .iter()
            .filter(|(l, _)| *l == level)
            .map(|(_, m)| m.as_str())
            .collect()
    }

    pub(crate) fn first_error(&self) -> &str {
        self.at(Level::Error)
            .first()
            .copied()
            .unwrap_or_else(|| panic!("no error logged: {:?}", self.logged))
    }
}

pub(crate) fn environment() -> Environment {
    Environment {
        run_by_fencer: false,
        syslog: false,
    }
}

/// Runs `agent` on these stdin lines (after `ip=bench`) with `device`.
pub(crate) fn run_stdin(agent: &AgentSpec, device: Box<dyn Device>, lines: &str) -> Ran {
    run_with(agent, device, &environment(), &[], lines)
}

/// Runs `agent` with these arguments (after `-a bench`) and `device`.
pub(crate) fn run_argv(agent: &AgentSpec, device: Box<dyn Device>, args: &[&str]) -> Ran {
    let mut argv = vec!["-a", "bench"];
    argv.extend_from_slice(args);
    run_with(agent, device, &environment(), &argv, "")
}

pub(crate) fn run_with(
    agent: &AgentSpec,
    device: Box<dyn Device>,
    env: &Environment,
    args: &[&str],
    lines: &str,
) -> Ran {
    NEXT.with(|n| *n.borrow_mut() = Some(device));
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    let stdin = format!("ip=bench\n{lines}").into_bytes();
    let mut out = Vec::new();
    let started = Instant::now();
    let (code, logged) =
        capture::logged(|| crate::run::run(agent, &args, &mut out, env, || Ok(stdin)));
    let elapsed = started.elapsed();
    NEXT.with(|n| n.borrow_mut().take());
    Ran {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        logged,
        elapsed,
    }
}

/// A validated Config from stdin lines (after `ip=bench`), for the tests
/// of the actions and of validation.
pub(crate) fn config(agent: &AgentSpec, lines: &str) -> Result<Config, FenceError> {
    let text = format!("ip=bench\n{lines}");
    let raw = input::parse_stdin(text.as_bytes(), &agent.options)?;
    validate::validate(&raw, agent, &environment())
}
