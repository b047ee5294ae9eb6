use super::*;

const SECRET: &str = "whsec_test_secret";
const T: i64 = 1_700_000_000;
const PAYLOAD: &[u8] = br#"{"id":"evt_1","object":"event","type":"invoice.paid"}"#;
/// HMAC-SHA256 of `"1700000000." + PAYLOAD` under `SECRET`, computed outside this crate
/// (Python's `hmac` module), as Stripe computes it.
const V1: &str = "dfb4777aaaec4ea29ff455dd4df7fe6b2ef71096ad3a93a158db7e100109ea91";
/// The same under another secret (`whsec_old_secret`).
const V1_OLD_SECRET: &str = "8113ff949a3f8ace9d8547543a55d4e68c6cbfa8342e6ee9bd7f55687da14532";

/// The same under `whsec_older_secret`, and under `whsec_unknown` (a secret never configured).
const V1_OLDER_SECRET: &str = "9874de837555bc9a0cd52b59c4e0077c11d1980557a9455ff89b84dd99e46d2d";
const V1_UNKNOWN_SECRET: &str = "bf930d2326a0510329094396b49cddad1e144fbe310a904a588d626f6fc04188";

/// Our signing secret rotated: the current one first, then the two it replaced.
const ROTATING: [&str; 3] = [SECRET, "whsec_old_secret", "whsec_older_secret"];

fn check(header: &str, payload: &[u8], now: i64) -> Result<(), SignatureError> {
    verify(payload, header, SECRET, now, DEFAULT_TOLERANCE_SECONDS)
}

#[test]
fn a_signature_computed_as_stripe_does_is_accepted() {
    assert_eq!(check(&format!("t={T},v1={V1}"), PAYLOAD, T + 10), Ok(()));
    assert_eq!(sign(PAYLOAD, SECRET, T), format!("t={T},v1={V1}"));
}

#[test]
fn any_of_several_v1_signatures_may_match_and_other_schemes_are_ignored() {
    let rolled = format!("t={T},v1={V1_OLD_SECRET},v1={V1},v0=deadbeef");
    assert_eq!(check(&rolled, PAYLOAD, T), Ok(()));
    let spaced = format!("t={T}, v0=00, v1={V1}");
    assert_eq!(check(&spaced, PAYLOAD, T), Ok(()));
}

#[test]
fn the_wrong_secret_is_refused() {
    let header = format!("t={T},v1={V1_OLD_SECRET}");
    assert_eq!(check(&header, PAYLOAD, T), Err(SignatureError::Mismatch));
}

#[test]
fn a_tampered_or_reserialised_body_is_refused() {
    let header = format!("t={T},v1={V1}");
    let tampered = br#"{"id":"evt_2","object":"event","type":"invoice.paid"}"#;
    assert_eq!(check(&header, tampered, T), Err(SignatureError::Mismatch));
    // The same JSON value, re-serialised with other whitespace: not the bytes Stripe signed.
    let pretty = br#"{"id": "evt_1", "object": "event", "type": "invoice.paid"}"#;
    assert_eq!(check(&header, pretty, T), Err(SignatureError::Mismatch));
}

#[test]
fn a_signature_older_than_the_tolerance_is_refused_even_if_it_matches() {
    let header = format!("t={T},v1={V1}");
    assert_eq!(check(&header, PAYLOAD, T + 300), Ok(()));
    assert_eq!(
        check(&header, PAYLOAD, T + 301),
        Err(SignatureError::Stale {
            age: 301,
            tolerance: 300
        })
    );
}

#[test]
fn the_timestamp_is_part_of_what_is_signed() {
    let moved = format!("t={},v1={V1}", T + 1);
    assert_eq!(check(&moved, PAYLOAD, T), Err(SignatureError::Mismatch));
}

