//! Support for the cluster test suite: finding the built agents, and
//! starting the real peers the agents talk to (each in its own module).

pub mod esxi_host;
pub mod fault_proxy;
pub mod support;
pub mod vcsim;
pub mod vim25_session;
