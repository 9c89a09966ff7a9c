//! Passwords and anything a password script prints.
//!
//! A `Secret` cannot be printed by accident (its `Debug` and `Display` say
//! `****`), and every secret value is also registered with the logger,
//! which masks it in every line ([`mask`]). A device that echoes the
//! password back does not leak it either, in whatever form the echo takes:
//! a SOAP fault has it XML-escaped (`p&amp;ss`), a URL percent-encoded, a
//! JSON body `\u`-escaped, a logged command line shell-quoted.
//!
//! # How the matcher works
//!
//! The secret is looked for as a sequence of its characters, where each
//! character may be written in any of these forms, independently of its
//! neighbours (`p&#97;%73s` is `pass`):
//!
//! - itself;
//! - XML: `&amp; &lt; &gt; &quot; &apos;` (any letter case) and numeric
//!   references, decimal or hex (`&#38;`, `&#x26;`, `&#X0026;`);
//! - URL: the percent-encoded bytes of its UTF-8 form, either hex case,
//!   and `+` for a space;
//! - JSON: `\"`, `\\`, `\/`, `\n` and the other one-letter escapes,
//!   `\uXXXX`, and surrogate pairs for characters beyond the BMP;
//! - shell: a backslash before any character (`\$`, `\"`, `\ `), and a
//!   quote inside single quotes as `'\''` or `'"'"'`.
//!
//! The characters that make up an escape (`&`, `#`, `;`, `%`, `\`, hex
//! digits, ...) may themselves be written in any of these forms, once: so
//! two layers are recognised, such as JSON inside XML (`\&quot;`) or a
//! doubly percent-encoded URL (`%2541`). It is cheaper to over-mask than to
//! leak: `+` is masked as a space wherever the secret has one, `\n` as an
//! `n` and as a newline.
//!
//! The text is scanned once, left to right, keeping for each position the
//! prefixes of the secret that end there; work per character is bounded
//! by the secret's length and the (bounded) length of an escape, so the
//! cost grows linearly with the length of the line.
//!
//! A secret of one character is not masked: it would mangle every line,
//! and such a password protects nothing anyway. A secret made only of `*`
//! is indistinguishable from the mask itself.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// What replaces a secret in a line.
pub const MASK: &str = "****";

impl Secret {
    /// Wraps the value and registers it for masking in every log line.
    pub fn new(value: String) -> Secret {
        register(&value);
        Secret(value)
    }

