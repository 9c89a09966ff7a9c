//! A reply's XML as a small owned tree, so that nothing borrows the HTTP
//! body, and managed object references.
//!
//! The tree is built without recursion and no deeper than [`MAX_DEPTH`]:
//! vSphere's replies are a dozen elements deep at most, and a peer that
//! nests 40,000 elements must get an error, not a stack overflow.

use std::fmt;

pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const XSD: &str = "http://www.w3.org/2001/XMLSchema";
pub const VIM25: &str = "urn:vim25";

/// How deep a reply may nest elements. The deepest vim25 reply this
/// client reads (a task error: Envelope, Body, response, returnval,
/// objects, propSet, val, fault, faultMessage, arg, value) is 11.
pub const MAX_DEPTH: usize = 64;

/// A reply that is not the shape a vSphere reply can have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn too_deep() -> Malformed {
    Malformed(format!(
        "the reply nests elements more than {MAX_DEPTH} deep; no vSphere reply does"
    ))
}

/// Fails when the tree under `root` is deeper than [`MAX_DEPTH`]; walks
/// it without recursion.
pub fn check_depth(root: roxmltree::Node<'_, '_>) -> Result<(), Malformed> {
    let mut stack = vec![root.children()];
    while let Some(top) = stack.last_mut() {
        match top.next() {
            Some(c) if c.is_element() => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep());
                }
                stack.push(c.children());
            }
            Some(_) => {}
            None => {
                stack.pop();
            }
        }
    }
    Ok(())
}

/// A managed object reference: `<obj type="VirtualMachine">vm-42</obj>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Moref {
    pub kind: String,
    pub value: String,
}

impl Moref {
    pub fn new(kind: &str, value: &str) -> Moref {
        Moref {
            kind: kind.to_string(),
            value: value.to_string(),
        }
    }
}

impl fmt::Display for Moref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// The plain `type` attribute of a node (managed object references carry
/// it). Not `attribute("type")`, which also finds `xsi:type`.
pub fn type_attribute<'a>(n: roxmltree::Node<'a, '_>) -> Option<&'a str> {
    n.attributes()
        .find(|a| a.name() == "type" && a.namespace().is_none())
        .map(|a| a.value())
}

/// A node as a managed object reference, when it is one.
pub fn moref_of(n: roxmltree::Node<'_, '_>) -> Option<Moref> {
    let kind = type_attribute(n)?;
    let value = n.text().unwrap_or("").trim();
    if value.is_empty() {
        return None;
    }
    Some(Moref::new(kind, value))
}

/// An element of a reply, owned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elem {
    pub name: String,
    /// `xsi:type`, when the reply says which subtype a value is.
    pub xsi_type: Option<String>,
    /// The plain `type` attribute (managed object references carry it).
    pub type_attr: Option<String>,
    pub text: String,
    pub children: Vec<Elem>,
}

impl Elem {
    fn shell(n: roxmltree::Node<'_, '_>) -> Elem {
        Elem {
            name: n.tag_name().name().to_string(),
            xsi_type: n.attribute((XSI, "type")).map(str::to_string),
            type_attr: type_attribute(n).map(str::to_string),
            ..Elem::default()
        }
    }

    /// The element `root` and everything under it, at most [`MAX_DEPTH`]
    /// deep.
    pub fn from_node(root: roxmltree::Node<'_, '_>) -> Result<Elem, Malformed> {
        // Each level: the children still to visit and the element being
        // built; a finished element is moved into its parent.
        let mut stack = vec![(root.children(), Elem::shell(root))];
        loop {
            let Some((children, current)) = stack.last_mut() else {
                return Err(Malformed("empty element stack".into()));
            };
            match children.next() {
                Some(c) if c.is_element() => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(too_deep());
                    }
                    stack.push((c.children(), Elem::shell(c)));
                }
                Some(c) if c.is_text() => current.text.push_str(c.text().unwrap_or("")),
                Some(_) => {}
                None => {
                    let Some((_, done)) = stack.pop() else {
                        return Err(Malformed("empty element stack".into()));
                    };
                    match stack.last_mut() {
                        Some((_, parent)) => parent.children.push(done),
                        None => return Ok(done),
                    }
                }
            }
        }
    }

    pub fn child(&self, name: &str) -> Option<&Elem> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Elem> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// This element as a managed object reference (`type` attribute and
    /// text).
    pub fn as_moref(&self) -> Option<Moref> {
        let kind = self.type_attr.as_deref()?;
        let value = self.text.trim();
        if value.is_empty() {
            return None;
        }
        Some(Moref::new(kind, value))
    }

    /// The type of the value: `xsi:type` without any namespace prefix.
    pub fn value_type(&self) -> Option<&str> {
        self.xsi_type
            .as_deref()
            .map(|t| t.rsplit(':').next().unwrap_or(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(text).expect("well-formed")
    }

    #[test]
    fn moref_values_keep_their_own_type_beside_xsi_type() {
        let text = r#"<val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ManagedObjectReference" type="Folder">folder-3</val>"#;
        let doc = parse(text);
        let e = Elem::from_node(doc.root_element()).unwrap();
        assert_eq!(e.as_moref(), Some(Moref::new("Folder", "folder-3")));
        assert_eq!(e.value_type(), Some("ManagedObjectReference"));
        assert_eq!(
            moref_of(doc.root_element()),
            Some(Moref::new("Folder", "folder-3"))
        );
        let doc = parse(
            r#"<v xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="ManagedObjectReference" type="Folder">folder-3</v>"#,
        );
        let e = Elem::from_node(doc.root_element()).unwrap();
        assert_eq!(e.as_moref(), Some(Moref::new("Folder", "folder-3")));
    }

    #[test]
    fn the_tree_keeps_order_text_and_nesting() {
        let doc = parse("<a>x<b>1</b><c><d>2</d></c><b>3</b>y</a>");
        let e = Elem::from_node(doc.root_element()).unwrap();
        assert_eq!(e.text, "xy");
        let bs: Vec<&str> = e.all("b").map(|b| b.text.as_str()).collect();
        assert_eq!(bs, ["1", "3"]);
        assert_eq!(e.child("c").and_then(|c| c.text_of("d")), Some("2"));
    }

    fn nested(depth: usize) -> String {
        let mut s = String::with_capacity(depth * 7);
        for _ in 0..depth {
            s.push_str("<a>");
        }
        for _ in 0..depth {
            s.push_str("</a>");
        }
        s
    }

    #[test]
    fn depth_is_capped_without_recursion() {
        let ok = nested(MAX_DEPTH);
        let doc = parse(&ok);
        assert!(check_depth(doc.root_element()).is_ok());
        assert!(Elem::from_node(doc.root_element()).is_ok());
        let deep = nested(MAX_DEPTH + 1);
        let doc = parse(&deep);
        assert!(check_depth(doc.root_element()).is_err());
        assert!(Elem::from_node(doc.root_element()).is_err());
        // 40,000 deep: an error, on a thread with a small stack, where any
        // recursion per level would overflow.
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let deep = nested(40_000);
                let doc = roxmltree::Document::parse(&deep).expect("roxmltree parses it");
                (
                    check_depth(doc.root_element()).is_err(),
                    Elem::from_node(doc.root_element()).is_err(),
                )
            })
            .unwrap();
        assert_eq!(handle.join().unwrap(), (true, true));
    }
}
