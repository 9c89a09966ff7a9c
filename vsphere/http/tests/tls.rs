//! TLS trust: what is verified, against which CAs, and what each failure
//! says. Certificates are generated per test (RSA-2048 and ECDSA P-256);
//! the servers are rustls and, as a real peer, OpenSSL's s_server. The
//! trust-store tests run vsphere-http-probe in a process of its own, so
//! that SSL_CERT_FILE and SSL_CERT_DIR are read as at a real start.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use support::{ok, timed, KeyKind, Options, Pki, Reply, Server, TempDir};
use vsphere_http::{
    Client, Deadline, Endpoint, Error, Family, Method, Resolver, Response, TlsPolicy,
};

fn verify_with(pki: &Pki) -> TlsPolicy {
    TlsPolicy::Verify {
        ca_file: Some(pki.ca_file.clone()),
    }
}

fn tls_server(pki: &Pki, bind: &str) -> Server {
    Server::start(
        Options {
            bind: Some(bind.into()),
            tls: Some(pki.server.clone()),
            ..Options::default()
        },
        |_, _| ok("secret world"),
    )
}

fn get_from(ip: &str, port: u16, policy: &TlsPolicy) -> Result<Response, Error> {
    let mut c = Client::new(
        Endpoint::parse(ip, Some(port), policy).unwrap(),
        policy,
        Family::Any,
    )?;
    c.request(
        Method::Get,
        "/",
        &[],
        b"",
        Deadline::after(Duration::from_secs(3)),
    )
}

