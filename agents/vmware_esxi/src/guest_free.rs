//! What hostd says about a VM in text no guest writes: read when
//! `get.summary` (summary.rs) is not readable for sure, so that a guest
//! cannot make its own VM unfenceable.
//!
//! ## Which strings a guest writes
//!
//! - `get.summary` holds `guest = (vim.vm.Summary.GuestSummary)`: hostName,
//!   ipAddress, guestId and guestFullName as VMware Tools in the guest
//!   report them (vSphere API reference, vim.vm.GuestInfo: "Most of this
//!   information is collected by VMware Tools"). A guest reporting a host
//!   name with a double quote makes the summary unreadable.
//! - `get.config` prints the whole `vim.vm.ConfigInfo`, and its
//!   `extraConfig` holds the VM's `guestinfo.*` variables, which the guest
//!   sets itself: `vmtoolsd --cmd 'info-set guestinfo.x ...'` works for any
//!   guest user unless the VM's configuration forbids it (open-vm-tools
//!   issue #288), and Tools writes `guestinfo.appInfo` (a JSON list of the
//!   guest's processes, double quotes included, Tools 11 and later),
//!   `guestinfo.vmtools.*` and `guestInfo.detailed.data` there on its own
//!   (vmware-tanzu/vm-operator's vSphere watcher ignores exactly these
//!   keys in `config.extraConfig` because they change by themselves;
//!   PowerCLI scripts read `guestinfo.appInfo` as an advanced setting). So
//!   `get.config` as a whole is no more guest-free than the summary: only
//!   its head is (below).
//! - `get.runtime` prints `vim.vm.RuntimeInfo`, the summary's `runtime`:
//!   device runtime states, the host, connectionState, powerState, times,
//!   counters, and a pending question (pyvmomi docs/vim/vm/RuntimeInfo.rst).
//!   No field is written by the guest (its only guest-driven field,
//!   onlineStandby, is a boolean). The question's text comes from the VMX
//!   and may quote a file path or name the administrator chose.
//! - `get.filelayout` prints `vim.vm.FileInfo` (vmPathName, the snapshot,
//!   suspend, log and FT directories) and then `vim.vm.FileLayout` (the
//!   names of the configuration, log, disk, snapshot and swap files), two
//!   objects one after the other (Apache VCL's VIM_SSH.pm,
//!   `_get_vm_virtual_disk_file_layout`, parses both from one run). Only
//!   file names and paths, which hostd derives from what the administrator
//!   chose: nothing from the guest.
//! - `power.getstate` prints no string at all, but not connectionState
//!   either: hostd would not vouch for the state it prints, so it is not
//!   used.
//!
//! ## What is read, and why it holds
//!
//! - The power and connection states come from `get.runtime`, read whole
//!   and strictly like the summary (one value, no field twice);
//!   connectionState and powerState are printed before any string that
//!   is not hostd's own, so no later text can change what they say, and
//!   text that repeats them is caught as a duplicate.
//! - The `.vmx` path comes from `get.filelayout`, read whole and strictly:
//!   exactly a `vim.vm.FileInfo` then a `vim.vm.FileLayout`, and the
//!   FileInfo's fields only the declared ones, in their declared order,
//!   each a string or `<unset>`. A path holding a double quote cannot then
//!   read shortened: the rest of the real FileInfo would have to land
//!   somewhere legal, and every place it could land is a duplicate, a
//!   field out of order, or an object closed before a top-level value.
//! - The display name comes from the head of `get.config`: vmodl prints a
//!   data object's fields in their declared order, and ConfigInfo declares
//!   changeVersion, modified, then name (pyvmomi
//!   docs/vim/vm/ConfigInfo.rst), so nothing but hostd's own version stamp
//!   and date is printed before the name, and the guest's strings, far
//!   below in extraConfig, come after it and cannot change it. The reader
//!   stops at the name: the rest is never believed, nor needed. Where the
//!   name ends is the one doubt left: a name holding a double quote reads
//!   as its text before that quote. getallvms prints every VM's name raw,
//!   so when its output nowhere holds the name read followed by a double
//!   quote, the name has no quote there and is read whole
//!   ([`name_may_go_on`]); otherwise the caller refuses. getallvms holds no
//!   text a guest writes, so this too is beyond the guest's reach.
//!
//! A name or `.vmx` path holding a double quote therefore still makes a VM
//! unreadable, and so does an annotation repeating the name followed by a
//! double quote; what a guest reports never does.

