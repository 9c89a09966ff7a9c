//! The RMCP+ session setup messages: Open Session Request/Response and
//! RAKP Messages 1 to 4 (IPMI v2.0 §13.17 to §13.24), parsed from and
//! built into payload bytes. No state and no keys here.

use std::fmt;

use crate::crypto::CipherSuite;

/// RMCP+ and RAKP message status codes (IPMI v2.0 §13.24, Table 13-15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RakpStatus {
    NoErrors = 0x00,
    InsufficientResources = 0x01,
    InvalidSessionId = 0x02,
    InvalidRole = 0x09,
    UnauthorizedRole = 0x0A,
    InvalidNameLength = 0x0C,
    UnauthorizedName = 0x0D,
    InvalidIntegrityCheckValue = 0x0F,
    NoCipherSuiteMatch = 0x11,
    IllegalParameter = 0x12,
}

impl RakpStatus {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<RakpStatus> {
        [
            RakpStatus::NoErrors,
            RakpStatus::InsufficientResources,
            RakpStatus::InvalidSessionId,
            RakpStatus::InvalidRole,
            RakpStatus::UnauthorizedRole,
            RakpStatus::InvalidNameLength,
            RakpStatus::UnauthorizedName,
            RakpStatus::InvalidIntegrityCheckValue,
            RakpStatus::NoCipherSuiteMatch,
            RakpStatus::IllegalParameter,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

impl fmt::Display for RakpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            RakpStatus::NoErrors => "no errors",
            RakpStatus::InsufficientResources => "insufficient resources to create a session",
            RakpStatus::InvalidSessionId => "invalid session ID",
            RakpStatus::InvalidRole => "invalid role",
            RakpStatus::UnauthorizedRole => "unauthorized role or privilege level requested",
            RakpStatus::InvalidNameLength => "invalid name length",
            RakpStatus::UnauthorizedName => "unauthorized name",
            RakpStatus::InvalidIntegrityCheckValue => "invalid integrity check value",
            RakpStatus::NoCipherSuiteMatch => {
                "no cipher suite match with proposed security algorithms"
            }
            RakpStatus::IllegalParameter => "illegal or unrecognized parameter",
        };
        write!(f, "{:02X}h ({text})", self.code())
    }
}

/// RMCP+ Open Session Request (IPMI v2.0 §13.17, Table 13-9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionRequest {
    pub message_tag: u8,
    /// Bits 3:0; 0 asks for the highest level the algorithms allow.
    pub requested_privilege: u8,
    pub console_session_id: u32,
    pub suite: CipherSuite,
}

/// Why an Open Session Request is refused. With `reply` the BMC answers
/// with the status code (it knows whom to answer); without, the request is
/// too mangled to answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionRefusal {
    pub reply: Option<(u8, u32)>,
    pub status: RakpStatus,
    pub reason: String,
}

const OPEN_SESSION_REQUEST_LEN: usize = 32;
const ALGORITHM_PAYLOAD_LEN: u8 = 8;

impl OpenSessionRequest {
    pub fn parse(bytes: &[u8]) -> Result<OpenSessionRequest, OpenSessionRefusal> {
        if bytes.len() < 8 {
            return Err(OpenSessionRefusal {
                reply: None,
                status: RakpStatus::IllegalParameter,
                reason: format!("Open Session Request of {} bytes", bytes.len()),
            });
        }
        let tag = bytes[0];
        let console_session_id = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let refuse = |status, reason: String| OpenSessionRefusal {
            reply: Some((tag, console_session_id)),
            status,
            reason,
        };
        if bytes.len() != OPEN_SESSION_REQUEST_LEN {
            return Err(refuse(
                RakpStatus::IllegalParameter,
                format!(
                    "Open Session Request of {} bytes, not {OPEN_SESSION_REQUEST_LEN}",
                    bytes.len()
                ),
            ));
        }
        if console_session_id == 0 {
            // Packets to the console carry its session ID; 0 is the
            // "no session" ID and cannot name one.
            return Err(refuse(
                RakpStatus::InvalidSessionId,
                "remote console session ID 0".into(),
            ));
        }
        let mut algorithms = [0u8; 3];
        for (i, slot) in algorithms.iter_mut().enumerate() {
            let p = &bytes[8 + 8 * i..16 + 8 * i];
            // Payload type i (0 authentication, 1 integrity, 2
            // confidentiality), payload length 8: an explicit algorithm.
            // A console that leaves the choice to the BMC gets no choice.
            if p[0] != i as u8 || p[3] != ALGORITHM_PAYLOAD_LEN {
                return Err(refuse(
                    RakpStatus::IllegalParameter,
                    format!("algorithm payload {i} is not an explicit 8-byte proposal"),
                ));
            }
            *slot = p[4] & 0x3F;
        }
        let suite = CipherSuite::from_algorithms(algorithms[0], algorithms[1], algorithms[2])
            .ok_or_else(|| {
                refuse(
                    RakpStatus::NoCipherSuiteMatch,
                    format!(
                        "proposed algorithms {:02X}h/{:02X}h/{:02X}h are neither cipher suite 3 nor 17",
                        algorithms[0], algorithms[1], algorithms[2]
                    ),
                )
            })?;
        Ok(OpenSessionRequest {
            message_tag: tag,
            requested_privilege: bytes[1] & 0x0F,
            console_session_id,
            suite,
        })
    }

