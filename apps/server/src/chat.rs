//! The metered chat-completion use case: rate limit, quota and budget (one admission), the
//! upstream call, then settlement of the actual cost and one usage event. A failed upstream call
//! releases the reservation and gives back the quota unit; a stream that breaks, or whose client
//! goes away, is charged for its input and what was produced (upstream accepted the prompt).

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tollgate_costing::{
    CallPrices, ChatCall, ChatRequestError, ChunkStream, CompletionProvider, PriceCatalog,
    StreamEvent, TokenCounter, TokenUsage, UpstreamError, UsageEvent, read_chat_request,
};
use tollgate_identity::Principal;
use tollgate_kernel::Micros;
use tollgate_openai::{OpenAiClient, TiktokenCounter};
use tollgate_quotas::{Action, Admission};

use crate::error::ApiError;
use crate::services::{MeteringApi, UsageApi};
use crate::settlements::Settlements;

/// Generic over the provider so that the same orchestration runs against any
/// [`CompletionProvider`]; the server uses the OpenAI adapter.
pub struct ChatGateway<P = OpenAiClient> {
    pub metering: Arc<dyn MeteringApi>,
    pub usage: Arc<dyn UsageApi>,
    pub settlements: Arc<Settlements>,
    pub provider: P,
    pub prices: Arc<PriceCatalog>,
    /// What a call is charged, per plan and action.
    pub call_prices: Arc<CallPrices>,
    /// Models this deployment serves: allowed and priced (see [`served_models`]).
    pub served_models: Vec<String>,
    pub default_max_output_tokens: u64,
    pub analysis: ActionPrompt,
    pub comparison: ActionPrompt,
}

/// The models of `prices` that `allowed` lets through (all of them when `None`), computed once
/// at start rather than on every request.
pub fn served_models(prices: &PriceCatalog, allowed: Option<&[String]>) -> Vec<String> {
    prices
        .models()
        .map(|(model, _)| model.to_owned())
        .filter(|model| allowed.is_none_or(|allowed| allowed.contains(model)))
        .collect()
}

/// The result of an analysis or comparison.
pub struct ActionReply {
    pub id: uuid::Uuid,
    pub output: String,
    pub model: String,
    pub usage: TokenUsage,
    pub cost: Micros,
    pub price: Micros,
}

/// A configured action: its prompt, default model and output cap.
#[derive(Debug, Clone)]
pub struct ActionPrompt {
    pub system_prompt: String,
    pub model: String,
    pub max_output_tokens: u64,
}

pub enum ChatReply {
    Complete {
        body: Value,
        admission: Admission,
    },
    Stream {
        events: mpsc::Receiver<Bytes>,
        admission: Admission,
    },
}

impl<P: CompletionProvider> ChatGateway<P> {
    /// Models this deployment serves: allowed and priced.
    pub fn models(&self) -> &[String] {
        &self.served_models
    }

    /// Runs a configured action (analysis or comparison) on `user_content`.
    pub async fn run_action(
        &self,
        principal: &Principal,
        action: Action,
        model: Option<String>,
        user_content: String,
        request_id: String,
    ) -> Result<ActionReply, ApiError> {
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
        let request = self.read(body)?;
        let (call, _admission) = self.admit(principal, action, &request, request_id).await?;
        let completion = match self.provider.complete(&request.body).await {
            Ok(completion) => completion,
            Err(error) => {
                call.release().await;
                return Err(upstream_problem(error));
            }
        };
        let output = completion
            .body
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let usage = completion.usage.unwrap_or_else(|| TokenUsage {
            input_tokens: request.input_tokens,
            cached_input_tokens: 0,
            output_tokens: count_reply(&request.model, &completion.body),
        });
        let (cost, price) = call.charge(usage).await;
        Ok(ActionReply {
            id: call.admission.reservation.id.as_uuid(),
            output,
            model: request.model,
            usage,
            cost,
            price,
        })
    }

    async fn admit(
        &self,
        principal: &Principal,
        action: Action,
        request: &ChatCall,
        request_id: String,
    ) -> Result<(MeteredCall, Admission), ApiError> {
        let estimate = self
            .prices
            .worst_case(
                &request.model,
                request.input_tokens,
                request.max_output_tokens,
            )
            .map_err(|e| {
                ApiError::validation(e.to_string()).with_param(Some("model".to_owned()))
            })?;
        let admission = self
            .metering
            .admit(principal.organization_id, action, estimate)
            .await?;
        let call = MeteredCall {
            metering: self.metering.clone(),
            usage: self.usage.clone(),
            settlements: self.settlements.clone(),
            prices: self.prices.clone(),
            call_prices: self.call_prices.clone(),
            principal: principal.clone(),
            admission: admission.clone(),
            action,
            model: request.model.clone(),
            input_tokens: request.input_tokens,
            request_id,
        };
        Ok((call, admission))
    }

