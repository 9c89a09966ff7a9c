//! The HTTP side of vim25, behind one narrow interface ([`HttpPost`]: POST
//! a body within a deadline, get the status, the body and the cookies
//! back), so that the client under it can be replaced without touching
//! the SOAP code; and today's client, `ureq` on OpenSSL, with the TLS
//! policy the options chose.

use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use agent_framework::Deadline;

use crate::error::Error;

/// One POST to the SDK endpoint.
pub struct HttpRequest<'a> {
    /// Names the call in error messages (the SOAP method); never the body.
    pub what: &'a str,
    pub body: &'a str,
    /// The `SOAPAction` header's value.
    pub soap_action: &'a str,
    /// The `Cookie` header's value, when there is a session.
    pub cookie: Option<&'a str>,
    /// Read no more of the reply than this: a longer one is an error.
    pub max_body: usize,
}

/// What came back.
pub struct HttpReply {
    pub status: u16,
    pub body: String,
    /// Every `Set-Cookie` header's value.
    pub set_cookies: Vec<String>,
}

/// What vim25 needs of an HTTP client. Implementations return within the
/// deadline ([`Error::Timeout`] otherwise), sort failures into Connect,
/// Tls, Io and Timeout, and put neither the body nor header values in
/// any message (they carry the password and the session).
pub trait HttpPost: Send + Sync {
    fn post(&self, request: &HttpRequest<'_>, deadline: Deadline) -> Result<HttpReply, Error>;

    /// The SDK URL, for messages.
    fn url(&self) -> &str;
}

/// How to treat the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Verify the certificate and the host name against the system trust
    /// store (OpenSSL's: SSL_CERT_FILE and SSL_CERT_DIR honoured), or only
    /// against `ca_file` when given.
    Verify { ca_file: Option<PathBuf> },
    /// TLS without any verification (`ssl_insecure`).
    Insecure,
    /// Plain HTTP (`notls`, `ssl=0`).
    PlainHttp,
}

/// Which address families to connect over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

/// Where the SDK is: `https://host:port/sdk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl Endpoint {
    /// From the `ip` option (a host name, an IPv4 or IPv6 address,
    /// `host:port`, `[v6]:port`) and `ipport` when given. The default port
    /// is 443, or 80 for plain HTTP.
    pub fn parse(ip: &str, ipport: Option<u16>, tls: bool) -> Result<Endpoint, String> {
        let ip = ip.trim();
        let default_port = if tls { 443 } else { 80 };
        let (host, port_in_ip) = if let Some(rest) = ip.strip_prefix('[') {
            let end = rest
                .find(']')
                .ok_or_else(|| format!("unbalanced '[' in address {ip:?}"))?;
            let host = &rest[..end];
            let after = &rest[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("unexpected text after ']' in {ip:?}")),
            };
            (host.to_string(), port)
        } else if ip.matches(':').count() == 1 {
            let (h, p) = ip.split_once(':').unwrap_or((ip, ""));
            (h.to_string(), Some(p))
        } else {
            (ip.to_string(), None)
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
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
            host,
            port: ipport.or(from_ip).unwrap_or(default_port),
            tls,
        })
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}/sdk", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}/sdk", self.host, self.port)
        }
    }
}

/// Reads every certificate of a PEM bundle.
fn load_bundle(path: &PathBuf) -> Result<Vec<native_tls::Certificate>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    let marker = "-----BEGIN CERTIFICATE-----";
    for (i, _) in text.match_indices(marker) {
        let rest = &text[i..];
        let end_marker = "-----END CERTIFICATE-----";
        let end = rest
            .find(end_marker)
            .ok_or_else(|| format!("truncated certificate in {}", path.display()))?;
        let pem = &rest[..end + end_marker.len()];
        certs.push(
            native_tls::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?,
        );
    }
    if certs.is_empty() {
        return Err(format!(
            "no PEM certificate found in CA file {}",
            path.display()
        ));
    }
    Ok(certs)
}

