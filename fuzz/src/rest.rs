//! fence_vmware_rest's Automation API side (vsphere-rest): the JSON
//! replies it reads (the session token, the lists of VMs, hosts, folders
//! and datacenters, in either dialect's wrapping), the vAPI errors of
//! both dialects, and what the user writes (`filter`, `api_path`).
//!
//! What must hold of replies:
//! - a session token is printable ASCII without blanks (it goes back in
//!   a header); one written as the server writes it reads back exactly;
//! - a list written as the server writes it (extra fields and all) reads
//!   back exactly, in both dialects; a list in which an object gives a
//!   field that is read twice is refused, never read as one of the two;
//!   the strict reader and serde_json's `Value` agree on everything else;
//! - a vAPI error, whatever its shape, describes itself in one line of
//!   bounded length; its type, message and id, written as either dialect
//!   writes them, read back (as one line); only 400
//!   UNABLE_TO_ALLOCATE_RESOURCE is the list cap, only the exact type
//!   ALREADY_IN_DESIRED_STATE means "already in that state".
//!
//! What must hold of the user's text:
//! - a `filter` that reads is written for /api and for /rest as query
//!   strings of URL-safe characters only, each of which reads back as the
//!   same filter; a refusal is one line;
//! - an `api_path` that reads is a safe absolute path ending in the
//!   dialect's name, and reads the same when given again.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use vsphere_core::BackendError;
use vsphere_rest::backend::{DatacenterSummary, FolderSummary, HostSummary, VmSummary};
use vsphere_rest::client::session_token;
use vsphere_rest::error::VapiError;
use vsphere_rest::query::query_string;
use vsphere_rest::{ApiChoice, Dialect, Filters};

use crate::{Choices, Fields};

const DIALECTS: [Dialect; 2] = [Dialect::Api, Dialect::Rest];

/// The longest server text a message quotes (vsphere-rest's error.rs),
/// and the ellipsis after a cut.
const MAX_QUOTED_CHARS: usize = 400 + 3;

fn wrap(dialect: Dialect, result: Value) -> Value {
    match dialect {
        Dialect::Api => result,
        Dialect::Rest => json!({ "value": result }),
    }
}

/// The strict reader against serde_json's `Value`: the same answer,
/// except where the strict one saw a field twice.
fn agrees_with_value<T: DeserializeOwned + PartialEq + std::fmt::Debug>(
    dialect: Dialect,
    body: &[u8],
) {
    // What serde_json's tree cannot hold (a number beyond f64 in a field
    // nobody reads) is no comparison.
    let Ok(whole) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let strict = dialect.read::<T>(body);
    let loose = Some(whole).and_then(|v| {
        let result = match (dialect, v) {
            (Dialect::Api, v) => Some(v),
            (Dialect::Rest, Value::Object(mut o)) => o.remove("value"),
            (Dialect::Rest, _) => None,
        }?;
        serde_json::from_value::<T>(result).ok()
    });
    match (&strict, &loose) {
        (Ok(s), Some(l)) => assert_eq!(s, l),
        (Ok(s), None) => panic!("{s:?} read from what is no JSON result"),
        (Err(e), Some(l)) => assert!(
            e.to_string().contains("duplicate field"),
            "refused ({e}), yet it reads as {l:?}"
        ),
        (Err(_), None) => {}
    }
}

/// Server text in a message: one line, bounded; the text itself when it
/// was one line already and short.
fn assert_quoted(got: Option<&str>, written: &str, what: &str) {
    let Some(got) = got else {
        panic!("{what} {written:?} was not read");
    };
    assert!(!got.chars().any(char::is_control), "{what} {got:?}");
    assert!(got.chars().count() <= MAX_QUOTED_CHARS, "{what} is not cut");
    if !written.chars().any(char::is_control)
        && written.chars().count() <= MAX_QUOTED_CHARS - 3
        && written.trim() == written
    {
        assert_eq!(got, written, "{what}");
    }
}

