//! Logging to stderr, syslog and a debug file, as fence-agents does.
//!
//! stderr lines look like `2024-01-31 12:00:00,123 ERROR: message`; `quiet`
//! silences stderr only. Syslog gets the agent's name as ident and the
//! daemon facility. The debug file gets everything at debug level. Every
//! line, on every sink, has every registered secret masked first, in
//! every encoding it can take (see [`crate::Secret`]).

use std::fs::File;
use std::io::Write;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Info,
    Debug,
    /// Protocol traffic, at verbose level 3 and above.
    Trace,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Info => "INFO",
            Level::Debug | Level::Trace => "DEBUG",
        }
    }
}

struct Sinks {
    /// Highest level written to stderr and syslog.
    threshold: Level,
    stderr: bool,
    syslog: Syslog,
    debug_file: Option<File>,
    /// The debug file records debug detail even when stderr does not.
    debug_file_threshold: Level,
}

static SINKS: Mutex<Sinks> = Mutex::new(Sinks {
    threshold: Level::Warning,
    stderr: true,
    syslog: Syslog::Off,
    debug_file: None,
    debug_file_threshold: Level::Debug,
});

fn sinks() -> std::sync::MutexGuard<'static, Sinks> {
    match SINKS.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Verbosity from `verbose_level`: 0 warnings and errors, 1 and 2 also
/// info and debug, 3 and more also protocol traffic.
pub fn set_verbose_level(level: u32) {
    let mut s = sinks();
    s.threshold = match level {
        0 => Level::Warning,
        1 | 2 => Level::Debug,
        _ => Level::Trace,
    };
    if level >= 3 {
        s.debug_file_threshold = Level::Trace;
    }
}

pub(crate) fn set_quiet(quiet: bool) {
    sinks().stderr = !quiet;
}

type SyslogLogger = syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>;

/// The syslog sink. The socket is opened by the first line that goes to
/// syslog: most runs (a status, a monitor that succeeds) write none, and
/// finding the socket is three connects a run need not pay for.
enum Syslog {
    Off,
    Wanted(String),
    Open(SyslogLogger),
    /// Opening failed (no /dev/log in a container): not an error for a
    /// fence agent, it only loses that sink.
    Unavailable,
}

impl Syslog {
    fn logger(&mut self) -> Option<&mut SyslogLogger> {
        if let Syslog::Wanted(ident) = self {
            let formatter = syslog::Formatter3164 {
                facility: syslog::Facility::LOG_DAEMON,
                hostname: None,
                process: std::mem::take(ident),
                pid: std::process::id(),
            };
            *self = match syslog::unix(formatter) {
                Ok(logger) => Syslog::Open(logger),
                Err(_) => Syslog::Unavailable,
            };
        }
        match self {
            Syslog::Open(logger) => Some(logger),
            _ => None,
        }
    }
}

/// Log to syslog from now on, as `ident`.
pub(crate) fn open_syslog(ident: &str) {
    sinks().syslog = Syslog::Wanted(ident.to_string());
}

/// Opens `debug_file` for appending, as fence-agents does, but safely:
///
/// - a new file is created 0600: it holds the debug log, which names
///   hosts, users and VMs (secrets are masked);
/// - a symbolic link at that path is refused, never followed (O_NOFOLLOW):
///   agents run as root, and a link planted in a shared directory would
///   otherwise make root append to any file. Links in the directories
///   above it are the administrator's and are followed;
/// - only a regular file is written to: a FIFO could block every log line
///   (opening one never blocks here, O_NONBLOCK);
/// - an existing file is appended to and its mode is left alone (the
///   administrator may have chosen it, for a group of log readers), but
///   a file other users can read or write, or that another user owns, is
///   worth a warning, which is returned.
pub(crate) fn open_debug_file(path: &str) -> Result<Option<String>, DebugFileError> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => DebugFileError::Symlink,
            // A FIFO nobody reads, or a device file without its device.
            Some(libc::ENXIO) => DebugFileError::NotAFile,
            _ => DebugFileError::Io(e),
        })?;
    let meta = file.metadata().map_err(DebugFileError::Io)?;
    if !meta.file_type().is_file() {
        return Err(DebugFileError::NotAFile);
    }
    let mut concerns = Vec::new();
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        concerns.push(format!(
            "other users may read or write it (mode {mode:04o})"
        ));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        concerns.push(format!(
            "it belongs to uid {}, not to this process (uid {me})",
            meta.uid()
        ));
    }
    sinks().debug_file = Some(file);
    Ok((!concerns.is_empty()).then(|| {
        format!(
            "debug_file {path}: {}; it holds this agent's debug log",
            concerns.join(", and ")
        )
    }))
}

