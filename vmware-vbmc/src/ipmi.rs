//! Numbers of the IPMI v2.0 specification (rev. 1.1 with errata 6) that
//! more than one module needs: network functions, commands, completion
//! codes, privilege levels.

use std::fmt;

/// Network functions of requests (IPMI v2.0 §5.1, Table 5-1). A response
/// carries the request's network function plus one.
pub mod netfn {
    pub const CHASSIS: u8 = 0x00;
    pub const APP: u8 = 0x06;
}

/// Commands this BMC implements (IPMI v2.0 Appendix G).
pub mod cmd {
    /// App 01h, §20.1.
    pub const GET_DEVICE_ID: u8 = 0x01;
    /// App 38h, §22.13.
    pub const GET_CHANNEL_AUTH_CAPABILITIES: u8 = 0x38;
    /// App 3Bh, §22.18.
    pub const SET_SESSION_PRIVILEGE_LEVEL: u8 = 0x3B;
    /// App 3Ch, §22.19.
    pub const CLOSE_SESSION: u8 = 0x3C;
    /// App 54h, §22.15.
    pub const GET_CHANNEL_CIPHER_SUITES: u8 = 0x54;
    /// Chassis 01h, §28.2.
    pub const GET_CHASSIS_STATUS: u8 = 0x01;
    /// Chassis 02h, §28.3.
    pub const CHASSIS_CONTROL: u8 = 0x02;
    /// Chassis 08h, §28.12.
    pub const SET_SYSTEM_BOOT_OPTIONS: u8 = 0x08;
    /// Chassis 09h, §28.13.
    pub const GET_SYSTEM_BOOT_OPTIONS: u8 = 0x09;
}

/// A completion code, the first byte of every response (IPMI v2.0 §5.2,
/// Table 5-2, and the command-specific codes of each command's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletionCode(pub u8);

impl CompletionCode {
    pub const OK: CompletionCode = CompletionCode(0x00);
    /// "Node Busy": another power operation of this VM is in progress.
    pub const NODE_BUSY: CompletionCode = CompletionCode(0xC0);
    /// "Invalid Command": unrecognized or unsupported command.
    pub const INVALID_COMMAND: CompletionCode = CompletionCode(0xC1);
    /// "Command invalid for given LUN".
    pub const INVALID_FOR_LUN: CompletionCode = CompletionCode(0xC2);
    /// "Timeout while processing command. Response unavailable."
    pub const TIMEOUT: CompletionCode = CompletionCode(0xC3);
    /// "Request data length invalid".
    pub const REQUEST_LENGTH_INVALID: CompletionCode = CompletionCode(0xC7);
    /// "Parameter out of range".
    pub const PARAMETER_OUT_OF_RANGE: CompletionCode = CompletionCode(0xC9);
    /// "Invalid data field in Request".
    pub const INVALID_DATA_FIELD: CompletionCode = CompletionCode(0xCC);
    /// "Command response could not be provided": the device cannot vouch
    /// for the VM's state, so there is no truthful answer to give.
    pub const RESPONSE_UNAVAILABLE: CompletionCode = CompletionCode(0xCE);
    /// "Insufficient privilege level or other security-based restriction".
    pub const INSUFFICIENT_PRIVILEGE: CompletionCode = CompletionCode(0xD4);
    /// "Command not supported in present state".
    pub const NOT_IN_PRESENT_STATE: CompletionCode = CompletionCode(0xD5);
    /// "Command sub-function has been disabled or is unavailable".
    pub const SUBFUNCTION_UNAVAILABLE: CompletionCode = CompletionCode(0xD6);
    /// "Unspecified error".
    pub const UNSPECIFIED: CompletionCode = CompletionCode(0xFF);
}

impl fmt::Display for CompletionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X}h", self.0)
    }
}

/// Privilege levels (IPMI v2.0 §6.8, Table 6-5). OEM Proprietary (5) is
/// never granted: this BMC has no OEM commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Privilege {
    Callback = 1,
    User = 2,
    Operator = 3,
    Administrator = 4,
}

impl Privilege {
    pub fn from_level(level: u8) -> Option<Privilege> {
        match level {
            1 => Some(Privilege::Callback),
            2 => Some(Privilege::User),
            3 => Some(Privilege::Operator),
            4 => Some(Privilege::Administrator),
            _ => None,
        }
    }

    pub fn level(self) -> u8 {
        self as u8
    }

    /// The names ipmitool's `-L` and fence_ipmilan's `privlvl` use.
    pub fn parse(name: &str) -> Option<Privilege> {
        match name.trim().to_ascii_lowercase().as_str() {
            "callback" => Some(Privilege::Callback),
            "user" => Some(Privilege::User),
            "operator" => Some(Privilege::Operator),
            "administrator" | "admin" => Some(Privilege::Administrator),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Privilege::Callback => "callback",
            Privilege::User => "user",
            Privilege::Operator => "operator",
            Privilege::Administrator => "administrator",
        }
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The channel this BMC reports itself as: the usual number of a BMC's
/// first LAN channel (IPMI v2.0 §6.3, Table 6-1 leaves 1-7 to the
/// implementation). Requests may also name it as Eh, "this channel".
pub const LAN_CHANNEL: u8 = 0x01;
pub const CURRENT_CHANNEL: u8 = 0x0E;

/// The responder and requester addresses of LAN messages (IPMI v2.0 §13.8:
/// the BMC is 20h; remote console software IDs are 81h-8Dh).
pub const BMC_ADDRESS: u8 = 0x20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_names_round_trip_and_oem_is_never_a_level() {
        for p in [
            Privilege::Callback,
            Privilege::User,
            Privilege::Operator,
            Privilege::Administrator,
        ] {
            assert_eq!(Privilege::parse(p.name()), Some(p));
            assert_eq!(Privilege::from_level(p.level()), Some(p));
        }
        assert_eq!(Privilege::from_level(0), None);
        assert_eq!(Privilege::from_level(5), None);
        assert_eq!(Privilege::parse("root"), None);
        assert!(Privilege::Operator < Privilege::Administrator);
    }
}
