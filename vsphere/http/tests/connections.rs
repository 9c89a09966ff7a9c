//! Connections: kept alive and reused, replaced when the server closed
//! them, one per clone; addresses in every form of the `ip` option, in
//! the resolver's order and filtered by family; failures of the peer in
//! mid-response and responses over the limits; and no secret in any error.

mod support;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{ok, refusing_port, timed, Options, Reply, Seen, Server};
use vsphere_http::{
    Client, Deadline, Endpoint, Error, Family, Limit, Limits, Malformed, Method, Resolver,
    Response, Stage, TlsPolicy,
};

const PLAIN: TlsPolicy = TlsPolicy::PlainHttp;

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(3))
}

fn client_for(ip: &str, port: u16) -> Client {
    Client::new(
        Endpoint::parse(ip, Some(port), &PLAIN).unwrap(),
        &PLAIN,
        Family::Any,
    )
    .unwrap()
}

fn client(server: &Server) -> Client {
    client_for("127.0.0.1", server.port())
}

fn post(client: &mut Client, body: &str) -> Result<Response, Error> {
    client.request(
        Method::Post,
        "/sdk",
        &[("Content-Type", "text/xml")],
        body.as_bytes(),
        deadline(),
    )
}

fn get(client: &mut Client) -> Result<Response, Error> {
    client.request(Method::Get, "/", &[], b"", deadline())
}

/// Answers each request with its own body, so that a test sees which
/// request a response belongs to.
fn echo(_: Seen, raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    ok(body)
}

#[test]
fn one_connection_carries_every_request() {
    let server = Server::start(Options::default(), echo);
    let mut c = client(&server);
    for i in 0..3 {
        let r = post(&mut c, &format!("request {i}")).unwrap();
        assert_eq!(
            (r.status, r.body),
            (200, format!("request {i}").into_bytes())
        );
    }
    assert_eq!(server.connection_count(), 1);
    let first = String::from_utf8(server.requests.lock().unwrap()[0].clone()).unwrap();
    assert!(
        first.starts_with(&format!(
            "POST /sdk HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: text/xml\r\nContent-Length: 9\r\n\r\n",
            server.port()
        )),
        "{first:?}"
    );
}

/// The server closes the connection after answering, without saying so
/// (as vCenter's proxy does with idle connections): the next request,
/// a POST which is never sent twice, goes out on a new connection.
#[test]
fn a_connection_the_server_closed_is_replaced() {
    let server = Server::start(Options::default(), |seen, raw| match echo(seen, raw) {
        Reply::Send(bytes) if seen.connection == 0 => Reply::SendAndClose(bytes),
        other => other,
    });
    let mut c = client(&server);
    assert_eq!(post(&mut c, "first").unwrap().body, b"first");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(post(&mut c, "second").unwrap().body, b"second");
    assert_eq!(server.connection_count(), 2);
    assert_eq!(server.request_count(), 2, "nothing was sent twice");
}

#[test]
fn connection_close_is_honoured() {
    let server = Server::start(Options::default(), |_, _| {
        Reply::Send(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec())
    });
    let mut c = client(&server);
    for _ in 0..2 {
        assert_eq!(post(&mut c, "x").unwrap().body, b"ok");
    }
    assert_eq!(server.connection_count(), 2);
}

