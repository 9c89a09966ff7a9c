//! fence_vmware / fence_vmware_soap against VMware's vSphere simulator
//! (cts/vcsim); the vmware_type=server1/server2 mode is in vmrun.rs. VM
//! state is always read through the simulator's
//! control endpoint, never through the agent; after every run, every
//! session the agent opened must be logged out.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cts::support::{assert_valid_metadata, bin, repo_root, skip_unless, AgentRun, Outcome};
use cts::vcsim::{self, Options, Vcsim, PASSWORD, USER};

fn fence_vmware() -> PathBuf {
    bin("fence_vmware")
}

/// fence_vmware_soap: a symlink to the same binary, as installed.
fn fence_vmware_soap() -> PathBuf {
    static LINK: OnceLock<PathBuf> = OnceLock::new();
    LINK.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("cts-vmware-soap-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let link = dir.join("fence_vmware_soap");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(fence_vmware(), &link).expect("symlink");
        link
    })
    .clone()
}

fn no_sim() -> bool {
    skip_unless(
        vcsim::available(),
        "the vSphere simulator needs Go and golang-github-vmware-govmomi-dev",
    )
}

/// argv that reaches `sim` as the agent's default user, trusting its CA.
fn base(sim: &Vcsim) -> Vec<String> {
    vec![
        "-a".into(),
        "127.0.0.1".into(),
        "-u".into(),
        sim.port.to_string(),
        "-l".into(),
        USER.into(),
        "-p".into(),
        PASSWORD.into(),
        format!("--cacert={}", sim.ca().display()),
    ]
}

fn with(mut v: Vec<String>, more: &[&str]) -> Vec<String> {
    v.extend(more.iter().map(|s| s.to_string()));
    v
}

/// Runs the agent and checks that it left no session behind.
fn run(sim: &Vcsim, args: Vec<String>) -> Outcome {
    checked(sim, AgentRun::new(fence_vmware()).args(args))
}

fn checked(sim: &Vcsim, r: AgentRun) -> Outcome {
    let out = r.run();
    assert_sessions_closed(sim, &out);
    out
}

fn assert_sessions_closed(sim: &Vcsim, out: &Outcome) {
    let s = sim.sessions();
    assert_eq!(
        s.logins, s.logouts,
        "sessions left open: {s:?}\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert_eq!(s.active, 0, "{s:?}");
}

fn power_of(sim: &Vcsim, name: &str, dc: Option<&str>) -> String {
    sim.power(&sim.vm(name, dc).moref)
}

#[test]
fn status_by_every_plug_form() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start();
    let node10 = sim.vm("node10", None).clone();
    let forms = [
        "node10".to_string(),
        "/DC0/vm/node10".to_string(),
        "/DC0/vm/sub/dup".to_string(),
        node10.instance_uuid.clone(),
        node10.instance_uuid.to_uppercase(),
        node10.bios_uuid.clone(),
        node10.moref.clone(),
        "web/01".to_string(),
        "web%2f01".to_string(),
        "/DC0/vm/web%2f01".to_string(),
        "web server 01".to_string(),
        "ünïcødé-vm".to_string(),
        "a<b>&\"c'".to_string(),
        "dc1only".to_string(),
    ];
    for plug in &forms {
        let out = run(&sim, with(base(&sim), &["-o", "status", "-n", plug]));
        out.assert_code(0).assert_stdout_has("Status: ON");
    }
    // Status of an off VM exits 2.
    sim.set_power(&node10.moref, "poweredOff");
    run(&sim, with(base(&sim), &["-o", "status", "-n", "node10"]))
        .assert_code(2)
        .assert_stdout_has("Status: OFF");
    // Unknown plug: exit 1, named.
    run(&sim, with(base(&sim), &["-o", "status", "-n", "nosuchvm"]))
        .assert_code(1)
        .assert_stderr_has("no virtual machine matches plug \"nosuchvm\"");
}