use crate::summary::SummaryError;
use crate::vimcmd::VmPower;
use crate::vmodl::{parse_values, Lexer, Printed, SyntaxError, Token, Value};

/// What `get.runtime` says about a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmRuntime {
    pub power: VmPower,
    /// Only `connected` lets hostd vouch for the power state.
    pub connection: String,
}

fn shape(what: impl Into<String>) -> SummaryError {
    SummaryError::Shape(what.into())
}

/// The one value of `output`, of type `want` (after at most one header).
fn one_object(output: &str, want: &str) -> Result<Value, SummaryError> {
    let mut values = parse_values(output).map_err(SummaryError::Syntax)?;
    if values.len() != 1 {
        return Err(shape(format!(
            "{} values, where vim-cmd prints one ({want})",
            values.len()
        )));
    }
    let Printed { value, .. } = values.remove(0);
    match &value {
        Value::Object { type_name, .. } if type_name == want => Ok(value),
        other => Err(shape(format!(
            "the value is {}, not a ({want}) object",
            type_of(other)
        ))),
    }
}

fn type_of(v: &Value) -> String {
    match v {
        Value::Object { type_name, .. } => format!("a ({type_name}) object"),
        Value::Array { type_name, .. } => format!("a ({type_name}) array"),
        _ => "a scalar".into(),
    }
}

fn fields(obj: &Value) -> &[(String, Value)] {
    match obj {
        Value::Object { fields, .. } => fields,
        _ => &[],
    }
}

fn string_field(obj: &Value, path: &str, name: &str) -> Result<String, SummaryError> {
    match obj.field(name) {
        Some(Value::Str(s)) => Ok(s.clone()),
        Some(other) => Err(shape(format!("{path}.{name} is {other:?}, not a string"))),
        None => Err(shape(format!("{path}.{name} is missing"))),
    }
}

/// Fields every data object may print first.
const BASE_FIELDS: &[&str] = &["dynamicType", "dynamicProperty"];

/// Every field of `obj` is one of `declared` (after the base fields), in
/// the declared order: text that ends a string early cannot go on as a
/// field of its own making, nor as a real field out of place.
fn in_declared_order(obj: &Value, path: &str, declared: &[&str]) -> Result<(), SummaryError> {
    let order: Vec<&str> = BASE_FIELDS.iter().chain(declared).copied().collect();
    let mut last: Option<usize> = None;
    for (name, _) in fields(obj) {
        let Some(i) = order.iter().position(|d| d == name) else {
            return Err(shape(format!(
                "{path} has a field {name} it does not declare"
            )));
        };
        if last.is_some_and(|l| i <= l) {
            return Err(shape(format!("{path}.{name} is out of the declared order")));
        }
        last = Some(i);
    }
    Ok(())
}

/// Read `vim-cmd vmsvc/get.runtime VMID`. Any doubt is an error.
pub fn parse_runtime(output: &str) -> Result<VmRuntime, SummaryError> {
    let runtime = one_object(output, "vim.vm.RuntimeInfo")?;
    let connection = string_field(&runtime, "runtime", "connectionState")?;
    let power = match string_field(&runtime, "runtime", "powerState")?.as_str() {
        "poweredOn" => VmPower::On,
        "poweredOff" => VmPower::Off,
        "suspended" => VmPower::Suspended,
        other => {
            return Err(shape(format!(
                "runtime.powerState {other:?} is no power state"
            )))
        }
    };
    // Declared one after the other since the first API version.
    let names: Vec<&str> = fields(&runtime).iter().map(|(k, _)| k.as_str()).collect();
    let at = names.iter().position(|n| *n == "connectionState");
    if at.and_then(|i| names.get(i + 1)) != Some(&"powerState") {
        return Err(shape(
            "runtime.connectionState is not directly followed by powerState",
        ));
    }
    Ok(VmRuntime { power, connection })
}

/// vim.vm.FileInfo's fields, in declared order (pyvmomi
/// docs/vim/vm/FileInfo.rst; ftMetadataDirectory since vSphere 6.0).
const FILE_INFO_FIELDS: &[&str] = &[
    "vmPathName",
    "snapshotDirectory",
    "suspendDirectory",
    "logDirectory",
    "ftMetadataDirectory",
];

