//! The daemon against a hostile or clumsy peer: a console written for the
//! tests (support/mod.rs) that replays, forges, truncates, floods and
//! abandons what ipmitool never would.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::*;
use vmware_vbmc::crypto::{random_bytes, CipherSuite};
use vmware_vbmc::handshake::{OpenSessionRequest, Rakp1, Rakp3, RakpReply};
use vmware_vbmc::ipmi::{cmd, netfn, CompletionCode};
use vmware_vbmc::server::Limits;
use vmware_vbmc::wire::{self, payload, Packet};

const SHORT: Duration = Duration::from_millis(700);

fn admin(bmc: &Bmc, suite: CipherSuite) -> Console {
    let mut c = Console::logged_in(bmc, suite);
    let (cc, data) = c
        .request(netfn::APP, cmd::SET_SESSION_PRIVILEGE_LEVEL, &[4])
        .unwrap();
    assert_eq!((cc, data), (CompletionCode::OK, vec![4]));
    c
}

#[test]
fn asf_presence_ping_gets_a_pong() {
    let bmc = Bmc::default_started();
    let c = Console::new(bmc.addr, CipherSuite::Three);
    c.send_raw(&wire::asf_ping(0x21));
    assert_eq!(c.recv(SHORT), Some(wire::asf_pong(0x21)));
}

#[test]
fn outside_a_session_only_the_setup_commands_answer() {
    let bmc = Bmc::default_started();
    let c = Console::new(bmc.addr, CipherSuite::Three);
    // IPMI v1.5 format, as ipmitool sends it first.
    c.send_raw(&wire::v15_packet(
        0,
        &wire::build_request(
            netfn::APP,
            cmd::GET_CHANNEL_AUTH_CAPABILITIES,
            1,
            &[0x8E, 4],
        ),
    ));
    let answer = c.recv(SHORT).unwrap();
    let Ok(Packet::V15 { message, .. }) = wire::parse_packet(&answer) else {
        panic!("{answer:?}")
    };
    let r = wire::parse_response(message).unwrap();
    assert_eq!(r.completion_code, CompletionCode::OK);
    assert_eq!(r.data, &[1, 0x80, 0x04, 0x02, 0, 0, 0, 0]);
    // RMCP+ format without a session: cipher suites, then refusals.
    let ask = |netfn_: u8, cmd_: u8, data: &[u8]| {
        let msg = wire::build_request(netfn_, cmd_, 2, data);
        c.send_raw(&wire::rmcp_plus_packet(
            payload::IPMI,
            false,
            0,
            0,
            &msg,
            None,
        ));
        let answer = c.recv(SHORT).unwrap();
        let Ok(Packet::RmcpPlus(p)) = wire::parse_packet(&answer) else {
            panic!()
        };
        let r = wire::parse_response(p.payload).unwrap();
        (r.completion_code, r.data.to_vec())
    };
    let (cc, data) = ask(netfn::APP, cmd::GET_CHANNEL_CIPHER_SUITES, &[0x0E, 0, 0x80]);
    assert_eq!(cc, CompletionCode::OK);
    assert_eq!(
        data,
        vec![1, 0xC0, 3, 1, 0x41, 0x81, 0xC0, 17, 3, 0x44, 0x81]
    );
    assert_eq!(
        ask(netfn::CHASSIS, cmd::CHASSIS_CONTROL, &[0]).0,
        CompletionCode::INSUFFICIENT_PRIVILEGE
    );
    assert_eq!(
        ask(netfn::CHASSIS, cmd::GET_CHASSIS_STATUS, &[]).0,
        CompletionCode::INSUFFICIENT_PRIVILEGE
    );
    assert_eq!(
        ask(netfn::APP, 0x02, &[]).0,
        CompletionCode::INVALID_COMMAND
    );
    // A packet claiming authentication without a session: silence.
    let msg = wire::build_request(netfn::CHASSIS, cmd::CHASSIS_CONTROL, 3, &[0]);
    let sign = |_: &[u8]| vec![0u8; 12];
    c.send_raw(&wire::rmcp_plus_packet(
        payload::IPMI,
        false,
        0,
        0,
        &msg,
        Some(&sign),
    ));
    assert_eq!(c.recv(SHORT), None);
    assert_eq!(bmc.power.calls(), Vec::<String>::new());
}

