//! From a host to a connected socket, within the deadline.
//!
//! getaddrinfo cannot be cancelled and a DNS server that never answers
//! holds it for the resolver's own timeouts and retries (resolv.conf),
//! whatever the caller's deadline. So it runs on a thread of its own which
//! is abandoned at the deadline; it ends by itself later, or with the
//! process.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{mpsc, Arc};

use agent_framework::{logging, Deadline};

use crate::endpoint::{Endpoint, Family};
use crate::error::{Error, Stage};

/// Host name resolution. It may block as long as it likes: the client
/// stops waiting at its deadline. Tests inject one that never answers or
/// answers with several addresses.
pub trait Resolver: Send + Sync {
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

/// The system's resolver (getaddrinfo: /etc/hosts, DNS, nsswitch).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok((host, port).to_socket_addrs()?.collect())
    }
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
        Family::Any => "IP",
    }
}

/// The addresses to try, in the resolver's order (RFC 6724's, for
/// getaddrinfo), restricted to `family`. An address literal is used as it
/// is, without asking anyone.
pub(crate) fn addresses(
    resolver: &Arc<dyn Resolver>,
    endpoint: &Endpoint,
    family: Family,
    deadline: Deadline,
) -> Result<Vec<SocketAddr>, Error> {
    let found = match endpoint.ip() {
        Some(ip) => vec![SocketAddr::new(ip, endpoint.port)],
        None => resolve_within(resolver, endpoint, deadline)?,
    };
    let mut kept: Vec<SocketAddr> = Vec::with_capacity(found.len());
    for addr in found {
        if family.admits(addr.ip()) && !kept.contains(&addr) {
            kept.push(addr);
        }
    }
    if kept.is_empty() {
        return Err(Error::Resolve {
            host: endpoint.host.clone(),
            reason: format!("it has no {} address", family_name(family)),
        });
    }
    Ok(kept)
}

fn resolve_within(
    resolver: &Arc<dyn Resolver>,
    endpoint: &Endpoint,
    deadline: Deadline,
) -> Result<Vec<SocketAddr>, Error> {
    if deadline.expired() {
        return Err(Error::Timeout {
            stage: Stage::Resolve,
        });
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let worker = Arc::clone(resolver);
    let (host, port) = (endpoint.host.clone(), endpoint.port);
    std::thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            // The receiver is gone once the caller stopped waiting.
            let _ = tx.send(worker.resolve(&host, port));
        })
        .map_err(|e| Error::Resolve {
            host: endpoint.host.clone(),
            reason: format!("cannot start the resolver thread: {e}"),
        })?;
    match rx.recv_timeout(deadline.remaining()) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(Error::Resolve {
            host: endpoint.host.clone(),
            reason: e.to_string(),
        }),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout {
            stage: Stage::Resolve,
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Resolve {
            host: endpoint.host.clone(),
            reason: "the resolver thread failed".into(),
        }),
    }
}

/// Connects to the first address that accepts, in order. Each address
/// gets an equal share of the time left, so that one that swallows SYNs
/// leaves time for the next.
pub(crate) fn connect(addrs: &[SocketAddr], deadline: Deadline) -> Result<TcpStream, Error> {
    let mut failures = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let left = deadline.remaining();
        if left.is_zero() {
            break;
        }
        let tries_left = u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        let share = (left / tries_left).max(std::time::Duration::from_millis(1));
        match TcpStream::connect_timeout(addr, share) {
            Ok(tcp) => {
                // One write per request; nothing gains from Nagle's delay.
                let _ = tcp.set_nodelay(true);
                logging::debug(format!("HTTP: connected to {addr}"));
                return Ok(tcp);
            }
            Err(e) => {
                logging::debug(format!("HTTP: {addr}: {e}"));
                failures.push(format!("{addr}: {e}"));
            }
        }
    }
    if deadline.expired() {
        return Err(Error::Timeout {
            stage: Stage::Connect,
        });
    }
    Err(Error::Connect(failures.join("; ")))
}