    /// The request as a remote console sends it.
    pub fn build(&self) -> Vec<u8> {
        let mut b = vec![self.message_tag, self.requested_privilege, 0, 0];
        b.extend_from_slice(&self.console_session_id.to_le_bytes());
        b.extend_from_slice(&algorithm_payloads(self.suite));
        b
    }
}

fn algorithm_payloads(suite: CipherSuite) -> [u8; 24] {
    let mut b = [0u8; 24];
    for (i, alg) in [
        suite.authentication(),
        suite.integrity(),
        suite.confidentiality(),
    ]
    .into_iter()
    .enumerate()
    {
        b[8 * i] = i as u8;
        b[8 * i + 3] = ALGORITHM_PAYLOAD_LEN;
        b[8 * i + 4] = alg;
    }
    b
}

/// RMCP+ Open Session Response (IPMI v2.0 §13.18, Table 13-10).
pub fn open_session_response(
    message_tag: u8,
    max_privilege: u8,
    console_session_id: u32,
    bmc_session_id: u32,
    suite: CipherSuite,
) -> Vec<u8> {
    let mut b = vec![message_tag, RakpStatus::NoErrors.code(), max_privilege, 0];
    b.extend_from_slice(&console_session_id.to_le_bytes());
    b.extend_from_slice(&bmc_session_id.to_le_bytes());
    b.extend_from_slice(&algorithm_payloads(suite));
    b
}

/// The refusal: tag, status, and the console's session ID only (ipmitool's
/// read_open_session_response reads no further when the status is not 0).
pub fn open_session_refusal(
    message_tag: u8,
    status: RakpStatus,
    console_session_id: u32,
) -> Vec<u8> {
    let mut b = vec![message_tag, status.code(), 0, 0];
    b.extend_from_slice(&console_session_id.to_le_bytes());
    b
}

/// An Open Session Response as a remote console reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionResponse {
    pub message_tag: u8,
    pub status: u8,
    pub max_privilege: u8,
    pub console_session_id: u32,
    pub bmc_session_id: Option<u32>,
}

impl OpenSessionResponse {
    pub fn parse(b: &[u8]) -> Option<OpenSessionResponse> {
        if b.len() < 8 {
            return None;
        }
        Some(OpenSessionResponse {
            message_tag: b[0],
            status: b[1],
            max_privilege: b[2],
            console_session_id: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            bmc_session_id: (b.len() >= 36).then(|| u32::from_le_bytes([b[8], b[9], b[10], b[11]])),
        })
    }
}

/// Longest user name: 16 bytes (IPMI v2.0 §13.20, Table 13-11).
pub const MAX_USER_NAME: usize = 16;
/// Role byte of RAKP 1: bits 3:0 requested maximum privilege, bit 4
/// name-only lookup; the other bits are reserved.
pub const ROLE_PRIVILEGE_MASK: u8 = 0x0F;
pub const ROLE_NAME_ONLY_LOOKUP: u8 = 0x10;

/// RAKP Message 1 (IPMI v2.0 §13.20, Table 13-11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp1 {
    pub message_tag: u8,
    pub bmc_session_id: u32,
    pub console_random: [u8; 16],
    pub role: u8,
    pub user_name: Vec<u8>,
}

/// A RAKP 1 refused before it can be checked against a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rakp1Error {
    /// Too short even for the session ID: nothing to answer.
    Mangled(usize),
    /// Answerable with this status to this session.
    Refused {
        message_tag: u8,
        bmc_session_id: u32,
        status: RakpStatus,
        reason: String,
    },
}

