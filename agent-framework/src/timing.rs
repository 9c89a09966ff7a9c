//! Time as fencing needs it: whole seconds from the options, and deadlines
//! that every wait is measured against.
//!
//! fence-agents counts status polls and calls that a timeout; here a
//! timeout is wall-clock time, so `power_timeout=4` means four seconds
//! however slow each poll is.

use std::fmt;
use std::time::{Duration, Instant};

/// A number of whole seconds, as the `second` option type carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub u64);

impl Seconds {
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.0)
    }

    /// Parses what a user may write for a `second` option: a whole,
    /// non-negative number, surrounding blanks allowed.
    pub fn parse(text: &str) -> Option<Seconds> {
        let t = text.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse::<u64>().ok().map(Seconds)
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A point in time after which a wait must give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    pub fn after(d: Duration) -> Deadline {
        let now = Instant::now();
        Deadline {
            at: now
                .checked_add(d)
                .unwrap_or(now + Duration::from_secs(86_400)),
        }
    }

    pub fn at(at: Instant) -> Deadline {
        Deadline { at }
    }

    pub fn instant(self) -> Instant {
        self.at
    }

    /// Time left, zero once passed.
    pub fn remaining(self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn expired(self) -> bool {
        Instant::now() >= self.at
    }

    /// The earlier of two deadlines.
    pub fn min(self, other: Deadline) -> Deadline {
        if other.at < self.at {
            other
        } else {
            self
        }
    }

    /// This deadline, or `d` from now if that comes first: a per-command
    /// bound inside an overall one.
    pub fn within(self, d: Duration) -> Deadline {
        self.min(Deadline::after(d))
    }

    /// This deadline, or `d` from now if that comes later: a cleanup call
    /// (logout, destroying a view) gets a short time of its own even when
    /// the main deadline has passed.
    pub fn at_least(self, d: Duration) -> Deadline {
        let other = Deadline::after(d);
        if other.at > self.at {
            other
        } else {
            self
        }
    }

    /// A timeout for a socket call: the time left, but never zero (a zero
    /// timeout means "block forever" to several APIs).
    pub fn socket_timeout(self) -> Duration {
        self.remaining().max(Duration::from_millis(1))
    }
}

/// The waits an action is bounded by, after `disable_timeout` is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting and logging in.
    pub login: Duration,
    /// One command or request on an open session.
    pub shell: Duration,
    /// From a power command until the plug must show the new state.
    pub power: Duration,
    /// Pause between two status polls.
    pub status_sleep: Duration,
    /// Pause after each power command before the first poll.
    pub power_wait: Duration,
}

/// With `disable_timeout`, fence-agents waits forever and leaves the bound
/// to its caller. Pacemaker kills an agent with SIGKILL at its own timeout,
/// which leaves sessions open on the device, so this framework still bounds
/// every wait, only by these much larger ceilings.
pub const DISABLED_LOGIN_CEILING: Duration = Duration::from_secs(60);
pub const DISABLED_SHELL_CEILING: Duration = Duration::from_secs(60);
pub const DISABLED_POWER_CEILING: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_whole_numbers_only() {
        assert_eq!(Seconds::parse("20"), Some(Seconds(20)));
        assert_eq!(Seconds::parse(" 7 "), Some(Seconds(7)));
        assert_eq!(Seconds::parse("0"), Some(Seconds(0)));
        for bad in ["", "-1", "1.5", "abc", "5s", "99999999999999999999999"] {
            assert_eq!(Seconds::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn deadline_min_and_within() {
        let long = Deadline::after(Duration::from_secs(100));
        let short = long.within(Duration::from_secs(1));
        assert!(short.remaining() <= Duration::from_secs(1));
        assert_eq!(long.min(short), short);
        let past = Deadline::after(Duration::ZERO);
        assert!(past.expired());
        assert!(past.socket_timeout() > Duration::ZERO);
        assert!(past.at_least(Duration::from_secs(5)).remaining() > Duration::from_secs(4));
        assert_eq!(long.at_least(Duration::from_secs(1)), long);
    }
}
