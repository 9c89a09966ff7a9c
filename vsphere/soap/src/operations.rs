//! vim25 calls beside power: a guest shutdown (`ShutdownGuest`), and a
//! VM's boot order read (`config.bootOptions`, `config.firmware`,
//! `config.hardware.device`) and changed (`ReconfigVM_Task` with a
//! `bootOptions.bootOrder`), in vsphere-core's terms.
//!
//! Sources: the vSphere Web Services API reference (VirtualMachine
//! ShutdownGuest, ReconfigVM_Task; VirtualMachineBootOptions and its
//! BootableDevice subtypes, since API 5.0; VirtualMachineConfigInfo
//! firmware), as pyvmomi's docs/vim/VirtualMachine.rst reproduces it.

use vsphere_core::{BackendError, BootEntry, BootReading, DeviceKey, Firmware};

use crate::backend::to_backend;
use crate::client::Client;
use crate::elem::{Elem, Moref};
use crate::envelope::Request;
use crate::error::Error;
use crate::fault::FaultKind;
use crate::parse::{self, ObjectContent};

/// The properties [`boot_reading`] reads, requested together.
pub const BOOT_READING_PATHS: &[&str] = &[
    "config.bootOptions",
    "config.firmware",
    "config.hardware.device",
];

const BOOTABLE_DEVICE: &str = "VirtualMachineBootOptionsBootableDevice";
const BOOTABLE_CDROM: &str = "VirtualMachineBootOptionsBootableCdromDevice";
const BOOTABLE_DISK: &str = "VirtualMachineBootOptionsBootableDiskDevice";
const BOOTABLE_ETHERNET: &str = "VirtualMachineBootOptionsBootableEthernetDevice";
const BOOTABLE_FLOPPY: &str = "VirtualMachineBootOptionsBootableFloppyDevice";

/// The subtypes of vim25 `VirtualEthernetCard`: the devices a
/// `BootableEthernetDevice` may name.
const ETHERNET_CARDS: &[&str] = &[
    "VirtualE1000",
    "VirtualE1000e",
    "VirtualPCNet32",
    "VirtualSriovEthernetCard",
    "VirtualVmxnet",
    "VirtualVmxnet2",
    "VirtualVmxnet3",
    "VirtualVmxnet3Vrdma",
];

impl Client {
    /// VirtualMachine.ShutdownGuest: returns once the request is accepted,
    /// "does not wait for the guest operating system to complete the
    /// operation".
    pub fn shutdown_guest(
        &self,
        vm: &Moref,
        deadline: agent_framework::Deadline,
    ) -> Result<(), Error> {
        self.transport
            .call(Request::new("ShutdownGuest", vm), deadline, false)
            .map(|_| ())
    }

    /// VirtualMachine.ReconfigVM_Task with a spec holding only
    /// `bootOptions.bootOrder`: the task started.
    pub fn reconfig_boot_order(
        &self,
        vm: &Moref,
        order: &[WritableEntry],
        deadline: agent_framework::Deadline,
    ) -> Result<Moref, Error> {
        let r = boot_order_request(vm, order);
        parse::returned_moref(&self.transport.call(r, deadline, false)?)
            .ok_or_else(|| Error::Protocol("ReconfigVM_Task returned no task".into()))
    }
}

/// The ReconfigVM_Task request that makes `order` the VM's boot order and
/// changes nothing else: "if an optional property is unset, or any nested
/// optional property is unset, the property will not be changed"
/// (VirtualMachineConfigSpec), so the boot delay, the EFI secure boot
/// setting and the rest of `bootOptions` stay as they are. (govmomi's
/// simulator replaces the whole `bootOptions`; nothing here reads the
/// rest.)
pub fn boot_order_request(vm: &Moref, order: &[WritableEntry]) -> Request {
    let mut r = Request::new("ReconfigVM_Task", vm);
    r.open("spec", None).open("bootOptions", None);
    if order.is_empty() {
        // An empty list cannot be sent (SOAP has no empty array); one
        // entry of the base type clears the order on vCenter and ESXi, as
        // govmomi's object.VirtualDeviceList.BootOrder says of its "-"
        // ("not covered in the API docs, nor obvious").
        r.open("bootOrder", Some(BOOTABLE_DEVICE)).close();
    }
    for entry in order {
        r.open("bootOrder", Some(entry.type_name()));
        if let Some(key) = entry.key() {
            r.text("deviceKey", &key.0.to_string());
        }
        r.close();
    }
    r.close().close();
    r
}