#[test]
fn off_on_reboot_verified_on_the_simulator() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start();
    let vm = sim.vm("node10", None).clone();
    run(
        &sim,
        with(base(&sim), &["-o", "off", "-n", &vm.instance_uuid]),
    )
    .assert_code(0)
    .assert_stdout_has("Success: Powered OFF");
    assert_eq!(sim.power(&vm.moref), "poweredOff");
    // Off again: already off (and no task is started).
    run(&sim, with(base(&sim), &["-o", "off", "-n", "node10"]))
        .assert_code(0)
        .assert_stdout_has("Success: Already OFF");
    run(&sim, with(base(&sim), &["-o", "on", "-n", &vm.moref]))
        .assert_code(0)
        .assert_stdout_has("Success: Powered ON");
    assert_eq!(sim.power(&vm.moref), "poweredOn");
    let before = sim.calls();
    run(
        &sim,
        with(base(&sim), &["-o", "reboot", "-n", "/DC0/vm/node10"]),
    )
    .assert_code(0)
    .assert_stdout_has("Success: Rebooted");
    let after = sim.calls();
    let delta = |k: &str| after.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);
    assert_eq!(delta("PowerOffVM_Task"), 1);
    assert_eq!(delta("PowerOnVM_Task"), 1);
    assert_eq!(sim.power(&vm.moref), "poweredOn");
    // A web/01-style name, off by its unescaped name.
    run(&sim, with(base(&sim), &["-o", "off", "-n", "web/01"])).assert_code(0);
    assert_eq!(power_of(&sim, "web%2f01", None), "poweredOff");
}

#[test]
fn several_plugs_each_resolved_and_acted_on() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start();
    run(
        &sim,
        with(
            base(&sim),
            &["-o", "off", "-n", "node10,web server 01,/DC1/vm/node1"],
        ),
    )
    .assert_code(0)
    .assert_stdout_has("Success: Powered OFF");
    assert_eq!(power_of(&sim, "node10", None), "poweredOff");
    assert_eq!(power_of(&sim, "web server 01", None), "poweredOff");
    assert_eq!(power_of(&sim, "node1", Some("DC1")), "poweredOff");
    assert_eq!(power_of(&sim, "node1", Some("DC0")), "poweredOn");
    // One plug on: status is ON.
    sim.set_power(&sim.vm("node10", None).moref, "poweredOn");
    run(
        &sim,
        with(base(&sim), &["-o", "status", "-n", "node10,web server 01"]),
    )
    .assert_code(0)
    .assert_stdout_has("Status: ON");
}

#[test]
fn ambiguous_plugs_are_refused_and_nothing_is_powered() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start();
    let out = run(&sim, with(base(&sim), &["-o", "off", "-n", "dup"]));
    out.assert_code(1)
        .assert_stderr_has("matches 2 virtual machines")
        .assert_stderr_has("/DC0/vm/dup")
        .assert_stderr_has("/DC0/vm/sub/dup");
    // node1 exists in DC0 and DC1; with another, valid plug first.
    let out = run(
        &sim,
        with(base(&sim), &["-o", "reboot", "-n", "node10,node1"]),
    );
    out.assert_code(1)
        .assert_stderr_has("/DC0/vm/node1")
        .assert_stderr_has("/DC1/vm/node1");
    // Clones share a BIOS UUID.
    let bios = sim.vm("clone-a", None).bios_uuid.clone();
    assert_eq!(bios, sim.vm("clone-b", None).bios_uuid);
    run(&sim, with(base(&sim), &["-o", "off", "-n", &bios]))
        .assert_code(1)
        .assert_stderr_has("/DC0/vm/clone-a")
        .assert_stderr_has("/DC0/vm/clone-b");
    for st in sim
        .states("dup")
        .into_iter()
        .chain(sim.states("node1"))
        .chain(sim.states("node10"))
        .chain(sim.states("clone-a"))
        .chain(sim.states("clone-b"))
    {
        assert_eq!(st.power, "poweredOn", "{st:?} was powered");
    }
    let calls = sim.calls();
    assert_eq!(calls.get("PowerOffVM_Task"), None, "{calls:?}");
    // The clone's instance UUID is unique: accepted.
    let inst = sim.vm("clone-b", None).instance_uuid.clone();
    run(&sim, with(base(&sim), &["-o", "status", "-n", &inst])).assert_code(0);
}

