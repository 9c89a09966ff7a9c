//! The fencing actions on a connected device: fence-agents' `fence_action`,
//! with wall-clock deadlines and every power change verified by reading
//! the state back from the device.

use std::io::Write;
use std::time::Duration;

use crate::config::{Action, Config};
use crate::device::{Device, Outlet, Plug, PowerState};
use crate::error::{exit_code, FenceError};
use crate::logging;
use crate::timing::Deadline;

/// Runs `cfg.action` and writes its result lines to `out`. Returns the
/// exit code on success; failures are returned as errors.
pub fn perform(
    device: &mut dyn Device,
    cfg: &Config,
    out: &mut dyn Write,
) -> Result<i32, FenceError> {
    let t = &cfg.timeouts;
    match cfg.action {
        Action::List | Action::ListStatus => {
            let with_status = cfg.action == Action::ListStatus;
            let outlets = device.list(
                with_status,
                Deadline::after(t.shell.saturating_add(t.power)),
            )?;
            for o in &outlets {
                print_line(out, &format_outlet(o, &cfg.separator, with_status))?;
            }
            Ok(exit_code::SUCCESS)
        }
        Action::Monitor => {
            device.monitor(Deadline::after(t.shell.saturating_add(t.power)))?;
            Ok(exit_code::SUCCESS)
        }
        Action::Status => {
            let state = combined_state(device, cfg)?;
            print_line(out, &format!("Status: {state}"))?;
            Ok(if state == PowerState::Off {
                exit_code::STATUS_OFF
            } else {
                exit_code::SUCCESS
            })
        }
        Action::On | Action::Off => {
            let target = if cfg.action == Action::On {
                PowerState::On
            } else {
                PowerState::Off
            };
            let state = combined_state(device, cfg)?;
            if state == target {
                print_line(out, &format!("Success: Already {target}"))?;
                return Ok(exit_code::SUCCESS);
            }
            let attempts = if target == PowerState::On {
                cfg.retry_on.saturating_add(1)
            } else {
                1
            };
            set_and_verify(device, cfg, target, attempts)?;
            print_line(out, &format!("Success: Powered {target}"))?;
            Ok(exit_code::SUCCESS)
        }
        Action::Reboot => {
            reboot(device, cfg)?;
            print_line(out, "Success: Rebooted")?;
            Ok(exit_code::SUCCESS)
        }
        Action::Metadata | Action::Manpage | Action::ValidateAll => Ok(exit_code::SUCCESS),
    }
}

fn print_line(out: &mut dyn Write, line: &str) -> Result<(), FenceError> {
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .map_err(|e| {
            FenceError::Device(format!(
                "unable to write the result to standard output: {e}"
            ))
        })
}

fn format_outlet(o: &Outlet, sep: &str, with_status: bool) -> String {
    if with_status {
        let status = o.status.map(PowerState::as_upper).unwrap_or("UNKNOWN");
        format!("{}{sep}{}{sep}{status}", o.id, o.alias)
    } else {
        format!("{}{sep}{}", o.id, o.alias)
    }
}

/// ON if any plug is on (a multi-plug target is only off when every plug
/// is), as fence-agents reports it.
fn combined_state(device: &mut dyn Device, cfg: &Config) -> Result<PowerState, FenceError> {
    let mut any_on = false;
    for plug in &cfg.plugs {
        let s = device.power_state(plug, Deadline::after(cfg.timeouts.shell))?;
        logging::debug(format!("Plug {plug} is {s}"));
        any_on |= s == PowerState::On;
    }
    Ok(if any_on {
        PowerState::On
    } else {
        PowerState::Off
    })
}

fn waiting_error(target: PowerState, cause: String) -> FenceError {
    match target {
        PowerState::On => FenceError::WaitingOn(cause),
        PowerState::Off => FenceError::WaitingOff(cause),
    }
}

