//! fence_vmware_rest against the vSphere Automation API that cts/vcsim
//! serves beside SOAP (rest.go: /api and /rest over one inventory), on
//! both dialects, over HTTPS with the simulator's CA and over plain HTTP.
//! VM state is read through the simulator's control endpoint, never
//! through the agent; after every run, every session the agent opened
//! (the Automation API's and vim25's) must be ended, and every VM must be
//! as expected.
//!
//! The cross-check runs fence-agents' own fence_vmware_rest on the same
//! inventory (its faults are pinned in rest_sim.rs).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cts::support::{
    base64, bin, fence_agents_program, link_named, skip_unless, terminate, AgentRun, Outcome,
};
use cts::vcsim::{Options, Vcsim, VmState, PASSWORD, USER};

/// fence_vmware_rest: a symlink to fence_vmware, as installed.
fn rest_agent() -> PathBuf {
    static LINK: OnceLock<PathBuf> = OnceLock::new();
    LINK.get_or_init(|| link_named(&bin("fence_vmware"), "fence_vmware_rest"))
        .clone()
}

fn sim_with(opts: Options) -> Option<Vcsim> {
    Vcsim::start_if_available(opts)
}

/// HTTPS with the simulator's CA.
fn https() -> Option<Vcsim> {
    sim_with(Options::default())
}

fn plain() -> Option<Vcsim> {
    sim_with(Options {
        plain_http: true,
        ..Options::default()
    })
}

fn slow(seconds: u32) -> Option<Vcsim> {
    sim_with(Options {
        plain_http: true,
        slow_seconds: Some(seconds),
        ..Options::default()
    })
}

fn is_https(sim: &Vcsim) -> bool {
    sim.base_url().starts_with("https:")
}

/// How the agent reaches `sim`: its CA trusted, or plain HTTP.
fn transport_args(sim: &Vcsim) -> Vec<String> {
    if is_https(sim) {
        vec![format!("--cacert={}", sim.ca().display())]
    } else {
        vec!["--notls".to_string()]
    }
}

/// The agent reaching `sim` as `user` with `password`.
fn login_as(sim: &Vcsim, user: &str, password: &str) -> AgentRun {
    AgentRun::new(rest_agent())
        .args(["-a", "127.0.0.1", "-u", &sim.port.to_string()])
        .args(["-l", user, "-p", password])
        .args(transport_args(sim))
}

fn agent(sim: &Vcsim) -> AgentRun {
    login_as(sim, USER, PASSWORD)
}

/// Runs the agent and checks that no REST session was left behind.
fn checked(sim: &Vcsim, run: AgentRun) -> Outcome {
    let out = run.run();
    assert_sessions_closed(sim, &out);
    out
}

fn fence(sim: &Vcsim, args: &[&str]) -> Outcome {
    checked(sim, agent(sim).args(args))
}

