//! `fence_cts_state`: a test-only fence agent whose "device" is a
//! directory of state files, so that what needs a real process (input
//! from argv and stdin, exit codes, deadlines in wall-clock time,
//! signals, syslog, the debug file, the process's own protections) can be
//! proven through one. The rules of the actions themselves are proven
//! in-process, in agent-framework's own tests. Never installed.
//!
//! `ip` is the state directory. Each plug is a file `<dir>/<plug>` holding
//! `on` or `off`; a plug without a file is unknown. Files next to it
//! script the device:
//!
//! * `<plug>.lag`: seconds after a power command before the state flips
//!   (the command time is recorded in `<plug>.pending`, the state decided
//!   when it is read);
//! * `<plug>.stuck`: power commands are accepted and do nothing;
//! * `<plug>.fail_on_n`: power on fails N times, then works (the count is
//!   kept in `<plug>.failures`);
//! * `<plug>.hang`: reading the state never returns (or, if the file says
//!   `deadline`, returns a timeout when the call's deadline passes);
//! * `login.fail`: connecting is refused;
//! * `login.password`: connecting needs exactly this password;
//! * `logout.hang`: closing the session never returns.
//!
//! Every device call is appended to `<dir>/calls.log` as
//! `<unix-ms> <call>`, so tests can assert call order and timing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_framework::*;

/// Suffixes of the knob and bookkeeping files: never plugs.
const KNOBS: &[&str] = &[
    "lag",
    "stuck",
    "fail_on_n",
    "failures",
    "hang",
    "pending",
    "fail",
    "password",
];

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

fn log_call(dir: &Path, what: &str) {
    let line = format!("{} {what}\n", now_ms());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("calls.log"))
    {
        let _ = f.write_all(line.as_bytes());
    }
}

struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The file of a plug, refusing names that would leave the directory.
    fn file(&self, plug: &Plug, suffix: Option<&str>) -> Result<PathBuf, FenceError> {
        let name = plug.as_str();
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(FenceError::Status(format!("invalid plug name {name:?}")));
        }
        Ok(match suffix {
            Some(s) => self.dir.join(format!("{name}.{s}")),
            None => self.dir.join(name),
        })
    }

    fn knob(&self, plug: &Plug, suffix: &str) -> Option<String> {
        let path = self.file(plug, Some(suffix)).ok()?;
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn parse_state(text: &str) -> Option<PowerState> {
        match text.trim() {
            "on" => Some(PowerState::On),
            "off" => Some(PowerState::Off),
            _ => None,
        }
    }

    /// The state as the device shows it now, applying a lagging command
    /// whose time has come.
    fn read_state(&self, plug: &Plug) -> Result<PowerState, FenceError> {
        let path = self.file(plug, None)?;
        if let Some(pending) = self.knob(plug, "pending") {
            let mut words = pending.split_whitespace();
            let target = words.next().and_then(Self::parse_state);
            let due: u128 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            if let Some(target) = target {
                if now_ms() >= due {
                    self.write_state(plug, target)?;
                    let _ = std::fs::remove_file(self.file(plug, Some("pending"))?);
                }
            }
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| FenceError::Status(format!("plug {plug} is not on this device ({e})")))?;
        Self::parse_state(&text)
            .ok_or_else(|| FenceError::Status(format!("plug {plug} has state {text:?}")))
    }

    fn write_state(&self, plug: &Plug, to: PowerState) -> Result<(), FenceError> {
        let word = if to == PowerState::On { "on" } else { "off" };
        std::fs::write(self.file(plug, None)?, word)
            .map_err(|e| FenceError::Device(format!("unable to set plug {plug}: {e}")))
    }

    fn command(&self, plug: &Plug, to: PowerState) -> Result<(), FenceError> {
        // The plug must exist for a command to reach it.
        if !self.file(plug, None)?.is_file() {
            return Err(FenceError::Status(format!(
                "plug {plug} is not on this device"
            )));
        }
        if to == PowerState::On {
            if let Some(n) = self.knob(plug, "fail_on_n") {
                let n: u32 = n.parse().unwrap_or(0);
                let done: u32 = self
                    .knob(plug, "failures")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                if done < n {
                    let _ =
                        std::fs::write(self.file(plug, Some("failures"))?, format!("{}", done + 1));
                    return Err(FenceError::Device(format!(
                        "the device refused to power on plug {plug} (failure {} of {n})",
                        done + 1
                    )));
                }
            }
        }
        if self.knob(plug, "stuck").is_some() {
            return Ok(());
        }
        let lag: u64 = self
            .knob(plug, "lag")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if lag == 0 {
            let _ = std::fs::remove_file(self.file(plug, Some("pending"))?);
            return self.write_state(plug, to);
        }
        let word = if to == PowerState::On { "on" } else { "off" };
        let due = now_ms() + u128::from(lag) * 1000;
        std::fs::write(self.file(plug, Some("pending"))?, format!("{word} {due}"))
            .map_err(|e| FenceError::Device(format!("unable to command plug {plug}: {e}")))
    }

    fn plugs(&self) -> Result<Vec<String>, FenceError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| FenceError::ConnectionLost(format!("state directory: {e}")))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "calls.log")
            .filter(|n| match n.rsplit_once('.') {
                Some((_, suffix)) => !KNOBS.contains(&suffix),
                None => true,
            })
            .collect();
        names.sort();
        Ok(names)
    }
}

