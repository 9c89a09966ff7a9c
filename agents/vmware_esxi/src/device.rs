//! The ESXi host as a fencing device: VMs are the plugs, one SSH session
//! serves the whole action.
//!
//! A plug is resolved in two steps. `vim-cmd vmsvc/getallvms` proposes the
//! row it may mean (text a name or an annotation can imitate); then
//! `vim-cmd vmsvc/get.summary VMID` — hostd's own record — must agree on
//! the vmid, the name and the `.vmx` path, and on the plug itself, before
//! anything is reported or done. The same summary carries the power state,
//! so every later state read confirms the identity again at no extra cost.
//!
//! The summary also prints what the VM's guest reports (its host name...),
//! so a guest can make it unreadable. Then, and only then, hostd's records
//! that no guest writes decide instead (guest_free.rs): the name from the
//! head of `get.config`, the `.vmx` path from `get.filelayout`, the states
//! from `get.runtime`; later reads of that VM take `get.filelayout` and
//! `get.runtime`, which confirm its vmid and path each time.
//!
//! When hostd is down or hung, an off falls back to the VM's process (see
//! fallback.rs), found by its config file, never by its display name.

use std::collections::HashMap;
use std::time::Duration;

use agent_framework::logging;
use agent_framework::ssh::{Output, Ssh};
use agent_framework::{Deadline, Device, FenceError, Outlet, Plug, PowerState};

use crate::fallback::Fallback;
use crate::getallvms::{self, MatchedBy, Resolve, VmRow, VmTable};
use crate::guest_free::{self, VmRuntime};
use crate::summary::{self, SummaryError, VmSummary};
use crate::vimcmd::{self, HostFailure, VmPower};

/// A VM the agent has confirmed a plug means.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    vmid: String,
    name: String,
    vm_path: String,
    /// Its summary was not readable for sure: it is read from the records
    /// no guest writes instead.
    guest_free: bool,
}

/// What came of `get.summary` that ran.
enum Summary {
    Read(VmSummary),
    /// It ran, but cannot be read for sure (a guest's or a name's text).
    Unreadable(SummaryError),
}

/// Why the summary was not believed, for messages.
enum SummarySaid {
    Now(SummaryError),
    /// Not readable earlier in this action: not asked again.
    Earlier,
}

/// The getallvms output, every line of it, as printed: the proof of where
/// a name ends (guest_free::name_may_go_on).
struct Listing(String);

/// hostd prints a vmid as a plain number; getallvms' parser also takes
/// `007` (which vim-cmd reads as 7) from a forged row. The summary's own
/// `vm` field shows such a mismatch; the records no guest writes print no
/// vmid, so before asking them only a vmid as hostd prints it is taken.
fn is_canonical_vmid(vmid: &str) -> bool {
    !vmid.is_empty()
        && vmid.bytes().all(|b| b.is_ascii_digit())
        && (vmid == "0" || !vmid.starts_with('0'))
}

/// hostd did not serve a command.
#[derive(Debug, Clone)]
pub(crate) struct HostdTrouble {
    /// It did not answer in time (rather than refusing at once).
    pub hung: bool,
    /// What was seen, for messages.
    pub detail: String,
}

/// Why a step failed: hostd (which an off may get around) or anything else.
pub(crate) enum Trouble {
    Hostd(HostdTrouble),
    Fatal(FenceError),
}

impl From<FenceError> for Trouble {
    fn from(e: FenceError) -> Self {
        Trouble::Fatal(e)
    }
}

pub struct EsxiDevice {
    ssh: Ssh,
    host: String,
    /// shell_timeout: the bound of one command.
    shell: Duration,
    /// power_timeout: the bound of a whole off, fallback included.
    power: Duration,
    /// plug → the VM confirmed for it in this session.
    targets: HashMap<String, Target>,
    /// Set once hostd failed: from then on the session works without it.
    fallback: Option<Fallback>,
}

pub(crate) fn first_line(out: &Output) -> String {
    out.stdout
        .lines()
        .chain(out.stderr.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no output)")
        .to_string()
}

