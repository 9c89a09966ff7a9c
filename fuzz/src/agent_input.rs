//! The agents' input: FenceAgentAPI `key=value` lines on stdin and
//! getopt-style argv (agent_framework's input module), with the option
//! sets of fence_vmware, fence_vmware_soap, fence_vmware_rest and
//! fence_vmware_esxi, then the validation into a Config.
//!
//! What must hold:
//! - a refusal is one line, names no password, and is a usage error;
//! - what was read renders back to input that reads the same (stdin as
//!   `name="value"` lines, argv as `--long=value` words);
//! - only options of the agent are kept;
//! - no password shows in a message or in a Config's Debug form: the
//!   outcome reads the same with any other password.
//!
//! The first byte picks the agent and whether Pacemaker's fencer ran it;
//! the rest is the stdin text, or the argv words separated by NUL bytes.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use agent_framework::fuzzing::{parse_argv, parse_stdin, validate, RawInput};
use agent_framework::{AgentSpec, Config, Deadline, Device, Environment, FenceError, ValueKind};

fn no_connection(_: &Config, _: Deadline) -> Result<Box<dyn Device>, FenceError> {
    Err(FenceError::Device("the fuzz targets never connect".into()))
}

/// Bit 0x20 picks fence_vmware_rest (added after the first seeds, whose
/// first bytes keep their meaning); otherwise the byte modulo 3.
fn agent(choice: u8) -> AgentSpec {
    if choice & 0x20 != 0 {
        return fence_vmware::spec::fence_vmware_rest(no_connection);
    }
    match choice % 3 {
        0 => fence_vmware::spec::fence_vmware(no_connection),
        1 => fence_vmware::spec::fence_vmware_soap(no_connection),
        _ => fence_vmware_esxi::spec(),
    }
}

fn environment(choice: u8) -> Environment {
    Environment {
        run_by_fencer: choice & 0x80 != 0,
        syslog: false,
    }
}

/// A refusal of input: a usage error, each message line a single line.
fn assert_refusal_is_one_line(e: &FenceError, what: &str) {
    for line in e.message_lines() {
        assert!(
            !line.contains('\n') && !line.contains('\r'),
            "{what}: a message line holds a line break: {line:?}"
        );
    }
}

/// The outcome of validation as text: the refusal's lines, or the
/// Config's Debug form.
fn outcome(raw: &RawInput, agent: &AgentSpec, env: &Environment) -> Vec<String> {
    match validate(raw, agent, env) {
        Ok(config) => vec![format!("{config:?}")],
        Err(e) => {
            assert_refusal_is_one_line(&e, "validation");
            e.message_lines()
        }
    }
}

/// Validation of what was read, and what must hold of its outcome: it
/// does not depend on the password's text at all (no refusal and no
/// Debug form shows it), so it reads the same with any other password.
fn check_validation(raw: &RawInput, agent: &AgentSpec, env: &Environment) {
    let shown = outcome(raw, agent, env);
    if raw.get("password").is_some_and(|p| !p.is_empty()) {
        let mut other = raw.clone();
        other
            .values
            .insert("password", "another password, not the given one".into());
        assert_eq!(
            outcome(&other, agent, env),
            shown,
            "the outcome of validation depends on the password's text"
        );
    }
}

fn assert_only_known_options(raw: &RawInput, agent: &AgentSpec) {
    for name in raw.values.keys() {
        assert!(
            agent.options.has(name),
            "{name} is kept but is no option of {}",
            agent.name
        );
    }
}

pub fn stdin_input(data: &[u8]) {
    let Some((&choice, text)) = data.split_first() else {
        return;
    };
    let agent = agent(choice);
    let raw = match parse_stdin(text, &agent.options) {
        Ok(raw) => raw,
        Err(e) => {
            assert!(matches!(e, FenceError::Usage(_)), "{e:?}");
            assert_refusal_is_one_line(&e, "stdin");
            return;
        }
    };
    assert_only_known_options(&raw, &agent);
    // Rendered back: every value in double quotes (which stdin drops),
    // so that blanks and quotes at either end survive.
    let mut again = String::new();
    for (name, value) in &raw.values {
        again.push_str(&format!("{name}=\"{value}\"\n"));
    }
    if let Some(node) = &raw.nodename {
        again.push_str(&format!("nodename=\"{node}\"\n"));
    }
    let reread = parse_stdin(again.as_bytes(), &agent.options)
        .unwrap_or_else(|e| panic!("{again:?} (read from {text:?}) is refused: {e}"));
    assert_eq!(reread.values, raw.values, "rendered as {again:?}");
    assert_eq!(reread.nodename, raw.nodename, "rendered as {again:?}");
    check_validation(&raw, &agent, &environment(choice));
}

/// What was read from argv, as argv again: flags repeated or given
/// alone, values inline, words that are not options after `--`.
fn render_argv(raw: &RawInput, agent: &AgentSpec) -> Vec<OsString> {
    let mut words = Vec::new();
    for (name, value) in &raw.values {
        let Some(spec) = agent.options.get(name) else {
            continue;
        };
        match spec.kind {
            ValueKind::Counter => {
                let n: usize = value.parse().unwrap_or(1);
                words.extend(std::iter::repeat_n(format!("--{}", spec.long), n.min(64)));
            }
            ValueKind::Boolean => words.push(format!("--{}", spec.long)),
            _ => words.push(format!("--{}={value}", spec.long)),
        }
    }
    let mut words: Vec<OsString> = words.into_iter().map(OsString::from).collect();
    if !raw.leftover_args.is_empty() {
        words.push("--".into());
        words.extend(raw.leftover_args.iter().map(OsString::from));
    }
    words
}

pub fn argv_input(data: &[u8]) {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let agent = agent(choice);
    let args: Vec<OsString> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(|b| *b == 0)
            .map(|w| OsString::from_vec(w.to_vec()))
            .collect()
    };
    let raw = match parse_argv(&args, &agent.options) {
        Ok(raw) => raw,
        Err(e) => {
            assert!(matches!(e, FenceError::Usage(_)), "{e:?}");
            assert_refusal_is_one_line(&e, "argv");
            return;
        }
    };
    assert_only_known_options(&raw, &agent);
    let counts_ok = raw
        .values
        .iter()
        .filter(|(n, _)| agent.options.get(n).map(|s| s.kind) == Some(ValueKind::Counter))
        .all(|(_, v)| v.parse::<usize>().is_ok_and(|n| n <= 64));
    if counts_ok {
        let again = render_argv(&raw, &agent);
        let reread = parse_argv(&again, &agent.options)
            .unwrap_or_else(|e| panic!("{again:?} (read from {args:?}) is refused: {e}"));
        assert_eq!(reread.values, raw.values, "rendered as {again:?}");
        let leftover: Vec<String> = raw.leftover_args.clone();
        assert_eq!(reread.leftover_args, leftover, "rendered as {again:?}");
    }
    check_validation(&raw, &agent, &environment(choice));
}
