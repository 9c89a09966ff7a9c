//! Everything a vim25 call can fail with.

use crate::elem::Malformed;
use crate::fault::{Fault, FaultKind};

#[derive(Debug, Clone)]
pub enum Error {
    /// The server answered with a SOAP fault.
    Fault(Box<Fault>),
    /// No answer within the time the call was given.
    Timeout(String),
    /// The TLS handshake failed (certificate not trusted, wrong host name,
    /// protocol mismatch).
    Tls(String),
    /// No connection could be made (refused, no route, name not resolved).
    Connect(String),
    /// The connection broke during the call.
    Io(String),
    /// An HTTP error that is not a SOAP fault.
    Http(u16, String),
    /// A reply this client cannot read.
    Protocol(String),
}

impl Error {
    pub fn fault_kind(&self) -> Option<&FaultKind> {
        match self {
            Error::Fault(f) => Some(&f.kind),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Error::Fault(f) => f.describe(),
            Error::Timeout(m) => format!("no answer in time: {m}"),
            Error::Tls(m) => format!("TLS: {m}"),
            Error::Connect(m) => format!("cannot connect: {m}"),
            Error::Io(m) => format!("connection lost: {m}"),
            Error::Http(code, m) => format!("HTTP {code}: {m}"),
            Error::Protocol(m) => format!("unexpected reply: {m}"),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl From<Malformed> for Error {
    fn from(m: Malformed) -> Error {
        Error::Protocol(m.0)
    }
}