fn exit_text(out: &Output) -> String {
    out.status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "?".into())
}

fn fold(p: VmPower) -> PowerState {
    match p {
        VmPower::On => PowerState::On,
        // A suspended VM runs no code and writes nothing: off for fencing,
        // as fence-agents' VMware agents count it.
        VmPower::Off | VmPower::Suspended => PowerState::Off,
    }
}

fn describe(rows: &[&VmRow]) -> String {
    rows.iter()
        .map(|r| format!("vmid {} ({:?}, {})", r.vmid, r.name, r.file))
        .collect::<Vec<_>>()
        .join(", ")
}

impl EsxiDevice {
    pub fn new(ssh: Ssh, host: String, shell: Duration, power: Duration) -> EsxiDevice {
        EsxiDevice {
            ssh,
            host,
            shell,
            power,
            targets: HashMap::new(),
            fallback: None,
        }
    }

    /// A command gets at least a full shell_timeout of its own.
    fn command_deadline(&self, given: Deadline) -> Deadline {
        given.at_least(self.shell)
    }

    /// `vim-cmd ARGS`. A refusal by hostd or no answer in time is
    /// `Trouble::Hostd`; a missing vim-cmd is fatal.
    fn vim(&self, args: &str, deadline: Deadline) -> Result<Output, Trouble> {
        let out = match self.ssh.run(&format!("vim-cmd {args}"), deadline) {
            Ok(out) => out,
            Err(FenceError::TimedOut(_)) => {
                return Err(Trouble::Hostd(HostdTrouble {
                    hung: true,
                    detail: format!("vim-cmd {args} did not answer in time"),
                }))
            }
            Err(e) => return Err(Trouble::Fatal(e)),
        };
        if out.status == Some(127) {
            return Err(Trouble::Fatal(self.no_vim_cmd()));
        }
        // Only a failed run counts: a name or annotation in a successful
        // output may contain any of the words.
        if out.status != Some(0) {
            match vimcmd::host_failure(out.status, &out.stdout, &out.stderr) {
                Some(HostFailure::NoVimCmd) => return Err(Trouble::Fatal(self.no_vim_cmd())),
                Some(HostFailure::HostdDown(line)) => {
                    return Err(Trouble::Hostd(HostdTrouble {
                        hung: false,
                        detail: format!("vim-cmd: {line}"),
                    }))
                }
                None => {}
            }
        }
        Ok(out)
    }

    fn no_vim_cmd(&self) -> FenceError {
        FenceError::Device(format!(
            "vim-cmd not found on {} (not an ESXi host?)",
            self.host
        ))
    }

    pub(crate) fn hostd_error(&self, t: &HostdTrouble) -> FenceError {
        FenceError::Device(format!(
            "hostd on {} is not responding ({}); restart the management agents (/etc/init.d/hostd restart) or check the host",
            self.host, t.detail
        ))
    }

    fn table(&self, deadline: Deadline) -> Result<(VmTable, Listing), Trouble> {
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
        if table.rows.is_empty() {
            // No row at all: nothing a VM could have written, so the
            // failure text may be trusted whatever the exit status.
            let noise = table.unparsed.join("\n");
            match vimcmd::host_failure(out.status, &noise, &out.stderr) {
                Some(HostFailure::HostdDown(line)) => {
                    return Err(Trouble::Hostd(HostdTrouble {
                        hung: false,
                        detail: format!("vim-cmd: {line}"),
                    }))
                }
                Some(HostFailure::NoVimCmd) => return Err(Trouble::Fatal(self.no_vim_cmd())),
                None => {}
            }
        }
        if out.status != Some(0) {
            return Err(Trouble::Fatal(FenceError::Device(format!(
                "vim-cmd vmsvc/getallvms on {} failed (exit {}): {}",
                self.host,
                exit_text(&out),
                first_line(&out)
            ))));
        }
        for line in &table.unparsed {
            logging::debug(format!("getallvms: line not understood: {line}"));
        }
        table.unparsed.clear();
        Ok((table, Listing(format!("{}\n{}", out.stdout, out.stderr))))
    }

