//! TLS with rustls on ring: which certificates to trust, and what a
//! failed handshake means in words an administrator can act on.
//!
//! The system trust store is found as OpenSSL users expect (SSL_CERT_FILE
//! and SSL_CERT_DIR, else the distribution's bundle), read once per
//! process and only by a client that verifies without its own CA file.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use agent_framework::logging;

use crate::error::{Error, Stage};

/// How to treat the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Verify the chain and the host name (or IP address) against the
    /// system trust store, or only against the CAs in `ca_file` when given.
    Verify { ca_file: Option<PathBuf> },
    /// TLS without any verification (`ssl_insecure`); the caller says so in
    /// its log.
    Insecure,
    /// Plain HTTP (`notls`, `ssl=0`).
    PlainHttp,
}

impl TlsPolicy {
    pub fn uses_tls(&self) -> bool {
        !matches!(self, TlsPolicy::PlainHttp)
    }

    pub fn default_port(&self) -> u16 {
        if self.uses_tls() {
            443
        } else {
            80
        }
    }

    pub fn scheme(&self) -> &'static str {
        if self.uses_tls() {
            "https"
        } else {
            "http"
        }
    }
}

/// A client configuration, and what it trusts in words, for messages.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    pub config: Arc<ClientConfig>,
    pub trust: Arc<str>,
}

/// The TLS configuration for `policy`, or none for plain HTTP. A CA file
/// that cannot be used, or a system store without a single CA, is a TLS
/// error here, before anything is sent.
pub(crate) fn setup(policy: &TlsPolicy) -> Result<Option<TlsSetup>, Error> {
    let (verifier, trust): (Arc<dyn ServerCertVerifier>, String) = match policy {
        TlsPolicy::PlainHttp => return Ok(None),
        TlsPolicy::Insecure => (
            Arc::new(AcceptAnyCertificate(provider())),
            "nothing (ssl_insecure)".into(),
        ),
        TlsPolicy::Verify {
            ca_file: Some(path),
        } => (
            verifier_for(Arc::new(load_ca_file(path)?))?,
            format!("the CAs of {}", path.display()),
        ),
        TlsPolicy::Verify { ca_file: None } => {
            let (roots, described) = system_roots()?;
            (verifier_for(roots)?, described)
        }
    };
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Tls(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(TlsSetup {
        config: Arc::new(config),
        trust: trust.into(),
    }))
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(ring::default_provider()))
        .clone()
}

fn verifier_for(roots: Arc<RootCertStore>) -> Result<Arc<dyn ServerCertVerifier>, Error> {
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| Error::Tls(format!("cannot set up certificate verification: {e}")))?;
    Ok(verifier)
}

