//! Fencing without hostd: when vim-cmd cannot reach hostd (refused, or no
//! answer within shell_timeout), an off ends the VM's process instead —
//! `vm process kill --type soft`, then `hard`, then `force` (VMware KB
//! 1014165, "Powering off an unresponsive virtual machine on an ESXi host";
//! the ESXCLI reference: soft lets the VMX process shut down cleanly, hard
//! ends it at once, force is the last resort when the others fail).
//!
//! The process is found by its config file, the `.vmx` path the kernel
//! reports for it, never by its display name. That path comes from hostd's
//! own summary when hostd confirmed the VM earlier in this session (it
//! hung during power.off), or else from the plug, which must then be a
//! `[datastore] dir/name.vmx` path: a display name alone is refused. The
//! datastore is mapped to `/vmfs/volumes/<uuid>` (and its name link) with
//! `storage filesystem list`; any doubt there is a refusal too.
//!
//! `esxcli` itself goes through hostd on ESXi 5 and later: with hostd
//! down it fails with "Connect to localhost failed: Connection failure"
//! (seen on hosts whose hostd crashed; Apache VCL's VIM_SSH.pm names the
//! same message for vim-cmd). `localcli`, VMware's hostd-less twin of
//! esxcli for exactly this situation, takes the same commands. So esxcli
//! is tried first when hostd refused at once, localcli first when hostd
//! hung (esxcli would hang on it too), and the other one after a failure
//! of that kind.
//!
//! Success means the process is gone from `vm process list`. Without
//! hostd, "no process" proves off only for a VM hostd confirmed earlier or
//! whose process this agent saw end; otherwise the VM may just as well
//! not be on this host, and that is a failure, never "already off".

use std::collections::HashSet;
use std::time::Duration;

use agent_framework::logging;
use agent_framework::ssh::{Output, Ssh};
use agent_framework::{Deadline, FenceError, Plug, PowerState};

use crate::device::{first_line, HostdTrouble};
use crate::esxcli::{self, DatastorePath, Volume, World};
use crate::getallvms;
use crate::vimcmd::{self, HostFailure};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cli {
    Esxcli,
    Localcli,
}

impl Cli {
    fn program(self) -> &'static str {
        match self {
            Cli::Esxcli => "esxcli",
            Cli::Localcli => "localcli",
        }
    }
}

/// The kill types, mildest first.
const KILLS: [&str; 3] = ["soft", "hard", "force"];

/// Between two looks at the process list after a kill.
const POLL: Duration = Duration::from_millis(500);

pub(crate) struct Fallback {
    /// `host:port`, for messages.
    host: String,
    trouble: HostdTrouble,
    /// The command-line tools still worth trying, preferred first.
    tools: Vec<Cli>,
    volumes: Option<Vec<Volume>>,
    /// Plugs whose process this agent saw end after its kill.
    killed: HashSet<String>,
}

/// The VM's process, as far as it can be known without hostd.
struct Located {
    /// What identifies the VM: `[datastore] dir/name.vmx`.
    vmx: DatastorePath,
    /// Whether hostd confirmed this path for the plug earlier.
    confirmed: bool,
    /// The config-file paths its process may report.
    paths: Vec<String>,
}

impl Fallback {
    pub fn new(host: String, trouble: HostdTrouble) -> Fallback {
        let tools = if trouble.hung {
            vec![Cli::Localcli, Cli::Esxcli]
        } else {
            vec![Cli::Esxcli, Cli::Localcli]
        };
        Fallback {
            host,
            trouble,
            tools,
            volumes: None,
            killed: HashSet::new(),
        }
    }

    pub fn trouble(&self) -> &HostdTrouble {
        &self.trouble
    }

