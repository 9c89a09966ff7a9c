//! hostd's records that no guest writes (fence_vmware_esxi's guest_free
//! module), read when a VM's `get.summary` is not readable for sure:
//! `get.runtime`, `get.filelayout` (two objects one after the other), the
//! head of `get.config`, and the vmodl reader under them
//! (`vmodl::parse_values`, its `Lexer`).
//!
//! What must hold, beyond answering:
//! - whatever vmodl text reads as values writes back (in the printer's
//!   grammar) to text that reads as the same values, header lines
//!   included; the lexer moves forward at every token;
//! - one VM's records, printed as hostd prints them around the fuzzer's
//!   name, `.vmx` path, annotation, pending question and guest variables,
//!   read as exactly that VM's state, path and name, or are refused. The
//!   one way a name may read short (cut at a double quote it holds) is
//!   caught by `name_may_go_on` on the getallvms listing, where the agent
//!   refuses it. And what the guest writes never makes them unreadable:
//!   with a name and a path free of double quotes, each record reads.

use fence_vmware_esxi::getallvms::is_file_column;
use fence_vmware_esxi::guest_free::{
    name_may_go_on, parse_config_name, parse_filelayout, parse_runtime, VmRuntime,
};
use fence_vmware_esxi::vimcmd::VmPower;
use fence_vmware_esxi::vmodl::{parse_values, Lexer, Printed, Value};

use crate::esxi::render_value;
use crate::{Choices, Fields};

/// Whatever the text, every reader answers, and what reads renders back.
fn raw(text: &str) {
    if let Ok(runtime) = parse_runtime(text) {
        assert!(!runtime.connection.contains('"'), "{runtime:?}");
    }
    if let Ok(path) = parse_filelayout(text) {
        assert!(is_file_column(&path), "{path:?} read as a .vmx path");
    }
    if let Ok(name) = parse_config_name(text) {
        assert!(!name.contains('"'), "a name {name:?} read past its quote");
    }

    let mut lexer = Lexer::new(text);
    let mut last: Option<usize> = None;
    while let Ok(Some((at, _))) = lexer.next_token() {
        assert!(
            at < text.len() && last.is_none_or(|l| at > l),
            "no progress at {at}"
        );
        last = Some(at);
    }

    if let Ok(values) = parse_values(text) {
        let again = render_values(&values);
        assert_eq!(
            parse_values(&again).as_ref(),
            Ok(&values),
            "rendered as {again:?}"
        );
    }
}

/// Values written back as vim-cmd prints them: each after its header
/// line, if any. A scalar needs a type before it at the top (a bare word
/// there would read as a header).
fn render_values(values: &[Printed]) -> String {
    let mut out = String::new();
    for p in values {
        if let Some(h) = &p.header {
            out.push_str(h);
            out.push('\n');
        }
        if !matches!(p.value, Value::Object { .. } | Value::Array { .. }) {
            out.push_str("(string) ");
        }
        render_value(&p.value, &mut out);
        out.push('\n');
    }
    out
}

/// A string the vmodl printer writes raw reads whole: no double quote
/// to end it early, no backslash before its closing quote.
fn prints_whole(s: &str) -> bool {
    !s.contains('"') && !s.ends_with('\\')
}

fn power_word(p: VmPower) -> &'static str {
    match p {
        VmPower::On => "poweredOn",
        VmPower::Off => "poweredOff",
        VmPower::Suspended => "suspended",
    }
}

/// `[ds] dir/x.vmx` → `[ds] dir`, as the fake host derives the other
/// directories (everything before the last `/`).
fn directory_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(dir, _)| dir)
}

/// One VM as the fake vim-cmd of cts/esxi prints it (from a real host's
/// output and the API's declared field order): strings raw, never
/// escaped.
struct Vm {
    vmid: String,
    name: String,
    path: String,
    annotation: String,
    question: Option<String>,
    guestinfo: String,
    runtime: VmRuntime,
    /// Which of the base fields get.config prints first.
    base_field: usize,
    config_header: bool,
    layout_headers: bool,
}

impl Vm {
    fn runtime(&self) -> String {
        let question = match &self.question {
            None => "(vim.vm.QuestionInfo) null".to_string(),
            Some(text) => format!(
                "(vim.vm.QuestionInfo) {{\n      id = \"_vmx1\",\n      text = \"{text}\",\n      choice = (vim.option.ChoiceOption) null,\n      message = (vim.vm.Message) [],\n   }}"
            ),
        };
        format!(
            "(vim.vm.RuntimeInfo) {{\n   device = (vim.vm.DeviceRuntimeInfo) [\n      (vim.vm.DeviceRuntimeInfo) {{\n         runtimeState = (vim.vm.DeviceRuntimeInfo.VirtualEthernetCardRuntimeState) {{\n            vmDirectPathGen2Active = false,\n            vmDirectPathGen2InactiveReasonVm = (string) [\n               \"vmNptIncompatibleAdapterType\"\n            ],\n         }},\n         key = 4000,\n      }}\n   ],\n   host = 'vim.HostSystem:ha-host',\n   connectionState = \"{connection}\",\n   powerState = \"{power}\",\n   faultToleranceState = \"notConfigured\",\n   suspendTime = <unset>,\n   question = {question},\n   maxCpuUsage = 4400,\n   cleanPowerOff = <unset>,\n}}\n",
            connection = self.runtime.connection,
            power = power_word(self.runtime.power),
        )
    }

