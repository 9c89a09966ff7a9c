//! How an Automation API call fails: vsphere-http's transport failures,
//! and the vAPI standard errors a server answers with, in vsphere-core's
//! terms.
//!
//! A vAPI error is `{"error_type": "NOT_FOUND", "messages": [{"id": ..,
//! "default_message": .., "args": [..]}]}` on /api (API docs, Vapi Std
//! Errors) and `{"type": "com.vmware.vapi.std.errors.not_found", "value":
//! {...}}` on /rest, where vCenter 7.0 also puts `error_type` inside
//! `value` and 6.5/6.7 do not (REST 6.5 docs; vmware-openapi-generator
//! #72). The HTTP status per error type follows the vSphere 8.0
//! Automation REST programming guide's table.

use serde::Deserialize;
use serde_json::Value;
use vsphere_core::BackendError;

/// One vAPI error answered by the server, read as far as it could be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VapiError {
    /// What was asked (`GET /api/vcenter/vm`), for messages.
    pub what: String,
    pub status: u16,
    /// `NOT_FOUND`, `UNABLE_TO_ALLOCATE_RESOURCE`, ...; None when the body
    /// was not a vAPI error (a proxy's page, an empty 404).
    pub error_type: Option<String>,
    /// The first message's text and id, when there is one.
    pub message: Option<String>,
    pub message_id: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    default_message: Option<String>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    messages: Vec<Message>,
}

/// The longest piece of server text put into a message.
const MAX_TEXT: usize = 400;

/// Server text made fit for a one-line message: control characters
/// replaced, length bounded.
fn clean(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_TEXT)
        .collect();
    if text.chars().count() > MAX_TEXT {
        out.push_str("...");
    }
    out.trim().to_string()
}

impl VapiError {
    /// Reads the error out of a reply's body (either dialect's shape).
    pub fn from_reply(what: &str, status: u16, body: &[u8]) -> VapiError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let (mut error_type, inner) = match parsed {
            Some(Value::Object(mut o)) => {
                // /rest: {"type": "com.vmware.vapi.std.errors.x", "value": {...}}
                let from_type = o
                    .get("type")
                    .and_then(Value::as_str)
                    .and_then(|t| t.strip_prefix("com.vmware.vapi.std.errors."))
                    .map(str::to_ascii_uppercase);
                match (from_type, o.remove("value")) {
                    (Some(t), Some(v)) => (Some(t), v),
                    (t, _) => (t, Value::Object(o)),
                }
            }
            _ => (None, Value::Null),
        };
        let body: Option<Body> = serde_json::from_value(inner).ok();
        let first = body.as_ref().and_then(|b| b.messages.first());
        if let Some(t) = body.as_ref().and_then(|b| b.error_type.clone()) {
            error_type = Some(t);
        }
        VapiError {
            what: what.to_string(),
            status,
            error_type: error_type.map(|t| clean(&t)),
            message: first.and_then(|m| m.default_message.as_deref()).map(clean),
            message_id: first.and_then(|m| m.id.as_deref()).map(clean),
        }
    }

    pub fn is(&self, error_type: &str) -> bool {
        self.error_type.as_deref() == Some(error_type)
    }

    /// More objects match than the server lists at once (REST 6.5 docs,
    /// vm.list: "400 unable_to_allocate_resource if more than 1000 virtual
    /// machines match").
    pub fn is_cap(&self) -> bool {
        self.status == 400 && self.is("UNABLE_TO_ALLOCATE_RESOURCE")
    }

    /// `GET /api/vcenter/vm: HTTP 400 UNABLE_TO_ALLOCATE_RESOURCE: Too
    /// many virtual machines. ... (com.vmware.api.vcenter.vm.too_many_matches)`
    pub fn describe(&self) -> String {
        let mut s = format!("{}: HTTP {}", self.what, self.status);
        if let Some(t) = &self.error_type {
            s.push(' ');
            s.push_str(t);
        }
        if let Some(m) = &self.message {
            s.push_str(": ");
            s.push_str(m);
        }
        if let Some(id) = &self.message_id {
            s.push_str(&format!(" ({id})"));
        }
        s
    }

    /// In vsphere-core's terms, for a call on an open session.
    pub fn into_backend(self) -> BackendError {
        let text = self.describe();
        match (self.status, self.error_type.as_deref()) {
            (401, _) => BackendError::NotAuthenticated(text),
            (403, _) => BackendError::NoPermission(text),
            (404, _) => BackendError::NotFound(text),
            (_, Some("ALREADY_IN_DESIRED_STATE")) => BackendError::AlreadyInState(text),
            // The Automation API names no task: the power call itself
            // waits for the operation.
            (_, Some("RESOURCE_BUSY")) => BackendError::Busy {
                task: None,
                detail: text,
            },
            _ => BackendError::Fault(text),
        }
    }
}

