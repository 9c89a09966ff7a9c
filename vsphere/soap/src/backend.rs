//! vsphere-core's [`Backend`] over vim25: each call of the trait as the
//! SOAP requests that answer it, and vim25's faults as [`BackendError`].

use std::sync::Arc;

use agent_framework::{logging, Deadline, Secret};
use vsphere_core::{
    names, Backend, BackendError, BootEntry, BootReading, Candidate, Connection, HostId,
    HostReading, Listed, Lookup, PowerOp, Started, TaskId, TaskState, VmId, VmPower, VmReading,
};

use crate::client::{self, Client, Follow, Wanted};
use crate::elem::{Elem, Moref};
use crate::error::Error;
use crate::fault::FaultKind;
use crate::http::HttpPost;
use crate::parse::{self, ObjectContent, ServiceContent, VM_READING_PATHS};
use crate::transport::Transport;

/// vim25's failures in the core's terms.
pub fn to_backend(e: Error) -> BackendError {
    match e {
        Error::Fault(f) => {
            let text = f.describe();
            match &f.kind {
                FaultKind::InvalidLogin => BackendError::LoginRefused(text),
                FaultKind::NotAuthenticated => BackendError::NotAuthenticated(text),
                FaultKind::NoPermission => BackendError::NoPermission(text),
                FaultKind::ManagedObjectNotFound => BackendError::NotFound(text),
                FaultKind::InvalidPowerState => BackendError::AlreadyInState(text),
                FaultKind::TaskInProgress => BackendError::Busy {
                    task: f.detail_moref("task").map(|m| TaskId(m.value)),
                    detail: text,
                },
                _ => BackendError::Fault(text),
            }
        }
        Error::Timeout(m) => BackendError::Timeout(m),
        Error::Tls(m) => BackendError::Tls(m),
        Error::Connect(m) => BackendError::Connect(m),
        Error::Io(m) => BackendError::Io(m),
        e @ Error::Http(..) => BackendError::Fault(e.describe()),
        Error::Protocol(m) => BackendError::Protocol(m),
    }
}

/// The datacenter `vmware_datacenter` names.
#[derive(Debug, Clone)]
struct Scope {
    dc: Moref,
    vm_folder: Moref,
}

fn vm_moref(vm: &VmId) -> Moref {
    Moref::new("VirtualMachine", &vm.0)
}

/// The object `obj` of a RetrievePropertiesEx result, if the result holds
/// it. Two readings of one object, or of one property in it, are no
/// reading: which one to believe would be a guess (vCenter never sends
/// either).
fn find_object<'a>(
    objs: &'a [ObjectContent],
    obj: &Moref,
) -> Result<Option<&'a ObjectContent>, BackendError> {
    let mut found = objs.iter().filter(|o| o.obj.as_ref() == Some(obj));
    let (first, second) = (found.next(), found.next());
    if second.is_some() {
        return Err(BackendError::Protocol(format!(
            "the server returned {} twice in one reply",
            obj.value
        )));
    }
    if let Some(o) = first {
        let mut paths: Vec<&str> = o.props.iter().map(|(p, _)| p.as_str()).collect();
        paths.extend(o.missing.iter().map(|(p, _)| p.as_str()));
        paths.sort_unstable();
        if let Some(w) = paths.windows(2).find(|w| w[0] == w[1]) {
            return Err(BackendError::Protocol(format!(
                "the server returned {} of {} twice in one reply",
                w[0], obj.value
            )));
        }
    }
    Ok(first)
}

/// The object `obj` of a RetrievePropertiesEx result; its absence is the
/// server's failure, not an empty state.
fn object_of<'a>(
    objs: &'a [ObjectContent],
    obj: &Moref,
) -> Result<&'a ObjectContent, BackendError> {
    find_object(objs, obj)?.ok_or_else(|| {
        BackendError::Protocol(format!("the server returned no state for {}", obj.value))
    })
}

/// Logs the session out from another thread (a signal handler), sharing
/// the session with the backend.
#[derive(Clone)]
pub struct LogoutHandle {
    transport: Transport,
    session_manager: Moref,
}

