//! Shared helpers: locating the built agents, running one with argv or
//! stdin and a time limit, free loopback ports, temporary directories.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The cargo target profile directory the tests were built into
/// (`target/debug`), found from the test executable's own path
/// (`target/debug/deps/<test>`).
pub fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CTS_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// Path of a binary built by the workspace (`fence_vmware`, ...). The
/// test command builds every binary before running the tests; a missing
/// one is a setup error, reported as such.
pub fn bin(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --workspace --bins` first",
        p.display()
    );
    p
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// What an agent run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code {} (wanted {code})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn assert_stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn assert_stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn assert_nothing_contains(&self, secret: &str) -> &Self {
        assert!(
            !self.stdout.contains(secret) && !self.stderr.contains(secret),
            "output contains the secret {secret:?}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// How to start an agent.
pub struct AgentRun {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    limit: Duration,
}

impl AgentRun {
    /// `program` is a path (a binary or a symlink to one, whose name
    /// selects the personality).
    pub fn new(program: impl AsRef<Path>) -> AgentRun {
        let mut cmd = Command::new(program.as_ref());
        // Tests must not depend on the caller's environment.
        cmd.env_remove("PCMK_service");
        AgentRun {
            cmd,
            stdin: None,
            limit: Duration::from_secs(60),
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// FenceAgentAPI input: these lines on stdin, no arguments.
    pub fn stdin(mut self, text: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(text.into());
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// The test fails if the agent runs longer than this.
    pub fn limit(mut self, d: Duration) -> Self {
        self.limit = d;
        self
    }

    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    pub fn run(mut self) -> Outcome {
        let started = Instant::now();
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("start agent");
        if let Some(mut stdin) = child.stdin.take() {
            if let Some(data) = self.stdin.take() {
                let _ = stdin.write_all(&data);
            }
        }
        let pid = child.id();
        let limit = self.limit;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if rx.recv_timeout(limit).is_err() {
                // Still running past the limit: kill it so the test fails
                // with a message rather than hanging.
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        });
        let out = child.wait_with_output().expect("wait for agent");
        let _ = tx.send(());
        let elapsed = started.elapsed();
        assert!(
            elapsed < limit,
            "agent ran {elapsed:?}, over the test's limit {limit:?}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed,
        }
    }
}

/// A port on 127.0.0.1 free right now (the OS picks it).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    l.local_addr().expect("local addr").port()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("cts-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether the tests run as root (sshd, users, Pacemaker need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Skip a test that cannot run here, loudly: the message names why, and
/// under CI (CI=true) a skip is a failure, since CI has what it needs.
pub fn skip_unless(condition: bool, why: &str) -> bool {
    if condition {
        return false;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("cannot run under CI: {why}");
    }
    eprintln!("SKIPPED: {why}");
    true
}

/// fence-agents' RelaxNG schema for agent metadata (Debian package
/// fence-agents).
pub const METADATA_RNG: &str = "/usr/share/cluster/relaxng/metadata.rng";

/// Assert that `xml` is valid agent metadata by fence-agents' own schema
/// (xmllint, libxml2-utils). Without the schema the check is skipped
/// loudly, and fails under CI.
pub fn assert_valid_metadata(xml: &str, what: &str) {
    if skip_unless(
        Path::new(METADATA_RNG).exists(),
        "fence-agents' metadata.rng is not installed",
    ) {
        return;
    }
    let dir = TempDir::new("metadata-rng");
    let file = dir.path().join("metadata.xml");
    std::fs::write(&file, xml).expect("write metadata");
    let out = Command::new("xmllint")
        .args(["--noout", "--relaxng", METADATA_RNG])
        .arg(&file)
        .output()
        .expect("xmllint (libxml2-utils)");
    assert!(
        out.status.success(),
        "{what} does not validate against {METADATA_RNG}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The processes of process group `group` that are still alive (not
/// zombies), from /proc: what a test checks to prove that an agent left
/// nothing of a helper command running. Written apart from
/// agent-framework's own on purpose: the check must not share the code it
/// checks.
pub fn live_processes_in_group(group: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // "pid (comm) state ppid pgrp ...": comm may hold ") ".
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            let mut fields = stat[close + 1..].split_whitespace();
            let state = fields.next().unwrap_or("Z");
            let pgrp = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
            state != "Z" && pgrp == Some(group)
        })
        .collect()
}

/// Waits up to two seconds (signals take a moment) for every process of
/// `group` to be gone; fails the test naming the survivors.
pub fn assert_group_gone(group: i32) {
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let alive = live_processes_in_group(group);
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < until,
            "processes of group {group} survive: {alive:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A symlink named `name` to `program` in a directory of this test
/// process, as the packages install the other names of one program.
pub fn link_named(program: &Path, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cts-links-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let link = dir.join(name);
    if std::fs::read_link(&link).ok().as_deref() != Some(program) {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(program, &link).expect("symlink");
    }
    link
}

/// Sends SIGTERM to `child` and waits for it to exit, failing the test
/// unless it does within `within`: its status and output.
pub fn terminate(
    mut child: std::process::Child,
    within: Duration,
) -> (std::process::ExitStatus, std::process::Output) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let until = Instant::now() + within;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < until,
            "the agent did not exit within {within:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, child.wait_with_output().expect("output"))
}

/// Standard base64 (RFC 4648), for expected HTTP Basic credentials.
pub fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// fence-agents' own Python agent `name` as Debian installs it: moved aside
/// to `/usr/sbin/NAME.fence-agents` while this project's package diverts
/// it. None when fence-agents is not installed. (A script, never our
/// binary: the tests compare the two.)
pub fn fence_agents_program(name: &str) -> Option<PathBuf> {
    [
        format!("/usr/sbin/{name}.fence-agents"),
        format!("/usr/sbin/{name}"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| {
        std::fs::read(p)
            .map(|b| b.starts_with(b"#!"))
            .unwrap_or(false)
    })
}
