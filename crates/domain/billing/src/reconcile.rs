//! Reconciliation of billed usage: per organisation and month, the usage price in the ledger
//! against what was sent to the provider, what waits in the outbox, and what no plan bills.

use std::future::Future;

use tollgate_kernel::{OrganizationId, Period, StoreError};

/// One organisation's usage of one month, as the ledger and the outbox hold it (micro-dollars).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterLedger {
    /// Whose usage.
    pub organization: OrganizationId,
    /// The usage price of the month's calls, from the ledger.
    pub ledger_micros: i64,
    /// How much of it aggregation passes have taken in (the cursor).
    pub aggregated_micros: i64,
    /// Taken in while the organisation's plan billed no usage.
    pub not_billed_micros: i64,
    /// In meter events the provider has.
    pub sent_micros: i64,
    /// In meter events waiting to be sent.
    pub pending_micros: i64,
    /// In meter events held for the operator.
    pub held_micros: i64,
}

/// The verdict on one [`MeterLedger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconciliation {
    /// The figures.
    pub ledger: MeterLedger,
    /// Usage the next aggregation pass will take in (`ledger − aggregated`); never negative
    /// when the books agree.
    pub not_yet_aggregated: i64,
    /// `aggregated − (not billed + sent + pending + held)`: micro-dollars taken in but neither
    /// billed nor passed over, or billed twice if negative. Zero when the books agree.
    pub difference: i64,
}

impl Reconciliation {
    /// Whether every micro-dollar of the ledger is accounted for once and none waits on the
    /// operator.
    pub fn agrees(&self) -> bool {
        self.difference == 0 && self.not_yet_aggregated >= 0 && self.ledger.held_micros == 0
    }
}

impl MeterLedger {
    /// Checks the figures against each other.
    pub fn reconcile(self) -> Reconciliation {
        let accounted =
            self.not_billed_micros + self.sent_micros + self.pending_micros + self.held_micros;
        Reconciliation {
            ledger: self,
            not_yet_aggregated: self.ledger_micros - self.aggregated_micros,
            difference: self.aggregated_micros - accounted,
        }
    }
}

/// A meter event held for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMeterEvent {
    /// Whose usage.
    pub organization: OrganizationId,
    /// Its identifier at the provider.
    pub identifier: String,
    /// Micro-dollars it bills.
    pub value_micros: i64,
    /// Why it is held.
    pub reason: String,
}

/// Reads the books of billed usage.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait MeterLedgerReader: Send + Sync + 'static {
    /// Every organisation with usage or meter events in `month`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn meter_ledger(
        &self,
        month: Period,
    ) -> impl Future<Output = Result<Vec<MeterLedger>, StoreError>> + Send;

    /// The events of `month` held for the operator.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn held_meter_events(
        &self,
        month: Period,
    ) -> impl Future<Output = Result<Vec<HeldMeterEvent>, StoreError>> + Send;
}

/// What the operator decided about a held meter event, after checking Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldResolution {
    /// Stripe does not have it: send it again, as a new first attempt.
    Resend,
    /// Stripe has it, or it was billed another way: count it as sent.
    MarkSent,
}

/// Resolves held meter events.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait HeldMeterEvents: Send + Sync + 'static {
    /// Applies `resolution` to the held event `identifier`; false when no held event has it.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn resolve_held(
        &self,
        identifier: &str,
        resolution: HeldResolution,
        at: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books(ledger: i64, aggregated: i64, parts: [i64; 4]) -> MeterLedger {
        MeterLedger {
            organization: OrganizationId::new(),
            ledger_micros: ledger,
            aggregated_micros: aggregated,
            not_billed_micros: parts[0],
            sent_micros: parts[1],
            pending_micros: parts[2],
            held_micros: parts[3],
        }
    }

    #[test]
    fn books_agree_when_every_aggregated_micro_dollar_is_billed_or_passed_over_once() {
        let verdict = books(1_000, 900, [100, 700, 100, 0]).reconcile();
        assert_eq!(verdict.not_yet_aggregated, 100);
        assert_eq!(verdict.difference, 0);
        assert!(verdict.agrees());
    }

    #[test]
    fn a_micro_dollar_missing_or_billed_twice_is_a_difference() {
        let missing = books(1_000, 1_000, [0, 999, 0, 0]).reconcile();
        assert_eq!(missing.difference, 1);
        assert!(!missing.agrees());
        let twice = books(1_000, 1_000, [0, 1_000, 1, 0]).reconcile();
        assert_eq!(twice.difference, -1);
        assert!(!twice.agrees());
    }

    #[test]
    fn held_events_and_a_ledger_behind_its_cursor_do_not_agree() {
        assert!(!books(1_000, 1_000, [0, 900, 0, 100]).reconcile().agrees());
        assert!(!books(900, 1_000, [0, 1_000, 0, 0]).reconcile().agrees());
    }
}