fn tls_message(r: Result<Response, Error>) -> String {
    match r {
        Err(Error::Tls(m)) => m,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn verified_against_cacert_with_rsa_and_ecdsa() {
    for kind in [KeyKind::Rsa2048, KeyKind::EcdsaP256] {
        let pki = Pki::new(kind, &["localhost", "127.0.0.1", "::1"]);
        let server = tls_server(&pki, "127.0.0.1:0");
        for host in ["127.0.0.1", "localhost"] {
            let r = get_from(host, server.port(), &verify_with(&pki)).unwrap();
            assert_eq!(
                (r.status, r.body.as_slice()),
                (200, &b"secret world"[..]),
                "{kind:?} {host}"
            );
        }
        if support::ipv6_loopback() {
            let server = tls_server(&pki, "[::1]:0");
            let r = get_from("[::1]", server.port(), &verify_with(&pki)).unwrap();
            assert_eq!(r.status, 200, "{kind:?} ::1");
        }
    }
}

/// One handshake for many requests, TLS 1.3 session tickets and all; a
/// server that closes the idle connection costs one more.
#[test]
fn kept_alive_over_tls() {
    let pki = Pki::new(KeyKind::EcdsaP256, &["127.0.0.1"]);
    let server = Server::start(
        Options {
            tls: Some(pki.server.clone()),
            ..Options::default()
        },
        |seen, _| {
            if seen.connection == 0 && seen.request == 2 {
                Reply::SendAndClose(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast".to_vec())
            } else {
                ok("more")
            }
        },
    );
    let policy = verify_with(&pki);
    let endpoint = Endpoint::parse("127.0.0.1", Some(server.port()), &policy).unwrap();
    let mut c = Client::new(endpoint, &policy, Family::Any).unwrap();
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let deadline = Deadline::after(Duration::from_secs(3));
        let r = c
            .request(Method::Post, "/sdk", &[], b"x", deadline)
            .unwrap();
        bodies.push(String::from_utf8(r.body).unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(bodies, ["more", "more", "last", "more", "more"]);
    assert_eq!(server.connection_count(), 2);
}

#[test]
fn a_certificate_from_an_untrusted_ca_is_refused() {
    let pki = Pki::new(KeyKind::EcdsaP256, &["127.0.0.1"]);
    let stranger = Pki::new(KeyKind::EcdsaP256, &["127.0.0.1"]);
    let server = tls_server(&pki, "127.0.0.1:0");
    let m = tls_message(get_from(
        "127.0.0.1",
        server.port(),
        &verify_with(&stranger),
    ));
    assert!(m.contains("certificate is not trusted"), "{m}");
    assert!(
        m.contains(&stranger.ca_file.display().to_string()),
        "names what was trusted: {m}"
    );
    assert_eq!(
        server.request_count(),
        0,
        "nothing sent over an untrusted connection"
    );
    // A CA with the same name and another key.
    let twin = Pki::with_ca_name(KeyKind::EcdsaP256, &["127.0.0.1"], "CA");
    let impostor = Pki::with_ca_name(KeyKind::EcdsaP256, &["127.0.0.1"], "CA");
    let server = tls_server(&twin, "127.0.0.1:0");
    let m = tls_message(get_from(
        "127.0.0.1",
        server.port(),
        &verify_with(&impostor),
    ));
    assert!(m.contains("certificate is not trusted"), "{m}");
    assert_eq!(server.request_count(), 0);
}

/// A resolver naming one host, for certificates issued to other names.
struct Hosts(&'static str);

impl Resolver for Hosts {
    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        assert_eq!(host, self.0);
        Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
    }
}

/// A trusted CA is not enough: the certificate must name the host asked
/// for, by address or by name. Only the explicit opt-out accepts it.
#[test]
fn a_certificate_for_another_host_is_refused() {
    let pki = Pki::new(KeyKind::Rsa2048, &["localhost", "127.0.0.1"]);
    let server = tls_server(&pki, "127.0.0.2:0");
    let m = tls_message(get_from("127.0.0.2", server.port(), &verify_with(&pki)));
    assert!(
        m.contains("IP address mismatch") && m.contains("127.0.0.2"),
        "{m}"
    );
    assert_eq!(server.request_count(), 0);
    assert_eq!(
        get_from("127.0.0.2", server.port(), &TlsPolicy::Insecure)
            .unwrap()
            .status,
        200
    );

    let server = tls_server(&pki, "127.0.0.1:0");
    let policy = verify_with(&pki);
    let endpoint = Endpoint::parse("vcenter.test", Some(server.port()), &policy).unwrap();
    let mut c = Client::new(endpoint, &policy, Family::Any)
        .unwrap()
        .with_resolver(Arc::new(Hosts("vcenter.test")));
    let m = tls_message(c.request(
        Method::Get,
        "/",
        &[],
        b"",
        Deadline::after(Duration::from_secs(3)),
    ));
    assert!(
        m.contains("hostname mismatch") && m.contains("vcenter.test"),
        "{m}"
    );
    assert_eq!(server.request_count(), 0);
}

#[test]
fn an_expired_certificate_is_refused_unless_insecure() {
    let pki = Pki::expired(KeyKind::EcdsaP256, &["127.0.0.1"]);
    let server = tls_server(&pki, "127.0.0.1:0");
    let m = tls_message(get_from("127.0.0.1", server.port(), &verify_with(&pki)));
    assert!(m.contains("expired"), "{m}");
    assert_eq!(
        get_from("127.0.0.1", server.port(), &TlsPolicy::Insecure)
            .unwrap()
            .status,
        200
    );
}

/// A self-signed CA:TRUE certificate given as cacert and presented by the
/// server: OpenSSL trusts it, webpki alone would not (CaUsedAsEndEntity).
/// It is trusted for its own names and validity only.
#[test]
fn a_pinned_self_signed_certificate_is_trusted_for_its_names_only() {
    for kind in [KeyKind::Rsa2048, KeyKind::EcdsaP256] {
        let pki = Pki::self_signed_ca_as_server(kind, &["127.0.0.1"], false);
        let server = tls_server(&pki, "127.0.0.1:0");
        let r = get_from("127.0.0.1", server.port(), &verify_with(&pki));
        assert_eq!(r.unwrap().status, 200, "{kind:?}");
        let server = tls_server(&pki, "127.0.0.2:0");
        let m = tls_message(get_from("127.0.0.2", server.port(), &verify_with(&pki)));
        assert!(m.contains("IP address mismatch"), "{m}");
        // Pinning one certificate trusts no other, even of the same name.
        let other = Pki::self_signed_ca_as_server(kind, &["127.0.0.1"], false);
        let server = tls_server(&other, "127.0.0.1:0");
        let m = tls_message(get_from("127.0.0.1", server.port(), &verify_with(&pki)));
        assert!(
            m.contains("not trusted") && m.contains("self-signed"),
            "{m}"
        );
        assert_eq!(server.request_count(), 0);
    }
    let expired = Pki::self_signed_ca_as_server(KeyKind::EcdsaP256, &["127.0.0.1"], true);
    let server = tls_server(&expired, "127.0.0.1:0");
    let m = tls_message(get_from("127.0.0.1", server.port(), &verify_with(&expired)));
    assert!(m.contains("expired"), "{m}");
}

/// ssl_insecure: an unknown CA, another name, both key types: accepted.
#[test]
fn insecure_accepts_any_certificate() {
    for kind in [KeyKind::Rsa2048, KeyKind::EcdsaP256] {
        let pki = Pki::new(kind, &["somewhere.else.example"]);
        let server = tls_server(&pki, "127.0.0.1:0");
        let r = get_from("127.0.0.1", server.port(), &TlsPolicy::Insecure).unwrap();
        assert_eq!(r.body, b"secret world", "{kind:?}");
    }
}

/// TLS against a plain HTTP server that answers at once (as vCenter's
/// port 80 does): a handshake failure, at once. Plain HTTP against a TLS
/// server: never a success.
#[test]
fn tls_and_plain_http_crossed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut tcp in listener.incoming().flatten() {
            let _ = tcp.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            let _ = tcp.read(&mut [0u8; 1024]);
        }
    });
    let (r, took) = timed(|| get_from("127.0.0.1", port, &TlsPolicy::Insecure));
    let m = tls_message(r);
    assert!(m.contains("handshake failure"), "{m}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    let pki = Pki::new(KeyKind::EcdsaP256, &["127.0.0.1"]);
    let server = tls_server(&pki, "127.0.0.1:0");
    let r = get_from("127.0.0.1", server.port(), &TlsPolicy::PlainHttp);
    assert!(r.is_err(), "{r:?}");
}

/// OpenSSL's s_server, a real TLS implementation: TLS 1.2 with an RSA
/// certificate works; a server that offers at most TLS 1.1 is refused,
/// as TLS 1.2 is the minimum.
#[test]
fn openssl_s_server_tls12_accepted_tls11_refused() {
    let pki = Pki::new(KeyKind::Rsa2048, &["127.0.0.1"]);
    let server = SServer::start(&pki, &["-tls1_2"]);
    let r = get_from("127.0.0.1", server.port, &verify_with(&pki)).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        String::from_utf8_lossy(&r.body).contains("TLSv1.2"),
        "s_server -www reports the protocol"
    );
    drop(server);

    let server = SServer::start(&pki, &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]);
    let m = tls_message(get_from("127.0.0.1", server.port, &verify_with(&pki)));
    assert!(m.contains("handshake failure"), "{m}");
}

