//! fence_vmware_esxi as a library: the parsers of what an ESXi host prints
//! (public, so that fuzz targets and tests can feed them anything) and the
//! agent built on them.

mod device;
pub mod esxcli;
mod fallback;
pub mod getallvms;
pub mod guest_free;
mod spec;
pub mod summary;
pub mod vimcmd;
pub mod vmodl;

pub use spec::spec;
