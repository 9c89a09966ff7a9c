//! Escaping text for XML, for every writer in the project (metadata, SOAP
//! envelopes).
//!
//! `xmlwriter` 0.1 escapes only `<` in text and only the quote character
//! in attribute values; a `&` it passes through turns `a & b` into a
//! document no parser accepts. Values go through these functions first;
//! xmlwriter then finds nothing left to escape.

use std::borrow::Cow;

/// Whether `text` can be carried by an XML 1.0 document at all: no
/// control characters other than tab, newline and carriage return (XML
/// 1.0, production 2 `Char`). No escape can represent the others.
pub fn is_representable(text: &str) -> bool {
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
}

fn escape(text: &str, in_attribute: bool) -> Cow<'_, str> {
    let needs = |c: char| {
        matches!(c, '&' | '<' | '>') || (in_attribute && matches!(c, '"' | '\n' | '\r' | '\t'))
    };
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // In an attribute value a parser turns a literal newline or tab
            // into a space (XML 1.0, 3.3.3 attribute-value normalization);
            // a character reference survives.
            '"' if in_attribute => out.push_str("&quot;"),
            '\n' if in_attribute => out.push_str("&#10;"),
            '\r' if in_attribute => out.push_str("&#13;"),
            '\t' if in_attribute => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `text` ready for an element's content.
pub fn text(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// `value` ready for a double-quoted attribute value.
pub fn attribute(value: &str) -> Cow<'_, str> {
    escape(value, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed_text(xml_text: &str) -> String {
        let doc = format!("<a>{xml_text}</a>");
        roxmltree::Document::parse(&doc)
            .expect("well-formed")
            .root_element()
            .text()
            .unwrap_or("")
            .to_string()
    }

    fn parsed_attribute(xml_value: &str) -> String {
        let doc = format!("<a v=\"{xml_value}\"/>");
        roxmltree::Document::parse(&doc)
            .expect("well-formed")
            .root_element()
            .attribute("v")
            .unwrap_or("")
            .to_string()
    }

    const NASTY: &str = "a & b < c > d \" e ' f ]]> &amp; &#38;";

    #[test]
    fn text_survives_a_parser_unchanged() {
        assert_eq!(parsed_text(&text(NASTY)), NASTY);
        assert_eq!(parsed_text(&text("line\nbreak\ttab")), "line\nbreak\ttab");
    }

    #[test]
    fn attributes_survive_a_parser_unchanged_even_whitespace() {
        assert_eq!(parsed_attribute(&attribute(NASTY)), NASTY);
        assert_eq!(
            parsed_attribute(&attribute("line\nbreak\ttab\r")),
            "line\nbreak\ttab\r"
        );
    }

    #[test]
    fn plain_text_is_not_copied() {
        assert!(matches!(text("plain ünï"), Cow::Borrowed(_)));
        assert!(matches!(attribute("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn control_characters_cannot_be_represented() {
        assert!(is_representable("web server 01 ünï\t\n\r"));
        assert!(!is_representable("a\u{1}b"));
        assert!(!is_representable("\u{7f}"));
    }
}
