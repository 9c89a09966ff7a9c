//! One vim25 call: the envelope POSTed through [`HttpPost`], the session
//! cookie kept, the reply read within its limits.

use std::sync::{Arc, Mutex};

use agent_framework::{logging, secret, Deadline};

use crate::elem::Elem;
use crate::envelope::Request;
use crate::error::Error;
use crate::http::{HttpPost, HttpRequest};
use crate::reply::{with_reply, MAX_REPLY_BYTES};

/// The vim25 version this client speaks. Every call it makes exists
/// since vSphere 4.1; 6.0 is accepted by every vSphere release since.
pub const SOAP_ACTION: &str = "urn:vim25/6.0";

/// The cookie vCenter and ESXi keep the session in.
const SESSION_COOKIE: &str = "vmware_soap_session";

/// Calls to one SDK endpoint, in one session. Cloning shares the session
/// (the signal handler logs out with a clone).
#[derive(Clone)]
pub struct Transport {
    http: Arc<dyn HttpPost>,
    cookie: Arc<Mutex<Option<String>>>,
}

impl Transport {
    pub fn new(http: Arc<dyn HttpPost>) -> Transport {
        Transport {
            http,
            cookie: Arc::new(Mutex::new(None)),
        }
    }

    pub fn url(&self) -> &str {
        self.http.url()
    }

    fn remember_cookie(&self, set_cookies: &[String]) {
        for header in set_cookies {
            let pair = header.split(';').next().unwrap_or("").trim();
            if pair.starts_with(SESSION_COOKIE) && pair[SESSION_COOKIE.len()..].starts_with('=') {
                // The cookie is the session: whoever reads it in a -vvv log
                // or a debug file can act as the fencing user until it
                // expires. Masked like the password on every log line.
                let value = &pair[SESSION_COOKIE.len() + 1..];
                secret::register(value);
                secret::register(value.trim_matches('"'));
                if let Ok(mut c) = self.cookie.lock() {
                    *c = Some(pair.to_string());
                }
            }
        }
    }

    /// Sends one request and hands the reply's response element to `read`,
    /// within `deadline`. The request and reply bodies are logged at trace
    /// level unless `secret` (Login).
    pub fn call_with<T>(
        &self,
        req: Request,
        deadline: Deadline,
        secret: bool,
        read: impl FnOnce(roxmltree::Node<'_, '_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let method = req.method().to_string();
        let body = req.finish();
        if deadline.expired() {
            return Err(Error::Timeout(format!("no time left to call {method}")));
        }
        if logging::enabled(logging::Level::Trace) {
            if secret {
                logging::trace(format!("vim25 {method} request (body not shown)"));
            } else {
                logging::trace(format!("vim25 {method} request: {body}"));
            }
        }
        let cookie = self.cookie.lock().ok().and_then(|c| c.clone());
        let reply = self.http.post(
            &HttpRequest {
                what: &method,
                body: &body,
                soap_action: SOAP_ACTION,
                cookie: cookie.as_deref(),
                max_body: MAX_REPLY_BYTES,
            },
            deadline,
        )?;
        self.remember_cookie(&reply.set_cookies);
        let (status, text) = (reply.status, reply.body);
        if logging::enabled(logging::Level::Trace) {
            if secret {
                // Login's reply is the UserSession, whose key names the
                // session.
                logging::trace(format!(
                    "vim25 {method} reply (HTTP {status}, body not shown)"
                ));
            } else {
                logging::trace(format!("vim25 {method} reply (HTTP {status}): {text}"));
            }
        }
        match with_reply(&text, read) {
            Ok(v) if status < 300 => Ok(v),
            Ok(_) => Err(Error::Http(
                status,
                format!("{method} answered HTTP {status}"),
            )),
            Err(Error::Protocol(m)) if status >= 300 => {
                let snippet: String = text.chars().take(200).collect();
                let said = match snippet.trim() {
                    "" => "an empty reply".to_string(),
                    s => s.to_string(),
                };
                Err(Error::Http(status, format!("{method}: {said} ({m})")))
            }
            Err(e) => Err(e),
        }
    }

    /// Sends one request; the reply's response element as a tree.
    pub fn call(&self, req: Request, deadline: Deadline, secret: bool) -> Result<Elem, Error> {
        self.call_with(req, deadline, secret, |n| {
            Elem::from_node(n).map_err(Error::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoHttp;

    impl HttpPost for NoHttp {
        fn url(&self) -> &str {
            "https://vc.invalid/sdk"
        }
        fn post(&self, _: &HttpRequest<'_>, _: Deadline) -> Result<crate::http::HttpReply, Error> {
            Err(Error::Connect("no network in this test".into()))
        }
    }

    #[test]
    fn the_session_cookie_is_masked_like_a_password() {
        let t = Transport::new(Arc::new(NoHttp));
        t.remember_cookie(&[
            "vmware_soap_session=\"52b1f0c6d2e4a7\"; Path=/; HttpOnly; Secure".to_string(),
        ]);
        let line =
            secret::mask("Cookie: vmware_soap_session=\"52b1f0c6d2e4a7\" and 52b1f0c6d2e4a7");
        assert!(!line.contains("52b1f0c6d2e4a7"), "{line}");
        assert_eq!(
            t.cookie.lock().unwrap().as_deref(),
            Some("vmware_soap_session=\"52b1f0c6d2e4a7\"")
        );
    }
}
