//! What an ESXi host prints (fence_vmware_esxi's parsers): the
//! `vim-cmd vmsvc/getallvms` table, the `get.summary` pretty-print,
//! esxcli's XML, and vim-cmd's power and failure lines.
//!
//! The getallvms and summary bodies plant one real VM in text the fuzzer
//! otherwise writes (other rows, annotation lines, a name or annotation
//! that imitates fields) and check the promise the agent's safety rests
//! on: never the wrong VM. A plug for the planted VM resolves to it or to
//! a refusal that names it, never to another row alone; a summary reads
//! as the real VM's identity or not at all.

use std::collections::HashSet;

use fence_vmware_esxi::esxcli::{
    config_file_paths, parse_filesystem_list, parse_process_list, DatastorePath, Volume, World,
};
use fence_vmware_esxi::getallvms::{self, is_file_column, Resolve, VmRow};
use fence_vmware_esxi::summary::{parse_summary, parse_value, Value, VmSummary};
use fence_vmware_esxi::vimcmd::{self, VmPower};

use crate::{Choices, Fields};

fn vmid_key(vmid: &str) -> &str {
    match vmid.trim_start_matches('0') {
        "" => "0",
        t => t,
    }
}

/// A column value getallvms can print on one line and read back: no line
/// break, no blank at either end, no `.vmx` that could end the file
/// column early.
fn plain_column(s: &str) -> bool {
    !s.is_empty() && !s.contains(['\n', '\r']) && s.trim() == s && !s.contains(".vmx")
}

fn gap(choices: &mut Choices) -> String {
    " ".repeat(1 + choices.below(4))
}

/// Whether `plug` resolving to `got` keeps the planted VM in view: the one
/// candidate is it, or the refusal names it.
fn keeps_planted(got: &Resolve<'_>, vmid: &str) -> bool {
    let is_planted = |r: &VmRow| vmid_key(&r.vmid) == vmid_key(vmid);
    match got {
        Resolve::Candidate(r, _) => is_planted(r),
        Resolve::Several(rows) | Resolve::DuplicateVmid(rows) => rows.iter().any(|r| is_planted(r)),
        Resolve::NotFound => false,
    }
}

/// Fields: name, datastore, directory, guest OS id, annotation (its first
/// line goes on the row, the others follow it raw), layout choices (vmid,
/// version, gaps), then lines printed before the row, then lines printed
/// after it.
pub fn getallvms(data: &[u8]) {
    let f = Fields::new(data);
    // Whatever the text, parsing and resolving answer.
    let whole = String::from_utf8_lossy(data);
    let table = getallvms::parse(&whole);
    for line in whole.lines().take(4) {
        let _ = table.resolve(line.trim());
    }

    let (name, datastore, dir) = (f.text(0), f.text(1), f.text(2));
    let guest: String = f
        .text(3)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let annotation = f.text(4);
    let mut choices = Choices::new(f.bytes(5));
    let (before, after) = (f.text(6), f.text(7));
    let dir_starts_plain = dir.chars().next().is_some_and(|c| !c.is_whitespace());
    if !(plain_column(&name)
        && plain_column(&datastore)
        && plain_column(&dir)
        && dir_starts_plain
        && !guest.is_empty()
        && !is_file_column(&name))
    {
        return;
    }
    let vmid = (1 + choices.below(250)).to_string();
    let version = format!("vmx-{}", 4 + choices.below(20));
    let file = format!("[{datastore}] {dir}/{name}.vmx");
    let mut lines = annotation.split('\n');
    let first_note = lines.next().unwrap_or("");
    let row = format!(
        "{vmid}{}{name}{}{file}{}{guest}{}{version}{}{first_note}",
        gap(&mut choices),
        gap(&mut choices),
        gap(&mut choices),
        gap(&mut choices),
        gap(&mut choices),
    );
    let mut output = String::from(
        "Vmid         Name                                  File                                   Guest OS          Version   Annotation\n",
    );
    for part in [before.as_str(), row.as_str()] {
        output.push_str(part);
        output.push('\n');
    }
    for l in lines {
        output.push_str(l);
        output.push('\n');
    }
    output.push_str(&after);

    let table = getallvms::parse(&output);
    for plug in [name.as_str(), vmid.as_str(), file.as_str()] {
        let got = table.resolve(plug);
        assert!(
            keeps_planted(&got, &vmid),
            "plug {plug:?} of vmid {vmid} resolves to {got:?} in\n{output}"
        );
    }
}