#[test]
fn datacenter_filter() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start();
    run(
        &sim,
        with(base(&sim), &["-o", "off", "-n", "node1", "-s", "DC1"]),
    )
    .assert_code(0)
    .assert_stdout_has("Success: Powered OFF");
    assert_eq!(power_of(&sim, "node1", Some("DC1")), "poweredOff");
    assert_eq!(power_of(&sim, "node1", Some("DC0")), "poweredOn");
    run(
        &sim,
        with(base(&sim), &["-o", "status", "-n", "dc1only", "-s", "DC0"]),
    )
    .assert_code(1)
    .assert_stderr_has("in datacenter \"DC0\"");
    run(
        &sim,
        with(
            base(&sim),
            &["-o", "status", "-n", "/DC1/vm/node1", "-s", "DC0"],
        ),
    )
    .assert_code(1);
    run(
        &sim,
        with(base(&sim), &["-o", "status", "-n", "node1", "-s", "DC9"]),
    )
    .assert_code(1)
    .assert_stderr_has("there is no datacenter \"DC9\"");
    let out = run(&sim, with(base(&sim), &["-o", "list", "-s", "DC1"]));
    out.assert_code(0);
    let names: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split(',').next().unwrap_or(""))
        .collect();
    assert!(
        names.contains(&"dc1only") && names.contains(&"node1"),
        "{names:?}"
    );
    assert!(!names.contains(&"node10"), "{names:?}");
}

#[test]
fn list_and_list_status_show_unescaped_names_and_instance_uuids() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start();
    sim.set_power(&sim.vm("node10", None).moref, "poweredOff");
    let out = run(&sim, with(base(&sim), &["-o", "list"]));
    out.assert_code(0);
    let web = sim.vm("web%2f01", None);
    out.assert_stdout_has(&format!("web/01,{}\n", web.instance_uuid));
    out.assert_stdout_has(&format!(
        "ünïcødé-vm,{}\n",
        sim.vm("ünïcødé-vm", None).instance_uuid
    ));
    assert!(!out.stdout.contains("%2f"), "{}", out.stdout);
    assert_eq!(out.stdout.lines().count(), sim.inventory.len());
    let out = run(&sim, with(base(&sim), &["-o", "list-status"]));
    out.assert_code(0);
    out.assert_stdout_has(&format!(
        "node10,{},OFF\n",
        sim.vm("node10", None).instance_uuid
    ));
    out.assert_stdout_has(&format!("web/01,{},ON\n", web.instance_uuid));
    // Paged: with pages of 5 objects, the same list.
    let paged = checked(
        &sim,
        AgentRun::new(fence_vmware())
            .args(with(base(&sim), &["-o", "list-status"]))
            .env("FENCE_VMWARE_PAGE_SIZE", "5"),
    );
    paged.assert_code(0);
    assert_eq!(paged.stdout, out.stdout);
    assert!(
        sim.calls()
            .get("ContinueRetrievePropertiesEx")
            .copied()
            .unwrap_or(0)
            >= 4
    );
    // As fence_vmware_soap too.
    checked(
        &sim,
        AgentRun::new(fence_vmware_soap()).args(with(base(&sim), &["-o", "list"])),
    )
    .assert_code(0)
    .assert_stdout_has("web/01,");
}

