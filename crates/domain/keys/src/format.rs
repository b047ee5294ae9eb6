use std::fmt;

use subtle::ConstantTimeEq;

const PREFIX: &str = "tg_";
const SECRET_CHARS: usize = 32;
const CHECKSUM_CHARS: usize = 6;
const DISPLAY_SECRET_CHARS: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// CRC-32 (ISO-HDLC, as zlib and PNG): reflected polynomial, initial value and final XOR.
const CRC32_POLY: u32 = 0xEDB8_8320;

/// The environment a key is for; it is written into the key so that a production key is
/// recognisable at a glance and in logs of secret scanners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    /// Tag `dev`.
    Development,
    /// Tag `stg`.
    Staging,
    /// Tag `prod`.
    Production,
}

impl Environment {
    /// Every environment.
    pub const ALL: [Environment; 3] = [Self::Development, Self::Staging, Self::Production];

    /// The name used in the HTTP API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }

    /// The environment named `raw` as [`as_str`](Self::as_str) writes it; `None` for anything
    /// else.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw)
    }

    /// The short tag inside the key.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Development => "dev",
            Self::Staging => "stg",
            Self::Production => "prod",
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.tag() == tag)
    }
}

/// Why a presented text is not a well-formed API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// It does not start with `tg_`: some other credential.
    #[error("not a Tollgate API key")]
    NotAKey,
    /// The environment tag is not `dev`, `stg` or `prod`.
    #[error("unknown key environment")]
    UnknownEnvironment,
    /// No environment tag, or the wrong length or a non-base62 character after it.
    #[error("API key has the wrong length or characters")]
    Malformed,
    /// The checksum does not match: a mistyped or truncated key.
    #[error("API key checksum does not match (mistyped or truncated key)")]
    BadChecksum,
}

/// A whole API key as shown to its owner once. Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    /// A new key: ≥ 190 bits from the OS CSPRNG, base62, with its checksum.
    pub fn generate(environment: Environment) -> Self {
        let mut body = format!("{PREFIX}{}_", environment.tag());
        body.push_str(&random_base62(SECRET_CHARS));
        let checksum = checksum(body.as_bytes());
        body.push_str(std::str::from_utf8(&checksum).expect("base62 is ASCII"));
        Self(body)
    }

    /// The whole key, to show its owner once and to hash.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first characters, enough to recognise the key in a list (`tg_prod_a1B2c3`).
    pub fn display_prefix(&self) -> String {
        let tag_end = self.0[PREFIX.len()..]
            .find('_')
            .map_or(0, |i| PREFIX.len() + i + 1);
        self.0[..tag_end + DISPLAY_SECRET_CHARS].to_owned()
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret([REDACTED])")
    }
}

/// Checks the shape and checksum of a presented key without any look-up, and says which
/// environment it is for.
///
/// The part after the environment tag is secret: its characters are checked and its checksum
/// computed and compared in time that does not depend on its content (no branch, no table
/// indexed by it, no early exit), so that how long the check takes says nothing about how close
/// the key is to any other key this process has checked — valid keys included. The prefix and
/// tag are not secret.
///
/// # Errors
///
/// [`KeyFormatError`] says which check failed.
pub fn parse_key(presented: &str) -> Result<Environment, KeyFormatError> {
    let rest = presented
        .strip_prefix(PREFIX)
        .ok_or(KeyFormatError::NotAKey)?;
    let (tag, tail) = rest.split_once('_').ok_or(KeyFormatError::Malformed)?;
    let environment = Environment::from_tag(tag).ok_or(KeyFormatError::UnknownEnvironment)?;
    if tail.len() != SECRET_CHARS + CHECKSUM_CHARS {
        return Err(KeyFormatError::Malformed);
    }
    let base62 = all_base62(tail.as_bytes());
    let (body, presented_checksum) = presented
        .as_bytes()
        .split_at(presented.len() - CHECKSUM_CHARS);
    let checksum_matches = checksum(body)[..].ct_eq(presented_checksum);
    if !bool::from(base62) {
        return Err(KeyFormatError::Malformed);
    }
    if !bool::from(checksum_matches) {
        return Err(KeyFormatError::BadChecksum);
    }
    Ok(environment)
}

/// Whether every byte is a base62 character (`0-9A-Za-z`), looked at in full whatever it holds.
fn all_base62(bytes: &[u8]) -> subtle::Choice {
    let mut ok = subtle::Choice::from(1);
    for &byte in bytes {
        ok &= in_range(byte, b'0', b'9') | in_range(byte, b'A', b'Z') | in_range(byte, b'a', b'z');
    }
    ok
}

/// `low <= byte <= high`, without a branch: the borrow of the two subtractions.
fn in_range(byte: u8, low: u8, high: u8) -> subtle::Choice {
    let byte = u16::from(byte);
    let above_low = (byte.wrapping_sub(u16::from(low)) >> 15) ^ 1;
    let below_high = (u16::from(high).wrapping_sub(byte) >> 15) ^ 1;
    // Both are 0 or 1; `black_box` keeps the optimiser from turning them back into branches.
    subtle::Choice::from(std::hint::black_box((above_low & below_high) as u8))
}

/// CRC-32 of `bytes`, bit by bit with masks rather than a table or a branch per bit: the same
/// value as the usual table-driven CRC-32, in time that depends only on the length.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = 0u32.wrapping_sub(std::hint::black_box(crc & 1));
            crc = (crc >> 1) ^ (CRC32_POLY & mask);
        }
    }
    !crc
}

/// The checksum of a key's `body`: its CRC-32 as six base62 characters, each digit computed by
/// division by a constant (a multiplication) and turned into its character by arithmetic.
fn checksum(body: &[u8]) -> [u8; CHECKSUM_CHARS] {
    let mut value = crc32(body);
    let mut out = [b'0'; CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = base62_character((value % 62) as u8);
        value /= 62;
    }
    out
}

