//! What a device says about a VM, and what of it fencing may believe.
//!
//! vCenter keeps answering for VMs it has lost touch with: for a VM whose
//! `runtime.connectionState` is not `connected`, `runtime.powerState` is
//! only the last thing it heard (vim25 `VirtualMachineConnectionState`). A
//! stale `poweredOff` believed would let the cluster take over the
//! resources of a node that may still be running, so a power state counts
//! only together with a connection state of `connected`, read in the same
//! request.

use std::fmt;

use agent_framework::PowerState;

use crate::backend::HostId;
use crate::question::Question;

/// A VM's power state as the device words it: vim25
/// `VirtualMachinePowerState` (`poweredOn`), or the Automation API's
/// `POWERED_ON` (one mapping for every backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmPower {
    PoweredOn,
    PoweredOff,
    Suspended,
    /// A word this mapping does not know, kept for the message.
    Other(String),
}

impl VmPower {
    pub fn parse(word: &str) -> VmPower {
        match word.trim() {
            "poweredOn" | "POWERED_ON" => VmPower::PoweredOn,
            "poweredOff" | "POWERED_OFF" => VmPower::PoweredOff,
            "suspended" | "SUSPENDED" => VmPower::Suspended,
            other => VmPower::Other(other.to_string()),
        }
    }

    /// The state fencing knows, when there is one. A suspended VM runs no
    /// code and writes nothing: it is fenced.
    pub fn fencing_state(&self) -> Option<PowerState> {
        match self {
            VmPower::PoweredOn => Some(PowerState::On),
            VmPower::PoweredOff | VmPower::Suspended => Some(PowerState::Off),
            VmPower::Other(_) => None,
        }
    }
}

impl fmt::Display for VmPower {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmPower::PoweredOn => f.write_str("poweredOn"),
            VmPower::PoweredOff => f.write_str("poweredOff"),
            VmPower::Suspended => f.write_str("suspended"),
            VmPower::Other(w) => write!(f, "{w:?}"),
        }
    }
}

/// The connection state of a VM (vim25 `VirtualMachineConnectionState`)
/// or of a host (`HostSystemConnectionState`, the Automation API's
/// `connection_state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connected,
    /// The VM's host is not connected to vCenter.
    Disconnected,
    /// The VM is in vCenter's inventory but no longer registered on its
    /// host.
    Orphaned,
    /// The VM's files cannot be reached.
    Inaccessible,
    /// The VM's configuration cannot be read.
    Invalid,
    /// A host that vCenter manages but that does not answer.
    NotResponding,
    /// A word this mapping does not know, or a state the device did not
    /// give: never treated as connected.
    Other(String),
}

impl Connection {
    pub fn parse(word: &str) -> Connection {
        match word.trim() {
            "connected" | "CONNECTED" => Connection::Connected,
            "disconnected" | "DISCONNECTED" => Connection::Disconnected,
            "orphaned" => Connection::Orphaned,
            "inaccessible" => Connection::Inaccessible,
            "invalid" => Connection::Invalid,
            "notResponding" | "NOT_RESPONDING" => Connection::NotResponding,
            other => Connection::Other(other.to_string()),
        }
    }

    /// Why a VM in this state cannot be vouched for, in a few words.
    fn meaning(&self) -> &'static str {
        match self {
            Connection::Connected => "the device is in touch with it",
            Connection::Disconnected => "its host is not connected to vCenter",
            Connection::Orphaned => "it is no longer registered on its host",
            Connection::Inaccessible => "its files cannot be reached",
            Connection::Invalid => "its configuration cannot be read",
            Connection::NotResponding => "the host does not respond",
            Connection::Other(_) => "the device did not say it is connected",
        }
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Connection::Connected => f.write_str("connected"),
            Connection::Disconnected => f.write_str("disconnected"),
            Connection::Orphaned => f.write_str("orphaned"),
            Connection::Inaccessible => f.write_str("inaccessible"),
            Connection::Invalid => f.write_str("invalid"),
            Connection::NotResponding => f.write_str("notResponding"),
            Connection::Other(w) if w.is_empty() => f.write_str("(not given)"),
            Connection::Other(w) => write!(f, "{w:?}"),
        }
    }
}

/// How a power task the agent started stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    /// Queued or running.
    Running,
    Succeeded,
    Failed(crate::error::BackendError),
    /// The device no longer knows the task (vCenter forgets finished tasks
    /// after a while): the VM's state is what counts.
    Gone,
}

/// One read of a VM: everything that decides what its state is worth,
/// from one request to the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmReading {
    pub power: VmPower,
    pub connection: Connection,
    /// The host the VM is registered on, when the device says.
    pub host: Option<HostId>,
    /// A template is an image to clone from, not a machine that runs.
    pub template: bool,
    /// A question the VM waits on (vim25 `runtime.question`).
    pub question: Option<Question>,
    /// The task asked about in the same read, if one was.
    pub task: Option<TaskState>,
}

/// A host, as far as messages about its VMs need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostReading {
    pub name: Option<String>,
    pub connection: Connection,
}

/// Why a reading is not a state fencing may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Template,
    NotConnected {
        connection: Connection,
        last_power: VmPower,
        host: Option<HostId>,
        /// The host's own state, when it could be read.
        host_reading: Option<HostReading>,
    },
    UnknownPower(VmPower),
}

