//! The SSH family's parsers (agent_framework::ssh): OpenSSH known_hosts
//! lines and the `ssh_options` text.
//!
//! What must hold:
//! - a known_hosts entry is only taken with a key whose blob names the
//!   entry's key type;
//! - the line `ssh` would write for a host and key (plain, or hashed with
//!   HMAC-SHA1 as `ssh-keygen -H` writes it) reads back as that host's
//!   key: the key matches, another key of its type is "changed", and a
//!   hashed entry answers to its host only;
//! - shell words quoted in any of the three POSIX ways split back into
//!   the same words; a port or a timeout read from ssh_options is never 0.

use std::path::Path;
use std::time::Duration;

use agent_framework::ssh::known_hosts::{self, check, entry_line, lookup_name, Verdict};
use agent_framework::ssh::options::{parse, shell_words};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::{Choices, Fields};

fn blob(key_type: &str, body: &[u8]) -> Vec<u8> {
    let mut v = (key_type.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(key_type.as_bytes());
    v.extend_from_slice(body);
    v
}

/// A host name as a known_hosts pattern can hold it literally: no blank,
/// no comma, no pattern character, no marker or comment at its start.
fn literal_host(host: &str) -> bool {
    !host.is_empty()
        && !host.contains(|c: char| c.is_whitespace() || matches!(c, ',' | '*' | '?' | '!'))
        && !host.starts_with(['#', '@', '|'])
}

fn hashed_host_field(salt: &[u8], name: &str) -> Option<String> {
    let mut mac = Hmac::<Sha1>::new_from_slice(salt).ok()?;
    mac.update(name.as_bytes());
    let hash = mac.finalize().into_bytes();
    Some(format!(
        "|1|{}|{}",
        STANDARD.encode(salt),
        STANDARD.encode(hash)
    ))
}

/// Fields: the whole input as a file, and also host, key type, key body,
/// salt, choices.
pub fn known_hosts(data: &[u8]) {
    let file = Path::new("/fuzz/known_hosts");
    let whole = String::from_utf8_lossy(data);
    let mut entries = Vec::new();
    for (i, line) in whole.lines().enumerate() {
        if let Some(e) = known_hosts::parse_line(file, i + 1, line) {
            assert_eq!(
                known_hosts::blob_type(&e.key).as_deref(),
                Some(e.key_type.as_str()),
                "line {line:?} taken with a key of another type"
            );
            entries.push(e);
        }
    }
    if let Some(first) = whole.lines().next() {
        let _ = check(&entries, first.trim(), data);
    }

    let f = Fields::new(data);
    let (host, key_type) = (f.text(0), f.text(1));
    let (body, salt) = (f.bytes(2), f.bytes(3));
    let mut choices = Choices::new(f.bytes(4));
    let key_type_ok = !key_type.is_empty() && !key_type.contains(char::is_whitespace);
    if !literal_host(&host) || !key_type_ok {
        return;
    }
    let port = [22u16, 2222, 65535][choices.below(3)];
    let name = lookup_name(&host, port);
    let key = blob(&key_type, body);
    let mut other_key = key.clone();
    other_key.push(0x5a);
    let line = entry_line(&name, &key);
    let plain = known_hosts::parse_line(file, 1, &line)
        .unwrap_or_else(|| panic!("the line ssh would write is not read: {line:?}"));
    let entries = [plain];
    assert!(
        matches!(check(&entries, &name, &key), Verdict::Match(_)),
        "{line:?}"
    );
    assert!(
        matches!(check(&entries, &name, &other_key), Verdict::Changed(_)),
        "{line:?}: another key of the same type"
    );

    if let Some(field) = hashed_host_field(salt, &name) {
        let line = format!("{field} {key_type} {}", STANDARD.encode(&key));
        let hashed = known_hosts::parse_line(file, 1, &line)
            .unwrap_or_else(|| panic!("a hashed line is not read: {line:?}"));
        let entries = [hashed];
        assert!(
            matches!(check(&entries, &name, &key), Verdict::Match(_)),
            "{line:?}"
        );
        let stranger = format!("{name}.");
        assert!(
            matches!(check(&entries, &stranger, &key), Verdict::Unknown { .. }),
            "a hashed entry for {name:?} answers to {stranger:?}"
        );
    }
}

/// `word` quoted for a POSIX shell, one of three ways.
fn quote(word: &str, how: usize) -> String {
    match how {
        0 => format!("'{}'", word.replace('\'', "'\\''")),
        1 => {
            let mut s = String::from("\"");
            for c in word.chars() {
                if matches!(c, '"' | '\\') {
                    s.push('\\');
                }
                s.push(c);
            }
            s.push('"');
            s
        }
        _ => {
            if word.is_empty() {
                return "''".into();
            }
            word.chars().flat_map(|c| ['\\', c]).collect()
        }
    }
}

/// Fields: the whole input as ssh_options text; then words, with choices
/// in the first field.
pub fn ssh_options(data: &[u8]) {
    let whole = String::from_utf8_lossy(data);
    if let Ok(o) = parse(&whole) {
        assert_ne!(o.port, Some(0), "port 0 accepted");
        assert_ne!(
            o.connect_timeout,
            Some(Duration::ZERO),
            "a timeout of 0 accepted"
        );
    }
    let _ = shell_words(&whole);

    let f = Fields::new(data);
    let mut choices = Choices::new(f.bytes(0));
    let words = f.rest(1);
    let line: Vec<String> = words.iter().map(|w| quote(w, choices.below(3))).collect();
    let line = line.join(" ");
    assert_eq!(
        shell_words(&line).as_ref(),
        Ok(&words),
        "quoted as {line:?}"
    );
}
