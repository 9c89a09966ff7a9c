//! The vim25 calls the agent makes, typed: service content, login and
//! logout, the SearchIndex, container views, the PropertyCollector
//! (paged), power tasks and VM questions.

use agent_framework::Deadline;

use super::transport::Transport;
use super::xml::{Elem, Moref, Request};
use super::Error;

/// How many objects one RetrievePropertiesEx page may hold.
pub const PAGE_SIZE: u32 = 100;

/// The page size, which tests lower (FENCE_VMWARE_PAGE_SIZE) to make
/// small inventories span several pages.
fn page_size() -> u32 {
    std::env::var("FENCE_VMWARE_PAGE_SIZE")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map(|n| n.clamp(1, 1000))
        .unwrap_or(PAGE_SIZE)
}

/// The parts of `ServiceContent` the agent uses.
#[derive(Debug, Clone)]
pub struct ServiceContent {
    pub root_folder: Moref,
    pub property_collector: Moref,
    pub view_manager: Option<Moref>,
    pub search_index: Moref,
    pub session_manager: Moref,
    /// `about.fullName` ("VMware vCenter Server 8.0.2 build-...").
    pub full_name: String,
    /// `about.apiType`: "VirtualCenter" or "HostAgent".
    pub api_type: String,
}

/// One object of a PropertyCollector result.
#[derive(Debug, Clone, Default)]
pub struct ObjectContent {
    pub obj: Option<Moref>,
    pub props: Vec<(String, Elem)>,
    /// Properties the server could not read, with the fault's type name.
    pub missing: Vec<(String, String)>,
}

impl ObjectContent {
    fn from_elem(e: &Elem) -> ObjectContent {
        let mut oc = ObjectContent {
            obj: e.child("obj").and_then(Elem::as_moref),
            ..ObjectContent::default()
        };
        for p in e.all("propSet") {
            if let (Some(name), Some(val)) = (p.text_of("name"), p.child("val")) {
                oc.props.push((name.to_string(), val.clone()));
            }
        }
        for m in e.all("missingSet") {
            let path = m.text_of("path").unwrap_or("").to_string();
            let fault = m
                .child("fault")
                .and_then(|f| f.child("fault"))
                .and_then(|f| f.value_type())
                .unwrap_or("unknown fault")
                .to_string();
            oc.missing.push((path, fault));
        }
        oc
    }

    pub fn prop(&self, name: &str) -> Option<&Elem> {
        self.props.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.prop(name).map(|v| v.text.trim())
    }
}

/// What to read from one object in a [`Client::retrieve`] call.
pub struct Wanted<'a> {
    pub obj: &'a Moref,
    pub paths: &'a [&'a str],
}

pub struct Client {
    pub transport: Transport,
    pub sc: ServiceContent,
}

fn required(e: &Elem, name: &str) -> Result<Moref, Error> {
    e.child(name)
        .and_then(Elem::as_moref)
        .ok_or_else(|| Error::Protocol(format!("ServiceContent has no {name}")))
}

impl Client {
    /// RetrieveServiceContent: the first call, no session needed.
    pub fn connect(transport: Transport, deadline: Deadline) -> Result<Client, Error> {
        let si = Moref::new("ServiceInstance", "ServiceInstance");
        let reply = transport.call(Request::new("RetrieveServiceContent", &si), deadline, false)?;
        let rv = reply
            .child("returnval")
            .ok_or_else(|| Error::Protocol("RetrieveServiceContent returned nothing".into()))?;
        let about = rv.child("about");
        let sc = ServiceContent {
            root_folder: required(rv, "rootFolder")?,
            property_collector: required(rv, "propertyCollector")?,
            view_manager: rv.child("viewManager").and_then(Elem::as_moref),
            search_index: required(rv, "searchIndex")?,
            session_manager: required(rv, "sessionManager")?,
            full_name: about
                .and_then(|a| a.text_of("fullName"))
                .unwrap_or("unknown VMware product")
                .to_string(),
            api_type: about
                .and_then(|a| a.text_of("apiType"))
                .unwrap_or("")
                .to_string(),
        };
        Ok(Client { transport, sc })
    }

