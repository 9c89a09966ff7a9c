//! Where the daemon gets one [`PowerControl`] per configured VM: the seam
//! between the IPMI side (this crate) and vSphere.
//!
//! Part 1 of vmware-vbmc has no vSphere side yet: `connect` refuses, and
//! `vmware-vbmc run` stops there with that message. Part 2 replaces the
//! body with the adapter to the shared vSphere core (vsphere/core,
//! vsphere/soap): one login to `config.vcenter` kept alive, each
//! `config.vms[i].plug` resolved exactly as fence_vmware resolves it, and a
//! `PowerControl` per VM in the same order.

use std::sync::Arc;

use crate::config::Config;
use crate::power::PowerControl;

/// One `PowerControl` per `config.vms`, in order, or why not.
pub fn connect(config: &Config) -> Result<Vec<Arc<dyn PowerControl>>, String> {
    let _ = config;
    Err("this build has no vSphere connection yet (vmware-vbmc part 1: the IPMI side only)".into())
}
