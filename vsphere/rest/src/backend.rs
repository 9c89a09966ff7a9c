//! vsphere-core's [`Backend`] over the Automation API: each call of the
//! trait as the list and power calls that answer it. What a plug means,
//! which state may be believed, what a failure means to the cluster, are
//! the core's.
//!
//! What the API does not offer, and how this backend makes up for it:
//!
//! - No connection state of a VM: a VM orphaned, inaccessible or invalid
//!   on a connected host looks like any other, with the last power state
//!   vCenter heard. Every read of a VM's state is therefore vim25's
//!   (see [`crate::vim25`]): its power and connection state from one
//!   request, then its host's connection state. list-status pairs each
//!   listed VM with vim25's reading of it, between two reads of the
//!   hosts' `connection_state` (vcenter/host).
//! - No search by UUID: a plug shaped like a UUID is looked up with vim25's
//!   SearchIndex (one call whatever the inventory), and each VM it names
//!   must be listed here too (in `vmware_datacenter`, when given).
//! - No inventory paths, no tasks, no VM questions, no template flag:
//!   vCenter's vcenter/vm lists no templates (ansible-collections
//!   vmware.vmware_rest #473: "currently limitation in the Vmware REST
//!   API").
//! - A cap on every list (1,000 VMs on /rest, 4,000 on /api): a list the
//!   server refuses as too large is split by folder, then host, then
//!   power state, and merged by VM id.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use agent_framework::{logging, Deadline, Secret};
use vsphere_core::{
    names, Backend, BackendError, Candidate, Connection, HostId, HostReading, Listed, Lookup,
    PowerOp, Started, TaskId, TaskState, VmId, VmReading,
};
use vsphere_http::{Client, Method};
use vsphere_soap::HttpPost;

use crate::client::{Api, Failure, LogoutHandle, RestClient};
use crate::dialect::ApiChoice;
use crate::error::VapiError;
use crate::query::{encode, Filters};
use crate::vim25::{Vim25, Vim25Logout};

/// vcenter/vm list item (REST 6.5 docs, vm.list: VM.Summary).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VmSummary {
    pub vm: String,
    pub name: String,
}

/// vcenter/host list item (Host.Summary).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HostSummary {
    pub host: String,
    #[serde(default)]
    pub connection_state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FolderSummary {
    pub folder: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DatacenterSummary {
    pub datacenter: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// The power states the API knows (REST 6.5 docs, vm power state enum):
/// a split by them leaves no VM out.
const POWER_STATES: [&str; 3] = ["POWERED_ON", "POWERED_OFF", "SUSPENDED"];

/// How long ending the vim25 session may take after the Automation API
/// refused the login.
const LOGOUT_AFTER_REFUSAL: Duration = Duration::from_secs(2);

/// How many ids one filter may hold: a query string of a few kilobytes
/// at most, whatever the inventory.
const IDS_PER_QUERY: usize = 64;

/// What a list too large for the server is split by, in this order: a
/// VM is in exactly one folder (`folders` matches a VM's own folder only:
/// a VMware engineer in vsphere-automation-sdk-python #87), on one host,
/// in one power state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    Folders,
    Hosts,
    PowerStates,
}

impl Split {
    fn field(self) -> &'static str {
        match self {
            Split::Folders => "folders",
            Split::Hosts => "hosts",
            Split::PowerStates => "power_states",
        }
    }
}

pub struct RestBackend {
    client: RestClient,
    datacenter: Option<String>,
    /// The datacenter filter, once found (empty without vmware_datacenter).
    scope: Option<Filters>,
    /// The user's `filter`, applied to list and monitor as fence-agents
    /// does.
    list_filter: Filters,
    /// The name this API gave each VM found, which vim25 must give too.
    names: HashMap<VmId, String>,
    vim25: Vim25,
}

/// Ends both sessions from another thread (the signal handler).
#[derive(Clone)]
pub struct SignalLogout {
    rest: LogoutHandle,
    vim25: Vim25Logout,
}

/// What [`SignalLogout::logout`] did with each session: whether one was
/// ended.
pub struct LoggedOut {
    pub rest: Result<bool, BackendError>,
    pub vim25: Result<bool, BackendError>,
}

