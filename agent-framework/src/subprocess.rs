//! Child processes with a deadline: `password_script` and `vmrun`.
//!
//! A helper command is trusted with a secret but not with our time. It runs
//! in a process group of its own, so that everything it starts can be
//! signalled at once. Its output is read with a size cap, and the wait
//! ends at the deadline whatever holds the pipes: `sleep 40 & echo pw`
//! exits at once, but the `sleep` keeps the write end of stdout open, and
//! waiting for end-of-file would wait the 40 seconds.
//!
//! When the command exits, whatever it left running in its group is
//! stopped (SIGTERM, then SIGKILL after [`TERM_GRACE`]): its work is done,
//! and a straggler could only hold our pipes or the secret. At the
//! deadline the whole group, the command included, is stopped the same
//! way. The leader is reaped only after the group has been signalled, so
//! its pid (the group's id) cannot have been reused by then.
//!
//! A descendant that leaves the group (`setsid`) escapes the signals; the
//! agent then stops reading its pipes [`DRAIN`] after the command exited.
//! Linux only: the group's members are found in /proc.
//!
//! If the agent itself is stopped (SIGTERM, SIGINT) while a command runs,
//! [`crate::signals`] kills the command's group before the process exits:
//! nothing the agent started outlives it.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::timing::Deadline;

/// How long the group has between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_millis(500);

/// How long the pipes are still read after the command exited, for output
/// a process outside its group still holds open.
pub const DRAIN: Duration = Duration::from_millis(200);

/// How often the command's exit is checked while its pipes are quiet.
const TICK: Duration = Duration::from_millis(20);

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a bounded command gave no result.
#[derive(Debug)]
pub enum ChildError {
    /// It could not be started (no such file, not executable, ...).
    Spawn(std::io::Error),
    /// It had not exited at the deadline; its group was stopped.
    TimedOut,
    /// It printed more than the cap (stdout and stderr together); its
    /// group was stopped.
    TooMuchOutput { cap: usize },
    /// The operating system failed us while we waited (not expected).
    Wait(std::io::Error),
}

impl std::fmt::Display for ChildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChildError::Spawn(e) => write!(f, "cannot be started: {e}"),
            ChildError::TimedOut => f.write_str("did not finish in time and was stopped"),
            ChildError::TooMuchOutput { cap } => {
                write!(f, "printed more than {cap} bytes and was stopped")
            }
            ChildError::Wait(e) => write!(f, "could not be waited for: {e}"),
        }
    }
}

/// Runs `command` with no stdin, capturing stdout and stderr (at most
/// `max_output` bytes together), until it exits or `deadline` passes.
pub fn run(
    mut command: Command,
    deadline: Deadline,
    max_output: usize,
) -> Result<Finished, ChildError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(ChildError::Spawn)?;
    // The child is the leader of a new group whose id is its pid.
    let group = Pid::from_raw(child.id() as i32);
    let _running = Running::register(group);
    let mut pipes = Pipes::new(child.stdout.take(), child.stderr.take(), max_output);
    let mut exited_at: Option<Instant> = None;
    loop {
        if exited_at.is_none() && has_exited(group).map_err(|e| fail(&mut child, group, e))? {
            stop_group(group, true);
            exited_at = Some(Instant::now());
        }
        if let Some(at) = exited_at {
            if pipes.all_closed() || at.elapsed() >= DRAIN || deadline.expired() {
                break;
            }
        } else if deadline.expired() {
            stop_group(group, false);
            reap(&mut child);
            return Err(ChildError::TimedOut);
        }
        let wait = match exited_at {
            Some(at) => DRAIN.saturating_sub(at.elapsed()),
            None => TICK,
        }
        .min(deadline.remaining());
        if let Err(e) = pipes.read_some(wait) {
            stop_group(group, exited_at.is_some());
            reap(&mut child);
            return Err(e);
        }
    }
    let status = reap(&mut child).ok_or_else(|| {
        ChildError::Wait(std::io::Error::other(
            "the command exited but cannot be reaped",
        ))
    })?;
    let (stdout, stderr) = pipes.into_output();
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

/// The groups of the commands running now, for [`kill_running`].
static RUNNING: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

/// A group in [`RUNNING`] for as long as this lives: until `run` returns,
/// its leader reaped or given up on.
struct Running(Pid);

impl Running {
    fn register(group: Pid) -> Running {
        running().push(group);
        Running(group)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        running().retain(|g| *g != self.0);
    }
}

fn running() -> std::sync::MutexGuard<'static, Vec<Pid>> {
    match RUNNING.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// SIGKILL to the group of every command running now. For the signal
