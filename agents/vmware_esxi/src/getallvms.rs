//! `vim-cmd vmsvc/getallvms`: the VM table of an ESXi host, read only to
//! propose which VM a plug may mean. The agent then confirms that VM from
//! `vmsvc/get.summary` (see summary.rs) before acting or reporting.
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
//! brackets, and annotation lines after the first follow the row raw: an
//! annotation line may be shaped exactly like a row, and a display name
//! may contain a whole row. So a row is found by its anchors — a leading
//! vmid, a `[datastore] path.vmx` file, one guest OS word and a `vmx-N`
//! version — and every way a line can be split along them is kept as a
//! reading. A plug matching any reading of a row makes that row a
//! candidate; two candidates, or a vmid that appears twice, is a refusal.
//! Text cannot be told apart from a forgery here; the structured summary
//! is what decides.

use std::fmt;

/// One way of reading a row's name and file columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub name: String,
    /// `[datastore] dir/file.vmx`.
    pub file: String,
}

/// One VM as `getallvms` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmRow {
    pub vmid: String,
    /// The display name in the most likely reading.
    pub name: String,
    /// `[datastore] dir/file.vmx` in the most likely reading.
    pub file: String,
    pub guest_os: String,
    pub version: String,
    /// The other readings of name and file; empty for a clean row.
    pub other_readings: Vec<Reading>,
    /// For a row with more readings than are kept (a flood, not a real
    /// row): its text after the vmid, so that any plug it contains still
    /// counts it as a candidate.
    pub unread: Option<String>,
}

impl VmRow {
    pub fn is_ambiguous(&self) -> bool {
        !self.other_readings.is_empty()
    }

    /// Every reading, the most likely first.
    pub fn readings(&self) -> impl Iterator<Item = (&str, &str)> {
        std::iter::once((self.name.as_str(), self.file.as_str())).chain(
            self.other_readings
                .iter()
                .map(|r| (r.name.as_str(), r.file.as_str())),
        )
    }

