//! Reading options: from argv when there are arguments, else from stdin as
//! `key=value` lines (FenceAgentAPI, what Pacemaker and cman's fenced send).
//!
//! This stage only collects text per canonical option name; checking the
//! values is [`crate::config`]'s job, so that both sources are validated
//! by one code path.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;

use clap::{Arg, ArgAction, Command};

use crate::error::FenceError;
use crate::options::{OptionSet, ValueKind};

/// Where the options came from; a few rules differ (fence-agents counts
/// `-v` flags on argv, and takes `verbose=1` on stdin as level 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Argv,
    Stdin,
}

/// Option text by canonical name, before validation.
#[derive(Debug, Clone)]
pub struct RawInput {
    pub source: Source,
    pub values: BTreeMap<&'static str, String>,
    /// `nodename` from stdin: the target when no plug is given.
    pub nodename: Option<String>,
    /// Keys on stdin the agent does not know (logged, then ignored).
    pub ignored_keys: Vec<String>,
    /// argv words that are not options (logged, then ignored).
    pub leftover_args: Vec<String>,
}

impl RawInput {
    fn new(source: Source) -> RawInput {
        RawInput {
            source,
            values: BTreeMap::new(),
            nodename: None,
            ignored_keys: Vec::new(),
            leftover_args: Vec::new(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// Stdin keys that are part of the FenceAgentAPI conversation but not
/// options: cman's fenced sends the agent and device names.
const STDIN_KEYS_NOT_OPTIONS: &[&str] = &["agent", "name"];

/// Stdin names fence-agents' agents accept that are not in the registry
/// under that spelling.
fn stdin_legacy_alias(key: &str) -> Option<&'static str> {
    match key {
        // cman's fenced and old cluster.conf files say option= for action=.
        "option" => Some("action"),
        _ => None,
    }
}

/// Parse stdin text (all of it) as FenceAgentAPI `key=value` lines.
///
/// Leading blanks before the key are ignored; the value is kept exactly as
/// written, only the line ending removed (a password may end in a space).
/// A value wholly in double quotes loses them, as with fence-agents.
/// Lines starting with `#` are comments; a later value for the same key
/// wins; unknown keys are ignored. Bytes that are not UTF-8 are an error
/// only when they are in the value of an option the agent knows.
pub fn parse_stdin(bytes: &[u8], options: &OptionSet) -> Result<RawInput, FenceError> {
    let mut input = RawInput::new(Source::Stdin);
    let mut canonical_seen: Vec<&'static str> = Vec::new();
    for raw_line in bytes.split(|b| *b == b'\n') {
        let line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        let start = line
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(line.len());
        let line = &line[start..];
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let (key_bytes, value_bytes) = match line.iter().position(|b| *b == b'=') {
            Some(eq) => (&line[..eq], &line[eq + 1..]),
            None => (line, &[][..]),
        };
        let key = String::from_utf8_lossy(key_bytes).trim_end().to_string();
        let canonical_key = stdin_legacy_alias(&key).unwrap_or(&key);
        if key == "nodename" {
            input.nodename = Some(utf8_value(&key, unquoted(value_bytes))?);
            continue;
        }
        if STDIN_KEYS_NOT_OPTIONS.contains(&key.as_str()) {
            continue;
        }
        let spec = match options.by_stdin_name(canonical_key) {
            Some(s) => s,
            None => {
                input.ignored_keys.push(truncate_for_log(&key));
                continue;
            }
        };
        let value = utf8_value(&key, unquoted(value_bytes))?;
        // A value under the current name beats one under the deprecated
        // name, whatever the order: Pacemaker sends its target as `port=`
        // next to a configured `plug=`, in hash order.
        let by_canonical = canonical_key.replace('-', "_") == spec.name;
        if by_canonical {
            canonical_seen.push(spec.name);
        } else if canonical_seen.contains(&spec.name) {
            continue;
        }
        input.values.insert(spec.name, value);
    }
    Ok(input)
}

/// fence-agents drops one pair of double quotes around a whole value
/// (`ipaddr="10.0.0.1"`), and hand-written input relies on it. Anything
/// else in the value, blanks included, is kept.
fn unquoted(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    }
}

fn utf8_value(key: &str, bytes: &[u8]) -> Result<String, FenceError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        FenceError::usage(format!(
            "Failed: the value of {} is not valid UTF-8",
            truncate_for_log(key)
        ))
    })
}

/// Keys from untrusted input are shown in messages; a multi-megabyte key
/// must not become a multi-megabyte log line.
fn truncate_for_log(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head}...")
    }
}

/// Read all of stdin.
pub fn read_stdin() -> Result<Vec<u8>, FenceError> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut buf)
        .map_err(|e| FenceError::Local(format!("unable to read standard input: {e}")))?;
    Ok(buf)
}