    /// `vim-cmd vmsvc/COMMAND VMID` read with `parse`: a run that failed
    /// is fatal; one that ran but is not readable for sure is `Err(why)`.
    fn record<T>(
        &self,
        command: &str,
        vmid: &str,
        parse: impl FnOnce(&str) -> Result<T, SummaryError>,
        deadline: Deadline,
    ) -> Result<Result<T, SummaryError>, Trouble> {
        let out = self.vim(
            &format!("vmsvc/{command} {vmid}"),
            self.command_deadline(deadline),
        )?;
        match parse(&out.stdout) {
            Ok(v) => Ok(Ok(v)),
            Err(why) if out.status == Some(0) => Ok(Err(why)),
            Err(_) => Err(Trouble::Fatal(FenceError::Status(format!(
                "vim-cmd vmsvc/{command} {vmid} on {} failed (exit {}): {}",
                self.host,
                exit_text(&out),
                first_line(&out)
            )))),
        }
    }

    /// hostd's summary of `vmid`, read strictly.
    fn summary(&self, vmid: &str, deadline: Deadline) -> Result<Summary, Trouble> {
        Ok(
            match self.record("get.summary", vmid, summary::parse_summary, deadline)? {
                Ok(s) => Summary::Read(s),
                Err(why) => {
                    logging::debug(format!(
                        "vim-cmd vmsvc/get.summary {vmid} is {why}: hostd's records that no guest writes decide instead"
                    ));
                    Summary::Unreadable(why)
                }
            },
        )
    }

    /// The refusal when neither the summary nor the records no guest
    /// writes can be read for sure.
    fn unreadable(&self, vmid: &str, summary: &SummarySaid, why: String) -> Trouble {
        let summary = match summary {
            SummarySaid::Now(e) => format!("vim-cmd vmsvc/get.summary {vmid} is {e}"),
            SummarySaid::Earlier => format!(
                "vim-cmd vmsvc/get.summary {vmid} was not readable for sure earlier in this action"
            ),
        };
        Trouble::Fatal(FenceError::Status(format!(
            "vmid {vmid} on {} is not readable for sure: {summary}, and {why}; nothing was done. A double quote (or a backslash) in the VM's name or .vmx path can cause this, and so can an annotation that repeats the name followed by a double quote: remove it; until then the VM cannot be fenced by this agent. What the guest reports never causes this",
            self.host
        )))
    }

    /// `vmid`'s .vmx path and states, from get.filelayout and get.runtime,
    /// which hold no text the guest writes.
    fn guest_free_state(
        &self,
        vmid: &str,
        summary: &SummarySaid,
        deadline: Deadline,
    ) -> Result<(String, VmRuntime), Trouble> {
        let path = self
            .record(
                "get.filelayout",
                vmid,
                guest_free::parse_filelayout,
                deadline,
            )?
            .map_err(|e| {
                self.unreadable(
                    vmid,
                    summary,
                    format!("vim-cmd vmsvc/get.filelayout {vmid} is {e}"),
                )
            })?;
        let runtime = self
            .record("get.runtime", vmid, guest_free::parse_runtime, deadline)?
            .map_err(|e| {
                self.unreadable(
                    vmid,
                    summary,
                    format!("vim-cmd vmsvc/get.runtime {vmid} is {e}"),
                )
            })?;
        Ok((path, runtime))
    }

