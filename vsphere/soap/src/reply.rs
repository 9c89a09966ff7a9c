//! Reading a reply: bounded in size, nodes and depth, the SOAP fault
//! turned into an error, the `XxxResponse` element handed on.
//!
//! Every function here returns an error, never panics, whatever the text:
//! they are public so that fuzz targets can call them.

use crate::elem::{check_depth, Elem};
use crate::error::Error;
use crate::fault::Fault;

/// The largest reply read. The largest a vSphere server sends this
/// client is a page of at most 1,000 objects (FENCE_VMWARE_PAGE_SIZE;
/// 100 by default) with five short properties each: well under 1 MiB.
pub const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;

/// The most XML nodes a reply may have (elements, texts, attributes count
/// once each in roxmltree): a page of 1,000 objects has about 25,000.
pub const MAX_NODES: u32 = 250_000;

/// Parses a reply and hands its response element (the first element of
/// the SOAP Body) to `read`; a SOAP fault is returned as
/// [`Error::Fault`].
pub fn with_reply<T>(
    text: &str,
    read: impl FnOnce(roxmltree::Node<'_, '_>) -> Result<T, Error>,
) -> Result<T, Error> {
    if text.len() > MAX_REPLY_BYTES {
        return Err(Error::Protocol(format!(
            "the reply is larger than {MAX_REPLY_BYTES} bytes"
        )));
    }
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| Error::Protocol(format!("the reply is not XML: {e}")))?;
    let root = doc.root_element();
    check_depth(root)?;
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
        return Err(Error::Fault(Box::new(Fault::from_node(first)?)));
    }
    read(first)
}

/// A reply's response element as an owned tree.
pub fn parse_reply(text: &str) -> Result<Elem, Error> {
    with_reply(text, |n| Elem::from_node(n).map_err(Error::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elem::Moref;

    const OK: &str = r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-1</obj><propSet><name>runtime.powerState</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="VirtualMachinePowerState">poweredOn</val></propSet></objects></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"#;

    #[test]
    fn reply_body_and_types() {
        let r = parse_reply(OK).unwrap();
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
    fn not_soap_is_a_protocol_error() {
        for text in [
            "<html><body>proxy error</body></html>",
            "garbage",
            "",
            "<soapenv:Envelope xmlns:soapenv=\"x\"/>",
            "<Envelope><Body/></Envelope>",
            // No entity expansion: a DTD is refused outright.
            "<!DOCTYPE a [<!ENTITY b \"ccc\">]><Envelope><Body><x>&b;</x></Body></Envelope>",
        ] {
            assert!(
                matches!(parse_reply(text), Err(Error::Protocol(_))),
                "{text:?}"
            );
        }
    }

    fn envelope_around(inner: &str) -> String {
        format!(
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><R>{inner}</R></soapenv:Body></soapenv:Envelope>"
        )
    }

    #[test]
    fn a_reply_nested_40000_deep_is_an_error_not_a_crash() {
        let depth = 40_000;
        let inner = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        let text = envelope_around(&inner);
        // On a small stack: recursion per level anywhere would overflow it.
        let outcome = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || match parse_reply(&text) {
                Err(Error::Protocol(m)) => m,
                other => format!("not the expected error: {other:?}"),
            })
            .unwrap()
            .join()
            .expect("no crash");
        assert!(outcome.contains("deep"), "{outcome}");
        // A deep fault is refused the same way.
        let fault = format!(
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><soapenv:Fault><faultstring>x</faultstring><detail>{inner}</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        );
        assert!(matches!(parse_reply(&fault), Err(Error::Protocol(_))));
    }

    #[test]
    fn a_10_mb_reply_is_an_error() {
        let item = "<objects><obj type=\"VirtualMachine\">vm-1</obj></objects>";
        let inner = item.repeat(10 * 1024 * 1024 / item.len() + 1);
        let text = envelope_around(&inner);
        assert!(text.len() > 10 * 1024 * 1024);
        match parse_reply(&text) {
            Err(Error::Protocol(m)) => assert!(m.contains("larger than"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn too_many_nodes_is_an_error() {
        let inner = "<a/>".repeat(MAX_NODES as usize + 1);
        let text = envelope_around(&inner);
        assert!(text.len() < MAX_REPLY_BYTES);
        assert!(matches!(parse_reply(&text), Err(Error::Protocol(_))));
    }
}