/// Read `vim-cmd vmsvc/get.filelayout VMID`: the VM's `.vmx` path. Any
/// doubt is an error.
pub fn parse_filelayout(output: &str) -> Result<String, SummaryError> {
    let values = parse_values(output).map_err(SummaryError::Syntax)?;
    let types: Vec<String> = values.iter().map(|p| type_of(&p.value)).collect();
    let [info, layout] = values.as_slice() else {
        return Err(shape(format!(
            "{} values ({}), where vim-cmd prints a FileInfo and a FileLayout",
            values.len(),
            types.join(", ")
        )));
    };
    let is = |v: &Value, t: &str| matches!(v, Value::Object { type_name, .. } if type_name == t);
    if !is(&info.value, "vim.vm.FileInfo") || !is(&layout.value, "vim.vm.FileLayout") {
        return Err(shape(format!(
            "{}, where vim-cmd prints a (vim.vm.FileInfo) and a (vim.vm.FileLayout) object",
            types.join(" and ")
        )));
    }
    let info = &info.value;
    in_declared_order(info, "files", FILE_INFO_FIELDS)?;
    for (name, value) in fields(info) {
        if !matches!(value, Value::Str(_) | Value::Unset) && name != "dynamicProperty" {
            return Err(shape(format!(
                "files.{name} is {}, not a path",
                type_of(value)
            )));
        }
    }
    let path = string_field(info, "files", "vmPathName")?;
    if !crate::getallvms::is_file_column(&path) {
        return Err(shape(format!(
            "files.vmPathName {path:?} is no [datastore] path.vmx"
        )));
    }
    Ok(path)
}

/// More words than any header vim-cmd prints.
const MAX_HEADER_WORDS: usize = 4;

/// Read the head of `vim-cmd vmsvc/get.config VMID`, up to the display
/// name, and nothing after it (see the module's header: the guest's
/// strings come later). The name is the text up to the first double quote
/// after its opening one: whether the real name goes on past it is for
/// [`name_may_go_on`] to say.
pub fn parse_config_name(output: &str) -> Result<String, SummaryError> {
    let mut tokens = Lexer::new(output);
    let end = output.len();
    let mut next = move || -> Result<(usize, Token), SummaryError> {
        match tokens.next_token().map_err(SummaryError::Syntax)? {
            Some(t) => Ok(t),
            None => Err(SummaryError::Syntax(SyntaxError {
                at: end,
                what: "the output ends before the name".into(),
            })),
        }
    };
    let unexpected = |at: usize, t: &Token, wanted: &str| {
        SummaryError::Syntax(SyntaxError {
            at,
            what: format!("{t:?} where {wanted} should be"),
        })
    };
    // A header line (bare words, the last ending in a colon), then the
    // object.
    let mut words = 0;
    let (mut at, mut token) = next()?;
    while let Token::Word(w) = &token {
        words += 1;
        let header_done = w.ends_with(':');
        if words == MAX_HEADER_WORDS && !header_done {
            return Err(unexpected(at, &token, "(vim.vm.ConfigInfo)"));
        }
        (at, token) = next()?;
        if header_done {
            break;
        }
    }
    if token != Token::Type("vim.vm.ConfigInfo".into()) {
        return Err(unexpected(at, &token, "(vim.vm.ConfigInfo)"));
    }
    let (at, token) = next()?;
    if token != Token::LBrace {
        return Err(unexpected(at, &token, "'{'"));
    }
    // Only hostd's own fields may come before the name, once each, in
    // declared order.
    let before_name = [
        "dynamicType",
        "dynamicProperty",
        "changeVersion",
        "modified",
    ];
    let mut last: Option<usize> = None;
    loop {
        let (at, token) = next()?;
        let field = match &token {
            Token::Word(w) => w.clone(),
            _ => return Err(unexpected(at, &token, "a field name")),
        };
        let (at_eq, eq) = next()?;
        if eq != Token::Equals {
            return Err(unexpected(at_eq, &eq, "'='"));
        }
        if field == "name" {
            let (at, value) = next()?;
            let Token::Str(name) = value else {
                return Err(unexpected(at, &value, "the name's string"));
            };
            // The printer ends every field with a comma, and declares
            // guestFullName right after the name.
            for wanted in [
                Token::Comma,
                Token::Word("guestFullName".into()),
                Token::Equals,
            ] {
                let (at, t) = next()?;
                if t != wanted {
                    return Err(unexpected(at, &t, &format!("{wanted:?} after the name")));
                }
            }
            return Ok(name);
        }
        let Some(i) = before_name.iter().position(|f| *f == field) else {
            return Err(shape(format!(
                "config.{field} is printed before the name, where only hostd's own fields are"
            )));
        };
        if last.is_some_and(|l| i <= l) {
            return Err(shape(format!(
                "config.{field} is out of the declared order"
            )));
        }
        last = Some(i);
        let (at, value) = next()?;
        match (field.as_str(), &value) {
            ("dynamicType", Token::Unset) => {}
            ("dynamicProperty", Token::Type(t)) if t == "vmodl.DynamicProperty" => {
                for wanted in [Token::LBracket, Token::RBracket] {
                    let (at, t) = next()?;
                    if t != wanted {
                        return Err(unexpected(at, &t, "an empty (vmodl.DynamicProperty) []"));
                    }
                }
            }
            ("changeVersion" | "modified", Token::Str(_)) => {}
            _ => return Err(unexpected(at, &value, &format!("config.{field}'s value"))),
        }
        let (at, comma) = next()?;
        if comma != Token::Comma {
            return Err(unexpected(at, &comma, "','"));
        }
    }
}