    fn tool(&self) -> &'static str {
        self.tools.first().map(|t| t.program()).unwrap_or("esxcli")
    }

    fn hostd_says(&self) -> String {
        format!(
            "hostd on {} is not responding ({})",
            self.host, self.trouble.detail
        )
    }

    /// `TOOL ARGS`, moving on to the next tool when this one needs hostd
    /// too (refused, or no answer) or is missing.
    fn run(&mut self, ssh: &Ssh, args: &str, deadline: Deadline) -> Result<Output, FenceError> {
        loop {
            let tool = self.tool();
            let last = self.tools.len() <= 1;
            // With another tool to try, this one may use half the time.
            let bound = if last {
                deadline
            } else {
                deadline.within(deadline.remaining() / 2)
            };
            let why_not = match ssh.run(&format!("{tool} {args}"), bound) {
                Err(FenceError::TimedOut(_)) if !last => "did not answer in time".to_string(),
                Err(e) => return Err(e),
                Ok(out) if out.status == Some(127) && !last => "is not installed".to_string(),
                Ok(out) if out.status != Some(0) && !last => {
                    match vimcmd::host_failure(out.status, &out.stdout, &out.stderr) {
                        Some(HostFailure::HostdDown(line)) => format!("needs hostd too ({line})"),
                        _ => return Ok(out),
                    }
                }
                Ok(out) => return Ok(out),
            };
            self.tools.remove(0);
            logging::info(format!("{tool} {why_not}: using {} instead", self.tool()));
        }
    }

    fn xml<T>(
        &mut self,
        ssh: &Ssh,
        args: &str,
        deadline: Deadline,
        parse: fn(&str) -> Result<T, esxcli::EsxcliError>,
    ) -> Result<T, FenceError> {
        let out = self.run(ssh, &format!("--formatter=xml {args}"), deadline)?;
        let tool = self.tool();
        if out.status != Some(0) {
            return Err(FenceError::Device(format!(
                "{} and `{tool} {args}` failed too (exit {}): {}",
                self.hostd_says(),
                out.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "?".into()),
                first_line(&out)
            )));
        }
        parse(&out.stdout)
            .map_err(|e| FenceError::Device(format!("`{tool} {args}` on {}: {e}", self.host)))
    }

    /// Which process config files `plug` means, or why that cannot be
    /// known without hostd.
    fn locate(
        &mut self,
        ssh: &Ssh,
        plug: &Plug,
        confirmed: Option<String>,
        deadline: Deadline,
    ) -> Result<Located, FenceError> {
        let (text, is_confirmed) = match confirmed {
            Some(p) => (p, true),
            None if getallvms::is_file_column(plug.as_str()) => (plug.as_str().to_string(), false),
            None => {
                return Err(FenceError::Status(format!(
                    "{}, and without it a VM is only found by its .vmx path, never by a name: give plug=\"[datastore] dir/name.vmx\" (the File column of vim-cmd vmsvc/getallvms), or restart hostd (/etc/init.d/hostd restart)",
                    self.hostd_says()
                )))
            }
        };
        let vmx = DatastorePath::parse(&text).ok_or_else(|| {
            FenceError::Status(format!(
                "{}, and {text:?} is not a plain [datastore] dir/name.vmx path the VM's process could be found by",
                self.hostd_says()
            ))
        })?;
        if self.volumes.is_none() {
            let vols = self.xml(
                ssh,
                "storage filesystem list",
                deadline,
                esxcli::parse_filesystem_list,
            )?;
            self.volumes = Some(vols);
        }
        let paths = esxcli::config_file_paths(&vmx, self.volumes.as_deref().unwrap_or(&[]))
            .map_err(|e| {
                FenceError::Status(format!(
                    "{}, and {vmx} cannot be mapped to a config file for sure: {e}; nothing was done",
                    self.hostd_says()
                ))
            })?;
        Ok(Located {
            vmx,
            confirmed: is_confirmed,
            paths,
        })
    }

    /// The running processes whose config file is one of `paths`.
    fn worlds(
        &mut self,
        ssh: &Ssh,
        at: &Located,
        deadline: Deadline,
    ) -> Result<Option<World>, FenceError> {
        let all = self.xml(ssh, "vm process list", deadline, esxcli::parse_process_list)?;
        let mut mine: Vec<World> = all
            .into_iter()
            .filter(|w| at.paths.contains(&w.config_file))
            .collect();
        match mine.len() {
            0 => Ok(None),
            1 => Ok(mine.pop()),
            n => Err(FenceError::AmbiguousPlug(format!(
                "{n} VM processes on {} have the config file of {}: worlds {}; nothing was done",
                self.host,
                at.vmx,
                mine.iter()
                    .map(|w| w.world_id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The plug's power state as the process list vouches for it.
    pub fn state(
        &mut self,
        ssh: &Ssh,
        plug: &Plug,
        confirmed: Option<String>,
        deadline: Deadline,
    ) -> Result<PowerState, FenceError> {
        let at = self.locate(ssh, plug, confirmed, deadline)?;
        match self.worlds(ssh, &at, deadline)? {
            Some(w) => {
                logging::info(format!(
                    "hostd down: {} runs as world {} ({})",
                    at.vmx, w.world_id, w.config_file
                ));
                Ok(PowerState::On)
            }
            None if at.confirmed || self.killed.contains(plug.as_str()) => {
                logging::info(format!(
                    "hostd down: no process has the config file of {} ({})",
                    at.vmx,
                    if at.confirmed {
                        "a VM hostd confirmed earlier"
                    } else {
                        "its process ended after this agent's kill"
                    }
                ));
                Ok(PowerState::Off)
            }
            None => Err(FenceError::Status(format!(
                "{} and no running VM process has the config file {}: the VM is off, or not on this host, and without hostd that cannot be told apart. Restart hostd (/etc/init.d/hostd restart) and try again",
                self.hostd_says(),
                at.paths.join(" or ")
            ))),
        }
    }

    /// End the plug's process: soft, hard, then force, each given an
    /// equal share of what is left of `deadline`, until the process list
    /// no longer shows it.
    pub fn kill(
        &mut self,
        ssh: &Ssh,
        plug: &Plug,
        confirmed: Option<String>,
        shell: Duration,
        deadline: Deadline,
    ) -> Result<(), FenceError> {
        let at = self.locate(ssh, plug, confirmed, deadline.within(shell))?;
        // The kills share the time but a last look at the process list,
        // which decides.
        let reserve = (deadline.remaining() / 5).min(Duration::from_secs(2));
        let kills_end = Deadline::at(
            deadline
                .instant()
                .checked_sub(reserve)
                .unwrap_or(deadline.instant()),
        );
        let mut last: Option<World> = None;
        for (i, kind) in KILLS.iter().enumerate() {
            let Some(world) = self.worlds(ssh, &at, deadline.within(shell))? else {
                return self.gone(plug, &at, last.as_ref(), KILLS.get(i.wrapping_sub(1)));
            };
            let step_end = Deadline::after(kills_end.remaining() / (KILLS.len() - i) as u32);
            let cmd = format!(
                "vm process kill --type={kind} --world-id={}",
                world.world_id
            );
            logging::warning(format!(
                "hostd down: {} (world {}, {}): {} {cmd}",
                at.vmx,
                world.world_id,
                world.config_file,
                self.tool()
            ));
            let out = self.run(ssh, &cmd, deadline.within(shell))?;
            if out.status != Some(0) {
                logging::info(format!(
                    "{} {cmd} exited {}: {}",
                    self.tool(),
                    out.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "?".into()),
                    first_line(&out)
                ));
            }
            last = Some(world);
            while !step_end.expired() {
                std::thread::sleep(POLL.min(step_end.remaining()));
                if self.worlds(ssh, &at, deadline.within(shell))?.is_none() {
                    return self.gone(plug, &at, last.as_ref(), Some(kind));
                }
            }
        }
        if self.worlds(ssh, &at, deadline.within(shell))?.is_none() {
            return self.gone(plug, &at, last.as_ref(), KILLS.last());
        }
        Err(FenceError::WaitingOff(format!(
            "{}: the process of {} ({}) still runs after soft, hard and force kills",
            self.hostd_says(),
            at.vmx,
            last.map(|w| format!("world {}", w.world_id))
                .unwrap_or_default()
        )))
    }

    fn gone(
        &mut self,
        plug: &Plug,
        at: &Located,
        world: Option<&World>,
        by: Option<&&str>,
    ) -> Result<(), FenceError> {
        match (world, by) {
            (Some(w), Some(kind)) => {
                self.killed.insert(plug.as_str().to_string());
                logging::warning(format!(
                    "hostd on {} is down: powered off {} through its process: world {} is gone from `{} vm process list` after the {kind} kill",
                    self.host,
                    at.vmx,
                    w.world_id,
                    self.tool()
                ));
            }
            _ => logging::info(format!(
                "hostd down: {} has no running process, nothing to kill",
                at.vmx
            )),
        }
        Ok(())
    }
}
