//! `vim-cmd vmsvc/get.summary VMID`: hostd's own record of one VM — its
//! vmid, display name, `.vmx` path, power state and connection state — the
//! structured source that confirms what `getallvms` only proposes.
//!
//! The output is the vmodl pretty-print of a `vim.vm.Summary` data object
//! (the shape seen in Apache VCL's VIM_SSH.pm, `_get_vm_summary`, which
//! quotes an ESXi host's output in full, and in the
//! vSphere API reference of `vim.vm.Summary`):
//!
//! ```text
//! Listsummary:
//! (vim.vm.Summary) {
//!    vm = 'vim.VirtualMachine:12',
//!    runtime = (vim.vm.RuntimeInfo) {
//!       connectionState = "connected",
//!       powerState = "poweredOn",
//!       question = (vim.vm.QuestionInfo) null,
//!       suspendTime = <unset>,
//!    },
//!    config = (vim.vm.Summary.ConfigSummary) {
//!       name = "node10",
//!       vmPathName = "[datastore1] node10/node10.vmx",
//!       annotation = "cluster node",
//!    },
//! }
//! ```
//!
//! No source we found says how that printer quotes a string that itself
//! holds a double quote, a backslash or a newline; the samples only show
//! plain strings, and hostd's log (the same printer) shows multi-line
//! messages printed raw. So this parser assumes no escaping at all — the
//! hostile case, in which a name or annotation containing
//! `", vmPathName = "[ds] other.vmx` could shift fields — and makes such a
//! shift impossible to pass unnoticed:
//!
//! - the whole output must parse, strictly, as one value of the grammar
//!   (a string ends at the next `"`; everything outside strings must be
//!   a known token), with nothing left over;
//! - no object may hold the same field twice, anywhere in the document:
//!   text that injects a field always leaves the real one in place too,
//!   and text that opens or closes objects must balance them, which keeps
//!   the real `config` and `runtime` at the top level;
//! - a quote preceded by a backslash ends the parse: if the real printer
//!   escapes quotes, that string cannot be read for sure either way.
//!
//! Anything else is an error, never a guess, and the caller refuses to act.

use std::fmt;

use crate::vimcmd::VmPower;
pub use crate::vmodl::{parse_value, SyntaxError, Value};

/// What `get.summary` says about one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSummary {
    /// From `vm = 'vim.VirtualMachine:ID'`.
    pub vmid: String,
    /// `config.name`, the display name.
    pub name: String,
    /// `config.vmPathName`, `[datastore] dir/name.vmx`.
    pub vm_path: String,
    /// `runtime.powerState`.
    pub power: VmPower,
    /// `runtime.connectionState`: only `connected` lets hostd vouch for
    /// the power state.
    pub connection: String,
    /// `config.template`; None where it was not read (the records read
    /// when the summary itself cannot be, which stop before it).
    pub template: Option<bool>,
}

/// Why a summary cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryError {
    /// Not one strictly parsable value (possibly forged by a string).
    Syntax(SyntaxError),
    /// Text before the value other than vim-cmd's `Listsummary:` line.
    Preamble(String),
    /// Parsed, but not the shape of a `vim.vm.Summary`.
    Shape(String),
}

impl fmt::Display for SummaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SummaryError::Syntax(e) => write!(f, "not readable for sure ({e})"),
            SummaryError::Preamble(p) => write!(f, "unexpected text before the summary: {p:?}"),
            SummaryError::Shape(s) => write!(f, "not what hostd prints ({s})"),
        }
    }
}

fn string_field(obj: &Value, path: &str, name: &str) -> Result<String, SummaryError> {
    match obj.field(name) {
        Some(Value::Str(s)) => Ok(s.clone()),
        Some(other) => Err(SummaryError::Shape(format!(
            "{path}.{name} is {other:?}, not a string"
        ))),
        None => Err(SummaryError::Shape(format!("{path}.{name} is missing"))),
    }
}

fn object_field<'v>(
    obj: &'v Value,
    name: &str,
    want_type: &str,
) -> Result<&'v Value, SummaryError> {
    match obj.field(name) {
        Some(v @ Value::Object { type_name, .. }) if type_name == want_type => Ok(v),
        Some(other) => Err(SummaryError::Shape(format!(
            "{name} is not a ({want_type}) object: {other:?}"
        ))),
        None => Err(SummaryError::Shape(format!("{name} is missing"))),
    }
}