/// Why `debug_file` was not opened.
#[derive(Debug)]
pub(crate) enum DebugFileError {
    Symlink,
    NotAFile,
    Io(std::io::Error),
}

impl std::fmt::Display for DebugFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DebugFileError::Symlink => {
                f.write_str("it is a symbolic link, which debug_file never follows")
            }
            DebugFileError::NotAFile => f.write_str("it is not a regular file"),
            DebugFileError::Io(e) => write!(f, "{e}"),
        }
    }
}

pub fn enabled(level: Level) -> bool {
    let s = sinks();
    level <= s.threshold || (s.debug_file.is_some() && level <= s.debug_file_threshold)
}

/// Write one message (possibly several lines) at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(test)]
    if capture::record(level, message) {
        return;
    }
    // Masking costs time in proportion to the message (a whole vmrun
    // output at debug level): not for a message no sink takes.
    if !enabled(level) {
        return;
    }
    let masked = crate::secret::mask(message);
    let mut s = sinks();
    let stamp = timestamp();
    for line in masked.lines() {
        let line = bounded(level, line);
        let formatted = format!("{stamp} {}: {line}\n", level.label());
        if level <= s.threshold && s.stderr {
            let _ = std::io::stderr().write_all(formatted.as_bytes());
        }
        if level <= s.debug_file_threshold {
            if let Some(f) = s.debug_file.as_mut() {
                let _ = f.write_all(formatted.as_bytes());
            }
        }
        if level <= s.threshold && level <= Level::Info {
            if let Some(sl) = s.syslog.logger() {
                let _ = match level {
                    Level::Error => sl.err(line),
                    Level::Warning => sl.warning(line),
                    _ => sl.info(line),
                };
            }
        }
    }
}

/// The longest message line written at info level and above. Messages
/// quote user input (a plug name, an action) and device answers; a
/// multi-megabyte line from a garbage input must not reach Pacemaker's log
/// and syslog whole. Debug and protocol traces are left whole: they are
/// asked for, and cut SOAP bodies would be useless.
pub const MAX_LINE: usize = 4096;

fn bounded(level: Level, line: &str) -> std::borrow::Cow<'_, str> {
    if level >= Level::Debug || line.len() <= MAX_LINE {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut cut = MAX_LINE;
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{}... ({} more bytes)",
        &line[..cut],
        line.len() - cut
    ))
}

pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message.as_ref())
}
pub fn warning(message: impl AsRef<str>) {
    log(Level::Warning, message.as_ref())
}
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message.as_ref())
}
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message.as_ref())
}
/// Protocol traffic. Callers check [`enabled`] first when building the
/// message is costly.
pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message.as_ref())
}

/// Local time as `YYYY-mm-dd HH:MM:SS,mmm`, the format of fence-agents'
/// log lines.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    let millis = now.subsec_millis();
    // SAFETY: localtime_r is the reentrant form; `tm` is a plain C struct
    // that it fills in completely.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return format!("@{secs},{millis:03}");
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        millis
    )
}

/// In-process tests read what a run logged on their own thread, every
/// level, masked as every sink gets it (the sinks themselves are the
/// process's, shared by the tests running in parallel).
#[cfg(test)]
pub(crate) mod capture {
    use super::Level;
    use std::cell::RefCell;

    thread_local! {
        static LINES: RefCell<Option<Vec<(Level, String)>>> = const { RefCell::new(None) };
    }

    /// Keeps the lines, masked, if this thread captures; says whether it
    /// did (the sinks are then left alone).
    pub(crate) fn record(level: Level, message: &str) -> bool {
        LINES.with(|l| match l.borrow_mut().as_mut() {
            Some(lines) => {
                let masked = crate::secret::mask(message);
                lines.extend(masked.lines().map(|line| (level, line.to_string())));
                true
            }
            None => false,
        })
    }

    /// Runs `f`, returning what it logged on this thread.
    pub(crate) fn logged<R>(f: impl FnOnce() -> R) -> (R, Vec<(Level, String)>) {
        LINES.with(|l| *l.borrow_mut() = Some(Vec::new()));
        let result = f();
        let lines = LINES.with(|l| l.borrow_mut().take()).unwrap_or_default();
        (result, lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_above_debug_only() {
        let long = "é".repeat(MAX_LINE);
        let cut = bounded(Level::Error, &long);
        assert!(cut.len() < MAX_LINE + 40, "{}", cut.len());
        assert!(cut.ends_with(" more bytes)"));
        assert_eq!(bounded(Level::Debug, &long).len(), long.len());
        assert_eq!(bounded(Level::Info, "short"), "short");
    }

    #[test]
    fn timestamp_shape() {
        let t = super::timestamp();
        assert_eq!(t.len(), 23, "{t}");
        assert_eq!(&t[4..5], "-");
        assert_eq!(&t[19..20], ",");
    }
}