fn check_error(e: &VapiError) {
    let text = e.describe();
    assert!(!text.chars().any(char::is_control), "{text:?}");
    for part in [&e.error_type, &e.message, &e.message_id]
        .into_iter()
        .flatten()
    {
        assert!(
            part.chars().count() <= MAX_QUOTED_CHARS,
            "{part:?} is not cut"
        );
    }
    if e.is_cap() {
        assert_eq!(
            (e.status, e.error_type.as_deref()),
            (400, Some("UNABLE_TO_ALLOCATE_RESOURCE"))
        );
    }
    let status = e.status;
    let already = e.is("ALREADY_IN_DESIRED_STATE");
    match e.clone().into_backend() {
        BackendError::NotAuthenticated(_) => assert_eq!(status, 401),
        BackendError::NoPermission(_) => assert_eq!(status, 403),
        BackendError::NotFound(_) => assert_eq!(status, 404),
        BackendError::AlreadyInState(_) => assert!(already && ![401, 403, 404].contains(&status)),
        _ => assert!(![401, 403, 404].contains(&status) && !already),
    }
}

fn vm_object(vm: &str, name: &str, choices: &mut Choices) -> serde_json::Map<String, Value> {
    let mut o = serde_json::Map::new();
    // Extra fields, as the server lists them, before and after.
    if choices.below(2) == 0 {
        o.insert("power_state".into(), json!("POWERED_ON"));
    }
    o.insert("vm".into(), json!(vm));
    o.insert("name".into(), json!(name));
    if choices.below(2) == 0 {
        o.insert("cpu_count".into(), json!(2));
        o.insert("memory_size_MiB".into(), json!(4096));
    }
    o
}

/// Fields: texts (ids, names, a token, an error's type, message and id),
/// then choices. The whole input is also a reply body of every kind.
pub fn rest_reply(data: &[u8]) {
    for dialect in DIALECTS {
        if let Some(token) = session_token(dialect, data) {
            assert!(
                !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()),
                "a session token {token:?} that cannot go in a header"
            );
        }
        agrees_with_value::<Vec<VmSummary>>(dialect, data);
        agrees_with_value::<Vec<HostSummary>>(dialect, data);
        agrees_with_value::<Vec<FolderSummary>>(dialect, data);
        agrees_with_value::<Vec<DatacenterSummary>>(dialect, data);
    }
    let f = Fields::new(data);
    let mut choices = Choices::new(f.bytes(0));
    let status = [400, 401, 403, 404, 500, 503][choices.below(6)];
    check_error(&VapiError::from_reply("GET /api/vcenter/vm", status, data));

    let texts = f.rest(1);
    let text = |i: usize| texts.get(i).cloned().unwrap_or_default();
    let dialect = DIALECTS[choices.below(2)];

    // The token as the server writes it.
    let token = text(0);
    let body = wrap(dialect, json!(token)).to_string();
    let readable = !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic());
    assert_eq!(
        session_token(dialect, body.as_bytes()),
        readable.then(|| token.clone()),
        "{body}"
    );

    // A list as the server writes it reads back; with one field twice,
    // it is refused.
    let vms: Vec<VmSummary> = texts
        .chunks(2)
        .take(8)
        .map(|p| VmSummary {
            vm: p[0].clone(),
            name: p.get(1).cloned().unwrap_or_default(),
        })
        .collect();
    let list: Vec<Value> = vms
        .iter()
        .map(|v| Value::Object(vm_object(&v.vm, &v.name, &mut choices)))
        .collect();
    let body = wrap(dialect, Value::Array(list)).to_string();
    assert_eq!(
        dialect
            .read::<Vec<VmSummary>>(body.as_bytes())
            .ok()
            .as_ref(),
        Some(&vms),
        "{body}"
    );
    if let Some(first) = vms.first() {
        let field = ["vm", "name"][choices.below(2)];
        let forged = json!(format!("{}-forged", text(2))).to_string();
        let key = json!(first.vm).to_string();
        let at = body
            .find(&format!("\"vm\":{key}"))
            .unwrap_or_else(|| panic!("{key} not in {body}"));
        let twice = format!("{}\"{field}\":{forged},{}", &body[..at], &body[at..]);
        let read = dialect.read::<Vec<VmSummary>>(twice.as_bytes());
        assert!(read.is_err(), "{twice} read as {read:?}");
    }

    // Errors in the three shapes: /api, /rest of vCenter 7.0 (the type
    // inside the value too), /rest of 6.5 and 6.7 (only the type).
    let (kind, message, id) = (text(3), text(4), text(5));
    let messages = json!([{ "args": [], "default_message": message, "id": id }]);
    let body = match choices.below(3) {
        0 => json!({ "error_type": kind, "messages": messages }),
        1 => json!({
            "type": format!("com.vmware.vapi.std.errors.{}", kind.to_ascii_lowercase()),
            "value": { "error_type": kind, "messages": messages }
        }),
        _ => json!({
            "type": format!("com.vmware.vapi.std.errors.{}", kind.to_ascii_lowercase()),
            "value": { "messages": messages }
        }),
    };
    let e = VapiError::from_reply(
        "POST /api/vcenter/vm/vm-42/power",
        status,
        body.to_string().as_bytes(),
    );
    let written_kind = match body
        .get("error_type")
        .or_else(|| body["value"].get("error_type"))
    {
        Some(_) => kind.clone(),
        None => kind.to_ascii_uppercase(),
    };
    assert_quoted(e.error_type.as_deref(), &written_kind, "the error type");
    assert_quoted(e.message.as_deref(), &message, "the message");
    assert_quoted(e.message_id.as_deref(), &id, "the message id");
    check_error(&e);
}

