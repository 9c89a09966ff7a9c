//! Test support for vmware-vbmc.
//!
//! `MemoryPower` is a hand-written fake: a VM whose power state lives in
//! memory, with power operations that take as long as a test says, a
//! guest shutdown and a boot order, and a switch for "the device cannot
//! vouch for this VM". It lets these tests drive the IPMI side through
//! every PowerControl outcome, which VMware's simulator cannot produce on
//! demand (a guest shutdown, boot devices, an operation that ends exactly
//! at a given moment). The daemon against the simulator itself, through
//! the vSphere side, is tested in cts/tests/vbmc.rs. Everything else in
//! these tests is real: the daemon's endpoints on 127.0.0.1, and Debian's
//! ipmitool and fence-agents' fence_ipmilan as the clients.
#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_framework::Deadline;
use vmware_vbmc::crypto::{random_bytes, CipherSuite, Exchange, SessionKeys, UserKey};
use vmware_vbmc::handshake::{OpenSessionRequest, OpenSessionResponse, Rakp1, Rakp3, RakpReply};
use vmware_vbmc::ipmi::{CompletionCode, Privilege};
use vmware_vbmc::log::{Level, Logger};
use vmware_vbmc::power::{BootDevice, BootOverride, PowerControl, PowerError, PowerStatus};
use vmware_vbmc::server::{self, EndpointConfig, IpmiUser, Limits, Server};
use vmware_vbmc::wire::{self, payload, Packet};

pub const USER: &str = "fence";
pub const PASSWORD: &str = "k7#Vq2!mZp9@Lw4$";

struct Vm {
    on: bool,
    /// A power task in progress: the VM reaches this state at that time,
    /// whether or not anyone still waits for it.
    pending: Option<(bool, Instant)>,
    cannot_vouch: Option<String>,
    off_delay: Duration,
    on_delay: Duration,
    guest_tools: bool,
    boot: BootDevice,
    efi: bool,
    calls: Vec<String>,
}

impl Vm {
    fn settle(&mut self) {
        if let Some((state, at)) = self.pending {
            if Instant::now() >= at {
                self.on = state;
                self.pending = None;
            }
        }
    }
}

/// The in-memory VM (see the top of this file).
pub struct MemoryPower(Mutex<Vm>);

impl MemoryPower {
    pub fn new(on: bool) -> Arc<MemoryPower> {
        Arc::new(MemoryPower(Mutex::new(Vm {
            on,
            pending: None,
            cannot_vouch: None,
            off_delay: Duration::ZERO,
            on_delay: Duration::ZERO,
            guest_tools: true,
            boot: BootDevice::NoOverride,
            efi: false,
            calls: Vec::new(),
        })))
    }

    fn vm(&self) -> std::sync::MutexGuard<'_, Vm> {
        self.0.lock().unwrap()
    }

    pub fn is_on(&self) -> bool {
        let mut vm = self.vm();
        vm.settle();
        vm.on
    }

    pub fn set_on(&self, on: bool) {
        let mut vm = self.vm();
        vm.on = on;
        vm.pending = None;
    }

    pub fn set_delays(&self, off: Duration, on: Duration) {
        let mut vm = self.vm();
        vm.off_delay = off;
        vm.on_delay = on;
    }

    pub fn cannot_vouch(&self, why: Option<&str>) {
        self.vm().cannot_vouch = why.map(str::to_string);
    }

    pub fn set_guest_tools(&self, running: bool) {
        self.vm().guest_tools = running;
    }

    pub fn boot(&self) -> BootDevice {
        self.vm().boot
    }

    pub fn set_efi(&self, efi: bool) {
        self.vm().efi = efi;
    }

    pub fn calls(&self) -> Vec<String> {
        self.vm().calls.clone()
    }

    pub fn count(&self, call: &str) -> usize {
        self.vm().calls.iter().filter(|c| *c == call).count()
    }

    pub fn clear_calls(&self) {
        self.vm().calls.clear();
    }

    fn record(&self, call: &str) -> std::sync::MutexGuard<'_, Vm> {
        let mut vm = self.vm();
        vm.calls.push(call.to_string());
        vm.settle();
        vm
    }

    /// Starts the change unless the VM is there or going there already,
    /// then waits until it is done or the deadline passes.
    fn change(&self, call: &str, to: bool, deadline: Deadline) -> Result<(), PowerError> {
        {
            let mut vm = self.record(call);
            if let Some(why) = &vm.cannot_vouch {
                return Err(PowerError::NotVouched(why.clone()));
            }
            let already = vm.on == to && vm.pending.is_none();
            let going = matches!(vm.pending, Some((s, _)) if s == to);
            if !already && !going {
                let delay = if to { vm.on_delay } else { vm.off_delay };
                vm.pending = Some((to, Instant::now() + delay));
                vm.settle();
            }
        }
        loop {
            {
                let mut vm = self.vm();
                vm.settle();
                if vm.on == to && vm.pending.is_none() {
                    return Ok(());
                }
            }
            if deadline.expired() {
                return Err(PowerError::Timeout(format!("{call} still in progress")));
            }
            std::thread::sleep(Duration::from_millis(5).min(deadline.remaining()));
        }
    }
}

