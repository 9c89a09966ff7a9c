//! Replies read into typed values.
//!
//! Every parser here is total: whatever the reply holds, it returns a
//! value or an error and never panics. They are public so that fuzz
//! targets can call them on arbitrary replies, through
//! [`crate::reply::parse_reply`] or [`crate::reply::with_reply`].

use vsphere_core::{
    Choice, Connection, HostId, HostReading, Question, QuestionMessage, TaskState, VmPower,
    VmReading,
};

use crate::elem::{moref_of, Elem, Moref};
use crate::error::Error;
use crate::fault::{Fault, FaultKind};

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

fn required(e: &Elem, name: &str) -> Result<Moref, Error> {
    e.child(name)
        .and_then(Elem::as_moref)
        .ok_or_else(|| Error::Protocol(format!("ServiceContent has no {name}")))
}

/// RetrieveServiceContent's reply.
pub fn service_content(reply: &Elem) -> Result<ServiceContent, Error> {
    let rv = reply
        .child("returnval")
        .ok_or_else(|| Error::Protocol("RetrieveServiceContent returned nothing".into()))?;
    let about = rv.child("about");
    Ok(ServiceContent {
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
    })
}

/// A reply's single managed object reference (`returnval`), if any.
pub fn returned_moref(reply: &Elem) -> Option<Moref> {
    reply.child("returnval").and_then(Elem::as_moref)
}

/// A reply's list of managed object references.
pub fn returned_morefs(reply: &Elem) -> Vec<Moref> {
    reply.all("returnval").filter_map(Elem::as_moref).collect()
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
    pub fn from_elem(e: &Elem) -> ObjectContent {
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

    /// Why a property is absent: the fault the server named, or "not
    /// returned".
    fn why_missing(&self, name: &str) -> String {
        self.missing
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, f)| f.clone())
            .unwrap_or_else(|| "not returned".to_string())
    }
}

/// A RetrievePropertiesEx (or Continue...) reply: its objects and the token
/// of the next page, if more follow.
pub fn retrieve_result(reply: &Elem) -> (Vec<ObjectContent>, Option<String>) {
    let Some(rv) = reply.child("returnval") else {
        // Nothing matched: the reply has no returnval at all.
        return (Vec::new(), None);
    };
    let objects = rv.all("objects").map(ObjectContent::from_elem).collect();
    let token = rv
        .text_of("token")
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    (objects, token)
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// One page of a listing of names, with nothing else kept: each object's
/// managed object id and stored name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamesPage {
    pub vms: Vec<(String, String)>,
    pub token: Option<String>,
}

/// A RetrievePropertiesEx (or Continue...) reply of `name` properties,
/// read straight from the parsed document, without building a tree: a
/// listing of thousands of VMs keeps one page's ids and names at a time.
pub fn names_page(response: roxmltree::Node<'_, '_>) -> Result<NamesPage, Error> {
    let mut page = NamesPage::default();
    let Some(rv) = child(response, "returnval") else {
        return Ok(page);
    };
    for o in rv
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "objects")
    {
        let Some(obj) = child(o, "obj").and_then(moref_of) else {
            continue;
        };
        let name = o
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "propSet")
            .find(|p| child(*p, "name").and_then(|n| n.text()).map(str::trim) == Some("name"))
            .and_then(|p| child(p, "val"))
            .map(|v| v.text().unwrap_or("").to_string());
        if let Some(name) = name {
            page.vms.push((obj.value, name));
        }
    }
    page.token = child(rv, "token")
        .and_then(|t| t.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    Ok(page)
}

