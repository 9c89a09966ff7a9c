//! The `ip` option's forms, as every agent reads them: vsphere-http's
//! `Endpoint::parse` (a host name, an IPv4 or IPv6 address, `host:port`,
//! `[v6]:port`, with `ipport` winning) for the vSphere agents, and the
//! framework's `net::unbracketed` and `net::addresses` (address literals
//! never resolved, families filtered) for them and the SSH agents.
//!
//! What must hold:
//! - an endpoint that reads writes back as an authority (`host:port`,
//!   brackets around an IPv6 host) that reads as the same endpoint; its
//!   host holds no blank, control character or `/`; its port is not 0,
//!   and is `ipport` when given, the policy's default when nothing says
//!   otherwise; a refusal is one line;
//! - an `ip` without a port means the same host to the vSphere agents
//!   and to the SSH agents;
//! - an address literal is never handed to the resolver; the addresses
//!   kept are those of the family allowed, in the resolver's order,
//!   without repeats, and never none.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use agent_framework::net::{self, Family, ResolveError, Resolver};
use agent_framework::Deadline;
use vsphere_http::{Endpoint, TlsPolicy};

use crate::{Choices, Fields};

/// A resolver that answers from the fuzzer's list, and one that must
/// never be asked.
struct Answers(Vec<SocketAddr>);

impl Resolver for Answers {
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        assert!(
            host.parse::<IpAddr>().is_err(),
            "the address literal {host:?} was handed to the resolver"
        );
        Ok(self
            .0
            .iter()
            .map(|a| SocketAddr::new(a.ip(), port))
            .collect())
    }
}

const FAMILIES: [Family; 3] = [Family::Any, Family::V4, Family::V6];

fn policies() -> [TlsPolicy; 3] {
    [
        TlsPolicy::Verify { ca_file: None },
        TlsPolicy::Insecure,
        TlsPolicy::PlainHttp,
    ]
}

fn check_endpoint(ip: &str, ipport: Option<u16>, policy: &TlsPolicy) {
    let e = match Endpoint::parse(ip, ipport, policy) {
        Ok(e) => e,
        Err(m) => {
            assert!(!m.contains(['\n', '\r']), "a refusal of two lines: {m:?}");
            return;
        }
    };
    assert!(
        !e.host.is_empty()
            && !e
                .host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/'),
        "{ip:?} read as host {:?}",
        e.host
    );
    assert_ne!(e.port, 0);
    if let Some(p) = ipport {
        assert_eq!(e.port, p, "ipport does not win");
    }
    assert_eq!(e.ip(), e.host.parse::<IpAddr>().ok());
    let authority = e.authority();
    if e.host.contains(':') {
        assert!(authority.starts_with('['), "{authority:?}");
    }
    assert_eq!(
        Endpoint::parse(&authority, None, policy).as_ref(),
        Ok(&e),
        "{ip:?} read as {e:?}, written {authority:?}"
    );
    assert_eq!(
        Endpoint::parse(&authority, Some(e.port), policy).as_ref(),
        Ok(&e)
    );

    // Without a port in it, the vSphere agents and the SSH agents reach
    // the same host. (A port in `ip` shows as the same port whatever the
    // policy's default.)
    let no_port_in_ip = ipport.is_none()
        && Endpoint::parse(ip, None, &TlsPolicy::PlainHttp).map(|e| e.port)
            != Endpoint::parse(ip, None, &TlsPolicy::Insecure).map(|e| e.port);
    if no_port_in_ip {
        assert_eq!(e.port, policy.default_port());
        assert_eq!(net::unbracketed(ip.trim()), e.host, "{ip:?}");
    }
}

fn address(choices: &mut Choices) -> SocketAddr {
    let ip = match choices.below(4) {
        0 => IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + choices.below(3) as u8)),
        1 => IpAddr::V4(Ipv4Addr::new(10, choices.below(2) as u8, 0, 1)),
        2 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => IpAddr::V6(Ipv6Addr::new(
            0xfe80,
            0,
            0,
            0,
            0,
            0,
            0,
            1 + choices.below(2) as u16,
        )),
    };
    SocketAddr::new(ip, 0)
}

/// Fields: the `ip` text (the whole input too), choices (`ipport`, the
/// policy, the family, the resolver's answers).
pub fn ip_address(data: &[u8]) {
    let f = Fields::new(data);
    let mut choices = Choices::new(f.bytes(1));
    let ipport = match choices.below(3) {
        0 => None,
        _ => Some(1 + (choices.below(256) * 256 + choices.below(256)) as u16 % u16::MAX),
    };
    let policy = &policies()[choices.below(3)];
    for ip in [String::from_utf8_lossy(data).into_owned(), f.text(0)] {
        check_endpoint(&ip, ipport, policy);
    }

    let host = f.text(0);
    let plain = net::unbracketed(&host);
    if plain != host {
        assert_eq!(host, format!("[{plain}]"));
    }

    let family = FAMILIES[choices.below(3)];
    let answers: Vec<SocketAddr> = (0..choices.below(6))
        .map(|_| address(&mut choices))
        .collect();
    let resolver: Arc<dyn Resolver> = Arc::new(Answers(answers.clone()));
    let port = ipport.unwrap_or(443);
    let got = net::addresses(
        &resolver,
        plain,
        port,
        family,
        Deadline::after(Duration::from_secs(10)),
    );
    let offered: Vec<SocketAddr> = match plain.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => answers
            .iter()
            .map(|a| SocketAddr::new(a.ip(), port))
            .collect(),
    };
    let mut kept: Vec<SocketAddr> = Vec::new();
    for a in offered {
        if family.admits(a.ip()) && !kept.contains(&a) {
            kept.push(a);
        }
    }
    match got {
        Ok(addrs) => assert_eq!(addrs, kept),
        Err(ResolveError::NoAddress(f)) => {
            assert_eq!(f, family);
            assert!(kept.is_empty(), "{kept:?} dropped");
        }
        Err(e) => panic!("{plain:?}: {e}"),
    }
}