impl Rakp1 {
    pub fn parse(b: &[u8]) -> Result<Rakp1, Rakp1Error> {
        if b.len() < 28 {
            return Err(Rakp1Error::Mangled(b.len()));
        }
        let message_tag = b[0];
        let bmc_session_id = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let name_len = b[27] as usize;
        if name_len > MAX_USER_NAME || b.len() != 28 + name_len {
            return Err(Rakp1Error::Refused {
                message_tag,
                bmc_session_id,
                status: RakpStatus::InvalidNameLength,
                reason: format!(
                    "user name length {name_len} in a RAKP 1 of {} bytes",
                    b.len()
                ),
            });
        }
        let mut console_random = [0u8; 16];
        console_random.copy_from_slice(&b[8..24]);
        Ok(Rakp1 {
            message_tag,
            bmc_session_id,
            console_random,
            role: b[24],
            user_name: b[28..].to_vec(),
        })
    }

    pub fn build(&self) -> Vec<u8> {
        let mut b = vec![self.message_tag, 0, 0, 0];
        b.extend_from_slice(&self.bmc_session_id.to_le_bytes());
        b.extend_from_slice(&self.console_random);
        b.extend_from_slice(&[self.role, 0, 0, self.user_name.len() as u8]);
        b.extend_from_slice(&self.user_name);
        b
    }
}

/// RAKP Message 2 (IPMI v2.0 §13.21, Table 13-12).
pub fn rakp2(
    message_tag: u8,
    console_session_id: u32,
    bmc_random: &[u8; 16],
    bmc_guid: &[u8; 16],
    auth_code: &[u8],
) -> Vec<u8> {
    let mut b = vec![message_tag, RakpStatus::NoErrors.code(), 0, 0];
    b.extend_from_slice(&console_session_id.to_le_bytes());
    b.extend_from_slice(bmc_random);
    b.extend_from_slice(bmc_guid);
    b.extend_from_slice(auth_code);
    b
}

/// RAKP 2 and RAKP 4 refusals: tag, status, the console's session ID.
pub fn rakp_refusal(message_tag: u8, status: RakpStatus, console_session_id: u32) -> Vec<u8> {
    let mut b = vec![message_tag, status.code(), 0, 0];
    b.extend_from_slice(&console_session_id.to_le_bytes());
    b
}

/// RAKP Message 2 or 4 as a remote console reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RakpReply {
    pub message_tag: u8,
    pub status: u8,
    pub console_session_id: u32,
    /// RAKP 2: Rc, GUIDc and the auth code; RAKP 4: the ICV.
    pub rest: Vec<u8>,
}

impl RakpReply {
    pub fn parse(b: &[u8]) -> Option<RakpReply> {
        if b.len() < 8 {
            return None;
        }
        Some(RakpReply {
            message_tag: b[0],
            status: b[1],
            console_session_id: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            rest: b[8..].to_vec(),
        })
    }
}

/// RAKP Message 3 (IPMI v2.0 §13.22, Table 13-13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp3 {
    pub message_tag: u8,
    pub status: u8,
    pub bmc_session_id: u32,
    pub auth_code: Vec<u8>,
}

impl Rakp3 {
    pub fn parse(b: &[u8]) -> Option<Rakp3> {
        if b.len() < 8 {
            return None;
        }
        Some(Rakp3 {
            message_tag: b[0],
            status: b[1],
            bmc_session_id: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            auth_code: b[8..].to_vec(),
        })
    }

    pub fn build(&self) -> Vec<u8> {
        let mut b = vec![self.message_tag, self.status, 0, 0];
        b.extend_from_slice(&self.bmc_session_id.to_le_bytes());
        b.extend_from_slice(&self.auth_code);
        b
    }
}

