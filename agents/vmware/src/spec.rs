//! The three personalities, declared as data: fence_vmware (fence-agents'
//! parameters, vmware_type esx by default), fence_vmware_soap and
//! fence_vmware_rest (their parameters and names, with safe defaults).

use std::borrow::Cow;

use agent_framework::{
    AgentSpec, ConnectFn, ManSection, OptionSet, OptionSpec, PasswordRule, Required, ValueKind,
};

use crate::settings;

const VENDOR_URL: &str = "https://www.vmware.com";

const PLUG_DESC: &str =
    "Virtual machine: name, inventory path, instance or BIOS UUID, or managed object id";

const PLUG_LONG: &str = "The virtual machine to fence, as its name (web/01 finds the VM vCenter stores as web%2f01), \
its inventory path (/datacenter/vm/folder/name), its instance UUID, its BIOS UUID (only when no other VM has the same one: clones share BIOS UUIDs) \
or its managed object id (vm-123). Exactly one VM must match; when several do, nothing is done and their inventory paths are printed. \
Several plugs may be given, separated by plug_separator.";

/// A text option of this agent's own (not in the framework's registry),
/// with no default and no short form.
fn own_text_option(
    name: &'static str,
    long: &'static str,
    placeholder: &'static str,
    shortdesc: &'static str,
    longdesc: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        deprecated: None,
        short: None,
        long,
        argv_aliases: vec![],
        placeholder: Some(placeholder),
        kind: ValueKind::Text,
        default: None,
        required: Required::No,
        order: 2,
        shortdesc: Cow::Borrowed(shortdesc),
        longdesc: Some(Cow::Borrowed(longdesc)),
        secret: false,
    }
}

/// The CA bundle option. fence-agents' VMware agents have none;
/// fence_openstack calls it cacert, so the name is kept.
fn cacert() -> OptionSpec {
    OptionSpec {
        argv_aliases: vec!["ssl-ca-file"],
        ..own_text_option(
            "cacert",
            "cacert",
            "[cacert]",
            "Path to a PEM file of CA certificates to trust instead of the system trust store",
            "The server's certificate must be issued by one of these CAs and name the host given in ip. \
Without it, the system trust store is used (OpenSSL's: SSL_CERT_FILE and SSL_CERT_DIR are honoured).",
        )
    }
}

/// Options and descriptions the three personalities share.
fn common(set: OptionSet) -> OptionSet {
    set.add(cacert())
        .with_required("plug", Required::ForPowerActions)
        .with_shortdesc("plug", PLUG_DESC)
        .with_longdesc("plug", PLUG_LONG)
        .with_shortdesc("ip", "Host name or IP address of vCenter or ESXi")
        .with_longdesc(
            "ip",
            "A host name, an IPv4 or IPv6 address, optionally with :port. The TLS certificate must name it.",
        )
        .with_shortdesc(
            "ipport",
            "TCP port of the vSphere API (default: 443, or 80 with notls)",
        )
        .with_shortdesc("username", "vSphere user name (for instance fence@vsphere.local)")
        .with_shortdesc(
            "ssl_insecure",
            "Use HTTPS without verifying the certificate (ssl_insecure=0 keeps verification on)",
        )
        .with_shortdesc(
            "ssl",
            "Use HTTPS with certificate verification (the default); ssl=0 means plain HTTP",
        )
        .with_shortdesc(
            "ssl_secure",
            "Use HTTPS with certificate verification (the default)",
        )
        .with_shortdesc("notls", "Use plain HTTP: no TLS at all (password sent in clear)")
        .with_shortdesc(
            "vmware_datacenter",
            "Only look for virtual machines in this datacenter (name or inventory path)",
        )
        .with_longdesc(
            "vmware_datacenter",
            "Limits the search for the plug, and list, to the virtual machines of this datacenter: two VMs of the same name in different datacenters are then no longer ambiguous.",
        )
}

const VMWARE_LONGDESC: &str = "fence_vmware fences virtual machines managed by VMware vCenter Server or a standalone ESXi host. \
It speaks the vSphere Web Services API (SOAP over HTTPS) itself: no VMware SDK, Perl toolkit or helper program is needed.

To fence, it logs in, finds the one virtual machine the plug names, asks for it to be powered off (or on), watches the task, \
answers a VM question that blocks the task only with a choice that keeps the VM's identity, reads the power state back until it is verified, and logs out. \
Logging out happens on every way out: success, failure, timeout and SIGTERM or SIGINT.

