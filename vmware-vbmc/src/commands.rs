//! IPMI commands: who may send each, what its request must look like, and
//! either the answer or the device work that produces it. Session state
//! (privilege, closing) and the device itself are the server's; this module
//! only decides.

use crate::crypto::CipherSuite;
use crate::ipmi::{cmd, netfn, CompletionCode, Privilege, CURRENT_CHANNEL, LAN_CHANNEL};
use crate::power::{BootDevice, BootOverride};
use crate::wire::Request;

/// What the server must do for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Reply(CompletionCode, Vec<u8>),
    /// Set Session Privilege Level to this level (validated against the
    /// session by the server): 0 asks for the present level.
    SetPrivilege(u8),
    /// Close Session of this session ID (0 with a handle is refused here).
    CloseSession(u32),
    /// Needs the VM: runs off the receiving thread, answered when done.
    Device(DeviceJob),
    /// A request this BMC understands and will not carry out, answered with
    /// `code`; the server logs `why` with who asked.
    Refused {
        code: CompletionCode,
        why: &'static str,
    },
}

/// Work that needs the [`crate::power::PowerControl`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceJob {
    ChassisStatus,
    Control(ChassisAction),
    GetBootFlags,
    SetBootDevice(BootOverride),
}

impl DeviceJob {
    /// Changes the VM: one at a time per VM, and the answer is kept for
    /// retransmissions.
    pub fn changes_vm(self) -> bool {
        matches!(self, DeviceJob::Control(_) | DeviceJob::SetBootDevice(_))
    }
}

/// Chassis Control (IPMI v2.0 §28.3, Table 28-4), the ones a VM has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChassisAction {
    /// 0: power down.
    PowerDown,
    /// 1: power up.
    PowerUp,
    /// 2: power cycle: off, at least one second, on.
    PowerCycle,
    /// 3: hard reset.
    HardReset,
    /// 5: initiate a soft shutdown: here, a guest OS shutdown.
    SoftShutdown,
}

impl ChassisAction {
    pub fn name(self) -> &'static str {
        match self {
            ChassisAction::PowerDown => "power down",
            ChassisAction::PowerUp => "power up",
            ChassisAction::PowerCycle => "power cycle",
            ChassisAction::HardReset => "hard reset",
            ChassisAction::SoftShutdown => "soft shutdown",
        }
    }
}

/// Boot option parameters kept by the BMC itself (IPMI v2.0 §28.13):
/// parameter 0, "set in progress", and parameter 4, "boot info
/// acknowledge". They change nothing on the VM; ipmitool's `chassis
/// bootdev` writes both around parameter 5.
#[derive(Debug, Clone, Default)]
pub struct BootParameters {
    set_in_progress: u8,
    info_ack: u8,
}

/// Command-specific completion codes of Set/Get System Boot Options
/// (IPMI v2.0 §28.12).
const PARAMETER_NOT_SUPPORTED: CompletionCode = CompletionCode(0x80);
const SET_IN_PROGRESS_CONFLICT: CompletionCode = CompletionCode(0x81);
/// Close Session (§22.19): invalid session ID, invalid session handle.
pub const CLOSE_INVALID_SESSION_ID: CompletionCode = CompletionCode(0x87);
const CLOSE_INVALID_HANDLE: CompletionCode = CompletionCode(0x88);
/// Set Session Privilege Level (§22.18): level not available for this
/// user, level above the user's or channel's limit.
pub const PRIVILEGE_NOT_AVAILABLE: CompletionCode = CompletionCode(0x80);
pub const PRIVILEGE_ABOVE_LIMIT: CompletionCode = CompletionCode(0x81);

/// Boot option parameter 5's boot device selector (bits 5:2 of data 2).
fn selector_to_device(selector: u8) -> Option<BootDevice> {
    match selector {
        0x0 => Some(BootDevice::NoOverride),
        0x1 => Some(BootDevice::Pxe),
        0x2 => Some(BootDevice::Disk),
        0x5 => Some(BootDevice::Cdrom),
        0xF => Some(BootDevice::Floppy),
        _ => None,
    }
}