    fn filelayout(&self) -> String {
        let (name, path) = (&self.name, &self.path);
        let dir = directory_of(path);
        let (info, layout) = if self.layout_headers {
            ("VM files:\n", "VM file layout:\n")
        } else {
            ("", "")
        };
        format!(
            "{info}(vim.vm.FileInfo) {{\n   vmPathName = \"{path}\",\n   snapshotDirectory = \"{dir}\",\n   suspendDirectory = \"{dir}\",\n   logDirectory = \"{dir}\",\n   ftMetadataDirectory = <unset>,\n}}\n{layout}(vim.vm.FileLayout) {{\n   configFile = (string) [\n      \"{name}.nvram\",\n      \"{name}.vmsd\"\n   ],\n   logFile = (string) [\n      \"vmware.log\"\n   ],\n   disk = (vim.vm.FileLayout.DiskLayout) [\n      (vim.vm.FileLayout.DiskLayout) {{\n         key = 2000,\n         diskFile = (string) [\n            \"{dir}/{name}.vmdk\"\n         ],\n      }}\n   ],\n   snapshot = (vim.vm.FileLayout.SnapshotLayout) [],\n   swapFile = <unset>,\n}}\n"
        )
    }

    fn config(&self) -> String {
        let (name, path) = (&self.name, &self.path);
        let dir = directory_of(path);
        let base = [
            "",
            "   dynamicType = <unset>,\n",
            "   dynamicProperty = (vmodl.DynamicProperty) [],\n",
        ][self.base_field];
        format!(
            "{header}(vim.vm.ConfigInfo) {{\n{base}   changeVersion = \"2024-01-31T10:00:00.123456Z\",\n   modified = \"1970-01-01T00:00:00Z\",\n   name = \"{name}\",\n   guestFullName = \"Fake Guest OS\",\n   version = \"vmx-19\",\n   template = false,\n   annotation = \"{annotation}\",\n   files = (vim.vm.FileInfo) {{\n      vmPathName = \"{path}\",\n      snapshotDirectory = \"{dir}\",\n   }},\n   extraConfig = (vim.option.OptionValue) [\n      (vim.option.OptionValue) {{\n         key = \"nvram\",\n         value = \"{name}.nvram\"\n      }},\n      (vim.option.OptionValue) {{\n         key = \"guestinfo.appInfo\",\n         value = \"{guest}\"\n      }}\n   ],\n   firmware = \"bios\",\n}}\n",
            header = if self.config_header { "Configuration:\n" } else { "" },
            annotation = self.annotation,
            guest = self.guestinfo,
        )
    }

    /// `vim-cmd vmsvc/getallvms` with this VM's row, its name and path
    /// raw, and its annotation's later lines after it.
    fn getallvms(&self) -> String {
        let mut lines = self.annotation.split('\n');
        let first = lines.next().unwrap_or("");
        let mut out = format!(
            "Vmid         Name                                  File                                   Guest OS          Version   Annotation\n{:<7}{:<30}  {:<40}  {:<24}{:<10}{first}\n",
            self.vmid, self.name, self.path, "otherGuest64", "vmx-19"
        );
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

const CONNECTIONS: [&str; 5] = [
    "connected",
    "disconnected",
    "orphaned",
    "inaccessible",
    "invalid",
];

/// Fields: name, `.vmx` path, annotation, question text (none when
/// empty), the guest's variable, choices (power, connection, headers,
/// base field, vmid).
pub fn guest_free(data: &[u8]) {
    raw(&String::from_utf8_lossy(data));

    let f = Fields::new(data);
    let mut choices = Choices::new(f.bytes(5));
    let question = f.text(3);
    let vm = Vm {
        name: f.text(0),
        path: f.text(1),
        annotation: f.text(2),
        question: (!question.is_empty()).then_some(question),
        guestinfo: f.text(4),
        runtime: VmRuntime {
            power: [VmPower::On, VmPower::Off, VmPower::Suspended][choices.below(3)],
            connection: CONNECTIONS[choices.below(CONNECTIONS.len())].to_string(),
        },
        config_header: choices.below(2) == 0,
        layout_headers: choices.below(2) == 0,
        base_field: choices.below(3),
        vmid: (1 + choices.below(250)).to_string(),
    };

    let runtime = vm.runtime();
    match parse_runtime(&runtime) {
        Ok(read) => assert_eq!(
            read, vm.runtime,
            "get.runtime read as another state:\n{runtime}"
        ),
        Err(e) => assert!(
            !vm.question.as_deref().is_none_or(prints_whole),
            "get.runtime refused ({e}) with nothing to refuse:\n{runtime}"
        ),
    }

    let layout = vm.filelayout();
    let dir = directory_of(&vm.path);
    match parse_filelayout(&layout) {
        Ok(path) => assert_eq!(
            path, vm.path,
            "get.filelayout read as another path:\n{layout}"
        ),
        Err(e) => assert!(
            !(prints_whole(&vm.path)
                && prints_whole(dir)
                && !vm.name.contains('"')
                && is_file_column(&vm.path)),
            "get.filelayout refused ({e}) with nothing to refuse:\n{layout}"
        ),
    }

    let config = vm.config();
    match parse_config_name(&config) {
        Ok(name) if name == vm.name => {}
        Ok(name) => {
            assert!(
                vm.name.starts_with(&format!("{name}\"")),
                "get.config named {:?} as {name:?}:\n{config}",
                vm.name
            );
            assert!(
                name_may_go_on(&vm.getallvms(), &name),
                "{name:?}, read short of {:?}, is taken as the whole name",
                vm.name
            );
        }
        Err(e) => assert!(
            !prints_whole(&vm.name),
            "get.config refused ({e}) with nothing to refuse, whatever the guest wrote:\n{config}"
        ),
    }
}
