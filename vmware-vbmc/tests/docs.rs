//! man/vmware-vbmc.8 and the systemd unit: the page renders without a
//! warning, its complete example is a valid configuration, every setting
//! the parser accepts is documented; the unit passes systemd's own checks
//! and its exposure rating.

use std::path::{Path, PathBuf};
use std::process::Command;

use vmware_vbmc::config;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn page() -> String {
    std::fs::read_to_string(root().join("man/vmware-vbmc.8")).unwrap()
}

#[test]
fn the_man_page_renders_without_warnings() {
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(root().join("man/vmware-vbmc.8"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// The text between the example markers, roff escapes undone.
fn example() -> String {
    let page = page();
    let start = page.find(".\\\" example-begin\n").unwrap();
    let end = page.find(".\\\" example-end\n").unwrap();
    page[start..end]
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with('.'))
        .map(|l| l.replace("\\-", "-").replace("\\e", "\\"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_complete_example_is_a_valid_configuration() {
    let text = example();
    let ca = std::env::temp_dir().join(format!("vmware-vbmc-docs-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, "placeholder").unwrap();
    let text = text.replace("/etc/vmware-vbmc/vcenter-ca.pem", ca.to_str().unwrap());
    let parsed = config::parse(&text);
    std::fs::remove_file(&ca).unwrap();
    let c = parsed.unwrap_or_else(|p| panic!("{p:?}\n{text}"));
    assert_eq!(c.vms.len(), 2);
    assert_eq!(c.vms[1].listen.port(), 6231);
    assert_eq!(
        c.vms[0].privilege_limit,
        vmware_vbmc::ipmi::Privilege::Operator
    );
}

/// vmware-vbmc.toml.example, which the packages install: a valid
/// configuration (its CA file aside), with no password written in it to
/// be copied.
#[test]
fn the_packaged_example_is_a_valid_configuration() {
    let text =
        std::fs::read_to_string(root().join("vmware-vbmc/vmware-vbmc.toml.example")).unwrap();
    let ca =
        std::env::temp_dir().join(format!("vmware-vbmc-example-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, "placeholder").unwrap();
    let parsed =
        config::parse(&text.replace("/etc/vmware-vbmc/vcenter-ca.pem", ca.to_str().unwrap()));
    std::fs::remove_file(&ca).unwrap();
    let c = parsed.unwrap_or_else(|p| panic!("{p:?}"));
    assert_eq!(c.vms.len(), 2);
    assert!(matches!(
        c.vcenter.password,
        config::SecretSource::Script(_)
    ));
    assert!(c.vms.iter().all(
        |vm| matches!(vm.ipmi_password, config::SecretSource::Script(_))
            && vm.privilege_limit == vmware_vbmc::ipmi::Privilege::Operator
    ));
    assert!(
        page().contains("vmware\\-vbmc.toml.example"),
        "the man page names it"
    );
}

/// README.md's complete configuration is one.
#[test]
fn the_readme_example_is_a_valid_configuration() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let ca = std::env::temp_dir().join(format!("vmware-vbmc-readme-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, "placeholder").unwrap();
    let parsed = config::parse(
        &readme[start..end].replace("/etc/vmware-vbmc/vcenter-ca.pem", ca.to_str().unwrap()),
    );
    std::fs::remove_file(&ca).unwrap();
    let c = parsed.unwrap_or_else(|p| panic!("{p:?}"));
    assert_eq!(c.vms.len(), 2);
    assert_eq!(c.vms[1].listen.port(), 6231);
}

#[test]
fn every_accepted_setting_is_documented() {
    let page = page();
    let accepted = config::accepted_settings();
    assert!(accepted.len() > 20, "{accepted:?}");
    for (section, name) in accepted {
        let documented = page
            .lines()
            .any(|l| (l.starts_with(".B ") || l.starts_with(".BR ")) && l.contains(name));
        assert!(documented, "{section} {name} is not in the man page");
    }
}

#[test]
fn the_systemd_unit_verifies_and_is_confined() {
    let unit = std::fs::read_to_string(root().join("vmware-vbmc/vmware-vbmc.service")).unwrap();
    for line in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "ExecStart=/usr/sbin/vmware-vbmc run /etc/vmware-vbmc/vmware-vbmc.toml",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
    // systemd checks that ExecStart exists: point it at the built binary.
    let dir = std::env::temp_dir().join(format!("vmware-vbmc-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("vmware-vbmc.service");
    std::fs::write(
        &file,
        unit.replace("/usr/sbin/vmware-vbmc", env!("CARGO_BIN_EXE_vmware-vbmc")),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=25"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    std::fs::remove_dir_all(&dir).unwrap();
    let rating = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for vmware-vbmc.service: ")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("{text}"));
    let score: f64 = rating.split_whitespace().next().unwrap().parse().unwrap();
    assert!(score <= 2.5, "exposure {rating}");
    assert!(security.status.success(), "{text}");
}
