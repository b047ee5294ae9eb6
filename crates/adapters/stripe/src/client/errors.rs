//! async-stripe's errors, read as the billing domain needs them: can asking again help
//! ([`PaymentError::Unavailable`]) or not ([`PaymentError::Rejected`]), and the two refusals that
//! are answers rather than failures (a missing subscription, a meter event already recorded).

use stripe::{ApiErrorsCode, StripeError};
use tollgate_billing::PaymentError;

/// What Stripe says, in the error message, when a meter event's identifier was used before.
const DUPLICATE_METER_EVENT: &str = "An event already exists with identifier";

/// The message async-stripe gives when an error status came with a body that is not a Stripe
/// error, which in practice is a proxy's or load balancer's page in front of Stripe.
const UNREADABLE_ERROR_BODY: &str = "error deserializing Stripe error";

/// Classifies a failed request: 429, 5xx, timeouts and connection failures are worth
/// retrying; any other refusal by Stripe, a bad configuration or an answer this client cannot
/// read will fail the same way next time.
pub(super) fn classify(error: StripeError) -> PaymentError {
    match error {
        StripeError::Stripe(api, status) => {
            let message = format!(
                "{status} {}: {}",
                api.type_.as_str(),
                api.message.as_deref().unwrap_or("no message")
            );
            if status == 429 || status >= 500 {
                PaymentError::Unavailable(message)
            } else {
                PaymentError::Rejected(message)
            }
        }
        StripeError::Timeout => PaymentError::Unavailable("timed out".to_owned()),
        StripeError::ClientError(message) => PaymentError::Unavailable(message),
        StripeError::JSONDeserialize(message) if message.contains(UNREADABLE_ERROR_BODY) => {
            PaymentError::Unavailable(message)
        }
        StripeError::JSONDeserialize(message) => {
            PaymentError::Rejected(format!("unexpected answer from Stripe: {message}"))
        }
        StripeError::ConfigError(message) => PaymentError::Rejected(message),
    }
}

/// Whether Stripe answered 404 `resource_missing`: the object asked for does not exist.
pub(super) fn is_missing_resource(error: &StripeError) -> bool {
    matches!(
        error,
        StripeError::Stripe(api, 404) if api.code == Some(ApiErrorsCode::ResourceMissing)
    )
}

/// Whether Stripe refused a meter event because one with its identifier exists. Stripe gives
/// this case no error code of its own, only a 400 and this message.
pub(super) fn is_duplicate_meter_event(error: &StripeError) -> bool {
    matches!(
        error,
        StripeError::Stripe(api, 400)
            if api.message.as_deref().is_some_and(|m| m.contains(DUPLICATE_METER_EVENT))
    )
}