impl Refusal {
    /// The message for plug `plug`, VM `vm`: what the device said and
    /// what to do.
    pub fn describe(&self, plug: &str, vm: &str) -> String {
        match self {
            Refusal::Template => format!(
                "plug {plug:?} ({vm}) is a template, not a virtual machine that runs: templates \
                 are not fenced. Give the plug of the VM itself"
            ),
            Refusal::NotConnected {
                connection,
                last_power,
                host,
                host_reading,
            } => {
                let mut s = format!(
                    "the device cannot vouch for the power state of plug {plug:?} ({vm}): its \
                     connection state is {connection} ({})",
                    connection.meaning()
                );
                if let Some(h) = host {
                    match host_reading {
                        Some(r) => {
                            let name = r
                                .name
                                .as_deref()
                                .map(|n| format!("{n:?} "))
                                .unwrap_or_default();
                            s.push_str(&format!("; its host {name}({}) is {}", h.0, r.connection));
                        }
                        None => s.push_str(&format!("; its host is {}", h.0)),
                    }
                }
                s.push_str(&format!(
                    "; {last_power} is only the last state the device heard. Nothing counts as \
                     fenced until the device is in touch with the VM again: fence or power off its \
                     host, or reconnect it"
                ));
                s
            }
            Refusal::UnknownPower(p) => {
                format!("plug {plug:?} ({vm}): unknown power state {p}")
            }
        }
    }
}

/// The state fencing may act on, or why there is none: a template is not
/// a fence target; a VM the device is not connected to has no state worth
/// believing; a power word nobody knows is not guessed at.
pub fn vouch(reading: &VmReading) -> Result<PowerState, Refusal> {
    if reading.template {
        return Err(Refusal::Template);
    }
    if reading.connection != Connection::Connected {
        return Err(Refusal::NotConnected {
            connection: reading.connection.clone(),
            last_power: reading.power.clone(),
            host: reading.host.clone(),
            host_reading: None,
        });
    }
    reading
        .power
        .fencing_state()
        .ok_or_else(|| Refusal::UnknownPower(reading.power.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(power: &str, connection: &str) -> VmReading {
        VmReading {
            power: VmPower::parse(power),
            connection: Connection::parse(connection),
            host: Some(HostId("host-21".into())),
            template: false,
            question: None,
            task: None,
        }
    }

    #[test]
    fn both_spellings_of_power_map_to_the_same_states() {
        for (word, want) in [
            ("poweredOn", Some(PowerState::On)),
            ("POWERED_ON", Some(PowerState::On)),
            ("poweredOff", Some(PowerState::Off)),
            ("POWERED_OFF", Some(PowerState::Off)),
            ("suspended", Some(PowerState::Off)),
            ("SUSPENDED", Some(PowerState::Off)),
            ("poweringOn", None),
            ("", None),
        ] {
            assert_eq!(VmPower::parse(word).fencing_state(), want, "{word:?}");
        }
    }

    #[test]
    fn only_connected_vms_are_vouched_for() {
        assert_eq!(
            vouch(&reading("poweredOff", "connected")),
            Ok(PowerState::Off)
        );
        assert_eq!(
            vouch(&reading("poweredOn", "connected")),
            Ok(PowerState::On)
        );
        assert_eq!(
            vouch(&reading("poweredOff", "CONNECTED")),
            Ok(PowerState::Off),
            "the Automation API's word"
        );
        for c in [
            "disconnected",
            "orphaned",
            "inaccessible",
            "invalid",
            "notResponding",
            "",
            "Connected",
        ] {
            for p in ["poweredOff", "poweredOn", "suspended"] {
                let r = vouch(&reading(p, c));
                assert!(
                    matches!(r, Err(Refusal::NotConnected { .. })),
                    "{p} while {c:?}: {r:?}"
                );
            }
        }
    }

    #[test]
    fn a_template_is_refused_whatever_its_state() {
        let mut r = reading("poweredOff", "connected");
        r.template = true;
        assert_eq!(vouch(&r), Err(Refusal::Template));
        let text = Refusal::Template.describe("tmpl", "vm-7");
        assert!(text.contains("template") && text.contains("vm-7"), "{text}");
    }

    #[test]
    fn an_unknown_power_word_is_not_guessed() {
        assert!(matches!(
            vouch(&reading("poweringOff", "connected")),
            Err(Refusal::UnknownPower(_))
        ));
    }

    #[test]
    fn the_refusal_names_the_state_the_host_and_the_stale_power() {
        let Err(mut refusal) = vouch(&reading("poweredOff", "disconnected")) else {
            panic!("vouched for a disconnected VM");
        };
        if let Refusal::NotConnected { host_reading, .. } = &mut refusal {
            *host_reading = Some(HostReading {
                name: Some("esx7.example.org".into()),
                connection: Connection::parse("notResponding"),
            });
        }
        let text = refusal.describe("node1", "vm-42");
        for part in [
            "\"node1\"",
            "vm-42",
            "disconnected",
            "\"esx7.example.org\"",
            "host-21",
            "notResponding",
            "poweredOff is only the last state",
        ] {
            assert!(text.contains(part), "{part:?} missing: {text}");
        }
    }
}
