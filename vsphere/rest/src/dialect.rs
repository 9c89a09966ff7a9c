//! The two spellings of the vSphere Automation API: `/rest` (vSphere 6.5
//! to 7.0, deprecated since 7.0 U2) and `/api` (7.0 U2 and later). The
//! operations are the same; URLs, filter names, result wrapping and login
//! replies differ.
//!
//! Sources: vSphere Automation REST API reference 6.5/6.7 ("REST 6.5
//! docs": cis session create, vcenter vm list and power operations) and
//! the Broadcom vSphere Automation API reference for `/api` ("API docs":
//! Create Session, List Vm, Power). VMware KB 83022 ("vSphere 7 Update 2
//! REST API Modernization") describes the change between the two.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use vsphere_core::PowerOp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `/api`: bare results, unprefixed filters, `POST /api/session`.
    Api,
    /// `/rest`: results in `{"value": ...}`, filters prefixed `filter.`,
    /// `POST /rest/com/vmware/cis/session`.
    Rest,
}

impl Dialect {
    /// The last element of the API's base path.
    pub fn segment(self) -> &'static str {
        match self {
            Dialect::Api => "api",
            Dialect::Rest => "rest",
        }
    }

    /// The session resource, under the base path.
    pub fn session_path(self) -> &'static str {
        match self {
            Dialect::Api => "/session",
            Dialect::Rest => "/com/vmware/cis/session",
        }
    }

    /// The query key of a list filter field (`names` or `filter.names`).
    pub fn filter_key(self, field: &str) -> String {
        match self {
            Dialect::Api => field.to_string(),
            Dialect::Rest => format!("filter.{field}"),
        }
    }

    /// A successful reply's result as a `T`: /rest wraps it in
    /// `{"value": ...}` (REST 6.5 docs, every operation); /api sends it
    /// bare. Read from the body straight into `T`, not through a
    /// `serde_json::Value`, whose objects keep the last of two fields of
    /// one name: a VM listed as `{"vm": "vm-1", "name": "db01", "vm":
    /// "vm-2"}` is refused here, not read as one of them.
    pub fn read<T: DeserializeOwned>(self, body: &[u8]) -> Result<T, serde_json::Error> {
        #[derive(Deserialize)]
        struct Wrapped<T> {
            value: T,
        }
        match self {
            Dialect::Api => serde_json::from_slice(body),
            // serde's derived readers take a struct from an array too
            // (`[[...]]` would read as `{"value": [...]}`): the wrapper is
            // an object or nothing.
            Dialect::Rest if body.trim_ascii_start().first() != Some(&b'{') => Err(
                serde::de::Error::custom("a /rest reply is an object holding \"value\""),
            ),
            Dialect::Rest => serde_json::from_slice::<Wrapped<T>>(body).map(|w| w.value),
        }
    }

    /// The path (under the base) and query of a power change: /rest
    /// `POST vcenter/vm/{vm}/power/start`, /api `POST
    /// vcenter/vm/{vm}/power?action=start`.
    pub fn power_call(self, vm_segment: &str, op: PowerOp) -> (String, Vec<(String, String)>) {
        let action = match op {
            PowerOp::On => "start",
            PowerOp::Off => "stop",
        };
        match self {
            Dialect::Api => (
                format!("/vcenter/vm/{vm_segment}/power"),
                vec![("action".to_string(), action.to_string())],
            ),
            Dialect::Rest => (format!("/vcenter/vm/{vm_segment}/power/{action}"), vec![]),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.segment())
    }
}

/// Which API to speak, from the `api_path` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiChoice {
    /// No `api_path`: `/api`, or `/rest` when the server has no `/api`.
    Detect,
    /// `api_path` given: this base path, in this dialect, and no other.
    Forced { base: String, dialect: Dialect },
}

