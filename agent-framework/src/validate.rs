//! Validation: every value checked against its declared kind, every
//! failure named in one line, defaults applied, and the derived settings
//! (action, plugs, timeouts, verbosity) computed once into a [`Config`].

use std::collections::BTreeMap;

use crate::agent::{AgentSpec, PasswordRule};
use crate::config::{parse_bool, saturating_u32, Action, Config};
use crate::device::Plug;
use crate::error::FenceError;
use crate::input::{RawInput, Source};
use crate::options::{OptionSpec, Required, ValueKind};
use crate::secret::Secret;
use crate::timing::{
    Seconds, Timeouts, DISABLED_LOGIN_CEILING, DISABLED_POWER_CEILING, DISABLED_SHELL_CEILING,
};

/// Show a bad value in a message: quoted, cut short, secrets masked.
fn shown(spec: &OptionSpec, value: &str) -> String {
    if spec.secret {
        return "\"****\"".into();
    }
    let mut v: String = value.chars().take(60).collect();
    if value.chars().count() > 60 {
        v.push_str("...");
    }
    format!("{v:?}")
}

fn check_value(spec: &OptionSpec, value: &str) -> Result<(), FenceError> {
    let name = spec.name;
    let bad = |what: String| {
        FenceError::usage(format!(
            "Failed: {name} must be {what}, got {}",
            shown(spec, value)
        ))
    };
    match spec.kind {
        ValueKind::Text => Ok(()),
        ValueKind::Second => Seconds::parse(value)
            .map(|_| ())
            .ok_or_else(|| bad("a number of seconds".into())),
        ValueKind::Integer { min, max } => match value.trim().parse::<i64>() {
            Ok(n) if n >= min && n <= max => Ok(()),
            _ if max == i64::MAX => Err(bad(format!("an integer of at least {min}"))),
            _ => Err(bad(format!("an integer from {min} to {max}"))),
        },
        ValueKind::Boolean | ValueKind::BooleanValue => parse_bool(value)
            .map(|_| ())
            .ok_or_else(|| bad("a boolean (1/yes/on/true or 0/no/off/false)".into())),
        ValueKind::Counter => {
            if parse_bool(value).is_some() || value.trim().parse::<u32>().is_ok() {
                Ok(())
            } else {
                Err(bad("a boolean or a count".into()))
            }
        }
        ValueKind::Select(choices) => {
            if choices.iter().any(|c| c.eq_ignore_ascii_case(value.trim())) {
                Ok(())
            } else {
                Err(bad(format!("one of {}", choices.join(", "))))
            }
        }
    }
}

/// What a run needs to know of the process around it besides its input:
/// whether Pacemaker's fencer started it (`PCMK_service`), and whether
/// messages also go to syslog. Tests running an agent in-process say no
/// to syslog.
pub struct Environment {
    pub run_by_fencer: bool,
    pub syslog: bool,
}

impl Environment {
    pub fn from_process() -> Environment {
        Environment {
            run_by_fencer: std::env::var("PCMK_service").as_deref() == Ok("pacemaker-fenced"),
            syslog: true,
        }
    }
}

/// The action alone, for the steps that come before full validation
/// (metadata, manpage, help must work with nothing else given).
pub fn action_of(raw: &RawInput, agent: &AgentSpec) -> Result<Action, FenceError> {
    let text = raw
        .get("action")
        .map(str::to_string)
        .or_else(|| {
            agent
                .options
                .get("action")
                .and_then(|s| s.default.as_ref().map(|d| d.to_string()))
        })
        .unwrap_or_else(|| "reboot".to_string());
    match Action::parse(&text) {
        Some(a) if agent.supports(a) => Ok(a),
        _ => {
            let mut v: String = text.chars().take(60).collect();
            if text.chars().count() > 60 {
                v.push_str("...");
            }
            Err(FenceError::usage(format!(
                "Failed: Unrecognised action '{v}'"
            )))
        }
    }
}

