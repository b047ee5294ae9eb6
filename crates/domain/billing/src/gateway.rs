//! [`MeteredCalls`]: the metered chat completion and the configured actions built on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tollgate_costing::{
    CallPrices, ChatCall, CompletionProvider, PriceCatalog, TokenCounter, TokenUsage,
    read_chat_request,
};
use tollgate_kernel::{ApiKeyId, Clock, Micros, OrganizationId, UserId};
use tollgate_quotas::{Action, Admission, WorstCase};

use crate::call::MeteredCall;
use crate::errors::CallError;
use crate::ports::{CallAdmission, Settler};
use crate::relay::{collect_output, relay};

/// Who a call is made for and charged to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The organisation whose plan admits the call and whose budget pays for it.
    pub organization: OrganizationId,
    /// The user acting (directly or through one of the organisation's keys).
    pub user: UserId,
    /// The API key used, for per-key usage.
    pub key: Option<ApiKeyId>,
}

/// What calls cost and what they are charged, and which models are served: configuration that
/// every call reads.
#[derive(Debug, Clone)]
pub struct PricingRules {
    /// Per-model token prices.
    pub prices: PriceCatalog,
    /// Per plan and action: what a call is charged.
    pub call_prices: CallPrices,
    /// Models this deployment serves: allowed and priced.
    pub served_models: Vec<String>,
    /// Output cap for a chat request that sets none (it is also sent upstream).
    pub default_max_output_tokens: u64,
}

/// A configured action: its prompt, default model and output cap.
#[derive(Debug, Clone)]
pub struct ActionPrompt {
    /// Sent as the system message.
    pub system_prompt: String,
    /// Used when the request names no model.
    pub model: String,
    /// Reserved for and sent upstream as `max_completion_tokens`.
    pub max_output_tokens: u64,
}

/// A plain completion, charged (or being charged, as the host settles).
#[derive(Debug)]
pub struct CompletedCall {
    /// The provider's body, forwarded untouched.
    pub body: Value,
    /// The admission, for rate-limit and quota headers.
    pub admission: Admission,
}

/// One event of a relayed stream, for the host to put on its wire (the server writes each as a
/// server-sent event).
#[derive(Debug, Clone, PartialEq)]
pub enum StreamFrame {
    /// A chunk of the provider's stream, forwarded as it came (less a usage the client did not
    /// ask for).
    Chunk(Value),
    /// The provider's stream broke before it finished; no more frames follow, and no `Done`.
    Broken,
    /// The stream finished and the call is charged.
    Done,
}

/// A streamed completion: the host spawns `relay` on its runtime and forwards `frames` to the
/// client. The relay charges the call however the stream ends; dropping
/// `frames` tells it the client left.
pub struct StreamingCall {
    /// The admission, for rate-limit and quota headers.
    pub admission: Admission,
    /// The stream's frames, ending with [`StreamFrame::Done`] on success.
    pub frames: mpsc::Receiver<StreamFrame>,
    /// Must be run to completion (spawn it): it charges the call.
    pub relay: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for StreamingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingCall")
            .field("admission", &self.admission)
            .finish_non_exhaustive()
    }
}

/// What a metered chat completion answered.
#[derive(Debug)]
pub enum ChatReply {
    /// A plain completion.
    Complete(CompletedCall),
    /// A stream to relay.
    Stream(StreamingCall),
}

/// The result of an analysis or comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    /// The call's id (its reservation's).
    pub id: uuid::Uuid,
    /// The model's answer.
    pub output: String,
    /// The model used.
    pub model: String,
    /// Tokens charged.
    pub usage: TokenUsage,
    /// What the call cost us.
    pub cost: Micros,
    /// What the customer is charged.
    pub price: Micros,
}

/// A chat request's worst case: its input bounded by its bytes, or counted with the tokenizer
/// when admission asks for the exact figure.
struct ChatWorstCase<'a, T> {
    bound: Micros,
    request: &'a ChatCall,
    prices: &'a PriceCatalog,
    counter: &'a T,
}

impl<T: TokenCounter> WorstCase for ChatWorstCase<'_, T> {
    fn bound(&self) -> Micros {
        self.bound
    }

    fn exact(&self) -> Micros {
        let input = self.request.prompt.count(&self.request.model, self.counter);
        self.prices
            .worst_case(&self.request.model, input, self.request.max_output_tokens)
            .map_or(self.bound, |exact| exact.min(self.bound))
    }
}

/// A charged plain completion: the provider's body, the usage charged, and (cost, price).
struct PlainAnswer {
    body: Value,
    usage: TokenUsage,
    charged: (Micros, Micros),
}

/// Runs metered calls: reserve the worst case, call the provider, charge or release.
pub struct MeteredCalls<A, P, T, S, C> {
    admission: Arc<A>,
    provider: P,
    counter: Arc<T>,
    settler: Arc<S>,
    clock: Arc<C>,
    rules: Arc<PricingRules>,
    analysis: ActionPrompt,
    comparison: ActionPrompt,
}