#[test]
fn a_session_starts_at_user_level_and_is_raised_explicitly() {
    let bmc = Bmc::default_started();
    let mut c = Console::logged_in(&bmc, CipherSuite::Seventeen);
    assert_eq!(
        c.request(netfn::CHASSIS, cmd::CHASSIS_CONTROL, &[0])
            .unwrap()
            .0,
        CompletionCode::INSUFFICIENT_PRIVILEGE
    );
    assert!(bmc.power.is_on());
    assert_eq!(
        c.request(netfn::APP, cmd::SET_SESSION_PRIVILEGE_LEVEL, &[0])
            .unwrap(),
        (CompletionCode::OK, vec![2]),
        "0 asks for the present level: user"
    );
    assert_eq!(
        c.request(netfn::APP, cmd::SET_SESSION_PRIVILEGE_LEVEL, &[4])
            .unwrap(),
        (CompletionCode::OK, vec![4])
    );
    assert_eq!(
        c.request(netfn::CHASSIS, cmd::CHASSIS_CONTROL, &[0])
            .unwrap()
            .0,
        CompletionCode::OK
    );
    assert!(!bmc.power.is_on());
}

#[test]
fn a_user_level_session_cannot_rise_or_power() {
    let bmc = Bmc::default_started();
    let mut c = Console::new(bmc.addr, CipherSuite::Three);
    c.login(USER, PASSWORD, 0x12).unwrap();
    assert_eq!(
        c.request(netfn::APP, cmd::SET_SESSION_PRIVILEGE_LEVEL, &[4])
            .unwrap()
            .0,
        CompletionCode(0x81)
    );
    assert_eq!(
        c.request(netfn::CHASSIS, cmd::CHASSIS_CONTROL, &[0])
            .unwrap()
            .0,
        CompletionCode::INSUFFICIENT_PRIVILEGE
    );
    assert_eq!(
        c.request(netfn::CHASSIS, cmd::GET_CHASSIS_STATUS, &[])
            .unwrap(),
        (CompletionCode::OK, vec![0x61, 0, 0])
    );
    assert!(bmc.power.is_on());
    assert_eq!(bmc.power.count("power_off"), 0);
}

#[test]
fn unknown_commands_get_c1_in_a_session() {
    let bmc = Bmc::default_started();
    let mut c = admin(&bmc, CipherSuite::Three);
    for (n, command) in [
        (netfn::APP, 0x02),
        (0x2C, 0x3E),
        (0x0A, 0x10),
        (netfn::CHASSIS, 0x0F),
    ] {
        assert_eq!(
            c.request(n, command, &[]).unwrap().0,
            CompletionCode::INVALID_COMMAND,
            "{n:02X}/{command:02X}"
        );
    }
}

#[test]
fn a_replayed_packet_is_ignored() {
    let bmc = Bmc::default_started();
    let mut c = admin(&bmc, CipherSuite::Three);
    let off = c.request_packet(netfn::CHASSIS, cmd::CHASSIS_CONTROL, &[0]);
    c.send_raw(&off);
    assert_eq!(c.recv_response(SHORT * 3).unwrap().1, CompletionCode::OK);
    bmc.power.set_on(true);
    c.send_raw(&off);
    assert_eq!(c.recv(SHORT), None, "the replay gets nothing");
    assert!(bmc.power.is_on(), "and does nothing");
    assert_eq!(bmc.power.count("power_off"), 1);
}

#[test]
fn a_forged_or_damaged_packet_is_ignored_and_the_session_survives() {
    let bmc = Bmc::default_started();
    let mut c = admin(&bmc, CipherSuite::Seventeen);
    let good = c.request_packet(netfn::CHASSIS, cmd::CHASSIS_CONTROL, &[0]);
    let mut forged = good.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    c.send_raw(&forged);
    assert_eq!(c.recv(SHORT), None);
    let mut damaged = good.clone();
    damaged[20] ^= 0x80; // inside the encrypted payload
    c.send_raw(&damaged);
    assert_eq!(c.recv(SHORT), None);
    for cut in [5, 16, 30, good.len() - 1] {
        c.send_raw(&good[..cut]);
    }
    assert_eq!(c.recv(SHORT), None);
    assert!(bmc.power.is_on());
    // The genuine packet still works: the forgeries consumed nothing.
    c.send_raw(&good);
    assert_eq!(c.recv_response(SHORT * 3).unwrap().1, CompletionCode::OK);
    assert!(!bmc.power.is_on());
    assert!(
        bmc.log.text().contains("wrong AuthCode"),
        "{}",
        bmc.log.text()
    );
}

