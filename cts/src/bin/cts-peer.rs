//! Starts a test peer and keeps it running for shell scripts (the
//! Pacemaker suites and the demo), which cannot use the Rust harness
//! directly.
//!
//! `cts-peer esxi DIR` starts the fake ESXi host (OpenSSH sshd on a free
//! loopback port with the fake vim-cmd, see cts/esxi/), writes
//! `DIR/esxi.env` (shell assignments: port, user, password, ssh_options,
//! the host directory holding the VM state files, an authorized key, a
//! known_hosts file that trusts the server), and runs until the
//! file `DIR/stop` appears; then it stops the server and removes its
//! state. Needs root, like the ESXi tests.

use std::path::PathBuf;
use std::time::Duration;

use cts::esxi_host::{keygen, FakeEsxi, Vm, PASSWORD, USER};

/// The demo inventory: cluster nodes and a name with spaces.
fn inventory() -> Vec<Vm> {
    vec![
        Vm::new("1", "node1", "on")
            .guest("rhel9_64Guest", "vmx-19")
            .annotation("cluster node 1"),
        Vm::new("2", "node2", "on")
            .guest("rhel9_64Guest", "vmx-19")
            .annotation("cluster node 2"),
        Vm::new("3", "web server 01", "on").guest("otherLinux64Guest", "vmx-19"),
    ]
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 || args[1] != "esxi" {
        eprintln!("usage: cts-peer esxi DIR");
        std::process::exit(2);
    }
    let dir = PathBuf::from(&args[2]);
    std::fs::create_dir_all(&dir).expect("state dir");
    let host = FakeEsxi::openssh();
    host.set_vms(&inventory());
    // Key authentication too, for scripts whose option values cannot hold
    // the password's spaces.
    let (key, public) = keygen(&dir, "id_ed25519", "ed25519");
    host.authorize(&public);
    let known_hosts = dir.join("known_hosts");
    std::fs::write(&known_hosts, host.known_hosts_lines()).expect("known_hosts");
    let env = format!(
        "ESXI_PORT={}\nESXI_USER={}\nESXI_PASSWORD={}\nESXI_SSH_OPTIONS={}\nESXI_HOST_DIR={}\nESXI_IDENTITY={}\nESXI_KNOWN_HOSTS={}\n",
        host.port,
        shell_quote(USER),
        shell_quote(PASSWORD),
        shell_quote(&host.ssh_options()),
        shell_quote(&host.dir.display().to_string()),
        shell_quote(&key.display().to_string()),
        shell_quote(&known_hosts.display().to_string()),
    );
    let tmp = dir.join("esxi.env.tmp");
    std::fs::write(&tmp, env).expect("write env");
    std::fs::rename(&tmp, dir.join("esxi.env")).expect("publish env");
    println!("fake ESXi host on 127.0.0.1:{}", host.port);
    let stop = dir.join("stop");
    while !stop.exists() {
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(host);
}
