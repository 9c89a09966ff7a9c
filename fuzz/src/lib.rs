//! The bodies of the fuzz targets, in one place for both of their callers:
//! the libFuzzer harness (`fuzz_targets/`, built by `cargo fuzz` through
//! `make fuzz`) and the replay test (`tests/replay.rs`, plain `cargo test`
//! on stable), which feeds them every committed corpus and crash file.
//!
//! Each body takes arbitrary bytes, runs one family of parsers and asserts
//! what must hold of the answer beyond "no panic": round trips (parse,
//! render, parse again), limits, and the safety properties of fencing
//! (no secret in a masked line or an error, no VM confused with another).
//! Where a body builds structured input (a summary printed around a
//! hostile name, a secret in several encodings), it splits the fuzzer's
//! bytes into fields at NUL bytes (see [`Fields`]), so that seed files
//! stay readable text.

pub mod address;
pub mod agent_input;
pub mod esxi;
pub mod guest_free;
pub mod http;
pub mod replay;
pub mod rest;
pub mod secret;
pub mod soap;
pub mod ssh;
pub mod vbmc;
pub mod vim25;
pub mod vmrun;
pub mod x509;

/// A fuzz target's body.
pub type Body = fn(&[u8]);

/// Every target: the name of its `fuzz_targets/` binary and of its corpus
/// directories, and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("stdin_input", agent_input::stdin_input),
    ("argv_input", agent_input::argv_input),
    ("soap_reply", soap::soap_reply),
    ("vsphere_names", soap::vsphere_names),
    ("http_response", http::http_response),
    ("esxi_getallvms", esxi::getallvms),
    ("esxi_summary", esxi::summary),
    ("esxi_esxcli", esxi::esxcli),
    ("esxi_vimcmd", esxi::vimcmd),
    ("ssh_known_hosts", ssh::known_hosts),
    ("ssh_options", ssh::ssh_options),
    ("vbmc_packet", vbmc::packet),
    ("vbmc_config", vbmc::config),
    ("vmrun_output", vmrun::vmrun_output),
    ("secret_masking", secret::secret_masking),
    ("esxi_guest_free", guest_free::guest_free),
    ("rest_reply", rest::rest_reply),
    ("rest_filter", rest::rest_filter),
    ("vim25_read_named", vim25::read_named),
    ("ip_address", address::ip_address),
    ("x509_validity", x509::certificate_validity),
];

/// The body of the target `name`. A harness naming no target is a
/// programming error, found by its first run (and by the replay test,
/// which checks that every harness names one).
pub fn body(name: &str) -> Body {
    match TARGETS.iter().find(|(n, _)| *n == name) {
        Some((_, f)) => *f,
        None => panic!("no fuzz target named {name:?}"),
    }
}

/// The fuzzer's bytes as NUL-separated fields; a field that is not there
/// is empty.
pub struct Fields<'a>(Vec<&'a [u8]>);

impl<'a> Fields<'a> {
    pub fn new(data: &'a [u8]) -> Fields<'a> {
        Fields(data.split(|b| *b == 0).collect())
    }

    pub fn bytes(&self, i: usize) -> &'a [u8] {
        self.0.get(i).copied().unwrap_or(&[])
    }

    /// Field `i` as text (invalid UTF-8 replaced).
    pub fn text(&self, i: usize) -> String {
        String::from_utf8_lossy(self.bytes(i)).into_owned()
    }

    /// The first byte of field `i`, or 0.
    pub fn byte(&self, i: usize) -> u8 {
        self.bytes(i).first().copied().unwrap_or(0)
    }

    /// Fields `from..` as texts.
    pub fn rest(&self, from: usize) -> Vec<String> {
        self.0
            .iter()
            .skip(from)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }
}

/// Choices taken in turn from a byte string (0 when it is empty), for a
/// body that decides many small things from one field.
pub struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Choices<'a> {
    pub fn new(bytes: &'a [u8]) -> Choices<'a> {
        Choices { bytes, at: 0 }
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        let b = if self.bytes.is_empty() {
            0
        } else {
            self.bytes[self.at % self.bytes.len()]
        };
        self.at += 1;
        usize::from(b) % n
    }
}
