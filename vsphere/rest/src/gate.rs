//! A session shared between the thread that uses it and the signal
//! handler that ends it: the handler waits for a login under way (so that
//! the session it opens is ended too), and once it has ended the session
//! no login may open another (the main thread may still be running, and
//! would log in again after the next failure).
//!
//! Both sessions of fence_vmware_rest (the Automation API's and vim25's)
//! keep their session this way.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use agent_framework::Deadline;
use vsphere_core::BackendError;

/// How long the handler waits for a login in flight to finish.
pub const LOGIN_IN_FLIGHT_WAIT: Duration = Duration::from_millis(2500);

struct State<T> {
    session: Option<T>,
    logging_in: bool,
    /// Ended for good: no new login.
    closed: bool,
}

pub struct Gate<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
}

impl<T: Clone> Default for Gate<T> {
    fn default() -> Self {
        Gate {
            state: Mutex::new(State {
                session: None,
                logging_in: false,
                closed: false,
            }),
            changed: Condvar::new(),
        }
    }
}

impl<T: Clone> Gate<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks a login as under way; refused once the gate is closed.
    pub fn begin_login(&self) -> Result<(), BackendError> {
        let mut s = self.lock();
        if s.closed {
            return Err(BackendError::Fault(
                "the agent is stopping: no new session is opened".into(),
            ));
        }
        s.logging_in = true;
        Ok(())
    }

    /// Ends the login under way, keeping the session it opened, if any.
    pub fn end_login(&self, opened: Option<T>) {
        let mut s = self.lock();
        s.logging_in = false;
        if opened.is_some() {
            s.session = opened;
        }
        self.changed.notify_all();
    }

    /// The session, while there is one.
    pub fn current(&self) -> Option<T> {
        self.lock().session.clone()
    }

    /// Forgets a session the server has ended (nothing to end any more);
    /// the gate stays open for a new login.
    pub fn forget(&self) {
        self.lock().session = None;
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Closes the gate and hands over the session to end, if any: from the
    /// thread that uses it (no login can be under way there).
    pub fn close(&self) -> Option<T> {
        let mut s = self.lock();
        s.closed = true;
        s.session.take()
    }

    /// Closes the gate from another thread: a login under way is waited
    /// for (until `deadline`, and [`LOGIN_IN_FLIGHT_WAIT`] at most), then
    /// the session to end is handed over, if any.
    pub fn close_waiting(&self, deadline: Deadline) -> Option<T> {
        let until = Deadline::after(LOGIN_IN_FLIGHT_WAIT).min(deadline);
        let mut s = self.lock();
        s.closed = true;
        while s.logging_in && !until.expired() {
            s = match self.changed.wait_timeout(s, until.remaining()) {
                Ok((guard, _)) => guard,
                Err(p) => p.into_inner().0,
            };
        }
        s.session.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_handler_waits_for_a_login_in_flight_and_no_login_follows() {
        let gate: Arc<Gate<u32>> = Arc::default();
        gate.begin_login().unwrap();
        let handler = {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || gate.close_waiting(Deadline::after(Duration::from_secs(5))))
        };
        std::thread::sleep(Duration::from_millis(200));
        gate.end_login(Some(7));
        assert_eq!(
            handler.join().unwrap(),
            Some(7),
            "the late session is ended"
        );
        assert!(gate.begin_login().is_err());
        assert_eq!(gate.current(), None);
    }

    #[test]
    fn the_wait_for_a_login_is_bounded() {
        let gate: Gate<u32> = Gate::default();
        gate.begin_login().unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            gate.close_waiting(Deadline::after(Duration::from_millis(300))),
            None
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_forgotten_session_is_not_ended_and_close_hands_one_over_once() {
        let gate: Gate<u32> = Gate::default();
        gate.begin_login().unwrap();
        gate.end_login(Some(1));
        assert_eq!(gate.current(), Some(1));
        gate.forget();
        assert_eq!(gate.current(), None);
        gate.begin_login().unwrap();
        gate.end_login(Some(2));
        assert_eq!(gate.close(), Some(2));
        assert_eq!(gate.close(), None);
        assert!(gate.is_closed());
    }
}
