//! `vim-cmd vmsvc/getallvms`: the VM table of an ESXi host, and exact
//! plug resolution against it.
//!
//! The output is meant for people, not programs:
//!
//! ```text
//! Vmid    Name                 File                             Guest OS          Version   Annotation
//! 1       web [prod]    [datastore1] web [prod]/web [prod].vmx  rhel8_64Guest     vmx-19    first line
//! second annotation line, printed raw
//! 12      node1         [ds 2] node1/node1.vmx                  otherLinux64Guest vmx-13
//! Skipping invalid VM '7'
//! ```
//!
//! Columns are separated by runs of spaces, but names contain spaces and
//! brackets, and annotation lines after the first follow the row raw (one
//! may start with digits or `[`). So a row is found by its anchors — a
//! leading vmid, a `[datastore] path.vmx` file, one guest OS word and a
//! `vmx-N` version — never by splitting on whitespace. Where the
//! boundary between name and file cannot be told for sure, the row is
//! marked ambiguous and its name never matches a plug.

use std::fmt;

/// One VM as `getallvms` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmRow {
    pub vmid: String,
    /// The display name. For an ambiguous row, the most likely reading.
    pub name: String,
    /// `[datastore] dir/file.vmx`.
    pub file: String,
    pub guest_os: String,
    pub version: String,
    /// Other readings of name and file when the row could not be split
    /// for sure; empty for a clean row.
    pub other_names: Vec<String>,
}

impl VmRow {
    pub fn is_ambiguous(&self) -> bool {
        !self.other_names.is_empty()
    }
}

/// The parsed table and what was skipped on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmTable {
    pub rows: Vec<VmRow>,
    /// The vmids of `Skipping invalid VM 'N'` lines.
    pub skipped: Vec<String>,
    /// Lines that are neither a row, the header, a skip notice nor an
    /// annotation line after a row (only possible before the first row).
    pub unparsed: Vec<String>,
}

/// Why a plug does not name exactly one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolve<'a> {
    Found(&'a VmRow),
    NotFound,
    /// Several VMs answer to the plug (by name, vmid or path).
    Several(Vec<&'a VmRow>),
    /// A row whose name/file boundary could not be told may be this plug.
    Unclear(&'a VmRow),
}

impl fmt::Display for VmRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vmid {} ({:?}, {})", self.vmid, self.name, self.file)
    }
}

/// `Skipping invalid VM '12'` → `12`.
fn skipped_vmid(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("Skipping invalid VM")?;
    Some(
        rest.trim()
            .trim_matches(|c| c == '\'' || c == '"')
            .to_string(),
    )
}

fn is_header(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.len() >= 3 && words[0] == "Vmid" && words[1] == "Name" && words[2] == "File"
}