/// A VM's `runtime.question` (vim25 `VirtualMachineQuestionInfo`).
pub fn question(e: &Elem) -> Option<Question> {
    let id = e.text_of("id")?.to_string();
    let messages = e
        .all("message")
        .map(|m| QuestionMessage {
            id: m.text_of("id").unwrap_or("").to_string(),
            text: m.text_of("text").unwrap_or("").to_string(),
        })
        .collect::<Vec<_>>();
    let mut text = e.text_of("text").unwrap_or("").to_string();
    if text.is_empty() {
        text = messages
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
    }
    let choice = e.child("choice");
    let choices = choice
        .map(|c| {
            c.all("choiceInfo")
                .map(|ci| Choice {
                    key: ci.text_of("key").unwrap_or("").to_string(),
                    label: ci.text_of("label").unwrap_or("").to_string(),
                    summary: ci
                        .text_of("summary")
                        .or_else(|| ci.text_of("label"))
                        .unwrap_or("")
                        .to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let default = choice
        .and_then(|c| c.text_of("defaultIndex"))
        .and_then(|d| d.parse::<usize>().ok());
    Some(Question {
        id,
        text,
        messages,
        choices,
        default,
    })
}

/// A task's `info.state` and `info.error`.
pub fn task_state(task: &ObjectContent) -> TaskState {
    match task.text("info.state") {
        Some("success") => TaskState::Succeeded,
        Some("error") => {
            let fault = task
                .prop("info.error")
                .map(Fault::from_localized)
                .unwrap_or(Fault {
                    kind: FaultKind::Other("UnknownFault".into()),
                    message: String::new(),
                    detail: None,
                });
            TaskState::Failed(crate::backend::to_backend(Error::Fault(Box::new(fault))))
        }
        // queued, running, or a state this client does not know: not over.
        _ => TaskState::Running,
    }
}

/// The properties [`vm_reading`] reads, requested together.
pub const VM_READING_PATHS: &[&str] = &[
    "runtime.powerState",
    "runtime.connectionState",
    "runtime.host",
    "runtime.question",
    "config.template",
];

/// A VM's reading from one object of a RetrievePropertiesEx result. A
/// property the server did not return is not guessed: no power state is
/// an unknown one, no connection state is not `connected`.
pub fn vm_reading(vm: &ObjectContent, task: Option<TaskState>) -> VmReading {
    let power = match vm.text("runtime.powerState") {
        Some(p) => VmPower::parse(p),
        None => VmPower::Other(format!(
            "(runtime.powerState unreadable: {})",
            vm.why_missing("runtime.powerState")
        )),
    };
    let connection = match vm.text("runtime.connectionState") {
        Some(c) => Connection::parse(c),
        None => Connection::Other(format!(
            "(runtime.connectionState unreadable: {})",
            vm.why_missing("runtime.connectionState")
        )),
    };
    VmReading {
        power,
        connection,
        host: vm
            .prop("runtime.host")
            .and_then(Elem::as_moref)
            .map(|m| HostId(m.value)),
        template: vm.text("config.template") == Some("true"),
        question: vm.prop("runtime.question").and_then(question),
        task,
    }
}

/// A host's name and `runtime.connectionState`.
pub fn host_reading(host: &ObjectContent) -> HostReading {
    HostReading {
        name: host.text("name").map(str::to_string),
        connection: host
            .text("runtime.connectionState")
            .map(Connection::parse)
            .unwrap_or_else(|| Connection::Other(String::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{parse_reply, with_reply};

    fn envelope(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
        )
    }

    /// A VM with a question, on a host, as govmomi's simulator (through
    /// cts/vcsim) encodes it.
    fn vm_reply() -> String {
        envelope(
            r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-42</obj><propSet><name>config.template</name><val xsi:type="xsd:boolean">false</val></propSet><propSet><name>runtime.connectionState</name><val xsi:type="VirtualMachineConnectionState">disconnected</val></propSet><propSet><name>runtime.host</name><val type="HostSystem" xsi:type="ManagedObjectReference">host-21</val></propSet><propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">poweredOff</val></propSet><propSet><name>runtime.question</name><val xsi:type="VirtualMachineQuestionInfo"><id>_vmx1</id><text>msg.uuid.altered:This virtual machine might have been moved or copied.</text><choice><choiceInfo xsi:type="ElementDescription"><label>button.uuid.cancel</label><summary>Cancel</summary><key>0</key></choiceInfo><choiceInfo xsi:type="ElementDescription"><label>button.uuid.movedTheVM</label><summary>I Moved It</summary><key>1</key></choiceInfo><choiceInfo xsi:type="ElementDescription"><label>button.uuid.copiedTheVM</label><summary>I Copied It</summary><key>2</key></choiceInfo><defaultIndex>2</defaultIndex></choice><message><id>msg.uuid.altered</id><text>This virtual machine might have been moved or copied.</text></message></val></propSet></objects><objects><obj type="Task">task-7</obj><propSet><name>info.error</name><val xsi:type="LocalizedMethodFault"><fault xsi:type="InvalidPowerState"><requestedState>poweredOff</requestedState><existingState>poweredOff</existingState></fault><localizedMessage></localizedMessage></val></propSet><propSet><name>info.state</name><val xsi:type="TaskInfoState">error</val></propSet></objects></returnval></RetrievePropertiesExResponse>"#,
        )
    }

    #[test]
    fn a_vm_reading_has_every_part_and_the_task() {
        let reply = parse_reply(&vm_reply()).unwrap();
        let (objects, token) = retrieve_result(&reply);
        assert_eq!(token, None);
        let vm = objects
            .iter()
            .find(|o| o.obj.as_ref().map(|m| m.value.as_str()) == Some("vm-42"))
            .unwrap();
        let task = objects
            .iter()
            .find(|o| o.obj.as_ref().map(|m| m.value.as_str()) == Some("task-7"))
            .unwrap();
        let r = vm_reading(vm, Some(task_state(task)));
        assert_eq!(r.power, VmPower::PoweredOff);
        assert_eq!(r.connection, Connection::Disconnected);
        assert_eq!(r.host, Some(HostId("host-21".into())));
        assert!(!r.template);
        assert_eq!(
            r.task,
            Some(TaskState::Failed(
                vsphere_core::BackendError::AlreadyInState(
                    "InvalidPowerState (the VM is poweredOff)".into()
                )
            ))
        );
        let q = r.question.unwrap();
        assert_eq!(q.id, "_vmx1");
        assert_eq!(q.messages[0].id, "msg.uuid.altered");
        assert_eq!(q.default, Some(2));
        let keys: Vec<(&str, &str, &str)> = q
            .choices
            .iter()
            .map(|c| (c.key.as_str(), c.label.as_str(), c.summary.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("0", "button.uuid.cancel", "Cancel"),
                ("1", "button.uuid.movedTheVM", "I Moved It"),
                ("2", "button.uuid.copiedTheVM", "I Copied It")
            ]
        );
    }

    #[test]
    fn missing_properties_are_never_read_as_connected_or_off() {
        let reply = parse_reply(&envelope(
            r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-1</obj><missingSet><path>runtime.powerState</path><fault><fault xsi:type="NoPermission"/></fault></missingSet></objects></returnval></RetrievePropertiesExResponse>"#,
        ))
        .unwrap();
        let (objects, _) = retrieve_result(&reply);
        let r = vm_reading(&objects[0], None);
        assert!(
            matches!(&r.power, VmPower::Other(w) if w.contains("NoPermission")),
            "{r:?}"
        );
        assert!(matches!(r.connection, Connection::Other(_)), "{r:?}");
        assert!(vsphere_core::state::vouch(&r).is_err());
    }

    #[test]
    fn a_names_page_keeps_ids_names_and_the_token_only() {
        let text = envelope(
            r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><token>tok-1</token><objects><obj type="VirtualMachine">vm-1</obj><propSet><name>name</name><val xsi:type="xsd:string">web%2f01</val></propSet></objects><objects><obj type="VirtualMachine">vm-2</obj><propSet><name>other</name><val>x</val></propSet></objects><objects><obj>vm-3</obj><propSet><name>name</name><val>no type</val></propSet></objects></returnval></RetrievePropertiesExResponse>"#,
        );
        let page = with_reply(&text, names_page).unwrap();
        assert_eq!(page.vms, vec![("vm-1".to_string(), "web%2f01".to_string())]);
        assert_eq!(page.token.as_deref(), Some("tok-1"));
        let empty = envelope(r#"<RetrievePropertiesExResponse xmlns="urn:vim25"/>"#);
        assert_eq!(
            with_reply(&empty, names_page).unwrap(),
            NamesPage::default()
        );
    }

    /// Runs every parser of this module on `text`; they may fail, never
    /// panic.
    fn every_parser(text: &str) {
        let _ = with_reply(text, names_page);
        if let Ok(reply) = parse_reply(text) {
            let _ = service_content(&reply);
            let _ = returned_moref(&reply);
            let _ = returned_morefs(&reply);
            let (objects, _) = retrieve_result(&reply);
            for o in &objects {
                let _ = vm_reading(o, Some(task_state(o)));
                let _ = host_reading(o);
            }
            let _ = question(&reply);
        }
    }

    #[test]
    fn hostile_replies_give_errors_never_panics() {
        let samples = [
            vm_reply(),
            envelope(
                r#"<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder></returnval></RetrieveServiceContentResponse>"#,
            ),
            envelope(
                r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>x</faultstring><detail><TaskInProgressFault xmlns="urn:vim25" xsi:type="TaskInProgress"><task type="Task">task-1</task></TaskInProgressFault></detail></soapenv:Fault>"#,
            ),
        ];
        // Every truncation, and byte-level mutations from a fixed seed.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let specials = [b'<', b'>', b'/', b'"', b'&', b'=', b' ', 0u8, 0xff];
        for sample in &samples {
            let bytes = sample.as_bytes();
            for cut in 0..bytes.len() {
                every_parser(&String::from_utf8_lossy(&bytes[..cut]));
            }
            for _ in 0..3000 {
                let mut b = bytes.to_vec();
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % b.len();
                    match next() % 3 {
                        0 => b[at] = specials[(next() as usize) % specials.len()],
                        1 => {
                            b.remove(at);
                        }
                        _ => {
                            let end = (at + (next() as usize) % 64).min(b.len());
                            let piece = b[at..end].to_vec();
                            b.splice(at..at, piece);
                        }
                    }
                }
                every_parser(&String::from_utf8_lossy(&b));
            }
        }
    }
}