    pub async fn complete(
        &self,
        principal: &Principal,
        body: Value,
        request_id: String,
    ) -> Result<ChatReply, ApiError> {
        let request = self.read(body)?;
        let (call, admission) = self
            .admit(principal, Action::Chat, &request, request_id)
            .await?;
        if !request.stream {
            return match self.provider.complete(&request.body).await {
                Ok(completion) => {
                    let usage = completion.usage.unwrap_or_else(|| TokenUsage {
                        input_tokens: request.input_tokens,
                        cached_input_tokens: 0,
                        output_tokens: count_reply(&request.model, &completion.body),
                    });
                    call.charge(usage).await;
                    Ok(ChatReply::Complete {
                        body: completion.body,
                        admission,
                    })
                }
                Err(error) => {
                    call.release().await;
                    Err(upstream_problem(error))
                }
            };
        }
        let upstream = match self.provider.stream(&request.body).await {
            Ok(upstream) => upstream,
            Err(error) => {
                call.release().await;
                return Err(upstream_problem(error));
            }
        };
        let (sender, events) = mpsc::channel(32);
        tokio::spawn(call.relay(upstream, sender, request.client_wants_usage));
        Ok(ChatReply::Stream { events, admission })
    }

    fn read(&self, body: Value) -> Result<ChatCall, ApiError> {
        let shape = BodyShape::of(&body);
        read_chat_request(
            body,
            |model| self.served_models.iter().any(|m| m == model),
            &TiktokenCounter,
            self.default_max_output_tokens,
        )
        .map_err(|error| shape.problem(&error))
    }
}

/// Which fields a chat request has, noted before it is read, so that a refusal can say whether
/// a field is missing or has the wrong type.
struct BodyShape {
    has_model: bool,
    has_messages: bool,
    output_cap_field: &'static str,
}

impl BodyShape {
    fn of(body: &Value) -> Self {
        let present = |field: &str| body.get(field).is_some_and(|v| !v.is_null());
        Self {
            has_model: present("model"),
            has_messages: present("messages"),
            output_cap_field: if present("max_completion_tokens") {
                "max_completion_tokens"
            } else {
                "max_tokens"
            },
        }
    }

    /// A well-formed request with an invalid field: 422 `validation` naming the field (the
    /// OpenAI-compatible route makes it a 400).
    fn problem(&self, error: &ChatRequestError) -> ApiError {
        let field_error = |field: &str, detail: String| {
            ApiError::validation(detail).with_param(Some(field.to_owned()))
        };
        match error {
            ChatRequestError::NotAnObject => {
                ApiError::validation("request body: expected a JSON object")
            }
            ChatRequestError::ModelRequired if self.has_model => {
                field_error("model", "field \"model\": expected a string".to_owned())
            }
            ChatRequestError::ModelRequired => {
                field_error("model", "missing field \"model\"".to_owned())
            }
            ChatRequestError::ModelNotServed(model) => field_error(
                "model",
                format!("field \"model\": {model:?} is not available on this deployment"),
            ),
            ChatRequestError::MessagesRequired if self.has_messages => field_error(
                "messages",
                "field \"messages\": expected a non-empty array".to_owned(),
            ),
            ChatRequestError::MessagesRequired => {
                field_error("messages", "missing field \"messages\"".to_owned())
            }
            ChatRequestError::InvalidOutputCap => field_error(
                self.output_cap_field,
                format!(
                    "field \"{}\": expected a positive integer",
                    self.output_cap_field
                ),
            ),
        }
    }
}

/// One admitted call, until it is settled or released.
struct MeteredCall {
    metering: Arc<dyn MeteringApi>,
    usage: Arc<dyn UsageApi>,
    settlements: Arc<Settlements>,
    prices: Arc<PriceCatalog>,
    call_prices: Arc<CallPrices>,
    principal: Principal,
    admission: Admission,
    action: Action,
    model: String,
    input_tokens: u64,
    request_id: String,
}

impl MeteredCall {
    /// The call's usage event: what it cost us and what it is charged. A call that cannot be
    /// priced (its model's price vanished, an overflow) is charged its reserved worst case:
    /// never less than it may have cost.
    fn event(&self, usage: TokenUsage) -> UsageEvent {
        let cost = self.prices.cost(&self.model, usage).unwrap_or_else(|error| {
            tracing::error!(%error, request_id = %self.request_id, "could not price a call; charging its reserved worst case");
            self.admission.reservation.estimate
        });
        UsageEvent {
            id: self.admission.reservation.id.as_uuid(),
            organization: self.principal.organization_id,
            user: self.principal.user_id,
            key: self.principal.key_id,
            action: self.action.as_str().to_owned(),
            model: self.model.clone(),
            usage,
            cost,
            price: self
                .call_prices
                .price(&self.admission.plan.id, self.action.as_str(), cost),
            request_id: self.request_id.clone(),
            at: Utc::now(),
        }
    }

