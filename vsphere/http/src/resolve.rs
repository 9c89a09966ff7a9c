//! From an endpoint to a connected socket, within the deadline: the
//! framework's bounded resolver and connect (agent_framework::net, shared
//! with the SSH agents), their failures in this crate's terms.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use agent_framework::net::{self, ConnectError, ResolveError};
use agent_framework::Deadline;

pub use agent_framework::net::{Resolver, SystemResolver};

use crate::endpoint::{Endpoint, Family};
use crate::error::{Error, Stage};

/// The addresses to try, in the resolver's order, restricted to `family`.
/// An address literal is used as it is, without asking anyone.
pub(crate) fn addresses(
    resolver: &Arc<dyn Resolver>,
    endpoint: &Endpoint,
    family: Family,
    deadline: Deadline,
) -> Result<Vec<SocketAddr>, Error> {
    net::addresses(resolver, &endpoint.host, endpoint.port, family, deadline).map_err(|e| match e {
        ResolveError::TimedOut => Error::Timeout {
            stage: Stage::Resolve,
        },
        other => Error::Resolve {
            host: endpoint.host.clone(),
            reason: other.to_string(),
        },
    })
}

/// Connects to the first address that accepts, each getting an equal
/// share of the time left.
pub(crate) fn connect(addrs: &[SocketAddr], deadline: Deadline) -> Result<TcpStream, Error> {
    net::connect(addrs, deadline).map_err(|e| match e {
        ConnectError::TimedOut(_) => Error::Timeout {
            stage: Stage::Connect,
        },
        ConnectError::Failed(tried) => Error::Connect(tried),
    })
}
