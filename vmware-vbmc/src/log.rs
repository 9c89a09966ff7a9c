//! The daemon's log: one line per event on stderr (the journal under
//! systemd), every line passed through the secret mask of the agent
//! framework, so that no registered password can appear even if a device
//! echoes one back in an error.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Info,
    Debug,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    /// sd-daemon(3) priority prefixes: journald files each line under its
    /// level.
    fn journal_prefix(self) -> &'static str {
        match self {
            Level::Error => "<3>",
            Level::Warning => "<4>",
            Level::Info => "<6>",
            Level::Debug => "<7>",
        }
    }
}

struct Sink {
    level: Level,
    journal: bool,
    out: Mutex<Box<dyn Write + Send>>,
}

#[derive(Clone)]
pub struct Logger(Arc<Sink>);

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Logger({:?})", self.0.level)
    }
}

impl Logger {
    /// Lines to stderr; with the journal's priority prefixes when stderr is
    /// the journal (systemd sets JOURNAL_STREAM then).
    pub fn stderr(level: Level) -> Logger {
        let journal = std::env::var_os("JOURNAL_STREAM").is_some();
        Logger(Arc::new(Sink {
            level,
            journal,
            out: Mutex::new(Box::new(std::io::stderr())),
        }))
    }

    /// Lines to any writer (the tests read them back).
    pub fn to_writer(level: Level, out: Box<dyn Write + Send>) -> Logger {
        Logger(Arc::new(Sink {
            level,
            journal: false,
            out: Mutex::new(out),
        }))
    }

    pub fn enabled(&self, level: Level) -> bool {
        level <= self.0.level
    }

    pub fn log(&self, level: Level, message: fmt::Arguments<'_>) {
        if !self.enabled(level) {
            return;
        }
        let text = agent_framework::secret::mask(&message.to_string());
        let line = if self.0.journal {
            format!("{}{}\n", level.journal_prefix(), text)
        } else {
            format!("vmware-vbmc: {}: {}\n", level.name(), text)
        };
        let mut out = match self.0.out.lock() {
            Ok(o) => o,
            Err(poisoned) => poisoned.into_inner(),
        };
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }

    pub fn error(&self, message: fmt::Arguments<'_>) {
        self.log(Level::Error, message)
    }

    pub fn warn(&self, message: fmt::Arguments<'_>) {
        self.log(Level::Warning, message)
    }

    pub fn info(&self, message: fmt::Arguments<'_>) {
        self.log(Level::Info, message)
    }

    pub fn debug(&self, message: fmt::Arguments<'_>) {
        self.log(Level::Debug, message)
    }
}

/// Bounds the warnings an unauthenticated peer can cause: at most `burst`
/// per `period`, then one line saying how many were left out. Without it, a
/// flood of bad logins would flood the journal too.
#[derive(Debug)]
pub struct RateLimit {
    burst: u32,
    period: Duration,
    window_start: Option<Instant>,
    in_window: u32,
    suppressed: u32,
}

impl RateLimit {
    pub fn new(burst: u32, period: Duration) -> RateLimit {
        RateLimit {
            burst,
            period,
            window_start: None,
            in_window: 0,
            suppressed: 0,
        }
    }

    /// Whether to log now; and when a new period starts after warnings
    /// were left out, how many.
    pub fn allow(&mut self, now: Instant) -> (bool, Option<u32>) {
        let mut left_out = None;
        let fresh = match self.window_start {
            None => true,
            Some(start) => now.saturating_duration_since(start) >= self.period,
        };
        if fresh {
            if self.suppressed > 0 {
                left_out = Some(self.suppressed);
            }
            self.window_start = Some(now);
            self.in_window = 0;
            self.suppressed = 0;
        }
        if self.in_window < self.burst {
            self.in_window += 1;
            (true, left_out)
        } else {
            self.suppressed += 1;
            (false, left_out)
        }
    }
}

/// A name that came from the network, made safe to print: at most 32
/// bytes, anything but printable ASCII escaped.
pub fn untrusted(bytes: &[u8]) -> String {
    let shown: String = bytes
        .iter()
        .take(32)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    if bytes.len() > 32 {
        format!("{shown}...")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn levels_filter_and_secrets_are_masked() {
        let buf = Shared::default();
        let log = Logger::to_writer(Level::Info, Box::new(buf.clone()));
        let _secret = agent_framework::Secret::new("s3cret-in-a-log-line".into());
        log.info(format_args!(
            "device said: bad password s3cret-in-a-log-line"
        ));
        log.debug(format_args!("not shown"));
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "vmware-vbmc: info: device said: bad password ****\n");
    }

    #[test]
    fn rate_limit_counts_what_it_left_out() {
        let mut r = RateLimit::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(r.allow(t0), (true, None));
        assert_eq!(r.allow(t0), (true, None));
        assert_eq!(r.allow(t0), (false, None));
        assert_eq!(r.allow(t0), (false, None));
        assert_eq!(r.allow(t0 + Duration::from_secs(61)), (true, Some(2)));
    }

    #[test]
    fn untrusted_names_are_escaped_and_cut() {
        assert_eq!(untrusted(b"admin"), "admin");
        assert_eq!(untrusted(b"a\nb\x1b"), "a\\nb\\x1b");
        assert_eq!(untrusted(&[b'x'; 40]).len(), 35);
    }
}