#[test]
fn a_status_poll_costs_one_object_read_whatever_the_inventory() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start_with(Options {
        slow_seconds: Some(3),
        ..Options::default()
    });
    let calls0 = sim.calls();
    // Inventory path: no inventory scan at all, one property read.
    run(
        &sim,
        with(base(&sim), &["-o", "status", "-n", "/DC0/vm/node10"]),
    )
    .assert_code(0);
    let calls1 = sim.calls();
    let d = |a: &std::collections::HashMap<String, u64>,
             b: &std::collections::HashMap<String, u64>,
             k: &str| b.get(k).copied().unwrap_or(0) - a.get(k).copied().unwrap_or(0);
    assert_eq!(d(&calls0, &calls1, "CreateContainerView"), 0);
    assert_eq!(d(&calls0, &calls1, "RetrievePropertiesEx"), 1, "{calls1:?}");
    // A name: one scan (paged), then one read per poll. Powering the slow
    // VM off takes about 3 s of 250 ms task polls and 1 s status polls;
    // the scan is still done once.
    let out = checked(
        &sim,
        AgentRun::new(fence_vmware())
            .args(with(
                base(&sim),
                &["-o", "off", "-n", "slow", "--power-timeout=20"],
            ))
            .env("FENCE_VMWARE_PAGE_SIZE", "4"),
    );
    out.assert_code(0);
    let calls2 = sim.calls();
    assert_eq!(d(&calls1, &calls2, "CreateContainerView"), 1);
    assert_eq!(d(&calls1, &calls2, "DestroyView"), 1);
    let pages = 1 + d(&calls1, &calls2, "ContinueRetrievePropertiesEx");
    let reads = d(&calls1, &calls2, "RetrievePropertiesEx");
    assert!(pages >= 6, "the scan was paged: {calls2:?}");
    // Every other RetrievePropertiesEx read one VM (and its task): the
    // poll count depends on time, not on the inventory.
    let polls = reads - 1;
    assert!(polls >= 3, "{polls} polls");
    assert_eq!(power_of(&sim, "slow", None), "poweredOff");
}

#[test]
fn wrong_password_and_no_permission() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start();
    let mut args = base(&sim);
    args[7] = "wrong password".into();
    run(&sim, with(args, &["-o", "status", "-n", "node10"]))
        .assert_code(1)
        .assert_stderr_has("Unable to connect/login to fencing device")
        .assert_stderr_has("InvalidLogin");
    let mut args = base(&sim);
    args[5] = "readonly".into();
    run(&sim, with(args.clone(), &["-o", "off", "-n", "node10"]))
        .assert_code(1)
        .assert_stderr_has("The user does not have the correct privileges")
        .assert_stderr_has("NoPermission");
    assert_eq!(power_of(&sim, "node10", None), "poweredOn");
    // Reading is allowed to that user.
    run(&sim, with(args, &["-o", "status", "-n", "node10"])).assert_code(0);
    // monitor: login and logout.
    run(&sim, with(base(&sim), &["-o", "monitor"])).assert_code(0);
    assert!(sim.sessions().logins >= 3);
}

#[test]
fn tls_verification() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start();
    let port = sim.port.to_string();
    let plain = |more: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["-a", "127.0.0.1", "-u", &port, "-l", USER, "-p", PASSWORD]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(more.iter().map(|s| s.to_string()));
        v
    };
    // Untrusted: refused, nothing logged in.
    let out = checked(
        &sim,
        AgentRun::new(fence_vmware())
            .args(plain(&["-o", "status", "-n", "node10"]))
            .env("SSL_CERT_FILE", "/nonexistent")
            .env("SSL_CERT_DIR", "/nonexistent"),
    );
    out.assert_code(1)
        .assert_stderr_has("Unable to connect/login to fencing device")
        .assert_stderr_has("certificate");
    assert_eq!(sim.sessions().logins, 0);
    // The system store, pointed at the CA with SSL_CERT_FILE.
    checked(
        &sim,
        AgentRun::new(fence_vmware())
            .args(plain(&["-o", "status", "-n", "node10"]))
            .env("SSL_CERT_FILE", sim.ca()),
    )
    .assert_code(0);
    // ssl_insecure=0 on stdin still verifies.
    let stdin = format!(
        "action=status\nip=127.0.0.1\nipport={port}\nusername={USER}\npassword={PASSWORD}\nplug=node10\nssl_insecure=0\n"
    );
    checked(
        &sim,
        AgentRun::new(fence_vmware_soap())
            .stdin(stdin)
            .env("SSL_CERT_FILE", "/nonexistent")
            .env("SSL_CERT_DIR", "/nonexistent"),
    )
    .assert_code(1)
    .assert_stderr_has("certificate");
    // ssl_insecure=1 works and says so at verbose level.
    let stdin = format!(
        "action=status\nip=127.0.0.1\nipport={port}\nusername={USER}\npassword={PASSWORD}\nplug=node10\nssl_insecure=1\nverbose=1\n"
    );
    checked(
        &sim,
        AgentRun::new(fence_vmware_soap())
            .stdin(stdin)
            .env("SSL_CERT_FILE", "/nonexistent"),
    )
    .assert_code(0)
    .assert_stdout_has("Status: ON")
    .assert_stderr_has("NOT verified");
    // Plain HTTP against a TLS server: only with notls, and it fails.
    run(&sim, plain(&["-o", "status", "-n", "node10", "--notls"])).assert_code(1);
    // notls with ssl_insecure is a contradiction.
    run(
        &sim,
        plain(&["-o", "status", "-n", "node10", "--notls", "--ssl-insecure"]),
    )
    .assert_code(1)
    .assert_stderr_has("notls");
}