/// `BASE62[digit]` for a digit below 62, without indexing a table with it: `'0' + digit`, plus
/// 7 from 10 on (to reach `'A'`) and 6 more from 36 on (to reach `'a'`).
fn base62_character(digit: u8) -> u8 {
    let digit = u16::from(digit);
    let from_10 = std::hint::black_box((9u16.wrapping_sub(digit) >> 15) & 1);
    let from_36 = std::hint::black_box((35u16.wrapping_sub(digit) >> 15) & 1);
    (u16::from(b'0') + digit + 7 * from_10 + 6 * from_36) as u8
}

fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buffer = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buffer).expect("the operating system's random source failed");
        // Rejection sampling keeps every character equally likely: 248 = 4 × 62.
        for byte in buffer.iter().filter(|b| **b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(BASE62[usize::from(*byte % 62)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_keys_parse_and_carry_their_environment() {
        for environment in Environment::ALL {
            let key = ApiKeySecret::generate(environment);
            assert!(
                key.expose()
                    .starts_with(&format!("tg_{}_", environment.tag()))
            );
            assert_eq!(parse_key(key.expose()), Ok(environment));
            assert_eq!(key.expose().len(), 3 + environment.tag().len() + 1 + 32 + 6);
        }
    }

    #[test]
    fn keys_are_unique_and_prefix_is_recognisable() {
        let a = ApiKeySecret::generate(Environment::Production);
        let b = ApiKeySecret::generate(Environment::Production);
        assert_ne!(a, b);
        let prefix = a.display_prefix();
        assert_eq!(prefix.len(), "tg_prod_".len() + 6);
        assert!(a.expose().starts_with(&prefix));
        assert!(!format!("{a:?}").contains(&a.expose()[8..]));
    }

    #[test]
    fn malformed_keys_are_rejected_by_shape() {
        let key = ApiKeySecret::generate(Environment::Staging);
        let k = key.expose();
        assert_eq!(parse_key(""), Err(KeyFormatError::NotAKey));
        assert_eq!(parse_key("sk-abc"), Err(KeyFormatError::NotAKey));
        assert_eq!(parse_key("tg_"), Err(KeyFormatError::Malformed));
        assert_eq!(
            parse_key(&k.replacen("stg", "xyz", 1)),
            Err(KeyFormatError::UnknownEnvironment)
        );
        assert_eq!(parse_key(&k[..k.len() - 1]), Err(KeyFormatError::Malformed));
        assert_eq!(parse_key(&format!("{k}a")), Err(KeyFormatError::Malformed));
        assert_eq!(
            parse_key(&k.replacen('_', "-", 2)),
            Err(KeyFormatError::NotAKey)
        );
        let non_ascii = format!("{}é{}", &k[..10], &k[12..]);
        assert!(parse_key(&non_ascii).is_err());
        assert!(parse_key(&"tg_prod_".repeat(2000)).is_err());
    }

    #[test]
    fn checksum_is_crc32_in_base62() {
        // CRC-32 of "123456789" is the standard check value 0xCBF43926.
        let mut value = 0xCBF4_3926_u32;
        let mut expected = Vec::new();
        for _ in 0..6 {
            expected.push(BASE62[(value % 62) as usize]);
            value /= 62;
        }
        expected.reverse();
        assert_eq!(checksum(b"123456789").as_slice(), expected.as_slice());
    }

    /// The constant-time CRC is the usual CRC-32, and the constant-time character check is
    /// `is_ascii_alphanumeric`, on every input.
    #[test]
    fn the_constant_time_checks_agree_with_the_usual_ones() {
        let reference = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        for digit in 0..62u8 {
            assert_eq!(base62_character(digit), BASE62[usize::from(digit)]);
        }
        assert_eq!(crc32(b""), 0);
        for byte in 0..=u8::MAX {
            assert_eq!(
                bool::from(all_base62(&[byte])),
                byte.is_ascii_alphanumeric(),
                "{byte}"
            );
            assert_eq!(crc32(&[byte]), reference.checksum(&[byte]));
        }
        for _ in 0..200 {
            let key = ApiKeySecret::generate(Environment::Development);
            let bytes = key.expose().as_bytes();
            assert_eq!(crc32(bytes), reference.checksum(bytes));
            assert!(bool::from(all_base62(&bytes[7..])));
        }
    }

    /// A key with a bad character anywhere in its secret is malformed, wherever the character
    /// is (the check looks at every byte, so position changes nothing but the answer).
    #[test]
    fn a_bad_character_anywhere_in_the_secret_is_malformed() {
        let key = ApiKeySecret::generate(Environment::Production);
        for position in "tg_prod_".len()..key.expose().len() {
            for bad in [b'-', b'_', b' ', 0x7f, b'/'] {
                let mut bytes = key.expose().as_bytes().to_vec();
                bytes[position] = bad;
                let changed = String::from_utf8(bytes).unwrap();
                assert_eq!(
                    parse_key(&changed),
                    Err(KeyFormatError::Malformed),
                    "{changed}"
                );
            }
        }
    }

    proptest! {
        /// Any single-character change of a valid key is rejected without a look-up.
        #[test]
        fn any_one_character_change_is_rejected(position in 0usize..46, replacement in 0usize..62) {
            let key = ApiKeySecret::generate(Environment::Production);
            let mut bytes = key.expose().as_bytes().to_vec();
            let position = position % bytes.len();
            let new = BASE62[replacement];
            prop_assume!(bytes[position] != new);
            bytes[position] = new;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(parse_key(&changed).is_err(), "{} accepted", changed);
        }
    }
}