impl ApiChoice {
    /// From `api_path`: a path whose last element is `api` or `rest`
    /// (`/rest`, `/api`, or behind a reverse proxy `/vc1/rest`), which also
    /// says the dialect. fence-agents' agent puts it in front of its
    /// `/rest` paths, so `/rest` is what its configurations hold.
    pub fn parse(api_path: Option<&str>) -> Result<ApiChoice, String> {
        let Some(text) = api_path.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(ApiChoice::Detect);
        };
        let base = format!("/{}", text.trim_matches('/'));
        let safe = base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b));
        if !safe || base.contains("//") || base.split('/').any(|s| s == "..") {
            return Err(format!(
                "api_path {text:?} is not a URL path (letters, digits, / - . _ ~)"
            ));
        }
        let dialect = match base.rsplit('/').next() {
            Some("api") => Dialect::Api,
            Some("rest") => Dialect::Rest,
            _ => {
                return Err(format!(
                    "api_path {text:?} must end with /api (vSphere 7.0 U2 and later) or /rest \
                     (vSphere 6.5 to 8): it says which API the server speaks"
                ))
            }
        };
        Ok(ApiChoice::Forced { base, dialect })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_path_chooses_the_dialect_by_its_last_element() {
        assert_eq!(ApiChoice::parse(None), Ok(ApiChoice::Detect));
        assert_eq!(ApiChoice::parse(Some("  ")), Ok(ApiChoice::Detect));
        for (text, base, dialect) in [
            ("/rest", "/rest", Dialect::Rest),
            ("rest/", "/rest", Dialect::Rest),
            ("/api", "/api", Dialect::Api),
            ("/vc1/rest", "/vc1/rest", Dialect::Rest),
            ("/proxy.a/api", "/proxy.a/api", Dialect::Api),
        ] {
            assert_eq!(
                ApiChoice::parse(Some(text)),
                Ok(ApiChoice::Forced {
                    base: base.into(),
                    dialect
                }),
                "{text}"
            );
        }
        for bad in [
            "/sdk", "/restful", "/api?x=1", "/a b/api", "/../api", "/x//api",
        ] {
            assert!(ApiChoice::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn results_are_unwrapped_per_dialect() {
        let list = |d: Dialect, body: &str| d.read::<Vec<u32>>(body.as_bytes()).ok();
        assert_eq!(
            list(Dialect::Rest, r#"{"value": [1, 2]}"#),
            Some(vec![1, 2])
        );
        assert_eq!(list(Dialect::Rest, "[1, 2]"), None);
        assert_eq!(list(Dialect::Api, "[1, 2]"), Some(vec![1, 2]));
        assert_eq!(list(Dialect::Api, r#"{"value": [1, 2]}"#), None);
        assert_eq!(
            list(Dialect::Rest, "[[1, 2]]"),
            None,
            "an array is no wrapper"
        );
        assert_eq!(list(Dialect::Rest, " \n{\"value\": []}"), Some(vec![]));
        assert_eq!(Dialect::Api.filter_key("names"), "names");
        assert_eq!(Dialect::Rest.filter_key("names"), "filter.names");
    }

    /// Two values for one field are no answer: neither is believed.
    #[test]
    fn a_field_given_twice_is_refused() {
        use crate::backend::VmSummary;
        let twice = br#"[{"vm": "vm-1", "name": "db01", "vm": "vm-2"}]"#;
        assert!(Dialect::Api.read::<Vec<VmSummary>>(twice).is_err());
        let named_twice = br#"{"value": [{"vm": "vm-1", "name": "x", "name": "db01"}]}"#;
        assert!(Dialect::Rest.read::<Vec<VmSummary>>(named_twice).is_err());
        let token_twice = br#"{"value": "tok-1", "value": "tok-2"}"#;
        assert!(Dialect::Rest.read::<String>(token_twice).is_err());
        // Fields nobody reads may come and go.
        let once = br#"[{"vm": "vm-1", "name": "db01", "cpu_count": 1, "cpu_count": 2}]"#;
        assert_eq!(
            Dialect::Api.read::<Vec<VmSummary>>(once).unwrap(),
            [VmSummary {
                vm: "vm-1".into(),
                name: "db01".into()
            }]
        );
    }

    #[test]
    fn power_calls_per_dialect() {
        assert_eq!(
            Dialect::Api.power_call("vm-42", PowerOp::Off),
            (
                "/vcenter/vm/vm-42/power".to_string(),
                vec![("action".to_string(), "stop".to_string())]
            )
        );
        assert_eq!(
            Dialect::Rest.power_call("vm-42", PowerOp::On),
            ("/vcenter/vm/vm-42/power/start".to_string(), vec![])
        );
    }
}
