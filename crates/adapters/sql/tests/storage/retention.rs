//! Retention: a purge deletes what expired and nothing that lives (pending reservations, live
//! sessions, pending invitations, the recent ledger…), in batches smaller than the work, keeps
//! reuse detection of refresh tokens working, and leaves the rollups of the ledger it deleted
//! intact, also through a rebuild.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, Statement, TransactionTrait,
    Value,
};
use tollgate_billing::KeyBudgets;
use tollgate_costing::{IdempotencyBegin, IdempotencyStore, TokenUsage, UsageEvent, UsageLedger};
use tollgate_identity::ports::{
    ConsumeOutcome, InvitationRepository, LoginAttemptLog, SessionRepository,
};
use tollgate_identity::{
    EmailAddress, LoginSource, OpaqueToken, RefreshTokenRecord, SessionId, SessionRecord,
};
use tollgate_kernel::{Action, ApiKeyId, Micros, OrganizationId, Period, UserId};
use tollgate_quotas::ports::QuotaLedger;
use tollgate_quotas::{ReservationId, ReservationRequest};
use tollgate_sql::{PurgeReport, RetentionPolicy, SqlStore};
use tollgate_test_support::both_backends;
use uuid::Uuid;

use crate::{create, now, store};

/// A second connection for what the ports do not show: row counts, and rows of other times.
struct Raw(DatabaseConnection);

