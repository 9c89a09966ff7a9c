//! A vim25 SOAP session of the test's own with the simulator, over plain
//! HTTP (cts's HTTP client has no TLS): for what no control endpoint
//! offers, and to show that a change made through one API is seen through
//! another. Just enough vim25 for the tests; the agents' own client is
//! vsphere-soap, which this deliberately does not use, so that a fault
//! there cannot hide itself.

use std::time::Duration;

use crate::vcsim::{Vcsim, PASSWORD, USER};

pub struct Vim25Session {
    url: String,
    cookie: String,
}

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope \
         xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>{body}\
         </soapenv:Body></soapenv:Envelope>"
    )
}

/// One request; any answer but 200 fails the test, with the fault's text.
fn post(url: &str, cookie: &str, body: &str) -> ureq::Response {
    let mut req = ureq::post(url)
        .timeout(Duration::from_secs(30))
        .set("Content-Type", "text/xml; charset=utf-8")
        .set("SOAPAction", "urn:vim25/7.0");
    if !cookie.is_empty() {
        req = req.set("Cookie", cookie);
    }
    match req.send_string(&envelope(body)) {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            panic!("SOAP fault {code}: {}", r.into_string().unwrap_or_default())
        }
        Err(e) => panic!("SOAP {url}: {e}"),
    }
}

impl Vim25Session {
    /// Logs in as the simulator's user, on its plain-HTTP URL.
    pub fn login(sim: &Vcsim) -> Vim25Session {
        let body = format!(
            "<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">SessionManager</_this>\
             <userName>{USER}</userName><password>{PASSWORD}</password></Login>"
        );
        let r = post(&sim.url, "", &body);
        let cookie = r
            .header("Set-Cookie")
            .and_then(|c| c.split(';').next())
            .expect("SOAP session cookie")
            .to_string();
        Vim25Session {
            url: sim.url.clone(),
            cookie,
        }
    }

    /// One call, answered 200; its reply's text.
    pub fn call(&self, body: &str) -> String {
        post(&self.url, &self.cookie, body)
            .into_string()
            .expect("SOAP body")
    }

    /// A method of the VM `moref` with its arguments (elements in the
    /// urn:vim25 namespace); its reply's text.
    pub fn call_on_vm(&self, method: &str, moref: &str, arguments: &str) -> String {
        let text = self.call(&format!(
            "<{method} xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">{moref}</_this>\
             {arguments}</{method}>"
        ));
        assert!(text.contains(&format!("{method}Response")), "{text}");
        text
    }

    /// One property of one VM, as text.
    pub fn vm_property(&self, moref: &str, path: &str) -> String {
        self.property("VirtualMachine", moref, path)
    }

    /// One property of one managed object, as text (a moref's value for a
    /// reference).
    pub fn property(&self, kind: &str, moref: &str, path: &str) -> String {
        let body = format!(
            "<RetrieveProperties xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">propertyCollector</_this>\
             <specSet><propSet><type>{kind}</type><pathSet>{path}</pathSet></propSet>\
             <objectSet><obj type=\"{kind}\">{moref}</obj></objectSet></specSet></RetrieveProperties>"
        );
        let text = self.call(&body);
        let start = text.find("<val").expect("a val element");
        let open_end = start + text[start..].find('>').expect("val tag end") + 1;
        let close = open_end + text[open_end..].find("</val>").expect("val close");
        text[open_end..close].to_string()
    }

    pub fn power_off(&self, moref: &str) {
        self.call_on_vm("PowerOffVM_Task", moref, "");
    }

    pub fn rename(&self, moref: &str, name: &str) {
        self.call_on_vm("Rename_Task", moref, &format!("<newName>{name}</newName>"));
    }

    /// vim25's own ReconfigVM_Task, of config.firmware only.
    pub fn set_firmware(&self, moref: &str, firmware: &str) {
        self.call_on_vm(
            "ReconfigVM_Task",
            moref,
            &format!("<spec><firmware>{firmware}</firmware></spec>"),
        );
    }

    pub fn logout(&self) {
        self.call(
            "<Logout xmlns=\"urn:vim25\"><_this type=\"SessionManager\">SessionManager</_this></Logout>",
        );
    }
}
