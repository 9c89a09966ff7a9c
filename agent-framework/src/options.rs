//! The option registry: every option an agent can offer, declared once as
//! data. argv parsing, stdin parsing, validation, `--help`, metadata and
//! the man page are all generated from these declarations.
//!
//! Names follow fence-agents: the canonical name is the long option with
//! `-` turned into `_` (`ip`, `username`); the older name an option had
//! (`ipaddr`, `login`) stays accepted and is declared `deprecated`, and the
//! canonical entry `obsoletes` it. pcs refuses parameters an agent does not
//! declare, so an agent keeps every name its predecessor declared.

use std::borrow::Cow;

/// What kind of value an option takes, and so how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Free text.
    Text,
    /// A whole number, possibly limited to a range.
    Integer { min: i64, max: i64 },
    /// A whole, non-negative number of seconds.
    Second,
    /// On or off. On argv a flag without value (`--ssl`), on stdin
    /// `1/yes/on/true` or `0/no/off/false`.
    Boolean,
    /// On or off given as a value on argv too (`--disable-timeout=true`).
    BooleanValue,
    /// One of a fixed set, compared case-insensitively.
    Select(&'static [&'static str]),
    /// `-v`: a flag that counts how often it was given.
    Counter,
}

impl ValueKind {
    /// Whether the argv form takes a value.
    pub fn takes_value(self) -> bool {
        !matches!(self, ValueKind::Boolean | ValueKind::Counter)
    }

    /// The `content type` written into metadata, as fence-agents writes it.
    pub fn metadata_type(self) -> &'static str {
        match self {
            ValueKind::Text | ValueKind::BooleanValue => "string",
            ValueKind::Integer { .. } => "integer",
            ValueKind::Second => "second",
            ValueKind::Boolean | ValueKind::Counter => "boolean",
            ValueKind::Select(_) => "select",
        }
    }
}

/// Whether an option must be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    No,
    Yes,
    /// Needed by the power actions only (`plug`), not by list and monitor.
    ForPowerActions,
}

/// One option, as an agent offers it.
#[derive(Debug, Clone)]
pub struct OptionSpec {
    /// Canonical name, on stdin and in metadata (`ip`).
    pub name: &'static str,
    /// The older name, still accepted and declared deprecated (`ipaddr`).
    pub deprecated: Option<&'static str>,
    /// getopt short form, as fence-agents spells it (`a` for `-a`).
    pub short: Option<char>,
    /// getopt long form without the dashes (`ip`, `vmware_type`).
    pub long: &'static str,
    /// Further long forms accepted on argv only (the Perl agent's
    /// `--ipaddr`, `--nodename`, ...). Not shown in metadata.
    pub argv_aliases: Vec<&'static str>,
    /// The placeholder shown after `=` in help and metadata (`[ip]`).
    pub placeholder: Option<&'static str>,
    pub kind: ValueKind,
    pub default: Option<Cow<'static, str>>,
    pub required: Required,
    /// Sort key for help and metadata, as fence-agents orders them.
    pub order: u32,
    pub shortdesc: Cow<'static, str>,
    /// A longer explanation for the man page, where the short one is not
    /// enough (differences from fence-agents, units, bounds).
    pub longdesc: Option<Cow<'static, str>>,
    /// Never logged, never shown: passwords.
    pub secret: bool,
}

impl OptionSpec {
    fn new(name: &'static str, long: &'static str, kind: ValueKind, order: u32) -> OptionSpec {
        OptionSpec {
            name,
            deprecated: None,
            short: None,
            long,
            argv_aliases: Vec::new(),
            placeholder: None,
            kind,
            default: None,
            required: Required::No,
            order,
            shortdesc: Cow::Borrowed(""),
            longdesc: None,
            secret: false,
        }
    }