/// Parse argv (without the program name) with the getopt forms the
/// agent's options declare: `-o status`, `-ostatus`, `--action=status`,
/// `--action status`, `-vvv`, combined short flags. The last occurrence of
/// an option wins, as with fence-agents.
pub fn parse_argv(args: &[OsString], options: &OptionSet) -> Result<RawInput, FenceError> {
    let mut cmd = Command::new("agent")
        .no_binary_name(true)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .args_override_self(true)
        .dont_delimit_trailing_values(true);
    for spec in options.specs() {
        let mut arg = Arg::new(spec.name).long(spec.long);
        if let Some(c) = spec.short {
            arg = arg.short(c);
        }
        for alias in &spec.argv_aliases {
            arg = arg.alias(alias);
        }
        // The long form with '_' for '-' and the other way round, as
        // administrators type both (fence-agents accepts them on stdin).
        let swapped = if spec.long.contains('-') {
            spec.long.replace('-', "_")
        } else {
            spec.long.replace('_', "-")
        };
        if swapped != spec.long {
            arg = arg.alias(swapped);
        }
        arg = match spec.kind {
            ValueKind::Counter => arg.action(ArgAction::Count),
            ValueKind::Boolean => arg.action(ArgAction::SetTrue),
            _ => arg
                .action(ArgAction::Set)
                .num_args(1)
                .allow_hyphen_values(true)
                .value_parser(clap::builder::OsStringValueParser::new()),
        };
        cmd = cmd.arg(arg);
    }
    for (long, _) in options.action_flags() {
        cmd = cmd.arg(
            Arg::new(format!("__action_{long}"))
                .long(*long)
                .action(ArgAction::SetTrue),
        );
    }
    cmd = cmd.arg(
        Arg::new("__leftover")
            .num_args(0..)
            .action(ArgAction::Append)
            .value_parser(clap::builder::OsStringValueParser::new()),
    );

    let matches = cmd.try_get_matches_from(args).map_err(clap_error)?;
    let mut input = RawInput::new(Source::Argv);
    for spec in options.specs() {
        match spec.kind {
            ValueKind::Counter => {
                let n = matches.get_count(spec.name);
                if n > 0 {
                    input.values.insert(spec.name, n.to_string());
                }
            }
            ValueKind::Boolean => {
                if matches.get_flag(spec.name) {
                    input.values.insert(spec.name, "1".into());
                }
            }
            _ => {
                if let Some(v) = matches.get_one::<OsString>(spec.name) {
                    let text = v.to_str().ok_or_else(|| {
                        FenceError::usage(format!(
                            "Failed: the value of --{} is not valid UTF-8",
                            spec.long
                        ))
                    })?;
                    input.values.insert(spec.name, text.to_string());
                }
            }
        }
    }
    for (long, action) in options.action_flags() {
        if matches.get_flag(&format!("__action_{long}")) {
            input.values.insert("action", action.to_string());
        }
    }
    if let Some(rest) = matches.get_many::<OsString>("__leftover") {
        input.leftover_args = rest.map(|s| s.to_string_lossy().into_owned()).collect();
    }
    Ok(input)
}

