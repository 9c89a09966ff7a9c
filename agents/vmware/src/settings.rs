//! The options of a run, turned once into the back end to use and its
//! connection settings, and the checks `validate-all` makes without
//! contacting anything.

use std::path::PathBuf;

use agent_framework::{Config, FenceError};
use vsphere_http::{Endpoint, Family, TlsPolicy};
use vsphere_rest::{ApiChoice, Filters};

use crate::vmrun;

/// What `vmware_type` chose.
#[derive(Debug, Clone)]
pub enum Settings {
    /// `esx` (the default, and fence_vmware_soap): the vSphere Web
    /// Services API.
    Soap(ApiSettings),
    /// `server1`, `server2`: VMware's vmrun.
    Vmrun(vmrun::Kind),
}

/// Where a vSphere API is and who logs in: the same options for SOAP and
/// REST.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub endpoint: Endpoint,
    pub tls: TlsPolicy,
    pub family: Family,
    pub username: String,
    pub datacenter: Option<String>,
}

/// Plain HTTP only when asked for explicitly: `notls`, or `ssl` given and
/// false.
fn plain_http(cfg: &Config) -> bool {
    cfg.flag("notls") || (cfg.is_given("ssl") && !cfg.flag("ssl"))
}

fn tls_policy(cfg: &Config) -> TlsPolicy {
    if plain_http(cfg) {
        TlsPolicy::PlainHttp
    } else if cfg.flag("ssl_insecure") {
        TlsPolicy::Insecure
    } else {
        TlsPolicy::Verify {
            ca_file: cfg
                .text("cacert")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        }
    }
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Result<Settings, FenceError> {
        // The framework has checked the value against the declared choices
        // (fence_vmware_soap has no vmware_type: esx).
        match cfg
            .text("vmware_type")
            .map(|t| t.trim().to_ascii_lowercase())
            .as_deref()
        {
            Some("server1") => return Ok(Settings::Vmrun(vmrun::Kind::Server1)),
            Some("server2") => return Ok(Settings::Vmrun(vmrun::Kind::Server2)),
            _ => {}
        }
        ApiSettings::from_config(cfg).map(Settings::Soap)
    }
}

impl ApiSettings {
    pub fn from_config(cfg: &Config) -> Result<ApiSettings, FenceError> {
        let tls = tls_policy(cfg);
        let ip = cfg.text("ip").unwrap_or("");
        let port = cfg
            .integer("ipport")
            .filter(|_| cfg.is_given("ipport"))
            .map(|p| p as u16);
        let endpoint = Endpoint::parse(ip, port, &tls)
            .map_err(|e| FenceError::usage(format!("Failed: ip: {e}")))?;
        let family = if cfg.flag("inet4_only") {
            Family::V4
        } else if cfg.flag("inet6_only") {
            Family::V6
        } else {
            Family::Any
        };
        Ok(ApiSettings {
            endpoint,
            tls,
            family,
            username: cfg.text("username").unwrap_or("").to_string(),
            datacenter: cfg
                .text("vmware_datacenter")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        })
    }
}

/// fence_vmware_rest: the connection, which API, and the list filter.
#[derive(Debug, Clone)]
pub struct RestSettings {
    pub api: ApiSettings,
    pub choice: ApiChoice,
    pub filter: Filters,
}

impl RestSettings {
    pub fn from_config(cfg: &Config) -> Result<RestSettings, FenceError> {
        let choice = ApiChoice::parse(cfg.text("api_path"))
            .map_err(|e| FenceError::usage(format!("Failed: {e}")))?;
        let filter = Filters::parse_user(cfg.text("filter").unwrap_or(""))
            .map_err(|e| FenceError::usage(format!("Failed: filter: {e}")))?;
        let api = ApiSettings::from_config(cfg)?;
        // Repeated filter values are alternatives: the filter's datacenters
        // would widen vmware_datacenter's instead of narrowing it.
        if api.datacenter.is_some() && filter.fields().contains("datacenters") {
            return Err(FenceError::usage(
                "Failed: filter: datacenters and vmware_datacenter both choose datacenters; give one",
            ));
        }
        Ok(RestSettings {
            api,
            choice,
            filter,
        })
    }
}

/// fence_vmware's and fence_vmware_soap's own checks.
pub fn validate(cfg: &Config) -> Result<(), FenceError> {
    if let Settings::Vmrun(_) = Settings::from_config(cfg)? {
        return Ok(());
    }
    validate_connection(cfg)
}

/// fence_vmware_rest's own checks.
pub fn validate_rest(cfg: &Config) -> Result<(), FenceError> {
    RestSettings::from_config(cfg)?;
    validate_connection(cfg)
}

/// The TLS options, checked against each other.
fn validate_connection(cfg: &Config) -> Result<(), FenceError> {
    let secure_asked = ["ssl", "ssl_secure", "ssl_insecure"]
        .iter()
        .any(|o| cfg.flag(o));
    if cfg.flag("notls") && secure_asked {
        return Err(FenceError::usage(
            "Failed: notls (plain HTTP) cannot be combined with ssl, ssl_secure or ssl_insecure",
        ));
    }
    if plain_http(cfg) && cfg.flag("ssl_insecure") {
        return Err(FenceError::usage(
            "Failed: ssl=0 (plain HTTP) cannot be combined with ssl_insecure",
        ));
    }
    if let Some(ca) = cfg.text("cacert").map(str::trim).filter(|s| !s.is_empty()) {
        match tls_policy(cfg) {
            TlsPolicy::PlainHttp => {
                return Err(FenceError::usage(
                    "Failed: cacert is given but TLS is off (notls or ssl=0)",
                ))
            }
            TlsPolicy::Insecure => {
                return Err(FenceError::usage(
                    "Failed: cacert and ssl_insecure contradict each other: verify against cacert, or do not verify",
                ))
            }
            TlsPolicy::Verify { .. } => {}
        }
        if !std::path::Path::new(ca).is_file() {
            return Err(FenceError::usage(format!(
                "Failed: cacert: {ca} is not a file"
            )));
        }
    }
    Ok(())
}
