//! What an agent implements: a connected session with a fencing device.
//!
//! The framework owns everything around it (options, delays, polling,
//! deadlines, messages); a device only answers "what is this plug's power
//! state", "change it", "what plugs are there".

use std::fmt;

use crate::error::FenceError;
use crate::timing::Deadline;

/// The power state of one plug as the device reports it, after the agent
/// has folded device-specific states into the two that fencing knows
/// (VMware's "suspended" is `Off`: a suspended VM cannot write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    On,
    Off,
}

impl PowerState {
    /// The word fence-agents prints: `Status: ON`, `Success: Already OFF`.
    pub fn as_upper(self) -> &'static str {
        match self {
            PowerState::On => "ON",
            PowerState::Off => "OFF",
        }
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_upper())
    }
}

/// One target as the user named it (`plug`/`port`/`nodename`), not yet
/// resolved to a device object. Resolution is the device's job and must be
/// exact: a plug that matches two objects is an error, never a guess.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Plug(String);

impl Plug {
    pub fn new(id: impl Into<String>) -> Self {
        Plug(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Plug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One line of `list` / `list-status`: `id,alias[,STATUS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outlet {
    pub id: String,
    pub alias: String,
    /// `None` when the device could not say (printed as UNKNOWN), or when
    /// status was not asked for.
    pub status: Option<PowerState>,
}

/// A live session with a fencing device, opened by the agent's `connect`.
///
/// Every call that goes to the device gets a [`Deadline`]; an
/// implementation bounds each network wait by it (and by its own
/// per-command timeout), so that no call can block past it.
pub trait Device {
    /// The plug's current power state, read from the device.
    fn power_state(&mut self, plug: &Plug, deadline: Deadline) -> Result<PowerState, FenceError>;

    /// Ask the device to change the plug's power. The framework never
    /// trusts this call's outcome: it polls [`Device::power_state`] until
    /// the target state or the power deadline.
    fn set_power(
        &mut self,
        plug: &Plug,
        target: PowerState,
        deadline: Deadline,
    ) -> Result<(), FenceError>;

    /// Every plug the device offers. With `with_status`, each outlet's
    /// state too (for `list-status`).
    fn list(&mut self, with_status: bool, deadline: Deadline) -> Result<Vec<Outlet>, FenceError>;

    /// `method=cycle`: the device's own reset. Devices without one keep
    /// this default, and the framework refuses `method=cycle` for them.
    fn power_cycle(&mut self, plug: &Plug, deadline: Deadline) -> Result<(), FenceError> {
        let _ = (plug, deadline);
        Err(FenceError::Unsupported(
            "method=cycle is not supported by this agent".into(),
        ))
    }

    /// `monitor`: prove the device answers. The default lists the plugs.
    fn monitor(&mut self, deadline: Deadline) -> Result<(), FenceError> {
        self.list(false, deadline).map(|_| ())
    }

    /// Close the session (log out). Called on every path the process
    /// controls, success or failure; errors here are only logged.
    fn disconnect(&mut self);
}
