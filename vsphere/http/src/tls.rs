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
            Arc::new(chain_or_exact(&load_ca_file(path)?)?),
            format!("the CAs of {}", path.display()),
        ),
        TlsPolicy::Verify { ca_file: None } => {
            let store = system_trust()?;
            let verifier = ChainOrExact {
                wider: Some(store),
                ..chain_or_exact(&store.file)?
            };
            (Arc::new(verifier), store.described.clone())
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

fn chain_or_exact(trusted: &Trusted) -> Result<ChainOrExact, Error> {
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::clone(&trusted.roots),
        provider(),
    )
    .build()
    .map_err(|e| Error::Tls(format!("cannot set up certificate verification: {e}")))?;
    Ok(ChainOrExact {
        webpki,
        exact: Arc::clone(&trusted.certs),
        wider: None,
    })
}

/// Trust anchors, and the certificates they came from.
#[derive(Debug, Clone)]
pub(crate) struct Trusted {
    roots: Arc<RootCertStore>,
    certs: Arc<[CertificateDer<'static>]>,
}

impl Trusted {
    pub fn len(&self) -> usize {
        self.certs.len()
    }
}

/// Collects certificates into a [`Trusted`].
struct TrustedBuilder {
    roots: RootCertStore,
    certs: Vec<CertificateDer<'static>>,
}

impl TrustedBuilder {
    fn new() -> TrustedBuilder {
        TrustedBuilder {
            roots: RootCertStore::empty(),
            certs: Vec::new(),
        }
    }

    fn add(&mut self, cert: CertificateDer<'static>) -> Result<(), rustls::Error> {
        self.roots.add(cert.clone())?;
        self.certs.push(cert);
        Ok(())
    }

    /// Adds every certificate in `bytes` that is a usable trust anchor;
    /// OpenSSL too skips what it cannot use in a system store.
    fn add_pem(&mut self, bytes: &[u8]) -> usize {
        CertificateDer::pem_slice_iter(bytes)
            .filter_map(Result::ok)
            .filter(|cert| self.add(cert.clone()).is_ok())
            .count()
    }

    fn build(self) -> Trusted {
        Trusted {
            roots: Arc::new(self.roots),
            certs: self.certs.into(),
        }
    }
}

/// The chain to a trust anchor, as webpki verifies it; or else the very
/// certificate the server presents is one of the trusted certificates;
/// or else, for the system store, a chain to a CA of its directories.
/// That second way is how OpenSSL trusts a self-signed server certificate
/// given as the CA file, which webpki refuses when it says CA:TRUE
/// (CaUsedAsEndEntity, rustls/webpki issue 205), as certificates made by
/// `openssl req -x509` do. The name and the validity period are still
/// checked, and rustls checks that the server holds the certificate's key.
#[derive(Debug)]
struct ChainOrExact {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    exact: Arc<[CertificateDer<'static>]>,
    /// The system store whose file gave `webpki` its CAs: its directories
    /// are searched when those fail.
    wider: Option<&'static SystemTrust>,
}

impl ServerCertVerifier for ChainOrExact {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if !matches!(chain, Err(rustls::Error::InvalidCertificate(_))) {
            return chain;
        }
        if self.exact.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            return verify_exact(end_entity, server_name, now);
        }
        match self.wider.and_then(SystemTrust::widened) {
            Some(wider) => {
                wider.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => chain,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// A trusted certificate presented as it is: valid for the name, and now.
fn verify_exact(
    cert: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    let invalid = rustls::Error::InvalidCertificate;
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|_| invalid(CertificateError::BadEncoding))?;
    parsed
        .verify_is_valid_for_subject_name(name)
        .map_err(|_| invalid(CertificateError::NotValidForName))?;
    let (not_before, not_after) =
        crate::x509::validity(cert.as_ref()).ok_or(invalid(CertificateError::BadEncoding))?;
    if now.as_secs() < not_before {
        return Err(invalid(CertificateError::NotValidYet));
    }
    if now.as_secs() > not_after {
        return Err(invalid(CertificateError::Expired));
    }
    Ok(ServerCertVerified::assertion())
}

/// Only the CAs of one PEM file: every certificate in it must parse and
/// be usable as a trust anchor, and there must be at least one.
pub(crate) fn load_ca_file(path: &Path) -> Result<Trusted, Error> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Tls(format!("cannot read the CA certificate file {shown}: {e}")))?;
    let mut trusted = TrustedBuilder::new();
    for (i, item) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let cert = item.map_err(|e| {
            Error::Tls(format!(
                "the CA certificate file {shown} is garbled after {i} certificates: {e}"
            ))
        })?;
        trusted.add(cert).map_err(|e| {
            Error::Tls(format!(
                "certificate {} of the CA certificate file {shown} is not a usable CA certificate: {e}",
                i + 1
            ))
        })?;
    }
    if trusted.certs.is_empty() {
        return Err(Error::Tls(format!(
            "no PEM certificate in the CA certificate file {shown}"
        )));
    }
    Ok(trusted.build())
}