fn power_word(p: VmPower) -> &'static str {
    match p {
        VmPower::On => "poweredOn",
        VmPower::Off => "poweredOff",
        VmPower::Suspended => "suspended",
    }
}

/// `get.summary` as hostd's printer writes it (the shape of the fake
/// vim-cmd in cts/esxi, from a real host's output): strings raw, in
/// double quotes, never escaped.
fn summary_text(s: &VmSummary, annotation: &str, host_name: &str, guest_id: &str) -> String {
    format!(
        "Listsummary:\n\
(vim.vm.Summary) {{\n\
   vm = 'vim.VirtualMachine:{vmid}',\n\
   runtime = (vim.vm.RuntimeInfo) {{\n\
      host = 'vim.HostSystem:ha-host',\n\
      connectionState = \"{connection}\",\n\
      powerState = \"{power}\",\n\
      question = (vim.vm.QuestionInfo) null,\n\
      suspendTime = <unset>,\n\
      maxCpuUsage = 4400,\n\
   }},\n\
   guest = (vim.vm.Summary.GuestSummary) {{\n\
      guestId = \"{guest_id}\",\n\
      hostName = \"{host_name}\",\n\
      ipAddress = <unset>,\n\
   }},\n\
   config = (vim.vm.Summary.ConfigSummary) {{\n\
      name = \"{name}\",\n\
      template = {template},\n\
      vmPathName = \"{path}\",\n\
      memorySizeMB = 2048,\n\
      annotation = \"{annotation}\",\n\
      product = (vim.vApp.ProductInfo) null,\n\
   }},\n\
   customValue = (vim.CustomFieldsManager.Value) [],\n\
   overallStatus = \"green\",\n\
}}\n",
        vmid = s.vmid,
        connection = s.connection,
        power = power_word(s.power),
        name = s.name,
        path = s.vm_path,
        template = s.template == Some(true),
    )
}

/// A value written back in the printer's grammar.
pub(crate) fn render_value(v: &Value, out: &mut String) {
    match v {
        Value::Unset => out.push_str("<unset>"),
        Value::Str(s) => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        Value::MoRef(s) => {
            out.push('\'');
            out.push_str(s);
            out.push('\'');
        }
        Value::Word(w) => out.push_str(w),
        Value::Object { type_name, fields } => {
            out.push_str(&format!("({type_name}) {{\n"));
            for (k, v) in fields {
                out.push_str(&format!("{k} = "));
                render_value(v, out);
                out.push_str(",\n");
            }
            out.push('}');
        }
        Value::Array { type_name, items } => {
            out.push_str(&format!("({type_name}) [\n"));
            for v in items {
                render_value(v, out);
                out.push_str(",\n");
            }
            out.push(']');
        }
    }
}

