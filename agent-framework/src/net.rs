//! From a host name to a connected TCP socket, within a deadline: the one
//! way every agent reaches its device (vsphere-http for the vSphere API,
//! the SSH family for ESXi), so that the `ip` option means the same to
//! all of them and no wait outlasts the caller's deadline.
//!
//! getaddrinfo cannot be cancelled, and a DNS server that never answers
//! holds it for the resolver's own timeouts and retries (resolv.conf:
//! 5 s per try by default), whatever the caller's deadline. So it runs on
//! a thread of its own, abandoned at the deadline: it ends by itself
//! later, or with the process.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::logging;
use crate::timing::Deadline;

/// Which address families may be used (`inet4_only`, `inet6_only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

impl Family {
    /// From the two options; both set is refused by validation before.
    pub fn from_flags(inet4_only: bool, inet6_only: bool) -> Family {
        match (inet4_only, inet6_only) {
            (true, false) => Family::V4,
            (false, true) => Family::V6,
            _ => Family::Any,
        }
    }

    pub fn admits(self, ip: IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }

    /// "IPv4", "IPv6", or "IP" for either.
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
            Family::Any => "IP",
        }
    }
}

/// Host name resolution. It may block as long as it likes: [`addresses`]
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

/// Why a host gave no address to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// The deadline passed before the resolver answered.
    TimedOut,
    /// The resolver failed: the name is not known, or no server answered
    /// with a definite reply. The text is the resolver's.
    Failed(String),
    /// The name resolved, but to no address of the family allowed.
    NoAddress(Family),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::TimedOut => f.write_str("the name server did not answer in time"),
            ResolveError::Failed(reason) => f.write_str(reason),
            ResolveError::NoAddress(family) => write!(f, "it has no {} address", family.name()),
        }
    }
}

/// `host` without the brackets an IPv6 address may be written with
/// (`[::1]`), for the forms of the `ip` option that carry no port.
pub fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The addresses to try, in the resolver's order (RFC 6724's, for
/// getaddrinfo), restricted to `family`, without repeats. An address
/// literal is used as it is, without asking anyone.
pub fn addresses(
    resolver: &Arc<dyn Resolver>,
    host: &str,
    port: u16,
    family: Family,
    deadline: Deadline,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let found = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => resolve_within(resolver, host, port, deadline)?,
    };
    let mut kept: Vec<SocketAddr> = Vec::with_capacity(found.len());
    for addr in found {
        if family.admits(addr.ip()) && !kept.contains(&addr) {
            kept.push(addr);
        }
    }
    if kept.is_empty() {
        return Err(ResolveError::NoAddress(family));
    }
    Ok(kept)
}

fn resolve_within(
    resolver: &Arc<dyn Resolver>,
    host: &str,
    port: u16,
    deadline: Deadline,
) -> Result<Vec<SocketAddr>, ResolveError> {
    if deadline.expired() {
        return Err(ResolveError::TimedOut);
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let worker = Arc::clone(resolver);
    let name = host.to_string();
    std::thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            // The receiver is gone once the caller stopped waiting.
            let _ = tx.send(worker.resolve(&name, port));
        })
        .map_err(|e| ResolveError::Failed(format!("cannot start the resolver thread: {e}")))?;
    match rx.recv_timeout(deadline.remaining()) {
        Ok(Ok(addrs)) => {
            logging::debug(format!(
                "{host} resolves to {}",
                addrs
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            Ok(addrs)
        }
        Ok(Err(e)) => Err(ResolveError::Failed(e.to_string())),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ResolveError::TimedOut),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(ResolveError::Failed("the resolver thread failed".into()))
        }
    }
}

/// Why no address accepted a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The deadline passed while connecting; the text says what each
    /// address tried did.
    TimedOut(String),
    /// Every address refused or failed at once.
    Failed(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::TimedOut(tried) if tried.is_empty() => f.write_str("no answer in time"),
            ConnectError::TimedOut(tried) => write!(f, "no answer in time ({tried})"),
            ConnectError::Failed(tried) => f.write_str(tried),
        }
    }
}

