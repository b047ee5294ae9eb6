use chrono::TimeZone;
use mockall::predicate::eq;
use tollgate_costing::TokenUsage;
use tollgate_kernel::UserId;
use tollgate_quotas::{Plan, PlanCatalog};

use super::*;
use crate::ports::{MockCallAdmission, MockSettler};

fn reservation() -> Reservation {
    let at = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
    Reservation {
        id: ReservationId::new(),
        organization: OrganizationId::new(),
        action: Action::Chat,
        day: Period::utc_day(at),
        month: Period::utc_month(at),
        estimate: Micros::new(500),
        expires_at: at + chrono::Duration::minutes(5),
        daily_used: 1,
        daily_limit: 50,
    }
}

fn plan() -> Plan {
    PlanCatalog::builtin().get("free").unwrap().clone()
}

fn admitting(reservation: Reservation, releases: usize) -> MockCallAdmission {
    let mut inner = MockCallAdmission::new();
    inner.expect_admit().returning(move |_, _, _, _| {
        let admission = Admission {
            reservation: reservation.clone(),
            plan: plan(),
            rate: None,
        };
        Box::pin(async move { Ok(admission) })
    });
    inner
        .expect_release()
        .times(releases)
        .returning(|_| Box::pin(async { Ok(true) }));
    inner
}

fn capped(cap: Option<i64>) -> MockKeyBudgets {
    let mut budgets = MockKeyBudgets::new();
    budgets
        .expect_cap_of()
        .returning(move |_| Box::pin(async move { Ok(cap.map(Micros::new)) }));
    budgets
}

#[tokio::test]
async fn an_uncapped_key_and_a_keyless_call_touch_no_key_ledger() {
    let r = reservation();
    let mut budgets = capped(None);
    budgets.expect_reserve().never();
    let caps = KeyCaps::new(
        Arc::new(admitting(r.clone(), 0)),
        Arc::new(budgets),
        Arc::default(),
    );
    let org = r.organization;
    assert!(
        caps.admit(org, Some(ApiKeyId::new()), Action::Chat, &Micros::new(1))
            .await
            .is_ok()
    );
    assert!(
        caps.admit(org, None, Action::Chat, &Micros::new(1))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_capped_key_reserves_its_estimate_and_is_charged_what_the_call_cost() {
    let r = reservation();
    let key = ApiKeyId::new();
    let mut budgets = capped(Some(10_000));
    budgets
        .expect_reserve()
        .with(
            eq(key),
            eq(r.month),
            eq(r.id),
            eq(Micros::new(500)),
            eq(Micros::new(10_000)),
            eq(r.expires_at),
        )
        .times(1)
        .returning(|_, _, _, _, _, _| Box::pin(async { Ok(KeyReservation::Reserved) }));
    budgets
        .expect_settle()
        .with(eq(r.id), eq(Micros::new(321)))
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(()) }));
    let budgets = Arc::new(budgets);
    let book = Arc::new(KeyCapBook::default());
    let caps = KeyCaps::new(
        Arc::new(admitting(r.clone(), 0)),
        budgets.clone(),
        book.clone(),
    );
    caps.admit(r.organization, Some(key), Action::Chat, &Micros::new(1))
        .await
        .unwrap();

    let mut inner = MockSettler::new();
    inner
        .expect_settle()
        .times(2)
        .returning(|_| Box::pin(async {}));
    let settler = KeyCapSettler::new(inner, budgets, book);
    let event = UsageEvent {
        id: r.id.as_uuid(),
        organization: r.organization,
        user: UserId::new(),
        key: Some(key),
        action: Action::Chat,
        model: "gpt-4o-mini".into(),
        usage: TokenUsage::default(),
        cost: Micros::new(321),
        price: Micros::new(600),
        request_id: "r".into(),
        at: r.expires_at,
    };
    settler.settle(event.clone()).await;
    // A second settlement of the same event does not charge the key twice.
    settler.settle(event).await;
}

#[tokio::test]
async fn a_spent_cap_refuses_the_call_and_gives_the_organisations_reservation_back() {
    let r = reservation();
    let mut budgets = capped(Some(1_000));
    budgets.expect_reserve().returning(|_, _, _, _, _, _| {
        Box::pin(async {
            Ok(KeyReservation::Exceeded {
                spent: Micros::new(900),
                reserved: Micros::new(0),
            })
        })
    });
    let caps = KeyCaps::new(
        Arc::new(admitting(r.clone(), 1)),
        Arc::new(budgets),
        Arc::default(),
    );
    let refused = caps
        .admit(
            r.organization,
            Some(ApiKeyId::new()),
            Action::Chat,
            &Micros::new(1),
        )
        .await;
    assert!(matches!(
        refused,
        Err(AdmitError::KeyCapExceeded { limit, spent, .. })
            if limit == Micros::new(1_000) && spent == Micros::new(900)
    ));
}

#[tokio::test]
async fn a_released_call_releases_its_key_reservation() {
    let r = reservation();
    let mut budgets = capped(Some(10_000));
    budgets
        .expect_reserve()
        .returning(|_, _, _, _, _, _| Box::pin(async { Ok(KeyReservation::Reserved) }));
    budgets
        .expect_release()
        .with(eq(r.id))
        .times(1)
        .returning(|_| Box::pin(async { Ok(()) }));
    budgets
        .expect_keep_alive()
        .with(eq(r.id), eq(KEY_RESERVATION_KEEP_ALIVE))
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(()) }));
    let mut inner = admitting(r.clone(), 1);
    inner
        .expect_keep_alive()
        .returning(|_| Box::pin(async { Ok(true) }));
    let caps = KeyCaps::new(Arc::new(inner), Arc::new(budgets), Arc::default());
    let admission = caps
        .admit(
            r.organization,
            Some(ApiKeyId::new()),
            Action::Chat,
            &Micros::new(1),
        )
        .await
        .unwrap();
    assert!(caps.keep_alive(&admission.reservation).await.unwrap());
    assert!(caps.release(&admission.reservation).await.unwrap());
}