    fn call(&self, req: Request, deadline: Deadline) -> Result<Elem, Error> {
        self.transport.call(req, deadline, false)
    }

    pub fn login(&self, user: &str, password: &str, deadline: Deadline) -> Result<(), Error> {
        let mut r = Request::new("Login", &self.sc.session_manager);
        r.text("userName", user).text("password", password);
        self.transport.call(r, deadline, true).map(|_| ())
    }

    pub fn logout(&self, deadline: Deadline) -> Result<(), Error> {
        logout(&self.transport, &self.sc.session_manager, deadline)
    }

    /// SearchIndex.FindByInventoryPath: the entity at an inventory path
    /// (names escaped as vCenter stores them), or None.
    pub fn find_by_inventory_path(
        &self,
        path: &str,
        deadline: Deadline,
    ) -> Result<Option<Moref>, Error> {
        let mut r = Request::new("FindByInventoryPath", &self.sc.search_index);
        r.text("inventoryPath", path);
        let reply = self.call(r, deadline)?;
        Ok(reply.child("returnval").and_then(Elem::as_moref))
    }

    /// SearchIndex.FindAllByUuid for virtual machines: every VM whose
    /// instance UUID (`instance`) or BIOS UUID has this value.
    pub fn find_all_vms_by_uuid(
        &self,
        datacenter: Option<&Moref>,
        uuid: &str,
        instance: bool,
        deadline: Deadline,
    ) -> Result<Vec<Moref>, Error> {
        let mut r = Request::new("FindAllByUuid", &self.sc.search_index);
        if let Some(dc) = datacenter {
            r.moref("datacenter", dc);
        }
        r.text("uuid", uuid)
            .text("vmSearch", "true")
            .text("instanceUuid", if instance { "true" } else { "false" });
        let reply = self.call(r, deadline)?;
        Ok(reply
            .all("returnval")
            .filter_map(Elem::as_moref)
            .filter(|m| m.kind == "VirtualMachine")
            .collect())
    }

    /// Every object of `kind` under `container`, with the properties in
    /// `paths`: one ContainerView, read page by page, then destroyed.
    pub fn list_in_container(
        &self,
        container: &Moref,
        kind: &str,
        paths: &[&str],
        deadline: Deadline,
    ) -> Result<Vec<ObjectContent>, Error> {
        let vm = self.sc.view_manager.as_ref().ok_or_else(|| {
            Error::Protocol("this server has no ViewManager (vSphere 4.0 or later needed)".into())
        })?;
        let mut r = Request::new("CreateContainerView", vm);
        r.moref("container", container)
            .text("type", kind)
            .text("recursive", "true");
        let reply = self.call(r, deadline)?;
        let view = reply
            .child("returnval")
            .and_then(Elem::as_moref)
            .ok_or_else(|| Error::Protocol("CreateContainerView returned no view".into()))?;
        let result = self.retrieve_view(&view, kind, paths, deadline);
        // The view lives in the session until destroyed; a failure here
        // only costs server memory until Logout.
        let d = Request::new("DestroyView", &view);
        if let Err(e) = self.call(d, deadline.at_least(std::time::Duration::from_secs(2))) {
            agent_framework::logging::debug(format!("DestroyView failed: {e}"));
        }
        result
    }