/// A boot order entry this client can write: every kind but one it does
/// not know, whose fields it could not send back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritableEntry {
    Cdrom,
    Floppy,
    Disk(DeviceKey),
    Ethernet(DeviceKey),
}

impl WritableEntry {
    /// The entry as written, or why it cannot be.
    pub fn of(entry: &BootEntry) -> Result<WritableEntry, BackendError> {
        match entry {
            BootEntry::Cdrom => Ok(WritableEntry::Cdrom),
            BootEntry::Floppy => Ok(WritableEntry::Floppy),
            BootEntry::Disk(k) => Ok(WritableEntry::Disk(*k)),
            BootEntry::Ethernet(k) => Ok(WritableEntry::Ethernet(*k)),
            BootEntry::Other(t) => Err(BackendError::InvalidState(format!(
                "the boot order holds an entry of type {t:?}, which this client cannot write \
                 back unchanged; change the order in the vSphere Client"
            ))),
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            WritableEntry::Cdrom => BOOTABLE_CDROM,
            WritableEntry::Floppy => BOOTABLE_FLOPPY,
            WritableEntry::Disk(_) => BOOTABLE_DISK,
            WritableEntry::Ethernet(_) => BOOTABLE_ETHERNET,
        }
    }

    fn key(self) -> Option<DeviceKey> {
        match self {
            WritableEntry::Disk(k) | WritableEntry::Ethernet(k) => Some(k),
            WritableEntry::Cdrom | WritableEntry::Floppy => None,
        }
    }
}

/// ShutdownGuest's refusals in the core's terms: what the VM's state
/// forbids is [`BackendError::InvalidState`], not a device failure. Its
/// faults (API reference): ToolsUnavailable "if VMware Tools is not
/// running", InvalidPowerState "if the power state is not powered on",
/// InvalidState "if the virtual machine's configuration information is
/// not available", TaskInProgress "if the virtual machine is busy".
pub fn shutdown_refusal(e: Error) -> BackendError {
    let Error::Fault(f) = &e else {
        return to_backend(e);
    };
    let why = match &f.kind {
        FaultKind::Other(name) if name == "ToolsUnavailable" => {
            "VMware Tools is not running in the guest, so the guest cannot be asked to shut down"
        }
        FaultKind::InvalidPowerState => "the VM is not powered on",
        FaultKind::InvalidState => "the VM's state does not allow it now",
        _ => return to_backend(e),
    };
    BackendError::InvalidState(format!("{why} ({})", f.describe()))
}

/// The device key in `field`: `deviceKey` of a boot order entry, `key`
/// of a device.
fn device_key(e: &Elem, field: &str) -> Option<DeviceKey> {
    e.text_of(field)
        .and_then(|k| k.parse::<i32>().ok())
        .map(DeviceKey)
}

/// One `bootOrder` element.
fn boot_entry(e: &Elem) -> BootEntry {
    let kind = e.value_type().unwrap_or("");
    let keyed = |make: fn(DeviceKey) -> BootEntry| match device_key(e, "deviceKey") {
        Some(k) => make(k),
        None => BootEntry::Other(format!("{kind} without a deviceKey")),
    };
    match kind {
        BOOTABLE_CDROM => BootEntry::Cdrom,
        BOOTABLE_FLOPPY => BootEntry::Floppy,
        BOOTABLE_DISK => keyed(BootEntry::Disk),
        BOOTABLE_ETHERNET => keyed(BootEntry::Ethernet),
        other => BootEntry::Other(other.to_string()),
    }
}

/// What a device of `config.hardware.device` can be in a boot order.
fn bootable(device: &Elem) -> Option<BootEntry> {
    match device.value_type()? {
        "VirtualCdrom" => Some(BootEntry::Cdrom),
        "VirtualFloppy" => Some(BootEntry::Floppy),
        "VirtualDisk" => device_key(device, "key").map(BootEntry::Disk),
        t if ETHERNET_CARDS.contains(&t) => device_key(device, "key").map(BootEntry::Ethernet),
        _ => None,
    }
}

