//! Stripe's webhook signature, checked as Stripe specifies it
//! (<https://docs.stripe.com/webhooks#verify-manually>): the `Stripe-Signature` header carries a
//! timestamp `t=` and one or more `v1=` signatures, each a hex HMAC-SHA256, keyed with the
//! endpoint's signing secret, of `"{t}.{raw body}"`. Any `v1` may match (several are sent while
//! a secret is rolled); other schemes (`v0`) are ignored. The check runs on the raw bytes before
//! anything parses them, compares in constant time, and refuses a timestamp older than the
//! tolerance (Stripe's libraries use 300 s), which bounds replays.
//!
//! While the endpoint's signing secret is rotated on our side, [`verify_any`] accepts a
//! delivery signed with any of the configured secrets (the current one and those it replaces).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Stripe's own default tolerance, in seconds.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// Why a webhook delivery is not accepted as Stripe's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `t=` timestamp, or one that is not a number.
    #[error("the Stripe-Signature header has no valid timestamp")]
    NoTimestamp,
    /// No `v1=` signature.
    #[error("the Stripe-Signature header has no v1 signature")]
    NoSignature,
    /// No `v1` signature matches the body under this endpoint's secret.
    #[error("no signature matches the payload")]
    Mismatch,
    /// The timestamp is older than the tolerance: a replay, or a clock far off.
    #[error("the signature's timestamp is {age} s old, beyond the {tolerance} s tolerance")]
    Stale {
        /// Seconds between the timestamp and now.
        age: i64,
        /// The tolerance in seconds.
        tolerance: i64,
    },
}

/// Checks `header` (the `Stripe-Signature` value) against `payload` (the raw request body) and
/// `secret` (the endpoint's `whsec_…` signing secret), at unix time `now`.
///
/// # Errors
/// A [`SignatureError`]; the delivery must then be refused (400) and nothing applied.
pub fn verify(
    payload: &[u8],
    header: &str,
    secret: &str,
    now: i64,
    tolerance_seconds: i64,
) -> Result<(), SignatureError> {
    verify_any(payload, header, [secret], now, tolerance_seconds)
}

/// [`verify`] with several secrets: the delivery is accepted when any `v1` signature matches
/// under any of `secrets` (the current signing secret and the previous ones during a rotation).
///
/// # Errors
/// A [`SignatureError`]; [`SignatureError::Mismatch`] also when `secrets` is empty.
pub fn verify_any<'a>(
    payload: &[u8],
    header: &str,
    secrets: impl IntoIterator<Item = &'a str>,
    now: i64,
    tolerance_seconds: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => timestamp = value.parse::<i64>().ok(),
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    let signatures: Vec<Vec<u8>> = signatures
        .iter()
        .filter_map(|signature| hex::decode(signature).ok())
        .collect();
    let matches = secrets.into_iter().any(|secret| {
        let signed = signer(secret, timestamp, payload);
        signatures
            .iter()
            .any(|bytes| signed.clone().verify_slice(bytes).is_ok())
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    let age = now.saturating_sub(timestamp);
    if age > tolerance_seconds {
        return Err(SignatureError::Stale {
            age,
            tolerance: tolerance_seconds,
        });
    }
    Ok(())
}

/// The `Stripe-Signature` header Stripe would send for `payload` at `timestamp`: for tests and
/// for local tools that replay deliveries.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let signature = hex::encode(signer(secret, timestamp, payload).finalize().into_bytes());
    format!("t={timestamp},v1={signature}")
}

fn signer(secret: &str, timestamp: i64, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

#[cfg(test)]
mod tests;