    /// Whether this row can be read as `name` at `file`.
    pub fn has_reading(&self, name: &str, file: &str) -> bool {
        self.readings().any(|(n, f)| n == name && f == file)
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

/// How a plug matched a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    Vmid,
    Name,
    Path,
}

/// The rows a plug may mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolve<'a> {
    /// Exactly one row: a candidate, still to be confirmed.
    Candidate(&'a VmRow, MatchedBy),
    NotFound,
    /// Several rows answer to the plug (by name, vmid or path, in any
    /// reading).
    Several(Vec<&'a VmRow>),
    /// The matching row's vmid is listed more than once: at least one of
    /// those rows is not what it seems.
    DuplicateVmid(Vec<&'a VmRow>),
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

/// Whether `s` reads as a file column, `[datastore] path.vmx`: a
/// non-empty datastore name (which may itself hold `]`), `] `, then a path
/// that starts with a non-blank and ends in `.vmx`.
pub fn is_file_column(s: &str) -> bool {
    if !s.starts_with('[') || !s.ends_with(".vmx") {
        return false;
    }
    s.match_indices("] ").any(|(i, _)| {
        i > 1
            && s[i + 2..]
                .chars()
                .next()
                .is_some_and(|c| !c.is_whitespace())
            && s.len() > i + 2 + 4
    })
}

/// The path part of a file column (after the first `] `).
fn file_path(file: &str) -> &str {
    match file.find("] ") {
        Some(i) => &file[i + 2..],
        None => file,
    }
}

/// Every split of "name <blanks> [ds] path.vmx" into name and file:
/// (name, file, width of the blank run between them), at most `cap` of
/// them; the flag says whether more were left out.
fn splits(middle: &str, cap: usize) -> (Vec<(String, String, usize)>, bool) {
    let mut found = Vec::new();
    if !middle.ends_with(".vmx") {
        return (found, false);
    }
    // The last "] " that can close a datastore name: followed by a
    // non-blank, with more than ".vmx" after it. A '[' opens a file column
    // when such a close lies at least two bytes after it.
    let last_close = middle
        .match_indices("] ")
        .filter(|(j, _)| {
            middle[j + 2..]
                .chars()
                .next()
                .is_some_and(|c| !c.is_whitespace())
                && middle.len() > j + 2 + 4
        })
        .map(|(j, _)| j)
        .last();
    let Some(last_close) = last_close else {
        return (found, false);
    };
    for (i, c) in middle.char_indices() {
        if c != '[' || i == 0 || i + 2 > last_close {
            continue;
        }
        let before = &middle[..i];
        if !before.ends_with(char::is_whitespace) {
            continue;
        }
        let name = before.trim_end();
        if name.is_empty() {
            continue;
        }
        if found.len() == cap {
            return (found, true);
        }
        found.push((
            name.to_string(),
            middle[i..].to_string(),
            before.len() - name.len(),
        ));
    }
    (found, false)
}

/// The index of the most likely split, if one stands out.
fn likeliest(splits: &[(String, String, usize)]) -> Option<usize> {
    if splits.len() == 1 {
        return Some(0);
    }
    // ESXi names a new VM's folder and file after the VM: a reading whose
    // path is exactly "<name>/<name>.vmx" confirms itself.
    let consistent: Vec<usize> = (0..splits.len())
        .filter(|&i| {
            let (n, f, _) = &splits[i];
            file_path(f) == format!("{n}/{n}.vmx")
        })
        .collect();
    if consistent.len() == 1 {
        return Some(consistent[0]);
    }
    // Otherwise the column gap is the widest run of blanks, if one run is
    // wider than every other candidate's.
    let widest = splits.iter().map(|c| c.2).max().unwrap_or(0);
    let at_widest: Vec<usize> = (0..splits.len())
        .filter(|&i| splits[i].2 == widest)
        .collect();
    (at_widest.len() == 1 && widest >= 2).then(|| at_widest[0])
}

/// More `.vmx` ends or readings than any real row has; past them a row's
/// readings are not all kept (see `VmRow::unread`).
const MAX_ENDS: usize = 16;
const MAX_READINGS: usize = 64;

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
    // Every ".vmx" followed by a guest OS and a version may end the file
    // column: a name or an annotation may hold such text too. The first
    // one gives the most likely readings; the others are kept.
    let mut all: Vec<(String, String, String, String)> = Vec::new();
    let mut primary: Option<usize> = None;
    let mut overflow = false;
    let mut ends = 0;
    let mut search = 0;
    while let Some(found) = rest[search..].find(".vmx") {
        let end = search + found + 4;
        search = end;
        let Some((guest_os, version)) = tail_matches(&rest[end..]) else {
            continue;
        };
        ends += 1;
        if ends > MAX_ENDS || all.len() >= MAX_READINGS {
            overflow = true;
            break;
        }
        let (here, cut) = splits(&rest[..end], MAX_READINGS - all.len());
        overflow |= cut;
        if !here.is_empty() {
            if primary.is_none() {
                primary = Some(all.len() + likeliest(&here).unwrap_or(0));
            }
            for (n, f, _) in here {
                all.push((n, f, guest_os.clone(), version.clone()));
            }
        }
    }
    let primary = primary?;
    let (name, file, guest_os, version) = all.remove(primary);
    let mut other_readings: Vec<Reading> = Vec::new();
    for (n, f, _, _) in all {
        let known =
            (n == name && f == file) || other_readings.iter().any(|r| r.name == n && r.file == f);
        if !known {
            other_readings.push(Reading { name: n, file: f });
        }
    }
    Some(VmRow {
        vmid: vmid.to_string(),
        name,
        file,
        guest_os,
        version,
        other_readings,
        unread: overflow.then(|| rest.to_string()),
    })
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

/// The vmid as a number would read it: `007` and `7` are one VM to vim-cmd.
fn vmid_key(vmid: &str) -> &str {
    let t = vmid.trim_start_matches('0');
    if t.is_empty() {
        "0"
    } else {
        t
    }
}

impl VmTable {
    /// The one row `plug` may name: by exact vmid, name or `.vmx` path, in
    /// any reading of the row. A plug shaped like a `.vmx` path is only
    /// compared with paths: a VM may be named like another's path. Never a
    /// prefix, never case-folded, never a guess among several.
    pub fn resolve(&self, plug: &str) -> Resolve<'_> {
        let path_shaped = is_file_column(plug);
        let mut hits: Vec<(&VmRow, MatchedBy)> = Vec::new();
        for row in &self.rows {
            let unread_hit = row.unread.as_ref().is_some_and(|t| t.contains(plug));
            let by = if path_shaped {
                (unread_hit || row.readings().any(|(_, f)| f == plug)).then_some(MatchedBy::Path)
            } else if row.vmid == plug {
                Some(MatchedBy::Vmid)
            } else if unread_hit || row.readings().any(|(n, _)| n == plug) {
                Some(MatchedBy::Name)
            } else {
                None
            };
            if let Some(by) = by {
                hits.push((row, by));
            }
        }
        match hits.as_slice() {
            [] => Resolve::NotFound,
            [(row, by)] => {
                let same_id: Vec<&VmRow> = self
                    .rows
                    .iter()
                    .filter(|r| vmid_key(&r.vmid) == vmid_key(&row.vmid))
                    .collect();
                if same_id.len() > 1 {
                    Resolve::DuplicateVmid(same_id)
                } else {
                    Resolve::Candidate(row, *by)
                }
            }
            several => {
                let first = vmid_key(&several[0].0.vmid);
                if several.iter().all(|(r, _)| vmid_key(&r.vmid) == first) {
                    Resolve::DuplicateVmid(several.iter().map(|(r, _)| *r).collect())
                } else {
                    Resolve::Several(several.iter().map(|(r, _)| *r).collect())
                }
            }
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
        // A datastore name may hold "]": "[eu]   [datastore 2] ..." is a
        // file column too, so that reading is kept, second.
        assert_eq!(
            web.other_readings,
            [Reading {
                name: "web server (prod)".into(),
                file: "[eu]   [datastore 2] web server (prod) [eu]/web server (prod) [eu].vmx"
                    .into()
            }]
        );
        assert_eq!(t.rows[3].name, "Bücher-Ω vm 🚀");
    }

    #[test]
    fn annotation_lines_that_look_like_rows_start_are_not_rows() {
        let t = parse(SAMPLE);
        assert!(!t.rows.iter().any(|r| r.vmid == "42"));
        assert!(!t.rows.iter().any(|r| r.name.contains("important")));
    }

    fn vmid_of(r: Resolve<'_>) -> Option<String> {
        match r {
            Resolve::Candidate(row, _) => Some(row.vmid.clone()),
            _ => None,
        }
    }

    #[test]
    fn exact_match_only() {
        let t = parse(SAMPLE);
        assert_eq!(vmid_of(t.resolve("node1")).as_deref(), Some("1"));
        assert_eq!(vmid_of(t.resolve("node10")).as_deref(), Some("12"));
        assert_eq!(t.resolve("node"), Resolve::NotFound);
        assert_eq!(t.resolve("Node1"), Resolve::NotFound);
        assert_eq!(t.resolve("node1 "), Resolve::NotFound);
        assert!(
            matches!(t.resolve("12"), Resolve::Candidate(r, MatchedBy::Vmid) if r.name == "node10")
        );
        assert!(matches!(
            t.resolve("[datastore1] node1/node1.vmx"),
            Resolve::Candidate(r, MatchedBy::Path) if r.vmid == "1"
        ));
        assert_eq!(vmid_of(t.resolve("Bücher-Ω vm 🚀")).as_deref(), Some("4"));
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
    fn a_forged_row_in_an_annotation_makes_its_name_ambiguous() {
        let out = "\
3      web       [ds] web/web.vmx      otherGuest   vmx-10   owner: ops
40      db07   [datastore1] db07/db07.vmx   rhel9_64Guest   vmx-19
7      db07      [datastore1] db07/db07.vmx   otherGuest   vmx-10
";
        let t = parse(out);
        assert!(matches!(t.resolve("db07"), Resolve::Several(v) if v.len() == 2));
        assert!(
            matches!(t.resolve("[datastore1] db07/db07.vmx"), Resolve::Several(v) if v.len() == 2)
        );
        // The real vmid still names one row.
        assert_eq!(vmid_of(t.resolve("7")).as_deref(), Some("7"));
    }

    #[test]
    fn a_vmid_listed_twice_is_refused_whatever_the_plug() {
        let out = "\
1      node1     [ds] node1/node1.vmx   otherGuest   vmx-10   note
001    evil      [ds] evil/evil.vmx     otherGuest   vmx-10
";
        let t = parse(out);
        for plug in ["1", "node1", "evil", "[ds] node1/node1.vmx", "001"] {
            assert!(
                matches!(t.resolve(plug), Resolve::DuplicateVmid(v) if v.len() == 2),
                "{plug}"
            );
        }
    }

    #[test]
    fn a_name_holding_a_whole_row_is_read_both_ways() {
        let line = "55     db07   [datastore1] db07/db07.vmx   rhel9_64Guest   vmx-19   [datastore1] evil/evil.vmx   otherGuest   vmx-13";
        let row = parse_row(line).unwrap();
        assert_eq!(
            (row.name.as_str(), row.file.as_str()),
            ("db07", "[datastore1] db07/db07.vmx")
        );
        assert!(row.has_reading(
            "db07   [datastore1] db07/db07.vmx   rhel9_64Guest   vmx-19",
            "[datastore1] evil/evil.vmx"
        ));
        let t = VmTable {
            rows: vec![row],
            ..Default::default()
        };
        // Either name proposes vmid 55; the summary decides which is true.
        assert_eq!(vmid_of(t.resolve("db07")).as_deref(), Some("55"));
        assert_eq!(
            vmid_of(t.resolve("db07   [datastore1] db07/db07.vmx   rhel9_64Guest   vmx-19"))
                .as_deref(),
            Some("55")
        );
    }

    #[test]
    fn a_path_shaped_plug_never_matches_a_name() {
        let out = "\
8      [datastore1] db07/db07.vmx   [ds] impostor/impostor.vmx   otherGuest   vmx-10
";
        let t = parse(out);
        assert_eq!(t.resolve("[datastore1] db07/db07.vmx"), Resolve::NotFound);
        assert_eq!(
            vmid_of(t.resolve("[ds] impostor/impostor.vmx")).as_deref(),
            Some("8")
        );
    }

    #[test]
    fn bracket_names_split_by_self_consistent_path() {
        // One blank between every column: only the path tells.
        let row = parse_row("8 a [b] c [ds] a [b] c/a [b] c.vmx otherGuest vmx-10").unwrap();
        assert_eq!(row.name, "a [b] c");
        assert_eq!(row.file, "[ds] a [b] c/a [b] c.vmx");
        // The other splits stay readings: a plug "a" still finds this row.
        assert!(row.has_reading("a", "[b] c [ds] a [b] c/a [b] c.vmx"));
    }

    #[test]
    fn bracket_names_split_by_widest_gap() {
        let row =
            parse_row("9      x [y] z      [ds] renamed/other.vmx   otherGuest   vmx-10   note")
                .unwrap();
        assert_eq!(row.name, "x [y] z");
        assert_eq!(row.file, "[ds] renamed/other.vmx");
    }

    #[test]
    fn every_reading_of_an_unsplittable_row_is_a_candidate() {
        let row = parse_row("9 x [y] z [ds] renamed/other.vmx otherGuest vmx-10").unwrap();
        assert!(row.is_ambiguous());
        let t = VmTable {
            rows: vec![row],
            ..Default::default()
        };
        assert!(matches!(
            t.resolve("x"),
            Resolve::Candidate(_, MatchedBy::Name)
        ));
        assert!(matches!(
            t.resolve("x [y] z"),
            Resolve::Candidate(_, MatchedBy::Name)
        ));
        assert!(matches!(
            t.resolve("9"),
            Resolve::Candidate(_, MatchedBy::Vmid)
        ));
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

    #[test]
    fn a_row_with_too_many_readings_still_answers_to_every_name_in_it() {
        let line = format!(
            "5 evil {}[ds] a/a.vmx otherGuest vmx-10",
            "[x] ".repeat(100)
        );
        let row = parse_row(&line).unwrap();
        assert!(row.unread.is_some());
        assert_eq!(row.other_readings.len(), MAX_READINGS - 1);
        let dropped = format!("evil {}", "[x] ".repeat(80)).trim_end().to_string();
        assert!(!row.readings().any(|(n, _)| n == dropped));
        let t = VmTable {
            rows: vec![row],
            ..Default::default()
        };
        assert!(
            matches!(t.resolve(&dropped), Resolve::Candidate(r, MatchedBy::Name) if r.vmid == "5")
        );
    }

    #[test]
    fn hostile_input_is_parsed_without_panic() {
        let huge_line = format!("1 {} [ds] a/a.vmx otherGuest vmx-10", "[x] ".repeat(20_000));
        let many_vmx = format!("1 a [ds] {} otherGuest vmx-10", "a.vmx ".repeat(20_000));
        let lossy =
            String::from_utf8_lossy(b"1 \xff\xfe [ds] \xff/\xff.vmx g vmx-1\n").into_owned();
        let inputs = [
            huge_line.as_str(),
            many_vmx.as_str(),
            lossy.as_str(),
            "1 a\0b [ds] a/a.vmx g vmx-1\n\0\0\0",
            "9999999999999999999999999999 a [ds] a/a.vmx g vmx-1",
            "1 \"unbalanced [ds] a/a.vmx g vmx-1 {{{{",
        ];
        for text in inputs {
            let t = parse(text);
            for row in &t.rows {
                assert!(!row.vmid.is_empty());
                let _ = t.resolve(&row.name);
            }
        }
        let lossy_row = parse(&lossy);
        assert_eq!(lossy_row.rows[0].name, "\u{fffd}\u{fffd}");
    }
}
