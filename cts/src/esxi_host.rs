//! A fake ESXi host: OpenSSH sshd (configured like ESXi: keyboard-interactive
//! and publickey only, no PTY) or dropbear (password and publickey, like
//! ESXi 4.x) on a free loopback port, logging in a dedicated test user whose
//! login shell puts the fake `vim-cmd`, `esxcli` and `localcli` of cts/esxi/
//! first in PATH.
//!
//! Each server gets its own host directory, `/var/lib/ctsesxi/hosts/<port>`,
//! with the fake's VM table, VM states and call log, so tests run in
//! parallel without sharing state. Needs root (users, sshd).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::{free_port, repo_root, TempDir};

pub const USER: &str = "ctsesxi";
/// The test user's password (with a space, as real ones have).
pub const PASSWORD: &str = "Esxi test-pw 7!";
pub const HOME: &str = "/var/lib/ctsesxi";
const SHELL: &str = "/var/lib/ctsesxi/esxi-shell";

static SETUP: Mutex<bool> = Mutex::new(false);
/// Serialises edits of the test user's ~/.ssh/authorized_keys (dropbear).
static AUTHORIZED: Mutex<()> = Mutex::new(());

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn chown_user(path: &Path) {
    run(Command::new("chown").arg("-R").arg(USER).arg(path));
}

/// Create the test user (once per machine) and install its login shell.
pub fn ensure_user() {
    let mut done = SETUP.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return;
    }
    let exists = Command::new("id")
        .arg(USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !exists {
        run(Command::new("useradd")
            .args(["-m", "-d", HOME, "-s", SHELL, USER])
            .stderr(Stdio::null()));
    } else {
        run(Command::new("usermod").args(["-s", SHELL, USER]));
    }
    std::fs::create_dir_all(format!("{HOME}/hosts")).unwrap();
    // Copy, not link: the repository may not be readable by the user.
    let shell = std::fs::read(repo_root().join("cts/esxi/esxi-shell")).unwrap();
    let tmp = format!("{SHELL}.new");
    std::fs::write(&tmp, shell).unwrap();
    set_mode(Path::new(&tmp), 0o755);
    std::fs::rename(&tmp, SHELL).unwrap();
    chown_user(Path::new(&format!("{HOME}/hosts")));
    // dropbear refuses users whose shell is not in /etc/shells.
    let shells = std::fs::read_to_string("/etc/shells").unwrap_or_default();
    if !shells.lines().any(|l| l.trim() == SHELL) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open("/etc/shells")
            .unwrap();
        writeln!(f, "{SHELL}").unwrap();
    }
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .expect("chpasswd");
    chpasswd
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{USER}:{PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(chpasswd.wait().unwrap().success(), "chpasswd failed");
    let ssh_dir = PathBuf::from(HOME).join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    set_mode(&ssh_dir, 0o700);
    chown_user(&ssh_dir);
    *done = true;
}

pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A key pair made with ssh-keygen: (private key path, public key line).
pub fn keygen(dir: &Path, name: &str, kind: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-N", "", "-C", name, "-t", kind, "-f"])
        .arg(&path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    run(&mut cmd);
    let public = std::fs::read_to_string(path.with_extension("pub"))
        .or_else(|_| std::fs::read_to_string(format!("{}.pub", path.display())))
        .unwrap();
    (path, public.trim().to_string())
}

/// `SHA256:...` of a public key line, as ssh-keygen prints it.
pub fn fingerprint(public_line: &str, dir: &Path) -> String {
    let f = dir.join(format!("fp-{}.pub", std::process::id()));
    std::fs::write(&f, format!("{public_line}\n")).unwrap();
    let out = run(Command::new("ssh-keygen").arg("-lf").arg(&f));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    OpenSsh,
    Dropbear,
}

/// One call the fake vim-cmd, esxcli or localcli logged.
#[derive(Debug, Clone)]
pub struct Call {
    pub client_port: String,
    pub tty: bool,
    /// `vim-cmd`, `esxcli` or `localcli`.
    pub program: String,
    pub args: String,
}

impl Call {
    /// `program args`, as run.
    pub fn line(&self) -> String {
        format!("{} {}", self.program, self.args)
    }
}

/// One VM of the fake host, as hostd knows it.
#[derive(Debug, Clone)]
pub struct Vm {
    pub vmid: String,
    pub name: String,
    /// `[datastore] dir/name.vmx`
    pub file: String,
    pub guest: String,
    pub version: String,
    /// Printed after the version by getallvms, its later lines raw.
    pub annotation: Option<String>,
    /// What the VM's guest tools report as its host name.
    pub hostname: Option<String>,
    /// `on`, `off` or `suspended`.
    pub state: String,
}

impl Vm {
    /// A VM filed as ESXi files a new one: `[datastore1] NAME/NAME.vmx`.
    pub fn new(vmid: &str, name: &str, state: &str) -> Vm {
        Vm {
            vmid: vmid.into(),
            name: name.into(),
            file: format!("[datastore1] {name}/{name}.vmx"),
            guest: "otherGuest".into(),
            version: "vmx-13".into(),
            annotation: None,
            hostname: None,
            state: state.into(),
        }
    }

    pub fn file(mut self, file: &str) -> Vm {
        self.file = file.into();
        self
    }

    pub fn guest(mut self, guest: &str, version: &str) -> Vm {
        self.guest = guest.into();
        self.version = version.into();
        self
    }

    pub fn annotation(mut self, text: &str) -> Vm {
        self.annotation = Some(text.into());
        self
    }

    pub fn hostname(mut self, text: &str) -> Vm {
        self.hostname = Some(text.into());
        self
    }
}

/// A made-up but stable volume uuid for a datastore name.
fn volume_uuid(name: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    format!(
        "{:08x}-{:08x}-{:04x}-{:012x}",
        h >> 32,
        h & 0xffff_ffff,
        (h >> 16) & 0xffff,
        h & 0xffff_ffff_ffff
    )
}

/// The datastore of `[datastore] path`.
fn datastore_of(file: &str) -> Option<&str> {
    file.strip_prefix('[')?.split_once("] ").map(|(d, _)| d)
}

pub struct FakeEsxi {
    pub kind: Server,
    pub port: u16,
    /// The host directory the fake reads and writes.
    pub dir: PathBuf,
    /// Server config, host keys, client keys, known_hosts files.
    pub tmp: TempDir,
    /// The server's public host keys, `type base64` lines.
    pub host_keys: Vec<String>,
    child: Child,
}

impl FakeEsxi {
    pub fn openssh() -> FakeEsxi {
        FakeEsxi::start(Server::OpenSsh, true, "")
    }

    /// OpenSSH with these lines added to its sshd_config.
    pub fn openssh_with_config(extra: &str) -> FakeEsxi {
        FakeEsxi::start(Server::OpenSsh, true, extra)
    }

    pub fn dropbear() -> FakeEsxi {
        FakeEsxi::start(Server::Dropbear, true, "")
    }

    /// A host whose shell has no vim-cmd (some other SSH server).
    pub fn without_vim_cmd() -> FakeEsxi {
        FakeEsxi::start(Server::OpenSsh, false, "")
    }

    fn start(kind: Server, with_vim_cmd: bool, extra_config: &str) -> FakeEsxi {
        ensure_user();
        let tmp = TempDir::new("esxi");
        let t = tmp.path().to_path_buf();
        for attempt in 0..5 {
            let port = free_port();
            let dir = PathBuf::from(format!("{HOME}/hosts/{port}"));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("state")).unwrap();
            if with_vim_cmd {
                std::fs::create_dir_all(dir.join("bin")).unwrap();
                for (tool, source) in [
                    ("vim-cmd", "vim-cmd"),
                    ("esxcli", "esxcli"),
                    ("localcli", "esxcli"),
                ] {
                    let to = dir.join("bin").join(tool);
                    std::fs::copy(repo_root().join("cts/esxi").join(source), &to).unwrap();
                    set_mode(&to, 0o755);
                }
            }
            std::fs::write(dir.join("log"), "").unwrap();
            chown_user(&dir);
            let (child, host_keys) = match kind {
                Server::OpenSsh => start_sshd(&t, port, &dir, extra_config),
                Server::Dropbear => start_dropbear(&t, port),
            };
            let mut child = child;
            if wait_ready(&mut child, port) {
                return FakeEsxi {
                    kind,
                    port,
                    dir,
                    tmp,
                    host_keys,
                    child,
                };
            }
            eprintln!("fake ESXi ({kind:?}) on port {port} did not start (attempt {attempt})");
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
        }
        panic!(
            "fake ESXi ({kind:?}) never started: {}",
            std::fs::read_to_string(t.join("server.log")).unwrap_or_default()
        )
    }

    /// The known_hosts lines for this server (`[127.0.0.1]:port type key`).
    pub fn known_hosts_lines(&self) -> String {
        self.host_keys
            .iter()
            .map(|k| format!("[127.0.0.1]:{} {k}\n", self.port))
            .collect()
    }

    /// A known_hosts file that trusts this server, in its temp dir.
    pub fn known_hosts_file(&self) -> PathBuf {
        let p = self.tmp.path().join("known_hosts");
        std::fs::write(&p, self.known_hosts_lines()).unwrap();
        p
    }

    /// `-o UserKnownHostsFile=... -o GlobalKnownHostsFile=/dev/null`
    /// for a known_hosts that trusts this server.
    pub fn ssh_options(&self) -> String {
        format!(
            "-o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
            self.known_hosts_file().display()
        )
    }

    /// Allow a public key to log in.
    pub fn authorize(&self, public_line: &str) {
        let path = match self.kind {
            Server::OpenSsh => self.dir.join("authorized_keys"),
            Server::Dropbear => PathBuf::from(HOME).join(".ssh/authorized_keys"),
        };
        let _g = AUTHORIZED.lock().unwrap_or_else(|p| p.into_inner());
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(f, "{public_line}").unwrap();
        drop(f);
        set_mode(&path, 0o600);
        run(Command::new("chown").arg(USER).arg(&path));
    }

    /// Make these the host's VMs (getallvms lists them in this order),
    /// with a mounted volume for every datastore they are filed on.
    pub fn set_vms(&self, vms: &[Vm]) {
        let _ = std::fs::remove_dir_all(self.dir.join("vms.d"));
        let _ = std::fs::remove_dir_all(self.dir.join("state"));
        std::fs::create_dir_all(self.dir.join("state")).unwrap();
        let mut datastores: Vec<String> = Vec::new();
        for vm in vms {
            let d = self.dir.join("vms.d").join(&vm.vmid);
            std::fs::create_dir_all(&d).unwrap();
            let fields = [
                ("name", Some(&vm.name)),
                ("file", Some(&vm.file)),
                ("guest", Some(&vm.guest)),
                ("version", Some(&vm.version)),
                ("annotation", vm.annotation.as_ref()),
                ("hostname", vm.hostname.as_ref()),
            ];
            for (field, value) in fields {
                if let Some(v) = value {
                    std::fs::write(d.join(field), v).unwrap();
                }
            }
            std::fs::write(
                self.dir.join("state").join(&vm.vmid),
                format!("{}\n", vm.state),
            )
            .unwrap();
            if let Some(ds) = datastore_of(&vm.file) {
                if !datastores.iter().any(|d| d == ds) {
                    datastores.push(ds.to_string());
                }
            }
        }
        let order: String = vms.iter().map(|v| format!("{}\n", v.vmid)).collect();
        std::fs::write(self.dir.join("order"), order).unwrap();
        let volumes: String = datastores
            .iter()
            .map(|d| format!("{d}|{}|true\n", volume_uuid(d)))
            .collect();
        std::fs::write(self.dir.join("datastores"), volumes).unwrap();
        chown_user(&self.dir);
    }

    /// The uuid of the volume behind a datastore name, as set_vms made it.
    pub fn volume_uuid(&self, datastore: &str) -> String {
        volume_uuid(datastore)
    }

    /// A per-VM control file of the fake (`invalid`, `soft-ignored`,
    /// `connection`, `world`).
    pub fn vm_file(&self, vmid: &str, name: &str, content: &str) {
        self.write(&format!("vms.d/{vmid}/{name}"), content);
    }

    pub fn set_state(&self, vmid: &str, state: &str) {
        self.write(&format!("state/{vmid}"), &format!("{state}\n"));
    }

    pub fn state(&self, vmid: &str) -> String {
        std::fs::read_to_string(self.dir.join("state").join(vmid))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Every VM's power state, read back from the fake's state files.
    pub fn states(&self) -> BTreeMap<String, String> {
        std::fs::read_dir(self.dir.join("state"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        let id = e.file_name().to_string_lossy().into_owned();
                        let state = self.state(&id);
                        (id, state)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Write a control file of the fake (`delay`, `hang`, `hostd-down`, ...).
    pub fn write(&self, name: &str, content: &str) {
        let p = self.dir.join(name);
        std::fs::write(&p, content).unwrap();
        run(Command::new("chown").arg(USER).arg(&p));
    }

    /// Every vim-cmd, esxcli and localcli call so far.
    pub fn calls(&self) -> Vec<Call> {
        std::fs::read_to_string(self.dir.join("log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut w = l.splitn(5, ' ');
                let _time = w.next()?;
                let port = w.next()?.strip_prefix("port=")?.to_string();
                let tty = w.next()? == "tty=yes";
                let program = w.next()?.strip_prefix("prog=")?.to_string();
                Some(Call {
                    client_port: port,
                    tty,
                    program,
                    args: w.next().unwrap_or("").to_string(),
                })
            })
            .collect()
    }

    /// How many resets `method=cycle` caused.
    pub fn resets(&self) -> usize {
        std::fs::read_to_string(self.dir.join("resets"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// The server's own log so far (for failure messages).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("server.log")).unwrap_or_default()
    }
}

fn wait_ready(child: &mut Child, port: u16) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl Drop for FakeEsxi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn log_file(t: &Path) -> Stdio {
    Stdio::from(std::fs::File::create(t.join("server.log")).unwrap())
}

fn start_sshd(t: &Path, port: u16, dir: &Path, extra_config: &str) -> (Child, Vec<String>) {
    let _ = std::fs::create_dir_all("/run/sshd");
    let mut keys = Vec::new();
    let mut host_key_lines = String::new();
    for kind in ["ed25519", "ecdsa"] {
        let name = format!("ssh_host_{kind}_key_{port}");
        let (path, public) = keygen(t, &name, kind);
        let mut words = public.split_whitespace();
        keys.push(format!(
            "{} {}",
            words.next().unwrap(),
            words.next().unwrap()
        ));
        host_key_lines.push_str(&format!("HostKey {}\n", path.display()));
    }
    let config = t.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "# Like an ESXi 5.1+ host: keyboard-interactive (PAM) and publickey only.\n\
             Port {port}\n\
             ListenAddress 127.0.0.1\n\
             {host_key_lines}\
             PidFile none\n\
             UsePAM yes\n\
             KbdInteractiveAuthentication yes\n\
             PasswordAuthentication no\n\
             PubkeyAuthentication yes\n\
             PermitTTY no\n\
             StrictModes no\n\
             AuthorizedKeysFile {}/authorized_keys\n\
             AllowUsers {USER}\n\
             MaxStartups 100\n\
             LogLevel VERBOSE\n\
             {extra_config}",
            dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log_file(t))
        .stderr(log_file_append(t))
        .spawn()
        .expect("start sshd");
    (child, keys)
}

fn log_file_append(t: &Path) -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(t.join("server.log"))
            .unwrap(),
    )
}

fn start_dropbear(t: &Path, port: u16) -> (Child, Vec<String>) {
    let key = t.join(format!("dropbear_ecdsa_{port}"));
    run(Command::new("dropbearkey")
        .args(["-t", "ecdsa", "-f"])
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null()));
    let out = run(Command::new("dropbearkey").arg("-y").arg("-f").arg(&key));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.starts_with("ecdsa-") || l.starts_with("ssh-"))
        .expect("dropbear public key");
    let mut words = line.split_whitespace();
    let public = format!("{} {}", words.next().unwrap(), words.next().unwrap());
    let child = Command::new("dropbear")
        .args(["-F", "-E", "-p", &format!("127.0.0.1:{port}"), "-r"])
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(log_file(t))
        .stderr(log_file_append(t))
        .spawn()
        .expect("start dropbear");
    (child, vec![public])
}

impl FakeEsxi {
    /// A guestinfo variable the VM's guest set (`info-set guestinfo.KEY`):
    /// the fake's get.config prints it in extraConfig, raw.
    pub fn guestinfo(&self, vmid: &str, key: &str, value: &str) {
        let dir = self.dir.join("vms.d").join(vmid).join("guestinfo.d");
        std::fs::create_dir_all(&dir).unwrap();
        chown_user(&dir);
        self.write(&format!("vms.d/{vmid}/guestinfo.d/{key}"), value);
    }
}

/// What the fault matrix (cts/tests/faults.rs) asks of the real sshd.
impl FakeEsxi {
    /// SSH connections the server holds now: sshd forks one child per
    /// connection, which lives as long as the session.
    pub fn open_sessions(&self) -> usize {
        let me = self.child.id().to_string();
        std::fs::read_dir("/proc")
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| {
                        let stat =
                            std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                        // "pid (comm) state ppid ...": comm may hold ") ".
                        stat.rfind(')')
                            .and_then(|close| stat[close + 1..].split_whitespace().nth(1))
                            == Some(me.as_str())
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Waits (up to 5 s: sshd notices a closed connection at its next
    /// read) until the server holds no session; returns how many remain.
    pub fn wait_sessions_closed(&self) -> usize {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let n = self.open_sessions();
            if n == 0 || Instant::now() >= until {
                return n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// New host keys, as when an ESXi host is reinstalled: the key files
    /// are made again and sshd (OpenSSH only) reloads them on SIGHUP.
    /// `host_keys` then holds the new ones; a known_hosts file written
    /// before still trusts the old ones.
    pub fn rotate_host_keys(&mut self) {
        assert_eq!(
            self.kind,
            Server::OpenSsh,
            "dropbear cannot reload its keys"
        );
        let t = self.tmp.path().to_path_buf();
        let mut keys = Vec::new();
        for kind in ["ed25519", "ecdsa"] {
            let name = format!("ssh_host_{kind}_key_{}", self.port);
            let _ = std::fs::remove_file(t.join(&name));
            let _ = std::fs::remove_file(t.join(format!("{name}.pub")));
            let (_, public) = keygen(&t, &name, kind);
            let mut words = public.split_whitespace();
            keys.push(format!(
                "{} {}",
                words.next().unwrap_or_default(),
                words.next().unwrap_or_default()
            ));
        }
        self.host_keys = keys;
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGHUP);
        }
        // sshd re-executes itself: wait until it listens again.
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            wait_ready(&mut self.child, self.port),
            "sshd did not come back after SIGHUP"
        );
    }
}