#[test]
fn sequence_numbers_outside_the_window_are_ignored() {
    let bmc = Bmc::default_started();
    let mut c = admin(&bmc, CipherSuite::Three);
    let saved = c.seq;
    c.seq += 100;
    let ahead = c.request_packet(netfn::CHASSIS, cmd::GET_CHASSIS_STATUS, &[]);
    c.send_raw(&ahead);
    assert_eq!(c.recv(SHORT), None, "far ahead");
    c.seq = saved;
    assert_eq!(
        c.request(netfn::CHASSIS, cmd::GET_CHASSIS_STATUS, &[])
            .unwrap()
            .0,
        CompletionCode::OK
    );
    // Move the window on, then come back from far behind.
    c.seq += 10;
    assert!(c
        .request(netfn::CHASSIS, cmd::GET_CHASSIS_STATUS, &[])
        .is_some());
    c.seq = saved.saturating_sub(30).max(1);
    let behind = c.request_packet(netfn::CHASSIS, cmd::GET_CHASSIS_STATUS, &[]);
    c.send_raw(&behind);
    assert_eq!(c.recv(SHORT), None, "far behind");
}

#[test]
fn retransmissions_of_a_slow_power_off_start_it_once_and_get_one_answer() {
    let bmc = Bmc::default_started();
    bmc.power.set_delays(Duration::from_secs(2), Duration::ZERO);
    let mut c = admin(&bmc, CipherSuite::Three);
    c.rq_seq = 40;
    let msg = wire::build_request(netfn::CHASSIS, cmd::CHASSIS_CONTROL, 41, &[0]);
    // As ipmitool retries: same rqSeq and data, a new session sequence
    // number each time.
    for _ in 0..3 {
        let p = c.seal(&msg);
        c.send_raw(&p);
        std::thread::sleep(Duration::from_millis(300));
    }
    let first = c.recv_response(Duration::from_secs(5)).unwrap();
    assert_eq!((first.0, first.1), (41, CompletionCode::OK));
    assert_eq!(c.recv(SHORT), None, "one answer only");
    assert!(!bmc.power.is_on());
    assert_eq!(bmc.power.count("power_off"), 1);
    // Its answer lost, the console resends once more: the same answer,
    // and still one power-off.
    bmc.power.set_on(true);
    let p = c.seal(&msg);
    c.send_raw(&p);
    let again = c.recv_response(SHORT).unwrap();
    assert_eq!((again.0, again.1), (41, CompletionCode::OK));
    assert_eq!(bmc.power.count("power_off"), 1);
    assert!(bmc.power.is_on(), "the resend changed nothing");
}

#[test]
fn a_second_power_change_during_one_is_busy_not_queued() {
    let bmc = Bmc::default_started();
    bmc.power.set_delays(Duration::from_secs(2), Duration::ZERO);
    let mut c = admin(&bmc, CipherSuite::Three);
    let off = c.request_packet(netfn::CHASSIS, cmd::CHASSIS_CONTROL, &[0]);
    c.send_raw(&off);
    std::thread::sleep(Duration::from_millis(100));
    let on = c.request_packet(netfn::CHASSIS, cmd::CHASSIS_CONTROL, &[1]);
    c.send_raw(&on);
    let busy = c.recv_response(SHORT).unwrap();
    assert_eq!(busy.1, CompletionCode::NODE_BUSY);
    // A status read is no change: it goes through meanwhile.
    let status = c.request_packet(netfn::CHASSIS, cmd::GET_CHASSIS_STATUS, &[]);
    c.send_raw(&status);
    assert_eq!(c.recv_response(SHORT).unwrap().1, CompletionCode::OK);
    let done = c.recv_response(Duration::from_secs(4)).unwrap();
    assert_eq!(done.1, CompletionCode::OK);
    assert!(!bmc.power.is_on());
    assert_eq!(bmc.power.count("power_on"), 0);
}

