//! The masking of secrets (agent_framework::mask_secrets, find_secret).
//!
//! The property: a line holding the secret in any of the encodings the
//! matcher promises to know (raw, XML entities and numeric references,
//! URL percent-encoding, JSON escapes, shell quoting), character by
//! character or in two layers, holds it in none of them once masked. The
//! encoders below are this target's own, written from the formats, not
//! from the matcher: a form the matcher misses is a finding, not a
//! tautology.
//!
//! Fields: secret, encoding choices, text before, text after, a second
//! secret.

use agent_framework::{find_secret, mask_secrets};

use crate::{Choices, Fields};

/// Longer secrets only make each run slower: the matcher works per
/// character of the secret.
const MAX_SECRET_CHARS: usize = 40;

/// What the matcher promises to mask: two characters or more, and no `*`
/// (a secret of stars cannot be told from the mask itself).
fn maskable(secret: &str) -> bool {
    secret.chars().nth(1).is_some()
        && !secret.contains('*')
        && secret.chars().count() <= MAX_SECRET_CHARS
}

/// `value` in hexadecimal, at least `width` digits, each digit's case
/// chosen.
fn hex_digits(choices: &mut Choices, value: u32, width: usize) -> String {
    let s = format!("{value:0width$x}");
    s.chars()
        .map(|c| {
            if choices.below(2) == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// One character in one form; `form` picks which.
fn encode_char(c: char, form: usize, choices: &mut Choices) -> String {
    let code = c as u32;
    match form {
        // XML: the five named entities, else a decimal reference.
        1 => match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&apos;".into(),
            _ => format!("&#{:0width$};", code, width = 1 + choices.below(4)),
        },
        // XML hexadecimal reference.
        2 => {
            let x = if choices.below(2) == 0 { 'x' } else { 'X' };
            // Leading zeros as some serialisers write them (the matcher
            // reads up to 12 digits).
            let width = 1 + choices.below(6);
            format!("&#{x}{};", hex_digits(choices, code, width))
        }
        // URL: the UTF-8 bytes percent-encoded; '+' for a space.
        3 => {
            if c == ' ' && choices.below(2) == 0 {
                "+".into()
            } else {
                let mut buf = [0u8; 4];
                c.encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{}", hex_digits(choices, u32::from(b), 2)))
                    .collect()
            }
        }
        // JSON \uXXXX, a surrogate pair beyond the BMP.
        4 => {
            let mut units = [0u16; 2];
            c.encode_utf16(&mut units)
                .iter()
                .map(|u| format!("\\u{}", hex_digits(choices, u32::from(*u), 4)))
                .collect()
        }
        // JSON's one-letter escapes, where the character has one.
        5 => match c {
            '"' => "\\\"".into(),
            '\\' => "\\\\".into(),
            '/' => "\\/".into(),
            '\n' => "\\n".into(),
            '\t' => "\\t".into(),
            '\r' => "\\r".into(),
            '\u{8}' => "\\b".into(),
            '\u{c}' => "\\f".into(),
            _ => c.to_string(),
        },
        // Shell: a backslash before the character.
        6 => format!("\\{c}"),
        // Shell: a quote inside single quotes.
        7 if c == '\'' => {
            if choices.below(2) == 0 {
                "'\\''".into()
            } else {
                "'\"'\"'".into()
            }
        }
        _ => c.to_string(),
    }
}

const FORMS: usize = 8;

/// The whole text in one encoding, as a serialiser of that format writes
/// it (only the characters it must escape), quotes around it included.
fn encode_whole(text: &str, format: usize) -> String {
    match format {
        // XML text content.
        0 => text
            .chars()
            .map(|c| match c {
                '&' => "&amp;".to_string(),
                '<' => "&lt;".to_string(),
                '>' => "&gt;".to_string(),
                '"' => "&quot;".to_string(),
                '\'' => "&apos;".to_string(),
                c => c.to_string(),
            })
            .collect(),
        // A URL query value (application/x-www-form-urlencoded).
        1 => text
            .bytes()
            .map(|b| match b {
                b' ' => "+".to_string(),
                b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => char::from(b).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect(),
        // A JSON string.
        2 => {
            let mut s = String::from("\"");
            for c in text.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    '\n' => s.push_str("\\n"),
                    '\r' => s.push_str("\\r"),
                    '\t' => s.push_str("\\t"),
                    c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
                    c => s.push(c),
                }
            }
            s.push('"');
            s
        }
        // A single-quoted shell word.
        3 => format!("'{}'", text.replace('\'', "'\\''")),
        // A double-quoted shell word.
        4 => {
            let mut s = String::from("\"");
            for c in text.chars() {
                if matches!(c, '"' | '\\' | '$' | '`') {
                    s.push('\\');
                }
                s.push(c);
            }
            s.push('"');
            s
        }
        _ => text.to_string(),
    }
}

/// Every way this run writes the secret: each whole-text encoding, two of
/// them layered, and a mix of forms chosen per character, once as is and
/// once with each character of that mix written again in a form of its
/// own (the second layer).
fn encodings(secret: &str, choices: &mut Choices) -> Vec<String> {
    let mut out: Vec<String> = (0..6).map(|f| encode_whole(secret, f)).collect();
    let (inner, outer) = (choices.below(6), choices.below(6));
    out.push(encode_whole(&encode_whole(secret, inner), outer));
    let mixed: String = secret
        .chars()
        .map(|c| {
            let form = choices.below(FORMS);
            encode_char(c, form, choices)
        })
        .collect();
    let layered: String = mixed
        .chars()
        .map(|c| {
            let form = choices.below(FORMS);
            encode_char(c, form, choices)
        })
        .collect();
    out.push(mixed);
    out.push(layered);
    out
}

pub fn secret_masking(data: &[u8]) {
    let f = Fields::new(data);
    let secret = f.text(0);
    if !maskable(&secret) {
        return;
    }
    let mut choices = Choices::new(f.bytes(1));
    let (before, after) = (f.text(2), f.text(3));
    let second = f.text(4);
    // Two of the encodings per run, chosen by the fuzzer: each costs a
    // few scans of the line, and over a million runs every one is tried
    // with every kind of secret.
    let all = encodings(&secret, &mut choices);
    let picked = [choices.below(all.len()), choices.below(all.len())];
    for encoded in picked.iter().map(|&i| &all[i]) {
        let line = format!("{before}{encoded}{after}");
        let masked = mask_secrets(&line, &[&secret]);
        assert!(
            !masked.contains(encoded.as_str()),
            "secret {secret:?} written {encoded:?} survives masking: {masked:?}"
        );
        assert!(
            find_secret(&masked, &secret).is_empty(),
            "secret {secret:?} still found in {masked:?} (from {line:?})"
        );
        if maskable(&second) {
            let both = mask_secrets(&line, &[&second, &secret]);
            for s in [&secret, &second] {
                assert!(
                    find_secret(&both, s).is_empty(),
                    "with two secrets, {s:?} is still found in {both:?} (from {line:?})"
                );
            }
        }
    }
}

/// The property on every `cargo test`, not only over the committed seeds
/// the replay feeds the target: random secrets of the characters the
/// encodings treat specially, each character in a random form, between
/// random neighbours.
#[cfg(test)]
mod tests {
    use super::*;

    const ALPHABET: &[char] = &[
        'a', 'b', 'Z', '0', '9', ' ', '&', '<', '>', '"', '\'', '%', '+', '\\', '/', ';', '#', 'x',
        'u', 'n', '$', 'é', '€', '😀', '\n', '\t',
    ];

    /// Bytes for `Choices`, from a fixed seed (xorshift64*): the same
    /// rounds on every run.
    struct Noise(u64);

    impl Noise {
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n)
                .map(|_| {
                    self.0 ^= self.0 >> 12;
                    self.0 ^= self.0 << 25;
                    self.0 ^= self.0 >> 27;
                    (self.0.wrapping_mul(0x2545F4914F6CDD1D) >> 56) as u8
                })
                .collect()
        }
    }

    #[test]
    fn any_mix_of_encodings_is_masked() {
        let mut noise = Noise(0x5eed_1234_abcd_0001);
        for round in 0..3000 {
            let bytes = noise.bytes(512);
            let mut choices = Choices::new(&bytes);
            let text = |choices: &mut Choices, len: usize| -> String {
                (0..len)
                    .map(|_| ALPHABET[choices.below(ALPHABET.len())])
                    .collect()
            };
            let len = 2 + choices.below(10);
            let secret = text(&mut choices, len);
            let encoded: String = secret
                .chars()
                .map(|c| {
                    let form = choices.below(FORMS);
                    encode_char(c, form, &mut choices)
                })
                .collect();
            let (before, after) = (choices.below(12), choices.below(12));
            let line = format!(
                "{}{encoded}{}",
                text(&mut choices, before),
                text(&mut choices, after)
            );
            let out = mask_secrets(&line, &[&secret]);
            assert!(
                !out.contains(&encoded),
                "round {round}: secret {secret:?} encoded {encoded:?} survives in {out:?}"
            );
            assert!(
                find_secret(&out, &secret).is_empty(),
                "round {round}: secret {secret:?} still found in {out:?} (from {line:?})"
            );
        }
    }
}