impl LogoutHandle {
    pub fn logout(&self, deadline: Deadline) -> Result<(), Error> {
        client::logout(&self.transport, &self.session_manager, deadline)
    }
}

/// What [`SoapBackend::read_named`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedReading {
    pub reading: VmReading,
    /// The name as vCenter stores it, when the server gave it.
    pub name: Option<String>,
    /// Properties the server would not read (`missingSet`), each with its
    /// fault's type (`NoPermission`).
    pub unreadable: Vec<(String, String)>,
    /// The host the VM names (`runtime.host`), read in the same request,
    /// when the reply holds that host's object once with each property
    /// once; `None` otherwise (a server that did not follow the VM to its
    /// host, a VM on no host), and the caller reads the host itself.
    pub host: Option<HostReading>,
}

/// What a read of a VM also reads of its host, in the same request.
const HOST_OF_VM: Follow<'static> = Follow {
    from: "VirtualMachine",
    path: "runtime.host",
    to: "HostSystem",
    paths: &["name", "runtime.connectionState"],
};

/// Whether a fault to a read that follows a VM to its host says the
/// server will not follow that path, rather than something about the VM.
/// The vSphere API reference describes TraversalSpec.path only as the
/// property that selects further objects, and says nothing of a nested
/// one like `runtime.host`; govmomi's simulator follows it, and no
/// vCenter was at hand to try. So a server that refuses it (these
/// faults), or answers without the host's object, costs one more request,
/// never a check: the host is then read on its own.
fn refuses_to_follow(e: &Error) -> bool {
    match e.fault_kind() {
        Some(FaultKind::InvalidArgument) => true,
        Some(FaultKind::Other(name)) => {
            matches!(
                name.as_str(),
                "InvalidProperty" | "InvalidType" | "InvalidRequest"
            )
        }
        _ => false,
    }
}

pub struct SoapBackend {
    client: Client,
    username: String,
    password: Secret,
    datacenter: Option<String>,
    scope: Option<Option<Scope>>,
    /// Whether [`SoapBackend::read_named`] asks the server to follow the
    /// VM to its host; no longer once the server refused it.
    follow_host: bool,
}

impl SoapBackend {
    /// Reaches the endpoint (RetrieveServiceContent) without logging in:
    /// the caller can arrange for a logout before [`Backend::login`].
    pub fn open(
        http: Arc<dyn HttpPost>,
        username: &str,
        password: Secret,
        datacenter: Option<String>,
        deadline: Deadline,
    ) -> Result<SoapBackend, BackendError> {
        let client = Client::connect(Transport::new(http), deadline).map_err(to_backend)?;
        Ok(SoapBackend {
            client,
            username: username.to_string(),
            password,
            datacenter,
            scope: None,
            follow_host: true,
        })
    }

    pub fn about(&self) -> &ServiceContent {
        &self.client.sc
    }

    pub fn url(&self) -> &str {
        self.client.transport.url()
    }

    /// One read of `vm` as [`Backend::read`] gives it (no task), with the
    /// VM's name and what the server would not read, from the same
    /// request: for a caller that must make sure the VM is the one another
    /// API named, and say why a state is missing (fence_vmware_rest, whose
    /// Automation API shares vim25's VM ids). The same request follows the
    /// VM to its host and reads the host's state too
    /// ([`NamedReading::host`]); a server that refuses that is asked for
    /// the VM alone, then and for the rest of the session.
    pub fn read_named(
        &mut self,
        vm: &VmId,
        deadline: Deadline,
    ) -> Result<NamedReading, BackendError> {
        let vm_ref = vm_moref(vm);
        let mut paths = VM_READING_PATHS.to_vec();
        paths.push("name");
        let wanted = [Wanted {
            obj: &vm_ref,
            paths: &paths,
        }];
        let follow = self.follow_host.then_some(&HOST_OF_VM);
        let objs = match self.client.retrieve_following(&wanted, follow, deadline) {
            Err(e) if follow.is_some() && refuses_to_follow(&e) => {
                logging::debug(format!(
                    "The server does not follow a VM to its host in one read ({}); reading \
                     the host on its own",
                    e.describe()
                ));
                self.follow_host = false;
                self.client.retrieve(&wanted, deadline)
            }
            other => other,
        }
        .map_err(to_backend)?;
        let vm_obj = object_of(&objs, &vm_ref)?;
        let reading = parse::vm_reading(vm_obj, None);
        // Only the object of the host the VM names counts, and only when
        // it is there once with each property once: anything else is no
        // reading of that host, which the caller then asks for itself.
        let host = reading.host.as_ref().and_then(|h| {
            find_object(&objs, &Moref::new("HostSystem", &h.0))
                .ok()
                .flatten()
                .map(parse::host_reading)
        });
        Ok(NamedReading {
            name: vm_obj.text("name").map(str::to_string),
            unreadable: vm_obj.missing.clone(),
            host,
            reading,
        })
    }