/// Send the power command to every plug, then poll until every plug shows
/// `target` or the power deadline passes. With several attempts (retry_on
/// for power on) the whole cycle is repeated.
fn set_and_verify(
    device: &mut dyn Device,
    cfg: &Config,
    target: PowerState,
    attempts: u32,
) -> Result<(), FenceError> {
    let t = &cfg.timeouts;
    let attempts = attempts.max(1);
    let mut last_cause = String::new();
    for attempt in 1..=attempts {
        let mut command_failed = None;
        for plug in &cfg.plugs {
            logging::info(format!("Powering {target} plug {plug}"));
            if let Err(e) = device.set_power(plug, target, Deadline::after(t.shell.max(t.power))) {
                command_failed = Some(e);
                break;
            }
            if !t.power_wait.is_zero() {
                std::thread::sleep(t.power_wait);
            }
        }
        if let Some(e) = command_failed {
            // Only power-on is retried (retry_on); anything else, and the
            // last attempt, fails with the device's own error.
            if attempt < attempts {
                logging::warning(format!("Power {target} attempt {attempt} failed: {e}"));
                last_cause = e.message_lines().join(": ");
                continue;
            }
            return Err(e);
        }
        match wait_for(device, cfg, target, Deadline::after(t.power))? {
            None => return Ok(()),
            Some(pending) => {
                last_cause = format!(
                    "after {} s: {}",
                    t.power.as_secs(),
                    pending
                        .iter()
                        .map(|p| format!("plug {p} is not {target}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                if attempt < attempts {
                    logging::warning(format!(
                        "Power {target} attempt {attempt} timed out ({last_cause})"
                    ));
                }
            }
        }
    }
    Err(waiting_error(target, last_cause))
}

/// Poll until every plug is in `target`. Returns the plugs still not
/// there when the deadline passed, or None when all arrived. At least one
/// poll is made, however short the deadline.
fn wait_for(
    device: &mut dyn Device,
    cfg: &Config,
    target: PowerState,
    deadline: Deadline,
) -> Result<Option<Vec<Plug>>, FenceError> {
    loop {
        let mut pending = Vec::new();
        for plug in &cfg.plugs {
            // A poll started just before the power deadline still gets a
            // full shell_timeout to answer: the deadline decides whether to
            // poll again, not how long one read may take.
            let s = device.power_state(plug, Deadline::after(cfg.timeouts.shell))?;
            if s != target {
                pending.push(plug.clone());
            }
        }
        if pending.is_empty() {
            return Ok(None);
        }
        if deadline.expired() {
            return Ok(Some(pending));
        }
        let nap = cfg.timeouts.status_sleep.min(deadline.remaining());
        std::thread::sleep(nap.max(Duration::from_millis(50)));
    }
}

/// reboot: method=cycle uses the device's reset (which cannot be
/// verified: the plug is on before and after). Otherwise off, verified,
/// then on; a failed on is logged but the reboot succeeds, since the
/// target was verified off (FenceAgentAPI).
fn reboot(device: &mut dyn Device, cfg: &Config) -> Result<(), FenceError> {
    if cfg.cycle {
        let attempts = cfg.retry_on.saturating_add(1);
        let mut last = None;
        for plug in &cfg.plugs {
            for attempt in 1..=attempts {
                match device.power_cycle(
                    plug,
                    Deadline::after(cfg.timeouts.shell.max(cfg.timeouts.power)),
                ) {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    // Retrying cannot give the device a reset it lacks.
                    Err(e @ FenceError::Unsupported(_)) => return Err(e),
                    Err(e) => {
                        logging::warning(format!("Power cycle of {plug}, attempt {attempt}: {e}"));
                        last = Some(e);
                    }
                }
            }
            if let Some(e) = last.take() {
                return Err(FenceError::TimedOut(e.message_lines().join(": ")));
            }
            if !cfg.timeouts.power_wait.is_zero() {
                std::thread::sleep(cfg.timeouts.power_wait);
            }
        }
        return Ok(());
    }
    let state = combined_state(device, cfg)?;
    if state != PowerState::Off {
        set_and_verify(device, cfg, PowerState::Off, 1)?;
    }
    if let Err(e) = set_and_verify(device, cfg, PowerState::On, cfg.retry_on.max(1)) {
        // The node is fenced (verified off); failing to bring it back is
        // reported but does not fail the fencing.
        for line in e.message_lines() {
            logging::error(line);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::{capture, Level};
    use crate::testing::{agent, bench, config, PlugScript, Scripted, Shared, WithReset};
    use std::time::Instant;

    const MS: Duration = Duration::from_millis(1);

    /// A Config for these lines with every wait in milliseconds: power
    /// deadline `power` ms, polls every 20 ms, reads bounded by 200 ms.
    fn cfg(lines: &str, power: u64) -> Config {
        let mut c = config(&agent(), lines).unwrap();
        c.timeouts.power = MS * power as u32;
        c.timeouts.status_sleep = MS * 20;
        c.timeouts.shell = MS * 200;
        c
    }

    struct Done {
        result: Result<i32, FenceError>,
        stdout: String,
        logged: Vec<(Level, String)>,
        took: Duration,
    }

    impl Done {
        fn code(&self) -> i32 {
            match &self.result {
                Ok(c) => *c,
                Err(e) => panic!("failed: {e:?} {:?}", self.logged),
            }
        }
        fn error(&self) -> &FenceError {
            match &self.result {
                Ok(c) => panic!("succeeded with {c}: {}", self.stdout),
                Err(e) => e,
            }
        }
    }

    fn perform_on(device: &mut dyn Device, c: &Config) -> Done {
        let mut out = Vec::new();
        let started = Instant::now();
        let (result, logged) = capture::logged(|| perform(device, c, &mut out));
        Done {
            result,
            stdout: String::from_utf8_lossy(&out).into_owned(),
            logged,
            took: started.elapsed(),
        }
    }

    fn act(b: &Shared, lines: &str, power: u64) -> Done {
        perform_on(&mut Scripted(b.clone()), &cfg(lines, power))
    }

    #[test]
    fn status_and_its_exit_codes() {
        let b = bench(&[("on1", PlugScript::on()), ("off1", PlugScript::off())]);
        let d = act(&b, "action=status\nplug=on1\n", 100);
        assert_eq!((d.code(), d.stdout.as_str()), (0, "Status: ON\n"));
        let d = act(&b, "action=status\nplug=off1\n", 100);
        assert_eq!((d.code(), d.stdout.as_str()), (2, "Status: OFF\n"));
        // A target of several plugs is on when any is.
        let d = act(&b, "action=status\nplug=off1,on1\n", 100);
        assert_eq!((d.code(), d.stdout.as_str()), (0, "Status: ON\n"));
        let d = act(&b, "action=status\nplug=nosuch\n", 100);
        assert!(matches!(d.error(), FenceError::Status(_)), "{:?}", d.result);
        assert_eq!(d.stdout, "");
        assert_eq!(
            b.borrow().count("set on1 OFF") + b.borrow().count("set off1 ON"),
            0
        );
    }

    #[test]
    fn on_and_off_say_already_or_powered_and_are_verified() {
        let b = bench(&[("vm1", PlugScript::on())]);
        assert_eq!(
            act(&b, "action=on\nplug=vm1\n", 100).stdout,
            "Success: Already ON\n"
        );
        assert_eq!(b.borrow().call_names(), ["status vm1"]);
        let d = act(&b, "action=off\nplug=vm1\n", 100);
        assert_eq!((d.code(), d.stdout.as_str()), (0, "Success: Powered OFF\n"));
        assert_eq!(b.borrow().state("vm1"), Some(PowerState::Off));
        assert_eq!(
            b.borrow().call_names()[1..],
            ["status vm1", "set vm1 OFF", "status vm1"]
        );
        assert_eq!(
            act(&b, "action=off\nplug=vm1\n", 100).stdout,
            "Success: Already OFF\n"
        );
        assert_eq!(
            act(&b, "action=on\nplug=vm1\n", 100).stdout,
            "Success: Powered ON\n"
        );
        assert_eq!(
            act(&b, "action=on\nplug=vm1\nverbose=1\n", 100).logged,
            [(Level::Debug, "Plug vm1 is ON".to_string())]
        );
    }

    /// The state is read until it is right: a device that takes four reads
    /// to show the change is polled until then, every status_sleep.
    #[test]
    fn a_lagging_device_is_polled_until_it_shows_the_state() {
        let b = bench(&[(
            "vm1",
            PlugScript {
                lag_reads: 4,
                ..PlugScript::on()
            },
        )]);
        let d = act(&b, "action=off\nplug=vm1\n", 2000);
        assert_eq!(d.stdout, "Success: Powered OFF\n");
        assert_eq!(b.borrow().count("status vm1"), 1 + 4 + 1);
        assert!(d.took >= MS * 20 * 4, "slept between polls: {:?}", d.took);
        assert!(d.took < MS * 1000, "{:?}", d.took);
    }

    /// power_timeout is wall-clock time: a stuck device fails once it has
    /// passed, after at least one poll, with the plugs still wrong named.
    #[test]
    fn a_stuck_device_fails_at_the_power_deadline() {
        let stuck = PlugScript {
            stuck: true,
            ..PlugScript::on()
        };
        let b = bench(&[("vm1", PlugScript::on()), ("vm2", stuck)]);
        let d = act(&b, "action=off\nplug=vm1,vm2\n", 300);
        let e = d.error();
        assert!(matches!(e, FenceError::WaitingOff(_)), "{e:?}");
        assert_eq!(e.to_string(), "Failed: Timed out waiting to power OFF");
        assert_eq!(e.message_lines()[1], "after 0 s: plug vm2 is not OFF");
        assert!(d.took >= MS * 300 && d.took < MS * 700, "{:?}", d.took);
        assert_eq!(d.stdout, "");
        // Both plugs were commanded; vm1 did go off.
        assert_eq!(b.borrow().count("set vm1 OFF"), 1);
        assert_eq!(b.borrow().count("set vm2 OFF"), 1);
        assert_eq!(b.borrow().state("vm1"), Some(PowerState::Off));
        // However short the deadline, one poll is made.
        let b = bench(&[("vm1", PlugScript::on())]);
        let d = act(&b, "action=off\nplug=vm1\n", 0);
        assert_eq!(d.stdout, "Success: Powered OFF\n");
    }

    /// Slow reads count against power_timeout too: it is not a number of
    /// polls (fence-agents' count of polls waited far longer).
    #[test]
    fn slow_reads_do_not_stretch_the_power_deadline() {
        let b = bench(&[(
            "vm1",
            PlugScript {
                stuck: true,
                read_time: MS * 100,
                ..PlugScript::on()
            },
        )]);
        let d = act(&b, "action=off\nplug=vm1\n", 300);
        assert!(matches!(d.error(), FenceError::WaitingOff(_)));
        // The first read, then polling until 300 ms passed (one read may
        // start just before the deadline).
        assert!(d.took >= MS * 400 && d.took < MS * 700, "{:?}", d.took);
        // A read that does not answer within shell_timeout is a timeout.
        let b = bench(&[(
            "vm1",
            PlugScript {
                read_time: MS * 5000,
                ..PlugScript::on()
            },
        )]);
        let d = act(&b, "action=status\nplug=vm1\n", 300);
        assert!(
            matches!(d.error(), FenceError::TimedOut(_)),
            "{:?}",
            d.result
        );
        assert_eq!(d.error().to_string(), "Connection timed out");
        assert!(d.took < MS * 400, "bounded by shell_timeout: {:?}", d.took);
    }

    #[test]
    fn retry_on_repeats_power_on_only() {
        // Fails twice, then works: retry_on=2 (three attempts) succeeds.
        let failing = PlugScript {
            on_failures: 2,
            ..PlugScript::off()
        };
        let b = bench(&[("vm1", failing.clone())]);
        let d = act(&b, "action=on\nplug=vm1\nretry_on=2\n", 200);
        assert_eq!(d.stdout, "Success: Powered ON\n");
        assert_eq!(b.borrow().count("set vm1 ON"), 3);
        assert_eq!(
            d.logged
                .iter()
                .filter(|(l, _)| *l == Level::Warning)
                .count(),
            2,
            "{:?}",
            d.logged
        );
        // retry_on=1 (the default, two attempts) is not enough, and the
        // device's own error is reported.
        let b = bench(&[("vm1", failing)]);
        let d = act(&b, "action=on\nplug=vm1\n", 200);
        assert_eq!(
            d.error().to_string(),
            "Failed: the device refused to power on plug vm1 (for now)"
        );
        assert_eq!(b.borrow().count("set vm1 ON"), 2);
        // retry_on=0: one attempt.
        let stuck = PlugScript {
            stuck: true,
            ..PlugScript::off()
        };
        let b = bench(&[("vm1", stuck.clone())]);
        let d = act(&b, "action=on\nplug=vm1\nretry_on=0\n", 100);
        assert!(matches!(d.error(), FenceError::WaitingOn(_)));
        assert_eq!(b.borrow().count("set vm1 ON"), 1);
        // A stuck power on is retried after its deadline...
        let b = bench(&[("vm1", stuck)]);
        let d = act(&b, "action=on\nplug=vm1\nretry_on=2\n", 100);
        assert!(matches!(d.error(), FenceError::WaitingOn(_)));
        assert_eq!(b.borrow().count("set vm1 ON"), 3);
        // ... but power off never is.
        let b = bench(&[(
            "vm1",
            PlugScript {
                stuck: true,
                ..PlugScript::on()
            },
        )]);
        let d = act(&b, "action=off\nplug=vm1\nretry_on=5\n", 100);
        assert!(matches!(d.error(), FenceError::WaitingOff(_)));
        assert_eq!(b.borrow().count("set vm1 OFF"), 1);
    }

    #[test]
    fn power_wait_pauses_after_each_command() {
        let b = bench(&[("vm1", PlugScript::off()), ("vm2", PlugScript::off())]);
        let mut c = cfg("action=on\nplug=vm1,vm2\n", 500);
        c.timeouts.power_wait = MS * 150;
        let d = perform_on(&mut Scripted(b.clone()), &c);
        assert_eq!(d.code(), 0);
        let calls = b.borrow().calls.clone();
        let at = |name: &str| calls.iter().find(|(_, c)| c == name).unwrap().0;
        assert!(at("set vm2 ON") - at("set vm1 ON") >= MS * 150);
        let first_poll = calls
            .iter()
            .skip_while(|(_, c)| c != "set vm2 ON")
            .find(|(_, c)| c.starts_with("status"))
            .unwrap()
            .0;
        assert!(first_poll - at("set vm2 ON") >= MS * 150);
    }

    #[test]
    fn reboot_is_off_verified_then_on() {
        let b = bench(&[("vm1", PlugScript::on())]);
        let d = act(&b, "action=reboot\nplug=vm1\n", 200);
        assert_eq!(d.stdout, "Success: Rebooted\n");
        assert_eq!(
            b.borrow().call_names(),
            [
                "status vm1",
                "set vm1 OFF",
                "status vm1",
                "set vm1 ON",
                "status vm1"
            ]
        );
        // Already off: only on.
        let b = bench(&[("vm1", PlugScript::off())]);
        act(&b, "action=reboot\nplug=vm1\n", 200);
        assert_eq!(
            b.borrow().call_names(),
            ["status vm1", "set vm1 ON", "status vm1"]
        );
        // The target was fenced once off is verified: a failed on is
        // logged, the reboot succeeds.
        let b = bench(&[(
            "vm1",
            PlugScript {
                on_fails: true,
                ..PlugScript::on()
            },
        )]);
        let d = act(&b, "action=reboot\nplug=vm1\n", 200);
        assert_eq!(d.stdout, "Success: Rebooted\n");
        assert_eq!(b.borrow().state("vm1"), Some(PowerState::Off));
        assert!(d.logged.contains(&(
            Level::Error,
            "Failed: the device refused to power on plug vm1".to_string()
        )));
        // An off that is not verified fails the reboot, and on is not tried.
        let b = bench(&[(
            "vm1",
            PlugScript {
                stuck: true,
                ..PlugScript::on()
            },
        )]);
        let d = act(&b, "action=reboot\nplug=vm1\n", 100);
        assert!(matches!(d.error(), FenceError::WaitingOff(_)));
        assert_eq!(d.stdout, "");
        assert_eq!(b.borrow().count("set vm1 ON"), 0);
    }

    #[test]
    fn method_cycle() {
        // The device's reset, once per plug.
        let b = bench(&[("vm1", PlugScript::on()), ("vm2", PlugScript::off())]);
        let mut dev = WithReset(Scripted(b.clone()));
        let d = perform_on(
            &mut dev,
            &cfg("action=reboot\nplug=vm1,vm2\nmethod=cycle\n", 100),
        );
        assert_eq!(d.stdout, "Success: Rebooted\n");
        assert_eq!(b.borrow().call_names(), ["cycle vm1", "cycle vm2"]);
        // A reset that keeps failing: 1 + retry_on attempts, then a timeout
        // (fence-agents' EC_TIMED_OUT).
        let b = bench(&[(
            "vm1",
            PlugScript {
                on_fails: true,
                ..PlugScript::on()
            },
        )]);
        let mut dev = WithReset(Scripted(b.clone()));
        let d = perform_on(
            &mut dev,
            &cfg("action=reboot\nplug=vm1\nmethod=cycle\nretry_on=2\n", 100),
        );
        assert!(
            matches!(d.error(), FenceError::TimedOut(_)),
            "{:?}",
            d.result
        );
        assert_eq!(b.borrow().count("cycle vm1"), 3);
        // A device without a reset: refused at once, not retried, nothing
        // powered.
        let b = bench(&[("vm1", PlugScript::on())]);
        let d = act(
            &b,
            "action=reboot\nplug=vm1\nmethod=cycle\nretry_on=3\n",
            100,
        );
        assert!(
            matches!(d.error(), FenceError::Unsupported(_)),
            "{:?}",
            d.result
        );
        assert_eq!(
            d.error().to_string(),
            "Failed: method=cycle is not supported by this agent"
        );
        assert!(b.borrow().calls.is_empty(), "{:?}", b.borrow().call_names());
    }

    #[test]
    fn list_list_status_and_monitor() {
        let b = bench(&[
            ("vm1", PlugScript::on()),
            (
                "vm2",
                PlugScript {
                    alias: Some("web server".into()),
                    ..PlugScript::off()
                },
            ),
            ("vm3", PlugScript::default()),
        ]);
        assert_eq!(
            act(&b, "action=list\n", 100).stdout,
            "vm1,vm1\nvm2,web server\nvm3,vm3\n"
        );
        assert_eq!(
            act(&b, "action=list-status\nseparator=;\n", 100).stdout,
            "vm1;vm1;ON\nvm2;web server;OFF\nvm3;vm3;UNKNOWN\n"
        );
        let d = act(&b, "action=monitor\n", 100);
        assert_eq!((d.code(), d.stdout.as_str()), (0, ""));
        assert_eq!(b.borrow().call_names(), ["list", "list", "list"]);
    }

    /// Standard output that cannot be written is a failure, not a silent
    /// success.
    #[test]
    fn an_unwritable_stdout_is_a_failure() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let b = bench(&[("vm1", PlugScript::on())]);
        let e = perform(
            &mut Scripted(b),
            &cfg("action=off\nplug=vm1\n", 100),
            &mut Closed,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Failed: unable to write the result to standard output"),
            "{e}"
        );
    }
}
