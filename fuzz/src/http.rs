//! HTTP/1.1 responses (vsphere_http::parse_response), under limits the
//! fuzzer picks.
//!
//! What must hold of a response the client accepts:
//! - it is within the limits: body, header count;
//! - it is a final answer (no 1xx but 101), with a body only where HTTP
//!   allows one;
//! - header names are tokens, values hold no CR, NUL or blank at either
//!   end;
//! - it reads the same when sent again framed by Content-Length, and its
//!   body reads the same when sent again chunked.
//!
//! A refusal is one line. The first byte picks the method, the next two
//! the limits; the rest is what the server sent.

use vsphere_http::{parse_response, Limits, Method, Response};

use crate::Choices;

const METHODS: [Method; 6] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
];

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_framing(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding")
}

/// The response as a server would send it again: its own headers
/// (without framing), a Content-Length or a chunked body, and nothing
/// after it.
/// (A response that has no body by HTTP's rules gets no framing at all:
/// its reader would not read it.)
fn encode(r: &Response, bodiless: bool, chunk_sizes: Option<&mut Choices>) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {:03} Again\r\n", r.status).into_bytes();
    for (name, value) in r.headers.iter().filter(|(n, _)| !is_framing(n)) {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    match chunk_sizes {
        _ if bodiless => out.extend_from_slice(b"\r\n"),
        None => {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", r.body.len()).as_bytes());
            out.extend_from_slice(&r.body);
        }
        Some(sizes) => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = &r.body[..];
            while !rest.is_empty() {
                let n = (1 + sizes.below(64)).min(rest.len());
                out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                out.extend_from_slice(&rest[..n]);
                out.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }
    out
}

fn headers_without_framing(r: &Response) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(n, _)| !is_framing(n))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

pub fn http_response(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let method = METHODS[usize::from(data[0]) % METHODS.len()];
    let limits = Limits {
        max_header_bytes: 16 + usize::from(data[1]) * 64,
        max_headers: 1 + usize::from(data[2] % 32),
        max_body: u64::from(data[2]) * 256,
    };
    let bytes = &data[3..];
    let response = match parse_response(bytes, method, &limits) {
        Ok(r) => r,
        Err(e) => {
            let message = e.to_string();
            assert!(
                !message.contains('\n'),
                "a refusal of two lines: {message:?}"
            );
            return;
        }
    };
    assert!(
        (200..=599).contains(&response.status) || response.status == 101,
        "status {} accepted as the final answer",
        response.status
    );
    assert!(
        response.body.len() as u64 <= limits.max_body,
        "body over the limit"
    );
    assert!(
        response.headers.len() <= limits.max_headers,
        "headers over the limit"
    );
    let bodiless = method == Method::Head || [101, 204, 304].contains(&response.status);
    if bodiless {
        assert!(response.body.is_empty(), "a body where HTTP allows none");
    }
    for (name, value) in response.headers.iter() {
        assert!(is_token(name), "header name {name:?}");
        assert!(
            !value.contains(['\r', '\n', '\0']),
            "header value {value:?} of {name}"
        );
        assert_eq!(value, value.trim_matches([' ', '\t']), "value of {name}");
    }

    // Sent again: the same response. Limits that cannot bind, since the
    // point here is the reading, not the bounds.
    let roomy = Limits {
        // A byte that is not UTF-8 comes back as three (U+FFFD).
        max_header_bytes: 3 * bytes.len() + 4096,
        max_headers: response.headers.len() + 1,
        max_body: response.body.len() as u64,
    };
    let mut sizes = Choices::new(bytes);
    for framing in [None, Some(&mut sizes)] {
        let chunked = framing.is_some();
        let again = encode(&response, bodiless, framing);
        let reread = parse_response(&again, method, &roomy).unwrap_or_else(|e| {
            panic!(
                "the response sent again ({}) is refused: {e}",
                if chunked { "chunked" } else { "with a length" }
            )
        });
        assert_eq!(reread.status, response.status);
        assert_eq!(
            headers_without_framing(&reread),
            headers_without_framing(&response)
        );
        assert_eq!(reread.body, response.body, "chunked: {chunked}");
    }
}
