//! Passwords and anything a password script prints.
//!
//! A `Secret` cannot be printed by accident (its `Debug` and `Display` say
//! `****`), and every secret value is also registered with the logger,
//! which masks it in any line, so that a device echoing the password back
//! in an error message does not leak it either.

use std::fmt;
use std::sync::Mutex;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

const MASK: &str = "****";

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

/// Remember a value that must never appear in output.
pub fn register(value: &str) {
    // Masking a one-character "secret" would mangle every line; such a
    // password gives no protection to hide anyway.
    if value.chars().count() < 2 {
        return;
    }
    if let Ok(mut list) = REGISTERED.lock() {
        if !list.iter().any(|v| v == value) {
            list.push(value.to_owned());
            // Longest first, so that a secret containing another is
            // masked whole.
            list.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }
}

/// `text` with every registered secret replaced by `****`.
pub fn mask(text: &str) -> String {
    let list = match REGISTERED.lock() {
        Ok(l) => l,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut out = text.to_owned();
    for secret in list.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2 with space ".into());
        assert_eq!(format!("{s} {s:?}"), "**** ****");
        assert_eq!(s.expose(), "hunter2 with space ");
        assert_eq!(
            mask("login failed for pw 'hunter2 with space ' on host"),
            "login failed for pw '****' on host"
        );
    }
}
