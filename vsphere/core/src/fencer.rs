//! The rules of fencing one vSphere VM, on any [`Backend`]: which VM a
//! plug means, what state may be believed, how a power operation is
//! started and watched, which questions are answered.
//!
//! - A plug is resolved on its own, by every form it may have (inventory
//!   path; else instance or BIOS UUID, managed object id and name, all
//!   tried): exactly one VM must answer, or nothing is done and the
//!   matches are named.
//! - A state counts only when the device vouches for it ([`state::vouch`]),
//!   in every read, not only the first.
//! - A power task is watched for up to one command time; its failure, or a
//!   question blocking it, is reported then; the framework verifies the
//!   state afterwards, and later reads keep watching the task.
//! - A session that ended is logged into again, once per call.
//! - A guest shutdown and the boot order (fencer_operations.rs) go by the
//!   same lookup and the same vouching.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use agent_framework::{logging, Deadline, FenceError, Outlet, Plug, PowerState};

use crate::backend::{Backend, Candidate, Lookup, PowerOp, Started, TaskId, VmId};
use crate::error::{session_failure, BackendError};
use crate::names;
use crate::question::{self, Decision, Question};
use crate::state::{self, Refusal, TaskState, VmReading};

/// What the fencer needs to know beside the backend.
#[derive(Debug, Clone)]
pub struct FencerOptions {
    /// The datacenter the backend searches (`vmware_datacenter`), for
    /// messages.
    pub datacenter: Option<String>,
    /// How long one command may take (`shell_timeout`): the time a power
    /// task is watched before the framework's verification takes over, and
    /// the wait for another task holding the VM.
    pub command_timeout: Duration,
}

/// A power task this fencer started and has not seen finish.
#[derive(Debug, Clone)]
struct Pending {
    task: TaskId,
    op: PowerOp,
    started: Instant,
}

/// What the device says of a VM's power: a state it vouches for, or why
/// it cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Vouched(PowerState),
    NotVouched(Refusal),
}

pub struct Fencer<B: Backend> {
    backend: B,
    options: FencerOptions,
    resolved: HashMap<String, VmId>,
    pending: HashMap<VmId, Pending>,
    /// Questions already reported or answered, by question id: each is
    /// dealt with once.
    seen_questions: HashSet<String>,
    logged_in: bool,
}

/// How long a best-effort call (logging out on the way out) may take.
pub fn cleanup_timeout(command: Duration) -> Duration {
    command.clamp(Duration::from_secs(2), Duration::from_secs(4))
}

const TASK_POLL: Duration = Duration::from_millis(250);

