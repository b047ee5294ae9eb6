//! [`WorstCase`]: what a call may cost at most, known two ways.

use tollgate_kernel::Micros;

/// A call's worst-case cost: a `bound` that is cheap to compute and never below the exact worst
/// case, and the `exact` worst case, which may take real work (counting a prompt's tokens).
/// Admission against a lease in memory takes the bound, so the hot path does no such work; an
/// exact per-call reservation near a limit takes the exact figure, so that no call the limit
/// still allows is refused.
pub trait WorstCase: Send + Sync {
    /// Never below [`WorstCase::exact`].
    fn bound(&self) -> Micros;
    /// The worst case, computed exactly.
    fn exact(&self) -> Micros;
}

/// A worst case already known exactly.
impl WorstCase for Micros {
    fn bound(&self) -> Micros {
        *self
    }

    fn exact(&self) -> Micros {
        *self
    }
}