impl Device for StateDir {
    fn power_state(&mut self, plug: &Plug, deadline: Deadline) -> Result<PowerState, FenceError> {
        log_call(&self.dir, &format!("status {plug}"));
        if let Some(how) = self.knob(plug, "hang") {
            if how == "deadline" {
                std::thread::sleep(deadline.remaining());
                return Err(FenceError::TimedOut(format!(
                    "no answer about plug {plug} before the deadline"
                )));
            }
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        logging::trace(format!(
            "device traffic: read {}",
            self.dir.join(plug.as_str()).display()
        ));
        self.read_state(plug)
    }

    fn set_power(
        &mut self,
        plug: &Plug,
        target: PowerState,
        _deadline: Deadline,
    ) -> Result<(), FenceError> {
        let word = if target == PowerState::On {
            "on"
        } else {
            "off"
        };
        log_call(&self.dir, &format!("set {plug} {word}"));
        self.command(plug, target)
    }

    fn list(&mut self, with_status: bool, _deadline: Deadline) -> Result<Vec<Outlet>, FenceError> {
        log_call(&self.dir, "list");
        let mut out = Vec::new();
        for name in self.plugs()? {
            let plug = Plug::new(name.clone());
            let status = if with_status {
                self.read_state(&plug).ok()
            } else {
                None
            };
            out.push(Outlet {
                alias: name.clone(),
                id: name,
                status,
            });
        }
        Ok(out)
    }

    fn disconnect(&mut self) {
        log_call(&self.dir, "disconnect");
        // `logout.hang`: the device never answers the logout.
        if self.dir.join("logout.hang").exists() {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }
}

fn connect(cfg: &Config, _deadline: Deadline) -> Result<Box<dyn Device>, FenceError> {
    let dir = PathBuf::from(cfg.text("ip").unwrap_or_default());
    // Reveal how the framework understood the options, for the tests.
    logging::debug(format!("ssl_insecure={}", cfg.flag("ssl_insecure")));
    logging::debug(format!(
        "plugs=[{}]",
        cfg.plugs
            .iter()
            .map(|p| format!("{:?}", p.as_str()))
            .collect::<Vec<_>>()
            .join(",")
    ));
    // What another process on the node could get at: the tests check that
    // the framework made the process non-dumpable, without core files.
    // (/proc/self/status has no "Dumpable" line: the kernel answers prctl.)
    // SAFETY: PR_GET_DUMPABLE takes no pointer and only returns a value.
    let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
    logging::debug(format!("process dumpable={dumpable}"));
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    for line in limits
        .lines()
        .filter(|l| l.starts_with("Max core file size"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        logging::debug(format!("process {}", words.join(" ")));
    }
    if let Some(pw) = cfg.password() {
        // A careless agent logging its login request: the framework must
        // mask the password wherever it appears.
        logging::trace(format!("device traffic: login password={}", pw.expose()));
        // A device that echoes the password back in its own encoding (a
        // SOAP fault, a URL, a JSON body): the framework must mask those
        // too.
        let p = pw.expose();
        logging::trace(format!(
            "device traffic: <faultstring>InvalidLogin: {}</faultstring>",
            xml_escaped(p)
        ));
        logging::trace(format!(
            "device traffic: GET /session?password={}",
            url_encoded(p)
        ));
        logging::trace(format!(
            "device traffic: {{\"password\":\"{}\"}}",
            json_escaped(p)
        ));
    }
    if !dir.is_dir() {
        return Err(FenceError::LoginDenied(format!(
            "state directory {} does not exist",
            dir.display()
        )));
    }
    log_call(&dir, "connect");
    if dir.join("login.fail").exists() {
        return Err(FenceError::LoginDenied("login.fail is present".into()));
    }
    if let Ok(wanted) = std::fs::read_to_string(dir.join("login.password")) {
        if cfg.password().map(Secret::expose) != Some(wanted.as_str()) {
            return Err(FenceError::LoginDenied("wrong password".into()));
        }
    }
    let cleanup_dir = dir.clone();
    signals::on_interrupt(move || log_call(&cleanup_dir, "cleanup"));
    Ok(Box::new(StateDir { dir }))
}

fn xml_escaped(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c if !c.is_ascii() => format!("&#{};", u32::from(c)),
            c => c.to_string(),
        })
        .collect()
}

fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn json_escaped(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            '/' => "\\/".to_string(),
            c if !c.is_ascii() => {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
            c => c.to_string(),
        })
        .collect()
}

fn main() {
    let agent = AgentSpec {
        name: "fence_cts_state",
        shortdesc: "Test fence agent for a directory of state files",
        longdesc: "fence_cts_state powers plugs that are files in a directory (ip). \
                   It exists to test the fencing framework and is never installed.",
        vendor_url: "https://github.com/ClusterLabs/fence-agents",
        symlinks: &[],
        options: OptionSet::pick(&[
            "ip",
            "ipport",
            "username",
            "password",
            "password_script",
            "plug",
            "method",
            "separator",
            "ssl_insecure",
        ])
        .with_required("username", Required::No)
        .with_argv_alias("ip", "ipaddr")
        .with_argv_alias("plug", "nodename"),
        password: PasswordRule::Optional,
        has_list: true,
        validate: no_extra_validation,
        connect,
        man_sections: &[],
    };
    run::main(&[&agent]);
}