/// Both APIs' sessions: the Automation API's, and vim25's (opened for
/// the states the Automation API does not show).
fn assert_sessions_closed(sim: &Vcsim, out: &Outcome) {
    let s = sim.rest_sessions();
    assert_eq!(
        (s.logins, s.active),
        (s.logouts, 0),
        "REST sessions left open: {s:?}\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    let v = sim.sessions();
    assert_eq!(
        (v.logins, v.active),
        (v.logouts, 0),
        "vim25 sessions left open: {v:?}\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
}

/// The two APIs, each forced with api_path.
const APIS: [&str; 2] = ["/api", "/rest"];

fn api_arg(api: &str) -> String {
    format!("--api-path={api}")
}

/// Fails unless every VM is as in `before`, but for the power states in
/// `changed` (moref, power).
fn assert_states(sim: &Vcsim, before: &[VmState], changed: &[(&str, &str)], what: &str) {
    let after = sim.all_states();
    assert_eq!(after.len(), before.len(), "{what}: the inventory changed");
    for (b, a) in before.iter().zip(&after) {
        let mut want = b.clone();
        if let Some((_, power)) = changed.iter().find(|(m, _)| *m == b.moref) {
            want.power = power.to_string();
        }
        assert_eq!(&want, a, "{what}: {}", b.name);
    }
}

fn calls(sim: &Vcsim) -> HashMap<String, u64> {
    sim.rest_calls()
}

fn count(calls: &HashMap<String, u64>, key: &str) -> u64 {
    calls.get(key).copied().unwrap_or(0)
}

/// Every call made under `prefix` (`/api/`, `/rest/`).
fn calls_under(sim: &Vcsim, prefix: &str) -> u64 {
    calls(sim)
        .iter()
        .filter(|(k, _)| k.split_once(' ').map(|(_, p)| p.starts_with(prefix)) == Some(true))
        .map(|(_, n)| n)
        .sum()
}

/// Waits (20 s at most) until the simulator has served `key`.
fn wait_for_call(sim: &Vcsim, key: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while count(&calls(sim), key) == 0 {
        assert!(Instant::now() < until, "the agent never called {key}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn power_call(api: &str) -> &'static str {
    match api {
        "/rest" => "POST /rest/vcenter/vm/{vm}/power/stop",
        _ => "POST /api/vcenter/vm/{vm}/power",
    }
}

/// Every power change asked of the Automation API, either dialect.
fn power_calls(sim: &Vcsim) -> u64 {
    calls(sim)
        .iter()
        .filter(|(k, _)| k.starts_with("POST ") && k.contains("/power"))
        .map(|(_, n)| n)
        .sum()
}

/// How many times vim25's `method` was called.
fn vim25_calls(sim: &Vcsim, method: &str) -> u64 {
    sim.calls().get(method).copied().unwrap_or(0)
}

/// list output as (name, alias[, state]) rows.
fn rows(out: &Outcome) -> Vec<Vec<String>> {
    out.stdout
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// What list must print for `sim`'s inventory: the names vCenter's
/// escapes undone, each with its VM id.
fn expected_list(sim: &Vcsim) -> BTreeSet<(String, String)> {
    sim.inventory
        .iter()
        .map(|v| (v.name.replace("%2f", "/"), v.moref.clone()))
        .collect()
}

// ------------------------------------------------------------------ power

#[test]
fn status_off_on_reboot_verified_on_both_apis_over_https_and_plain_http() {
    for make in [https, plain] {
        for api in APIS {
            let Some(sim) = make() else { return };
            let what = format!("{api} over {}", sim.base_url());
            let node10 = sim.vm("node10", None).moref.clone();
            let web = sim.vm("web%2f01", None).moref.clone();
            let before = sim.all_states();
            let run = |args: &[&str]| fence(&sim, &[&[api_arg(api).as_str()], args].concat());
            run(&["-o", "status", "-n", "node10"])
                .assert_code(0)
                .assert_stdout_has("Status: ON");
            assert_states(&sim, &before, &[], &what);
            run(&["-o", "off", "-n", "node10"])
                .assert_code(0)
                .assert_stdout_has("Success: Powered OFF");
            assert_states(&sim, &before, &[(&node10, "poweredOff")], &what);
            run(&["-o", "status", "-n", "node10"])
                .assert_code(2)
                .assert_stdout_has("Status: OFF");
            run(&["-o", "off", "-n", "node10"])
                .assert_code(0)
                .assert_stdout_has("Success: Already OFF");
            run(&["-o", "on", "-n", &node10])
                .assert_code(0)
                .assert_stdout_has("Success: Powered ON");
            assert_states(&sim, &before, &[], &what);
            let c0 = calls(&sim);
            run(&["-o", "reboot", "-n", "web/01"])
                .assert_code(0)
                .assert_stdout_has("Success: Rebooted");
            assert_states(&sim, &before, &[], &what);
            let c1 = calls(&sim);
            let (stop, start) = match api {
                "/rest" => (
                    "POST /rest/vcenter/vm/{vm}/power/stop",
                    "POST /rest/vcenter/vm/{vm}/power/start",
                ),
                _ => (
                    "POST /api/vcenter/vm/{vm}/power",
                    "POST /api/vcenter/vm/{vm}/power",
                ),
            };
            let changes = count(&c1, stop) - count(&c0, stop);
            let changes = if stop == start {
                changes
            } else {
                changes + count(&c1, start) - count(&c0, start)
            };
            assert_eq!(changes, 2, "{what}: one stop and one start: {c1:?}");
            // A reboot of a VM that is off powers it on.
            sim.set_power(&web, "poweredOff");
            run(&["-o", "reboot", "-n", "web/01"]).assert_code(0);
            assert_states(&sim, &before, &[], &what);
            // Only the API asked for was spoken.
            let other = if api == "/api" { "/rest/" } else { "/api/" };
            assert_eq!(calls_under(&sim, other), 0, "{what}: {:?}", calls(&sim));
        }
    }
}

#[test]
fn several_plugs_are_each_resolved_and_acted_on() {
    let Some(sim) = plain() else { return };
    let before = sim.all_states();
    fence(
        &sim,
        &["-o", "off", "-n", "node10,web server 01,DC1_H0_VM0"],
    )
    .assert_code(0)
    .assert_stdout_has("Success: Powered OFF");
    let m = |n: &str| sim.vm(n, None).moref.clone();
    assert_states(
        &sim,
        &before,
        &[
            (&m("node10"), "poweredOff"),
            (&m("web server 01"), "poweredOff"),
            (&m("DC1_H0_VM0"), "poweredOff"),
        ],
        "three plugs",
    );
}

#[test]
fn list_list_status_and_monitor_on_both_apis() {
    let Some(sim) = https() else { return };
    let node10 = sim.vm("node10", None).moref.clone();
    let web = sim.vm("web server 01", None).moref.clone();
    sim.set_power(&node10, "poweredOff");
    sim.set_power(&web, "suspended");
    let before = sim.all_states();
    for api in APIS {
        let out = fence(&sim, &["-o", "list", &api_arg(api)]);
        out.assert_code(0);
        let listed: BTreeSet<(String, String)> = rows(&out)
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
        assert_eq!(listed, expected_list(&sim), "{api}");
        assert_eq!(out.stdout.lines().count(), sim.inventory.len(), "{api}");
        let out = fence(&sim, &["-o", "list-status", &api_arg(api)]);
        out.assert_code(0)
            .assert_stdout_has(&format!("node10,{node10},OFF\n"))
            .assert_stdout_has(&format!("web server 01,{web},OFF\n"))
            .assert_stdout_has("web/01,");
        for row in rows(&out) {
            let state = sim.state(&row[1]);
            let want = if state.power == "poweredOn" {
                "ON"
            } else {
                "OFF"
            };
            assert_eq!(row[2], want, "{api}: {row:?}");
        }
        fence(&sim, &["-o", "monitor", &api_arg(api)])
            .assert_code(0)
            .assert_stdout_has("");
    }
    // list-status reads vim25's states, monitor checks vim25 answers: one
    // session each; list opens none.
    assert_eq!(sim.sessions().logins, 4, "{:?}", sim.sessions());
    assert_states(&sim, &before, &[], "list");
}

// -------------------------------------------------------- finding the VM

/// fence-agents' agent powers off the first VM the server lists (see
/// rest_sim.rs); this one refuses and names them all.
#[test]
fn a_name_shared_by_two_vms_is_refused_and_nothing_is_powered() {
    let Some(sim) = plain() else { return };
    let before = sim.all_states();
    for api in APIS {
        let dups: Vec<String> = sim
            .inventory
            .iter()
            .filter(|v| v.name == "dup")
            .map(|v| v.moref.clone())
            .collect();
        let out = fence(&sim, &["-o", "off", "-n", "dup", &api_arg(api)]);
        out.assert_code(1)
            .assert_stderr_has("Failed: Unable to obtain correct plug status")
            .assert_stderr_has("plug \"dup\" matches 2 virtual machines; nothing was done")
            .assert_stderr_has("Use the VM's id (vm-N) or its instance UUID")
            .assert_stderr_has(&format!(
                "\"dup\" in folder \"vm\" of datacenter \"DC0\" ({})",
                dups[0]
            ))
            .assert_stderr_has(&format!(
                "\"dup\" in folder \"sub\" of datacenter \"DC0\" ({})",
                dups[1]
            ));
        assert!(!out.stdout.contains("Success"), "{}", out.stdout);
        // Clones share a BIOS UUID; their instance UUIDs differ.
        let bios = sim.vm("clone-a", None).bios_uuid.clone();
        fence(&sim, &["-o", "reboot", "-n", &bios, &api_arg(api)])
            .assert_code(1)
            .assert_stderr_has("matches 2 virtual machines")
            .assert_stderr_has("\"clone-a\"")
            .assert_stderr_has("\"clone-b\"");
        // A valid plug first does not make the ambiguous one pass.
        fence(&sim, &["-o", "off", "-n", "node10,dup", &api_arg(api)]).assert_code(1);
    }
    assert_states(&sim, &before, &[], "ambiguous plugs");
    for api in APIS {
        let inst = sim.vm("clone-b", None).instance_uuid.to_uppercase();
        fence(&sim, &["-o", "status", "-n", &inst, &api_arg(api)])
            .assert_code(0)
            .assert_stdout_has("Status: ON");
    }
    fence(&sim, &["-o", "status", "-n", "nosuchvm"])
        .assert_code(1)
        .assert_stderr_has("no virtual machine matches plug \"nosuchvm\"");
    // No inventory paths in this API: a path matches nothing.
    fence(&sim, &["-o", "status", "-n", "/DC0/vm/node10"])
        .assert_code(1)
        .assert_stderr_has("no virtual machine matches plug \"/DC0/vm/node10\"");
}

#[test]
fn node1_in_two_datacenters_with_and_without_vmware_datacenter() {
    let Some(sim) = https() else { return };
    let before = sim.all_states();
    let dc0 = sim.vm("node1", Some("DC0")).moref.clone();
    let dc1 = sim.vm("node1", Some("DC1")).moref.clone();
    fence(&sim, &["-o", "off", "-n", "node1"])
        .assert_code(1)
        .assert_stderr_has(&format!("of datacenter \"DC0\" ({dc0})"))
        .assert_stderr_has(&format!("of datacenter \"DC1\" ({dc1})"));
    assert_states(&sim, &before, &[], "node1 without a datacenter");
    for api in APIS {
        fence(
            &sim,
            &["-o", "off", "-n", "node1", "-s", "DC1", &api_arg(api)],
        )
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
        assert_states(&sim, &before, &[(&dc1, "poweredOff")], "node1 in DC1");
        fence(
            &sim,
            &["-o", "on", "-n", "node1", "-s", "DC1", &api_arg(api)],
        )
        .assert_code(0);
        fence(
            &sim,
            &[
                "-o",
                "status",
                "-n",
                "node1",
                "--vmware-datacenter=DC0",
                &api_arg(api),
            ],
        )
        .assert_code(0);
        fence(
            &sim,
            &["-o", "status", "-n", "dc1only", "-s", "DC0", &api_arg(api)],
        )
        .assert_code(1)
        .assert_stderr_has("no virtual machine matches plug \"dc1only\" in datacenter \"DC0\"");
        // A UUID vim25 finds in another datacenter is not in scope.
        let dc1_uuid = sim.vm("node1", Some("DC1")).instance_uuid.clone();
        fence(
            &sim,
            &["-o", "status", "-n", &dc1_uuid, "-s", "DC0", &api_arg(api)],
        )
        .assert_code(1)
        .assert_stderr_has("no virtual machine matches plug");
        fence(
            &sim,
            &["-o", "status", "-n", &dc1_uuid, "-s", "DC1", &api_arg(api)],
        )
        .assert_code(0);
        fence(
            &sim,
            &["-o", "status", "-n", "node1", "-s", "DC9", &api_arg(api)],
        )
        .assert_code(1)
        .assert_stderr_has("there is no datacenter \"DC9\"");
        let out = fence(&sim, &["-o", "list", "-s", "DC1", &api_arg(api)]);
        out.assert_code(0);
        let names: BTreeSet<String> = rows(&out).into_iter().map(|r| r[0].clone()).collect();
        assert!(
            names.contains("dc1only") && names.contains("node1"),
            "{names:?}"
        );
        assert!(!names.contains("node10"), "{names:?}");
        let dc1_count = sim
            .inventory
            .iter()
            .filter(|v| v.datacenter == "DC1")
            .count();
        assert_eq!(out.stdout.lines().count(), dc1_count, "{api}");
    }
    assert_states(&sim, &before, &[], "node1");
}

#[test]
fn escaped_names_ids_and_uuids() {
    let Some(sim) = plain() else { return };
    let node10 = sim.vm("node10", None).clone();
    let before = sim.all_states();
    for api in APIS {
        for plug in [
            "web/01",
            "web%2f01",
            "web server 01",
            "ünïcødé-vm",
            "a<b>&\"c'",
            node10.moref.as_str(),
            node10.instance_uuid.as_str(),
            node10.bios_uuid.as_str(),
        ] {
            fence(&sim, &["-o", "status", "-n", plug, &api_arg(api)])
                .assert_code(0)
                .assert_stdout_has("Status: ON");
        }
        // A vm-N plug that is no VM, and one of another shape.
        fence(&sim, &["-o", "status", "-n", "vm-99999", &api_arg(api)]).assert_code(1);
    }
    assert_states(&sim, &before, &[], "status by every form");
    let odd = sim.vm("a<b>&\"c'", None).moref.clone();
    fence(&sim, &["-o", "off", "-n", "a<b>&\"c'"]).assert_code(0);
    let web = sim.vm("web%2f01", None).moref.clone();
    fence(&sim, &["-o", "off", "-n", "web/01", "--api-path=/rest"]).assert_code(0);
    assert_states(
        &sim,
        &before,
        &[(&odd, "poweredOff"), (&web, "poweredOff")],
        "escaped names",
    );
}

// ------------------------------------------------------------------ lists

/// 4,100 VMs: more than /rest (1,000) and /api (4,000) list at once, with
/// no filter; the same 4,100 + the base inventory come out, once each.
#[test]
fn list_above_the_servers_cap_on_both_apis() {
    let Some(sim) = sim_with(Options {
        plain_http: true,
        extra_vms: Some(4100),
        ..Options::default()
    }) else {
        return;
    };
    assert!(sim.inventory.len() > 4100);
    let want = expected_list(&sim);
    let before = sim.all_states();
    for api in APIS {
        let c0 = calls(&sim);
        let out = checked(
            &sim,
            agent(&sim)
                .args(["-o", "list", &api_arg(api)])
                .limit(Duration::from_secs(120)),
        );
        out.assert_code(0);
        let listed: Vec<(String, String)> = rows(&out)
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
        assert_eq!(listed.len(), sim.inventory.len(), "{api}: each VM once");
        assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), want, "{api}");
        let c1 = calls(&sim);
        let folder_lists = format!("GET {api}/vcenter/folder");
        assert!(
            count(&c1, &folder_lists) > count(&c0, &folder_lists),
            "{api}: the list was split per folder: {c1:?}"
        );
        let out = checked(
            &sim,
            agent(&sim)
                .args(["-o", "monitor", &api_arg(api)])
                .limit(Duration::from_secs(120)),
        );
        out.assert_code(0);
    }
    // list-status at that size, once (the /api default).
    let out = checked(
        &sim,
        agent(&sim)
            .args(["-o", "list-status"])
            .limit(Duration::from_secs(120)),
    );
    out.assert_code(0);
    let rows = rows(&out);
    assert_eq!(rows.len(), sim.inventory.len());
    let on = rows.iter().filter(|r| r[2] == "ON").count();
    let truly_on = before.iter().filter(|s| s.power == "poweredOn").count();
    assert_eq!(on, truly_on);
    assert_states(&sim, &before, &[], "lists of 4,100 VMs");
    // fence-agents' agent fails there (rest_sim.rs pins its message).
    if py_agent_path().is_some() {
        py_agent(&sim, &["-o", "list"]).assert_code(1);
    }
}

/// With the cap lowered, the split lists are merged into exactly the
/// list the uncapped server gives; with a cap nothing fits under, list
/// and monitor fail (fence-agents PR #333 let monitor pass with an empty
/// list then).
#[test]
fn capped_lists_are_merged_exactly_and_fail_when_nothing_fits() {
    let Some(sim) = plain() else { return };
    sim.set_power(&sim.vm("node10", None).moref, "poweredOff");
    let before = sim.all_states();
    let uncapped = fence(&sim, &["-o", "list-status"]);
    uncapped.assert_code(0);
    // 22 VMs: a cap of 15 is exceeded by the whole list only (a split per
    // folder is enough), 14 also by DC0's folder "vm" (then per host).
    for (cap, api, splits) in [
        (15, "/api", &["per folders"][..]),
        (14, "/rest", &["per folders", "per hosts"][..]),
    ] {
        sim.set_rest_cap("vm", cap, cap);
        let capped = fence(&sim, &["-o", "list-status", "-vv", &api_arg(api)]);
        capped.assert_code(0);
        for split in splits {
            capped.assert_stderr_has(split);
        }
        assert_eq!(capped.stdout, uncapped.stdout, "cap {cap} on {api}");
    }
    sim.set_rest_cap("vm", 0, 0);
    for api in APIS {
        let out = fence(&sim, &["-o", "list", &api_arg(api)]);
        out.assert_code(1)
            .assert_stderr_has("UNABLE_TO_ALLOCATE_RESOURCE")
            .assert_stderr_has("even per folder, host and power state");
        assert_eq!(out.stdout, "");
        fence(&sim, &["-o", "monitor", &api_arg(api)])
            .assert_code(1)
            .assert_stderr_has("UNABLE_TO_ALLOCATE_RESOURCE");
    }
    assert_states(&sim, &before, &[], "capped lists");
}

#[test]
fn the_filter_option_in_either_spelling_on_either_api() {
    let Some(sim) = plain() else { return };
    let node10 = sim.vm("node10", None).moref.clone();
    let want: BTreeSet<String> = sim
        .inventory
        .iter()
        .filter(|v| v.name == "node1" || v.name == "node10")
        .map(|v| v.moref.clone())
        .collect();
    assert_eq!(want.len(), 3);
    for api in APIS {
        for filter in [
            "filter.names=node1&filter.names=node10",
            "filter.names.1=node1&filter.names.2=node10",
            "names=node1,node10",
            "names=node1&names=node10",
        ] {
            let out = fence(&sim, &["-o", "list", &api_arg(api), "--filter", filter]);
            out.assert_code(0);
            let ids: BTreeSet<String> = rows(&out).into_iter().map(|r| r[1].clone()).collect();
            assert_eq!(ids, want, "{filter} on {api}");
        }
        // With the datacenter too: both conditions.
        let out = fence(
            &sim,
            &[
                "-o",
                "list",
                &api_arg(api),
                "-s",
                "DC1",
                "--filter",
                "filter.names=node1",
            ],
        );
        out.assert_code(0);
        assert_eq!(
            out.stdout,
            format!("node1,{}\n", sim.vm("node1", Some("DC1")).moref)
        );
    }
    // Another field; and on stdin, as Pacemaker passes it.
    sim.set_power(&node10, "poweredOff");
    let before = sim.all_states();
    let stdin = format!(
        "ip=127.0.0.1\nipport={}\nusername={USER}\npassword={PASSWORD}\nnotls=1\naction=list-status\nfilter=filter.power_states=POWERED_OFF\n",
        sim.port
    );
    checked(&sim, AgentRun::new(rest_agent()).stdin(stdin))
        .assert_code(0)
        .assert_stdout_has(&format!("node10,{node10},OFF\n"));
    // monitor honours it: a filter that matches nothing fails it.
    fence(&sim, &["-o", "monitor", "--filter", "filter.names=nosuch"])
        .assert_code(1)
        .assert_stderr_has("lists no virtual machine");
    // A plug is found whatever the filter.
    fence(
        &sim,
        &[
            "-o",
            "status",
            "-n",
            "dc1only",
            "--filter",
            "filter.names=node1",
        ],
    )
    .assert_code(0);
    // The server refuses a field it does not know; a filter that is not
    // one is refused before anything is contacted.
    fence(&sim, &["-o", "list", "--filter", "filter.nosuch=1"])
        .assert_code(1)
        .assert_stderr_has("INVALID_ARGUMENT");
    let logins = sim.rest_sessions().logins;
    fence(&sim, &["-o", "list", "--filter", "filter.=x"])
        .assert_code(1)
        .assert_stderr_has("filter:");
    fence(
        &sim,
        &[
            "-o",
            "list",
            "-s",
            "DC1",
            "--filter",
            "datacenters=datacenter-2",
        ],
    )
    .assert_code(1)
    .assert_stderr_has("datacenters and vmware_datacenter");
    assert_eq!(sim.rest_sessions().logins, logins);
    assert_states(&sim, &before, &[], "filters");
}

// ------------------------------------------------- which API, and logins

#[test]
fn api_falls_back_to_rest_only_when_api_answers_404() {
    let Some(sim) = plain() else { return };
    let before = sim.all_states();
    let api_login = "POST /api/session";
    let rest_login = "POST /rest/com/vmware/cis/session";
    // A server with /api: /rest is never tried.
    fence(&sim, &["-o", "status", "-n", "node10"]).assert_code(0);
    assert_eq!(calls_under(&sim, "/rest/"), 0, "{:?}", calls(&sim));
    // A vCenter before 7.0 U2: /api answers 404, /rest is used.
    sim.set_rest_api_enabled(false);
    let c0 = calls(&sim);
    let node10 = sim.vm("node10", None).moref.clone();
    fence(&sim, &["-o", "off", "-n", "node10", "-v"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF")
        .assert_stderr_has("HTTP 404")
        .assert_stderr_has("using /rest");
    let c1 = calls(&sim);
    assert_eq!(count(&c1, api_login) - count(&c0, api_login), 1);
    assert_eq!(count(&c1, rest_login) - count(&c0, rest_login), 1);
    assert_states(&sim, &before, &[(&node10, "poweredOff")], "fallback");
    // api_path=/api: that API or nothing.
    let out = fence(&sim, &["-o", "on", "-n", "node10", "--api-path=/api"]);
    out.assert_code(1)
        .assert_stderr_has("Unable to connect/login to fencing device")
        .assert_stderr_has("no /api API here (api_path)");
    assert_eq!(count(&calls(&sim), rest_login), count(&c1, rest_login));
    // api_path=/rest never asks /api.
    sim.set_rest_api_enabled(true);
    let c2 = calls(&sim);
    fence(&sim, &["-o", "on", "-n", "node10", "--api-path=/rest"]).assert_code(0);
    assert_eq!(count(&calls(&sim), api_login), count(&c2, api_login));
    assert_states(&sim, &before, &[], "api_path");
    // A wrong password is the answer: /rest is not tried after a 401.
    let c3 = calls(&sim);
    let out = checked(
        &sim,
        login_as(&sim, USER, "wrong password").args(["-o", "status", "-n", "node10", "-vvv"]),
    );
    out.assert_code(1)
        .assert_stderr_has("Unable to connect/login to fencing device")
        .assert_stderr_has("HTTP 401 UNAUTHENTICATED")
        .assert_nothing_contains("wrong password");
    let c4 = calls(&sim);
    assert_eq!(count(&c4, api_login) - count(&c3, api_login), 1);
    assert_eq!(count(&c4, rest_login), count(&c3, rest_login));
    assert_eq!(sim.rest_sessions().logins, sim.rest_sessions().logouts);
    // api_path must name one of the two.
    fence(&sim, &["-o", "status", "-n", "node10", "--api-path=/sdk"])
        .assert_code(1)
        .assert_stderr_has("must end with /api");
}

#[test]
fn an_esx_host_has_no_automation_api() {
    let Some(sim) = sim_with(Options {
        plain_http: true,
        esx: true,
        ..Options::default()
    }) else {
        return;
    };
    let before = sim.all_states();
    fence(&sim, &["-o", "status", "-n", "node10"])
        .assert_code(1)
        .assert_stderr_has("Unable to connect/login to fencing device")
        .assert_stderr_has("offers no vSphere Automation API")
        .assert_stderr_has("use fence_vmware_soap");
    assert_states(&sim, &before, &[], "ESXi");
}

#[test]
fn a_full_session_table_is_a_clear_login_failure() {
    let Some(sim) = plain() else { return };
    let before = sim.all_states();
    sim.set_rest_session_limit(0);
    let out = fence(&sim, &["-o", "off", "-n", "node10"]);
    out.assert_code(1)
        .assert_stderr_has("Unable to connect/login to fencing device")
        .assert_stderr_has("HTTP 503 SERVICE_UNAVAILABLE: User session count is limited to 0")
        .assert_stderr_has("failedToLoginMaxUserSessionCountReached");
    assert!(!out.stdout.contains("Success"));
    let s = sim.rest_sessions();
    assert_eq!((s.refused, s.logins), (1, 0));
    assert_eq!(
        calls_under(&sim, "/rest/"),
        0,
        "a 503 is no reason to try /rest"
    );
    assert_states(&sim, &before, &[], "session limit");
    sim.set_rest_session_limit(550);
    fence(&sim, &["-o", "status", "-n", "node10"]).assert_code(0);
}

/// vCenter ends idle sessions (30 min): the next call answers 401, the
/// agent logs in once more and finishes. The session ends during the
/// first plug's power call; the second plug's power call finds it gone.
#[test]
fn an_expired_session_is_logged_into_again_once() {
    let Some(sim) = slow(3) else { return };
    let vm = sim.vm("slow", None).moref.clone();
    let node10 = sim.vm("node10", None).moref.clone();
    let before = sim.all_states();
    let child = agent(&sim).args(["-o", "off", "-n", "slow,node10", "--power-timeout=20"]);
    let runner = std::thread::spawn(move || child.run());
    wait_for_call(&sim, "POST /api/vcenter/vm/{vm}/power");
    assert_eq!(sim.expire_rest_sessions(), 1);
    let out = runner.join().expect("agent run");
    out.assert_code(0).assert_stdout_has("Success: Powered OFF");
    let s = sim.rest_sessions();
    // The expired session needs no deletion; the second is deleted.
    assert_eq!((s.logins, s.logouts, s.active), (2, 1, 0), "{}", out.stderr);
    // vim25's session was not touched by the Automation API's ending.
    let v = sim.sessions();
    assert_eq!((v.logins, v.logouts, v.active), (1, 1, 0), "{}", out.stderr);
    assert_states(
        &sim,
        &before,
        &[(&vm, "poweredOff"), (&node10, "poweredOff")],
        "expired session",
    );
}

/// The vim25 session ends (an administrator's TerminateSession) during
/// the power call: the verification's read logs into vim25 again, once,
/// and the Automation API's session is kept.
#[test]
fn an_ended_vim25_session_is_logged_into_again_once() {
    let Some(sim) = slow(3) else { return };
    let vm = sim.vm("slow", None).moref.clone();
    let before = sim.all_states();
    let child = agent(&sim).args(["-o", "off", "-n", "slow", "--power-timeout=20", "-v"]);
    let runner = std::thread::spawn(move || child.run());
    wait_for_call(&sim, "POST /api/vcenter/vm/{vm}/power");
    assert_eq!(sim.sessions().active, 1);
    sim.terminate_sessions();
    let out = runner.join().expect("agent run");
    out.assert_code(0)
        .assert_stdout_has("Success: Powered OFF")
        .assert_stderr_has("The vim25 session ended");
    let v = sim.sessions();
    assert_eq!((v.logins, v.logouts, v.active), (2, 1, 0), "{}", out.stderr);
    let s = sim.rest_sessions();
    assert_eq!((s.logins, s.logouts, s.active), (1, 1, 0), "{}", out.stderr);
    assert_states(&sim, &before, &[(&vm, "poweredOff")], "ended vim25 session");
}

#[test]
fn tls_is_verified_and_plain_http_only_when_asked() {
    let Some(sim) = https() else { return };
    let before = sim.all_states();
    let base = || {
        AgentRun::new(rest_agent())
            .args(["-a", "127.0.0.1", "-u", &sim.port.to_string()])
            .args(["-l", USER, "-p", PASSWORD, "-o", "status", "-n", "node10"])
    };
    let untrusting = |run: AgentRun| {
        run.env("SSL_CERT_FILE", "/nonexistent")
            .env("SSL_CERT_DIR", "/nonexistent")
    };
    checked(&sim, untrusting(base()))
        .assert_code(1)
        .assert_stderr_has("Unable to connect/login to fencing device")
        .assert_stderr_has("certificate");
    checked(&sim, base().env("SSL_CERT_FILE", sim.ca()))
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    checked(&sim, untrusting(base()).args(["--ssl-insecure", "-v"]))
        .assert_code(0)
        .assert_stderr_has("NOT verified");
    // A CA that did not sign the server's certificate.
    let other = TempCa::new();
    checked(
        &sim,
        base().args([format!("--cacert={}", other.0.display())]),
    )
    .assert_code(1)
    .assert_stderr_has("not trusted");
    assert_eq!(
        sim.rest_sessions().logins,
        2,
        "only the trusted runs logged in"
    );
    // Plain HTTP to an HTTPS server: only with notls, and it fails.
    checked(&sim, base().args(["--notls"])).assert_code(1);
    assert_states(&sim, &before, &[], "TLS");

    let Some(plain) = plain() else { return };
    let to_plain = |more: &str| {
        checked(
            &plain,
            AgentRun::new(rest_agent()).stdin(format!(
                "ipaddr=127.0.0.1\nipport={}\nlogin={USER}\npasswd={PASSWORD}\naction=status\nport=node10\n{more}",
                plain.port
            )),
        )
    };
    to_plain("").assert_code(1);
    to_plain("ssl=0\n")
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    to_plain("notls=1\n").assert_code(0);
    to_plain("notls=1\nssl_insecure=1\n")
        .assert_code(1)
        .assert_stderr_has("notls");
}

/// A CA file of one certificate that signed nothing the simulator serves:
/// the simulator's own CA of another simulator would do, but this one
/// comes from `openssl req`, so no second simulator is needed.
struct TempCa(PathBuf);

impl TempCa {
    fn new() -> TempCa {
        let dir = std::env::temp_dir().join(format!("cts-rest-ca-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("other-ca.pem");
        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=Another CA", "-keyout"])
            .arg(dir.join("other-ca.key"))
            .arg("-out")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success());
        TempCa(path)
    }
}

#[test]
fn the_password_and_the_credentials_never_show_even_at_vvv() {
    let Some(sim) = plain() else { return };
    let basic = base64(format!("{USER}:{PASSWORD}").as_bytes());
    let before = sim.all_states();
    for api in APIS {
        fence(
            &sim,
            &["-o", "reboot", "-n", "node10", "-vvv", &api_arg(api)],
        )
        .assert_code(0)
        .assert_stderr_has("GET /")
        .assert_nothing_contains(PASSWORD)
        .assert_nothing_contains(&basic);
    }
    assert_states(&sim, &before, &[], "reboots at -vvv");
}

/// What distribution guides write for fence_vmware_rest (ip, username,
/// password, ssl_insecure=1, a host map), as Pacemaker passes it.
#[test]
fn a_distribution_guides_configuration_on_stdin() {
    let Some(sim) = https() else { return };
    let before = sim.all_states();
    let stdin = format!(
        "ip=127.0.0.1\nipport={}\nusername={USER}\npassword={PASSWORD}\nssl_insecure=1\naction=reboot\nport=node10\nnodename=node10\npcmk_host_map=node-a:node10;node-b:web/01\n",
        sim.port
    );
    let c0 = calls(&sim);
    checked(&sim, AgentRun::new(rest_agent()).stdin(stdin))
        .assert_code(0)
        .assert_stdout_has("Success: Rebooted");
    let c1 = calls(&sim);
    let changes = "POST /api/vcenter/vm/{vm}/power";
    assert_eq!(count(&c1, changes) - count(&c0, changes), 2);
    assert_states(&sim, &before, &[], "reboot from stdin");
}

// --------------------------------------------- what the agent refuses

/// list-status on `api` lists every VM once, with UNKNOWN for those in
/// `unknown` and the simulator's own state for the others.
fn assert_list_status(sim: &Vcsim, api: &str, unknown: &[String], what: &str) {
    let out = fence(sim, &["-o", "list-status", &api_arg(api)]);
    out.assert_code(0);
    let listed = rows(&out);
    assert_eq!(listed.len(), sim.inventory.len(), "{what}");
    for row in listed {
        let want = if unknown.contains(&row[1]) {
            "UNKNOWN"
        } else if sim.state(&row[1]).power == "poweredOn" {
            "ON"
        } else {
            "OFF"
        };
        assert_eq!(row[2], want, "{what}: {row:?}");
    }
}

/// Neither a status nor a success was printed.
fn assert_nothing_reported(out: &Outcome, what: &str) {
    assert!(
        !out.stdout.contains("Success") && !out.stdout.contains("Status"),
        "{what}: {}",
        out.stdout
    );
}

/// A VM vCenter is not in touch with: its host lost (disconnected,
/// notResponding), or the VM itself orphaned (unregistered on its host,
/// perhaps running elsewhere), inaccessible, invalid or disconnected while
/// its host is connected. Its power state is only the last one vCenter
/// heard, which the Automation API shows like any other; vim25's
/// connection states, read with every power state, say it is not to be
/// believed. status exits 1, never 2; off, on and reboot act on nothing
/// and never say Success; list-status says UNKNOWN for it.
#[test]
fn a_vm_vcenter_is_not_in_touch_with_is_never_reported_fenced() {
    let Some(sim) = plain() else { return };
    let node10 = sim.vm("node10", None).moref.clone();
    let host = sim.state(&node10).host;
    let neighbours: Vec<String> = sim
        .all_states()
        .iter()
        .filter(|s| s.host == host)
        .map(|s| s.moref.clone())
        .collect();
    // (what is lost, its state, the VM's state then, the host's, UNKNOWN)
    let losses = [
        (
            "host",
            "disconnected",
            "disconnected",
            "disconnected",
            &neighbours,
        ),
        (
            "host",
            "notResponding",
            "disconnected",
            "notResponding",
            &neighbours,
        ),
        (
            "vm",
            "orphaned",
            "orphaned",
            "connected",
            &vec![node10.clone()],
        ),
        (
            "vm",
            "inaccessible",
            "inaccessible",
            "connected",
            &vec![node10.clone()],
        ),
        (
            "vm",
            "invalid",
            "invalid",
            "connected",
            &vec![node10.clone()],
        ),
        (
            "vm",
            "disconnected",
            "disconnected",
            "connected",
            &vec![node10.clone()],
        ),
    ];
    for (lost, state, vm_state, host_state, unknown) in losses {
        let set = |s: &str| match lost {
            "host" => sim.set_host_connection(&host, s),
            _ => sim.set_connection(&node10, s),
        };
        set(state);
        for api in APIS {
            for (action, stale) in [
                ("status", "poweredOff"),
                ("status", "poweredOn"),
                ("off", "poweredOff"),
                ("off", "poweredOn"),
                ("reboot", "poweredOff"),
                ("on", "poweredOn"),
                ("on", "poweredOff"),
            ] {
                sim.set_power(&node10, stale);
                let before = sim.all_states();
                let powered = power_calls(&sim);
                let reads = vim25_calls(&sim, "RetrievePropertiesEx");
                let what = format!("{lost} {state}, {action} of a VM {stale}, {api}");
                let out = fence(&sim, &["-o", action, "-n", "node10", &api_arg(api)]);
                out.assert_code(1)
                    .assert_stderr_has(
                        "Failed: Unable to obtain correct plug status or plug is not available",
                    )
                    .assert_stderr_has(&format!(
                        "the device cannot vouch for the power state of plug \"node10\" ({node10}): its connection state is {vm_state}"
                    ))
                    .assert_stderr_has(&format!("({host}) is {host_state}"))
                    .assert_stderr_has(&format!("{stale} is only the last state"));
                assert_nothing_reported(&out, &what);
                assert_eq!(power_calls(&sim), powered, "{what}: something was powered");
                assert!(
                    vim25_calls(&sim, "RetrievePropertiesEx") > reads,
                    "{what}: vim25 was not read"
                );
                assert_states(&sim, &before, &[], &what);
            }
            let before = sim.all_states();
            let what = format!("{lost} {state}, list-status on {api}");
            assert_list_status(&sim, api, unknown, &what);
            assert_states(&sim, &before, &[], &what);
        }
        // In touch again: believed again.
        set("connected");
        sim.set_power(&node10, "poweredOff");
        fence(&sim, &["-o", "status", "-n", "node10"])
            .assert_code(2)
            .assert_stdout_has("Status: OFF");
    }
}

/// The power call is done and the VM off, then vCenter loses it before
/// the verification reads it (power_wait keeps that window open): the
/// off that happened is never reported, for the state read afterwards
/// is not vouched for.
#[test]
fn a_vm_orphaned_between_the_power_call_and_the_verification_is_never_reported_fenced() {
    let Some(sim) = plain() else { return };
    let node10 = sim.vm("node10", None).moref.clone();
    for (api, action, done, stale) in [
        ("/api", "off", "poweredOff", "poweredOff"),
        ("/rest", "off", "poweredOff", "poweredOff"),
        ("/api", "reboot", "poweredOff", "poweredOff"),
        ("/rest", "on", "poweredOn", "poweredOn"),
    ] {
        sim.set_connection(&node10, "connected");
        sim.set_power(
            &node10,
            if done == "poweredOn" {
                "poweredOff"
            } else {
                "poweredOn"
            },
        );
        let before = sim.all_states();
        let powered = power_calls(&sim);
        let child = agent(&sim)
            .args([
                "-o",
                action,
                "-n",
                "node10",
                "--power-wait=3",
                &api_arg(api),
            ])
            .limit(Duration::from_secs(40));
        let runner = std::thread::spawn(move || child.run());
        let until = Instant::now() + Duration::from_secs(20);
        while sim.power(&node10) != done {
            assert!(Instant::now() < until, "{api} {action}: never {done}");
            std::thread::sleep(Duration::from_millis(20));
        }
        sim.set_connection(&node10, "orphaned");
        let out = runner.join().expect("agent run");
        assert_sessions_closed(&sim, &out);
        let what = format!("{action} on {api}");
        out.assert_code(1)
            .assert_stderr_has("its connection state is orphaned")
            .assert_stderr_has(&format!("{stale} is only the last state"));
        assert!(!out.stdout.contains("Success"), "{what}: {}", out.stdout);
        assert_eq!(power_calls(&sim), powered + 1, "{what}: one power call");
        let now = sim.state(&node10);
        assert_eq!(
            (now.power.as_str(), now.connection.as_str()),
            (done, "orphaned"),
            "{what}"
        );
        sim.set_connection(&node10, "connected");
        assert_states(&sim, &before, &[(&node10, done)], &what);
    }
}

/// The Automation API lets the user in, vim25 does not (or /sdk is not
/// there): no state can be vouched for, so none is reported or acted on,
/// and the message says why and what to do; monitor fails too (the
/// device could fence nothing). list needs no state: it works, and opens
/// no vim25 session.
#[test]
fn without_vim25_no_state_is_vouched_for() {
    let Some(sim) = https() else { return };
    let node10 = sim.vm("node10", None).moref.clone();
    // An off that would otherwise be "Already OFF".
    sim.set_power(&node10, "poweredOff");
    let before = sim.all_states();
    let sdk = format!("{}/sdk", sim.base_url());
    for (knob, why) in [("login", "InvalidLogin"), ("sdk", "HTTP 404")] {
        match knob {
            "login" => sim.set_soap_login_allowed(USER, false),
            _ => sim.set_sdk_enabled(false),
        }
        for api in APIS {
            for args in [
                &["-o", "status", "-n", "node10"][..],
                &["-o", "off", "-n", "node10"],
                &["-o", "on", "-n", "node10"],
                &["-o", "reboot", "-n", "node10"],
                &["-o", "list-status"],
                &["-o", "monitor"],
                &["-o", "status", "-n", &sim.vm("node10", None).instance_uuid],
            ] {
                let what = format!("{knob}: {args:?} on {api}");
                let out = fence(&sim, &[args, &[&api_arg(api), "-vvv"]].concat());
                out.assert_code(1)
                    .assert_stderr_has(&format!("through vCenter's vim25 API at {sdk} failed"))
                    .assert_stderr_has(why)
                    .assert_stderr_has("System.Read")
                    .assert_stderr_has("fence_vmware_soap")
                    .assert_nothing_contains(PASSWORD);
                assert_nothing_reported(&out, &what);
                assert_eq!(power_calls(&sim), 0, "{what}");
            }
            let out = fence(&sim, &["-o", "list", &api_arg(api)]);
            out.assert_code(0);
            assert_eq!(rows(&out).len(), sim.inventory.len());
        }
        assert_states(&sim, &before, &[], knob);
        sim.set_soap_login_allowed(USER, true);
        sim.set_sdk_enabled(true);
    }
    assert_eq!(sim.sessions().logins, 0, "list opened vim25");
    // vim25 back: believed again.
    fence(&sim, &["-o", "off", "-n", "node10"])
        .assert_code(0)
        .assert_stdout_has("Success: Already OFF");
    fence(&sim, &["-o", "monitor"]).assert_code(0);
    assert_eq!(sim.sessions().logins, 2);
    assert_states(&sim, &before, &[], "vim25 back");
}

/// A UUID plug costs vim25 one SearchIndex call per kind of UUID, not a
/// request per VM: among 4,100 more VMs it is found within the default
/// timeouts (shell_timeout 5 s bounds the lookup and every read).
#[test]
fn uuid_plugs_among_4100_vms_take_one_search_index_call_per_kind() {
    let Some(sim) = sim_with(Options {
        plain_http: true,
        extra_vms: Some(4100),
        ..Options::default()
    }) else {
        return;
    };
    let before = sim.all_states();
    let node10 = sim.vm("node10", None).clone();
    // extra-04099 is one of the three in four powered on.
    let extra = sim.vm("extra-04099", None).clone();
    for api in APIS {
        for uuid in [&node10.instance_uuid, &node10.bios_uuid] {
            let found = vim25_calls(&sim, "FindAllByUuid");
            let per_vm = format!("GET {api}/vcenter/vm/{{vm}}");
            let gets = count(&calls(&sim), &per_vm);
            let out = fence(&sim, &["-o", "status", "-n", uuid, &api_arg(api)]);
            out.assert_code(0).assert_stdout_has("Status: ON");
            assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
            assert_eq!(
                vim25_calls(&sim, "FindAllByUuid") - found,
                2,
                "{api} {uuid}"
            );
            assert_eq!(
                count(&calls(&sim), &per_vm),
                gets,
                "{api}: a request per VM"
            );
        }
    }
    fence(&sim, &["-o", "off", "-n", &extra.bios_uuid])
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    // Clones share a BIOS UUID: refused, whatever the inventory's size.
    fence(
        &sim,
        &["-o", "off", "-n", &sim.vm("clone-a", None).bios_uuid],
    )
    .assert_code(1)
    .assert_stderr_has("matches 2 virtual machines");
    assert_states(&sim, &before, &[(&extra.moref, "poweredOff")], "UUIDs");
}

/// The host is lost while the power call runs, and vCenter's last word
/// is "poweredOff": the verification must refuse it.
#[test]
fn a_host_lost_during_the_power_call_fails_the_off() {
    let Some(sim) = slow(4) else { return };
    let vm = sim.vm("slow", None).moref.clone();
    let host = sim.state(&vm).host;
    let child = agent(&sim)
        .args(["-o", "off", "-n", "slow", "--power-timeout=20"])
        .limit(Duration::from_secs(40));
    let runner = std::thread::spawn(move || child.run());
    wait_for_call(&sim, "POST /api/vcenter/vm/{vm}/power");
    sim.set_host_connection(&host, "notResponding");
    let out = runner.join().expect("agent run");
    assert_sessions_closed(&sim, &out);
    out.assert_code(1)
        .assert_stderr_has("its connection state is disconnected")
        .assert_stderr_has("is notResponding");
    assert!(!out.stdout.contains("Success"), "{}", out.stdout);
}

/// Two fencers at once on one VM: the server refuses the second power
/// call as busy while the first runs (RESOURCE_BUSY, no task named); the
/// second waits one command time, asks again, and both verify the off.
#[test]
fn a_power_call_refused_as_busy_is_tried_again_after_one_command_time() {
    let Some(sim) = slow(3) else { return };
    let vm = sim.vm("slow", None).moref.clone();
    let before = sim.all_states();
    let first = agent(&sim).args(["-o", "off", "-n", "slow", "--power-timeout=30"]);
    let first = std::thread::spawn(move || first.run());
    wait_for_call(&sim, "POST /api/vcenter/vm/{vm}/power");
    let second = checked(
        &sim,
        agent(&sim).args(["-o", "off", "-n", "slow", "-v", "--power-timeout=30"]),
    );
    second
        .assert_code(0)
        .assert_stderr_has("RESOURCE_BUSY")
        .assert_stdout_has("Success:");
    first
        .join()
        .expect("first agent")
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    assert_eq!(count(&calls(&sim), "POST /api/vcenter/vm/{vm}/power"), 3);
    assert_states(&sim, &before, &[(&vm, "poweredOff")], "two fencers");
}

#[test]
fn sigterm_in_the_middle_deletes_the_session() {
    let Some(sim) = slow(20) else { return };
    let before = sim.all_states();
    for api in APIS {
        let s0 = sim.rest_sessions();
        let v0 = sim.sessions();
        let child = Command::new(rest_agent())
            .args(["-a", "127.0.0.1", "-u", &sim.port.to_string(), "-l", USER])
            .args(["-p", PASSWORD, "--notls", &api_arg(api)])
            .args(["-o", "off", "-n", "slow", "--power-timeout=60"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start agent");
        wait_for_call(&sim, power_call(api));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(sim.rest_sessions().active, 1);
        // The read before the power call opened the vim25 session.
        assert_eq!(sim.sessions().active, 1);
        let (status, out) = terminate(child, Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("interrupted by signal"), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("Success"));
        let s = sim.rest_sessions();
        assert_eq!(
            (s.logins - s0.logins, s.logouts - s0.logouts, s.active),
            (1, 1, 0),
            "{api}: {stderr}"
        );
        let v = sim.sessions();
        assert_eq!(
            (v.logins - v0.logins, v.logouts - v0.logouts, v.active),
            (1, 1, 0),
            "{api}, vim25: {stderr}"
        );
        // Let the simulator's slow task end before the next round.
        let until = Instant::now() + Duration::from_secs(30);
        while sim.power(&sim.vm("slow", None).moref) != "poweredOff" {
            assert!(Instant::now() < until, "the slow power-off never ended");
            std::thread::sleep(Duration::from_millis(200));
        }
        sim.set_power(&sim.vm("slow", None).moref, "poweredOn");
        assert_states(&sim, &before, &[], api);
    }
}

// ------------------------------ round trips, and the two logins at once

/// vim25 calls of one run, by method (those that changed).
fn vim25_delta(
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// A status is three requests to each API: its session opened, the VM
/// found (Automation API) or read with its host (vim25, one
/// RetrievePropertiesEx), the session closed; on either dialect, over
/// HTTPS and plain HTTP.
#[test]
fn a_status_is_three_requests_to_each_api() {
    for make in [https, plain] {
        let Some(sim) = make() else { return };
        for api in APIS {
            let (r0, v0) = (calls(&sim), sim.calls());
            fence(&sim, &["-o", "status", "-n", "node10", &api_arg(api)])
                .assert_code(0)
                .assert_stdout_has("Status: ON");
            let (r1, v1) = (calls(&sim), sim.calls());
            let rest = vim25_delta(&r0, &r1);
            let (login, list, logout) = match api {
                "/rest" => (
                    "POST /rest/com/vmware/cis/session",
                    "GET /rest/vcenter/vm",
                    "DELETE /rest/com/vmware/cis/session",
                ),
                _ => (
                    "POST /api/session",
                    "GET /api/vcenter/vm",
                    "DELETE /api/session",
                ),
            };
            let want: BTreeMap<String, u64> = [(login, 1), (list, 1), (logout, 1)]
                .iter()
                .map(|(k, n)| (k.to_string(), *n))
                .collect();
            assert_eq!(rest, want, "{api} over {}", sim.base_url());
            let vim25: BTreeMap<String, u64> = [
                ("RetrieveServiceContent", 1),
                ("Login", 1),
                ("RetrievePropertiesEx", 1),
                ("Logout", 1),
            ]
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect();
            assert_eq!(
                vim25_delta(&v0, &v1),
                vim25,
                "{api} over {}",
                sim.base_url()
            );
        }
    }
}

/// Both logins held one second by the server: side by side they cost
/// one second, not two (one after the other they would).
#[test]
fn the_two_logins_run_side_by_side() {
    let Some(sim) = plain() else { return };
    let hold = Duration::from_millis(1000);
    for api in APIS {
        let login = match api {
            "/rest" => "POST /rest/com/vmware/cis/session",
            _ => "POST /api/session",
        };
        sim.delay_rest(login, 1, hold);
        sim.delay_soap("Login", 1, hold);
        let out = fence(&sim, &["-o", "status", "-n", "node10", &api_arg(api)]);
        out.assert_code(0).assert_stdout_has("Status: ON");
        assert!(out.elapsed >= hold, "{api}: the logins were not held");
        assert!(
            out.elapsed < hold * 2 - Duration::from_millis(200),
            "{api}: the logins took {:?}, one after the other",
            out.elapsed
        );
    }
    // list needs no state: no vim25 login, held or not.
    sim.delay_soap("Login", 1, hold);
    let logins = sim.sessions().logins;
    let out = fence(&sim, &["-o", "list"]);
    out.assert_code(0);
    assert!(
        out.elapsed < hold,
        "list waited for vim25: {:?}",
        out.elapsed
    );
    assert_eq!(sim.sessions().logins, logins);
}

/// The Automation API refuses the login (its session table is full)
/// while vim25's login, held by the server, is under way: the agent
/// waits for that login, ends its session, and fails as before.
#[test]
fn a_refused_automation_api_login_ends_the_vim25_login_in_flight() {
    let Some(sim) = plain() else { return };
    let before = sim.all_states();
    let hold = Duration::from_millis(1500);
    sim.set_rest_session_limit(0);
    for (action, plug) in [("off", "node10"), ("status", "node10"), ("monitor", "")] {
        sim.delay_soap("Login", 1, hold);
        let v0 = sim.sessions();
        let mut args = vec!["-o", action];
        if !plug.is_empty() {
            args.extend(["-n", plug]);
        }
        let out = fence(&sim, &args);
        out.assert_code(1)
            .assert_stderr_has("Unable to connect/login to fencing device")
            .assert_stderr_has("HTTP 503 SERVICE_UNAVAILABLE");
        assert_nothing_reported(&out, action);
        assert!(
            out.elapsed >= hold,
            "{action}: the vim25 login was not waited for"
        );
        let v = sim.sessions();
        assert_eq!(
            (v.logins - v0.logins, v.logouts - v0.logouts, v.active),
            (1, 1, 0),
            "{action}: {}",
            out.stderr
        );
    }
    assert_eq!(power_calls(&sim), 0);
    assert_states(&sim, &before, &[], "REST refused");
    sim.set_rest_session_limit(550);
}

/// vim25 refuses the login while the Automation API's, held by the
/// server, is under way: the failure is the one a read makes without
/// vim25 (nothing vouched for, what to do), the Automation API's session
/// is ended, nothing is powered.
#[test]
fn a_refused_vim25_login_while_the_automation_api_logs_in_is_a_refusal() {
    let Some(sim) = plain() else { return };
    let node10 = sim.vm("node10", None).moref.clone();
    sim.set_power(&node10, "poweredOff");
    let before = sim.all_states();
    sim.set_soap_login_allowed(USER, false);
    for action in ["status", "off", "reboot"] {
        sim.delay_rest("POST /api/session", 1, Duration::from_millis(800));
        let out = fence(&sim, &["-o", action, "-n", "node10"]);
        out.assert_code(1)
            .assert_stderr_has("Failed: Unable to obtain correct plug status")
            .assert_stderr_has("through vCenter's vim25 API at")
            .assert_stderr_has("InvalidLogin")
            .assert_stderr_has("System.Read");
        assert_nothing_reported(&out, action);
    }
    sim.set_soap_login_allowed(USER, true);
    let s = sim.rest_sessions();
    assert_eq!((s.logins, s.logouts, s.active), (3, 3, 0));
    assert_eq!(sim.sessions().logins, 0);
    assert_eq!(power_calls(&sim), 0);
    assert_states(&sim, &before, &[], "vim25 refused");
}

/// SIGTERM while both logins are under way (each held by the server):
/// the handler waits for both, ends both sessions, and the agent exits 1.
#[test]
fn sigterm_during_the_two_logins_ends_both_sessions() {
    let Some(sim) = plain() else { return };
    let before = sim.all_states();
    for api in APIS {
        let login = match api {
            "/rest" => "POST /rest/com/vmware/cis/session",
            _ => "POST /api/session",
        };
        let hold = Duration::from_millis(1500);
        sim.delay_rest(login, 1, hold);
        sim.delay_soap("Login", 1, hold);
        let (s0, v0) = (sim.rest_sessions(), sim.sessions());
        let vim25_logins = vim25_calls(&sim, "Login");
        let child = Command::new(rest_agent())
            .args(["-a", "127.0.0.1", "-u", &sim.port.to_string(), "-l", USER])
            .args(["-p", PASSWORD, "--notls", &api_arg(api)])
            .args(["-o", "off", "-n", "node10"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start agent");
        wait_for_call(&sim, login);
        let until = Instant::now() + Duration::from_secs(20);
        while vim25_calls(&sim, "Login") == vim25_logins {
            assert!(Instant::now() < until, "{api}: vim25 Login never came");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Both held: neither session exists yet.
        assert_eq!((sim.rest_sessions().active, sim.sessions().active), (0, 0));
        let (status, out) = terminate(child, Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("interrupted by signal"), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("Success"));
        let (s, v) = (sim.rest_sessions(), sim.sessions());
        assert_eq!(
            (s.logins - s0.logins, s.logouts - s0.logouts, s.active),
            (1, 1, 0),
            "{api}: {stderr}"
        );
        assert_eq!(
            (v.logins - v0.logins, v.logouts - v0.logouts, v.active),
            (1, 1, 0),
            "{api}, vim25: {stderr}"
        );
    }
    assert_eq!(power_calls(&sim), 0);
    assert_states(&sim, &before, &[], "SIGTERM during the logins");
}

/// A vCenter that refuses to follow a VM to its host in one read (a
/// fault to the first RetrievePropertiesEx): the host is read on its own
/// after the VM, as before, and a lost host is still never reported off.
#[test]
fn a_vcenter_that_will_not_follow_a_vm_to_its_host_is_read_in_two_requests() {
    let Some(sim) = plain() else { return };
    let node10 = sim.vm("node10", None).moref.clone();
    let host = sim.state(&node10).host;
    let before = sim.all_states();
    let reads = vim25_calls(&sim, "RetrievePropertiesEx");
    sim.fail_soap_with_fault(
        "RetrievePropertiesEx",
        1,
        500,
        "InvalidProperty",
        "runtime.host",
    );
    fence(&sim, &["-o", "status", "-n", "node10"])
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    // Refused, then the VM, then its host.
    assert_eq!(vim25_calls(&sim, "RetrievePropertiesEx") - reads, 3);
    sim.set_power(&node10, "poweredOff");
    sim.set_host_connection(&host, "notResponding");
    for action in ["status", "off"] {
        sim.fail_soap_with_fault(
            "RetrievePropertiesEx",
            1,
            500,
            "InvalidProperty",
            "runtime.host",
        );
        let out = fence(&sim, &["-o", action, "-n", "node10"]);
        out.assert_code(1)
            .assert_stderr_has("its connection state is disconnected")
            .assert_stderr_has(&format!("({host}) is notResponding"));
        assert_nothing_reported(&out, action);
    }
    sim.set_host_connection(&host, "connected");
    assert_eq!(power_calls(&sim), 0);
    assert_states(&sim, &before, &[(&node10, "poweredOff")], "no traversal");
}

// --------------------------------- fence-agents' fence_vmware_rest, beside

/// fence-agents' Python agent, as Debian installs it; None when absent.
fn py_agent_path() -> Option<PathBuf> {
    fence_agents_program("fence_vmware_rest")
}

fn py_agent(sim: &Vcsim, args: &[&str]) -> Outcome {
    let program = py_agent_path().expect("fence-agents' fence_vmware_rest");
    let port = sim.port.to_string();
    // Its default is plain HTTP; it has no CA option.
    let mut argv = vec!["-a", "127.0.0.1", "-u", &port, "-l", USER, "-p", PASSWORD];
    if is_https(sim) {
        argv.push("--ssl-insecure");
    }
    argv.extend_from_slice(args);
    let out = AgentRun::new(program)
        .args(&argv)
        .limit(Duration::from_secs(60))
        .run();
    assert_sessions_closed(sim, &out);
    out
}

/// The status line and exit code of a run.
fn verdict(out: &Outcome) -> (i32, String) {
    (
        out.code,
        out.stdout
            .lines()
            .find(|l| l.starts_with("Status:") || l.starts_with("Success:"))
            .unwrap_or("")
            .to_string(),
    )
}

/// On one inventory, both agents give the same status, list and power
/// results wherever fence-agents' agent is right; where this one differs
/// on purpose, the test says so.
#[test]
fn both_agents_agree_where_fence_agents_is_right() {
    if skip_unless(
        py_agent_path().is_some(),
        "fence-agents' fence_vmware_rest is not installed",
    ) {
        return;
    }
    let Some(sim) = plain() else { return };
    sim.set_power(&sim.vm("clone-b", None).moref, "poweredOff");
    sim.set_power(&sim.vm("web server 01", None).moref, "suspended");
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for v in &sim.inventory {
        by_name.entry(&v.name).or_default().push(&v.moref);
    }
    let unique: Vec<&str> = by_name
        .iter()
        .filter(|(_, m)| m.len() == 1)
        .map(|(n, _)| *n)
        .collect();
    // status of every VM that has a name of its own (a suspended VM is
    // off to both). fence-agents' agent looks names up as vCenter stores
    // them (web%2f01), this one also as the user writes them.
    for name in &unique {
        let ours = verdict(&fence(&sim, &["-o", "status", "-n", name]));
        let theirs = verdict(&py_agent(&sim, &["-o", "status", "-n", name]));
        assert_eq!(ours, theirs, "status of {name:?}");
    }
    // list-status: the same state for every name of its own; this one
    // prints each VM's id as the alias (theirs: none) and names as the
    // user writes them.
    let ours = fence(&sim, &["-o", "list-status"]);
    let theirs = py_agent(&sim, &["-o", "list-status"]);
    ours.assert_code(0);
    theirs.assert_code(0);
    let states = |out: &Outcome| -> BTreeMap<String, String> {
        rows(out)
            .into_iter()
            .map(|r| (r[0].clone(), r[r.len() - 1].to_ascii_uppercase()))
            .collect()
    };
    let (ours_s, theirs_s) = (states(&ours), states(&theirs));
    for name in &unique {
        let shown = name.replace("%2f", "/");
        assert_eq!(
            ours_s.get(&shown),
            theirs_s.get(*name),
            "list-status of {name:?}"
        );
    }
    assert!(rows(&theirs).iter().all(|r| r[1].is_empty()));
    assert!(rows(&ours).iter().all(|r| r[1].starts_with("vm-")));
    // Power: what one does, the other reads.
    let node10 = sim.vm("node10", None).moref.clone();
    py_agent(&sim, &["-o", "off", "-n", "node10"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    assert_eq!(sim.power(&node10), "poweredOff");
    fence(&sim, &["-o", "status", "-n", "node10"]).assert_code(2);
    fence(&sim, &["-o", "on", "-n", "node10"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered ON");
    py_agent(&sim, &["-o", "status", "-n", "node10"])
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    let before = sim.all_states();
    for (verb, line) in [
        ("off", "Success: Powered OFF"),
        ("on", "Success: Powered ON"),
    ] {
        let theirs = py_agent(&sim, &["-o", verb, "-n", "DC0_H0_VM0"]);
        let ours = fence(&sim, &["-o", verb, "-n", "DC0_H0_VM1"]);
        assert_eq!(verdict(&ours), verdict(&theirs), "{verb}");
        assert_eq!(verdict(&ours), (0, line.to_string()));
    }
    assert_states(&sim, &before, &[], "both agents off then on");
    // Different on purpose: a shared name. Theirs powers off the first
    // "dup" listed and says Success; ours refuses and powers nothing.
    let dups = by_name["dup"].clone();
    let before = sim.all_states();
    fence(&sim, &["-o", "off", "-n", "dup"]).assert_code(1);
    assert_states(&sim, &before, &[], "ours on dup");
    py_agent(&sim, &["-o", "off", "-n", "dup"]).assert_code(0);
    assert_states(&sim, &before, &[(dups[0], "poweredOff")], "theirs on dup");
}