impl<A, P, T, S, C> MeteredCalls<A, P, T, S, C>
where
    A: CallAdmission,
    P: CompletionProvider,
    T: TokenCounter,
    S: Settler,
    C: Clock,
{
    /// Wires the service from its ports and rules.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        admission: Arc<A>,
        provider: P,
        counter: Arc<T>,
        settler: Arc<S>,
        clock: Arc<C>,
        rules: PricingRules,
        analysis: ActionPrompt,
        comparison: ActionPrompt,
    ) -> Self {
        Self {
            admission,
            provider,
            counter,
            settler,
            clock,
            rules: Arc::new(rules),
            analysis,
            comparison,
        }
    }

    /// Models this deployment serves: allowed and priced.
    pub fn models(&self) -> &[String] {
        &self.rules.served_models
    }

    /// A metered OpenAI chat completion, plain or streamed; `body` is forwarded upstream with
    /// only the output cap added when it had none.
    ///
    /// # Errors
    /// [`CallError`]; a call refused or failed upstream is not charged.
    pub async fn complete(
        &self,
        caller: &Caller,
        body: Value,
        request_id: String,
    ) -> Result<ChatReply, CallError> {
        let mut request = self.read(body)?;
        let call = self
            .admit(caller, Action::Chat, &mut request, request_id)
            .await?;
        if !request.stream {
            let answer = self.answer_plain(&call, &request.body).await?;
            return Ok(ChatReply::Complete(CompletedCall {
                body: answer.body,
                admission: call.admission,
            }));
        }
        let upstream = match self.provider.stream(&request.body).await {
            Ok(upstream) => upstream,
            Err(error) => {
                call.release().await;
                return Err(error.into());
            }
        };
        let (sender, frames) = mpsc::channel(32);
        let admission = call.admission.clone();
        let relay = Box::pin(relay(
            call,
            self.counter.clone(),
            upstream,
            sender,
            request.client_wants_usage,
        ));
        Ok(ChatReply::Stream(StreamingCall {
            admission,
            frames,
            relay,
        }))
    }

    /// Runs a configured action (analysis or comparison) on `user_content`.
    ///
    /// # Errors
    /// [`CallError`]; a call refused or failed upstream is not charged.
    pub async fn run_action(
        &self,
        caller: &Caller,
        action: Action,
        model: Option<String>,
        user_content: String,
        request_id: String,
    ) -> Result<ActionOutcome, CallError> {
        let prompt = match action {
            Action::Comparison => &self.comparison,
            _ => &self.analysis,
        };
        let model = model.unwrap_or_else(|| prompt.model.clone());
        let body = json!({
            "model": model,
            "messages": [
                {"role": "system", "content": prompt.system_prompt},
                {"role": "user", "content": user_content},
            ],
            "max_completion_tokens": prompt.max_output_tokens,
        });
        let mut request = self.read(body)?;
        let call = self.admit(caller, action, &mut request, request_id).await?;
        let answer = self.answer_plain(&call, &request.body).await?;
        let output = answer
            .body
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let (cost, price) = answer.charged;
        Ok(ActionOutcome {
            id: call.admission.reservation.id.as_uuid(),
            output,
            model: request.model,
            usage: answer.usage,
            cost,
            price,
        })
    }

    /// A plain completion for an admitted call: charged on what the provider reported (or the
    /// counted input and output when it reported nothing), released when it gave no answer.
    async fn answer_plain(
        &self,
        call: &MeteredCall<A, S, C>,
        body: &Value,
    ) -> Result<PlainAnswer, CallError> {
        let completion = match self.provider.complete(body).await {
            Ok(completion) => completion,
            Err(error) => {
                call.release().await;
                return Err(error.into());
            }
        };
        let usage = completion.usage.unwrap_or_else(|| {
            call.fallback_usage(
                self.counter.as_ref(),
                self.count_reply(&call.model, &completion.body),
            )
        });
        let charged = call.charge(usage).await;
        Ok(PlainAnswer {
            body: completion.body,
            usage,
            charged,
        })
    }

    fn read(&self, body: Value) -> Result<ChatCall, CallError> {
        Ok(read_chat_request(
            body,
            |model| self.rules.served_models.iter().any(|m| m == model),
            self.rules.default_max_output_tokens,
        )?)
    }

    async fn admit(
        &self,
        caller: &Caller,
        action: Action,
        request: &mut ChatCall,
        request_id: String,
    ) -> Result<MeteredCall<A, S, C>, CallError> {
        let worst = ChatWorstCase {
            bound: self.rules.prices.worst_case(
                &request.model,
                request.prompt.bound,
                request.max_output_tokens,
            )?,
            request,
            prices: &self.rules.prices,
            counter: self.counter.as_ref(),
        };
        let admission = self
            .admission
            .admit(caller.organization, caller.key, action, &worst)
            .await?;
        Ok(MeteredCall {
            admission_port: self.admission.clone(),
            settler: self.settler.clone(),
            clock: self.clock.clone(),
            rules: self.rules.clone(),
            caller: caller.clone(),
            admission,
            action,
            model: request.model.clone(),
            prompt: std::mem::take(&mut request.prompt),
            request_id,
            renewed_at: self.clock.now(),
        })
    }

    /// The output tokens of a plain reply whose provider reported no usage.
    fn count_reply(&self, model: &str, body: &Value) -> u64 {
        let mut text = String::new();
        for choice in body
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_output(choice.get("message"), &mut text);
        }
        self.counter.count(model, &text)
    }
}

#[cfg(test)]
mod tests;