    /// What hostd says of `vmid`, to confirm a getallvms row with: its
    /// summary, or when a guest (or a name) made that unreadable, the
    /// records no guest writes. The flag says which.
    fn hostd_record(
        &self,
        vmid: &str,
        listing: &Listing,
        deadline: Deadline,
    ) -> Result<(VmSummary, bool), Trouble> {
        let why = match self.summary(vmid, deadline)? {
            Summary::Read(s) => return Ok((s, false)),
            Summary::Unreadable(why) => SummarySaid::Now(why),
        };
        if !is_canonical_vmid(vmid) {
            return Err(self.unreadable(
                vmid,
                &why,
                format!("hostd never prints vmid {vmid:?} so: the getallvms row is not hostd's"),
            ));
        }
        let name = self
            .record("get.config", vmid, guest_free::parse_config_name, deadline)?
            .map_err(|e| {
                self.unreadable(
                    vmid,
                    &why,
                    format!("vim-cmd vmsvc/get.config {vmid} is {e}"),
                )
            })?;
        if guest_free::name_may_go_on(&listing.0, &name) {
            return Err(self.unreadable(
                vmid,
                &why,
                format!(
                    "vim-cmd vmsvc/get.config {vmid} names it {name:?}, but getallvms shows {name:?} followed by a double quote, so where the name ends cannot be told"
                ),
            ));
        }
        let (vm_path, runtime) = self.guest_free_state(vmid, &why, deadline)?;
        Ok((
            VmSummary {
                vmid: vmid.to_string(),
                name,
                vm_path,
                power: runtime.power,
                connection: runtime.connection,
                template: None,
            },
            true,
        ))
    }

    /// A confirmed VM, read again: its summary, or, once that was not
    /// readable, get.filelayout and get.runtime (whose vmid and .vmx path
    /// identify it; they do not print the name, which is kept).
    fn reread(&mut self, key: &str, t: &Target, deadline: Deadline) -> Result<VmSummary, Trouble> {
        let why = if t.guest_free {
            SummarySaid::Earlier
        } else {
            match self.summary(&t.vmid, deadline)? {
                Summary::Read(s) => return Ok(s),
                Summary::Unreadable(why) => SummarySaid::Now(why),
            }
        };
        if let Some(target) = self.targets.get_mut(key) {
            target.guest_free = true;
        }
        let (vm_path, runtime) = self.guest_free_state(&t.vmid, &why, deadline)?;
        Ok(VmSummary {
            vmid: t.vmid.clone(),
            name: t.name.clone(),
            vm_path,
            power: runtime.power,
            connection: runtime.connection,
            template: None,
        })
    }

    /// The row `plug` proposes, from a fresh table.
    fn candidate(
        &self,
        plug: &str,
        deadline: Deadline,
    ) -> Result<(VmRow, MatchedBy, Listing), Trouble> {
        let (table, listing) = self.table(deadline)?;
        let host = &self.host;
        let refuse = |why: String| Trouble::Fatal(FenceError::AmbiguousPlug(why));
        match table.resolve(plug) {
            Resolve::Candidate(row, by) => {
                if row.is_ambiguous() {
                    logging::debug(format!(
                        "the getallvms row of vmid {} reads several ways; get.summary decides",
                        row.vmid
                    ));
                }
                Ok((row.clone(), by, listing))
            }
            Resolve::NotFound => {
                let blanks = if plug.trim() != plug {
                    " getallvms cannot show blanks at either end of a name: give the vmid or the .vmx path."
                } else {
                    ""
                };
                Err(Trouble::Fatal(FenceError::Status(format!(
                    "No VM {plug:?} on {host} (a plug is a VM name, vmid or .vmx path, matched exactly).{blanks}"
                ))))
            }
            Resolve::Several(rows) => Err(refuse(format!(
                "{plug:?} matches {} VMs on {host}: {}; nothing was done. Give the vmid or the .vmx path as plug. If one of these rows is really a line of another VM's annotation (or part of a name), fix that annotation or name.",
                rows.len(),
                describe(&rows)
            ))),
            Resolve::DuplicateVmid(rows) => Err(refuse(format!(
                "vmid {} is listed {} times by vim-cmd vmsvc/getallvms on {host}: {}; at least one of these rows is a VM's annotation or name imitating a row, so nothing was done. Fix the annotation or name that repeats the row.",
                rows.first().map(|r| r.vmid.as_str()).unwrap_or("?"),
                rows.len(),
                describe(&rows)
            ))),
        }
    }

