//! The vim25 calls the agent makes, typed: service content, login and
//! logout, the SearchIndex, container views, the PropertyCollector
//! (paged), power tasks and VM questions.

use std::time::Duration;

use agent_framework::{logging, Deadline};

use crate::elem::Moref;
use crate::envelope::Request;
use crate::error::Error;
use crate::parse::{self, ObjectContent, ServiceContent};
use crate::transport::Transport;

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

/// What to read from one object in a [`Client::retrieve`] call.
pub struct Wanted<'a> {
    pub obj: &'a Moref,
    pub paths: &'a [&'a str],
}

/// A reference the PropertyCollector follows from each object of a
/// [`Client::retrieve_following`] call of kind `from` (a TraversalSpec
/// along its property `path`), and what to read of the object it leads
/// to (of kind `to`).
pub struct Follow<'a> {
    pub from: &'a str,
    pub path: &'a str,
    pub to: &'a str,
    pub paths: &'a [&'a str],
}

pub struct Client {
    pub transport: Transport,
    pub sc: ServiceContent,
}

impl Client {
    /// RetrieveServiceContent: the first call, no session needed.
    pub fn connect(transport: Transport, deadline: Deadline) -> Result<Client, Error> {
        let si = Moref::new("ServiceInstance", "ServiceInstance");
        let reply = transport.call(Request::new("RetrieveServiceContent", &si), deadline, false)?;
        let sc = parse::service_content(&reply)?;
        Ok(Client { transport, sc })
    }

    fn call(&self, req: Request, deadline: Deadline) -> Result<crate::elem::Elem, Error> {
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
        Ok(parse::returned_moref(&self.call(r, deadline)?))
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
        Ok(parse::returned_morefs(&self.call(r, deadline)?)
            .into_iter()
            .filter(|m| m.kind == "VirtualMachine")
            .collect())
    }

    /// Every object of `kind` under `container`, with the properties in
    /// `paths`, through one ContainerView read page by page: each page's
    /// response element goes to `page`, which returns the next page's
    /// token. The view is destroyed afterwards.
    pub fn scan_container(
        &self,
        container: &Moref,
        kind: &str,
        paths: &[&str],
        deadline: Deadline,
        mut page: impl FnMut(roxmltree::Node<'_, '_>) -> Result<Option<String>, Error>,
    ) -> Result<(), Error> {
        let vm = self.sc.view_manager.as_ref().ok_or_else(|| {
            Error::Protocol("this server has no ViewManager (vSphere 4.0 or later needed)".into())
        })?;
        let mut r = Request::new("CreateContainerView", vm);
        r.moref("container", container)
            .text("type", kind)
            .text("recursive", "true");
        let view = parse::returned_moref(&self.call(r, deadline)?)
            .ok_or_else(|| Error::Protocol("CreateContainerView returned no view".into()))?;
        let result = self.read_view(&view, kind, paths, deadline, &mut page);
        // The view lives in the session until destroyed; a failure here
        // only costs server memory until Logout.
        let d = Request::new("DestroyView", &view);
        if let Err(e) = self.call(d, deadline.at_least(Duration::from_secs(2))) {
            logging::debug(format!("DestroyView failed: {e}"));
        }
        result
    }

    fn read_view(
        &self,
        view: &Moref,
        kind: &str,
        paths: &[&str],
        deadline: Deadline,
        page: &mut impl FnMut(roxmltree::Node<'_, '_>) -> Result<Option<String>, Error>,
    ) -> Result<(), Error> {
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
        let mut token = self.transport.call_with(r, deadline, false, &mut *page)?;
        while let Some(t) = token {
            let mut c = Request::new("ContinueRetrievePropertiesEx", &self.sc.property_collector);
            c.text("token", &t);
            match self.transport.call_with(c, deadline, false, &mut *page) {
                Ok(next) => token = next,
                Err(e) => {
                    let mut x =
                        Request::new("CancelRetrievePropertiesEx", &self.sc.property_collector);
                    x.text("token", &t);
                    let _ = self.call(x, deadline.at_least(Duration::from_secs(1)));
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Every object of `kind` under `container`, with the properties in
    /// `paths`, kept whole.
    pub fn list_in_container(
        &self,
        container: &Moref,
        kind: &str,
        paths: &[&str],
        deadline: Deadline,
    ) -> Result<Vec<ObjectContent>, Error> {
        let mut out = Vec::new();
        self.scan_container(container, kind, paths, deadline, |n| {
            let reply = crate::elem::Elem::from_node(n)?;
            let (objects, token) = parse::retrieve_result(&reply);
            out.extend(objects);
            Ok(token)
        })?;
        Ok(out)
    }

    /// Reads properties of a few known objects in one call (a VM and the
    /// task running on it, for instance).
    pub fn retrieve(
        &self,
        wanted: &[Wanted<'_>],
        deadline: Deadline,
    ) -> Result<Vec<ObjectContent>, Error> {
        self.retrieve_following(wanted, None, deadline)
    }

    /// [`Client::retrieve`], and with `follow`, in the same call, the
    /// object each wanted one of its kind refers to (a VM's host through
    /// `runtime.host`): one round trip where two would follow each other.
    pub fn retrieve_following(
        &self,
        wanted: &[Wanted<'_>],
        follow: Option<&Follow<'_>>,
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
            let also = follow.filter(|f| f.to == w.obj.kind).map(|f| f.paths);
            let paths = wanted
                .iter()
                .filter(|x| x.obj.kind == w.obj.kind)
                .flat_map(|x| x.paths.iter())
                .chain(also.into_iter().flatten());
            for p in paths {
                if !seen.contains(p) {
                    seen.push(p);
                    r.text("pathSet", p);
                }
            }
            r.close();
        }
        if let Some(f) = follow.filter(|f| !kinds.contains(&f.to)) {
            r.open("propSet", None).text("type", f.to);
            for p in f.paths {
                r.text("pathSet", p);
            }
            r.close();
        }
        for w in wanted {
            r.open("objectSet", None)
                .moref("obj", w.obj)
                .text("skip", "false");
            if let Some(f) = follow.filter(|f| f.from == w.obj.kind) {
                r.open("selectSet", Some("TraversalSpec"))
                    .text("type", f.from)
                    .text("path", f.path)
                    .text("skip", "false")
                    .close();
            }
            r.close();
        }
        r.close();
        r.open("options", None).close();
        // A result of a few known objects is never paged.
        Ok(parse::retrieve_result(&self.call(r, deadline)?).0)
    }

    /// PowerOnVM_Task / PowerOffVM_Task: the task started.
    pub fn power(&self, vm: &Moref, on: bool, deadline: Deadline) -> Result<Moref, Error> {
        let method = if on {
            "PowerOnVM_Task"
        } else {
            "PowerOffVM_Task"
        };
        parse::returned_moref(&self.call(Request::new(method, vm), deadline)?)
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
