//! Calls to the Automation API in one session: login with HTTP Basic,
//! the session token in the `vmware-api-session-id` header, JSON replies
//! unwrapped per dialect, logout; and the handle a signal handler logs out
//! with.

use std::sync::Arc;

use base64::Engine;
use serde::de::DeserializeOwned;

use agent_framework::{logging, Deadline, Secret};
use vsphere_core::BackendError;
use vsphere_http::{Client, Limits, Method, Response};

use crate::dialect::{ApiChoice, Dialect};
use crate::error::{transport, VapiError};
use crate::gate::Gate;
use crate::query::query_string;

/// The header the session token travels in (REST 6.5 docs, cis session
/// create; API docs, Create Session).
pub const SESSION_HEADER: &str = "vmware-api-session-id";

/// The largest reply read: a list of 4,000 VM summaries is about 0.5 MB.
const MAX_REPLY_BYTES: u64 = 16 * 1024 * 1024;

/// Where the API is and in which dialect, once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// `/api`, `/rest`, or a proxy's `/vc1/rest`.
    pub base: String,
    pub dialect: Dialect,
}

impl Api {
    fn of(dialect: Dialect) -> Api {
        Api {
            base: format!("/{}", dialect.segment()),
            dialect,
        }
    }
}

/// An open session: its token and where it is.
#[derive(Clone)]
struct Session {
    token: Secret,
    api: Api,
}

/// A reply: a status and the body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

pub struct RestClient {
    http: Client,
    choice: ApiChoice,
    username: String,
    /// `user:password` in base64, as the Authorization header wants it.
    basic: Secret,
    gate: Arc<Gate<Session>>,
}

/// Ends the session from another thread (the signal handler), with a
/// connection of its own.
#[derive(Clone)]
pub struct LogoutHandle {
    http: Client,
    gate: Arc<Gate<Session>>,
}

impl LogoutHandle {
    /// Deletes the session, if there is one, and refuses any later login
    /// (see [`Gate`]). Whether a session was deleted.
    pub fn logout(&self, deadline: Deadline) -> Result<bool, BackendError> {
        match self.gate.close_waiting(deadline) {
            Some(session) => {
                let mut http = self.http.clone();
                delete_session(&mut http, &session, deadline).map(|()| true)
            }
            None => Ok(false),
        }
    }
}

fn delete_session(
    http: &mut Client,
    session: &Session,
    deadline: Deadline,
) -> Result<(), BackendError> {
    let Session { token, api } = session;
    let path = format!("{}{}", api.base, api.dialect.session_path());
    let what = format!("DELETE {path}");
    let reply = http
        .request(
            Method::Delete,
            &path,
            &[
                (SESSION_HEADER, token.expose()),
                ("Accept", "application/json"),
            ],
            b"",
            deadline,
        )
        .map_err(|e| transport(&what, e))?;
    match reply.status {
        200..=299 => Ok(()),
        // Already gone (expired, or deleted by an administrator).
        401 => Ok(()),
        status => Err(VapiError::from_reply(&what, status, &reply.body).into_backend()),
    }
}

/// What a login attempt at one base path gave.
enum LoginOutcome {
    LoggedIn(Secret),
    /// 404: the server has no such API.
    NoSuchApi(VapiError),
}

impl RestClient {
    /// A client; nothing is sent until [`RestClient::login`].
    pub fn new(http: Client, choice: ApiChoice, username: &str, password: &Secret) -> RestClient {
        let http = http.with_limits(Limits {
            max_body: MAX_REPLY_BYTES,
            ..Limits::default()
        });
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{username}:{}", password.expose()));
        RestClient {
            http,
            choice,
            username: username.to_string(),
            basic: Secret::new(basic),
            gate: Arc::default(),
        }
    }

    pub fn logout_handle(&self) -> LogoutHandle {
        LogoutHandle {
            http: self.http.clone(),
            gate: Arc::clone(&self.gate),
        }
    }

    /// The API this session speaks, once logged in.
    pub fn api(&self) -> Option<Api> {
        self.gate.current().map(|s| s.api)
    }

    pub fn url(&self, path: &str) -> String {
        self.http.url(path)
    }

    /// Logs in (again). Without `api_path`, `/api` is tried first and
    /// `/rest` only when `/api` answers 404 (vCenter before 7.0 U2 has no
    /// /api): a 401, a TLS failure or any other answer is the answer.
    pub fn login(&mut self, deadline: Deadline) -> Result<(), BackendError> {
        self.gate.begin_login()?;
        let result = self.login_somewhere(deadline);
        match result {
            Ok((api, token)) => {
                self.gate.end_login(Some(Session { token, api }));
                Ok(())
            }
            Err(e) => {
                self.gate.end_login(None);
                Err(e)
            }
        }
    }

