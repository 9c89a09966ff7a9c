//! The shared engine of the fence agents: ClusterLabs fence-agents'
//! `fencing.py`, in Rust.
//!
//! An agent is data plus a few functions: its [`AgentSpec`] (name, docs,
//! the options it picks from the registry with [`OptionSet::pick`]) and a
//! `connect` function that returns a [`Device`]. Everything else — argv and
//! stdin parsing, validation, `delay`, polling until the power state is
//! verified, deadlines, retries, exit codes and messages, logging,
//! metadata, man page — is here.
//!
//! # The contract
//!
//! What an agent may use is what this page lists: the types and functions
//! re-exported here, and the modules used as families of functions:
//! [`run`] (the agent's `main`), [`logging`], [`signals`] (cleanup on
//! SIGTERM/SIGINT), [`subprocess`] (helper programs with a deadline),
//! [`password_script`], [`secret`] (the masking of secrets in any text),
//! [`net`] (host name resolution and TCP connection within a deadline);
//! with the `ssh` feature also `ssh`. Everything else (parsing,
//! validation, the actions, metadata and man page generation) is private
//! and may change.
//!
//! A [`Device`] only reads and changes power states and lists plugs, each
//! call within the [`Deadline`] it is given; the framework never trusts a
//! power command and polls [`Device::power_state`] until the state is
//! verified. Failures are [`FenceError`]s, which carry fence-agents'
//! messages and exit codes.
//!
//! ```no_run
//! use agent_framework::*;
//!
//! /// A "device" whose single plug is a file holding "on" or "off".
//! struct FileDevice(std::path::PathBuf);
//!
//! impl Device for FileDevice {
//!     fn power_state(&mut self, _: &Plug, _: Deadline) -> Result<PowerState, FenceError> {
//!         match std::fs::read_to_string(&self.0).as_deref() {
//!             Ok("on") => Ok(PowerState::On),
//!             Ok("off") => Ok(PowerState::Off),
//!             _ => Err(FenceError::Status("unreadable state file".into())),
//!         }
//!     }
//!     fn set_power(&mut self, _: &Plug, to: PowerState, _: Deadline) -> Result<(), FenceError> {
//!         let word = if to == PowerState::On { "on" } else { "off" };
//!         std::fs::write(&self.0, word).map_err(|e| FenceError::Device(e.to_string()))
//!     }
//!     fn list(&mut self, _: bool, _: Deadline) -> Result<Vec<Outlet>, FenceError> {
//!         Ok(vec![])
//!     }
//!     fn disconnect(&mut self) {}
//! }
//!
//! fn connect(cfg: &Config, _: Deadline) -> Result<Box<dyn Device>, FenceError> {
//!     Ok(Box::new(FileDevice(cfg.text("ip").unwrap_or("/tmp/state").into())))
//! }
//!
//! fn main() {
//!     let agent = AgentSpec {
//!         name: "fence_file",
//!         shortdesc: "Fence agent for a file",
//!         longdesc: "Powers a file on and off.",
//!         vendor_url: "https://example.org",
//!         symlinks: &[],
//!         options: OptionSet::pick(&["ip", "plug"]),
//!         password: PasswordRule::Optional,
//!         has_list: true,
//!         validate: no_extra_validation,
//!         connect,
//!         man_sections: &[],
//!     };
//!     run::main(&[&agent]);
//! }
//! ```

mod action;
mod agent;
mod config;
mod device;
mod error;
mod input;
pub mod logging;
mod manpage;
mod metadata;
pub mod net;
mod options;
pub mod password_script;
pub mod run;
pub mod secret;
pub mod signals;
#[cfg(feature = "ssh")]
pub mod ssh;
pub mod subprocess;
#[cfg(test)]
mod testing;
mod timing;
mod validate;
pub mod xml_escape;

pub use agent::{no_extra_validation, AgentSpec, ConnectFn, ManSection, PasswordRule, ValidateFn};
pub use config::{Action, Config};
pub use device::{Device, Outlet, Plug, PowerState};
pub use error::{exit_code, FenceError};
pub use input::Source;
pub use options::{OptionSet, OptionSpec, Required, ValueKind};
pub use secret::{find_secret, mask_secrets, Secret, MASK};
pub use timing::{Deadline, Seconds, Timeouts};
pub use validate::Environment;

/// The parsers and the validation that are otherwise private, for the fuzz
/// targets in fuzz/ (which feed them arbitrary input). Not part of the
/// contract above.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::input::{parse_argv, parse_stdin, RawInput};
    pub use crate::validate::validate;
}
