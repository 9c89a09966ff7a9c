//! The cryptography of RMCP+ cipher suites 3 and 17: the RAKP key exchange
//! authentication codes, the session integrity key and the keys derived
//! from it, per-packet integrity and AES-CBC-128 confidentiality.
//!
//! Only these two suites exist here. Cipher suite 0 (no authentication),
//! integrity or confidentiality "none", MD5 and RC4 cannot be asked for:
//! [`CipherSuite::from_algorithms`] has no answer for them.

use std::fmt;

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Algorithm numbers of the Open Session payloads (IPMI v2.0 §13.28).
pub mod algorithm {
    /// Authentication algorithms (Table 13-17).
    pub const RAKP_HMAC_SHA1: u8 = 0x01;
    pub const RAKP_HMAC_SHA256: u8 = 0x03;
    /// Integrity algorithms (Table 13-18).
    pub const HMAC_SHA1_96: u8 = 0x01;
    pub const HMAC_SHA256_128: u8 = 0x04;
    /// Confidentiality algorithms (Table 13-19).
    pub const AES_CBC_128: u8 = 0x01;
}

/// The cipher suites offered (IPMI v2.0 §22.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    /// 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128 (the one every BMC must
    /// offer).
    Three,
    /// 17: RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128.
    Seventeen,
}

/// AES-128 block and key size.
const AES_BLOCK: usize = 16;
/// The key of the RAKP HMACs, the user's password, is 20 bytes, shorter
/// passwords padded with zeros (IPMI v2.0 §13.31; ipmitool's
/// lanplus_crypt.c uses the same IPMI_AUTHCODE_BUFFER_SIZE of 20 for both
/// suites).
pub const PASSWORD_KEY_LEN: usize = 20;
/// K1 and K2 are HMACs of these 20-byte constants (IPMI v2.0 §13.32);
/// ipmitool (lanplus_generate_k1/k2) uses 20 bytes for SHA-256 as well.
const CONST_LEN: usize = 20;

impl CipherSuite {
    pub const ALL: [CipherSuite; 2] = [CipherSuite::Three, CipherSuite::Seventeen];

    pub fn id(self) -> u8 {
        match self {
            CipherSuite::Three => 3,
            CipherSuite::Seventeen => 17,
        }
    }

    pub fn authentication(self) -> u8 {
        match self {
            CipherSuite::Three => algorithm::RAKP_HMAC_SHA1,
            CipherSuite::Seventeen => algorithm::RAKP_HMAC_SHA256,
        }
    }

    pub fn integrity(self) -> u8 {
        match self {
            CipherSuite::Three => algorithm::HMAC_SHA1_96,
            CipherSuite::Seventeen => algorithm::HMAC_SHA256_128,
        }
    }

    pub fn confidentiality(self) -> u8 {
        algorithm::AES_CBC_128
    }

    /// The suite exactly these three algorithms make, if it is one of ours.
    pub fn from_algorithms(auth: u8, integrity: u8, confidentiality: u8) -> Option<CipherSuite> {
        CipherSuite::ALL.into_iter().find(|s| {
            s.authentication() == auth
                && s.integrity() == integrity
                && s.confidentiality() == confidentiality
        })
    }

    /// Length of the AuthCode of every packet, and of the RAKP 4 integrity
    /// check value: HMAC-SHA1-96 keeps 12 bytes, HMAC-SHA256-128 16
    /// (§13.28.4; §13.23).
    pub fn auth_code_len(self) -> usize {
        match self {
            CipherSuite::Three => 12,
            CipherSuite::Seventeen => 16,
        }
    }

