//! The configuration file (TOML): the vCenter or ESXi connection, with
//! fence_vmware's option names and TLS rules; the daemon's limits; one
//! `[[vm]]` table per BMC endpoint.
//!
//! Every problem found is reported, one line each, not just the first.
//! The file holds passwords, so it must belong to root and be unreadable
//! to group and others, or the daemon refuses it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_framework::Secret;
use toml::{Table, Value};

use crate::crypto::PASSWORD_KEY_LEN;
use crate::handshake::MAX_USER_NAME;
use crate::ipmi::Privilege;
use crate::server::Limits;

pub const DEFAULT_PATH: &str = "/etc/vmware-vbmc/vmware-vbmc.toml";
/// IPMI passwords shorter than this are refused: RAKP lets anyone who
/// knows a user name test passwords offline (see the man page), so only a
/// long random password protects an endpoint.
pub const MIN_IPMI_PASSWORD: usize = 16;
/// The standard RMCP port (IPMI v2.0 §13.1.3: 623, "asf-rmcp").
pub const DEFAULT_PORT: u16 = 623;

/// A password given in the file, or the command that prints it
/// (fence-agents' password_script: run through /bin/sh, first line).
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Value(Secret),
    Script(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Value(_) => f.write_str("Value(****)"),
            SecretSource::Script(s) => write!(f, "Script({s:?})"),
        }
    }
}

impl SecretSource {
    /// The password itself; a script runs now, bounded by `timeout`.
    pub fn resolve(&self, timeout: Duration) -> Result<Secret, String> {
        match self {
            SecretSource::Value(s) => Ok(s.clone()),
            SecretSource::Script(cmd) => agent_framework::password_script::run(cmd, timeout)
                .map_err(|e| e.to_string().trim_start_matches("Failed: ").to_string()),
        }
    }
}

/// How to reach vCenter over TLS: fence_vmware's rules (verified HTTPS
/// unless told otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    Verify { cacert: Option<PathBuf> },
    Insecure,
    PlainHttp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressFamily {
    Any,
    V4,
    V6,
}

/// The vCenter or ESXi connection (`[vcenter]`), in fence_vmware's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vcenter {
    pub ip: String,
    pub ipport: Option<u16>,
    pub username: String,
    pub password: SecretSource,
    pub tls: Tls,
    pub family: AddressFamily,
    pub datacenter: Option<String>,
}

/// One BMC endpoint (`[[vm]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vm {
    /// The VM, as fence_vmware's plug names it.
    pub plug: String,
    pub listen: SocketAddr,
    pub ipmi_username: String,
    pub ipmi_password: SecretSource,
    pub privilege_limit: Privilege,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub vcenter: Vcenter,
    pub limits: Limits,
    /// How long a password script may run.
    pub script_timeout: Duration,
    pub vms: Vec<Vm>,
}

/// Collects problems; each becomes one line. Also notes every setting
/// name each section accepts, for [`accepted_settings`].
#[derive(Default)]
struct Problems {
    lines: Vec<String>,
    accepted: Vec<(&'static str, &'static str)>,
}

impl Problems {
    fn add(&mut self, place: &str, text: impl fmt::Display) {
        self.lines.push(format!("{place}: {text}"));
    }
}

/// fence-agents' boolean words, as fence_vmware accepts them; TOML's own
/// true/false too.
fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Boolean(b) => Some(*b),
        Value::Integer(1) => Some(true),
        Value::Integer(0) => Some(false),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "yes" | "on" | "true" => Some(true),
            "0" | "no" | "off" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    v.type_str()
}

/// One table's settings, each read once; what is left over is unknown.
struct Section<'a> {
    kind: &'static str,
    place: String,
    table: &'a Table,
    used: Vec<&'static str>,
}

