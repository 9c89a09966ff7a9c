//! Reading options: from argv when there are arguments, else from stdin as
//! `key=value` lines (FenceAgentAPI, what Pacemaker and cman's fenced send).
//!
//! This stage only collects text per canonical option name; checking the
//! values is [`crate::validate`]'s job, so that both sources are validated
//! by one code path.
//!
//! argv is read by a small getopt of our own over the option registry, not
//! by an argument-parsing library. fence-agents uses Python's gnu_getopt,
//! and what has to match is its behaviour, not a library's: its one-line
//! "Parse error" messages, options and words in any order, values that
//! start with `-` (`-p -secret-`), no help or version of the library's
//! own, long forms with `_` or `-` alike. With clap all of that was
//! switched off or rewritten after the fact; the getopt below is shorter
//! than that configuration was, and has no behaviour we did not choose.
//!
//! The forms: `-o status`, `-ostatus`, `-o=status` (the `=` dropped, as
//! before), combined flags `-vvv` and `-vvvo status`, `--action=status`,
//! `--action status`, `--` ending the options, the last occurrence of an
//! option winning. Long options are not abbreviated (gnu_getopt allows
//! `--act`; this agent never did).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

use crate::error::FenceError;
use crate::options::{OptionSet, OptionSpec, ValueKind};

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

/// What an argv option stands for.
#[derive(Clone, Copy)]
enum ArgvTarget<'a> {
    Option(&'a OptionSpec),
    /// `--man`: sets the action.
    ActionFlag(&'static str),
}

impl ArgvTarget<'_> {
    fn takes_value(self) -> bool {
        match self {
            ArgvTarget::Option(spec) => spec.kind.takes_value(),
            ArgvTarget::ActionFlag(_) => false,
        }
    }
}

/// The option a long form names: its long name, an alias, or the long
/// name with `_` for `-` and the other way round (administrators type
/// both; fence-agents accepts both on stdin).
fn long_target<'a>(options: &'a OptionSet, name: &str) -> Option<ArgvTarget<'a>> {
    let swapped = |long: &str| {
        if long.contains('-') {
            long.replace('-', "_")
        } else {
            long.replace('_', "-")
        }
    };
    options
        .specs()
        .iter()
        .find(|s| s.long == name || s.argv_aliases.contains(&name) || swapped(s.long) == name)
        .map(ArgvTarget::Option)
        .or_else(|| {
            options
                .action_flags()
                .iter()
                .find(|(long, _)| *long == name)
                .map(|(_, action)| ArgvTarget::ActionFlag(action))
        })
}

fn short_target(options: &OptionSet, c: char) -> Option<ArgvTarget<'_>> {
    options
        .specs()
        .iter()
        .find(|s| s.short == Some(c))
        .map(ArgvTarget::Option)
}

fn not_recognized(shown: &str) -> FenceError {
    FenceError::usage(format!(
        "Parse error: option {} not recognized",
        truncate_for_log(shown)
    ))
}

fn requires_argument(shown: &str) -> FenceError {
    FenceError::usage(format!("Parse error: option {shown} requires argument"))
}

