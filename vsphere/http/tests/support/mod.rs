//! Test peers for vsphere-http, on 127.0.0.1 and ::1 only.
//!
//! HAND-WRITTEN FAKE SERVER. No real HTTP server can be told, per
//! request, to trickle one byte a second, stall in mid-body, reset the
//! connection, send endless headers or close an idle connection on cue;
//! this one does exactly what each test scripts and nothing else. Its TLS
//! is real: rustls server-side, with certificates generated per test by
//! rcgen (ECDSA P-256 keys from rcgen, RSA-2048 keys from the openssl
//! command, as ring cannot generate RSA keys).
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// A directory removed at the end of the test.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "vsphere-http-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    Rsa2048,
}

fn key_pair(kind: KeyKind) -> KeyPair {
    match kind {
        KeyKind::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
        KeyKind::Rsa2048 => {
            let out = std::process::Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                ])
                .output()
                .expect("the openssl command (Debian package openssl)");
            assert!(out.status.success(), "openssl genpkey failed");
            let pem = String::from_utf8(out.stdout).unwrap();
            KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap()
        }
    }
}

/// A CA and a server certificate it signed, for `names` (DNS names or IP
/// addresses), with the CA written to `ca_file` and the server's
/// certificate and key to `leaf_file` and `key_file` (for openssl
/// s_server).
pub struct Pki {
    pub dir: TempDir,
    pub ca_file: PathBuf,
    pub ca_pem: String,
    pub leaf_file: PathBuf,
    pub key_file: PathBuf,
    pub server: Arc<ServerConfig>,
}

impl Pki {
    pub fn new(kind: KeyKind, names: &[&str]) -> Pki {
        Pki::build(kind, names, false)
    }

    /// The same with a server certificate that expired in 2001.
    pub fn expired(kind: KeyKind, names: &[&str]) -> Pki {
        Pki::build(kind, names, true)
    }

    /// One self-signed certificate with CA:TRUE, for `names`, as both the
    /// CA file and the server's certificate: what `openssl req -x509`
    /// makes and administrators pin.
    pub fn self_signed_ca_as_server(kind: KeyKind, names: &[&str], expired: bool) -> Pki {
        let key = key_pair(kind);
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let cert = params.self_signed(&key).unwrap();
        let dir = TempDir::new("pki");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, cert.pem()).unwrap();
        let key_file = dir.path().join("leaf.key");
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let server = server_config(
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        );
        Pki {
            leaf_file: ca_file.clone(),
            ca_file,
            ca_pem: cert.pem(),
            key_file,
            dir,
            server,
        }
    }

    fn build(kind: KeyKind, names: &[&str], expired: bool) -> Pki {
        Pki::build_named(kind, names, expired, &unique_name())
    }

    /// A CA named `ca_name`: two CAs of one name with different keys make
    /// the case of two self-signed vCenter CAs.
    pub fn with_ca_name(kind: KeyKind, names: &[&str], ca_name: &str) -> Pki {
        Pki::build_named(kind, names, false, ca_name)
    }

    fn build_named(kind: KeyKind, names: &[&str], expired: bool, ca_name: &str) -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("vsphere-http test CA {kind:?} {ca_name}"),
        );
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, key_pair(kind)).unwrap();
        let leaf_key = key_pair(kind);
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut leaf_params = CertificateParams::new(names).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "vsphere-http test server");
        if expired {
            leaf_params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            leaf_params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        let dir = TempDir::new("pki");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let leaf_file = dir.path().join("leaf.pem");
        std::fs::write(&leaf_file, leaf.pem()).unwrap();
        let key_file = dir.path().join("leaf.key");
        std::fs::write(&key_file, leaf_key.serialize_pem()).unwrap();
        let server = server_config(
            vec![leaf.der().clone()],
            PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        );
        Pki {
            dir,
            ca_file,
            ca_pem: ca.pem(),
            leaf_file,
            key_file,
            server,
        }
    }
}