fn device_to_selector(device: BootDevice) -> u8 {
    match device {
        BootDevice::NoOverride => 0x0,
        BootDevice::Pxe => 0x1,
        BootDevice::Disk => 0x2,
        BootDevice::Cdrom => 0x5,
        BootDevice::Floppy => 0xF,
    }
}

/// The lowest privilege level each command needs (IPMI v2.0 Appendix G).
/// `None`: the command is unknown. Commands allowed outside a
/// session have level `Callback` and are listed in [`SESSIONLESS`].
fn required_privilege(netfn_: u8, cmd_: u8) -> Option<Privilege> {
    match (netfn_, cmd_) {
        (netfn::APP, cmd::GET_CHANNEL_AUTH_CAPABILITIES)
        | (netfn::APP, cmd::GET_CHANNEL_CIPHER_SUITES)
        | (netfn::APP, cmd::SET_SESSION_PRIVILEGE_LEVEL)
        | (netfn::APP, cmd::CLOSE_SESSION) => Some(Privilege::Callback),
        (netfn::APP, cmd::GET_DEVICE_ID) | (netfn::CHASSIS, cmd::GET_CHASSIS_STATUS) => {
            Some(Privilege::User)
        }
        (netfn::CHASSIS, cmd::CHASSIS_CONTROL)
        | (netfn::CHASSIS, cmd::SET_SYSTEM_BOOT_OPTIONS)
        | (netfn::CHASSIS, cmd::GET_SYSTEM_BOOT_OPTIONS) => Some(Privilege::Operator),
        _ => None,
    }
}

/// Commands a console may send before it has a session: the two that
/// RMCP+ session setup uses (ipmitool's ipmi_lanplus_open sends exactly
/// these before Open Session).
const SESSIONLESS: [(u8, u8); 2] = [
    (netfn::APP, cmd::GET_CHANNEL_AUTH_CAPABILITIES),
    (netfn::APP, cmd::GET_CHANNEL_CIPHER_SUITES),
];

fn reply(cc: CompletionCode) -> Action {
    Action::Reply(cc, Vec::new())
}

fn ok(data: Vec<u8>) -> Action {
    Action::Reply(CompletionCode::OK, data)
}

