//! Every wait ends at the caller's deadline, in wall-clock time, whatever
//! the peer does: trickle one byte a second, stall, never answer, never
//! resolve. Each test checks the kind of failure, the stage it names, and
//! that the call ended no later than its deadline plus MARGIN; the
//! trickling ones also that it did not give up long before the deadline
//! (the peer was still sending, so only the deadline could stop it).

mod support;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use support::{timed, KeyKind, Options, Pki, Reply, Server, MARGIN};
use vsphere_http::{
    Client, Deadline, Endpoint, Error, Family, Method, Resolver, Response, Stage, TlsPolicy,
};

const SECOND: Duration = Duration::from_secs(1);

fn client(server: &Server, policy: &TlsPolicy) -> Client {
    let endpoint = Endpoint::parse("127.0.0.1", Some(server.port()), policy).unwrap();
    Client::new(endpoint, policy, Family::Any).unwrap()
}

fn get(client: &mut Client, deadline: Duration) -> (Result<Response, Error>, Duration) {
    timed(|| client.request(Method::Get, "/sdk", &[], b"", Deadline::after(deadline)))
}

/// A timeout at `stage`, no sooner than `deadline` less half a second and
/// no later than `deadline` plus MARGIN.
fn assert_timed_out(
    result: Result<Response, Error>,
    took: Duration,
    deadline: Duration,
    stage: Stage,
) {
    match result {
        Err(Error::Timeout { stage: s }) => assert_eq!(s, stage),
        other => panic!("expected a timeout while {stage}, got {other:?} after {took:?}"),
    }
    assert!(
        took <= deadline + MARGIN,
        "took {took:?} for a {deadline:?} deadline"
    );
    assert!(
        took + Duration::from_millis(500) >= deadline,
        "gave up after {took:?}, long before the {deadline:?} deadline"
    );
}

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 20\r\n\r\n<answer>42</answer>.";
const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n";
const CHUNKED_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

fn trickle(at_once: &[u8], then: &[u8]) -> Reply {
    Reply::Trickle {
        at_once: at_once.to_vec(),
        then: then.to_vec(),
        every: SECOND,
    }
}

#[test]
fn trickled_status_line() {
    let server = Server::start(Options::default(), |_, _| trickle(b"", RESPONSE));
    let (r, took) = get(&mut client(&server, &TlsPolicy::PlainHttp), 2 * SECOND);
    assert_timed_out(r, took, 2 * SECOND, Stage::StatusLine);
}

#[test]
fn trickled_headers() {
    let server = Server::start(Options::default(), |_, _| {
        trickle(b"HTTP/1.1 200 OK\r\n", &RESPONSE[17..])
    });
    let (r, took) = get(&mut client(&server, &TlsPolicy::PlainHttp), 2 * SECOND);
    assert_timed_out(r, took, 2 * SECOND, Stage::Headers);
}

#[test]
fn trickled_body_with_content_length() {
    let server = Server::start(Options::default(), |_, _| {
        trickle(HEAD, b"<answer>42</answer>.")
    });
    let (r, took) = get(&mut client(&server, &TlsPolicy::PlainHttp), 2 * SECOND);
    assert_timed_out(r, took, 2 * SECOND, Stage::Body);
}

#[test]
fn trickled_chunked_body() {
    let server = Server::start(Options::default(), |_, _| {
        trickle(CHUNKED_HEAD, b"14\r\n<answer>42</answer>.\r\n0\r\n\r\n")
    });
    let (r, took) = get(&mut client(&server, &TlsPolicy::PlainHttp), 2 * SECOND);
    assert_timed_out(r, took, 2 * SECOND, Stage::Body);
}

/// The handshake is the wait that per-read timeouts never bound: each
/// byte resets them. Both key types, since the RSA handshake is longer.
#[test]
fn trickled_tls_handshake() {
    for kind in [KeyKind::EcdsaP256, KeyKind::Rsa2048] {
        let pki = Pki::new(kind, &["127.0.0.1"]);
        let server = Server::start(
            Options {
                tls: Some(pki.server.clone()),
                trickle_all: Some(SECOND),
                ..Options::default()
            },
            |_, _| Reply::Send(RESPONSE.to_vec()),
        );
        let policy = TlsPolicy::Verify {
            ca_file: Some(pki.ca_file.clone()),
        };
        let (r, took) = get(&mut client(&server, &policy), 3 * SECOND);
        assert_timed_out(r, took, 3 * SECOND, Stage::Handshake);
    }
}

#[test]
fn trickled_body_over_tls() {
    let pki = Pki::new(KeyKind::EcdsaP256, &["127.0.0.1"]);
    let server = Server::start(
        Options {
            tls: Some(pki.server.clone()),
            ..Options::default()
        },
        |_, _| trickle(HEAD, b"<answer>42</answer>."),
    );
    let policy = TlsPolicy::Verify {
        ca_file: Some(pki.ca_file.clone()),
    };
    let (r, took) = get(&mut client(&server, &policy), 2 * SECOND);
    assert_timed_out(r, took, 2 * SECOND, Stage::Body);
}

