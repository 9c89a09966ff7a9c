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
