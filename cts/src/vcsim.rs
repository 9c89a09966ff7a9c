//! VMware's vSphere simulator (govmomi), built from cts/vcsim and run on loopback.
//!
//! The binary is built once per test process (`cts/vcsim/build.sh` into
//! target/cts/vcsim, or `CTS_VCSIM` names a ready one); each [`Vcsim`] is
//! one simulator process with its own state directory, stopped on drop.
//! VM state is read and changed through the simulator's plain-HTTP
//! control endpoint, never through an agent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{repo_root, TempDir};

/// The simulator binary, built on first use.
pub fn binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("CTS_VCSIM") {
            return Ok(PathBuf::from(p));
        }
        let out = repo_root().join("target/cts/vcsim");
        let status = Command::new("sh")
            .arg(repo_root().join("cts/vcsim/build.sh"))
            .env("OUT", &out)
            .status()
            .map_err(|e| format!("cannot run cts/vcsim/build.sh: {e}"))?;
        if !status.success() {
            return Err(format!("cts/vcsim/build.sh failed: {status}"));
        }
        Ok(out)
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Whether the Go toolchain and govmomi's source are installed.
pub fn available() -> bool {
    std::env::var("CTS_VCSIM").is_ok()
        || (Path::new("/usr/share/gocode/src/github.com/vmware/govmomi").is_dir()
            && Command::new("go")
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false))
}

pub const USER: &str = "fenceuser";
pub const PASSWORD: &str = "s3cret pass";

/// How to start a simulator.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The address to listen on; 127.0.0.1 when None. Another loopback
    /// address (127.0.0.2) is one the certificate does not name.
    pub listen: Option<String>,
    pub plain_http: bool,
    pub esx: bool,
    pub slow_seconds: Option<u32>,
    /// `-extra-vms N`: N more VMs (extra-00001...), spread over every host
    /// and over folders of at most 500 (cts/vcsim/rest.go).
    pub extra_vms: Option<u32>,
    /// `-key-type`: the key of the HTTPS certificate and of its CA,
    /// "rsa2048" or "ecdsa" (P-256, the simulator's default).
    pub key_type: Option<&'static str>,
}

/// One VM as inventory.json lists it.
#[derive(Debug, Clone)]
pub struct VmInfo {
    pub name: String,
    pub moref: String,
    pub path: String,
    pub instance_uuid: String,
    pub bios_uuid: String,
    pub datacenter: String,
}

/// A VM's state as the control endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmState {
    pub name: String,
    pub moref: String,
    pub power: String,
    /// runtime.connectionState
    pub connection: String,
    /// config.template
    pub template: bool,
    pub question: bool,
    pub bios_uuid: String,
    pub instance_uuid: String,
    pub host: String,
    pub host_connection: String,
    pub datacenter: String,
    pub path: String,
}

impl VmState {
    fn from_json(v: &Value) -> VmState {
        let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        VmState {
            name: text(v, "name"),
            moref: text(v, "moref"),
            power: text(v, "power"),
            connection: text(v, "connection"),
            template: flag("template"),
            question: flag("question"),
            bios_uuid: text(v, "bios_uuid"),
            instance_uuid: text(v, "instance_uuid"),
            host: text(v, "host"),
            host_connection: text(v, "host_connection"),
            datacenter: text(v, "datacenter"),
            path: text(v, "path"),
        }
    }
}

/// One AnswerVM the simulator accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub vm: String,
    pub question_id: String,
    pub message_id: String,
    pub choice: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sessions {
    pub logins: u64,
    pub logouts: u64,
    pub active: u64,
}

pub struct Vcsim {
    child: Child,
    dir: TempDir,
    pub url: String,
    pub port: u16,
    pub control: String,
    pub inventory: Vec<VmInfo>,
}