/// Connects to the first address that accepts, in order. Each address
/// gets an equal share of the time left, so that one that swallows SYNs
/// (a host that is down, a firewall that drops) leaves time for the next.
pub fn connect(addrs: &[SocketAddr], deadline: Deadline) -> Result<TcpStream, ConnectError> {
    let mut failures = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let left = deadline.remaining();
        if left.is_zero() {
            break;
        }
        let tries_left = u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        let share = (left / tries_left).max(Duration::from_millis(1));
        match TcpStream::connect_timeout(addr, share) {
            Ok(tcp) => {
                // Requests and commands are single writes; nothing gains
                // from Nagle's delay.
                let _ = tcp.set_nodelay(true);
                logging::debug(format!("Connected to {addr}"));
                return Ok(tcp);
            }
            Err(e) => {
                logging::debug(format!("Connecting to {addr}: {e}"));
                failures.push(format!("{addr}: {e}"));
            }
        }
    }
    let tried = failures.join("; ");
    if deadline.expired() {
        return Err(ConnectError::TimedOut(tried));
    }
    Err(ConnectError::Failed(tried))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    struct Silent;

    impl Resolver for Silent {
        fn resolve(&self, _: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
            std::thread::sleep(Duration::from_secs(3600));
            Err(io::Error::other("unreachable"))
        }
    }

    struct Fixed(Vec<SocketAddr>);

    impl Resolver for Fixed {
        fn resolve(&self, _: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
            Ok(self.0.clone())
        }
    }

    fn a(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_resolver_that_never_answers_is_left_at_the_deadline() {
        let silent: Arc<dyn Resolver> = Arc::new(Silent);
        let started = Instant::now();
        let r = addresses(
            &silent,
            "vc.example.org",
            443,
            Family::Any,
            Deadline::after(Duration::from_millis(300)),
        );
        assert_eq!(r, Err(ResolveError::TimedOut));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(280), "{took:?}");
        assert!(took < Duration::from_millis(800), "{took:?}");
    }

    #[test]
    fn literals_are_not_resolved_and_families_filter() {
        // A literal never reaches the resolver: this one would hang.
        let silent: Arc<dyn Resolver> = Arc::new(Silent);
        let soon = || Deadline::after(Duration::from_millis(200));
        assert_eq!(
            addresses(&silent, "::1", 22, Family::Any, soon()),
            Ok(vec![a("[::1]:22")])
        );
        assert_eq!(
            addresses(&silent, "127.0.0.1", 22, Family::V6, soon()),
            Err(ResolveError::NoAddress(Family::V6))
        );
        let both: Arc<dyn Resolver> =
            Arc::new(Fixed(vec![a("[::1]:22"), a("127.0.0.1:22"), a("[::1]:22")]));
        assert_eq!(
            addresses(&both, "h", 22, Family::Any, soon()),
            Ok(vec![a("[::1]:22"), a("127.0.0.1:22")])
        );
        assert_eq!(
            addresses(&both, "h", 22, Family::V4, soon()),
            Ok(vec![a("127.0.0.1:22")])
        );
        let none: Arc<dyn Resolver> = Arc::new(Fixed(vec![]));
        let r = addresses(&none, "h", 22, Family::Any, soon());
        assert_eq!(r, Err(ResolveError::NoAddress(Family::Any)));
        assert_eq!(r.unwrap_err().to_string(), "it has no IP address");
    }

    #[test]
    fn brackets_come_off_only_when_they_enclose_the_host() {
        assert_eq!(unbracketed("[::1]"), "::1");
        assert_eq!(unbracketed("::1"), "::1");
        assert_eq!(unbracketed("[::1"), "[::1");
        assert_eq!(unbracketed("esxi1"), "esxi1");
    }

    #[test]
    fn flags_make_the_family() {
        assert_eq!(Family::from_flags(false, false), Family::Any);
        assert_eq!(Family::from_flags(true, false), Family::V4);
        assert_eq!(Family::from_flags(false, true), Family::V6);
        assert!(Family::V4.admits("10.0.0.1".parse().unwrap()));
        assert!(!Family::V4.admits("::1".parse().unwrap()));
    }

    /// The first address refuses, the second accepts, within one deadline;
    /// when all refuse, every address is named.
    #[test]
    fn connect_tries_each_address_in_order() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let deadline = Deadline::after(Duration::from_secs(2));
        let tcp = connect(&[dead, SocketAddr::from(([127, 0, 0, 1], port))], deadline).unwrap();
        assert_eq!(tcp.peer_addr().unwrap().port(), port);
        match connect(&[dead], deadline) {
            Err(ConnectError::Failed(m)) => assert!(m.contains(&dead.to_string()), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            connect(&[dead], Deadline::after(Duration::ZERO)),
            Err(ConnectError::TimedOut(_))
        ));
    }
}