/// Decides what to do with a request. `privilege` is the session's present
/// level, `None` outside a session.
pub fn dispatch(
    req: &Request<'_>,
    privilege: Option<Privilege>,
    boot: &mut BootParameters,
) -> Action {
    if req.rs_lun != 0 {
        return reply(CompletionCode::INVALID_FOR_LUN);
    }
    let needed = match required_privilege(req.netfn, req.cmd) {
        Some(p) => p,
        None => return reply(CompletionCode::INVALID_COMMAND),
    };
    match privilege {
        None if !SESSIONLESS.contains(&(req.netfn, req.cmd)) => {
            return reply(CompletionCode::INSUFFICIENT_PRIVILEGE)
        }
        Some(have) if have < needed => return reply(CompletionCode::INSUFFICIENT_PRIVILEGE),
        _ => {}
    }
    let d = req.data;
    match (req.netfn, req.cmd) {
        (netfn::APP, cmd::GET_CHANNEL_AUTH_CAPABILITIES) => channel_auth_capabilities(d),
        (netfn::APP, cmd::GET_CHANNEL_CIPHER_SUITES) => channel_cipher_suites(d),
        (netfn::APP, cmd::SET_SESSION_PRIVILEGE_LEVEL) => match d {
            [level] if level & 0x0F <= 5 && level & 0xF0 == 0 => Action::SetPrivilege(*level),
            [_] => reply(CompletionCode::INVALID_DATA_FIELD),
            _ => reply(CompletionCode::REQUEST_LENGTH_INVALID),
        },
        (netfn::APP, cmd::CLOSE_SESSION) => match d {
            [a, b, c, e] | [a, b, c, e, _] => {
                let id = u32::from_le_bytes([*a, *b, *c, *e]);
                if id == 0 {
                    // Closing by session handle: this BMC reports no
                    // handles, so none is valid.
                    reply(CLOSE_INVALID_HANDLE)
                } else {
                    Action::CloseSession(id)
                }
            }
            _ => reply(CompletionCode::REQUEST_LENGTH_INVALID),
        },
        (netfn::APP, cmd::GET_DEVICE_ID) => {
            if d.is_empty() {
                ok(device_id())
            } else {
                reply(CompletionCode::REQUEST_LENGTH_INVALID)
            }
        }
        (netfn::CHASSIS, cmd::GET_CHASSIS_STATUS) => {
            if d.is_empty() {
                Action::Device(DeviceJob::ChassisStatus)
            } else {
                reply(CompletionCode::REQUEST_LENGTH_INVALID)
            }
        }
        (netfn::CHASSIS, cmd::CHASSIS_CONTROL) => match d {
            [control] => match control & 0x0F {
                0 => Action::Device(DeviceJob::Control(ChassisAction::PowerDown)),
                1 => Action::Device(DeviceJob::Control(ChassisAction::PowerUp)),
                2 => Action::Device(DeviceJob::Control(ChassisAction::PowerCycle)),
                3 => Action::Device(DeviceJob::Control(ChassisAction::HardReset)),
                // Pulse diagnostic interrupt (NMI): vSphere's API has none.
                4 => reply(CompletionCode::SUBFUNCTION_UNAVAILABLE),
                5 => Action::Device(DeviceJob::Control(ChassisAction::SoftShutdown)),
                _ => reply(CompletionCode::INVALID_DATA_FIELD),
            },
            _ => reply(CompletionCode::REQUEST_LENGTH_INVALID),
        },
        (netfn::CHASSIS, cmd::GET_SYSTEM_BOOT_OPTIONS) => get_boot_options(d, boot),
        (netfn::CHASSIS, cmd::SET_SYSTEM_BOOT_OPTIONS) => set_boot_options(d, boot),
        _ => reply(CompletionCode::INVALID_COMMAND),
    }
}

fn channel_matches(byte: u8) -> bool {
    let channel = byte & 0x0F;
    channel == CURRENT_CHANNEL || channel == LAN_CHANNEL
}

/// Get Channel Authentication Capabilities (IPMI v2.0 §22.13, Table
/// 22-15). No IPMI v1.5 authentication type is offered, only RMCP+; user
/// names must be non-null; there is no anonymous login; Kg is not set (the
/// user's password keys the session integrity key).
fn channel_auth_capabilities(d: &[u8]) -> Action {
    let [channel, level] = d else {
        return reply(CompletionCode::REQUEST_LENGTH_INVALID);
    };
    if !channel_matches(*channel) || channel & 0x70 != 0 {
        return reply(CompletionCode::INVALID_DATA_FIELD);
    }
    if !(1..=5).contains(&(level & 0x0F)) {
        return reply(CompletionCode::INVALID_DATA_FIELD);
    }
    let wants_v2 = channel & 0x80 != 0;
    ok(vec![
        LAN_CHANNEL,
        // bit 7: IPMI v2.0 extended capabilities available (when asked);
        // bits 5:0: the v1.5 authentication types: none offered.
        if wants_v2 { 0x80 } else { 0x00 },
        // bit 2: non-null user names enabled; null user names (bit 1) and
        // anonymous login (bit 0) disabled; bit 5 clear: Kg is the default.
        0x04,
        // Extended capabilities: bit 1, IPMI v2.0 connections supported.
        if wants_v2 { 0x02 } else { 0x00 },
        0x00,
        0x00,
        0x00, // OEM ID: none
        0x00, // OEM auxiliary data
    ])
}