    /// Whether what hostd says (its summary, or when `guest_free` its
    /// records no guest writes) confirms that `plug` means `row`.
    fn confirm(
        &self,
        plug: &str,
        row: &VmRow,
        by: MatchedBy,
        s: &VmSummary,
        guest_free: bool,
    ) -> Result<(), FenceError> {
        let source = if guest_free {
            "vim-cmd vmsvc/get.config and get.filelayout"
        } else {
            "vim-cmd vmsvc/get.summary"
        };
        let saw = format!(
            "{source} {} on {} says vmid {} is {:?} at {}",
            row.vmid, self.host, s.vmid, s.name, s.vm_path
        );
        let disagreement = if s.vmid != row.vmid {
            Some("that is not the vmid asked for".to_string())
        } else if !row.has_reading(s.name.trim(), &s.vm_path) {
            Some(format!(
                "but its getallvms row reads {:?} at {} (the row was forged or misread)",
                row.name, row.file
            ))
        } else {
            match by {
                MatchedBy::Name if s.name != plug => Some(format!("not {plug:?}")),
                MatchedBy::Path if s.vm_path != plug => Some(format!("not at {plug}")),
                _ => None,
            }
        };
        match disagreement {
            None => Ok(()),
            Some(why) => Err(FenceError::AmbiguousPlug(format!(
                "{saw}, {why}; nothing was done. Give the vmid or the .vmx path as plug, and check the VM names and annotations on the host."
            ))),
        }
    }

    /// The plug's VM, confirmed, and its state, from one get.summary (plus
    /// one getallvms the first time).
    fn read_vm(&mut self, plug: &Plug, deadline: Deadline) -> Result<VmSummary, Trouble> {
        let key = plug.as_str();
        let s = match self.targets.get(key).cloned() {
            Some(t) => {
                let s = self.reread(key, &t, deadline)?;
                if (s.vmid.as_str(), s.name.as_str(), s.vm_path.as_str())
                    != (t.vmid.as_str(), t.name.as_str(), t.vm_path.as_str())
                {
                    return Err(Trouble::Fatal(FenceError::AmbiguousPlug(format!(
                        "vmid {} on {} was {:?} at {} and is now {:?} at {}: it changed during the action, so nothing more is done",
                        t.vmid, self.host, t.name, t.vm_path, s.name, s.vm_path
                    ))));
                }
                s
            }
            None => {
                let (row, by, listing) = self.candidate(key, deadline)?;
                let (s, guest_free) = self.hostd_record(&row.vmid, &listing, deadline)?;
                self.confirm(key, &row, by, &s, guest_free)?;
                logging::debug(format!(
                    "Plug {key:?} is vmid {} ({:?}, {}), confirmed by {}",
                    s.vmid,
                    s.name,
                    s.vm_path,
                    if guest_free {
                        "get.config, get.filelayout and get.runtime"
                    } else {
                        "get.summary"
                    }
                ));
                self.targets.insert(
                    key.to_string(),
                    Target {
                        vmid: s.vmid.clone(),
                        name: s.name.clone(),
                        vm_path: s.vm_path.clone(),
                        guest_free,
                    },
                );
                s
            }
        };
        if s.connection != "connected" {
            return Err(Trouble::Fatal(FenceError::Status(format!(
                "vmid {} on {} is {:?}, not connected: hostd cannot vouch for its power state, so nothing was done",
                s.vmid, self.host, s.connection
            ))));
        }
        // A template never runs: reporting it off would tell the cluster a
        // node is fenced when the plug names no node at all (vSphere's own
        // rule, which fence_vmware applies too).
        if s.template == Some(true) {
            return Err(Trouble::Fatal(FenceError::Status(format!(
                "vmid {} on {} ({:?}) is a template, not a virtual machine that runs: it is no fence target, so nothing was done",
                s.vmid, self.host, s.name
            ))));
        }
        Ok(s)
    }

