//! A FAKE device, in memory, for the core's unit tests only: no network,
//! no API. It holds VMs and hosts, runs power "tasks" that take a set
//! number of reads, raises questions on power-on, shuts guests down that
//! run VMware Tools, keeps boot orders changed by tasks, and fails calls on
//! request, so that each rule of the fencer can be driven to its edge.
//! The real peer (VMware's simulator) is used by cts/tests/vmware.rs.

use std::collections::{HashMap, VecDeque};

use agent_framework::Deadline;

use crate::backend::{Backend, Candidate, HostId, Listed, Lookup, PowerOp, Started, TaskId, VmId};
use crate::boot::{BootEntry, BootReading, DeviceKey, Firmware};
use crate::error::BackendError;
use crate::question::{Choice, Question, QuestionMessage};
use crate::state::{Connection, HostReading, TaskState, VmPower, VmReading};

#[derive(Debug, Clone)]
pub struct FakeVm {
    pub id: VmId,
    /// As vCenter stores it (`web%2f01`).
    pub name: String,
    pub path: String,
    pub instance_uuid: String,
    pub bios_uuid: String,
    pub power: VmPower,
    pub connection: Connection,
    pub host: Option<HostId>,
    pub template: bool,
    pub question: Option<Question>,
    /// Raised by the next power-on, which then waits for an answer.
    pub asks_on_power_on: Option<Question>,
    /// VMware Tools runs in the guest (while the VM is on).
    pub guest_tools: bool,
    /// Boot order, firmware and bootable devices.
    pub boot: BootReading,
}

impl FakeVm {
    pub fn new(n: u32, name: &str, folder: &str) -> FakeVm {
        FakeVm {
            id: VmId(format!("vm-{n}")),
            name: name.to_string(),
            path: format!("/DC0/vm{folder}/{name}"),
            instance_uuid: format!("50000000-0000-0000-0000-{n:012}"),
            bios_uuid: format!("42000000-0000-0000-0000-{n:012}"),
            power: VmPower::PoweredOn,
            connection: Connection::Connected,
            host: Some(HostId("host-1".into())),
            template: false,
            question: None,
            asks_on_power_on: None,
            guest_tools: true,
            boot: BootReading {
                order: Vec::new(),
                firmware: Firmware::Bios,
                bootable: vec![
                    BootEntry::Cdrom,
                    BootEntry::Disk(DeviceKey(2000)),
                    BootEntry::Ethernet(DeviceKey(4000)),
                ],
            },
        }
    }
}

/// A boot order change in progress.
#[derive(Debug, Clone)]
struct BootTask {
    vm: VmId,
    order: Vec<BootEntry>,
    reads_left: u32,
    fails_with: Option<BackendError>,
}

#[derive(Debug, Clone)]
struct FakeTask {
    vm: VmId,
    op: PowerOp,
    reads_left: u32,
    /// How the task ends, instead of doing the operation.
    fails_with: Option<BackendError>,
    done: Option<TaskState>,
}

/// A change to the fake's VMs, made between two reads.
pub type WorldChange = fn(&mut Vec<FakeVm>);

/// Which call an injected failure hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Find,
    Read,
    Start,
    Answer,
    Login,
    Shutdown,
    ReadBoot,
    StartBoot,
}

pub struct Scripted {
    pub vms: Vec<FakeVm>,
    pub hosts: HashMap<HostId, HostReading>,
    /// Every call, in order: `read vm-1`, `start vm-1 off`, `answer vm-1
    /// _vmx1 1`, `login`, `logout`...
    pub calls: Vec<String>,
    /// Reads a new task stays running for.
    pub task_reads: u32,
    /// The next task started ends with this failure.
    pub next_task_fails: Option<BackendError>,
    /// false: like the Automation API, power calls return when done and
    /// there are no inventory paths.
    pub has_tasks_and_paths: bool,
    /// Paths of things that are not VMs.
    pub folders: Vec<String>,
    /// Failures to return, in order, from the next calls of that kind.
    pub failures: VecDeque<(Call, BackendError)>,
    /// Run after the n-th read (1-based) of any VM: changes the world in
    /// the middle of a verification.
    pub after_read: Option<(usize, WorldChange)>,
    /// Tasks the fake did not start for the fencer: (id, reads left).
    pub foreign_tasks: HashMap<TaskId, u32>,
    /// Reads a boot order task stays running for.
    pub boot_task_reads: u32,
    /// The next boot order task ends with this failure.
    pub next_boot_task_fails: Option<BackendError>,
    /// A device that writes another order than it was given: the order
    /// its boot tasks write, whatever was asked.
    pub boot_order_written: Option<Vec<BootEntry>>,
    boot_tasks: HashMap<TaskId, BootTask>,
    reads: usize,
    tasks: HashMap<TaskId, FakeTask>,
    task_seq: u32,
}