/// The cipher suite records of suites 3 and 17 (IPMI v2.0 §22.15): C0h
/// "standard suite", the suite ID, then the authentication
/// (tag 00b), integrity (tag 01b) and confidentiality (tag 10b) algorithms.
fn cipher_suite_records() -> Vec<u8> {
    let mut r = Vec::new();
    for suite in CipherSuite::ALL {
        r.extend_from_slice(&[
            0xC0,
            suite.id(),
            suite.authentication(),
            0x40 | suite.integrity(),
            0x80 | suite.confidentiality(),
        ]);
    }
    r
}

/// The supported algorithms, each with its tag, for "list supported
/// algorithms" (bit 7 of the list index byte clear).
fn supported_algorithms() -> Vec<u8> {
    let mut auth: Vec<u8> = CipherSuite::ALL
        .iter()
        .map(|s| s.authentication())
        .collect();
    let mut integrity: Vec<u8> = CipherSuite::ALL
        .iter()
        .map(|s| 0x40 | s.integrity())
        .collect();
    auth.append(&mut integrity);
    auth.push(0x80 | CipherSuite::Three.confidentiality());
    auth.dedup();
    auth
}

/// Get Channel Cipher Suites (IPMI v2.0 §22.15, Table 22-17): the records
/// 16 bytes at a time, `list index` selecting which 16.
fn channel_cipher_suites(d: &[u8]) -> Action {
    let [channel, payload_type, index] = d else {
        return reply(CompletionCode::REQUEST_LENGTH_INVALID);
    };
    if !channel_matches(*channel) || channel & 0xF0 != 0 {
        return reply(CompletionCode::INVALID_DATA_FIELD);
    }
    // Suites exist for the IPMI message payload only (no SOL here).
    let records = if payload_type & 0x3F == 0 {
        if index & 0x80 != 0 {
            cipher_suite_records()
        } else {
            supported_algorithms()
        }
    } else {
        Vec::new()
    };
    let start = ((index & 0x3F) as usize) * 16;
    let mut data = vec![LAN_CHANNEL];
    if start < records.len() {
        data.extend_from_slice(&records[start..records.len().min(start + 16)]);
    }
    ok(data)
}

/// Get Device ID (IPMI v2.0 §20.1, Table 20-2). No SDRs, no OEM
/// manufacturer claimed; IPMI version 2.0; a chassis device.
fn device_id() -> Vec<u8> {
    let minor = env!("CARGO_PKG_VERSION_MINOR").parse::<u8>().unwrap_or(0);
    let major = env!("CARGO_PKG_VERSION_MAJOR").parse::<u8>().unwrap_or(0);
    vec![
        0x00,                               // device ID: unspecified
        0x01,                               // device revision 1, no SDRs
        major & 0x7F,                       // firmware major, device available
        ((minor / 10) << 4) | (minor % 10), // firmware minor, BCD
        0x02,                               // IPMI v2.0
        0x80,                               // additional device support: chassis device
        0x00,
        0x00,
        0x00, // manufacturer ID: none
        0x00,
        0x00, // product ID
    ]
}

/// The data of Get Chassis Status (IPMI v2.0 §28.2, Table 28-3) for a
/// state the device vouched for.
pub fn chassis_status(on: bool) -> Vec<u8> {
    vec![
        // bit 0 power on; bits 6:5 power restore policy: 11b unknown (what
        // vSphere HA does after a host failure is not this BMC's to say).
        0x60 | u8::from(on),
        0x00, // last power event
        0x00, // misc. chassis state
    ]
}

/// Why a next-boot-only boot device is refused.
pub const NEXT_BOOT_ONLY_REFUSED: &str = "a boot device for the next boot only was asked for: \
     vSphere keeps one boot order for every boot and has no one-shot boot device; ask for a \
     persistent one (ipmitool chassis bootdev DEVICE options=persistent) and set it back \
     (bootdev none or another device) when it has served";

const BOOT_PARAMETER_VERSION: u8 = 0x01;
const BOOT_FLAGS_VALID: u8 = 0x80;
const BOOT_FLAGS_PERSISTENT: u8 = 0x40;
const BOOT_FLAGS_EFI: u8 = 0x20;