#[test]
fn packets_of_a_session_from_another_address_are_ignored() {
    let bmc = Bmc::default_started();
    let mut c = admin(&bmc, CipherSuite::Three);
    let p = c.request_packet(netfn::CHASSIS, cmd::CHASSIS_CONTROL, &[0]);
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    other.send_to(&p, bmc.addr).unwrap();
    other.set_read_timeout(Some(SHORT)).unwrap();
    let mut buf = [0u8; 512];
    assert!(other.recv_from(&mut buf).is_err());
    assert!(bmc.power.is_on());
    c.send_raw(&p);
    assert_eq!(c.recv_response(SHORT * 3).unwrap().1, CompletionCode::OK);
}

#[test]
fn unprotected_packets_inside_a_session_are_ignored() {
    let bmc = Bmc::default_started();
    let c = admin(&bmc, CipherSuite::Three);
    let msg = wire::build_request(netfn::CHASSIS, cmd::CHASSIS_CONTROL, 9, &[0]);
    c.send_raw(&wire::rmcp_plus_packet(
        payload::IPMI,
        false,
        c.bmc_session_id,
        50,
        &msg,
        None,
    ));
    assert_eq!(c.recv(SHORT), None);
    assert!(bmc.power.is_on());
}

#[test]
fn rakp_refusals_carry_the_specification_status_codes() {
    let bmc = Bmc::start(BmcOptions {
        limit: vmware_vbmc::ipmi::Privilege::Operator,
        ..Default::default()
    });
    let rakp1_status = |role: u8, name: &[u8]| {
        let mut c = Console::new(bmc.addr, CipherSuite::Three);
        c.open_session(0).unwrap();
        let m = Rakp1 {
            message_tag: 9,
            bmc_session_id: c.bmc_session_id,
            console_random: [1; 16],
            role,
            user_name: name.to_vec(),
        };
        let body = c
            .setup_exchange(payload::RAKP_1, &m.build(), payload::RAKP_2)
            .unwrap();
        RakpReply::parse(&body).unwrap().status
    };
    assert_eq!(rakp1_status(0x15, USER.as_bytes()), 0x09, "OEM level");
    assert_eq!(rakp1_status(0x10, USER.as_bytes()), 0x09, "level 0");
    assert_eq!(rakp1_status(0x14, USER.as_bytes()), 0x0A, "above the limit");
    assert_eq!(rakp1_status(0x13, b""), 0x0D, "null user name");
    assert_eq!(rakp1_status(0x13, b"fence"), 0x00);
    assert_eq!(
        rakp1_status(0x13, b"someone-else"),
        0x00,
        "unknown names look alike"
    );
    // RAKP 3 with a code made from a wrong password: RAKP 4 status 0Fh
    // and the session is gone.
    let mut c = Console::new(bmc.addr, CipherSuite::Three);
    assert_eq!(
        c.login(USER, "k7#Vq2!mZp9@Lw4%", 0x13),
        Err(LoginError::Rakp2Forged),
        "the console sees the password is not the BMC's"
    );
    let bad = Rakp3 {
        message_tag: 4,
        status: 0,
        bmc_session_id: c.bmc_session_id,
        auth_code: vec![0; 20],
    };
    let body = c
        .setup_exchange(payload::RAKP_3, &bad.build(), payload::RAKP_4)
        .unwrap();
    assert_eq!(RakpReply::parse(&body).unwrap().status, 0x0F);
    let body = c.setup_exchange(payload::RAKP_3, &bad.build(), payload::RAKP_4);
    assert_eq!(body, None, "the session was dropped");
    assert!(
        bmc.log.text().contains("wrong password"),
        "{}",
        bmc.log.text()
    );
}

#[test]
fn open_session_refuses_weak_or_unknown_algorithms() {
    let bmc = Bmc::default_started();
    let c = Console::new(bmc.addr, CipherSuite::Three);
    let mut req = OpenSessionRequest {
        message_tag: 5,
        requested_privilege: 0,
        console_session_id: 77,
        suite: CipherSuite::Three,
    }
    .build();
    req[20] = 0; // integrity "none"
    let body = c
        .setup_exchange(
            payload::OPEN_SESSION_REQUEST,
            &req,
            payload::OPEN_SESSION_RESPONSE,
        )
        .unwrap();
    assert_eq!(&body[..2], &[5, 0x11]);
    assert_eq!(u32::from_le_bytes([body[4], body[5], body[6], body[7]]), 77);
    assert_eq!(bmc.sessions_in_use(), 0);
}