/// `vmx-19`.
fn is_version(word: &str) -> bool {
    word.strip_prefix("vmx-")
        .map(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(false)
}

/// What follows the `.vmx`: blanks, the guest OS word, blanks, the
/// version, then nothing or blanks and the first annotation line.
fn tail_matches(after: &str) -> Option<(String, String)> {
    if !after.starts_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let mut words = after.split_whitespace();
    let guest = words.next()?;
    let version = words.next()?;
    if !is_version(version) || is_version(guest) {
        return None;
    }
    // Make sure the version is followed by a blank or the end (the
    // annotation starts after blanks).
    let pos = after.find(version)? + version.len();
    match after[pos..].chars().next() {
        None => Some((guest.to_string(), version.to_string())),
        Some(c) if c.is_whitespace() => Some((guest.to_string(), version.to_string())),
        _ => None,
    }
}

/// Whether `s` reads as a file column: `[datastore] path.vmx`, with a
/// non-empty datastore without `]` and a path that starts with a
/// non-blank.
fn is_file_column(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('[') else {
        return false;
    };
    let Some(close) = rest.find(']') else {
        return false;
    };
    if close == 0 {
        return false;
    }
    let path = &rest[close + 1..];
    let Some(path) = path.strip_prefix(' ') else {
        return false;
    };
    path.len() > 4 && !path.starts_with(char::is_whitespace) && path.ends_with(".vmx")
}

/// The path part of a file column (after `] `).
fn file_path(file: &str) -> &str {
    match file.find("] ") {
        Some(i) => &file[i + 2..],
        None => file,
    }
}

/// A reading of a row's middle: (name, file).
type Reading = (String, String);

/// Split "name <blanks> [ds] path.vmx" into name and file.
/// Returns the chosen reading and the other plausible ones.
fn split_name_file(middle: &str) -> Option<(Reading, Vec<Reading>)> {
    // Every '[' after a blank that starts a valid file column.
    let mut candidates: Vec<(String, String, usize)> = Vec::new();
    for (i, c) in middle.char_indices() {
        if c != '[' || i == 0 {
            continue;
        }
        let before = &middle[..i];
        if !before.ends_with(char::is_whitespace) {
            continue;
        }
        let file = &middle[i..];
        if !is_file_column(file) {
            continue;
        }
        let name = before.trim_end();
        if name.is_empty() {
            continue;
        }
        let gap = before.len() - name.len();
        candidates.push((name.to_string(), file.to_string(), gap));
    }
    if candidates.is_empty() {
        return None;
    }
    if candidates.len() == 1 {
        let (n, f, _) = candidates.remove(0);
        return Some(((n, f), Vec::new()));
    }
    // ESXi names a new VM's folder and file after the VM: a reading whose
    // path is exactly "<name>/<name>.vmx" confirms itself.
    let consistent: Vec<usize> = candidates
        .iter()
        .enumerate()
        .filter(|(_, (n, f, _))| file_path(f) == format!("{n}/{n}.vmx"))
        .map(|(i, _)| i)
        .collect();
    let pick = if consistent.len() == 1 {
        Some(consistent[0])
    } else {
        // Otherwise the column gap is the widest run of blanks, if one
        // run is wider than every other candidate's.
        let widest = candidates.iter().map(|c| c.2).max().unwrap_or(0);
        let at_widest: Vec<usize> = candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.2 == widest)
            .map(|(i, _)| i)
            .collect();
        if at_widest.len() == 1 && widest >= 2 {
            Some(at_widest[0])
        } else {
            None
        }
    };
    match pick {
        Some(i) => {
            let (n, f, _) = candidates.remove(i);
            Some(((n, f), Vec::new()))
        }
        None => {
            // No way to tell: keep the first reading, list the others,
            // and let plug matching refuse any of them.
            let mut all: Vec<Reading> = candidates.into_iter().map(|(n, f, _)| (n, f)).collect();
            let first = all.remove(0);
            Some((first, all))
        }
    }
}

/// Parse one line as a row, or None.
pub fn parse_row(line: &str) -> Option<VmRow> {
    let digits = line.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let vmid = &line[..digits];
    let rest = &line[digits..];
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = rest.trim_start();
    // The first ".vmx" that is followed by the guest OS and the version
    // ends the file column.
    let mut search = 0;
    while let Some(found) = rest[search..].find(".vmx") {
        let end = search + found + 4;
        if let Some((guest_os, version)) = tail_matches(&rest[end..]) {
            if let Some(((name, file), others)) = split_name_file(&rest[..end]) {
                return Some(VmRow {
                    vmid: vmid.to_string(),
                    name,
                    file,
                    guest_os,
                    version,
                    other_names: others.into_iter().map(|(n, _)| n).collect(),
                });
            }
        }
        search = end;
    }
    None
}

/// Parse the whole output (stdout and stderr together are fine: the
/// skip notices may be on either).
pub fn parse(output: &str) -> VmTable {
    let mut table = VmTable::default();
    for raw in output.lines() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || is_header(line) {
            continue;
        }
        if let Some(id) = skipped_vmid(line) {
            table.skipped.push(id);
            continue;
        }
        if let Some(row) = parse_row(line) {
            table.rows.push(row);
            continue;
        }
        if table.rows.is_empty() {
            table.unparsed.push(line.to_string());
        }
        // Otherwise: an annotation line of the row above.
    }
    table
}

