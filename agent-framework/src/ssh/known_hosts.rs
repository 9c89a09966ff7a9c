//! OpenSSH `known_hosts` files, read the way `ssh` reads them: plain and
//! hashed (`|1|salt|hash`) host names, `[host]:port` for ports other than
//! 22, patterns with `*`, `?` and `!`, and the `@revoked` marker.
//!
//! libssh2's own check is not used: it ignores the key type (an ed25519
//! entry makes a server's ECDSA key look "changed"), and stops reading a
//! file at the first line it cannot parse.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// One usable line of a known_hosts file.
#[derive(Debug, Clone)]
pub struct Entry {
    pub file: PathBuf,
    pub line: usize,
    hosts: HostField,
    pub key_type: String,
    pub key: Vec<u8>,
    revoked: bool,
}

#[derive(Debug, Clone)]
enum HostField {
    /// Comma-separated patterns.
    Patterns(Vec<String>),
    /// `|1|salt|hash`.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

/// The name ssh looks up: `host` on port 22, `[host]:port` elsewhere.
pub fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// `*` and `?` glob matching, as ssh's match_pattern.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

impl HostField {
    fn matches(&self, name: &str) -> bool {
        match self {
            HostField::Patterns(pats) => {
                let lower = name.to_ascii_lowercase();
                let mut hit = false;
                for p in pats {
                    if let Some(neg) = p.strip_prefix('!') {
                        if glob(&neg.to_ascii_lowercase(), &lower) {
                            return false;
                        }
                    } else if glob(&p.to_ascii_lowercase(), &lower) {
                        hit = true;
                    }
                }
                hit
            }
            HostField::Hashed { salt, hash } => {
                let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
        }
    }
}

/// The key type a public key blob names (its first SSH string).
pub fn blob_type(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4 + len)?;
    std::str::from_utf8(name).ok().map(str::to_string)
}

/// One line of a known_hosts file; public for the fuzz targets.
#[doc(hidden)]
pub fn parse_line(file: &Path, number: usize, line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut words = line.split_whitespace();
    let mut first = words.next()?;
    let mut revoked = false;
    if let Some(marker) = first.strip_prefix('@') {
        match marker {
            "revoked" => revoked = true,
            // CA keys sign host certificates, which this agent does not use.
            _ => return None,
        }
        first = words.next()?;
    }
    let key_type = words.next()?.to_string();
    let key = STANDARD.decode(words.next()?).ok()?;
    if blob_type(&key).as_deref() != Some(key_type.as_str()) {
        return None;
    }
    let hosts = if let Some(rest) = first.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|')?;
        HostField::Hashed {
            salt: STANDARD.decode(salt).ok()?,
            hash: STANDARD.decode(hash).ok()?,
        }
    } else {
        HostField::Patterns(first.split(',').map(str::to_string).collect())
    };
    Some(Entry {
        file: file.to_path_buf(),
        line: number,
        hosts,
        key_type,
        key,
        revoked,
    })
}

/// Every entry of the files that exist (missing files are normal).
pub fn load(files: &[PathBuf]) -> (Vec<Entry>, Vec<String>) {
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    for f in files {
        match std::fs::read(f) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                for (i, line) in text.lines().enumerate() {
                    match parse_line(f, i + 1, line) {
                        Some(e) => entries.push(e),
                        None => {
                            let t = line.trim();
                            if !t.is_empty() && !t.starts_with('#') {
                                notes.push(format!(
                                    "{}:{}: line not used (unsupported or malformed)",
                                    f.display(),
                                    i + 1
                                ));
                            }
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => notes.push(format!("{}: cannot read: {e}", f.display())),
        }
    }
    (entries, notes)
}

/// What the known keys say about the key a server showed.
#[derive(Debug)]
pub enum Verdict<'a> {
    Match(&'a Entry),
    /// The host is known with another key of the same type.
    Changed(&'a Entry),
    /// The key is listed as revoked.
    Revoked(&'a Entry),
    /// No entry of this type for the host (maybe of other types).
    Unknown {
        other_types: Vec<String>,
    },
}

/// Entries for this host.
pub fn for_host<'a>(entries: &'a [Entry], name: &str) -> Vec<&'a Entry> {
    entries.iter().filter(|e| e.hosts.matches(name)).collect()
}

/// Check `key` (a public key blob) for `name` (see [`lookup_name`]).
pub fn check<'a>(entries: &'a [Entry], name: &str, key: &[u8]) -> Verdict<'a> {
    if let Some(e) = entries.iter().find(|e| e.revoked && e.key == key) {
        return Verdict::Revoked(e);
    }
    let ktype = blob_type(key).unwrap_or_default();
    let mine = for_host(entries, name);
    if let Some(e) = mine.iter().find(|e| !e.revoked && e.key == key) {
        return Verdict::Match(e);
    }
    if let Some(e) = mine.iter().find(|e| !e.revoked && e.key_type == ktype) {
        return Verdict::Changed(e);
    }
    let mut other_types: Vec<String> = mine
        .iter()
        .filter(|e| !e.revoked)
        .map(|e| e.key_type.clone())
        .collect();
    other_types.sort();
    other_types.dedup();
    Verdict::Unknown { other_types }
}