#[test]
fn malformed_headers_are_refused() {
    assert_eq!(check("", PAYLOAD, T), Err(SignatureError::NoTimestamp));
    assert_eq!(
        check(&format!("t=soon,v1={V1}"), PAYLOAD, T),
        Err(SignatureError::NoTimestamp)
    );
    assert_eq!(
        check(&format!("t={T}"), PAYLOAD, T),
        Err(SignatureError::NoSignature)
    );
    assert_eq!(
        check(&format!("t={T},v1=not-hex"), PAYLOAD, T),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        check(&format!("t={T},v1={}", &V1[..32]), PAYLOAD, T),
        Err(SignatureError::Mismatch),
        "a truncated signature does not match"
    );
}

proptest::proptest! {
    /// Whatever the body, what `sign` produces verifies, and flipping any byte breaks it.
    #[test]
    fn signing_round_trips_and_any_changed_byte_is_caught(
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..512),
        at in 0usize..512,
    ) {
        let header = sign(&body, SECRET, T);
        proptest::prop_assert_eq!(check(&header, &body, T), Ok(()));
        let mut changed = body.clone();
        let at = at % changed.len();
        changed[at] ^= 0x01;
        proptest::prop_assert_eq!(check(&header, &changed, T), Err(SignatureError::Mismatch));
    }
}

#[test]
fn during_a_rotation_a_delivery_signed_with_any_configured_secret_is_accepted() {
    for v1 in [V1, V1_OLD_SECRET, V1_OLDER_SECRET] {
        let header = format!("t={T},v1={v1}");
        assert_eq!(
            verify_any(PAYLOAD, &header, ROTATING, T, DEFAULT_TOLERANCE_SECONDS),
            Ok(()),
            "{v1}"
        );
    }
    // Once the previous secrets are dropped, their signatures no longer pass.
    let header = format!("t={T},v1={V1_OLD_SECRET}");
    assert_eq!(
        verify_any(PAYLOAD, &header, [SECRET], T, DEFAULT_TOLERANCE_SECONDS),
        Err(SignatureError::Mismatch)
    );
    // A secret never configured does not pass; nor does anything with no secret.
    let header = format!("t={T},v1={V1_UNKNOWN_SECRET}");
    assert_eq!(
        verify_any(PAYLOAD, &header, ROTATING, T, DEFAULT_TOLERANCE_SECONDS),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_any(PAYLOAD, &format!("t={T},v1={V1}"), [], T, 300),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn a_header_with_one_v1_per_stripe_secret_passes_when_any_one_matches_any_of_ours() {
    // Stripe rolls the endpoint's secret: one v1 per active secret, ours being the second.
    let rolled = format!("t={T},v1={V1_UNKNOWN_SECRET},v1={V1_OLDER_SECRET}");
    assert_eq!(
        verify_any(PAYLOAD, &rolled, ROTATING, T, DEFAULT_TOLERANCE_SECONDS),
        Ok(())
    );
    // A garbled v1 beside a good one does not spoil it.
    let garbled = format!("t={T},v1=zz,v1={V1_OLD_SECRET}");
    assert_eq!(
        verify_any(PAYLOAD, &garbled, ROTATING, T, DEFAULT_TOLERANCE_SECONDS),
        Ok(())
    );
    // Every v1 unknown: refused.
    let unknown = format!("t={T},v1={V1_UNKNOWN_SECRET},v1=00");
    assert_eq!(
        verify_any(PAYLOAD, &unknown, ROTATING, T, DEFAULT_TOLERANCE_SECONDS),
        Err(SignatureError::Mismatch)
    );
    // A previous secret's signature is still bound by the tolerance.
    let header = format!("t={T},v1={V1_OLD_SECRET}");
    assert_eq!(
        verify_any(
            PAYLOAD,
            &header,
            ROTATING,
            T + 301,
            DEFAULT_TOLERANCE_SECONDS
        ),
        Err(SignatureError::Stale {
            age: 301,
            tolerance: 300
        })
    );
}
