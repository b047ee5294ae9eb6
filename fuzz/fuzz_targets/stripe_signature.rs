//! `Stripe-Signature` on an incoming webhook: the input is a header line, a newline, and the raw
//! body. In the header, `$t` stands for the delivery's real timestamp and `$sig` for the real
//! v1 signature (HMAC-SHA256 over `{t}.{body}`, computed here with `hmac`/`sha2`), so the fuzzer
//! can place genuine parts in any context. Nothing may panic; a header computed as Stripe does
//! verifies; a header that verifies must carry a real signature of this very body and
//! timestamp.

#![no_main]

use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use tollgate_stripe::signature::{DEFAULT_TOLERANCE_SECONDS, SignatureError, sign, verify};

/// The secret and timestamp of the crate's own test vector, so a seed can hold a real header.
const SECRET: &str = "whsec_test_secret";
const T: i64 = 1_700_000_000;

fn expected(secret: &str, timestamp: i64, payload: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(payload);
    mac.finalize().into_bytes().to_vec()
}

/// Whether some `v1=` part of `header` is the real signature of (`timestamp`, `payload`).
fn carries(header: &str, timestamp: i64, payload: &[u8]) -> bool {
    let real = expected(SECRET, timestamp, payload);
    header
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .any(|value| hex::decode(value).is_ok_and(|bytes| bytes == real))
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let template = String::from_utf8_lossy(&data[..split]);
    let payload = data.get(split + 1..).unwrap_or_default();

    // 1. Any header, any clock: no panic.
    for now in [i64::MIN, -1, 0, T, T + 10, i64::MAX] {
        for tolerance in [i64::MIN, 0, DEFAULT_TOLERANCE_SECONDS, i64::MAX] {
            let _ = verify(payload, &template, SECRET, now, tolerance);
        }
    }

    // 2. The template with the real parts in it: accepted only with a real signature of this
    //    body at timestamp T.
    let real = hex::encode(expected(SECRET, T, payload));
    let header = template
        .replace("$sig", &real)
        .replace("$t", &T.to_string());
    if verify(payload, &header, SECRET, T + 10, DEFAULT_TOLERANCE_SECONDS).is_ok() {
        assert!(carries(&header, T, payload), "{header:?} accepted");
        // And it is T's signature that matched: 301 s later it is stale by exactly 301 s.
        assert_eq!(
            verify(payload, &header, SECRET, T + 301, DEFAULT_TOLERANCE_SECONDS),
            Err(SignatureError::Stale {
                age: 301,
                tolerance: DEFAULT_TOLERANCE_SECONDS
            })
        );
    }
    // The same header under another secret, or over another body, never verifies.
    assert!(verify(payload, &header, "whsec_other", T + 10, i64::MAX).is_err());
    let mut other = payload.to_vec();
    other.push(b' ');
    if !carries(&header, T, &other) {
        assert!(verify(&other, &header, SECRET, T + 10, i64::MAX).is_err());
    }

    // 3. Round trip at a timestamp and under a secret taken from the input.
    let timestamp = i64::from_le_bytes(std::array::from_fn(|i| {
        payload.get(i).copied().unwrap_or(0)
    }));
    let secret = template.as_ref();
    let correct = format!(
        "t={timestamp},v1={}",
        hex::encode(expected(secret, timestamp, payload))
    );
    assert_eq!(sign(payload, secret, timestamp), correct);
    for age in [0, 1, DEFAULT_TOLERANCE_SECONDS] {
        if let Some(now) = timestamp.checked_add(age) {
            assert_eq!(
                verify(payload, &correct, secret, now, DEFAULT_TOLERANCE_SECONDS),
                Ok(())
            );
        }
    }
    if let Some(now) = timestamp.checked_add(DEFAULT_TOLERANCE_SECONDS + 1) {
        assert!(matches!(
            verify(payload, &correct, secret, now, DEFAULT_TOLERANCE_SECONDS),
            Err(SignatureError::Stale { .. })
        ));
    }
    // One changed character of the signature, or another timestamp, fails.
    let position = correct.len() - 1 - usize::from(payload.first().copied().unwrap_or(0)) % 64;
    let mut flipped = correct.clone().into_bytes();
    flipped[position] = if flipped[position] == b'0' {
        b'1'
    } else {
        b'0'
    };
    let flipped = String::from_utf8(flipped).unwrap();
    assert_eq!(
        verify(payload, &flipped, secret, timestamp, i64::MAX),
        Err(SignatureError::Mismatch)
    );
    if let Some(later) = timestamp.checked_add(1) {
        let moved = correct.replacen(&format!("t={timestamp}"), &format!("t={later}"), 1);
        assert_eq!(
            verify(payload, &moved, secret, later, i64::MAX),
            Err(SignatureError::Mismatch)
        );
    }
});
