use tollgate_costing::{ChatRequestError, CostError, UpstreamError};
use tollgate_quotas::AdmitError;

/// Why a metered call was not answered. Nothing is charged for any of these: the reservation,
/// when one was made, has been released.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The request is not a chat completion this deployment serves.
    #[error(transparent)]
    InvalidRequest(#[from] ChatRequestError),
    /// The model has no price, so no worst case can be reserved.
    #[error(transparent)]
    Unpriced(#[from] CostError),
    /// Rate limit, daily quota, budget, plan or standing refused the call.
    #[error(transparent)]
    Refused(#[from] AdmitError),
    /// The provider gave no usable answer.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}