    /// The value itself, for the one place that sends it to the device.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

static REGISTERED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether a value is long enough to be masked (see the module's header).
fn maskable(value: &str) -> bool {
    value.chars().nth(1).is_some()
}

/// Remember a value that must never appear in output.
pub fn register(value: &str) {
    if !maskable(value) {
        return;
    }
    let mut list = match REGISTERED.lock() {
        Ok(l) => l,
        Err(poisoned) => poisoned.into_inner(),
    };
    if !list.iter().any(|v| v == value) {
        list.push(value.to_owned());
    }
}

/// `text` with every registered secret masked, in every form it can take.
pub fn mask(text: &str) -> String {
    let list = match REGISTERED.lock() {
        Ok(l) => l.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let secrets: Vec<&str> = list.iter().map(String::as_str).collect();
    mask_secrets(text, &secrets)
}

/// `text` with each of `secrets` replaced by [`MASK`] wherever it appears
/// in any form the matcher knows. Pure: what a fuzz target calls, with the
/// property that [`find_secret`] then finds none of the secrets (for
/// secrets of two characters or more without a `*`).
pub fn mask_secrets(text: &str, secrets: &[&str]) -> String {
    let mut spans: Vec<(usize, usize)> = secrets
        .iter()
        .filter(|s| maskable(s))
        .flat_map(|s| find_secret(text, s))
        .collect();
    if spans.is_empty() {
        return text.to_owned();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < spans.len() {
        let (start, mut end) = spans[i];
        // Overlapping or touching matches become one mask.
        while i + 1 < spans.len() && spans[i + 1].0 <= end {
            end = end.max(spans[i + 1].1);
            i += 1;
        }
        if start >= copied {
            out.push_str(&text[copied..start]);
            out.push_str(MASK);
            copied = end;
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// Every span (byte offsets) of `text` that spells `secret` in the forms
/// the module's header lists. For each end of a match only the earliest
/// start is kept: the longest span is the one to mask.
pub fn find_secret(text: &str, secret: &str) -> Vec<(usize, usize)> {
    let wanted: Vec<char> = secret.chars().collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let decoder = Decoder::new(text);
    // Partial matches by the position where they continue: (characters of
    // the secret matched so far, earliest start).
    let mut pending: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
    let mut found: BTreeMap<usize, usize> = BTreeMap::new();
    let mut decoded = Vec::new();
    let positions = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()));
    for at in positions {
        decoder.forget_before(at);
        let continuing = match pending.first_key_value() {
            Some((&next, _)) if next == at => pending.pop_first().map(|(_, v)| v),
            _ => None,
        };
        decoded.clear();
        decoder.chars_at(at, MAX_DEPTH, &mut decoded);
        let states = std::iter::once((0, at)).chain(continuing.into_iter().flatten());
        for (matched, start) in states {
            for &(c, end) in &decoded {
                if c != wanted[matched] {
                    continue;
                }
                if matched + 1 == wanted.len() {
                    let s = found.entry(end).or_insert(start);
                    *s = (*s).min(start);
                    continue;
                }
                let next = pending.entry(end).or_default();
                match next.iter_mut().find(|(m, _)| *m == matched + 1) {
                    Some((_, s)) => *s = (*s).min(start),
                    None => next.push((matched + 1, start)),
                }
            }
        }
    }
    found.into_iter().map(|(end, start)| (start, end)).collect()
}

/// Layers of encoding recognised: an escape at depth 2 may have its own
/// syntax written as an escape of depth 1 (`\&quot;`); depth 0 is the
/// text itself.
const MAX_DEPTH: u8 = 2;

/// Decimal digits of an XML character reference, leading zeros included,
/// beyond which the reference is not recognised (serialisers write a few).
const MAX_REFERENCE_DIGITS: usize = 12;

/// The bytes that can start an escape, at any depth: an escape starts
/// with its introducer, written as itself or as an escape (which starts
/// with one of these again).
const INTRODUCERS: &[u8] = b"&%\\'+";

/// Reads characters from a text in every form the module knows.
struct Decoder<'a> {
    text: &'a [u8],
    /// Readings at depth 1 by position: the escapes of depth 2 read their
    /// syntax there, several times over from neighbouring starts.
    inner: RefCell<Readings>,
    /// Positions the scan has visited, to prune `inner` now and then.
    visited: Cell<usize>,
}

/// Characters read at a position, each with where it ends.
type Readings = HashMap<usize, Vec<(char, usize)>, BuildHasherDefault<PositionHasher>>;

/// Positions are distinct small integers: they are their own hash.
#[derive(Default)]
struct PositionHasher(u64);

impl Hasher for PositionHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = n as u64;
    }
}

/// Positions reached in the text, each with what was read on the way.
type Paths<T> = Vec<(usize, T)>;

impl Decoder<'_> {
    fn new(text: &str) -> Decoder<'_> {
        Decoder {
            text: text.as_bytes(),
            inner: RefCell::new(HashMap::default()),
            visited: Cell::new(0),
        }
    }

    /// Drops the cached readings before `at` (the scan never goes back),
    /// every so many positions.
    fn forget_before(&self, at: usize) {
        let visited = self.visited.get() + 1;
        self.visited.set(visited);
        if visited.is_multiple_of(4096) {
            self.inner.borrow_mut().retain(|&k, _| k >= at);
        }
    }

    /// Every (character, end) the text at `at` can be read as, at `depth`.
    fn chars_at(&self, at: usize, depth: u8, out: &mut Vec<(char, usize)>) {
        let Some(&first) = self.text.get(at) else {
            return;
        };
        let Some(inner) = depth
            .checked_sub(1)
            .filter(|_| INTRODUCERS.contains(&first))
        else {
            if let Some((c, len)) = self.raw(at) {
                out.push((c, at + len));
            }
            return;
        };
        if depth == 1 {
            if let Some(known) = self.inner.borrow().get(&at) {
                out.extend_from_slice(known);
                return;
            }
            let mut fresh = Vec::new();
            self.escapes_at(at, inner, &mut fresh);
            out.extend_from_slice(&fresh);
            self.inner.borrow_mut().insert(at, fresh);
        } else {
            self.escapes_at(at, inner, out);
        }
    }