/// A VM's boot order, firmware and bootable devices from one object of a
/// RetrievePropertiesEx result of [`BOOT_READING_PATHS`]. Total: any
/// reply gives a value or an error. A VM whose hardware list the server
/// did not return (its configuration unavailable) is an error; an absent
/// `bootOptions` on a VM that has one is an empty order, as vim25 leaves
/// an unset boot order out.
pub fn boot_reading(vm: &ObjectContent) -> Result<BootReading, Error> {
    let unreadable = |path: &str| {
        let why = vm
            .missing
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, f)| f.as_str())
            .unwrap_or("not returned");
        Error::Protocol(format!("the VM's {path} is unreadable: {why}"))
    };
    if vm.missing.iter().any(|(p, _)| p == "config.bootOptions") {
        return Err(unreadable("config.bootOptions"));
    }
    let devices = vm
        .prop("config.hardware.device")
        .ok_or_else(|| unreadable("config.hardware.device"))?;
    let mut bootable_devices: Vec<BootEntry> = Vec::new();
    for d in &devices.children {
        if let Some(b) = bootable(d) {
            if !bootable_devices.contains(&b) {
                bootable_devices.push(b);
            }
        }
    }
    let order = vm
        .prop("config.bootOptions")
        .map(|o| o.all("bootOrder").map(boot_entry).collect())
        .unwrap_or_default();
    Ok(BootReading {
        order,
        firmware: Firmware::parse(vm.text("config.firmware").unwrap_or("")),
        bootable: bootable_devices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elem::VIM25;
    use crate::parse::retrieve_result;
    use crate::reply::parse_reply;

    fn envelope(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
        )
    }

    /// A VM's boot reading as govmomi's simulator (through cts/vcsim)
    /// encodes it, captured and trimmed: a PXE-first order, BIOS firmware,
    /// and the devices of the simulator's own VMs (controllers, a CD-ROM,
    /// a disk, an E1000), without their deviceInfo and backing.
    pub(crate) fn boot_reply() -> String {
        envelope(
            r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-111</obj><propSet><name>config.bootOptions</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="VirtualMachineBootOptions"><bootOrder XMLSchema-instance:type="VirtualMachineBootOptionsBootableEthernetDevice"><deviceKey>4000</deviceKey></bootOrder><bootOrder XMLSchema-instance:type="VirtualMachineBootOptionsBootableCdromDevice"></bootOrder><bootOrder XMLSchema-instance:type="VirtualMachineBootOptionsBootableDiskDevice"><deviceKey>255511522</deviceKey></bootOrder></val></propSet><propSet><name>config.firmware</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="xsd:string">bios</val></propSet><propSet><name>config.hardware.device</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ArrayOfVirtualDevice"><VirtualDevice XMLSchema-instance:type="VirtualIDEController"><key>200</key><busNumber>0</busNumber></VirtualDevice><VirtualDevice XMLSchema-instance:type="ParaVirtualSCSIController"><key>202</key><busNumber>0</busNumber><sharedBus>noSharing</sharedBus><scsiCtlrUnitNumber>7</scsiCtlrUnitNumber></VirtualDevice><VirtualDevice XMLSchema-instance:type="VirtualCdrom"><key>1697971134</key><controllerKey>202</controllerKey><unitNumber>0</unitNumber></VirtualDevice><VirtualDevice XMLSchema-instance:type="VirtualDisk"><key>255511522</key><controllerKey>202</controllerKey><unitNumber>0</unitNumber><capacityInKB>1024</capacityInKB></VirtualDevice><VirtualDevice XMLSchema-instance:type="VirtualE1000"><key>4000</key><controllerKey>100</controllerKey><unitNumber>7</unitNumber><addressType>generated</addressType><macAddress>00:0c:29:36:63:62</macAddress><wakeOnLanEnabled>true</wakeOnLanEnabled></VirtualDevice></val></propSet></objects></returnval></RetrievePropertiesExResponse>"#,
        )
    }

    fn reading_of(text: &str) -> Result<BootReading, Error> {
        let reply = parse_reply(text)?;
        let (objects, _) = retrieve_result(&reply);
        let vm = objects
            .first()
            .ok_or_else(|| Error::Protocol("no object".into()))?;
        boot_reading(vm)
    }

    #[test]
    fn the_boot_order_firmware_and_bootable_devices_are_read() {
        let r = reading_of(&boot_reply()).unwrap();
        assert_eq!(
            r.order,
            vec![
                BootEntry::Ethernet(DeviceKey(4000)),
                BootEntry::Cdrom,
                BootEntry::Disk(DeviceKey(255511522))
            ]
        );
        assert_eq!(r.firmware, Firmware::Bios);
        assert_eq!(
            r.bootable,
            vec![
                BootEntry::Cdrom,
                BootEntry::Disk(DeviceKey(255511522)),
                BootEntry::Ethernet(DeviceKey(4000))
            ]
        );
    }

    #[test]
    fn an_unset_order_is_empty_and_an_unknown_entry_is_kept_as_such() {
        let text = boot_reply()
            .replace(
                r#"<bootOrder XMLSchema-instance:type="VirtualMachineBootOptionsBootableEthernetDevice"><deviceKey>4000</deviceKey></bootOrder>"#,
                r#"<bootOrder XMLSchema-instance:type="VirtualMachineBootOptionsBootableNvmeDevice"><deviceKey>31000</deviceKey></bootOrder><bootOrder XMLSchema-instance:type="VirtualMachineBootOptionsBootableDiskDevice"></bootOrder>"#,
            )
            .replace(">bios<", ">efi<");
        let r = reading_of(&text).unwrap();
        assert_eq!(
            r.order[..2],
            [
                BootEntry::Other("VirtualMachineBootOptionsBootableNvmeDevice".into()),
                BootEntry::Other(
                    "VirtualMachineBootOptionsBootableDiskDevice without a deviceKey".into()
                )
            ]
        );
        assert_eq!(r.firmware, Firmware::Efi);
        let start = text.find("<propSet><name>config.bootOptions").unwrap();
        let end = text.find("<propSet><name>config.firmware").unwrap();
        let mut unset = text.clone();
        unset.replace_range(start..end, "");
        assert_eq!(reading_of(&unset).unwrap().order, Vec::new());
    }

    #[test]
    fn an_unreadable_configuration_is_an_error_not_an_empty_order() {
        let text = envelope(
            r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-54</obj><missingSet><path>config.bootOptions</path><fault><fault xsi:type="NoPermission"></fault></fault></missingSet><missingSet><path>config.hardware.device</path><fault><fault xsi:type="NoPermission"></fault></fault></missingSet></objects></returnval></RetrievePropertiesExResponse>"#,
        );
        let e = reading_of(&text).unwrap_err();
        assert!(e.describe().contains("NoPermission"), "{e}");
        let text = envelope(
            r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-54</obj></objects></returnval></RetrievePropertiesExResponse>"#,
        );
        let e = reading_of(&text).unwrap_err();
        assert!(
            e.describe()
                .contains("config.hardware.device is unreadable: not returned"),
            "{e}"
        );
    }

    #[test]
    fn hostile_boot_replies_give_errors_never_panics() {
        let sample = boot_reply();
        let bytes = sample.as_bytes();
        for cut in 0..bytes.len() {
            let _ = reading_of(&String::from_utf8_lossy(&bytes[..cut]));
        }
        // Every element name swapped for another, one at a time.
        for (from, to) in [
            ("deviceKey", "key"),
            ("bootOrder", "VirtualDevice"),
            ("VirtualDevice", "bootOrder"),
            ("4000", "99999999999"),
            ("255511522", "-"),
            ("XMLSchema-instance:type", "type"),
        ] {
            let _ = reading_of(&sample.replace(from, to));
        }
    }

    /// Each `bootOrder` of a request: its xsi:type and deviceKey; and the
    /// names of the spec's children.
    fn written(order: &[WritableEntry]) -> (Vec<(String, Option<String>)>, Vec<String>) {
        let xml = boot_order_request(&Moref::new("VirtualMachine", "vm-54"), order).finish();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let entries = doc
            .descendants()
            .filter(|n| n.has_tag_name((VIM25, "bootOrder")))
            .map(|n| {
                (
                    n.attribute((crate::elem::XSI, "type")).unwrap().to_string(),
                    n.children()
                        .find(|c| c.has_tag_name((VIM25, "deviceKey")))
                        .and_then(|c| c.text())
                        .map(str::to_string),
                )
            })
            .collect();
        let spec = doc
            .descendants()
            .find(|n| n.has_tag_name((VIM25, "spec")))
            .unwrap();
        let children = spec
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name().to_string())
            .collect();
        (entries, children)
    }

    #[test]
    fn the_order_is_written_with_each_entrys_type_and_key_and_nothing_else() {
        let (entries, spec) = written(&[
            WritableEntry::Ethernet(DeviceKey(4000)),
            WritableEntry::Cdrom,
            WritableEntry::Disk(DeviceKey(204)),
        ]);
        assert_eq!(
            entries,
            vec![
                (BOOTABLE_ETHERNET.to_string(), Some("4000".to_string())),
                (BOOTABLE_CDROM.to_string(), None),
                (BOOTABLE_DISK.to_string(), Some("204".to_string())),
            ]
        );
        assert_eq!(spec, ["bootOptions"], "nothing else is reconfigured");
    }

    #[test]
    fn an_empty_order_is_written_as_one_entry_of_the_base_type() {
        let (entries, _) = written(&[]);
        assert_eq!(entries, vec![(BOOTABLE_DEVICE.to_string(), None)]);
    }

    #[test]
    fn an_entry_of_an_unknown_type_is_not_written() {
        let e = WritableEntry::of(&BootEntry::Other("X".into())).unwrap_err();
        assert!(matches!(e, BackendError::InvalidState(_)), "{e:?}");
        assert_eq!(
            WritableEntry::of(&BootEntry::Disk(DeviceKey(2))).unwrap(),
            WritableEntry::Disk(DeviceKey(2))
        );
    }

    fn fault(kind: &str, message: &str) -> Error {
        let text = envelope(&format!(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>{message}</faultstring><detail><{kind}Fault xmlns="urn:vim25" xsi:type="{kind}"></{kind}Fault></detail></soapenv:Fault>"#
        ));
        parse_reply(&text).unwrap_err()
    }

    #[test]
    fn shutdown_refusals_that_the_vms_state_explains_keep_that_class() {
        let e = shutdown_refusal(fault(
            "ToolsUnavailable",
            "Cannot complete operation because VMware Tools is not running in this virtual machine.",
        ));
        match e {
            BackendError::InvalidState(m) => assert!(
                m.starts_with("VMware Tools is not running in the guest")
                    && m.contains("ToolsUnavailable: Cannot complete operation"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            shutdown_refusal(fault("InvalidPowerState", "")),
            BackendError::InvalidState(m) if m.contains("not powered on")
        ));
        assert!(matches!(
            shutdown_refusal(fault("InvalidState", "")),
            BackendError::InvalidState(_)
        ));
        assert!(matches!(
            shutdown_refusal(fault("NotAuthenticated", "")),
            BackendError::NotAuthenticated(_)
        ));
        assert!(matches!(
            shutdown_refusal(fault("NoPermission", "")),
            BackendError::NoPermission(_)
        ));
        assert!(matches!(
            shutdown_refusal(Error::Timeout("ShutdownGuest".into())),
            BackendError::Timeout(_)
        ));
    }

    /// A FAKE HTTP side for SoapBackend, in memory: canned replies by SOAP
    /// method, every request body kept. Only to see what the backend sends
    /// and how it reads the answers; the real peer (VMware's simulator) is
    /// cts/tests/vbmc.rs's.
    struct Canned {
        replies: std::collections::HashMap<&'static str, (u16, String)>,
        sent: std::sync::Mutex<Vec<(String, String)>>,
    }

    impl crate::http::HttpPost for Canned {
        fn post(
            &self,
            request: &crate::http::HttpRequest<'_>,
            _deadline: agent_framework::Deadline,
        ) -> Result<crate::http::HttpReply, Error> {
            self.sent
                .lock()
                .unwrap()
                .push((request.what.to_string(), request.body.to_string()));
            let (status, body) = self
                .replies
                .get(request.what)
                .cloned()
                .unwrap_or_else(|| panic!("no reply for {}", request.what));
            Ok(crate::http::HttpReply {
                status,
                body,
                set_cookies: Vec::new(),
            })
        }

        fn url(&self) -> &str {
            "https://vc.test/sdk"
        }
    }

    fn backend(
        replies: &[(&'static str, u16, String)],
    ) -> (crate::SoapBackend, std::sync::Arc<Canned>) {
        let mut map = std::collections::HashMap::new();
        map.insert(
            "RetrieveServiceContent",
            (
                200,
                envelope(
                    r#"<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><searchIndex type="SearchIndex">SearchIndex</searchIndex><sessionManager type="SessionManager">SessionManager</sessionManager></returnval></RetrieveServiceContentResponse>"#,
                ),
            ),
        );
        for (m, status, body) in replies {
            map.insert(*m, (*status, body.clone()));
        }
        let http = std::sync::Arc::new(Canned {
            replies: map,
            sent: std::sync::Mutex::new(Vec::new()),
        });
        let b = crate::SoapBackend::open(
            http.clone(),
            "u",
            agent_framework::Secret::new("p".to_string()),
            None,
            soon(),
        )
        .unwrap();
        (b, http)
    }

    fn soon() -> agent_framework::Deadline {
        agent_framework::Deadline::after(std::time::Duration::from_secs(5))
    }

    fn sent(http: &Canned, method: &str) -> Vec<String> {
        http.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, b)| b.clone())
            .collect()
    }

    #[test]
    fn the_backend_reads_writes_and_shuts_down_through_vim25() {
        use vsphere_core::{Backend, Started, TaskId, VmId};
        let tools_unavailable = envelope(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Cannot complete operation because VMware Tools is not running in this virtual machine.</faultstring><detail><ToolsUnavailableFault xmlns="urn:vim25" xsi:type="ToolsUnavailable"></ToolsUnavailableFault></detail></soapenv:Fault>"#,
        );
        let (mut b, http) = backend(&[
            ("RetrievePropertiesEx", 200, boot_reply()),
            (
                "ReconfigVM_Task",
                200,
                envelope(
                    r#"<ReconfigVM_TaskResponse xmlns="urn:vim25"><returnval type="Task">task-77</returnval></ReconfigVM_TaskResponse>"#,
                ),
            ),
            ("ShutdownGuest", 500, tools_unavailable),
        ]);
        let vm = VmId("vm-111".into());
        let r = b.read_boot(&vm, soon()).unwrap();
        assert_eq!(r.order[0], BootEntry::Ethernet(DeviceKey(4000)));
        let asked = sent(&http, "RetrievePropertiesEx");
        for path in BOOT_READING_PATHS {
            assert!(
                asked[0].contains(&format!("<pathSet>{path}</pathSet>")),
                "{}",
                asked[0]
            );
        }
        assert_eq!(
            b.start_boot_order(&vm, &[BootEntry::Disk(DeviceKey(255511522))], soon()),
            Ok(Started::Task(TaskId("task-77".into())))
        );
        let body = &sent(&http, "ReconfigVM_Task")[0];
        assert!(
            body.contains(r#"<_this type="VirtualMachine">vm-111</_this>"#)
                && body.contains("<deviceKey>255511522</deviceKey>"),
            "{body}"
        );
        // An entry this client cannot write back: refused, nothing sent.
        let e = b
            .start_boot_order(&vm, &[BootEntry::Other("X".into())], soon())
            .unwrap_err();
        assert!(matches!(e, BackendError::InvalidState(_)), "{e:?}");
        assert_eq!(sent(&http, "ReconfigVM_Task").len(), 1);
        match b.shutdown_guest(&vm, soon()) {
            Err(BackendError::InvalidState(m)) => {
                assert!(m.contains("VMware Tools is not running"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(sent(&http, "ShutdownGuest").len(), 1);
    }
}
