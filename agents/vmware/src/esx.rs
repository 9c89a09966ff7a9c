//! `vmware_type=esx` (the default, and fence_vmware_soap): the agent
//! talks to vCenter or ESXi itself, over the vSphere Web Services API.
//!
//! connect = RetrieveServiceContent + Login; status = one VM's
//! runtime.powerState; set = PowerOnVM_Task / PowerOffVM_Task, the task
//! watched (and a blocking VM question answered) until it ends or the
//! command time is up; list = one paged ContainerView read; disconnect =
//! Logout.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use agent_framework::{
    logging, signals, Config, Deadline, Device, FenceError, Outlet, Plug, PowerState,
};

use crate::names;
use crate::settings::Settings;
use crate::vim25::client::Wanted;
use crate::vim25::transport::cleanup_timeout;
use crate::vim25::{self, Client, Elem, Error, FaultKind, Moref, Transport};

/// Failures before there is a session: the login message, with the cause.
fn login_error(e: Error) -> FenceError {
    match e {
        Error::Timeout(m) => FenceError::TimedOut(format!("logging in: {m}")),
        Error::Tls(m) => FenceError::LoginDenied(format!(
            "TLS: the server's certificate or host name could not be verified, or TLS failed \
             ({m}). Trust its CA (cacert, or the system trust store) or, knowingly, set \
             ssl_insecure"
        )),
        Error::Fault(f) => FenceError::LoginDenied(f.describe()),
        other => FenceError::LoginDenied(other.describe()),
    }
}

/// Failures on an open session.
fn session_error(e: Error, what: &str) -> FenceError {
    match e {
        Error::Fault(f) => match f.kind {
            FaultKind::NoPermission => {
                FenceError::InvalidPrivileges(format!("{what}: {}", f.describe()))
            }
            FaultKind::NotAuthenticated => {
                FenceError::ConnectionLost(format!("{what}: {} (the session ended)", f.describe()))
            }
            FaultKind::ManagedObjectNotFound => {
                FenceError::Status(format!("{what}: {}", f.describe()))
            }
            _ => FenceError::Device(format!("{what}: {}", f.describe())),
        },
        Error::Timeout(m) => FenceError::TimedOut(format!("{what}: {m}")),
        Error::Io(m) | Error::Connect(m) | Error::Tls(m) => {
            FenceError::ConnectionLost(format!("{what}: {m}"))
        }
        other => FenceError::Device(format!("{what}: {}", other.describe())),
    }
}

/// A power task this agent started and has not seen finish.
#[derive(Debug, Clone)]
struct Pending {
    task: Moref,
    on: bool,
    started: Instant,
}

impl Pending {
    fn method(&self) -> &'static str {
        if self.on {
            "PowerOnVM_Task"
        } else {
            "PowerOffVM_Task"
        }
    }
}

/// The datacenter `vmware_datacenter` names.
#[derive(Debug, Clone)]
struct Scope {
    dc: Moref,
    vm_folder: Moref,
}

/// A question a VM asks (runtime.question).
#[derive(Debug, Clone)]
struct Question {
    id: String,
    text: String,
    /// (key, label)
    choices: Vec<(String, String)>,
    default: Option<usize>,
}