/// Host key algorithms in the order `ssh` prefers them, with the types
/// already known for this host first (as `ssh` orders them), so that the
/// server shows a key that can be verified.
pub fn hostkey_preference(known_types: &[String]) -> String {
    const DEFAULT: &[&str] = &[
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ssh-rsa",
    ];
    let algs_of = |t: &str| -> Vec<&'static str> {
        match t {
            "ssh-rsa" => vec!["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            other => DEFAULT.iter().copied().filter(|a| *a == other).collect(),
        }
    };
    let mut order: Vec<&str> = Vec::new();
    for t in known_types {
        for a in algs_of(t) {
            if !order.contains(&a) {
                order.push(a);
            }
        }
    }
    for a in DEFAULT {
        if !order.contains(a) {
            order.push(a);
        }
    }
    order.join(",")
}

/// The line `ssh` would append for this host and key.
pub fn entry_line(name: &str, key: &[u8]) -> String {
    format!(
        "{name} {} {}",
        blob_type(key).unwrap_or_default(),
        STANDARD.encode(key)
    )
}

/// `SHA256:...` as OpenSSH prints fingerprints (base64 without padding).
pub fn fingerprint(sha256: &[u8]) -> String {
    let b = STANDARD.encode(sha256);
    format!("SHA256:{}", b.trim_end_matches('='))
}

/// The short type name OpenSSH shows (`ED25519`, `ECDSA`, `RSA`).
pub fn type_label(key_type: &str) -> &'static str {
    match key_type {
        "ssh-ed25519" => "ED25519",
        t if t.starts_with("ecdsa-") => "ECDSA",
        "ssh-rsa" => "RSA",
        "ssh-dss" => "DSA",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(kind: &str, body: &[u8]) -> Vec<u8> {
        let mut v = (kind.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind.as_bytes());
        v.extend_from_slice(body);
        v
    }

    fn entries(text: &str) -> Vec<Entry> {
        let dir = std::env::temp_dir().join(format!("kh-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let f = dir.join(format!("kh-{n}"));
        std::fs::write(&f, text).unwrap();
        let (e, _) = load(&[f.clone(), dir.join("missing")]);
        let _ = std::fs::remove_file(f);
        e
    }

    #[test]
    fn plain_port_and_patterns() {
        let ed = blob("ssh-ed25519", b"AAA");
        let ed2 = blob("ssh-ed25519", b"BBB");
        let ec = blob("ecdsa-sha2-nistp256", b"CCC");
        let text = format!(
            "# comment\nhost1,10.0.0.1 {}\n[host2]:2222 {}\n*.lab,!bad.lab {}\ngarbage line\n",
            entry_line("x", &ed).split_once(' ').unwrap().1,
            entry_line("x", &ec).split_once(' ').unwrap().1,
            entry_line("x", &ed2).split_once(' ').unwrap().1,
        );
        let e = entries(&text);
        assert_eq!(e.len(), 3);
        assert!(matches!(check(&e, "host1", &ed), Verdict::Match(_)));
        assert!(matches!(check(&e, "10.0.0.1", &ed), Verdict::Match(_)));
        assert!(matches!(check(&e, "host1", &ed2), Verdict::Changed(_)));
        match check(&e, "host1", &ec) {
            Verdict::Unknown { other_types } => assert_eq!(other_types, ["ssh-ed25519"]),
            v => panic!("{v:?}"),
        }
        assert!(matches!(
            check(&e, &lookup_name("host2", 2222), &ec),
            Verdict::Match(_)
        ));
        // A key for port 2222 is not a key for port 22, and the other way.
        assert!(matches!(
            check(&e, &lookup_name("host2", 22), &ec),
            Verdict::Unknown { .. }
        ));
        assert!(matches!(
            check(&e, &lookup_name("host1", 2222), &ed),
            Verdict::Unknown { .. }
        ));
        assert!(matches!(check(&e, "a.lab", &ed2), Verdict::Match(_)));
        assert!(matches!(
            check(&e, "bad.lab", &ed2),
            Verdict::Unknown { .. }
        ));
    }

    #[test]
    fn hashed_and_revoked() {
        let ed = blob("ssh-ed25519", b"AAA");
        let salt = b"0123456789abcdef0123";
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.1]:2200");
        let hash = mac.finalize().into_bytes();
        let text = format!(
            "|1|{}|{} ssh-ed25519 {}\n",
            STANDARD.encode(salt),
            STANDARD.encode(hash),
            STANDARD.encode(&ed)
        );
        let e = entries(&text);
        assert!(matches!(
            check(&e, "[127.0.0.1]:2200", &ed),
            Verdict::Match(_)
        ));
        assert!(matches!(
            check(&e, "127.0.0.1", &ed),
            Verdict::Unknown { .. }
        ));
        let e = entries(&format!(
            "{text}@revoked * ssh-ed25519 {}\n",
            STANDARD.encode(&ed)
        ));
        assert!(matches!(
            check(&e, "[127.0.0.1]:2200", &ed),
            Verdict::Revoked(_)
        ));
    }

    #[test]
    fn preference_puts_known_types_first() {
        assert!(hostkey_preference(&["ssh-rsa".into()])
            .starts_with("rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-ed25519"));
        assert!(hostkey_preference(&[]).starts_with("ssh-ed25519,"));
    }

    #[test]
    fn fingerprints_like_openssh() {
        assert_eq!(
            fingerprint(&[0u8; 32]),
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        );
        assert_eq!(type_label("ecdsa-sha2-nistp256"), "ECDSA");
    }
}
