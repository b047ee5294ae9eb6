use super::*;

const SECRET: &str = "whsec_test_secret";
const T: i64 = 1_700_000_000;
const PAYLOAD: &[u8] = br#"{"id":"evt_1","object":"event","type":"invoice.paid"}"#;
/// HMAC-SHA256 of `"1700000000." + PAYLOAD` under `SECRET`, computed outside this crate
/// (Python's `hmac` module), as Stripe computes it.
const V1: &str = "dfb4777aaaec4ea29ff455dd4df7fe6b2ef71096ad3a93a158db7e100109ea91";
/// The same under another secret (`whsec_old_secret`).
const V1_OLD_SECRET: &str = "8113ff949a3f8ace9d8547543a55d4e68c6cbfa8342e6ee9bd7f55687da14532";

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