/// RAKP Message 4 (IPMI v2.0 §13.23, Table 13-14).
pub fn rakp4(message_tag: u8, console_session_id: u32, icv: &[u8]) -> Vec<u8> {
    let mut b = vec![message_tag, RakpStatus::NoErrors.code(), 0, 0];
    b.extend_from_slice(&console_session_id.to_le_bytes());
    b.extend_from_slice(icv);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(suite: CipherSuite) -> OpenSessionRequest {
        OpenSessionRequest {
            message_tag: 7,
            requested_privilege: 4,
            console_session_id: 0xA0A2_A3A4,
            suite,
        }
    }

    #[test]
    fn open_session_request_round_trip() {
        for suite in CipherSuite::ALL {
            let r = request(suite);
            assert_eq!(OpenSessionRequest::parse(&r.build()), Ok(r));
        }
    }

    #[test]
    fn open_session_request_refusals() {
        let good = request(CipherSuite::Three).build();
        let status = |b: &[u8]| {
            OpenSessionRequest::parse(b)
                .err()
                .map(|e| (e.reply, e.status))
        };
        assert_eq!(
            status(&good[..7]),
            Some((None, RakpStatus::IllegalParameter))
        );
        assert_eq!(
            status(&good[..31]),
            Some((Some((7, 0xA0A2_A3A4)), RakpStatus::IllegalParameter))
        );
        let mut zero_id = good.clone();
        zero_id[4..8].copy_from_slice(&[0; 4]);
        assert_eq!(
            status(&zero_id).map(|s| s.1),
            Some(RakpStatus::InvalidSessionId)
        );
        // Cipher suite 0: every algorithm "none".
        let mut none = good.clone();
        for i in 0..3 {
            none[12 + 8 * i] = 0;
        }
        assert_eq!(
            status(&none).map(|s| s.1),
            Some(RakpStatus::NoCipherSuiteMatch)
        );
        // Integrity or confidentiality "none" alone.
        for field in [20, 28] {
            let mut weak = good.clone();
            weak[field] = 0;
            assert_eq!(
                status(&weak).map(|s| s.1),
                Some(RakpStatus::NoCipherSuiteMatch)
            );
        }
        // "Let the BMC choose" (payload length 0) and swapped payload types.
        let mut open = good.clone();
        open[11] = 0;
        assert_eq!(
            status(&open).map(|s| s.1),
            Some(RakpStatus::IllegalParameter)
        );
        let mut swapped = good;
        swapped[8] = 1;
        assert_eq!(
            status(&swapped).map(|s| s.1),
            Some(RakpStatus::IllegalParameter)
        );
    }

    #[test]
    fn rakp1_round_trip_and_name_lengths() {
        let r = Rakp1 {
            message_tag: 1,
            bmc_session_id: 0x55AA_0102,
            console_random: [9; 16],
            role: 0x14,
            user_name: b"fence".to_vec(),
        };
        assert_eq!(Rakp1::parse(&r.build()), Ok(r.clone()));
        assert_eq!(Rakp1::parse(&r.build()[..27]), Err(Rakp1Error::Mangled(27)));
        let mut long = r.clone();
        long.user_name = vec![b'a'; 17];
        assert!(matches!(
            Rakp1::parse(&long.build()),
            Err(Rakp1Error::Refused {
                status: RakpStatus::InvalidNameLength,
                ..
            })
        ));
        let mut lying = r.build();
        lying[27] = 9;
        assert!(matches!(
            Rakp1::parse(&lying),
            Err(Rakp1Error::Refused {
                status: RakpStatus::InvalidNameLength,
                bmc_session_id: 0x55AA_0102,
                ..
            })
        ));
        let mut empty = r;
        empty.user_name.clear();
        assert_eq!(
            Rakp1::parse(&empty.build()).map(|m| m.user_name),
            Ok(vec![])
        );
    }

    #[test]
    fn short_and_long_replies_never_panic() {
        let long = [0xA5u8; 200];
        for n in 0..long.len() {
            let b = &long[..n];
            assert_eq!(Rakp3::parse(b).is_some(), n >= 8);
            assert_eq!(RakpReply::parse(b).is_some(), n >= 8);
            let open = OpenSessionResponse::parse(b);
            assert_eq!(open.is_some(), n >= 8);
            assert_eq!(open.and_then(|o| o.bmc_session_id).is_some(), n >= 36);
            let _ = OpenSessionRequest::parse(b);
            let _ = Rakp1::parse(b);
        }
    }

    #[test]
    fn status_codes_are_the_specification_numbers() {
        assert_eq!(RakpStatus::NoCipherSuiteMatch.code(), 0x11);
        assert_eq!(RakpStatus::UnauthorizedName.code(), 0x0D);
        assert_eq!(RakpStatus::InvalidIntegrityCheckValue.code(), 0x0F);
        assert_eq!(
            RakpStatus::from_code(0x0A),
            Some(RakpStatus::UnauthorizedRole)
        );
        assert_eq!(RakpStatus::from_code(0x13), None);
    }
}
