//! fence_vmware (and fence_vmware_soap, the same program under another
//! name): fences virtual machines managed by VMware vCenter or ESXi
//! through the vSphere Web Services API, spoken natively.

mod device;
mod settings;
mod spec;
mod vmrun;

use agent_framework::{run, Config, Deadline, Device, FenceError};

use settings::Settings;

/// The back end `vmware_type` chose: the vSphere API, or vmrun for
/// server1/server2 (fence_vmware only).
fn connect(cfg: &Config, deadline: Deadline) -> Result<Box<dyn Device>, FenceError> {
    match Settings::from_config(cfg)? {
        Settings::Vmrun(kind) => vmrun::connect(cfg, kind),
        Settings::Soap(soap) => device::connect_soap(cfg, soap, deadline),
    }
}

fn main() {
    let vmware = spec::fence_vmware(connect);
    let soap = spec::fence_vmware_soap(connect);
    run::main(&[&vmware, &soap]);
}
