//! The HTTP side of vim25, behind one narrow interface ([`HttpPost`]: POST
//! a body within a deadline, get the status, the body and the cookies
//! back), so that the SOAP code never sees the client under it; and its
//! implementation on vsphere-http's deadline-bounded client.

use std::sync::Mutex;

use agent_framework::Deadline;
use vsphere_http::{Client, Limits, Method};
pub use vsphere_http::{Endpoint, Family, TlsPolicy};

use crate::error::Error;
use crate::reply::MAX_REPLY_BYTES;

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

/// The path of the vim25 endpoint on vCenter and ESXi.
pub const SDK_PATH: &str = "/sdk";

/// vsphere-http under [`HttpPost`]. Requests may come from two threads at
/// once (the signal handler logs out while the main thread waits in a
/// call), so no lock is held during a request: the kept-alive client is
/// taken out for the call and put back after; a call that finds it taken
/// uses a fresh clone, with a connection of its own.
pub struct SdkHttp {
    idle: Mutex<Option<Client>>,
    /// Never connected: what a concurrent call clones.
    template: Client,
    url: String,
}

impl SdkHttp {
    /// A client for the SDK at `endpoint`. A CA file that cannot be used,
    /// or a system trust store without a CA, fails here with
    /// [`Error::Tls`].
    pub fn new(endpoint: Endpoint, tls: &TlsPolicy, family: Family) -> Result<SdkHttp, Error> {
        let limits = Limits {
            max_body: MAX_REPLY_BYTES as u64,
            ..Limits::default()
        };
        let client = Client::new(endpoint, tls, family)
            .map_err(|e| to_soap_error("connecting", e))?
            .with_limits(limits);
        Ok(SdkHttp {
            url: client.url(SDK_PATH),
            template: client.clone(),
            idle: Mutex::new(Some(client)),
        })
    }

    fn take_client(&self) -> Client {
        self.idle
            .lock()
            .ok()
            .and_then(|mut idle| idle.take())
            .unwrap_or_else(|| self.template.clone())
    }

    fn give_back(&self, client: Client) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.is_none() {
                *idle = Some(client);
            }
        }
    }
}

impl HttpPost for SdkHttp {
    fn post(&self, r: &HttpRequest<'_>, deadline: Deadline) -> Result<HttpReply, Error> {
        let soap_action = format!("\"{}\"", r.soap_action);
        let mut headers = vec![
            ("Content-Type", "text/xml; charset=utf-8"),
            ("SOAPAction", soap_action.as_str()),
            (
                "User-Agent",
                concat!("fence_vmware/", env!("CARGO_PKG_VERSION")),
            ),
        ];
        if let Some(c) = r.cookie {
            headers.push(("Cookie", c));
        }
        let mut client = self.take_client();
        let result = client.request(
            Method::Post,
            SDK_PATH,
            &headers,
            r.body.as_bytes(),
            deadline,
        );
        self.give_back(client);
        let response = result.map_err(|e| to_soap_error(r.what, e))?;
        if response.body.len() > r.max_body {
            return Err(Error::Protocol(format!(
                "{}: the reply is larger than {} bytes",
                r.what, r.max_body
            )));
        }
        let set_cookies = response
            .headers
            .get_all("Set-Cookie")
            .map(str::to_string)
            .collect();
        let body = String::from_utf8(response.body)
            .map_err(|_| Error::Protocol(format!("{}: the reply is not UTF-8", r.what)))?;
        Ok(HttpReply {
            status: response.status,
            body,
            set_cookies,
        })
    }

    fn url(&self) -> &str {
        &self.url
    }
}

