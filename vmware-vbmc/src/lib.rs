//! vmware-vbmc: a virtual BMC that gives each configured vSphere VM an
//! IPMI v2.0 (RMCP+) endpoint, so that fence_ipmilan and ipmitool can power
//! VMs on and off as if they were physical servers, safely: a power-off is
//! answered only once the VM is verified off, a state the device cannot
//! vouch for is an error and never "off", and only cipher suites 3 and 17
//! with a named user and a password exist.
//!
//! Layers, bottom up:
//! - [`wire`]: datagrams to views and back; [`wire::parse_packet`] takes
//!   any bytes (the fuzz entry point).
//! - [`crypto`], [`handshake`]: cipher suites 3 and 17, RAKP.
//! - [`session`]: session states, sequence number window, retransmission
//!   record, bounded session table.
//! - [`commands`]: privilege table and the IPMI commands.
//! - [`power`]: the [`power::PowerControl`] trait the VM side implements.
//! - [`server`]: the endpoints and their threads.
//! - [`config`]: the configuration file.
//! - [`backend`]: the vSphere side, one session for every endpoint
//!   ([`turn`]: taking it in turns, each request within its deadline).

pub mod backend;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod handshake;
pub mod ipmi;
pub mod log;
pub mod power;
pub mod server;
pub mod session;
pub mod turn;
pub mod wire;

/// Makes the process unable to dump core or be attached to by another
/// process of the same user (PR_SET_DUMPABLE 0: it holds passwords and
/// session keys), and keeps every file it creates private.
pub fn harden_process() -> Result<(), String> {
    nix::sys::prctl::set_dumpable(false)
        .map_err(|e| format!("cannot make the process non-dumpable: {e}"))?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    Ok(())
}