    fn short(mut self, c: char) -> Self {
        self.short = Some(c);
        self
    }
    fn deprecated(mut self, old: &'static str) -> Self {
        self.deprecated = Some(old);
        self
    }
    fn placeholder(mut self, p: &'static str) -> Self {
        self.placeholder = Some(p);
        self
    }
    fn default(mut self, d: &'static str) -> Self {
        self.default = Some(Cow::Borrowed(d));
        self
    }
    fn required(mut self, r: Required) -> Self {
        self.required = r;
        self
    }
    fn desc(mut self, d: &'static str) -> Self {
        self.shortdesc = Cow::Borrowed(d);
        self
    }
    fn longdesc(mut self, d: &'static str) -> Self {
        self.longdesc = Some(Cow::Borrowed(d));
        self
    }
    fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// The argv forms as fence-agents shows them: `-a, --ip=[ip]`.
    pub fn getopt_mixed(&self) -> String {
        let mut s = String::new();
        if let Some(c) = self.short {
            s.push('-');
            s.push(c);
            s.push_str(", ");
        }
        s.push_str("--");
        s.push_str(self.long);
        if let Some(p) = self.placeholder {
            s.push('=');
            s.push_str(p);
        }
        s
    }

    /// Every name this option answers to on stdin.
    pub fn stdin_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.name).chain(self.deprecated)
    }
}

const INTEGER_ANY: ValueKind = ValueKind::Integer {
    min: 0,
    max: i64::MAX,
};

