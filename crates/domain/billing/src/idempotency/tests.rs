use chrono::{DateTime, Utc};
use tollgate_kernel::FixedClock;
use tollgate_memory::MemoryStore;

use super::*;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The protocol over the in-memory store (which passes the same store contract as SQL).
fn protocol() -> Idempotency<MemoryStore, FixedClock> {
    Idempotency::new(MemoryStore::new(), FixedClock::new(start()))
}

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    futures::executor::block_on(future)
}

#[test]
fn a_completed_key_replays_its_first_answer_for_the_same_request_only() {
    let keys = protocol();
    let organization = OrganizationId::new();
    let Claim::Fresh(held) = run(keys.claim(organization, "order-42", b"{\"a\":1}")).unwrap()
    else {
        panic!("first use is fresh");
    };
    // While it runs, a retry waits its turn.
    assert!(matches!(
        run(keys.claim(organization, "order-42", b"{\"a\":1}")),
        Err(IdempotencyError::InProgress)
    ));
    run(keys.complete(held, 201, "{\"id\":1}".into())).unwrap();
    assert_eq!(
        run(keys.claim(organization, "order-42", b"{\"a\":1}")).unwrap(),
        Claim::Replay {
            status: 201,
            body: "{\"id\":1}".into()
        }
    );
    assert!(matches!(
        run(keys.claim(organization, "order-42", b"{\"a\":2}")),
        Err(IdempotencyError::Mismatch)
    ));
    // Another organisation's identical key is unrelated.
    assert!(matches!(
        run(keys.claim(OrganizationId::new(), "order-42", b"{\"a\":2}")).unwrap(),
        Claim::Fresh(_)
    ));
}

#[test]
fn an_abandoned_key_can_be_used_again() {
    let keys = protocol();
    let organization = OrganizationId::new();
    let Claim::Fresh(held) = run(keys.claim(organization, "k", b"x")).unwrap() else {
        panic!("fresh");
    };
    run(keys.abandon(held)).unwrap();
    assert!(matches!(
        run(keys.claim(organization, "k", b"x")).unwrap(),
        Claim::Fresh(_)
    ));
}

#[test]
fn a_key_expires_after_the_retention() {
    let keys = protocol();
    let organization = OrganizationId::new();
    let Claim::Fresh(held) = run(keys.claim(organization, "k", b"x")).unwrap() else {
        panic!("fresh");
    };
    run(keys.complete(held, 200, "first".into())).unwrap();
    keys.clock
        .advance(IDEMPOTENCY_RETENTION + Duration::seconds(1));
    assert!(matches!(
        run(keys.claim(organization, "k", b"other body")).unwrap(),
        Claim::Fresh(_)
    ));
}

#[test]
fn keys_must_be_short_visible_ascii() {
    let keys = protocol();
    let organization = OrganizationId::new();
    for bad in ["", "   ", "caf\u{e9}", "tab\there", &"k".repeat(256)] {
        assert!(
            matches!(
                run(keys.claim(organization, bad, b"x")),
                Err(IdempotencyError::InvalidKey)
            ),
            "{bad:?}"
        );
    }
    assert!(run(keys.claim(organization, &"k".repeat(255), b"x")).is_ok());
}
