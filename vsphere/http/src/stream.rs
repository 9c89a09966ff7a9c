//! A TCP stream that cannot outlast a deadline.
//!
//! Socket timeouts are per call: a peer sending one byte a second never
//! trips a 2-second read timeout, and a TLS handshake or a header block
//! read that way would last as long as the peer likes. So before every
//! read and write the timeout is set to the time left, and once the
//! deadline has passed every call fails at once with `TimedOut`. No
//! sequence of calls can then end later than the deadline (plus the
//! scheduler's slack).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use agent_framework::Deadline;

pub(crate) fn deadline_passed() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the deadline passed")
}

pub(crate) struct DeadlineStream {
    tcp: TcpStream,
    deadline: Deadline,
}

impl DeadlineStream {
    pub fn new(tcp: TcpStream, deadline: Deadline) -> DeadlineStream {
        DeadlineStream { tcp, deadline }
    }

    pub fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = deadline;
    }

    fn time_left(&self) -> io::Result<Duration> {
        let left = self.deadline.remaining();
        if left.is_zero() {
            Err(deadline_passed())
        } else {
            Ok(left)
        }
    }

    pub fn peer(&self) -> Option<SocketAddr> {
        self.tcp.peer_addr().ok()
    }

    /// Whether the peer has neither closed the connection nor sent
    /// anything since the last response: an idle keep-alive connection
    /// fit for the next request. Never blocks.
    pub fn idle_and_open(&self) -> bool {
        if self.tcp.set_nonblocking(true).is_err() {
            return false;
        }
        let mut probe = [0u8; 1];
        let quiet =
            matches!(self.tcp.peek(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        self.tcp.set_nonblocking(false).is_ok() && quiet
    }
}

/// SO_RCVTIMEO and SO_SNDTIMEO expiring show as WouldBlock on Linux.
fn timed_out(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        deadline_passed()
    } else {
        e
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.time_left()?;
        self.tcp.set_read_timeout(Some(left))?;
        self.tcp.read(buf).map_err(timed_out)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.time_left()?;
        self.tcp.set_write_timeout(Some(left))?;
        self.tcp.write(buf).map_err(timed_out)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// The connection under the HTTP layer: plain, or TLS over the same kind
/// of deadline-bound socket.
pub(crate) enum Wire {
    Plain(DeadlineStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, DeadlineStream>>),
}

impl Wire {
    pub fn socket(&self) -> &DeadlineStream {
        match self {
            Wire::Plain(s) => s,
            Wire::Tls(s) => &s.sock,
        }
    }

    pub fn set_deadline(&mut self, deadline: Deadline) {
        match self {
            Wire::Plain(s) => s.set_deadline(deadline),
            Wire::Tls(s) => s.sock.set_deadline(deadline),
        }
    }

    /// No decrypted byte waiting, no close_notify received, and nothing on
    /// the socket: see [`DeadlineStream::idle_and_open`].
    pub fn idle_and_open(&mut self) -> bool {
        if let Wire::Tls(s) = self {
            let mut probe = [0u8; 1];
            // rustls answers from its own buffers without touching the
            // socket: WouldBlock means nothing decrypted is pending.
            match s.conn.reader().read(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                _ => return false,
            }
        }
        self.socket().idle_and_open()
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.read(buf),
            Wire::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.write(buf),
            Wire::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(s) => s.flush(),
            Wire::Tls(s) => s.flush(),
        }
    }
}