/// A trusted CA is not enough: the certificate must name the host asked
/// for. The simulator's names localhost, 127.0.0.1 and ::1; served on
/// 127.0.0.2 (still loopback) it is refused, and nothing logs in.
#[test]
fn certificate_for_another_host_name_is_refused() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start_with(vcsim::Options {
        listen: Some("127.0.0.2:0".into()),
        ..Default::default()
    });
    let port = sim.port.to_string();
    let ca = sim.ca();
    let args = |more: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "-a",
            "127.0.0.2",
            "-u",
            &port,
            "-l",
            USER,
            "-p",
            PASSWORD,
            "-o",
            "status",
            "-n",
            "node10",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(more.iter().map(|s| s.to_string()));
        v
    };
    let out = checked(
        &sim,
        AgentRun::new(fence_vmware()).args(args(&["--cacert", &ca.display().to_string()])),
    );
    out.assert_code(1)
        .assert_stderr_has("Unable to connect/login to fencing device")
        .assert_stderr_has("IP address mismatch");
    assert_eq!(sim.sessions().logins, 0);
    // Only the explicit opt-out accepts it.
    checked(
        &sim,
        AgentRun::new(fence_vmware()).args(args(&["--ssl-insecure"])),
    )
    .assert_code(0)
    .assert_stdout_has("Status: ON");
}

#[test]
fn plain_http_only_when_asked() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start_with(Options {
        plain_http: true,
        ..Options::default()
    });
    let port = sim.port.to_string();
    let args = |more: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["-a", "127.0.0.1", "-u", &port, "-l", USER, "-p", PASSWORD]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(more.iter().map(|s| s.to_string()));
        v
    };
    run(&sim, args(&["-o", "status", "-n", "node10"])).assert_code(1);
    run(&sim, args(&["-o", "status", "-n", "node10", "--notls"]))
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    let stdin = format!(
        "action=status\nipaddr=127.0.0.1\nipport={port}\nlogin={USER}\npasswd={PASSWORD}\nport=node10\nssl=0\n"
    );
    checked(&sim, AgentRun::new(fence_vmware_soap()).stdin(stdin))
        .assert_code(0)
        .assert_stdout_has("Status: ON");
}

#[test]
fn a_late_task_times_out_in_wall_clock_seconds() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start_with(Options {
        slow_seconds: Some(12),
        ..Options::default()
    });
    let started = Instant::now();
    let out = run(
        &sim,
        with(
            base(&sim),
            &[
                "-o",
                "off",
                "-n",
                "slow",
                "--power-timeout=2",
                "--shell-timeout=2",
            ],
        ),
    );
    out.assert_code(1)
        .assert_stderr_has("Failed: Timed out waiting to power OFF");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(7),
        "took {took:?} for power_timeout 2 + shell_timeout 2"
    );
    assert!(took >= Duration::from_secs(4), "took {took:?}");
    assert_eq!(power_of(&sim, "slow", None), "poweredOn");
}