/// handler, just before the process exits: there is no time for a grace,
/// and a leader not yet reaped keeps its group's id from being reused.
pub(crate) fn kill_running() {
    for group in running().iter() {
        let _ = killpg(*group, Signal::SIGKILL);
    }
}

/// "exited with status 3", "was killed by signal 9": how a command ended,
/// for a message.
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        (None, None) => format!("ended with {status}"),
    }
}

fn fail(child: &mut Child, group: Pid, e: std::io::Error) -> ChildError {
    stop_group(group, false);
    reap(child);
    ChildError::Wait(e)
}

/// Whether the group's leader has exited, without reaping it.
fn has_exited(leader: Pid) -> std::io::Result<bool> {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    match waitid(Id::Pid(leader), flags) {
        Ok(WaitStatus::StillAlive) => Ok(false),
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(std::io::Error::from(e)),
    }
}

/// SIGTERM to the whole group, then SIGKILL to whatever is still there
/// after [`TERM_GRACE`]. With `leader_exited`, the (unreaped) leader does
/// not count as still there.
fn stop_group(group: Pid, leader_exited: bool) {
    let alive = || {
        live_members(group)
            .into_iter()
            .any(|pid| !(leader_exited && pid == group.as_raw()))
            || (!leader_exited && !has_exited(group).unwrap_or(true))
    };
    if !alive() {
        return;
    }
    let _ = killpg(group, Signal::SIGTERM);
    let until = Instant::now() + TERM_GRACE;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
        if !alive() {
            return;
        }
    }
    let _ = killpg(group, Signal::SIGKILL);
}

/// Reap the leader. After SIGKILL it goes at once unless the kernel holds
/// it (uninterruptible I/O); then it is left behind rather than waited for.
fn reap(child: &mut Child) -> Option<ExitStatus> {
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
            _ => return None,
        }
    }
}

/// The pids of the processes of `group` that are not zombies (a zombie
/// holds no pipe and no memory worth stopping).
pub fn live_members(group: Pid) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| stat_state_and_group(&stat))
                .is_some_and(|(state, pgrp)| state != 'Z' && pgrp == group.as_raw())
        })
        .collect()
}