    pub fn logout_handle(&self) -> LogoutHandle {
        LogoutHandle {
            transport: self.client.transport.clone(),
            session_manager: self.client.sc.session_manager.clone(),
        }
    }

    /// The datacenter the search is limited to, found once.
    fn scope(&mut self, deadline: Deadline) -> Result<Option<Scope>, BackendError> {
        if let Some(s) = &self.scope {
            return Ok(s.clone());
        }
        let Some(name) = self.datacenter.clone() else {
            self.scope = Some(None);
            return Ok(None);
        };
        let path = if name.starts_with('/') {
            name.clone()
        } else {
            format!("/{}", names::escape(&name))
        };
        let mut dc = self
            .client
            .find_by_inventory_path(&path, deadline)
            .map_err(to_backend)?
            .filter(|m| m.kind == "Datacenter");
        if dc.is_none() {
            // A datacenter inside a folder: search them all by name.
            let all = self
                .client
                .list_in_container(
                    &self.client.sc.root_folder,
                    "Datacenter",
                    &["name"],
                    deadline,
                )
                .map_err(to_backend)?;
            let mut found: Vec<Moref> = all
                .iter()
                .filter(|o| o.text("name").map(|n| names::matches(n, &name)) == Some(true))
                .filter_map(|o| o.obj.clone())
                .collect();
            match found.len() {
                0 => {
                    return Err(BackendError::NotFound(format!(
                        "vmware_datacenter: there is no datacenter {name:?}"
                    )))
                }
                1 => dc = found.pop(),
                n => {
                    return Err(BackendError::Ambiguous(format!(
                        "vmware_datacenter: {n} datacenters are named {name:?}; give its \
                         inventory path (/folder/{name})"
                    )))
                }
            }
        }
        let dc = dc.ok_or_else(|| BackendError::NotFound(format!("datacenter {name:?}")))?;
        let objs = self
            .client
            .retrieve(
                &[Wanted {
                    obj: &dc,
                    paths: &["vmFolder"],
                }],
                deadline,
            )
            .map_err(to_backend)?;
        let vm_folder = objs
            .first()
            .and_then(|o| o.prop("vmFolder"))
            .and_then(Elem::as_moref)
            .ok_or_else(|| {
                BackendError::Protocol(format!("datacenter {name:?} has no vmFolder"))
            })?;
        logging::debug(format!(
            "Datacenter {name:?} is {}; searching under {}",
            dc.value, vm_folder.value
        ));
        let s = Scope { dc, vm_folder };
        self.scope = Some(Some(s.clone()));
        Ok(Some(s))
    }

    fn container(&mut self, deadline: Deadline) -> Result<Moref, BackendError> {
        Ok(match self.scope(deadline)? {
            Some(s) => s.vm_folder,
            None => self.client.sc.root_folder.clone(),
        })
    }

