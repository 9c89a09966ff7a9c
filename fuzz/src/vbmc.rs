//! vmware-vbmc: the RMCP/RMCP+ datagram parser and the configuration file.
//!
//! What must hold of a datagram the parser accepts: built again from what
//! was read (by the daemon's own builders) it is the same datagram after
//! the RMCP header, and reads the same; an IPMI request inside reads back
//! from the message a remote console would build, and its response
//! carries its sequence number and command.
//!
//! Of the configuration: a password never shows in a problem line nor in
//! the Debug form of what was read.

use agent_framework::find_secret;
use vmware_vbmc::config;
use vmware_vbmc::ipmi::CompletionCode;
use vmware_vbmc::wire::{
    self, asf_ping, build_request, build_response, parse_packet, parse_request, parse_response,
    rmcp_plus_packet, v15_packet, Packet,
};

use crate::Fields;

/// An IPMI request message: read back from the request a console builds
/// from it, and answered with its own sequence number and command.
fn check_request(msg: &[u8]) {
    let Ok(req) = parse_request(msg) else {
        return;
    };
    let rebuilt = build_request(req.netfn, req.cmd, req.rq_seq, req.data);
    let again = parse_request(&rebuilt).expect("a built request reads back");
    assert_eq!(
        (again.netfn, again.cmd, again.rq_seq, again.data),
        (req.netfn, req.cmd, req.rq_seq, req.data)
    );
    let answer = build_response(&req, CompletionCode::OK, req.data);
    let read = parse_response(&answer).expect("a built response reads back");
    assert_eq!(read.netfn, req.netfn | 1);
    assert_eq!((read.rq_seq, read.cmd), (req.rq_seq, req.cmd));
    assert_eq!(read.completion_code, CompletionCode::OK);
    assert_eq!(read.data, req.data);
}

pub fn packet(data: &[u8]) {
    let _ = parse_response(data);
    check_request(data);
    let Ok(packet) = parse_packet(data) else {
        return;
    };
    let rebuilt = match &packet {
        Packet::AsfPing { message_tag } => {
            let ping = asf_ping(*message_tag);
            assert_eq!(parse_packet(&ping), Ok(packet.clone()));
            return;
        }
        Packet::V15 {
            sequence, message, ..
        } => {
            check_request(message);
            v15_packet(*sequence, message)
        }
        Packet::RmcpPlus(p) => {
            if p.payload_type == wire::payload::IPMI && !p.encrypted {
                check_request(p.payload);
            }
            let code = p.auth_code.to_vec();
            let sign = move |_: &[u8]| code.clone();
            rmcp_plus_packet(
                p.payload_type,
                p.encrypted,
                p.session_id,
                p.sequence,
                p.payload,
                p.authenticated.then_some(&sign as wire::Signer<'_>),
            )
        }
    };
    let again = parse_packet(&rebuilt).expect("a packet built from a parsed one reads back");
    match (&packet, &again) {
        // The builder writes session 0, as before any session.
        (
            Packet::V15 {
                sequence, message, ..
            },
            Packet::V15 {
                sequence: s2,
                message: m2,
                session_id: 0,
            },
        ) => {
            assert_eq!((sequence, message), (s2, m2));
            // The same bytes but the session ID, and without the legacy
            // pad byte some senders add after the message.
            let mut expected = data[..14 + message.len()].to_vec();
            expected[9..13].fill(0);
            assert_eq!(
                rebuilt[4..],
                expected[4..],
                "the datagram built again differs"
            );
        }
        (Packet::RmcpPlus(_), Packet::RmcpPlus(_)) => {
            assert_eq!(again, packet);
            assert_eq!(rebuilt[4..], data[4..], "the datagram built again differs");
        }
        other => panic!("read back as another kind of packet: {other:?}"),
    }
}

/// TOML basic string escaping, for the password planted in the file.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Fields: text before, the password, text after, which setting holds it.
/// The password is a run of non-ASCII characters found nowhere else in the
/// file: the problem lines' own words are ASCII, so a password found in a
/// problem line came from the password's value.
pub fn config(data: &[u8]) {
    let whole = String::from_utf8_lossy(data);
    let _ = config::parse(&whole);

    let f = Fields::new(data);
    let (before, password, after) = (f.text(0), f.text(1), f.text(2));
    let usable = password.chars().count() >= 2
        && password.chars().all(|c| !c.is_ascii() && c != '\u{fffd}')
        && find_secret(&format!("{before}\n{after}"), &password).is_empty();
    if !usable {
        return;
    }
    let setting = ["password", "passwd", "ipmi_password"][usize::from(f.byte(3)) % 3];
    let text = format!("{before}\n{setting} = {}\n{after}", toml_string(&password));
    match config::parse(&text) {
        Ok(c) => {
            let shown = format!("{c:?}");
            assert!(
                find_secret(&shown, &password).is_empty(),
                "the password shows in the configuration's Debug form: {shown}"
            );
        }
        Err(problems) => {
            for line in &problems {
                assert!(
                    find_secret(line, &password).is_empty(),
                    "the password shows in a problem line: {line:?}"
                );
                assert!(!line.contains('\n'), "a problem of two lines: {line:?}");
            }
        }
    }
}
