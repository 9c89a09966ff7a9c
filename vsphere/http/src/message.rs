//! HTTP/1.1 messages (RFC 9112): the request this client writes and the
//! response it reads, within limits, from any `BufRead`: a connection, or
//! a byte slice for [`parse_response`].

use std::fmt;
use std::io::{self, BufRead, Read};

use crate::error::{Error, Limit, Malformed, Stage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// RFC 9110 section 9.2.2: sending it twice does what sending it once
    /// does, so a request lost with a stale connection may be sent again.
    pub fn idempotent(self) -> bool {
        !matches!(self, Method::Post | Method::Patch)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bounds a response must stay within; each one exceeded is
/// [`Error::TooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Status line and header lines together (and chunked trailers).
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_body: u64,
}

impl Default for Limits {
    /// Generous for vSphere (a RetrievePropertiesEx page of a large
    /// inventory is a few MiB) yet finite.
    fn default() -> Limits {
        Limits {
            max_header_bytes: 64 * 1024,
            max_headers: 128,
            max_body: 64 * 1024 * 1024,
        }
    }
}

/// The longest chunk-size line (size and extensions) accepted.
pub const MAX_CHUNK_LINE: usize = 1024;
/// Interim 1xx responses skipped before the final one.
const MAX_INTERIM: usize = 8;

/// Response headers in the order received, names as sent.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// The first value of the header `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of the header `name`, in order (Set-Cookie comes many
    /// times).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a comma-separated header holds `token` (case-insensitive).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Names only: values carry session cookies.
impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(n, _)| n))
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// Status, header names and body length: the body and header values may
/// hold tokens.
impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A response read off a connection, and whether that connection may
/// carry the next request.
#[derive(Debug)]
pub(crate) struct Received {
    pub response: Response,
    pub reusable: bool,
}

/// Parses `bytes` as everything a server sent on a connection in answer to
/// one `method` request, the end of `bytes` being the end of the
/// connection. The client reads connections with the same code; this is
/// the entry point for fuzzing and tests. Never panics, whatever the
/// bytes.
pub fn parse_response(bytes: &[u8], method: Method, limits: &Limits) -> Result<Response, Error> {
    let mut rest = bytes;
    let received = read_response(&mut rest, method, limits)?;
    if received.reusable && !rest.is_empty() {
        return Err(Error::Protocol(Malformed::ExcessData));
    }
    Ok(received.response)
}

/// Sorts an I/O failure: the deadline (the connection's read timeout is
/// always the time left), the end of the stream, TLS, or the peer failing.
pub(crate) fn io_error(stage: Stage, e: io::Error) -> Error {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return Error::Tls(format!("while {stage}: {tls}"));
    }
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout { stage },
        io::ErrorKind::UnexpectedEof => Error::Protocol(Malformed::Truncated(stage)),
        _ => Error::Io { stage, source: e },
    }
}

pub(crate) fn read_response<R: BufRead>(
    r: &mut R,
    method: Method,
    limits: &Limits,
) -> Result<Received, Error> {
    for _ in 0..=MAX_INTERIM {
        let mut budget = limits.max_header_bytes;
        let status_line = read_line(r, &mut budget, Limit::HeaderBytes, Stage::StatusLine)?;
        let (http10, status) = parse_status_line(&status_line)?;
        let mut headers = Headers::default();
        read_header_block(r, &mut headers, &mut budget, limits)?;
        if (100..200).contains(&status) && status != 101 {
            // RFC 9110 section 15.2: interim answers precede the real one.
            continue;
        }
        return read_body(r, method, limits, http10, status, headers, budget);
    }
    Err(Error::Protocol(Malformed::InterimFlood))
}

