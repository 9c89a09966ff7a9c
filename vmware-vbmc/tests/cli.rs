//! The vmware-vbmc binary: `check` and the start-up path of `run`, with
//! real files, owners and modes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_vmware-vbmc");
const IPMI_PASSWORD: &str = "Qm8!zX3#rT6$wP1@";
const VCENTER_PASSWORD: &str = "vc-S3cret-pass";

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vmware-vbmc-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn config(vcenter_password: &str, vm2_password: &str) -> String {
    format!(
        r#"[vcenter]
ip = "127.0.0.1"
username = "vbmc@vsphere.local"
password = "{vcenter_password}"

[[vm]]
plug = "db01"
listen_address = "127.0.0.1"
listen_port = 16231
ipmi_username = "fence"
ipmi_password = "{IPMI_PASSWORD}"

[[vm]]
plug = "db02"
listen_address = "127.0.0.1"
listen_port = 16232
ipmi_username = "fence"
{vm2_password}
"#
    )
}

fn good() -> String {
    config(
        VCENTER_PASSWORD,
        &format!("ipmi_password = \"{IPMI_PASSWORD}\""),
    )
}

fn vbmc(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn no_secrets(s: &str) {
    for secret in [IPMI_PASSWORD, VCENTER_PASSWORD, "tiny-pw"] {
        assert!(!s.contains(secret), "a password was printed: {s}");
    }
}

#[test]
fn check_accepts_a_valid_private_file() {
    let d = dir("valid");
    let f = d.join("vbmc.toml");
    write(&f, &good(), 0o600);
    let o = vbmc(&["check", f.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(
        out.trim(),
        format!("{}: valid: 2 virtual machine(s)", f.display())
    );
    assert_eq!(err, "");
}

#[test]
fn check_refuses_a_file_others_may_read_or_root_does_not_own() {
    let d = dir("perms");
    let f = d.join("vbmc.toml");
    write(&f, &good(), 0o640);
    let o = vbmc(&["check", f.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "vmware-vbmc: {}: mode 0640 lets group or others read or write it: it holds passwords (chmod 600)\n",
            f.display()
        )
    );
    write(&f, &good(), 0o600);
    std::os::unix::fs::chown(&f, Some(65534), Some(65534)).unwrap();
    let o = vbmc(&["check", f.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("owned by uid 65534, not root"), "{err}");
    // And run refuses to start on it.
    let o = vbmc(&["run", f.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("owned by uid 65534, not root"), "{err}");
    no_secrets(&err);
}

#[test]
fn check_lists_every_problem_one_line_each_without_secrets() {
    let d = dir("problems");
    let f = d.join("vbmc.toml");
    let bad = config("", "ipmi_password = \"tiny-pw\"")
        .replace("listen_address = \"127.0.0.1\"\nlisten_port = 16231\nipmi_username = \"fence\"\nipmi_password = \"Qm8", "listen_address = \"not-an-ip\"\nlisten_port = 0\nipmi_username = \"fence\"\nipmi_password = \"Qm8");
    write(&f, &bad, 0o644);
    let o = vbmc(&["check", f.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out, "");
    let lines: Vec<&str> = err.lines().collect();
    let shown = f.display().to_string();
    assert_eq!(
        lines,
        vec![
            format!("vmware-vbmc: {shown}: mode 0644 lets group or others read or write it: it holds passwords (chmod 600)"),
            format!("vmware-vbmc: {shown}: [vcenter]: password: empty"),
            format!("vmware-vbmc: {shown}: [[vm]] #1 (plug db01): listen_port: must be a whole number from 1 to 65535"),
            format!("vmware-vbmc: {shown}: [[vm]] #1 (plug db01): listen_address: not-an-ip is not an IP address"),
            format!("vmware-vbmc: {shown}: [[vm]] #2 (plug db02): ipmi_password: 7 bytes is too short; use 16 to 20 random characters (anyone who knows the user name can test passwords offline)"),
        ],
        "{err}"
    );
    no_secrets(&err);
}

#[test]
fn unreadable_or_missing_files_and_bad_arguments() {
    let o = vbmc(&["check", "/nonexistent/vbmc.toml"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.starts_with("vmware-vbmc: /nonexistent/vbmc.toml: cannot read it:"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let o = vbmc(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o).1,
        "vmware-vbmc: unknown command \"frobnicate\"\nvmware-vbmc: see vmware-vbmc --help\n"
    );
    let o = vbmc(&["check", "--debug"]);
    assert_eq!(o.status.code(), Some(1));
    let o = vbmc(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).0.starts_with("usage: vmware-vbmc check [CONFIG]"));
    let o = vbmc(&[]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn run_resolves_password_scripts_and_checks_what_they_print() {
    let d = dir("scripts");
    let f = d.join("vbmc.toml");
    let short = d.join("short-password");
    write(&short, "#!/bin/sh\necho tiny-pw\n", 0o700);
    let text_ = config(
        VCENTER_PASSWORD,
        &format!("ipmi_password_script = \"{}\"", short.display()),
    )
    .replace(
        &format!("password = \"{VCENTER_PASSWORD}\""),
        "password_script = \"exit 3\"",
    );
    write(&f, &text_, 0o600);
    let o = vbmc(&["check", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.contains("2 password script(s) not run by check"));
    let o = vbmc(&["run", f.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        vec![
            "vmware-vbmc: [vcenter] password_script: password_script exited with status 3",
            "vmware-vbmc: [[vm]] (plug db02): ipmi_password: 7 bytes is too short; use 16 to 20 random characters (anyone who knows the user name can test passwords offline)",
        ],
        "{err}"
    );
    no_secrets(&err);
}

/// A vCenter that refuses connections: `run` stops at once, one line
/// naming the address and the user, never the password.
#[test]
fn run_without_vcenter_stops_at_once_and_says_why() {
    let d = dir("run");
    let f = d.join("vbmc.toml");
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    write(
        &f,
        &good().replace(
            "ip = \"127.0.0.1\"",
            &format!("ip = \"127.0.0.1\"\nipport = {closed_port}"),
        ),
        0o600,
    );
    let started = std::time::Instant::now();
    let o = vbmc(&["run", f.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "vmware-vbmc: cannot control the VMs: cannot log in to https://127.0.0.1:{closed_port}/sdk as vbmc@vsphere.local: cannot connect: "
        )),
        "{err}"
    );
    no_secrets(&err);
}
