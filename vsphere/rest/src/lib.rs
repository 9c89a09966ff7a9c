//! A vSphere Automation API client (the REST API of vCenter 6.5 and
//! later, at `/rest` and `/api`), only the calls a fence agent needs, and
//! [`RestBackend`], vsphere-core's backend on it.
//!
//! - [`dialect`]: `/api` and `/rest`, and the `api_path` option.
//! - [`query`]: list filters, the user's `filter` in either spelling.
//! - [`error`]: vAPI errors and transport failures in the core's terms.
//! - [`gate`]: a session shared with the signal handler that ends it.
//! - [`client`]: login, the session token, calls, logout (also from a
//!   signal handler).
//! - [`vim25`]: the vim25 session beside it, for what the API does not
//!   show (VM connection states, UUIDs).
//! - [`backend`]: vsphere-core's trait over them.

pub mod backend;
pub mod client;
pub mod dialect;
pub mod error;
pub mod gate;
pub mod query;
pub mod vim25;

#[cfg(test)]
mod testing;

pub use backend::{LoggedOut, RestBackend, SignalLogout};
pub use client::{Api, LogoutHandle};
pub use dialect::{ApiChoice, Dialect};
pub use query::Filters;
