//! vim25 request envelopes, written with `xmlwriter` and every value
//! escaped by the project's one XML escaping helper.

use agent_framework::xml_escape;
use xmlwriter::{Indent, Options, XmlWriter};

use crate::elem::{Moref, SOAP_ENV, VIM25, XSD, XSI};

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
        self.w
            .write_attribute("type", &xml_escape::attribute(&m.kind));
        self.w.write_text(&xml_escape::text(&m.value));
        self.w.end_element();
        self
    }

    pub fn text(&mut self, name: &str, value: &str) -> &mut Self {
        self.w.start_element(name);
        self.w.write_text(&xml_escape::text(value));
        self.w.end_element();
        self
    }

    /// Opens a complex argument; `xsi_type` is needed where the WSDL
    /// declares a base type (a TraversalSpec in a selectSet).
    pub fn open(&mut self, name: &str, xsi_type: Option<&str>) -> &mut Self {
        self.w.start_element(name);
        if let Some(t) = xsi_type {
            self.w
                .write_attribute("xsi:type", &xml_escape::attribute(t));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_escapes_every_special_character() {
        let mut r = Request::new("FindByInventoryPath", &Moref::new("Search<&\"Index", "S&I"));
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
        assert_eq!(this.attribute("type"), Some("Search<&\"Index"));
        assert_eq!(this.text(), Some("S&I"));
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
}