/// Every option the framework knows, with fence-agents' names, getopt
/// forms, defaults and order. Agents pick from this list.
pub fn catalogue() -> Vec<OptionSpec> {
    use Required::*;
    use ValueKind::*;
    vec![
        OptionSpec::new("action", "action", Text, 1)
            .short('o')
            .placeholder("[action]")
            .default("reboot")
            .required(Yes)
            .desc("Fencing action"),
        OptionSpec::new("ip", "ip", Text, 1)
            .deprecated("ipaddr")
            .short('a')
            .placeholder("[ip]")
            .required(Yes)
            .desc("IP address or host name of the fencing device"),
        OptionSpec::new("ipport", "ipport", Integer { min: 1, max: 65535 }, 1)
            .short('u')
            .placeholder("[port]")
            .desc("TCP port to use for the connection with the device"),
        OptionSpec::new("username", "username", Text, 1)
            .deprecated("login")
            .short('l')
            .placeholder("[name]")
            .required(Yes)
            .desc("Login name"),
        OptionSpec::new("password", "password", Text, 1)
            .deprecated("passwd")
            .short('p')
            .placeholder("[password]")
            .secret()
            .desc("Login password or passphrase"),
        OptionSpec::new("password_script", "password-script", Text, 1)
            .deprecated("passwd_script")
            .short('S')
            .placeholder("[script]")
            .desc("Script to run to retrieve the password"),
        OptionSpec::new("identity_file", "identity-file", Text, 1)
            .short('k')
            .placeholder("[filename]")
            .desc("Identity file (private key) for SSH"),
        OptionSpec::new("plug", "plug", Text, 1)
            .deprecated("port")
            .short('n')
            .placeholder("[id]")
            .required(ForPowerActions)
            .desc("Physical plug number on device, UUID or identification of machine"),
        OptionSpec::new("ssh", "ssh", Boolean, 1)
            .deprecated("secure")
            .short('x')
            .desc("Use SSH connection"),
        OptionSpec::new("ssh_options", "ssh-options", Text, 1)
            .placeholder("[options]")
            .desc("SSH options to use"),
        OptionSpec::new("ssl", "ssl", Boolean, 1)
            .short('z')
            .desc("Use SSL connection with verifying certificate"),
        OptionSpec::new("ssl_secure", "ssl-secure", Boolean, 1)
            .desc("Use SSL connection with verifying certificate"),
        OptionSpec::new("ssl_insecure", "ssl-insecure", Boolean, 1)
            .desc("Use SSL connection without verifying certificate")
            .longdesc("Only a true value (1, yes, on, true) turns certificate verification off; 0, no, off and false leave it on (fence-agents took any value, 0 included, as on)."),
        OptionSpec::new("notls", "notls", Boolean, 1)
            .short('t')
            .desc("Do not use TLS: plain HTTP"),
        OptionSpec::new("inet4_only", "inet4-only", Boolean, 1)
            .short('4')
            .desc("Forces agent to use IPv4 addresses only"),
        OptionSpec::new("inet6_only", "inet6-only", Boolean, 1)
            .short('6')
            .desc("Forces agent to use IPv6 addresses only"),
        OptionSpec::new("exec", "exec", Text, 1)
            .short('e')
            .placeholder("[command]")
            .desc("Command to execute"),
        OptionSpec::new("vmware_type", "vmware_type", Text, 1)
            .short('d')
            .placeholder("[type]")
            .desc("Type of VMware to connect"),
        OptionSpec::new("vmware_datacenter", "vmware-datacenter", Text, 2)
            .short('s')
            .placeholder("[dc]")
            .desc("VMWare datacenter filter"),
        OptionSpec::new("port_as_ip", "port-as-ip", Boolean, 200)
            .desc("Make \"port/plug\" to be an alias to IP address"),
        OptionSpec::new("method", "method", Select(&["onoff", "cycle"]), 1)
            .short('m')
            .placeholder("[method]")
            .default("onoff")
            .desc("Method to fence"),
        OptionSpec::new("quiet", "quiet", Boolean, 50).short('q').desc(
            "Disable logging to stderr. Does not affect --verbose or --debug-file or logging to syslog.",
        ),
        OptionSpec::new("verbose", "verbose", Counter, 51)
            .short('v')
            .desc("Verbose mode. Multiple -v flags can be stacked on the command line (e.g., -vvv) to increase verbosity."),
        OptionSpec::new("verbose_level", "verbose-level", INTEGER_ANY, 52).desc(
            "Level of debugging detail in output. Defaults to the number of --verbose flags given on the command line, or to 1 if verbose=1 is given on stdin.",
        ),
        OptionSpec::new("debug_file", "debug-file", Text, 53)
            .deprecated("debug")
            .short('D')
            .placeholder("[debugfile]")
            .desc("Write debug information to given file")
            .longdesc("A new file is created readable by its owner only (mode 0600). An existing file is appended to and keeps its mode; the agent warns when other users can read it or another user owns it. A symbolic link at that path, or anything but a regular file, is refused: the agent usually runs as root, and would otherwise append to whatever the link points at."),
        OptionSpec::new("version", "version", Boolean, 54)
            .short('V')
            .desc("Display version information and exit"),
        OptionSpec::new("help", "help", Boolean, 55)
            .short('h')
            .desc("Display help and exit"),
        OptionSpec::new("plug_separator", "plug-separator", Text, 100)
            .placeholder("[char]")
            .default(",")
            .desc("Separator for plug parameter when specifying more than 1 plug"),
        OptionSpec::new("separator", "separator", Text, 100)
            .short('C')
            .placeholder("[char]")
            .default(",")
            .desc("Separator for CSV created by 'list' operation"),
        OptionSpec::new("delay", "delay", Second, 200)
            .placeholder("[seconds]")
            .default("0")
            .desc("Wait X seconds before fencing is started"),
        OptionSpec::new("disable_timeout", "disable-timeout", BooleanValue, 200)
            .placeholder("[true/false]")
            .desc("Disable timeout (true/false) (default: true when run from Pacemaker 2.0+)")
            .longdesc("When true (the default when Pacemaker's fencer runs the agent, PCMK_service=pacemaker-fenced), login_timeout, shell_timeout and power_timeout are ignored and the fencer's own timeout governs. Unlike fence-agents, no wait is then unbounded: connecting and logging in still give up after 60 seconds, each command after 60 seconds, and waiting for a power change after 300 seconds. Pacemaker's timeout is usually shorter and ends the agent first; the bounds matter when it is not, or when the agent is run by hand."),
        OptionSpec::new("login_timeout", "login-timeout", Second, 200)
            .placeholder("[seconds]")
            .default("5")
            .desc("Wait X seconds for cmd prompt after login"),
        OptionSpec::new("power_timeout", "power-timeout", Second, 200)
            .placeholder("[seconds]")
            .default("20")
            .desc("Test X seconds for status change after ON/OFF")
            .longdesc("Wall-clock seconds: the status is polled every stonith_status_sleep seconds until the target state is seen or this time has passed (fence-agents counts polls instead, so a slow device made its timeout much longer). At least one poll is always made. 0 means no limit of its own, as with fence-agents, but the wait still ends after 300 seconds."),
        OptionSpec::new("power_wait", "power-wait", Second, 200)
            .placeholder("[seconds]")
            .default("0")
            .desc("Wait X seconds after issuing ON/OFF"),
        OptionSpec::new("shell_timeout", "shell-timeout", Second, 200)
            .placeholder("[seconds]")
            .default("3")
            .desc("Wait X seconds for cmd prompt after issuing command"),
        OptionSpec::new("stonith_status_sleep", "stonith-status-sleep", Second, 200)
            .placeholder("[seconds]")
            .default("1")
            .desc("Sleep X seconds between status calls during a STONITH action"),
        OptionSpec::new("retry_on", "retry-on", INTEGER_ANY, 201)
            .placeholder("[attempts]")
            .default("1")
            .desc("Count of attempts to retry power on"),
        OptionSpec::new("ssh_path", "ssh-path", Text, 300)
            .placeholder("[path]")
            .default("/usr/bin/ssh")
            .desc("Path to ssh binary"),
        OptionSpec::new("gnutlscli_path", "gnutlscli-path", Text, 300)
            .placeholder("[path]")
            .default("/usr/bin/gnutls-cli")
            .desc("Path to gnutls-cli binary"),
    ]
}