fn read_body<R: BufRead>(
    r: &mut R,
    method: Method,
    limits: &Limits,
    http10: bool,
    status: u16,
    headers: Headers,
    mut budget: usize,
) -> Result<Received, Error> {
    let keep_alive = if http10 {
        headers.has_token("connection", "keep-alive")
    } else {
        !headers.has_token("connection", "close")
    };
    let bodiless = method == Method::Head || status == 204 || status == 304 || status == 101;
    let chunked = chunked_framing(&headers)?;
    let length = content_length(&headers)?;
    let mut body = Vec::new();
    let reusable = if bodiless {
        keep_alive && status != 101
    } else if chunked {
        if length.is_some() {
            return Err(Error::Protocol(Malformed::LengthAndChunked));
        }
        read_chunked(r, &mut body, &mut budget, limits)?;
        keep_alive
    } else if let Some(length) = length {
        if length > limits.max_body {
            return Err(Error::TooLarge {
                limit: Limit::Body,
                max: limits.max_body,
            });
        }
        read_exactly(r, length, &mut body)?;
        keep_alive
    } else {
        // Neither framing: the body ends with the connection (RFC 9112
        // section 6.3, rule 8).
        let got = r
            .take(limits.max_body.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| io_error(Stage::Body, e))?;
        if got as u64 > limits.max_body {
            return Err(Error::TooLarge {
                limit: Limit::Body,
                max: limits.max_body,
            });
        }
        false
    };
    Ok(Received {
        response: Response {
            status,
            headers,
            body,
        },
        reusable,
    })
}

/// One line ending in LF (CR before it dropped), charged to `budget`.
fn read_line<R: BufRead>(
    r: &mut R,
    budget: &mut usize,
    limit: Limit,
    stage: Stage,
) -> Result<Vec<u8>, Error> {
    let max = *budget;
    let mut line = Vec::new();
    let got = r
        .take(max as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| io_error(stage, e))?;
    if line.last() != Some(&b'\n') {
        if got > max {
            return Err(Error::TooLarge {
                limit,
                max: max as u64,
            });
        }
        return Err(Error::Protocol(Malformed::Truncated(stage)));
    }
    if got > max {
        return Err(Error::TooLarge {
            limit,
            max: max as u64,
        });
    }
    *budget -= got;
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

/// `HTTP/1.x NNN reason`: whether it is HTTP/1.0, and the code.
fn parse_status_line(line: &[u8]) -> Result<(bool, u16), Error> {
    let bad = Error::Protocol(Malformed::StatusLine);
    let rest = match line.strip_prefix(b"HTTP/1.") {
        Some(rest) => rest,
        None => return Err(bad),
    };
    let http10 = match rest.first() {
        Some(b'0') => true,
        Some(b'1') => false,
        _ => return Err(bad),
    };
    let code = match rest.get(1..5) {
        Some([b' ', a, b, c]) if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(bad),
    };
    if !(100..=599).contains(&code) {
        return Err(bad);
    }
    match rest.get(5) {
        None | Some(b' ') => Ok((http10, code)),
        Some(_) => Err(bad),
    }
}

/// RFC 9110 section 5.6.2.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Header lines up to the empty line, appended to `headers`.
fn read_header_block<R: BufRead>(
    r: &mut R,
    headers: &mut Headers,
    budget: &mut usize,
    limits: &Limits,
) -> Result<(), Error> {
    loop {
        let line = read_line(r, budget, Limit::HeaderBytes, Stage::Headers)?;
        if line.is_empty() {
            return Ok(());
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(Error::Protocol(Malformed::FoldedHeader));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(Error::Protocol(Malformed::HeaderLine))?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
            return Err(Error::Protocol(Malformed::HeaderLine));
        }
        if value.iter().any(|&b| b == b'\r' || b == 0) {
            return Err(Error::Protocol(Malformed::HeaderLine));
        }
        if headers.len() >= limits.max_headers {
            return Err(Error::TooLarge {
                limit: Limit::HeaderCount,
                max: limits.max_headers as u64,
            });
        }
        let value = String::from_utf8_lossy(value)
            .trim_matches([' ', '\t'])
            .to_string();
        // Token bytes are ASCII.
        let name = String::from_utf8_lossy(name).into_owned();
        headers.0.push((name, value));
    }
}

/// Whether the body is chunked: Transfer-Encoding must be exactly that,
/// as this client asks for no other coding.
fn chunked_framing(headers: &Headers) -> Result<bool, Error> {
    let codings: Vec<&str> = headers
        .get_all("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if codings.is_empty() {
        return match headers.get("transfer-encoding") {
            Some(_) => Err(Error::Protocol(Malformed::TransferEncoding)),
            None => Ok(false),
        };
    }
    if codings.len() == 1 && codings[0].eq_ignore_ascii_case("chunked") {
        Ok(true)
    } else {
        Err(Error::Protocol(Malformed::TransferEncoding))
    }
}

/// RFC 9110 section 8.6: repeated identical values are one value.
fn content_length(headers: &Headers) -> Result<Option<u64>, Error> {
    let mut found: Option<u64> = None;
    for part in headers
        .get_all("content-length")
        .flat_map(|v| v.split(','))
        .map(str::trim)
    {
        if part.is_empty() || part.len() > 19 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Protocol(Malformed::ContentLength));
        }
        let n: u64 = part
            .parse()
            .map_err(|_| Error::Protocol(Malformed::ContentLength))?;
        match found {
            Some(prev) if prev != n => return Err(Error::Protocol(Malformed::ContentLength)),
            _ => found = Some(n),
        }
    }
    Ok(found)
}

