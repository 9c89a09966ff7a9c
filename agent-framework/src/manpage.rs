//! `--help` and `-o manpage`, generated from the same declarations as the
//! metadata so that the three never disagree.

use crate::agent::AgentSpec;
use crate::options::{OptionSpec, Required, ValueKind};

fn describe(spec: &OptionSpec) -> String {
    let mut d = spec.shortdesc.to_string();
    if let ValueKind::Select(choices) = spec.kind {
        d.push_str(&format!(" ({})", choices.join("|")));
    }
    if let Some(def) = &spec.default {
        d.push_str(&format!(" (Default Value: {def})"));
    }
    d
}

/// `--help`: one line per option, in the registry's order.
pub fn usage(agent: &AgentSpec) -> String {
    let mut s = format!("Usage:\n\t{} [options]\nOptions:\n", agent.name);
    for spec in agent.options.sorted() {
        let mixed = spec.getopt_mixed();
        s.push_str(&format!("   {mixed:<31}{}\n", describe(spec)));
    }
    for (long, action) in agent.options.action_flags() {
        let mixed = format!("--{long}");
        s.push_str(&format!("   {mixed:<31}Same as --action={action}\n"));
    }
    s
}

/// Escape text for roff: backslashes, and a leading dot or quote that
/// roff would take as a request.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    escaped
        .lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn paragraphs(text: &str) -> String {
    text.trim()
        .split("\n\n")
        .map(|p| roff(&p.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect::<Vec<_>>()
        .join("\n.P\n")
}

fn required_note(spec: &OptionSpec) -> &'static str {
    match spec.required {
        Required::Yes => " This parameter is always required.",
        Required::ForPowerActions => {
            " This parameter is required for the on, off, reboot and status actions."
        }
        Required::No => "",
    }
}

/// What an administrator needs to know about how Pacemaker reads `list`.
const PACEMAKER_NOTE: &str = "Map cluster nodes to plugs with pcmk_host_map (node1:plug1;node2:plug2): the fencer then sends the mapped plug as port=.

With pcmk_host_check=dynamic-list, Pacemaker runs the list action and matches node names against its output: it splits the output at blanks, commas and semicolons, keeps of each entry only its leading letters, digits, '_', '.' and '-', and drops lines that contain \"invalid\" or \"variable\". A plug whose name has other characters (a space, '/', non-ASCII) cannot be matched that way: use pcmk_host_map for it.";

/// `-o manpage`: a man(7) page in section 8.
pub fn render(agent: &AgentSpec) -> String {
    let upper = agent.name.to_uppercase();
    let mut s = String::new();
    s.push_str(&format!(
        ".TH {} 8 \"\" \"{} {}\" \"System Manager's Manual\"\n",
        roff(&upper),
        roff(agent.name),
        env!("CARGO_PKG_VERSION")
    ));
    s.push_str(&format!(
        ".SH NAME\n{} \\- {}\n",
        roff(agent.name),
        roff(agent.shortdesc)
    ));
    s.push_str(&format!(
        ".SH SYNOPSIS\n.B {}\n[\\fIOPTIONS\\fR]\n.br\n.B {}\n< \\fIkey=value lines\\fR\n",
        roff(agent.name),
        roff(agent.name)
    ));
    s.push_str(&format!(
        ".SH DESCRIPTION\n{}\n",
        paragraphs(agent.longdesc)
    ));
    s.push_str(&format!(
        ".P\nOptions are read from the command line, or, when there is none, from standard input as \\fIkey=value\\fR lines (the form Pacemaker and fenced use). Lines starting with # are ignored, the last value of a key wins, and unknown keys are ignored. A value is taken exactly as written, blanks included, except that one pair of double quotes around the whole value is removed, as fence-agents does.\n.P\nVendor URL: {}\n",
        roff(agent.vendor_url)
    ));
    for (name, desc) in agent.symlinks {
        s.push_str(&format!(
            ".P\nAlso installed as \\fB{}\\fR: {}\n",
            roff(name),
            roff(desc)
        ));
    }

    s.push_str(".SH PARAMETERS\n");
    for spec in agent.options.sorted() {
        s.push_str(&format!(".TP\n.B {}\n", roff(&spec.getopt_mixed())));
        s.push_str(&roff(&describe(spec)));
        s.push_str(required_note(spec));
        s.push('\n');
        if let Some(long) = &spec.longdesc {
            s.push_str(&format!(".br\n{}\n", paragraphs(long)));
        }
    }

    s.push_str(".SH ACTIONS\n");
    for a in agent.actions() {
        let what = match a.name() {
            "on" => "Power on the target.",
            "off" => "Power off the target, then read its state back until it is off.",
            "reboot" => "Power off (verified), then on. Succeeds once the target is verified off, even if it does not come back on.",
            "status" => "Print the target's state: \\fBStatus: ON\\fR (exit 0) or \\fBStatus: OFF\\fR (exit 2).",
            "list" => "List the targets: \\fIname,alias\\fR lines.",
            "list-status" => "List the targets with their state: \\fIname,alias,ON|OFF|UNKNOWN\\fR lines.",
            "monitor" => "Check that the device answers.",
            "metadata" => "Print the agent's XML metadata.",
            "manpage" => "Print this manual page.",
            _ => "Check the options without contacting the device; exit 0 when valid.",
        };
        s.push_str(&format!(".TP\n.B {}\n{}\n", roff(a.name()), what));
    }

    s.push_str(".SH STDIN PARAMETERS\n");
    for spec in agent.options.sorted() {
        s.push_str(&format!(".TP\n.B {}\n", roff(spec.name)));
        s.push_str(&roff(&describe(spec)));
        s.push_str(required_note(spec));
        if let Some(old) = spec.deprecated {
            s.push_str(&format!(" Obsoletes: {}", roff(old)));
        }
        s.push('\n');
    }

    for section in agent.man_sections {
        s.push_str(&format!(
            ".SH {}\n{}\n",
            roff(&section.title.to_uppercase()),
            paragraphs(section.text)
        ));
    }

    if agent.has_list {
        s.push_str(&format!(".SH PACEMAKER\n{}\n", paragraphs(PACEMAKER_NOTE)));
    }

    s.push_str(".SH EXIT STATUS\n.TP\n.B 0\nSuccess; for \\fBstatus\\fR, the target is on.\n.TP\n.B 1\nFailure. The first line on standard error says what failed (for instance \\fBFailed: Timed out waiting to power OFF\\fR), the next lines why.\n.TP\n.B 2\n\\fBstatus\\fR: the target is off.\n");
    s.push_str(".SH SEE ALSO\n.BR stonith_admin (8),\n.BR pacemaker-fenced (7),\n.BR pcs (8)\n");
    s
}