/// Check every option and build the Config. Every failure is one line
/// naming the option.
pub fn validate(
    raw: &RawInput,
    agent: &AgentSpec,
    env: &Environment,
) -> Result<Config, FenceError> {
    let action = action_of(raw, agent)?;
    let opts = &agent.options;

    for (name, value) in &raw.values {
        if let Some(spec) = opts.get(name) {
            check_value(spec, value)?;
        }
    }

    let mut values: BTreeMap<&'static str, String> = BTreeMap::new();
    for spec in opts.specs() {
        if let Some(d) = &spec.default {
            values.insert(spec.name, d.to_string());
        }
    }
    let mut given = Vec::new();
    for (name, value) in &raw.values {
        if let Some(spec) = opts.get(name) {
            // A secret lives only in its Secret (below), which never
            // prints: the plain values are shown by the Config's Debug.
            if !spec.secret {
                values.insert(name, value.clone());
            }
            given.push(*name);
        }
    }

    // The plug: `plug`/`port`, or on stdin `nodename` when neither is given.
    let plug_text = values
        .get("plug")
        .cloned()
        .filter(|_| given.contains(&"plug"))
        .or_else(|| raw.nodename.clone().filter(|_| opts.has("plug")));
    let separator = values
        .get("plug_separator")
        .cloned()
        .unwrap_or_else(|| ",".into());
    let plugs: Vec<Plug> = match &plug_text {
        Some(t) if !separator.is_empty() => t
            .split(separator.as_str())
            .filter(|p| !p.is_empty())
            .map(Plug::new)
            .collect(),
        Some(t) if !t.is_empty() => vec![Plug::new(t.clone())],
        _ => Vec::new(),
    };
    if let Some(t) = &plug_text {
        if !t.is_empty() {
            values.insert("plug", t.clone());
        }
    }

    for spec in opts.specs() {
        let present = match spec.name {
            "plug" => !plugs.is_empty(),
            n => given.contains(&n) && !raw.get(n).map(|v| v.is_empty()).unwrap_or(true),
        };
        let needed = match spec.required {
            Required::Yes => true,
            Required::ForPowerActions => action.needs_plug(),
            Required::No => false,
        };
        if needed && !present && spec.name != "action" {
            return Err(FenceError::usage(match spec.name {
                "ip" => "Failed: You have to enter fence address".to_string(),
                "username" => "Failed: You have to set login name".to_string(),
                "plug" => {
                    "Failed: You have to enter plug number or machine identification".to_string()
                }
                other => format!("Failed: You have to set {other}"),
            }));
        }
    }

    let password = raw.get("password").map(|p| Secret::new(p.to_string()));
    let password_script = raw
        .get("password_script")
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string);
    let identity_given = raw
        .get("identity_file")
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    match agent.password {
        PasswordRule::Required => {
            if password.is_none() && password_script.is_none() {
                return Err(FenceError::usage(
                    "Failed: You have to enter password or password script",
                ));
            }
        }
        PasswordRule::RequiredOrIdentity => {
            if password.is_none() && password_script.is_none() && !identity_given {
                return Err(FenceError::usage(
                    "Failed: You have to enter password, password script or identity file",
                ));
            }
        }
        PasswordRule::Optional => {}
    }
    if identity_given {
        if let Some(path) = raw.get("identity_file") {
            if !std::path::Path::new(path).is_file() {
                return Err(FenceError::usage(format!(
                    "Failed: Identity file {path} does not exist"
                )));
            }
        }
    }
    if values.get("inet4_only").and_then(|v| parse_bool(v)) == Some(true)
        && values.get("inet6_only").and_then(|v| parse_bool(v)) == Some(true)
    {
        return Err(FenceError::usage(
            "Failed: inet4_only and inet6_only cannot both be set",
        ));
    }

    let secs = |name: &str| -> Seconds {
        values
            .get(name)
            .and_then(|v| Seconds::parse(v))
            .unwrap_or(Seconds(0))
    };
    let disabled = match raw.get("disable_timeout") {
        Some(v) => parse_bool(v).unwrap_or(false),
        None => env.run_by_fencer,
    };
    let timeouts = if disabled {
        Timeouts {
            login: DISABLED_LOGIN_CEILING,
            shell: DISABLED_SHELL_CEILING,
            power: DISABLED_POWER_CEILING,
            status_sleep: secs("stonith_status_sleep").duration(),
            power_wait: secs("power_wait").duration(),
        }
    } else {
        Timeouts {
            login: secs("login_timeout").duration(),
            shell: secs("shell_timeout").duration(),
            // fence-agents takes power_timeout=0 as "no limit" (its
            // disable_timeout sets it so); bounded here like the rest.
            power: match secs("power_timeout") {
                Seconds(0) => DISABLED_POWER_CEILING,
                s => s.duration(),
            },
            status_sleep: secs("stonith_status_sleep").duration(),
            power_wait: secs("power_wait").duration(),
        }
    };

    let verbose_count: u32 = match raw.get("verbose") {
        None => 0,
        Some(v) => match (raw.source, parse_bool(v)) {
            (_, Some(true)) if v.trim().parse::<u32>().is_err() => 1,
            (Source::Argv, _) => v.trim().parse().unwrap_or(1),
            (Source::Stdin, Some(b)) => u32::from(b),
            (Source::Stdin, None) => v.trim().parse().unwrap_or(1),
        },
    };
    let verbose_level = match raw.get("verbose_level") {
        Some(v) => saturating_u32(v).unwrap_or(0),
        None => verbose_count,
    };

    let method_cycle = values
        .get("method")
        .map(|m| m.trim().eq_ignore_ascii_case("cycle"))
        .unwrap_or(false);

    let config = Config {
        action,
        source: raw.source,
        separator: values
            .get("separator")
            .cloned()
            .unwrap_or_else(|| ",".into()),
        retry_on: values
            .get("retry_on")
            .and_then(|v| saturating_u32(v))
            .unwrap_or(1),
        delay: secs("delay"),
        quiet: values
            .get("quiet")
            .and_then(|v| parse_bool(v))
            .unwrap_or(false),
        debug_file: values.get("debug_file").cloned().filter(|s| !s.is_empty()),
        values,
        given,
        plugs,
        password,
        password_script,
        timeouts,
        timeouts_disabled: disabled,
        verbose_level,
        cycle: method_cycle,
    };
    (agent.validate)(&config)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input;
    use crate::testing::{agent, config};
    use std::time::Duration;

    fn refused(lines: &str) -> String {
        match config(&agent(), lines) {
            Err(e) => {
                assert!(matches!(e, FenceError::Usage(_)), "{e:?}");
                assert_eq!(e.message_lines().len(), 1, "{e:?}");
                e.to_string()
            }
            Ok(c) => panic!("{lines:?} was accepted: {c:?}"),
        }
    }

    #[test]
    fn each_kind_of_value_is_checked_and_named() {
        for (line, want) in [
            ("power_timeout=abc", "Failed: power_timeout must be a number of seconds, got \"abc\""),
            ("delay=-1", "Failed: delay must be a number of seconds, got \"-1\""),
            ("shell_timeout=1.5", "Failed: shell_timeout must be a number of seconds, got \"1.5\""),
            ("ipport=0", "Failed: ipport must be an integer from 1 to 65535, got \"0\""),
            ("ipport=65536", "Failed: ipport must be an integer from 1 to 65535, got \"65536\""),
            ("retry_on=-2", "Failed: retry_on must be an integer of at least 0, got \"-2\""),
            ("method=bogus", "Failed: method must be one of onoff, cycle, got \"bogus\""),
            (
                "ssl_insecure=maybe",
                "Failed: ssl_insecure must be a boolean (1/yes/on/true or 0/no/off/false), got \"maybe\"",
            ),
            ("verbose=lots", "Failed: verbose must be a boolean or a count, got \"lots\""),
        ] {
            assert_eq!(refused(&format!("action=status\nplug=p\n{line}\n")), want, "{line}");
        }
        // A long value is cut in the message.
        let long = "x".repeat(500);
        let msg = refused(&format!("action=status\nplug=p\nmethod={long}\n"));
        assert!(msg.len() < 150 && msg.contains("..."), "{msg}");
    }

    #[test]
    fn a_secret_value_is_never_shown() {
        let agent = AgentSpec {
            options: agent()
                .options
                .with_kind("password", ValueKind::Integer { min: 0, max: 9 }),
            ..agent()
        };
        let raw = input::parse_stdin(
            b"ip=h\naction=status\nplug=p\npassword=hunter22\n",
            &agent.options,
        )
        .unwrap();
        let e = validate(&raw, &agent, &crate::testing::environment()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Failed: password must be an integer from 0 to 9, got \"****\""
        );
    }

    /// Found by the stdin_input fuzz target: the Config kept the password's
    /// text among its plain values, and its Debug form showed it.
    #[test]
    fn a_config_never_shows_the_password() {
        let c = config(&agent(), "action=status\nplug=p\npassword=hunter22 pw\n").unwrap();
        assert_eq!(c.password().map(|p| p.expose()), Some("hunter22 pw"));
        assert!(c.is_given("password"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter22"), "{shown}");
    }

    #[test]
    fn required_options_with_fence_agents_words() {
        let a = agent();
        let raw = input::parse_stdin(b"action=status\nplug=p\n", &a.options).unwrap();
        assert_eq!(
            validate(&raw, &a, &crate::testing::environment())
                .unwrap_err()
                .to_string(),
            "Failed: You have to enter fence address"
        );
        for action in ["on", "off", "reboot", "status"] {
            assert_eq!(
                refused(&format!("action={action}\n")),
                "Failed: You have to enter plug number or machine identification"
            );
        }
        // list and monitor need no plug; an empty plug is no plug.
        for action in ["list", "list-status", "monitor", "validate-all"] {
            assert!(
                config(&agent(), &format!("action={action}\n")).is_ok(),
                "{action}"
            );
        }
        assert_eq!(
            refused("action=off\nplug=\n"),
            "Failed: You have to enter plug number or machine identification"
        );
        let with_login = AgentSpec {
            options: agent().options.with_required("username", Required::Yes),
            ..agent()
        };
        let raw = input::parse_stdin(b"ip=h\naction=list\n", &with_login.options).unwrap();
        assert_eq!(
            validate(&raw, &with_login, &crate::testing::environment())
                .unwrap_err()
                .to_string(),
            "Failed: You have to set login name"
        );
    }

    #[test]
    fn password_rules() {
        let check = |rule, lines: &str| {
            let a = AgentSpec {
                password: rule,
                ..agent()
            };
            config(&a, lines).map(|_| ()).map_err(|e| e.to_string())
        };
        let base = "action=list\n";
        assert_eq!(
            check(PasswordRule::Required, base),
            Err("Failed: You have to enter password or password script".into())
        );
        assert_eq!(
            check(PasswordRule::Required, "action=list\npassword=x\n"),
            Ok(())
        );
        assert_eq!(
            check(
                PasswordRule::Required,
                "action=list\npassword_script=echo x\n"
            ),
            Ok(())
        );
        // A blank script is no script.
        assert!(check(PasswordRule::Required, "action=list\npassword_script= \n").is_err());
        assert_eq!(
            check(PasswordRule::RequiredOrIdentity, base),
            Err("Failed: You have to enter password, password script or identity file".into())
        );
        assert_eq!(
            check(
                PasswordRule::RequiredOrIdentity,
                "action=list\nidentity_file=/nonexistent/key\n"
            ),
            Err("Failed: Identity file /nonexistent/key does not exist".into())
        );
        assert_eq!(check(PasswordRule::Optional, base), Ok(()));
        // Validation never runs the script.
        let c = config(&agent(), "action=list\npassword_script=echo x\n").unwrap();
        assert!(c.password().is_none());
    }

    #[test]
    fn contradictions() {
        assert_eq!(
            refused("action=list\ninet4_only=1\ninet6_only=yes\n"),
            "Failed: inet4_only and inet6_only cannot both be set"
        );
        assert!(config(&agent(), "action=list\ninet4_only=1\ninet6_only=0\n").is_ok());
    }

    #[test]
    fn plugs_are_split_by_plug_separator_and_nodename_is_the_fallback() {
        let plugs = |lines: &str| -> Vec<String> {
            config(&agent(), lines)
                .unwrap()
                .plugs
                .iter()
                .map(|p| p.as_str().to_string())
                .collect()
        };
        assert_eq!(plugs("action=off\nplug=a,b,,c\n"), ["a", "b", "c"]);
        assert_eq!(
            plugs("action=off\nplug=a+b,c\nplug_separator=+\n"),
            ["a", "b,c"]
        );
        assert_eq!(plugs("action=off\nplug=a,b\nplug_separator=\n"), ["a,b"]);
        assert_eq!(
            plugs("action=off\nplug=web server 01 \n"),
            ["web server 01 "]
        );
        assert_eq!(plugs("action=off\nnodename=n1\n"), ["n1"]);
        assert_eq!(plugs("action=off\nnodename=n1\nport=p\n"), ["p"]);
        assert_eq!(plugs("action=off\nplug=p\nnodename=n1\n"), ["p"]);
    }

    #[test]
    fn timeouts_and_disable_timeout() {
        let c = config(
            &agent(),
            "action=off\nplug=p\npower_timeout=7\nshell_timeout=2\nlogin_timeout=4\n",
        )
        .unwrap();
        assert_eq!(
            (c.timeouts.power, c.timeouts.shell, c.timeouts.login),
            (
                Duration::from_secs(7),
                Duration::from_secs(2),
                Duration::from_secs(4)
            )
        );
        assert!(!c.timeouts_disabled);
        // fence-agents' "no limit" is the ceiling here.
        let c = config(&agent(), "action=off\nplug=p\npower_timeout=0\n").unwrap();
        assert_eq!(c.timeouts.power, DISABLED_POWER_CEILING);
        // Under the fencer disable_timeout is the default, and bounded.
        let a = agent();
        let raw =
            input::parse_stdin(b"ip=h\naction=off\nplug=p\npower_timeout=1\n", &a.options).unwrap();
        let fencer = Environment {
            run_by_fencer: true,
            syslog: false,
        };
        let c = validate(&raw, &a, &fencer).unwrap();
        assert!(c.timeouts_disabled);
        assert_eq!(
            (c.timeouts.power, c.timeouts.shell, c.timeouts.login),
            (
                DISABLED_POWER_CEILING,
                DISABLED_SHELL_CEILING,
                DISABLED_LOGIN_CEILING
            )
        );
        let raw = input::parse_stdin(
            b"ip=h\naction=off\nplug=p\npower_timeout=1\ndisable_timeout=false\n",
            &a.options,
        )
        .unwrap();
        let c = validate(&raw, &a, &fencer).unwrap();
        assert_eq!(c.timeouts.power, Duration::from_secs(1));
        let c = config(
            &agent(),
            "action=off\nplug=p\npower_timeout=1\ndisable_timeout=true\n",
        )
        .unwrap();
        assert_eq!(c.timeouts.power, DISABLED_POWER_CEILING);
    }

    #[test]
    fn counts_and_levels() {
        let c = |lines: &str| config(&agent(), &format!("action=list\n{lines}")).unwrap();
        assert_eq!(c("").retry_on, 1);
        assert_eq!(c("retry_on=0\n").retry_on, 0);
        assert_eq!(c("retry_on=99999999999999\n").retry_on, u32::MAX);
        assert_eq!(c("verbose=1\n").verbose_level, 1);
        assert_eq!(c("verbose=yes\n").verbose_level, 1);
        assert_eq!(c("verbose=0\n").verbose_level, 0);
        assert_eq!(c("verbose=1\nverbose_level=3\n").verbose_level, 3);
        let a = agent();
        let raw = input::parse_argv(
            &["-a", "h", "-vvv", "-o", "list"].map(OsStringFrom::from),
            &a.options,
        )
        .unwrap();
        assert_eq!(
            validate(&raw, &a, &crate::testing::environment())
                .unwrap()
                .verbose_level,
            3
        );
        assert!(c("method=CYCLE\n").cycle);
        assert_eq!(c("separator=;\n").separator, ";");
        assert_eq!(c("delay=3\n").delay, Seconds(3));
    }

    type OsStringFrom = std::ffi::OsString;

    #[test]
    fn actions_by_name() {
        let action = |lines: &str| config(&agent(), &format!("plug=p\n{lines}")).map(|c| c.action);
        assert_eq!(action("").unwrap(), Action::Reboot, "the default");
        assert_eq!(action("action=ENABLE\n").unwrap(), Action::On);
        assert_eq!(action("action=disable\n").unwrap(), Action::Off);
        assert_eq!(action("option=meta-data\n").unwrap(), Action::Metadata);
        assert_eq!(
            action("action=frobnicate\n").unwrap_err().to_string(),
            "Failed: Unrecognised action 'frobnicate'"
        );
        let no_list = AgentSpec {
            has_list: false,
            ..agent()
        };
        assert_eq!(
            config(&no_list, "action=list\n").unwrap_err().to_string(),
            "Failed: Unrecognised action 'list'"
        );
    }

    #[test]
    fn the_agents_own_checks_run_last() {
        fn refuse_ipport(cfg: &Config) -> Result<(), FenceError> {
            match cfg.is_given("ipport") {
                true => Err(FenceError::usage("Failed: ipport is not for this agent")),
                false => Ok(()),
            }
        }
        let a = AgentSpec {
            validate: refuse_ipport,
            ..agent()
        };
        assert_eq!(
            config(&a, "action=list\nipport=22\n")
                .unwrap_err()
                .to_string(),
            "Failed: ipport is not for this agent"
        );
        // A bad value is reported before the agent is asked.
        assert_eq!(
            config(&a, "action=list\nipport=0\n")
                .unwrap_err()
                .to_string(),
            "Failed: ipport must be an integer from 1 to 65535, got \"0\""
        );
        assert!(config(&a, "action=list\n").is_ok());
    }
}
