//! The bytes on the wire: RMCP, ASF presence ping/pong, the IPMI v1.5 and
//! v2.0 (RMCP+) session headers and trailer, and IPMI LAN messages.
//!
//! Everything here is pure: bytes in, a borrowed view or an error out, no
//! state and no keys. [`parse_packet`] accepts any bytes whatsoever (it is
//! what a fuzz target calls); the checks that need session keys (integrity,
//! decryption, sequence numbers) are the session layer's.

use std::fmt;

use crate::ipmi::{CompletionCode, BMC_ADDRESS};

/// RMCP header (IPMI v2.0 §13.1.3): version 06h = RMCP 1.0.
pub const RMCP_VERSION: u8 = 0x06;
/// RMCP sequence number FFh: "no RMCP ACK". IPMI messages never ask for
/// RMCP ACKs (§13.1.3), so every message this BMC sends carries it.
pub const RMCP_NO_ACK: u8 = 0xFF;
/// RMCP message classes (§13.1.3): bit 7 marks an RMCP ACK, bits 4:0 the
/// class.
pub const CLASS_ASF: u8 = 0x06;
pub const CLASS_IPMI: u8 = 0x07;
const CLASS_ACK_BIT: u8 = 0x80;
const CLASS_MASK: u8 = 0x1F;

/// ASF (DMTF DSP0136 v2.0 §3.2.2.3): the IANA enterprise number of the
/// ASF message header, big-endian on the wire.
pub const ASF_IANA: u32 = 4542;
/// ASF message types (ASF 2.0 §3.2.4.1; IPMI v2.0 §13.2.3, §13.2.4).
pub const ASF_PRESENCE_PING: u8 = 0x80;
pub const ASF_PRESENCE_PONG: u8 = 0x40;

/// Authentication type / format byte of the session header (IPMI v2.0
/// §13.6, Table 13-8): 00h is IPMI v1.5 without authentication, 06h RMCP+.
pub const AUTH_TYPE_NONE: u8 = 0x00;
pub const AUTH_TYPE_RMCP_PLUS: u8 = 0x06;

/// RMCP+ payload types (IPMI v2.0 §13.27.3, Table 13-16).
pub mod payload {
    pub const IPMI: u8 = 0x00;
    pub const OEM_EXPLICIT: u8 = 0x02;
    pub const OPEN_SESSION_REQUEST: u8 = 0x10;
    pub const OPEN_SESSION_RESPONSE: u8 = 0x11;
    pub const RAKP_1: u8 = 0x12;
    pub const RAKP_2: u8 = 0x13;
    pub const RAKP_3: u8 = 0x14;
    pub const RAKP_4: u8 = 0x15;
}
const PAYLOAD_ENCRYPTED: u8 = 0x80;
const PAYLOAD_AUTHENTICATED: u8 = 0x40;
const PAYLOAD_TYPE_MASK: u8 = 0x3F;

/// The "Next Header" byte of the RMCP+ session trailer: always 07h
/// (§13.6, Table 13-8).
pub const NEXT_HEADER: u8 = 0x07;
/// Integrity pad bytes are FFh (§13.6, Table 13-8).
const INTEGRITY_PAD_BYTE: u8 = 0xFF;
/// The longest AuthCode of any integrity algorithm (HMAC-SHA256-128 and
/// HMAC-MD5-128 both send 16 bytes; nothing defined sends more than 32).
const MAX_AUTH_CODE: usize = 32;

