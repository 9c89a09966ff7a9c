//! `ssh_options`: the OpenSSH command-line forms administrators already
//! write for fence-agents' SSH agents, read for the few settings the
//! framework honours. Everything else is reported and ignored (the agents run
//! no `ssh` program, so there is nothing to pass it to).

use std::path::PathBuf;
use std::time::Duration;

/// `StrictHostKeyChecking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strict {
    /// Unknown or changed keys fail (the default).
    Yes,
    /// Unknown keys are added to the user's known_hosts; changed keys fail.
    AcceptNew,
    /// No verification at all (explicit opt-out, warned about).
    No,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOptions {
    pub strict: Strict,
    pub user_known_hosts: Option<Vec<PathBuf>>,
    pub global_known_hosts: Option<Vec<PathBuf>>,
    pub connect_timeout: Option<Duration>,
    pub identity_file: Option<String>,
    pub port: Option<u16>,
    pub inet4_only: bool,
    pub inet6_only: bool,
    /// Words and settings not honoured, for a verbose log line each.
    pub ignored: Vec<String>,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            strict: Strict::Yes,
            user_known_hosts: None,
            global_known_hosts: None,
            connect_timeout: None,
            identity_file: None,
            port: None,
            inet4_only: false,
            inet6_only: false,
            ignored: Vec::new(),
        }
    }
}

/// Split like a POSIX shell does for simple words: blanks separate,
/// single and double quotes group, backslash escapes one character.
pub fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x) => cur.push(x),
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn paths(value: &str) -> Vec<PathBuf> {
    value
        .split_whitespace()
        .map(|p| PathBuf::from(expand_tilde(p)))
        .collect()
}

/// `~/x` → `$HOME/x`, as ssh does for its own options.
pub fn expand_tilde(p: &str) -> String {
    match p.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(home) => format!("{}/{rest}", home.to_string_lossy()),
            None => p.to_string(),
        },
        None => p.to_string(),
    }
}

fn set_option(o: &mut SshOptions, setting: &str) -> Result<(), String> {
    let (key, value) = match setting.split_once('=') {
        Some((k, v)) => (k.trim(), v.trim()),
        None => match setting.trim().split_once(char::is_whitespace) {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (setting.trim(), ""),
        },
    };
    match key.to_ascii_lowercase().as_str() {
        "stricthostkeychecking" => {
            o.strict = match value.to_ascii_lowercase().as_str() {
                "yes" | "ask" => Strict::Yes,
                "accept-new" => Strict::AcceptNew,
                "no" | "off" => Strict::No,
                other => {
                    return Err(format!(
                        "StrictHostKeyChecking must be yes, no or accept-new, got {other:?}"
                    ))
                }
            }
        }
        "userknownhostsfile" => o.user_known_hosts = Some(paths(value)),
        "globalknownhostsfile" => o.global_known_hosts = Some(paths(value)),
        "connecttimeout" => match value.parse::<u64>() {
            Ok(n) if n > 0 => o.connect_timeout = Some(Duration::from_secs(n)),
            _ => {
                return Err(format!(
                    "ConnectTimeout must be a number of seconds, got {value:?}"
                ))
            }
        },
        "identityfile" => o.identity_file = Some(expand_tilde(value)),
        "port" => o.port = Some(parse_port(value)?),
        "addressfamily" => match value.to_ascii_lowercase().as_str() {
            "inet" => o.inet4_only = true,
            "inet6" => o.inet6_only = true,
            _ => {}
        },
        _ => o.ignored.push(format!("-o {setting}")),
    }
    Ok(())
}

fn parse_port(value: &str) -> Result<u16, String> {
    match value.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("port must be 1-65535, got {value:?}")),
    }
}

/// Parse the `ssh_options` text.
pub fn parse(text: &str) -> Result<SshOptions, String> {
    let mut o = SshOptions::default();
    let words = shell_words(text)?;
    let mut i = 0;
    // The value of "-x VALUE" or "-xVALUE".
    let value_of = |flag: &str, words: &[String], i: &mut usize| -> Result<String, String> {
        let w = &words[*i];
        if w.len() > 2 {
            Ok(w[2..].to_string())
        } else {
            *i += 1;
            words
                .get(*i)
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        }
    };
    while i < words.len() {
        let w = words[i].clone();
        if w.starts_with("-o") {
            let v = value_of("-o", &words, &mut i)?;
            set_option(&mut o, &v)?;
        } else if w.starts_with("-i") {
            o.identity_file = Some(expand_tilde(&value_of("-i", &words, &mut i)?));
        } else if w.starts_with("-p") {
            o.port = Some(parse_port(&value_of("-p", &words, &mut i)?)?);
        } else if w == "-4" {
            o.inet4_only = true;
        } else if w == "-6" {
            o.inet6_only = true;
        } else {
            // "-t", "-x", "-q", a remote command...: nothing this agent
            // can use (it never asks for a terminal, runs no ssh).
            o.ignored.push(w);
        }
        i += 1;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssh_forms() {
        let o = parse(
            "-o StrictHostKeyChecking=accept-new -oUserKnownHostsFile=/tmp/kh -o 'ConnectTimeout 7' -i /k -p2222",
        )
        .unwrap();
        assert_eq!(o.strict, Strict::AcceptNew);
        assert_eq!(o.user_known_hosts, Some(vec![PathBuf::from("/tmp/kh")]));
        assert_eq!(o.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(o.identity_file.as_deref(), Some("/k"));
        assert_eq!(o.port, Some(2222));
        assert!(o.ignored.is_empty());
        let o = parse("-p 22 -o stricthostkeychecking=no -4").unwrap();
        assert_eq!(o.strict, Strict::No);
        assert_eq!(o.port, Some(22));
        assert!(o.inet4_only);
    }

    #[test]
    fn other_words_are_ignored_not_fatal() {
        let o = parse(r#"-t '/bin/bash -c "PS1=\\[EXPECT\\]#\\ /bin/bash --noprofile --norc"' -o Compression=yes"#).unwrap();
        assert_eq!(o.ignored.len(), 3, "{:?}", o.ignored);
        assert_eq!(o.strict, Strict::Yes);
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(parse("-o StrictHostKeyChecking=maybe").is_err());
        assert!(parse("-p 0").is_err());
        assert!(parse("-p").is_err());
        assert!(parse("-o ConnectTimeout=x").is_err());
        assert!(parse("-o 'unterminated").is_err());
    }
}