/// Exactly `length` more bytes of body, or the connection's end is a
/// truncation.
fn read_exactly<R: BufRead>(r: &mut R, length: u64, body: &mut Vec<u8>) -> Result<(), Error> {
    let got = r
        .take(length)
        .read_to_end(body)
        .map_err(|e| io_error(Stage::Body, e))?;
    if (got as u64) < length {
        return Err(Error::Protocol(Malformed::Truncated(Stage::Body)));
    }
    Ok(())
}

/// RFC 9112 section 7.1: chunks until the zero-size one, then trailers,
/// which are read within the header budget and dropped.
fn read_chunked<R: BufRead>(
    r: &mut R,
    body: &mut Vec<u8>,
    header_budget: &mut usize,
    limits: &Limits,
) -> Result<(), Error> {
    loop {
        let mut line_budget = MAX_CHUNK_LINE;
        let line = read_line(r, &mut line_budget, Limit::ChunkLine, Stage::Body)?;
        let size_text = match line.iter().position(|&b| b == b';') {
            Some(semicolon) => &line[..semicolon],
            None => &line[..],
        };
        let size_text = size_text.trim_ascii_end();
        if size_text.is_empty()
            || size_text.len() > 15
            || !size_text.iter().all(u8::is_ascii_hexdigit)
        {
            return Err(Error::Protocol(Malformed::ChunkSize));
        }
        let size = size_text.iter().fold(0u64, |n, &d| {
            n * 16 + u64::from((d as char).to_digit(16).unwrap_or(0))
        });
        if size == 0 {
            let mut trailers = Headers::default();
            return read_header_block(r, &mut trailers, header_budget, limits);
        }
        if (body.len() as u64).saturating_add(size) > limits.max_body {
            return Err(Error::TooLarge {
                limit: Limit::Body,
                max: limits.max_body,
            });
        }
        read_exactly(r, size, body)?;
        let mut end_budget = 2;
        match read_line(r, &mut end_budget, Limit::ChunkLine, Stage::Body) {
            Ok(end) if end.is_empty() => {}
            Ok(_) | Err(Error::TooLarge { .. }) => {
                return Err(Error::Protocol(Malformed::ChunkEnd))
            }
            Err(e) => return Err(e),
        }
    }
}

