//! A small vSphere Web Services (vim25) client: SOAP over HTTP(S), only
//! the calls a fence agent needs, and [`SoapBackend`], vsphere-core's
//! backend on it.
//!
//! - [`elem`]: the owned reply tree (bounded depth), managed object refs.
//! - [`fault`]: SOAP faults and task errors.
//! - [`error`]: every way a call fails.
//! - [`envelope`]: request envelopes.
//! - [`reply`]: reading a reply within its limits.
//! - [`parse`]: replies into typed values (total functions, for fuzzing).
//! - [`http`]: the one HTTP call vim25 needs ([`http::HttpPost`]), on
//!   vsphere-http's deadline-bounded client.
//! - [`transport`]: a call, with the session cookie.
//! - [`client`]: the typed calls.
//! - [`operations`]: the calls beside power: a guest shutdown, the boot
//!   order read and changed.
//! - [`backend`]: vsphere-core's trait over them.

pub mod backend;
pub mod client;
pub mod elem;
pub mod envelope;
pub mod error;
pub mod fault;
pub mod http;
pub mod operations;
pub mod parse;
pub mod reply;
pub mod transport;

pub use backend::{to_backend, LogoutHandle, NamedReading, SoapBackend};
pub use elem::{Elem, Moref};
pub use error::Error;
pub use fault::{Fault, FaultKind};
pub use http::{Endpoint, Family, HttpPost, SdkHttp, TlsPolicy};