#[test]
fn a_blocking_question_is_answered_with_its_default() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start();
    let vm = sim.vm("questioned", None).clone();
    sim.set_power(&vm.moref, "poweredOff");
    let out = run(&sim, with(base(&sim), &["-o", "on", "-n", "questioned"]));
    out.assert_code(0)
        .assert_stdout_has("Success: Powered ON")
        .assert_stderr_has("Did you move or copy this VM?")
        .assert_stderr_has("I Copied It");
    assert_eq!(sim.power(&vm.moref), "poweredOn");
    assert!(!sim.question(&vm.moref));
    // Reboot goes through the question too.
    run(
        &sim,
        with(base(&sim), &["-o", "reboot", "-n", "questioned"]),
    )
    .assert_code(0);
    assert_eq!(sim.power(&vm.moref), "poweredOn");
}

#[test]
fn sigterm_in_the_middle_still_logs_out() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start_with(Options {
        slow_seconds: Some(20),
        ..Options::default()
    });
    let mut child = Command::new(fence_vmware())
        .args(with(
            base(&sim),
            &["-o", "off", "-n", "slow", "--power-timeout=60"],
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start agent");
    let until = Instant::now() + Duration::from_secs(20);
    while !sim.calls().contains_key("PowerOffVM_Task") {
        assert!(Instant::now() < until, "the agent never started the task");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sim.sessions().active, 1);
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < until,
            "the agent did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted by signal"), "{stderr}");
    let s = sim.sessions();
    assert_eq!((s.logins, s.logouts, s.active), (1, 1, 0), "{stderr}");
}

#[test]
fn the_password_never_shows_even_at_vvv() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start();
    let out = run(
        &sim,
        with(base(&sim), &["-o", "status", "-n", "node10", "-vvv"]),
    );
    out.assert_code(0)
        .assert_stderr_has("RetrievePropertiesEx")
        .assert_nothing_contains(PASSWORD);
    let mut args = base(&sim);
    args[7] = "an0ther secret".into();
    run(&sim, with(args, &["-o", "status", "-n", "node10", "-vvv"]))
        .assert_code(1)
        .assert_nothing_contains("an0ther secret");
}

#[test]
fn stdin_and_the_seeds_pacemaker_parameters() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start();
    // FenceAgentAPI form, as Pacemaker sends it.
    let stdin = format!(
        "action=status\nipaddr=127.0.0.1\nipport={}\nlogin={USER}\npasswd={PASSWORD}\nport=node10\ncacert={}\n",
        sim.port,
        sim.ca().display()
    );
    checked(&sim, AgentRun::new(fence_vmware()).stdin(stdin))
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    // The seed's primitive: ipaddr login passwd vmware_datacenter
    // vmware_type=esx action=reboot port (the address carries the port,
    // the CA comes from the system store).
    let stdin = format!(
        "ipaddr=127.0.0.1:{}\nlogin={USER}\npasswd={PASSWORD}\nvmware_datacenter=DC1\nvmware_type=esx\naction=reboot\nport=node1\npcmk_host_list=node95 node96\n",
        sim.port
    );
    let before = sim.calls();
    checked(
        &sim,
        AgentRun::new(fence_vmware())
            .stdin(stdin)
            .env("SSL_CERT_FILE", sim.ca()),
    )
    .assert_code(0)
    .assert_stdout_has("Success: Rebooted");
    let after = sim.calls();
    assert_eq!(
        after.get("PowerOffVM_Task").copied().unwrap_or(0)
            - before.get("PowerOffVM_Task").copied().unwrap_or(0),
        1
    );
    assert_eq!(power_of(&sim, "node1", Some("DC1")), "poweredOn");
    // nodename (the target) when no port is given.
    let stdin = format!(
        "action=off\nipaddr=127.0.0.1\nipport={}\nlogin={USER}\npasswd={PASSWORD}\nnodename=dc1only\ncacert={}\n",
        sim.port,
        sim.ca().display()
    );
    checked(&sim, AgentRun::new(fence_vmware_soap()).stdin(stdin)).assert_code(0);
    assert_eq!(power_of(&sim, "dc1only", None), "poweredOff");
}

