//! The retry policy of settlements. Settling is a storage write that can fail transiently (a
//! restarting database, a lock timeout) after the client already has its answer; a failed
//! settlement is retried on this schedule, about a minute in all — less than a reservation's
//! lifetime, so the reservation still holds the call's worst case meanwhile. The host runs the
//! loop on its own runtime with its own timer.

use std::future::Future;
use std::time::Duration;

use tollgate_kernel::StoreError;

/// Delays between attempts of a failing settlement.
pub const SETTLEMENT_RETRY_DELAYS: [Duration; 8] = [
    Duration::from_millis(50),
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(15),
    Duration::from_secs(30),
];

/// How a settlement ended.
#[derive(Debug)]
pub enum SettlementOutcome {
    /// Charged and recorded, after `attempts` attempts.
    Settled {
        /// Attempts made, the successful one included.
        attempts: usize,
    },
    /// The reservation was settled or released already: nothing was charged twice.
    AlreadyFinished,
    /// Every attempt failed: the call is not charged. The host must say so loudly.
    Abandoned {
        /// Attempts made.
        attempts: usize,
        /// The last failure.
        error: StoreError,
    },
}

/// Runs `attempt` (one `settle_and_record`) until it succeeds or the schedule is spent,
/// waiting with the host's `sleep` in between.
pub async fn settle_with_retries<A, AF, S, SF>(mut attempt: A, mut sleep: S) -> SettlementOutcome
where
    A: FnMut() -> AF,
    AF: Future<Output = Result<bool, StoreError>>,
    S: FnMut(Duration) -> SF,
    SF: Future<Output = ()>,
{
    let mut delays = SETTLEMENT_RETRY_DELAYS.iter();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match attempt().await {
            Ok(true) => return SettlementOutcome::Settled { attempts },
            Ok(false) => return SettlementOutcome::AlreadyFinished,
            Err(error) => match delays.next() {
                Some(delay) => {
                    tracing::warn!(%error, attempts, "settlement failed; retrying");
                    sleep(*delay).await;
                }
                None => return SettlementOutcome::Abandoned { attempts, error },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn run(failures: usize, finished: bool) -> (SettlementOutcome, Vec<Duration>) {
        let slept = RefCell::new(Vec::new());
        let calls = RefCell::new(0);
        let outcome = futures::executor::block_on(settle_with_retries(
            || {
                *calls.borrow_mut() += 1;
                let n = *calls.borrow();
                async move {
                    if n <= failures {
                        Err(StoreError::unavailable("database restarting"))
                    } else {
                        Ok(!finished)
                    }
                }
            },
            |delay| {
                slept.borrow_mut().push(delay);
                async {}
            },
        ));
        (outcome, slept.into_inner())
    }

    #[test]
    fn a_transient_failure_is_retried_on_the_schedule_until_it_commits() {
        let (outcome, slept) = run(3, false);
        assert!(matches!(
            outcome,
            SettlementOutcome::Settled { attempts: 4 }
        ));
        assert_eq!(slept, SETTLEMENT_RETRY_DELAYS[..3]);
    }

    #[test]
    fn a_settlement_that_keeps_failing_is_abandoned_after_about_a_minute() {
        let (outcome, slept) = run(usize::MAX, false);
        assert!(matches!(
            outcome,
            SettlementOutcome::Abandoned { attempts: 9, .. }
        ));
        let waited: Duration = slept.iter().sum();
        assert_eq!(waited, Duration::from_millis(53_750));
        // Shorter than the default reservation lifetime (5 minutes): the reservation holds.
        assert!(waited < Duration::from_secs(300));
    }

    #[test]
    fn a_reservation_finished_elsewhere_is_not_charged_again() {
        let (outcome, slept) = run(1, true);
        assert!(matches!(outcome, SettlementOutcome::AlreadyFinished));
        assert_eq!(slept.len(), 1);
    }
}
