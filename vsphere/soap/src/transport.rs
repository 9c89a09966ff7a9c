//! One vim25 call: the envelope POSTed through [`HttpPost`], the session
//! cookie kept, the reply read within its limits.

use std::sync::{Arc, Mutex};

use agent_framework::{logging, Deadline};

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
                if let Ok(mut c) = self.cookie.lock() {
                    *c = Some(pair.to_string());
                }
            }
        }
    }

    /// Sends one request and hands the reply's response element to `read`,
    /// within `deadline`. The request body is logged at trace level unless
    /// `secret` (Login).
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
            logging::trace(format!("vim25 {method} reply (HTTP {status}): {text}"));
        }
        match with_reply(&text, read) {
            Ok(v) if status < 300 => Ok(v),
            Ok(_) => Err(Error::Http(
                status,
                format!("{method} answered HTTP {status}"),
            )),
            Err(Error::Protocol(m)) if status >= 300 => {
                let snippet: String = text.chars().take(200).collect();
                Err(Error::Http(
                    status,
                    format!("{method}: {} ({m})", snippet.trim()),
                ))
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
