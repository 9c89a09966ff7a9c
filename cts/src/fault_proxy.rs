//! HAND-WRITTEN STAND-IN FOR A BROKEN NETWORK. The peers of the fault
//! matrix are real (VMware's simulator, OpenSSH's sshd); what no real peer
//! does on cue is what a network does to them: refuse, swallow SYNs,
//! accept and never answer, trickle one byte a second, stall, reset or
//! cut a reply in the middle, and a name server that never answers or
//! says the name does not exist. This module does exactly that and
//! nothing else: a TCP proxy on 127.0.0.1 between an agent and its peer,
//! a listener that swallows connections, and a DNS server inside a
//! network namespace the test creates.
//!
//! The proxy never looks into TLS. Faults keyed to one HTTP reply need
//! the plain-HTTP simulator (the agent's `notls`), where the proxy finds a
//! request by a text it contains; faults keyed to an SSH stage read the
//! packets the SSH transport sends in clear before the keys are in use
//! (RFC 4253 section 6: a 4-byte length, then the payload whose first
//! byte is the message number; SSH_MSG_NEWKEYS is 21).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::{AgentRun, Outcome, TempDir};

/// Where in the server's byte stream a fault starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// From the first byte: a TLS handshake, an SSH banner.
    Start,
    /// After the server's first line: SSH's key exchange follows its
    /// identification line.
    AfterFirstLine,
    /// After the server's SSH_MSG_NEWKEYS: what follows is the
    /// authentication service (RFC 4252), then the channels.
    AfterSshNewKeys,
    /// After the server's SSH_MSG_NEWKEYS, at the first bytes that come
    /// after a silence of at least this long: past the service request,
    /// inside an authentication the server takes its time over (sshd
    /// running a slow AuthorizedKeysCommand).
    AfterSshNewKeysAndPause(Duration),
    /// In the reply to the first request whose bytes contain `marker`
    /// (plain HTTP), after `keep` bytes of that reply. Only that one
    /// reply: every later one passes, so that the agent can still log out.
    Reply { marker: String, keep: usize },
}

/// What happens to the server's bytes from the trigger on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// One byte a second, for as long as the client waits.
    Trickle,
    /// Nothing more, the connection kept open.
    Stall,
    /// A TCP reset to the client.
    Reset,
    /// A clean close (FIN): the reply is truncated.
    Close,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Every byte passes.
    Pass,
    /// Accept, never reach the server, never say anything.
    Silent,
    /// The server's bytes pass until the trigger, then `action`.
    Server { trigger: Trigger, action: Action },
}

/// One proxied connection. Each socket exists once, shared by the two
/// pumps and this list: a reset needs the last descriptor of the client's
/// socket closed with SO_LINGER 0, which a duplicate would keep open.
struct Live {
    id: usize,
    client: Arc<TcpStream>,
    server: Option<Arc<TcpStream>>,
}

struct Shared {
    fault: Fault,
    /// A [`Trigger::Reply`] fires once; then the proxy passes everything.
    reply_fault_used: AtomicBool,
    stop: AtomicBool,
    accepted: AtomicUsize,
    live: Mutex<Vec<Live>>,
}

impl Shared {
    /// Takes the connection out of the list: its sockets close when the
    /// pumps let go of them.
    fn forget(&self, id: usize) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|l| l.id != id);
    }

    /// Whether the connection is still the proxy's (not cut).
    fn is_live(&self, id: usize) -> bool {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|l| l.id == id)
    }
}

/// A TCP proxy on 127.0.0.1 to `upstream`, doing [`Fault`] to every
/// connection it accepts. Stops, and closes every connection, on drop.
pub struct FaultProxy {
    pub port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

const TRICKLE_EVERY: Duration = Duration::from_secs(1);

impl FaultProxy {
    pub fn start(upstream: SocketAddr, fault: Fault) -> FaultProxy {
        FaultProxy::start_on("127.0.0.1:0", upstream, fault)
    }

