use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tollgate_kernel::FixedClock;

use super::*;

/// Keys in a map, with the store contract's rules (a test double of the port).
#[derive(Default)]
struct Keys {
    entries: Mutex<HashMap<(OrganizationId, String), Entry>>,
}

#[derive(Clone)]
struct Entry {
    hash: String,
    created_at: DateTime<Utc>,
    answer: Option<(u16, String)>,
}

impl IdempotencyStore for Keys {
    async fn begin(
        &self,
        organization: OrganizationId,
        key: String,
        request_hash: String,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> Result<IdempotencyBegin, StoreError> {
        let mut entries = self.entries.lock().unwrap();
        let slot = (organization, key);
        if let Some(entry) = entries.get(&slot).cloned()
            && entry.created_at >= expired_before
        {
            return Ok(if entry.hash != request_hash {
                IdempotencyBegin::Mismatch
            } else if let Some((status, body)) = entry.answer {
                IdempotencyBegin::Replay { status, body }
            } else {
                IdempotencyBegin::InProgress
            });
        }
        entries.insert(
            slot,
            Entry {
                hash: request_hash,
                created_at: now,
                answer: None,
            },
        );
        Ok(IdempotencyBegin::Fresh)
    }

    async fn complete(
        &self,
        organization: OrganizationId,
        key: String,
        status: u16,
        body: String,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if let Some(entry) = self.entries.lock().unwrap().get_mut(&(organization, key)) {
            entry.answer = Some((status, body));
        }
        Ok(())
    }

    async fn abandon(&self, organization: OrganizationId, key: String) -> Result<(), StoreError> {
        self.entries.lock().unwrap().remove(&(organization, key));
        Ok(())
    }
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn protocol() -> Idempotency<Keys, FixedClock> {
    Idempotency::new(Keys::default(), FixedClock::new(start()))
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