    /// Every VM in scope that `keep` accepts (by id and stored name), read
    /// page by page: only one page's ids and names are held at a time.
    fn scan_names(
        &mut self,
        deadline: Deadline,
        keep: impl Fn(&str, &str) -> bool,
    ) -> Result<Vec<Candidate>, BackendError> {
        let container = self.container(deadline)?;
        let mut found = Vec::new();
        let mut seen = 0usize;
        self.client
            .scan_container(&container, "VirtualMachine", &["name"], deadline, |n| {
                let page = parse::names_page(n)?;
                seen += page.vms.len();
                for (id, name) in page.vms {
                    if keep(&id, &name) {
                        found.push(Candidate {
                            id: VmId(id),
                            name: Some(name),
                        });
                    }
                }
                Ok(page.token)
            })
            .map_err(to_backend)?;
        logging::debug(format!("{seen} virtual machines in scope"));
        Ok(found)
    }

    fn in_scope(&mut self, vm: &Moref, deadline: Deadline) -> Result<bool, BackendError> {
        if self.scope(deadline)?.is_none() {
            return Ok(true);
        }
        Ok(!self
            .scan_names(deadline, |id, _| id == vm.value)?
            .is_empty())
    }
}

impl Backend for SoapBackend {
    fn login(&mut self, deadline: Deadline) -> Result<(), BackendError> {
        self.client
            .login(&self.username, self.password.expose(), deadline)
            .map_err(to_backend)?;
        logging::info(format!(
            "Logged in to {} ({}, {}) as {}",
            self.client.sc.full_name,
            self.client.sc.api_type,
            self.client.transport.url(),
            self.username
        ));
        Ok(())
    }

    fn find(
        &mut self,
        lookup: Lookup<'_>,
        deadline: Deadline,
    ) -> Result<Vec<Candidate>, BackendError> {
        match lookup {
            Lookup::InventoryPath(path) => {
                let found = self
                    .client
                    .find_by_inventory_path(path, deadline)
                    .map_err(to_backend)?;
                match found {
                    None => Ok(Vec::new()),
                    Some(m) if m.kind != "VirtualMachine" => Err(BackendError::WrongKind(m.kind)),
                    Some(m) if !self.in_scope(&m, deadline)? => Ok(Vec::new()),
                    Some(m) => Ok(vec![Candidate {
                        id: VmId(m.value),
                        name: None,
                    }]),
                }
            }
            Lookup::Uuid(uuid) => {
                let dc = self.scope(deadline)?.map(|s| s.dc);
                let mut out = Vec::new();
                for instance in [true, false] {
                    for m in self
                        .client
                        .find_all_vms_by_uuid(dc.as_ref(), uuid, instance, deadline)
                        .map_err(to_backend)?
                    {
                        out.push(Candidate {
                            id: VmId(m.value),
                            name: None,
                        });
                    }
                }
                Ok(out)
            }
            Lookup::Id(id) => {
                if self.scope(deadline)?.is_some() {
                    return self.scan_names(deadline, |vm, _| vm == id);
                }
                let m = Moref::new("VirtualMachine", id);
                match self.client.retrieve(
                    &[Wanted {
                        obj: &m,
                        paths: &["name"],
                    }],
                    deadline,
                ) {
                    Ok(objs) => Ok(objs
                        .iter()
                        .filter(|o| o.obj.as_ref() == Some(&m))
                        .map(|o| Candidate {
                            id: VmId(m.value.clone()),
                            name: o.text("name").map(str::to_string),
                        })
                        .collect()),
                    Err(e) if e.fault_kind() == Some(&FaultKind::ManagedObjectNotFound) => {
                        Ok(Vec::new())
                    }
                    Err(e) => Err(to_backend(e)),
                }
            }
            // The core decides what matches; only candidates by its rule
            // are kept here, so that thousands of names are never held.
            Lookup::Name(plug) => self.scan_names(deadline, |_, name| names::matches(name, plug)),
        }
    }