    fn login_somewhere(&mut self, deadline: Deadline) -> Result<(Api, Secret), BackendError> {
        // A session ended under us is logged into again where it was.
        let known = self.api();
        let forced = match (&known, &self.choice) {
            (Some(api), _) => Some(api.clone()),
            (None, ApiChoice::Forced { base, dialect }) => Some(Api {
                base: base.clone(),
                dialect: *dialect,
            }),
            (None, ApiChoice::Detect) => None,
        };
        if let Some(api) = forced {
            return match self.login_at(&api, deadline)? {
                LoginOutcome::LoggedIn(token) => Ok((api, token)),
                LoginOutcome::NoSuchApi(e) => Err(BackendError::LoginRefused(format!(
                    "{}; this server has no {} API here (api_path)",
                    e.describe(),
                    api.dialect
                ))),
            };
        }
        let api = Api::of(Dialect::Api);
        let first = match self.login_at(&api, deadline)? {
            LoginOutcome::LoggedIn(token) => return Ok((api, token)),
            LoginOutcome::NoSuchApi(e) => e,
        };
        logging::info(format!(
            "{} (vCenter before 7.0 U2 has no /api): using /rest",
            first.describe()
        ));
        let rest = Api::of(Dialect::Rest);
        match self.login_at(&rest, deadline)? {
            LoginOutcome::LoggedIn(token) => Ok((rest, token)),
            LoginOutcome::NoSuchApi(second) => Err(BackendError::LoginRefused(format!(
                "this server offers no vSphere Automation API: {}; {}. An ESXi host has none: \
                 use fence_vmware_soap (the vSphere Web Services API) for it",
                first.describe(),
                second.describe()
            ))),
        }
    }

    fn login_at(&mut self, api: &Api, deadline: Deadline) -> Result<LoginOutcome, BackendError> {
        let path = format!("{}{}", api.base, api.dialect.session_path());
        let what = format!("POST {path}");
        let authorization = format!("Basic {}", self.basic.expose());
        let reply = self
            .http
            .request(
                Method::Post,
                &path,
                &[
                    ("Authorization", &authorization),
                    ("Accept", "application/json"),
                    // /rest would also set the token as a cookie, which
                    // this client neither needs nor keeps (REST 6.5 docs,
                    // cis session create).
                    ("vmware-use-header-authn", "true"),
                ],
                b"",
                deadline,
            )
            .map_err(|e| transport(&what, e))?;
        match reply.status {
            200 | 201 => {
                let token = session_token(api.dialect, &reply.body).ok_or_else(|| {
                    BackendError::Protocol(format!("{what}: the reply holds no session token"))
                })?;
                logging::info(format!(
                    "Logged in to {} as {} (vSphere Automation API, {})",
                    self.http.url(&api.base),
                    self.username,
                    api.dialect
                ));
                Ok(LoginOutcome::LoggedIn(Secret::new(token)))
            }
            404 => Ok(LoginOutcome::NoSuchApi(VapiError::from_reply(
                &what,
                404,
                &reply.body,
            ))),
            401 => Err(BackendError::LoginRefused(
                VapiError::from_reply(&what, 401, &reply.body).describe(),
            )),
            status => Err(VapiError::from_reply(&what, status, &reply.body).into_backend()),
        }
    }

    /// Deletes the session (once; later calls do nothing).
    pub fn logout(&mut self, deadline: Deadline) -> Result<(), BackendError> {
        match self.gate.close() {
            Some(session) => delete_session(&mut self.http, &session, deadline),
            None => Ok(()),
        }
    }

    /// One call on the session: `path` under the API's base, with
    /// `query`. The reply, whatever its status; transport failures and a
    /// missing session are errors.
    pub fn call(
        &mut self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        deadline: Deadline,
    ) -> Result<(String, Reply), BackendError> {
        let Some(Session { token, api }) = self.gate.current() else {
            return Err(BackendError::NotAuthenticated("not logged in".into()));
        };
        let full = format!("{}{path}", api.base);
        let what = format!("{method} {full}");
        let target = format!("{full}{}", query_string(query));
        let response: Response = self
            .http
            .request(
                method,
                &target,
                &[
                    (SESSION_HEADER, token.expose()),
                    ("Accept", "application/json"),
                ],
                b"",
                deadline,
            )
            .map_err(|e| transport(&what, e))?;
        if logging::enabled(logging::Level::Trace) {
            logging::trace(format!(
                "{what}{}: HTTP {}, {}",
                query_string(query),
                response.status,
                String::from_utf8_lossy(&response.body)
            ));
        }
        Ok((
            what,
            Reply {
                status: response.status,
                body: response.body,
            },
        ))
    }