/// Only RFC 3986's unreserved characters, percent escapes and the query's
/// own delimiters: nothing that ends the request line or starts a header.
fn url_safe(query: &str) -> bool {
    query
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~%=&?".contains(&b))
}

fn round_trip(filters: &Filters, what: &str) {
    for dialect in DIALECTS {
        let query = query_string(&filters.query(dialect));
        assert!(url_safe(&query), "{what}: {query:?}");
        let again = Filters::parse_user(query.strip_prefix('?').unwrap_or(&query));
        assert_eq!(
            again.as_ref(),
            Ok(filters),
            "{what}: written {query:?} for {dialect}"
        );
    }
    for field in filters.fields() {
        assert!(
            !field.is_empty()
                && field
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{what}: field {field:?}"
        );
    }
}

/// Fields: the `filter` text (the whole input, then field 0), the
/// `api_path` text (field 1), then (field, value) pairs of a filter the
/// backend builds.
pub fn rest_filter(data: &[u8]) {
    let f = Fields::new(data);
    for text in [String::from_utf8_lossy(data).into_owned(), f.text(0)] {
        match Filters::parse_user(&text) {
            Ok(filters) => round_trip(&filters, &text),
            Err(m) => assert!(!m.contains(['\n', '\r']), "a refusal of two lines: {m:?}"),
        }
    }

    let api_path = f.text(1);
    match ApiChoice::parse(Some(&api_path)) {
        Ok(ApiChoice::Detect) => assert!(api_path.trim().is_empty(), "{api_path:?}"),
        Ok(ApiChoice::Forced { base, dialect }) => {
            assert!(base.starts_with('/') && !base.contains("//"), "{base:?}");
            assert!(
                base.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b)),
                "{base:?}"
            );
            assert!(!base.split('/').any(|s| s == ".."), "{base:?}");
            assert!(
                base.ends_with(&format!("/{}", dialect.segment())),
                "{base:?}"
            );
            assert_eq!(
                ApiChoice::parse(Some(&base)),
                Ok(ApiChoice::Forced {
                    base: base.clone(),
                    dialect
                }),
                "{api_path:?} read as {base:?}, which reads otherwise"
            );
        }
        Err(m) => assert!(!m.contains(['\n', '\r']), "a refusal of two lines: {m:?}"),
    }

    // Any field and value the backend may filter by: written for either
    // dialect, read back.
    let pairs = f.rest(2);
    let mut built = Filters::new();
    for pair in pairs.chunks(2).take(8) {
        let field: String = pair[0]
            .chars()
            .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if field.is_empty() {
            continue;
        }
        built.add(&field, pair.get(1).map(String::as_str).unwrap_or(""));
    }
    round_trip(&built, "a built filter");
}