    fn read(
        &mut self,
        vm: &VmId,
        task: Option<&TaskId>,
        deadline: Deadline,
    ) -> Result<VmReading, BackendError> {
        let vm_ref = vm_moref(vm);
        let task_ref = task.map(|t| Moref::new("Task", &t.0));
        let mut wanted = vec![Wanted {
            obj: &vm_ref,
            paths: VM_READING_PATHS,
        }];
        if let Some(t) = &task_ref {
            wanted.push(Wanted {
                obj: t,
                paths: &["info.state", "info.error"],
            });
        }
        let objs = match self.client.retrieve(&wanted, deadline) {
            Ok(o) => o,
            // vCenter forgets finished tasks after a while: the VM alone,
            // its state is what counts.
            Err(Error::Fault(f))
                if f.kind == FaultKind::ManagedObjectNotFound
                    && task_ref.is_some()
                    && f.detail_moref("obj") == task_ref =>
            {
                let mut reading = self.read(vm, None, deadline)?;
                reading.task = Some(TaskState::Gone);
                return Ok(reading);
            }
            Err(e) => return Err(to_backend(e)),
        };
        let vm_obj = object_of(&objs, &vm_ref)?;
        let task_state = match &task_ref {
            Some(t) => Some(
                find_object(&objs, t)?
                    .map(parse::task_state)
                    .unwrap_or(TaskState::Gone),
            ),
            None => None,
        };
        Ok(parse::vm_reading(vm_obj, task_state))
    }

    fn read_host(
        &mut self,
        host: &HostId,
        deadline: Deadline,
    ) -> Result<HostReading, BackendError> {
        let m = Moref::new("HostSystem", &host.0);
        let objs = self
            .client
            .retrieve(
                &[Wanted {
                    obj: &m,
                    paths: &["name", "runtime.connectionState"],
                }],
                deadline,
            )
            .map_err(to_backend)?;
        // The host asked about, not whichever object came first.
        find_object(&objs, &m)?
            .map(parse::host_reading)
            .ok_or_else(|| BackendError::NotFound(format!("host {}", host.0)))
    }

    fn start_power(
        &mut self,
        vm: &VmId,
        op: PowerOp,
        deadline: Deadline,
    ) -> Result<Started, BackendError> {
        self.client
            .power(&vm_moref(vm), op == PowerOp::On, deadline)
            .map(|t| Started::Task(TaskId(t.value)))
            .map_err(to_backend)
    }

    fn task_state(&mut self, task: &TaskId, deadline: Deadline) -> Result<TaskState, BackendError> {
        let m = Moref::new("Task", &task.0);
        match self.client.retrieve(
            &[Wanted {
                obj: &m,
                paths: &["info.state", "info.error"],
            }],
            deadline,
        ) {
            Ok(objs) => Ok(objs
                .first()
                .map(parse::task_state)
                .unwrap_or(TaskState::Gone)),
            Err(e) if e.fault_kind() == Some(&FaultKind::ManagedObjectNotFound) => {
                Ok(TaskState::Gone)
            }
            Err(e) => Err(to_backend(e)),
        }
    }

    fn answer(
        &mut self,
        vm: &VmId,
        question_id: &str,
        key: &str,
        deadline: Deadline,
    ) -> Result<(), BackendError> {
        self.client
            .answer_vm(&vm_moref(vm), question_id, key, deadline)
            .map_err(to_backend)
    }

    fn list(&mut self, with_state: bool, deadline: Deadline) -> Result<Vec<Listed>, BackendError> {
        let container = self.container(deadline)?;
        let mut paths = vec!["name", "config.instanceUuid", "config.template"];
        if with_state {
            paths.extend(["runtime.powerState", "runtime.connectionState"]);
        }
        let objs = self
            .client
            .list_in_container(&container, "VirtualMachine", &paths, deadline)
            .map_err(to_backend)?;
        Ok(objs
            .iter()
            .filter_map(|o| {
                Some(Listed {
                    id: VmId(o.obj.as_ref()?.value.clone()),
                    name: o.text("name")?.to_string(),
                    instance_uuid: o.text("config.instanceUuid").map(str::to_string),
                    template: o.text("config.template") == Some("true"),
                    power: o.text("runtime.powerState").map(VmPower::parse),
                    connection: o.text("runtime.connectionState").map(Connection::parse),
                })
            })
            .collect())
    }

