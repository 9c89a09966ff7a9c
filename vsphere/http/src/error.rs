//! Every way a request can fail, typed so that callers map them to their
//! own messages and exit codes.
//!
//! No message here ever quotes a request body, a header value or response
//! bytes: callers send passwords and session tokens in bodies and headers,
//! and a hostile server could echo them. Messages name stages, limits,
//! header names, host names and addresses only.

use std::fmt;

/// What the client was doing when a wait ran out or the peer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Resolve,
    Connect,
    Handshake,
    Send,
    StatusLine,
    Headers,
    Body,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Resolve => "resolving the host name",
            Stage::Connect => "connecting",
            Stage::Handshake => "doing the TLS handshake",
            Stage::Send => "sending the request",
            Stage::StatusLine => "reading the status line",
            Stage::Headers => "reading the response headers",
            Stage::Body => "reading the response body",
        })
    }
}

/// How a response broke HTTP/1.1 (RFC 9112).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    StatusLine,
    HeaderLine,
    /// A header line starting with a blank: obsolete line folding, which
    /// RFC 9112 section 5.2 lets a client reject.
    FoldedHeader,
    /// Not digits, or two different values.
    ContentLength,
    /// A coding other than chunked: this client asks for none.
    TransferEncoding,
    /// Both framings at once, the shape of a smuggling attempt.
    LengthAndChunked,
    ChunkSize,
    /// Chunk data not followed by CRLF.
    ChunkEnd,
    /// The connection ended before the message did.
    Truncated(Stage),
    /// Bytes after the end of the response, which this client never asked
    /// for (it sends one request at a time).
    ExcessData,
    /// More interim (1xx) responses than any server sends.
    InterimFlood,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::StatusLine => {
                f.write_str("the status line is not HTTP/1.x with a 3-digit code")
            }
            Malformed::HeaderLine => f.write_str("a header line is not 'name: value'"),
            Malformed::FoldedHeader => f.write_str("a header is folded over several lines"),
            Malformed::ContentLength => f.write_str("the Content-Length is not one decimal number"),
            Malformed::TransferEncoding => f.write_str("the Transfer-Encoding is not chunked"),
            Malformed::LengthAndChunked => {
                f.write_str("the response has both Content-Length and Transfer-Encoding")
            }
            Malformed::ChunkSize => f.write_str("a chunk size is not a hexadecimal number"),
            Malformed::ChunkEnd => f.write_str("a chunk is not followed by CRLF"),
            Malformed::Truncated(stage) => write!(f, "the connection closed while {stage}"),
            Malformed::ExcessData => {
                f.write_str("the server sent bytes after the end of the response")
            }
            Malformed::InterimFlood => f.write_str("too many interim (1xx) responses"),
        }
    }
}

/// The bounds a response must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Bytes of the status line and headers (and of chunked trailers).
    HeaderBytes,
    HeaderCount,
    Body,
    /// One chunk-size line, extensions included.
    ChunkLine,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::HeaderBytes => "bytes of headers",
            Limit::HeaderCount => "headers",
            Limit::Body => "bytes of body",
            Limit::ChunkLine => "bytes in a chunk-size line",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The deadline passed.
    #[error("no answer in time: the deadline passed while {stage}")]
    Timeout { stage: Stage },
    /// The name did not resolve, or not to an address of the family asked for.
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    /// No address accepted a TCP connection.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// TLS set-up, the handshake or the certificate failed; the text says
    /// which (a certificate not trusted, one for another host, a handshake
    /// failure, a missing or garbled CA file).
    #[error("TLS: {0}")]
    Tls(String),
    /// The connection failed in mid-request (reset, broken pipe).
    #[error("I/O error while {stage}: {source}")]
    Io {
        stage: Stage,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed HTTP response: {0}")]
    Protocol(Malformed),
    #[error("the response exceeds the limit of {max} {limit}")]
    TooLarge { limit: Limit, max: u64 },
    /// The caller's request cannot be sent as asked (a header name or
    /// value with CR or LF, a framing header the client sets itself).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}