#[test]
fn accepted_and_never_answered() {
    let server = Server::start(
        Options {
            silent: true,
            ..Options::default()
        },
        |_, _| unreachable!(),
    );
    let (r, took) = get(&mut client(&server, &TlsPolicy::PlainHttp), SECOND);
    assert_timed_out(r, took, SECOND, Stage::StatusLine);
    // The same over TLS: the handshake never starts on the server's side.
    let (r, took) = get(&mut client(&server, &TlsPolicy::Insecure), SECOND);
    assert_timed_out(r, took, SECOND, Stage::Handshake);
}

#[test]
fn stall_in_mid_body() {
    let server = Server::start(Options::default(), |_, _| {
        Reply::SendAndStall([HEAD, b"<answer>"].concat())
    });
    let (r, took) = get(&mut client(&server, &TlsPolicy::PlainHttp), 2 * SECOND);
    assert_timed_out(r, took, 2 * SECOND, Stage::Body);
}

/// A deadline already past fails at once, before anything is sent.
#[test]
fn a_deadline_already_past_sends_nothing() {
    let server = Server::start(Options::default(), |_, _| Reply::Send(RESPONSE.to_vec()));
    let (r, took) = get(&mut client(&server, &TlsPolicy::PlainHttp), Duration::ZERO);
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
    assert!(took < Duration::from_millis(200), "{took:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.request_count(), 0);
}

/// A resolver that never answers, as getaddrinfo does for the resolver's
/// own timeouts and retries when the DNS server is silent.
struct SilentDns;

impl Resolver for SilentDns {
    fn resolve(&self, _host: &str, _port: u16) -> io::Result<Vec<SocketAddr>> {
        std::thread::sleep(Duration::from_secs(3600));
        Err(io::Error::other("unreachable"))
    }
}

#[test]
fn a_resolver_that_never_answers() {
    let policy = TlsPolicy::Verify { ca_file: None };
    let endpoint = Endpoint::parse("vcenter.example.org", None, &policy).unwrap();
    let mut client = Client::new(endpoint, &policy, Family::Any)
        .unwrap()
        .with_resolver(Arc::new(SilentDns));
    let (r, took) = get(&mut client, 2 * SECOND);
    assert_timed_out(r, took, 2 * SECOND, Stage::Resolve);
    // The abandoned resolution does not hold the next call either.
    let (r, took) = get(&mut client, SECOND);
    assert_timed_out(r, took, SECOND, Stage::Resolve);
}

/// A listener whose accept queue is full drops further SYNs: connecting
/// to it waits as for a host that swallows packets. Only the deadline
/// ends that wait.
#[test]
fn connecting_to_a_port_that_drops_syns() {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: a listening socket; listen() again only changes the backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let addr = listener.local_addr().unwrap();
    // Fill the queue (never accepted) until a connection attempt hangs.
    let mut held = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    if held.len() >= 8 {
        eprintln!("this kernel never drops SYNs on a full accept queue: skipped");
        return;
    }
    let policy = TlsPolicy::PlainHttp;
    let endpoint = Endpoint::parse("127.0.0.1", Some(addr.port()), &policy).unwrap();
    let mut client = Client::new(endpoint, &policy, Family::Any).unwrap();
    let (r, took) = get(&mut client, 2 * SECOND);
    assert_timed_out(r, took, 2 * SECOND, Stage::Connect);
}

/// The real resolver (getaddrinfo) facing a DNS server that receives the
/// queries and never answers, in a network and mount namespace of the
/// test's own (root only): resolv.conf there names 127.0.0.1, where a
/// silent UDP socket listens, with 5 s per try and 2 tries, so that
/// getaddrinfo alone would wait 10 s or more. The probe, given 2 s, must
/// give up at 2 s.
#[test]
fn a_dns_server_that_never_answers() {
    let unshare = std::process::Command::new("unshare")
        .args(["--net", "--mount", "true"])
        .status();
    if !matches!(unshare, Ok(s) if s.success())
        || !std::path::Path::new("/usr/bin/python3").exists()
    {
        eprintln!("needs root, unshare and /usr/bin/python3: skipped");
        return;
    }
    let dir = support::TempDir::new("dns");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions timeout:5 attempts:2\n",
    )
    .unwrap();
    // Binds the silent server, runs the probe, then counts the queries
    // that reached the server.
    let silent_dns = r#"
import socket, subprocess, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
r = subprocess.run([sys.argv[1], "--timeout-ms", "2000", "vcenter.example.org", "443"])
s.setblocking(False)
n = 0
try:
    while True:
        s.recv(512)
        n += 1
except BlockingIOError:
    pass
print("queries", n)
sys.exit(r.returncode)
"#;
    let (out, took) = timed(|| {
        std::process::Command::new("unshare")
            .args(["--net", "--mount", "sh", "-c"])
            .arg(r#"ip link set lo up && mount --bind "$1" /etc/resolv.conf && exec /usr/bin/python3 -c "$2" "$3""#)
            .arg("sh")
            .arg(&resolv)
            .arg(silent_dns)
            .arg(env!("CARGO_BIN_EXE_vsphere-http-probe"))
            .output()
            .unwrap()
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("error Timeout") && stdout.contains("resolving the host name"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let queries: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("queries "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        queries >= 1,
        "the query reached the silent server: {stdout}"
    );
    assert!(took <= 2 * SECOND + MARGIN, "{took:?}");
}
