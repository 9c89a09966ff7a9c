//! The options of one run once validated ([`crate::validate`] builds
//! them): the action, the plugs, the timeouts and every option's text,
//! given or defaulted. What an agent's `connect` reads.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::device::Plug;
use crate::error::FenceError;
use crate::input::Source;
use crate::secret::Secret;
use crate::timing::{Seconds, Timeouts};

/// What the agent is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    On,
    Off,
    Reboot,
    Status,
    Monitor,
    List,
    ListStatus,
    Metadata,
    Manpage,
    ValidateAll,
}

impl Action {
    /// Every action, in the order metadata lists them.
    pub const ALL: [Action; 10] = [
        Action::On,
        Action::Off,
        Action::Reboot,
        Action::Status,
        Action::List,
        Action::ListStatus,
        Action::Monitor,
        Action::Metadata,
        Action::Manpage,
        Action::ValidateAll,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::On => "on",
            Action::Off => "off",
            Action::Reboot => "reboot",
            Action::Status => "status",
            Action::Monitor => "monitor",
            Action::List => "list",
            Action::ListStatus => "list-status",
            Action::Metadata => "metadata",
            Action::Manpage => "manpage",
            Action::ValidateAll => "validate-all",
        }
    }

    /// Parses an action name as fence-agents does: case-insensitive, with
    /// the OCF spelling `meta-data` and the fabric names enable/disable.
    pub fn parse(text: &str) -> Option<Action> {
        let lower = text.trim().to_ascii_lowercase();
        let name = match lower.as_str() {
            "meta-data" => "metadata",
            "enable" => "on",
            "disable" => "off",
            other => other,
        };
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Actions that act on or read a plug, and so need one.
    pub fn needs_plug(self) -> bool {
        matches!(
            self,
            Action::On | Action::Off | Action::Reboot | Action::Status
        )
    }
}

/// The options of one run, validated.
#[derive(Debug)]
pub struct Config {
    pub action: Action,
    pub source: Source,
    pub(crate) values: BTreeMap<&'static str, String>,
    /// Options the user gave (as opposed to defaults).
    pub(crate) given: Vec<&'static str>,
    pub plugs: Vec<Plug>,
    pub(crate) password: Option<Secret>,
    pub password_script: Option<String>,
    pub timeouts: Timeouts,
    pub timeouts_disabled: bool,
    pub delay: Seconds,
    pub retry_on: u32,
    pub verbose_level: u32,
    pub quiet: bool,
    pub debug_file: Option<String>,
    pub cycle: bool,
    pub separator: String,
}

impl Config {
    /// The text of an option, given or defaulted.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether the user gave the option (a default does not count).
    pub fn is_given(&self, name: &str) -> bool {
        self.given.contains(&name)
    }

    /// A boolean option: false when absent.
    pub fn flag(&self, name: &str) -> bool {
        self.text(name).and_then(parse_bool).unwrap_or(false)
    }

    /// An integer option (validated already, so only absence gives None).
    pub fn integer(&self, name: &str) -> Option<i64> {
        self.text(name).and_then(|t| t.trim().parse().ok())
    }

    pub fn seconds(&self, name: &str) -> Option<Seconds> {
        self.text(name).and_then(Seconds::parse)
    }

    /// The password, from `password` or from `password_script` once
    /// [`Config::resolve_password`] ran it.
    pub fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    /// Runs `password_script` when given (and no password), keeping the
    /// first line of its output as the password. Not done by
    /// `validate-all`, which must stay free of side effects.
    pub fn resolve_password(&mut self) -> Result<(), FenceError> {
        if self.password.is_some() {
            return Ok(());
        }
        if let Some(script) = self.password_script.clone() {
            let pw = crate::password_script::run(
                &script,
                self.timeouts.shell.max(PASSWORD_SCRIPT_MINIMUM),
            )?;
            self.password = Some(pw);
        }
        Ok(())
    }

    /// For tests and for agents that build a Config by hand.
    pub fn set_password(&mut self, pw: Secret) {
        self.password = Some(pw);
    }
}

/// A password script may ask a vault over the network: shell_timeout's
/// default of 3 s is too short for that.
const PASSWORD_SCRIPT_MINIMUM: Duration = Duration::from_secs(10);

/// FenceAgentAPI booleans. Unlike fence-agents, `0/no/off/false` mean off
/// even for flags like `ssl_insecure` (fence-agents takes any value,
/// "0" included, as on).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "on" | "true" => Some(true),
        "0" | "no" | "off" | "false" => Some(false),
        _ => None,
    }
}

/// A validated non-negative integer option as a count: values above
/// `u32::MAX` (which validation accepts) mean "as many as possible", not
/// the default.
pub(crate) fn saturating_u32(text: &str) -> Option<u32> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(t.parse::<u32>().unwrap_or(u32::MAX))
}