/// Whatever the bytes, a summary parses strictly or not at all, and what
/// parses renders back to the same value. Then a summary printed around
/// the fuzzer's name, path, annotation, guest host name and guest id
/// (fields 0 to 4; field 5 picks vmid, power and connection) reads as
/// exactly that VM, or is refused: text in a string can never pass for a
/// field.
pub fn summary(data: &[u8]) {
    let whole = String::from_utf8_lossy(data);
    let _ = parse_summary(&whole);
    if let Ok(v) = parse_value(&whole) {
        let mut again = String::new();
        render_value(&v, &mut again);
        assert_eq!(
            parse_value(&again).as_ref(),
            Ok(&v),
            "rendered as {again:?}"
        );
    }

    let f = Fields::new(data);
    let mut choices = Choices::new(f.bytes(5));
    let truth = VmSummary {
        vmid: (1 + choices.below(250)).to_string(),
        name: f.text(0),
        vm_path: f.text(1),
        power: [VmPower::On, VmPower::Off, VmPower::Suspended][choices.below(3)],
        connection: ["connected", "disconnected", "orphaned", "inaccessible"][choices.below(4)]
            .to_string(),
        template: Some(choices.below(2) == 1),
    };
    let text = summary_text(&truth, &f.text(2), &f.text(3), &f.text(4));
    if let Ok(read) = parse_summary(&text) {
        assert_eq!(read, truth, "a summary read as another VM:\n{text}");
    }
}

/// XML text as esxcli (and vCenter) escape it, for characters XML can
/// carry: it reads back as the same characters.
pub(crate) fn xml_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // A raw CR would be read as a line feed (XML's end-of-line
            // handling).
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Characters an XML 1.0 document can hold at all.
pub(crate) fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn field(name: &str, kind: &str, value: &str) -> String {
    format!(
        "         <field name=\"{name}\">\n            <{kind}>{}</{kind}>\n         </field>\n",
        xml_text(value)
    )
}

fn esxcli_document(type_name: &str, structures: &[Vec<String>]) -> String {
    let mut doc = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<output xmlns=\"http://www.vmware.com/Products/ESX/5.0/esxcli\">\n<root>\n   <list type=\"structure\">\n",
    );
    for fields in structures {
        doc.push_str(&format!("      <structure typeName=\"{type_name}\">\n"));
        for f in fields {
            doc.push_str(f);
        }
        doc.push_str("      </structure>\n");
    }
    doc.push_str("   </list>\n</root>\n</output>\n");
    doc
}

/// esxcli's XML, raw; then worlds and volumes written as esxcli writes
/// them (fields: texts, then choices) read back exactly; `[datastore]
/// path` round-trips; a mapped config file lies under exactly one mounted
/// volume, directly under /vmfs/volumes.
pub fn esxcli(data: &[u8]) {
    let whole = String::from_utf8_lossy(data);
    let raw_worlds = parse_process_list(&whole);
    let raw_volumes = parse_filesystem_list(&whole);
    if let Some(p) = DatastorePath::parse(whole.trim_end_matches('\n')) {
        check_datastore_path(&p, raw_volumes.as_deref().unwrap_or(&[]));
    }
    let _ = raw_worlds;

    let f = Fields::new(data);
    // A few worlds and volumes show what a thousand would: each field
    // becomes a structure some 200 bytes long, and a flood of them only
    // slows the search down.
    let texts: Vec<String> = f
        .rest(0)
        .into_iter()
        .filter(|t| t.chars().all(xml_char))
        .take(12)
        .collect();
    let mut choices = Choices::new(data);
    let worlds: Vec<World> = texts
        .chunks(2)
        .map(|pair| World {
            world_id: choices.below(256) as u64 * 65537,
            config_file: pair[0].clone(),
            display_name: pair.get(1).cloned().unwrap_or_default(),
        })
        .collect();
    let doc = esxcli_document(
        "VirtualMachine",
        &worlds
            .iter()
            .map(|w| {
                vec![
                    field("ConfigFile", "string", &w.config_file),
                    field("DisplayName", "string", &w.display_name),
                    field("WorldID", "integer", &w.world_id.to_string()),
                ]
            })
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        parse_process_list(&doc).as_ref(),
        Ok(&worlds),
        "worlds do not read back from\n{doc}"
    );
    let volumes: Vec<Volume> = texts
        .chunks(3)
        .map(|t| Volume {
            mount_point: t[0].clone(),
            volume_name: t.get(1).cloned().unwrap_or_default(),
            uuid: t.get(2).cloned().unwrap_or_default(),
            mounted: choices.below(2) == 0,
        })
        .collect();
    let doc = esxcli_document(
        "FilesystemVolume",
        &volumes
            .iter()
            .map(|v| {
                vec![
                    field("MountPoint", "string", &v.mount_point),
                    field("VolumeName", "string", &v.volume_name),
                    field("UUID", "string", &v.uuid),
                    field(
                        "Mounted",
                        "boolean",
                        if v.mounted { "true" } else { "false" },
                    ),
                ]
            })
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        parse_filesystem_list(&doc).as_ref(),
        Ok(&volumes),
        "volumes do not read back from\n{doc}"
    );
    for t in &texts {
        if let Some(p) = DatastorePath::parse(t) {
            check_datastore_path(&p, &volumes);
        }
    }
}