impl VmTable {
    /// The one VM `plug` names: by exact name, vmid or `.vmx` path. Never
    /// a prefix, never case-folded, never a guess among several.
    pub fn resolve(&self, plug: &str) -> Resolve<'_> {
        let mut hits: Vec<&VmRow> = Vec::new();
        for row in &self.rows {
            let hit = row.name == plug || row.vmid == plug || row.file == plug;
            if hit
                && !hits
                    .iter()
                    .any(|h| h.vmid == row.vmid && h.file == row.file)
            {
                hits.push(row);
            }
        }
        // A row that could not be split for sure must not be reached by
        // name, in any of its readings.
        for row in &self.rows {
            if row.is_ambiguous() && (row.name == plug || row.other_names.iter().any(|n| n == plug))
            {
                return Resolve::Unclear(row);
            }
        }
        match hits.len() {
            0 => Resolve::NotFound,
            1 => Resolve::Found(hits[0]),
            _ => Resolve::Several(hits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Vmid         Name                                  File                                   Guest OS          Version   Annotation
12     node10                   [datastore1] node10/node10.vmx                 rhel7_64Guest       vmx-13
1      node1                    [datastore1] node1/node1.vmx                   rhel7_64Guest       vmx-13    cluster node 1
3      web server (prod) [eu]   [datastore 2] web server (prod) [eu]/web server (prod) [eu].vmx   windows9Server64Guest   vmx-19    owner: ops
42 is the answer
[important] do not power off
4      Bücher-Ω vm 🚀           [datastore1] Bücher-Ω vm 🚀/Bücher-Ω vm 🚀.vmx    otherLinux64Guest   vmx-14
Skipping invalid VM '7'
5      dup                      [datastore1] dup/dup.vmx                       otherGuest          vmx-10
6      dup                      [datastore2] dup/dup.vmx                       otherGuest          vmx-10
";

    #[test]
    fn parses_rows_in_any_order_with_hard_names() {
        let t = parse(SAMPLE);
        let ids: Vec<&str> = t.rows.iter().map(|r| r.vmid.as_str()).collect();
        assert_eq!(ids, ["12", "1", "3", "4", "5", "6"]);
        assert_eq!(t.skipped, ["7"]);
        assert!(t.unparsed.is_empty(), "{:?}", t.unparsed);
        let web = &t.rows[2];
        assert_eq!(web.name, "web server (prod) [eu]");
        assert_eq!(
            web.file,
            "[datastore 2] web server (prod) [eu]/web server (prod) [eu].vmx"
        );
        assert_eq!(web.guest_os, "windows9Server64Guest");
        assert_eq!(web.version, "vmx-19");
        assert!(!web.is_ambiguous());
        assert_eq!(t.rows[3].name, "Bücher-Ω vm 🚀");
    }

    #[test]
    fn annotation_lines_that_look_like_rows_start_are_not_rows() {
        let t = parse(SAMPLE);
        assert!(!t.rows.iter().any(|r| r.vmid == "42"));
        assert!(!t.rows.iter().any(|r| r.name.contains("important")));
    }

    #[test]
    fn exact_match_only() {
        let t = parse(SAMPLE);
        assert!(matches!(t.resolve("node1"), Resolve::Found(r) if r.vmid == "1"));
        assert!(matches!(t.resolve("node10"), Resolve::Found(r) if r.vmid == "12"));
        assert_eq!(t.resolve("node"), Resolve::NotFound);
        assert_eq!(t.resolve("Node1"), Resolve::NotFound);
        assert_eq!(t.resolve("node1 "), Resolve::NotFound);
        assert!(matches!(t.resolve("12"), Resolve::Found(r) if r.name == "node10"));
        assert!(
            matches!(t.resolve("[datastore1] node1/node1.vmx"), Resolve::Found(r) if r.vmid == "1")
        );
        assert!(matches!(t.resolve("Bücher-Ω vm 🚀"), Resolve::Found(r) if r.vmid == "4"));
        assert_eq!(t.resolve("7"), Resolve::NotFound);
    }

    #[test]
    fn duplicates_are_never_picked() {
        let t = parse(SAMPLE);
        match t.resolve("dup") {
            Resolve::Several(rows) => {
                let ids: Vec<&str> = rows.iter().map(|r| r.vmid.as_str()).collect();
                assert_eq!(ids, ["5", "6"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_name_that_is_another_vms_id_is_ambiguous() {
        let out = "\
1      alpha     [ds] alpha/alpha.vmx   otherGuest   vmx-10
2      1         [ds] 1/1.vmx           otherGuest   vmx-10
";
        let t = parse(out);
        assert!(matches!(t.resolve("1"), Resolve::Several(v) if v.len() == 2));
    }

    #[test]
    fn bracket_names_split_by_self_consistent_path() {
        // One blank between every column: only the path tells.
        let row = parse_row("8 a [b] c [ds] a [b] c/a [b] c.vmx otherGuest vmx-10").unwrap();
        assert_eq!(row.name, "a [b] c");
        assert_eq!(row.file, "[ds] a [b] c/a [b] c.vmx");
        assert!(!row.is_ambiguous());
    }

    #[test]
    fn bracket_names_split_by_widest_gap() {
        let row =
            parse_row("9      x [y] z      [ds] renamed/other.vmx   otherGuest   vmx-10   note")
                .unwrap();
        assert_eq!(row.name, "x [y] z");
        assert_eq!(row.file, "[ds] renamed/other.vmx");
        assert!(!row.is_ambiguous());
    }

    #[test]
    fn unsplittable_rows_never_match_by_name() {
        let row = parse_row("9 x [y] z [ds] renamed/other.vmx otherGuest vmx-10").unwrap();
        assert!(row.is_ambiguous());
        let t = VmTable {
            rows: vec![row],
            ..Default::default()
        };
        assert!(matches!(t.resolve("x"), Resolve::Unclear(_)));
        assert!(matches!(t.resolve("x [y] z"), Resolve::Unclear(_)));
        // The vmid still names it for sure.
        assert!(matches!(t.resolve("9"), Resolve::Found(_)));
    }

    #[test]
    fn vmx_inside_the_name_or_annotation() {
        let row = parse_row(
            "10   my.vmx box   [ds] my.vmx box/my.vmx box.vmx   otherGuest   vmx-11   see x.vmx otherGuest vmx-12",
        )
        .unwrap();
        assert_eq!(row.name, "my.vmx box");
        assert_eq!(row.file, "[ds] my.vmx box/my.vmx box.vmx");
        assert_eq!(row.version, "vmx-11");
    }

    #[test]
    fn non_rows() {
        for line in [
            "",
            "Vmid Name File Guest OS Version Annotation",
            "12",
            "12 name",
            "12 name [ds] x.vmx",
            "12 name [ds] x.vmx otherGuest",
            "12 name [ds] x.vmx otherGuest 13",
            "abc name [ds] x.vmx otherGuest vmx-13",
            "12 [ds] x.vmx otherGuest vmx-13",
            "12 name [] x.vmx otherGuest vmx-13",
        ] {
            assert_eq!(parse_row(line), None, "{line:?}");
        }
        let t = parse("Skipping invalid VM '33'\n");
        assert_eq!(t.skipped, ["33"]);
        assert!(t.rows.is_empty());
    }

    #[test]
    fn crlf_and_leading_garbage() {
        let t = parse("some warning\r\n1 a [ds] a/a.vmx otherGuest vmx-10\r\n");
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0].name, "a");
        assert_eq!(t.unparsed, ["some warning"]);
    }
}
