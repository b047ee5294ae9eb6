//! Standard Webhooks signatures
//! (<https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>):
//! `v1,` + the base64 HMAC-SHA256 of `"{id}.{timestamp}.{body}"`, keyed with the bytes the
//! secret's base64 part (after `whsec_`) decodes to.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix of every endpoint secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// 24 bytes (192 bits): inside the 24 to 64 bytes the specification recommends.
const SECRET_BYTES: usize = 24;

/// Why a secret cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The secret does not start with `whsec_`.
    #[error("the webhook secret does not start with \"whsec_\"")]
    MissingPrefix,
    /// What follows `whsec_` is not standard base64.
    #[error("the webhook secret is not valid base64 after \"whsec_\"")]
    NotBase64,
    /// What follows `whsec_` decodes to no bytes: an HMAC with an empty key proves nothing.
    #[error("the webhook secret is empty")]
    Empty,
}

/// The `webhook-signature` header value for one attempt: `v1,<base64 signature>`.
///
/// # Errors
/// A [`SecretError`] when `secret` is not `whsec_` followed by non-empty standard base64.
pub fn sign(
    secret: &str,
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SecretError> {
    let key = secret_key(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// A fresh endpoint secret: `whsec_` + base64 of 24 bytes from the operating system.
///
/// # Panics
/// When the operating system's random source fails: no secret is better than a guessable one.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

fn secret_key(secret: &str) -> Result<Vec<u8>, SecretError> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or(SecretError::MissingPrefix)?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| SecretError::NotBase64)?;
    if key.is_empty() {
        return Err(SecretError::Empty);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};
    use std::time::{SystemTime, UNIX_EPOCH};

    // The example in the Standard Webhooks specification and its libraries' tests.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn now() -> i64 {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        i64::try_from(since_epoch.as_secs()).unwrap()
    }

    fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", HeaderValue::from_str(id).unwrap());
        headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
        headers.insert(
            "webhook-signature",
            HeaderValue::from_str(signature).unwrap(),
        );
        headers
    }

    #[test]
    fn signs_the_specification_example() {
        let signature = sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY.as_bytes()).unwrap();
        assert_eq!(signature, SPEC_SIGNATURE);
    }

    #[test]
    fn the_reference_library_verifies_our_signature() {
        // The reference library refuses timestamps more than five minutes from now.
        let timestamp = now();
        let body = br#"{"type":"invoice.paid","data":{"id":"in_1"}}"#;
        let signature = sign(SPEC_SECRET, SPEC_ID, timestamp, body).unwrap();
        standardwebhooks::Webhook::new(SPEC_SECRET)
            .unwrap()
            .verify(body, &headers(SPEC_ID, timestamp, &signature))
            .unwrap();
    }

    #[test]
    fn the_reference_library_refuses_a_signature_made_with_another_secret() {
        let timestamp = now();
        let body = b"{}";
        let signature = sign(&new_secret(), SPEC_ID, timestamp, body).unwrap();
        let verdict = standardwebhooks::Webhook::new(SPEC_SECRET)
            .unwrap()
            .verify(body, &headers(SPEC_ID, timestamp, &signature));
        assert!(verdict.is_err());
    }

    #[test]
    fn every_signed_part_changes_the_signature() {
        let base = sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, b"{}").unwrap();
        for other in [
            sign(SPEC_SECRET, "msg_other", SPEC_TIMESTAMP, b"{}"),
            sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP + 1, b"{}"),
            sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, b"{ }"),
        ] {
            assert_ne!(other.unwrap(), base);
        }
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert_eq!(
            sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id", 1, b""),
            Err(SecretError::MissingPrefix)
        );
        assert_eq!(
            sign("whsec_not base64!", "id", 1, b""),
            Err(SecretError::NotBase64)
        );
        assert_eq!(sign("whsec_", "id", 1, b""), Err(SecretError::Empty));
    }

    #[test]
    fn new_secrets_are_distinct_and_decode_to_24_bytes() {
        let secrets: Vec<String> = (0..32).map(|_| new_secret()).collect();
        for (i, secret) in secrets.iter().enumerate() {
            assert_eq!(secret_key(secret).unwrap().len(), SECRET_BYTES);
            assert!(standardwebhooks::Webhook::new(secret).is_ok());
            assert!(!secrets[..i].contains(secret), "a secret repeated");
        }
    }
}
