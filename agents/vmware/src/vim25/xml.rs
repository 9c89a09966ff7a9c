//! SOAP envelopes out (built with `xmlwriter`) and replies in (read with
//! `roxmltree` into a small owned tree, so that nothing borrows the text of
//! the HTTP body).

use xmlwriter::{Indent, Options, XmlWriter};

use super::fault::Fault;
use super::Error;

pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const XSD: &str = "http://www.w3.org/2001/XMLSchema";
pub const VIM25: &str = "urn:vim25";

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

impl std::fmt::Display for Moref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// Whether `text` can travel in an XML 1.0 document at all (no control
/// characters other than tab, newline and carriage return).
pub fn is_xml_safe(text: &str) -> bool {
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
}

/// xmlwriter 0.1 escapes only `<` in text and only the quote in
/// attributes; `&` (and `<` in attributes) are escaped here first.
fn escape_amp(text: &str) -> String {
    text.replace('&', "&amp;")
}

fn escape_attr(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;")
}

/// One vim25 request body: `<Method xmlns="urn:vim25"><_this ...>` and the
/// method's arguments, in the order the WSDL declares them.
pub struct Request {
    w: XmlWriter,
    method: String,
}

impl Request {
    pub fn new(method: &str, this: &Moref) -> Request {
        let mut w = XmlWriter::new(Options {
            use_single_quote: false,
            indent: Indent::None,
            attributes_indent: Indent::None,
        });
        w.set_preserve_whitespaces(true);
        w.write_declaration();
        w.start_element("soapenv:Envelope");
        w.write_attribute("xmlns:soapenv", SOAP_ENV);
        w.write_attribute("xmlns:xsd", XSD);
        w.write_attribute("xmlns:xsi", XSI);
        w.start_element("soapenv:Body");
        w.start_element(method);
        w.write_attribute("xmlns", VIM25);
        let mut r = Request {
            w,
            method: method.to_string(),
        };
        r.moref("_this", this);
        r
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    pub fn moref(&mut self, name: &str, m: &Moref) -> &mut Self {
        self.w.start_element(name);
        self.w.write_attribute("type", &escape_attr(&m.kind));
        self.w.write_text(&escape_amp(&m.value));
        self.w.end_element();
        self
    }

    pub fn text(&mut self, name: &str, value: &str) -> &mut Self {
        self.w.start_element(name);
        self.w.write_text(&escape_amp(value));
        self.w.end_element();
        self
    }

    /// Opens a complex argument; `xsi_type` is needed where the WSDL
    /// declares a base type (a TraversalSpec in a selectSet).
    pub fn open(&mut self, name: &str, xsi_type: Option<&str>) -> &mut Self {
        self.w.start_element(name);
        if let Some(t) = xsi_type {
            self.w.write_attribute("xsi:type", &escape_attr(t));
        }
        self
    }

    pub fn close(&mut self) -> &mut Self {
        self.w.end_element();
        self
    }

    pub fn finish(self) -> String {
        self.w.end_document()
    }
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
    pub fn from_node(n: roxmltree::Node<'_, '_>) -> Elem {
        let mut e = Elem {
            name: n.tag_name().name().to_string(),
            xsi_type: n.attribute((XSI, "type")).map(str::to_string),
            // Not n.attribute("type"): that also finds xsi:type.
            type_attr: n
                .attributes()
                .find(|a| a.name() == "type" && a.namespace().is_none())
                .map(|a| a.value().to_string()),
            ..Elem::default()
        };
        for c in n.children() {
            if c.is_element() {
                e.children.push(Elem::from_node(c));
            } else if c.is_text() {
                e.text.push_str(c.text().unwrap_or(""));
            }
        }
        e
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

/// Reads a reply: the `XxxResponse` element, or the SOAP fault as an
/// error.
pub fn parse_reply(text: &str) -> Result<Elem, Error> {
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| Error::Protocol(format!("the reply is not XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "Envelope" {
        return Err(Error::Protocol(format!(
            "the reply is not a SOAP envelope (root element <{}>)",
            root.tag_name().name()
        )));
    }
    let body = root
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "Body")
        .ok_or_else(|| Error::Protocol("the SOAP reply has no Body".into()))?;
    let first = body
        .children()
        .find(|n| n.is_element())
        .ok_or_else(|| Error::Protocol("the SOAP reply Body is empty".into()))?;
    if first.tag_name().name() == "Fault" {
        return Err(Error::Fault(Box::new(Fault::from_node(first))));
    }
    Ok(Elem::from_node(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_escapes_every_special_character() {
        let mut r = Request::new("FindByInventoryPath", &Moref::new("SearchIndex", "SI"));
        r.text("inventoryPath", "/DC0/vm/a<b>&\"c'");
        let xml = r.finish();
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let path = doc
            .descendants()
            .find(|n| n.has_tag_name((VIM25, "inventoryPath")))
            .unwrap();
        assert_eq!(path.text(), Some("/DC0/vm/a<b>&\"c'"));
        let this = doc
            .descendants()
            .find(|n| n.has_tag_name((VIM25, "_this")))
            .unwrap();
        assert_eq!(this.attribute("type"), Some("SearchIndex"));
        assert_eq!(this.text(), Some("SI"));
        assert!(!xml.contains('\n'), "no indentation inside values: {xml}");
    }

    #[test]
    fn whitespace_in_values_is_kept() {
        let mut r = Request::new("Login", &Moref::new("SessionManager", "SM"));
        r.text("password", "  s3cret pass ");
        let xml = r.finish();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let pw = doc
            .descendants()
            .find(|n| n.has_tag_name("password"))
            .unwrap();
        assert_eq!(pw.text(), Some("  s3cret pass "));
    }

    #[test]
    fn xsi_type_is_written_with_its_namespace() {
        let mut r = Request::new("X", &Moref::new("T", "v"));
        r.open("selectSet", Some("TraversalSpec"))
            .text("path", "view")
            .close();
        let xml = r.finish();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let s = doc
            .descendants()
            .find(|n| n.has_tag_name("selectSet"))
            .unwrap();
        assert_eq!(s.attribute((XSI, "type")), Some("TraversalSpec"));
    }

    #[test]
    fn reply_body_and_types() {
        let text = r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-1</obj><propSet><name>runtime.powerState</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="VirtualMachinePowerState">poweredOn</val></propSet></objects></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"#;
        let r = parse_reply(text).unwrap();
        assert_eq!(r.name, "RetrievePropertiesExResponse");
        let obj = r.child("returnval").unwrap().child("objects").unwrap();
        assert_eq!(
            obj.child("obj").unwrap().as_moref(),
            Some(Moref::new("VirtualMachine", "vm-1"))
        );
        let val = obj.child("propSet").unwrap().child("val").unwrap();
        assert_eq!(val.value_type(), Some("VirtualMachinePowerState"));
        assert_eq!(val.text, "poweredOn");
    }

    #[test]
    fn moref_values_keep_their_own_type_beside_xsi_type() {
        let doc = roxmltree::Document::parse(r#"<val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ManagedObjectReference" type="Folder">folder-3</val>"#).unwrap();
        let e = Elem::from_node(doc.root_element());
        assert_eq!(e.as_moref(), Some(Moref::new("Folder", "folder-3")));
        assert_eq!(e.value_type(), Some("ManagedObjectReference"));
        let doc = roxmltree::Document::parse(
            r#"<v xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="ManagedObjectReference" type="Folder">folder-3</v>"#,
        )
        .unwrap();
        let e = Elem::from_node(doc.root_element());
        assert_eq!(e.as_moref(), Some(Moref::new("Folder", "folder-3")));
    }

    #[test]
    fn not_soap_is_a_protocol_error() {
        assert!(matches!(
            parse_reply("<html><body>proxy error</body></html>"),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(parse_reply("garbage"), Err(Error::Protocol(_))));
    }

    #[test]
    fn control_characters_are_not_xml_safe() {
        assert!(is_xml_safe("web server 01 ünï"));
        assert!(!is_xml_safe("a\u{1}b"));
    }
}
