//! The ESXi host as a fencing device: VMs are the plugs, `vim-cmd` the
//! interface, one SSH session for the whole action.

use std::collections::HashMap;
use std::time::Duration;

use agent_framework::logging;
use agent_framework::{Deadline, Device, FenceError, Outlet, Plug, PowerState};

use crate::getallvms::{self, Resolve, VmTable};
use crate::vimcmd::{self, HostFailure, VmPower};
use agent_framework::ssh::{Output, Ssh};

pub struct EsxiDevice {
    ssh: Ssh,
    host: String,
    /// shell_timeout: the bound of one command.
    shell: Duration,
    /// plug → vmid, resolved once per session.
    vmids: HashMap<String, String>,
}

fn first_line(out: &Output) -> String {
    out.stdout
        .lines()
        .chain(out.stderr.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no output)")
        .to_string()
}

impl EsxiDevice {
    pub fn new(ssh: Ssh, host: String, shell: Duration) -> EsxiDevice {
        EsxiDevice {
            ssh,
            host,
            shell,
            vmids: HashMap::new(),
        }
    }

    /// A command gets at least a full shell_timeout of its own.
    fn command_deadline(&self, given: Deadline) -> Deadline {
        given.at_least(self.shell)
    }

    fn host_error(&self, f: HostFailure) -> FenceError {
        match f {
            HostFailure::NoVimCmd => FenceError::Device(format!(
                "vim-cmd not found on {} (not an ESXi host?)",
                self.host
            )),
            HostFailure::HostdDown(line) => FenceError::Device(format!(
                "hostd on {} is not responding (vim-cmd: {line}); restart the management agents (/etc/init.d/hostd restart) or check the host",
                self.host
            )),
        }
    }

    /// `vim-cmd ARGS`, failing when vim-cmd is missing.
    fn vim(&self, args: &str, deadline: Deadline) -> Result<Output, FenceError> {
        let out = self.ssh.run(&format!("vim-cmd {args}"), deadline)?;
        if out.status == Some(127) {
            return Err(self.host_error(HostFailure::NoVimCmd));
        }
        Ok(out)
    }

