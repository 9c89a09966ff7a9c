//! What HTTPS costs over HTTP, per fence-agent-like process and per
//! request: `cargo bench -p vsphere-http`. Not a test: it prints numbers.
//!
//! Each row runs vsphere-http-probe (a fresh process: start-up, trust
//! store, resolution, connection, handshake, one GET) many times against
//! servers on 127.0.0.1, and, in this process, a fresh client's first
//! request (connection and handshake included) and a kept-alive request.
//! "system store" is Debian's bundle with the test CA appended, named by
//! SSL_CERT_FILE, so that all of its CAs are read as at a real start.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{ok, KeyKind, Options, Pki, Server, TempDir};
use vsphere_http::{Client, Deadline, Endpoint, Family, Method, TlsPolicy};

const RUNS: usize = 40;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:7.2} ms", d.as_secs_f64() * 1000.0)
}

fn probe_run(port: u16, args: &[&str], cert_file: Option<&Path>) -> Duration {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vsphere-http-probe"));
    cmd.args(args)
        .args(["127.0.0.1", &port.to_string()])
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    if let Some(f) = cert_file {
        cmd.env("SSL_CERT_FILE", f);
    }
    let started = Instant::now();
    let out = cmd.output().expect("vsphere-http-probe");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    took
}

fn in_process(port: u16, policy: &TlsPolicy) -> (Duration, Duration) {
    let endpoint = Endpoint::parse("127.0.0.1", Some(port), policy).unwrap();
    let mut first = Vec::new();
    let mut again = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut c = Client::new(endpoint.clone(), policy, Family::Any).unwrap();
        let deadline = Deadline::after(Duration::from_secs(5));
        c.request(Method::Get, "/", &[], b"", deadline).unwrap();
        first.push(started.elapsed());
        let started = Instant::now();
        c.request(Method::Get, "/", &[], b"", deadline).unwrap();
        again.push(started.elapsed());
    }
    (median(first), median(again))
}

struct Row {
    label: String,
    process: Duration,
    first: Duration,
    again: Duration,
}

fn main() {
    let plain = Server::start(Options::default(), |_, _| ok("status"));
    let (first, again) = in_process(plain.port(), &TlsPolicy::PlainHttp);
    let process = median(
        (0..RUNS)
            .map(|_| probe_run(plain.port(), &["--plain"], None))
            .collect(),
    );
    let mut rows = vec![Row {
        label: "HTTP".into(),
        process,
        first,
        again,
    }];
    let scratch = TempDir::new("bench");
    let pkis =
        [KeyKind::Rsa2048, KeyKind::EcdsaP256].map(|kind| (kind, Pki::new(kind, &["127.0.0.1"])));
    // One "system store" for both: this process reads it once.
    let system: PathBuf = scratch.path().join("system.pem");
    let bundle = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    let cas: String = pkis.iter().map(|(_, p)| p.ca_pem.as_str()).collect();
    std::fs::write(&system, format!("{bundle}{cas}")).unwrap();
    std::env::set_var("SSL_CERT_FILE", &system);
    for (kind, pki) in &pkis {
        let server = Server::start(
            Options {
                tls: Some(pki.server.clone()),
                ..Options::default()
            },
            |_, _| ok("status"),
        );
        let ca = pki.ca_file.display().to_string();
        let cases: [(&str, Vec<&str>, Option<&Path>, TlsPolicy); 3] = [
            (
                "cacert",
                vec!["--cacert", &ca],
                None,
                TlsPolicy::Verify {
                    ca_file: Some(pki.ca_file.clone()),
                },
            ),
            (
                "system store",
                vec![],
                Some(system.as_path()),
                TlsPolicy::Verify { ca_file: None },
            ),
            ("insecure", vec!["--insecure"], None, TlsPolicy::Insecure),
        ];
        for (what, args, cert_file, policy) in cases {
            let process = median(
                (0..RUNS)
                    .map(|_| probe_run(server.port(), &args, cert_file))
                    .collect(),
            );
            let (first, again) = in_process(server.port(), &policy);
            rows.push(Row {
                label: format!("HTTPS {kind:?} {what}"),
                process,
                first,
                again,
            });
        }
    }
    let http = rows[0].process;
    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>12}",
        "median of 40", "process", "1st req", "kept-alive", "process-HTTP"
    );
    for r in &rows {
        println!(
            "{:<34} {} {} {} {:>9.2} ms",
            r.label,
            ms(r.process),
            ms(r.first),
            ms(r.again),
            (r.process.as_secs_f64() - http.as_secs_f64()) * 1000.0
        );
    }
}
