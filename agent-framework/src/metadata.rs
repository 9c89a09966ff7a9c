//! `-o metadata`: the agent described in fence-agents' XML shape, which
//! Pacemaker, pcs and fence-agents' RelaxNG schema read.

use xmlwriter::{Indent, Options, XmlWriter};

use crate::agent::AgentSpec;
use crate::config::Action;
use crate::options::{OptionSpec, Required, ValueKind};

/// One `<parameter>` entry: an option under its canonical name, or under
/// its deprecated name.
struct Entry<'a> {
    name: &'static str,
    spec: &'a OptionSpec,
    deprecated_entry: bool,
}

fn entries(agent: &AgentSpec) -> Vec<Entry<'_>> {
    let mut v = Vec::new();
    for spec in agent.options.specs() {
        v.push(Entry {
            name: spec.name,
            spec,
            deprecated_entry: false,
        });
        if let Some(old) = spec.deprecated {
            v.push(Entry {
                name: old,
                spec,
                deprecated_entry: true,
            });
        }
    }
    // fence-agents sorts by (order, name), which interleaves the old and
    // new names alphabetically; consumers do not care, but diffs against
    // fence-agents' metadata are easier to read in the same order.
    v.sort_by(|a, b| (a.spec.order, a.name).cmp(&(b.spec.order, b.name)));
    v
}

fn required_attr(spec: &OptionSpec) -> &'static str {
    match spec.required {
        Required::Yes | Required::ForPowerActions => "1",
        Required::No => "0",
    }
}

pub fn render(agent: &AgentSpec) -> String {
    let mut w = XmlWriter::new(Options {
        use_single_quote: false,
        indent: Indent::Tabs,
        attributes_indent: Indent::None,
    });
    w.write_declaration();
    w.start_element("resource-agent");
    w.write_attribute("name", agent.name);
    w.write_attribute("shortdesc", agent.shortdesc);
    for (name, desc) in agent.symlinks {
        w.start_element("symlink");
        w.write_attribute("name", name);
        w.write_attribute("shortdesc", desc);
        w.end_element();
    }
    w.start_element("longdesc");
    w.write_text(agent.longdesc.trim());
    w.end_element();
    w.start_element("vendor-url");
    w.write_text(agent.vendor_url);
    w.end_element();

    w.start_element("parameters");
    for e in entries(agent) {
        let spec = e.spec;
        w.start_element("parameter");
        w.write_attribute("name", e.name);
        w.write_attribute("unique", "0");
        w.write_attribute("required", required_attr(spec));
        if e.deprecated_entry {
            w.write_attribute("deprecated", "1");
        } else if let Some(old) = spec.deprecated {
            w.write_attribute("obsoletes", old);
        }
        w.start_element("getopt");
        w.write_attribute("mixed", &spec.getopt_mixed());
        w.end_element();
        w.start_element("content");
        w.write_attribute("type", spec.kind.metadata_type());
        if let Some(d) = &spec.default {
            w.write_attribute("default", d.as_ref());
        }
        if let ValueKind::Select(choices) = spec.kind {
            for c in choices {
                w.start_element("option");
                w.write_attribute("value", c);
                w.end_element();
            }
        }
        w.end_element();
        w.start_element("shortdesc");
        w.write_attribute("lang", "en");
        w.write_text(&spec.shortdesc);
        w.end_element();
        w.end_element();
    }
    w.end_element();

    w.start_element("actions");
    for a in agent.actions() {
        w.start_element("action");
        w.write_attribute("name", a.name());
        if a == Action::On {
            // "on" is not run automatically at start-up (no unfencing).
            w.write_attribute("automatic", "0");
        }
        w.end_element();
    }
    w.end_element();
    w.end_element();
    let mut s = w.end_document();
    s.push('\n');
    s
}
