//! The agent as data: its options, documentation and `connect`.

use agent_framework::ssh;
use agent_framework::{
    AgentSpec, Config, Deadline, Device, FenceError, ManSection, OptionSet, PasswordRule, Required,
};

const LONGDESC: &str = "\
fence_vmware_esxi fences virtual machines of a VMware ESXi host that has no licence for the vSphere API (free ESXi), over SSH. It logs in to the host, never asks for a terminal (ESXi runs out of pseudo-terminals and needs a reboot to get them back), and runs vim-cmd: vmsvc/getallvms to find the VM, vmsvc/get.summary to confirm it and read its power state, vmsvc/power.off and vmsvc/power.on. When hostd, the host's management agent, is down or hung, an off ends the VM's process with esxcli (or localcli) vm process kill instead.

The plug is the VM's name, its vmid or its .vmx path ([datastore] dir/name.vmx), matched exactly. getallvms only proposes the VM: hostd's own summary of it must agree on the vmid, the name and the .vmx path before anything is done or reported. A name shared by two VMs is an error naming both; the agent never picks one. A suspended VM counts as off.

The summary also holds what the VM's guest reports (its host name, IP address, OS name), so a guest can make it unreadable. The VM is then confirmed from hostd's records that no guest writes: the name at the head of vmsvc/get.config, the .vmx path from vmsvc/get.filelayout, the power and connection states from vmsvc/get.runtime; the node being fenced cannot decide whether it can be fenced.

Every power change is verified: the agent reads get.summary (or get.runtime and get.filelayout) until the VM shows the new state or power_timeout passes. One SSH connection serves the whole action, reboot included.";