fn text(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

impl Vcsim {
    /// A simulator started with `opts`, or None where none can run (the
    /// test is then skipped, loudly; under CI it fails).
    pub fn start_if_available(opts: Options) -> Option<Vcsim> {
        if crate::support::skip_unless(
            available(),
            "the vSphere simulator needs Go and golang-github-vmware-govmomi-dev",
        ) {
            return None;
        }
        Some(Vcsim::start_with(opts))
    }

    pub fn start() -> Vcsim {
        Vcsim::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Vcsim {
        let dir = TempDir::new("vcsim");
        let mut cmd = Command::new(binary());
        let listen = opts.listen.clone().unwrap_or_else(|| "127.0.0.1:0".into());
        cmd.args(["-listen", &listen, "-control", "127.0.0.1:0"])
            .arg("-state-dir")
            .arg(dir.path());
        if opts.plain_http {
            cmd.arg("-plain-http");
        }
        if opts.esx {
            cmd.arg("-esx");
        }
        if let Some(s) = opts.slow_seconds {
            cmd.args(["-slow-seconds", &s.to_string()]);
        }
        if let Some(n) = opts.extra_vms {
            cmd.args(["-extra-vms", &n.to_string()]);
        }
        if let Some(k) = opts.key_type {
            cmd.args(["-key-type", k]);
        }
        let log = std::fs::File::create(dir.path().join("vcsim.log")).expect("vcsim log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start vcsim");
        let ready = dir.path().join("ready.json");
        let started = Instant::now();
        let mut sim = Vcsim {
            child,
            dir,
            url: String::new(),
            port: 0,
            control: String::new(),
            inventory: Vec::new(),
        };
        let info: Value = loop {
            if let Ok(t) = std::fs::read_to_string(&ready) {
                if let Ok(v) = serde_json::from_str(&t) {
                    break v;
                }
            }
            if let Ok(Some(status)) = sim.child.try_wait() {
                panic!(
                    "vcsim exited ({status}) before it was ready:\n{}",
                    sim.log()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "vcsim not ready after 60 s:\n{}",
                sim.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        sim.url = text(&info, "url");
        sim.port = info.get("port").and_then(Value::as_u64).unwrap_or(0) as u16;
        sim.control = text(&info, "control");
        let inv: Value = serde_json::from_str(
            &std::fs::read_to_string(sim.dir.path().join("inventory.json")).expect("inventory"),
        )
        .expect("inventory.json");
        sim.inventory = inv
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| VmInfo {
                        name: text(v, "name"),
                        moref: text(v, "moref"),
                        path: text(v, "path"),
                        instance_uuid: text(v, "instance_uuid"),
                        bios_uuid: text(v, "bios_uuid"),
                        datacenter: text(v, "datacenter"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        sim
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("vcsim.log")).unwrap_or_default()
    }

    /// The CA certificate a client must trust.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The one VM of this name (in this datacenter); panics otherwise.
    pub fn vm(&self, name: &str, dc: Option<&str>) -> &VmInfo {
        let found: Vec<&VmInfo> = self
            .inventory
            .iter()
            .filter(|v| v.name == name && dc.map(|d| v.datacenter == d).unwrap_or(true))
            .collect();
        assert_eq!(found.len(), 1, "VMs named {name:?} in {dc:?}: {found:?}");
        found[0]
    }

    fn get(&self, path: &str) -> Value {
        let url = format!("http://{}{path}", self.control);
        let resp = ureq::get(&url)
            .timeout(Duration::from_secs(10))
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        serde_json::from_str(&resp.into_string().expect("body")).expect("json")
    }

    fn post(&self, path: &str) -> Value {
        let url = format!("http://{}{path}", self.control);
        let resp = ureq::post(&url)
            .timeout(Duration::from_secs(10))
            .call()
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        serde_json::from_str(&resp.into_string().expect("body")).expect("json")
    }

    fn vms(&self, query: &str) -> Vec<VmState> {
        self.get(&format!("/vm{query}"))
            .as_array()
            .map(|a| a.iter().map(VmState::from_json).collect())
            .unwrap_or_default()
    }

    /// Every VM of this name, as the simulator sees it now.
    pub fn states(&self, name: &str) -> Vec<VmState> {
        self.vms(&format!("?name={}", encode(name)))
    }

    /// Every VM, as the simulator sees it now.
    pub fn all_states(&self) -> Vec<VmState> {
        self.vms("")
    }

    /// One VM by moref, as the simulator sees it now.
    pub fn state(&self, moref: &str) -> VmState {
        self.vms(&format!("?moref={}", encode(moref)))
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no VM {moref}"))
    }

    /// `poweredOn` / `poweredOff` / `suspended` of a VM by moref.
    pub fn power(&self, moref: &str) -> String {
        self.state(moref).power
    }

    pub fn question(&self, moref: &str) -> bool {
        self.state(moref).question
    }

    pub fn set_power(&self, moref: &str, state: &str) {
        self.post(&format!("/vm/power?moref={}&state={state}", encode(moref)));
    }

    /// runtime.connectionState of a VM: connected, disconnected, orphaned,
    /// inaccessible or invalid.
    pub fn set_connection(&self, moref: &str, state: &str) {
        self.post(&format!(
            "/vm/connection?moref={}&state={state}",
            encode(moref)
        ));
    }

    /// runtime.connectionState of a host: connected, disconnected or
    /// notResponding.
    pub fn set_host_connection(&self, host: &str, state: &str) {
        self.post(&format!(
            "/host/connection?moref={}&state={state}",
            encode(host)
        ));
    }

    pub fn set_template(&self, moref: &str, template: bool) {
        self.post(&format!(
            "/vm/template?moref={}&template={template}",
            encode(moref)
        ));
    }

    /// The question the VM's next power-on raises: moved-or-copied,
    /// serial-file, out-of-space, or none.
    pub fn ask_on_power_on(&self, moref: &str, kind: &str) {
        self.post(&format!(
            "/vm/question-kind?moref={}&kind={kind}",
            encode(moref)
        ));
    }

    /// Every AnswerVM the simulator accepted, in order.
    pub fn answers(&self) -> Vec<Answer> {
        self.get("/answers")
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| Answer {
                        vm: text(v, "vm"),
                        question_id: text(v, "question_id"),
                        message_id: text(v, "message_id"),
                        choice: text(v, "choice"),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ends every session, as an administrator's TerminateSession would
    /// (not counted as logouts).
    pub fn terminate_sessions(&self) {
        self.post("/sessions/terminate");
    }

    pub fn sessions(&self) -> Sessions {
        let v = self.get("/sessions");
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        Sessions {
            logins: n("logins"),
            logouts: n("logouts"),
            active: n("active"),
        }
    }

    pub fn calls(&self) -> HashMap<String, u64> {
        self.counts("/calls")
    }

    /// A control endpoint's {"name": count, ...}.
    fn counts(&self, path: &str) -> HashMap<String, u64> {
        let v = self.get(path);
        v.as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Vcsim {
    fn drop(&mut self) {
        // SIGTERM first: the simulator removes its datastore directories.
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encoding for a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Counters of the vSphere Automation API's sessions (/rest and /api share
/// them), kept apart from SOAP's [`Sessions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestSessions {
    pub logins: u64,
    pub logouts: u64,
    pub active: u64,
    /// Logins refused with 503 because the user had `limit` sessions.
    pub refused: u64,
    pub limit: u64,
}

/// The REST side of the simulator (cts/vcsim/rest.go): its address and the
/// control endpoint's `/rest/...` knobs.
impl Vcsim {
    /// `http(s)://127.0.0.1:PORT`: /rest and /api are served beside /sdk.
    pub fn base_url(&self) -> String {
        self.url.trim_end_matches("/sdk").to_string()
    }

    pub fn rest_sessions(&self) -> RestSessions {
        let v = self.get("/rest/sessions");
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        RestSessions {
            logins: n("logins"),
            logouts: n("logouts"),
            active: n("active"),
            refused: n("refused"),
            limit: n("limit"),
        }
    }

    /// Ends every REST session, as vCenter's idle timeout would; returns how
    /// many there were.
    pub fn expire_rest_sessions(&self) -> u64 {
        let v = self.post("/rest/sessions/expire");
        v.get("expired").and_then(Value::as_u64).unwrap_or(0)
    }

    /// Per-user REST session limit (vCenter's is 550); logins beyond it
    /// get 503.
    pub fn set_rest_session_limit(&self, max: u32) {
        self.post(&format!("/rest/sessions/limit?max={max}"));
    }

    /// Whether /api is served; without it every /api URL answers 404, as
    /// on a vCenter before 7.0 U2 (/rest is served either way).
    pub fn set_rest_api_enabled(&self, enabled: bool) {
        self.post(&format!("/rest/api?enabled={enabled}"));
    }

    /// Whether /sdk (vim25) is served; without it /sdk answers 404, as
    /// behind a proxy that forwards only the Automation API.
    pub fn set_sdk_enabled(&self, enabled: bool) {
        self.post(&format!("/rest/sdk?enabled={enabled}"));
    }

    /// Whether `user` may log in to vim25 (its REST login works either
    /// way).
    pub fn set_soap_login_allowed(&self, user: &str, allowed: bool) {
        self.post(&format!(
            "/rest/soap-login?user={}&allowed={allowed}",
            encode(user)
        ));
    }

    /// The next `count` calls of `call` ("METHOD /route", as
    /// [`Vcsim::rest_calls`] names them) are held `delay`, then served.
    pub fn delay_rest(&self, call: &str, count: u32, delay: Duration) {
        self.post(&format!(
            "/rest/delay?call={}&count={count}&ms={}",
            encode(call),
            delay.as_millis()
        ));
    }

    /// REST calls served, keyed "METHOD /route" (`GET /rest/vcenter/vm`,
    /// `POST /api/vcenter/vm/{vm}/power`).
    pub fn rest_calls(&self) -> HashMap<String, u64> {
        self.counts("/rest/calls")
    }

    /// The list caps: resource (vm, host, folder, datacenter) -> (/rest,
    /// /api).
    pub fn rest_caps(&self) -> HashMap<String, (u64, u64)> {
        let v = self.get("/rest/caps");
        let caps = v.as_object().cloned().unwrap_or_default();
        caps.iter()
            .map(|(k, c)| {
                let n = |d: &str| c.get(d).and_then(Value::as_u64).unwrap_or(0);
                (k.clone(), (n("rest"), n("api")))
            })
            .collect()
    }

    /// Changes a list cap, so a test can reach it with a small inventory.
    pub fn set_rest_cap(&self, resource: &str, rest: u32, api: u32) {
        self.post(&format!(
            "/rest/caps?resource={}&rest={rest}&api={api}",
            encode(resource)
        ));
    }
}

/// Faults on cue (cts/vcsim/faults.go): what a vCenter in trouble answers.
impl Vcsim {
    /// The next `count` calls of SOAP `method` get HTTP `status` with a
    /// SOAP fault of vim25 type `fault` saying `text`, never reaching the
    /// simulator.
    pub fn fail_soap_with_fault(
        &self,
        method: &str,
        count: u32,
        status: u16,
        fault: &str,
        text: &str,
    ) {
        self.post(&format!(
            "/faults/soap?method={}&count={count}&status={status}&fault={}&text={}",
            encode(method),
            encode(fault),
            encode(text)
        ));
    }

    /// The next `count` calls of SOAP `method` get HTTP `status` with
    /// `text` as a plain body (none when empty).
    pub fn fail_soap_with_text(&self, method: &str, count: u32, status: u16, text: &str) {
        self.post(&format!(
            "/faults/soap?method={}&count={count}&status={status}&text={}",
            encode(method),
            encode(text)
        ));
    }

    /// The next `count` calls of SOAP `method` find their session ended
    /// (not counted as a logout).
    pub fn expire_session_at(&self, method: &str, count: u32) {
        self.post(&format!(
            "/faults/soap?method={}&count={count}&expire=1",
            encode(method)
        ));
    }

    /// The next `count` calls of SOAP `method` are held `delay`, then
    /// served as usual.
    pub fn delay_soap(&self, method: &str, count: u32, delay: Duration) {
        self.post(&format!(
            "/faults/soap?method={}&count={count}&delay_ms={}",
            encode(method),
            delay.as_millis()
        ));
    }

    /// The VM's next power call: `fail` (a task that fails), `hang` (a task
    /// that never ends) or `delete` (the VM destroyed just before).
    pub fn next_power(&self, moref: &str, what: &str) {
        self.post(&format!("/vm/next-power?moref={}&do={what}", encode(moref)));
    }
}
