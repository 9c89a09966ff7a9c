//! Feeding committed inputs through the target bodies on stable: what the
//! replay test (and anyone reproducing a finding) runs.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Body;

/// The committed seed corpus of a target.
pub fn corpus_dir(root: &Path, target: &str) -> PathBuf {
    root.join("corpus").join(target)
}

/// Every input that ever made a target fail.
pub fn regressions_dir(root: &Path, target: &str) -> PathBuf {
    root.join("regressions").join(target)
}

/// One input that failed, and how.
#[derive(Debug)]
pub struct Failure {
    pub file: PathBuf,
    pub message: String,
}

/// What a replay of one directory did.
#[derive(Debug, Default)]
pub struct Replayed {
    pub inputs: usize,
    pub failures: Vec<Failure>,
    pub took: Duration,
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

/// Runs `body` on every file of `dir` (none if it does not exist), each
/// failure caught and kept. Files are taken in name order, so that runs
/// compare.
pub fn replay_dir(body: Body, dir: &Path) -> std::io::Result<Replayed> {
    let mut replayed = Replayed::default();
    let started = Instant::now();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    files.retain(|f| f.is_file());
    files.sort();
    for file in files {
        let data = std::fs::read(&file)?;
        replayed.inputs += 1;
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| body(&data))) {
            replayed.failures.push(Failure {
                file,
                message: panic_text(payload.as_ref()),
            });
        }
    }
    replayed.took = started.elapsed();
    Ok(replayed)
}