/// clap's own messages are several lines with usage text; fence-agents
/// prints one "Parse error" line.
fn clap_error(e: clap::Error) -> FenceError {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let arg = e.get(ContextKind::InvalidArg).and_then(|v| match v {
        ContextValue::String(s) => Some(s.clone()),
        _ => None,
    });
    let what = arg.map(|a| truncate_for_log(&a)).unwrap_or_default();
    let msg = match e.kind() {
        ErrorKind::UnknownArgument => format!("Parse error: option {what} not recognized"),
        ErrorKind::InvalidValue | ErrorKind::WrongNumberOfValues => {
            format!("Parse error: option {what} requires argument")
        }
        ErrorKind::InvalidUtf8 => "Parse error: an argument is not valid UTF-8".to_string(),
        _ => {
            let first = e.to_string();
            let line = first
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_string();
            format!("Parse error: {}", truncate_for_log(&line))
        }
    };
    FenceError::usage(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> OptionSet {
        OptionSet::pick(&[
            "ip",
            "username",
            "password",
            "plug",
            "ssl_insecure",
            "ipport",
        ])
        .with_argv_alias("ip", "ipaddr")
        .with_argv_alias("plug", "nodename")
    }

    fn argv(words: &[&str]) -> Result<RawInput, FenceError> {
        let v: Vec<OsString> = words.iter().map(OsString::from).collect();
        parse_argv(&v, &set())
    }

    #[test]
    fn stdin_keeps_values_exactly_and_last_wins() {
        let text = b"# comment\n  ip=host\npassword=trailing space \r\nplug=a\nplug=b\nagent=fence_x\nname=dev1\nbogus=1\n";
        let r = parse_stdin(text, &set()).unwrap();
        assert_eq!(r.get("ip"), Some("host"));
        assert_eq!(r.get("password"), Some("trailing space "));
        assert_eq!(r.get("plug"), Some("b"));
        assert_eq!(r.ignored_keys, vec!["bogus".to_string()]);
    }

    #[test]
    fn stdin_drops_surrounding_double_quotes_only() {
        let text = b"ip=\"h\"\npassword=\"a \"b\" \nplug=\"\nusername=\"\"\n";
        let r = parse_stdin(text, &set()).unwrap();
        assert_eq!(r.get("ip"), Some("h"));
        assert_eq!(r.get("password"), Some("\"a \"b\" "));
        assert_eq!(r.get("plug"), Some("\""));
        assert_eq!(r.get("username"), Some(""));
    }

    #[test]
    fn current_name_beats_deprecated_name_in_any_order() {
        for text in [
            &b"plug=mine\nport=node1\n"[..],
            &b"port=node1\nplug=mine\n"[..],
        ] {
            let r = parse_stdin(text, &set()).unwrap();
            assert_eq!(r.get("plug"), Some("mine"));
        }
        let r = parse_stdin(b"ipaddr=a\nipaddr=b\n", &set()).unwrap();
        assert_eq!(r.get("ip"), Some("b"));
    }

    #[test]
    fn stdin_legacy_names() {
        let text = b"option=off\nipaddr=h\nlogin=u\npasswd=p w\nport=vm1\nnodename=n1\n";
        let r = parse_stdin(text, &set()).unwrap();
        assert_eq!(r.get("action"), Some("off"));
        assert_eq!(r.get("ip"), Some("h"));
        assert_eq!(r.get("username"), Some("u"));
        assert_eq!(r.get("password"), Some("p w"));
        assert_eq!(r.get("plug"), Some("vm1"));
        assert_eq!(r.nodename.as_deref(), Some("n1"));
    }

    #[test]
    fn stdin_invalid_utf8_in_known_value_is_named() {
        let e = parse_stdin(b"ip=\xff\xfe\n", &set()).unwrap_err();
        assert_eq!(e.to_string(), "Failed: the value of ip is not valid UTF-8");
        // ... but in an unknown key it is only ignored.
        let r = parse_stdin(b"\xff\xfe=1\nip=h\n", &set()).unwrap();
        assert_eq!(r.get("ip"), Some("h"));
    }

    #[test]
    fn argv_getopt_forms() {
        let r = argv(&[
            "-o", "status", "-a", "h", "-l", "u", "-p", "-dash", "-n", "vm",
        ])
        .unwrap();
        assert_eq!(r.get("action"), Some("status"));
        assert_eq!(r.get("password"), Some("-dash"));
        let r = argv(&[
            "--action=off",
            "--ip",
            "h",
            "-vvv",
            "--ssl-insecure",
            "-ostatus",
        ])
        .unwrap();
        assert_eq!(r.get("action"), Some("status"), "last one wins");
        assert_eq!(r.get("verbose"), Some("3"));
        assert_eq!(r.get("ssl_insecure"), Some("1"));
        let r = argv(&["--ipaddr", "h", "--nodename", "vm", "--power_timeout", "5"]).unwrap();
        assert_eq!(r.get("ip"), Some("h"));
        assert_eq!(r.get("plug"), Some("vm"));
        assert_eq!(r.get("power_timeout"), Some("5"));
    }

    #[test]
    fn action_flags_select_their_action_and_stay_values_after_an_option() {
        let set = set().with_action_flag("man", "manpage");
        let v: Vec<OsString> = ["--man"].iter().map(OsString::from).collect();
        assert_eq!(parse_argv(&v, &set).unwrap().get("action"), Some("manpage"));
        // After -p, "--man" is the password, not the flag.
        let v: Vec<OsString> = ["-p", "--man", "-o", "off"]
            .iter()
            .map(OsString::from)
            .collect();
        let r = parse_argv(&v, &set).unwrap();
        assert_eq!(r.get("password"), Some("--man"));
        assert_eq!(r.get("action"), Some("off"));
    }

    #[test]
    fn argv_errors_are_one_line() {
        let e = argv(&["--bogus"]).unwrap_err();
        assert_eq!(e.to_string(), "Parse error: option --bogus not recognized");
        let e = argv(&["-o"]).unwrap_err();
        assert!(e.to_string().starts_with("Parse error: option"), "{e}");
        assert_eq!(e.to_string().lines().count(), 1);
    }
}