    /// The path FindByInventoryPath takes (names escaped), walked up from
    /// the VM through its parents.
    fn inventory_path(&mut self, vm: &VmId, deadline: Deadline) -> Option<String> {
        let mut parts = Vec::new();
        let mut cur = vm_moref(vm);
        // A cycle or a very deep tree is not a real inventory: stop.
        for _ in 0..64 {
            let objs = self
                .client
                .retrieve(
                    &[Wanted {
                        obj: &cur,
                        paths: &["name", "parent"],
                    }],
                    deadline,
                )
                .ok()?;
            let o = objs.first()?;
            match o.prop("parent").and_then(Elem::as_moref) {
                Some(p) => {
                    parts.push(o.text("name").unwrap_or("?").to_string());
                    cur = p;
                }
                None => break,
            }
        }
        parts.reverse();
        Some(format!("/{}", parts.join("/")))
    }

    fn shutdown_guest(&mut self, vm: &VmId, deadline: Deadline) -> Result<(), BackendError> {
        self.client
            .shutdown_guest(&vm_moref(vm), deadline)
            .map_err(crate::operations::shutdown_refusal)
    }

    fn read_boot(&mut self, vm: &VmId, deadline: Deadline) -> Result<BootReading, BackendError> {
        let m = vm_moref(vm);
        let objs = self
            .client
            .retrieve(
                &[Wanted {
                    obj: &m,
                    paths: crate::operations::BOOT_READING_PATHS,
                }],
                deadline,
            )
            .map_err(to_backend)?;
        // The same rule as every other read: the VM's object once, each
        // property once, or no reading.
        let o = find_object(&objs, &m)?.ok_or_else(|| {
            BackendError::Protocol(format!("the server returned no configuration for {vm}"))
        })?;
        crate::operations::boot_reading(o).map_err(to_backend)
    }

    fn start_boot_order(
        &mut self,
        vm: &VmId,
        order: &[BootEntry],
        deadline: Deadline,
    ) -> Result<Started, BackendError> {
        let order = order
            .iter()
            .map(crate::operations::WritableEntry::of)
            .collect::<Result<Vec<_>, _>>()?;
        self.client
            .reconfig_boot_order(&vm_moref(vm), &order, deadline)
            .map(|t| Started::Task(TaskId(t.value)))
            .map_err(to_backend)
    }

    fn logout(&mut self, deadline: Deadline) -> Result<(), BackendError> {
        self.client.logout(deadline).map_err(to_backend)
    }
}