The connection is HTTPS on port 443 with the certificate and host name verified against the system trust store or the cacert file. \
Plain HTTP is only used when asked for with notls (or ssl=0).

vmware_type=server1 and server2 keep fence-agents' older mode for VMware Server 1 and 2: the agent then runs VMware's vmrun command (exec, default /usr/bin/vmrun).";

const SOAP_LONGDESC: &str = "fence_vmware_soap fences virtual machines managed by VMware vCenter Server or ESXi through the vSphere Web Services API (SOAP). \
It is the same program as fence_vmware, answering to this name with the parameters of fence-agents' fence_vmware_soap.

The plug may be a VM name, an inventory path (/datacenter/vm/folder/name), an instance or BIOS UUID or a managed object id; it must match exactly one virtual machine.

Unlike fence-agents' agent, this one uses HTTPS on port 443 with certificate verification by default; plain HTTP needs notls=1 (fence-agents used plain HTTP on port 80 unless an ssl option was given).";

const TLS_SECTION: ManSection = ManSection {
    title: "TLS and ports",
    text: "By default the agent connects with HTTPS to port 443 and verifies the server's certificate and host name, against the system trust store (SSL_CERT_FILE and SSL_CERT_DIR are honoured) or, when given, only against the CA certificates of cacert.

ssl_insecure=1 (--ssl-insecure) turns verification off; the agent says so at verbose level. ssl_insecure=0 keeps verification on. ssl and ssl_secure ask for the default, verified HTTPS.

Plain HTTP (port 80 unless ipport says otherwise) is only used with notls=1 (--notls) or ssl=0; the password then travels in clear. notls cannot be combined with ssl, ssl_secure or ssl_insecure.

inet4_only and inet6_only restrict the addresses the host name may resolve to.",
};

const FINDING_SECTION: ManSection = ManSection {
    title: "Finding the virtual machine",
    text: "A plug that starts with / is an inventory path, looked up with the SearchIndex (names in it written as vCenter stores them, / in a name as %2f). \
A plug shaped like a UUID is looked up as an instance UUID and as a BIOS UUID. vm-N is a managed object id. Any plug is also compared with every VM name, \
with vCenter's escapes undone (%2f is /, %5c is \\, %25 is %), so web/01 finds the VM listed as web/01.

Exactly one virtual machine must match. When several match (two VMs of the same name, clones sharing a BIOS UUID), the agent exits 1 and lists their inventory paths; it powers nothing. \
vmware_datacenter limits every search to one datacenter.

The names are read once per run (one paged read of a container view); every later status poll reads one object only.",
};

const QUESTION_SECTION: ManSection = ManSection {
    title: "VM questions",
    text: "A virtual machine may ask a question that blocks its power operation. The agent answers a question that blocks a task it started only when it knows the answer keeps the VM what it was, and recognizes the question by its message id, never by its text.

The \"moved or copied\" question (msg.uuid.altered) is answered \"I moved it\" (the choice labelled button.uuid.movedTheVM), never its default \"I copied it\", which would give the VM a new BIOS UUID and new MAC addresses: plugs, host maps and DHCP reservations would no longer find it. A VM restarted after a failure was not copied.

The question about a file-backed serial port whose file exists (msg.serial.file.open) gets its default answer: its choices only decide what happens to that file.

Any other question fails the power operation at once, naming the question and its choices; answer it in the vSphere Client. Every answer is logged at verbose level. A question on a task the agent did not start is only reported.

Powering off a virtual machine that is already off is a success once the state is read back as off.",
};

