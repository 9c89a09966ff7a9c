//! RMCP+ sessions: their state from Open Session to Close Session, the
//! inbound sequence number window, the record of requests already being
//! worked on, and the table that bounds how many sessions exist.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::crypto::{random_bytes, CipherSuite, SessionKeys};
use crate::ipmi::Privilege;
use crate::wire::Request;

/// Inbound session sequence numbers (IPMI v2.0 §6.12.13): each number is
/// accepted once, and only inside a 32-wide window around the highest
/// accepted so far, up to 15 ahead of it and 16 behind (the bounds
/// bougou/go-ipmi's BMC, pkg/bmc/session.go, takes from the same section);
/// 0 is never a session packet's number. ipmitool's retransmissions each
/// take the next number (lanplus.c, ipmi_lanplus_build_v2x_msg), so a
/// console stays well inside it.
#[derive(Debug, Clone, Default)]
pub struct SequenceWindow {
    highest: Option<u32>,
    /// Bit i set: highest - (i + 1) was accepted.
    behind: u32,
}

pub const WINDOW_BEHIND: u32 = 16;
pub const WINDOW_AHEAD: u32 = 15;

impl SequenceWindow {
    /// True when `seq` is new and inside the window; it is then recorded.
    pub fn accept(&mut self, seq: u32) -> bool {
        if seq == 0 {
            return false;
        }
        let highest = match self.highest {
            // The first packet of the session: nothing to replay yet.
            None => {
                self.highest = Some(seq);
                return true;
            }
            Some(h) => h,
        };
        let ahead = seq.wrapping_sub(highest);
        if (1..=WINDOW_AHEAD).contains(&ahead) {
            let shifted = if ahead >= 32 { 0 } else { self.behind << ahead };
            self.behind = shifted | (1 << (ahead - 1));
            self.highest = Some(seq);
            return true;
        }
        let back = highest.wrapping_sub(seq);
        if (1..=WINDOW_BEHIND).contains(&back) {
            let bit = 1u32 << (back - 1);
            if self.behind & bit != 0 {
                return false;
            }
            self.behind |= bit;
            return true;
        }
        false
    }
}

/// What identifies a request among its retransmissions: ipmitool resends
/// a request that got no answer with the same rqSeq, command and data but a
/// new session sequence number (lanplus.c, ipmi_lanplus_send_payload with
/// isRetry), so the session sequence number cannot be part of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestKey {
    rq_seq: u8,
    rq_addr: u8,
    rq_lun: u8,
    netfn: u8,
    cmd: u8,
    data: Vec<u8>,
}

impl RequestKey {
    pub fn of(req: &Request<'_>) -> RequestKey {
        RequestKey {
            rq_seq: req.rq_seq,
            rq_addr: req.rq_addr,
            rq_lun: req.rq_lun,
            netfn: req.netfn,
            cmd: req.cmd,
            data: req.data.to_vec(),
        }
    }
}

/// How long the answer to a command that changes something is kept for a
/// retransmission whose original answer was lost. Longer than any client's
/// retry window (ipmitool's default 1+2+3+4 s, fence_ipmilan's 2+3+4+5 s);
/// short enough that a console reusing the same rqSeq for a genuinely new,
/// identical command (after 64 others) is not told an old result.
pub const ANSWER_KEPT_FOR: Duration = Duration::from_secs(30);
/// rqSeq has 6 bits: more distinct requests than this cannot be told apart.
const MAX_REMEMBERED: usize = 64;

#[derive(Debug)]
enum Progress {
    InFlight,
    Answered { response: Vec<u8>, at: Instant },
}

/// What to do with a request, given the ones already seen.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    New,
    /// Being worked on: the answer will go out when the work is done.
    InFlight,
    /// Already answered: send this IPMI response message again.
    Answered(Vec<u8>),
}

#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Vec<(RequestKey, Progress)>,
}

impl RequestLog {
    pub fn check(&mut self, key: &RequestKey, now: Instant) -> Seen {
        self.entries.retain(|(_, p)| match p {
            Progress::InFlight => true,
            Progress::Answered { at, .. } => now.saturating_duration_since(*at) < ANSWER_KEPT_FOR,
        });
        match self.entries.iter().find(|(k, _)| k == key) {
            None => Seen::New,
            Some((_, Progress::InFlight)) => Seen::InFlight,
            Some((_, Progress::Answered { response, .. })) => Seen::Answered(response.clone()),
        }
    }