    /// Charges the call, before or just after the response (see `settlements.rs`); returns
    /// cost and price.
    async fn charge(&self, usage: TokenUsage) -> (Micros, Micros) {
        let event = self.event(usage);
        let charged = (event.cost, event.price);
        self.settlements.settle(event).await;
        charged
    }

    async fn release(&self) {
        if let Err(error) = self.metering.release(&self.admission.reservation).await {
            tracing::warn!(%error, "could not release a reservation; the sweeper will");
        }
    }

    /// Forwards upstream chunks to the client as SSE and charges what was produced, whether the
    /// stream ends, breaks, or the client goes away. On a normal end the call is settled before
    /// `[DONE]` is forwarded, so a client that reads its usage after the stream sees this call.
    async fn relay(
        self,
        mut upstream: ChunkStream,
        sender: mpsc::Sender<Bytes>,
        client_wants_usage: bool,
    ) {
        let mut produced = Produced::default();
        loop {
            // Watching the client as well as upstream: a client that leaves while upstream is
            // quiet is noticed at once, and dropping `upstream` stops the generation we pay for.
            let event = tokio::select! {
                event = upstream.next() => event,
                () = sender.closed() => {
                    tracing::info!(request_id = %self.request_id, "client left mid-stream; charging what was produced");
                    break;
                }
            };
            let frame = match event {
                Some(Ok(StreamEvent::Chunk { json, usage })) => match produced.take(&json, usage) {
                    ChunkKind::UsageOnly if !client_wants_usage => continue,
                    _ => Bytes::from(format!("data: {json}\n\n")),
                },
                Some(Ok(StreamEvent::Done)) => {
                    self.finish(&produced).await;
                    let _ = sender.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
                    return;
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, request_id = %self.request_id, "upstream stream broke");
                    // Tell the client in-band, as OpenAI does, rather than ending the stream
                    // in a way that looks complete.
                    let notice = json!({"error": {
                        "message": "the AI provider's stream broke before it finished",
                        "type": "upstream_error",
                        "code": "upstream_error",
                    }});
                    let _ = sender
                        .send(Bytes::from(format!("data: {notice}\n\n")))
                        .await;
                    break;
                }
                None => break,
            };
            if sender.send(frame).await.is_err() {
                tracing::info!(request_id = %self.request_id, "client left mid-stream; charging what was produced");
                break;
            }
        }
        drop(sender);
        self.finish(&produced).await;
    }

    /// Settles a streamed call on what upstream reported, or on the counted input and the
    /// tokens counted in what was streamed when it reported nothing. Upstream accepted the
    /// prompt (it answered 200), so the input is charged even when nothing was streamed.
    async fn finish(&self, produced: &Produced) {
        let usage = produced.reported.unwrap_or_else(|| TokenUsage {
            input_tokens: self.input_tokens,
            cached_input_tokens: 0,
            output_tokens: if produced.text.is_empty() {
                0
            } else {
                TiktokenCounter.count(&self.model, &produced.text)
            },
        });
        let event = self.event(usage);
        if let Err(error) = self.usage.settle_and_record(event.clone()).await {
            // The client has its tokens: keep trying in the background rather than lose the
            // charge.
            tracing::warn!(%error, request_id = %self.request_id, "settling a streamed call failed; retrying in the background");
            self.settlements.submit(event);
        }
    }
}

/// What a stream produced so far.
#[derive(Default)]
struct Produced {
    reported: Option<TokenUsage>,
    text: String,
}

enum ChunkKind {
    Content,
    UsageOnly,
}

impl Produced {
    fn take(&mut self, chunk: &Value, usage: Option<TokenUsage>) -> ChunkKind {
        if usage.is_some() {
            self.reported = usage;
        }
        collect_delta(chunk, &mut self.text);
        let usage_only = chunk
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty);
        if usage_only {
            ChunkKind::UsageOnly
        } else {
            ChunkKind::Content
        }
    }
}

fn collect_delta(chunk: &Value, into: &mut String) {
    for choice in chunk
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str) {
            into.push_str(text);
        }
    }
}

fn count_reply(model: &str, body: &Value) -> u64 {
    let text: String = body
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.pointer("/message/content").and_then(Value::as_str))
        .collect();
    TiktokenCounter.count(model, &text)
}

fn upstream_problem(error: UpstreamError) -> ApiError {
    use axum::http::StatusCode;
    match error {
        UpstreamError::Timeout => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_error",
            error.to_string(),
        ),
        UpstreamError::RateLimited { retry_after } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_error",
            error.to_string(),
        )
        .retry_after(retry_after.map_or(1, |d| d.as_secs())),
        UpstreamError::Rejected { status, ref body } => {
            let message = body
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("rejected")
                .to_owned();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            ApiError::new(
                status,
                "upstream_error",
                format!("the AI provider rejected the request: {message}"),
            )
        }
        UpstreamError::Unavailable(_)
        | UpstreamError::Misconfigured { .. }
        | UpstreamError::Protocol(_) => {
            tracing::error!(%error, "AI provider failure");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "the AI provider failed to answer",
            )
        }
    }
}