/// Where OpenSSL looks for trusted CAs: a file of CAs (SSL_CERT_FILE, else
/// the distribution's bundle) and directories of files named by subject
/// hash (SSL_CERT_DIR, a colon-separated list, else the distribution's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrustSources {
    pub file: Option<PathBuf>,
    pub file_from_env: bool,
    pub dirs: Vec<PathBuf>,
    pub dirs_from_env: bool,
}

impl TrustSources {
    fn file_label(&self, file: &Path) -> String {
        if self.file_from_env {
            format!("SSL_CERT_FILE={}", file.display())
        } else {
            file.display().to_string()
        }
    }

    fn dir_label(&self, dir: &Path) -> String {
        if self.dirs_from_env {
            format!("SSL_CERT_DIR={}", dir.display())
        } else {
            dir.display().to_string()
        }
    }
}

/// The bundles distributions keep, Debian's first: the first that exists
/// is the default file.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// OpenSSL's default directory on Debian (/usr/lib/ssl/certs links there).
const SYSTEM_DIR: &str = "/etc/ssl/certs";

/// The sources from the environment, as OpenSSL reads it: an empty
/// variable is an unset one.
pub(crate) fn trust_sources(env: impl Fn(&str) -> Option<OsString>) -> TrustSources {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let file_env = set("SSL_CERT_FILE").map(PathBuf::from);
    let dirs_env: Option<Vec<PathBuf>> = set("SSL_CERT_DIR").map(|v| {
        std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect()
    });
    TrustSources {
        file_from_env: file_env.is_some(),
        file: file_env.or_else(|| {
            SYSTEM_BUNDLES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        }),
        dirs_from_env: dirs_env.is_some(),
        dirs: dirs_env.unwrap_or_else(|| {
            Some(PathBuf::from(SYSTEM_DIR))
                .filter(|d| d.is_dir())
                .into_iter()
                .collect()
        }),
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

/// Adds the CAs of `sources`' file; what went wrong goes to `problems`.
fn add_file(sources: &TrustSources, into: &mut TrustedBuilder, problems: &mut Vec<String>) {
    if let Some(file) = &sources.file {
        let shown = sources.file_label(file);
        match std::fs::read(file) {
            Ok(bytes) => {
                if into.add_pem(&bytes) == 0 {
                    problems.push(format!("{shown} holds no usable certificate"));
                }
            }
            Err(e) => problems.push(format!("{shown}: {e}")),
        }
    }
}

/// Adds the CAs of every hashed file in `sources`' directories.
fn add_dirs(
    sources: &TrustSources,
    into: &mut TrustedBuilder,
    problems: &mut Vec<String>,
) -> usize {
    let mut added = 0;
    for dir in &sources.dirs {
        let shown = sources.dir_label(dir);
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut n = 0;
                for entry in entries.flatten() {
                    if entry.file_name().to_str().is_some_and(is_hashed_name) {
                        if let Ok(bytes) = std::fs::read(entry.path()) {
                            n += into.add_pem(&bytes);
                        }
                    }
                }
                if n == 0 {
                    problems.push(format!("{shown} holds no usable hashed certificate"));
                }
                added += n;
            }
            Err(e) => problems.push(format!("{shown}: {e}")),
        }
    }
    added
}

/// The system store of this process. The file is read at once; the
/// directories, which OpenSSL searches only for an issuer its file lacks,
/// are read only when a certificate does not verify against the file
/// (hundreds of file reads that a status call should not pay).
#[derive(Debug)]
pub(crate) struct SystemTrust {
    sources: TrustSources,
    file: Trusted,
    /// File and directories together; `None` when the directories add
    /// nothing (none, unreadable, or already read because the file held
    /// no CA).
    widened: OnceLock<Option<ChainOrExact>>,
    described: String,
}

