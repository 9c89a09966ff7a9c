//! fence_vmware (and fence_vmware_soap, the same program under another
//! name): fences virtual machines managed by VMware vCenter or ESXi
//! through the vSphere Web Services API, spoken natively; as
//! fence_vmware_rest, through vCenter's Automation API (REST).

mod device;
mod settings;
mod spec;
mod vmrun;

use agent_framework::{run, Config, Deadline, Device, FenceError};

use settings::{RestSettings, Settings};

/// The back end `vmware_type` chose: the vSphere API, or vmrun for
/// server1/server2 (fence_vmware only).
fn connect(cfg: &Config, deadline: Deadline) -> Result<Box<dyn Device>, FenceError> {
    match Settings::from_config(cfg)? {
        Settings::Vmrun(kind) => vmrun::connect(cfg, kind),
        Settings::Soap(soap) => device::connect_soap(cfg, soap, deadline),
    }
}

/// fence_vmware_rest: the Automation API.
fn connect_rest(cfg: &Config, deadline: Deadline) -> Result<Box<dyn Device>, FenceError> {
    device::connect_rest(cfg, RestSettings::from_config(cfg)?, deadline)
}

fn main() {
    let vmware = spec::fence_vmware(connect);
    let soap = spec::fence_vmware_soap(connect);
    let rest = spec::fence_vmware_rest(connect_rest);
    run::main(&[&vmware, &soap, &rest]);
}