#[test]
fn session_limit_per_vm_and_half_open_sessions_make_room() {
    let bmc = Bmc::start(BmcOptions {
        limits: Limits {
            max_sessions_per_vm: 2,
            ..Limits::default()
        },
        ..Default::default()
    });
    let _one = Console::logged_in(&bmc, CipherSuite::Three);
    let mut half = Console::new(bmc.addr, CipherSuite::Three);
    half.open_session(0).unwrap();
    // Full; the half-open session gives way.
    let mut two = Console::new(bmc.addr, CipherSuite::Three);
    two.login(USER, PASSWORD, 0x14).unwrap();
    assert_eq!(
        half.login(USER, PASSWORD, 0x14),
        Err(LoginError::OpenSession(0x01)),
        "two established sessions: no room"
    );
    assert_eq!(bmc.sessions_in_use(), 2);
}

#[test]
fn global_session_limit() {
    let bmc = Bmc::start(BmcOptions {
        limits: Limits {
            max_sessions: 1,
            ..Limits::default()
        },
        ..Default::default()
    });
    let _one = Console::logged_in(&bmc, CipherSuite::Three);
    let mut two = Console::new(bmc.addr, CipherSuite::Three);
    assert_eq!(
        two.open_session(0).unwrap_err(),
        LoginError::OpenSession(0x01)
    );
}