impl SignalLogout {
    /// Ends both sessions at once, each within `deadline` (one after the
    /// other when no thread can be started).
    pub fn logout(&self, deadline: Deadline) -> LoggedOut {
        let vim25 = self.vim25.clone();
        let other = std::thread::Builder::new()
            .name("vim25 logout".into())
            .spawn(move || vim25.logout(deadline));
        let rest = self.rest.logout(deadline);
        let vim25 = match other {
            Ok(thread) => thread.join().unwrap_or_else(|_| {
                Err(BackendError::Fault("the vim25 logout thread failed".into()))
            }),
            Err(_) => self.vim25.logout(deadline),
        };
        LoggedOut { rest, vim25 }
    }
}

impl RestBackend {
    /// A backend for the server `http` reaches, whose vim25 endpoint `sdk`
    /// reaches (the same address, TLS policy and credentials); nothing is
    /// sent until [`Backend::login`], and nothing to vim25 until a call
    /// needs it.
    pub fn new(
        http: Client,
        sdk: Arc<dyn HttpPost>,
        choice: ApiChoice,
        username: &str,
        password: &Secret,
        datacenter: Option<String>,
        list_filter: Filters,
    ) -> RestBackend {
        RestBackend {
            client: RestClient::new(http, choice, username, password),
            datacenter,
            scope: None,
            list_filter,
            names: HashMap::new(),
            vim25: Vim25::new(sdk, username, password),
        }
    }

    pub fn logout_handle(&self) -> SignalLogout {
        SignalLogout {
            rest: self.client.logout_handle(),
            vim25: self.vim25.logout_handle(),
        }
    }

    /// Logs in to the Automation API; with `states` (the action reads a
    /// VM's state, or checks that it could), the vim25 session is opened
    /// at the same time on another thread (see
    /// [`Vim25::open_in_background`]): the two logins and the plug's
    /// lookup do not wait for each other. When the Automation API refuses,
    /// a vim25 login under way is waited for (within its own deadline)
    /// and its session ended before the refusal is returned: no session
    /// outlives a run that did nothing.
    pub fn connect(&mut self, states: bool, deadline: Deadline) -> Result<(), BackendError> {
        if states {
            self.vim25.open_in_background(deadline);
        }
        let refused = match self.client.login(deadline) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if let Err(e) = self.vim25.logout(deadline.at_least(LOGOUT_AFTER_REFUSAL)) {
            logging::warning(format!("Logging out of vim25 failed: {e}"));
        }
        Err(refused)
    }

    /// Opens the vim25 session now, if it is not open: for a check that
    /// fencing would work (monitor), which reads no state.
    pub fn open_vim25(&mut self, deadline: Deadline) -> Result<(), BackendError> {
        self.vim25.open(deadline)
    }

    /// The API the session speaks, once logged in.
    pub fn api(&self) -> Option<Api> {
        self.client.api()
    }

    /// GET vcenter/{resource} with `filters`, read as a list of `T`.
    fn list_of<T: DeserializeOwned>(
        &mut self,
        resource: &str,
        filters: &Filters,
        deadline: Deadline,
    ) -> Result<Vec<T>, Failure> {
        let dialect = self
            .client
            .api()
            .map(|a| a.dialect)
            .ok_or_else(|| BackendError::NotAuthenticated("not logged in".into()))?;
        let path = format!("/vcenter/{resource}");
        self.client.get(&path, &filters.query(dialect), deadline)
    }

    /// `list_of` for calls whose cap cannot be reached by their filters.
    fn list_small<T: DeserializeOwned>(
        &mut self,
        resource: &str,
        filters: &Filters,
        deadline: Deadline,
    ) -> Result<Vec<T>, BackendError> {
        self.list_of(resource, filters, deadline)
            .map_err(Failure::into_backend)
    }

