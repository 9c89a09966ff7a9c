//! How vCenter stores names, and how a user writes plugs.
//!
//! vCenter escapes `%`, `/` and `\` in entity names as `%25`, `%2f` and
//! `%5c` (so that `/` can separate inventory path elements). Users write
//! and read the plain name: `web/01` must find the VM stored as `web%2f01`,
//! and `list` shows `web/01`.

/// The name as the user sees it.
pub fn unescape(stored: &str) -> String {
    let mut out = String::with_capacity(stored.len());
    let mut rest = stored;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3).map(str::to_ascii_lowercase);
        match code.as_deref() {
            Some("2f") => out.push('/'),
            Some("5c") => out.push('\\'),
            Some("25") => out.push('%'),
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
                continue;
            }
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

/// The name as vCenter stores it (and as an inventory path element).
pub fn escape(plain: &str) -> String {
    let mut out = String::with_capacity(plain.len());
    for c in plain.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2f"),
            '\\' => out.push_str("%5c"),
            c => out.push(c),
        }
    }
    out
}

/// Whether a stored name answers to what the user wrote: the plain name,
/// or the stored (escaped) form itself.
pub fn matches(stored: &str, plug: &str) -> bool {
    stored == plug || unescape(stored) == plug
}

/// `8-4-4-4-12` hexadecimal, the form of instance and BIOS UUIDs. vCenter
/// also prints BIOS UUIDs as 32 hex digits with spaces (`42 1c ...`),
/// which the SearchIndex does not accept; those are not UUIDs here.
pub fn is_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    parts.len() == 5
        && parts
            .iter()
            .zip(lens)
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A VirtualMachine managed object id as vCenter gives them (`vm-123`).
pub fn is_vm_moref(text: &str) -> bool {
    text.strip_prefix("vm-")
        .map(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_the_three_escapes_and_nothing_else() {
        assert_eq!(unescape("web%2f01"), "web/01");
        assert_eq!(unescape("web%2F01"), "web/01");
        assert_eq!(unescape("a%5cb"), "a\\b");
        assert_eq!(unescape("100%25"), "100%");
        assert_eq!(unescape("%252f"), "%2f", "one level only");
        assert_eq!(unescape("50% off %"), "50% off %");
        assert_eq!(unescape("ünïcødé-vm"), "ünïcødé-vm");
        assert_eq!(unescape("%"), "%");
        assert_eq!(unescape("%2"), "%2");
    }

    #[test]
    fn escape_round_trips() {
        for s in ["web/01", "a\\b", "100%", "%2f", "plain", "ünï/%\\"] {
            assert_eq!(unescape(&escape(s)), s);
        }
        assert_eq!(escape("web/01"), "web%2f01");
    }

    #[test]
    fn a_plug_matches_plain_or_stored_form() {
        assert!(matches("web%2f01", "web/01"));
        assert!(matches("web%2f01", "web%2f01"));
        assert!(!matches("web%2f01", "web 01"));
        assert!(matches("node1", "node1"));
        assert!(!matches("node10", "node1"));
    }

    #[test]
    fn uuid_and_moref_shapes() {
        assert!(is_uuid("bfff331f-7f07-572d-951e-edd3701dc061"));
        assert!(is_uuid("BFFF331F-7F07-572D-951E-EDD3701DC061"));
        assert!(!is_uuid("bfff331f-7f07-572d-951e-edd3701dc06"));
        assert!(!is_uuid("node1"));
        assert!(is_vm_moref("vm-123"));
        assert!(!is_vm_moref("vm-"));
        assert!(!is_vm_moref("vm-12a"));
        assert!(!is_vm_moref("host-12"));
    }
}
