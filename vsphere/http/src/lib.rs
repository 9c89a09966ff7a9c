//! A blocking HTTP/1.1 client, plain or over rustls, for the vSphere
//! agents, where every wait ends at the caller's deadline.
//!
//! A fence agent is a short-lived process that must answer Pacemaker in
//! time. Per-call socket timeouts do not give that: a peer that sends one
//! byte a second, a DNS server that never answers, a TLS handshake that
//! trickles, each can hold a client far past its timeout. Here a
//! [`Deadline`] bounds the whole request, measured in wall-clock time:
//! resolution (on a thread abandoned at the deadline), connecting, the
//! handshake, sending, the status line, the headers and the body.
//!
//! ```no_run
//! use std::time::Duration;
//! use vsphere_http::{Client, Deadline, Endpoint, Family, Method, TlsPolicy};
//!
//! let policy = TlsPolicy::Verify { ca_file: None };
//! let endpoint = Endpoint::parse("vcenter.example.org", None, &policy)?;
//! let mut client = Client::new(endpoint, &policy, Family::Any)?;
//! let reply = client.request(
//!     Method::Post,
//!     "/sdk",
//!     &[("Content-Type", "text/xml; charset=utf-8")],
//!     b"<soap/>",
//!     Deadline::after(Duration::from_secs(5)),
//! )?;
//! assert_eq!(reply.status, 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod endpoint;
mod error;
mod message;
mod resolve;
mod stream;
mod tls;
mod x509;

pub use agent_framework::Deadline;
pub use client::Client;
pub use endpoint::{Endpoint, Family};
pub use error::{Error, Limit, Malformed, Stage};
pub use message::{parse_response, Headers, Limits, Method, Response, MAX_CHUNK_LINE};
pub use resolve::{Resolver, SystemResolver};
pub use tls::TlsPolicy;

/// The readers of what a peer sends that are otherwise private, for the
/// fuzz targets in fuzz/ (which feed them arbitrary input). Not part of
/// the contract above.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::x509::validity;
}