/// The request bytes: request line, Host, the caller's headers, framing,
/// body. Refuses what would let a header name or value or the path break
/// the framing; the error names the header, never its value.
pub(crate) fn encode_request(
    method: Method,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Vec<u8>, Error> {
    if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidRequest(
            "the path must start with '/' and hold only visible ASCII".into(),
        ));
    }
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(Error::InvalidRequest(
                "a header name is empty or not an HTTP token".into(),
            ));
        }
        if ["host", "content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|own| name.eq_ignore_ascii_case(own))
        {
            return Err(Error::InvalidRequest(format!(
                "the client sets the {name} header itself"
            )));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Error::InvalidRequest(format!(
                "the value of the {name} header holds CR, LF or NUL"
            )));
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || matches!(method, Method::Post | Method::Put | Method::Patch) {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Response, Error> {
        parse_response(bytes, Method::Post, &Limits::default())
    }

    #[test]
    fn content_length_chunked_and_close_delimited_bodies() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\nhello").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        assert_eq!(
            r.headers.get_all("Set-Cookie").collect::<Vec<_>>(),
            ["a=1", "b=2"]
        );
        let r = parse(b"HTTP/1.1 500 Internal\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n").unwrap();
        assert_eq!(
            (r.status, r.body.as_slice()),
            (500, &b"hello0123456789"[..])
        );
        let r = parse(b"HTTP/1.0 200 OK\n\nuntil the end").unwrap();
        assert_eq!(r.body, b"until the end");
        let r = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
        let head = parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
            Method::Head,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(head.body.len(), 0);
    }

    #[test]
    fn keep_alive_follows_version_and_connection_header() {
        let reuse = |bytes: &[u8]| {
            read_response(&mut &bytes[..], Method::Get, &Limits::default())
                .unwrap()
                .reusable
        };
        assert!(reuse(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(!reuse(
            b"HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!reuse(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(reuse(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!reuse(b"HTTP/1.1 200 OK\r\n\r\nclose-delimited"));
    }

    #[test]
    fn malformed_responses_are_typed_errors() {
        use Malformed::*;
        let cases: &[(&[u8], Malformed)] = &[
            (b"HTTP/2 200 OK\r\n\r\n", StatusLine),
            (b"HTTP/1.1 20 OK\r\n\r\n", StatusLine),
            (b"HTTP/1.1 200OK\r\n\r\n", StatusLine),
            (b"HTTP/1.1 999 OK\r\n\r\n", StatusLine),
            (b"SSH-2.0-OpenSSH\r\n", StatusLine),
            (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", HeaderLine),
            (b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n", HeaderLine),
            (b"HTTP/1.1 200 OK\r\nA: b\r\n  folded\r\n\r\n", FoldedHeader),
            (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", ContentLength),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", ContentLength),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", ContentLength),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", TransferEncoding),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", LengthAndChunked),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ChunkSize),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", ChunkSize),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", ChunkEnd),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", Truncated(Stage::Body)),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", Truncated(Stage::Body)),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", Truncated(Stage::Body)),
            (b"HTTP/1.1 200 OK\r\nContent-Le", Truncated(Stage::Headers)),
            (b"HTTP/1.1 20", Truncated(Stage::StatusLine)),
            (b"", Truncated(Stage::StatusLine)),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc", ExcessData),
            (&b"HTTP/1.1 100 Continue\r\n\r\n".repeat(20), InterimFlood),
        ];
        for (bytes, want) in cases {
            match parse(bytes) {
                Err(Error::Protocol(got)) => {
                    assert_eq!(got, *want, "{}", String::from_utf8_lossy(bytes))
                }
                other => panic!("{}: {other:?}", String::from_utf8_lossy(bytes)),
            }
        }
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_header_bytes: 100,
            max_headers: 3,
            max_body: 10,
        };
        let too_large = |bytes: &[u8]| match parse_response(bytes, Method::Get, &limits) {
            Err(Error::TooLarge { limit, .. }) => limit,
            other => panic!("{}: {other:?}", String::from_utf8_lossy(bytes)),
        };
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(200));
        assert_eq!(too_large(long.as_bytes()), Limit::HeaderBytes);
        let endless = format!("HTTP/1.1 200 OK{}", "a".repeat(200));
        assert_eq!(too_large(endless.as_bytes()), Limit::HeaderBytes);
        assert_eq!(
            too_large(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"),
            Limit::HeaderCount
        );
        assert_eq!(
            too_large(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"),
            Limit::Body
        );
        assert_eq!(
            too_large(b"HTTP/1.1 200 OK\r\n\r\n0123456789a"),
            Limit::Body
        );
        assert_eq!(
            too_large(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n"),
            Limit::Body
        );
        let ext = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;{}\r\n",
            "e".repeat(MAX_CHUNK_LINE)
        );
        assert_eq!(too_large(ext.as_bytes()), Limit::ChunkLine);
        // Exactly at the limits is fine.
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
            Method::Get,
            &limits,
        )
        .unwrap();
        assert_eq!(r.body.len(), 10);
    }

    /// Arbitrary bytes and mutations of valid responses: an error or a
    /// response, never a panic, and never a body over the limit.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let seeds: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.0 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nbody",
        ];
        let limits = Limits {
            max_header_bytes: 256,
            max_headers: 8,
            max_body: 64,
        };
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"HTTP/1.0 \r\n:;-chunkedContent-Length0123456789abcdefxz\t\x00\xff";
        for round in 0..20_000 {
            let mut bytes = seeds[round % seeds.len()].to_vec();
            for _ in 0..(next() % 6) {
                let pos = (next() as usize) % (bytes.len() + 1);
                let b = alphabet[(next() as usize) % alphabet.len()];
                match next() % 3 {
                    0 => bytes.insert(pos, b),
                    1 if pos < bytes.len() => {
                        bytes.remove(pos);
                    }
                    _ if pos < bytes.len() => bytes[pos] = b,
                    _ => {}
                }
            }
            if let Ok(r) = parse_response(&bytes, Method::Get, &limits) {
                assert!(r.body.len() as u64 <= limits.max_body);
                assert!(r.headers.len() <= limits.max_headers);
            }
        }
    }

    #[test]
    fn request_encoding_and_refusals() {
        let bytes = encode_request(
            Method::Post,
            "[::1]:443",
            "/sdk",
            &[("SOAPAction", "\"urn:vim25/6.0\"")],
            b"<x/>",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "POST /sdk HTTP/1.1\r\nHost: [::1]:443\r\nSOAPAction: \"urn:vim25/6.0\"\r\nContent-Length: 4\r\n\r\n<x/>"
        );
        let get = encode_request(Method::Get, "h:80", "/", &[], b"").unwrap();
        assert_eq!(get, b"GET / HTTP/1.1\r\nHost: h:80\r\n\r\n");
        let secret = "s3cret";
        for (path, headers) in [
            ("sdk", vec![]),
            ("/a b", vec![]),
            ("/", vec![("Cookie", "x=s3cret\r\nInjected: 1")]),
            ("/", vec![("Bad Name", secret)]),
            ("/", vec![("content-length", secret)]),
            ("/", vec![("Transfer-Encoding", secret)]),
        ] {
            match encode_request(Method::Get, "h:80", path, &headers, b"") {
                Err(Error::InvalidRequest(m)) => assert!(!m.contains(secret), "{m}"),
                other => panic!("{path:?} {headers:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn debug_output_hides_values_and_bodies() {
        let r = parse(b"HTTP/1.1 200 OK\r\nSet-Cookie: vmware_soap_session=TOKEN\r\nContent-Length: 6\r\n\r\nSECRET").unwrap();
        let shown = format!("{r:?}");
        assert!(
            shown.contains("Set-Cookie") && shown.contains("body_len: 6"),
            "{shown}"
        );
        assert!(
            !shown.contains("TOKEN") && !shown.contains("SECRET"),
            "{shown}"
        );
    }
}