fn unique_name() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Arc<ServerConfig> {
    Arc::new(
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

/// What the server does with one request.
pub enum Reply {
    /// These bytes at once; the connection stays open for the next request.
    Send(Vec<u8>),
    /// These bytes, then the connection is closed.
    SendAndClose(Vec<u8>),
    /// `at_once` at once, then the bytes of `then` one every `every`.
    Trickle {
        at_once: Vec<u8>,
        then: Vec<u8>,
        every: Duration,
    },
    /// These bytes, then silence with the connection held open.
    SendAndStall(Vec<u8>),
    /// These bytes, a pause, then a TCP reset (RST).
    SendAndReset(Vec<u8>),
    /// Bytes as fast as the client takes them, for ever (a flood).
    Endless(Vec<u8>, Vec<u8>),
}

pub fn ok(body: &str) -> Reply {
    Reply::Send(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

#[derive(Debug, Clone, Copy)]
pub struct Seen {
    /// Which connection (0 for the first accepted).
    pub connection: usize,
    /// Which request on that connection.
    pub request: usize,
}

type Handler = dyn Fn(Seen, &[u8]) -> Reply + Send + Sync;

#[derive(Clone, Default)]
pub struct Options {
    /// Where to listen; 127.0.0.1:0 when unset.
    pub bind: Option<String>,
    pub tls: Option<Arc<ServerConfig>>,
    /// Every byte the server writes, TLS handshake included, one per
    /// interval.
    pub trickle_all: Option<Duration>,
    /// Accept connections and never read or write anything.
    pub silent: bool,
}

pub struct Server {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Server {
    pub fn start(
        options: Options,
        handler: impl Fn(Seen, &[u8]) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind(options.bind.as_deref().unwrap_or("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let (count, log) = (connections.clone(), requests.clone());
        thread::spawn(move || {
            let mut held = Vec::new();
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { return };
                let connection = count.fetch_add(1, Ordering::SeqCst);
                if options.silent {
                    held.push(tcp);
                    continue;
                }
                let (options, handler, log) = (options.clone(), handler.clone(), log.clone());
                thread::spawn(move || serve(tcp, connection, &options, &*handler, &log));
            }
        });
        Server {
            addr,
            connections,
            requests,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

/// The server's socket, writing one byte per interval when asked to.
struct Slow {
    tcp: TcpStream,
    trickle: Option<Duration>,
}

impl Read for Slow {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl Write for Slow {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.trickle {
            Some(interval) if !buf.is_empty() => {
                thread::sleep(interval);
                self.tcp.write(&buf[..1])
            }
            _ => self.tcp.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

trait Duplex: Read + Write + Send {}
impl<T: Read + Write + Send> Duplex for T {}

fn serve(
    tcp: TcpStream,
    connection: usize,
    options: &Options,
    handler: &Handler,
    log: &Mutex<Vec<Vec<u8>>>,
) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
    // As Go's servers (vcsim) do: otherwise a session ticket and the
    // response sent in two writes wait for the client's delayed ACK.
    let _ = tcp.set_nodelay(true);
    let control = tcp.try_clone().unwrap();
    let slow = Slow {
        tcp,
        trickle: options.trickle_all,
    };
    let mut stream: Box<dyn Duplex> = match &options.tls {
        Some(config) => Box::new(rustls::StreamOwned::new(
            rustls::ServerConnection::new(config.clone()).unwrap(),
            slow,
        )),
        None => Box::new(slow),
    };
    for request in 0.. {
        let Some(raw) = read_request(&mut stream) else {
            return;
        };
        log.lock().unwrap().push(raw.clone());
        let result = match handler(
            Seen {
                connection,
                request,
            },
            &raw,
        ) {
            Reply::Send(bytes) => stream.write_all(&bytes).and_then(|()| stream.flush()),
            Reply::SendAndClose(bytes) => {
                let _ = stream.write_all(&bytes).and_then(|()| stream.flush());
                let _ = control.shutdown(std::net::Shutdown::Both);
                return;
            }
            Reply::Trickle {
                at_once,
                then,
                every,
            } => {
                if stream
                    .write_all(&at_once)
                    .and_then(|()| stream.flush())
                    .is_err()
                {
                    return;
                }
                for b in then {
                    thread::sleep(every);
                    if stream
                        .write_all(&[b])
                        .and_then(|()| stream.flush())
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(())
            }
            Reply::SendAndStall(bytes) => {
                let _ = stream.write_all(&bytes).and_then(|()| stream.flush());
                thread::sleep(Duration::from_secs(30));
                return;
            }
            Reply::SendAndReset(bytes) => {
                let _ = stream.write_all(&bytes).and_then(|()| stream.flush());
                thread::sleep(Duration::from_millis(300));
                reset(&control);
                return;
            }
            Reply::Endless(head, unit) => {
                let _ = stream.write_all(&head);
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(30) {
                    if stream.write_all(&unit).is_err() {
                        return;
                    }
                }
                return;
            }
        };
        if result.is_err() {
            return;
        }
    }
}

/// Makes the coming close send RST instead of FIN: SO_LINGER on, with a
/// zero timeout.
fn reset(tcp: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized option value.
    let rc = unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
    // The RST goes out when the last descriptor closes: the caller returns.
}

/// One request: the head up to the empty line, and Content-Length bytes.
fn read_request(stream: &mut dyn Duplex) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            _ => return None,
        }
        if raw.len() > 1 << 20 {
            return None;
        }
    }
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    raw.extend_from_slice(&body);
    Some(raw)
}

/// Whether ::1 can be listened on here.
pub fn ipv6_loopback() -> bool {
    let ok = TcpListener::bind("[::1]:0").is_ok();
    if !ok {
        eprintln!("no IPv6 loopback here: skipped");
    }
    ok
}

/// A port on 127.0.0.1 where nothing listens (connections are refused).
pub fn refusing_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Runs `f` and returns its result and how long it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let r = f();
    (r, started.elapsed())
}

/// The margin a bounded call may overrun its deadline by (scheduling on a
/// loaded machine).
pub const MARGIN: Duration = Duration::from_secs(1);
