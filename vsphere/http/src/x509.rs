//! The one field of an X.509 certificate webpki does not expose and the
//! exact-certificate trust needs: its validity period (RFC 5280 section
//! 4.1.2.5). A minimal DER reader; anything unexpected is `None`, which
//! the caller treats as a bad certificate.

/// One DER element: its tag, and its contents; and the bytes after it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT Version`, present in every v3 certificate.
const VERSION: u8 = 0xa0;

/// notBefore and notAfter, in seconds since the Unix epoch.
pub fn validity(certificate: &[u8]) -> Option<(u64, u64)> {
    let (tag, cert, _) = element(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = element(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, _, mut rest) = element(tbs)?;
    if tag == VERSION {
        rest = element(rest)?.2; // serialNumber
    }
    let rest = element(rest)?.2; // signature AlgorithmIdentifier
    let rest = element(rest)?.2; // issuer
    let (tag, validity, _) = element(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, not_before, rest) = element(validity)?;
    let not_before = time(tag, not_before)?;
    let (tag, not_after, _) = element(rest)?;
    Some((not_before, time(tag, not_after)?))
}

/// UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`, the only
/// forms RFC 5280 allows.
fn time(tag: u8, text: &[u8]) -> Option<u64> {
    let digits = text.strip_suffix(b"Z")?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = |s: &[u8]| s.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = number(&digits[..2]);
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (GENERALIZED_TIME, 14) => (number(&digits[..4]), &digits[4..]),
        _ => return None,
    };
    let (month, day) = (number(&rest[0..2]), number(&rest[2..4]));
    let (hour, minute, second) = (
        number(&rest[4..6]),
        number(&rest[6..8]),
        number(&rest[8..10]),
    );
    // As rustls-webpki reads the other certificates (time.rs: the day
    // within its month, no 60th second) and OpenSSL reads this one
    // (asn1_time_to_tm): a date that is not in the calendar is no time.
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_since_epoch(year, month, day)?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// The days of `month` (1 to 12) in `year` of the Gregorian calendar.
fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (H. Hinnant's days_from_civil); `None` before 1970.
fn days_since_epoch(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(days_since_epoch(1970, 1, 1), Some(0));
        assert_eq!(days_since_epoch(2000, 3, 1), Some(11_017));
        assert_eq!(time(UTC_TIME, b"700101000000Z"), Some(0));
        assert_eq!(time(UTC_TIME, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(
            time(GENERALIZED_TIME, b"20380119031408Z"),
            Some(2_147_483_648)
        );
        // Leap days where the calendar has them, and nowhere else.
        assert_eq!(time(UTC_TIME, b"000229000000Z"), Some(951_782_400));
        assert_eq!(
            time(GENERALIZED_TIME, b"24000229000000Z"),
            Some(13_574_563_200)
        );
        for bad in [
            &b"7001010000Z"[..],
            b"700101000000",
            b"701301000000Z",
            b"70010100000aZ",
            b"700431000000Z",
            b"700631000000Z",
            b"700229000000Z",
            b"700101000060Z",
        ] {
            assert_eq!(
                time(UTC_TIME, bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(time(0x04, b"700101000000Z"), None);
        for bad in [&b"21000229000000Z"[..], b"19000229000000Z"] {
            assert_eq!(time(GENERALIZED_TIME, bad), None);
        }
    }

    #[test]
    fn validity_of_real_certificates() {
        for (from, until) in [((2001, 2, 3), (2049, 12, 31)), ((1999, 7, 1), (2051, 1, 1))] {
            let mut params = rcgen::CertificateParams::new(vec!["h".to_string()]).unwrap();
            params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
            params.not_after = rcgen::date_time_ymd(until.0, until.1, until.2);
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            let seconds = |(y, m, d): (u64, u64, u64)| days_since_epoch(y, m, d).unwrap() * 86_400;
            let want = (
                seconds((from.0 as u64, from.1.into(), from.2.into())),
                seconds((until.0 as u64, until.1.into(), until.2.into())),
            );
            assert_eq!(validity(cert.der()), Some(want));
        }
    }

    #[test]
    fn garbage_is_none_never_a_panic() {
        for bytes in [
            &b""[..],
            b"\x30",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x03\x30\x01",
            b"\x30\x80",
        ] {
            assert_eq!(validity(bytes), None);
        }
    }
}
