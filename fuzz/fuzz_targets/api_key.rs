//! API keys as presented (`Authorization: Bearer tg_…` or `X-Api-Key`): `parse_key` is read
//! against an independent reading of the documented format (`tg_<env>_` + 32 base62 + 6 base62
//! of the CRC-32 of everything before them), and keys built from the input must parse while any
//! one-character change of them must not.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_keys::{Environment, KeyFormatError, KeyHasher, KeyName, parse_key};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// CRC-32/ISO-HDLC (the zip/PNG CRC), bit by bit.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Six base62 digits, most significant first.
fn base62_6(mut value: u32) -> String {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

/// The format as `docs/api-keys.md` states it, written without looking at `format.rs`'s code.
fn reference(presented: &str) -> Result<Environment, KeyFormatError> {
    let rest = presented
        .strip_prefix("tg_")
        .ok_or(KeyFormatError::NotAKey)?;
    let underscore = rest.find('_').ok_or(KeyFormatError::Malformed)?;
    let environment = match &rest[..underscore] {
        "dev" => Environment::Development,
        "stg" => Environment::Staging,
        "prod" => Environment::Production,
        _ => return Err(KeyFormatError::UnknownEnvironment),
    };
    let tail = &rest[underscore + 1..];
    if tail.len() != 38 || !tail.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyFormatError::Malformed);
    }
    let body = &presented[..presented.len() - 6];
    if base62_6(crc32(body.as_bytes())) != tail[32..] {
        return Err(KeyFormatError::BadChecksum);
    }
    Ok(environment)
}

fn built_key(data: &[u8]) -> (Environment, String) {
    let environment = Environment::ALL[usize::from(data.first().copied().unwrap_or(0)) % 3];
    let mut key = format!("tg_{}_", environment.tag());
    for i in 0..32 {
        let byte = data.get(1 + i).copied().unwrap_or(i as u8);
        key.push(char::from(BASE62[usize::from(byte) % 62]));
    }
    let checksum = base62_6(crc32(key.as_bytes()));
    key.push_str(&checksum);
    (environment, key)
}

fuzz_target!(|data: &[u8]| {
    // 1. Whatever is presented: the same verdict as the reference, and no panic.
    let presented = String::from_utf8_lossy(data);
    let verdict = parse_key(&presented);
    assert_eq!(verdict, reference(&presented), "{presented:?}");
    if let Ok(environment) = verdict {
        assert!(presented.is_ascii());
        assert_eq!(presented.len(), 3 + environment.tag().len() + 1 + 38);
    }
    // What else reads a presented key or its neighbours: the peppered hash and the key's name.
    let hasher = KeyHasher::new(b"fuzz pepper");
    let hash = hasher.hash(&presented);
    assert_eq!(hash.as_str().len(), 64);
    assert!(hash.matches(&hasher.hash(&presented)));
    let _ = format!("{hash:?}");
    if let Ok(name) = KeyName::parse(&presented) {
        assert!(!name.as_str().is_empty() && name.as_str().chars().count() <= KeyName::MAX_CHARS);
    }
    let _ = Environment::parse(&presented);

    // 2. A well-formed key built from the input parses, and any one change of it does not.
    let (environment, key) = built_key(data);
    assert_eq!(parse_key(&key), Ok(environment), "{key}");
    if data.len() >= 35 {
        let position = usize::from(data[33]) % key.len();
        let replacement = data[34];
        let mut changed = key.clone().into_bytes();
        if changed[position] != replacement {
            changed[position] = replacement;
            let changed = String::from_utf8_lossy(&changed);
            assert!(parse_key(&changed).is_err(), "{changed:?} accepted");
        }
    }
});
