//! Counts what settled calls used and cost, by model.

use tollgate_billing::Settler;
use tollgate_costing::UsageEvent;

use super::names;

/// Wraps a settler; events pass through untouched.
pub struct CountedSettler<S> {
    inner: S,
}

impl<S> CountedSettler<S> {
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

fn count(event: &UsageEvent) {
    // One shared copy of the model's name for the five series, not one allocation each.
    let model = metrics::SharedString::from_owned(event.model.clone());
    let tokens = |kind: &'static str, value: u64| {
        metrics::counter!(names::UPSTREAM_TOKENS, "model" => model.clone(), "kind" => kind)
            .increment(value);
    };
    let usage = event.usage;
    tokens("input", usage.input_tokens);
    tokens("cached_input", usage.cached_input_tokens);
    tokens("output", usage.output_tokens);
    // Costs are never negative; a negative figure would be a bug elsewhere, not a refund.
    let micros = |value: i64| u64::try_from(value).unwrap_or(0);
    metrics::counter!(names::UPSTREAM_COST, "model" => model.clone())
        .increment(micros(event.cost.get()));
    metrics::counter!(names::CHARGED, "model" => model).increment(micros(event.price.get()));
}

impl<S: Settler> Settler for CountedSettler<S> {
    async fn settle(&self, event: UsageEvent) {
        count(&event);
        self.inner.settle(event).await;
    }

    async fn settle_now(&self, event: UsageEvent) {
        count(&event);
        self.inner.settle_now(event).await;
    }
}