    /// The same, listening on `bind` (`[::1]:0` for IPv6 clients).
    pub fn start_on(bind: &str, upstream: SocketAddr, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind(bind).expect("bind the fault proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let shared = Arc::new(Shared {
            fault,
            reply_fault_used: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            live: Mutex::new(Vec::new()),
        });
        let s = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || accept_loop(&listener, upstream, &s));
        FaultProxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Whether the fault keyed to a reply has happened.
    pub fn reply_fault_done(&self) -> bool {
        self.shared.reply_fault_used.load(Ordering::SeqCst)
    }

    /// Resets every open connection now, as a network that drops them:
    /// the client gets a TCP reset, the server sees its peer gone.
    pub fn cut(&self) {
        let live = std::mem::take(&mut *self.shared.live.lock().unwrap_or_else(|p| p.into_inner()));
        for l in live {
            abort(&l.client);
            if let Some(s) = &l.server {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.cut();
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

/// Makes the socket's close abortive (SO_LINGER 0: the kernel sends RST,
/// not FIN) and wakes whoever reads it here (SHUT_RD sends nothing): the
/// RST goes out when its last holder drops it.
fn abort(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket this process owns, with a valid
    // struct of the size given.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = stream.shutdown(Shutdown::Read);
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(_) => continue,
        };
        let id = shared.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_nonblocking(false);
        let _ = client.set_nodelay(true);
        let client = Arc::new(client);
        let fault = shared.fault.clone();
        let server = match fault {
            Fault::Silent => None,
            _ => match TcpStream::connect(upstream) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    Some(Arc::new(s))
                }
                Err(_) => {
                    abort(&client);
                    continue;
                }
            },
        };
        shared
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Live {
                id,
                client: Arc::clone(&client),
                server: server.clone(),
            });
        let Some(server) = server else {
            // Silent: the connection stays open, unanswered, until the
            // client leaves or the proxy stops.
            continue;
        };
        let armed = Arc::new(AtomicBool::new(false));
        let marker = match &fault {
            Fault::Server {
                trigger: Trigger::Reply { marker, .. },
                ..
            } => Some(marker.clone().into_bytes()),
            _ => None,
        };
        let (c, sv, arm, sh) = (
            Arc::clone(&client),
            Arc::clone(&server),
            Arc::clone(&armed),
            Arc::clone(shared),
        );
        std::thread::spawn(move || client_to_server(&c, &sv, marker, &arm, &sh));
        let sh = Arc::clone(shared);
        std::thread::spawn(move || server_to_client(id, &server, &client, fault, &armed, &sh));
    }
}