    /// A GET whose 200 reply is JSON: the result, unwrapped and read as a
    /// `T`. Any other status is the server's error.
    pub fn get<T: DeserializeOwned>(
        &mut self,
        path: &str,
        query: &[(String, String)],
        deadline: Deadline,
    ) -> Result<T, Failure> {
        let dialect = self.api().map(|a| a.dialect).ok_or_else(|| {
            Failure::Backend(BackendError::NotAuthenticated("not logged in".into()))
        })?;
        let (what, reply) = self
            .call(Method::Get, path, query, deadline)
            .map_err(Failure::Backend)?;
        if reply.status != 200 {
            return Err(Failure::Server(VapiError::from_reply(
                &what,
                reply.status,
                &reply.body,
            )));
        }
        dialect.read(&reply.body).map_err(|e| {
            Failure::Backend(BackendError::Protocol(format!(
                "{what}: the reply is not the JSON result of a {dialect} call: {e}"
            )))
        })
    }
}

/// The session token of a login's reply (a JSON string, wrapped in
/// `{"value": ...}` on /rest), if it is one: it goes back in a header,
/// so it must be printable ASCII without blanks (no line break can
/// smuggle a header in).
pub fn session_token(dialect: Dialect, body: &[u8]) -> Option<String> {
    dialect
        .read::<String>(body)
        .ok()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
}

/// A call that failed: on the way (transport, session), or with the
/// server's error, which callers may look at (a list's cap).
#[derive(Debug)]
pub enum Failure {
    Backend(BackendError),
    Server(VapiError),
}

impl Failure {
    pub fn into_backend(self) -> BackendError {
        match self {
            Failure::Backend(e) => e,
            Failure::Server(e) => e.into_backend(),
        }
    }

    pub fn is_cap(&self) -> bool {
        matches!(self, Failure::Server(e) if e.is_cap())
    }
}

impl From<BackendError> for Failure {
    fn from(e: BackendError) -> Failure {
        Failure::Backend(e)
    }
}

