//! vSphere SOAP replies (vsphere_soap's reply reader and every parser of
//! its parse module), and vCenter's escaping of names (vsphere_core).
//!
//! What must hold of a reply, whatever the server sends:
//! - the reader's limits: no tree deeper than `elem::MAX_DEPTH`, nothing
//!   read from a reply over `MAX_REPLY_BYTES`;
//! - the two readers of a names page agree: the streaming one
//!   (`names_page`, used to find a VM by name) and the tree one
//!   (`retrieve_result`, used for everything else) see the same VMs with
//!   the same names;
//! - a continuation token is never empty; every parser answers.

use vsphere_core::names;
use vsphere_soap::elem::{Elem, MAX_DEPTH};
use vsphere_soap::parse::{
    host_reading, question, retrieve_result, returned_moref, returned_morefs, service_content,
    task_state, vm_reading, ObjectContent,
};
use vsphere_soap::reply::{parse_reply, with_reply, MAX_REPLY_BYTES};
use vsphere_soap::{Error, Fault};

/// Levels of `e` and everything under it, counted without recursion.
fn depth(e: &Elem) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(e, 1usize)];
    while let Some((e, d)) = stack.pop() {
        deepest = deepest.max(d);
        stack.extend(e.children.iter().map(|c| (c, d + 1)));
    }
    deepest
}

fn assert_within_depth(e: &Elem, what: &str) {
    let d = depth(e);
    assert!(d <= MAX_DEPTH, "{what} is {d} levels deep");
}

/// Whether some element holds its text in more than one piece (split by
/// a comment, a processing instruction or a child element). The
/// streaming reader takes a value's first piece, the tree all of them;
/// vCenter never splits a name, so the comparison is made only where
/// both readings are defined alike.
fn has_split_text(text: &str) -> bool {
    let Ok(doc) = roxmltree::Document::parse_with_options(
        text,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            ..Default::default()
        },
    ) else {
        return true;
    };
    doc.descendants()
        .filter(|n| n.is_element())
        .any(|n| n.children().filter(|c| c.is_text()).count() > 1)
}

/// The names page as the tree reader sees it: objects with a reference
/// and a `name` property, in order.
fn names_from_tree(objects: &[ObjectContent]) -> Vec<(String, String)> {
    objects
        .iter()
        .filter_map(|o| {
            let obj = o.obj.as_ref()?;
            let name = o.prop("name")?;
            Some((obj.value.clone(), name.text.clone()))
        })
        .collect()
}

pub fn soap_reply(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let streamed = with_reply(&text, vsphere_soap::parse::names_page);
    let tree = parse_reply(&text);
    if text.len() > MAX_REPLY_BYTES {
        assert!(matches!(tree, Err(Error::Protocol(_))), "{tree:?}");
    }
    match &tree {
        Ok(reply) => {
            assert_within_depth(reply, "a reply");
            let _ = service_content(reply);
            let _ = returned_moref(reply);
            let _ = returned_morefs(reply);
            let _ = question(reply);
            let (objects, token) = retrieve_result(reply);
            assert_ne!(token.as_deref(), Some(""), "an empty continuation token");
            for o in &objects {
                let _ = vm_reading(o, Some(task_state(o)));
                let _ = host_reading(o);
                for (_, v) in &o.props {
                    let _ = Fault::from_localized(v);
                }
            }
            if let Ok(page) = &streamed {
                assert_ne!(page.token.as_deref(), Some(""), "an empty page token");
                if !has_split_text(&text) {
                    assert_eq!(
                        page.vms,
                        names_from_tree(&objects),
                        "the two readers of a names page disagree"
                    );
                    assert_eq!(page.token, token, "the two readers disagree on the token");
                }
            }
        }
        Err(Error::Fault(f)) => {
            if let Some(d) = &f.detail {
                assert_within_depth(d, "a fault's detail");
            }
            let _ = f.describe();
        }
        Err(_) => {}
    }
    // Both readers take the same envelope: one fails where the other does
    // (the tree reader may also refuse an over-deep response element).
    if tree.is_ok() {
        assert!(
            !matches!(streamed, Err(Error::Protocol(_))),
            "the tree reader took a reply the streaming reader refused: {streamed:?}"
        );
    }
}

/// vCenter's escaping of `%`, `/` and `\` in names: what a user writes
/// finds the name vCenter stores, and escaping is undone exactly.
pub fn vsphere_names(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let stored = names::escape(&text);
    assert_eq!(names::unescape(&stored), text, "escape does not round-trip");
    assert!(names::matches(&stored, &text));
    assert!(
        !stored.contains('/') && !stored.contains('\\'),
        "an escaped name still holds a path separator: {stored:?}"
    );
    // Unescaping never lengthens a name, and a stored name matches itself.
    let plain = names::unescape(&text);
    assert!(plain.len() <= text.len());
    assert!(names::matches(&text, &text));
    if names::is_uuid(&text) {
        assert_eq!(text.len(), 36, "{text:?}");
        assert!(text.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
    if names::is_vm_moref(&text) {
        assert!(text.starts_with("vm-") && text[3..].bytes().all(|b| b.is_ascii_digit()));
    }
}