/// Forwards the client's bytes; arms the reply fault when the marker
/// passes (before forwarding it, so that the reply cannot come first).
fn client_to_server(
    client: &TcpStream,
    server: &TcpStream,
    marker: Option<Vec<u8>>,
    armed: &AtomicBool,
    shared: &Shared,
) {
    let mut buf = [0u8; 16 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match (&*client).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(m) = &marker {
            tail.extend_from_slice(&buf[..n]);
            if contains(&tail, m) && !shared.reply_fault_used.swap(true, Ordering::SeqCst) {
                armed.store(true, Ordering::SeqCst);
            }
            let keep = m.len().saturating_sub(1);
            if tail.len() > keep {
                tail.drain(..tail.len() - keep);
            }
        }
        if (&*server).write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Write);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Finds the trigger point in the server's stream.
struct Finder {
    trigger: Trigger,
    /// SSH: whether the identification line has passed, where the next
    /// clear-text packet starts in the bytes seen so far, and those bytes.
    ssh_lines_done: bool,
    ssh_packet_start: usize,
    ssh_buffer: Vec<u8>,
    /// Reply: bytes of the marked reply already forwarded.
    reply_forwarded: usize,
    /// After NEWKEYS: when the server last sent something.
    after_newkeys: Option<Instant>,
}

impl Finder {
    fn new(trigger: Trigger) -> Finder {
        Finder {
            trigger,
            ssh_lines_done: false,
            ssh_packet_start: 0,
            ssh_buffer: Vec::new(),
            reply_forwarded: 0,
            after_newkeys: None,
        }
    }

    /// How many bytes of `chunk` pass before the fault starts; None if
    /// all of them pass and the trigger is still ahead.
    fn split(&mut self, chunk: &[u8], armed: &AtomicBool) -> Option<usize> {
        match &self.trigger {
            Trigger::Start => Some(0),
            Trigger::AfterFirstLine => chunk.iter().position(|b| *b == b'\n').map(|i| i + 1),
            Trigger::AfterSshNewKeys => self.ssh_newkeys(chunk),
            Trigger::AfterSshNewKeysAndPause(pause) => {
                let pause = *pause;
                let now = Instant::now();
                if let Some(last) = self.after_newkeys {
                    if now.duration_since(last) >= pause {
                        return Some(0);
                    }
                    self.after_newkeys = Some(now);
                    return None;
                }
                if self.ssh_newkeys(chunk).is_some() {
                    self.after_newkeys = Some(now);
                }
                None
            }
            Trigger::Reply { keep, .. } => {
                if !armed.load(Ordering::SeqCst) {
                    return None;
                }
                let left = keep.saturating_sub(self.reply_forwarded);
                if chunk.len() > left {
                    Some(left)
                } else {
                    self.reply_forwarded += chunk.len();
                    None
                }
            }
        }
    }

    fn ssh_newkeys(&mut self, chunk: &[u8]) -> Option<usize> {
        let base = self.ssh_buffer.len();
        self.ssh_buffer.extend_from_slice(chunk);
        loop {
            let data = &self.ssh_buffer[self.ssh_packet_start..];
            if !self.ssh_lines_done {
                // Lines until (and including) the one starting "SSH-".
                let nl = data.iter().position(|b| *b == b'\n')?;
                self.ssh_lines_done = data.starts_with(b"SSH-");
                self.ssh_packet_start += nl + 1;
                continue;
            }
            if data.len() < 6 {
                return None;
            }
            let length = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
            if data.len() < 4 + length {
                return None;
            }
            let message = data[5];
            self.ssh_packet_start += 4 + length;
            if message == 21 {
                // SSH_MSG_NEWKEYS: the fault starts with the next byte.
                return Some(self.ssh_packet_start - base);
            }
        }
    }
}

fn server_to_client(
    id: usize,
    server: &TcpStream,
    client: &TcpStream,
    fault: Fault,
    armed: &AtomicBool,
    shared: &Shared,
) {
    let (mut finder, action) = match fault {
        Fault::Server { trigger, action } => (Some(Finder::new(trigger)), Some(action)),
        _ => (None, None),
    };
    let (mut server, mut client) = (server, client);
    let mut buf = [0u8; 16 * 1024];
    let mut faulting = false;
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = &buf[..n];
        if !faulting {
            let split = finder.as_mut().and_then(|f| f.split(chunk, armed));
            let pass = split.unwrap_or(chunk.len()).min(chunk.len());
            if client.write_all(&chunk[..pass]).is_err() {
                break;
            }
            if split.is_none() {
                continue;
            }
            faulting = true;
            chunk = &chunk[pass..];
        }
        match action {
            Some(Action::Trickle) => {
                for b in chunk {
                    if shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(TRICKLE_EVERY);
                    if client.write_all(&[*b]).is_err() {
                        let _ = server.shutdown(Shutdown::Both);
                        return;
                    }
                }
            }
            Some(Action::Stall) => {
                // Hold everything until the client leaves.
                let mut probe = [0u8; 1];
                while !shared.stop.load(Ordering::SeqCst) {
                    match client.peek(&mut probe) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
                let _ = server.shutdown(Shutdown::Both);
                return;
            }
            Some(Action::Reset) => {
                abort(client);
                let _ = server.shutdown(Shutdown::Both);
                shared.forget(id);
                return;
            }
            Some(Action::Close) => {
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return;
            }
            None => {}
        }
    }
    // The server is done: pass its FIN on, unless the connection was cut
    // (then the client gets a reset, with no FIN before it).
    if shared.is_live(id) {
        let _ = client.shutdown(Shutdown::Write);
    }
}

/// A port on 127.0.0.1 where nothing listens: connecting is refused.
pub fn refusing_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A listener whose accept queue is full and never accepted: the kernel
/// drops further SYNs, so connecting waits as for a host that is down.
pub struct BlackHole {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _held: Vec<TcpStream>,
}

impl BlackHole {
    /// On `ip` (127.0.0.1 or another loopback address), port `port` or
    /// any. None when this kernel never drops SYNs on a full queue.
    pub fn on(ip: &str, port: u16) -> Option<BlackHole> {
        let listener = TcpListener::bind((ip, port)).ok()?;
        // SAFETY: listen() again on a listening socket only changes its
        // backlog.
        if unsafe { libc::listen(listener.as_raw_fd(), 0) } != 0 {
            return None;
        }
        let addr = listener.local_addr().ok()?;
        let mut held = Vec::new();
        for _ in 0..8 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => held.push(s),
                Err(_) => {
                    return Some(BlackHole {
                        addr,
                        _listener: listener,
                        _held: held,
                    })
                }
            }
        }
        None
    }
}