impl PowerControl for MemoryPower {
    fn status(&self, _deadline: Deadline) -> PowerStatus {
        let vm = self.record("status");
        match &vm.cannot_vouch {
            Some(why) => PowerStatus::NotVouched(why.clone()),
            None if vm.on => PowerStatus::On,
            None => PowerStatus::Off,
        }
    }

    fn power_off_verified(&self, deadline: Deadline) -> Result<(), PowerError> {
        self.change("power_off", false, deadline)
    }

    fn power_on_verified(&self, deadline: Deadline) -> Result<(), PowerError> {
        self.change("power_on", true, deadline)
    }

    fn reset(&self, _deadline: Deadline) -> Result<(), PowerError> {
        let vm = self.record("reset");
        if let Some(why) = &vm.cannot_vouch {
            return Err(PowerError::NotVouched(why.clone()));
        }
        if !vm.on {
            return Err(PowerError::InvalidState("the VM is powered off".into()));
        }
        Ok(())
    }

    fn soft_shutdown(&self, _deadline: Deadline) -> Result<(), PowerError> {
        let mut vm = self.record("soft_shutdown");
        if let Some(why) = &vm.cannot_vouch {
            return Err(PowerError::NotVouched(why.clone()));
        }
        if !vm.on {
            return Err(PowerError::InvalidState("the VM is powered off".into()));
        }
        if !vm.guest_tools {
            return Err(PowerError::InvalidState(
                "VMware Tools are not running".into(),
            ));
        }
        let at = Instant::now() + vm.off_delay;
        vm.pending = Some((false, at));
        Ok(())
    }

    fn boot_device(&self, _deadline: Deadline) -> Result<BootOverride, PowerError> {
        let vm = self.record("boot_device");
        Ok(BootOverride {
            device: vm.boot,
            efi: vm.efi,
        })
    }

    fn set_boot_device(&self, wanted: BootOverride, _deadline: Deadline) -> Result<(), PowerError> {
        let device = wanted.device;
        let mut vm = self.record(&format!("set_boot_device {device}"));
        if device != BootDevice::NoOverride && wanted.efi != vm.efi {
            return Err(PowerError::InvalidState(
                "the boot kind asked for is not the VM's firmware".into(),
            ));
        }
        vm.boot = device;
        Ok(())
    }
}

/// Everything the daemon logged, for assertions.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// One daemon endpoint on 127.0.0.1 around a MemoryPower.
pub struct Bmc {
    server: Option<Server>,
    pub addr: SocketAddr,
    pub power: Arc<MemoryPower>,
    pub log: LogBuffer,
}

pub struct BmcOptions {
    pub user: &'static str,
    pub password: &'static str,
    pub limit: Privilege,
    pub limits: Limits,
    pub on: bool,
}

impl Default for BmcOptions {
    fn default() -> BmcOptions {
        BmcOptions {
            user: USER,
            password: PASSWORD,
            limit: Privilege::Administrator,
            limits: Limits::default(),
            on: true,
        }
    }
}

impl Bmc {
    pub fn start(opts: BmcOptions) -> Bmc {
        let power = MemoryPower::new(opts.on);
        let log = LogBuffer::default();
        // Registered like the daemon registers configured passwords.
        let _ = agent_framework::Secret::new(opts.password.to_string());
        let logger = Logger::to_writer(Level::Debug, Box::new(log.clone()));
        let server = server::start(
            vec![EndpointConfig {
                name: "test-vm".into(),
                listen: "127.0.0.1:0".parse().unwrap(),
                user: IpmiUser {
                    name: opts.user.as_bytes().to_vec(),
                    key: UserKey::new(opts.password.as_bytes()).unwrap(),
                    privilege_limit: opts.limit,
                },
                power: power.clone(),
            }],
            opts.limits,
            logger,
        )
        .unwrap();
        let addr = server.local_addrs()[0];
        Bmc {
            server: Some(server),
            addr,
            power,
            log,
        }
    }

