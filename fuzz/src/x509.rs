//! The one field vsphere-http reads from a server's certificate itself
//! (`x509::validity`, for trusting a pinned self-signed certificate as
//! OpenSSL does): the validity period, from DER the peer sends.
//!
//! What must hold: whatever the bytes, an answer (never a panic, never
//! an overflow); a certificate written as a CA writes it (DER, the
//! version present or not, lengths short or long), its notBefore and
//! notAfter in UTCTime or GeneralizedTime, reads back as exactly those
//! instants; and a time that is not one (the 31st of April, 24:00, a
//! 60th second, a date before 1970) is refused, as rustls-webpki
//! (time.rs: day within its month, seconds up to 59) and OpenSSL
//! (asn1_time_to_tm) refuse it.

use vsphere_http::fuzzing::validity;

use crate::{Choices, Fields};

/// A DER element; `long` writes the length in the long form even when
/// the short one would do (BER, which the reader takes too).
fn element(tag: u8, content: &[u8], long: bool) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 && !long {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        let bytes = if bytes.is_empty() { vec![0] } else { bytes };
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

fn sequence(parts: &[Vec<u8>], long: bool) -> Vec<u8> {
    element(0x30, &parts.concat(), long)
}

/// sha256WithRSAEncryption, NULL parameters.
fn algorithm() -> Vec<u8> {
    sequence(
        &[
            element(
                0x06,
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
                false,
            ),
            element(0x05, &[], false),
        ],
        false,
    )
}

/// `CN=name`
fn name(cn: &str) -> Vec<u8> {
    let atv = sequence(
        &[
            element(0x06, &[0x55, 0x04, 0x03], false),
            element(0x0c, cn.as_bytes(), false),
        ],
        false,
    );
    sequence(&[element(0x31, &atv, false)], false)
}

/// A time as the fuzzer picks it, valid or not.
#[derive(Debug, Clone, Copy)]
struct Time {
    generalized: bool,
    year: u64,
    month: u64,
    day: u64,
    hour: u64,
    minute: u64,
    second: u64,
}

impl Time {
    fn pick(c: &mut Choices) -> Time {
        let generalized = c.below(2) == 0;
        // UTCTime holds 1950 to 2049 (RFC 5280 4.1.2.5.1).
        let year = if generalized {
            (c.below(100) * 100 + c.below(100)) as u64
        } else {
            1950 + c.below(100) as u64
        };
        Time {
            generalized,
            year,
            month: c.below(14) as u64,
            day: c.below(33) as u64,
            hour: c.below(25) as u64,
            minute: c.below(61) as u64,
            second: c.below(62) as u64,
        }
    }

    fn der(&self, long: bool) -> Vec<u8> {
        let rest = format!(
            "{:02}{:02}{:02}{:02}{:02}Z",
            self.month, self.day, self.hour, self.minute, self.second
        );
        if self.generalized {
            element(0x18, format!("{:04}{rest}", self.year).as_bytes(), long)
        } else {
            element(
                0x17,
                format!("{:02}{rest}", self.year % 100).as_bytes(),
                long,
            )
        }
    }

    /// Seconds since 1970-01-01T00:00:00Z, when this is an instant from
    /// then on.
    fn seconds(&self) -> Option<u64> {
        let leap =
            |y: u64| y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400));
        let month_days = [
            31,
            if leap(self.year) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if !(1..=12).contains(&self.month)
            || self.day < 1
            || self.day > month_days[self.month as usize - 1]
            || self.hour > 23
            || self.minute > 59
            || self.second > 59
            || self.year < 1970
        {
            return None;
        }
        // Whole years since 1970, then whole months of this one.
        let leap_days_before = |y: u64| (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400;
        let days = 365 * (self.year - 1970) + leap_days_before(self.year) - leap_days_before(1970)
            + month_days[..self.month as usize - 1].iter().sum::<u64>()
            + self.day
            - 1;
        Some(days * 86_400 + self.hour * 3600 + self.minute * 60 + self.second)
    }
}

/// Fields: choices (the two times, the version, lengths' forms), then
/// the issuer's name. The whole input is also a certificate.
pub fn certificate_validity(data: &[u8]) {
    let _ = validity(data);

    let f = Fields::new(data);
    let mut c = Choices::new(f.bytes(0));
    let (not_before, not_after) = (Time::pick(&mut c), Time::pick(&mut c));
    let with_version = c.below(4) != 0;
    let long = c.below(2) == 0;
    let issuer = f.text(1);
    let mut tbs = Vec::new();
    if with_version {
        tbs.push(element(0xa0, &element(0x02, &[2], false), long));
    }
    tbs.extend([
        element(0x02, &[0x01, 0x5c, 0x8e], long),
        algorithm(),
        name(&issuer),
        sequence(&[not_before.der(long), not_after.der(false)], long),
        name(&issuer),
        sequence(&[algorithm(), element(0x03, &[0, 0x30, 0], false)], false),
    ]);
    let certificate = sequence(
        &[
            sequence(&tbs, long),
            algorithm(),
            element(0x03, &[0, 1, 2, 3], false),
        ],
        long,
    );
    let want = not_before.seconds().zip(not_after.seconds());
    assert_eq!(
        validity(&certificate),
        want,
        "notBefore {not_before:?}, notAfter {not_after:?}"
    );
}
