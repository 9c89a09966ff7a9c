//! The SSH family of options (fence-agents' `secure`: `ssh`,
//! `ssh_options`, `identity_file`, `inet4_only`, `inet6_only`) turned into
//! a verified, logged-in session, for agents whose device is driven over
//! SSH. Built only with the `ssh` feature, so that agents that do not use
//! SSH do not link libssh2.
//!
//! Unlike fence-agents, no `ssh` program is run (the password would have
//! to reach it somehow); libssh2 is used in-process, and host keys are
//! checked against OpenSSH's known_hosts files.

pub mod known_hosts;
pub mod options;
mod session;
mod watchdog;

use std::path::PathBuf;

pub use options::{SshOptions, Strict};
pub use session::{Output, Params, Ssh};

use crate::config::Config;
use crate::error::FenceError;
use crate::logging;

/// The options an SSH agent picks from the registry, besides the
/// address, credentials and plug.
pub const OPTIONS: &[&str] = &[
    "ssh",
    "ssh_options",
    "identity_file",
    "inet4_only",
    "inet6_only",
    "ipport",
];

fn ssh_options_of(cfg: &Config) -> Result<SshOptions, FenceError> {
    options::parse(cfg.text("ssh_options").unwrap_or(""))
        .map_err(|e| FenceError::usage(format!("Failed: ssh_options: {e}")))
}

/// Checks of the SSH options that need no connection (for validate-all).
pub fn validate(cfg: &Config) -> Result<(), FenceError> {
    let o = ssh_options_of(cfg)?;
    let v4 = cfg.flag("inet4_only") || o.inet4_only;
    let v6 = cfg.flag("inet6_only") || o.inet6_only;
    if v4 && v6 {
        return Err(FenceError::usage(
            "Failed: inet4_only and inet6_only cannot both be set",
        ));
    }
    Ok(())
}

/// The home directory: $HOME, or the passwd entry of the effective user
/// (Pacemaker's fencer runs agents without HOME).
fn home_dir() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    nix::unistd::User::from_uid(nix::unistd::Uid::effective())
        .ok()
        .flatten()
        .map(|u| u.dir)
}

/// Who is connecting to what: the framework names no agent and no device
/// of its own, so messages and the disconnect say what the agent tells it.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The agent's program name (`fence_x`).
    pub agent: &'static str,
    /// The device as its users call it, for messages.
    pub device: &'static str,
    /// The login when `username` is not given.
    pub default_user: &'static str,
}

/// Everything needed to open the session, from the options: explicit
/// options win over their `ssh_options` forms (`-p`, `-i`), which win over
/// the defaults (port 22, the peer's default user, OpenSSH's known_hosts
/// files).
pub fn params_from_config(cfg: &Config, peer: Peer) -> Result<Params, FenceError> {
    let o = ssh_options_of(cfg)?;
    for w in &o.ignored {
        logging::debug(format!("ssh_options: ignoring {w:?}"));
    }
    if o.strict == Strict::No {
        logging::warning(
            "ssh_options StrictHostKeyChecking=no: the host's identity is not verified",
        );
    }
    let port = if cfg.is_given("ipport") {
        cfg.integer("ipport")
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(22)
    } else {
        o.port.unwrap_or(22)
    };
    let identity_file = cfg
        .text("identity_file")
        .filter(|s| !s.is_empty() && cfg.is_given("identity_file"))
        .map(String::from)
        .or(o.identity_file.clone())
        .map(PathBuf::from);
    let user_known_hosts = o.user_known_hosts.clone().unwrap_or_else(|| {
        home_dir()
            .map(|h| vec![h.join(".ssh/known_hosts")])
            .unwrap_or_default()
    });
    let global_known_hosts = o.global_known_hosts.clone().unwrap_or_else(|| {
        vec![
            PathBuf::from("/etc/ssh/ssh_known_hosts"),
            PathBuf::from("/etc/ssh/ssh_known_hosts2"),
        ]
    });
    Ok(Params {
        agent: peer.agent.to_string(),
        device: peer.device.to_string(),
        host: cfg.text("ip").unwrap_or_default().to_string(),
        port,
        user: cfg
            .text("username")
            .filter(|u| !u.is_empty())
            .unwrap_or(peer.default_user)
            .to_string(),
        password: cfg.password().cloned(),
        identity_file,
        inet4_only: cfg.flag("inet4_only") || o.inet4_only,
        inet6_only: cfg.flag("inet6_only") || o.inet6_only,
        connect_timeout: o.connect_timeout,
        strict: o.strict,
        user_known_hosts,
        global_known_hosts,
    })
}