    /// The full HMAC of the suite's hash over the concatenated parts.
    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
        // new_from_slice only fails for fixed-size keys; HMAC takes any.
        match self {
            CipherSuite::Three => {
                let mut mac =
                    <Hmac<Sha1> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
                for p in parts {
                    mac.update(p);
                }
                Zeroizing::new(mac.finalize().into_bytes().to_vec())
            }
            CipherSuite::Seventeen => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable_hmac());
                for p in parts {
                    mac.update(p);
                }
                Zeroizing::new(mac.finalize().into_bytes().to_vec())
            }
        }
    }

    /// The Key Exchange Authentication Code of RAKP Message 2 (IPMI v2.0
    /// §13.21, Table 13-12): HMAC over SIDm, SIDc, Rm, Rc, GUIDc, ROLEm,
    /// ULENGTHm, UNAMEm, keyed with the user's password (Kuid).
    pub fn rakp2_auth_code(self, kuid: &UserKey, x: &Exchange<'_>) -> Vec<u8> {
        self.hmac(
            kuid.bytes(),
            &[
                &x.console_session_id.to_le_bytes(),
                &x.bmc_session_id.to_le_bytes(),
                &x.console_random,
                &x.bmc_random,
                &x.bmc_guid,
                &[x.role, x.user_name.len() as u8],
                x.user_name,
            ],
        )
        .to_vec()
    }

    /// The Key Exchange Authentication Code of RAKP Message 3 (§13.22,
    /// Table 13-13): HMAC over Rc, SIDm, ROLEm, ULENGTHm, UNAMEm with Kuid.
    pub fn rakp3_auth_code(self, kuid: &UserKey, x: &Exchange<'_>) -> Vec<u8> {
        self.hmac(
            kuid.bytes(),
            &[
                &x.bmc_random,
                &x.console_session_id.to_le_bytes(),
                &[x.role, x.user_name.len() as u8],
                x.user_name,
            ],
        )
        .to_vec()
    }

    /// Checks RAKP 3's code in constant time.
    pub fn rakp3_matches(self, kuid: &UserKey, x: &Exchange<'_>, code: &[u8]) -> bool {
        let expected = Zeroizing::new(self.rakp3_auth_code(kuid, x));
        expected.len() == code.len() && bool::from(expected.ct_eq(code))
    }

    /// The Session Integrity Key (§13.31): HMAC over Rm, Rc, ROLEm,
    /// ULENGTHm, UNAMEm, keyed with Kg, which is Kuid when no BMC key is
    /// set (this BMC sets none, and says so in Get Channel Authentication
    /// Capabilities).
    pub fn session_integrity_key(self, kg: &UserKey, x: &Exchange<'_>) -> Zeroizing<Vec<u8>> {
        self.hmac(
            kg.bytes(),
            &[
                &x.console_random,
                &x.bmc_random,
                &[x.role, x.user_name.len() as u8],
                x.user_name,
            ],
        )
    }

    /// The Integrity Check Value of RAKP Message 4 (§13.23, Table 13-14):
    /// HMAC over Rm, SIDc, GUIDc keyed with the SIK, truncated like the
    /// suite's integrity algorithm.
    pub fn rakp4_icv(self, sik: &[u8], x: &Exchange<'_>) -> Vec<u8> {
        let mut full = self.hmac(
            sik,
            &[
                &x.console_random,
                &x.bmc_session_id.to_le_bytes(),
                &x.bmc_guid,
            ],
        );
        full.truncate(self.auth_code_len());
        full.to_vec()
    }
}

fn unreachable_hmac() -> ! {
    // Hmac::new_from_slice accepts keys of every length; this is only here
    // so that no unwrap() appears on a key that came from the network.
    std::process::abort()
}

/// Everything both sides of the RAKP exchange know after RAKP Message 1.
/// The subscripts are the specification's: "m" is the remote console, "c"
/// the managed system (this BMC).
#[derive(Debug, Clone)]
pub struct Exchange<'a> {
    /// SIDm, the session ID the console chose.
    pub console_session_id: u32,
    /// SIDc, the session ID this BMC chose.
    pub bmc_session_id: u32,
    /// Rm.
    pub console_random: [u8; 16],
    /// Rc.
    pub bmc_random: [u8; 16],
    /// GUIDc.
    pub bmc_guid: [u8; 16],
    /// ROLEm: the whole byte of RAKP 1, name-only lookup bit included.
    pub role: u8,
    /// UNAMEm.
    pub user_name: &'a [u8],
}

/// Kuid: a user's password as an HMAC key, zero-padded to 20 bytes, wiped
/// from memory when dropped.
#[derive(Clone)]
pub struct UserKey(Zeroizing<[u8; PASSWORD_KEY_LEN]>);

impl UserKey {
    /// None when the password is longer than IPMI v2.0's 20 bytes.
    pub fn new(password: &[u8]) -> Option<UserKey> {
        if password.len() > PASSWORD_KEY_LEN {
            return None;
        }
        let mut key = Zeroizing::new([0u8; PASSWORD_KEY_LEN]);
        key[..password.len()].copy_from_slice(password);
        Some(UserKey(key))
    }

    fn bytes(&self) -> &[u8] {
        &self.0[..]
    }
}

impl fmt::Debug for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserKey(****)")
    }
}

