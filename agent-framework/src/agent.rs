//! An agent, declared as data: its name, its documentation, its options
//! and the few functions that talk to its device.

use crate::config::{Action, Config};
use crate::device::Device;
use crate::error::FenceError;
use crate::options::OptionSet;
use crate::timing::Deadline;

/// Which credentials an agent needs before it may try to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRule {
    /// `password` or `password_script`.
    Required,
    /// `password`, `password_script` or `identity_file`.
    RequiredOrIdentity,
    /// Nothing (for instance SSH with an ssh-agent).
    Optional,
}

/// Opens a session with the device, within the login deadline.
pub type ConnectFn = fn(&Config, Deadline) -> Result<Box<dyn Device>, FenceError>;

/// Agent-specific checks of the options; must not contact the device
/// (`validate-all` calls it).
pub type ValidateFn = fn(&Config) -> Result<(), FenceError>;

pub fn no_extra_validation(_: &Config) -> Result<(), FenceError> {
    Ok(())
}

/// A section the man page adds after the generated ones.
#[derive(Debug, Clone, Copy)]
pub struct ManSection {
    pub title: &'static str,
    /// Paragraphs separated by blank lines.
    pub text: &'static str,
}

pub struct AgentSpec {
    /// The program name (`fence_vmware_esxi`), as metadata and Pacemaker
    /// know it.
    pub name: &'static str,
    pub shortdesc: &'static str,
    /// Paragraphs separated by blank lines.
    pub longdesc: &'static str,
    pub vendor_url: &'static str,
    /// Other names the same program answers to, with their descriptions.
    pub symlinks: &'static [(&'static str, &'static str)],
    pub options: OptionSet,
    pub password: PasswordRule,
    /// Whether `list` and `list-status` are offered.
    pub has_list: bool,
    pub validate: ValidateFn,
    pub connect: ConnectFn,
    /// Extra man page sections.
    pub man_sections: &'static [ManSection],
}

impl AgentSpec {
    /// Whether the agent offers `action`.
    pub fn supports(&self, action: Action) -> bool {
        match action {
            Action::List | Action::ListStatus => self.has_list,
            _ => true,
        }
    }

    /// The actions in the order metadata lists them.
    pub fn actions(&self) -> Vec<Action> {
        Action::ALL
            .into_iter()
            .filter(|a| self.supports(*a))
            .collect()
    }
}