impl Question {
    fn from_elem(e: &Elem) -> Option<Question> {
        let id = e.text_of("id")?.to_string();
        let mut text = e.text_of("text").unwrap_or("").to_string();
        if text.is_empty() {
            text = e
                .all("message")
                .filter_map(|m| m.text_of("text"))
                .collect::<Vec<_>>()
                .join(" ");
        }
        let choice = e.child("choice");
        let choices = choice
            .map(|c| {
                c.all("choiceInfo")
                    .map(|ci| {
                        (
                            ci.text_of("key").unwrap_or("").to_string(),
                            ci.text_of("label")
                                .or_else(|| ci.text_of("summary"))
                                .unwrap_or("")
                                .to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let default = choice
            .and_then(|c| c.text_of("defaultIndex"))
            .and_then(|d| d.parse::<usize>().ok());
        Some(Question {
            id,
            text,
            choices,
            default,
        })
    }

    fn choices_text(&self) -> String {
        self.choices
            .iter()
            .map(|(k, l)| format!("{k}={l:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub struct VsphereDevice {
    client: Client,
    datacenter: Option<String>,
    scope: Option<Option<Scope>>,
    /// Every VM in scope with its stored name: read once, on the first
    /// plug that needs it.
    names: Option<Vec<(Moref, String)>>,
    resolved: HashMap<String, Moref>,
    pending: HashMap<Moref, Pending>,
    answered: HashSet<String>,
    shell: Duration,
    logged_in: bool,
}

pub fn connect(cfg: &Config, deadline: Deadline) -> Result<Box<dyn Device>, FenceError> {
    let s = Settings::from_config(cfg)?;
    for unused in [
        "ssh",
        "ssh_options",
        "ssh_path",
        "identity_file",
        "port_as_ip",
        "exec",
        "gnutlscli_path",
    ] {
        if cfg.is_given(unused) {
            logging::debug(format!(
                "{unused} is accepted for compatibility and not used by the vSphere API"
            ));
        }
    }
    if s.tls == vim25::TlsPolicy::Insecure {
        logging::info("ssl_insecure: the server's TLS certificate and host name are NOT verified");
    }
    if s.tls == vim25::TlsPolicy::PlainHttp {
        logging::info("Plain HTTP: the password and the session travel unencrypted");
    }
    let transport = Transport::new(&s.endpoint, &s.tls, s.family).map_err(login_error)?;
    logging::debug(format!("Connecting to {}", transport.url()));
    let client = Client::connect(transport, deadline).map_err(login_error)?;
    let password = cfg.password().ok_or(FenceError::PasswordMissing)?;
    // Every way out logs out: disconnect() on the paths the framework
    // controls, this handler on SIGTERM and SIGINT. It is registered
    // before Login so that a signal during Login still closes the session
    // (a Logout without one only earns a NotAuthenticated fault).
    let t = client.transport.clone();
    let sm = client.sc.session_manager.clone();
    signals::on_interrupt(move || {
        match vim25::client::logout(&t, &sm, Deadline::after(Duration::from_secs(3))) {
            Ok(()) => logging::info("Logged out of the vSphere session"),
            Err(e) => logging::error(format!("Logout after the signal failed: {e}")),
        }
    });
    if let Err(e) = client.login(&s.username, password.expose(), deadline) {
        signals::clear();
        return Err(login_error(e));
    }
    logging::info(format!(
        "Logged in to {} ({}, {}) as {}",
        client.sc.full_name,
        client.sc.api_type,
        client.transport.url(),
        s.username
    ));
    Ok(Box::new(VsphereDevice {
        client,
        datacenter: s.datacenter,
        scope: None,
        names: None,
        resolved: HashMap::new(),
        pending: HashMap::new(),
        answered: HashSet::new(),
        shell: cfg.timeouts.shell.max(Duration::from_secs(1)),
        logged_in: true,
    }))
}

fn map_power(plug: &Plug, state: &str) -> Result<PowerState, FenceError> {
    match state {
        "poweredOn" => Ok(PowerState::On),
        // A suspended VM runs no code and writes nothing: fenced.
        "poweredOff" | "suspended" => Ok(PowerState::Off),
        other => Err(FenceError::Status(format!(
            "plug {plug}: unknown power state {other:?}"
        ))),
    }
}

impl VsphereDevice {
    fn dc_note(&self) -> String {
        match &self.datacenter {
            Some(dc) => format!(" in datacenter {dc:?}"),
            None => String::new(),
        }
    }

    /// The datacenter the search is limited to, found once.
    fn scope(&mut self, deadline: Deadline) -> Result<Option<Scope>, FenceError> {
        if let Some(s) = &self.scope {
            return Ok(s.clone());
        }
        let Some(name) = self.datacenter.clone() else {
            self.scope = Some(None);
            return Ok(None);
        };
        let what = format!("finding datacenter {name:?}");
        let path = if name.starts_with('/') {
            name.clone()
        } else {
            format!("/{}", names::escape(&name))
        };
        let mut dc = self
            .client
            .find_by_inventory_path(&path, deadline)
            .map_err(|e| session_error(e, &what))?
            .filter(|m| m.kind == "Datacenter");
        if dc.is_none() {
            // A datacenter inside a folder: search them all by name.
            let all = self
                .client
                .list_in_container(
                    &self.client.sc.root_folder,
                    "Datacenter",
                    &["name"],
                    deadline,
                )
                .map_err(|e| session_error(e, &what))?;
            let found: Vec<Moref> = all
                .iter()
                .filter(|o| o.text("name").map(|n| names::matches(n, &name)) == Some(true))
                .filter_map(|o| o.obj.clone())
                .collect();
            match found.len() {
                0 => {
                    return Err(FenceError::Status(format!(
                        "vmware_datacenter: there is no datacenter {name:?}"
                    )))
                }
                1 => dc = found.into_iter().next(),
                n => {
                    return Err(FenceError::AmbiguousPlug(format!(
                        "vmware_datacenter: {n} datacenters are named {name:?}; give its inventory path (/folder/{name})"
                    )))
                }
            }
        }
        let dc = dc.ok_or_else(|| FenceError::Status(what.clone()))?;
        let objs = self
            .client
            .retrieve(
                &[Wanted {
                    obj: &dc,
                    paths: &["vmFolder"],
                }],
                deadline,
            )
            .map_err(|e| session_error(e, &what))?;
        let vm_folder = objs
            .first()
            .and_then(|o| o.prop("vmFolder"))
            .and_then(Elem::as_moref)
            .ok_or_else(|| FenceError::Status(format!("{what}: it has no vmFolder")))?;
        logging::debug(format!(
            "Datacenter {name:?} is {}; searching under {}",
            dc.value, vm_folder.value
        ));
        let s = Scope { dc, vm_folder };
        self.scope = Some(Some(s.clone()));
        Ok(Some(s))
    }

    /// Every VM in scope with its stored name, read once per run.
    fn vm_names(&mut self, deadline: Deadline) -> Result<Vec<(Moref, String)>, FenceError> {
        if let Some(n) = &self.names {
            return Ok(n.clone());
        }
        let container = match self.scope(deadline)? {
            Some(s) => s.vm_folder,
            None => self.client.sc.root_folder.clone(),
        };
        let objs = self
            .client
            .list_in_container(&container, "VirtualMachine", &["name"], deadline)
            .map_err(|e| session_error(e, "listing virtual machines"))?;
        let list: Vec<(Moref, String)> = objs
            .into_iter()
            .filter_map(|o| {
                let name = o.text("name")?.to_string();
                Some((o.obj?, name))
            })
            .collect();
        logging::debug(format!("{} virtual machines in scope", list.len()));
        self.names = Some(list.clone());
        Ok(list)
    }

    /// The inventory path of an entity, for messages (escaped names, as
    /// FindByInventoryPath takes them).
    fn inventory_path(&self, m: &Moref, deadline: Deadline) -> String {
        let mut parts = Vec::new();
        let mut cur = m.clone();
        for _ in 0..64 {
            let objs = match self.client.retrieve(
                &[Wanted {
                    obj: &cur,
                    paths: &["name", "parent"],
                }],
                deadline,
            ) {
                Ok(o) => o,
                Err(_) => return format!("({})", m.value),
            };
            let Some(o) = objs.first() else { break };
            let parent = o.prop("parent").and_then(Elem::as_moref);
            match parent {
                Some(p) => {
                    parts.push(o.text("name").unwrap_or("?").to_string());
                    cur = p;
                }
                None => break,
            }
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    /// The one VM a plug names, or an error: none, or several (listed).
    fn resolve(&mut self, plug: &Plug, deadline: Deadline) -> Result<Moref, FenceError> {
        let text = plug.as_str();
        if let Some(m) = self.resolved.get(text) {
            return Ok(m.clone());
        }
        if !vim25::xml::is_xml_safe(text) {
            return Err(FenceError::usage(
                "Failed: the plug contains control characters",
            ));
        }
        let what = format!("finding plug {text:?}");
        let scope = self.scope(deadline)?;
        let mut found: Vec<Moref> = Vec::new();
        let push = |found: &mut Vec<Moref>, m: Moref| {
            if !found.contains(&m) {
                found.push(m);
            }
        };
        if text.starts_with('/') {
            let m = self
                .client
                .find_by_inventory_path(text, deadline)
                .map_err(|e| session_error(e, &what))?;
            match m {
                Some(m) if m.kind == "VirtualMachine" => {
                    if scope.is_some() {
                        let in_scope = self.vm_names(deadline)?.iter().any(|(v, _)| *v == m);
                        if !in_scope {
                            return Err(FenceError::Status(format!(
                                "plug {text:?} is not{}",
                                self.dc_note()
                            )));
                        }
                    }
                    push(&mut found, m);
                }
                Some(m) => {
                    return Err(FenceError::Status(format!(
                        "plug {text:?} is a {}, not a virtual machine",
                        m.kind
                    )))
                }
                None => {}
            }
        }
        if found.is_empty() {
            let all = self.vm_names(deadline)?;
            if names::is_uuid(text) {
                let dc = scope.as_ref().map(|s| &s.dc);
                for instance in [true, false] {
                    for m in self
                        .client
                        .find_all_vms_by_uuid(dc, text, instance, deadline)
                        .map_err(|e| session_error(e, &what))?
                    {
                        push(&mut found, m);
                    }
                }
            }
            if names::is_vm_moref(text) {
                if let Some((m, _)) = all.iter().find(|(m, _)| m.value == text) {
                    push(&mut found, m.clone());
                }
            }
            for (m, stored) in &all {
                if names::matches(stored, text) {
                    push(&mut found, m.clone());
                }
            }
        }
        match found.len() {
            0 => Err(FenceError::Status(format!(
                "no virtual machine matches plug {text:?}{}",
                self.dc_note()
            ))),
            1 => {
                let m = found.remove(0);
                logging::debug(format!("Plug {text:?} is {}", m.value));
                self.resolved.insert(text.to_string(), m.clone());
                Ok(m)
            }
            n => {
                let mut msg = format!(
                    "plug {text:?} matches {n} virtual machines{}; nothing was done. \
                     Use an inventory path, an instance UUID or a managed object id:",
                    self.dc_note()
                );
                for m in &found {
                    let path = self.inventory_path(m, deadline.at_least(Duration::from_secs(2)));
                    msg.push_str(&format!("\n  {path} ({})", m.value));
                }
                Err(FenceError::AmbiguousPlug(msg))
            }
        }
    }

    /// One read of a VM (power state and question) and of the power task
    /// this agent runs on it, if any: one call, whatever the inventory
    /// size. Answers a question that blocks our task; reports our task's
    /// failure.
    fn observe(
        &mut self,
        plug: &Plug,
        vm: &Moref,
        deadline: Deadline,
    ) -> Result<PowerState, FenceError> {
        let pending = self.pending.get(vm).cloned();
        let mut wanted = vec![Wanted {
            obj: vm,
            paths: &["runtime.powerState", "runtime.question"],
        }];
        if let Some(p) = &pending {
            wanted.push(Wanted {
                obj: &p.task,
                paths: &["info.state", "info.error"],
            });
        }
        let objs = match self.client.retrieve(&wanted, deadline) {
            Ok(o) => o,
            // The task object is gone (vCenter forgets finished tasks after
            // a while): read the VM alone; its state is what counts.
            Err(Error::Fault(f))
                if f.kind == FaultKind::ManagedObjectNotFound
                    && pending
                        .as_ref()
                        .map(|p| Some(&p.task) == f.detail_moref("obj").as_ref())
                        == Some(true) =>
            {
                logging::debug(format!("Plug {plug}: task {} is gone", f.describe()));
                self.pending.remove(vm);
                return self.observe(plug, vm, deadline);
            }
            Err(e) => {
                return Err(session_error(
                    e,
                    &format!("reading the state of plug {plug}"),
                ))
            }
        };
        let vm_obj = objs
            .iter()
            .find(|o| o.obj.as_ref() == Some(vm))
            .ok_or_else(|| {
                FenceError::Status(format!(
                    "plug {plug}: the server returned no state for {}",
                    vm.value
                ))
            })?;
        let state = match vm_obj.text("runtime.powerState") {
            Some(s) => s.to_string(),
            None => {
                let why = vm_obj
                    .missing
                    .iter()
                    .map(|(p, f)| format!("{p}: {f}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(FenceError::Status(format!(
                    "plug {plug}: runtime.powerState could not be read{}",
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({why})")
                    }
                )));
            }
        };
        let question = vm_obj
            .prop("runtime.question")
            .and_then(Question::from_elem);
        if let Some(q) = question {
            self.handle_question(plug, vm, &q, pending.is_some(), deadline)?;
        }
        if let Some(p) = pending {
            if let Some(t) = objs.iter().find(|o| o.obj.as_ref() == Some(&p.task)) {
                match t.text("info.state") {
                    Some("success") => {
                        logging::debug(format!(
                            "{} on plug {plug} succeeded after {:.1} s",
                            p.method(),
                            p.started.elapsed().as_secs_f32()
                        ));
                        self.pending.remove(vm);
                    }
                    Some("error") => {
                        self.pending.remove(vm);
                        let fault = t
                            .prop("info.error")
                            .map(vim25::Fault::from_localized)
                            .unwrap_or(vim25::Fault {
                                kind: FaultKind::Other("UnknownFault".into()),
                                message: String::new(),
                                detail: None,
                            });
                        if fault.kind == FaultKind::InvalidPowerState {
                            logging::debug(format!(
                                "{} on plug {plug}: {}",
                                p.method(),
                                fault.describe()
                            ));
                        } else {
                            return Err(session_error(
                                Error::Fault(Box::new(fault)),
                                &format!("{} on plug {plug} failed", p.method()),
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        map_power(plug, &state)
    }

    fn handle_question(
        &mut self,
        plug: &Plug,
        vm: &Moref,
        q: &Question,
        ours: bool,
        deadline: Deadline,
    ) -> Result<(), FenceError> {
        if self.answered.contains(&q.id) {
            return Ok(());
        }
        if !ours {
            logging::warning(format!(
                "Plug {plug}: the VM asks {:?} (choices {}); not answered, since this agent did \
                 not start the task it blocks",
                q.text,
                q.choices_text()
            ));
            self.answered.insert(q.id.clone());
            return Ok(());
        }
        let Some((key, label)) = q.default.and_then(|i| q.choices.get(i)).cloned() else {
            return Err(FenceError::Device(format!(
                "plug {plug}: the power operation is blocked by the VM question {:?}, which has \
                 no default answer (choices {}); answer it in the vSphere client",
                q.text,
                q.choices_text()
            )));
        };
        if let Err(e) = self.client.answer_vm(vm, &q.id, &key, deadline) {
            let cause = e.describe();
            return Err(match e.fault_kind() {
                Some(FaultKind::NoPermission) => FenceError::InvalidPrivileges(format!(
                    "plug {plug}: the power operation is blocked by the VM question {:?}, and \
                     answering it failed: {cause}",
                    q.text
                )),
                _ => FenceError::Device(format!(
                    "plug {plug}: the power operation is blocked by the VM question {:?}, and \
                     answering it with {label:?} failed: {cause}",
                    q.text
                )),
            });
        }
        logging::warning(format!(
            "Plug {plug}: the VM asked {:?}; answered with its default choice {label:?} (key {key})",
            q.text
        ));
        self.answered.insert(q.id.clone());
        Ok(())
    }

    /// Waits (within `until`) for a task this agent did not start.
    fn wait_foreign_task(&self, task: &Moref, until: Deadline, deadline: Deadline) {
        while !until.expired() {
            let objs = self.client.retrieve(
                &[Wanted {
                    obj: task,
                    paths: &["info.state"],
                }],
                deadline,
            );
            match objs {
                Ok(o) => match o.first().and_then(|o| o.text("info.state")) {
                    Some("queued") | Some("running") => {}
                    _ => return,
                },
                Err(_) => return,
            }
            std::thread::sleep(Duration::from_millis(300).min(until.remaining()));
        }
    }

    fn start_task(
        &mut self,
        plug: &Plug,
        vm: &Moref,
        on: bool,
        deadline: Deadline,
    ) -> Result<Option<Moref>, FenceError> {
        let method = if on {
            "PowerOnVM_Task"
        } else {
            "PowerOffVM_Task"
        };
        let what = format!("{method} on plug {plug}");
        let mut retried = false;
        loop {
            match self.client.power(vm, on, deadline) {
                Ok(t) => return Ok(Some(t)),
                Err(Error::Fault(f)) if f.kind == FaultKind::InvalidPowerState => {
                    logging::debug(format!("{what}: {}", f.describe()));
                    return Ok(None);
                }
                Err(Error::Fault(f)) if f.kind == FaultKind::TaskInProgress && !retried => {
                    logging::info(format!(
                        "{what}: another task is running on the VM; waiting for it ({})",
                        f.describe()
                    ));
                    if let Some(other) = f.detail_moref("task") {
                        self.wait_foreign_task(&other, deadline.within(self.shell), deadline);
                    }
                    retried = true;
                }
                Err(e) => return Err(session_error(e, &what)),
            }
        }
    }
}

impl Device for VsphereDevice {
    fn power_state(&mut self, plug: &Plug, deadline: Deadline) -> Result<PowerState, FenceError> {
        let vm = self.resolve(plug, deadline)?;
        self.observe(plug, &vm, deadline)
    }

    fn set_power(
        &mut self,
        plug: &Plug,
        target: PowerState,
        deadline: Deadline,
    ) -> Result<(), FenceError> {
        let vm = self.resolve(plug, deadline)?;
        let on = target == PowerState::On;
        let Some(task) = self.start_task(plug, &vm, on, deadline)? else {
            return Ok(());
        };
        logging::debug(format!("Plug {plug}: task {} started", task.value));
        let p = Pending {
            task,
            on,
            started: Instant::now(),
        };
        self.pending.insert(vm.clone(), p.clone());
        // Watch the task for up to one command time: its failure, or a
        // question blocking it, is reported here; a task still running
        // after that is left to the framework's verification of the
        // power state (which keeps watching it through observe()).
        let watch = deadline.within(self.shell);
        loop {
            self.observe(plug, &vm, deadline)?;
            if !self.pending.contains_key(&vm) {
                return Ok(());
            }
            let nap = Duration::from_millis(250).min(watch.remaining());
            if !nap.is_zero() {
                std::thread::sleep(nap);
            }
            if watch.expired() {
                logging::info(format!(
                    "Plug {plug}: {} still running after {:.1} s; verifying the power state",
                    p.method(),
                    p.started.elapsed().as_secs_f32()
                ));
                return Ok(());
            }
        }
    }

    fn list(&mut self, with_status: bool, deadline: Deadline) -> Result<Vec<Outlet>, FenceError> {
        let container = match self.scope(deadline)? {
            Some(s) => s.vm_folder,
            None => self.client.sc.root_folder.clone(),
        };
        let mut paths = vec!["name", "config.instanceUuid"];
        if with_status {
            paths.push("runtime.powerState");
        }
        let objs = self
            .client
            .list_in_container(&container, "VirtualMachine", &paths, deadline)
            .map_err(|e| session_error(e, "listing virtual machines"))?;
        let mut out: Vec<Outlet> = objs
            .iter()
            .filter_map(|o| {
                let name = names::unescape(o.text("name")?);
                let alias = o
                    .text("config.instanceUuid")
                    .map(str::to_string)
                    .or_else(|| o.obj.as_ref().map(|m| m.value.clone()))
                    .unwrap_or_default();
                let status = if with_status {
                    match o.text("runtime.powerState") {
                        Some("poweredOn") => Some(PowerState::On),
                        Some("poweredOff") | Some("suspended") => Some(PowerState::Off),
                        _ => None,
                    }
                } else {
                    None
                };
                Some(Outlet {
                    id: name,
                    alias,
                    status,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.id, &a.alias).cmp(&(&b.id, &b.alias)));
        Ok(out)
    }

    fn monitor(&mut self, _deadline: Deadline) -> Result<(), FenceError> {
        // Logging in was the check; disconnect() logs out.
        Ok(())
    }

    fn disconnect(&mut self) {
        if !self.logged_in {
            return;
        }
        for (vm, p) in self.pending.drain() {
            // Info, not warning: the failure line must stay the first one
            // on stderr.
            logging::info(format!(
                "{} {} on {} was still running after {:.1} s when the agent stopped watching it; \
                 it may still complete",
                p.method(),
                p.task.value,
                vm.value,
                p.started.elapsed().as_secs_f32()
            ));
        }
        match self
            .client
            .logout(Deadline::after(cleanup_timeout(self.shell)))
        {
            Ok(()) => logging::debug("Logged out"),
            Err(e) => logging::warning(format!("Logout failed: {e}")),
        }
        self.logged_in = false;
    }
}

impl Drop for VsphereDevice {
    fn drop(&mut self) {
        self.disconnect();
    }
}