impl<'a> Section<'a> {
    fn new(kind: &'static str, place: String, table: &'a Table) -> Section<'a> {
        Section {
            kind,
            place,
            table,
            used: Vec::new(),
        }
    }

    /// The value of `name` or one of its aliases (fence-agents' old
    /// names); two of them at once is a problem.
    fn get(&mut self, p: &mut Problems, names: &[&'static str]) -> Option<&'a Value> {
        let found: Vec<&'static str> = names
            .iter()
            .copied()
            .filter(|n| self.table.contains_key(*n))
            .collect();
        for n in names {
            if !self.used.contains(n) {
                self.used.push(n);
            }
        }
        if found.len() > 1 {
            p.add(
                &self.place,
                format!("{} are the same setting; give one", found.join(" and ")),
            );
        }
        found.first().and_then(|n| self.table.get(*n))
    }

    fn text(&mut self, p: &mut Problems, names: &[&'static str]) -> Option<String> {
        match self.get(p, names)? {
            Value::String(s) => Some(s.clone()),
            other => {
                p.add(
                    &self.place,
                    format!("{}: must be a string, not {}", names[0], type_name(other)),
                );
                None
            }
        }
    }

    fn flag(&mut self, p: &mut Problems, name: &'static str) -> bool {
        match self.get(p, &[name]) {
            None => false,
            Some(v) => boolean(v).unwrap_or_else(|| {
                p.add(
                    &self.place,
                    format!("{name}: must be true or false (or 1/0, yes/no, on/off)"),
                );
                false
            }),
        }
    }

    fn integer(&mut self, p: &mut Problems, name: &'static str, min: i64, max: i64) -> Option<i64> {
        let v = self.get(p, &[name])?;
        let n = match v {
            Value::Integer(n) => Some(*n),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                p.add(
                    &self.place,
                    format!("{name}: must be a whole number from {min} to {max}"),
                );
                None
            }
        }
    }

    /// A password or its script: exactly one of the two.
    fn secret(
        &mut self,
        p: &mut Problems,
        value_names: &[&'static str],
        script_names: &[&'static str],
    ) -> Option<SecretSource> {
        let value = self.text(p, value_names);
        let script = self.text(p, script_names);
        match (value, script) {
            (Some(_), Some(_)) => {
                p.add(
                    &self.place,
                    format!(
                        "{} and {} both given; give one",
                        value_names[0], script_names[0]
                    ),
                );
                None
            }
            (Some(v), None) => Some(SecretSource::Value(Secret::new(v))),
            (None, Some(s)) if s.trim().is_empty() => {
                p.add(&self.place, format!("{}: empty command", script_names[0]));
                None
            }
            (None, Some(s)) => Some(SecretSource::Script(s)),
            (None, None) => {
                p.add(
                    &self.place,
                    format!("{} or {} is required", value_names[0], script_names[0]),
                );
                None
            }
        }
    }

    fn unknown(&self, p: &mut Problems) {
        p.accepted
            .extend(self.used.iter().map(|name| (self.kind, *name)));
        let mut extra: Vec<&String> = self
            .table
            .keys()
            .filter(|k| !self.used.contains(&k.as_str()))
            .collect();
        extra.sort();
        for k in extra {
            p.add(&self.place, format!("unknown setting `{k}`"));
        }
    }
}

fn parse_vcenter(table: &Table, p: &mut Problems) -> Option<Vcenter> {
    let mut s = Section::new("[vcenter]", "[vcenter]".into(), table);
    let ip = s.text(p, &["ip", "ipaddr"]);
    let ipport = s.integer(p, "ipport", 1, 65535).map(|n| n as u16);
    let username = s.text(p, &["username", "login"]);
    let password = s.secret(
        p,
        &["password", "passwd"],
        &["password_script", "passwd_script"],
    );
    let ssl_insecure = s.flag(p, "ssl_insecure");
    let notls = s.flag(p, "notls");
    let cacert = s.text(p, &["cacert"]).filter(|c| !c.trim().is_empty());
    let inet4 = s.flag(p, "inet4_only");
    let inet6 = s.flag(p, "inet6_only");
    let datacenter = s
        .text(p, &["vmware_datacenter"])
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty());
    s.unknown(p);
    let place = "[vcenter]";
    if ip.as_deref().map(str::trim).unwrap_or("").is_empty() {
        p.add(
            place,
            "ip is required (the host name or address of vCenter or ESXi)",
        );
    }
    if username.as_deref().unwrap_or("").is_empty() {
        p.add(place, "username is required");
    }
    if matches!(&password, Some(SecretSource::Value(v)) if v.is_empty()) {
        p.add(place, "password: empty");
    }
    // fence_vmware's TLS rules (agents/vmware settings.rs).
    if notls && ssl_insecure {
        p.add(
            place,
            "notls (plain HTTP) cannot be combined with ssl_insecure",
        );
    }
    if let Some(ca) = &cacert {
        if notls {
            p.add(place, "cacert is given but TLS is off (notls)");
        } else if ssl_insecure {
            p.add(
                place,
                "cacert and ssl_insecure contradict each other: verify against cacert, or do not verify",
            );
        }
        if !Path::new(ca.trim()).is_file() {
            p.add(place, format!("cacert: {} is not a file", ca.trim()));
        }
    }
    if inet4 && inet6 {
        p.add(place, "inet4_only and inet6_only exclude each other");
    }
    let tls = if notls {
        Tls::PlainHttp
    } else if ssl_insecure {
        Tls::Insecure
    } else {
        Tls::Verify {
            cacert: cacert.map(|c| PathBuf::from(c.trim())),
        }
    };
    let family = match (inet4, inet6) {
        (true, false) => AddressFamily::V4,
        (false, true) => AddressFamily::V6,
        _ => AddressFamily::Any,
    };
    Some(Vcenter {
        ip: ip?.trim().to_string(),
        ipport,
        username: username?,
        password: password?,
        tls,
        family,
        datacenter,
    })
}

struct Daemon {
    limits: Limits,
    script_timeout: Duration,
}

fn parse_daemon(table: Option<&Table>, p: &mut Problems) -> Daemon {
    let mut limits = Limits::default();
    let mut script_timeout = Duration::from_secs(20);
    let empty = Table::new();
    let mut s = Section::new("[daemon]", "[daemon]".into(), table.unwrap_or(&empty));
    if let Some(n) = s.integer(p, "max_sessions", 1, 1024) {
        limits.max_sessions = n as usize;
    }
    if let Some(n) = s.integer(p, "max_sessions_per_vm", 1, 64) {
        limits.max_sessions_per_vm = n as usize;
    }
    if let Some(n) = s.integer(p, "session_idle_timeout", 5, 3600) {
        limits.session_idle_timeout = Duration::from_secs(n as u64);
    }
    if let Some(n) = s.integer(p, "reply_within", 1, 60) {
        limits.reply_within = Duration::from_secs(n as u64);
    }
    if let Some(n) = s.integer(p, "password_script_timeout", 1, 300) {
        script_timeout = Duration::from_secs(n as u64);
    }
    s.unknown(p);
    if limits.reply_within >= limits.session_idle_timeout {
        p.add(
            "[daemon]",
            "reply_within must be shorter than session_idle_timeout",
        );
    }
    Daemon {
        limits,
        script_timeout,
    }
}

/// Checks an IPMI password: every rule at once, never echoing it.
pub fn ipmi_password_problem(password: &str) -> Option<String> {
    let n = password.len();
    if n == 0 {
        return Some("ipmi_password: empty passwords are never accepted".into());
    }
    if password.contains('\0') {
        return Some("ipmi_password: must not contain a NUL byte".into());
    }
    if n > PASSWORD_KEY_LEN {
        return Some(format!(
            "ipmi_password: {n} bytes; IPMI v2.0 passwords are at most {PASSWORD_KEY_LEN}"
        ));
    }
    if n < MIN_IPMI_PASSWORD {
        return Some(format!(
            "ipmi_password: {n} bytes is too short; use {MIN_IPMI_PASSWORD} to {PASSWORD_KEY_LEN} random characters (anyone who knows the user name can test passwords offline)"
        ));
    }
    None
}

fn parse_vm(index: usize, table: &Table, p: &mut Problems) -> Option<Vm> {
    let mut s = Section::new("[[vm]]", format!("[[vm]] #{}", index + 1), table);
    let plug = s.text(p, &["plug"]);
    if let Some(plug) = &plug {
        s.place = format!("[[vm]] #{} (plug {plug})", index + 1);
    }
    let place = s.place.clone();
    let address = s.text(p, &["listen_address"]);
    let port = s.integer(p, "listen_port", 1, 65535);
    let ipmi_username = s.text(p, &["ipmi_username"]);
    let ipmi_password = s.secret(p, &["ipmi_password"], &["ipmi_password_script"]);
    let limit_text = s.text(p, &["privilege_limit"]);
    s.unknown(p);
    if plug.as_deref().map(str::trim).unwrap_or("").is_empty() {
        p.add(
            &place,
            "plug is required (the VM, as fence_vmware's plug names it)",
        );
    }
    let ip = match address.as_deref().map(str::trim) {
        None | Some("") => {
            p.add(
                &place,
                "listen_address is required (the address this VM's BMC listens on)",
            );
            None
        }
        Some(a) => match a.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                p.add(&place, format!("listen_address: {a} is not an IP address"));
                None
            }
        },
    };
    let port = port.map(|n| n as u16).unwrap_or(DEFAULT_PORT);
    match &ipmi_username {
        None => p.add(
            &place,
            "ipmi_username is required (null user names are never accepted)",
        ),
        Some(u) if u.is_empty() => {
            p.add(&place, "ipmi_username: null user names are never accepted")
        }
        Some(u) if u.len() > MAX_USER_NAME => p.add(
            &place,
            format!(
                "ipmi_username: at most {MAX_USER_NAME} bytes, not {}",
                u.len()
            ),
        ),
        Some(u) if !u.bytes().all(|b| b.is_ascii_graphic()) => {
            p.add(&place, "ipmi_username: printable ASCII without spaces only")
        }
        Some(_) => {}
    }
    if let Some(SecretSource::Value(pw)) = &ipmi_password {
        if let Some(problem) = ipmi_password_problem(pw.expose()) {
            p.add(&place, problem);
        }
    }
    let privilege_limit = match limit_text.as_deref() {
        None => Privilege::Administrator,
        Some(t) => match Privilege::parse(t) {
            Some(Privilege::Callback) | None => {
                p.add(
                    &place,
                    format!("privilege_limit: {t:?} is not user, operator or administrator"),
                );
                Privilege::Administrator
            }
            Some(l) => l,
        },
    };
    Some(Vm {
        plug: plug?.trim().to_string(),
        listen: SocketAddr::new(ip?, port),
        ipmi_username: ipmi_username?,
        ipmi_password: ipmi_password?,
        privilege_limit,
    })
}

