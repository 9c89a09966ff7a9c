//! `-o metadata`: the agent described in fence-agents' XML shape, which
//! Pacemaker, pcs and fence-agents' RelaxNG schema read.

use xmlwriter::{Indent, Options, XmlWriter};

use crate::agent::AgentSpec;
use crate::config::Action;
use crate::options::{OptionSpec, Required, ValueKind};
use crate::xml_escape::{attribute as attr, text};

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

/// An element holding only text, written inline (`<shortdesc
/// lang="en">text</shortdesc>`): indentation inside it would become part
/// of the text that pcs shows.
fn text_element(w: &mut XmlWriter, name: &str, attrs: &[(&str, &str)], content: &str) {
    w.start_element(name);
    for (k, v) in attrs {
        w.write_attribute(k, &attr(v));
    }
    w.set_preserve_whitespaces(true);
    w.write_text(&text(content));
    w.end_element();
    w.set_preserve_whitespaces(false);
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
    w.write_attribute("shortdesc", &attr(agent.shortdesc));
    for (name, desc) in agent.symlinks {
        w.start_element("symlink");
        w.write_attribute("name", name);
        w.write_attribute("shortdesc", &attr(desc));
        w.end_element();
    }
    text_element(&mut w, "longdesc", &[], agent.longdesc.trim());
    text_element(&mut w, "vendor-url", &[], agent.vendor_url);

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
        w.write_attribute("mixed", &attr(&spec.getopt_mixed()));
        w.end_element();
        w.start_element("content");
        w.write_attribute("type", spec.kind.metadata_type());
        if let Some(d) = &spec.default {
            w.write_attribute("default", &attr(d));
        }
        if let ValueKind::Select(choices) = spec.kind {
            for c in choices {
                w.start_element("option");
                w.write_attribute("value", &attr(c));
                w.end_element();
            }
        }
        w.end_element();
        text_element(&mut w, "shortdesc", &[("lang", "en")], &spec.shortdesc);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{no_extra_validation, PasswordRule};
    use crate::options::OptionSet;

    fn connect(
        _: &crate::config::Config,
        _: crate::timing::Deadline,
    ) -> Result<Box<dyn crate::device::Device>, crate::error::FenceError> {
        Err(crate::error::FenceError::Device("none".into()))
    }

    #[test]
    fn metacharacters_survive_and_text_is_inline() {
        const NASTY: &str = "a & b < c > d \" e ' f";
        let nasty = NASTY;
        let agent = AgentSpec {
            name: "fence_x",
            shortdesc: nasty,
            longdesc: nasty,
            vendor_url: "https://example.org/?a=1&b=2",
            symlinks: &[("fence_y", NASTY)],
            options: OptionSet::pick(&["ip"]).with_shortdesc("ip", nasty),
            password: PasswordRule::Optional,
            has_list: false,
            validate: no_extra_validation,
            connect,
            man_sections: &[],
        };
        let xml = render(&agent);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let root = doc.root_element();
        assert_eq!(root.attribute("shortdesc"), Some(nasty));
        let longdesc = root
            .children()
            .find(|n| n.has_tag_name("longdesc"))
            .unwrap();
        assert_eq!(longdesc.text(), Some(nasty));
        let ip = root
            .descendants()
            .find(|n| n.has_tag_name("parameter") && n.attribute("name") == Some("ip"))
            .unwrap();
        let sd = ip.children().find(|n| n.has_tag_name("shortdesc")).unwrap();
        assert_eq!(sd.text(), Some(nasty), "no indentation inside the text");
        assert!(
            xml.contains("<shortdesc lang=\"en\">Fencing action</shortdesc>"),
            "{xml}"
        );
        // No list actions for an agent without list.
        assert!(!xml.contains("\"list\""));
    }
}
