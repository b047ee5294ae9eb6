//! One admitted call until it is charged or released.

use std::sync::Arc;

use tollgate_costing::{Prompt, TokenCounter, TokenUsage, UsageEvent};
use tollgate_kernel::{Clock, Micros};
use tollgate_quotas::{Action, Admission};

use crate::gateway::{Caller, PricingRules};
use crate::ports::{CallAdmission, Settler};

/// An admitted call: what it reserved and everything needed to charge or release it, owned so
/// that it can outlive the request that made it (a stream's relay).
pub(crate) struct MeteredCall<A, S, C> {
    pub(crate) admission_port: Arc<A>,
    pub(crate) settler: Arc<S>,
    pub(crate) clock: Arc<C>,
    pub(crate) rules: Arc<PricingRules>,
    pub(crate) caller: Caller,
    pub(crate) admission: Admission,
    pub(crate) action: Action,
    pub(crate) model: String,
    /// The input, counted only if the provider reports no usage.
    pub(crate) prompt: Prompt,
    pub(crate) request_id: String,
    /// When the reservation was last given a new lifetime (at admission, at first).
    pub(crate) renewed_at: chrono::DateTime<chrono::Utc>,
}

impl<A: CallAdmission, S: Settler, C: Clock> MeteredCall<A, S, C> {
    /// The call's usage event: what it cost us and what it is charged. A call that cannot be
    /// priced (its model's price vanished, an overflow) is charged its reserved worst case:
    /// never less than it may have cost.
    pub(crate) fn event(&self, usage: TokenUsage) -> UsageEvent {
        let cost = self
            .rules
            .prices
            .cost(&self.model, usage)
            .unwrap_or_else(|error| {
                tracing::error!(%error, request_id = %self.request_id, "could not price a call; charging its reserved worst case");
                self.admission.reservation.estimate
            });
        UsageEvent {
            id: self.admission.reservation.id.as_uuid(),
            organization: self.caller.organization,
            user: self.caller.user,
            key: self.caller.key,
            action: self.action,
            model: self.model.clone(),
            usage,
            cost,
            price: self.rules.call_prices.price(
                self.admission.plan.id.as_str(),
                self.action.as_str(),
                cost,
            ),
            request_id: self.request_id.clone(),
            at: self.clock.now(),
        }
    }

    /// Charges the call as the host settles (before or just after the response); returns
    /// cost and price.
    pub(crate) async fn charge(&self, usage: TokenUsage) -> (Micros, Micros) {
        let event = self.event(usage);
        let charged = (event.cost, event.price);
        self.settler.settle(event).await;
        charged
    }

    /// Charges before returning when storage answers: a stream's client reads its usage right
    /// after `[DONE]`.
    pub(crate) async fn charge_now(&self, usage: TokenUsage) {
        self.settler.settle_now(self.event(usage)).await;
    }

    /// The provider produced nothing: the estimate and the quota unit go back. A release that
    /// fails leaves the reservation to the host's sweeper.
    pub(crate) async fn release(&self) {
        if let Err(error) = self
            .admission_port
            .release(&self.admission.reservation)
            .await
        {
            tracing::warn!(%error, request_id = %self.request_id, "could not release a reservation; the sweeper will");
        }
    }

    /// Keeps the reservation of a call that is still producing from expiring: renewed once a
    /// third of its lifetime has passed since the last renewal. Driven by the stream's own
    /// chunks (no timer here); the provider's idle timeout bounds the gap between two chunks,
    /// and the server checks at start that it is shorter than two thirds of the lifetime.
    pub(crate) async fn keep_alive(&mut self) {
        let lifetime = self.admission.reservation.expires_at - self.renewed_at;
        let now = self.clock.now();
        if now - self.renewed_at < lifetime / 3 {
            return;
        }
        match self
            .admission_port
            .keep_alive(&self.admission.reservation)
            .await
        {
            Ok(_) => {
                self.admission.reservation.expires_at = now + lifetime;
                self.renewed_at = now;
            }
            Err(error) => {
                tracing::warn!(%error, request_id = %self.request_id, "could not extend a running call's reservation; will retry at the next chunk");
            }
        }
    }

    /// The usage to charge when the provider reported none: the counted input and the counted
    /// output, never zero for what was produced.
    pub(crate) fn fallback_usage(
        &self,
        counter: &impl TokenCounter,
        output_tokens: u64,
    ) -> TokenUsage {
        TokenUsage {
            input_tokens: self.prompt.count(&self.model, counter),
            cached_input_tokens: 0,
            output_tokens,
        }
    }
}