/// The state letter and the process group of a /proc/<pid>/stat line.
/// The command name is in parentheses and may itself hold ") ".
fn stat_state_and_group(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// The two output pipes, read as data arrives.
struct Pipes {
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    out: Vec<u8>,
    err: Vec<u8>,
    cap: usize,
}

impl Pipes {
    fn new(stdout: Option<ChildStdout>, stderr: Option<ChildStderr>, cap: usize) -> Pipes {
        Pipes {
            stdout,
            stderr,
            out: Vec::new(),
            err: Vec::new(),
            cap,
        }
    }

    fn all_closed(&self) -> bool {
        self.stdout.is_none() && self.stderr.is_none()
    }

    /// Waits at most `wait` for data, and reads what is there. A pipe at
    /// end-of-file (or broken) is closed.
    fn read_some(&mut self, wait: Duration) -> Result<(), ChildError> {
        if self.all_closed() {
            std::thread::sleep(wait);
            return Ok(());
        }
        let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
        let (out_ready, err_ready) = {
            let mut fds = Vec::with_capacity(2);
            if let Some(o) = &self.stdout {
                fds.push(PollFd::new(o.as_fd(), PollFlags::POLLIN));
            }
            if let Some(e) = &self.stderr {
                fds.push(PollFd::new(e.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(ChildError::Wait(e.into())),
            }
            let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            let mut it = fds.iter();
            let out_ready = self.stdout.is_some() && it.next().is_some_and(ready);
            let err_ready = self.stderr.is_some() && it.next().is_some_and(ready);
            (out_ready, err_ready)
        };
        let mut chunk = [0u8; 16 * 1024];
        if out_ready {
            if let Some(o) = self.stdout.as_mut() {
                match o.read(&mut chunk) {
                    Ok(0) | Err(_) => self.stdout = None,
                    Ok(n) => self.out.extend_from_slice(&chunk[..n]),
                }
            }
        }
        if err_ready {
            if let Some(e) = self.stderr.as_mut() {
                match e.read(&mut chunk) {
                    Ok(0) | Err(_) => self.stderr = None,
                    Ok(n) => self.err.extend_from_slice(&chunk[..n]),
                }
            }
        }
        if self.out.len() + self.err.len() > self.cap {
            return Err(ChildError::TooMuchOutput { cap: self.cap });
        }
        Ok(())
    }

    fn into_output(self) -> (Vec<u8>, Vec<u8>) {
        (self.out, self.err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(script);
        c
    }

    fn secs(n: u64) -> Deadline {
        Deadline::after(Duration::from_secs(n))
    }

    /// Waits (a little) for the group to be gone: signals take a moment.
    fn assert_group_gone(group: i32) {
        let until = Instant::now() + Duration::from_secs(2);
        while !live_members(Pid::from_raw(group)).is_empty() {
            assert!(
                Instant::now() < until,
                "processes of group {group} survive: {:?}",
                live_members(Pid::from_raw(group))
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A fresh directory for one test's files.
    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("fw-subprocess-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn pid_in(out: &[u8]) -> i32 {
        String::from_utf8_lossy(out)
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("the script prints its pid first")
    }

    #[test]
    fn output_and_status() {
        let f = run(sh("printf 'a\\nb'; echo err >&2; exit 3"), secs(5), 1024).unwrap();
        assert_eq!(f.stdout, b"a\nb");
        assert_eq!(f.stderr, b"err\n");
        assert_eq!(f.status.code(), Some(3));
    }

    /// `sleep 40 &` keeps stdout open: the run must end as soon as the
    /// shell does, with its output, and the sleep must be gone.
    #[test]
    fn a_grandchild_holding_the_pipes_does_not_hold_us() {
        let started = Instant::now();
        let f = run(sh("echo $$; sleep 40 & echo pw"), secs(20), 1024).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(f.status.success());
        assert!(
            String::from_utf8_lossy(&f.stdout).ends_with("pw\n"),
            "{:?}",
            f.stdout
        );
        assert_group_gone(pid_in(&f.stdout));
    }

    #[test]
    fn a_command_that_never_exits_is_stopped_at_the_deadline() {
        let dir = scratch("never-exits");
        let pidfile = dir.join("pid");
        let script = format!(
            "echo $$ > {p}; sleep 40 & while :; do sleep 1; done",
            p = pidfile.display()
        );
        let started = Instant::now();
        let e = run(
            sh(&script),
            Deadline::after(Duration::from_millis(500)),
            1024,
        )
        .unwrap_err();
        let took = started.elapsed();
        assert!(matches!(e, ChildError::TimedOut), "{e:?}");
        assert!(
            took >= Duration::from_millis(500)
                && took < Duration::from_millis(500) + TERM_GRACE + Duration::from_secs(1),
            "{took:?}"
        );
        let group: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_group_gone(group);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A group member that ignores SIGTERM is killed after the grace.
    #[test]
    fn sigterm_first_then_sigkill() {
        let dir = scratch("term");
        let note = dir.join("note");
        let script = format!(
            "echo $$ > {n}; trap 'echo TERM >> {n}' TERM; while :; do sleep 0.05; done",
            n = note.display()
        );
        let started = Instant::now();
        let e = run(
            sh(&script),
            Deadline::after(Duration::from_millis(300)),
            1024,
        )
        .unwrap_err();
        assert!(matches!(e, ChildError::TimedOut), "{e:?}");
        assert!(started.elapsed() >= Duration::from_millis(300) + TERM_GRACE);
        let text = std::fs::read_to_string(&note).unwrap();
        assert!(text.contains("TERM"), "SIGTERM came first: {text:?}");
        let group: i32 = text.lines().next().unwrap().trim().parse().unwrap();
        assert_group_gone(group);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_flood_of_output_is_cut_and_stopped() {
        let started = Instant::now();
        let e = run(sh("echo $$ >&2; exec yes flood"), secs(20), 64 * 1024).unwrap_err();
        assert!(
            matches!(e, ChildError::TooMuchOutput { cap: 65536 }),
            "{e:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        // The same on stderr, and the two count together.
        let e = run(
            sh("head -c 40000 /dev/zero; head -c 40000 /dev/zero >&2"),
            secs(20),
            64 * 1024,
        )
        .unwrap_err();
        assert!(matches!(e, ChildError::TooMuchOutput { .. }), "{e:?}");
    }

    #[test]
    fn output_is_bytes_not_text() {
        let f = run(sh("printf '\\377\\376pw\\n'"), secs(5), 1024).unwrap();
        assert_eq!(f.stdout, b"\xff\xfepw\n");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let e = run(Command::new("/nonexistent/helper"), secs(5), 1024).unwrap_err();
        assert!(matches!(e, ChildError::Spawn(_)), "{e:?}");
        assert!(e.to_string().starts_with("cannot be started"), "{e}");
    }

    #[test]
    fn stat_lines_with_odd_command_names() {
        assert_eq!(
            stat_state_and_group("123 (a) b) S 1 456 456 0"),
            Some(('S', 456))
        );
        assert_eq!(stat_state_and_group("123 (sh) Z 1 7 7"), Some(('Z', 7)));
        assert_eq!(stat_state_and_group("garbage"), None);
    }
}