impl Raw {
    async fn open(url: &str) -> Self {
        Self(Database::connect(url).await.expect("a second connection"))
    }

    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        let backend = self.0.get_database_backend();
        let sql = match backend {
            DatabaseBackend::Postgres => sql.to_owned(),
            _ => sql.replace('$', "?"),
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    async fn exec(&self, sql: &str, values: Vec<Value>) {
        self.0
            .execute_raw(self.statement(sql, values))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// `SELECT COUNT(*) FROM {from}`.
    async fn count(&self, from: &str, values: Vec<Value>) -> i64 {
        let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {from}");
        self.0
            .query_one_raw(self.statement(&sql, values))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap()
            .try_get("", "n")
            .unwrap()
    }
}

fn ms(at: DateTime<Utc>) -> Value {
    at.timestamp_millis().into()
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

async fn purge(store: &SqlStore, policy: &RetentionPolicy, at: DateTime<Utc>) -> PurgeReport {
    store
        .purge(policy, at)
        .await
        .unwrap()
        .expect("no other purge runs")
}

/// Reserves a call at `at` (expiring five minutes later); its id.
async fn reserve(store: &SqlStore, org: OrganizationId, at: DateTime<Utc>) -> ReservationId {
    let id = ReservationId::new();
    QuotaLedger::reserve(
        store,
        ReservationRequest {
            id,
            organization: org,
            action: Action::Chat,
            day: Period::utc_day(at),
            daily_limit: 100_000,
            month: Period::utc_month(at),
            budget: None,
            ceiling: None,
            estimate: Micros::new(10),
            created_at: at,
            expires_at: at + Duration::minutes(5),
        },
    )
    .await
    .unwrap();
    id
}

/// A settled call's usage event at `at` (storage charges it as a call whose reservation it
/// lost, and keeps a settled reservation row for it).
async fn record(store: &SqlStore, org: OrganizationId, at: DateTime<Utc>) {
    let event = UsageEvent {
        id: Uuid::now_v7(),
        organization: org,
        user: UserId::new(),
        key: None,
        action: Action::Chat,
        model: "gpt-4o-mini".into(),
        usage: TokenUsage::default(),
        cost: Micros::new(4),
        price: Micros::new(7),
        request_id: "req".into(),
        at,
    };
    assert!(store.settle_and_record(event).await.unwrap());
}

async fn idempotency_record(store: &SqlStore, org: OrganizationId, key: &str, at: DateTime<Utc>) {
    let begun = store
        .begin(org, key.into(), "hash".into(), at, at - hours(24))
        .await
        .unwrap();
    assert_eq!(begun, IdempotencyBegin::Fresh);
    store
        .complete(org, key.into(), 200, "{\"id\":\"chatcmpl-1\"}".into(), at)
        .await
        .unwrap();
}

fn refresh_token(
    session: SessionId,
    issued: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> (OpaqueToken, RefreshTokenRecord) {
    let token = OpaqueToken::generate();
    let record = RefreshTokenRecord {
        hash: token.hash(),
        session_id: session,
        issued_at: issued,
        expires_at: expires,
        consumed_at: None,
    };
    (token, record)
}

/// A session started at `started` whose first token lives until `first_expires`; that token
/// is consumed a minute later and a second one, living until `second_expires`, added. Returns
/// the session and its consumed first token.
async fn rotated_session(
    store: &SqlStore,
    account: &tollgate_identity::Account,
    started: DateTime<Utc>,
    first_expires: DateTime<Utc>,
    second_expires: DateTime<Utc>,
) -> (SessionId, OpaqueToken) {
    let session = SessionRecord {
        id: SessionId::new(),
        user_id: account.user.id,
        organization_id: account.organization.id,
        created_at: started,
        revoked_at: None,
    };
    let (first, record) = refresh_token(session.id, started, first_expires);
    store.start_session(session.clone(), record).await.unwrap();
    let rotated = started + Duration::minutes(1);
    assert!(matches!(
        store
            .consume_refresh_token(first.hash(), rotated)
            .await
            .unwrap(),
        ConsumeOutcome::Consumed(_)
    ));
    let (_, next) = refresh_token(session.id, rotated, second_expires);
    store.add_refresh_token(next).await.unwrap();
    (session.id, first)
}

async fn lease(raw: &Raw, org: OrganizationId, status: &str, ended: DateTime<Utc>) {
    raw.exec(
        "INSERT INTO quota_leases (id, holder, organization_id, action, day_start, month_start,
             grants, units_granted, micros_granted, last_units, last_micros, units_settled,
             micros_settled, status, expires_at, created_at, finished_at)
         VALUES ($1, 'test', $2, 'chat', $3, $4, 1, 5, 50, 5, 50, 5, 50, $5, $6, $6, $7)",
        vec![
            Uuid::now_v7().into(),
            org.as_uuid().into(),
            ms(Period::utc_day(ended).start()),
            ms(Period::utc_month(ended).start()),
            status.into(),
            ms(ended),
            (status != "active")
                .then(|| ended.timestamp_millis())
                .into(),
        ],
    )
    .await;
}

async fn meter_event(raw: &Raw, org: OrganizationId, status: &str, at: DateTime<Utc>) {
    raw.exec(
        "INSERT INTO meter_events (identifier, organization_id, month_start, window_start,
             value_micros, status, attempts, next_attempt_at, created_at, sent_at)
         VALUES ($1, $2, $3, $4, 7, $5, 1, $4, $4, $6)",
        vec![
            format!("mev_{}", Uuid::now_v7().simple()).into(),
            org.as_uuid().into(),
            ms(Period::utc_month(at).start()),
            ms(at),
            status.into(),
            (status == "sent").then(|| at.timestamp_millis()).into(),
        ],
    )
    .await;
}

async fn delivery(raw: &Raw, org: OrganizationId, status: &str, at: DateTime<Utc>) {
    let id = Uuid::now_v7();
    raw.exec(
        "INSERT INTO webhook_deliveries (id, endpoint_id, organization_id, webhook_id, event_type,
             dedupe_key, body, status, attempts, next_attempt_at, created_at, delivered_at)
         VALUES ($1, $2, $3, $4, 'quota.threshold', $5, '{}', $6, 1, $7, $7, $8)",
        vec![
            id.into(),
            Uuid::now_v7().into(),
            org.as_uuid().into(),
            format!("msg_{}", id.simple()).into(),
            id.to_string().into(),
            status.into(),
            ms(at),
            (status == "delivered")
                .then(|| at.timestamp_millis())
                .into(),
        ],
    )
    .await;
}

async fn audit_entry(raw: &Raw, at: DateTime<Utc>) {
    raw.exec(
        "INSERT INTO audit_log (\"at\", actor, action, target) VALUES ($1, 'ops', 'suspend', 'x')",
        vec![ms(at)],
    )
    .await;
}

both_backends!(
    expired_rows_go_and_live_rows_stay,
    |url: String| async move {
        let store = store(&url).await;
        let raw = Raw::open(&url).await;
        let policy = RetentionPolicy::default();
        let now = now();
        let alice = create(&store, "alice@example.com").await;
        let bob = create(&store, "bob@example.com").await;
        let (org, other) = (alice.organization.id, bob.organization.id);
        let long_ago = now - days(500);

        idempotency_record(&store, org, "old", now - hours(25)).await;
        idempotency_record(&store, org, "new", now - hours(1)).await;

        // Reservations: settled and released three days ago go; a pending one of then stays
        // (the sweeper's), and so does one settled an hour ago.
        let settled = reserve(&store, org, now - days(3)).await;
        QuotaLedger::settle(&store, settled, Micros::new(5), now - days(3))
            .await
            .unwrap();
        let released = reserve(&store, org, now - days(3)).await;
        QuotaLedger::release(&store, released, true, now - days(3))
            .await
            .unwrap();
        let pending = reserve(&store, org, now - days(3)).await;
        let recent = reserve(&store, org, now - hours(1)).await;
        QuotaLedger::settle(&store, recent, Micros::new(5), now - hours(1))
            .await
            .unwrap();

        // The ledger: an event of 500 days ago goes; another organisation's of then stays
        // while its month has a meter event not yet sent; today's stays.
        record(&store, org, long_ago).await;
        record(&store, other, long_ago).await;
        record(&store, org, now).await;
        meter_event(&raw, org, "sent", long_ago).await;
        meter_event(&raw, org, "sent", now).await;
        meter_event(&raw, other, "pending", long_ago).await;
        let old_month = Period::utc_month(long_ago);
        let rolled_up = store.totals(org, old_month).await.unwrap();
        assert_eq!(rolled_up.requests, 1);

        // Key reservations: one expired three days ago, one live.
        let month = Period::utc_month(now);
        for expires in [now - days(3), now + Duration::minutes(5)] {
            KeyBudgets::reserve(
                &store,
                ApiKeyId::new(),
                month,
                ReservationId::new(),
                Micros::new(10),
                Micros::new(1_000),
                expires,
            )
            .await
            .unwrap();
        }

        lease(&raw, org, "returned", now - days(3)).await;
        lease(&raw, org, "expired", now - days(3)).await;
        lease(&raw, org, "active", now - days(3)).await;
        lease(&raw, org, "returned", now - hours(1)).await;

        // Sessions: a family whose tokens all expired days ago goes whole; a live family and a
        // family revoked an hour ago (its access tokens may still be about) stay.
        let (dead, dead_token) = rotated_session(
            &store,
            &alice,
            now - days(40),
            now - days(10),
            now - days(9),
        )
        .await;
        let (live, live_token) = rotated_session(
            &store,
            &alice,
            now - days(10),
            now + days(20),
            now + days(21),
        )
        .await;
        let (revoked, _) =
            rotated_session(&store, &bob, now - days(40), now - days(10), now - days(9)).await;
        store.revoke_session(revoked, now - hours(1)).await.unwrap();

        // Invitations: expired, used, pending.
        let mut invitations = Vec::new();
        for (created, expires) in [
            (now - days(20), now - days(13)),
            (now - days(10), now + days(1)),
            (now - days(1), now + days(6)),
        ] {
            let hash = OpaqueToken::generate().hash();
            store
                .create_invitation(
                    EmailAddress::parse(&format!("{}@example.com", Uuid::now_v7().simple()))
                        .unwrap(),
                    hash.clone(),
                    alice.user.id,
                    created,
                    expires,
                )
                .await
                .unwrap();
            invitations.push(hash);
        }
        raw.exec(
            "UPDATE invitations SET used_at = $1 WHERE token_hash = $2",
            vec![ms(now - days(3)), invitations[1].as_str().into()],
        )
        .await;

        let source = LoginSource::from_ip("192.0.2.1".parse().unwrap());
        for (email, at) in [
            ("x@example.com", now - days(2)),
            ("y@example.com", now - hours(1)),
        ] {
            store
                .record_failure(EmailAddress::parse(email).unwrap(), source.clone(), at)
                .await
                .unwrap();
        }
        for (id, at) in [("evt_old", now - days(100)), ("evt_new", now - days(1))] {
            raw.exec(
                "INSERT INTO stripe_events (id, handled_at) VALUES ($1, $2)",
                vec![id.into(), ms(at)],
            )
            .await;
        }
        delivery(&raw, org, "delivered", long_ago).await;
        delivery(&raw, org, "failed", long_ago).await;
        delivery(&raw, org, "pending", long_ago).await;
        delivery(&raw, org, "delivered", now).await;
        audit_entry(&raw, long_ago).await;
        let audit_before = raw.count("audit_log", vec![]).await;

        let report = purge(&store, &policy, now).await;

        let expected = [
            ("idempotency_keys", 1),
            // Settled and released of three days ago, and the rows of the two old events.
            ("reservations", 4),
            ("key_reservations", 1),
            ("quota_leases", 2),
            ("invitations", 2),
            ("login_failures", 1),
            ("stripe_events", 1),
            ("refresh_tokens", 2),
            ("sessions", 1),
            ("usage_events", 1),
            ("meter_events", 1),
            ("webhook_deliveries", 2),
            ("audit_log", 1),
        ];
        for (table, rows) in expected {
            assert_eq!(report.rows(table), rows, "{table}: {report:?}");
        }
        assert!(
            report.rows("quota_counters") >= 2,
            "the days of 3 and 500 days ago: {report:?}"
        );
        assert_eq!(
            raw.count(
                "quota_counters WHERE period_start < $1",
                vec![ms(now - days(2))]
            )
            .await,
            0
        );
        assert!(
            raw.count(
                "quota_counters WHERE period_start >= $1",
                vec![ms(Period::utc_day(now - hours(1)).start())]
            )
            .await
                >= 1
        );

        // What lives is untouched.
        assert!(matches!(
            store
                .begin(org, "new".into(), "hash".into(), now, now - hours(24))
                .await
                .unwrap(),
            IdempotencyBegin::Replay { status: 200, .. }
        ));
        for (id, status) in [(pending, "pending"), (recent, "settled")] {
            assert_eq!(
                raw.count(
                    "reservations WHERE id = $1 AND status = $2",
                    vec![id.as_uuid().into(), status.into()]
                )
                .await,
                1,
                "{status}"
            );
        }
        assert_eq!(raw.count("key_reservations", vec![]).await, 1);
        assert_eq!(
            raw.count("quota_leases WHERE status = 'active'", vec![])
                .await,
            1
        );
        assert_eq!(raw.count("quota_leases", vec![]).await, 2);
        assert_eq!(
            raw.count(
                "invitations WHERE token_hash = $1",
                vec![invitations[2].as_str().into()]
            )
            .await,
            1,
            "the pending invitation"
        );
        assert_eq!(
            raw.count(
                "sessions WHERE id IN ($1, $2)",
                vec![live.as_uuid().into(), revoked.as_uuid().into()]
            )
            .await,
            2
        );
        assert_eq!(
            store
                .consume_refresh_token(live_token.hash(), now)
                .await
                .unwrap(),
            ConsumeOutcome::AlreadyConsumed(live),
            "a replay in a live family is still reuse"
        );
        assert_eq!(
            store
                .consume_refresh_token(dead_token.hash(), now)
                .await
                .unwrap(),
            ConsumeOutcome::Unknown,
            "a dead family is gone"
        );
        let _ = dead;
        assert_eq!(
            raw.count(
                "usage_events WHERE organization_id = $1",
                vec![other.as_uuid().into()]
            )
            .await,
            1,
            "its month's meter event is not sent"
        );
        assert_eq!(
            raw.count(
                "usage_events WHERE organization_id = $1",
                vec![org.as_uuid().into()]
            )
            .await,
            1,
            "today's event"
        );
        assert_eq!(raw.count("meter_events", vec![]).await, 2);
        assert_eq!(raw.count("webhook_deliveries", vec![]).await, 2);
        assert_eq!(raw.count("stripe_events", vec![]).await, 1);
        assert_eq!(raw.count("login_failures", vec![]).await, 1);
        assert_eq!(raw.count("audit_log", vec![]).await, audit_before - 1);

        // The rollups of the purged day stay, also through a rebuild from the ledger; the
        // current month's still agree with it.
        assert_eq!(store.totals(org, old_month).await.unwrap(), rolled_up);
        store.rebuild_usage_rollups().await.unwrap();
        assert_eq!(store.totals(org, old_month).await.unwrap(), rolled_up);
        assert_eq!(store.totals(other, old_month).await.unwrap().requests, 1);
        assert!(store.usage_rollups_agree(org, month).await.unwrap());
        assert_eq!(store.totals(org, month).await.unwrap().requests, 1);

        // A second pass finds nothing more.
        assert_eq!(purge(&store, &policy, now).await.total(), 0);
    }
);

both_backends!(
    batches_smaller_than_the_work_delete_it_all,
    |url: String| async move {
        let store = store(&url).await;
        let raw = Raw::open(&url).await;
        let policy = RetentionPolicy {
            batch_size: 3,
            ..RetentionPolicy::default()
        };
        let now = now();
        let long_ago = now - days(500);
        let mut organizations = Vec::new();
        for i in 0..4 {
            let account = create(&store, &format!("user{i}@example.com")).await;
            organizations.push(account);
        }
        let org = organizations[0].organization.id;
        for i in 0..10 {
            idempotency_record(&store, org, &format!("old-{i}"), now - hours(30)).await;
        }
        for i in 0..2 {
            idempotency_record(&store, org, &format!("new-{i}"), now).await;
        }
        for _ in 0..8 {
            let id = reserve(&store, org, now - days(3)).await;
            QuotaLedger::settle(&store, id, Micros::new(1), now - days(3))
                .await
                .unwrap();
        }
        // Two old events per organisation (each also leaves a settled reservation), and one
        // of today.
        for account in &organizations {
            for _ in 0..2 {
                record(&store, account.organization.id, long_ago).await;
            }
            record(&store, account.organization.id, now).await;
        }
        // Two dead families of four tokens each.
        for _ in 0..2 {
            let (session, _) = rotated_session(
                &store,
                &organizations[1],
                now - days(40),
                now - days(10),
                now - days(9),
            )
            .await;
            for _ in 0..2 {
                let (_, token) = refresh_token(session, now - days(20), now - days(8));
                store.add_refresh_token(token).await.unwrap();
            }
        }
        for _ in 0..7 {
            audit_entry(&raw, long_ago).await;
        }

        let report = purge(&store, &policy, now).await;
        for (table, rows) in [
            ("idempotency_keys", 10),
            ("reservations", 8 + 8),
            ("usage_events", 8),
            ("refresh_tokens", 8),
            ("sessions", 2),
            ("audit_log", 7),
        ] {
            assert_eq!(report.rows(table), rows, "{table}: {report:?}");
        }
        assert_eq!(raw.count("idempotency_keys", vec![]).await, 2);
        assert_eq!(raw.count("usage_events", vec![]).await, 4);
        assert_eq!(raw.count("refresh_tokens", vec![]).await, 0);
        assert_eq!(purge(&store, &policy, now).await.total(), 0);
    }
);

both_backends!(one_instance_purges_at_a_time, |url: String| async move {
    let store = store(&url).await;
    let policy = RetentionPolicy::default();
    let raw = Raw::open(&url).await;
    if raw.0.get_database_backend() != DatabaseBackend::Postgres {
        // One writer: nothing to take turns on.
        assert!(store.purge(&policy, now()).await.unwrap().is_some());
        return;
    }
    // Another instance's pass holds the purge lock ("purge\x01"): this one does nothing.
    let holder = Database::connect(url.as_str()).await.unwrap();
    let other = holder.begin().await.unwrap();
    other
        .execute_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(123649732863233)",
        ))
        .await
        .unwrap();
    assert_eq!(store.purge(&policy, now()).await.unwrap(), None);
    other.commit().await.unwrap();
    assert!(store.purge(&policy, now()).await.unwrap().is_some());
    // A pass lets the lock go when it ends.
    assert!(store.purge(&policy, now()).await.unwrap().is_some());
});