/// Why a payload could not be decrypted. All of them mean "discard".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    BadCiphertextLength(usize),
    BadPadding,
    NoRandomness,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::BadCiphertextLength(n) => {
                write!(
                    f,
                    "encrypted payload of {n} bytes is not IV plus whole AES blocks"
                )
            }
            CryptoError::BadPadding => f.write_str("malformed confidentiality pad"),
            CryptoError::NoRandomness => f.write_str("the system random number generator failed"),
        }
    }
}

impl std::error::Error for CryptoError {}

/// The keys of one active session: SIK, K1 (integrity) and K2
/// (confidentiality), wiped from memory when dropped.
pub struct SessionKeys {
    suite: CipherSuite,
    k1: Zeroizing<Vec<u8>>,
    aes_key: Zeroizing<[u8; AES_BLOCK]>,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKeys({:?}, ****)", self.suite)
    }
}

impl SessionKeys {
    /// K1 = HMAC(SIK, 20 × 01h), K2 = HMAC(SIK, 20 × 02h) (IPMI v2.0
    /// §13.32); AES-CBC-128 keys with the first 16 bytes of K2 (§13.29).
    pub fn derive(suite: CipherSuite, sik: &[u8]) -> SessionKeys {
        let k1 = suite.hmac(sik, &[&[0x01; CONST_LEN]]);
        let mut k2 = suite.hmac(sik, &[&[0x02; CONST_LEN]]);
        let mut aes_key = Zeroizing::new([0u8; AES_BLOCK]);
        aes_key.copy_from_slice(&k2[..AES_BLOCK]);
        k2.zeroize();
        SessionKeys { suite, k1, aes_key }
    }

    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// The AuthCode of an outgoing packet (§13.28.4): HMAC(K1, covered
    /// bytes), truncated.
    pub fn sign(&self, covered: &[u8]) -> Vec<u8> {
        let mut full = self.suite.hmac(&self.k1, &[covered]);
        full.truncate(self.suite.auth_code_len());
        full.to_vec()
    }

    /// Checks an incoming packet's AuthCode in constant time.
    pub fn verify(&self, covered: &[u8], code: &[u8]) -> bool {
        let expected = Zeroizing::new(self.sign(covered));
        expected.len() == code.len() && bool::from(expected.ct_eq(code))
    }