/// Get System Boot Options (IPMI v2.0 §28.13): version, parameter
/// selector (bit 7 clear: valid/unlocked), parameter data.
fn get_boot_options(d: &[u8], boot: &BootParameters) -> Action {
    let [param, _set, _block] = d else {
        return reply(CompletionCode::REQUEST_LENGTH_INVALID);
    };
    match param & 0x7F {
        0 => ok(vec![BOOT_PARAMETER_VERSION, 0, boot.set_in_progress]),
        4 => ok(vec![BOOT_PARAMETER_VERSION, 4, 0x00, boot.info_ack]),
        5 => Action::Device(DeviceJob::GetBootFlags),
        _ => reply(PARAMETER_NOT_SUPPORTED),
    }
}

/// Boot option parameter 5 for what the device reports. vSphere's boot
/// order applies to every boot, so an override is always "persistent".
pub fn boot_flags(current: BootOverride) -> Vec<u8> {
    let efi = if current.efi { BOOT_FLAGS_EFI } else { 0 };
    let data1 = match current.device {
        BootDevice::NoOverride => efi,
        _ => BOOT_FLAGS_VALID | BOOT_FLAGS_PERSISTENT | efi,
    };
    vec![
        BOOT_PARAMETER_VERSION,
        5,
        data1,
        device_to_selector(current.device) << 2,
        0,
        0,
        0,
    ]
}

