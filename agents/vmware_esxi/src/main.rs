//! fence_vmware_esxi: fences VMs on a VMware ESXi host over SSH with
//! `vim-cmd`, for hosts without a licence for the vSphere API. The work is
//! in the library; this is the program.

fn main() {
    agent_framework::run::main(&[&fence_vmware_esxi::spec()]);
}