    pub fn default_started() -> Bmc {
        Bmc::start(BmcOptions::default())
    }

    pub fn sessions_in_use(&self) -> usize {
        self.server.as_ref().map_or(0, |s| s.sessions_in_use())
    }
}

impl Drop for Bmc {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

/// Runs a command, killing it after `limit` (a test never hangs).
pub fn run_bounded(mut cmd: Command, stdin: Option<&[u8]>, limit: Duration) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(bytes).unwrap();
    }
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} still running after {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Debian's ipmitool against the endpoint, the password passed in the
/// environment (-E), not on the command line.
pub fn ipmitool_as(addr: SocketAddr, user: &str, password: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("ipmitool");
    cmd.args(["-I", "lanplus", "-H", "127.0.0.1", "-p"])
        .arg(addr.port().to_string())
        .args(["-U", user, "-E"])
        .args(args)
        .env("IPMI_PASSWORD", password);
    run_bounded(cmd, None, Duration::from_secs(90))
}

pub fn ipmitool(bmc: &Bmc, args: &[&str]) -> Output {
    ipmitool_as(bmc.addr, USER, PASSWORD, args)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A remote console written for the tests, to send what ipmitool never
/// would: replays, forged AuthCodes, floods, half-open sessions.
pub struct Console {
    pub sock: UdpSocket,
    pub bmc: SocketAddr,
    pub suite: CipherSuite,
    pub console_session_id: u32,
    pub bmc_session_id: u32,
    pub keys: Option<SessionKeys>,
    pub seq: u32,
    pub rq_seq: u8,
}

/// What a login attempt ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginError {
    NoAnswer(&'static str),
    OpenSession(u8),
    Rakp2(u8),
    Rakp2Forged,
    Rakp4(u8),
    Rakp4Forged,
}

impl Console {
    pub fn new(bmc: SocketAddr, suite: CipherSuite) -> Console {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        Console {
            sock,
            bmc,
            suite,
            console_session_id: u32::from_le_bytes(random_bytes::<4>().unwrap()) | 1,
            bmc_session_id: 0,
            keys: None,
            seq: 0,
            rq_seq: 0,
        }
    }

    pub fn send_raw(&self, bytes: &[u8]) {
        self.sock.send_to(bytes, self.bmc).unwrap();
    }

    pub fn recv(&self, wait: Duration) -> Option<Vec<u8>> {
        self.sock.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 2048];
        match self.sock.recv_from(&mut buf) {
            Ok((n, _)) => Some(buf[..n].to_vec()),
            Err(_) => None,
        }
    }

    /// Sends and returns the answer's payload if it is of `expect` type.
    pub fn setup_exchange(&self, payload_type: u8, body: &[u8], expect: u8) -> Option<Vec<u8>> {
        self.send_raw(&wire::rmcp_plus_packet(
            payload_type,
            false,
            0,
            0,
            body,
            None,
        ));
        let answer = self.recv(Duration::from_secs(2))?;
        match wire::parse_packet(&answer) {
            Ok(Packet::RmcpPlus(p)) if p.payload_type == expect => Some(p.payload.to_vec()),
            _ => None,
        }
    }

    pub fn open_session(&mut self, privilege: u8) -> Result<OpenSessionResponse, LoginError> {
        let req = OpenSessionRequest {
            message_tag: 1,
            requested_privilege: privilege,
            console_session_id: self.console_session_id,
            suite: self.suite,
        };
        let body = self
            .setup_exchange(
                payload::OPEN_SESSION_REQUEST,
                &req.build(),
                payload::OPEN_SESSION_RESPONSE,
            )
            .ok_or(LoginError::NoAnswer("open session"))?;
        let r = OpenSessionResponse::parse(&body).ok_or(LoginError::NoAnswer("open session"))?;
        if r.status != 0 {
            return Err(LoginError::OpenSession(r.status));
        }
        self.bmc_session_id = r
            .bmc_session_id
            .ok_or(LoginError::NoAnswer("open session"))?;
        Ok(r)
    }

    /// The whole handshake; checks the BMC's RAKP 2 and RAKP 4 codes as a
    /// real console does.
    pub fn login(&mut self, user: &str, password: &str, role: u8) -> Result<(), LoginError> {
        self.open_session(0)?;
        let key = UserKey::new(password.as_bytes()).unwrap();
        let console_random: [u8; 16] = random_bytes().unwrap();
        let rakp1 = Rakp1 {
            message_tag: 2,
            bmc_session_id: self.bmc_session_id,
            console_random,
            role,
            user_name: user.as_bytes().to_vec(),
        };
        let body = self
            .setup_exchange(payload::RAKP_1, &rakp1.build(), payload::RAKP_2)
            .ok_or(LoginError::NoAnswer("RAKP 1"))?;
        let r2 = RakpReply::parse(&body).ok_or(LoginError::NoAnswer("RAKP 1"))?;
        if r2.status != 0 {
            return Err(LoginError::Rakp2(r2.status));
        }
        let mut bmc_random = [0u8; 16];
        bmc_random.copy_from_slice(&r2.rest[..16]);
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&r2.rest[16..32]);
        let x = Exchange {
            console_session_id: self.console_session_id,
            bmc_session_id: self.bmc_session_id,
            console_random,
            bmc_random,
            bmc_guid: guid,
            role,
            user_name: user.as_bytes(),
        };
        if self.suite.rakp2_auth_code(&key, &x) != r2.rest[32..] {
            return Err(LoginError::Rakp2Forged);
        }
        let rakp3 = Rakp3 {
            message_tag: 3,
            status: 0,
            bmc_session_id: self.bmc_session_id,
            auth_code: self.suite.rakp3_auth_code(&key, &x),
        };
        let body = self
            .setup_exchange(payload::RAKP_3, &rakp3.build(), payload::RAKP_4)
            .ok_or(LoginError::NoAnswer("RAKP 3"))?;
        let r4 = RakpReply::parse(&body).ok_or(LoginError::NoAnswer("RAKP 3"))?;
        if r4.status != 0 {
            return Err(LoginError::Rakp4(r4.status));
        }
        let sik = self.suite.session_integrity_key(&key, &x);
        if self.suite.rakp4_icv(&sik, &x) != r4.rest {
            return Err(LoginError::Rakp4Forged);
        }
        self.keys = Some(SessionKeys::derive(self.suite, &sik));
        Ok(())
    }

    pub fn logged_in(bmc: &Bmc, suite: CipherSuite) -> Console {
        let mut c = Console::new(bmc.addr, suite);
        c.login(USER, PASSWORD, 0x14).unwrap();
        c
    }

    /// A request packet of this session with the next sequence numbers.
    pub fn request_packet(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Vec<u8> {
        self.rq_seq = (self.rq_seq + 1) % 64;
        let msg = wire::build_request(netfn, cmd, self.rq_seq, data);
        self.seal(&msg)
    }

    /// Wraps a message with the next session sequence number (a
    /// retransmission in ipmitool's manner when `msg` is reused).
    pub fn seal(&mut self, msg: &[u8]) -> Vec<u8> {
        self.seq += 1;
        let keys = self.keys.as_ref().expect("logged in");
        let encrypted = keys.encrypt(msg).unwrap();
        let sign = |c: &[u8]| keys.sign(c);
        wire::rmcp_plus_packet(
            payload::IPMI,
            true,
            self.bmc_session_id,
            self.seq,
            &encrypted,
            Some(&sign),
        )
    }

    /// The IPMI response inside a packet from the BMC, after checking it
    /// is for this session and signed with its keys.
    pub fn open(&self, packet: &[u8]) -> Option<(u8, CompletionCode, Vec<u8>)> {
        let Ok(Packet::RmcpPlus(p)) = wire::parse_packet(packet) else {
            return None;
        };
        let keys = self.keys.as_ref()?;
        if p.session_id != self.console_session_id || !keys.verify(p.signed, p.auth_code) {
            return None;
        }
        let plain = keys.decrypt(p.payload).ok()?;
        let r = wire::parse_response(&plain).ok()?;
        Some((r.rq_seq, r.completion_code, r.data.to_vec()))
    }

    pub fn recv_response(&self, wait: Duration) -> Option<(u8, CompletionCode, Vec<u8>)> {
        let packet = self.recv(wait)?;
        self.open(&packet)
    }

    pub fn request(
        &mut self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
    ) -> Option<(CompletionCode, Vec<u8>)> {
        let p = self.request_packet(netfn, cmd, data);
        self.send_raw(&p);
        self.recv_response(Duration::from_secs(10))
            .map(|(_, cc, d)| (cc, d))
    }
}