/// Only the CAs of one PEM file: every certificate in it must parse and
/// be usable as a trust anchor, and there must be at least one.
pub(crate) fn load_ca_file(path: &Path) -> Result<RootCertStore, Error> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Tls(format!("cannot read the CA certificate file {shown}: {e}")))?;
    let mut roots = RootCertStore::empty();
    for (i, item) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let cert = item.map_err(|e| {
            Error::Tls(format!(
                "the CA certificate file {shown} is garbled after {i} certificates: {e}"
            ))
        })?;
        roots.add(cert).map_err(|e| {
            Error::Tls(format!(
                "certificate {} of the CA certificate file {shown} is not a usable CA certificate: {e}",
                i + 1
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(Error::Tls(format!(
            "no PEM certificate in the CA certificate file {shown}"
        )));
    }
    Ok(roots)
}

/// Where OpenSSL would look for trusted CAs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrustSources {
    pub file: Option<PathBuf>,
    pub dirs: Vec<PathBuf>,
    /// Named by SSL_CERT_FILE or SSL_CERT_DIR rather than found.
    pub from_env: bool,
}

/// The bundles distributions keep, Debian's first; the first that exists
/// is the system store. OpenSSL also looks up hashed files in its
/// certificate directory, but on these systems it holds the same CAs as
/// the bundle, and reading it costs hundreds of file reads.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// SSL_CERT_FILE and SSL_CERT_DIR (a colon-separated list, as OpenSSL
/// reads it) when either is set: then they alone are trusted. Otherwise
/// the first system bundle that exists.
pub(crate) fn trust_sources(env: impl Fn(&str) -> Option<OsString>) -> TrustSources {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let file = set("SSL_CERT_FILE").map(PathBuf::from);
    let dirs: Vec<PathBuf> = set("SSL_CERT_DIR")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if file.is_some() || !dirs.is_empty() {
        return TrustSources {
            file,
            dirs,
            from_env: true,
        };
    }
    TrustSources {
        file: SYSTEM_BUNDLES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .or_else(|| SYSTEM_BUNDLES.first().map(PathBuf::from)),
        dirs: Vec::new(),
        from_env: false,
    }
}

/// OpenSSL's certificate directories hold `<subject hash>.<n>` files
/// (c_rehash); only those are read, as OpenSSL does, which also skips the
/// duplicates that Debian's /etc/ssl/certs keeps under readable names.
fn is_hashed_name(name: &str) -> bool {
    match name.split_once('.') {
        Some((hash, n)) => {
            hash.len() == 8
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Adds every certificate in `bytes` that is a usable trust anchor;
/// OpenSSL too skips what it cannot use in a system store.
fn add_pem(roots: &mut RootCertStore, bytes: &[u8]) -> usize {
    let certs = CertificateDer::pem_slice_iter(bytes).filter_map(Result::ok);
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    added
}

/// Reads the trust sources; the store, and what it is in words. A store
/// without a single CA is an error that says where it looked.
pub(crate) fn load_sources(sources: &TrustSources) -> Result<(RootCertStore, String), String> {
    let mut roots = RootCertStore::empty();
    let mut problems = Vec::new();
    let mut described = Vec::new();
    let label = |what: &str, path: &Path| {
        if sources.from_env {
            format!("{what}={}", path.display())
        } else {
            path.display().to_string()
        }
    };
    if let Some(file) = &sources.file {
        let shown = label("SSL_CERT_FILE", file);
        match std::fs::read(file) {
            Ok(bytes) => {
                let n = add_pem(&mut roots, &bytes);
                if n == 0 {
                    problems.push(format!("{shown} holds no usable certificate"));
                }
            }
            Err(e) => problems.push(format!("{shown}: {e}")),
        }
        described.push(shown);
    }
    for dir in &sources.dirs {
        let shown = label("SSL_CERT_DIR", dir);
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut n = 0;
                for entry in entries.flatten() {
                    if entry.file_name().to_str().is_some_and(is_hashed_name) {
                        if let Ok(bytes) = std::fs::read(entry.path()) {
                            n += add_pem(&mut roots, &bytes);
                        }
                    }
                }
                if n == 0 {
                    problems.push(format!("{shown} holds no usable hashed certificate"));
                }
            }
            Err(e) => problems.push(format!("{shown}: {e}")),
        }
        described.push(shown);
    }
    if roots.is_empty() {
        return Err(format!(
            "no trusted CA certificate in the system trust store: {}",
            problems.join("; ")
        ));
    }
    Ok((
        roots,
        format!("the system trust store ({})", described.join(", ")),
    ))
}

/// The system store, read at the first call of the process.
fn system_roots() -> Result<(Arc<RootCertStore>, String), Error> {
    static SYSTEM: OnceLock<Result<(Arc<RootCertStore>, String), String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let sources = trust_sources(|name| std::env::var_os(name));
            let loaded = load_sources(&sources).map(|(roots, described)| {
                logging::debug(format!("TLS: {} CAs from {described}", roots.len()));
                (Arc::new(roots), described)
            });
            loaded
        })
        .clone()
        .map_err(Error::Tls)
}