impl<B: Backend> Fencer<B> {
    /// A fencer on a backend that is logged in.
    pub fn new(backend: B, options: FencerOptions) -> Fencer<B> {
        Fencer {
            backend,
            options,
            resolved: HashMap::new(),
            pending: HashMap::new(),
            seen_questions: HashSet::new(),
            logged_in: true,
        }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Forget every plug resolved so far: a long-running user resolves
    /// again after the inventory may have changed.
    pub fn forget_plugs(&mut self) {
        self.resolved.clear();
    }

    /// Runs a backend call; if the session ended, logs in again and runs
    /// it once more.
    fn with_session<T>(
        &mut self,
        deadline: Deadline,
        mut call: impl FnMut(&mut B) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        match call(&mut self.backend) {
            Err(BackendError::NotAuthenticated(m)) => {
                logging::info(format!("The session ended ({m}); logging in again"));
                self.backend.login(deadline)?;
                call(&mut self.backend)
            }
            other => other,
        }
    }

    fn scope_note(&self) -> String {
        match &self.options.datacenter {
            Some(dc) => format!(" in datacenter {dc:?}"),
            None => String::new(),
        }
    }

    fn lookup(
        &mut self,
        plug: &str,
        how: Lookup<'_>,
        deadline: Deadline,
    ) -> Result<Vec<Candidate>, FenceError> {
        match self.with_session(deadline, |b| b.find(how, deadline)) {
            Ok(c) => Ok(c),
            Err(BackendError::Unsupported(_)) => Ok(Vec::new()),
            Err(BackendError::WrongKind(kind)) => Err(FenceError::Status(format!(
                "plug {plug:?} is a {kind}, not a virtual machine"
            ))),
            Err(e) => Err(session_failure(e, &format!("finding plug {plug:?}"))),
        }
    }

    /// The one VM a plug names, or an error: none, or several (named, with
    /// their inventory paths where the backend has them).
    pub fn resolve(&mut self, plug: &Plug, deadline: Deadline) -> Result<VmId, FenceError> {
        let text = plug.as_str();
        if let Some(vm) = self.resolved.get(text) {
            return Ok(vm.clone());
        }
        if !agent_framework::xml_escape::is_representable(text) {
            return Err(FenceError::usage(
                "Failed: the plug contains control characters",
            ));
        }
        let mut found: Vec<VmId> = Vec::new();
        let add = |found: &mut Vec<VmId>, vm: VmId| {
            if !found.contains(&vm) {
                found.push(vm);
            }
        };
        if text.starts_with('/') {
            for c in self.lookup(text, Lookup::InventoryPath(text), deadline)? {
                add(&mut found, c.id);
            }
        }
        // An inventory path is exact; any other plug may be several things
        // at once (a VM may be named like another's id), and all count.
        if found.is_empty() {
            if names::is_uuid(text) {
                for c in self.lookup(text, Lookup::Uuid(text), deadline)? {
                    add(&mut found, c.id);
                }
            }
            if names::is_vm_moref(text) {
                for c in self.lookup(text, Lookup::Id(text), deadline)? {
                    if c.id.0 == text {
                        add(&mut found, c.id);
                    }
                }
            }
            for c in self.lookup(text, Lookup::Name(text), deadline)? {
                if c.name.as_deref().map(|n| names::matches(n, text)) == Some(true) {
                    add(&mut found, c.id);
                }
            }
        }
        match found.len() {
            0 => Err(FenceError::Status(format!(
                "no virtual machine matches plug {text:?}{}",
                self.scope_note()
            ))),
            1 => {
                let vm = found.remove(0);
                logging::debug(format!("Plug {text:?} is {vm}"));
                self.resolved.insert(text.to_string(), vm.clone());
                Ok(vm)
            }
            n => {
                let mut msg = format!(
                    "plug {text:?} matches {n} virtual machines{}; nothing was done. {}:",
                    self.scope_note(),
                    self.backend.unambiguous_plug_forms()
                );
                let naming = deadline.at_least(Duration::from_secs(2));
                for vm in &found {
                    match self.backend.inventory_path(vm, naming) {
                        Some(path) => msg.push_str(&format!("\n  {path} ({vm})")),
                        None => msg.push_str(&format!("\n  {vm}")),
                    }
                }
                Err(FenceError::AmbiguousPlug(msg))
            }
        }
    }

    /// One read of the VM and of the power task this fencer runs on it:
    /// the task's end noted (its failure reported), a question blocking it
    /// dealt with, and the state judged.
    fn observe(
        &mut self,
        plug: &Plug,
        vm: &VmId,
        deadline: Deadline,
    ) -> Result<Status, FenceError> {
        let pending = self.pending.get(vm).cloned();
        let task = pending.as_ref().map(|p| p.task.clone());
        let reading = self
            .with_session(deadline, |b| b.read(vm, task.as_ref(), deadline))
            .map_err(|e| session_failure(e, &format!("reading the state of plug {plug}")))?;
        if let Some(p) = &pending {
            self.note_task(plug, vm, p, &reading)?;
        }
        if let Some(q) = &reading.question {
            self.handle_question(plug, vm, q, pending.is_some(), deadline)?;
        }
        match state::vouch(&reading) {
            Ok(s) => Ok(Status::Vouched(s)),
            Err(mut refusal) => {
                if let Refusal::NotConnected {
                    host: Some(host),
                    host_reading,
                    ..
                } = &mut refusal
                {
                    let h = host.clone();
                    *host_reading = self
                        .with_session(deadline, |b| b.read_host(&h, deadline))
                        .map_err(|e| logging::debug(format!("Reading host {}: {e}", h.0)))
                        .ok();
                }
                Ok(Status::NotVouched(refusal))
            }
        }
    }

    fn note_task(
        &mut self,
        plug: &Plug,
        vm: &VmId,
        p: &Pending,
        reading: &VmReading,
    ) -> Result<(), FenceError> {
        let what = format!("powering plug {plug} {} (task {})", p.op.word(), p.task);
        match &reading.task {
            Some(TaskState::Succeeded) => {
                logging::debug(format!(
                    "{what} succeeded after {:.1} s",
                    p.started.elapsed().as_secs_f32()
                ));
                self.pending.remove(vm);
            }
            Some(TaskState::Gone) => {
                logging::debug(format!("{what}: the device no longer knows the task"));
                self.pending.remove(vm);
            }
            Some(TaskState::Failed(BackendError::AlreadyInState(m))) => {
                logging::debug(format!("{what}: {m}"));
                self.pending.remove(vm);
            }
            Some(TaskState::Failed(e)) => {
                self.pending.remove(vm);
                return Err(session_failure(e.clone(), &format!("{what} failed")));
            }
            Some(TaskState::Running) | None => {}
        }
        Ok(())
    }

    fn handle_question(
        &mut self,
        plug: &Plug,
        vm: &VmId,
        q: &Question,
        ours: bool,
        deadline: Deadline,
    ) -> Result<(), FenceError> {
        if self.seen_questions.contains(&q.id) {
            return Ok(());
        }
        if !ours {
            logging::warning(format!(
                "Plug {plug}: the VM asks question {q} (choices: {}); not answered, since this \
                 agent did not start the task it blocks",
                q.choices_text()
            ));
            self.seen_questions.insert(q.id.clone());
            return Ok(());
        }
        let (choice, reason) = match question::decide(q) {
            Decision::Answer { choice, reason } => (choice, reason),
            Decision::Refuse(why) => {
                return Err(FenceError::Device(format!(
                    "plug {plug}: the power operation is blocked: {why}"
                )))
            }
        };
        let (qid, key) = (q.id.clone(), choice.key.clone());
        if let Err(e) = self.with_session(deadline, |b| b.answer(vm, &qid, &key, deadline)) {
            return Err(session_failure(
                e,
                &format!(
                    "plug {plug}: the power operation is blocked by question {q}, and answering \
                     it with {:?} failed",
                    choice.summary
                ),
            ));
        }
        logging::info(format!(
            "Plug {plug}: the VM asked question {q}; answered {:?} ({}, key {}): {reason}",
            choice.summary, choice.label, choice.key
        ));
        self.seen_questions.insert(q.id.clone());
        Ok(())
    }

    /// What the device says of the plug's power, vouched for or not.
    pub fn status(&mut self, plug: &Plug, deadline: Deadline) -> Result<Status, FenceError> {
        let vm = self.resolve(plug, deadline)?;
        self.observe(plug, &vm, deadline)
    }

    /// The plug's power state; a state the device cannot vouch for is a
    /// failure naming why.
    pub fn power_state(
        &mut self,
        plug: &Plug,
        deadline: Deadline,
    ) -> Result<PowerState, FenceError> {
        let vm = self.resolve(plug, deadline)?;
        match self.observe(plug, &vm, deadline)? {
            Status::Vouched(s) => Ok(s),
            Status::NotVouched(r) => Err(FenceError::Status(r.describe(plug.as_str(), &vm.0))),
        }
    }

    /// Waits (within `until`) for a task this fencer did not start.
    fn wait_foreign_task(&mut self, task: &TaskId, until: Deadline) {
        while !until.expired() {
            match self.with_session(until, |b| b.task_state(task, until)) {
                Ok(TaskState::Running) => {}
                _ => return,
            }
            std::thread::sleep(Duration::from_millis(300).min(until.remaining()));
        }
    }

    /// Starts the power operation; `None` when the device says the VM is
    /// already in that state. Another task holding the VM is waited for
    /// (one command time) and the start tried once more.
    fn start(
        &mut self,
        plug: &Plug,
        vm: &VmId,
        op: PowerOp,
        deadline: Deadline,
    ) -> Result<Option<Started>, FenceError> {
        let what = format!("powering plug {plug} {}", op.word());
        let mut retried = false;
        loop {
            match self.with_session(deadline, |b| b.start_power(vm, op, deadline)) {
                Ok(s) => return Ok(Some(s)),
                Err(BackendError::AlreadyInState(m)) => {
                    logging::debug(format!("{what}: {m}"));
                    return Ok(None);
                }
                Err(BackendError::Busy { task, detail }) if !retried => {
                    logging::info(format!(
                        "{what}: another task is running on the VM; waiting for it ({detail})"
                    ));
                    let until = deadline.within(self.options.command_timeout);
                    match task {
                        Some(other) => self.wait_foreign_task(&other, until),
                        // No task named (the Automation API, whose power
                        // calls return when done): its end is only seen by
                        // asking again, after one command time.
                        None => std::thread::sleep(until.remaining()),
                    }
                    retried = true;
                }
                Err(e) => return Err(session_failure(e, &what)),
            }
        }
    }

    /// Asks for the plug's power to change (after one read: a state the
    /// device cannot vouch for is refused before anything is started) and
    /// watches the task for up to one command time: its failure, a question blocking it, or a state
    /// the device stops vouching for is reported here. A task still
    /// running after that is left to the caller's verification (later
    /// reads keep watching it).
    pub fn set_power(
        &mut self,
        plug: &Plug,
        target: PowerState,
        deadline: Deadline,
    ) -> Result<(), FenceError> {
        let vm = self.resolve(plug, deadline)?;
        let op = match target {
            PowerState::On => PowerOp::On,
            PowerState::Off => PowerOp::Off,
        };
        // Whoever calls, a template or a VM the device has lost is not
        // acted on.
        if let Status::NotVouched(r) = self.observe(plug, &vm, deadline)? {
            return Err(FenceError::Status(r.describe(plug.as_str(), &vm.0)));
        }
        let task = match self.start(plug, &vm, op, deadline)? {
            None | Some(Started::Done) => return Ok(()),
            Some(Started::Task(t)) => t,
        };
        logging::debug(format!("Plug {plug}: task {task} started"));
        let p = Pending {
            task,
            op,
            started: Instant::now(),
        };
        self.pending.insert(vm.clone(), p.clone());
        let watch = deadline.within(self.options.command_timeout);
        loop {
            if let Status::NotVouched(r) = self.observe(plug, &vm, deadline)? {
                return Err(FenceError::Status(r.describe(plug.as_str(), &vm.0)));
            }
            if !self.pending.contains_key(&vm) {
                return Ok(());
            }
            std::thread::sleep(TASK_POLL.min(watch.remaining()));
            // Checked after the nap: the next read must still have time.
            if watch.expired() {
                logging::info(format!(
                    "Plug {plug}: task {} still running after {:.1} s; verifying the power state",
                    p.task,
                    p.started.elapsed().as_secs_f32()
                ));
                return Ok(());
            }
        }
    }

    /// Sets the power and reads it back until the device vouches for
    /// `target` or `until` passes, polling every `poll`: for users that
    /// have no framework loop around them (a daemon). A state the device
    /// cannot vouch for ends the wait at once.
    pub fn set_power_verified(
        &mut self,
        plug: &Plug,
        target: PowerState,
        until: Deadline,
        poll: Duration,
    ) -> Result<(), FenceError> {
        self.set_power(plug, target, until)?;
        loop {
            let read = Deadline::after(self.options.command_timeout);
            if self.power_state(plug, read)? == target {
                return Ok(());
            }
            if until.expired() {
                let cause = format!("plug {plug} is not {target}");
                return Err(match target {
                    PowerState::On => FenceError::WaitingOn(cause),
                    PowerState::Off => FenceError::WaitingOff(cause),
                });
            }
            std::thread::sleep(poll.min(until.remaining()).max(Duration::from_millis(10)));
        }
    }

    /// Every VM in scope but templates, by the name the user writes (vCenter's
    /// escapes undone), with its instance UUID (or id) as alias; with
    /// `with_status`, the state where the device vouches for it (UNKNOWN
    /// otherwise).
    pub fn list(
        &mut self,
        with_status: bool,
        deadline: Deadline,
    ) -> Result<Vec<Outlet>, FenceError> {
        let vms = self
            .with_session(deadline, |b| b.list(with_status, deadline))
            .map_err(|e| session_failure(e, "listing virtual machines"))?;
        let mut out: Vec<Outlet> = vms
            .into_iter()
            .filter(|v| !v.template)
            .map(|v| {
                let status = match (&v.power, &v.connection) {
                    (Some(p), Some(c)) if with_status => state::vouch(&VmReading {
                        power: p.clone(),
                        connection: c.clone(),
                        host: None,
                        template: false,
                        question: None,
                        task: None,
                    })
                    .ok(),
                    _ => None,
                };
                Outlet {
                    id: names::unescape(&v.name),
                    alias: v.instance_uuid.unwrap_or_else(|| v.id.0.clone()),
                    status,
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.id, &a.alias).cmp(&(&b.id, &b.alias)));
        Ok(out)
    }

    /// Logs out (once); tasks still running are named in the log.
    pub fn disconnect(&mut self) {
        if !self.logged_in {
            return;
        }
        for (vm, p) in self.pending.drain() {
            // Info, not warning: the failure line must stay the first one
            // on stderr.
            logging::info(format!(
                "Task {} powering {vm} {} was still running after {:.1} s when the agent stopped \
                 watching it; it may still complete",
                p.task,
                p.op.word(),
                p.started.elapsed().as_secs_f32()
            ));
        }
        let deadline = Deadline::after(cleanup_timeout(self.options.command_timeout));
        match self.backend.logout(deadline) {
            Ok(()) => logging::debug("Logged out"),
            Err(e) => logging::warning(format!("Logout failed: {e}")),
        }
        self.logged_in = false;
    }
}

impl<B: Backend> Drop for Fencer<B> {
    fn drop(&mut self) {
        self.disconnect();
    }
}

#[path = "fencer_operations.rs"]
mod operations;

#[cfg(test)]
#[path = "fencer_tests.rs"]
mod tests;