    /// The raw character at `at` and every escape starting there whose
    /// syntax is read at `inner` depth.
    fn escapes_at(&self, at: usize, inner: u8, out: &mut Vec<(char, usize)>) {
        if let Some((c, len)) = self.raw(at) {
            out.push((c, at + len));
        }
        // The introducer (`&`, `%`, `\`, `'`, `+`) may itself be written as
        // an escape of the inner depth: read it once, and try only the
        // forms it can start.
        let mut introducer = Vec::new();
        self.chars_at(at, inner, &mut introducer);
        let after = |wanted: char| -> Paths<()> {
            introducer
                .iter()
                .filter(|(c, _)| *c == wanted)
                .map(|&(_, end)| (end, ()))
                .collect()
        };
        self.xml(after('&'), inner, out);
        self.percent(after('%'), inner, out);
        self.backslash(after('\\'), inner, out);
        self.single_quote_break(after('\''), inner, out);
        for (end, ()) in after('+') {
            out.push((' ', end));
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The character as written, if `at` starts one.
    fn raw(&self, at: usize) -> Option<(char, usize)> {
        let len = match *self.text.get(at)? {
            b if b < 0x80 => return Some((char::from(b), 1)),
            b if b >> 5 == 0b110 => 2,
            b if b >> 4 == 0b1110 => 3,
            _ => 4,
        };
        let bytes = self.text.get(at..at + len)?;
        let c = std::str::from_utf8(bytes).ok()?.chars().next()?;
        Some((c, len))
    }

    /// One character read at `depth` from each path, kept where `accept`
    /// takes it. Duplicate paths are dropped, so the set stays small.
    fn step<T: Clone, U: PartialEq>(
        &self,
        paths: &Paths<T>,
        depth: u8,
        accept: impl Fn(char, T) -> Option<U>,
    ) -> Paths<U> {
        let mut next: Paths<U> = Vec::new();
        let mut chars = Vec::new();
        for (at, acc) in paths {
            chars.clear();
            self.chars_at(*at, depth, &mut chars);
            for &(c, end) in &chars {
                if let Some(a) = accept(c, acc.clone()) {
                    if !next.iter().any(|(e, x)| *e == end && *x == a) {
                        next.push((end, a));
                    }
                }
            }
        }
        next
    }

    /// `word` read character by character (ASCII letters in any case).
    fn word<T: Clone + PartialEq>(&self, mut paths: Paths<T>, depth: u8, word: &str) -> Paths<T> {
        for w in word.chars() {
            if paths.is_empty() {
                break;
            }
            paths = self.step(&paths, depth, |c, a| {
                c.eq_ignore_ascii_case(&w).then_some(a)
            });
        }
        paths
    }

    /// `&name;` and `&#N;` / `&#xH;`, from after the `&`.
    fn xml(&self, amp: Paths<()>, depth: u8, out: &mut Vec<(char, usize)>) {
        if amp.is_empty() {
            return;
        }
        for (name, c) in [
            ("amp;", '&'),
            ("lt;", '<'),
            ("gt;", '>'),
            ("quot;", '"'),
            ("apos;", '\''),
        ] {
            for (end, ()) in self.word(amp.clone(), depth, name) {
                out.push((c, end));
            }
        }
        let hash = self.word(amp, depth, "#");
        if hash.is_empty() {
            return;
        }
        let hex = self.step(&hash, depth, |c, ()| matches!(c, 'x' | 'X').then_some(()));
        for (paths, radix) in [(hash, 10), (hex, 16)] {
            // (value, digits so far)
            let mut numbers: Paths<(u32, usize)> =
                paths.into_iter().map(|(at, ())| (at, (0, 0))).collect();
            for _ in 0..MAX_REFERENCE_DIGITS {
                numbers = self.step(&numbers, depth, |c, (value, n)| {
                    let digit = c.to_digit(radix)?;
                    let value = value.checked_mul(radix)?.checked_add(digit)?;
                    (value <= 0x10FFFF).then_some((value, n + 1))
                });
                if numbers.is_empty() {
                    break;
                }
                let ends = self.step(&numbers, depth, |c, acc| (c == ';').then_some(acc));
                for (end, (value, _)) in ends {
                    if let Some(c) = char::from_u32(value) {
                        out.push((c, end));
                    }
                }
            }
        }
    }

    /// `%HH` bytes making up one UTF-8 character, from after the first `%`.
    fn percent(&self, after: Paths<()>, depth: u8, out: &mut Vec<(char, usize)>) {
        if after.is_empty() {
            return;
        }
        let first = self.hex_byte(
            after.into_iter().map(|(at, ())| (at, Vec::new())).collect(),
            depth,
        );
        for (end, bytes) in first {
            let Some(&lead) = bytes.first() else {
                continue;
            };
            let len = match lead {
                b if b < 0x80 => 1,
                b if b >> 5 == 0b110 => 2,
                b if b >> 4 == 0b1110 => 3,
                b if b >> 3 == 0b11110 => 4,
                _ => continue,
            };
            let mut paths = vec![(end, bytes)];
            for _ in 1..len {
                paths = self.percent_byte(paths, depth);
            }
            for (end, bytes) in paths {
                if let Some(c) = std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|s| s.chars().next())
                {
                    out.push((c, end));
                }
            }
        }
    }

    /// One `%HH` after each path, its byte appended.
    fn percent_byte(&self, paths: Paths<Vec<u8>>, depth: u8) -> Paths<Vec<u8>> {
        self.hex_byte(self.word(paths, depth, "%"), depth)
    }

    /// Two hex digits after each path, their byte appended.
    fn hex_byte(&self, paths: Paths<Vec<u8>>, depth: u8) -> Paths<Vec<u8>> {
        let after: Paths<(Vec<u8>, u8)> = paths
            .into_iter()
            .map(|(at, bytes)| (at, (bytes, 0)))
            .collect();
        let nibble = |c: char| c.to_digit(16).map(|d| d as u8);
        let high = self.step(&after, depth, |c, (bytes, _)| Some((bytes, nibble(c)?)));
        let low = self.step(&high, depth, |c, (mut bytes, high)| {
            bytes.push(high << 4 | nibble(c)?);
            Some((bytes, 0))
        });
        low.into_iter()
            .map(|(end, (bytes, _))| (end, bytes))
            .collect()
    }

    /// `\` escapes: JSON's `\uXXXX` (with surrogate pairs) and one-letter
    /// escapes, and the shell's backslash before any character; from after
    /// the backslash.
    fn backslash(&self, slash: Paths<()>, depth: u8, out: &mut Vec<(char, usize)>) {
        if slash.is_empty() {
            return;
        }
        for (end, c) in self.step(&slash, depth, |c, ()| Some(c)) {
            out.push((c, end));
            let control = match c {
                'n' => Some('\n'),
                't' => Some('\t'),
                'r' => Some('\r'),
                'b' => Some('\u{8}'),
                'f' => Some('\u{c}'),
                _ => None,
            };
            if let Some(control) = control {
                out.push((control, end));
            }
        }
        for (end, unit) in self.utf16_unit(slash, depth) {
            match unit {
                0xD800..=0xDBFF => {
                    let low = self.utf16_unit(self.word(vec![(end, ())], depth, "\\"), depth);
                    for (end, low) in low {
                        if (0xDC00..=0xDFFF).contains(&low) {
                            let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                            if let Some(c) = char::from_u32(c) {
                                out.push((c, end));
                            }
                        }
                    }
                }
                _ => {
                    if let Some(c) = char::from_u32(unit) {
                        out.push((c, end));
                    }
                }
            }
        }
    }

    /// `uXXXX` after each path (its backslash already read).
    fn utf16_unit(&self, paths: Paths<()>, depth: u8) -> Paths<u32> {
        let mut units: Paths<u32> = self
            .word(paths, depth, "u")
            .into_iter()
            .map(|(at, ())| (at, 0))
            .collect();
        for _ in 0..4 {
            units = self.step(&units, depth, |c, v| Some(v * 16 + c.to_digit(16)?));
        }
        units
    }

    /// A single quote inside a single-quoted shell word: `'\''`, `'"'"'`;
    /// from after the first quote.
    fn single_quote_break(&self, quote: Paths<()>, depth: u8, out: &mut Vec<(char, usize)>) {
        if quote.is_empty() {
            return;
        }
        for rest in ["\\''", "\"'\"'"] {
            for (end, ()) in self.word(quote.clone(), depth, rest) {
                out.push(('\'', end));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(text: &str, secret: &str) -> String {
        mask_secrets(text, &[secret])
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2 with space ".into());
        assert_eq!(format!("{s} {s:?}"), "**** ****");
        assert_eq!(s.expose(), "hunter2 with space ");
        // The registry is the process's: other tests' secrets are in it
        // too, so this line holds none of theirs.
        assert_eq!(
            mask("login failed for 'hunter2 with space ' at host"),
            "login failed for '****' at host"
        );
    }

    #[test]
    fn raw() {
        assert_eq!(masked("a pw1 b pw1", "pw1"), "a **** b ****");
        assert_eq!(masked("nothing here", "pw1"), "nothing here");
        assert_eq!(masked("pw1pw1", "pw1"), "****");
        assert_eq!(masked("é€😀 x", "é€😀"), "**** x");
    }

    #[test]
    fn one_character_secrets_are_not_masked() {
        assert_eq!(masked("a b c", "a"), "a b c");
        assert_eq!(masked("a b c", ""), "a b c");
    }

    /// What a vSphere server answering a bad login with the password in its
    /// fault puts in the -vvv trace.
    #[test]
    fn xml_escaped_in_a_soap_fault() {
        let pw = r#"p&ss<w>rd"'"#;
        let fault =
            "<faultstring>Cannot complete login for p&amp;ss&lt;w&gt;rd&quot;&apos;</faultstring>";
        assert_eq!(
            masked(fault, pw),
            "<faultstring>Cannot complete login for ****</faultstring>"
        );
    }

    #[test]
    fn xml_numeric_references() {
        for form in [
            "&#112;&#119;&#49;",
            "&#x70;&#x77;&#x31;",
            "&#X70;&#x0077;&#0049;",
            "&#x70;w&#49;",
        ] {
            assert_eq!(
                masked(&format!("<a>{form}</a>"), "pw1"),
                "<a>****</a>",
                "{form}"
            );
        }
        assert_eq!(masked("&#233;&#x20AC;", "é€"), "****");
        // Not references: no ';', or too many digits.
        assert_eq!(masked("&#112&#119", "pw"), "&#112&#119");
    }

    #[test]
    fn url_encoded() {
        assert_eq!(masked("q=p%40ss+w%C3%a9", "p@ss wé"), "q=****");
        assert_eq!(masked("q=%70%77", "pw"), "q=****");
        assert_eq!(masked("q=p%20w", "p w"), "q=****");
        // A lone UTF-8 byte is no character.
        assert_eq!(masked("%C3", "é"), "%C3");
    }

    #[test]
    fn json_escaped() {
        assert_eq!(
            masked(
                r#"{"password":"a\"b\\c\/d\u00e9\uD83D\uDE00"}"#,
                "a\"b\\c/dé😀"
            ),
            r#"{"password":"****"}"#
        );
        assert_eq!(masked(r#""\u0070\u0057""#, "pW"), r#""****""#);
        assert_eq!(masked(r#""a\nb""#, "a\nb"), r#""****""#);
        assert_eq!(masked(r#""a\tb""#, "a\tb"), r#""****""#);
    }

    #[test]
    fn shell_quoted() {
        // single quotes, broken around a quote
        assert_eq!(
            masked("vmrun -p 'it'\\''s' list", "it's"),
            "vmrun -p '****' list"
        );
        assert_eq!(
            masked("vmrun -p 'it'\"'\"'s' list", "it's"),
            "vmrun -p '****' list"
        );
        // double quotes with backslashes
        assert_eq!(masked(r#"cmd "a\"b\$c\\d""#, r#"a"b$c\d"#), r#"cmd "****""#);
        // backslash-escaped, unquoted
        assert_eq!(masked(r"cmd a\ b\&c", "a b&c"), "cmd ****");
    }

    #[test]
    fn encodings_mix_per_character() {
        let pw = "p&ss wd'é";
        let mixed = r"p&amp;%73\s+\u0077&#x64;'\''%C3%A9";
        assert_eq!(masked(&format!("[{mixed}]"), pw), "[****]");
    }

    #[test]
    fn two_layers() {
        // JSON inside XML, and a doubly percent-encoded URL.
        assert_eq!(masked(r"<a>x\&quot;y</a>", "x\"y"), "<a>****</a>");
        assert_eq!(masked("u=%2570%2577", "pw"), "u=****");
        assert_eq!(masked("&amp;#112;w", "pw"), "****");
    }

    #[test]
    fn several_secrets_and_overlaps() {
        assert_eq!(mask_secrets("abcdef", &["bcd", "cde"]), "a****f");
        assert_eq!(mask_secrets("abc xyz", &["abc", "xyz"]), "**** ****");
    }

    /// Linear in the line's length, whatever the line holds: escape
    /// characters everywhere, a secret that almost matches everywhere.
    #[test]
    fn long_hostile_lines_are_masked_quickly() {
        let secret = "a&%\\b";
        let chunks = [
            "&amp;",
            "%25",
            "\\",
            "&#",
            "a&amp;%25\\\\",
            "'\\''",
            "+",
            "&#x",
        ];
        let mut line = String::new();
        let mut i = 0;
        while line.len() < 20_000 {
            line.push_str(chunks[i % chunks.len()]);
            i += 1;
        }
        let started = std::time::Instant::now();
        let _ = masked(&line, secret);
        let small = started.elapsed();
        let started = std::time::Instant::now();
        let _ = masked(&line.repeat(4), secret);
        let large = started.elapsed();
        assert!(
            large < small * 8 + std::time::Duration::from_millis(50),
            "{small:?} then {large:?}"
        );
        assert!(large < std::time::Duration::from_secs(20), "{large:?}");
    }
}