    pub fn start(&mut self, key: RequestKey) {
        self.entries.retain(|(k, _)| *k != key);
        self.entries.push((key, Progress::InFlight));
        self.trim();
    }

    /// Records the answer; with `keep` false (a read, cheap and better
    /// fresh) the request is forgotten instead.
    pub fn answered(&mut self, key: &RequestKey, response: Vec<u8>, keep: bool, now: Instant) {
        self.entries.retain(|(k, _)| k != key);
        if keep {
            self.entries
                .push((key.clone(), Progress::Answered { response, at: now }));
            self.trim();
        }
    }

    fn trim(&mut self) {
        while self.entries.len() > MAX_REMEMBERED {
            // Oldest answered first; in-flight work is never forgotten
            // (there are at most a few: the endpoint bounds device calls).
            match self
                .entries
                .iter()
                .position(|(_, p)| matches!(p, Progress::Answered { .. }))
            {
                Some(i) => {
                    self.entries.remove(i);
                }
                None => break,
            }
        }
    }
}

/// After Open Session, before RAKP 3 proved the password.
#[derive(Debug)]
pub struct Handshake {
    pub console_random: [u8; 16],
    pub bmc_random: [u8; 16],
    pub role: u8,
    pub user_name: Vec<u8>,
    pub user_known: bool,
    pub max_privilege: Privilege,
}

#[derive(Debug)]
pub struct Active {
    pub keys: SessionKeys,
    pub privilege: Privilege,
    pub max_privilege: Privilege,
    pub user_name: String,
    pub inbound: SequenceWindow,
    outbound: u32,
    pub requests: RequestLog,
}

impl Active {
    pub fn new(keys: SessionKeys, max_privilege: Privilege, user_name: String) -> Active {
        Active {
            keys,
            // A session starts at User level, or lower when that is its
            // maximum (IPMI v2.0 §22.18; ipmitool skips Set Session
            // Privilege Level for User and below for this reason).
            privilege: max_privilege.min(Privilege::User),
            max_privilege,
            user_name,
            inbound: SequenceWindow::default(),
            outbound: 0,
            requests: RequestLog::default(),
        }
    }

    /// The next outbound session sequence number: 1, 2, ..., skipping 0.
    pub fn next_outbound(&mut self) -> u32 {
        self.outbound = self.outbound.wrapping_add(1);
        if self.outbound == 0 {
            self.outbound = 1;
        }
        self.outbound
    }
}

#[derive(Debug)]
pub enum Phase {
    AwaitingRakp1,
    AwaitingRakp3(Box<Handshake>),
    Active(Box<Active>),
}

#[derive(Debug)]
pub struct Session {
    pub bmc_session_id: u32,
    pub console_session_id: u32,
    pub suite: CipherSuite,
    /// Where Open Session came from; packets of the session from anywhere
    /// else are ignored, and answers only go there.
    pub peer: SocketAddr,
    /// Open Session's requested maximum privilege (0: the highest allowed).
    pub requested_privilege: u8,
    pub phase: Phase,
    pub last_activity: Instant,
}

impl Session {
    pub fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Active(_))
    }
}

/// The number of sessions of all endpoints together, bounded.
#[derive(Debug)]
pub struct SessionBudget {
    in_use: AtomicUsize,
    limit: usize,
}

impl SessionBudget {
    pub fn new(limit: usize) -> Arc<SessionBudget> {
        Arc::new(SessionBudget {
            in_use: AtomicUsize::new(0),
            limit,
        })
    }

    fn acquire(&self) -> bool {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        let _ = self
            .in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Acquire)
    }
}

/// No room for one more session, even after dropping half-open ones.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// The sessions of one endpoint.
#[derive(Debug)]
pub struct SessionTable {
    sessions: HashMap<u32, Session>,
    limit: usize,
    budget: Arc<SessionBudget>,
}

/// A session that has not finished its handshake within this time is
/// dropped: the whole exchange takes three round trips, and ipmitool gives
/// each message at most a few seconds before it starts over.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a session was dropped without Close Session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Idle,
    HandshakeAbandoned,
}