/// A hand-written peer (no real server answers these ways on request):
/// each test scripts the replies a hostile or broken server gives.
#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::thread::JoinHandle;
    use std::time::Duration;

    use vsphere_http::{Endpoint, Family, TlsPolicy};

    /// Serves one connection per reply, in order; hands back each request
    /// head (request line and headers).
    fn peer(replies: Vec<Vec<u8>>) -> (u16, JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for reply in replies {
                let Ok((mut c, _)) = l.accept() else { break };
                let mut buf = vec![0u8; 16384];
                let n = c.read(&mut buf).unwrap_or(0);
                heads.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let _ = c.write_all(&reply);
            }
            heads
        });
        (port, handle)
    }

    fn reply(status: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn client(port: u16, choice: ApiChoice) -> RestClient {
        let policy = TlsPolicy::PlainHttp;
        let e = Endpoint::parse("127.0.0.1", Some(port), &policy).unwrap();
        let http = Client::new(e, &policy, Family::Any).unwrap();
        RestClient::new(http, choice, "fence", &Secret::new("pw:with colon".into()))
    }

    fn soon() -> Deadline {
        Deadline::after(Duration::from_secs(5))
    }

    #[test]
    fn login_sends_basic_credentials_and_keeps_the_token_out_of_sight() {
        let (port, server) = peer(vec![
            reply("201 Created", "\"tok-123\""),
            reply("204 No Content", ""),
        ]);
        let mut c = client(port, ApiChoice::Detect);
        c.login(soon()).unwrap();
        assert_eq!(c.api().map(|a| a.dialect), Some(Dialect::Api));
        c.logout(soon()).unwrap();
        // Later logouts do nothing.
        c.logout(soon()).unwrap();
        let heads = server.join().unwrap();
        assert!(
            heads[0].starts_with("POST /api/session HTTP/1.1\r\n"),
            "{}",
            heads[0]
        );
        // base64("fence:pw:with colon")
        assert!(
            heads[0].contains("Authorization: Basic ZmVuY2U6cHc6d2l0aCBjb2xvbg==\r\n"),
            "{}",
            heads[0]
        );
        assert!(heads[1].starts_with("DELETE /api/session HTTP/1.1\r\n"));
        assert!(heads[1].contains("vmware-api-session-id: tok-123\r\n"));
        assert_eq!(heads.len(), 2);
    }

    #[test]
    fn only_a_404_on_api_leads_to_rest() {
        let not_found = reply("404 Not Found", "");
        let (port, server) = peer(vec![not_found, reply("200 OK", "{\"value\":\"t\"}")]);
        let mut c = client(port, ApiChoice::Detect);
        c.login(soon()).unwrap();
        assert_eq!(c.api().map(|a| a.base), Some("/rest".to_string()));
        let heads = server.join().unwrap();
        assert!(heads[1].starts_with("POST /rest/com/vmware/cis/session "));
        for (status, body) in [
            (
                "401 Unauthorized",
                r#"{"error_type":"UNAUTHENTICATED","messages":[]}"#,
            ),
            ("503 Service Unavailable", ""),
            ("500 Internal Server Error", "<html>"),
        ] {
            let (port, server) = peer(vec![
                reply(status, body),
                reply("200 OK", "{\"value\":\"t\"}"),
            ]);
            let mut c = client(port, ApiChoice::Detect);
            let e = c.login(soon()).unwrap_err();
            assert!(e.to_string().contains(&status[..3]), "{status}: {e}");
            assert!(c.api().is_none());
            // Unblock the peer's second accept, which must see nothing.
            let _ = std::net::TcpStream::connect(("127.0.0.1", port));
            let heads = server.join().unwrap();
            assert!(heads[1].is_empty(), "{status}: tried again: {}", heads[1]);
        }
    }

    /// A TLS failure is the answer too: no second connection for /rest.
    #[test]
    fn a_tls_failure_is_no_reason_to_try_rest() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let server = std::thread::spawn(move || {
            let mut accepted = 0;
            let until = std::time::Instant::now() + Duration::from_secs(3);
            while std::time::Instant::now() < until {
                if let Ok((mut c, _)) = l.accept() {
                    accepted += 1;
                    let _ = c.write_all(&reply("400 Bad Request", "not TLS"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            accepted
        });
        let policy = TlsPolicy::Insecure;
        let e = Endpoint::parse("127.0.0.1", Some(port), &policy).unwrap();
        let http = Client::new(e, &policy, Family::Any).unwrap();
        let mut c = RestClient::new(http, ApiChoice::Detect, "fence", &Secret::new("pw".into()));
        match c.login(soon()) {
            Err(BackendError::Tls(m)) => assert!(m.contains("POST /api/session"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(server.join().unwrap(), 1, "one connection only");
    }

    #[test]
    fn a_login_reply_that_is_no_token_is_refused() {
        for body in [
            "",
            "null",
            "42",
            "\"\"",
            "\"tok\\r\\nX-Injected: 1\"",
            "\"tok en\"",
            "{\"value\":\"t\"}",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        ] {
            let (port, _peer) = peer(vec![reply("201 Created", body)]);
            let mut c = client(port, ApiChoice::Detect);
            match c.login(soon()) {
                Err(BackendError::Protocol(m)) => assert!(m.contains("no session token"), "{m}"),
                other => panic!("{body:?}: {other:?}"),
            }
            assert!(c.api().is_none());
        }
    }

    #[test]
    fn a_list_reply_of_the_wrong_shape_is_an_error_not_a_guess() {
        for body in ["{\"value\":[]}", "[", "\"x\"", "{}"] {
            let (port, _peer) = peer(vec![reply("201 Created", "\"t\""), reply("200 OK", body)]);
            let mut c = client(
                port,
                ApiChoice::Forced {
                    base: "/api".into(),
                    dialect: Dialect::Api,
                },
            );
            c.login(soon()).unwrap();
            match c.get::<serde_json::Value>("/vcenter/vm", &[], soon()) {
                Ok(v) => assert!(!v.is_array(), "{body:?} gave a list: {v}"),
                Err(Failure::Backend(BackendError::Protocol(_))) => {}
                Err(e) => panic!("{body:?}: {e:?}"),
            }
        }
    }

    /// The signal handler waits for a login under way, deletes that
    /// session, and no login happens after it.
    #[test]
    fn the_signal_logout_catches_a_login_in_flight_and_closes_the_door() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (seen_tx, seen_rx) = mpsc::channel();
        let server = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for i in 0..2 {
                let Ok((mut c, _)) = l.accept() else { break };
                let mut buf = vec![0u8; 16384];
                let n = c.read(&mut buf).unwrap_or(0);
                heads.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                if i == 0 {
                    // The login: answered late, after the signal came.
                    let _ = seen_tx.send(());
                    std::thread::sleep(Duration::from_millis(500));
                    let _ = c.write_all(&reply("201 Created", "\"late-token\""));
                } else {
                    let _ = c.write_all(&reply("204 No Content", ""));
                }
            }
            heads
        });
        let mut c = client(port, ApiChoice::Detect);
        let handle = c.logout_handle();
        let login = std::thread::spawn(move || {
            let r = c.login(soon());
            (r, c)
        });
        seen_rx.recv().unwrap();
        assert!(handle.logout(soon()).unwrap(), "a session was deleted");
        let (r, mut c) = login.join().unwrap();
        r.unwrap();
        match c.login(soon()) {
            Err(BackendError::Fault(m)) => assert!(m.contains("stopping"), "{m}"),
            other => panic!("{other:?}"),
        }
        let heads = server.join().unwrap();
        assert!(heads[1].starts_with("DELETE /api/session "), "{}", heads[1]);
        assert!(heads[1].contains("vmware-api-session-id: late-token\r\n"));
    }
}
