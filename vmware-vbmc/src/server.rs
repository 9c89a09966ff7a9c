//! The daemon's network side: one UDP endpoint per VM, each served by its
//! own thread; work that needs the VM runs on a worker thread and is
//! answered when done.
//!
//! # Long operations and the client's retries
//!
//! A Chassis Control power down is answered only once
//! [`PowerControl::power_off_verified`] returned, or with an error code when
//! it did not succeed within `reply_within` (default 8 s). Meanwhile the
//! console retransmits: ipmitool 1.8.19 waits `-N` seconds (lanplus
//! default 1) for an answer, resends, and adds one second to the wait after
//! every try, `-R` tries in all (default 4): 1+2+3+4 = 10 s
//! (src/plugins/lanplus/lanplus.c, ipmi_lanplus_send_payload; lanplus.h
//! IPMI_LAN_TIMEOUT 1, IPMI_LAN_RETRY 4). fence_ipmilan runs ipmitool
//! with `-N 2` by default (its ipmitool_timeout option): 2+3+4+5 = 14 s,
//! within its own 20 s power_timeout that kills ipmitool
//! (/usr/share/fence/fencing.py, run_command). Each resend carries the same
//! rqSeq and command but a new session sequence number, and ipmitool
//! accepts the answer to any of them. So:
//!
//! - a resend of a request still being worked on is recognised by its
//!   rqSeq, requester, command and data ([`crate::session::RequestKey`]) and
//!   gets no answer of its own and, above all, does not start the
//!   operation again; the one answer goes out when the work is done;
//! - a resend of a request that changed the VM and was already answered
//!   gets the same answer again (the first may have been lost), for
//!   [`crate::session::ANSWER_KEPT_FOR`];
//! - `reply_within` must stay below the shortest retry window of the
//!   clients in use (10 s for ipmitool's defaults): an answer after the
//!   client gave up is never read. When the VM is not verified off by then,
//!   the answer is C3h (timeout) — never success — and the power-off task
//!   on vSphere goes on; fence_ipmilan then polls `power status` until it
//!   reads "off" or its power_timeout passes.

use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use agent_framework::Deadline;

use crate::commands::{self, Action, BootParameters, ChassisAction, DeviceJob};
use crate::crypto::{random_bytes, Exchange, SessionKeys, UserKey};
use crate::handshake::{self, OpenSessionRequest, Rakp1, Rakp1Error, Rakp3, RakpStatus};
use crate::ipmi::{cmd, netfn, CompletionCode, Privilege, BMC_ADDRESS};
use crate::log::{untrusted, Logger, RateLimit};
use crate::power::{PowerControl, PowerError, PowerStatus};
use crate::session::{
    Active, Expiry, Handshake, Phase, RequestKey, Seen, Session, SessionBudget, SessionTable,
};
use crate::wire::{self, payload, Packet, Request, RmcpPlus};

/// Bounds of the daemon (configuration file, section `[daemon]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sessions of all endpoints together.
    pub max_sessions: usize,
    /// Sessions of one endpoint.
    pub max_sessions_per_vm: usize,
    /// An active session without a packet for this long is closed (IPMI
    /// v2.0 §6.12.15: 60 s ± 3 s by default).
    pub session_idle_timeout: Duration,
    /// Every request that needs the VM is answered within this time.
    pub reply_within: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_sessions: 64,
            max_sessions_per_vm: 8,
            session_idle_timeout: Duration::from_secs(60),
            reply_within: Duration::from_secs(8),
        }
    }
}

/// The one IPMI user of an endpoint.
pub struct IpmiUser {
    pub name: Vec<u8>,
    pub key: UserKey,
    pub privilege_limit: Privilege,
}

impl fmt::Debug for IpmiUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IpmiUser({}, ****, {})",
            untrusted(&self.name),
            self.privilege_limit
        )
    }
}

/// One VM's BMC.
pub struct EndpointConfig {
    /// For the log: the plug.
    pub name: String,
    pub listen: SocketAddr,
    pub user: IpmiUser,
    pub power: Arc<dyn PowerControl>,
}

/// How long the receiving thread waits for a datagram before looking at
/// expiries and the stop flag.
const POLL: Duration = Duration::from_millis(250);
/// Longer datagrams are cut to this and then fail their length checks; no
/// request this BMC understands comes near it.
const MAX_DATAGRAM: usize = 1024;
/// Device calls of one endpoint in progress at once; more get C0h.
const MAX_DEVICE_CALLS: usize = 8;
/// Warnings an unauthenticated peer can cause per endpoint and minute.
const WARNINGS_PER_MINUTE: u32 = 20;