    /// From now on, work without hostd.
    fn enter_fallback(&mut self, trouble: HostdTrouble) {
        logging::warning(format!(
            "hostd on {} is not responding ({}): an off falls back to the VM's process (esxcli vm process), found by its .vmx config file",
            self.host, trouble.detail
        ));
        self.fallback = Some(Fallback::new(self.host.clone(), trouble));
    }

    /// The `.vmx` path hostd confirmed for `plug` earlier in this session.
    fn confirmed_path(&self, plug: &Plug) -> Option<String> {
        self.targets.get(plug.as_str()).map(|t| t.vm_path.clone())
    }

    fn with_fallback<T>(
        &mut self,
        plug: &Plug,
        f: impl FnOnce(&mut Fallback, &Ssh, Option<String>) -> Result<T, FenceError>,
    ) -> Result<T, FenceError> {
        let confirmed = self.confirmed_path(plug);
        match self.fallback.as_mut() {
            Some(fb) => f(fb, &self.ssh, confirmed),
            None => Err(FenceError::Device("internal: no fallback".into())),
        }
    }
}

impl Device for EsxiDevice {
    fn power_state(&mut self, plug: &Plug, deadline: Deadline) -> Result<PowerState, FenceError> {
        if self.fallback.is_none() {
            match self.read_vm(plug, deadline) {
                Ok(s) => {
                    if s.power == VmPower::Suspended {
                        logging::debug(format!(
                            "vmid {} is suspended, which counts as off",
                            s.vmid
                        ));
                    }
                    return Ok(fold(s.power));
                }
                Err(Trouble::Fatal(e)) => return Err(e),
                Err(Trouble::Hostd(t)) => self.enter_fallback(t),
            }
        }
        let shell = self.shell;
        self.with_fallback(plug, |fb, ssh, confirmed| {
            fb.state(ssh, plug, confirmed, deadline.at_least(shell))
        })
    }

    fn set_power(
        &mut self,
        plug: &Plug,
        target: PowerState,
        deadline: Deadline,
    ) -> Result<(), FenceError> {
        // An off, fallback and all, ends within power_timeout; an on has
        // no fallback and keeps the framework's whole bound.
        let deadline = match target {
            PowerState::Off => deadline.min(Deadline::after(self.power)),
            PowerState::On => deadline,
        };
        if self.fallback.is_none() {
            match self.vim_power(plug, target, deadline) {
                Ok(()) => return Ok(()),
                Err(Trouble::Fatal(e)) => return Err(e),
                Err(Trouble::Hostd(t)) => self.enter_fallback(t),
            }
        }
        match target {
            PowerState::On => {
                let fb = self.fallback.as_ref().map(|f| f.trouble().clone());
                Err(match fb {
                    Some(t) => FenceError::Device(format!(
                        "hostd on {} is not responding ({}): a VM cannot be powered on without it. Restart the management agents (/etc/init.d/hostd restart), then power the VM on",
                        self.host, t.detail
                    )),
                    None => FenceError::Device("internal: no fallback".into()),
                })
            }
            PowerState::Off => {
                let shell = self.shell;
                self.with_fallback(plug, |fb, ssh, confirmed| {
                    fb.kill(ssh, plug, confirmed, shell, deadline)
                })
            }
        }
    }