impl Scripted {
    pub fn new(vms: Vec<FakeVm>) -> Scripted {
        let mut hosts = HashMap::new();
        hosts.insert(
            HostId("host-1".into()),
            HostReading {
                name: Some("esx1.example.test".into()),
                connection: Connection::Connected,
            },
        );
        Scripted {
            vms,
            hosts,
            calls: Vec::new(),
            task_reads: 2,
            next_task_fails: None,
            has_tasks_and_paths: true,
            folders: vec!["/DC0/vm/sub".into()],
            failures: VecDeque::new(),
            after_read: None,
            foreign_tasks: HashMap::new(),
            boot_task_reads: 1,
            next_boot_task_fails: None,
            boot_order_written: None,
            boot_tasks: HashMap::new(),
            reads: 0,
            tasks: HashMap::new(),
            task_seq: 0,
        }
    }

    pub fn vm(&self, name: &str) -> &FakeVm {
        let found: Vec<&FakeVm> = self.vms.iter().filter(|v| v.name == name).collect();
        assert_eq!(found.len(), 1, "{name}");
        found[0]
    }

    pub fn vm_mut(&mut self, name: &str) -> &mut FakeVm {
        self.vms
            .iter_mut()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no VM {name}"))
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.calls.iter().filter(|c| c.starts_with(prefix)).count()
    }

    /// A real device cannot answer a call made after its deadline.
    fn on_time(deadline: Deadline) -> Result<(), BackendError> {
        if deadline.expired() {
            return Err(BackendError::Timeout("no time left".into()));
        }
        Ok(())
    }

    fn injected(&mut self, call: Call) -> Result<(), BackendError> {
        if let Some(i) = self.failures.iter().position(|(c, _)| *c == call) {
            if let Some((_, e)) = self.failures.remove(i) {
                return Err(e);
            }
        }
        Ok(())
    }

    fn index(&self, vm: &VmId) -> Result<usize, BackendError> {
        self.vms
            .iter()
            .position(|v| v.id == *vm)
            .ok_or_else(|| BackendError::NotFound(format!("{vm} is gone")))
    }

    /// A task's state as one more read sees it.
    fn advance(&mut self, task: &TaskId) -> TaskState {
        let Some(t) = self.tasks.get(task).cloned() else {
            return TaskState::Gone;
        };
        if let Some(done) = t.done {
            return done;
        }
        let Ok(i) = self.index(&t.vm) else {
            return TaskState::Gone;
        };
        if self.vms[i].question.is_some() {
            return TaskState::Running;
        }
        if t.reads_left > 0 {
            if let Some(task) = self.tasks.get_mut(task) {
                task.reads_left -= 1;
            }
            return TaskState::Running;
        }
        let end = match t.fails_with {
            Some(e) => TaskState::Failed(e),
            None => {
                self.vms[i].power = match t.op {
                    PowerOp::On => VmPower::PoweredOn,
                    PowerOp::Off => VmPower::PoweredOff,
                };
                TaskState::Succeeded
            }
        };
        if let Some(task) = self.tasks.get_mut(task) {
            task.done = Some(end.clone());
        }
        end
    }
}

pub fn choice(key: &str, label: &str, summary: &str) -> Choice {
    Choice {
        key: key.into(),
        label: label.into(),
        summary: summary.into(),
    }
}

/// The question vSphere asks about a VM that was moved or copied, in its
/// real shape (see cts/vcsim/main.go's questionKinds for the sources).
pub fn moved_or_copied(id: &str) -> Question {
    Question {
        id: id.into(),
        text: "msg.uuid.altered:This virtual machine might have been moved or copied.".into(),
        messages: vec![QuestionMessage {
            id: "msg.uuid.altered".into(),
            text: "This virtual machine might have been moved or copied.".into(),
        }],
        choices: vec![
            choice("0", "button.uuid.cancel", "Cancel"),
            choice("1", "button.uuid.movedTheVM", "I Moved It"),
            choice("2", "button.uuid.copiedTheVM", "I Copied It"),
        ],
        default: Some(2),
    }
}

