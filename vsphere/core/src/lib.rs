//! The rules of fencing a vSphere virtual machine, whatever API carries
//! them: no network code here.
//!
//! - [`names`]: how vCenter escapes names, and the shapes of UUIDs and ids.
//! - [`state`]: power and connection states, and which states fencing may
//!   believe.
//! - [`question`]: which VM questions are answered, and with what.
//! - [`boot`]: boot orders, firmware, and the order that puts a device
//!   first.
//! - [`backend`]: the trait an API implements (SOAP in `vsphere-soap`,
//!   the Automation API in `vsphere-rest`).
//! - [`fencer`]: plug lookup, reads, power tasks and listing on a backend;
//!   a guest shutdown and the boot order, by the same lookup and vouching
//!   rules.
//! - [`error`]: backend failures, and their fence-agents messages.

pub mod backend;
pub mod boot;
pub mod error;
pub mod fencer;
pub mod names;
pub mod question;
pub mod state;

#[cfg(test)]
mod scripted;

pub use backend::{Backend, Candidate, HostId, Listed, Lookup, PowerOp, Started, TaskId, VmId};
pub use boot::{BootClass, BootEntry, BootReading, BootSetting, BootTarget, DeviceKey, Firmware};
pub use error::{BackendError, OperationError};
pub use fencer::{Fencer, FencerOptions, Status};
pub use question::{Choice, Question, QuestionMessage};
pub use state::{Connection, HostReading, Refusal, TaskState, VmPower, VmReading};
