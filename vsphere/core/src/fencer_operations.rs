//! Operations beside power: a guest shutdown, and reading or changing the
//! boot order. Each acts on the one VM the plug names by the fencer's own
//! lookup, and only while the device vouches for it (connected, not a
//! template): a VM whose host vCenter lost is not reconfigured on the
//! strength of vCenter's stale copy, nor is its state guessed.

use std::time::Instant;

use agent_framework::{logging, Deadline, FenceError, Plug, PowerState};

use super::{Fencer, Status, TASK_POLL};
use crate::backend::{Backend, Started, TaskId, VmId};
use crate::boot::{describe_order, BootReading, BootSetting, BootTarget};
use crate::error::{operation_failure, OperationError};
use crate::state::TaskState;

impl<B: Backend> Fencer<B> {
    /// The VM the plug names and the power state the device vouches for;
    /// a state it cannot vouch for refuses the operation.
    fn vouched_vm(
        &mut self,
        plug: &Plug,
        deadline: Deadline,
    ) -> Result<(VmId, PowerState), OperationError> {
        let vm = self.resolve(plug, deadline)?;
        match self.observe(plug, &vm, deadline)? {
            Status::Vouched(power) => Ok((vm, power)),
            Status::NotVouched(r) => {
                Err(FenceError::Status(r.describe(plug.as_str(), &vm.0)).into())
            }
        }
    }

    /// Asks the plug's guest operating system to shut down, and returns once
    /// the device accepted the request. It does not wait for the VM to be
    /// off (vim25 ShutdownGuest "returns immediately and does not wait for
    /// the guest operating system to complete the operation"), so nothing
    /// here says the VM is, or will be, off. A VM that is off has no guest to
    /// ask: [`OperationError::InvalidState`], as is a guest without VMware
    /// Tools running (the backend's answer).
    pub fn shutdown_guest(
        &mut self,
        plug: &Plug,
        deadline: Deadline,
    ) -> Result<(), OperationError> {
        let (vm, power) = self.vouched_vm(plug, deadline)?;
        if power == PowerState::Off {
            return Err(OperationError::InvalidState(format!(
                "plug {plug} ({vm}) is off: there is no running guest to shut down"
            )));
        }
        let what = format!("asking the guest of plug {plug} ({vm}) to shut down");
        self.with_session(deadline, |b| b.shutdown_guest(&vm, deadline))
            .map_err(|e| operation_failure(e, &what))?;
        logging::info(format!(
            "Plug {plug} ({vm}): the guest was asked to shut down; whether and when it does is \
             the guest's to decide"
        ));
        Ok(())
    }

    fn read_boot(
        &mut self,
        plug: &Plug,
        vm: &VmId,
        deadline: Deadline,
    ) -> Result<BootReading, OperationError> {
        self.with_session(deadline, |b| b.read_boot(vm, deadline))
            .map_err(|e| {
                operation_failure(e, &format!("reading the boot order of plug {plug} ({vm})"))
            })
    }

    /// What the plug's VM boots from first, and its firmware.
    pub fn boot_setting(
        &mut self,
        plug: &Plug,
        deadline: Deadline,
    ) -> Result<BootSetting, OperationError> {
        let (vm, _) = self.vouched_vm(plug, deadline)?;
        self.read_boot(plug, &vm, deadline)?
            .setting()
            .map_err(|why| FenceError::Device(format!("plug {plug} ({vm}): {why}")).into())
    }

    /// Makes the plug's boot order give `target` (see
    /// [`BootReading::order_for`]), follows the change's task until
    /// `deadline`, and returns once the order read back is the one
    /// written. An order that is already right is not written again.
    pub fn set_boot(
        &mut self,
        plug: &Plug,
        target: BootTarget,
        deadline: Deadline,
    ) -> Result<(), OperationError> {
        let (vm, _) = self.vouched_vm(plug, deadline)?;
        let before = self.read_boot(plug, &vm, deadline)?;
        let wanted = before.order_for(target).map_err(|why| {
            OperationError::InvalidState(format!(
                "plug {plug} ({vm}): {target} was asked for, but {why}; nothing was changed"
            ))
        })?;
        if wanted == before.order {
            logging::debug(format!(
                "Plug {plug} ({vm}): the boot order is already {}",
                describe_order(&wanted)
            ));
            return Ok(());
        }
        let what = format!(
            "changing the boot order of plug {plug} ({vm}) from {} to {}",
            describe_order(&before.order),
            describe_order(&wanted)
        );
        let started = self
            .with_session(deadline, |b| b.start_boot_order(&vm, &wanted, deadline))
            .map_err(|e| operation_failure(e, &what))?;
        if let Started::Task(task) = started {
            self.follow_task(&task, &what, deadline)?;
        }
        let after = self.read_boot(plug, &vm, deadline)?;
        if after.order != wanted {
            return Err(FenceError::Device(format!(
                "{what}: the device reports {} afterwards",
                describe_order(&after.order)
            ))
            .into());
        }
        logging::info(format!(
            "Plug {plug} ({vm}): boot order {} (was {})",
            describe_order(&after.order),
            describe_order(&before.order)
        ));
        Ok(())
    }

    /// Reads `task` until it ends; it must end before `deadline`. A task
    /// the device forgot counts as ended: what the VM reads afterwards
    /// decides.
    fn follow_task(
        &mut self,
        task: &TaskId,
        what: &str,
        deadline: Deadline,
    ) -> Result<(), OperationError> {
        let started = Instant::now();
        loop {
            match self.with_session(deadline, |b| b.task_state(task, deadline)) {
                Ok(TaskState::Running) => {}
                Ok(TaskState::Succeeded) | Ok(TaskState::Gone) => return Ok(()),
                Ok(TaskState::Failed(e)) => {
                    return Err(operation_failure(e, &format!("{what}: task {task} failed")))
                }
                Err(e) => {
                    return Err(operation_failure(
                        e,
                        &format!("{what}: reading task {task}"),
                    ))
                }
            }
            // The next read must still have time before the deadline.
            if deadline.remaining() <= TASK_POLL {
                return Err(FenceError::TimedOut(format!(
                    "{what}: task {task} still running after {:.1} s; it may still complete",
                    started.elapsed().as_secs_f32()
                ))
                .into());
            }
            std::thread::sleep(TASK_POLL);
        }
    }
}

#[cfg(test)]
#[path = "fencer_operations_tests.rs"]
mod tests;