impl SessionTable {
    pub fn new(limit: usize, budget: Arc<SessionBudget>) -> SessionTable {
        SessionTable {
            sessions: HashMap::new(),
            limit,
            budget,
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Makes room for and inserts a new session, its ID chosen at random.
    /// When full, the oldest session still in its handshake is dropped to
    /// make room: a flood of Open Session Requests can then delay a console
    /// but never lock every console out for good, while established
    /// sessions are never taken away.
    pub fn open(&mut self, make: impl FnOnce(u32) -> Session) -> Result<u32, Full> {
        let room_here = self.sessions.len() < self.limit;
        if !(room_here && self.budget.acquire()) {
            if !self.evict_oldest_handshake() {
                return Err(Full);
            }
            if !self.budget.acquire() {
                return Err(Full);
            }
        }
        let id = loop {
            let candidate = match random_bytes::<4>() {
                Ok(b) => u32::from_le_bytes(b),
                Err(_) => {
                    self.budget.release();
                    return Err(Full);
                }
            };
            if candidate != 0 && !self.sessions.contains_key(&candidate) {
                break candidate;
            }
        };
        self.sessions.insert(id, make(id));
        Ok(id)
    }

    fn evict_oldest_handshake(&mut self) -> bool {
        let oldest = self
            .sessions
            .values()
            .filter(|s| !s.is_active())
            .min_by_key(|s| s.last_activity)
            .map(|s| s.bmc_session_id);
        match oldest {
            Some(id) => {
                self.remove(id);
                true
            }
            None => false,
        }
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Session> {
        self.sessions.get_mut(&id)
    }

    pub fn get(&self, id: u32) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn remove(&mut self, id: u32) -> Option<Session> {
        let s = self.sessions.remove(&id);
        if s.is_some() {
            self.budget.release();
        }
        s
    }

    /// Drops sessions idle for longer than `idle` and handshakes older than
    /// [`HANDSHAKE_TIMEOUT`]; returns them with the reason.
    pub fn expire(&mut self, now: Instant, idle: Duration) -> Vec<(Session, Expiry)> {
        let expired: Vec<(u32, Expiry)> = self
            .sessions
            .values()
            .filter_map(|s| {
                let quiet = now.saturating_duration_since(s.last_activity);
                if s.is_active() {
                    (quiet > idle).then_some((s.bmc_session_id, Expiry::Idle))
                } else {
                    (quiet > HANDSHAKE_TIMEOUT)
                        .then_some((s.bmc_session_id, Expiry::HandshakeAbandoned))
                }
            })
            .collect();
        expired
            .into_iter()
            .filter_map(|(id, why)| self.remove(id).map(|s| (s, why)))
            .collect()
    }
}

impl Drop for SessionTable {
    fn drop(&mut self) {
        for _ in 0..self.sessions.len() {
            self.budget.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_accepts_each_number_once() {
        let mut w = SequenceWindow::default();
        assert!(!w.accept(0), "0 is never a session packet's number");
        assert!(w.accept(5));
        assert!(!w.accept(5), "replay of the first");
        assert!(w.accept(6));
        assert!(w.accept(8));
        assert!(w.accept(7), "late but new");
        assert!(!w.accept(7), "late and replayed");
        assert!(!w.accept(6));
        assert!(!w.accept(8));
    }

    #[test]
    fn window_edges() {
        let mut w = SequenceWindow::default();
        assert!(w.accept(100));
        assert!(!w.accept(100 + WINDOW_AHEAD + 1), "too far ahead");
        let h = 100 + WINDOW_AHEAD;
        assert!(w.accept(h), "farthest ahead allowed");
        assert!(!w.accept(100), "100, now behind, is remembered");
        assert!(!w.accept(h - WINDOW_BEHIND - 1), "too far behind");
        assert!(w.accept(h - WINDOW_BEHIND), "farthest behind, unseen");
        assert!(!w.accept(h - WINDOW_BEHIND));
        assert!(w.accept(h - 1), "late but new");
    }

    #[test]
    fn window_wraps_past_the_top() {
        let mut w = SequenceWindow::default();
        assert!(w.accept(u32::MAX - 1));
        assert!(w.accept(u32::MAX));
        assert!(w.accept(1));
        assert!(!w.accept(u32::MAX));
        assert!(w.accept(2));
    }

    fn key(seq: u8, data: &[u8]) -> RequestKey {
        RequestKey {
            rq_seq: seq,
            rq_addr: 0x81,
            rq_lun: 0,
            netfn: 0,
            cmd: 2,
            data: data.to_vec(),
        }
    }

    #[test]
    fn request_log_tells_retransmissions_from_new_requests() {
        let mut log = RequestLog::default();
        let now = Instant::now();
        let off = key(5, &[0]);
        assert_eq!(log.check(&off, now), Seen::New);
        log.start(off.clone());
        assert_eq!(log.check(&off, now), Seen::InFlight);
        // Same rqSeq, other data: a different request.
        assert_eq!(log.check(&key(5, &[1]), now), Seen::New);
        log.answered(&off, vec![1, 2, 3], true, now);
        assert_eq!(log.check(&off, now), Seen::Answered(vec![1, 2, 3]));
        let later = now + ANSWER_KEPT_FOR + Duration::from_secs(1);
        assert_eq!(
            log.check(&off, later),
            Seen::New,
            "old answers are forgotten"
        );
        let status = key(6, &[]);
        log.start(status.clone());
        log.answered(&status, vec![9], false, now);
        assert_eq!(log.check(&status, now), Seen::New, "reads are not kept");
    }

    #[test]
    fn request_log_is_bounded_but_keeps_work_in_flight() {
        let mut log = RequestLog::default();
        let now = Instant::now();
        let busy = key(0, &[0xAA]);
        log.start(busy.clone());
        for i in 0..200u8 {
            let k = key(i % 64, &[i]);
            log.start(k.clone());
            log.answered(&k, vec![i], true, now);
        }
        assert!(log.entries.len() <= MAX_REMEMBERED);
        assert_eq!(log.check(&busy, now), Seen::InFlight);
    }

    fn session(id: u32, active: bool, at: Instant) -> Session {
        Session {
            bmc_session_id: id,
            console_session_id: 1,
            suite: CipherSuite::Three,
            peer: "127.0.0.1:1".parse().unwrap(),
            requested_privilege: 0,
            phase: if active {
                Phase::Active(Box::new(Active::new(
                    SessionKeys::derive(CipherSuite::Three, &[1; 20]),
                    Privilege::Administrator,
                    "u".into(),
                )))
            } else {
                Phase::AwaitingRakp1
            },
            last_activity: at,
        }
    }

    #[test]
    fn table_limits_evict_handshakes_never_active_sessions() {
        let budget = SessionBudget::new(100);
        let mut t = SessionTable::new(2, budget.clone());
        let t0 = Instant::now();
        let a = t.open(|id| session(id, true, t0)).unwrap();
        let b = t.open(|id| session(id, false, t0)).unwrap();
        assert_eq!(budget.in_use(), 2);
        // Full: the half-open one makes room.
        let c = t
            .open(|id| session(id, false, t0 + Duration::from_secs(1)))
            .unwrap();
        assert!(t.get(b).is_none());
        assert!(t.get(a).is_some() && t.get(c).is_some());
        // Activate c: now nothing may be evicted.
        if let Some(s) = t.get_mut(c) {
            *s = session(c, true, t0);
        }
        assert_eq!(t.open(|id| session(id, false, t0)), Err(Full));
        assert_eq!(budget.in_use(), 2);
        drop(t);
        assert_eq!(budget.in_use(), 0, "dropping the table returns its share");
    }

    #[test]
    fn global_budget_is_shared_between_endpoints() {
        let budget = SessionBudget::new(3);
        let mut one = SessionTable::new(10, budget.clone());
        let mut two = SessionTable::new(10, budget.clone());
        let t0 = Instant::now();
        for _ in 0..3 {
            one.open(|id| session(id, true, t0)).unwrap();
        }
        assert_eq!(two.open(|id| session(id, false, t0)), Err(Full));
        let id = *one.sessions.keys().next().unwrap();
        one.remove(id);
        assert!(two.open(|id| session(id, false, t0)).is_ok());
    }

    #[test]
    fn expiry_by_idle_time_and_abandoned_handshakes() {
        let budget = SessionBudget::new(10);
        let mut t = SessionTable::new(10, budget.clone());
        let t0 = Instant::now();
        let active = t.open(|id| session(id, true, t0)).unwrap();
        let pending = t.open(|id| session(id, false, t0)).unwrap();
        assert!(t
            .expire(t0 + Duration::from_secs(5), Duration::from_secs(60))
            .is_empty());
        let gone = t.expire(
            t0 + HANDSHAKE_TIMEOUT + Duration::from_secs(1),
            Duration::from_secs(60),
        );
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].0.bmc_session_id, pending);
        assert_eq!(gone[0].1, Expiry::HandshakeAbandoned);
        let gone = t.expire(t0 + Duration::from_secs(61), Duration::from_secs(60));
        assert_eq!(
            (gone[0].0.bmc_session_id, gone[0].1),
            (active, Expiry::Idle)
        );
        assert_eq!(budget.in_use(), 0);
    }
}