/// Why a datagram is not something this BMC answers. Every variant is a
/// silent discard on the network; the text is for the debug log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    Truncated { needed: usize, got: usize },
    NotRmcp { version: u8 },
    RmcpAck,
    UnsupportedClass(u8),
    NotAsfPing { iana: u32, message_type: u8 },
    AuthenticatedV15(u8),
    UnknownAuthType(u8),
    LengthMismatch { declared: usize, present: usize },
    OemPayload,
    BadIntegrityPad,
    BadNextHeader(u8),
    BadAuthCodeLength(usize),
    BadChecksum,
    NotARequest { netfn: u8 },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated { needed, got } => {
                write!(f, "truncated: {got} bytes, at least {needed} needed")
            }
            WireError::NotRmcp { version } => {
                write!(f, "not RMCP 1.0 (version byte {version:02X}h)")
            }
            WireError::RmcpAck => f.write_str("an RMCP ACK (IPMI never asks for one)"),
            WireError::UnsupportedClass(c) => {
                write!(f, "RMCP class {c:02X}h is neither ASF nor IPMI")
            }
            WireError::NotAsfPing { iana, message_type } => write!(
                f,
                "ASF message type {message_type:02X}h of enterprise {iana} is not a presence ping"
            ),
            WireError::AuthenticatedV15(t) => write!(
                f,
                "IPMI v1.5 authentication type {t:02X}h: v1.5 sessions are not offered"
            ),
            WireError::UnknownAuthType(t) => write!(f, "unknown authentication type {t:02X}h"),
            WireError::LengthMismatch { declared, present } => write!(
                f,
                "length field says {declared} bytes, the datagram holds {present}"
            ),
            WireError::OemPayload => f.write_str("OEM explicit payloads are not supported"),
            WireError::BadIntegrityPad => f.write_str("malformed integrity pad"),
            WireError::BadNextHeader(b) => write!(f, "next header {b:02X}h is not 07h"),
            WireError::BadAuthCodeLength(n) => write!(f, "AuthCode of {n} bytes"),
            WireError::BadChecksum => f.write_str("IPMI message checksum mismatch"),
            WireError::NotARequest { netfn } => {
                write!(
                    f,
                    "network function {netfn:02X}h is a response, not a request"
                )
            }
        }
    }
}

impl std::error::Error for WireError {}

/// One datagram, understood as far as possible without a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// ASF Presence Ping (IPMI v2.0 §13.2.3): "is there an IPMI BMC here?"
    AsfPing { message_tag: u8 },
    /// The IPMI v1.5 session format without authentication (§13.6, Table
    /// 13-8, left column): only used before any session, for Get Channel
    /// Authentication Capabilities.
    V15 {
        sequence: u32,
        session_id: u32,
        message: &'a [u8],
    },
    /// The IPMI v2.0 RMCP+ session format (§13.6, Table 13-8).
    RmcpPlus(RmcpPlus<'a>),
}

/// An RMCP+ packet, its payload still encrypted and its AuthCode not yet
/// checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RmcpPlus<'a> {
    pub payload_type: u8,
    pub encrypted: bool,
    pub authenticated: bool,
    pub session_id: u32,
    pub sequence: u32,
    pub payload: &'a [u8],
    /// With `authenticated`: what the AuthCode covers, from the
    /// authentication type field through Next Header (§13.28.4).
    pub signed: &'a [u8],
    pub auth_code: &'a [u8],
}

fn need(bytes: &[u8], n: usize) -> Result<(), WireError> {
    if bytes.len() < n {
        Err(WireError::Truncated {
            needed: n,
            got: bytes.len(),
        })
    } else {
        Ok(())
    }
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Parses one datagram. Accepts arbitrary bytes and never panics: a fuzz
/// target's entry point.
pub fn parse_packet(bytes: &[u8]) -> Result<Packet<'_>, WireError> {
    need(bytes, 4)?;
    if bytes[0] != RMCP_VERSION {
        return Err(WireError::NotRmcp { version: bytes[0] });
    }
    let class = bytes[3];
    if class & CLASS_ACK_BIT != 0 {
        return Err(WireError::RmcpAck);
    }
    match class & CLASS_MASK {
        CLASS_ASF => parse_asf(bytes),
        CLASS_IPMI => parse_ipmi(bytes),
        other => Err(WireError::UnsupportedClass(other)),
    }
}