impl SystemTrust {
    /// A store without a single CA is an error that says where it looked.
    pub(crate) fn load(sources: TrustSources) -> Result<SystemTrust, String> {
        let mut builder = TrustedBuilder::new();
        let mut problems = Vec::new();
        add_file(&sources, &mut builder, &mut problems);
        let widened = OnceLock::new();
        if builder.certs.is_empty() {
            add_dirs(&sources, &mut builder, &mut problems);
            let _ = widened.set(None);
        }
        if builder.certs.is_empty() {
            if sources.file.is_none() && sources.dirs.is_empty() {
                problems.push(format!(
                    "neither {} nor {SYSTEM_DIR} exists",
                    SYSTEM_BUNDLES[0]
                ));
            }
            return Err(format!(
                "no trusted CA certificate in the system trust store: {}",
                problems.join("; ")
            ));
        }
        let mut places: Vec<String> = sources.file.iter().map(|f| sources.file_label(f)).collect();
        places.extend(sources.dirs.iter().map(|d| sources.dir_label(d)));
        let described = format!("the system trust store ({})", places.join(", "));
        Ok(SystemTrust {
            sources,
            file: builder.build(),
            widened,
            described,
        })
    }

    fn widened(&self) -> Option<&ChainOrExact> {
        self.widened
            .get_or_init(|| {
                let mut builder = TrustedBuilder::new();
                for cert in self.file.certs.iter() {
                    let _ = builder.add(cert.clone());
                }
                let added = add_dirs(&self.sources, &mut builder, &mut Vec::new());
                logging::debug(format!(
                    "TLS: {added} more CAs from the certificate directories"
                ));
                if added == 0 {
                    return None;
                }
                chain_or_exact(&builder.build()).ok()
            })
            .as_ref()
    }
}

/// The system store, read at the first call of the process.
fn system_trust() -> Result<&'static SystemTrust, Error> {
    static SYSTEM: OnceLock<Result<SystemTrust, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let loaded = SystemTrust::load(trust_sources(|name| std::env::var_os(name)));
            if let Ok(store) = &loaded {
                logging::debug(format!(
                    "TLS: {} CAs from {}",
                    store.file.len(),
                    store.described
                ));
            }
            loaded
        })
        .as_ref()
        .map_err(|e| Error::Tls(e.clone()))
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
            // A CA of the same name but another key: self-signed vCenter
            // and ESXi CAs often share their names.
            CertificateError::BadSignature => format!(
                "the server's certificate is not trusted: its signature does not verify against {trust} (certificate verify failed: bad signature)"
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
            CertificateError::Other(other)
                if matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                format!(
                    "the server's certificate is not trusted: it is a self-signed CA certificate that is not in {trust}"
                )
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
    fn the_environment_names_the_file_and_directories_as_for_openssl() {
        let debian = Path::new("/etc/ssl/certs/ca-certificates.crt").is_file();
        let s = trust_sources(env(&[("SSL_CERT_FILE", "/tmp/ca.pem")]));
        assert_eq!(s.file, Some(PathBuf::from("/tmp/ca.pem")));
        assert!(s.file_from_env && !s.dirs_from_env);
        if debian {
            assert_eq!(
                s.dirs,
                [PathBuf::from("/etc/ssl/certs")],
                "the default directory stays"
            );
        }
        let s = trust_sources(env(&[("SSL_CERT_DIR", "/a:/b")]));
        assert_eq!(s.dirs, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(s.dirs_from_env && !s.file_from_env);
        let s = trust_sources(env(&[("SSL_CERT_FILE", ""), ("SSL_CERT_DIR", "")]));
        assert!(
            !s.file_from_env && !s.dirs_from_env,
            "empty variables are unset, as for OpenSSL"
        );
        if debian {
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
            file_from_env: true,
            dirs: vec!["/nonexistent/dir".into()],
            dirs_from_env: true,
        };
        let e = SystemTrust::load(sources).err().unwrap();
        assert!(e.contains("SSL_CERT_FILE=/nonexistent/ca.pem"), "{e}");
        assert!(e.contains("SSL_CERT_DIR=/nonexistent/dir"), "{e}");
        assert!(e.contains("no trusted CA certificate"), "{e}");
    }

    #[test]
    fn debian_store_loads_its_file_and_defers_its_directory() {
        let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
        if !bundle.is_file() {
            return;
        }
        let store = SystemTrust::load(trust_sources(env(&[]))).unwrap();
        assert!(store.file.len() > 50, "{}", store.file.len());
        assert!(
            store.described.contains("ca-certificates.crt"),
            "{}",
            store.described
        );
        assert!(
            store.widened.get().is_none(),
            "the directory is not read yet"
        );
        // Debian's directory holds the bundle's CAs again: read on demand.
        assert!(store.widened().is_some());
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