/// The server reads the second request on a kept-alive connection and
/// closes without a byte of answer. RFC 9110 section 9.2.2: a GET may be
/// sent again on a new connection; a POST may not (it may have been
/// carried out), and fails.
#[test]
fn only_idempotent_requests_are_sent_again() {
    let hang_up = |seen: Seen, _: &[u8]| {
        if seen.connection == 0 && seen.request == 1 {
            Reply::SendAndClose(Vec::new())
        } else {
            ok("fine")
        }
    };
    let server = Server::start(Options::default(), hang_up);
    let mut c = client(&server);
    get(&mut c).unwrap();
    assert_eq!(get(&mut c).unwrap().body, b"fine");
    assert_eq!((server.connection_count(), server.request_count()), (2, 3));

    let server = Server::start(Options::default(), hang_up);
    let mut c = client(&server);
    post(&mut c, "once").unwrap();
    match post(&mut c, "twice?") {
        Err(Error::Protocol(Malformed::Truncated(Stage::StatusLine))) => {}
        other => panic!("{other:?}"),
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!((server.connection_count(), server.request_count()), (1, 2));
}

/// Bytes that arrive on an idle connection belong to no request: the
/// connection is dropped rather than read as the next answer.
#[test]
fn stray_bytes_on_an_idle_connection_are_never_taken_for_an_answer() {
    let server = Server::start(Options::default(), |seen, raw| {
        if seen.connection == 0 {
            let mut bytes = match echo(seen, raw) {
                Reply::Send(b) => b,
                _ => unreachable!(),
            };
            bytes.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged");
            Reply::Trickle {
                at_once: bytes,
                then: Vec::new(),
                every: Duration::ZERO,
            }
        } else {
            echo(seen, raw)
        }
    });
    let mut c = client(&server);
    // The forged answer arrives with the first: excess data, refused.
    match post(&mut c, "first") {
        Err(Error::Protocol(Malformed::ExcessData)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(post(&mut c, "second").unwrap().body, b"second");
    assert_eq!(server.connection_count(), 2);
}

/// The signal handler logs out with a clone while the main thread is
/// blocked in a request on the original: the clone has its own
/// connection and is not held up.
#[test]
fn a_clone_works_from_another_thread_while_the_original_is_blocked() {
    let server = Server::start(Options::default(), |seen, _| {
        if seen.connection == 0 {
            Reply::SendAndStall(b"HTTP/1.1 200 OK\r\n".to_vec())
        } else {
            ok("logged out")
        }
    });
    let mut original = client(&server);
    let mut clone = original.clone();
    let started = Instant::now();
    let blocked = std::thread::spawn(move || {
        let r = original.request(
            Method::Get,
            "/",
            &[],
            b"",
            Deadline::after(Duration::from_secs(3)),
        );
        (r, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let (r, _) = timed(|| {
        std::thread::spawn(move || post(&mut clone, "Logout"))
            .join()
            .unwrap()
    });
    let logged_out_at = started.elapsed();
    assert_eq!(r.unwrap().body, b"logged out");
    let (blocked_result, blocked_for) = blocked.join().unwrap();
    assert!(
        matches!(blocked_result, Err(Error::Timeout { .. })),
        "{blocked_result:?}"
    );
    assert!(logged_out_at < Duration::from_secs(2), "{logged_out_at:?}");
    assert!(blocked_for >= Duration::from_secs(2), "{blocked_for:?}");
    assert_eq!(server.connection_count(), 2);
}

#[test]
fn ipv6_literal_with_and_without_brackets() {
    if !support::ipv6_loopback() {
        return;
    }
    let server = Server::start(
        Options {
            bind: Some("[::1]:0".into()),
            ..Options::default()
        },
        echo,
    );
    let port = server.port();
    for ip in [
        "::1".to_string(),
        "[::1]".to_string(),
        format!("[::1]:{port}"),
    ] {
        let endpoint = Endpoint::parse(
            &ip,
            if ip.contains("]:") { None } else { Some(port) },
            &PLAIN,
        )
        .unwrap();
        let mut c = Client::new(endpoint, &PLAIN, Family::Any).unwrap();
        assert_eq!(post(&mut c, &ip).unwrap().body, ip.as_bytes());
    }
    let raw = String::from_utf8(server.requests.lock().unwrap()[0].clone()).unwrap();
    assert!(
        raw.contains(&format!("\r\nHost: [::1]:{port}\r\n")),
        "{raw:?}"
    );
    // inet4_only with an IPv6 literal: refused before any connection.
    let endpoint = Endpoint::parse("::1", Some(port), &PLAIN).unwrap();
    let mut c = Client::new(endpoint, &PLAIN, Family::V4).unwrap();
    match post(&mut c, "x") {
        Err(Error::Resolve { reason, .. }) => assert!(reason.contains("IPv4"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.connection_count(), 3);
}

/// A resolver with a fixed answer, as /etc/hosts or DNS would give.
struct Hosts(Vec<SocketAddr>);

impl Resolver for Hosts {
    fn resolve(&self, host: &str, _port: u16) -> io::Result<Vec<SocketAddr>> {
        if host == "vcenter.test" {
            Ok(self.0.clone())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                "Name or service not known",
            ))
        }
    }
}

fn named(port: u16, family: Family, addrs: Vec<SocketAddr>) -> Client {
    Client::new(
        Endpoint::parse("vcenter.test", Some(port), &PLAIN).unwrap(),
        &PLAIN,
        family,
    )
    .unwrap()
    .with_resolver(Arc::new(Hosts(addrs)))
}

/// The first address refuses (127.0.0.2: nothing listens there); the
/// second is tried within the same deadline.
#[test]
fn a_name_with_several_addresses_where_the_first_refuses() {
    let server = Server::start(Options::default(), echo);
    let port = server.port();
    let addrs = vec![
        SocketAddr::from(([127, 0, 0, 2], port)),
        SocketAddr::from(([127, 0, 0, 1], port)),
    ];
    let mut c = named(port, Family::Any, addrs);
    assert_eq!(
        post(&mut c, "second address").unwrap().body,
        b"second address"
    );
    assert_eq!(server.connection_count(), 1);
    // None accepts: the error names every address tried.
    let dead = refusing_port();
    let addrs = vec![
        SocketAddr::from(([127, 0, 0, 2], dead)),
        SocketAddr::from(([127, 0, 0, 1], dead)),
    ];
    match post(&mut named(dead, Family::Any, addrs), "x") {
        Err(Error::Connect(m)) => {
            assert!(
                m.contains(&format!("127.0.0.2:{dead}"))
                    && m.contains(&format!("127.0.0.1:{dead}")),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    match post(&mut named(dead, Family::Any, vec![]), "x") {
        Err(Error::Resolve { host, .. }) => assert_eq!(host, "vcenter.test"),
        other => panic!("{other:?}"),
    }
    let policy = PLAIN;
    let mut unknown = Client::new(
        Endpoint::parse("other.test", Some(dead), &policy).unwrap(),
        &policy,
        Family::Any,
    )
    .unwrap()
    .with_resolver(Arc::new(Hosts(vec![])));
    match post(&mut unknown, "x") {
        Err(Error::Resolve { host, reason }) => {
            assert_eq!(host, "other.test");
            assert!(reason.contains("not known"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

/// A name with an IPv6 and an IPv4 address, a server on each, same port:
/// the family decides which one answers.
#[test]
fn the_family_filters_resolved_addresses() {
    if !support::ipv6_loopback() {
        return;
    }
    let v4 = Server::start(Options::default(), |_, _| ok("v4"));
    let port = v4.port();
    if TcpListener::bind(("::1", port)).is_err() {
        eprintln!("[::1]:{port} is taken: skipped");
        return;
    }
    let v6 = Server::start(
        Options {
            bind: Some(format!("[::1]:{port}")),
            ..Options::default()
        },
        |_, _| ok("v6"),
    );
    let both = vec![
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
        SocketAddr::from(([127, 0, 0, 1], port)),
    ];
    assert_eq!(
        post(&mut named(port, Family::Any, both.clone()), "")
            .unwrap()
            .body,
        b"v6"
    );
    assert_eq!(
        post(&mut named(port, Family::V4, both.clone()), "")
            .unwrap()
            .body,
        b"v4"
    );
    assert_eq!(
        post(&mut named(port, Family::V6, both), "").unwrap().body,
        b"v6"
    );
    let only_v4 = vec![SocketAddr::from(([127, 0, 0, 1], port))];
    match post(&mut named(port, Family::V6, only_v4), "") {
        Err(Error::Resolve { reason, .. }) => {
            assert!(reason.contains("no IPv6 address"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((v4.connection_count(), v6.connection_count()), (1, 2));
}

/// The real resolver: localhost may come back as ::1 then 127.0.0.1; the
/// server listens on 127.0.0.1 only, so ::1 (if tried first) refuses.
#[test]
fn localhost_through_the_system_resolver() {
    let server = Server::start(Options::default(), echo);
    let mut c = client_for("localhost", server.port());
    assert_eq!(
        post(&mut c, "via getaddrinfo").unwrap().body,
        b"via getaddrinfo"
    );
}

#[test]
fn reset_in_mid_body() {
    let server = Server::start(Options::default(), |_, _| {
        Reply::SendAndReset(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<half".to_vec())
    });
    let (r, took) = timed(|| post(&mut client(&server), "x"));
    match r {
        Err(Error::Io { stage, source }) => {
            assert_eq!(stage, Stage::Body);
            assert_eq!(source.kind(), io::ErrorKind::ConnectionReset);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        took < Duration::from_secs(2),
        "a reset is not a timeout: {took:?}"
    );
}

#[test]
fn closed_in_mid_body() {
    for (head, rest) in [
        (
            &b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"[..],
            &b"<half"[..],
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"a\r\n<half",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"5\r\nhello\r\n",
        ),
    ] {
        let bytes = [head, rest].concat();
        let server = Server::start(Options::default(), move |_, _| {
            Reply::SendAndClose(bytes.clone())
        });
        match post(&mut client(&server), "x") {
            Err(Error::Protocol(Malformed::Truncated(Stage::Body))) => {}
            other => panic!("{}: {other:?}", String::from_utf8_lossy(rest)),
        }
    }
}

/// A flood of headers or of body stops at the limit, at once, and does
/// not fill memory: the server would send for 30 seconds.
#[test]
fn floods_stop_at_the_limits() {
    let cases: Vec<(Vec<u8>, Vec<u8>, Limit)> = vec![
        (
            b"HTTP/1.1 200 OK\r\n".to_vec(),
            b"X-Flood: a\r\n".to_vec(),
            Limit::HeaderCount,
        ),
        (
            b"HTTP/1.1 200 OK\r\n".to_vec(),
            format!("X-Flood: {}\r\n", "a".repeat(2000)).into_bytes(),
            Limit::HeaderBytes,
        ),
        (
            b"HTTP/1.1 200 OK\r\n".to_vec(),
            b"a".repeat(4096),
            Limit::HeaderBytes,
        ),
        (
            b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
            b"a".repeat(4096),
            Limit::Body,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            b"1000\r\n"
                .iter()
                .copied()
                .chain(b"a".repeat(4096))
                .chain(*b"\r\n")
                .collect(),
            Limit::Body,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n".to_vec(),
            b"a".repeat(4096),
            Limit::Body,
        ),
    ];
    for (head, unit, want) in cases {
        let server = Server::start(Options::default(), move |_, _| {
            Reply::Endless(head.clone(), unit.clone())
        });
        let mut c = client(&server).with_limits(Limits {
            max_body: 1 << 20,
            ..Limits::default()
        });
        let (r, took) = timed(|| post(&mut c, "x"));
        match r {
            Err(Error::TooLarge { limit, .. }) => assert_eq!(limit, want),
            other => panic!("{want:?}: {other:?}"),
        }
        assert!(took < Duration::from_secs(2), "{want:?}: {took:?}");
    }
}

/// Passwords travel in bodies (Login) and tokens in headers (Cookie,
/// vmware-api-session-id): no error may quote either, nor what a server
/// echoes back of them.
#[test]
fn errors_never_quote_headers_or_bodies() {
    const SECRET: &str = "Pa55w0rd-s3cret";
    let replies: Vec<Box<dyn Fn() -> Reply + Send + Sync>> = vec![
        Box::new(|| {
            Reply::Send(format!("HTTP/1.1 200 {SECRET}\r\nbad {SECRET}\r\n\r\n").into_bytes())
        }),
        Box::new(|| Reply::Send(format!("{SECRET} 200 OK\r\n\r\n").into_bytes())),
        Box::new(|| {
            Reply::SendAndClose(
                format!("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{SECRET}").into_bytes(),
            )
        }),
        Box::new(|| {
            Reply::Send(format!("HTTP/1.1 200 OK\r\nContent-Length: {SECRET}\r\n\r\n").into_bytes())
        }),
        Box::new(|| {
            Reply::Send(
                format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{SECRET}\r\n")
                    .into_bytes(),
            )
        }),
        Box::new(|| {
            Reply::SendAndStall(format!("HTTP/1.1 200 OK\r\nX-Echo: {SECRET}\r\n").into_bytes())
        }),
    ];
    for reply in replies {
        let server = Server::start(Options::default(), move |_, _| reply());
        let mut c = client(&server);
        let r = c.request(
            Method::Post,
            "/sdk",
            &[("Cookie", &format!("vmware_soap_session={SECRET}"))],
            format!("<password>{SECRET}</password>").as_bytes(),
            Deadline::after(Duration::from_secs(1)),
        );
        let e = r.expect_err("every reply here is broken");
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.contains(SECRET), "{shown}");
        }
    }
    // A header value with CR LF is refused, naming the header only.
    let server = Server::start(Options::default(), echo);
    let e = client(&server)
        .request(
            Method::Get,
            "/",
            &[("Cookie", &format!("{SECRET}\r\nX: y"))],
            b"",
            deadline(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e:?}");
    assert!(
        e.to_string().contains("Cookie") && !format!("{e} {e:?}").contains(SECRET),
        "{e}"
    );
    // And a good response's Debug shows no value and no body.
    let server = Server::start(Options::default(), |_, _| {
        Reply::Send(
            format!(
                "HTTP/1.1 200 OK\r\nSet-Cookie: s={SECRET}\r\nContent-Length: 15\r\n\r\n{SECRET}"
            )
            .into_bytes(),
        )
    });
    let r = post(&mut client(&server), "x").unwrap();
    assert_eq!(
        r.headers.get("set-cookie"),
        Some(format!("s={SECRET}").as_str())
    );
    assert!(!format!("{r:?}").contains(SECRET));
}
