//! `password_script`: a command whose first output line is the password.
//!
//! The command line is the administrator's own (`/usr/local/bin/getpw
//! vcenter`), so it runs through `/bin/sh -c` as fence-agents runs it;
//! the password only ever travels on the script's stdout, never in any
//! argv or environment of ours.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::FenceError;
use crate::secret::Secret;

pub fn run(script: &str, timeout: Duration) -> Result<Secret, FenceError> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| FenceError::usage(format!("Failed: unable to run password_script: {e}")))?;
    let mut stdout = match child.stdout.take() {
        Some(s) => s,
        None => {
            return Err(FenceError::usage(
                "Failed: unable to read password_script output",
            ))
        }
    };
    // Read on a thread so that a script that never exits cannot hold the
    // agent past its timeout.
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(FenceError::usage(format!(
                    "Failed: password_script did not finish within {} seconds",
                    timeout.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(FenceError::usage(format!(
                    "Failed: unable to wait for password_script: {e}"
                )))
            }
        }
    };
    let output = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(FenceError::usage(format!(
            "Failed: password_script exited with {status}"
        )));
    }
    let text = String::from_utf8(output).map_err(|_| {
        FenceError::usage("Failed: password_script printed a password that is not valid UTF-8")
    })?;
    let first = text.lines().next().unwrap_or("").to_string();
    if first.is_empty() {
        return Err(FenceError::usage(
            "Failed: password_script printed no password",
        ));
    }
    Ok(Secret::new(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_is_the_password() {
        let pw = run("printf 'p4ss word\\nsecond\\n'", Duration::from_secs(5)).unwrap();
        assert_eq!(pw.expose(), "p4ss word");
    }

    #[test]
    fn failures_are_named() {
        let e = run("exit 3", Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("password_script exited"), "{e}");
        let e = run("sleep 5", Duration::from_millis(200)).unwrap_err();
        assert!(e.to_string().contains("did not finish"), "{e}");
        let e = run("true", Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("no password"), "{e}");
    }
}