const MAN_SECTIONS: &[ManSection] = &[
    ManSection {
        title: "Authentication",
        text: "With a password, the agent answers every keyboard-interactive prompt with it (ESXi 5.1 and later allow only keyboard-interactive, not the password method), then tries the password method (ESXi 4.x). With identity_file (RSA, ECDSA or ed25519 key), the password, if given, is the key's passphrase and is also tried as a login password if the key is refused. With neither, the agent uses the keys of a running ssh-agent (SSH_AUTH_SOCK); this is why no password is required.

A refused login is reported as such (\"Authentication failed for user ...\"), apart from an unreachable host, an unknown or changed host key, a host without vim-cmd (not an ESXi host) and a host whose hostd does not answer.

The username defaults to root, as with the original Perl agent: it is not required, so that existing configurations without a login keep working.",
    },
    ManSection {
        title: "Host keys",
        text: "The host key is verified against the user's known_hosts (~/.ssh/known_hosts, where ~ is $HOME, or the home directory of the user running the agent when HOME is not set) and /etc/ssh/ssh_known_hosts, as OpenSSH does: hashed names and [host]:port entries for ports other than 22 are understood, and the key types already known for the host are asked for first. An unknown key or a changed key fails the action with the host, the key's SHA256 fingerprint and the command to trust it (ssh-keyscan -p PORT -t TYPE HOST >> ~/.ssh/known_hosts, after checking the fingerprint on the host's console).

ssh_options accepts the OpenSSH forms: -o StrictHostKeyChecking=yes|accept-new|no (no disables the check and logs a warning every time), -o UserKnownHostsFile=PATH, -o GlobalKnownHostsFile=PATH, -o ConnectTimeout=SECONDS, -o Port=PORT, -i FILE, -p PORT, -4 and -6. ipport and identity_file, when given, win over -p and -i. Anything else (such as -t) is logged at verbose level and ignored: the agent runs no ssh program and never requests a terminal.",
    },
    ManSection {
        title: "Methods",
        text: "method=onoff (default): reboot is power.off, verified, then power.on, verified. method=cycle uses vmsvc/power.reset, which cannot be verified (the VM is on before and after): prefer onoff.

Each vim-cmd command is bounded by shell_timeout (default 10 seconds here: vim-cmd opens a hostd session per call, which takes seconds on a busy host); power.on by power_timeout; power.off by shell_timeout and at most half of power_timeout, so that a hung hostd leaves time for the fallback below. Their output is only logged: the state is read back with get.summary.",
    },
    ManSection {
        title: "When hostd is down or hung",
        text: "When vim-cmd cannot reach hostd (\"Connect to localhost failed\") or a vim-cmd command does not answer within shell_timeout, an off, and the off of a reboot, ends the VM's process instead: vm process kill --type=soft, then hard, then force, each given a share of power_timeout, until vm process list no longer shows the process. The whole off stays within power_timeout. esxcli needs hostd itself on ESXi 5 and later; localcli, which does not, is used when esxcli fails that way, and at once when hostd hung.

The process is found by its config file, never by its display name: the .vmx path hostd confirmed earlier in the same run (hostd hung during power.off), or else the plug, which must then be the .vmx path ([datastore] dir/name.vmx, the File column of getallvms). The datastore is mapped to its /vmfs/volumes/ directory with storage filesystem list.

The result line stays \"Success: Powered OFF\"; a warning on stderr says that hostd was down and which kill ended the process. An on cannot be done without hostd and fails saying so; in a reboot the off still counts (the node is fenced) and the failed on is logged. status without hostd answers ON for a process the list shows, and fails for a VM without a running process: off and \"not on this host\" then look the same.",
    },
    ManSection {
        title: "What the agent refuses, and why",
        text: "Each refusal fails the action (exit 1) with nothing powered; the line after \"Failed: ...\" says what was seen.

\"PLUG\" matches 2 VMs on HOST: vmid A (...), vmid B (...); nothing was done. Two VMs answer to the plug: they share the name, or a line of another VM's annotation (or part of a display name) is shaped like a getallvms row. Give the vmid or the .vmx path as plug, or fix the annotation or name.

vmid N is listed 2 times by vim-cmd vmsvc/getallvms: an annotation or a display name repeats a row with a real vmid, so no row of that vmid can be trusted. Fix the annotation or name.

vim-cmd vmsvc/get.summary N on HOST says vmid N is \"NAME\" at PATH, not \"PLUG\" (or: not at PATH; or: but its getallvms row reads ...). The row getallvms showed is not what hostd knows of that vmid: the row was forged or misread, or the plug names a VM that is not on this host. Give the vmid or the .vmx path, and check the names and annotations.

No VM \"PLUG\" on HOST: nothing matches exactly. getallvms cannot show blanks at either end of a name: for such a VM give the vmid. A plug of the form [datastore] path.vmx is only compared with .vmx paths, never with names.

vmid N on HOST is not readable for sure: vim-cmd vmsvc/get.summary N is ..., and vim-cmd vmsvc/get.config N ... (or get.filelayout, or get.runtime). A double quote in the VM's name or .vmx path (or a backslash right before one) shifts the fields of every hostd record that prints it, and an annotation that repeats the name followed by a double quote hides where the name ends, so nothing is believed. What the guest reports (host name, IP address, guestinfo variables) never causes this, nor do quotes in an annotation alone: the records no guest writes decide then. Remove the quote; until then the VM cannot be fenced by this agent.

vmid N on HOST is \"inaccessible\", not connected: hostd cannot vouch for the VM's power state (its datastore or configuration is unreadable). Repair the VM's storage.

vmid N on HOST (\"NAME\") is a template, not a virtual machine that runs: a template is never on, so its \"off\" would tell the cluster a node is fenced when the plug names no node at all. Give the plug of the VM itself. (When get.summary cannot be read, the records read instead stop before config.template, and a template reads as an ordinary VM that is off.)

hostd on HOST is not responding (...), and without it a VM is only found by its .vmx path, never by a name: give plug=\"[datastore] dir/name.vmx\", or restart hostd (/etc/init.d/hostd restart).

hostd on HOST is not responding (...) and no running VM process has the config file ...: the VM is off, or not on this host, and without hostd that cannot be told apart. Restart hostd and try again.

... cannot be mapped to a config file for sure: the datastore is not mounted, several volumes have its name, or its name is another volume's directory under /vmfs/volumes. Restart hostd, or fix the datastore names.

N VM processes on HOST have the config file of ...: the process list contradicts itself. Check the host.

hostd on HOST is not responding (...): a VM cannot be powered on without it. Restart hostd (/etc/init.d/hostd restart), then power the VM on.",
    },
    ManSection {
        title: "Compatibility",
        text: "The original Perl agent's options are accepted: --ipaddr, --login, --passwd, --nodename, and --man, which prints this page.",
    },
];

/// How the SSH layer names this agent and its device.
const PEER: ssh::Peer = ssh::Peer {
    agent: "fence_vmware_esxi",
    device: "ESXi host",
    // The Perl agent's default login.
    default_user: "root",
};

pub fn spec() -> AgentSpec {
    let options = OptionSet::pick(
        &[
            &["ip", "username", "password", "password_script", "plug", "method"],
            ssh::OPTIONS,
        ]
        .concat(),
    )
    .with_default("ipport", "22")
    .with_required("username", Required::No)
    .with_default("username", "root")
    .with_default("shell_timeout", "10")
    .with_argv_alias("ip", "ipaddr")
    .with_argv_alias("username", "login")
    .with_argv_alias("password", "passwd")
    .with_argv_alias("plug", "nodename")
    // The Perl agent's flag for its manual.
    .with_action_flag("man", "manpage")
    .with_shortdesc("ip", "IP address or host name of the ESXi host")
    .with_shortdesc("plug", "VM name, vmid or .vmx path (exact match)")
    .with_shortdesc("ssh", "Use SSH connection (always on: this agent only speaks SSH)")
    .with_longdesc(
        "password",
        "The login password (keyboard-interactive and password methods), or the passphrase of identity_file. Optional: without password and identity_file the agent uses ssh-agent.",
    )
    .with_longdesc(
        "identity_file",
        "A private key (RSA, ECDSA or ed25519, OpenSSH or PEM format) whose public key is in the ESXi user's authorized_keys.",
    )
    .with_longdesc(
        "ssh_options",
        "OpenSSH command-line options; see HOST KEYS for the ones honoured.",
    )
    .with_longdesc(
        "method",
        "cycle uses vim-cmd vmsvc/power.reset, which cannot be verified.",
    );
    AgentSpec {
        name: PEER.agent,
        shortdesc: "Fence agent for VMware ESXi over SSH (vim-cmd)",
        longdesc: LONGDESC,
        vendor_url: "https://www.vmware.com",
        symlinks: &[],
        options,
        password: PasswordRule::Optional,
        has_list: true,
        validate,
        connect,
        man_sections: MAN_SECTIONS,
    }
}

fn validate(cfg: &Config) -> Result<(), FenceError> {
    ssh::validate(cfg)
}

fn connect(cfg: &Config, deadline: Deadline) -> Result<Box<dyn Device>, FenceError> {
    let params = ssh::params_from_config(cfg, PEER)?;
    let session = ssh::Ssh::connect(&params, deadline)?;
    Ok(Box::new(crate::device::EsxiDevice::new(
        session,
        params.label(),
        cfg.timeouts.shell,
        cfg.timeouts.power,
    )))
}