    /// AES-CBC-128 with a fresh random IV (§13.29, Table 13-20).
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let iv: [u8; AES_BLOCK] = random_bytes()?;
        Ok(self.encrypt_with_iv(&iv, plaintext))
    }

    /// The encrypted payload field: IV, then the ciphertext of the payload,
    /// the confidentiality pad (01h, 02h, ...) and the pad length.
    pub fn encrypt_with_iv(&self, iv: &[u8; AES_BLOCK], plaintext: &[u8]) -> Vec<u8> {
        let pad = (AES_BLOCK - (plaintext.len() + 1) % AES_BLOCK) % AES_BLOCK;
        let mut block = Zeroizing::new(Vec::with_capacity(plaintext.len() + pad + 1));
        block.extend_from_slice(plaintext);
        block.extend((1..=pad as u8).collect::<Vec<u8>>());
        block.push(pad as u8);
        let encryptor = cbc::Encryptor::<aes::Aes128>::new(self.aes_key[..].into(), iv.into());
        let ciphertext = encryptor.encrypt_padded_vec_mut::<NoPadding>(&block);
        let mut out = Vec::with_capacity(AES_BLOCK + ciphertext.len());
        out.extend_from_slice(iv);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts an encrypted payload field and checks its pad.
    pub fn decrypt(&self, field: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if field.len() < 2 * AES_BLOCK || !field.len().is_multiple_of(AES_BLOCK) {
            return Err(CryptoError::BadCiphertextLength(field.len()));
        }
        let (iv, ciphertext) = field.split_at(AES_BLOCK);
        let decryptor = cbc::Decryptor::<aes::Aes128>::new(self.aes_key[..].into(), iv.into());
        let plain = Zeroizing::new(
            decryptor
                .decrypt_padded_vec_mut::<NoPadding>(ciphertext)
                .map_err(|_| CryptoError::BadCiphertextLength(field.len()))?,
        );
        let pad = match plain.last() {
            Some(&p) => p as usize,
            None => return Err(CryptoError::BadPadding),
        };
        if pad >= AES_BLOCK || pad + 1 > plain.len() {
            return Err(CryptoError::BadPadding);
        }
        let data_len = plain.len() - pad - 1;
        let pad_ok = plain[data_len..data_len + pad]
            .iter()
            .enumerate()
            .all(|(i, &b)| b as usize == i + 1);
        if !pad_ok {
            return Err(CryptoError::BadPadding);
        }
        Ok(Zeroizing::new(plain[..data_len].to_vec()))
    }
}

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|_| CryptoError::NoRandomness)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(name: &[u8]) -> Exchange<'_> {
        Exchange {
            console_session_id: 0xA0A2_A3A4,
            bmc_session_id: 0x0102_0304,
            console_random: [0x11; 16],
            bmc_random: [0x22; 16],
            bmc_guid: [0x33; 16],
            role: 0x14,
            user_name: name,
        }
    }

    #[test]
    fn only_suites_3_and_17_exist() {
        assert_eq!(
            CipherSuite::from_algorithms(1, 1, 1),
            Some(CipherSuite::Three)
        );
        assert_eq!(
            CipherSuite::from_algorithms(3, 4, 1),
            Some(CipherSuite::Seventeen)
        );
        // Suite 0 (none/none/none), 1 (SHA1/none/none), 2 (SHA1/SHA1-96/none),
        // 15 (SHA256/none/none), 16 (SHA256/SHA256-128/none), MD5 and RC4.
        for (a, i, c) in [
            (0, 0, 0),
            (1, 0, 0),
            (1, 1, 0),
            (3, 0, 0),
            (3, 4, 0),
            (2, 2, 1),
            (1, 1, 2),
            (3, 1, 1),
        ] {
            assert_eq!(CipherSuite::from_algorithms(a, i, c), None, "{a} {i} {c}");
        }
    }

    #[test]
    fn passwords_longer_than_20_bytes_are_not_keys() {
        assert!(UserKey::new(&[b'x'; 20]).is_some());
        assert!(UserKey::new(&[b'x'; 21]).is_none());
        assert_eq!(
            format!("{:?}", UserKey::new(b"hunter2").unwrap()),
            "UserKey(****)"
        );
    }

    #[test]
    fn rakp3_check_needs_the_same_password_and_exchange() {
        let key = UserKey::new(b"correct horse").unwrap();
        for suite in CipherSuite::ALL {
            let x = exchange(b"fence");
            let code = suite.rakp3_auth_code(&key, &x);
            assert!(suite.rakp3_matches(&key, &x, &code));
            let other = UserKey::new(b"correct horsf").unwrap();
            assert!(!suite.rakp3_matches(&other, &x, &code));
            let mut x2 = exchange(b"fence");
            x2.role = 0x04;
            assert!(!suite.rakp3_matches(&key, &x2, &code));
            assert!(!suite.rakp3_matches(&key, &x, &code[..code.len() - 1]));
        }
    }

    #[test]
    fn integrity_codes_verify_and_reject_changes() {
        for suite in CipherSuite::ALL {
            let keys = SessionKeys::derive(suite, &[7; 20]);
            let code = keys.sign(b"covered bytes");
            assert_eq!(code.len(), suite.auth_code_len());
            assert!(keys.verify(b"covered bytes", &code));
            assert!(!keys.verify(b"covered bytez", &code));
            assert!(!keys.verify(b"covered bytes", &code[1..]));
            let other = SessionKeys::derive(suite, &[8; 20]);
            assert!(!other.verify(b"covered bytes", &code));
        }
    }

    #[test]
    fn aes_round_trip_and_pad_checks() {
        let keys = SessionKeys::derive(CipherSuite::Three, &[9; 20]);
        for len in 0..50 {
            let data: Vec<u8> = (0..len as u8).collect();
            let field = keys.encrypt(&data).unwrap();
            assert_eq!(field.len() % 16, 0);
            assert_eq!(&keys.decrypt(&field).unwrap()[..], &data[..]);
        }
        let field = keys.encrypt(b"twelve bytes").unwrap();
        assert_eq!(
            keys.decrypt(&field[..16]),
            Err(CryptoError::BadCiphertextLength(16))
        );
        assert_eq!(
            keys.decrypt(&field[..field.len() - 1]),
            Err(CryptoError::BadCiphertextLength(31))
        );
        // A ciphertext under another key decrypts to garbage whose pad is
        // (almost always) wrong; one with a forged last block certainly is.
        let mut forged = field.clone();
        let n = forged.len();
        forged[n - 17] ^= 0x01; // flips the last plaintext byte: the pad length
        assert_eq!(keys.decrypt(&forged), Err(CryptoError::BadPadding));
    }
}