    fn retrieve_view(
        &self,
        view: &Moref,
        kind: &str,
        paths: &[&str],
        deadline: Deadline,
    ) -> Result<Vec<ObjectContent>, Error> {
        let mut r = Request::new("RetrievePropertiesEx", &self.sc.property_collector);
        r.open("specSet", None);
        r.open("propSet", None).text("type", kind);
        for p in paths {
            r.text("pathSet", p);
        }
        r.close();
        r.open("objectSet", None)
            .moref("obj", view)
            .text("skip", "true")
            .open("selectSet", Some("TraversalSpec"))
            .text("name", "view")
            .text("type", "ContainerView")
            .text("path", "view")
            .text("skip", "false")
            .close()
            .close();
        r.close();
        r.open("options", None)
            .text("maxObjects", &page_size().to_string())
            .close();
        let reply = self.call(r, deadline)?;
        let mut out = Vec::new();
        let mut token = collect_page(&reply, &mut out);
        while let Some(t) = token {
            let mut c = Request::new("ContinueRetrievePropertiesEx", &self.sc.property_collector);
            c.text("token", &t);
            match self.call(c, deadline) {
                Ok(reply) => token = collect_page(&reply, &mut out),
                Err(e) => {
                    let mut x =
                        Request::new("CancelRetrievePropertiesEx", &self.sc.property_collector);
                    x.text("token", &t);
                    let _ = self.call(x, deadline.at_least(std::time::Duration::from_secs(1)));
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Reads properties of a few known objects in one call (a VM and the
    /// task running on it, for instance).
    pub fn retrieve(
        &self,
        wanted: &[Wanted<'_>],
        deadline: Deadline,
    ) -> Result<Vec<ObjectContent>, Error> {
        let mut r = Request::new("RetrievePropertiesEx", &self.sc.property_collector);
        r.open("specSet", None);
        let mut kinds: Vec<&str> = Vec::new();
        for w in wanted {
            if kinds.contains(&w.obj.kind.as_str()) {
                continue;
            }
            kinds.push(&w.obj.kind);
            r.open("propSet", None).text("type", &w.obj.kind);
            let mut seen: Vec<&str> = Vec::new();
            for x in wanted.iter().filter(|x| x.obj.kind == w.obj.kind) {
                for p in x.paths {
                    if !seen.contains(p) {
                        seen.push(p);
                        r.text("pathSet", p);
                    }
                }
            }
            r.close();
        }
        for w in wanted {
            r.open("objectSet", None)
                .moref("obj", w.obj)
                .text("skip", "false")
                .close();
        }
        r.close();
        r.open("options", None).close();
        let reply = self.call(r, deadline)?;
        let mut out = Vec::new();
        // A result of a few known objects is never paged.
        let _ = collect_page(&reply, &mut out);
        Ok(out)
    }

    /// PowerOnVM_Task / PowerOffVM_Task: the task started.
    pub fn power(&self, vm: &Moref, on: bool, deadline: Deadline) -> Result<Moref, Error> {
        let method = if on {
            "PowerOnVM_Task"
        } else {
            "PowerOffVM_Task"
        };
        let reply = self.call(Request::new(method, vm), deadline)?;
        reply
            .child("returnval")
            .and_then(Elem::as_moref)
            .ok_or_else(|| Error::Protocol(format!("{method} returned no task")))
    }

    pub fn answer_vm(
        &self,
        vm: &Moref,
        question_id: &str,
        choice: &str,
        deadline: Deadline,
    ) -> Result<(), Error> {
        let mut r = Request::new("AnswerVM", vm);
        r.text("questionId", question_id)
            .text("answerChoice", choice);
        self.call(r, deadline).map(|_| ())
    }
}

/// SessionManager.Logout with a transport alone (the signal handler has
/// no Client).
pub fn logout(
    transport: &Transport,
    session_manager: &Moref,
    deadline: Deadline,
) -> Result<(), Error> {
    transport
        .call(Request::new("Logout", session_manager), deadline, false)
        .map(|_| ())
}

/// Adds a RetrieveResult page's objects to `out`; returns its token when
/// more pages follow.
fn collect_page(reply: &Elem, out: &mut Vec<ObjectContent>) -> Option<String> {
    let rv = reply.child("returnval")?;
    for o in rv.all("objects") {
        out.push(ObjectContent::from_elem(o));
    }
    rv.text_of("token")
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}
