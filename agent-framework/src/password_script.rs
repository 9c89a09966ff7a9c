//! `password_script`: a command whose first output line is the password.
//!
//! The command line is the administrator's own (`/usr/local/bin/getpw
//! vcenter`), so it runs through `/bin/sh -c` as fence-agents runs it;
//! the password only ever travels on the script's stdout, never in any
//! argv or environment of ours. It runs bounded like every helper
//! ([`crate::subprocess`]): a script that never exits, or leaves a child
//! holding its stdout, cannot hold the agent past the deadline.
//!
//! fence-agents takes the whole output with trailing blanks removed; this
//! takes the first line exactly, so that a password may end in a blank.

use std::process::Command;
use std::time::Duration;

use crate::error::FenceError;
use crate::logging;
use crate::secret::Secret;
use crate::subprocess::{self, ChildError};
use crate::timing::Deadline;

/// A password is one line; anything near this size is not one.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// The script's stderr lines shown in the log, at most.
const STDERR_LINES: usize = 20;

/// Runs `script` and returns the first line it prints, as a registered
/// [`Secret`]. The script, and anything it started, is stopped when
/// `timeout` has passed.
pub fn run(script: &str, timeout: Duration) -> Result<Secret, FenceError> {
    let mut command = Command::new("/bin/sh");
    command.arg("-c").arg(script);
    let finished = subprocess::run(command, Deadline::after(timeout), MAX_OUTPUT).map_err(|e| {
        FenceError::Local(match e {
            ChildError::TimedOut => format!(
                "password_script did not finish within {} seconds",
                timeout.as_secs_f64().ceil()
            ),
            other => format!("password_script {other}"),
        })
    })?;
    let first = finished.stdout.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let password = match std::str::from_utf8(first) {
        Ok(p) if !p.is_empty() && finished.status.success() => Some(Secret::new(p.to_string())),
        _ => None,
    };
    // Registered first (Secret::new), so that a script echoing the
    // password on stderr has it masked here.
    let stderr = String::from_utf8_lossy(&finished.stderr);
    for line in stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(STDERR_LINES)
    {
        logging::warning(format!("password_script: {line}"));
    }
    if !finished.status.success() {
        return Err(FenceError::Local(format!(
            "password_script {}",
            subprocess::describe(finished.status)
        )));
    }
    if std::str::from_utf8(first).is_err() {
        return Err(FenceError::Local(
            "password_script printed a password that is not valid UTF-8".into(),
        ));
    }
    password.ok_or_else(|| FenceError::Local("password_script printed no password".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn first_line_is_the_password() {
        let pw = run("printf 'p4ss word \\nsecond\\n'", secs(5)).unwrap();
        assert_eq!(pw.expose(), "p4ss word ");
        let pw = run("printf 'crlf\\r\\n'", secs(5)).unwrap();
        assert_eq!(pw.expose(), "crlf");
        let pw = run("printf 'no newline'", secs(5)).unwrap();
        assert_eq!(pw.expose(), "no newline");
    }

    #[test]
    fn failures_are_named_and_local() {
        let e = run("echo pw; exit 3", secs(5)).unwrap_err();
        assert!(matches!(e, FenceError::Local(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "Failed: password_script exited with status 3"
        );
        let e = run("true", secs(5)).unwrap_err();
        assert_eq!(e.to_string(), "Failed: password_script printed no password");
        let e = run("printf '\\377pw\\n'", secs(5)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Failed: password_script printed a password that is not valid UTF-8"
        );
        // Only the first line is the password: bytes after it do not matter.
        assert_eq!(
            run("printf 'pw\\n\\377\\n'", secs(5)).unwrap().expose(),
            "pw"
        );
        let e = run("exec yes", secs(10)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Failed: password_script printed more than {MAX_OUTPUT} bytes and was stopped")
        );
    }

    #[test]
    fn a_script_that_never_exits_is_stopped_at_the_deadline() {
        let started = Instant::now();
        let e = run("sleep 30", Duration::from_millis(300)).unwrap_err();
        assert!(matches!(e, FenceError::Local(_)), "{e:?}");
        assert!(e.to_string().contains("did not finish within"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    /// The classic hang: the script is done, a child it started keeps
    /// stdout open.
    #[test]
    fn a_background_child_holding_stdout_does_not_hold_the_agent() {
        let started = Instant::now();
        let pw = run("sleep 40 & echo pw", secs(30)).unwrap();
        assert_eq!(pw.expose(), "pw");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