/// The options every agent has, whatever else it picks (fence-agents'
/// "default" dependency set).
pub const ALWAYS: &[&str] = &[
    "action",
    "quiet",
    "verbose",
    "verbose_level",
    "debug_file",
    "version",
    "help",
    "plug_separator",
    "delay",
    "disable_timeout",
    "login_timeout",
    "power_timeout",
    "power_wait",
    "shell_timeout",
    "stonith_status_sleep",
    "retry_on",
];

/// An agent's options: picked from the catalogue, then adjusted.
#[derive(Debug, Clone)]
pub struct OptionSet {
    specs: Vec<OptionSpec>,
    /// argv-only flags that select an action (`--man` for `-o manpage`),
    /// kept for predecessors' command lines; never in metadata.
    action_flags: Vec<(&'static str, &'static str)>,
}

impl OptionSet {
    /// The options named in `names` plus those every agent has. Panics on
    /// a name the catalogue lacks: that is a programming error in an
    /// agent's declaration, caught by its first test.
    pub fn pick(names: &[&str]) -> OptionSet {
        let all = catalogue();
        let mut specs = Vec::new();
        for name in ALWAYS.iter().chain(names.iter()) {
            if specs.iter().any(|s: &OptionSpec| s.name == *name) {
                continue;
            }
            match all.iter().find(|s| s.name == *name) {
                Some(s) => specs.push(s.clone()),
                None => panic!("option {name:?} is not in the catalogue"),
            }
        }
        OptionSet {
            specs,
            action_flags: Vec::new(),
        }
    }