/// The question about a file-backed serial port whose file exists, with
/// `default` as its default choice (0 Append, 1 Replace, 2 Cancel).
pub fn serial_file(default: Option<usize>) -> Question {
    Question {
        id: "_vmx2".into(),
        text: "The file specified for serial port 1 already exists.".into(),
        messages: vec![QuestionMessage {
            id: "msg.serial.file.open".into(),
            text: String::new(),
        }],
        choices: vec![
            choice("0", "button.append", "Append"),
            choice("1", "button.replace", "Replace"),
            choice("2", "button.cancel", "Cancel"),
        ],
        default,
    }
}

impl Backend for Scripted {
    fn login(&mut self, _deadline: Deadline) -> Result<(), BackendError> {
        self.calls.push("login".into());
        self.injected(Call::Login)
    }

    fn find(
        &mut self,
        lookup: Lookup<'_>,
        deadline: Deadline,
    ) -> Result<Vec<Candidate>, BackendError> {
        self.calls.push(format!("find {lookup:?}"));
        Self::on_time(deadline)?;
        self.injected(Call::Find)?;
        let candidate = |v: &FakeVm| Candidate {
            id: v.id.clone(),
            name: Some(v.name.clone()),
        };
        Ok(match lookup {
            Lookup::InventoryPath(p) => {
                if !self.has_tasks_and_paths {
                    return Err(BackendError::Unsupported("inventory paths"));
                }
                if self.folders.iter().any(|f| f == p) {
                    return Err(BackendError::WrongKind("Folder".into()));
                }
                self.vms
                    .iter()
                    .filter(|v| v.path == p)
                    .map(candidate)
                    .collect()
            }
            Lookup::Uuid(u) => self
                .vms
                .iter()
                .filter(|v| {
                    v.instance_uuid.eq_ignore_ascii_case(u) || v.bios_uuid.eq_ignore_ascii_case(u)
                })
                .map(candidate)
                .collect(),
            Lookup::Id(id) => self
                .vms
                .iter()
                .filter(|v| v.id.0 == id)
                .map(candidate)
                .collect(),
            // Every VM: the fencer must do the matching.
            Lookup::Name(_) => self.vms.iter().map(candidate).collect(),
        })
    }

    fn read(
        &mut self,
        vm: &VmId,
        task: Option<&TaskId>,
        deadline: Deadline,
    ) -> Result<VmReading, BackendError> {
        self.calls.push(format!("read {vm}"));
        Self::on_time(deadline)?;
        self.injected(Call::Read)?;
        self.reads += 1;
        let task = task.map(|t| self.advance(t));
        let i = self.index(vm)?;
        let v = &self.vms[i];
        let reading = VmReading {
            power: v.power.clone(),
            connection: v.connection.clone(),
            host: v.host.clone(),
            template: v.template,
            question: v.question.clone(),
            task,
        };
        if let Some((n, change)) = self.after_read {
            if self.reads == n {
                change(&mut self.vms);
            }
        }
        Ok(reading)
    }

    fn read_host(
        &mut self,
        host: &HostId,
        _deadline: Deadline,
    ) -> Result<HostReading, BackendError> {
        self.calls.push(format!("read_host {}", host.0));
        self.hosts
            .get(host)
            .cloned()
            .ok_or_else(|| BackendError::NotFound(host.0.clone()))
    }

    fn start_power(
        &mut self,
        vm: &VmId,
        op: PowerOp,
        deadline: Deadline,
    ) -> Result<Started, BackendError> {
        self.calls.push(format!("start {vm} {}", op.word()));
        Self::on_time(deadline)?;
        self.injected(Call::Start)?;
        let i = self.index(vm)?;
        let target = match op {
            PowerOp::On => VmPower::PoweredOn,
            PowerOp::Off => VmPower::PoweredOff,
        };
        if self.vms[i].power == target {
            return Err(BackendError::AlreadyInState(format!("{vm} is {target}")));
        }
        if !self.has_tasks_and_paths {
            self.vms[i].power = target;
            return Ok(Started::Done);
        }
        if op == PowerOp::On {
            if let Some(q) = self.vms[i].asks_on_power_on.clone() {
                self.vms[i].question = Some(q);
            }
        }
        self.task_seq += 1;
        let id = TaskId(format!("task-{}", self.task_seq));
        self.tasks.insert(
            id.clone(),
            FakeTask {
                vm: vm.clone(),
                op,
                reads_left: self.task_reads,
                fails_with: self.next_task_fails.take(),
                done: None,
            },
        );
        Ok(Started::Task(id))
    }