/// What the name server in the namespace does with every query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dns {
    /// Receives the query, never answers.
    Silent,
    /// Answers that the name does not exist (RCODE 3, NXDOMAIN).
    NoSuchName,
}

/// One agent run in a network and mount namespace of its own: only a
/// loopback interface, and an /etc/resolv.conf naming 127.0.0.1 (5 s per
/// try, 2 tries: getaddrinfo alone would wait 10 s or more on a silent
/// server), where `dns` answers. Returns the outcome and the number of
/// queries the server received. Needs root (unshare).
pub fn run_with_dns(
    program: &Path,
    args: &[String],
    dns: Dns,
    limit: Duration,
) -> (Outcome, usize) {
    let dir = TempDir::new("netns");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions timeout:5 attempts:2\n",
    )
    .expect("resolv.conf");
    let up = dir.path().join("up");
    let go = dir.path().join("go");
    // The shell (unshare's own process: no --fork) brings lo up, writes
    // its pid, and starts the agent only once the test's name server
    // listens inside the namespace.
    let script = r#"ip link set lo up && mount --bind "$1" /etc/resolv.conf || exit 97
echo $$ > "$2.new" && mv "$2.new" "$2"
while [ ! -e "$3" ]; do sleep 0.02; done
shift 3
exec "$@""#;
    let run = AgentRun::new("unshare")
        .args(["--net", "--mount", "sh", "-c", script, "sh"])
        .args([&resolv, &up, &go])
        .args([program])
        .args(args)
        .limit(limit);
    let agent = std::thread::spawn(move || run.run());
    let started = Instant::now();
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&up)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(
            !agent.is_finished() && started.elapsed() < Duration::from_secs(10),
            "the namespace could not be set up"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let server = NameServer::start_in(pid, dns);
    std::fs::write(&go, "").expect("go");
    let out = agent.join().expect("agent run");
    (out, server.stop())
}

/// One agent run in a mount namespace of its own whose /etc/hosts is
/// `hosts` (the network is the test's: loopback peers stay reachable).
/// Needs root (unshare).
pub fn run_with_hosts(program: &Path, args: &[String], hosts: &str, limit: Duration) -> Outcome {
    let dir = TempDir::new("hosts");
    let file = dir.path().join("hosts");
    std::fs::write(&file, hosts).expect("hosts");
    let script = r#"mount --bind "$1" /etc/hosts || exit 97
shift
exec "$@""#;
    AgentRun::new("unshare")
        .args(["--mount", "sh", "-c", script, "sh"])
        .args([file.as_path(), program])
        .args(args)
        .limit(limit)
        .run()
}

