//! `vsphere-http-probe`: one or more requests with vsphere-http, for
//! diagnosing a vSphere endpoint's TLS and timing by hand, and for the
//! crate's tests and bench (which need a process of its own to show what
//! SSL_CERT_FILE does and what a fresh process pays).
//!
//!     vsphere-http-probe [--cacert FILE | --insecure | --plain] [--inet4 | --inet6]
//!                        [--timeout-ms N] [--count N] [--path P] [-v] IP [PORT]
//!
//! Prints `status N, M bytes` per request, or `error <Kind>: <message>`
//! and exits 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agent_framework::logging;
use vsphere_http::{Client, Deadline, Endpoint, Error, Family, Method, TlsPolicy};

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Timeout { .. } => "Timeout",
        Error::Resolve { .. } => "Resolve",
        Error::Connect(_) => "Connect",
        Error::Tls(_) => "Tls",
        Error::Io { .. } => "Io",
        Error::Protocol(_) => "Protocol",
        Error::TooLarge { .. } => "TooLarge",
        Error::InvalidRequest(_) => "InvalidRequest",
    }
}

struct Args {
    policy: TlsPolicy,
    family: Family,
    timeout: Duration,
    count: u32,
    path: String,
    ip: String,
    port: Option<u16>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        policy: TlsPolicy::Verify { ca_file: None },
        family: Family::Any,
        timeout: Duration::from_secs(10),
        count: 1,
        path: "/".into(),
        ip: String::new(),
        port: None,
    };
    let mut positional = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--cacert" => {
                args.policy = TlsPolicy::Verify {
                    ca_file: Some(PathBuf::from(value("--cacert")?)),
                }
            }
            "--insecure" => args.policy = TlsPolicy::Insecure,
            "--plain" => args.policy = TlsPolicy::PlainHttp,
            "--inet4" => args.family = Family::V4,
            "--inet6" => args.family = Family::V6,
            "--timeout-ms" => {
                let ms = value("--timeout-ms")?;
                let ms: u64 = ms.parse().map_err(|_| format!("bad --timeout-ms {ms:?}"))?;
                args.timeout = Duration::from_millis(ms);
            }
            "--count" => {
                let n = value("--count")?;
                args.count = n.parse().map_err(|_| format!("bad --count {n:?}"))?;
            }
            "--path" => args.path = value("--path")?,
            "-v" => logging::set_verbose_level(2),
            _ if a.starts_with('-') => return Err(format!("unknown option {a}")),
            _ => positional.push(a),
        }
    }
    match positional.as_slice() {
        [ip] => args.ip = ip.clone(),
        [ip, port] => {
            args.ip = ip.clone();
            args.port = Some(port.parse().map_err(|_| format!("bad port {port:?}"))?);
        }
        _ => return Err("usage: vsphere-http-probe [options] IP [PORT]".into()),
    }
    Ok(args)
}

fn run(args: &Args) -> Result<(), Error> {
    let endpoint =
        Endpoint::parse(&args.ip, args.port, &args.policy).map_err(Error::InvalidRequest)?;
    let mut client = Client::new(endpoint, &args.policy, args.family)?;
    for _ in 0..args.count {
        let response = client.request(
            Method::Get,
            &args.path,
            &[("User-Agent", "vsphere-http-probe")],
            b"",
            Deadline::after(args.timeout),
        )?;
        println!("status {}, {} bytes", response.status, response.body.len());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error {}: {e}", kind(&e));
            ExitCode::FAILURE
        }
    }
}