/// `ureq` on OpenSSL: the system trust store and SSL_CERT_FILE work as
/// administrators expect. Its timeouts are per read: a peer that trickles
/// bytes can stretch a call (vsphere-http will bound every wait).
pub struct UreqHttp {
    agent: ureq::Agent,
    url: String,
}

impl UreqHttp {
    pub fn new(endpoint: &Endpoint, tls: &TlsPolicy, family: Family) -> Result<UreqHttp, Error> {
        let mut builder = ureq::AgentBuilder::new()
            .redirects(0)
            .try_proxy_from_env(false)
            .user_agent(concat!("fence_vmware/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections(2);
        if family != Family::Any {
            builder = builder.resolver(move |addr: &str| -> std::io::Result<Vec<SocketAddr>> {
                let all: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
                let kept: Vec<SocketAddr> = all
                    .into_iter()
                    .filter(|a| match family {
                        Family::V4 => a.is_ipv4(),
                        Family::V6 => a.is_ipv6(),
                        Family::Any => true,
                    })
                    .collect();
                if kept.is_empty() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!(
                            "{addr} has no {} address",
                            if family == Family::V4 { "IPv4" } else { "IPv6" }
                        ),
                    ));
                }
                Ok(kept)
            });
        }
        if endpoint.tls {
            let mut tb = native_tls::TlsConnector::builder();
            tb.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
            match tls {
                TlsPolicy::Verify {
                    ca_file: Some(path),
                } => {
                    tb.disable_built_in_roots(true);
                    for c in load_bundle(path).map_err(Error::Tls)? {
                        tb.add_root_certificate(c);
                    }
                }
                TlsPolicy::Verify { ca_file: None } => {}
                TlsPolicy::Insecure => {
                    tb.danger_accept_invalid_certs(true);
                    tb.danger_accept_invalid_hostnames(true);
                }
                TlsPolicy::PlainHttp => {}
            }
            let connector = tb
                .build()
                .map_err(|e| Error::Tls(format!("cannot set up TLS: {e}")))?;
            builder = builder.tls_connector(Arc::new(connector));
        }
        Ok(UreqHttp {
            agent: builder.build(),
            url: endpoint.url(),
        })
    }
}

impl HttpPost for UreqHttp {
    fn post(&self, r: &HttpRequest<'_>, deadline: Deadline) -> Result<HttpReply, Error> {
        let mut request = self
            .agent
            .post(&self.url)
            .timeout(deadline.socket_timeout())
            .set("Content-Type", "text/xml; charset=utf-8")
            .set("SOAPAction", &format!("\"{}\"", r.soap_action));
        if let Some(c) = r.cookie {
            request = request.set("Cookie", c);
        }
        let (status, resp) = match request.send_string(r.body) {
            Ok(resp) => (resp.status(), resp),
            Err(ureq::Error::Status(code, resp)) => (code, resp),
            Err(ureq::Error::Transport(t)) => return Err(transport_error(r.what, &t)),
        };
        let set_cookies = resp
            .all("set-cookie")
            .iter()
            .map(|c| c.to_string())
            .collect();
        let limit = u64::try_from(r.max_body)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(r.what, &e))?;
        if bytes.len() > r.max_body {
            return Err(Error::Protocol(format!(
                "{}: the reply is larger than {} bytes",
                r.what, r.max_body
            )));
        }
        let body = String::from_utf8(bytes)
            .map_err(|_| Error::Protocol(format!("{}: the reply is not UTF-8", r.what)))?;
        Ok(HttpReply {
            status,
            body,
            set_cookies,
        })
    }

    fn url(&self) -> &str {
        &self.url
    }
}

fn io_error(method: &str, e: &std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            Error::Timeout(format!("{method}: {e}"))
        }
        _ => Error::Io(format!("{method}: {e}")),
    }
}

