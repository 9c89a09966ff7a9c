//! Every committed seed and every input that ever failed, through the
//! bodies the fuzz targets run: on stable, in `cargo test` (test.sh). An
//! input that panics (a crash or a broken property) fails this test,
//! naming the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fence_fuzz::replay::{corpus_dir, regressions_dir, replay_dir};
use fence_fuzz::TARGETS;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Replaying is a regression check, not fuzzing: it must stay quick.
const BUDGET_PER_TARGET: Duration = Duration::from_secs(20);

#[test]
fn every_committed_input_passes_its_target() {
    let mut failures = Vec::new();
    for (name, body) in TARGETS {
        let mut inputs = 0;
        let mut took = Duration::ZERO;
        for dir in [corpus_dir(&root(), name), regressions_dir(&root(), name)] {
            let r = replay_dir(*body, &dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            inputs += r.inputs;
            took += r.took;
            failures.extend(r.failures);
        }
        eprintln!("{name}: {inputs} inputs in {took:?}");
        assert!(
            inputs > 0,
            "{name} has no committed input: the replay would prove nothing"
        );
        assert!(took < BUDGET_PER_TARGET, "{name} took {took:?} to replay");
    }
    assert!(
        failures.is_empty(),
        "{} input(s) fail:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|f| format!("{}: {}", f.file.display(), f.message))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The replay sees a failure: a body that panics on an input is reported
/// with the file, and the other inputs still run.
#[test]
fn a_panicking_input_is_reported() {
    fn fussy(data: &[u8]) {
        assert!(!data.starts_with(b"boom"), "boom found");
    }
    let dir = std::env::temp_dir().join(format!("fence-fuzz-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a-fine"), b"fine").unwrap();
    std::fs::write(dir.join("b-boom"), b"boom!").unwrap();
    std::fs::write(dir.join("c-fine"), b"also fine").unwrap();
    let r = replay_dir(fussy, &dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(r.inputs, 3);
    assert_eq!(r.failures.len(), 1);
    assert!(r.failures[0].file.ends_with("b-boom"));
    assert!(r.failures[0].message.contains("boom found"));
}

/// Each harness in fuzz_targets/ runs a body of the library, by its own
/// name, and each body has its harness: no target is fuzzed without being
/// replayed, or replayed without being fuzzed.
#[test]
fn harnesses_and_bodies_correspond() {
    let mut harnesses: Vec<String> = std::fs::read_dir(root().join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                text.contains(&format!("fence_fuzz::body(\"{name}\")")),
                "{} does not run the body named {name}",
                p.display()
            );
            name
        })
        .collect();
    harnesses.sort();
    let mut bodies: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    bodies.sort();
    assert_eq!(harnesses, bodies);
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    for name in &bodies {
        assert!(
            manifest.contains(&format!(
                "name = \"{name}\"\npath = \"fuzz_targets/{name}.rs\""
            )),
            "Cargo.toml declares no [[bin]] {name}"
        );
    }
}