    fn power_cycle(&mut self, plug: &Plug, deadline: Deadline) -> Result<(), FenceError> {
        if let Some(fb) = &self.fallback {
            return Err(self.hostd_error(fb.trouble()));
        }
        let vmid = match self.read_vm(plug, Deadline::after(self.shell)) {
            Ok(s) => s.vmid,
            Err(Trouble::Fatal(e)) => return Err(e),
            Err(Trouble::Hostd(t)) => return Err(self.hostd_error(&t)),
        };
        let out = match self.vim(&format!("vmsvc/power.reset {vmid}"), deadline) {
            Ok(out) => out,
            Err(Trouble::Fatal(e)) => return Err(e),
            Err(Trouble::Hostd(t)) => return Err(self.hostd_error(&t)),
        };
        let all = format!("{}\n{}", out.stdout, out.stderr);
        if out.status != Some(0) || vimcmd::fault_of(&all).is_some() {
            // A VM that is off cannot be reset, and needs no fencing.
            if vimcmd::is_already_in_state(&all) {
                if let Ok(PowerState::Off) = self.power_state(plug, Deadline::after(self.shell)) {
                    logging::info(format!("vmid {vmid} is not running: nothing to reset"));
                    return Ok(());
                }
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
        let (table, listing) = match self.table(deadline) {
            Ok(t) => t,
            Err(Trouble::Fatal(e)) => return Err(e),
            Err(Trouble::Hostd(t)) => return Err(self.hostd_error(&t)),
        };
        let mut outlets = Vec::new();
        for row in &table.rows {
            let status = if with_status {
                self.listed_state(&table, &listing, row, deadline)
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
        match self.table(deadline) {
            Ok((t, _)) => {
                logging::debug(format!("{} VM(s) on {}", t.rows.len(), self.host));
                Ok(())
            }
            Err(Trouble::Fatal(e)) => Err(e),
            Err(Trouble::Hostd(t)) => Err(self.hostd_error(&t)),
        }
    }

    fn disconnect(&mut self) {
        self.ssh.close();
    }
}

impl EsxiDevice {
    /// power.on / power.off through hostd. The outcome is read back by the
    /// framework's polls; what the command says is only logged.
    fn vim_power(
        &mut self,
        plug: &Plug,
        target: PowerState,
        deadline: Deadline,
    ) -> Result<(), Trouble> {
        let vmid = match self.targets.get(plug.as_str()) {
            Some(t) => t.vmid.clone(),
            None => self.read_vm(plug, Deadline::after(self.shell))?.vmid,
        };
        let (verb, bound) = match target {
            PowerState::On => ("power.on", deadline),
            // An off that hangs leaves at least half the time to the
            // fallback.
            PowerState::Off => (
                "power.off",
                deadline.within(self.shell.min(deadline.remaining() / 2)),
            ),
        };
        let out = self.vim(&format!("vmsvc/{verb} {vmid}"), bound)?;
        let all = format!("{}\n{}", out.stdout, out.stderr);
        if vimcmd::is_already_in_state(&all) {
            logging::debug(format!(
                "vmid {vmid}: {verb} says the VM already is in that state"
            ));
        } else if out.status != Some(0) || vimcmd::fault_of(&all).is_some() {
            logging::warning(format!(
                "vim-cmd vmsvc/{verb} {vmid} exited {}: {}",
                exit_text(&out),
                vimcmd::fault_of(&all).unwrap_or_else(|| first_line(&out))
            ));
        }
        Ok(())
    }

    /// A row's state for list-status, only when hostd (its summary, or
    /// the records no guest writes) confirms the row; UNKNOWN otherwise.
    fn listed_state(
        &self,
        table: &VmTable,
        listing: &Listing,
        row: &VmRow,
        deadline: Deadline,
    ) -> Option<PowerState> {
        if table.rows.iter().filter(|r| r.vmid == row.vmid).count() > 1 {
            return None;
        }
        match self.hostd_record(&row.vmid, listing, deadline) {
            Ok((s, _))
                if s.vmid == row.vmid
                    && row.has_reading(&s.name, &s.vm_path)
                    && s.connection == "connected" =>
            {
                Some(fold(s.power))
            }
            Ok((s, _)) => {
                logging::debug(format!(
                    "vmid {}: hostd says {:?} at {} ({}): state not listed",
                    row.vmid, s.name, s.vm_path, s.connection
                ));
                None
            }
            Err(Trouble::Fatal(e)) => {
                logging::debug(format!(
                    "vmid {}: {}",
                    row.vmid,
                    e.message_lines().join(": ")
                ));
                None
            }
            Err(Trouble::Hostd(t)) => {
                logging::debug(format!("vmid {}: {}", row.vmid, t.detail));
                None
            }
        }
    }
}