/// What a failed handshake means. `trust` says what was trusted, for the
/// certificate-not-trusted message.
pub(crate) fn handshake_error(e: io::Error, name: &ServerName<'_>, trust: &str) -> Error {
    let tls =
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls) => tls,
            None => return match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout {
                    stage: Stage::Handshake,
                },
                io::ErrorKind::UnexpectedEof => Error::Tls(
                    "handshake failure: the server closed the connection during the TLS handshake"
                        .into(),
                ),
                _ => Error::Io {
                    stage: Stage::Handshake,
                    source: e,
                },
            },
        };
    let host = name.to_str();
    Error::Tls(match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => format!(
                "the server's certificate is not trusted: no chain to {trust} (certificate verify failed: unknown issuer)"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                match name {
                    ServerName::IpAddress(_) => format!(
                        "the server's certificate is not valid for the address {host} (IP address mismatch)"
                    ),
                    _ => format!(
                        "the server's certificate is not valid for the host name {host} (hostname mismatch)"
                    ),
                }
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (check the clocks)".into()
            }
            other => format!("the server's certificate is not acceptable: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => {
            format!("handshake failure: the server refused the handshake ({alert:?})")
        }
        rustls::Error::PeerIncompatible(why) => {
            format!("handshake failure: no TLS version or cipher suite in common with the server ({why:?})")
        }
        other => format!("handshake failure: {other}"),
    })
}

/// `ssl_insecure`: any certificate for any name. The handshake signature
/// is still checked against the certificate presented, so that the
/// session keys at least belong to whoever sent it.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn openssl_environment_variables_replace_the_bundle() {
        let s = trust_sources(env(&[("SSL_CERT_FILE", "/tmp/ca.pem")]));
        assert_eq!(s.file, Some(PathBuf::from("/tmp/ca.pem")));
        assert!(s.dirs.is_empty() && s.from_env);
        let s = trust_sources(env(&[("SSL_CERT_DIR", "/a:/b")]));
        assert_eq!(s.file, None);
        assert_eq!(s.dirs, [PathBuf::from("/a"), PathBuf::from("/b")]);
        let s = trust_sources(env(&[("SSL_CERT_FILE", ""), ("SSL_CERT_DIR", "")]));
        assert!(!s.from_env, "empty variables are unset, as for OpenSSL");
        let s = trust_sources(env(&[]));
        assert!(!s.from_env && s.dirs.is_empty());
        if Path::new("/etc/ssl/certs/ca-certificates.crt").is_file() {
            assert_eq!(
                s.file,
                Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt"))
            );
        }
    }

    #[test]
    fn only_hashed_names_are_read_from_a_directory() {
        for good in ["9d04f354.0", "ABCDEF01.12"] {
            assert!(is_hashed_name(good), "{good}");
        }
        for bad in [
            "ca.pem",
            "9d04f354",
            "9d04f354.r0",
            "9d04f35.0",
            "9d04f354.",
            "ISRG_Root_X1.pem",
        ] {
            assert!(!is_hashed_name(bad), "{bad}");
        }
    }

    #[test]
    fn an_empty_store_is_an_error_that_says_where_it_looked() {
        let sources = TrustSources {
            file: Some("/nonexistent/ca.pem".into()),
            dirs: vec!["/nonexistent/dir".into()],
            from_env: true,
        };
        let e = load_sources(&sources).err().unwrap();
        assert!(e.contains("SSL_CERT_FILE=/nonexistent/ca.pem"), "{e}");
        assert!(e.contains("SSL_CERT_DIR=/nonexistent/dir"), "{e}");
        assert!(e.contains("certificate"), "{e}");
    }

    #[test]
    fn debian_bundle_loads_when_present() {
        let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
        if !bundle.is_file() {
            return;
        }
        let sources = TrustSources {
            file: Some(bundle.into()),
            dirs: vec![],
            from_env: false,
        };
        let (roots, described) = load_sources(&sources).unwrap();
        assert!(roots.len() > 50, "{}", roots.len());
        assert!(described.contains("ca-certificates.crt"));
    }

    #[test]
    fn ca_file_errors_are_tls_errors() {
        let dir = std::env::temp_dir().join(format!("vsphere-http-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let garbled = dir.join("garbled.pem");
        std::fs::write(
            &garbled,
            "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let unterminated = dir.join("unterminated.pem");
        std::fs::write(&unterminated, "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
        for (path, words) in [
            (dir.join("missing.pem"), "cannot read"),
            (empty, "no PEM certificate"),
            (garbled, "garbled"),
            (unterminated, "garbled"),
        ] {
            match load_ca_file(&path) {
                Err(Error::Tls(m)) => {
                    assert!(
                        m.contains(words) && m.contains(&path.display().to_string()),
                        "{m}"
                    )
                }
                other => panic!("{}: {:?}", path.display(), other.map(|r| r.len())),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
