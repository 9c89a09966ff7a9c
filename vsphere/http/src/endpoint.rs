//! Where the server is, from the `ip` and `ipport` options, and which
//! address families may reach it.

use std::fmt;
use std::net::IpAddr;

use crate::tls::TlsPolicy;

/// Which address families to connect over (`inet4_only`, `inet6_only`):
/// the framework's, shared with the SSH agents.
pub use agent_framework::net::Family;

/// A host (name or address, IPv6 without brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// From the `ip` option (a host name, an IPv4 or IPv6 address,
    /// `host:port`, `[v6]:port`) and `ipport` when given, which wins. The
    /// default port is the policy's: 443, or 80 for plain HTTP. The error
    /// quotes `ip`: it is a host name, not a secret.
    pub fn parse(ip: &str, ipport: Option<u16>, policy: &TlsPolicy) -> Result<Endpoint, String> {
        let ip = ip.trim();
        let (host, port_in_ip) = if let Some(rest) = ip.strip_prefix('[') {
            let end = rest
                .find(']')
                .ok_or_else(|| format!("unbalanced '[' in address {ip:?}"))?;
            let after = &rest[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("unexpected text after ']' in {ip:?}")),
            };
            (&rest[..end], port)
        } else {
            match ip.split_once(':') {
                // Exactly one colon: host:port. Two or more: a bare IPv6 address.
                Some((h, p)) if !p.contains(':') => (h, Some(p)),
                _ => (ip, None),
            }
        };
        // A bracket left in the host would make its authority (`[a]:b:c]:443`
        // for `a]:b:c`) read as another host, or not at all.
        if host.is_empty()
            || host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '[' | ']'))
        {
            return Err(format!("{ip:?} is not a host name or address"));
        }
        let from_ip = match port_in_ip {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("bad port in address {ip:?}"))?,
            ),
            None => None,
        };
        Ok(Endpoint {
            host: host.to_string(),
            port: ipport.or(from_ip).unwrap_or(policy.default_port()),
        })
    }

    /// The host as an address when it is one, so that no resolver is asked.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// `host:port`, with brackets around an IPv6 address: the form of a
    /// URL's authority and of the Host header.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TLS: TlsPolicy = TlsPolicy::Verify { ca_file: None };

    #[test]
    fn every_form_of_the_ip_option() {
        let e = Endpoint::parse("vc.example.org", None, &TLS).unwrap();
        assert_eq!(e.authority(), "vc.example.org:443");
        let e = Endpoint::parse("vc.example.org", None, &TlsPolicy::PlainHttp).unwrap();
        assert_eq!(e.authority(), "vc.example.org:80");
        let e = Endpoint::parse(" 10.0.0.1:8443 ", None, &TLS).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("10.0.0.1", 8443));
        let e = Endpoint::parse("10.0.0.1:8443", Some(9443), &TLS).unwrap();
        assert_eq!(e.port, 9443, "ipport wins over host:port");
        let e = Endpoint::parse("::1", None, &TlsPolicy::Insecure).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 443));
        assert_eq!(e.authority(), "[::1]:443");
        let e = Endpoint::parse("[::1]", Some(8080), &TLS).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 8080));
        let e = Endpoint::parse("[fe80::1]:444", None, &TLS).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("fe80::1", 444));
        assert_eq!(e.ip(), Some("fe80::1".parse().unwrap()));
        assert_eq!(Endpoint::parse("vc", None, &TLS).unwrap().ip(), None);
    }

    #[test]
    fn what_is_not_an_address_is_refused() {
        for bad in [
            "",
            "a b",
            "h:0",
            "h:x",
            "h:",
            "h:65536",
            "[::1",
            "[::1]x",
            "[]:1",
            "h/x",
            "h\r\nX",
            "a]:b:c",
            "[[::1]",
            "[[::1]]:22",
            "a[b",
            "a]b:1",
        ] {
            let r = Endpoint::parse(bad, None, &TLS);
            assert!(r.is_err(), "{bad:?} gave {r:?}");
        }
    }

    /// What reads writes back as an authority that reads the same.
    #[test]
    fn an_authority_reads_as_its_endpoint() {
        for ip in [
            "vc",
            "10.0.0.1:8443",
            "::1",
            "[fe80::1]:444",
            "fe80::1%eth0",
            "[::1]",
        ] {
            let e = Endpoint::parse(ip, None, &TLS).unwrap();
            assert_eq!(Endpoint::parse(&e.authority(), None, &TLS), Ok(e), "{ip}");
        }
    }

    #[test]
    fn families() {
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        assert!(Family::Any.admits(v4) && Family::Any.admits(v6));
        assert!(Family::V4.admits(v4) && !Family::V4.admits(v6));
        assert!(Family::V6.admits(v6) && !Family::V6.admits(v4));
    }
}