    fn table(&self, deadline: Deadline) -> Result<VmTable, FenceError> {
        let out = self.vim("vmsvc/getallvms", self.command_deadline(deadline))?;
        let table = getallvms::parse(&out.stdout);
        let stderr_table = getallvms::parse(&out.stderr);
        let mut table = VmTable {
            skipped: table
                .skipped
                .iter()
                .chain(stderr_table.skipped.iter())
                .cloned()
                .collect(),
            ..table
        };
        for id in &table.skipped {
            logging::debug(format!("getallvms skipped invalid VM {id}"));
        }
        if table.rows.is_empty() || out.status != Some(0) {
            let noise = table.unparsed.join("\n");
            if let Some(f) = vimcmd::host_failure(out.status, &noise, &out.stderr) {
                return Err(self.host_error(f));
            }
            if out.status != Some(0) {
                return Err(FenceError::Device(format!(
                    "vim-cmd vmsvc/getallvms on {} failed (exit {}): {}",
                    self.host,
                    out.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "?".into()),
                    first_line(&out)
                )));
            }
        }
        for line in &table.unparsed {
            logging::debug(format!("getallvms: line not understood: {line}"));
        }
        table.unparsed.clear();
        Ok(table)
    }

    fn vmid(&mut self, plug: &Plug) -> Result<String, FenceError> {
        if let Some(id) = self.vmids.get(plug.as_str()) {
            return Ok(id.clone());
        }
        let table = self.table(Deadline::after(self.shell))?;
        let id = match table.resolve(plug.as_str()) {
            Resolve::Found(row) => {
                logging::debug(format!("Plug {plug:?} is {row}"));
                row.vmid.clone()
            }
            Resolve::NotFound => {
                return Err(FenceError::Status(format!(
                    "No VM {:?} on {} (a plug is a VM name, vmid or .vmx path, matched exactly)",
                    plug.as_str(),
                    self.host
                )))
            }
            Resolve::Several(rows) => {
                return Err(FenceError::AmbiguousPlug(format!(
                    "{:?} names {} VMs on {}: {}; nothing was done. Use the vmid or the .vmx path as plug.",
                    plug.as_str(),
                    rows.len(),
                    self.host,
                    rows.iter()
                        .map(|r| format!("vmid {} ({})", r.vmid, r.file))
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            Resolve::Unclear(row) => {
                let mut readings = vec![row.name.clone()];
                readings.extend(row.other_names.iter().cloned());
                return Err(FenceError::AmbiguousPlug(format!(
                    "The getallvms line of vmid {} cannot be split into name and file for sure (the name may be any of {:?}); nothing was done. Use the vmid {} as plug.",
                    row.vmid, readings, row.vmid
                )));
            }
        };
        self.vmids.insert(plug.as_str().to_string(), id.clone());
        Ok(id)
    }

    fn getstate(&self, vmid: &str, deadline: Deadline) -> Result<VmPower, FenceError> {
        let out = self.vim(
            &format!("vmsvc/power.getstate {vmid}"),
            self.command_deadline(deadline),
        )?;
        if let Some(state) = vimcmd::parse_power_state(&out.stdout) {
            return Ok(state);
        }
        if let Some(f) = vimcmd::host_failure(out.status, &out.stdout, &out.stderr) {
            return Err(self.host_error(f));
        }
        Err(FenceError::Status(format!(
            "Unable to read the power state of vmid {vmid} on {}: {}",
            self.host,
            first_line(&out)
        )))
    }
}

fn fold(p: VmPower) -> PowerState {
    match p {
        VmPower::On => PowerState::On,
        // A suspended VM runs no code and writes nothing: off for fencing,
        // as fence-agents' VMware agents count it.
        VmPower::Off | VmPower::Suspended => PowerState::Off,
    }
}

impl Device for EsxiDevice {
    fn power_state(&mut self, plug: &Plug, deadline: Deadline) -> Result<PowerState, FenceError> {
        let vmid = self.vmid(plug)?;
        let p = self.getstate(&vmid, deadline)?;
        if p == VmPower::Suspended {
            logging::debug(format!("vmid {vmid} is suspended, which counts as off"));
        }
        Ok(fold(p))
    }

    fn set_power(
        &mut self,
        plug: &Plug,
        target: PowerState,
        deadline: Deadline,
    ) -> Result<(), FenceError> {
        let vmid = self.vmid(plug)?;
        let verb = match target {
            PowerState::On => "power.on",
            PowerState::Off => "power.off",
        };
        let out = self.vim(&format!("vmsvc/{verb} {vmid}"), deadline)?;
        let all = format!("{}\n{}", out.stdout, out.stderr);
        if out.status != Some(0) {
            if let Some(f) = vimcmd::host_failure(out.status, &out.stdout, &out.stderr) {
                return Err(self.host_error(f));
            }
        }
        // The outcome is read back by polling power.getstate; what the
        // command says is only logged.
        if vimcmd::is_already_in_state(&all) {
            logging::debug(format!(
                "vmid {vmid}: {verb} says the VM already is in that state"
            ));
        } else if out.status != Some(0) || vimcmd::fault_of(&all).is_some() {
            logging::warning(format!(
                "vim-cmd vmsvc/{verb} {vmid} exited {}: {}",
                out.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "?".into()),
                vimcmd::fault_of(&all).unwrap_or_else(|| first_line(&out))
            ));
        }
        Ok(())
    }

    fn power_cycle(&mut self, plug: &Plug, deadline: Deadline) -> Result<(), FenceError> {
        let vmid = self.vmid(plug)?;
        let out = self.vim(&format!("vmsvc/power.reset {vmid}"), deadline)?;
        let all = format!("{}\n{}", out.stdout, out.stderr);
        if let Some(f) = vimcmd::host_failure(out.status, &out.stdout, &out.stderr)
            .filter(|_| out.status != Some(0))
        {
            return Err(self.host_error(f));
        }
        if out.status != Some(0) || vimcmd::fault_of(&all).is_some() {
            // A VM that is off cannot be reset, and needs no fencing.
            if vimcmd::is_already_in_state(&all)
                && self.getstate(&vmid, Deadline::after(self.shell))? != VmPower::On
            {
                logging::info(format!("vmid {vmid} is not running: nothing to reset"));
                return Ok(());
            }
            return Err(FenceError::Device(format!(
                "vim-cmd vmsvc/power.reset {vmid} failed: {}",
                vimcmd::fault_of(&all).unwrap_or_else(|| first_line(&out))
            )));
        }
        logging::warning(format!(
            "method=cycle: vmid {vmid} was reset; a reset cannot be verified (the VM is on before and after)"
        ));
        Ok(())
    }

    fn list(&mut self, with_status: bool, deadline: Deadline) -> Result<Vec<Outlet>, FenceError> {
        let table = self.table(deadline)?;
        let mut outlets = Vec::new();
        for row in &table.rows {
            let status = if with_status {
                match self.getstate(&row.vmid, deadline) {
                    Ok(p) => Some(fold(p)),
                    Err(e) => {
                        logging::debug(format!(
                            "vmid {}: {}",
                            row.vmid,
                            e.message_lines().join(": ")
                        ));
                        None
                    }
                }
            } else {
                None
            };
            outlets.push(Outlet {
                id: row.name.clone(),
                alias: row.vmid.clone(),
                status,
            });
        }
        Ok(outlets)
    }

    fn monitor(&mut self, deadline: Deadline) -> Result<(), FenceError> {
        let t = self.table(deadline)?;
        logging::debug(format!("{} VM(s) on {}", t.rows.len(), self.host));
        Ok(())
    }

    fn disconnect(&mut self) {
        self.ssh.close();
    }
}