    /// Add an option the catalogue does not have (agent-specific).
    // The builder name is public API that agents already use; it takes
    // and returns the set, which is not what `std::ops::Add` means.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, spec: OptionSpec) -> Self {
        self.specs.retain(|s| s.name != spec.name);
        self.specs.push(spec);
        self
    }

    fn edit(mut self, name: &str, f: impl FnOnce(&mut OptionSpec)) -> Self {
        match self.specs.iter_mut().find(|s| s.name == name) {
            Some(s) => f(s),
            None => panic!("option {name:?} is not picked by this agent"),
        }
        self
    }

    pub fn with_default(self, name: &str, value: impl Into<Cow<'static, str>>) -> Self {
        let v = value.into();
        self.edit(name, |s| s.default = Some(v))
    }

    pub fn without_default(self, name: &str) -> Self {
        self.edit(name, |s| s.default = None)
    }

    pub fn with_shortdesc(self, name: &str, text: impl Into<Cow<'static, str>>) -> Self {
        let t = text.into();
        self.edit(name, |s| s.shortdesc = t)
    }

    pub fn with_longdesc(self, name: &str, text: impl Into<Cow<'static, str>>) -> Self {
        let t = text.into();
        self.edit(name, |s| s.longdesc = Some(t))
    }

    pub fn with_required(self, name: &str, required: Required) -> Self {
        self.edit(name, |s| s.required = required)
    }

    pub fn with_argv_alias(self, name: &str, alias: &'static str) -> Self {
        self.edit(name, |s| s.argv_aliases.push(alias))
    }

    /// `--long` on argv means `--action=action` (a predecessor's flag such
    /// as the Perl fence_vmware_esxi's `--man`).
    pub fn with_action_flag(mut self, long: &'static str, action: &'static str) -> Self {
        self.action_flags.push((long, action));
        self
    }

    pub fn action_flags(&self) -> &[(&'static str, &'static str)] {
        &self.action_flags
    }

    pub fn with_kind(self, name: &str, kind: ValueKind) -> Self {
        self.edit(name, |s| s.kind = kind)
    }

    pub fn specs(&self) -> &[OptionSpec] {
        &self.specs
    }

    pub fn get(&self, name: &str) -> Option<&OptionSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The spec a stdin key names, by canonical or deprecated name, with
    /// `-` and `_` treated alike as fence-agents does.
    pub fn by_stdin_name(&self, key: &str) -> Option<&OptionSpec> {
        let normal = key.replace('-', "_");
        self.specs
            .iter()
            .find(|s| s.stdin_names().any(|n| n == normal))
    }

    /// Options sorted for help and metadata: by order, then name.
    pub fn sorted(&self) -> Vec<&OptionSpec> {
        let mut v: Vec<&OptionSpec> = self.specs.iter().collect();
        v.sort_by(|a, b| (a.order, a.name).cmp(&(b.order, b.name)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_short_forms_are_unique() {
        // fence-agents reuses some short forms across unrelated agents;
        // within one agent a short form must be unique. This catalogue
        // holds only the VMware agents' options, so it can be unique as a
        // whole, and any pick of it is.
        let all = catalogue();
        let mut seen = std::collections::HashMap::new();
        for s in &all {
            if let Some(c) = s.short {
                if let Some(prev) = seen.insert(c, s.name) {
                    panic!("-{c} used by {prev} and {}", s.name);
                }
            }
        }
    }

    #[test]
    fn getopt_mixed_matches_fence_agents_spelling() {
        let set = OptionSet::pick(&["ip", "vmware_type"]);
        assert_eq!(set.get("ip").unwrap().getopt_mixed(), "-a, --ip=[ip]");
        assert_eq!(
            set.get("vmware_type").unwrap().getopt_mixed(),
            "-d, --vmware_type=[type]"
        );
        assert_eq!(
            set.get("verbose_level").unwrap().getopt_mixed(),
            "--verbose-level"
        );
    }

    #[test]
    fn stdin_names_include_deprecated_and_dash_forms() {
        let set = OptionSet::pick(&["ip", "password", "plug"]);
        assert_eq!(set.by_stdin_name("ipaddr").unwrap().name, "ip");
        assert_eq!(set.by_stdin_name("passwd").unwrap().name, "password");
        assert_eq!(set.by_stdin_name("port").unwrap().name, "plug");
        assert_eq!(
            set.by_stdin_name("power-timeout").unwrap().name,
            "power_timeout"
        );
        assert!(set.by_stdin_name("nodename").is_none());
    }
}