/// ASF message header (ASF 2.0 §3.2.2.3): IANA number (4, big-endian),
/// message type, message tag, reserved, data length.
fn parse_asf(bytes: &[u8]) -> Result<Packet<'_>, WireError> {
    need(bytes, 12)?;
    let iana = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let message_type = bytes[8];
    if iana != ASF_IANA || message_type != ASF_PRESENCE_PING {
        return Err(WireError::NotAsfPing { iana, message_type });
    }
    let declared = bytes[11] as usize;
    if bytes.len() < 12 + declared {
        return Err(WireError::LengthMismatch {
            declared,
            present: bytes.len() - 12,
        });
    }
    Ok(Packet::AsfPing {
        message_tag: bytes[9],
    })
}

fn parse_ipmi(bytes: &[u8]) -> Result<Packet<'_>, WireError> {
    need(bytes, 5)?;
    match bytes[4] {
        AUTH_TYPE_NONE => parse_v15(bytes),
        AUTH_TYPE_RMCP_PLUS => parse_rmcp_plus(bytes).map(Packet::RmcpPlus),
        t @ (0x01 | 0x02 | 0x04 | 0x05) => Err(WireError::AuthenticatedV15(t)),
        t => Err(WireError::UnknownAuthType(t)),
    }
}

/// v1.5 header without AuthCode: auth type, sequence (4), session ID (4),
/// message length (1), message.
fn parse_v15(bytes: &[u8]) -> Result<Packet<'_>, WireError> {
    need(bytes, 14)?;
    let sequence = u32_le(&bytes[5..9]);
    let session_id = u32_le(&bytes[9..13]);
    let declared = bytes[13] as usize;
    let present = bytes.len() - 14;
    // Some v1.5 senders add one "legacy pad" byte after the message
    // (§13.6, footnote to Table 13-8); more than that is not IPMI.
    if present != declared && present != declared + 1 {
        return Err(WireError::LengthMismatch { declared, present });
    }
    Ok(Packet::V15 {
        sequence,
        session_id,
        message: &bytes[14..14 + declared],
    })
}

/// RMCP+ header: auth type 06h, payload type, session ID (4), sequence
/// (4), payload length (2, little-endian), payload, and when the payload is
/// authenticated: integrity pad (FFh), pad length, next header, AuthCode.
fn parse_rmcp_plus(bytes: &[u8]) -> Result<RmcpPlus<'_>, WireError> {
    need(bytes, 16)?;
    let type_byte = bytes[5];
    let payload_type = type_byte & PAYLOAD_TYPE_MASK;
    if payload_type == payload::OEM_EXPLICIT {
        return Err(WireError::OemPayload);
    }
    let encrypted = type_byte & PAYLOAD_ENCRYPTED != 0;
    let authenticated = type_byte & PAYLOAD_AUTHENTICATED != 0;
    let session_id = u32_le(&bytes[6..10]);
    let sequence = u32_le(&bytes[10..14]);
    let declared = u16::from_le_bytes([bytes[14], bytes[15]]) as usize;
    let rest = &bytes[16..];
    if rest.len() < declared {
        return Err(WireError::LengthMismatch {
            declared,
            present: rest.len(),
        });
    }
    let payload = &rest[..declared];
    let trailer = &rest[declared..];
    if !authenticated {
        if !trailer.is_empty() {
            return Err(WireError::LengthMismatch {
                declared,
                present: rest.len(),
            });
        }
        return Ok(RmcpPlus {
            payload_type,
            encrypted,
            authenticated,
            session_id,
            sequence,
            payload,
            signed: &[],
            auth_code: &[],
        });
    }
    // The pad makes the covered range, 12 header bytes + payload + pad +
    // pad length + next header, a multiple of 4 (§13.6, Table 13-8).
    let pad = integrity_pad_len(declared);
    if trailer.len() < pad + 2 {
        return Err(WireError::Truncated {
            needed: 16 + declared + pad + 2,
            got: bytes.len(),
        });
    }
    if trailer[..pad].iter().any(|&b| b != INTEGRITY_PAD_BYTE) || trailer[pad] as usize != pad {
        return Err(WireError::BadIntegrityPad);
    }
    if trailer[pad + 1] != NEXT_HEADER {
        return Err(WireError::BadNextHeader(trailer[pad + 1]));
    }
    let auth_code = &trailer[pad + 2..];
    if auth_code.is_empty() || auth_code.len() > MAX_AUTH_CODE {
        return Err(WireError::BadAuthCodeLength(auth_code.len()));
    }
    let signed_end = 16 + declared + pad + 2;
    Ok(RmcpPlus {
        payload_type,
        encrypted,
        authenticated,
        session_id,
        sequence,
        payload,
        signed: &bytes[4..signed_end],
        auth_code,
    })
}

