//! The vSphere Automation (REST) API that the simulator wrapper serves
//! (cts/vcsim/rest.go): every shape it answers, pinned here so the emulation
//! cannot drift silently, and fence-agents' own Python fence_vmware_rest run
//! against it, its known faults included.
//!
//! VM state is read back through the simulator's control endpoint and, for
//! the claim that both APIs see one inventory, through SOAP (a minimal vim25
//! client below, speaking to the same listener).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use cts::support::{base64, fence_agents_program, skip_unless, AgentRun, Outcome};
use cts::vcsim::{self, encode, Options, Vcsim, PASSWORD, USER};
use cts::vim25_session::Vim25Session;

/// A simulator serving plain HTTP, or None (the test is skipped, loudly;
/// under CI it fails) where none can run.
fn plain() -> Option<Vcsim> {
    with(Options {
        plain_http: true,
        ..Options::default()
    })
}

fn with(opts: Options) -> Option<Vcsim> {
    Vcsim::start_if_available(opts)
}

// ------------------------------------------------------------ HTTP client

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn http(method: &str, url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(60));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .flat_map(|n| {
            resp.all(&n)
                .into_iter()
                .map(|v| (n.clone(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let body = resp.into_string().expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dialect {
    Rest,
    Api,
}

/// A REST client of one simulator, logged in or not.
struct Client {
    base: String,
    dialect: Dialect,
    token: Option<String>,
}

impl Client {
    fn anonymous(sim: &Vcsim, dialect: Dialect) -> Client {
        Client {
            base: sim.base_url(),
            dialect,
            token: None,
        }
    }

    fn login(sim: &Vcsim, dialect: Dialect) -> Client {
        Client::login_as(sim, dialect, USER)
    }

    fn login_as(sim: &Vcsim, dialect: Dialect, user: &str) -> Client {
        let mut c = Client::anonymous(sim, dialect);
        let r = c.login_reply(user, PASSWORD);
        let token = match dialect {
            Dialect::Rest => {
                assert_eq!(r.status, 200, "{r:?}");
                r.json()["value"].as_str().expect("token").to_string()
            }
            Dialect::Api => {
                assert_eq!(r.status, 201, "{r:?}");
                r.json().as_str().expect("token").to_string()
            }
        };
        c.token = Some(token);
        c
    }

    fn login_reply(&self, user: &str, password: &str) -> Reply {
        let auth = basic(user, password);
        http(
            "POST",
            &self.url(self.session_path()),
            &[("Authorization", &auth)],
        )
    }

    fn session_path(&self) -> &'static str {
        match self.dialect {
            Dialect::Rest => "/rest/com/vmware/cis/session",
            Dialect::Api => "/api/session",
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn prefix(&self) -> &'static str {
        match self.dialect {
            Dialect::Rest => "/rest",
            Dialect::Api => "/api",
        }
    }

    fn call(&self, method: &str, path: &str) -> Reply {
        let token = self.token.clone().unwrap_or_default();
        let mut headers = vec![("Accept", "application/json")];
        if self.token.is_some() {
            headers.push(("vmware-api-session-id", token.as_str()));
        }
        http(method, &self.url(path), &headers)
    }

    fn get(&self, path: &str) -> Reply {
        self.call("GET", path)
    }

    /// GET of a list (path without prefix), its result as a JSON array.
    fn list(&self, path_and_query: &str) -> Vec<Value> {
        let r = self.get(&format!("{}{path_and_query}", self.prefix()));
        assert_eq!(r.status, 200, "{path_and_query}: {r:?}");
        self.result(&r)
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {r:?}"))
            .clone()
    }

    /// The result of a successful call, unwrapped from /rest's "value".
    fn result(&self, r: &Reply) -> Value {
        let v = r.json();
        match self.dialect {
            Dialect::Rest => {
                let o = v.as_object().expect("object");
                assert_eq!(o.len(), 1, "/rest wraps results in value alone: {v}");
                o["value"].clone()
            }
            Dialect::Api => v,
        }
    }

    /// Changes power: /rest POST .../power/{action}, /api POST
    /// .../power?action={action}.
    fn power(&self, vm: &str, action: &str) -> Reply {
        match self.dialect {
            Dialect::Rest => self.call("POST", &format!("/rest/vcenter/vm/{vm}/power/{action}")),
            Dialect::Api => self.call(
                "POST",
                &format!("/api/vcenter/vm/{vm}/power?action={action}"),
            ),
        }
    }

    fn logout(&self) -> Reply {
        self.call("DELETE", self.session_path())
    }

    /// A filter field's query key: `filter.names` on /rest, `names` on /api.
    fn key(&self, field: &str) -> String {
        match self.dialect {
            Dialect::Rest => format!("filter.{field}"),
            Dialect::Api => field.to_string(),
        }
    }

    /// The id of the one object that a list of `kind` (vm, host, folder,
    /// datacenter) holds for these filters.
    fn only(&self, kind: &str, filters: &[(&str, &str)]) -> String {
        let query: Vec<String> = filters
            .iter()
            .map(|(f, v)| format!("{}={}", self.key(f), encode(v)))
            .collect();
        let items = self.list(&format!("/vcenter/{kind}?{}", query.join("&")));
        assert_eq!(items.len(), 1, "{kind} {filters:?}: {items:?}");
        items[0][kind].as_str().expect(kind).to_string()
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn names(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|v| v["name"].as_str().expect("name").to_string())
        .collect()
}

fn ids(items: &[Value], key: &str) -> BTreeSet<String> {
    items
        .iter()
        .map(|v| v[key].as_str().expect(key).to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Asserts a vAPI error in the dialect's shape: /rest
/// {"type":"com.vmware.vapi.std.errors.<type>","value":{"error_type":..,
/// "messages":[..]}}, /api {"error_type":..,"messages":[..]}, every message
/// {"args":[..],"default_message":"..","id":".."}. Returns the messages.
fn assert_error(r: &Reply, dialect: Dialect, status: u16, error_type: &str) -> Vec<Value> {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.header("Content-Type"), Some("application/json"), "{r:?}");
    let v = r.json();
    let err = match dialect {
        Dialect::Rest => {
            assert_eq!(
                v["type"],
                format!("com.vmware.vapi.std.errors.{}", error_type.to_lowercase()),
                "{v}"
            );
            assert_eq!(v.as_object().map(|o| o.len()), Some(2), "{v}");
            v["value"].clone()
        }
        Dialect::Api => {
            assert!(v.get("type").is_none() && v.get("value").is_none(), "{v}");
            v.clone()
        }
    };
    assert_eq!(err["error_type"], error_type, "{v}");
    let messages = err["messages"].as_array().expect("messages").clone();
    assert!(!messages.is_empty(), "{v}");
    for m in &messages {
        assert_eq!(keys(m), set(&["args", "default_message", "id"]), "{m}");
        assert!(m["args"].is_array() && m["default_message"].is_string() && m["id"].is_string());
    }
    messages
}

fn first_id(messages: &[Value]) -> &str {
    messages[0]["id"].as_str().expect("id")
}

// -------------------------------------------------------------- sessions

#[test]
fn rest_session_login_info_logout() {
    let Some(sim) = plain() else { return };
    let c = Client::anonymous(&sim, Dialect::Rest);

    // Login: 200 {"value": token}, the token also as a cookie for /rest.
    let r = c.login_reply(USER, PASSWORD);
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    let token = v["value"].as_str().expect("token");
    assert_eq!(v.as_object().map(|o| o.len()), Some(1), "{v}");
    assert!(
        token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{token}"
    );
    let cookie = r.header("Set-Cookie").expect("cookie");
    assert!(
        cookie.starts_with(&format!("vmware-api-session-id={token}"))
            && cookie.contains("Path=/rest"),
        "{cookie}"
    );
    // Header authentication only: no cookie.
    let r = http(
        "POST",
        &c.url("/rest/com/vmware/cis/session"),
        &[
            ("Authorization", &basic(USER, PASSWORD)),
            ("vmware-use-header-authn", "true"),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Set-Cookie"), None, "{r:?}");

    // The session's info (~action=get), with the header or the cookie.
    let logged = Client {
        token: Some(token.to_string()),
        ..Client::anonymous(&sim, Dialect::Rest)
    };
    let r = logged.call("POST", "/rest/com/vmware/cis/session?~action=get");
    assert_eq!(r.status, 200, "{r:?}");
    let info = logged.result(&r);
    assert_eq!(info["user"], USER);
    for k in ["created_time", "last_accessed_time"] {
        let t = info[k].as_str().expect(k);
        assert!(
            t.len() == 24 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
            "{t}"
        );
    }
    let r = http(
        "GET",
        &c.url("/rest/vcenter/datacenter"),
        &[("Cookie", &format!("vmware-api-session-id={token}"))],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = c.call("POST", "/rest/com/vmware/cis/session?~action=bogus");
    let m = assert_error(&r, Dialect::Rest, 404, "NOT_FOUND");
    assert!(m[0]["default_message"]
        .as_str()
        .unwrap()
        .contains("'bogus'"));

    assert_eq!(
        sim.rest_sessions(),
        vcsim::RestSessions {
            logins: 2,
            logouts: 0,
            active: 2,
            refused: 0,
            limit: 550
        }
    );
    // Logout: 200 without a body; the token is dead afterwards.
    let r = logged.logout();
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    let r = logged.get("/rest/vcenter/vm");
    assert_error(&r, Dialect::Rest, 401, "UNAUTHENTICATED");
    let r = logged.logout();
    assert_error(&r, Dialect::Rest, 401, "UNAUTHENTICATED");
    // ~action=delete is the same logout.
    let other = Client::login(&sim, Dialect::Rest);
    let r = other.call("POST", "/rest/com/vmware/cis/session?~action=delete");
    assert_eq!(r.status, 200, "{r:?}");
    assert_error(
        &other.get("/rest/vcenter/vm"),
        Dialect::Rest,
        401,
        "UNAUTHENTICATED",
    );
    let s = sim.rest_sessions();
    assert_eq!((s.logins, s.logouts, s.active), (3, 2, 1));
    // SOAP's counters are separate.
    assert_eq!(sim.sessions().logins, 0);
}

#[test]
fn rest_login_refused_with_the_real_401() {
    let Some(sim) = plain() else { return };
    for dialect in [Dialect::Rest, Dialect::Api] {
        let c = Client::anonymous(&sim, dialect);
        for (user, password) in [(USER, "wrong"), ("nobody", PASSWORD), (USER, "")] {
            let r = c.login_reply(user, password);
            let m = assert_error(&r, dialect, 401, "UNAUTHENTICATED");
            assert_eq!(
                m,
                vec![
                    json!({"args": [], "default_message": "Authentication required.",
                    "id": "com.vmware.vapi.endpoint.method.authentication.required"})
                ]
            );
            assert_eq!(
                r.header("WWW-Authenticate"),
                Some("Basic realm=\"VAPI endpoint\"")
            );
            assert!(!r.body.contains(password) || password.is_empty());
        }
        // No credentials at all.
        let r = http("POST", &c.url(c.session_path()), &[]);
        assert_error(&r, dialect, 401, "UNAUTHENTICATED");
        // The read-only user may log in.
        Client::login_as(&sim, dialect, "readonly");
    }
    let s = sim.rest_sessions();
    assert_eq!((s.logins, s.active), (2, 2), "{s:?}");
}

#[test]
fn api_session_created_201_deleted_204_and_shared_with_rest() {
    let Some(sim) = plain() else { return };
    let c = Client::anonymous(&sim, Dialect::Api);
    let r = c.login_reply(USER, PASSWORD);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("Set-Cookie"), None, "only /rest sets a cookie");
    let token = r.json().as_str().expect("a bare JSON string").to_string();
    let api = Client {
        token: Some(token.clone()),
        ..Client::anonymous(&sim, Dialect::Api)
    };
    let r = api.get("/api/session");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["user"], USER);
    // One pool of sessions: an /api token works on /rest and the other way.
    let rest = Client {
        token: Some(token),
        ..Client::anonymous(&sim, Dialect::Rest)
    };
    assert_eq!(rest.get("/rest/vcenter/datacenter").status, 200);
    let rest2 = Client::login(&sim, Dialect::Rest);
    let api2 = Client {
        token: rest2.token.clone(),
        ..Client::anonymous(&sim, Dialect::Api)
    };
    assert_eq!(api2.get("/api/vcenter/datacenter").status, 200);
    // Logout: 204 without a body.
    let r = api.logout();
    assert_eq!((r.status, r.body.as_str()), (204, ""), "{r:?}");
    assert_error(
        &api.get("/api/session"),
        Dialect::Api,
        401,
        "UNAUTHENTICATED",
    );
    assert_error(
        &rest.get("/rest/vcenter/vm"),
        Dialect::Rest,
        401,
        "UNAUTHENTICATED",
    );
    assert_error(&api.logout(), Dialect::Api, 401, "UNAUTHENTICATED");
    let s = sim.rest_sessions();
    assert_eq!((s.logins, s.logouts, s.active), (2, 1, 1));
}

#[test]
fn expired_sessions_get_401_then_login_again_works() {
    let Some(sim) = plain() else { return };
    let rest = Client::login(&sim, Dialect::Rest);
    let api = Client::login(&sim, Dialect::Api);
    assert_eq!(rest.list("/vcenter/datacenter").len(), 2);
    assert_eq!(sim.expire_rest_sessions(), 2);
    for (c, path) in [
        (&rest, "/rest/vcenter/vm"),
        (&rest, "/rest/vcenter/vm/vm-1/power"),
        (&api, "/api/vcenter/host"),
        (&api, "/api/session"),
    ] {
        let m = assert_error(&c.get(path), c.dialect, 401, "UNAUTHENTICATED");
        assert_eq!(
            first_id(&m),
            "com.vmware.vapi.endpoint.method.authentication.required"
        );
    }
    let r = rest.power(&sim.vm("node10", None).moref, "stop");
    assert_error(&r, Dialect::Rest, 401, "UNAUTHENTICATED");
    assert_eq!(sim.power(&sim.vm("node10", None).moref), "poweredOn");
    // Expiry is not a logout.
    let s = sim.rest_sessions();
    assert_eq!((s.logins, s.logouts, s.active), (2, 0, 0));
    let again = Client::login(&sim, Dialect::Rest);
    assert_eq!(again.list("/vcenter/datacenter").len(), 2);
}

#[test]
fn session_limit_answers_503_per_user() {
    let Some(sim) = plain() else { return };
    sim.set_rest_session_limit(2);
    let a = Client::login(&sim, Dialect::Rest);
    let _b = Client::login(&sim, Dialect::Api);
    for dialect in [Dialect::Rest, Dialect::Api] {
        let r = Client::anonymous(&sim, dialect).login_reply(USER, PASSWORD);
        let m = assert_error(&r, dialect, 503, "SERVICE_UNAVAILABLE");
        assert_eq!(
            m,
            vec![json!({
                "args": ["2", "2", USER],
                "default_message": format!(
                    "User session count is limited to 2. Existing session count is 2 for user {USER}"),
                "id": "com.vmware.vapi.endpoint.failedToLoginMaxUserSessionCountReached"})]
        );
    }
    // The limit is per user.
    Client::login_as(&sim, Dialect::Rest, "readonly");
    let s = sim.rest_sessions();
    assert_eq!(
        (s.logins, s.active, s.refused, s.limit),
        (3, 3, 2, 2),
        "{s:?}"
    );
    // A logout makes room.
    assert_eq!(a.logout().status, 200);
    Client::login(&sim, Dialect::Rest);
}

// --------------------------------------------------------------- routing

#[test]
fn unknown_urls_404_wrong_methods_405_known_urls_401() {
    let Some(sim) = plain() else { return };
    let anon_rest = Client::anonymous(&sim, Dialect::Rest);
    let anon_api = Client::anonymous(&sim, Dialect::Api);
    // Unknown URLs: 404 whether logged in or not (the URL is resolved
    // before the session is checked).
    let rest = Client::login(&sim, Dialect::Rest);
    for c in [&anon_rest, &rest] {
        let r = c.get("/rest/vcenter/nothing/here");
        let m = assert_error(&r, Dialect::Rest, 404, "NOT_FOUND");
        assert_eq!(
            m,
            vec![json!({"args": ["/vcenter/nothing/here"],
                "default_message": "Unable to find operations for URL: /vcenter/nothing/here.",
                "id": "com.vmware.vapi.rest.operationsForUrlNotFound"})]
        );
    }
    let r = rest.call("POST", "/rest/vcenter/vm/vm-1/power/bogus");
    assert_error(&r, Dialect::Rest, 404, "NOT_FOUND");
    let r = anon_api.get("/api/vcenter/nothing");
    let m = assert_error(&r, Dialect::Api, 404, "NOT_FOUND");
    assert_eq!(
        m,
        vec![
            json!({"args": [], "default_message": "Not found.", "id": "com.vmware.vapi.rest.httpNotFound"})
        ]
    );
    // Known URLs without a session: 401.
    for path in [
        "/rest/vcenter/vm",
        "/rest/vcenter/host",
        "/rest/vcenter/folder",
        "/rest/vcenter/datacenter",
        "/rest/vcenter/vm/vm-1",
        "/rest/vcenter/vm/vm-1/power",
    ] {
        assert_error(&anon_rest.get(path), Dialect::Rest, 401, "UNAUTHENTICATED");
        let api_path = path.replacen("/rest", "/api", 1);
        assert_error(
            &anon_api.get(&api_path),
            Dialect::Api,
            401,
            "UNAUTHENTICATED",
        );
    }
    assert_error(
        &anon_rest.call("POST", "/rest/vcenter/vm/vm-1/power/start"),
        Dialect::Rest,
        401,
        "UNAUTHENTICATED",
    );
    // Wrong method on a known URL: 405 with Allow, before any session check.
    for (method, path, allow) in [
        ("PUT", "/rest/vcenter/vm", "GET"),
        ("POST", "/api/vcenter/vm", "GET"),
        ("GET", "/rest/com/vmware/cis/session", "DELETE, POST"),
        ("PATCH", "/api/session", "DELETE, GET, POST"),
        ("GET", "/rest/vcenter/vm/vm-1/power/start", "POST"),
        ("DELETE", "/api/vcenter/vm/vm-1/power", "GET, POST"),
    ] {
        let r = anon_rest.call(method, path);
        assert_eq!(
            (r.status, r.header("Allow")),
            (405, Some(allow)),
            "{method} {path}: {r:?}"
        );
    }
    // Calls are counted per route, not per VM.
    let calls = sim.rest_calls();
    assert_eq!(
        calls.get("GET /rest/vcenter/vm/{vm}/power"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(
        calls.get("POST /rest/vcenter/vm/{vm}/power/start"),
        Some(&1),
        "{calls:?}"
    );
}

#[test]
fn an_esx_host_serves_no_automation_api() {
    let Some(sim) = with(Options {
        plain_http: true,
        esx: true,
        ..Options::default()
    }) else {
        return;
    };
    for path in ["/rest/com/vmware/cis/session", "/api/session"] {
        let r = http(
            "POST",
            &format!("{}{path}", sim.base_url()),
            &[("Authorization", &basic(USER, PASSWORD))],
        );
        assert_eq!(r.status, 404, "{path}: {r:?}");
    }
    assert_eq!(sim.rest_sessions().logins, 0);
}

#[test]
fn https_on_the_sdk_listener_with_the_wrappers_ca() {
    if skip_unless(Path::new("/usr/bin/curl").exists(), "curl is not installed") {
        return;
    }
    let Some(sim) = with(Options::default()) else {
        return;
    };
    assert!(sim.base_url().starts_with("https://127.0.0.1:"));
    let curl = |extra: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "20", "-X", "POST", "-u"])
            .arg(format!("{USER}:{PASSWORD}"))
            .args(["-w", "\n%{http_code}"])
            .args(extra)
            .arg(format!("{}/api/session", sim.base_url()))
            .output()
            .expect("curl")
    };
    let ca = sim.ca();
    let out = curl(&["--cacert", ca.to_str().expect("ca path")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.ends_with("\n201") && text.starts_with('"'), "{text}");
    // Without the CA the certificate is not trusted (curl's exit 60).
    let out = curl(&[]);
    assert_eq!(
        out.status.code(),
        Some(60),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sim.rest_sessions().logins, 1);
}

/// The control endpoint's REST knobs refuse what they cannot do, so a test
/// that misuses one fails instead of testing nothing.
#[test]
fn control_knobs_refuse_bad_input() {
    let Some(sim) = plain() else { return };
    let host = Client::login(&sim, Dialect::Rest).only("host", &[("names", "DC0_H0")]);
    let vm = sim.inventory[0].moref.clone();
    let control =
        |method: &str, path: &str| http(method, &format!("http://{}{path}", sim.control), &[]);
    for (method, path, status) in [
        (
            "POST",
            format!("/host/connection?moref={host}&state=orphaned"),
            400,
        ),
        (
            "POST",
            format!("/vm/connection?moref={vm}&state=bogus"),
            400,
        ),
        (
            "GET",
            format!("/host/connection?moref={host}&state=connected"),
            405,
        ),
        (
            "POST",
            "/vm/connection?moref=vm-999999&state=connected".to_string(),
            404,
        ),
        ("POST", "/rest/sessions/limit?max=-1".to_string(), 400),
        ("POST", "/rest/sessions/limit".to_string(), 400),
        ("GET", "/rest/sessions/expire".to_string(), 405),
        (
            "POST",
            "/rest/caps?resource=cluster&rest=1&api=1".to_string(),
            400,
        ),
        (
            "POST",
            "/rest/caps?resource=vm&rest=x&api=1".to_string(),
            400,
        ),
    ] {
        let r = control(method, &path);
        assert_eq!(r.status, status, "{method} {path}: {r:?}");
        assert!(r.json()["error"].is_string(), "{r:?}");
    }
    assert_eq!(
        sim.rest_caps()["vm"],
        (1000, 4000),
        "a refused change changes nothing"
    );
    assert_eq!(sim.rest_sessions().limit, 550);
}

// ------------------------------------------------------------- VM lists

#[test]
fn vm_list_summaries_match_the_inventory() {
    let Some(sim) = plain() else { return };
    for dialect in [Dialect::Rest, Dialect::Api] {
        let c = Client::login(&sim, dialect);
        let all = c.list("/vcenter/vm");
        assert_eq!(all.len(), sim.inventory.len());
        for v in &all {
            assert_eq!(
                keys(v),
                set(&["cpu_count", "memory_size_MiB", "name", "power_state", "vm"]),
                "{v}"
            );
            let moref = v["vm"].as_str().unwrap();
            let inv = sim
                .inventory
                .iter()
                .find(|i| i.moref == moref)
                .unwrap_or_else(|| panic!("{moref} not in the inventory"));
            assert_eq!(v["name"], inv.name.as_str(), "names as vCenter stores them");
            let power = sim.power(moref);
            let want = match power.as_str() {
                "poweredOn" => "POWERED_ON",
                "poweredOff" => "POWERED_OFF",
                _ => "SUSPENDED",
            };
            assert_eq!(v["power_state"], want, "{moref}");
            assert!(v["cpu_count"].as_u64().unwrap() >= 1);
            assert!(v["memory_size_MiB"].as_u64().unwrap() >= 1);
        }
        // Stored names come back as stored: %2f for '/', markup and
        // Unicode untouched.
        for n in ["web%2f01", "a<b>&\"c'", "ünïcødé-vm", "web server 01"] {
            assert!(all.iter().any(|v| v["name"] == n), "{n}");
        }
        // In moref order, so "the first" of two namesakes is stable.
        let morefs: Vec<u64> = all
            .iter()
            .map(|v| v["vm"].as_str().unwrap()[3..].parse().unwrap())
            .collect();
        assert!(morefs.windows(2).all(|w| w[0] < w[1]), "{morefs:?}");
    }
}

#[test]
fn vm_list_filters_rest_dialect() {
    let Some(sim) = plain() else { return };
    let c = Client::login(&sim, Dialect::Rest);
    let node1: BTreeSet<String> = sim
        .inventory
        .iter()
        .filter(|v| v.name == "node1")
        .map(|v| v.moref.clone())
        .collect();
    assert_eq!(node1.len(), 2, "node1 in DC0 and DC1");
    assert_eq!(ids(&c.list("/vcenter/vm?filter.names=node1"), "vm"), node1);
    // Repeated and indexed forms; values OR'ed within a field.
    let r = c.list("/vcenter/vm?filter.names=node1&filter.names=node10");
    assert_eq!(r.len(), 3);
    assert_eq!(names(&r), set(&["node1", "node10"]));
    let r = c.list("/vcenter/vm?filter.names.1=node10&filter.names.2=dc1only");
    assert_eq!(names(&r), set(&["node10", "dc1only"]));
    // Names are matched exactly as stored, percent-decoded from the query.
    let r = c.list(&format!("/vcenter/vm?filter.names={}", encode("web%2f01")));
    assert_eq!(names(&r), set(&["web%2f01"]));
    assert!(c.list("/vcenter/vm?filter.names=web/01").is_empty());
    let r = c.list(&format!("/vcenter/vm?filter.names={}", encode("a<b>&\"c'")));
    assert_eq!(r.len(), 1);
    assert!(c.list("/vcenter/vm?filter.names=NODE1").is_empty());
    // vms.
    let n10 = sim.vm("node10", None).moref.clone();
    let r = c.list(&format!(
        "/vcenter/vm?filter.vms={n10}&filter.vms=vm-999999"
    ));
    assert_eq!(ids(&r, "vm"), set(&[&n10]));
    // datacenters: every VM of DC1, nothing else.
    let dc1 = c.only("datacenter", &[("names", "DC1")]);
    let want: BTreeSet<String> = sim
        .inventory
        .iter()
        .filter(|v| v.datacenter == "DC1")
        .map(|v| v.moref.clone())
        .collect();
    assert_eq!(
        ids(
            &c.list(&format!("/vcenter/vm?filter.datacenters={dc1}")),
            "vm"
        ),
        want
    );
    // folders: the VM's own folder only, not the folders above it.
    let sub = c.only("folder", &[("names", "sub")]);
    let sub_dup = sim
        .inventory
        .iter()
        .find(|v| v.path == "/DC0/vm/sub/dup")
        .expect("/DC0/vm/sub/dup")
        .moref
        .clone();
    let r = c.list(&format!("/vcenter/vm?filter.folders={sub}"));
    assert_eq!(ids(&r, "vm"), set(&[&sub_dup]));
    let dc0 = c.only("datacenter", &[("names", "DC0")]);
    let top = c.only("folder", &[("names", "vm"), ("datacenters", &dc0)]);
    let in_top = ids(&c.list(&format!("/vcenter/vm?filter.folders={top}")), "vm");
    let want: BTreeSet<String> = sim
        .inventory
        .iter()
        .filter(|v| v.datacenter == "DC0" && v.moref != sub_dup)
        .map(|v| v.moref.clone())
        .collect();
    assert_eq!(
        in_top, want,
        "the VMs directly in /DC0/vm, not those in /DC0/vm/sub"
    );
    // Fields AND'ed.
    let r = c.list(&format!(
        "/vcenter/vm?filter.names=dup&filter.folders={sub}"
    ));
    assert_eq!(r.len(), 1);
    let r = c.list(&format!(
        "/vcenter/vm?filter.names=node10&filter.folders={sub}"
    ));
    assert!(r.is_empty());
    // power_states, after a change through the control endpoint.
    sim.set_power(&n10, "poweredOff");
    let clone_a = sim.vm("clone-a", None).moref.clone();
    sim.set_power(&clone_a, "suspended");
    assert_eq!(
        ids(&c.list("/vcenter/vm?filter.power_states=POWERED_OFF"), "vm"),
        set(&[&n10])
    );
    assert_eq!(
        ids(
            &c.list(
                "/vcenter/vm?filter.power_states.1=POWERED_OFF&filter.power_states.2=SUSPENDED"
            ),
            "vm"
        ),
        set(&[&n10, &clone_a])
    );
    let on = c.list("/vcenter/vm?filter.power_states=POWERED_ON");
    assert_eq!(on.len(), sim.inventory.len() - 2);
}

/// hosts, clusters and resource_pools against what SOAP says of each VM.
#[test]
fn vm_list_filters_by_host_cluster_pool_agree_with_soap() {
    let Some(sim) = plain() else { return };
    let soap = Vim25Session::login(&sim);
    let mut host_of = HashMap::new();
    let mut pool_of = HashMap::new();
    for v in &sim.inventory {
        host_of.insert(v.moref.clone(), soap.vm_property(&v.moref, "runtime.host"));
        pool_of.insert(v.moref.clone(), soap.vm_property(&v.moref, "resourcePool"));
    }
    soap.logout();
    for dialect in [Dialect::Rest, Dialect::Api] {
        let c = Client::login(&sim, dialect);
        let hosts = c.list("/vcenter/host");
        let mut seen = 0;
        for h in &hosts {
            let id = h["host"].as_str().unwrap();
            let want: BTreeSet<String> = host_of
                .iter()
                .filter(|(_, host)| host.as_str() == id)
                .map(|(vm, _)| vm.clone())
                .collect();
            let got = ids(
                &c.list(&format!("/vcenter/vm?{}={id}", c.key("hosts"))),
                "vm",
            );
            assert_eq!(got, want, "VMs on {id}");
            seen += got.len();
        }
        assert_eq!(seen, sim.inventory.len(), "every VM is on one host");
        for pool in pool_of.values().collect::<BTreeSet<_>>() {
            let want: BTreeSet<String> = pool_of
                .iter()
                .filter(|(_, p)| *p == pool)
                .map(|(vm, _)| vm.clone())
                .collect();
            let got = ids(
                &c.list(&format!("/vcenter/vm?{}={pool}", c.key("resource_pools"))),
                "vm",
            );
            assert_eq!(got, want, "VMs in {pool}");
        }
        // The cluster hosts are DC0_C0_H*: its VMs are those on them.
        let standalone = c.list(&format!(
            "/vcenter/host?{}=false&{}=DC0_C0_H0",
            c.key("standalone"),
            c.key("names")
        ));
        assert_eq!(standalone.len(), 1);
        let clustered_hosts: BTreeSet<String> = hosts
            .iter()
            .filter(|h| h["name"].as_str().unwrap().starts_with("DC0_C0_"))
            .map(|h| h["host"].as_str().unwrap().to_string())
            .collect();
        let want: BTreeSet<String> = host_of
            .iter()
            .filter(|(_, h)| clustered_hosts.contains(*h))
            .map(|(vm, _)| vm.clone())
            .collect();
        assert!(!want.is_empty());
        // The cluster is the parent SOAP reports for those hosts.
        let any_vm = want.iter().next().unwrap();
        let cluster = {
            let soap = Vim25Session::login(&sim);
            let parent = soap.property("HostSystem", &host_of[any_vm], "parent");
            soap.logout();
            parent
        };
        assert!(
            !cluster.is_empty() && !clustered_hosts.contains(&cluster),
            "{cluster}"
        );
        assert_eq!(
            ids(
                &c.list(&format!("/vcenter/vm?{}={cluster}", c.key("clusters"))),
                "vm"
            ),
            want
        );
        assert_eq!(
            ids(
                &c.list(&format!("/vcenter/host?{}={cluster}", c.key("clusters"))),
                "host"
            ),
            clustered_hosts
        );
    }
    assert_eq!(sim.sessions().active, 0, "SOAP sessions logged out");
}

#[test]
fn vm_list_filters_api_dialect() {
    let Some(sim) = plain() else { return };
    let c = Client::login(&sim, Dialect::Api);
    // Repeated or comma-separated.
    assert_eq!(c.list("/vcenter/vm?names=node1&names=node10").len(), 3);
    assert_eq!(c.list("/vcenter/vm?names=node1,node10").len(), 3);
    // A percent-encoded comma is part of a name, not a separator.
    assert!(c.list("/vcenter/vm?names=node1%2Cnode10").is_empty());
    let n10 = sim.vm("node10", None).moref.clone();
    let dc1only = sim.vm("dc1only", None).moref.clone();
    assert_eq!(
        ids(&c.list(&format!("/vcenter/vm?vms={n10},{dc1only}")), "vm"),
        set(&[&n10, &dc1only])
    );
    sim.set_power(&n10, "poweredOff");
    assert_eq!(
        ids(
            &c.list("/vcenter/vm?power_states=POWERED_OFF,SUSPENDED"),
            "vm"
        ),
        set(&[&n10])
    );
    // /rest's forms are not /api's.
    for q in ["filter.names=node1", "names.1=node1"] {
        let r = c.get(&format!("/api/vcenter/vm?{q}"));
        let m = assert_error(&r, Dialect::Api, 400, "INVALID_ARGUMENT");
        assert_eq!(
            first_id(&m),
            "com.vmware.vapi.rest.unsupported_property",
            "{q}"
        );
    }
}

#[test]
fn bad_filters_are_invalid_argument() {
    let Some(sim) = plain() else { return };
    let rest = Client::login(&sim, Dialect::Rest);
    let api = Client::login(&sim, Dialect::Api);
    for (c, path, id) in [
        (
            &rest,
            "/rest/vcenter/vm?names=node1",
            "com.vmware.vapi.rest.unsupported_property",
        ),
        (
            &rest,
            "/rest/vcenter/vm?filter.bogus=1",
            "com.vmware.vapi.rest.unsupported_property",
        ),
        (
            &rest,
            "/rest/vcenter/vm?filter.names.0=node1",
            "com.vmware.vapi.rest.unsupported_property",
        ),
        (
            &rest,
            "/rest/vcenter/vm?filter.names.x=node1",
            "com.vmware.vapi.rest.unsupported_property",
        ),
        (
            &rest,
            "/rest/vcenter/vm?filter.power_states=ON",
            "vapi.bindings.input.param.invalid",
        ),
        (
            &api,
            "/api/vcenter/vm?power_states=powered_on",
            "vapi.bindings.input.param.invalid",
        ),
        (
            &rest,
            "/rest/vcenter/host?filter.standalone=maybe",
            "vapi.bindings.input.param.invalid",
        ),
        (
            &api,
            "/api/vcenter/host?connection_states=UP",
            "vapi.bindings.input.param.invalid",
        ),
        (
            &api,
            "/api/vcenter/folder?type=VM",
            "vapi.bindings.input.param.invalid",
        ),
        (
            &rest,
            "/rest/vcenter/folder?filter.type=HOST&filter.type=NETWORK",
            "vapi.bindings.input.param.invalid",
        ),
        (
            &api,
            "/api/vcenter/datacenter?power_states=POWERED_ON",
            "com.vmware.vapi.rest.unsupported_property",
        ),
        (
            &api,
            "/api/vcenter/vm?names=%zz",
            "vapi.bindings.input.param.invalid",
        ),
    ] {
        let r = c.get(path);
        let m = assert_error(&r, c.dialect, 400, "INVALID_ARGUMENT");
        assert_eq!(first_id(&m), id, "{path}");
    }
}

/// The caps, at their exact limits, with 4,100 extra VMs; and how long such
/// a simulator takes to start.
#[test]
fn list_caps_1000_rest_4000_api_with_the_real_error() {
    let started = Instant::now();
    let Some(sim) = with(Options {
        plain_http: true,
        extra_vms: Some(4100),
        ..Options::default()
    }) else {
        return;
    };
    let start_time = started.elapsed();
    eprintln!("simulator with 4,100 extra VMs ready in {start_time:?}");
    assert!(start_time < Duration::from_secs(45), "{start_time:?}");
    let total = sim.inventory.len();
    let extra_vms = sim
        .inventory
        .iter()
        .filter(|v| v.name.starts_with("extra-"))
        .count();
    assert_eq!(extra_vms, 4100);
    let all: Vec<String> = sim.inventory.iter().map(|v| v.moref.clone()).collect();

    let rest = Client::login(&sim, Dialect::Rest);
    let api = Client::login(&sim, Dialect::Api);
    let too_many = json!([{"args": [],
        "default_message": "Too many virtual machines. Add more filter criteria to reduce the number.",
        "id": "com.vmware.api.vcenter.vm.too_many_matches"}]);
    for c in [&rest, &api] {
        let r = c.get(&format!("{}/vcenter/vm", c.prefix()));
        let m = assert_error(&r, c.dialect, 400, "UNABLE_TO_ALLOCATE_RESOURCE");
        assert_eq!(json!(m), too_many);
    }
    // /rest: 1,000 pass, 1,001 do not.
    let indexed = |n: usize| {
        all[..n]
            .iter()
            .enumerate()
            .map(|(i, m)| format!("filter.vms.{}={m}", i + 1))
            .collect::<Vec<_>>()
            .join("&")
    };
    assert_eq!(
        rest.list(&format!("/vcenter/vm?{}", indexed(1000))).len(),
        1000
    );
    let r = rest.get(&format!("/rest/vcenter/vm?{}", indexed(1001)));
    assert_error(&r, Dialect::Rest, 400, "UNABLE_TO_ALLOCATE_RESOURCE");
    // /api: 4,000 pass, 4,001 do not.
    assert_eq!(
        api.list(&format!("/vcenter/vm?vms={}", all[..4000].join(",")))
            .len(),
        4000
    );
    let r = api.get(&format!("/api/vcenter/vm?vms={}", all[..4001].join(",")));
    assert_error(&r, Dialect::Api, 400, "UNABLE_TO_ALLOCATE_RESOURCE");

    // Per host and per folder every listing stays under the /rest cap, and
    // together they cover every VM.
    let mut by_host = 0;
    for h in rest.list("/vcenter/host") {
        let n = rest
            .list(&format!(
                "/vcenter/vm?filter.hosts={}",
                h["host"].as_str().unwrap()
            ))
            .len();
        assert!(n <= 1000, "{n} VMs on {h}");
        by_host += n;
    }
    assert_eq!(by_host, total);
    let extra = rest.list("/vcenter/folder?filter.names=extra-00&filter.names=extra-01&filter.names=extra-02&filter.names=extra-03&filter.names=extra-04");
    assert_eq!(extra.len(), 10, "five extra-NN folders in each datacenter");
    let mut in_extra = 0;
    for f in &extra {
        let n = rest
            .list(&format!(
                "/vcenter/vm?filter.folders={}",
                f["folder"].as_str().unwrap()
            ))
            .len();
        assert!((1..=500).contains(&n), "{n} in {f}");
        in_extra += n;
    }
    assert_eq!(in_extra, 4100);
    // A datacenter holds more than /rest's cap but less than /api's.
    let dc1 = rest.only("datacenter", &[("names", "DC1")]);
    assert_error(
        &rest.get(&format!("/rest/vcenter/vm?filter.datacenters={dc1}")),
        Dialect::Rest,
        400,
        "UNABLE_TO_ALLOCATE_RESOURCE",
    );
    let n = api.list(&format!("/vcenter/vm?datacenters={dc1}")).len();
    assert!((1001..=4000).contains(&n), "{n}");
    // Three of every four extra VMs are on.
    let off = api.list("/vcenter/vm?power_states=POWERED_OFF").len();
    assert_eq!(off, 4100 / 4);
}

/// The documented caps, and the cap error of hosts, folders and
/// datacenters, reached by lowering the caps (a simulator with 1,001
/// folders would take minutes to build).
#[test]
fn host_folder_datacenter_caps_and_their_errors() {
    let Some(sim) = plain() else { return };
    let caps = sim.rest_caps();
    let want: HashMap<String, (u64, u64)> = [
        ("vm", (1000, 4000)),
        ("host", (2500, 2500)),
        ("folder", (1000, 1000)),
        ("datacenter", (1000, 1000)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(caps, want);
    let rest = Client::login(&sim, Dialect::Rest);
    let api = Client::login(&sim, Dialect::Api);
    for (resource, path, plural, count) in [
        ("host", "/vcenter/host", "hosts", 8),
        ("folder", "/vcenter/folder", "folders", 10),
        ("datacenter", "/vcenter/datacenter", "datacenters", 2),
    ] {
        // At the cap: the list; one over: the error. /rest and /api apart.
        sim.set_rest_cap(resource, count, count - 1);
        assert_eq!(rest.list(path).len(), count as usize);
        let m = assert_error(
            &api.get(&format!("/api{path}")),
            Dialect::Api,
            400,
            "UNABLE_TO_ALLOCATE_RESOURCE",
        );
        assert_eq!(
            json!(m),
            json!([{"args": [],
                "default_message": format!("Too many {plural}. Add more filter criteria to reduce the number."),
                "id": format!("com.vmware.api.vcenter.{resource}.too_many_matches")}])
        );
        sim.set_rest_cap(resource, count - 1, count);
        assert_error(
            &rest.get(&format!("/rest{path}")),
            Dialect::Rest,
            400,
            "UNABLE_TO_ALLOCATE_RESOURCE",
        );
        assert_eq!(api.list(path).len(), count as usize);
        // A filter brings the list under the cap.
        let filtered = rest.list(&format!(
            "{path}?filter.names=DC0_H0&filter.names=vm&filter.names=DC0"
        ));
        assert!(
            !filtered.is_empty() && filtered.len() < count as usize,
            "{filtered:?}"
        );
    }
    sim.set_rest_cap("vm", 3, 2);
    assert_eq!(
        rest.list("/vcenter/vm?filter.names=node1&filter.names=node10")
            .len(),
        3
    );
    assert_error(
        &api.get("/api/vcenter/vm?names=node1,node10"),
        Dialect::Api,
        400,
        "UNABLE_TO_ALLOCATE_RESOURCE",
    );
}

// ----------------------------------------------------------------- power

#[test]
fn power_get_and_changes_both_dialects_seen_by_the_simulator() {
    let Some(sim) = plain() else { return };
    let vm = sim.vm("node10", None).moref.clone();
    for dialect in [Dialect::Rest, Dialect::Api] {
        let c = Client::login(&sim, dialect);
        let power = |c: &Client| c.result(&c.get(&format!("{}/vcenter/vm/{vm}/power", c.prefix())));
        assert_eq!(power(&c), json!({"state": "POWERED_ON"}));
        let done = match dialect {
            Dialect::Rest => 200,
            Dialect::Api => 204,
        };
        // stop
        let r = c.power(&vm, "stop");
        assert_eq!((r.status, r.body.as_str()), (done, ""), "{r:?}");
        assert_eq!(sim.power(&vm), "poweredOff");
        assert_eq!(
            power(&c),
            json!({"state": "POWERED_OFF", "clean_power_off": true})
        );
        // stop again: 400 already_in_desired_state, as vCenter words it.
        let m = assert_error(
            &c.power(&vm, "stop"),
            dialect,
            400,
            "ALREADY_IN_DESIRED_STATE",
        );
        assert_eq!(
            json!(m),
            json!([
                {"args": [], "default_message": "Virtual machine is already powered off.",
                 "id": "com.vmware.api.vcenter.vm.power.already_powered_off"},
                {"args": [], "default_message": "The attempted operation cannot be performed in the current state (Powered off).",
                 "id": "vmsg.InvalidPowerState.summary"}
            ])
        );
        // reset and suspend need a powered-on VM.
        for action in ["reset", "suspend"] {
            let m = assert_error(
                &c.power(&vm, action),
                dialect,
                400,
                "NOT_ALLOWED_IN_CURRENT_STATE",
            );
            assert_eq!(first_id(&m), "vmsg.InvalidPowerState.summary");
        }
        assert_eq!(sim.power(&vm), "poweredOff");
        // start
        assert_eq!(c.power(&vm, "start").status, done);
        assert_eq!(sim.power(&vm), "poweredOn");
        let m = assert_error(
            &c.power(&vm, "start"),
            dialect,
            400,
            "ALREADY_IN_DESIRED_STATE",
        );
        assert_eq!(
            first_id(&m),
            "com.vmware.api.vcenter.vm.power.already_powered_on"
        );
        assert_eq!(
            m[1]["default_message"],
            "The attempted operation cannot be performed in the current state (Powered on)."
        );
        // reset keeps it on.
        assert_eq!(c.power(&vm, "reset").status, done);
        assert_eq!(sim.power(&vm), "poweredOn");
        // suspend, then start resumes, stop from suspended powers off.
        assert_eq!(c.power(&vm, "suspend").status, done);
        assert_eq!(sim.power(&vm), "suspended");
        assert_eq!(power(&c), json!({"state": "SUSPENDED"}));
        let m = assert_error(
            &c.power(&vm, "suspend"),
            dialect,
            400,
            "ALREADY_IN_DESIRED_STATE",
        );
        assert_eq!(
            first_id(&m),
            "com.vmware.api.vcenter.vm.power.already_suspended"
        );
        assert_eq!(c.power(&vm, "start").status, done);
        assert_eq!(sim.power(&vm), "poweredOn");
        assert_eq!(c.power(&vm, "suspend").status, done);
        assert_eq!(c.power(&vm, "stop").status, done);
        assert_eq!(sim.power(&vm), "poweredOff");
        assert_eq!(c.power(&vm, "start").status, done);
        // A change made outside REST is what REST reports.
        sim.set_power(&vm, "poweredOff");
        assert_eq!(power(&c)["state"], "POWERED_OFF");
        sim.set_power(&vm, "poweredOn");
    }
    // No SOAP session was involved.
    assert_eq!(sim.sessions().logins, 0);
}

#[test]
fn power_errors_unknown_vm_bad_action_readonly_user() {
    let Some(sim) = plain() else { return };
    let vm = sim.vm("node10", None).moref.clone();
    for dialect in [Dialect::Rest, Dialect::Api] {
        let c = Client::login(&sim, dialect);
        let p = c.prefix();
        for r in [
            c.get(&format!("{p}/vcenter/vm/vm-999999/power")),
            c.get(&format!("{p}/vcenter/vm/vm-999999")),
            c.power("vm-999999", "stop"),
            c.get(&format!("{p}/vcenter/vm/host-21/power")),
        ] {
            let m = assert_error(&r, dialect, 404, "NOT_FOUND");
            assert_eq!(first_id(&m), "com.vmware.api.vcenter.vm.not_found");
            let text = m[0]["default_message"].as_str().unwrap();
            let arg = m[0]["args"][0].as_str().unwrap();
            // vCenter names the id with its instance UUID appended.
            assert!(
                arg.starts_with("vm-999999:") || arg.starts_with("host-21:"),
                "{arg}"
            );
            assert_eq!(
                text,
                format!("Virtual machine with identifier '{arg}' does not exist.")
            );
        }
        if dialect == Dialect::Api {
            for q in ["?action=bogus", ""] {
                let r = c.call("POST", &format!("/api/vcenter/vm/{vm}/power{q}"));
                let m = assert_error(&r, dialect, 404, "NOT_FOUND");
                assert!(m[0]["default_message"]
                    .as_str()
                    .unwrap()
                    .contains("No matching method"));
            }
        }
        // The read-only user reads but cannot change power: 403.
        let ro = Client::login_as(&sim, dialect, "readonly");
        let query = match dialect {
            Dialect::Rest => "/vcenter/vm?filter.names=node10",
            Dialect::Api => "/vcenter/vm?names=node10",
        };
        assert_eq!(ro.list(query).len(), 1);
        for action in ["stop", "reset", "suspend"] {
            let m = assert_error(&ro.power(&vm, action), dialect, 403, "UNAUTHORIZED");
            assert_eq!(
                json!(m),
                json!([{"args": [], "default_message": "Unable to authorize user", "id": "vapi.security.authorization.invalid"}])
            );
        }
        assert_eq!(sim.power(&vm), "poweredOn");
    }
}

#[test]
fn vm_info_identity_matches_the_inventory() {
    let Some(sim) = plain() else { return };
    let inv = sim.vm("clone-a", None).clone();
    for dialect in [Dialect::Rest, Dialect::Api] {
        let c = Client::login(&sim, dialect);
        let info = c.result(&c.get(&format!("{}/vcenter/vm/{}", c.prefix(), inv.moref)));
        assert_eq!(info["name"], "clone-a");
        assert_eq!(info["power_state"], "POWERED_ON");
        assert_eq!(info["guest_OS"], "OTHER");
        assert_eq!(
            info["identity"],
            json!({"name": "clone-a", "bios_uuid": inv.bios_uuid, "instance_uuid": inv.instance_uuid})
        );
        assert_eq!(info["cpu"]["count"], 1);
        assert_eq!(info["memory"]["size_MiB"], 32);
    }
}

/// A SOAP change is what REST reports, and a REST change is what SOAP
/// reports: one inventory.
#[test]
fn soap_and_rest_see_each_others_power_changes() {
    let Some(sim) = plain() else { return };
    let vm = sim.vm("node10", None).moref.clone();
    let rest = Client::login(&sim, Dialect::Rest);
    let soap = Vim25Session::login(&sim);
    assert_eq!(soap.vm_property(&vm, "runtime.powerState"), "poweredOn");
    assert_eq!(rest.power(&vm, "stop").status, 200);
    assert_eq!(soap.vm_property(&vm, "runtime.powerState"), "poweredOff");
    assert_eq!(
        soap.vm_property(&vm, "summary.runtime.powerState"),
        "poweredOff"
    );
    assert_eq!(rest.power(&vm, "start").status, 200);
    assert_eq!(soap.vm_property(&vm, "runtime.powerState"), "poweredOn");
    soap.power_off(&vm);
    let p = rest.result(&rest.get(&format!("/rest/vcenter/vm/{vm}/power")));
    assert_eq!(p["state"], "POWERED_OFF");
    soap.logout();
    let s = sim.sessions();
    assert_eq!(
        (s.logins, s.logouts),
        (1, 1),
        "SOAP counts only SOAP: {s:?}"
    );
    assert_eq!(sim.rest_sessions().logins, 1);
}

/// The VM named "slow": a REST stop waits for the simulator's slow task
/// (the REST call returns when the operation is done); meanwhile another
/// power change is refused as busy, and SOAP sees the VM change only at the
/// end.
#[test]
fn slow_vm_rest_call_waits_and_concurrent_change_is_busy() {
    let Some(sim) = with(Options {
        plain_http: true,
        slow_seconds: Some(2),
        ..Options::default()
    }) else {
        return;
    };
    let vm = sim.vm("slow", None).moref.clone();
    let first = Client::login(&sim, Dialect::Api);
    let second = Client::login(&sim, Dialect::Rest);
    let started = Instant::now();
    let vm2 = vm.clone();
    let worker = std::thread::spawn(move || {
        let r = first.power(&vm2, "stop");
        (r.status, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(700));
    let m = assert_error(
        &second.power(&vm, "start"),
        Dialect::Rest,
        400,
        "RESOURCE_BUSY",
    );
    assert_eq!(
        m[0]["default_message"],
        "Another task is already in progress."
    );
    assert_eq!(
        sim.power(&vm),
        "poweredOn",
        "not yet off while the task runs"
    );
    let (status, took) = worker.join().expect("worker");
    assert_eq!(status, 204);
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert_eq!(sim.power(&vm), "poweredOff");
}

// ------------------------------------------ hosts, folders, datacenters

#[test]
fn hosts_connection_states_as_the_simulator_holds_them() {
    let Some(sim) = plain() else { return };
    for dialect in [Dialect::Rest, Dialect::Api] {
        let c = Client::login(&sim, dialect);
        let hosts = c.list("/vcenter/host");
        assert_eq!(hosts.len(), 8, "4 hosts in each of DC0 and DC1");
        for h in &hosts {
            assert_eq!(
                keys(h),
                set(&["connection_state", "host", "name", "power_state"]),
                "{h}"
            );
            assert_eq!(h["connection_state"], "CONNECTED");
            assert_eq!(h["power_state"], "POWERED_ON");
        }
        assert_eq!(
            names(&c.list(&format!("/vcenter/host?{}=true", c.key("standalone")))),
            set(&["DC0_H0", "DC1_H0"])
        );
        assert_eq!(
            c.list(&format!("/vcenter/host?{}=false", c.key("standalone")))
                .len(),
            6
        );
        let dc1 = c.only("datacenter", &[("names", "DC1")]);
        assert_eq!(
            names(&c.list(&format!("/vcenter/host?{}={dc1}", c.key("datacenters")))),
            set(&["DC1_H0", "DC1_C0_H0", "DC1_C0_H1", "DC1_C0_H2"])
        );
        // The host folder of DC1 holds its standalone host's compute
        // resource and its cluster: all four hosts.
        let host_folder = c.only("folder", &[("type", "HOST"), ("datacenters", &dc1)]);
        assert_eq!(
            c.list(&format!("/vcenter/host?{}={host_folder}", c.key("folders")))
                .len(),
            4
        );
    }

    // Disconnect DC0_H0 in the simulator: both APIs' view changes.
    let rest = Client::login(&sim, Dialect::Rest);
    let host = rest.only("host", &[("names", "DC0_H0")]);
    sim.set_host_connection(&host, "disconnected");
    let soap = Vim25Session::login(&sim);
    assert_eq!(
        soap.property("HostSystem", &host, "runtime.connectionState"),
        "disconnected",
        "the knob changes the simulator's own object"
    );
    soap.logout();
    let h = rest.list("/vcenter/host?filter.names=DC0_H0");
    assert_eq!(
        h,
        vec![json!({"host": host, "name": "DC0_H0", "connection_state": "DISCONNECTED"})]
    );
    assert_eq!(
        ids(
            &rest.list("/vcenter/host?filter.connection_states=DISCONNECTED"),
            "host"
        ),
        set(&[&host])
    );
    assert_eq!(
        rest.list("/vcenter/host?filter.connection_states=CONNECTED")
            .len(),
        7
    );
    sim.set_host_connection(&host, "notResponding");
    let api = Client::login(&sim, Dialect::Api);
    assert_eq!(
        api.list("/vcenter/host?names=DC0_H0")[0]["connection_state"],
        "NOT_RESPONDING"
    );

    // A VM on that host: its last known state is still reported, but no
    // power change is accepted.
    let on_host = rest.list(&format!("/vcenter/vm?filter.hosts={host}"));
    let vm = on_host[0]["vm"].as_str().unwrap().to_string();
    assert_eq!(
        rest.result(&rest.get(&format!("/rest/vcenter/vm/{vm}/power")))["state"],
        "POWERED_ON"
    );
    for c in [&rest, &api] {
        let m = assert_error(&c.power(&vm, "stop"), c.dialect, 503, "SERVICE_UNAVAILABLE");
        assert!(m[0]["default_message"].as_str().unwrap().contains(&vm));
    }
    assert_eq!(sim.power(&vm), "poweredOn");
    sim.set_host_connection(&host, "connected");
    assert_eq!(rest.power(&vm, "stop").status, 200);
    assert_eq!(sim.power(&vm), "poweredOff");
    // A VM not connected itself (orphaned): the same refusal.
    let n10 = sim.vm("node10", None).moref.clone();
    sim.set_connection(&n10, "orphaned");
    assert_error(
        &api.power(&n10, "stop"),
        Dialect::Api,
        503,
        "SERVICE_UNAVAILABLE",
    );
    assert_eq!(sim.power(&n10), "poweredOn");
    sim.set_connection(&n10, "connected");
    assert_eq!(api.power(&n10, "stop").status, 204);
}

#[test]
fn folders_and_datacenters_shapes_and_filters() {
    let Some(sim) = plain() else { return };
    for dialect in [Dialect::Rest, Dialect::Api] {
        let c = Client::login(&sim, dialect);
        let dcs = c.list("/vcenter/datacenter");
        assert_eq!(names(&dcs), set(&["DC0", "DC1"]));
        for d in &dcs {
            assert_eq!(keys(d), set(&["datacenter", "name"]));
            assert!(d["datacenter"].as_str().unwrap().starts_with("datacenter-"));
        }
        let dc0 = dcs.iter().find(|d| d["name"] == "DC0").unwrap()["datacenter"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            names(&c.list(&format!(
                "/vcenter/datacenter?{}={dc0}",
                c.key("datacenters")
            ))),
            set(&["DC0"])
        );

        let folders = c.list("/vcenter/folder");
        for f in &folders {
            assert_eq!(keys(f), set(&["folder", "name", "type"]));
        }
        // Each datacenter has one folder of each kind; the root folder holds
        // datacenters; "sub" holds VMs.
        for (kind, n) in [
            ("VIRTUAL_MACHINE", 3),
            ("HOST", 2),
            ("DATASTORE", 2),
            ("NETWORK", 2),
            ("DATACENTER", 1),
        ] {
            let got = c.list(&format!("/vcenter/folder?{}={kind}", c.key("type")));
            assert_eq!(got.len(), n, "{kind}: {got:?}");
            assert!(got.iter().all(|f| f["type"] == kind));
        }
        let root = c.only("folder", &[("type", "DATACENTER")]);
        // The datacenters sit in the root folder.
        assert_eq!(
            c.list(&format!("/vcenter/datacenter?{}={root}", c.key("folders")))
                .len(),
            2
        );
        let vm_folder = c.only("folder", &[("names", "vm"), ("datacenters", &dc0)]);
        assert_eq!(
            names(&c.list(&format!(
                "/vcenter/folder?{}={vm_folder}",
                c.key("parent_folders")
            ))),
            set(&["sub"])
        );
    }
}

// ------------------------------------- fence-agents' fence_vmware_rest

/// fence-agents' agent; None (the test is skipped, loudly) when absent.
fn py_agent_program() -> Option<PathBuf> {
    let program = fence_agents_program("fence_vmware_rest");
    if skip_unless(
        program.is_some(),
        "fence-agents' fence_vmware_rest is not installed",
    ) {
        return None;
    }
    program
}

/// fence-agents' agent against `sim`, over plain HTTP (its default without
/// ssl options) or HTTPS without verification (`--ssl-insecure`: it has no
/// CA option).
fn py_agent(sim: &Vcsim, args: &[&str]) -> Outcome {
    let port = sim.port.to_string();
    let mut argv = vec!["-a", "127.0.0.1", "-u", &port, "-l", USER, "-p", PASSWORD];
    if sim.base_url().starts_with("https:") {
        argv.push("--ssl-insecure");
    }
    argv.extend_from_slice(args);
    let out = AgentRun::new(py_agent_program().expect("checked by the test"))
        .args(&argv)
        .limit(Duration::from_secs(60))
        .run();
    // It always logs out (atexit).
    let s = sim.rest_sessions();
    assert_eq!(
        (s.logins, s.active),
        (s.logouts, 0),
        "sessions left open: {s:?}\n{out:?}"
    );
    out
}

/// The morefs of every VM named `name`, in the order the simulator lists
/// them (by moref number).
fn namesakes(sim: &Vcsim, name: &str) -> Vec<String> {
    let mut v: Vec<String> = sim
        .inventory
        .iter()
        .filter(|v| v.name == name)
        .map(|v| v.moref.clone())
        .collect();
    v.sort_by_key(|m| {
        m.trim_start_matches("vm-")
            .parse::<u64>()
            .unwrap_or(u64::MAX)
    });
    v
}

fn power_word(sim: &Vcsim, moref: &str) -> &'static str {
    match sim.power(moref).as_str() {
        "poweredOn" => "on",
        _ => "off",
    }
}

#[test]
fn fence_agents_rest_agent_status_on_off_reboot_monitor() {
    if py_agent_program().is_none() {
        return;
    }
    let Some(sim) = plain() else { return };
    let vm = sim.vm("node10", None).moref.clone();
    py_agent(&sim, &["-n", "node10", "-o", "status"])
        .assert_code(0)
        .assert_stdout_has("Status: ON");
    py_agent(&sim, &["-n", "node10", "-o", "off"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    assert_eq!(sim.power(&vm), "poweredOff");
    // The same change through SOAP.
    let soap = Vim25Session::login(&sim);
    assert_eq!(soap.vm_property(&vm, "runtime.powerState"), "poweredOff");
    soap.logout();
    py_agent(&sim, &["-n", "node10", "-o", "status"])
        .assert_code(2)
        .assert_stdout_has("Status: OFF");
    py_agent(&sim, &["-n", "node10", "-o", "off"])
        .assert_code(0)
        .assert_stdout_has("Success: Already OFF");
    py_agent(&sim, &["-n", "node10", "-o", "on"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered ON");
    assert_eq!(sim.power(&vm), "poweredOn");
    // reboot: fencing.py powers off, then on.
    let calls = sim.rest_calls();
    let count = |c: &HashMap<String, u64>, k: &str| c.get(k).copied().unwrap_or(0);
    py_agent(&sim, &["-n", "node10", "-o", "reboot"])
        .assert_code(0)
        .assert_stdout_has("Success: Rebooted");
    let after = sim.rest_calls();
    for k in [
        "POST /rest/vcenter/vm/{vm}/power/stop",
        "POST /rest/vcenter/vm/{vm}/power/start",
    ] {
        assert_eq!(count(&after, k), count(&calls, k) + 1, "{k}");
    }
    assert_eq!(sim.power(&vm), "poweredOn");
    // A VM the server does not list: status fails.
    py_agent(&sim, &["-n", "no-such-vm", "-o", "status"]).assert_code(1);
    // monitor lists the VMs and passes.
    let o = py_agent(&sim, &["-o", "monitor"]);
    o.assert_code(0);
    assert_eq!(o.stdout, "");
}

#[test]
fn fence_agents_rest_agent_list_and_list_status_match_the_simulator() {
    if py_agent_program().is_none() {
        return;
    }
    // HTTPS this time, --ssl-insecure.
    let Some(sim) = with(Options::default()) else {
        return;
    };
    sim.set_power(&sim.vm("clone-b", None).moref, "poweredOff");
    sim.set_power(&sim.vm("web server 01", None).moref, "suspended");
    let dups = namesakes(&sim, "dup");
    sim.set_power(&dups[0], "poweredOff");
    let o = py_agent(&sim, &["-o", "list-status"]);
    o.assert_code(0);
    let mut listed = HashMap::new();
    for line in o.stdout.lines() {
        let parts: Vec<&str> = line.split(',').collect();
        // "a<b>&\"c'" has no comma; every line is name,,state.
        assert_eq!(parts.len(), 3, "{line}");
        listed.insert(parts[0].to_string(), parts[2].to_string());
    }
    let unique: BTreeSet<&str> = sim.inventory.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        listed.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        unique
    );
    for v in &sim.inventory {
        // fence-agents' behaviour, which fence_vmware_rest will fix: the
        // list is a dict by name, so of two VMs sharing a name (dup,
        // node1) the line shows the state of the last one listed.
        let last = namesakes(&sim, &v.name).pop().expect("one at least");
        assert_eq!(listed[&v.name], power_word(&sim, &last), "{}", v.name);
    }
    assert_eq!(
        listed["dup"], "on",
        "the first dup is off, the line says on"
    );
    assert_eq!(listed["clone-b"], "off");
    assert_eq!(
        listed["web server 01"], "off",
        "SUSPENDED is reported as off"
    );
    let o = py_agent(&sim, &["-o", "list"]);
    o.assert_code(0);
    assert_eq!(o.stdout.lines().count(), unique.len());
    assert!(o.stdout.lines().all(|l| l.ends_with(',')), "{}", o.stdout);
}

/// fence-agents' known faults, reproduced as a real vCenter shows them.
/// These are fence-agents' behaviour, which fence_vmware_rest will fix.
#[test]
fn fence_agents_rest_agent_known_faults() {
    if py_agent_program().is_none() {
        return;
    }
    let Some(sim) = with(Options {
        plain_http: true,
        extra_vms: Some(1000),
        ..Options::default()
    }) else {
        return;
    };
    // Above 1,000 VMs, list fails with its message (any 400 is read that
    // way)...
    let o = py_agent(&sim, &["-o", "list"]);
    o.assert_code(1);
    o.assert_stderr_has(
        "More than 1000 VMs returned. Use --filter parameter to limit which VMs to list.",
    );
    // ...and monitor passes with an empty list, so a device whose VMs
    // cannot be listed still looks healthy.
    let o = py_agent(&sim, &["-o", "monitor"]);
    o.assert_code(0);
    assert_eq!(o.stdout, "");
    // filter= limits the list (the server does the filtering).
    let o = py_agent(
        &sim,
        &[
            "-o",
            "list",
            "--filter",
            "filter.names=node1&filter.names=node10",
        ],
    );
    o.assert_code(0);
    let listed: BTreeSet<&str> = o.stdout.lines().map(|l| l.trim_end_matches(',')).collect();
    assert_eq!(listed, BTreeSet::from(["node1", "node10"]));
    assert_eq!(sim.rest_calls().get("GET /rest/vcenter/vm"), Some(&3));

    // A name shared by two VMs: it acts on the first one listed and says
    // Success, leaving the other running.
    let dups = namesakes(&sim, "dup");
    assert_eq!(dups.len(), 2);
    py_agent(&sim, &["-n", "dup", "-o", "off"])
        .assert_code(0)
        .assert_stdout_has("Success: Powered OFF");
    assert_eq!(sim.power(&dups[0]), "poweredOff");
    assert_eq!(
        sim.power(&dups[1]),
        "poweredOn",
        "the other namesake keeps running"
    );
    // Its status then answers for the first only.
    py_agent(&sim, &["-n", "dup", "-o", "status"]).assert_code(2);
    // node1 exists in DC0 and DC1: the same.
    let node1 = namesakes(&sim, "node1");
    py_agent(&sim, &["-n", "node1", "-o", "off"]).assert_code(0);
    assert_eq!(
        (sim.power(&node1[0]).as_str(), sim.power(&node1[1]).as_str()),
        ("poweredOff", "poweredOn")
    );
}