/// Set System Boot Options (IPMI v2.0 §28.12).
fn set_boot_options(d: &[u8], boot: &mut BootParameters) -> Action {
    let Some(param) = d.first() else {
        return reply(CompletionCode::REQUEST_LENGTH_INVALID);
    };
    match param & 0x7F {
        0 => {
            let [_, value] = d else {
                return reply(CompletionCode::REQUEST_LENGTH_INVALID);
            };
            match value & 0x03 {
                0 => boot.set_in_progress = 0,
                1 if boot.set_in_progress != 0 => return reply(SET_IN_PROGRESS_CONFLICT),
                1 => boot.set_in_progress = 1,
                // Commit write: parameter 5 is applied when written.
                2 => {}
                _ => return reply(CompletionCode::INVALID_DATA_FIELD),
            }
            ok(Vec::new())
        }
        4 => {
            let [_, mask, value] = d else {
                return reply(CompletionCode::REQUEST_LENGTH_INVALID);
            };
            boot.info_ack = (boot.info_ack & !mask) | (value & mask);
            ok(Vec::new())
        }
        5 => {
            let [_, data1, data2, data3, data4, data5] = d else {
                return reply(CompletionCode::REQUEST_LENGTH_INVALID);
            };
            // CMOS clear, keyboard lock, screen blank, reset lockout, BIOS
            // verbosity, console redirection, shared mode, device instance:
            // a VM has none of these to honour, so asking for one is refused
            // rather than silently ignored.
            if data2 & 0xC3 != 0 || *data3 != 0 || *data4 != 0 || *data5 != 0 {
                return reply(CompletionCode::INVALID_DATA_FIELD);
            }
            let device = if data1 & BOOT_FLAGS_VALID == 0 {
                BootDevice::NoOverride
            } else {
                match selector_to_device((data2 >> 2) & 0x0F) {
                    Some(dev) => dev,
                    None => return reply(CompletionCode::INVALID_DATA_FIELD),
                }
            };
            // A one-shot override would be undone by the BMC after the
            // next boot; a VM's boot order cannot be, so it is not taken as
            // persistent behind the console's back. "No override" needs no
            // undoing: either way the firmware's order rules afterwards.
            if device != BootDevice::NoOverride && data1 & BOOT_FLAGS_PERSISTENT == 0 {
                return Action::Refused {
                    code: CompletionCode::INVALID_DATA_FIELD,
                    why: NEXT_BOOT_ONLY_REFUSED,
                };
            }
            Action::Device(DeviceJob::SetBootDevice(BootOverride {
                device,
                efi: data1 & BOOT_FLAGS_EFI != 0,
            }))
        }
        _ => reply(PARAMETER_NOT_SUPPORTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{build_request, parse_request};

    fn run(netfn_: u8, cmd_: u8, data: &[u8], privilege: Option<Privilege>) -> Action {
        let msg = build_request(netfn_, cmd_, 1, data);
        let req = parse_request(&msg).unwrap();
        dispatch(&req, privilege, &mut BootParameters::default())
    }

    const ADMIN: Option<Privilege> = Some(Privilege::Administrator);

    #[test]
    fn unknown_commands_and_netfns_get_c1() {
        for (n, c) in [
            (0x06, 0x02),
            (0x00, 0x04),
            (0x2C, 0x3E),
            (0x0A, 0x10),
            (0x06, 0x34),
        ] {
            assert_eq!(
                run(n, c, &[], ADMIN),
                reply(CompletionCode::INVALID_COMMAND),
                "{n:02X} {c:02X}"
            );
        }
    }

    #[test]
    fn privileges_are_enforced() {
        let user = Some(Privilege::User);
        assert_eq!(
            run(0x00, cmd::CHASSIS_CONTROL, &[0], user),
            reply(CompletionCode::INSUFFICIENT_PRIVILEGE)
        );
        assert_eq!(
            run(0x00, cmd::GET_CHASSIS_STATUS, &[], user),
            Action::Device(DeviceJob::ChassisStatus)
        );
        assert_eq!(
            run(
                0x00,
                cmd::GET_CHASSIS_STATUS,
                &[],
                Some(Privilege::Callback)
            ),
            reply(CompletionCode::INSUFFICIENT_PRIVILEGE)
        );
        // Outside a session only the two setup commands.
        assert_eq!(
            run(0x06, cmd::GET_DEVICE_ID, &[], None),
            reply(CompletionCode::INSUFFICIENT_PRIVILEGE)
        );
        assert_eq!(
            run(0x00, cmd::CHASSIS_CONTROL, &[0], None),
            reply(CompletionCode::INSUFFICIENT_PRIVILEGE)
        );
        assert!(matches!(
            run(0x06, cmd::GET_CHANNEL_AUTH_CAPABILITIES, &[0x8E, 4], None),
            Action::Reply(CompletionCode::OK, _)
        ));
    }

    #[test]
    fn auth_capabilities_offer_rmcp_plus_only() {
        let Action::Reply(CompletionCode::OK, d) =
            run(0x06, cmd::GET_CHANNEL_AUTH_CAPABILITIES, &[0x8E, 4], None)
        else {
            panic!()
        };
        assert_eq!(d, vec![1, 0x80, 0x04, 0x02, 0, 0, 0, 0]);
        let Action::Reply(CompletionCode::OK, d) =
            run(0x06, cmd::GET_CHANNEL_AUTH_CAPABILITIES, &[0x0E, 4], None)
        else {
            panic!()
        };
        assert_eq!(&d[..2], &[1, 0x00], "no v1.5 authentication type at all");
        for bad in [&[0x8E, 0][..], &[0x8E, 6], &[0x83, 4]] {
            assert_eq!(
                run(0x06, cmd::GET_CHANNEL_AUTH_CAPABILITIES, bad, None),
                reply(CompletionCode::INVALID_DATA_FIELD)
            );
        }
        assert_eq!(
            run(0x06, cmd::GET_CHANNEL_AUTH_CAPABILITIES, &[0x8E], None),
            reply(CompletionCode::REQUEST_LENGTH_INVALID)
        );
    }

    #[test]
    fn cipher_suites_are_3_and_17() {
        let Action::Reply(CompletionCode::OK, d) =
            run(0x06, cmd::GET_CHANNEL_CIPHER_SUITES, &[0x0E, 0, 0x80], None)
        else {
            panic!()
        };
        assert_eq!(
            d,
            vec![1, 0xC0, 3, 0x01, 0x41, 0x81, 0xC0, 17, 0x03, 0x44, 0x81]
        );
        let Action::Reply(CompletionCode::OK, d) =
            run(0x06, cmd::GET_CHANNEL_CIPHER_SUITES, &[0x0E, 0, 0x81], None)
        else {
            panic!()
        };
        assert_eq!(d, vec![1], "second page is empty");
        let Action::Reply(CompletionCode::OK, d) =
            run(0x06, cmd::GET_CHANNEL_CIPHER_SUITES, &[0x0E, 1, 0x80], None)
        else {
            panic!()
        };
        assert_eq!(d, vec![1], "no SOL suites");
        let Action::Reply(CompletionCode::OK, d) =
            run(0x06, cmd::GET_CHANNEL_CIPHER_SUITES, &[0x0E, 0, 0x00], None)
        else {
            panic!()
        };
        assert_eq!(d, vec![1, 0x01, 0x03, 0x41, 0x44, 0x81]);
    }

    #[test]
    fn chassis_control_codes() {
        let expect = [
            (
                0,
                Action::Device(DeviceJob::Control(ChassisAction::PowerDown)),
            ),
            (
                1,
                Action::Device(DeviceJob::Control(ChassisAction::PowerUp)),
            ),
            (
                2,
                Action::Device(DeviceJob::Control(ChassisAction::PowerCycle)),
            ),
            (
                3,
                Action::Device(DeviceJob::Control(ChassisAction::HardReset)),
            ),
            (4, reply(CompletionCode::SUBFUNCTION_UNAVAILABLE)),
            (
                5,
                Action::Device(DeviceJob::Control(ChassisAction::SoftShutdown)),
            ),
            (6, reply(CompletionCode::INVALID_DATA_FIELD)),
        ];
        for (code, action) in expect {
            assert_eq!(
                run(0x00, cmd::CHASSIS_CONTROL, &[code], ADMIN),
                action,
                "{code}"
            );
        }
        assert_eq!(
            run(0x00, cmd::CHASSIS_CONTROL, &[], ADMIN),
            reply(CompletionCode::REQUEST_LENGTH_INVALID)
        );
        assert_eq!(
            run(0x00, cmd::CHASSIS_CONTROL, &[0, 0], ADMIN),
            reply(CompletionCode::REQUEST_LENGTH_INVALID)
        );
    }

    #[test]
    fn boot_device_as_ipmitool_sets_it() {
        let mut boot = BootParameters::default();
        let mut send = |data: &[u8], cmd_: u8| {
            let msg = build_request(0x00, cmd_, 1, data);
            dispatch(&parse_request(&msg).unwrap(), ADMIN, &mut boot)
        };
        let set = cmd::SET_SYSTEM_BOOT_OPTIONS;
        assert_eq!(send(&[0, 1], set), ok(vec![]));
        assert_eq!(send(&[0, 1], set), reply(SET_IN_PROGRESS_CONFLICT));
        assert_eq!(send(&[4, 1, 1], set), ok(vec![]));
        let wanted =
            |device, efi| Action::Device(DeviceJob::SetBootDevice(BootOverride { device, efi }));
        for (selector, dev) in [
            (0x04, BootDevice::Pxe),
            (0x08, BootDevice::Disk),
            (0x14, BootDevice::Cdrom),
            (0x3C, BootDevice::Floppy),
            (0x00, BootDevice::NoOverride),
        ] {
            // Persistent (0xC0), with or without EFI (0x20).
            assert_eq!(send(&[5, 0xC0, selector, 0, 0, 0], set), wanted(dev, false));
            assert_eq!(send(&[5, 0xE0, selector, 0, 0, 0], set), wanted(dev, true));
            // For the next boot only (0x80): refused, it cannot be undone
            // after that boot; no override needs no undoing.
            let next_boot = send(&[5, 0x80, selector, 0, 0, 0], set);
            if dev == BootDevice::NoOverride {
                assert_eq!(next_boot, wanted(dev, false));
            } else {
                assert_eq!(
                    next_boot,
                    Action::Refused {
                        code: CompletionCode::INVALID_DATA_FIELD,
                        why: NEXT_BOOT_ONLY_REFUSED
                    },
                    "{dev}"
                );
            }
        }
        // bios setup, safe mode, diagnostic partition, remote media.
        for selector in [0x18, 0x0C, 0x10, 0x1C, 0x20, 0x24, 0x2C] {
            assert_eq!(
                send(&[5, 0xC0, selector, 0, 0, 0], set),
                reply(CompletionCode::INVALID_DATA_FIELD)
            );
        }
        assert_eq!(
            send(&[5, 0xC0, 0x84, 0, 0, 0], set),
            reply(CompletionCode::INVALID_DATA_FIELD),
            "CMOS clear cannot be honoured"
        );
        assert_eq!(
            send(&[5, 0x00, 0x04, 0, 0, 0], set),
            wanted(BootDevice::NoOverride, false),
            "flags marked invalid: no override"
        );
        assert_eq!(send(&[0, 2], set), ok(vec![]));
        assert_eq!(send(&[0, 0], set), ok(vec![]));
        let get = cmd::GET_SYSTEM_BOOT_OPTIONS;
        assert_eq!(send(&[0, 0, 0], get), ok(vec![1, 0, 0]));
        assert_eq!(send(&[4, 0, 0], get), ok(vec![1, 4, 0, 1]));
        assert_eq!(
            send(&[5, 0, 0], get),
            Action::Device(DeviceJob::GetBootFlags)
        );
        assert_eq!(send(&[3, 0, 0], get), reply(PARAMETER_NOT_SUPPORTED));
        assert_eq!(send(&[7, 1], set), reply(PARAMETER_NOT_SUPPORTED));
    }

    #[test]
    fn boot_flags_report_persistent_overrides() {
        assert_eq!(
            boot_flags(BootOverride {
                device: BootDevice::Pxe,
                efi: false
            }),
            vec![1, 5, 0xC0, 0x04, 0, 0, 0]
        );
        assert_eq!(
            boot_flags(BootOverride {
                device: BootDevice::NoOverride,
                efi: true
            }),
            vec![1, 5, 0x20, 0x00, 0, 0, 0]
        );
    }

    #[test]
    fn session_commands() {
        assert_eq!(
            run(0x06, cmd::SET_SESSION_PRIVILEGE_LEVEL, &[4], ADMIN),
            Action::SetPrivilege(4)
        );
        assert_eq!(
            run(0x06, cmd::SET_SESSION_PRIVILEGE_LEVEL, &[6], ADMIN),
            reply(CompletionCode::INVALID_DATA_FIELD)
        );
        assert_eq!(
            run(0x06, cmd::CLOSE_SESSION, &[1, 2, 3, 4], ADMIN),
            Action::CloseSession(0x0403_0201)
        );
        assert_eq!(
            run(0x06, cmd::CLOSE_SESSION, &[0, 0, 0, 0, 1], ADMIN),
            reply(CLOSE_INVALID_HANDLE)
        );
        assert_eq!(
            run(0x06, cmd::CLOSE_SESSION, &[1, 2], ADMIN),
            reply(CompletionCode::REQUEST_LENGTH_INVALID)
        );
    }

    #[test]
    fn lun_other_than_zero_is_refused() {
        let mut msg = build_request(0x06, cmd::GET_DEVICE_ID, 1, &[]);
        msg[1] |= 0x01;
        msg[2] = 0u8.wrapping_sub(msg[0].wrapping_add(msg[1]));
        let req = parse_request(&msg).unwrap();
        assert_eq!(
            dispatch(&req, ADMIN, &mut BootParameters::default()),
            reply(CompletionCode::INVALID_FOR_LUN)
        );
    }
}
