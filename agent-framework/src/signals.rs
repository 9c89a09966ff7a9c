//! SIGTERM and SIGINT: give the device a chance to close its session (log
//! out of vCenter, close the SSH connection) before leaving with exit 1.
//!
//! The signals are blocked in every thread and received by one waiting
//! thread, so the work in progress is never interrupted half-way in a
//! state the cleanup cannot handle; the cleanup runs on that thread with a
//! bound of its own, then the process exits.
//!
//! The same thread keeps the bound on closing the session
//! ([`exit_after`]): SIGALRM is blocked and waited for with the others, so
//! that bound needs no thread of its own.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

type Cleanup = Box<dyn FnOnce() + Send>;

static CLEANUP: Mutex<Option<Cleanup>> = Mutex::new(None);

/// Whether the handler thread runs (and so owns SIGALRM).
static HANDLER_RUNS: AtomicBool = AtomicBool::new(false);
/// The exit code to leave with when the alarm goes off, NOT_ARMED when
/// [`exit_after`] is not in force.
static ALARM_EXIT_CODE: AtomicI32 = AtomicI32::new(NOT_ARMED);
const NOT_ARMED: i32 = i32::MIN;
/// What to log when the alarm goes off.
static ALARM_WARNING: Mutex<String> = Mutex::new(String::new());

/// How long the cleanup may take before the process exits anyway.
pub const CLEANUP_BOUND: Duration = Duration::from_secs(5);

/// Block SIGTERM and SIGINT and start the thread that handles them. Call
/// first thing in `main`, before any other thread exists.
pub fn install() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.add(Signal::SIGALRM);
    if set.thread_block().is_err() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let sig = loop {
                match set.wait() {
                    Ok(Signal::SIGALRM) => leave_on_alarm(),
                    Ok(s) => break s,
                    Err(_) => return,
                }
            };
            crate::logging::error(format!(
                "Failed: interrupted by signal {}, cleaning up",
                sig.as_str()
            ));
            // A helper program first: it is ours to stop, and nothing of
            // it may outlive the agent.
            crate::subprocess::kill_running();
            run_cleanup();
            std::process::exit(crate::error::exit_code::FAILURE);
        });
    match spawned {
        Ok(_) => HANDLER_RUNS.store(true, Ordering::SeqCst),
        // Without the handler thread the default action must stay.
        Err(_) => {
            let _ = set.thread_unblock();
        }
    }
}

/// Leave with `code`, logging `warning`, if [`cancel_exit_after`] is not
/// called within `bound` (rounded up to whole seconds). False when no
/// handler thread runs (signals not installed, as in unit tests): the
/// caller must then keep the bound some other way.
pub fn exit_after(bound: Duration, code: i32, warning: String) -> bool {
    if !HANDLER_RUNS.load(Ordering::SeqCst) {
        return false;
    }
    match ALARM_WARNING.lock() {
        Ok(mut w) => *w = warning,
        Err(p) => *p.into_inner() = warning,
    }
    ALARM_EXIT_CODE.store(code, Ordering::SeqCst);
    let whole = bound.as_secs() + u64::from(bound.subsec_nanos() > 0);
    let secs = u32::try_from(whole).unwrap_or(u32::MAX).max(1);
    nix::unistd::alarm::set(secs);
    true
}

/// The work [`exit_after`] bounded is done.
pub fn cancel_exit_after() {
    ALARM_EXIT_CODE.store(NOT_ARMED, Ordering::SeqCst);
    nix::unistd::alarm::cancel();
}

/// SIGALRM on the handler thread: leave, unless the alarm was cancelled
/// between going off and being received.
fn leave_on_alarm() {
    let code = ALARM_EXIT_CODE.load(Ordering::SeqCst);
    if code == NOT_ARMED {
        return;
    }
    let warning = match ALARM_WARNING.lock() {
        Ok(w) => w.clone(),
        Err(p) => p.into_inner().clone(),
    };
    crate::logging::warning(warning);
    std::process::exit(code);
}

/// Register what to do if a signal arrives (replaces any earlier one).
pub fn on_interrupt(cleanup: impl FnOnce() + Send + 'static) {
    if let Ok(mut c) = CLEANUP.lock() {
        *c = Some(Box::new(cleanup));
    }
}

/// Forget the cleanup (the session was closed the normal way).
pub fn clear() {
    if let Ok(mut c) = CLEANUP.lock() {
        *c = None;
    }
}

fn run_cleanup() {
    let cleanup = match CLEANUP.lock() {
        Ok(mut c) => c.take(),
        Err(p) => p.into_inner().take(),
    };
    if let Some(f) = cleanup {
        let (tx, rx) = mpsc::channel();
        let _ = std::thread::Builder::new().spawn(move || {
            f();
            let _ = tx.send(());
        });
        if rx.recv_timeout(CLEANUP_BOUND).is_err() {
            crate::logging::error("Cleanup after the signal did not finish in time");
        }
    }
}
