//! vSphere faults: the SOAP `Fault` of a failed call, and the
//! `LocalizedMethodFault` of a failed task, read into one type.

use crate::elem::{Elem, Malformed, Moref, XSI};

/// The fault types the agent treats specially; any other keeps its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    InvalidLogin,
    NotAuthenticated,
    NoPermission,
    InvalidPowerState,
    TaskInProgress,
    ManagedObjectNotFound,
    InvalidArgument,
    InvalidState,
    RequestCanceled,
    Other(String),
}

impl FaultKind {
    pub fn from_name(name: &str) -> FaultKind {
        match name {
            "InvalidLogin" => FaultKind::InvalidLogin,
            "NotAuthenticated" => FaultKind::NotAuthenticated,
            "NoPermission" => FaultKind::NoPermission,
            "InvalidPowerState" => FaultKind::InvalidPowerState,
            "TaskInProgress" => FaultKind::TaskInProgress,
            "ManagedObjectNotFound" => FaultKind::ManagedObjectNotFound,
            "InvalidArgument" => FaultKind::InvalidArgument,
            "InvalidState" => FaultKind::InvalidState,
            "RequestCanceled" => FaultKind::RequestCanceled,
            other => FaultKind::Other(other.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            FaultKind::InvalidLogin => "InvalidLogin",
            FaultKind::NotAuthenticated => "NotAuthenticated",
            FaultKind::NoPermission => "NoPermission",
            FaultKind::InvalidPowerState => "InvalidPowerState",
            FaultKind::TaskInProgress => "TaskInProgress",
            FaultKind::ManagedObjectNotFound => "ManagedObjectNotFound",
            FaultKind::InvalidArgument => "InvalidArgument",
            FaultKind::InvalidState => "InvalidState",
            FaultKind::RequestCanceled => "RequestCanceled",
            FaultKind::Other(n) => n,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// `faultstring`, or a task error's `localizedMessage`.
    pub message: String,
    /// The fault's own fields (`privilegeId`, `object`, `task`, ...).
    pub detail: Option<Elem>,
}

impl Fault {
    /// From a `<soapenv:Fault>` element.
    pub fn from_node(n: roxmltree::Node<'_, '_>) -> Result<Fault, Malformed> {
        let message = n
            .children()
            .find(|c| c.is_element() && c.tag_name().name() == "faultstring")
            .and_then(|c| c.text())
            .unwrap_or("")
            .trim()
            .to_string();
        let detail = n
            .children()
            .find(|c| c.is_element() && c.tag_name().name() == "detail")
            .and_then(|d| d.children().find(|c| c.is_element()));
        let (kind, detail) = match detail {
            Some(d) => {
                let name = d
                    .attribute((XSI, "type"))
                    .map(|t| t.rsplit(':').next().unwrap_or(t).to_string())
                    .unwrap_or_else(|| {
                        let local = d.tag_name().name();
                        local.strip_suffix("Fault").unwrap_or(local).to_string()
                    });
                (FaultKind::from_name(&name), Some(Elem::from_node(d)?))
            }
            None => {
                // A fault without detail (a proxy, an old server): keep
                // the faultcode as its name.
                let code = n
                    .children()
                    .find(|c| c.is_element() && c.tag_name().name() == "faultcode")
                    .and_then(|c| c.text())
                    .unwrap_or("SoapFault")
                    .trim()
                    .to_string();
                (FaultKind::Other(code), None)
            }
        };
        Ok(Fault {
            kind,
            message,
            detail,
        })
    }

    /// From a task's `info.error` (a `LocalizedMethodFault`).
    pub fn from_localized(e: &Elem) -> Fault {
        let fault = e.child("fault");
        let kind = fault
            .and_then(|f| f.value_type())
            .map(FaultKind::from_name)
            .unwrap_or_else(|| FaultKind::Other("UnknownFault".into()));
        Fault {
            kind,
            message: e.text_of("localizedMessage").unwrap_or("").to_string(),
            detail: fault.cloned(),
        }
    }

    pub fn detail_text(&self, field: &str) -> Option<&str> {
        self.detail.as_ref().and_then(|d| d.text_of(field))
    }

    pub fn detail_moref(&self, field: &str) -> Option<Moref> {
        self.detail
            .as_ref()
            .and_then(|d| d.child(field))
            .and_then(Elem::as_moref)
    }

    /// One line for the log: `NoPermission: Permission to perform this
    /// operation was denied. (privilege VirtualMachine.Interact.PowerOff)`.
    pub fn describe(&self) -> String {
        let mut s = self.kind.name().to_string();
        let msg = self.message.trim();
        // The simulator fills localizedMessage with a Go type name.
        if !msg.is_empty() && !msg.starts_with("*types.") {
            s.push_str(": ");
            s.push_str(msg);
        }
        if let Some(p) = self.detail_text("privilegeId") {
            s.push_str(&format!(" (privilege {p})"));
        }
        if self.kind == FaultKind::InvalidPowerState {
            if let Some(st) = self.detail_text("existingState") {
                s.push_str(&format!(" (the VM is {st})"));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::parse_reply;
    use crate::Error;

    fn fault_of(body: &str) -> Fault {
        let text = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
        );
        match parse_reply(&text) {
            Err(Error::Fault(f)) => *f,
            other => panic!("not a fault: {other:?}"),
        }
    }

    #[test]
    fn invalid_login() {
        let f = fault_of(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Cannot complete login due to an incorrect user name or password.</faultstring><detail><InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"></InvalidLoginFault></detail></soapenv:Fault>"#,
        );
        assert_eq!(f.kind, FaultKind::InvalidLogin);
        assert_eq!(
            f.describe(),
            "InvalidLogin: Cannot complete login due to an incorrect user name or password."
        );
    }

    #[test]
    fn no_permission_names_the_privilege() {
        let f = fault_of(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Permission to perform this operation was denied.</faultstring><detail><NoPermissionFault xmlns="urn:vim25" xsi:type="NoPermission"><object type="VirtualMachine">vm-42</object><privilegeId>VirtualMachine.Interact.PowerOff</privilegeId></NoPermissionFault></detail></soapenv:Fault>"#,
        );
        assert_eq!(f.kind, FaultKind::NoPermission);
        assert_eq!(
            f.detail_moref("object"),
            Some(Moref::new("VirtualMachine", "vm-42"))
        );
        assert!(f
            .describe()
            .ends_with("(privilege VirtualMachine.Interact.PowerOff)"));
    }

    #[test]
    fn task_in_progress_carries_the_task() {
        let f = fault_of(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Another task is already in progress.</faultstring><detail><TaskInProgressFault xmlns="urn:vim25" xsi:type="TaskInProgress"><task type="Task">task-193</task></TaskInProgressFault></detail></soapenv:Fault>"#,
        );
        assert_eq!(f.kind, FaultKind::TaskInProgress);
        assert_eq!(f.detail_moref("task"), Some(Moref::new("Task", "task-193")));
    }

    #[test]
    fn fault_without_xsi_type_uses_the_element_name() {
        let f = fault_of(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>gone</faultstring><detail><ManagedObjectNotFoundFault xmlns="urn:vim25"><obj type="VirtualMachine">vm-9</obj></ManagedObjectNotFoundFault></detail></soapenv:Fault>"#,
        );
        assert_eq!(f.kind, FaultKind::ManagedObjectNotFound);
    }

    #[test]
    fn fault_without_detail_keeps_the_faultcode() {
        let f = fault_of(
            r#"<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>Unsupported version URI</faultstring></soapenv:Fault>"#,
        );
        assert_eq!(f.kind, FaultKind::Other("soapenv:Client".into()));
        assert_eq!(f.message, "Unsupported version URI");
    }

    #[test]
    fn task_error_from_localized_method_fault() {
        let doc = roxmltree::Document::parse(r#"<val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="LocalizedMethodFault"><fault XMLSchema-instance:type="InvalidPowerState"><requestedState>poweredOff</requestedState><existingState>poweredOff</existingState></fault><localizedMessage>*types.InvalidPowerState</localizedMessage></val>"#).unwrap();
        let f = Fault::from_localized(&Elem::from_node(doc.root_element()).unwrap());
        assert_eq!(f.kind, FaultKind::InvalidPowerState);
        assert_eq!(f.describe(), "InvalidPowerState (the VM is poweredOff)");
    }
}