/// A UDP name server on 127.0.0.1:53 inside the network namespace of
/// process `pid`: the socket is made on a thread that entered that
/// namespace (setns changes only the calling thread's), and stays there.
struct NameServer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<usize>,
}

impl NameServer {
    fn start_in(pid: u32, dns: Dns) -> NameServer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("netns");
            // SAFETY: setns on this thread only, with a namespace file
            // descriptor that stays open for the call.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
            let socket =
                UdpSocket::bind("127.0.0.1:53").expect("bind 127.0.0.1:53 in the namespace");
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            let _ = ready_tx.send(());
            let mut queries = 0usize;
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::SeqCst) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                queries += 1;
                if dns == Dns::NoSuchName {
                    if let Some(reply) = nxdomain(&buf[..n]) {
                        let _ = socket.send_to(&reply, from);
                    }
                }
            }
            queries
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("name server ready");
        NameServer { stop, thread }
    }

    /// The number of queries received.
    fn stop(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or(0)
    }
}

/// The answer "no such name" to a DNS query (RFC 1035 section 4.1.1):
/// the query's id and question, QR and RD/RA set, RCODE 3, no records.
fn nxdomain(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    // The question ends after the name's labels, then type and class.
    let mut i = 12;
    while *query.get(i)? != 0 {
        i += 1 + usize::from(query[i]);
    }
    let end = i + 1 + 4;
    if query.len() < end {
        return None;
    }
    let mut reply = query[..end].to_vec();
    reply[2] = 0x80 | (query[2] & 0x01); // QR, RD copied
    reply[3] = 0x80 | 3; // RA, NXDOMAIN
    reply[4..6].copy_from_slice(&[0, 1]);
    reply[6..12].copy_from_slice(&[0; 6]);
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nxdomain_keeps_id_and_question() {
        // id 0x1234, RD, one question: "a.test" A IN.
        let q = [
            0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 4, b't', b'e', b's', b't', 0,
            0, 1, 0, 1,
        ];
        let r = nxdomain(&q).unwrap();
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80);
        assert_eq!(r[3] & 0x0f, 3);
        assert_eq!(&r[12..], &q[12..]);
        assert_eq!(nxdomain(&q[..5]), None);
    }

    #[test]
    fn newkeys_is_found_after_the_banner_and_clear_packets() {
        let mut f = Finder::new(Trigger::AfterSshNewKeys);
        let armed = AtomicBool::new(false);
        let mut stream = b"SSH-2.0-Test\r\n".to_vec();
        // KEXINIT-like packet (type 20), 12 bytes of payload+padding.
        stream.extend_from_slice(&[0, 0, 0, 12, 4, 20]);
        stream.extend_from_slice(&[0; 10]);
        // NEWKEYS: length 12, padding 10, type 21.
        stream.extend_from_slice(&[0, 0, 0, 12, 10, 21]);
        stream.extend_from_slice(&[0; 10]);
        let end_of_newkeys = stream.len();
        stream.extend_from_slice(b"encrypted...");
        // Fed in awkward pieces, the trigger lands right after NEWKEYS.
        let mut offset = 0;
        let mut found = None;
        for piece in stream.chunks(7) {
            if let Some(at) = f.split(piece, &armed) {
                found = Some(offset + at);
                break;
            }
            offset += piece.len();
        }
        assert_eq!(found, Some(end_of_newkeys));
    }

    #[test]
    fn a_reply_fault_waits_for_its_request_and_keeps_its_bytes() {
        let mut f = Finder::new(Trigger::Reply {
            marker: "X".into(),
            keep: 10,
        });
        let armed = AtomicBool::new(false);
        assert_eq!(f.split(b"0123456789abc", &armed), None);
        armed.store(true, Ordering::SeqCst);
        assert_eq!(f.split(b"01234", &armed), None);
        assert_eq!(f.split(b"56789abc", &armed), Some(5));
    }
}
