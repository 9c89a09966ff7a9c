//! The device, as the rules see it: what every vSphere API backend (SOAP
//! in vsphere-soap, the Automation API in vsphere-rest) implements.
//!
//! A backend does the talking and the translating — requests, replies,
//! the API's words into [`VmPower`], [`Connection`], [`Question`],
//! [`BackendError`] — and nothing else: which VM a plug means, whether a
//! state may be believed, which question may be answered, what a failure
//! means to the cluster, are decided in [`crate::fencer`] once for every
//! backend. Every call is bounded by its [`Deadline`].
//!
//! [`VmPower`]: crate::state::VmPower
//! [`Connection`]: crate::state::Connection
//! [`Question`]: crate::question::Question

use std::fmt;

use agent_framework::Deadline;

use crate::boot::{BootEntry, BootReading};
use crate::error::BackendError;
use crate::state::{Connection, HostReading, TaskState, VmPower, VmReading};

/// A VM as the device identifies it: vim25's managed object id (`vm-42`),
/// which the Automation API also uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VmId(pub String);

/// A task the device runs (`task-12`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskId(pub String);

/// A host (`host-21`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostId(pub String);

impl fmt::Display for VmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerOp {
    On,
    Off,
}

impl PowerOp {
    pub fn word(self) -> &'static str {
        match self {
            PowerOp::On => "on",
            PowerOp::Off => "off",
        }
    }
}

/// One way of looking a plug up. The fencer asks for each that applies
/// to the plug's text and decides from the union.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// `/DC0/vm/folder/name`, names escaped as vCenter stores them.
    InventoryPath(&'a str),
    /// An instance UUID or a BIOS UUID (`8-4-4-4-12` hex digits).
    Uuid(&'a str),
    /// A managed object id (`vm-42`).
    Id(&'a str),
    /// A VM name as the user wrote it (`web/01` or `web%2f01`).
    Name(&'a str),
}

/// A VM a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: VmId,
    /// The name as the device stores it (`web%2f01`), when known. Required
    /// for [`Lookup::Name`]: the fencer checks it against the plug itself.
    pub name: Option<String>,
}

/// How a power operation was started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// A task to follow (vim25 `PowerOnVM_Task`).
    Task(TaskId),
    /// The call returned when the operation was done (the Automation API's
    /// power calls): there is no task; the state is read back as usual.
    Done,
}

/// One VM of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: VmId,
    /// As the device stores it.
    pub name: String,
    pub instance_uuid: Option<String>,
    pub template: bool,
    /// With `with_state` only; `None` otherwise or when the device did not
    /// say.
    pub power: Option<VmPower>,
    pub connection: Option<Connection>,
}

/// A session with one vCenter or ESXi host, through one API.
///
/// Contracts common to every method: it returns within `deadline` (or
/// fails with [`BackendError::Timeout`]); it never panics on what the
/// device sends; a session that ended is [`BackendError::NotAuthenticated`]
/// (the fencer then calls [`Backend::login`] once and repeats the call).
pub trait Backend {
    /// Logs in (again) with the credentials the backend was made with.
    fn login(&mut self, deadline: Deadline) -> Result<(), BackendError>;

    /// Every VM the device says answers to `lookup`, in the scope the
    /// backend was given (a datacenter). An empty list when none does.
    /// Inventory paths, UUIDs and ids are matched exactly by the device;
    /// for [`Lookup::Name`] the backend may return more than the matches
    /// (each with its stored name): the fencer keeps those whose name
    /// matches by its own rule. [`BackendError::WrongKind`] when an
    /// inventory path names something else than a VM;
    /// [`BackendError::Unsupported`] for a lookup the API has not.
    fn find(
        &mut self,
        lookup: Lookup<'_>,
        deadline: Deadline,
    ) -> Result<Vec<Candidate>, BackendError>;

    /// One read of `vm`: its power state together with its connection
    /// state, its host, whether it is a template and any question it asks,
    /// all from one request, so that no part is older than another. With
    /// `task`, that task's state in the same read (`VmReading::task`);
    /// [`TaskState::Gone`] when the device no longer knows the task.
    fn read(
        &mut self,
        vm: &VmId,
        task: Option<&TaskId>,
        deadline: Deadline,
    ) -> Result<VmReading, BackendError>;

    /// A host's name and connection state, for messages about its VMs.
    fn read_host(&mut self, host: &HostId, deadline: Deadline)
        -> Result<HostReading, BackendError>;

    /// Starts powering `vm` on or off. [`BackendError::AlreadyInState`]
    /// when the device refuses because the VM is already there;
    /// [`BackendError::Busy`] (with the other task, when known) when
    /// another task holds the VM.
    fn start_power(
        &mut self,
        vm: &VmId,
        op: PowerOp,
        deadline: Deadline,
    ) -> Result<Started, BackendError>;

    /// The state of a task this session did not start (the one a Busy
    /// named). Backends without tasks keep the default.
    fn task_state(&mut self, task: &TaskId, deadline: Deadline) -> Result<TaskState, BackendError> {
        let _ = (task, deadline);
        Ok(TaskState::Gone)
    }

    /// Answers question `question_id` of `vm` with the choice `key`.
    /// Backends that never report questions keep the default.
    fn answer(
        &mut self,
        vm: &VmId,
        question_id: &str,
        key: &str,
        deadline: Deadline,
    ) -> Result<(), BackendError> {
        let _ = (vm, question_id, key, deadline);
        Err(BackendError::Unsupported("answering VM questions"))
    }

    /// Every VM in scope. With `with_state`, each VM's power and connection
    /// state from the same read.
    fn list(&mut self, with_state: bool, deadline: Deadline) -> Result<Vec<Listed>, BackendError>;

    /// Where the VM is, for messages (`/DC0/vm/folder/name`); `None` when
    /// the API has no inventory paths or it cannot be read.
    fn inventory_path(&mut self, vm: &VmId, deadline: Deadline) -> Option<String> {
        let _ = (vm, deadline);
        None
    }

    /// What to give instead of a plug that matched several VMs, as the
    /// sentence that precedes the list of matches. APIs without inventory
    /// paths (the Automation API) say so here.
    fn unambiguous_plug_forms(&self) -> &'static str {
        "Use an inventory path, an instance UUID or a managed object id"
    }

    /// Asks the guest operating system of `vm` to shut down (VMware Tools
    /// does it) and returns once the device accepted the request, without
    /// waiting for the guest. [`BackendError::InvalidState`] when the VM's
    /// state does not allow it (Tools not running, not powered on).
    fn shutdown_guest(&mut self, vm: &VmId, deadline: Deadline) -> Result<(), BackendError> {
        let _ = (vm, deadline);
        Err(BackendError::Unsupported("asking a guest to shut down"))
    }

    /// `vm`'s boot order, firmware and bootable devices, from one request.
    fn read_boot(&mut self, vm: &VmId, deadline: Deadline) -> Result<BootReading, BackendError> {
        let _ = (vm, deadline);
        Err(BackendError::Unsupported("reading a boot order"))
    }

    /// Starts replacing `vm`'s boot order with `order` (empty: the
    /// firmware's own order). The fencer follows the task and reads the
    /// order back.
    fn start_boot_order(
        &mut self,
        vm: &VmId,
        order: &[BootEntry],
        deadline: Deadline,
    ) -> Result<Started, BackendError> {
        let _ = (vm, order, deadline);
        Err(BackendError::Unsupported("changing a boot order"))
    }

    /// Ends the session.
    fn logout(&mut self, deadline: Deadline) -> Result<(), BackendError>;
}