/// vsphere-http's failures in vim25's kinds, prefixed with the call.
/// vsphere-http's messages quote no header value or body, so none of the
/// session or the password can reach a message through here.
pub fn to_soap_error(what: &str, e: vsphere_http::Error) -> Error {
    use vsphere_http::Error as H;
    let msg = format!("{what}: {e}");
    match e {
        H::Timeout { .. } => Error::Timeout(msg),
        H::Tls(_) => Error::Tls(msg),
        H::Resolve { .. } | H::Connect(_) => Error::Connect(msg),
        H::Io { .. } => Error::Io(msg),
        // The connection ended before the reply did: the peer or the
        // network broke mid-call, as with a reset, not a reply this
        // client cannot read.
        H::Protocol(vsphere_http::Malformed::Truncated(_)) => Error::Io(msg),
        H::TooLarge { max, .. } => Error::Protocol(format!(
            "{what}: the reply is larger than {max} bytes ({e})"
        )),
        H::Protocol(_) | H::InvalidRequest(_) => Error::Protocol(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    fn post_to(port: u16, max_body: usize, within: Duration) -> Result<HttpReply, Error> {
        let policy = TlsPolicy::PlainHttp;
        let e = Endpoint::parse("127.0.0.1", Some(port), &policy).unwrap();
        let http = SdkHttp::new(e, &policy, Family::Any).unwrap();
        http.post(
            &HttpRequest {
                what: "RetrieveServiceContent",
                body: "<x/>",
                soap_action: "urn:vim25/6.0",
                cookie: Some("vmware_soap_session=\"s3cret-session\""),
                max_body,
            },
            Deadline::after(within),
        )
    }

    #[test]
    fn the_sdk_url_names_scheme_host_and_port() {
        let tls = TlsPolicy::Insecure;
        let e = Endpoint::parse("::1", None, &tls).unwrap();
        let http = SdkHttp::new(e, &tls, Family::Any).unwrap();
        assert_eq!(http.url(), "https://[::1]:443/sdk");
        let plain = TlsPolicy::PlainHttp;
        let e = Endpoint::parse("vc.example.org", None, &plain).unwrap();
        let http = SdkHttp::new(e, &plain, Family::Any).unwrap();
        assert_eq!(http.url(), "http://vc.example.org:80/sdk");
    }

    #[test]
    fn missing_ca_file_is_a_tls_error() {
        let tls = TlsPolicy::Verify {
            ca_file: Some("/nonexistent/ca.pem".into()),
        };
        let e = Endpoint::parse("127.0.0.1", None, &tls).unwrap();
        let r = SdkHttp::new(e, &tls, Family::Any);
        assert!(matches!(r, Err(Error::Tls(_))), "{:?}", r.err());
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

    /// A hand-written peer (no real server answers this way on request):
    /// it reads the request, then answers with `reply`; the request is
    /// handed back for inspection.
    fn one_reply(reply: Vec<u8>) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let peer = std::thread::spawn(move || {
            let mut seen = Vec::new();
            if let Some(Ok(mut c)) = l.incoming().next() {
                let mut buf = [0u8; 4096];
                let n = c.read(&mut buf).unwrap_or(0);
                seen.extend_from_slice(&buf[..n]);
                let _ = c.write_all(&reply);
            }
            seen
        });
        (port, peer)
    }

    #[test]
    fn a_reply_beyond_the_limit_is_an_error() {
        let body = vec![b'x'; 200_000];
        let mut reply =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        reply.extend_from_slice(&body);
        let (port, _peer) = one_reply(reply);
        match post_to(port, 100_000, Duration::from_secs(5)) {
            Err(Error::Protocol(m)) => assert!(m.contains("larger than 100000"), "{m}"),
            other => panic!("{:?}", other.map(|r| r.status)),
        }
    }

    #[test]
    fn soap_headers_go_out_and_every_cookie_comes_back() {
        let (port, peer) = one_reply(
            b"HTTP/1.1 500 Internal Server Error\r\nSet-Cookie: vmware_soap_session=\"abc\"; Path=/\r\nSet-Cookie: other=1\r\nContent-Length: 7\r\n\r\n<fault>"
                .to_vec(),
        );
        let reply = post_to(port, 1000, Duration::from_secs(5)).unwrap();
        assert_eq!(reply.status, 500, "a status is a reply, not an error");
        assert_eq!(reply.body, "<fault>");
        assert_eq!(
            reply.set_cookies,
            ["vmware_soap_session=\"abc\"; Path=/", "other=1"]
        );
        let request = String::from_utf8(peer.join().unwrap()).unwrap();
        assert!(request.starts_with("POST /sdk HTTP/1.1\r\n"), "{request}");
        for header in [
            "SOAPAction: \"urn:vim25/6.0\"\r\n",
            "Content-Type: text/xml; charset=utf-8\r\n",
            "Cookie: vmware_soap_session=\"s3cret-session\"\r\n",
        ] {
            assert!(request.contains(header), "{header:?} missing: {request}");
        }
        assert!(request.ends_with("\r\n\r\n<x/>"), "{request}");
    }

    /// The signal handler logs out while the main thread is inside a call:
    /// the second call must not wait for the first.
    #[test]
    fn a_call_during_another_does_not_wait_for_it() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let _peer = std::thread::spawn(move || {
            let mut held = Vec::new();
            for (i, c) in l.incoming().take(2).enumerate() {
                let Ok(mut c) = c else { continue };
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                if i == 1 {
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
                held.push(c);
            }
            std::thread::sleep(Duration::from_secs(5));
        });
        let policy = TlsPolicy::PlainHttp;
        let e = Endpoint::parse("127.0.0.1", Some(port), &policy).unwrap();
        let http = std::sync::Arc::new(SdkHttp::new(e, &policy, Family::Any).unwrap());
        let request = |what: &'static str| HttpRequest {
            what,
            body: "<x/>",
            soap_action: "urn:vim25/6.0",
            cookie: None,
            max_body: 1000,
        };
        let stalled = {
            let http = std::sync::Arc::clone(&http);
            std::thread::spawn(move || {
                http.post(&request("Stalled"), Deadline::after(Duration::from_secs(4)))
                    .map(|r| r.status)
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        let started = std::time::Instant::now();
        let second = http
            .post(&request("Logout"), Deadline::after(Duration::from_secs(2)))
            .unwrap();
        assert_eq!((second.status, second.body.as_str()), (200, "ok"));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(matches!(stalled.join().unwrap(), Err(Error::Timeout(_))));
    }
}