/// A scripted vCenter (no real one answers a read with another object, or
/// with one object twice, on request).
#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::http::{HttpReply, HttpRequest};

    /// Answers RetrieveServiceContent, then every other call with `reply`
    /// (the RetrievePropertiesExResponse's objects).
    struct Scripted(String);

    impl HttpPost for Scripted {
        fn post(&self, r: &HttpRequest<'_>, _: Deadline) -> Result<HttpReply, Error> {
            let body = match r.what {
                "RetrieveServiceContent" => r#"<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><searchIndex type="SearchIndex">SearchIndex</searchIndex><sessionManager type="SessionManager">SessionManager</sessionManager></returnval></RetrieveServiceContentResponse>"#.to_string(),
                _ => format!(
                    r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>{}</returnval></RetrievePropertiesExResponse>"#,
                    self.0
                ),
            };
            Ok(HttpReply {
                status: 200,
                body: format!(
                    r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
                ),
                set_cookies: Vec::new(),
            })
        }

        fn url(&self) -> &str {
            "https://127.0.0.1/sdk"
        }
    }

    fn backend(objects: &str) -> SoapBackend {
        let soon = Deadline::after(Duration::from_secs(5));
        SoapBackend::open(
            Arc::new(Scripted(objects.to_string())),
            "fence",
            Secret::new("pw".into()),
            None,
            soon,
        )
        .unwrap()
    }

    fn vm(power: &str) -> String {
        format!(
            r#"<objects><obj type="VirtualMachine">vm-42</obj><propSet><name>name</name><val>node1</val></propSet><propSet><name>runtime.connectionState</name><val>connected</val></propSet><propSet><name>runtime.powerState</name><val>{power}</val></propSet></objects>"#
        )
    }

    fn host(id: &str, state: &str) -> String {
        format!(
            r#"<objects><obj type="HostSystem">{id}</obj><propSet><name>runtime.connectionState</name><val>{state}</val></propSet></objects>"#
        )
    }

    fn soon() -> Deadline {
        Deadline::after(Duration::from_secs(5))
    }

    #[test]
    fn a_vm_read_twice_in_one_reply_is_no_reading() {
        let vm42 = VmId("vm-42".into());
        let once = backend(&vm("poweredOff"))
            .read_named(&vm42, soon())
            .unwrap();
        assert_eq!(once.reading.power, VmPower::PoweredOff);
        let twice = format!("{}{}", vm("poweredOff"), vm("poweredOn"));
        match backend(&twice).read_named(&vm42, soon()) {
            Err(BackendError::Protocol(m)) => assert!(m.contains("vm-42 twice"), "{m}"),
            other => panic!("{other:?}"),
        }
        let power_twice = vm("poweredOff").replace(
            "</objects>",
            "<propSet><name>runtime.powerState</name><val>poweredOn</val></propSet></objects>",
        );
        match backend(&power_twice).read(&vm42, None, soon()) {
            Err(BackendError::Protocol(m)) => {
                assert!(m.contains("runtime.powerState of vm-42 twice"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        // The task followed, likewise.
        let task = |state: &str| {
            format!(
                r#"<objects><obj type="Task">task-7</obj><propSet><name>info.state</name><val>{state}</val></propSet></objects>"#
            )
        };
        let task7 = TaskId("task-7".into());
        let one_task = format!("{}{}", vm("poweredOff"), task("success"));
        let r = backend(&one_task)
            .read(&vm42, Some(&task7), soon())
            .unwrap();
        assert_eq!(r.task, Some(TaskState::Succeeded));
        let two_tasks = format!("{one_task}{}", task("running"));
        match backend(&two_tasks).read(&vm42, Some(&task7), soon()) {
            Err(BackendError::Protocol(m)) => assert!(m.contains("task-7 twice"), "{m}"),
            other => panic!("{other:?}"),
        }
        // The boot configuration too: a second vm-42 is no reading, whichever
        // comes first.
        match backend(&twice).read_boot(&vm42, soon()) {
            Err(BackendError::Protocol(m)) => assert!(m.contains("vm-42 twice"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_host_is_read_from_its_own_object_only() {
        let h21 = HostId("host-21".into());
        let mut b = backend(&format!(
            "{}{}",
            host("host-99", "connected"),
            host("host-21", "notResponding")
        ));
        assert_eq!(
            b.read_host(&h21, soon()).unwrap().connection,
            Connection::NotResponding
        );
        match backend(&host("host-99", "connected")).read_host(&h21, soon()) {
            Err(BackendError::NotFound(m)) => assert!(m.contains("host-21"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    /// Answers RetrieveServiceContent, then each RetrievePropertiesEx with
    /// `answer(body)`: the objects of the reply, or a fault's type.
    type Answer = Box<dyn Fn(&str) -> Result<String, &'static str> + Send + Sync>;

    struct Recorded {
        answer: Answer,
        asked: std::sync::Mutex<Vec<String>>,
    }

    impl HttpPost for Recorded {
        fn post(&self, r: &HttpRequest<'_>, d: Deadline) -> Result<HttpReply, Error> {
            if r.what == "RetrieveServiceContent" {
                return Scripted(String::new()).post(r, d);
            }
            if let Ok(mut a) = self.asked.lock() {
                a.push(r.body.to_string());
            }
            let (status, body) = match (self.answer)(r.body) {
                Ok(objects) => (
                    200,
                    format!(
                        r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>{objects}</returnval></RetrievePropertiesExResponse>"#
                    ),
                ),
                Err(kind) => (
                    500,
                    format!(
                        r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>refused</faultstring><detail><{kind}Fault xmlns="urn:vim25" xsi:type="{kind}"></{kind}Fault></detail></soapenv:Fault>"#
                    ),
                ),
            };
            Ok(HttpReply {
                status,
                body: format!(
                    r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
                ),
                set_cookies: Vec::new(),
            })
        }

        fn url(&self) -> &str {
            "https://127.0.0.1/sdk"
        }
    }

    fn recorded(
        answer: impl Fn(&str) -> Result<String, &'static str> + Send + Sync + 'static,
    ) -> (SoapBackend, Arc<Recorded>) {
        let http = Arc::new(Recorded {
            answer: Box::new(answer),
            asked: std::sync::Mutex::new(Vec::new()),
        });
        let b = SoapBackend::open(
            http.clone(),
            "fence",
            Secret::new("pw".into()),
            None,
            soon(),
        )
        .unwrap();
        (b, http)
    }

    /// vm-42, connected and on, on host-21.
    fn vm_on_host() -> String {
        vm("poweredOn").replace(
            "</objects>",
            r#"<propSet><name>runtime.host</name><val type="HostSystem">host-21</val></propSet></objects>"#,
        )
    }

    fn follows(body: &str) -> bool {
        body.contains(r#"<selectSet xsi:type="TraversalSpec"><type>VirtualMachine</type><path>runtime.host</path><skip>false</skip></selectSet>"#)
            && body.contains("<propSet><type>HostSystem</type><pathSet>name</pathSet><pathSet>runtime.connectionState</pathSet></propSet>")
    }

    #[test]
    fn a_read_follows_the_vm_to_its_host_in_the_same_request() {
        let vm42 = VmId("vm-42".into());
        let (mut b, http) = recorded(|_| {
            Ok(format!(
                "{}{}{}",
                host("host-99", "connected"),
                vm_on_host(),
                host("host-21", "notResponding")
            ))
        });
        let r = b.read_named(&vm42, soon()).unwrap();
        assert_eq!(r.reading.host, Some(HostId("host-21".into())));
        assert_eq!(
            r.host.map(|h| h.connection),
            Some(Connection::NotResponding),
            "the VM's own host, not the first one"
        );
        let asked = http.asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 1);
        assert!(follows(&asked[0]), "{}", asked[0]);
        // Its host twice, or no host of its own, is no reading of it.
        for objects in [
            format!(
                "{}{}{}",
                vm_on_host(),
                host("host-21", "connected"),
                host("host-21", "connected")
            ),
            format!("{}{}", vm_on_host(), host("host-99", "connected")),
            vm_on_host(),
        ] {
            let (mut b, _) = recorded(move |_| Ok(objects.clone()));
            let r = b.read_named(&vm42, soon()).unwrap();
            assert_eq!(r.reading.connection, Connection::Connected);
            assert_eq!(r.host, None);
        }
    }

    /// A server that will not follow the path is asked for the VM alone,
    /// at once and for the rest of the session; any other fault is the
    /// read's.
    #[test]
    fn a_server_that_will_not_follow_is_asked_for_the_vm_alone() {
        let vm42 = VmId("vm-42".into());
        for kind in ["InvalidProperty", "InvalidArgument", "InvalidType"] {
            let (mut b, http) = recorded(move |body| {
                if follows(body) {
                    Err(kind)
                } else {
                    Ok(vm_on_host())
                }
            });
            for _ in 0..2 {
                let r = b.read_named(&vm42, soon()).unwrap();
                assert_eq!(r.reading.power, VmPower::PoweredOn);
                assert_eq!(r.host, None);
            }
            let asked = http.asked.lock().unwrap().clone();
            let followed: Vec<bool> = asked.iter().map(|a| follows(a)).collect();
            assert_eq!(followed, [true, false, false], "{kind}");
        }
        for kind in ["NoPermission", "ManagedObjectNotFound", "SystemError"] {
            let (mut b, http) = recorded(move |_| Err(kind));
            assert!(b.read_named(&vm42, soon()).is_err(), "{kind}");
            assert_eq!(http.asked.lock().unwrap().len(), 1, "{kind}: asked again");
        }
    }
}