const REFUSALS_SECTION: ManSection = ManSection {
    title: "What the agent refuses, and why",
    text: "A fence agent that says Success lets the cluster take over the node's resources, so the agent refuses, with exit status 1 and a message on standard error, whatever it cannot vouch for. The first line is fence-agents' (for instance Failed: Unable to obtain correct plug status or plug is not available); the next lines say why.

A plug that matches several virtual machines (the same name in two folders or datacenters, clones sharing a BIOS UUID, a name that is another VM's managed object id): plug \"dup\" matches 2 virtual machines; nothing was done, followed by each match's inventory path and id. Use one of the paths, the instance UUID or the managed object id as the plug, or limit the search with vmware_datacenter.

A plug that matches nothing: no virtual machine matches plug \"node1\" (in datacenter \"DC1\"). An inventory path that names a folder or a host: plug \"/DC0/vm/sub\" is a Folder, not a virtual machine. A plug with control characters. A vmware_datacenter that names no datacenter, or several (give its inventory path then).

A virtual machine vCenter is not connected to: its runtime.connectionState is disconnected (its host is lost), orphaned (no longer registered on its host), inaccessible (its files cannot be reached) or invalid (its configuration cannot be read). Its power state is then only the last one vCenter heard: the device cannot vouch for the power state of plug \"node1\" (vm-42): its connection state is disconnected ..., its host \"esx7\" (host-21) is notResponding; poweredOff is only the last state the device heard. status exits 1, never 2; off, on and reboot fail without acting, and in every read of the verification, not only the first; list-status shows UNKNOWN. Fence the host itself (its own BMC) or bring it back to vCenter; confirm the node down by hand only when you know it is.

A template (config.template): plug \"tmpl\" (vm-7) is a template, not a virtual machine that runs. Give the plug of the VM itself.

A power-on blocked by a VM question the agent does not answer (see VM questions): the power operation is blocked: the VM asks question msg.hbacommon.outofspace ... (choices: ...); answer it in the vSphere Client.

A power state the agent does not know: unknown power state. A task that failed: the device's fault. A server whose certificate cannot be verified, or that names another host: Unable to connect/login to fencing device, TLS: ...; trust its CA with cacert or the system store, or set ssl_insecure knowingly. Contradictory options (notls with ssl, ssl_secure or ssl_insecure; cacert with ssl_insecure or notls; a cacert that is not a file) are refused before anything is contacted.",
};

const VMWARE_LEGACY_SECTION: ManSection = ManSection {
    title: "Compatibility with fence-agents",
    text: "Every parameter of fence-agents' fence_vmware is accepted. vmware_type=esx (the default) is the vSphere API mode described here; fence-agents ran a Perl helper for it, this agent needs none. \
In esx mode exec, ssh (secure), ssh_options, ssh_path, identity_file and port_as_ip are accepted and not used.

vmware_type=server1 or server2 runs vmrun as fence-agents does: vmrun -h https://IP/sdk -u USER -p PASS -T server (server2) or vmrun -h HOST -u USER -p PASS -T server1 [-P PORT] (server1), \
with list, listRegisteredVM, start PLUG and stop PLUG hard. vmrun must say it is version 2 or later. The plug is then the VM's configuration file as vmrun lists it ([datastore] path/name.vmx). \
vmrun has no other way to take the password than its command line: while it runs, any local user can read the password there (ps, /proc), so the agent warns on every run in this mode; it never logs that command line with the password in it. \
With server1, vmrun lists running VMs only, and a VM that is off cannot be told from a name that is not a VM: status, on and off of a VM that is not running fail, where fence-agents answered off; off and reboot of a running VM work and are verified.

Defaults that differ: fence-agents' ipport default was 22 (SSH); here the port is 443, or 80 with notls. list and list-status are added.",
};

const SOAP_DIFF_SECTION: ManSection = ManSection {
    title: "Differences from fence-agents",
    text: "fence-agents' fence_vmware_soap uses plain HTTP on port 80 unless ssl, ssl_secure or ssl_insecure is given. This agent uses HTTPS on port 443 with certificate verification unless notls=1 or ssl=0 is given; an existing configuration that relied on plain HTTP must add notls=1.

notls means plain HTTP here (fence-agents' meaning, SSL 3.0 through gnutls-cli, is obsolete). gnutlscli_path is accepted and not used. ssl_insecure=0 no longer turns verification off.

The plug may also be an instance or BIOS UUID, a managed object id, or a name with /; vmware_datacenter and cacert are added. A name that matches several virtual machines is an error instead of a guess.",
};

/// fence-agents' fence_vmware_rest's `api_path`, without its default:
/// the agent chooses /api or /rest itself unless told.
fn api_path() -> OptionSpec {
    own_text_option(
        "api_path",
        "api-path",
        "[path]",
        "The path part of the API URL: /api or /rest (default: /api, or /rest when the server has no /api)",
        "/api is the vSphere Automation API of vCenter 7.0 Update 2 and later; /rest is the older spelling of the same API (vCenter 6.5 to 8), deprecated since 7.0 Update 2. \
Without api_path the agent logs in at /api and, only when the server answers that URL with 404 Not Found, at /rest; a refused password or a TLS failure is never a reason to try the other. \
With api_path, only that API is used; a path behind a reverse proxy must end with /api or /rest (/vc1/rest). fence-agents' agent used /rest unless told otherwise.",
    )
}

/// fence-agents' fence_vmware_rest's `filter`.
fn filter() -> OptionSpec {
    own_text_option(
        "filter",
        "filter",
        "[filter]",
        "Filter to only return relevant VMs in list and monitor (e.g. \"filter.names=node1&filter.names=node2\")",
        "A query string added to the list of virtual machines, as fence-agents' agent adds it: fields names, vms, folders, datacenters, hosts, clusters, resource_pools, power_states. \
It may be written for /rest (filter.names=a&filter.names=b, or indexed: filter.names.1=a&filter.names.2=b) or for /api (names=a,b or names=a&names=b): \
it is translated to the API the server speaks. It is not needed for large inventories: a list longer than the server returns at once is read in parts. \
It limits list, list-status and monitor only; a plug is always looked up among all virtual machines (of vmware_datacenter, when given).",
    )
}

const REST_PLUG_DESC: &str =
    "Virtual machine: name, managed object id (vm-N), or instance or BIOS UUID";

const REST_PLUG_LONG: &str = "The virtual machine to fence, as its name (web/01 finds the VM vCenter stores as web%2f01), its managed object id (vm-123), \
its instance UUID or its BIOS UUID (only when no other VM has the same one: clones share BIOS UUIDs). Exactly one VM must match; when several do, nothing is done and they are named. \
Several plugs may be given, separated by plug_separator.";

const REST_LONGDESC: &str = "fence_vmware_rest fences virtual machines managed by VMware vCenter Server through the vSphere Automation API (REST), at /api (vCenter 7.0 Update 2 and later) or /rest (vCenter 6.5 and later). \
It is the same program as fence_vmware, answering to this name with the parameters of fence-agents' fence_vmware_rest.

To fence, it logs in, finds the one virtual machine the plug names, reads its power state together with its connection state, asks for it to be powered off (or on), reads the state back until it is verified, and ends its sessions. \
The Automation API does not say whether vCenter is in touch with a virtual machine, so every state is read through a second session, of vCenter's vim25 API (/sdk at the same address, with the same credentials), opened when a state is first needed. \
Both sessions are ended on every way out: success, failure, timeout and SIGTERM or SIGINT.

Unlike fence-agents' agent, this one uses HTTPS on port 443 with certificate verification by default; plain HTTP needs notls=1. \
A list longer than the server returns at once (1,000 virtual machines on /rest, 4,000 on /api) is read in parts, so filter is no longer needed for it.";

const REST_API_SECTION: ManSection = ManSection {
    title: "The Automation API",
    text: "vCenter serves the same API twice: at /api since 7.0 Update 2, and at /rest since 6.5 (deprecated since 7.0 Update 2). The agent logs in at /api (POST /api/session) and falls back to /rest (POST /rest/com/vmware/cis/session) only when /api answers 404 Not Found, as vCenter before 7.0 Update 2 does. \
A refused password (401), a full session table (503) or a TLS failure ends the attempt: trying the other API would not change the answer. api_path=/api or api_path=/rest uses that API and no other.

An ESXi host serves neither: use fence_vmware_soap (or fence_vmware) for it.

The API says nothing of a virtual machine's own connection state: a virtual machine that is orphaned (no longer registered on its host, perhaps running elsewhere), inaccessible or invalid while its host is connected looks like any other, with the last power state vCenter heard. \
So the agent also opens a session of vCenter's vim25 API (the vSphere Web Services API, SOAP at /sdk of the same address and port, with the same user, password, TLS policy and timeouts) the first time it needs a state or a UUID, and reads every state it reports or acts on there: the VM's runtime.powerState and runtime.connectionState from one request, then its host's connection state, in every status read and every poll of a verification. \
A state counts only when both are connected. The session is logged out with the Automation API's on every way out. The user must be able to log in there and read the virtual machines (System.Read, as the Read-only role gives). monitor logs in there too (a monitor that passed without it would vouch for a device that can fence nothing); list reports no state and does not open it. \
The Automation API's VM ids are vim25's managed object ids (vm-42), and every read checks that vim25 gives the VM the name the Automation API gave it. \
vCenter 8.0 Update 1 and later also serve vim25 as JSON (VI/JSON); it is not used, for it reads the same properties with the same privileges at the same /sdk, and SOAP is needed for every older vCenter.

Lists are capped by vCenter (1,000 VMs on /rest, 4,000 on /api; 400 UNABLE_TO_ALLOCATE_RESOURCE beyond). When the cap is reached, the agent lists the VMs per folder, then per host, then per power state, and merges them by VM id; filter is honoured on each part.

The API has no inventory paths, no tasks and no VM questions, and it lists no templates. Nor can it find a virtual machine by UUID but by asking for each one's identity: a plug that is an instance or BIOS UUID is looked up with vim25's SearchIndex instead (FindAllByUuid, one call per kind of UUID whatever the inventory), and each virtual machine found must be listed by the Automation API too (in vmware_datacenter, when given).",
};

const REST_REFUSALS_SECTION: ManSection = ManSection {
    title: "What the agent refuses, and why",
    text: "A fence agent that says Success lets the cluster take over the node's resources, so the agent refuses, with exit status 1 and a message on standard error, whatever it cannot vouch for. The first line is fence-agents' (for instance Failed: Unable to obtain correct plug status or plug is not available); the next lines say why.

A plug that matches several virtual machines (the same name in two folders or datacenters, clones sharing a BIOS UUID, a name that is another VM's id): plug \"dup\" matches 2 virtual machines; nothing was done, followed by each match's folder, datacenter and id. Use the id (vm-N) or the instance UUID as the plug, or limit the search with vmware_datacenter. fence-agents' agent acted on the first VM the server listed.

A plug that matches nothing: no virtual machine matches plug \"node1\". An inventory path: the API has none, so it matches nothing. A vmware_datacenter that names no datacenter, or several.

A virtual machine vCenter is not in touch with: vim25 gives its runtime.connectionState as orphaned, inaccessible, invalid or disconnected, or its host is not connected (disconnected, notResponding). Its power state is then only the last one vCenter heard: the device cannot vouch for the power state of plug \"node1\" (vm-42): its connection state is orphaned ...; poweredOff is only the last state the device heard. status exits 1, never 2; off, on and reboot fail without acting, in every read of the verification, not only the first; list-status shows UNKNOWN. Find where the VM runs, fence its host (its own BMC) or bring the host back to vCenter.

vim25 that cannot be read (its login refused while the Automation API's worked, no /sdk at that address, properties it will not read): no state is vouched for. status exits 1, off, on and reboot fail without acting, list-status and monitor fail; the message says what failed. Let the user log in at /sdk with the same credentials and read the virtual machines (System.Read, the Read-only role), or use fence_vmware_soap. A virtual machine vim25 names otherwise than the Automation API (vm-42 is \"node1\" to the Automation API but \"db07\" to vim25): renamed just now, or the address leads to two servers; nothing is done.

A list longer than the server's cap even per folder, host and power state; monitor with a list that fails, or that is empty (a user without privileges on the virtual machines sees none). A session table that is full (503 at login, vCenter allows 550 sessions per user): Unable to connect/login to fencing device, with the server's message. A server whose certificate cannot be verified: trust its CA with cacert or the system store, or set ssl_insecure knowingly.",
};

const REST_DIFF_SECTION: ManSection = ManSection {
    title: "Differences from fence-agents",
    text: "fence-agents' fence_vmware_rest uses plain HTTP on port 80 unless ssl, ssl_secure or ssl_insecure is given. This agent uses HTTPS on port 443 with certificate verification unless notls=1 or ssl=0 is given; an existing configuration that relied on plain HTTP must add notls=1. ssl_insecure=0 no longer turns verification off.

api_path has no default: /api is used, or /rest when the server has no /api (fence-agents: /rest). filter may be written for either API. A list above the server's cap works without filter, and a list that fails makes monitor fail (fence-agents passed monitor with an empty list then).

A plug that matches several virtual machines is refused (fence-agents acted on the first one listed). A plug may also be a VM id or an instance or BIOS UUID (fence-agents: names only). Every state is read through vim25 with the VM's connection state (fence-agents reported the last power state vCenter heard, for a VM orphaned or on a lost host too), so the user must be able to log in to vim25. list prints each VM's id as its alias (fence-agents printed none). A suspended VM is off, as with fence-agents. notls means plain HTTP (fence-agents' meaning, SSL 3.0 through gnutls-cli, is obsolete); gnutlscli_path is accepted and not used. cacert, vmware_datacenter, inet4_only and inet6_only are added.",
};

fn vmware_options() -> OptionSet {
    common(OptionSet::pick(&[
        "ip",
        "ipport",
        "username",
        "password",
        "password_script",
        "identity_file",
        "plug",
        "ssh",
        "ssh_options",
        "ssl",
        "ssl_secure",
        "ssl_insecure",
        "notls",
        "inet4_only",
        "inet6_only",
        "exec",
        "vmware_type",
        "vmware_datacenter",
        "port_as_ip",
        "ssh_path",
        "separator",
    ]))
    .with_kind("vmware_type", ValueKind::Select(&["esx", "server1", "server2"]))
    .with_default("vmware_type", "esx")
    .with_shortdesc(
        "vmware_type",
        "esx: the vSphere API (vCenter, ESXi); server1, server2: run vmrun (VMware Server), which can only take the password on its command line, readable by local users while it runs",
    )
    .with_shortdesc(
        "exec",
        "Path to vmrun for vmware_type server1 and server2 (default /usr/bin/vmrun), which gets the password on its command line; not used with esx",
    )
    .with_default("ssh", "1")
    .with_shortdesc("ssh", "Accepted for compatibility; not used")
    .with_shortdesc("ssh_options", "Accepted for compatibility; not used")
    .with_shortdesc("ssh_path", "Accepted for compatibility; not used")
    .with_shortdesc("identity_file", "Accepted for compatibility; not used")
    .with_shortdesc("port_as_ip", "Accepted for compatibility; not used")
}

/// What fence_vmware_soap and fence_vmware_rest pick from the registry:
/// fence-agents' "ssl" and "web" devices, with cacert, inet4_only,
/// inet6_only and vmware_datacenter added.
const API_OPTIONS: &[&str] = &[
    "ip",
    "ipport",
    "username",
    "password",
    "password_script",
    "plug",
    "ssl",
    "ssl_secure",
    "ssl_insecure",
    "notls",
    "inet4_only",
    "inet6_only",
    "vmware_datacenter",
    "gnutlscli_path",
    "separator",
];

fn soap_options() -> OptionSet {
    common(OptionSet::pick(API_OPTIONS))
        .with_shortdesc("gnutlscli_path", "Accepted for compatibility; not used")
}

fn rest_options() -> OptionSet {
    common(OptionSet::pick(API_OPTIONS))
    .add(api_path())
    .add(filter())
    // fence-agents' fence_vmware_rest's own defaults.
    .with_default("shell_timeout", "5")
    .with_default("power_wait", "1")
    .with_shortdesc("plug", REST_PLUG_DESC)
    .with_longdesc("plug", REST_PLUG_LONG)
    .with_shortdesc("ip", "Host name or IP address of vCenter")
    .with_shortdesc(
        "ipport",
        "TCP port of the vSphere Automation API (default: 443, or 80 with notls)",
    )
    .with_shortdesc(
        "vmware_datacenter",
        "Only look for virtual machines in this datacenter (its name)",
    )
    .with_longdesc(
        "vmware_datacenter",
        "Limits the search for the plug, and list, to the virtual machines of this datacenter, given by its name: two VMs of the same name in different datacenters are then no longer ambiguous. The API has no inventory paths: two datacenters of the same name cannot be told apart.",
    )
    .with_shortdesc("gnutlscli_path", "Accepted for compatibility; not used")
}

pub fn fence_vmware(connect: ConnectFn) -> AgentSpec {
    AgentSpec {
        name: "fence_vmware",
        shortdesc: "Fence agent for VMware vCenter and ESXi (vSphere API)",
        longdesc: VMWARE_LONGDESC,
        vendor_url: VENDOR_URL,
        symlinks: &[],
        options: vmware_options(),
        password: PasswordRule::Required,
        has_list: true,
        validate: settings::validate,
        connect,
        man_sections: &[
            TLS_SECTION,
            FINDING_SECTION,
            QUESTION_SECTION,
            REFUSALS_SECTION,
            VMWARE_LEGACY_SECTION,
        ],
    }
}

pub fn fence_vmware_soap(connect: ConnectFn) -> AgentSpec {
    AgentSpec {
        name: "fence_vmware_soap",
        shortdesc: "Fence agent for VMware over the vSphere SOAP API",
        longdesc: SOAP_LONGDESC,
        vendor_url: VENDOR_URL,
        symlinks: &[],
        options: soap_options(),
        password: PasswordRule::Required,
        has_list: true,
        validate: settings::validate,
        connect,
        man_sections: &[
            TLS_SECTION,
            FINDING_SECTION,
            QUESTION_SECTION,
            REFUSALS_SECTION,
            SOAP_DIFF_SECTION,
        ],
    }
}

pub fn fence_vmware_rest(connect: ConnectFn) -> AgentSpec {
    AgentSpec {
        name: "fence_vmware_rest",
        shortdesc: "Fence agent for VMware over the vSphere Automation API (REST)",
        longdesc: REST_LONGDESC,
        vendor_url: VENDOR_URL,
        symlinks: &[],
        options: rest_options(),
        password: PasswordRule::Required,
        has_list: true,
        validate: settings::validate_rest,
        connect,
        man_sections: &[
            TLS_SECTION,
            REST_API_SECTION,
            REST_REFUSALS_SECTION,
            REST_DIFF_SECTION,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dummy(
        _: &agent_framework::Config,
        _: agent_framework::Deadline,
    ) -> Result<Box<dyn agent_framework::Device>, agent_framework::FenceError> {
        Err(agent_framework::FenceError::Device("test".into()))
    }

    /// Every name fence-agents declares, canonical and deprecated
    /// (from `fence_vmware -o metadata` of Debian's fence-agents 4.12.1; the
    /// cts test compares with the installed agent itself).
    const FA_VMWARE: &[&str] = &[
        "action",
        "exec",
        "identity_file",
        "inet4_only",
        "inet6_only",
        "ip",
        "ipaddr",
        "ipport",
        "login",
        "passwd",
        "passwd_script",
        "password",
        "password_script",
        "plug",
        "port",
        "secure",
        "ssh",
        "ssh_options",
        "username",
        "vmware_type",
        "vmware_datacenter",
        "quiet",
        "verbose",
        "verbose_level",
        "debug",
        "debug_file",
        "version",
        "help",
        "plug_separator",
        "delay",
        "disable_timeout",
        "login_timeout",
        "port_as_ip",
        "power_timeout",
        "power_wait",
        "shell_timeout",
        "stonith_status_sleep",
        "retry_on",
        "ssh_path",
    ];
    const FA_SOAP: &[&str] = &[
        "action",
        "ip",
        "ipaddr",
        "ipport",
        "login",
        "notls",
        "passwd",
        "passwd_script",
        "password",
        "password_script",
        "plug",
        "port",
        "ssl",
        "ssl_insecure",
        "ssl_secure",
        "username",
        "quiet",
        "verbose",
        "verbose_level",
        "debug",
        "debug_file",
        "version",
        "help",
        "plug_separator",
        "separator",
        "delay",
        "disable_timeout",
        "login_timeout",
        "power_timeout",
        "power_wait",
        "shell_timeout",
        "stonith_status_sleep",
        "retry_on",
        "gnutlscli_path",
    ];

    /// fence_vmware_rest declares fence_vmware_soap's names and these.
    const FA_REST_OWN: &[&str] = &["api_path", "filter"];

    fn declared(spec: &AgentSpec) -> Vec<&'static str> {
        spec.options
            .specs()
            .iter()
            .flat_map(|s| std::iter::once(s.name).chain(s.deprecated))
            .collect()
    }

    #[test]
    fn every_fence_agents_parameter_is_declared() {
        for (spec, want) in [
            (fence_vmware(dummy), vec![FA_VMWARE]),
            (fence_vmware_soap(dummy), vec![FA_SOAP]),
            (fence_vmware_rest(dummy), vec![FA_SOAP, FA_REST_OWN]),
        ] {
            let have = declared(&spec);
            for name in want.concat() {
                assert!(have.contains(&name), "{} lacks {name}", spec.name);
            }
        }
    }

    #[test]
    fn short_options_are_unique_per_personality() {
        for spec in [
            fence_vmware(dummy),
            fence_vmware_soap(dummy),
            fence_vmware_rest(dummy),
        ] {
            let mut seen = std::collections::HashMap::new();
            for s in spec.options.specs() {
                if let Some(c) = s.short {
                    if let Some(prev) = seen.insert(c, s.name) {
                        panic!("{}: -{c} is {prev} and {}", spec.name, s.name);
                    }
                }
            }
        }
    }
}