/// Parse argv (without the program name); see the module's header for
/// the forms.
pub fn parse_argv(args: &[OsString], options: &OptionSet) -> Result<RawInput, FenceError> {
    let mut input = RawInput::new(Source::Argv);
    let mut counts: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut set = |input: &mut RawInput, target: ArgvTarget<'_>, value: Option<&OsStr>| {
        let spec = match target {
            ArgvTarget::ActionFlag(action) => {
                input.values.insert("action", action.to_string());
                return Ok(());
            }
            ArgvTarget::Option(spec) => spec,
        };
        match (spec.kind, value) {
            (ValueKind::Counter, _) => {
                let n = counts.entry(spec.name).or_insert(0);
                *n = n.saturating_add(1);
                input.values.insert(spec.name, n.to_string());
            }
            (ValueKind::Boolean, _) => {
                input.values.insert(spec.name, "1".into());
            }
            (_, value) => {
                let text = value.unwrap_or_default().to_str().ok_or_else(|| {
                    FenceError::usage(format!(
                        "Failed: the value of --{} is not valid UTF-8",
                        spec.long
                    ))
                })?;
                input.values.insert(spec.name, text.to_string());
            }
        }
        Ok::<(), FenceError>(())
    };

    let mut words = args.iter();
    while let Some(word) = words.next() {
        let bytes = word.as_bytes();
        if bytes == b"--" {
            input
                .leftover_args
                .extend(words.by_ref().map(|w| w.to_string_lossy().into_owned()));
            break;
        }
        if let Some(body) = bytes.strip_prefix(b"--") {
            let (name, inline) = match body.iter().position(|b| *b == b'=') {
                Some(eq) => (&body[..eq], Some(OsStr::from_bytes(&body[eq + 1..]))),
                None => (body, None),
            };
            let name = String::from_utf8_lossy(name);
            let shown = format!("--{name}");
            let target = long_target(options, &name).ok_or_else(|| not_recognized(&shown))?;
            if !target.takes_value() {
                if inline.is_some() {
                    return Err(FenceError::usage(format!(
                        "Parse error: option {shown} must not have an argument"
                    )));
                }
                set(&mut input, target, None)?;
                continue;
            }
            let value = match inline {
                Some(v) => v,
                None => words.next().ok_or_else(|| requires_argument(&shown))?,
            };
            set(&mut input, target, Some(value))?;
            continue;
        }
        let Some(cluster) = bytes.strip_prefix(b"-").filter(|c| !c.is_empty()) else {
            input
                .leftover_args
                .push(word.to_string_lossy().into_owned());
            continue;
        };
        // Short options, possibly several in one word; the first that
        // takes a value takes the rest of the word, or the next word.
        let text = String::from_utf8_lossy(cluster);
        for (at, c) in text.char_indices() {
            let shown = format!("-{c}");
            let target = short_target(options, c).ok_or_else(|| not_recognized(&shown))?;
            if !target.takes_value() {
                set(&mut input, target, None)?;
                continue;
            }
            // Bytes, not the lossy text: a value is checked for UTF-8
            // where it is stored, with the option named. (Up to here the
            // text and the bytes agree: a byte that is not UTF-8 reads as
            // U+FFFD, which is no option, and has failed above.)
            let rest = &cluster[at + c.len_utf8()..];
            let value = match rest.strip_prefix(b"=") {
                Some(after_eq) => OsStr::from_bytes(after_eq),
                None if rest.is_empty() => words.next().ok_or_else(|| requires_argument(&shown))?,
                None => OsStr::from_bytes(rest),
            };
            set(&mut input, target, Some(value))?;
            break;
        }
    }
    Ok(input)
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

    /// Every form argv may take.
    #[test]
    fn argv_forms_table() {
        let set = OptionSet::pick(&[
            "ip",
            "username",
            "password",
            "plug",
            "ssl_insecure",
            "ssh",
            "inet4_only",
        ])
        .with_action_flag("man", "manpage");
        /// argv, the values it gives, the words left over.
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: &[Case] = &[
            (&["-o", "status"], &[("action", "status")], &[]),
            (&["-ostatus"], &[("action", "status")], &[]),
            (&["-o=status"], &[("action", "status")], &[]),
            (&["-o="], &[("action", "")], &[]),
            (&["--action=status"], &[("action", "status")], &[]),
            (&["--action", "status"], &[("action", "status")], &[]),
            (
                &["-vvvostatus"],
                &[("action", "status"), ("verbose", "3")],
                &[],
            ),
            (
                &["-vvvo", "status"],
                &[("action", "status"), ("verbose", "3")],
                &[],
            ),
            (&["-vv", "-v", "--verbose"], &[("verbose", "4")], &[]),
            (&["-xo", "off"], &[("action", "off"), ("ssh", "1")], &[]),
            (&["-x4"], &[("inet4_only", "1"), ("ssh", "1")], &[]),
            (&["-hV"], &[("help", "1"), ("version", "1")], &[]),
            (
                &["--ssl_insecure", "--inet4-only"],
                &[("inet4_only", "1"), ("ssl_insecure", "1")],
                &[],
            ),
            (&["-p", "-dash"], &[("password", "-dash")], &[]),
            (&["-p-dash"], &[("password", "-dash")], &[]),
            (&["--password", "--man"], &[("password", "--man")], &[]),
            (&["-o", "-n"], &[("action", "-n")], &[]),
            (&["-lv"], &[("username", "v")], &[]),
            (&["--ip=a=b"], &[("ip", "a=b")], &[]),
            (&["--plug="], &[("plug", "")], &[]),
            (&["-n", ""], &[("plug", "")], &[]),
            (
                &["--power_timeout", "5", "--retry-on=3"],
                &[("power_timeout", "5"), ("retry_on", "3")],
                &[],
            ),
            (&["--man"], &[("action", "manpage")], &[]),
            (&["-o", "a", "-o", "b"], &[("action", "b")], &[]),
            (&["-a", "b", "c", "d"], &[("ip", "b")], &["c", "d"]),
            (&["stray", "-o", "on"], &[("action", "on")], &["stray"]),
            (&["-"], &[], &["-"]),
            (&["--"], &[], &[]),
            (
                &["-o", "on", "--", "--bogus", "-x"],
                &[("action", "on")],
                &["--bogus", "-x"],
            ),
        ];
        for (args, values, leftover) in cases {
            let v: Vec<OsString> = args.iter().map(OsString::from).collect();
            let r = parse_argv(&v, &set).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let got: Vec<(&str, &str)> = r.values.iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert_eq!(got, *values, "{args:?}");
            assert_eq!(r.leftover_args, *leftover, "{args:?}");
        }
    }

    /// The messages of Python's getopt, which fence-agents prints.
    #[test]
    fn argv_errors_word_like_getopt() {
        let set = set().with_action_flag("man", "manpage");
        let cases: &[(&[&str], &str)] = &[
            (&["-o"], "Parse error: option -o requires argument"),
            (&["-vo"], "Parse error: option -o requires argument"),
            (
                &["--action"],
                "Parse error: option --action requires argument",
            ),
            (
                &["--ssl-insecure=1"],
                "Parse error: option --ssl-insecure must not have an argument",
            ),
            (
                &["--verbose=2"],
                "Parse error: option --verbose must not have an argument",
            ),
            (
                &["--man=1"],
                "Parse error: option --man must not have an argument",
            ),
            (&["--bogus=1"], "Parse error: option --bogus not recognized"),
            (&["-Z"], "Parse error: option -Z not recognized"),
            (&["-vZ"], "Parse error: option -Z not recognized"),
            (&["--act=on"], "Parse error: option --act not recognized"),
            (&["--=x"], "Parse error: option -- not recognized"),
        ];
        for (args, want) in cases {
            let v: Vec<OsString> = args.iter().map(OsString::from).collect();
            match parse_argv(&v, &set) {
                Err(e) => assert_eq!(e.to_string(), *want, "{args:?}"),
                Ok(r) => panic!("{args:?} parsed: {:?}", r.values),
            }
        }
    }

    #[test]
    fn argv_bytes_that_are_not_utf8() {
        use std::os::unix::ffi::OsStringExt;
        let parse = |words: &[&[u8]]| {
            let v: Vec<OsString> = words
                .iter()
                .map(|w| OsString::from_vec(w.to_vec()))
                .collect();
            parse_argv(&v, &set())
        };
        for words in [&[&b"-n"[..], b"\xff"][..], &[b"--plug=\xff"], &[b"-n\xff"]] {
            assert_eq!(
                parse(words).unwrap_err().to_string(),
                "Failed: the value of --plug is not valid UTF-8"
            );
        }
        assert_eq!(
            parse(&[b"-\xff"]).unwrap_err().to_string(),
            "Parse error: option -\u{fffd} not recognized"
        );
        assert_eq!(parse(&[b"\xff"]).unwrap().leftover_args, ["\u{fffd}"]);
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