/// Parses the text of a configuration file; every problem, one line each.
pub fn parse(text: &str) -> Result<Config, Vec<String>> {
    let mut p = Problems::default();
    let doc: Table = match text.parse::<Table>() {
        Ok(t) => t,
        Err(e) => {
            // The parser's message names the line and column.
            let first = e.to_string();
            let line = first.lines().next().unwrap_or("not valid TOML").trim();
            return Err(vec![format!("not valid TOML: {line}")]);
        }
    };
    let mut top = Section::new("top level", "top level".into(), &doc);
    let vcenter = match top.get(&mut p, &["vcenter"]) {
        Some(Value::Table(t)) => parse_vcenter(t, &mut p),
        Some(_) => {
            p.add("[vcenter]", "must be a table");
            None
        }
        None => {
            p.add("[vcenter]", "section missing");
            None
        }
    };
    let daemon = match top.get(&mut p, &["daemon"]) {
        Some(Value::Table(t)) => parse_daemon(Some(t), &mut p),
        Some(_) => {
            p.add("[daemon]", "must be a table");
            parse_daemon(None, &mut p)
        }
        None => parse_daemon(None, &mut p),
    };
    let mut vms = Vec::new();
    match top.get(&mut p, &["vm"]) {
        Some(Value::Array(items)) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Table(t) => {
                        if let Some(vm) = parse_vm(i, t, &mut p) {
                            vms.push(vm);
                        }
                    }
                    _ => p.add(&format!("[[vm]] #{}", i + 1), "must be a table"),
                }
            }
        }
        Some(Value::Array(_)) | None => p.add("[[vm]]", "no virtual machine configured"),
        Some(_) => p.add("[[vm]]", "must be an array of tables ([[vm]])"),
    }
    top.unknown(&mut p);
    let mut listeners: HashMap<SocketAddr, &str> = HashMap::new();
    let mut plugs: HashSet<&str> = HashSet::new();
    for vm in &vms {
        if let Some(other) = listeners.insert(vm.listen, &vm.plug) {
            p.add(
                &format!("[[vm]] (plug {})", vm.plug),
                format!("{} is already the endpoint of plug {other}", vm.listen),
            );
        }
        if !plugs.insert(&vm.plug) {
            p.add(
                &format!("[[vm]] (plug {})", vm.plug),
                "this plug has two endpoints; give each VM one",
            );
        }
    }
    match (vcenter, p.lines.is_empty()) {
        (Some(vcenter), true) => Ok(Config {
            vcenter,
            limits: daemon.limits,
            script_timeout: daemon.script_timeout,
            vms,
        }),
        _ => Err(p.lines),
    }
}