fn integrity_pad_len(payload_len: usize) -> usize {
    (4 - (12 + payload_len + 2) % 4) % 4
}

/// An IPMI request message as carried on LAN (IPMI v2.0 §13.8, Figure
/// 13-4): rsAddr, netFn/rsLUN, checksum, rqAddr, rqSeq/rqLUN, cmd, data,
/// checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub rs_addr: u8,
    pub netfn: u8,
    pub rs_lun: u8,
    pub rq_addr: u8,
    pub rq_seq: u8,
    pub rq_lun: u8,
    pub cmd: u8,
    pub data: &'a [u8],
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |acc, &b| acc.wrapping_add(b))
        .wrapping_neg()
}

/// Parses a request message; both checksums must hold (§13.8: a message
/// with a bad checksum is discarded).
pub fn parse_request(msg: &[u8]) -> Result<Request<'_>, WireError> {
    need(msg, 7)?;
    if checksum(&msg[..2]) != msg[2] || checksum(&msg[3..msg.len() - 1]) != msg[msg.len() - 1] {
        return Err(WireError::BadChecksum);
    }
    let netfn = msg[1] >> 2;
    if netfn & 1 != 0 {
        return Err(WireError::NotARequest { netfn });
    }
    Ok(Request {
        rs_addr: msg[0],
        netfn,
        rs_lun: msg[1] & 0x03,
        rq_addr: msg[3],
        rq_seq: msg[4] >> 2,
        rq_lun: msg[4] & 0x03,
        cmd: msg[5],
        data: &msg[6..msg.len() - 1],
    })
}

/// The response message to `req`: addressed back to the requester, with
/// the request's sequence number and command, the completion code first.
pub fn build_response(req: &Request<'_>, cc: CompletionCode, data: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(8 + data.len());
    msg.push(req.rq_addr);
    msg.push(((req.netfn | 1) << 2) | req.rq_lun);
    msg.push(checksum(&msg[..2]));
    msg.push(BMC_ADDRESS);
    msg.push((req.rq_seq << 2) | req.rs_lun);
    msg.push(req.cmd);
    msg.push(cc.0);
    msg.extend_from_slice(data);
    let sum = checksum(&msg[3..]);
    msg.push(sum);
    msg
}

/// A request message, as a remote console builds it (tests, and the
/// response parser's counterpart).
pub fn build_request(netfn: u8, cmd: u8, rq_seq: u8, data: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(7 + data.len());
    msg.push(BMC_ADDRESS);
    msg.push(netfn << 2);
    msg.push(checksum(&msg[..2]));
    msg.push(0x81);
    msg.push((rq_seq & 0x3F) << 2);
    msg.push(cmd);
    msg.extend_from_slice(data);
    let sum = checksum(&msg[3..]);
    msg.push(sum);
    msg
}

/// A response message as a remote console reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    pub netfn: u8,
    pub rq_seq: u8,
    pub cmd: u8,
    pub completion_code: CompletionCode,
    pub data: &'a [u8],
}

pub fn parse_response(msg: &[u8]) -> Result<Response<'_>, WireError> {
    need(msg, 8)?;
    if checksum(&msg[..2]) != msg[2] || checksum(&msg[3..msg.len() - 1]) != msg[msg.len() - 1] {
        return Err(WireError::BadChecksum);
    }
    Ok(Response {
        netfn: msg[1] >> 2,
        rq_seq: msg[4] >> 2,
        cmd: msg[5],
        completion_code: CompletionCode(msg[6]),
        data: &msg[7..msg.len() - 1],
    })
}

fn rmcp_header(class: u8) -> [u8; 4] {
    [RMCP_VERSION, 0x00, RMCP_NO_ACK, class]
}