/// Fails unless the field `read` of `config` is directly followed by the
/// field `next`.
fn followed_by(config: &Value, read: &str, next: &str) -> Result<(), SummaryError> {
    let Value::Object { fields, .. } = config else {
        return Err(SummaryError::Shape("config is not an object".into()));
    };
    let after = fields
        .iter()
        .position(|(k, _)| k == read)
        .and_then(|i| fields.get(i + 1))
        .map(|(k, _)| k.as_str());
    if after == Some(next) {
        return Ok(());
    }
    Err(SummaryError::Shape(format!(
        "config.{read} is followed by {}, not {next}: text in a string may have closed it early",
        after.unwrap_or("nothing")
    )))
}

/// Read `get.summary` output. Any doubt is an error.
pub fn parse_summary(output: &str) -> Result<VmSummary, SummaryError> {
    // vim-cmd prints one header line before the object.
    let start = output.find('(').unwrap_or(output.len());
    let preamble = output[..start].trim();
    if !(preamble.is_empty() || preamble == "Listsummary:") {
        return Err(SummaryError::Preamble(preamble.chars().take(80).collect()));
    }
    let root = parse_value(&output[start..]).map_err(|mut e| {
        e.at += start;
        SummaryError::Syntax(e)
    })?;
    match &root {
        Value::Object { type_name, .. } if type_name == "vim.vm.Summary" => {}
        other => {
            return Err(SummaryError::Shape(format!(
                "the value is not a (vim.vm.Summary) object: {}",
                match other {
                    Value::Object { type_name, .. } | Value::Array { type_name, .. } =>
                        type_name.clone(),
                    _ => "a scalar".into(),
                }
            )))
        }
    }
    let vmid = match root.field("vm") {
        Some(Value::MoRef(r)) => match r.strip_prefix("vim.VirtualMachine:") {
            Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => id.to_string(),
            _ => {
                return Err(SummaryError::Shape(format!(
                    "vm = '{r}' is no VM reference"
                )))
            }
        },
        _ => {
            return Err(SummaryError::Shape(
                "vm is missing or not a reference".into(),
            ))
        }
    };
    let runtime = object_field(&root, "runtime", "vim.vm.RuntimeInfo")?;
    let config = object_field(&root, "config", "vim.vm.Summary.ConfigSummary")?;
    // A name (or path) holding a double quote can end its string early and
    // go on as a field of its own, under a name the printer never writes
    // (vmPathRame = "..."): no duplicate shows that, and the name reads
    // shortened to whatever the text chose. The printer writes a data
    // object's fields in the order the vSphere API declares them
    // (vim.vm.Summary.ConfigSummary: name, template, vmPathName,
    // memorySizeMB, ..., unset ones as <unset>; pyvmomi's
    // docs/vim/vm/Summary/ConfigSummary.rst), so the field after each one
    // read must be the one declared after it.
    for (read, next) in [("name", "template"), ("vmPathName", "memorySizeMB")] {
        followed_by(config, read, next)?;
    }
    let power = match string_field(runtime, "runtime", "powerState")?.as_str() {
        "poweredOn" => VmPower::On,
        "poweredOff" => VmPower::Off,
        "suspended" => VmPower::Suspended,
        other => {
            return Err(SummaryError::Shape(format!(
                "runtime.powerState {other:?} is no power state"
            )))
        }
    };
    Ok(VmSummary {
        vmid,
        name: string_field(config, "config", "name")?,
        vm_path: string_field(config, "config", "vmPathName")?,
        power,
        connection: string_field(runtime, "runtime", "connectionState")?,
        template: Some(match config.field("template") {
            Some(Value::Word(w)) if w == "true" => true,
            Some(Value::Word(w)) if w == "false" => false,
            other => {
                return Err(SummaryError::Shape(format!(
                    "config.template is not true or false: {other:?}"
                )))
            }
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(name: &str, path: &str, annotation: &str, host_name: &str) -> String {
        format!(
            "Listsummary:\n\
(vim.vm.Summary) {{\n\
   dynamicType = <unset>,\n\
   vm = 'vim.VirtualMachine:12',\n\
   runtime = (vim.vm.RuntimeInfo) {{\n\
      device = (vim.vm.DeviceRuntimeInfo) [\n\
         (vim.vm.DeviceRuntimeInfo) {{\n\
            runtimeState = (vim.vm.DeviceRuntimeInfo.VirtualEthernetCardRuntimeState) {{\n\
               vmDirectPathGen2InactiveReasonVm = (string) [\n\
                  \"vmNptIncompatibleAdapterType\",\n\
                  \"vmNptDisabledOrDisconnectedAdapter\"\n\
               ],\n\
            }},\n\
            key = 4000,\n\
         }}\n\
      ],\n\
      host = 'vim.HostSystem:ha-host',\n\
      connectionState = \"connected\",\n\
      powerState = \"poweredOn\",\n\
      question = (vim.vm.QuestionInfo) null,\n\
      suspendTime = <unset>,\n\
      bootTime = \"2024-01-31T10:00:00.123456Z\",\n\
      maxCpuUsage = -1,\n\
   }},\n\
   guest = (vim.vm.Summary.GuestSummary) {{\n\
      guestId = \"rhel7_64Guest\",\n\
      hostName = \"{host_name}\",\n\
   }},\n\
   config = (vim.vm.Summary.ConfigSummary) {{\n\
      name = \"{name}\",\n\
      template = false,\n\
      vmPathName = \"{path}\",\n\
      memorySizeMB = 2048,\n\
      annotation = \"{annotation}\",\n\
      product = (vim.vApp.ProductInfo) null,\n\
   }},\n\
   customValue = (vim.CustomFieldsManager.Value) [],\n\
   overallStatus = \"green\",\n\
}}\n"
        )
    }

    #[test]
    fn reads_identity_and_state() {
        let s = parse_summary(&summary(
            "web server (prod) [eu]",
            "[datastore 2] web/web.vmx",
            "line one\nline two {braces} 'quotes'",
            "web01",
        ))
        .unwrap();
        assert_eq!(
            s,
            VmSummary {
                vmid: "12".into(),
                name: "web server (prod) [eu]".into(),
                vm_path: "[datastore 2] web/web.vmx".into(),
                power: VmPower::On,
                connection: "connected".into(),
                template: Some(false),
            }
        );
        let template = parse_summary(
            &summary("tmpl", "[ds] t/t.vmx", "", "").replace("template = false", "template = true"),
        )
        .unwrap();
        assert_eq!(template.template, Some(true));
        for bad in [
            "template = \"true\"",
            "template = <unset>",
            "template = yes",
        ] {
            let text = summary("tmpl", "[ds] t/t.vmx", "", "").replace("template = false", bad);
            assert!(parse_summary(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn injected_fields_are_caught_by_their_duplicates() {
        // A name that closes its string and writes a path of its own.
        let forged = "db07\",\n      vmPathName = \"[datastore1] db07/db07.vmx";
        let e = parse_summary(&summary(forged, "[ds] evil/evil.vmx", "", "h")).unwrap_err();
        assert!(
            matches!(&e, SummaryError::Syntax(s) if s.what.contains("vmPathName appears twice")),
            "{e}"
        );
        // A guest-reported host name that ends the guest object and opens a
        // config of its own: the real config is still there.
        let forged = "x\",\n   },\n   config = (vim.vm.Summary.ConfigSummary) {\n      name = \"db07\",\n      vmPathName = \"[datastore1] db07/db07.vmx\",\n   },\n   junk = (x) {\n      a = \"";
        let e = parse_summary(&summary("evil", "[ds] evil/evil.vmx", "", forged)).unwrap_err();
        assert!(
            matches!(&e, SummaryError::Syntax(s) if s.what.contains("config appears twice")),
            "{e}"
        );
        // An annotation with one stray quote shifts every string after it.
        for annotation in ["say \"hi", "a\"b\"c", "}", "{", "x\\"] {
            let text = summary("n", "[ds] n/n.vmx", annotation, "h");
            if annotation.contains('"') || annotation.ends_with('\\') {
                assert!(parse_summary(&text).is_err(), "{annotation:?}");
            } else {
                // Braces inside a string are only text.
                assert_eq!(parse_summary(&text).unwrap().name, "n");
            }
        }
    }

    /// Found by the esxi_summary fuzz target: a name that closes its
    /// string and goes on as a field the printer never writes read as the
    /// shortened name, with no duplicate to show it.
    #[test]
    fn a_name_cut_short_by_a_field_of_its_own_is_refused() {
        for forged in [
            "db07\",\n      vmPathRame = \"[datastore1] db07/db07.vmx",
            "db07\", x = \"",
        ] {
            let e = parse_summary(&summary(forged, "[ds] evil/evil.vmx", "", "h")).unwrap_err();
            assert!(
                matches!(&e, SummaryError::Shape(s) if s.contains("config.name is followed by")),
                "{forged:?}: {e}"
            );
        }
        let path = "[datastore1] db07/db07.vmx\", other = \"x.vmx";
        let e = parse_summary(&summary("evil", path, "", "h")).unwrap_err();
        assert!(
            matches!(&e, SummaryError::Shape(s) if s.contains("config.vmPathName is followed by")),
            "{e}"
        );
    }

    #[test]
    fn a_field_text_that_mimics_a_field_is_only_text() {
        let s = parse_summary(&summary(
            "name = \"x\", vmPathName = 'y'",
            "[ds] n/n.vmx",
            "vm = 'vim.VirtualMachine:1',",
            "h",
        ));
        // The name holds double quotes: refused, never read as a field.
        assert!(s.is_err());
        let s = parse_summary(&summary(
            "n",
            "[ds] n/n.vmx",
            "vm = 'vim.VirtualMachine:1', powerState = poweredOff",
            "h",
        ))
        .unwrap();
        assert_eq!((s.vmid.as_str(), s.power), ("12", VmPower::On));
    }

    #[test]
    fn shapes_that_are_not_a_summary() {
        for text in [
            "",
            "Unable to find a VM corresponding to \"99\"\n",
            "(vmodl.fault.ManagedObjectNotFound) {\n   msg = \"gone\",\n}\n",
            "Listsummary:\n(vim.vm.Summary) {\n   vm = 'vim.VirtualMachine:1',\n}\n",
            "Listsummary:\n(vim.vm.Summary) {\n   vm = 'vim.VirtualMachine:1',\n}\n}\n",
            "Listsummary:\n(vim.vm.Summary) {\n   vm = 'vim.VirtualMachine:1'\n   x = 1,\n}\n",
        ] {
            assert!(parse_summary(text).is_err(), "{text:?}");
        }
        let wrong_state =
            summary("n", "[ds] n/n.vmx", "", "h").replace("poweredOn", "poweredSideways");
        assert!(matches!(
            parse_summary(&wrong_state),
            Err(SummaryError::Shape(_))
        ));
        let not_vm =
            summary("n", "[ds] n/n.vmx", "", "h").replace("vim.VirtualMachine:12", "vim.Folder:12");
        assert!(matches!(
            parse_summary(&not_vm),
            Err(SummaryError::Shape(_))
        ));
    }

    #[test]
    fn hostile_input_is_an_error_never_a_panic() {
        let deep_braces = format!("(a) {}", "{ x = (a) ".repeat(100_000));
        let deep_arrays = "(a) [".repeat(100_000);
        let huge_line = "x".repeat(4 << 20);
        let nuls = "(vim.vm.Summary) {\0\0 vm = '\0' }";
        let lossy =
            String::from_utf8_lossy(b"(vim.vm.Summary) { name = \"\xff\xfe\", \xff }").into_owned();
        let unbalanced = "(vim.vm.Summary) { a = \"open";
        let unbalanced_ref = "(vim.vm.Summary) { a = 'open";
        for text in [
            deep_braces.as_str(),
            deep_arrays.as_str(),
            huge_line.as_str(),
            nuls,
            lossy.as_str(),
            unbalanced,
            unbalanced_ref,
            "(",
            "()",
            "<unse",
            "(vim.vm.Summary) {",
            "\"",
            "'",
            ",,,,",
        ] {
            assert!(
                parse_summary(text).is_err(),
                "{:?}",
                &text[..text.len().min(60)]
            );
        }
    }
}