/// Sorts a ureq transport error into timeout, TLS, connect or I/O, from
/// its kind and its chain of causes.
fn transport_error(method: &str, t: &ureq::Transport) -> Error {
    let mut chain = t.to_string();
    let mut timed_out = false;
    let mut tls = false;
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(t);
    while let Some(s) = src {
        let text = s.to_string();
        if !chain.contains(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                timed_out = true;
            }
        }
        if s.downcast_ref::<native_tls::Error>().is_some() {
            tls = true;
        }
        src = s.source();
    }
    let lower = chain.to_ascii_lowercase();
    if lower.contains("timed out") || lower.contains("timeout") {
        timed_out = true;
    }
    if lower.contains("certificate") || lower.contains("handshake") || lower.contains("ssl") {
        tls = true;
    }
    let msg = format!("{method}: {chain}");
    if timed_out {
        return Error::Timeout(msg);
    }
    if tls {
        return Error::Tls(msg);
    }
    match t.kind() {
        ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed => Error::Connect(msg),
        _ => Error::Io(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn endpoint_forms() {
        let e = Endpoint::parse("vc.example.org", None, true).unwrap();
        assert_eq!(e.url(), "https://vc.example.org:443/sdk");
        let e = Endpoint::parse("vc.example.org", None, false).unwrap();
        assert_eq!(e.url(), "http://vc.example.org:80/sdk");
        let e = Endpoint::parse("10.0.0.1:8443", None, true).unwrap();
        assert_eq!(e.url(), "https://10.0.0.1:8443/sdk");
        let e = Endpoint::parse("10.0.0.1:8443", Some(9443), true).unwrap();
        assert_eq!(e.port, 9443, "ipport wins over host:port");
        let e = Endpoint::parse("::1", None, true).unwrap();
        assert_eq!(e.url(), "https://[::1]:443/sdk");
        let e = Endpoint::parse("[fe80::1]:444", None, true).unwrap();
        assert_eq!(e.url(), "https://[fe80::1]:444/sdk");
        for bad in ["", "a b", "h:0", "h:x", "[::1", "[::1]x", "h/x"] {
            assert!(Endpoint::parse(bad, None, true).is_err(), "{bad:?}");
        }
    }

    fn post_to(port: u16, max_body: usize, within: Duration) -> Result<HttpReply, Error> {
        let e = Endpoint::parse("127.0.0.1", Some(port), false).unwrap();
        let http = UreqHttp::new(&e, &TlsPolicy::PlainHttp, Family::Any).unwrap();
        http.post(
            &HttpRequest {
                what: "RetrieveServiceContent",
                body: "<x/>",
                soap_action: "urn:vim25/6.0",
                cookie: None,
                max_body,
            },
            Deadline::after(within),
        )
    }

    #[test]
    fn missing_ca_file_is_a_tls_error() {
        let e = Endpoint::parse("127.0.0.1", None, true).unwrap();
        let r = UreqHttp::new(
            &e,
            &TlsPolicy::Verify {
                ca_file: Some("/nonexistent/ca.pem".into()),
            },
            Family::Any,
        );
        assert!(matches!(r, Err(Error::Tls(_))));
    }

    #[test]
    fn refused_connection_is_a_connect_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let r = post_to(port, 1000, Duration::from_secs(2));
        assert!(matches!(r, Err(Error::Connect(_))), "{:?}", r.err());
    }

    #[test]
    fn silent_server_times_out_within_the_deadline() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let _keep = std::thread::spawn(move || {
            let conns: Vec<_> = l.incoming().take(1).collect();
            std::thread::sleep(Duration::from_secs(3));
            drop(conns);
        });
        let started = std::time::Instant::now();
        let r = post_to(port, 1000, Duration::from_millis(500));
        assert!(matches!(r, Err(Error::Timeout(_))), "{:?}", r.err());
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// A hand-written peer (no real server floods on request): it answers
    /// any request with a body far beyond the limit.
    #[test]
    fn a_reply_beyond_the_limit_is_an_error() {
        use std::io::Write;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let _peer = std::thread::spawn(move || {
            if let Some(Ok(mut c)) = l.incoming().next() {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let body = vec![b'x'; 200_000];
                let _ = write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(&body);
            }
        });
        match post_to(port, 100_000, Duration::from_secs(5)) {
            Err(Error::Protocol(m)) => assert!(m.contains("larger than 100000"), "{m}"),
            other => panic!("{:?}", other.map(|r| r.status)),
        }
    }
}