/// ASF Presence Pong (IPMI v2.0 §13.2.4, ASF 2.0 §3.2.4.3): IANA 4542 with
/// no OEM capabilities, "IPMI supported" and ASF version 1.0 in the
/// supported entities, no supported interactions.
pub fn asf_pong(message_tag: u8) -> Vec<u8> {
    let mut p = rmcp_header(CLASS_ASF).to_vec();
    p.extend_from_slice(&ASF_IANA.to_be_bytes());
    p.extend_from_slice(&[ASF_PRESENCE_PONG, message_tag, 0x00, 0x10]);
    p.extend_from_slice(&ASF_IANA.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]); // OEM-defined
    p.push(0x81); // bit 7: IPMI supported; bits 3:0: ASF v1.0
    p.push(0x00); // supported interactions: none (no RMCP security extensions)
    p.extend_from_slice(&[0; 6]);
    p
}

/// An ASF Presence Ping, as a remote console sends it.
pub fn asf_ping(message_tag: u8) -> Vec<u8> {
    let mut p = rmcp_header(CLASS_ASF).to_vec();
    p.extend_from_slice(&ASF_IANA.to_be_bytes());
    p.extend_from_slice(&[ASF_PRESENCE_PING, message_tag, 0x00, 0x00]);
    p
}

/// A message in the IPMI v1.5 format without authentication, session 0.
pub fn v15_packet(sequence: u32, message: &[u8]) -> Vec<u8> {
    let mut p = rmcp_header(CLASS_IPMI).to_vec();
    p.push(AUTH_TYPE_NONE);
    p.extend_from_slice(&sequence.to_le_bytes());
    p.extend_from_slice(&0u32.to_le_bytes());
    p.push(message.len() as u8);
    p.extend_from_slice(message);
    p
}

/// Computes a packet's AuthCode over the bytes it covers.
pub type Signer<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;

