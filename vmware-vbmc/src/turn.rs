//! [`Turn`]: a lock that is waited for until a deadline, never longer.
//!
//! The endpoints share one vCenter session, used by one request at a time.
//! A request that cannot have it before its own deadline must be answered
//! (with an error) in time, not queue behind a slow power task; std's
//! `Mutex` has no timed lock, hence this one.

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard};

use agent_framework::Deadline;

pub struct Turn<T> {
    taken: Mutex<bool>,
    freed: Condvar,
    value: Mutex<T>,
}

/// The value, while it is this caller's turn; dropping it ends the turn.
pub struct TurnGuard<'a, T> {
    turn: &'a Turn<T>,
    value: Option<MutexGuard<'a, T>>,
}

/// A poisoned lock still guards consistent data here: every holder either
/// finished its call on the value or panicked between calls.
fn relock<G>(r: Result<G, std::sync::PoisonError<G>>) -> G {
    r.unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<T> Turn<T> {
    pub fn new(value: T) -> Turn<T> {
        Turn {
            taken: Mutex::new(false),
            freed: Condvar::new(),
            value: Mutex::new(value),
        }
    }

    /// The value once no one else holds it, or `None` when `deadline`
    /// passes first.
    pub fn take(&self, deadline: Deadline) -> Option<TurnGuard<'_, T>> {
        let mut taken = relock(self.taken.lock());
        while *taken {
            if deadline.expired() {
                return None;
            }
            taken = relock(self.freed.wait_timeout(taken, deadline.remaining())).0;
        }
        *taken = true;
        drop(taken);
        // Uncontended: only the holder of the turn locks the value.
        let value = relock(self.value.lock());
        Some(TurnGuard {
            turn: self,
            value: Some(value),
        })
    }
}

impl<T> Deref for TurnGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // Some from creation until drop.
        self.value.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl<T> DerefMut for TurnGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<T> Drop for TurnGuard<'_, T> {
    fn drop(&mut self) {
        self.value.take();
        *relock(self.turn.taken.lock()) = false;
        self.turn.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_second_taker_gives_up_at_its_deadline() {
        let turn = Arc::new(Turn::new(0u32));
        let held = turn.take(Deadline::after(Duration::from_secs(1))).unwrap();
        let other = Arc::clone(&turn);
        let started = Instant::now();
        let waited = std::thread::spawn(move || {
            other
                .take(Deadline::after(Duration::from_millis(300)))
                .is_some()
        })
        .join()
        .unwrap();
        assert!(!waited, "the turn was held");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(1),
            "{took:?}"
        );
        drop(held);
        assert!(turn.take(Deadline::after(Duration::ZERO)).is_some());
    }

    #[test]
    fn a_waiting_taker_gets_the_turn_when_it_is_freed() {
        let turn = Arc::new(Turn::new(Vec::<u32>::new()));
        let mut held = turn.take(Deadline::after(Duration::from_secs(1))).unwrap();
        let other = Arc::clone(&turn);
        let waiter = std::thread::spawn(move || {
            let mut v = other.take(Deadline::after(Duration::from_secs(5))).unwrap();
            v.push(2);
        });
        std::thread::sleep(Duration::from_millis(100));
        held.push(1);
        drop(held);
        waiter.join().unwrap();
        let v = turn.take(Deadline::after(Duration::ZERO)).unwrap();
        assert_eq!(*v, vec![1, 2], "one holder at a time, in that order");
    }
}