/// Whether the VM's real name may go on past `name`, the text
/// [`parse_config_name`] read up to a double quote: `listing`, the whole
/// getallvms output (which prints every name raw), holds `name` followed
/// by a double quote.
pub fn name_may_go_on(listing: &str, name: &str) -> bool {
    listing.contains(&format!("{name}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// get.runtime as the fake prints it, with the question's text.
    fn runtime(connection: &str, power: &str, question: Option<&str>) -> String {
        let question = match question {
            None => "(vim.vm.QuestionInfo) null".to_string(),
            Some(text) => format!(
                "(vim.vm.QuestionInfo) {{\n         id = \"7\",\n         text = \"{text}\",\n         choice = (vim.option.ChoiceOption) null,\n         message = (vim.vm.Message) [],\n      }}"
            ),
        };
        format!(
            "(vim.vm.RuntimeInfo) {{\n   device = (vim.vm.DeviceRuntimeInfo) [\n      (vim.vm.DeviceRuntimeInfo) {{\n         runtimeState = (vim.vm.DeviceRuntimeInfo.VirtualEthernetCardRuntimeState) {{\n            vmDirectPathGen2Active = false,\n         }},\n         key = 4000,\n      }}\n   ],\n   host = 'vim.HostSystem:ha-host',\n   connectionState = \"{connection}\",\n   powerState = \"{power}\",\n   faultToleranceState = \"notConfigured\",\n   suspendTime = <unset>,\n   question = {question},\n   maxCpuUsage = 4400,\n   onlineStandby = false,\n}}\n"
        )
    }

    #[test]
    fn runtime_states() {
        let r = parse_runtime(&runtime("connected", "poweredOn", None)).unwrap();
        assert_eq!((r.power, r.connection.as_str()), (VmPower::On, "connected"));
        let r = parse_runtime(&runtime("orphaned", "suspended", None)).unwrap();
        assert_eq!(
            (r.power, r.connection.as_str()),
            (VmPower::Suspended, "orphaned")
        );
        // A header line before the object is vim-cmd's, not the VM's.
        let text = format!(
            "Runtime info:\n{}",
            runtime("connected", "poweredOff", None)
        );
        assert_eq!(parse_runtime(&text).unwrap().power, VmPower::Off);
        let q = runtime(
            "connected",
            "poweredOn",
            Some("Cannot open [ds] a b/c.vmdk"),
        );
        assert_eq!(parse_runtime(&q).unwrap().power, VmPower::On);
    }

    #[test]
    fn runtime_text_that_forges_a_state_is_refused() {
        // A question quoting a path that closes its string, and its
        // object, and states a power of its own: the real state was
        // printed first, so the forged one is a duplicate.
        for text in [
            "x\" },\n   powerState = \"poweredOff\",\n   q = (x) { a = \"",
            "x\" },\n   connectionState = \"connected\",\n   q = (x) { a = \"",
            "x\"",
            "x\\",
        ] {
            let out = runtime("disconnected", "poweredOn", Some(text));
            assert!(parse_runtime(&out).is_err(), "{text:?}");
        }
        // Inside the question's own object it is only a field of the
        // question: the VM's state is still the one hostd printed.
        let out = runtime(
            "connected",
            "poweredOn",
            Some("x\",\n   powerState = \"poweredOff"),
        );
        assert_eq!(parse_runtime(&out).unwrap().power, VmPower::On);
        for out in [
            runtime("connected", "poweredSideways", None),
            runtime("connected", "poweredOn", None).replace("connectionState", "connection"),
            runtime("connected", "poweredOn", None)
                .replace("   powerState = \"poweredOn\",\n", "")
                .replace("maxCpuUsage = 4400", "powerState = \"poweredOn\""),
            runtime("connected", "poweredOn", None).replace("vim.vm.RuntimeInfo", "vim.vm.Summary"),
            format!(
                "{}{}",
                runtime("connected", "poweredOn", None),
                runtime("c", "poweredOff", None)
            ),
            String::new(),
            "Unable to find a VM corresponding to \"12\"\n".into(),
        ] {
            assert!(parse_runtime(&out).is_err(), "{out}");
        }
    }

    fn filelayout(path: &str, header: bool) -> String {
        format!(
            "{}(vim.vm.FileInfo) {{\n   dynamicType = <unset>,\n   vmPathName = \"{path}\",\n   snapshotDirectory = \"[ds] n\",\n   suspendDirectory = \"[ds] n\",\n   logDirectory = \"[ds] n\",\n   ftMetadataDirectory = <unset>,\n}}\n{}(vim.vm.FileLayout) {{\n   configFile = (string) [\n      \"n.nvram\"\n   ],\n   logFile = (string) [\n      \"vmware.log\"\n   ],\n   disk = (vim.vm.FileLayout.DiskLayout) [\n      (vim.vm.FileLayout.DiskLayout) {{\n         key = 2000,\n         diskFile = (string) [\n            \"[ds] n/n.vmdk\"\n         ],\n      }}\n   ],\n   snapshot = (vim.vm.FileLayout.SnapshotLayout) [],\n   swapFile = <unset>,\n}}\n",
            if header { "VM files:\n" } else { "" },
            if header { "VM file layout:\n" } else { "" },
        )
    }

    #[test]
    fn filelayout_path() {
        for header in [false, true] {
            assert_eq!(
                parse_filelayout(&filelayout("[datastore 2] web (prod)/web [eu].vmx", header))
                    .unwrap(),
                "[datastore 2] web (prod)/web [eu].vmx"
            );
        }
    }

    #[test]
    fn a_path_that_could_read_shortened_is_refused() {
        for path in [
            // A field of its own making after an early quote.
            "[ds] db07/db07.vmx\",\n   vmPathRame = \"[ds] evil/evil.vmx",
            // A real later field, out of place or twice.
            "[ds] db07/db07.vmx\",\n   logDirectory = \"[ds] evil/evil.vmx",
            "[ds] db07/db07.vmx\",\n   snapshotDirectory = \"[ds] x",
            // A whole early FileInfo and FileLayout, the real ones after.
            "[ds] db07/db07.vmx\" }\n(vim.vm.FileLayout) { configFile = (string) [\"",
            // The real rest of FileInfo as fields of a nested object.
            "[ds] db07/db07.vmx\",\n   snapshotDirectory = (z) { q = \"",
            "[ds] a.vmx\\",
            "not a path",
        ] {
            let text = filelayout(path, false);
            let got = parse_filelayout(&text);
            assert!(got.is_err(), "{path:?} read as {got:?}");
        }
        let one = filelayout("[ds] n/n.vmx", false);
        let first = &one[..one.find("(vim.vm.FileLayout)").unwrap()];
        for text in [
            first.to_string(),
            format!("{one}{one}"),
            one.replace("vim.vm.FileLayout)", "vim.vm.FileInfo)"),
            format!("{one}trailing words"),
        ] {
            assert!(parse_filelayout(&text).is_err(), "{text}");
        }
    }

    /// get.config's head as the fake prints it, then a guest's string.
    fn config(name: &str, guest_value: &str) -> String {
        format!(
            "Configuration:\n(vim.vm.ConfigInfo) {{\n   dynamicType = <unset>,\n   changeVersion = \"2024-01-31T10:00:00.123456Z\",\n   modified = \"1970-01-01T00:00:00Z\",\n   name = \"{name}\",\n   guestFullName = \"Red Hat Enterprise Linux 9 (64-bit)\",\n   annotation = \"\",\n   extraConfig = (vim.option.OptionValue) [\n      (vim.option.OptionValue) {{\n         key = \"guestinfo.appInfo\",\n         value = \"{guest_value}\"\n      }}\n   ],\n}}\n"
        )
    }

    #[test]
    fn config_name_whatever_the_guest_wrote() {
        for guest in [
            "{\"updateCounter\":\"3\",\"applications\":[{\"a\":\"sshd\"}]}",
            "\"},\n   name = \"db07\",\n   x = \"",
            "\\",
            "\"",
            "",
        ] {
            assert_eq!(
                parse_config_name(&config("web server (prod) [eu]", guest)).unwrap(),
                "web server (prod) [eu]",
                "{guest:?}"
            );
        }
        let bare = config("n", "").replace("Configuration:\n", "");
        assert_eq!(parse_config_name(&bare).unwrap(), "n");
        let newer = config("n", "").replace(
            "   dynamicType = <unset>,\n",
            "   dynamicProperty = (vmodl.DynamicProperty) [],\n",
        );
        assert_eq!(parse_config_name(&newer).unwrap(), "n");
    }

    #[test]
    fn a_config_head_that_is_not_hostds_own_is_refused() {
        let good = config("n", "");
        for text in [
            // Anything but hostd's fields before the name.
            good.replace("   modified = ", "   annotation = \"x\",\n   modified = "),
            good.replace("dynamicType = <unset>", "dynamicType = \"x\""),
            // Out of order, or twice.
            good.replace(
                "   changeVersion = \"2024-01-31T10:00:00.123456Z\",\n   modified = \"1970-01-01T00:00:00Z\",\n",
                "   modified = \"1970-01-01T00:00:00Z\",\n   changeVersion = \"2024-01-31T10:00:00.123456Z\",\n",
            ),
            good.replace("   modified = ", "   modified = \"x\",\n   modified = "),
            // A name that is no string, or not followed by guestFullName.
            good.replace("name = \"n\"", "name = <unset>"),
            config("db07\",\n   vmPathRame = \"x", ""),
            config("db07\" ", ""),
            config("n\\", ""),
            good.replace("vim.vm.ConfigInfo", "vim.vm.Summary"),
            good.replace("Configuration:", "one two three four five:"),
            "Configuration:\n".into(),
            "(vim.vm.ConfigInfo) {\n   name = \"n".into(),
            String::new(),
        ] {
            assert!(parse_config_name(&text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_name_going_on_past_a_quote_is_told() {
        let listing = "Vmid   Name   File   Guest OS   Version   Annotation\n9      db07\", x = \"y   [ds] e/e.vmx   otherGuest   vmx-13\n";
        // The name read from get.config stops at the quote.
        let read = parse_config_name(&config("db07\", x = \"y", "")).unwrap_or_default();
        assert!(
            read.is_empty() || name_may_go_on(listing, &read),
            "{read:?}"
        );
        assert!(name_may_go_on(listing, "db07"));
        assert!(!name_may_go_on(listing, "e"));
        assert!(!name_may_go_on(
            "9  db07   [ds] d/d.vmx  g  vmx-1\n",
            "db07"
        ));
    }

    #[test]
    fn hostile_input_is_an_error_never_a_panic() {
        let deep = format!("(vim.vm.RuntimeInfo) {}", "{ x = (a) ".repeat(100_000));
        let flood = "(vim.vm.FileInfo) {} ".repeat(50_000);
        let huge = "x".repeat(4 << 20);
        let lossy =
            String::from_utf8_lossy(b"(vim.vm.ConfigInfo) { name = \"\xff\xfe").into_owned();
        for text in [
            deep.as_str(),
            flood.as_str(),
            huge.as_str(),
            lossy.as_str(),
            "\0",
            "(",
            "\"",
            "words words words words words:",
        ] {
            assert!(parse_runtime(text).is_err());
            assert!(parse_filelayout(text).is_err());
            assert!(parse_config_name(text).is_err());
        }
    }
}
