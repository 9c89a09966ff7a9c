//! The cryptography against answers computed a second, independent way:
//! the RAKP codes, the session integrity key, K1 (through the AuthCode it
//! keys) and the RAKP 4 value by tests/kat/rakp.py with Python's hmac and
//! hashlib; AES-CBC-128 under K2 by the openssl command line tool. Nothing
//! here is compared with a value this crate produced earlier.

mod support;

use std::process::Command;
use std::time::Duration;

use vmware_vbmc::crypto::{CipherSuite, Exchange, SessionKeys, UserKey};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

struct Case {
    suite: CipherSuite,
    password: &'static str,
    user: &'static str,
    role: u8,
    console_session_id: u32,
    bmc_session_id: u32,
    seed: u8,
}

fn bytes16(seed: u8) -> [u8; 16] {
    std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7))
}

fn python(case: &Case, covered: &[u8]) -> Vec<(String, Vec<u8>)> {
    let input = format!(
        r#"{{"suite":"{}","password":"{}","console_session_id":{},"bmc_session_id":{},"console_random":"{}","bmc_random":"{}","bmc_guid":"{}","user_name":"{}","role":{},"covered":"{}"}}"#,
        case.suite.id(),
        case.password,
        case.console_session_id,
        case.bmc_session_id,
        hex(&bytes16(case.seed)),
        hex(&bytes16(case.seed ^ 0x5A)),
        hex(&bytes16(case.seed ^ 0xA5)),
        case.user,
        case.role,
        hex(covered)
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kat/rakp.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(script);
    let out = support::run_bounded(cmd, Some(input.as_bytes()), Duration::from_secs(30));
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), unhex(v))
        })
        .collect()
}

fn get<'a>(answers: &'a [(String, Vec<u8>)], key: &str) -> &'a [u8] {
    &answers.iter().find(|(k, _)| k == key).unwrap().1
}

/// `plaintext` + IPMI's confidentiality pad (01h, 02h, ... and the pad
/// length), AES-128-CBC by openssl with no padding of its own.
fn openssl_aes(key: &[u8], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    let pad = (16 - (plaintext.len() + 1) % 16) % 16;
    let mut block = plaintext.to_vec();
    block.extend((1..=pad as u8).collect::<Vec<_>>());
    block.push(pad as u8);
    let mut cmd = Command::new("openssl");
    cmd.args(["enc", "-aes-128-cbc", "-nopad", "-K"])
        .arg(hex(&key[..16]))
        .arg("-iv")
        .arg(hex(iv));
    let out = support::run_bounded(cmd, Some(&block), Duration::from_secs(30));
    assert!(out.status.success());
    out.stdout
}

#[test]
fn key_exchange_and_session_keys_match_an_independent_implementation() {
    let cases = [
        Case {
            suite: CipherSuite::Three,
            password: "k7#Vq2!mZp9@Lw4$",
            user: "fence",
            role: 0x14,
            console_session_id: 0xA0A2_A3A4,
            bmc_session_id: 0x1234_5678,
            seed: 1,
        },
        Case {
            suite: CipherSuite::Seventeen,
            password: "k7#Vq2!mZp9@Lw4$",
            user: "fence",
            role: 0x14,
            console_session_id: 0xA0A2_A3A4,
            bmc_session_id: 0x1234_5678,
            seed: 1,
        },
        Case {
            suite: CipherSuite::Three,
            password: "twenty-byte-password",
            user: "a",
            role: 0x03,
            console_session_id: 1,
            bmc_session_id: 0xFFFF_FFFF,
            seed: 200,
        },
        Case {
            suite: CipherSuite::Seventeen,
            password: "twenty-byte-password",
            user: "sixteen-byte-usr",
            role: 0x12,
            console_session_id: 0x8000_0000,
            bmc_session_id: 2,
            seed: 77,
        },
    ];
    for case in &cases {
        let covered: Vec<u8> = (0..(40 + case.seed as usize % 13))
            .map(|i| i as u8)
            .collect();
        let answers = python(case, &covered);
        let key = UserKey::new(case.password.as_bytes()).unwrap();
        let x = Exchange {
            console_session_id: case.console_session_id,
            bmc_session_id: case.bmc_session_id,
            console_random: bytes16(case.seed),
            bmc_random: bytes16(case.seed ^ 0x5A),
            bmc_guid: bytes16(case.seed ^ 0xA5),
            role: case.role,
            user_name: case.user.as_bytes(),
        };
        let s = case.suite;
        let what = format!("suite {} user {}", s.id(), case.user);
        assert_eq!(
            s.rakp2_auth_code(&key, &x),
            get(&answers, "rakp2"),
            "RAKP 2, {what}"
        );
        assert_eq!(
            s.rakp3_auth_code(&key, &x),
            get(&answers, "rakp3"),
            "RAKP 3, {what}"
        );
        assert!(s.rakp3_matches(&key, &x, get(&answers, "rakp3")));
        let sik = s.session_integrity_key(&key, &x);
        assert_eq!(&sik[..], get(&answers, "sik"), "SIK, {what}");
        assert_eq!(
            s.rakp4_icv(&sik, &x),
            get(&answers, "rakp4"),
            "RAKP 4, {what}"
        );
        let keys = SessionKeys::derive(s, &sik);
        assert_eq!(
            keys.sign(&covered),
            get(&answers, "auth_code"),
            "AuthCode (K1), {what}"
        );
        assert!(keys.verify(&covered, get(&answers, "auth_code")));

        let k2 = get(&answers, "k2");
        for len in [0usize, 1, 15, 16, 17, 31, 64] {
            let plain: Vec<u8> = (0..len).map(|i| (i as u8) ^ case.seed).collect();
            let iv = bytes16(case.seed.wrapping_add(len as u8));
            let ours = keys.encrypt_with_iv(&iv, &plain);
            let theirs = openssl_aes(k2, &iv, &plain);
            assert_eq!(&ours[..16], &iv[..], "the IV leads the field");
            assert_eq!(
                &ours[16..],
                &theirs[..],
                "AES-CBC under K2, {what}, {len} bytes"
            );
            // And what openssl encrypted, we decrypt.
            let mut field = iv.to_vec();
            field.extend_from_slice(&theirs);
            assert_eq!(&keys.decrypt(&field).unwrap()[..], &plain[..]);
        }
    }
}
