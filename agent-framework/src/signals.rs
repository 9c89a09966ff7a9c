//! SIGTERM and SIGINT: give the device a chance to close its session (log
//! out of vCenter, close the SSH connection) before leaving with exit 1.
//!
//! The signals are blocked in every thread and received by one waiting
//! thread, so the work in progress is never interrupted half-way in a
//! state the cleanup cannot handle; the cleanup runs on that thread with a
//! bound of its own, then the process exits.

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

type Cleanup = Box<dyn FnOnce() + Send>;

static CLEANUP: Mutex<Option<Cleanup>> = Mutex::new(None);

/// How long the cleanup may take before the process exits anyway.
pub const CLEANUP_BOUND: Duration = Duration::from_secs(5);

/// Block SIGTERM and SIGINT and start the thread that handles them. Call
/// first thing in `main`, before any other thread exists.
pub fn install() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    if set.thread_block().is_err() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let sig = match set.wait() {
                Ok(s) => s,
                Err(_) => return,
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
    if spawned.is_err() {
        // Without the handler thread the default action must stay.
        let _ = set.thread_unblock();
    }
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