#[test]
fn a_flood_of_open_session_requests_cannot_lock_a_console_out() {
    let bmc = Bmc::default_started();
    let flood = Console::new(bmc.addr, CipherSuite::Three);
    for i in 0..500u32 {
        let req = OpenSessionRequest {
            message_tag: 0,
            requested_privilege: 0,
            console_session_id: i + 1,
            suite: CipherSuite::Three,
        };
        flood.send_raw(&wire::rmcp_plus_packet(
            payload::OPEN_SESSION_REQUEST,
            false,
            0,
            0,
            &req.build(),
            None,
        ));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(bmc.sessions_in_use() <= Limits::default().max_sessions_per_vm);
    let mut c = admin(&bmc, CipherSuite::Seventeen);
    assert_eq!(
        c.request(netfn::CHASSIS, cmd::GET_CHASSIS_STATUS, &[])
            .unwrap()
            .0,
        CompletionCode::OK
    );
}

#[test]
fn idle_sessions_expire() {
    let bmc = Bmc::start(BmcOptions {
        limits: Limits {
            session_idle_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
        ..Default::default()
    });
    let mut c = admin(&bmc, CipherSuite::Three);
    assert_eq!(bmc.sessions_in_use(), 1);
    std::thread::sleep(Duration::from_millis(1800));
    assert_eq!(bmc.sessions_in_use(), 0);
    let p = c.request_packet(netfn::CHASSIS, cmd::CHASSIS_CONTROL, &[0]);
    c.send_raw(&p);
    assert_eq!(c.recv(SHORT), None);
    assert!(bmc.power.is_on());
    assert!(
        bmc.log.text().contains("closed: idle for 1 s"),
        "{}",
        bmc.log.text()
    );
}

#[test]
fn close_session_ends_it() {
    let bmc = Bmc::default_started();
    let mut c = admin(&bmc, CipherSuite::Three);
    let mut other = Console::logged_in(&bmc, CipherSuite::Three);
    // A user-level session may not close someone else's.
    let target = c.bmc_session_id.to_le_bytes();
    assert_eq!(
        other
            .request(netfn::APP, cmd::CLOSE_SESSION, &target)
            .unwrap()
            .0,
        CompletionCode::INSUFFICIENT_PRIVILEGE
    );
    let own = c.bmc_session_id.to_le_bytes();
    assert_eq!(
        c.request(netfn::APP, cmd::CLOSE_SESSION, &own).unwrap().0,
        CompletionCode::OK
    );
    let p = c.request_packet(netfn::CHASSIS, cmd::GET_CHASSIS_STATUS, &[]);
    c.send_raw(&p);
    assert_eq!(c.recv(SHORT), None);
    assert_eq!(bmc.sessions_in_use(), 1);
    let own = other.bmc_session_id.to_le_bytes();
    assert_eq!(
        other
            .request(netfn::APP, cmd::CLOSE_SESSION, &own)
            .unwrap()
            .0,
        CompletionCode::OK
    );
    assert_eq!(bmc.sessions_in_use(), 0);
}

/// Random numbers for the flood: any input must leave the BMC unharmed,
/// so there is nothing to replay.
struct Dice;
impl Dice {
    fn next(&mut self) -> u64 {
        u64::from_le_bytes(random_bytes::<8>().unwrap())
    }
}

#[test]
fn a_flood_of_garbage_changes_nothing_and_the_bmc_still_answers() {
    let bmc = Bmc::default_started();
    let mut c = admin(&bmc, CipherSuite::Three);
    let templates = [
        c.request_packet(netfn::CHASSIS, cmd::CHASSIS_CONTROL, &[0]),
        wire::asf_ping(1),
        wire::rmcp_plus_packet(
            payload::RAKP_1,
            false,
            0,
            0,
            &Rakp1 {
                message_tag: 0,
                bmc_session_id: c.bmc_session_id,
                console_random: [0; 16],
                role: 0x14,
                user_name: b"fence".to_vec(),
            }
            .build(),
            None,
        ),
        wire::rmcp_plus_packet(
            payload::OPEN_SESSION_REQUEST,
            false,
            0,
            0,
            &OpenSessionRequest {
                message_tag: 0,
                requested_privilege: 0,
                console_session_id: 5,
                suite: CipherSuite::Seventeen,
            }
            .build(),
            None,
        ),
    ];
    let flood = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = Dice;
    let started = Instant::now();
    for i in 0..20_000usize {
        let t = (rng.next() % 5) as usize;
        let mut bytes = if t == 4 {
            let n = (rng.next() % 200) as usize;
            (0..n).map(|_| rng.next() as u8).collect()
        } else {
            templates[t].clone()
        };
        if t == 0 {
            // The genuine power-off, always altered in what its AuthCode
            // covers (from byte 4 on; the RMCP header before it is not
            // signed, IPMI v2.0 §13.28.4), at 1 to 3 distinct bytes: two
            // changes of one byte could cancel out and send the genuine
            // packet, which the BMC rightly obeys.
            let mut altered = Vec::new();
            while altered.len() <= (rng.next() % 3) as usize {
                let k = 4 + (rng.next() as usize) % (bytes.len() - 4);
                if !altered.contains(&k) {
                    bytes[k] ^= (rng.next() as u8) | 1;
                    altered.push(k);
                }
            }
            assert_ne!(bytes, templates[0]);
        } else if t != 4 && rng.next().is_multiple_of(2) && !bytes.is_empty() {
            for _ in 0..=(rng.next() % 3) {
                let k = (rng.next() as usize) % bytes.len();
                bytes[k] = rng.next() as u8;
            }
            if rng.next().is_multiple_of(4) {
                bytes.truncate((rng.next() as usize) % bytes.len());
            }
        }
        // From the console's own address too: a spoofer's best case.
        if i % 2 == 0 {
            c.send_raw(&bytes);
        } else {
            flood.send_to(&bytes, bmc.addr).unwrap();
        }
    }
    // Drain whatever pongs and refusals came back to the console.
    while c.recv(Duration::from_millis(200)).is_some() {}
    assert!(
        bmc.power.is_on(),
        "no mutation of a signed packet powered anything"
    );
    assert_eq!(bmc.power.count("power_off"), 0);
    assert!(started.elapsed() < Duration::from_secs(60));
    // Unharmed: the session and a fresh ipmitool both work.
    c.seq += 5;
    assert_eq!(
        c.request(netfn::CHASSIS, cmd::GET_CHASSIS_STATUS, &[])
            .unwrap()
            .0,
        CompletionCode::OK
    );
    let o = ipmitool(&bmc, &["chassis", "power", "status"]);
    assert_eq!(stdout(&o).trim(), "Chassis Power is on", "{}", stderr(&o));
    assert!(bmc.sessions_in_use() <= Limits::default().max_sessions_per_vm);
}