#[test]
fn standalone_esxi() {
    if no_sim() {
        return;
    }
    let sim = Vcsim::start_with(Options {
        esx: true,
        ..Options::default()
    });
    run(&sim, with(base(&sim), &["-o", "off", "-n", "node1"]))
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    assert_eq!(power_of(&sim, "node1", None), "poweredOff");
    run(
        &sim,
        with(
            base(&sim),
            &["-o", "status", "-n", "node10", "-s", "ha-datacenter"],
        ),
    )
    .assert_code(0);
}

// ---------------------------------------------------------------------------
// Metadata and man pages.

fn output_of(program: &PathBuf, args: &[&str]) -> String {
    let out = AgentRun::new(program).args(args).run();
    out.assert_code(0);
    out.stdout
}

#[test]
fn metadata_and_man_pages_match_the_committed_files() {
    let root = repo_root();
    for (program, name) in [
        (fence_vmware(), "fence_vmware"),
        (fence_vmware_soap(), "fence_vmware_soap"),
    ] {
        let meta = output_of(&program, &["-o", "metadata"]);
        let committed = std::fs::read_to_string(root.join(format!("metadata/{name}.xml")))
            .expect("committed metadata");
        assert!(
            meta == committed,
            "metadata/{name}.xml differs from `{name} -o metadata`: regenerate it"
        );
        let man = output_of(&program, &["-o", "manpage"]);
        let committed = std::fs::read_to_string(root.join(format!("man/{name}.8")))
            .expect("committed man page");
        assert!(
            man == committed,
            "man/{name}.8 differs from `{name} -o manpage`: regenerate it"
        );
    }
}

/// fence-agents' own metadata for `name`, from its installed Python agent
/// (moved aside to `*.fence-agents` while our package is installed).
fn fence_agents_metadata(name: &str) -> Option<String> {
    for candidate in [
        format!("/usr/sbin/{name}.fence-agents"),
        format!("/usr/sbin/{name}"),
    ] {
        let is_script = std::fs::read(&candidate)
            .map(|b| b.starts_with(b"#!"))
            .unwrap_or(false);
        if is_script {
            let out = Command::new(&candidate)
                .args(["-o", "metadata"])
                .stdin(Stdio::null())
                .output()
                .ok()?;
            return Some(String::from_utf8_lossy(&out.stdout).into_owned());
        }
    }
    None
}

#[test]
fn metadata_declares_every_fence_agents_parameter_and_validates() {
    for (program, name) in [
        (fence_vmware(), "fence_vmware"),
        (fence_vmware_soap(), "fence_vmware_soap"),
    ] {
        let meta = output_of(&program, &["-o", "metadata"]);
        for a in [
            "on",
            "off",
            "reboot",
            "status",
            "list",
            "list-status",
            "monitor",
        ] {
            assert!(
                meta.contains(&format!("<action name=\"{a}\"")),
                "{name}: {a}"
            );
        }
        // Every parameter fence-agents' agent of the same name declares
        // (pcs refuses undeclared ones, so a configuration written for it
        // would be refused).
        let reference = fence_agents_metadata(name);
        if !skip_unless(
            reference.is_some(),
            "fence-agents (Debian package) is not installed",
        ) {
            let r = reference.unwrap_or_default();
            let params: Vec<&str> = r
                .split("<parameter name=\"")
                .skip(1)
                .map(|part| part.split('"').next().unwrap_or(""))
                .collect();
            assert!(
                params.len() > 20,
                "{name}: fence-agents' metadata has {params:?}"
            );
            for p in params {
                assert!(
                    meta.contains(&format!("<parameter name=\"{p}\" ")),
                    "{name} does not declare {p}, which fence-agents' {name} declares"
                );
            }
        }
        assert_valid_metadata(&meta, name);
    }
}
