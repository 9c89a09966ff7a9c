//! The wall-clock bound of an SSH session's waits.
//!
//! libssh2's timeout bounds one blocking call, measured from the call's
//! start, and only as precisely as that libssh2 implements it (the 1.10
//! releases Debian ships count whole seconds). A login is a dozen calls,
//! each a new wait, and a peer that trickles one byte a second keeps every
//! one of them alive. So the session's socket is watched by a thread that
//! shuts it down when the deadline of the work in progress passes: every
//! call blocked on it then returns at once, and the caller, seeing that
//! the watchdog fired, reports a timeout. The socket cannot be used after
//! that; the watchdog is the backstop, not the usual way a command ends
//! (libssh2's own timeout is, and leaves the session usable).

use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

#[derive(Default)]
struct State {
    /// When to shut the socket down, if armed.
    deadline: Option<Instant>,
    fired: bool,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(super) struct Watchdog {
    shared: Arc<Shared>,
}

/// While it lives, the watchdog is armed; dropping it disarms.
pub(super) struct Armed<'a> {
    watchdog: &'a Watchdog,
}

impl Armed<'_> {
    /// Moves the deadline (later, for a cleanup after the work itself).
    pub fn extend(&mut self, at: Instant) {
        let mut s = self.watchdog.shared.lock();
        s.deadline = Some(at);
        self.watchdog.shared.wake.notify_all();
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        let mut s = self.watchdog.shared.lock();
        s.deadline = None;
        self.watchdog.shared.wake.notify_all();
    }
}

impl Watchdog {
    /// Watches `socket` (a handle on the session's connection). Without a
    /// thread (the system refused one) nothing is watched, and only
    /// libssh2's own timeouts bound the waits.
    pub fn new(socket: TcpStream) -> Watchdog {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let watched = Arc::clone(&shared);
        let started = std::thread::Builder::new()
            .name("ssh-watchdog".into())
            .spawn(move || watch(&watched, &socket));
        if let Err(e) = started {
            crate::logging::warning(format!(
                "SSH: no watchdog thread ({e}); waits are bounded by libssh2 alone"
            ));
        }
        Watchdog { shared }
    }

    /// Shut the socket down at `at` unless the returned guard is dropped
    /// before.
    pub fn arm(&self, at: Instant) -> Armed<'_> {
        let mut s = self.shared.lock();
        s.deadline = Some(at);
        self.shared.wake.notify_all();
        Armed { watchdog: self }
    }

    /// Whether the socket was shut down because a deadline passed.
    pub fn fired(&self) -> bool {
        self.shared.lock().fired
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.stop = true;
        self.shared.wake.notify_all();
    }
}

fn watch(shared: &Shared, socket: &TcpStream) {
    let mut s = shared.lock();
    loop {
        if s.stop || s.fired {
            return;
        }
        s = match s.deadline {
            None => shared.wake.wait(s).unwrap_or_else(|p| p.into_inner()),
            Some(at) => {
                let now = Instant::now();
                if now >= at {
                    let _ = socket.shutdown(Shutdown::Both);
                    s.fired = true;
                    s.deadline = None;
                    continue;
                }
                shared
                    .wake
                    .wait_timeout(s, at - now)
                    .map(|(guard, _)| guard)
                    .unwrap_or_else(|p| p.into_inner().0)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Duration;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (c, s)
    }

    /// A read the peer never answers ends when the armed deadline passes,
    /// and the watchdog says it fired.
    #[test]
    fn a_blocked_read_ends_at_the_deadline() {
        let (mut client, _server) = pair();
        let dog = Watchdog::new(client.try_clone().unwrap());
        let started = Instant::now();
        let _armed = dog.arm(started + Duration::from_millis(300));
        let mut buf = [0u8; 1];
        let r = client.read(&mut buf);
        let took = started.elapsed();
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        assert!(took >= Duration::from_millis(290), "{took:?}");
        assert!(took < Duration::from_millis(900), "{took:?}");
        assert!(dog.fired());
    }

    /// Extended before the first deadline (a cleanup after the work),
    /// the watchdog waits for the new one.
    #[test]
    fn an_extended_deadline_replaces_the_first() {
        let (client, _server) = pair();
        let dog = Watchdog::new(client.try_clone().unwrap());
        let started = Instant::now();
        let mut armed = dog.arm(started + Duration::from_millis(100));
        armed.extend(started + Duration::from_millis(400));
        std::thread::sleep(Duration::from_millis(250));
        assert!(!dog.fired(), "fired at the first deadline");
        std::thread::sleep(Duration::from_millis(300));
        assert!(dog.fired());
    }

    /// Disarmed in time, the socket stays usable.
    #[test]
    fn disarmed_in_time_nothing_happens() {
        let (mut client, mut server) = pair();
        let dog = Watchdog::new(client.try_clone().unwrap());
        drop(dog.arm(Instant::now() + Duration::from_millis(100)));
        std::thread::sleep(Duration::from_millis(250));
        assert!(!dog.fired());
        use std::io::Write;
        server.write_all(b"x").unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(client.read(&mut buf).unwrap(), 1);
        // Re-armed later, it still works.
        let _armed = dog.arm(Instant::now() + Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(200));
        assert!(dog.fired());
    }
}