/// `openssl s_server -www` on 127.0.0.1, killed when dropped.
struct SServer {
    child: std::process::Child,
    port: u16,
}

impl SServer {
    fn start(pki: &Pki, protocol: &[&str]) -> SServer {
        let port = support::refusing_port();
        let mut child = Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-www",
                "-quiet",
            ])
            .arg("-cert")
            .arg(&pki.leaf_file)
            .arg("-key")
            .arg(&pki.key_file)
            .args(protocol)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        // Ready once it listens.
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "s_server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || for _ in BufReader::new(out).lines() {});
        }
        SServer { child, port }
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs vsphere-http-probe -v against 127.0.0.1:`port` with `args`, in an
/// environment where SSL_CERT_FILE and SSL_CERT_DIR are exactly `env`.
fn probe(port: u16, args: &[&str], env: &[(&str, &Path)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vsphere-http-probe"));
    cmd.args(["-v", "--timeout-ms", "3000"])
        .args(args)
        .args(["127.0.0.1", &port.to_string()])
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What the probe logs when it reads the system store's file...
const STORE_READ: &str = "CAs from the system trust store";
/// ...and its certificate directories.
const DIRS_READ: &str = "more CAs from the certificate directories";

#[test]
fn ssl_cert_file_and_ssl_cert_dir_are_honoured() {
    let pki = Pki::new(KeyKind::EcdsaP256, &["127.0.0.1"]);
    let stranger = Pki::new(KeyKind::EcdsaP256, &["127.0.0.1"]);
    let server = tls_server(&pki, "127.0.0.1:0");
    let port = server.port();

    let (ok, out, err) = probe(port, &[], &[("SSL_CERT_FILE", &pki.ca_file)]);
    assert!(ok && out.contains("status 200"), "{out}{err}");
    let file_named = format!("SSL_CERT_FILE={}", pki.ca_file.display());
    assert!(
        err.contains(STORE_READ) && err.contains(&file_named),
        "{err}"
    );
    assert!(!err.contains(DIRS_READ), "the file was enough: {err}");

    let (ok, out, err) = probe(port, &[], &[("SSL_CERT_FILE", &stranger.ca_file)]);
    assert!(
        !ok && out.contains("error Tls") && out.contains("not trusted"),
        "{out}"
    );
    assert!(out.contains("SSL_CERT_FILE="), "{out}");
    assert!(
        err.contains(DIRS_READ),
        "the directory was searched too: {err}"
    );

    // An OpenSSL certificate directory: files named by subject hash. It
    // adds to the file, as for OpenSSL, read only when the file's CAs
    // do not verify the server.
    let dir = TempDir::new("certdir");
    let hash = Command::new("openssl")
        .args(["x509", "-hash", "-noout", "-in"])
        .arg(&pki.ca_file)
        .output()
        .unwrap();
    let hash = String::from_utf8(hash.stdout).unwrap();
    std::fs::copy(&pki.ca_file, dir.path().join(format!("{}.0", hash.trim()))).unwrap();
    let (ok, out, err) = probe(port, &[], &[("SSL_CERT_DIR", dir.path())]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = probe(
        port,
        &[],
        &[
            ("SSL_CERT_FILE", &stranger.ca_file),
            ("SSL_CERT_DIR", dir.path()),
        ],
    );
    assert!(ok && err.contains(DIRS_READ), "{out}{err}");
    // The same file under a name OpenSSL would not look up: not trusted.
    let unhashed = TempDir::new("certdir");
    std::fs::copy(&pki.ca_file, unhashed.path().join("ca.pem")).unwrap();
    let (ok, out, _) = probe(
        port,
        &[],
        &[
            ("SSL_CERT_FILE", &stranger.ca_file),
            ("SSL_CERT_DIR", unhashed.path()),
        ],
    );
    assert!(!ok && out.contains("not trusted"), "{out}");

    // Nothing readable: refused before connecting.
    let before = server.connection_count();
    let nowhere = Path::new("/nonexistent");
    let (ok, out, _) = probe(
        port,
        &[],
        &[("SSL_CERT_FILE", nowhere), ("SSL_CERT_DIR", nowhere)],
    );
    assert!(
        !ok && out.contains("error Tls") && out.contains("no trusted CA certificate"),
        "{out}"
    );
    assert_eq!(server.connection_count(), before);
}

/// Without the variables: the distribution's bundle, which does not hold
/// the test CA.
#[test]
fn the_system_bundle_is_the_default() {
    let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if !bundle.is_file() {
        eprintln!("no {}: skipped", bundle.display());
        return;
    }
    let pki = Pki::new(KeyKind::EcdsaP256, &["127.0.0.1"]);
    let server = tls_server(&pki, "127.0.0.1:0");
    let (ok, out, err) = probe(server.port(), &[], &[]);
    assert!(
        !ok && out.contains("not trusted") && out.contains("ca-certificates.crt"),
        "{out}"
    );
    assert!(err.contains(STORE_READ), "{err}");
}

/// cacert replaces the system store: a server the system store trusts
/// (SSL_CERT_FILE) but cacert does not is refused, and the system store
/// is not even read; ssl_insecure does not read it either.
#[test]
fn cacert_replaces_the_system_store_which_is_then_never_read() {
    let pki = Pki::new(KeyKind::EcdsaP256, &["127.0.0.1"]);
    let stranger = Pki::new(KeyKind::EcdsaP256, &["127.0.0.1"]);
    let server = tls_server(&pki, "127.0.0.1:0");
    let port = server.port();
    let stranger_ca = stranger.ca_file.display().to_string();
    let (ok, out, err) = probe(
        port,
        &["--cacert", &stranger_ca],
        &[("SSL_CERT_FILE", &pki.ca_file)],
    );
    assert!(!ok && out.contains("not trusted"), "{out}");
    assert!(!err.contains(STORE_READ), "{err}");

    let own_ca = pki.ca_file.display().to_string();
    let (ok, out, err) = probe(
        port,
        &["--cacert", &own_ca],
        &[("SSL_CERT_FILE", &stranger.ca_file)],
    );
    assert!(ok, "{out}{err}");
    assert!(!err.contains(STORE_READ), "{err}");

    let (ok, out, err) = probe(
        port,
        &["--insecure"],
        &[("SSL_CERT_FILE", Path::new("/nonexistent"))],
    );
    assert!(ok, "{out}{err}");
    assert!(!err.contains(STORE_READ), "{err}");
}

/// One read of the store per process, however many clients and
/// connections.
#[test]
fn the_system_store_is_read_once_per_process() {
    let pki = Pki::new(KeyKind::EcdsaP256, &["127.0.0.1"]);
    let server = Server::start(
        Options {
            tls: Some(pki.server.clone()),
            ..Options::default()
        },
        |_, _| Reply::SendAndClose(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
    );
    let (ok, out, err) = probe(
        server.port(),
        &["--count", "3"],
        &[("SSL_CERT_FILE", &pki.ca_file)],
    );
    assert!(ok && out.matches("status 200").count() == 3, "{out}{err}");
    assert_eq!(err.matches(STORE_READ).count(), 1, "{err}");
    assert_eq!(server.connection_count(), 3);
}