    /// The datacenter filter `vmware_datacenter` asks for, found once.
    fn scope(&mut self, deadline: Deadline) -> Result<Filters, BackendError> {
        if let Some(s) = &self.scope {
            return Ok(s.clone());
        }
        let Some(wanted) = self.datacenter.clone() else {
            self.scope = Some(Filters::new());
            return Ok(Filters::new());
        };
        // The API has no inventory paths: a path's last element is the
        // datacenter's name, and two of that name are refused below.
        let name = wanted.rsplit('/').next().unwrap_or(&wanted).to_string();
        let by_name = Filters::new()
            .with("names", &name)
            .with("names", &names::escape(&name));
        let found: Vec<DatacenterSummary> = self.list_small("datacenter", &by_name, deadline)?;
        let dc = match found.as_slice() {
            [] => {
                return Err(BackendError::NotFound(format!(
                    "vmware_datacenter: there is no datacenter {wanted:?}"
                )))
            }
            [one] => one.datacenter.clone(),
            several => {
                return Err(BackendError::Ambiguous(format!(
                    "vmware_datacenter: {} datacenters are named {name:?} ({}); this API has no \
                     inventory paths to tell them apart: use fence_vmware_soap, or a plug that \
                     is unique",
                    several.len(),
                    several
                        .iter()
                        .map(|d| d.datacenter.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        };
        logging::debug(format!("Datacenter {wanted:?} is {dc}"));
        let s = Filters::new().with("datacenters", &dc);
        self.scope = Some(s.clone());
        Ok(s)
    }

    /// Every VM `filters` selects, however many: a list the server
    /// refuses as too large is split (see [`Split`]) and merged by id.
    fn list_vms(
        &mut self,
        filters: &Filters,
        scope: &Filters,
        deadline: Deadline,
    ) -> Result<BTreeMap<String, VmSummary>, BackendError> {
        let first = match self.list_of::<VmSummary>("vm", filters, deadline) {
            Ok(vms) => return Ok(vms.into_iter().map(|v| (v.vm.clone(), v)).collect()),
            Err(Failure::Server(e)) if e.is_cap() => e,
            Err(e) => return Err(e.into_backend()),
        };
        let used = filters.fields();
        for split in [Split::Folders, Split::Hosts, Split::PowerStates] {
            if used.contains(split.field()) {
                continue;
            }
            let values = match self.split_values(split, scope, deadline) {
                Ok(v) => v,
                Err(e) if e.is_cap() => continue,
                Err(e) => return Err(e.into_backend()),
            };
            logging::debug(format!(
                "More virtual machines than the server lists at once; listing them per {} ({})",
                split.field(),
                values.len()
            ));
            let mut all = BTreeMap::new();
            for v in values {
                let narrower = filters.clone().with(split.field(), &v);
                all.extend(self.list_vms(&narrower, scope, deadline)?);
            }
            return Ok(all);
        }
        Err(BackendError::Fault(format!(
            "{}, even per folder, host and power state; narrow the list with the filter option",
            first.describe()
        )))
    }

    fn split_values(
        &mut self,
        split: Split,
        scope: &Filters,
        deadline: Deadline,
    ) -> Result<Vec<String>, Failure> {
        Ok(match split {
            Split::Folders => self
                .list_of::<FolderSummary>(
                    "folder",
                    &scope.clone().with("type", "VIRTUAL_MACHINE"),
                    deadline,
                )?
                .into_iter()
                .map(|f| f.folder)
                .collect(),
            Split::Hosts => self
                .list_of::<HostSummary>("host", scope, deadline)?
                .into_iter()
                .map(|h| h.host)
                .collect(),
            Split::PowerStates => POWER_STATES.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// The summary of `vm` if it is among the VMs `field` (hosts, folders,
    /// datacenters) narrows to `values`.
    fn vm_among(
        &mut self,
        vm: &VmId,
        field: &str,
        values: &[String],
        deadline: Deadline,
    ) -> Result<Option<VmSummary>, BackendError> {
        let mut f = Filters::new().with("vms", &vm.0);
        for v in values {
            f.add(field, v);
        }
        let found: Vec<VmSummary> = self.list_small("vm", &f, deadline)?;
        Ok(found.into_iter().find(|s| s.vm == vm.0))
    }

    /// Which of `values` of `field` holds `vm`: groups of ids asked in
    /// turn, the one that answers halved until one id is left.
    fn which(
        &mut self,
        vm: &VmId,
        field: &str,
        values: &[String],
        deadline: Deadline,
    ) -> Result<Option<String>, BackendError> {
        for group in values.chunks(IDS_PER_QUERY) {
            if self.vm_among(vm, field, group, deadline)?.is_none() {
                continue;
            }
            let mut left = group;
            while left.len() > 1 {
                let (a, b) = left.split_at(left.len() / 2);
                left = if self.vm_among(vm, field, a, deadline)?.is_some() {
                    a
                } else {
                    b
                };
            }
            return Ok(left.first().cloned());
        }
        Ok(None)
    }

    /// The name this API gives `vm`, as found earlier or listed now.
    fn rest_name(&mut self, vm: &VmId, deadline: Deadline) -> Result<String, BackendError> {
        if let Some(n) = self.names.get(vm) {
            return Ok(n.clone());
        }
        let Some(summary) = self.vm_among(vm, "vms", &[], deadline)? else {
            return Err(BackendError::NotFound(format!(
                "virtual machine {vm} is no longer listed"
            )));
        };
        self.names.insert(vm.clone(), summary.name.clone());
        Ok(summary.name)
    }

    /// The VMs this API lists, as candidates, their names noted.
    fn candidates(&mut self, vms: Vec<VmSummary>) -> Vec<Candidate> {
        vms.into_iter()
            .map(|v| {
                self.names.insert(VmId(v.vm.clone()), v.name.clone());
                Candidate {
                    id: VmId(v.vm),
                    name: Some(v.name),
                }
            })
            .collect()
    }

    /// Every VM id in scope on a host that is not connected, with the
    /// hosts' states read before and after `between`, which reads the
    /// VMs' states: a host that was not connected at either end counts.
    fn vms_on_lost_hosts<T>(
        &mut self,
        scope: &Filters,
        deadline: Deadline,
        between: impl FnOnce(&mut Self) -> Result<T, BackendError>,
    ) -> Result<(T, BTreeSet<String>), BackendError> {
        let lost = |hosts: Vec<HostSummary>| -> BTreeSet<String> {
            hosts
                .into_iter()
                .filter(|h| {
                    Connection::parse(h.connection_state.as_deref().unwrap_or(""))
                        != Connection::Connected
                })
                .map(|h| h.host)
                .collect()
        };
        let before = lost(self.list_small("host", scope, deadline)?);
        let vms = between(self)?;
        let after = lost(self.list_small("host", scope, deadline)?);
        let mut on_lost = BTreeSet::new();
        for host in before.union(&after) {
            let on_host = scope.clone().with("hosts", host);
            on_lost.extend(self.list_vms(&on_host, scope, deadline)?.into_keys());
        }
        Ok((vms, on_lost))
    }
}

impl Backend for RestBackend {
    fn login(&mut self, deadline: Deadline) -> Result<(), BackendError> {
        self.client.login(deadline)
    }

    fn find(
        &mut self,
        lookup: Lookup<'_>,
        deadline: Deadline,
    ) -> Result<Vec<Candidate>, BackendError> {
        let scope = self.scope(deadline)?;
        match lookup {
            Lookup::InventoryPath(_) => Err(BackendError::Unsupported("inventory paths")),
            Lookup::Id(id) => {
                let f = scope.with("vms", id);
                let vms = self.list_small("vm", &f, deadline)?;
                Ok(self.candidates(vms))
            }
            // Both the name as written and as vCenter stores it; the core
            // keeps those whose stored name matches by its rule.
            Lookup::Name(plug) => {
                let f = scope
                    .with("names", plug)
                    .with("names", &names::escape(plug));
                let vms = self.list_small("vm", &f, deadline)?;
                Ok(self.candidates(vms))
            }
            // vim25 finds them; only those this API lists in scope count,
            // by the name it gives them (which each read checks vim25
            // gives too).
            Lookup::Uuid(uuid) => {
                let ids = self.vim25.find_by_uuid(uuid, deadline)?;
                let mut found = Vec::new();
                for group in ids.chunks(IDS_PER_QUERY) {
                    let mut f = scope.clone();
                    for id in group {
                        f.add("vms", &id.0);
                    }
                    let vms = self.list_small("vm", &f, deadline)?;
                    found.extend(self.candidates(vms));
                }
                logging::debug(format!(
                    "vim25 finds {} virtual machine(s) with UUID {uuid:?}, {} of them listed here",
                    ids.len(),
                    found.len()
                ));
                Ok(found)
            }
        }
    }

    /// vim25's reading of the VM (see [`crate::vim25::Vim25::read`]): its
    /// power and connection state from one request, every time.
    fn read(
        &mut self,
        vm: &VmId,
        task: Option<&TaskId>,
        deadline: Deadline,
    ) -> Result<VmReading, BackendError> {
        let name = self.rest_name(vm, deadline)?;
        let mut reading = self.vim25.read(vm, &name, deadline)?;
        // Power calls return when done: no task is ever followed.
        reading.task = task.map(|_| TaskState::Gone);
        Ok(reading)
    }

    fn read_host(
        &mut self,
        host: &HostId,
        deadline: Deadline,
    ) -> Result<HostReading, BackendError> {
        self.vim25.read_host(host, deadline)
    }

    fn start_power(
        &mut self,
        vm: &VmId,
        op: PowerOp,
        deadline: Deadline,
    ) -> Result<Started, BackendError> {
        let dialect = self
            .client
            .api()
            .map(|a| a.dialect)
            .ok_or_else(|| BackendError::NotAuthenticated("not logged in".into()))?;
        let (path, query) = dialect.power_call(&encode(&vm.0), op);
        let (what, reply) = self.client.call(Method::Post, &path, &query, deadline)?;
        match reply.status {
            200..=299 => Ok(Started::Done),
            status => Err(VapiError::from_reply(&what, status, &reply.body).into_backend()),
        }
    }

    fn list(&mut self, with_state: bool, deadline: Deadline) -> Result<Vec<Listed>, BackendError> {
        let scope = self.scope(deadline)?;
        let wanted = scope.clone().and(&self.list_filter);
        let vms = self.list_vms(&wanted, &scope, deadline)?;
        if !with_state {
            return Ok(vms
                .into_values()
                .map(|v| Listed {
                    id: VmId(v.vm),
                    name: v.name,
                    instance_uuid: None,
                    template: false,
                    power: None,
                    connection: None,
                })
                .collect());
        }
        let (states, on_lost) =
            self.vms_on_lost_hosts(&scope, deadline, |me| me.vim25.states(deadline))?;
        let mut states: HashMap<VmId, Listed> =
            states.into_iter().map(|l| (l.id.clone(), l)).collect();
        Ok(vms
            .into_values()
            .map(|v| {
                let id = VmId(v.vm);
                // vim25's pair, for the VM of the same name only; none
                // (UNKNOWN) otherwise.
                let state = states.remove(&id).filter(|l| {
                    names::unescape(&l.name) == names::unescape(&v.name) && !l.template
                });
                let lost = on_lost.contains(&id.0);
                let (power, connection) = match state {
                    Some(l) if lost => (l.power, Some(Connection::Disconnected)),
                    Some(l) => (l.power, l.connection),
                    None => (None, None),
                };
                Listed {
                    id,
                    name: v.name,
                    instance_uuid: None,
                    template: false,
                    power,
                    connection,
                }
            })
            .collect())
    }

    /// `"dup" in folder "sub" of datacenter "DC0"`: the API has no
    /// inventory paths, so the VM's folder and datacenter are found by
    /// listing.
    fn inventory_path(&mut self, vm: &VmId, deadline: Deadline) -> Option<String> {
        let name = self.vm_among(vm, "vms", &[], deadline).ok()??.name;
        let dcs: Vec<DatacenterSummary> = self
            .list_small("datacenter", &Filters::new(), deadline)
            .ok()?;
        let dc_ids: Vec<String> = dcs.iter().map(|d| d.datacenter.clone()).collect();
        let dc = self.which(vm, "datacenters", &dc_ids, deadline).ok()??;
        let dc_name = dcs
            .iter()
            .find(|d| d.datacenter == dc)
            .and_then(|d| d.name.clone())
            .unwrap_or_else(|| dc.clone());
        let folders: Vec<FolderSummary> = self
            .list_small(
                "folder",
                &Filters::new()
                    .with("datacenters", &dc)
                    .with("type", "VIRTUAL_MACHINE"),
                deadline,
            )
            .ok()?;
        let folder_ids: Vec<String> = folders.iter().map(|f| f.folder.clone()).collect();
        let folder = self.which(vm, "folders", &folder_ids, deadline).ok()??;
        let folder_name = folders
            .iter()
            .find(|f| f.folder == folder)
            .and_then(|f| f.name.clone())
            .unwrap_or(folder);
        Some(format!(
            "{:?} in folder {:?} of datacenter {:?}",
            names::unescape(&name),
            names::unescape(&folder_name),
            names::unescape(&dc_name)
        ))
    }

    fn unambiguous_plug_forms(&self) -> &'static str {
        "Use the VM's id (vm-N) or its instance UUID"
    }

    /// Both sessions at once, each even when the other fails (one after
    /// the other when no thread can be started).
    fn logout(&mut self, deadline: Deadline) -> Result<(), BackendError> {
        let (client, vim25) = (&mut self.client, &mut self.vim25);
        let (rest, other) = std::thread::scope(|s| {
            let other = std::thread::Builder::new()
                .name("vim25 logout".into())
                .spawn_scoped(s, move || vim25.logout(deadline));
            let rest = client.logout(deadline);
            let other = other.ok().map(|t| {
                t.join().unwrap_or_else(|_| {
                    Err(BackendError::Fault("the vim25 logout thread failed".into()))
                })
            });
            (rest, other)
        });
        let vim25 = match other {
            Some(done) => done,
            None => self.vim25.logout(deadline),
        };
        rest.and(vim25)
    }
}

/// The two sessions side by side, against hand-written peers (no real
/// server holds a reply until the other API has been asked; see
/// crate::testing).
#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Mutex;
    use std::time::Instant;

    use vsphere_http::{Endpoint, Family, TlsPolicy};

    use crate::dialect::Dialect;
    use crate::testing::{
        assert_one_logout_of_the_session, count, fake_sdk, heard, heard_it, login_ok, rest_peer,
        saw, soon, Heard, Seen,
    };

    /// A backend on the Automation API at `port` (/api) and the vim25
    /// fake `sdk`.
    fn backend(port: u16, sdk: Arc<crate::testing::Fake>) -> RestBackend {
        let policy = TlsPolicy::PlainHttp;
        let e = Endpoint::parse("127.0.0.1", Some(port), &policy).unwrap();
        let http = Client::new(e, &policy, Family::Any).unwrap();
        RestBackend::new(
            http,
            sdk,
            ApiChoice::Forced {
                base: "/api".into(),
                dialect: Dialect::Api,
            },
            "fence",
            &Secret::new("pw".into()),
            None,
            Filters::new(),
        )
    }

    /// An Automation API that lets "fence" in (after `before_login`) and
    /// ends its session (after `before_logout`).
    fn api(
        before_login: impl Fn() + Send + Sync + 'static,
        before_logout: impl Fn() + Send + Sync + 'static,
    ) -> (u16, Heard) {
        rest_peer(move |target| match target {
            "POST /api/session" => {
                before_login();
                ("201 Created", "\"tok\"".into())
            }
            "DELETE /api/session" => {
                before_logout();
                ("204 No Content", String::new())
            }
            "GET /api/vcenter/vm" => (
                "200 OK",
                r#"[{"vm":"vm-42","name":"node1","power_state":"POWERED_OFF"}]"#.into(),
            ),
            _ => ("404 Not Found", String::new()),
        })
    }

    /// A vim25 server whose Login waits (3 s at most) for `until`.
    fn sdk_holding_login(
        until: impl Fn() -> bool + Send + Sync + 'static,
    ) -> (Arc<crate::testing::Fake>, Seen) {
        fake_sdk(move |m, _| {
            (m == "Login").then(|| {
                let give_up = Instant::now() + Duration::from_secs(3);
                while !until() && Instant::now() < give_up {
                    std::thread::sleep(Duration::from_millis(5));
                }
                login_ok()
            })
        })
    }

    /// A vim25 server whose Login answers once the Automation API `rest`
    /// has been asked to log in (3 s at most).
    fn sdk_login_after_api_login(rest: &Heard) -> (Arc<crate::testing::Fake>, Seen) {
        let rest = Arc::clone(rest);
        sdk_holding_login(move || heard(&rest).iter().any(|t| t == "POST /api/session"))
    }

    /// Each login answers only once the other API has been asked to log
    /// in: done one after the other, they would wait 3 s; side by side,
    /// at once.
    #[test]
    fn the_two_logins_run_side_by_side() {
        let vim25_login: Arc<Mutex<Option<Seen>>> = Arc::default();
        let seen_by_api = Arc::clone(&vim25_login);
        let (port, rest) = api(
            move || {
                let give_up = Instant::now() + Duration::from_secs(3);
                while Instant::now() < give_up {
                    if let Some(seen) = seen_by_api.lock().unwrap().as_ref() {
                        if count(seen, "Login") > 0 {
                            return;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            },
            || {},
        );
        let (sdk, seen) = sdk_login_after_api_login(&rest);
        *vim25_login.lock().unwrap() = Some(Arc::clone(&seen));
        let mut b = backend(port, sdk);
        let started = Instant::now();
        b.connect(true, soon()).unwrap();
        let found = b.find(Lookup::Name("node1"), soon()).unwrap();
        assert_eq!(found.len(), 1);
        let reading = b.read(&found[0].id, None, soon()).unwrap();
        assert_eq!(reading.connection, Connection::Connected);
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "the logins waited for each other: {:?}",
            started.elapsed()
        );
        assert_eq!(count(&seen, "Login"), 1);
        Backend::logout(&mut b, soon()).unwrap();
        assert_eq!(count(&seen, "Logout"), 1);
        assert_eq!(
            heard(&rest)
                .iter()
                .filter(|t| *t == "DELETE /api/session")
                .count(),
            1
        );
    }

    /// list reads no state: no vim25 session is opened for it.
    #[test]
    fn a_list_opens_no_vim25_session() {
        let (port, _rest) = api(|| {}, || {});
        let (sdk, seen) = fake_sdk(|_, _| None);
        let mut b = backend(port, sdk);
        b.connect(false, soon()).unwrap();
        assert_eq!(b.list(false, soon()).unwrap().len(), 1);
        Backend::logout(&mut b, soon()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(crate::testing::methods(&seen).is_empty());
    }

    /// The Automation API refuses while the vim25 login is under way:
    /// the refusal waits for that login and ends its session.
    #[test]
    fn a_refused_automation_api_login_ends_the_vim25_session_in_flight() {
        let (port, rest) = rest_peer(|target| match target {
            "POST /api/session" => (
                "401 Unauthorized",
                r#"{"error_type":"UNAUTHENTICATED","messages":[]}"#.into(),
            ),
            _ => ("404 Not Found", String::new()),
        });
        // vim25's Login answers only after the Automation API refused.
        let (sdk, seen) = sdk_login_after_api_login(&rest);
        let mut b = backend(port, sdk);
        match b.connect(true, soon()) {
            Err(BackendError::LoginRefused(m)) => assert!(m.contains("401"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_one_logout_of_the_session(&seen);
    }

    /// Each logout answers only once the other session's logout was
    /// asked for: one after the other they would wait 3 s.
    #[test]
    fn both_sessions_end_at_once() {
        let (sdk_logout_tx, sdk_logout_rx) = mpsc::channel::<()>();
        let sdk_logout_rx = Mutex::new(sdk_logout_rx);
        let (port, rest) = api(
            || {},
            move || {
                let _ = sdk_logout_rx
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(3));
            },
        );
        let rest_for_sdk = Arc::clone(&rest);
        let sdk_logout_tx = Mutex::new(sdk_logout_tx);
        let (sdk, seen) = fake_sdk(move |m, _| {
            (m == "Logout").then(|| {
                let _ = sdk_logout_tx.lock().unwrap().send(());
                let _ = heard_it(&rest_for_sdk, "DELETE /api/session");
                crate::testing::logout_ok()
            })
        });
        let mut b = backend(port, sdk);
        b.connect(true, soon()).unwrap();
        assert!(saw(&seen, "Login"));
        b.open_vim25(soon()).unwrap();
        let started = Instant::now();
        Backend::logout(&mut b, Deadline::after(Duration::from_secs(5))).unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "one logout waited for the other: {:?}",
            started.elapsed()
        );
        assert_eq!(count(&seen, "Logout"), 1);
        assert!(heard(&rest).iter().any(|t| t == "DELETE /api/session"));
    }
}