fn check_datastore_path(p: &DatastorePath, volumes: &[Volume]) {
    assert_eq!(
        DatastorePath::parse(&p.to_string()).as_ref(),
        Some(p),
        "{p} does not round-trip"
    );
    assert!(p.path.ends_with(".vmx"));
    assert!(
        p.path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".."),
        "{p}: a path that can leave its directory"
    );
    let Ok(paths) = config_file_paths(p, volumes) else {
        return;
    };
    let named: Vec<&Volume> = volumes
        .iter()
        .filter(|v| v.volume_name == p.datastore)
        .collect();
    assert_eq!(
        named.len(),
        1,
        "{p} mapped with {} volumes of its name",
        named.len()
    );
    assert!(named[0].mounted, "{p} mapped onto an unmounted volume");
    let mut seen = HashSet::new();
    for path in &paths {
        let under = path
            .strip_prefix("/vmfs/volumes/")
            .unwrap_or_else(|| panic!("{path} is not under /vmfs/volumes"));
        let (volume_dir, rest) = under
            .split_once('/')
            .unwrap_or_else(|| panic!("{path} has no volume directory"));
        assert!(!volume_dir.is_empty(), "{path}");
        assert_eq!(rest, p.path, "{path} is not {p}'s file");
        assert!(seen.insert(path), "{path} listed twice");
    }
}

/// vim-cmd's power state and failure lines. Fields: stdout, stderr, exit
/// status.
pub fn vimcmd(data: &[u8]) {
    let f = Fields::new(data);
    let (stdout, stderr) = (f.text(0), f.text(1));
    let status = match f.byte(2) {
        0 => None,
        b => Some(i32::from(b) - 1),
    };
    // The state lines, read independently: one word, any case, alone on
    // its line.
    let mut states: Vec<VmPower> = stdout
        .lines()
        .filter_map(|l| match l.trim().to_ascii_lowercase().as_str() {
            "powered on" => Some(VmPower::On),
            "powered off" => Some(VmPower::Off),
            "suspended" => Some(VmPower::Suspended),
            _ => None,
        })
        .collect();
    states.dedup();
    let expected = match states.as_slice() {
        [first, rest @ ..] if rest.iter().all(|s| s == first) => Some(*first),
        _ => None,
    };
    assert_eq!(
        vimcmd::parse_power_state(&stdout),
        expected,
        "state lines {states:?}"
    );
    match vimcmd::host_failure(status, &stdout, &stderr) {
        Some(vimcmd::HostFailure::HostdDown(line)) => {
            assert!(
                stdout
                    .lines()
                    .chain(stderr.lines())
                    .any(|l| l.trim() == line),
                "{line:?} is no line of the output"
            );
        }
        Some(vimcmd::HostFailure::NoVimCmd) | None => {}
    }
    if let Some(fault) = vimcmd::fault_of(&stdout) {
        assert!(stdout.lines().any(|l| l.trim() == fault));
        assert!(fault.contains("vim.fault.") || fault.to_lowercase().contains("failed"));
    }
    let _ = vimcmd::is_already_in_state(&stdout);
}