/// A transport failure, prefixed with what was asked. vsphere-http's
/// messages quote no header or body, so the session and the password
/// cannot reach a message through here.
pub fn transport(what: &str, e: vsphere_http::Error) -> BackendError {
    use vsphere_http::Error as H;
    let msg = format!("{what}: {e}");
    match e {
        H::Timeout { .. } => BackendError::Timeout(msg),
        H::Tls(_) => BackendError::Tls(msg),
        H::Resolve { .. } | H::Connect(_) => BackendError::Connect(msg),
        H::Io { .. } => BackendError::Io(msg),
        H::Protocol(_) | H::TooLarge { .. } | H::InvalidRequest(_) => BackendError::Protocol(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects_error_shapes() {
        let api = br#"{"error_type":"NOT_FOUND","messages":[{"args":[],"default_message":"Not found.","id":"com.vmware.vapi.rest.httpNotFound"}]}"#;
        let e = VapiError::from_reply("POST /api/session", 404, api);
        assert_eq!(e.error_type.as_deref(), Some("NOT_FOUND"));
        assert_eq!(
            e.describe(),
            "POST /api/session: HTTP 404 NOT_FOUND: Not found. (com.vmware.vapi.rest.httpNotFound)"
        );
        // vCenter 7.0's /rest: error_type inside value.
        let rest70 = br#"{"type":"com.vmware.vapi.std.errors.unable_to_allocate_resource","value":{"error_type":"UNABLE_TO_ALLOCATE_RESOURCE","messages":[{"args":[],"default_message":"Too many virtual machines. Add more filter criteria to reduce the number.","id":"com.vmware.api.vcenter.vm.too_many_matches"}]}}"#;
        assert!(VapiError::from_reply("GET", 400, rest70).is_cap());
        // 6.5/6.7's /rest: only the type.
        let rest65 = br#"{"type":"com.vmware.vapi.std.errors.already_in_desired_state","value":{"messages":[{"args":[],"default_message":"Virtual machine is already powered off.","id":"com.vmware.api.vcenter.vm.power.already_powered_off"}]}}"#;
        let e = VapiError::from_reply("POST", 400, rest65);
        assert!(matches!(e.into_backend(), BackendError::AlreadyInState(_)));
    }

    #[test]
    fn what_is_not_a_vapi_error_still_describes_itself() {
        for body in [
            &b""[..],
            b"<html>502</html>",
            b"[1,2]",
            b"{\"messages\":7}",
            b"null",
        ] {
            let e = VapiError::from_reply("GET /api/vcenter/vm", 502, body);
            assert_eq!(e.describe(), "GET /api/vcenter/vm: HTTP 502", "{body:?}");
            assert!(!e.is_cap());
        }
        let long = format!(
            "{{\"error_type\":\"ERROR\",\"messages\":[{{\"default_message\":\"{}\\n\\u0007x\"}}]}}",
            "a".repeat(5000)
        );
        let m = VapiError::from_reply("GET", 500, long.as_bytes()).describe();
        assert!(
            m.len() < 500 && !m.contains('\n') && !m.contains('\u{7}'),
            "{m}"
        );
    }

    #[test]
    fn statuses_and_types_in_the_cores_terms() {
        let e = |status, t: &str| VapiError {
            what: "x".into(),
            status,
            error_type: Some(t.into()),
            message: None,
            message_id: None,
        };
        assert!(matches!(
            e(401, "UNAUTHENTICATED").into_backend(),
            BackendError::NotAuthenticated(_)
        ));
        assert!(matches!(
            e(403, "UNAUTHORIZED").into_backend(),
            BackendError::NoPermission(_)
        ));
        assert!(matches!(
            e(404, "NOT_FOUND").into_backend(),
            BackendError::NotFound(_)
        ));
        assert!(matches!(
            e(400, "RESOURCE_BUSY").into_backend(),
            BackendError::Busy { task: None, .. }
        ));
        assert!(matches!(
            e(503, "SERVICE_UNAVAILABLE").into_backend(),
            BackendError::Fault(_)
        ));
    }
}