/// An RMCP+ packet around an already encrypted (or plain) payload. With
/// `sign`, the packet is marked authenticated and gets the session
/// trailer; `sign` computes the AuthCode over the covered bytes.
pub fn rmcp_plus_packet(
    payload_type: u8,
    encrypted: bool,
    session_id: u32,
    sequence: u32,
    payload: &[u8],
    sign: Option<Signer<'_>>,
) -> Vec<u8> {
    let mut p = rmcp_header(CLASS_IPMI).to_vec();
    p.push(AUTH_TYPE_RMCP_PLUS);
    let mut type_byte = payload_type & PAYLOAD_TYPE_MASK;
    if encrypted {
        type_byte |= PAYLOAD_ENCRYPTED;
    }
    if sign.is_some() {
        type_byte |= PAYLOAD_AUTHENTICATED;
    }
    p.push(type_byte);
    p.extend_from_slice(&session_id.to_le_bytes());
    p.extend_from_slice(&sequence.to_le_bytes());
    p.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    p.extend_from_slice(payload);
    if let Some(sign) = sign {
        let pad = integrity_pad_len(payload.len());
        p.extend(std::iter::repeat_n(INTEGRITY_PAD_BYTE, pad));
        p.push(pad as u8);
        p.push(NEXT_HEADER);
        let code = sign(&p[4..]);
        p.extend_from_slice(&code);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_request() -> Vec<u8> {
        build_request(0x00, 0x01, 5, &[])
    }

    #[test]
    fn request_round_trip_and_checksums() {
        let msg = build_request(0x06, 0x38, 0x3F, &[0x8E, 0x04]);
        let req = parse_request(&msg).unwrap();
        assert_eq!(
            (req.rs_addr, req.netfn, req.rq_addr, req.rq_seq, req.cmd),
            (0x20, 0x06, 0x81, 0x3F, 0x38)
        );
        assert_eq!(req.data, &[0x8E, 0x04]);
        let rsp = build_response(&req, CompletionCode::OK, &[1, 2]);
        let parsed = parse_response(&rsp).unwrap();
        assert_eq!(parsed.netfn, 0x07);
        assert_eq!(parsed.rq_seq, 0x3F);
        assert_eq!(parsed.cmd, 0x38);
        assert_eq!(parsed.completion_code, CompletionCode::OK);
        assert_eq!(parsed.data, &[1, 2]);
        // Each byte changed breaks one checksum or the other.
        for i in 0..msg.len() {
            let mut bad = msg.clone();
            bad[i] ^= 0x10;
            assert_eq!(parse_request(&bad), Err(WireError::BadChecksum), "byte {i}");
        }
    }

    #[test]
    fn requests_too_short_or_with_response_netfn_are_refused() {
        for n in 0..7 {
            assert!(matches!(
                parse_request(&sample_request()[..n]),
                Err(WireError::Truncated { .. })
            ));
        }
        let rsp = build_request(0x07, 0x01, 1, &[]);
        assert_eq!(
            parse_request(&rsp),
            Err(WireError::NotARequest { netfn: 0x07 })
        );
    }

    #[test]
    fn ping_and_pong() {
        let ping = asf_ping(0x42);
        assert_eq!(
            parse_packet(&ping),
            Ok(Packet::AsfPing { message_tag: 0x42 })
        );
        let pong = asf_pong(0x42);
        assert_eq!(pong.len(), 28);
        assert_eq!(
            &pong[4..12],
            &[0x00, 0x00, 0x11, 0xBE, 0x40, 0x42, 0x00, 0x10]
        );
        assert_eq!(pong[20], 0x81);
        // A pong is not a ping: no answer to answers.
        assert!(matches!(
            parse_packet(&pong),
            Err(WireError::NotAsfPing { .. })
        ));
        // Another enterprise's ASF message either.
        let mut other = ping.clone();
        other[7] = 0xBF;
        assert!(matches!(
            parse_packet(&other),
            Err(WireError::NotAsfPing { .. })
        ));
        // A ping announcing data it does not carry.
        let mut long = ping.clone();
        long[11] = 4;
        assert!(matches!(
            parse_packet(&long),
            Err(WireError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn rmcp_header_rules() {
        let ping = asf_ping(1);
        let mut v2 = ping.clone();
        v2[0] = 0x07;
        assert_eq!(parse_packet(&v2), Err(WireError::NotRmcp { version: 0x07 }));
        let mut ack = ping.clone();
        ack[3] |= 0x80;
        assert_eq!(parse_packet(&ack), Err(WireError::RmcpAck));
        let mut oem = ping;
        oem[3] = 0x08;
        assert_eq!(parse_packet(&oem), Err(WireError::UnsupportedClass(0x08)));
    }

    #[test]
    fn v15_format() {
        let msg = sample_request();
        let p = v15_packet(0, &msg);
        assert_eq!(
            parse_packet(&p),
            Ok(Packet::V15 {
                sequence: 0,
                session_id: 0,
                message: &msg[..]
            })
        );
        let mut padded = p.clone();
        padded.push(0);
        assert!(parse_packet(&padded).is_ok());
        padded.push(0);
        assert!(matches!(
            parse_packet(&padded),
            Err(WireError::LengthMismatch { .. })
        ));
        for t in [0x01, 0x02, 0x04, 0x05] {
            let mut md5 = p.clone();
            md5[4] = t;
            assert_eq!(parse_packet(&md5), Err(WireError::AuthenticatedV15(t)));
        }
        let mut unknown = p;
        unknown[4] = 0x03;
        assert_eq!(
            parse_packet(&unknown),
            Err(WireError::UnknownAuthType(0x03))
        );
    }

    fn fake_sign(covered: &[u8]) -> Vec<u8> {
        vec![covered.len() as u8; 12]
    }

    #[test]
    fn rmcp_plus_round_trip_with_trailer() {
        for len in 0..40usize {
            let payload: Vec<u8> = (0..len as u8).collect();
            let pkt = rmcp_plus_packet(
                payload::IPMI,
                true,
                0x1122_3344,
                7,
                &payload,
                Some(&fake_sign),
            );
            let parsed = match parse_packet(&pkt) {
                Ok(Packet::RmcpPlus(p)) => p,
                other => panic!("{other:?}"),
            };
            assert!(parsed.encrypted && parsed.authenticated);
            assert_eq!(parsed.session_id, 0x1122_3344);
            assert_eq!(parsed.sequence, 7);
            assert_eq!(parsed.payload, &payload[..]);
            assert_eq!(parsed.signed.len() % 4, 0, "covered range multiple of 4");
            assert_eq!(parsed.auth_code, &fake_sign(parsed.signed)[..]);
            assert_eq!(*parsed.signed.last().unwrap(), NEXT_HEADER);
        }
    }

    #[test]
    fn rmcp_plus_refuses_malformed_trailers() {
        let pkt = rmcp_plus_packet(payload::IPMI, false, 9, 1, &[1, 2, 3], Some(&fake_sign));
        // payload 3 bytes: 12 + 3 + pad + 2 = multiple of 4, so pad = 3.
        let pad_at = 16 + 3;
        let mut bad_pad = pkt.clone();
        bad_pad[pad_at] = 0x00;
        assert_eq!(parse_packet(&bad_pad), Err(WireError::BadIntegrityPad));
        let mut bad_len = pkt.clone();
        bad_len[pad_at + 3] = 2;
        assert_eq!(parse_packet(&bad_len), Err(WireError::BadIntegrityPad));
        let mut bad_next = pkt.clone();
        bad_next[pad_at + 4] = 0x06;
        assert_eq!(parse_packet(&bad_next), Err(WireError::BadNextHeader(0x06)));
        let no_code = &pkt[..pad_at + 5];
        assert_eq!(parse_packet(no_code), Err(WireError::BadAuthCodeLength(0)));
        let mut long_code = pkt.clone();
        long_code.extend_from_slice(&[0; 40]);
        assert!(matches!(
            parse_packet(&long_code),
            Err(WireError::BadAuthCodeLength(_))
        ));
        // Unauthenticated: not one byte after the payload.
        let mut plain = rmcp_plus_packet(payload::IPMI, false, 0, 0, &[1, 2], None);
        assert!(parse_packet(&plain).is_ok());
        plain.push(0);
        assert!(matches!(
            parse_packet(&plain),
            Err(WireError::LengthMismatch { .. })
        ));
        // Payload length beyond the datagram.
        let mut short = rmcp_plus_packet(payload::IPMI, false, 0, 0, &[1, 2], None);
        short[14] = 200;
        assert!(matches!(
            parse_packet(&short),
            Err(WireError::LengthMismatch { .. })
        ));
        let mut oem = rmcp_plus_packet(payload::IPMI, false, 0, 0, &[], None);
        oem[5] = payload::OEM_EXPLICIT;
        assert_eq!(parse_packet(&oem), Err(WireError::OemPayload));
    }

    /// A deterministic generator, so that a failure can be replayed.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn arbitrary_and_mutated_bytes_never_panic() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let seeds: Vec<Vec<u8>> = vec![
            asf_ping(3),
            v15_packet(0, &sample_request()),
            rmcp_plus_packet(payload::IPMI, true, 5, 6, &[0; 33], Some(&fake_sign)),
            rmcp_plus_packet(payload::RAKP_1, false, 0, 0, &[0; 30], None),
        ];
        for round in 0..20_000 {
            let mut bytes = if round % 3 == 0 {
                let len = (rng.next() % 300) as usize;
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                seeds[round % seeds.len()].clone()
            };
            for _ in 0..(rng.next() % 4) {
                if bytes.is_empty() {
                    break;
                }
                let i = (rng.next() as usize) % bytes.len();
                match rng.next() % 3 {
                    0 => bytes[i] = rng.next() as u8,
                    1 => bytes.truncate(i),
                    _ => bytes.insert(i, rng.next() as u8),
                }
            }
            if let Ok(Packet::V15 { message, .. }) = parse_packet(&bytes) {
                let _ = parse_request(message);
                let _ = parse_response(message);
            }
            if let Ok(Packet::RmcpPlus(p)) = parse_packet(&bytes) {
                let _ = parse_request(p.payload);
            }
        }
    }
}