/// Every setting name each section accepts, aliases included, as
/// `(section, name)`: what the man page must document.
pub fn accepted_settings() -> Vec<(&'static str, &'static str)> {
    let mut p = Problems::default();
    let empty = Table::new();
    parse_vcenter(&empty, &mut p);
    parse_daemon(None, &mut p);
    parse_vm(0, &empty, &mut p);
    p.accepted
}

/// The file holds passwords: it must be a regular file owned by root,
/// with no permission for group or others.
pub fn check_permissions(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut problems = Vec::new();
    if meta.uid() != 0 {
        problems.push(format!(
            "owned by uid {}, not root: it holds passwords (chown root:root)",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        problems.push(format!(
            "mode {mode:04o} lets group or others read or write it: it holds passwords (chmod 600)"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Reads, checks and parses the file; every problem as one line naming it.
pub fn load(path: &Path) -> Result<Config, Vec<String>> {
    let shown = path.display();
    let mut problems = Vec::new();
    if let Err(e) = check_permissions(path) {
        problems.push(format!("{shown}: {e}"));
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            if problems.is_empty() {
                problems.push(format!("{shown}: cannot read it: {e}"));
            }
            return Err(problems);
        }
    };
    match parse(&text) {
        Ok(config) if problems.is_empty() => Ok(config),
        Ok(_) => Err(problems),
        Err(found) => {
            problems.extend(found.into_iter().map(|f| format!("{shown}: {f}")));
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[vcenter]
ip = "vcenter.example.com"
username = "vbmc@vsphere.local"
password_script = "cat /etc/vmware-vbmc/vcenter-password"
vmware_datacenter = "DC1"

[daemon]
reply_within = 6

[[vm]]
plug = "/DC1/vm/prod/db01"
listen_address = "192.0.2.10"
ipmi_username = "fence"
ipmi_password = "Xk4#pq9!Lm2$Rt7@"

[[vm]]
plug = "db02"
listen_address = "192.0.2.10"
listen_port = 6231
ipmi_username = "fence"
ipmi_password_script = "cat /etc/vmware-vbmc/db02"
privilege_limit = "operator"
"#;

    #[test]
    fn a_complete_configuration() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.vcenter.ip, "vcenter.example.com");
        assert_eq!(c.vcenter.tls, Tls::Verify { cacert: None });
        assert_eq!(c.vcenter.datacenter.as_deref(), Some("DC1"));
        assert_eq!(c.limits.reply_within, Duration::from_secs(6));
        assert_eq!(c.limits.session_idle_timeout, Duration::from_secs(60));
        assert_eq!(c.vms.len(), 2);
        assert_eq!(c.vms[0].listen, "192.0.2.10:623".parse().unwrap());
        assert_eq!(c.vms[0].privilege_limit, Privilege::Administrator);
        assert_eq!(c.vms[1].listen.port(), 6231);
        assert_eq!(c.vms[1].privilege_limit, Privilege::Operator);
        assert!(matches!(c.vms[1].ipmi_password, SecretSource::Script(_)));
        // Debug never shows a password.
        assert!(!format!("{c:?}").contains("Xk4#pq9"));
    }

    #[test]
    fn fence_agents_aliases_and_boolean_words() {
        let text = GOOD
            .replace("ip = ", "ipaddr = ")
            .replace("username = \"vbmc", "login = \"vbmc")
            .replace("vmware_datacenter = \"DC1\"", "ssl_insecure = \"1\"");
        let c = parse(&text).unwrap();
        assert_eq!(c.vcenter.ip, "vcenter.example.com");
        assert_eq!(c.vcenter.username, "vbmc@vsphere.local");
        assert_eq!(c.vcenter.tls, Tls::Insecure);
        let off = GOOD.replace("vmware_datacenter = \"DC1\"", "ssl_insecure = \"off\"");
        assert_eq!(
            parse(&off).unwrap().vcenter.tls,
            Tls::Verify { cacert: None }
        );
    }

    fn problems(text: &str) -> Vec<String> {
        parse(text).unwrap_err()
    }

    #[test]
    fn every_problem_is_reported_on_its_own_line() {
        let text = GOOD
            .replace("ip = \"vcenter.example.com\"", "")
            .replace(
                "ipmi_password = \"Xk4#pq9!Lm2$Rt7@\"",
                "ipmi_password = \"\"",
            )
            .replace(
                "privilege_limit = \"operator\"",
                "privilege_limit = \"root\"\ncolour = 1",
            );
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|l| l
                    == "[vcenter]: ip is required (the host name or address of vCenter or ESXi)"),
            "{p:?}"
        );
        assert!(
            p.iter().any(|l| l.contains(
                "#1 (plug /DC1/vm/prod/db01): ipmi_password: empty passwords are never accepted"
            )),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l.contains("#2 (plug db02): privilege_limit: \"root\"")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l.contains("#2 (plug db02): unknown setting `colour`")),
            "{p:?}"
        );
        assert_eq!(p.len(), 4, "{p:?}");
    }

    #[test]
    fn ipmi_passwords_and_user_names() {
        for (pw, needle) in [
            ("short-one", "too short"),
            ("a-password-of-21-byte", "at most 20"),
        ] {
            let p = problems(&GOOD.replace("Xk4#pq9!Lm2$Rt7@", pw));
            assert!(p.iter().any(|l| l.contains(needle)), "{pw}: {p:?}");
            assert!(
                p.iter().all(|l| !l.contains(pw)),
                "the password is never echoed"
            );
        }
        let p = problems(&GOOD.replace(
            "ipmi_username = \"fence\"\nipmi_password = \"Xk4",
            "ipmi_username = \"\"\nipmi_password = \"Xk4",
        ));
        assert!(
            p.iter()
                .any(|l| l.contains("null user names are never accepted")),
            "{p:?}"
        );
        let p = problems(&GOOD.replacen(
            "ipmi_username = \"fence\"",
            "ipmi_username = \"seventeen-chars-x\"",
            1,
        ));
        assert!(p.iter().any(|l| l.contains("at most 16 bytes")), "{p:?}");
        let p = problems(&GOOD.replacen(
            "ipmi_password = \"Xk4#pq9!Lm2$Rt7@\"",
            "ipmi_password = \"Xk4#pq9!Lm2$Rt7@\"\nipmi_password_script = \"x\"",
            1,
        ));
        assert!(
            p.iter()
                .any(|l| l.contains("ipmi_password and ipmi_password_script both given")),
            "{p:?}"
        );
    }

    #[test]
    fn tls_rules_are_fence_vmwares() {
        let p = problems(&GOOD.replace(
            "vmware_datacenter = \"DC1\"",
            "notls = true\nssl_insecure = true",
        ));
        assert!(
            p.iter()
                .any(|l| l.contains("notls (plain HTTP) cannot be combined with ssl_insecure")),
            "{p:?}"
        );
        let p = problems(&GOOD.replace(
            "vmware_datacenter = \"DC1\"",
            "cacert = \"/nonexistent/ca.pem\"\nssl_insecure = true",
        ));
        assert!(p.iter().any(|l| l.contains("contradict")), "{p:?}");
        assert!(
            p.iter()
                .any(|l| l.contains("/nonexistent/ca.pem is not a file")),
            "{p:?}"
        );
        let c = parse(&GOOD.replace("vmware_datacenter = \"DC1\"", "notls = 1")).unwrap();
        assert_eq!(c.vcenter.tls, Tls::PlainHttp);
    }

    #[test]
    fn endpoints_and_plugs_are_unique() {
        let p = problems(
            &GOOD
                .replace("listen_port = 6231\n", "")
                .replace("plug = \"db02\"", "plug = \"/DC1/vm/prod/db01\""),
        );
        assert!(
            p.iter()
                .any(|l| l
                    .contains("192.0.2.10:623 is already the endpoint of plug /DC1/vm/prod/db01")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|l| l.contains("this plug has two endpoints")),
            "{p:?}"
        );
    }

    #[test]
    fn limits_are_bounded() {
        let p = problems(&GOOD.replace("reply_within = 6", "reply_within = 0\nmax_sessions = -1"));
        assert!(
            p.iter()
                .any(|l| l.contains("reply_within: must be a whole number from 1 to 60")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l.contains("max_sessions: must be a whole number")),
            "{p:?}"
        );
        let p = problems(&GOOD.replace(
            "reply_within = 6",
            "reply_within = 30\nsession_idle_timeout = 20",
        ));
        assert!(
            p.iter().any(|l| l.contains("reply_within must be shorter")),
            "{p:?}"
        );
    }

    #[test]
    fn broken_toml_and_missing_sections() {
        let p = problems("[vcenter\nip=");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("not valid TOML"), "{p:?}");
        let p = problems("");
        assert!(
            p.contains(&"[vcenter]: section missing".to_string()),
            "{p:?}"
        );
        assert!(
            p.contains(&"[[vm]]: no virtual machine configured".to_string()),
            "{p:?}"
        );
    }
}
