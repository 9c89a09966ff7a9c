//! fence_vmware (and fence_vmware_soap, the same program under another
//! name): fences virtual machines managed by VMware vCenter or ESXi
//! through the vSphere Web Services API, spoken natively.

mod esx;
mod names;
mod settings;
mod spec;
mod vim25;
mod vmrun;

use agent_framework::{run, Config, Deadline, Device, FenceError};

/// Picks the back end: the vSphere API, or vmrun for `vmware_type`
/// server1/server2 (fence_vmware only).
fn connect(cfg: &Config, deadline: Deadline) -> Result<Box<dyn Device>, FenceError> {
    match cfg
        .text("vmware_type")
        .map(|t| t.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("server1") => vmrun::connect(cfg, vmrun::Kind::Server1),
        Some("server2") => vmrun::connect(cfg, vmrun::Kind::Server2),
        _ => esx::connect(cfg, deadline),
    }
}

fn main() {
    let vmware = spec::fence_vmware(connect);
    let soap = spec::fence_vmware_soap(connect);
    run::main(&[&vmware, &soap]);
}