    fn task_state(
        &mut self,
        task: &TaskId,
        _deadline: Deadline,
    ) -> Result<TaskState, BackendError> {
        self.calls.push(format!("task_state {task}"));
        if let Some(t) = self.boot_tasks.get_mut(task) {
            if t.reads_left > 0 {
                t.reads_left -= 1;
                return Ok(TaskState::Running);
            }
            let Some(t) = self.boot_tasks.remove(task) else {
                return Ok(TaskState::Gone);
            };
            if let Some(e) = t.fails_with {
                return Ok(TaskState::Failed(e));
            }
            let i = self.index(&t.vm)?;
            self.vms[i].boot.order = t.order;
            return Ok(TaskState::Succeeded);
        }
        match self.foreign_tasks.get_mut(task) {
            Some(0) => Ok(TaskState::Succeeded),
            Some(n) => {
                *n -= 1;
                Ok(TaskState::Running)
            }
            None => Ok(TaskState::Gone),
        }
    }

    fn answer(
        &mut self,
        vm: &VmId,
        question_id: &str,
        key: &str,
        _deadline: Deadline,
    ) -> Result<(), BackendError> {
        self.calls.push(format!("answer {vm} {question_id} {key}"));
        self.injected(Call::Answer)?;
        let i = self.index(vm)?;
        let Some(q) = self.vms[i].question.clone() else {
            return Err(BackendError::Fault("no question".into()));
        };
        if q.id != question_id {
            return Err(BackendError::Fault("wrong question id".into()));
        }
        let Some(choice) = q.choices.iter().find(|c| c.key == key) else {
            return Err(BackendError::Fault("no such choice".into()));
        };
        if choice.label == "button.uuid.copiedTheVM" {
            self.vms[i].bios_uuid = "ffffffff-0000-0000-0000-000000000000".into();
        }
        self.vms[i].question = None;
        self.vms[i].asks_on_power_on = None;
        Ok(())
    }

    fn list(&mut self, with_state: bool, _deadline: Deadline) -> Result<Vec<Listed>, BackendError> {
        self.calls.push(format!("list {with_state}"));
        Ok(self
            .vms
            .iter()
            .map(|v| Listed {
                id: v.id.clone(),
                name: v.name.clone(),
                instance_uuid: Some(v.instance_uuid.clone()).filter(|_| self.has_tasks_and_paths),
                template: v.template,
                power: Some(v.power.clone()).filter(|_| with_state),
                connection: Some(v.connection.clone()).filter(|_| with_state),
            })
            .collect())
    }

    fn inventory_path(&mut self, vm: &VmId, _deadline: Deadline) -> Option<String> {
        if !self.has_tasks_and_paths {
            return None;
        }
        self.vms
            .iter()
            .find(|v| v.id == *vm)
            .map(|v| v.path.clone())
    }

    fn shutdown_guest(&mut self, vm: &VmId, deadline: Deadline) -> Result<(), BackendError> {
        self.calls.push(format!("shutdown_guest {vm}"));
        Self::on_time(deadline)?;
        self.injected(Call::Shutdown)?;
        let i = self.index(vm)?;
        let v = &mut self.vms[i];
        if v.power != VmPower::PoweredOn {
            return Err(BackendError::InvalidState(format!("{vm} is {}", v.power)));
        }
        if !v.guest_tools {
            return Err(BackendError::InvalidState(
                "VMware Tools is not running".into(),
            ));
        }
        // The guest takes its time; a test moves it on by hand.
        Ok(())
    }

    fn read_boot(&mut self, vm: &VmId, deadline: Deadline) -> Result<BootReading, BackendError> {
        self.calls.push(format!("read_boot {vm}"));
        Self::on_time(deadline)?;
        self.injected(Call::ReadBoot)?;
        let i = self.index(vm)?;
        Ok(self.vms[i].boot.clone())
    }

    fn start_boot_order(
        &mut self,
        vm: &VmId,
        order: &[BootEntry],
        deadline: Deadline,
    ) -> Result<Started, BackendError> {
        let words: Vec<String> = order.iter().map(ToString::to_string).collect();
        self.calls
            .push(format!("start_boot_order {vm} [{}]", words.join(", ")));
        Self::on_time(deadline)?;
        self.injected(Call::StartBoot)?;
        self.index(vm)?;
        self.task_seq += 1;
        let id = TaskId(format!("task-{}", self.task_seq));
        self.boot_tasks.insert(
            id.clone(),
            BootTask {
                vm: vm.clone(),
                order: self
                    .boot_order_written
                    .clone()
                    .unwrap_or_else(|| order.to_vec()),
                reads_left: self.boot_task_reads,
                fails_with: self.next_boot_task_fails.take(),
            },
        );
        Ok(Started::Task(id))
    }

    fn logout(&mut self, _deadline: Deadline) -> Result<(), BackendError> {
        self.calls.push("logout".into());
        Ok(())
    }
}
