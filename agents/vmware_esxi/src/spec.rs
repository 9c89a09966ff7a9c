//! The agent as data: its options, documentation and `connect`.

use agent_framework::ssh;
use agent_framework::{
    AgentSpec, Config, Deadline, Device, FenceError, ManSection, OptionSet, PasswordRule, Required,
};

const LONGDESC: &str = "\
fence_vmware_esxi fences virtual machines of a VMware ESXi host that has no licence for the vSphere API (free ESXi), over SSH. It logs in to the host, never asks for a terminal (ESXi runs out of pseudo-terminals and needs a reboot to get them back), and runs vim-cmd: vmsvc/getallvms to find the VM, vmsvc/power.getstate, vmsvc/power.off and vmsvc/power.on.

The plug is the VM's name, its vmid or its .vmx path ([datastore] dir/name.vmx), matched exactly. A name shared by two VMs is an error naming both; the agent never picks one. A suspended VM counts as off.

Every power change is verified: the agent reads power.getstate until the VM shows the new state or power_timeout passes. One SSH connection serves the whole action, reboot included.";

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

Each vim-cmd command is bounded by shell_timeout (default 10 seconds here: vim-cmd opens a hostd session per call, which takes seconds on a busy host); power.off and power.on by power_timeout. Their output is only logged: the state is read back with power.getstate.",
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
    )))
}