/// A failure to start: which endpoint, what went wrong.
#[derive(Debug)]
pub struct StartError(pub String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// The running endpoints.
pub struct Server {
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    budget: Arc<SessionBudget>,
}

impl Server {
    /// The bound address of each endpoint, in configuration order (a port
    /// 0 in the configuration shows here as the port the system chose).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Sessions open now, all endpoints together.
    pub fn sessions_in_use(&self) -> usize {
        self.budget.in_use()
    }

    /// Stops receiving and waits for the endpoint threads. Work already
    /// handed to the VM finishes by its own deadline.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Binds every endpoint (all or nothing), then serves each on its thread.
pub fn start(
    endpoints: Vec<EndpointConfig>,
    limits: Limits,
    log: Logger,
) -> Result<Server, StartError> {
    let budget = SessionBudget::new(limits.max_sessions);
    let mut bound = Vec::new();
    for e in endpoints {
        let socket = UdpSocket::bind(e.listen).map_err(|err| {
            StartError(format!("{}: cannot listen on {}: {err}", e.name, e.listen))
        })?;
        let addr = socket
            .local_addr()
            .map_err(|err| StartError(format!("{}: {err}", e.name)))?;
        let random = |what: &str| StartError(format!("{}: no randomness for the {what}", e.name));
        let guid = random_bytes::<16>().map_err(|_| random("GUID"))?;
        let decoy_bytes = random_bytes::<20>().map_err(|_| random("decoy key"))?;
        let decoy = UserKey::new(&decoy_bytes).ok_or_else(|| random("decoy key"))?;
        bound.push((
            addr,
            Endpoint {
                name: e.name,
                socket,
                user: e.user,
                decoy,
                guid,
                power: e.power,
                limits,
                log: log.clone(),
                state: Mutex::new(State {
                    sessions: SessionTable::new(limits.max_sessions_per_vm, budget.clone()),
                    boot: BootParameters::default(),
                    warnings: RateLimit::new(WARNINGS_PER_MINUTE, Duration::from_secs(60)),
                }),
                device_calls: AtomicUsize::new(0),
                changing_vm: AtomicBool::new(false),
            },
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut addrs = Vec::new();
    let mut threads = Vec::new();
    for (addr, endpoint) in bound {
        let endpoint = Arc::new(endpoint);
        let flag = stop.clone();
        let name = format!("vbmc {addr}");
        log.info(format_args!(
            "[{}] listening on {addr} (IPMI v2.0 RMCP+, cipher suites 3 and 17)",
            endpoint.name
        ));
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || endpoint.serve(&flag))
            .map_err(|err| StartError(format!("{addr}: cannot start a thread: {err}")))?;
        addrs.push(addr);
        threads.push(thread);
    }
    Ok(Server {
        addrs,
        stop,
        threads,
        budget,
    })
}

struct State {
    sessions: SessionTable,
    boot: BootParameters,
    warnings: RateLimit,
}

struct Endpoint {
    name: String,
    socket: UdpSocket,
    user: IpmiUser,
    /// Keys the RAKP 2 code for user names that do not exist: the answer
    /// then looks like any other, and the network cannot tell which names
    /// are real (the console finds out at RAKP 2's check, the log here).
    decoy: UserKey,
    guid: [u8; 16],
    power: Arc<dyn PowerControl>,
    limits: Limits,
    log: Logger,
    state: Mutex<State>,
    device_calls: AtomicUsize,
    changing_vm: AtomicBool,
}

/// The parts of a request a worker needs to build its answer.
struct OwnedRequest {
    rs_addr: u8,
    netfn: u8,
    rs_lun: u8,
    rq_addr: u8,
    rq_seq: u8,
    rq_lun: u8,
    cmd: u8,
}

impl OwnedRequest {
    fn of(r: &Request<'_>) -> OwnedRequest {
        OwnedRequest {
            rs_addr: r.rs_addr,
            netfn: r.netfn,
            rs_lun: r.rs_lun,
            rq_addr: r.rq_addr,
            rq_seq: r.rq_seq,
            rq_lun: r.rq_lun,
            cmd: r.cmd,
        }
    }

    fn as_request(&self) -> Request<'_> {
        Request {
            rs_addr: self.rs_addr,
            netfn: self.netfn,
            rs_lun: self.rs_lun,
            rq_addr: self.rq_addr,
            rq_seq: self.rq_seq,
            rq_lun: self.rq_lun,
            cmd: self.cmd,
            data: &[],
        }
    }
}

/// Requests whose answers are kept for retransmissions: they change
/// something, so doing them twice is not the same as doing them once.
fn changes_something(req: &Request<'_>) -> bool {
    matches!(
        (req.netfn, req.cmd),
        (netfn::CHASSIS, cmd::CHASSIS_CONTROL) | (netfn::CHASSIS, cmd::SET_SYSTEM_BOOT_OPTIONS)
    )
}

fn setup_packet(payload_type: u8, body: &[u8]) -> Vec<u8> {
    wire::rmcp_plus_packet(payload_type, false, 0, 0, body, None)
}

/// Encrypts and signs an IPMI response message for an active session.
fn seal(session: &mut Session, message: &[u8]) -> Option<Vec<u8>> {
    let console = session.console_session_id;
    let Phase::Active(active) = &mut session.phase else {
        return None;
    };
    let encrypted = active.keys.encrypt(message).ok()?;
    let seq = active.next_outbound();
    let keys: &SessionKeys = &active.keys;
    let sign = |covered: &[u8]| keys.sign(covered);
    Some(wire::rmcp_plus_packet(
        payload::IPMI,
        true,
        console,
        seq,
        &encrypted,
        Some(&sign),
    ))
}

impl Endpoint {
    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn serve(self: Arc<Self>, stop: &AtomicBool) {
        if let Err(e) = self.socket.set_read_timeout(Some(POLL)) {
            self.log.error(format_args!(
                "[{}] cannot set a receive timeout: {e}",
                self.name
            ));
            return;
        }
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut last_sweep = Instant::now();
        while !stop.load(Ordering::Acquire) {
            match self.socket.recv_from(&mut buf) {
                Ok((n, peer)) => {
                    if let Some(reply) = self.handle(&buf[..n], peer) {
                        self.send(&reply, peer);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    self.log.debug(format_args!("[{}] receive: {e}", self.name));
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            if last_sweep.elapsed() >= POLL {
                self.sweep();
                last_sweep = Instant::now();
            }
        }
    }

    fn send(&self, packet: &[u8], peer: SocketAddr) {
        if let Err(e) = self.socket.send_to(packet, peer) {
            self.log
                .debug(format_args!("[{}] send to {peer}: {e}", self.name));
        }
    }

    fn sweep(&self) {
        let mut st = self.lock();
        let expired = st
            .sessions
            .expire(Instant::now(), self.limits.session_idle_timeout);
        drop(st);
        for (s, why) in expired {
            match (why, &s.phase) {
                (Expiry::Idle, Phase::Active(a)) => self.log.info(format_args!(
                    "[{}] session {:08x} of user '{}' from {} closed: idle for {} s",
                    self.name,
                    s.bmc_session_id,
                    a.user_name,
                    s.peer,
                    self.limits.session_idle_timeout.as_secs()
                )),
                _ => self.log.debug(format_args!(
                    "[{}] session {:08x} from {} dropped: handshake not completed",
                    self.name, s.bmc_session_id, s.peer
                )),
            }
        }
    }

    /// A warning caused by an unauthenticated peer, rate-limited.
    fn warn_limited(&self, st: &mut State, message: fmt::Arguments<'_>) {
        let (now, left_out) = st.warnings.allow(Instant::now());
        if let Some(n) = left_out {
            self.log.warn(format_args!(
                "[{}] {n} similar warnings were left out in the last minute",
                self.name
            ));
        }
        if now {
            self.log.warn(format_args!("[{}] {message}", self.name));
        }
    }

    fn handle(self: &Arc<Self>, bytes: &[u8], peer: SocketAddr) -> Option<Vec<u8>> {
        let packet = match wire::parse_packet(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.log.debug(format_args!(
                    "[{}] {peer}: ignored datagram: {e}",
                    self.name
                ));
                return None;
            }
        };
        match packet {
            Packet::AsfPing { message_tag } => Some(wire::asf_pong(message_tag)),
            Packet::V15 {
                session_id,
                message,
                ..
            } => {
                if session_id != 0 {
                    self.log.debug(format_args!(
                        "[{}] {peer}: IPMI v1.5 session packet ignored: no v1.5 sessions here",
                        self.name
                    ));
                    return None;
                }
                let req = wire::parse_request(message).ok()?;
                self.sessionless(&req).map(|r| wire::v15_packet(0, &r))
            }
            Packet::RmcpPlus(p) => self.rmcp_plus(p, peer),
        }
    }

    /// Requests outside any session: Get Channel Authentication
    /// Capabilities and Get Channel Cipher Suites, or a refusal.
    fn sessionless(&self, req: &Request<'_>) -> Option<Vec<u8>> {
        let mut st = self.lock();
        match commands::dispatch(req, None, &mut st.boot) {
            Action::Reply(cc, data) => Some(wire::build_response(req, cc, &data)),
            _ => None,
        }
    }

    fn rmcp_plus(self: &Arc<Self>, p: RmcpPlus<'_>, peer: SocketAddr) -> Option<Vec<u8>> {
        if p.session_id == 0 {
            if p.authenticated || p.encrypted {
                self.log.debug(format_args!(
                    "[{}] {peer}: protected packet without a session ignored",
                    self.name
                ));
                return None;
            }
            return match p.payload_type {
                payload::IPMI => {
                    let req = wire::parse_request(p.payload).ok()?;
                    self.sessionless(&req)
                        .map(|r| setup_packet(payload::IPMI, &r))
                }
                payload::OPEN_SESSION_REQUEST => self.open_session(p.payload, peer),
                payload::RAKP_1 => self.rakp1(p.payload, peer),
                payload::RAKP_3 => self.rakp3(p.payload, peer),
                other => {
                    self.log.debug(format_args!(
                        "[{}] {peer}: payload type {other:02X}h without a session ignored",
                        self.name
                    ));
                    None
                }
            };
        }
        if p.payload_type != payload::IPMI {
            self.log.debug(format_args!(
                "[{}] {peer}: payload type {:02X}h is not offered",
                self.name, p.payload_type
            ));
            return None;
        }
        self.session_request(p, peer)
    }

    fn open_session(&self, body: &[u8], peer: SocketAddr) -> Option<Vec<u8>> {
        let mut st = self.lock();
        let request = match OpenSessionRequest::parse(body) {
            Ok(r) => r,
            Err(refusal) => {
                self.warn_limited(
                    &mut st,
                    format_args!("{peer}: Open Session refused: {}", refusal.reason),
                );
                let (tag, console) = refusal.reply?;
                return Some(setup_packet(
                    payload::OPEN_SESSION_RESPONSE,
                    &handshake::open_session_refusal(tag, refusal.status, console),
                ));
            }
        };
        let refuse = |status: RakpStatus| {
            Some(setup_packet(
                payload::OPEN_SESSION_RESPONSE,
                &handshake::open_session_refusal(
                    request.message_tag,
                    status,
                    request.console_session_id,
                ),
            ))
        };
        let limit = self.user.privilege_limit;
        let max = match request.requested_privilege {
            0 => limit,
            level => {
                match Privilege::from_level(level) {
                    None => {
                        self.warn_limited(
                        &mut st,
                        format_args!("{peer}: Open Session refused: privilege level {level} is not offered"),
                    );
                        return refuse(RakpStatus::InvalidRole);
                    }
                    Some(p) if p > limit => {
                        self.warn_limited(
                            &mut st,
                            format_args!(
                                "{peer}: Open Session refused: {p} asked for, {limit} is the limit"
                            ),
                        );
                        return refuse(RakpStatus::UnauthorizedRole);
                    }
                    Some(p) => p,
                }
            }
        };
        let now = Instant::now();
        let opened = st.sessions.open(|id| Session {
            bmc_session_id: id,
            console_session_id: request.console_session_id,
            suite: request.suite,
            peer,
            requested_privilege: request.requested_privilege,
            phase: Phase::AwaitingRakp1,
            last_activity: now,
        });
        match opened {
            Ok(id) => {
                self.log.debug(format_args!(
                    "[{}] {peer}: session {id:08x} opening with cipher suite {}",
                    self.name,
                    request.suite.id()
                ));
                Some(setup_packet(
                    payload::OPEN_SESSION_RESPONSE,
                    &handshake::open_session_response(
                        request.message_tag,
                        max.level(),
                        request.console_session_id,
                        id,
                        request.suite,
                    ),
                ))
            }
            Err(_) => {
                self.warn_limited(
                    &mut st,
                    format_args!(
                        "{peer}: Open Session refused: session limit reached ({} for this VM, {} in all)",
                        self.limits.max_sessions_per_vm, self.limits.max_sessions
                    ),
                );
                refuse(RakpStatus::InsufficientResources)
            }
        }
    }

    /// The name, compared in constant time (padded to 16 bytes, lengths
    /// compared too), so that timing tells nothing about the real one.
    fn user_matches(&self, name: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let pad = |n: &[u8]| {
            let mut b = [0u8; handshake::MAX_USER_NAME];
            let len = n.len().min(b.len());
            b[..len].copy_from_slice(&n[..len]);
            b
        };
        let same_len = (name.len() as u64).ct_eq(&(self.user.name.len() as u64));
        let same_bytes = pad(name).ct_eq(&pad(&self.user.name));
        bool::from(same_len & same_bytes)
    }

    /// RAKP 1's requested role against this endpoint and the session.
    fn check_role(&self, m: &Rakp1, open_requested: u8) -> Result<Privilege, (RakpStatus, String)> {
        if m.user_name.is_empty() {
            return Err((
                RakpStatus::UnauthorizedName,
                "null user name (anonymous login is never allowed)".into(),
            ));
        }
        let reserved =
            m.role & !(handshake::ROLE_PRIVILEGE_MASK | handshake::ROLE_NAME_ONLY_LOOKUP);
        let level = m.role & handshake::ROLE_PRIVILEGE_MASK;
        let privilege = match Privilege::from_level(level) {
            Some(p) if reserved == 0 => p,
            _ => {
                return Err((
                    RakpStatus::InvalidRole,
                    format!(
                        "role byte {:02X}h asks for no privilege level offered",
                        m.role
                    ),
                ))
            }
        };
        let limit = self.user.privilege_limit;
        if privilege > limit || (open_requested != 0 && level > open_requested) {
            return Err((
                RakpStatus::UnauthorizedRole,
                format!("{privilege} asked for, {limit} is the limit"),
            ));
        }
        Ok(privilege)
    }

    fn rakp1(&self, body: &[u8], peer: SocketAddr) -> Option<Vec<u8>> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let m = match Rakp1::parse(body) {
            Ok(m) => m,
            Err(Rakp1Error::Mangled(n)) => {
                self.log.debug(format_args!(
                    "[{}] {peer}: RAKP 1 of {n} bytes ignored",
                    self.name
                ));
                return None;
            }
            Err(Rakp1Error::Refused {
                message_tag,
                bmc_session_id,
                status,
                reason,
            }) => {
                let s = st.sessions.get(bmc_session_id)?;
                if s.peer != peer || !matches!(s.phase, Phase::AwaitingRakp1) {
                    return None;
                }
                let console = s.console_session_id;
                st.sessions.remove(bmc_session_id);
                self.warn_limited(st, format_args!("{peer}: RAKP 1 refused: {reason}"));
                return Some(setup_packet(
                    payload::RAKP_2,
                    &handshake::rakp_refusal(message_tag, status, console),
                ));
            }
        };
        let session = st.sessions.get_mut(m.bmc_session_id)?;
        if session.peer != peer || !matches!(session.phase, Phase::AwaitingRakp1) {
            return None;
        }
        let console = session.console_session_id;
        let suite = session.suite;
        let max = match self.check_role(&m, session.requested_privilege) {
            Ok(p) => p,
            Err((status, why)) => {
                st.sessions.remove(m.bmc_session_id);
                self.warn_limited(
                    st,
                    format_args!(
                        "{peer}: login of user '{}' refused: {why}",
                        untrusted(&m.user_name)
                    ),
                );
                return Some(setup_packet(
                    payload::RAKP_2,
                    &handshake::rakp_refusal(m.message_tag, status, console),
                ));
            }
        };
        let user_known = self.user_matches(&m.user_name);
        let bmc_random = random_bytes::<16>().ok()?;
        let x = Exchange {
            console_session_id: console,
            bmc_session_id: m.bmc_session_id,
            console_random: m.console_random,
            bmc_random,
            bmc_guid: self.guid,
            role: m.role,
            user_name: &m.user_name,
        };
        let key = if user_known {
            &self.user.key
        } else {
            &self.decoy
        };
        let code = suite.rakp2_auth_code(key, &x);
        session.phase = Phase::AwaitingRakp3(Box::new(Handshake {
            console_random: m.console_random,
            bmc_random,
            role: m.role,
            user_name: m.user_name.clone(),
            user_known,
            max_privilege: max,
        }));
        session.last_activity = Instant::now();
        Some(setup_packet(
            payload::RAKP_2,
            &handshake::rakp2(m.message_tag, console, &bmc_random, &self.guid, &code),
        ))
    }

    fn rakp3(&self, body: &[u8], peer: SocketAddr) -> Option<Vec<u8>> {
        let m = Rakp3::parse(body)?;
        let mut guard = self.lock();
        let st = &mut *guard;
        let session = st.sessions.get_mut(m.bmc_session_id)?;
        if session.peer != peer || !matches!(session.phase, Phase::AwaitingRakp3(_)) {
            return None;
        }
        let Phase::AwaitingRakp3(hs) = std::mem::replace(&mut session.phase, Phase::AwaitingRakp1)
        else {
            return None;
        };
        let console = session.console_session_id;
        let suite = session.suite;
        let id = m.bmc_session_id;
        if m.status != RakpStatus::NoErrors.code() {
            st.sessions.remove(id);
            self.log.debug(format_args!(
                "[{}] {peer}: the console abandoned session {id:08x} with RAKP 3 status {:02X}h",
                self.name, m.status
            ));
            return None;
        }
        let x = Exchange {
            console_session_id: console,
            bmc_session_id: id,
            console_random: hs.console_random,
            bmc_random: hs.bmc_random,
            bmc_guid: self.guid,
            role: hs.role,
            user_name: &hs.user_name,
        };
        let name = untrusted(&hs.user_name);
        // The code is checked for unknown names too, under the decoy key:
        // the time to refuse does not tell them apart either.
        let key = if hs.user_known {
            &self.user.key
        } else {
            &self.decoy
        };
        let code_matches = suite.rakp3_matches(key, &x, &m.auth_code);
        if !(hs.user_known && code_matches) {
            st.sessions.remove(id);
            let why = if hs.user_known {
                "wrong password".to_string()
            } else {
                format!("unknown user name '{name}'")
            };
            self.warn_limited(
                st,
                format_args!("{peer}: login of user '{name}' refused: {why}"),
            );
            return Some(setup_packet(
                payload::RAKP_4,
                &handshake::rakp_refusal(
                    m.message_tag,
                    RakpStatus::InvalidIntegrityCheckValue,
                    console,
                ),
            ));
        }
        let sik = suite.session_integrity_key(&self.user.key, &x);
        let icv = suite.rakp4_icv(&sik, &x);
        let keys = SessionKeys::derive(suite, &sik);
        let max = hs.max_privilege;
        session.phase = Phase::Active(Box::new(Active::new(keys, max, name.clone())));
        session.last_activity = Instant::now();
        self.log.info(format_args!(
            "[{}] session {id:08x} opened for user '{name}' from {peer} (cipher suite {}, up to {max})",
            self.name,
            suite.id()
        ));
        Some(setup_packet(
            payload::RAKP_4,
            &handshake::rakp4(m.message_tag, console, &icv),
        ))
    }

    fn session_request(self: &Arc<Self>, p: RmcpPlus<'_>, peer: SocketAddr) -> Option<Vec<u8>> {
        let now = Instant::now();
        let mut guard = self.lock();
        let st = &mut *guard;
        let id = p.session_id;
        let Some(session) = st.sessions.get_mut(id) else {
            self.log.debug(format_args!(
                "[{}] {peer}: packet for unknown session {id:08x} ignored",
                self.name
            ));
            return None;
        };
        if session.peer != peer {
            self.log.debug(format_args!(
                "[{}] {peer}: packet for session {id:08x} of {} ignored",
                self.name, session.peer
            ));
            return None;
        }
        let Phase::Active(active) = &mut session.phase else {
            return None;
        };
        // Suites 3 and 17 authenticate and encrypt every packet; one
        // without is not from the console that holds the keys.
        if !(p.authenticated && p.encrypted) {
            self.log.debug(format_args!(
                "[{}] {peer}: unprotected packet in session {id:08x} ignored",
                self.name
            ));
            return None;
        }
        if !active.keys.verify(p.signed, p.auth_code) {
            self.warn_limited(
                st,
                format_args!("{peer}: packet with a wrong AuthCode for session {id:08x} ignored"),
            );
            return None;
        }
        if !active.inbound.accept(p.sequence) {
            self.log.debug(format_args!(
                "[{}] {peer}: session {id:08x}: sequence number {} replayed or outside the window, ignored",
                self.name, p.sequence
            ));
            return None;
        }
        let plain = match active.keys.decrypt(p.payload) {
            Ok(d) => d,
            Err(e) => {
                self.log.debug(format_args!(
                    "[{}] {peer}: session {id:08x}: {e}",
                    self.name
                ));
                return None;
            }
        };
        let req = match wire::parse_request(&plain) {
            Ok(r) => r,
            Err(e) => {
                self.log.debug(format_args!(
                    "[{}] {peer}: session {id:08x}: {e}",
                    self.name
                ));
                return None;
            }
        };
        session.last_activity = now;
        if req.rs_addr != BMC_ADDRESS {
            self.log.debug(format_args!(
                "[{}] {peer}: request to address {:02X}h ignored: nothing is bridged",
                self.name, req.rs_addr
            ));
            return None;
        }
        let key = RequestKey::of(&req);
        match active.requests.check(&key, now) {
            Seen::InFlight => {
                self.log.debug(format_args!(
                    "[{}] {peer}: session {id:08x}: retransmission (rqSeq {}) of a request in progress: one answer when done",
                    self.name, req.rq_seq
                ));
                return None;
            }
            Seen::Answered(response) => {
                self.log.debug(format_args!(
                    "[{}] {peer}: session {id:08x}: retransmission (rqSeq {}) of an answered request: same answer again",
                    self.name, req.rq_seq
                ));
                return seal(session, &response);
            }
            Seen::New => {}
        }
        let privilege = active.privilege;
        let (cc, data) = match commands::dispatch(&req, Some(privilege), &mut st.boot) {
            Action::Reply(cc, data) => (cc, data),
            Action::SetPrivilege(level) => self.set_privilege(active, level, peer, id),
            Action::CloseSession(target) => {
                let user = active.user_name.clone();
                return self.close_session(st, id, target, privilege, &req, &user, peer);
            }
            Action::Device(job) => {
                let user = active.user_name.clone();
                return self.start_device_job(st, id, &req, key, job, user, peer);
            }
            Action::Refused { code, why } => {
                self.log.warn(format_args!(
                    "[{}] {peer}: user '{}': refused, answered {code}: {why}",
                    self.name, active.user_name
                ));
                (code, Vec::new())
            }
        };
        let response = wire::build_response(&req, cc, &data);
        // The borrow of `active` ended above; look the session up again.
        let session = st.sessions.get_mut(id)?;
        if changes_something(&req) {
            if let Phase::Active(a) = &mut session.phase {
                a.requests.answered(&key, response.clone(), true, now);
            }
        }
        seal(session, &response)
    }

    fn set_privilege(
        &self,
        active: &mut Active,
        level: u8,
        peer: SocketAddr,
        id: u32,
    ) -> (CompletionCode, Vec<u8>) {
        if level == 0 {
            return (CompletionCode::OK, vec![active.privilege.level()]);
        }
        match Privilege::from_level(level) {
            None => (commands::PRIVILEGE_NOT_AVAILABLE, Vec::new()),
            Some(p) if p > active.max_privilege => (commands::PRIVILEGE_ABOVE_LIMIT, Vec::new()),
            Some(p) => {
                if p != active.privilege {
                    self.log.debug(format_args!(
                        "[{}] {peer}: session {id:08x} now at {p}",
                        self.name
                    ));
                }
                active.privilege = p;
                (CompletionCode::OK, vec![p.level()])
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn close_session(
        &self,
        st: &mut State,
        id: u32,
        target: u32,
        privilege: Privilege,
        req: &Request<'_>,
        user: &str,
        peer: SocketAddr,
    ) -> Option<Vec<u8>> {
        let cc = if target == id {
            CompletionCode::OK
        } else if privilege < Privilege::Administrator {
            CompletionCode::INSUFFICIENT_PRIVILEGE
        } else if st.sessions.remove(target).is_some() {
            self.log.info(format_args!(
                "[{}] session {target:08x} closed by user '{user}' from {peer}",
                self.name
            ));
            CompletionCode::OK
        } else {
            commands::CLOSE_INVALID_SESSION_ID
        };
        let response = wire::build_response(req, cc, &[]);
        let session = st.sessions.get_mut(id)?;
        // The answer goes out under the session's keys, then it is gone.
        let packet = seal(session, &response);
        if target == id {
            st.sessions.remove(id);
            self.log.info(format_args!(
                "[{}] session {id:08x} of user '{user}' from {peer} closed",
                self.name
            ));
        }
        packet
    }

    #[allow(clippy::too_many_arguments)]
    fn start_device_job(
        self: &Arc<Self>,
        st: &mut State,
        id: u32,
        req: &Request<'_>,
        key: RequestKey,
        job: DeviceJob,
        user: String,
        peer: SocketAddr,
    ) -> Option<Vec<u8>> {
        let busy = |st: &mut State| {
            let response = wire::build_response(req, CompletionCode::NODE_BUSY, &[]);
            st.sessions.get_mut(id).and_then(|s| seal(s, &response))
        };
        if job.changes_vm() && self.changing_vm.swap(true, Ordering::AcqRel) {
            self.log.info(format_args!(
                "[{}] {peer}: user '{user}': answered C0h (busy): another power or boot change of this VM is in progress",
                self.name
            ));
            return busy(st);
        }
        let release = |ep: &Endpoint| {
            ep.device_calls.fetch_sub(1, Ordering::AcqRel);
            if job.changes_vm() {
                ep.changing_vm.store(false, Ordering::Release);
            }
        };
        if self.device_calls.fetch_add(1, Ordering::AcqRel) >= MAX_DEVICE_CALLS {
            release(self);
            self.log.warn(format_args!(
                "[{}] {peer}: answered C0h (busy): {MAX_DEVICE_CALLS} device calls already in progress",
                self.name
            ));
            return busy(st);
        }
        if let Some(Phase::Active(a)) = st.sessions.get_mut(id).map(|s| &mut s.phase) {
            a.requests.start(key.clone());
        }
        let deadline = Deadline::after(self.limits.reply_within);
        let endpoint = Arc::clone(self);
        let request = OwnedRequest::of(req);
        let spawned = std::thread::Builder::new()
            .name("vbmc device".into())
            .spawn(move || {
                endpoint.finish_device_job(id, request, key, job, deadline, &user, peer)
            });
        if let Err(e) = spawned {
            release(self);
            self.log.error(format_args!(
                "[{}] cannot start a worker thread: {e}",
                self.name
            ));
            if let Some(Phase::Active(a)) = st.sessions.get_mut(id).map(|s| &mut s.phase) {
                a.requests
                    .answered(&RequestKey::of(req), Vec::new(), false, Instant::now());
            }
            return busy(st);
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_device_job(
        &self,
        id: u32,
        request: OwnedRequest,
        key: RequestKey,
        job: DeviceJob,
        deadline: Deadline,
        user: &str,
        peer: SocketAddr,
    ) {
        let (cc, data) = self.perform(job, deadline, user, peer);
        let response = wire::build_response(&request.as_request(), cc, &data);
        let packet = {
            let mut st = self.lock();
            match st.sessions.get_mut(id) {
                Some(session) => {
                    if let Phase::Active(a) = &mut session.phase {
                        a.requests.answered(
                            &key,
                            response.clone(),
                            job.changes_vm(),
                            Instant::now(),
                        );
                    }
                    seal(session, &response).map(|p| (p, session.peer))
                }
                None => {
                    self.log.info(format_args!(
                        "[{}] session {id:08x} was closed before its answer ({cc}) was ready",
                        self.name
                    ));
                    None
                }
            }
        };
        // Released before answering: a console that sends its next power
        // command as soon as it reads this answer must not find it busy.
        self.device_calls.fetch_sub(1, Ordering::AcqRel);
        if job.changes_vm() {
            self.changing_vm.store(false, Ordering::Release);
        }
        if let Some((p, to)) = packet {
            self.send(&p, to);
        }
    }

    fn perform(
        &self,
        job: DeviceJob,
        deadline: Deadline,
        user: &str,
        peer: SocketAddr,
    ) -> (CompletionCode, Vec<u8>) {
        let started = Instant::now();
        let who = format!("user '{user}' from {peer}");
        match job {
            DeviceJob::ChassisStatus => match self.power.status(deadline) {
                PowerStatus::On => (CompletionCode::OK, commands::chassis_status(true)),
                PowerStatus::Off => (CompletionCode::OK, commands::chassis_status(false)),
                PowerStatus::NotVouched(why) => {
                    let cc = CompletionCode::RESPONSE_UNAVAILABLE;
                    self.log.warn(format_args!(
                        "[{}] chassis status for {who}: the device cannot vouch for the VM ({why}): answered {cc}",
                        self.name
                    ));
                    (cc, Vec::new())
                }
            },
            DeviceJob::Control(action) => {
                self.log.info(format_args!(
                    "[{}] {} requested by {who}",
                    self.name,
                    action.name()
                ));
                let result = match action {
                    ChassisAction::PowerDown => self.power.power_off_verified(deadline),
                    ChassisAction::PowerUp => self.power.power_on_verified(deadline),
                    ChassisAction::PowerCycle => self.power_cycle(deadline),
                    ChassisAction::HardReset => self.power.reset(deadline),
                    ChassisAction::SoftShutdown => self.power.soft_shutdown(deadline),
                };
                let took = started.elapsed().as_secs_f64();
                match result {
                    Ok(()) => {
                        let what = match action {
                            ChassisAction::PowerDown => "the VM is verified off",
                            ChassisAction::PowerUp | ChassisAction::PowerCycle => {
                                "the VM is verified on"
                            }
                            ChassisAction::HardReset => "the VM was reset",
                            ChassisAction::SoftShutdown => "the guest was asked to shut down",
                        };
                        self.log.info(format_args!(
                            "[{}] {} for {who}: done, {what} ({took:.1} s)",
                            self.name,
                            action.name()
                        ));
                        (CompletionCode::OK, Vec::new())
                    }
                    Err(e) => self.failed(action.name(), &who, &e, took),
                }
            }
            DeviceJob::GetBootFlags => match self.power.boot_device(deadline) {
                Ok(current) => (CompletionCode::OK, commands::boot_flags(current)),
                Err(e) => self.failed("get boot device", &who, &e, started.elapsed().as_secs_f64()),
            },
            DeviceJob::SetBootDevice(wanted) => {
                let device = wanted.device;
                match self.power.set_boot_device(wanted, deadline) {
                    Ok(()) => {
                        self.log.info(format_args!(
                            "[{}] boot device set to {device} by {who}, for every boot until changed",
                            self.name
                        ));
                        (CompletionCode::OK, Vec::new())
                    }
                    Err(e) => self.failed(
                        &format!("set boot device {device}"),
                        &who,
                        &e,
                        started.elapsed().as_secs_f64(),
                    ),
                }
            }
        }
    }

    fn failed(
        &self,
        what: &str,
        who: &str,
        e: &PowerError,
        took: f64,
    ) -> (CompletionCode, Vec<u8>) {
        let cc = e.completion_code();
        self.log.warn(format_args!(
            "[{}] {what} for {who} failed after {took:.1} s: {e}: answered {cc}",
            self.name
        ));
        (cc, Vec::new())
    }

    /// Power cycle (IPMI v2.0 §28.3, Table 28-4): only for a VM that is
    /// on ("no action should occur if chassis power is in S4/S5 state"),
    /// off for at least one second, then on.
    fn power_cycle(&self, deadline: Deadline) -> Result<(), PowerError> {
        match self.power.status(deadline) {
            PowerStatus::On => {}
            PowerStatus::Off => {
                return Err(PowerError::InvalidState(
                    "the VM is off, and a power cycle does not power on an off system".into(),
                ))
            }
            PowerStatus::NotVouched(why) => return Err(PowerError::NotVouched(why)),
        }
        self.power.power_off_verified(deadline)?;
        let interval = Duration::from_secs(1);
        if deadline.remaining() <= interval {
            return Err(PowerError::Timeout(
                "no time left to power the VM on after the off".into(),
            ));
        }
        std::thread::sleep(interval);
        self.power.power_on_verified(deadline)
    }
}
