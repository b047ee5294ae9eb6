//! Outbound webhook signatures (Standard Webhooks): the input is `secret\nid\ntimestamp\nbody`.
//! Whatever the secret, `sign` must not panic, and must succeed exactly when the secret is
//! `whsec_` + non-empty standard base64; its value must be `v1,` + base64 HMAC-SHA256 of
//! `{id}.{timestamp}.{body}` under the decoded secret, computed here with `hmac`/`sha2`/`base64`,
//! and what the reference library (`standardwebhooks`) computes and verifies.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use tollgate_webhooks::{SECRET_PREFIX, SecretError, sign};

fn expected(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The reference library's verdict on a delivery signed now; `None` where it cannot judge: it
/// reads header values as visible ASCII only (another `webhook-id` is refused unread) and
/// bodies as UTF-8 only.
fn reference_verifies(secret: &str, id: &str, body: &[u8]) -> Option<bool> {
    if !id.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) || std::str::from_utf8(body).is_err()
    {
        return None;
    }
    let webhook = standardwebhooks::Webhook::new(secret).ok()?;
    let now = chrono::Utc::now().timestamp();
    let signature = sign(secret, id, now, body).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", HeaderValue::from_str(id).ok()?);
    headers.insert("webhook-timestamp", HeaderValue::from(now));
    headers.insert(
        "webhook-signature",
        HeaderValue::from_str(&signature).unwrap(),
    );
    Some(webhook.verify(body, &headers).is_ok())
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let secret = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let id = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let timestamp_text = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();
    let timestamp = timestamp_text.trim().parse::<i64>().unwrap_or_else(|_| {
        i64::from_le_bytes(std::array::from_fn(|i| {
            timestamp_text.as_bytes().get(i).copied().unwrap_or(0)
        }))
    });

    // 1. The secret as given.
    let key = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or(SecretError::MissingPrefix)
        .and_then(|encoded| STANDARD.decode(encoded).map_err(|_| SecretError::NotBase64))
        .and_then(|key| {
            if key.is_empty() {
                Err(SecretError::Empty)
            } else {
                Ok(key)
            }
        });
    let signed = sign(&secret, &id, timestamp, body);
    match (&key, &signed) {
        (Ok(key), Ok(signature)) => {
            assert_eq!(*signature, expected(key, &id, timestamp, body));
        }
        (Err(why), Err(error)) => assert_eq!(why, error),
        _ => panic!("sign({secret:?}) = {signed:?}, but the secret reads as {key:?}"),
    }

    // 2. A well-formed secret made of the first line's bytes.
    let raw_key = if secret.is_empty() {
        b"k".as_slice()
    } else {
        secret.as_bytes()
    };
    let good = format!("{SECRET_PREFIX}{}", STANDARD.encode(raw_key));
    let signature = sign(&good, &id, timestamp, body).expect("a well-formed secret signs");
    assert_eq!(signature, expected(raw_key, &id, timestamp, body));
    if let Ok(text) = std::str::from_utf8(body) {
        let reference = standardwebhooks::Webhook::new(&good)
            .unwrap()
            .sign(&id, timestamp, text.as_bytes())
            .unwrap();
        assert_eq!(signature, reference);
    }
    if let Some(verified) = reference_verifies(&good, &id, body) {
        assert!(verified, "the reference library refused our signature");
    }
    // Each signed part changes the signature.
    assert_ne!(sign(&good, &id, timestamp ^ 1, body).unwrap(), signature);
    assert_ne!(
        sign(&good, &format!("{id}x"), timestamp, body).unwrap(),
        signature
    );
    let mut longer = body.to_vec();
    longer.push(b'\n');
    assert_ne!(sign(&good, &id, timestamp, &longer).unwrap(), signature);
});
