//! A streamed call's relay: forwards the provider's chunks to the client as server-sent events
//! and charges what was produced, whether the stream ends, breaks, or the client goes away.

use futures::StreamExt as _;
use serde_json::Value;
use tokio::sync::mpsc;
use tollgate_costing::{ChunkStream, StreamEvent, TokenCounter, TokenUsage};
use tollgate_kernel::Clock;

use crate::call::MeteredCall;
use crate::gateway::StreamFrame;
use crate::ports::{CallAdmission, Settler};

/// Runs until the stream ends and the call is charged. On a normal end the call is charged
/// before `[DONE]` is forwarded, so a client that reads its usage after the stream sees it.
/// The provider accepted the prompt (it answered 200), so the input is charged even when
/// nothing was streamed.
pub(crate) async fn relay<A, S, C, T>(
    mut call: MeteredCall<A, S, C>,
    counter: std::sync::Arc<T>,
    mut upstream: ChunkStream,
    sender: mpsc::Sender<StreamFrame>,
    client_wants_usage: bool,
) where
    A: CallAdmission,
    S: Settler,
    C: Clock,
    T: TokenCounter,
{
    let mut produced = Produced::default();
    loop {
        // Watching the client as well as upstream: a client that leaves while upstream is
        // quiet is noticed at once, and dropping `upstream` stops the generation we pay for.
        let event = tokio::select! {
            event = upstream.next() => event,
            () = sender.closed() => {
                tracing::info!(request_id = %call.request_id, "client left mid-stream; charging what was produced");
                break;
            }
        };
        let frame = match event {
            Some(Ok(StreamEvent::Chunk { mut json, usage })) => {
                call.keep_alive().await;
                match produced.take(&json, usage) {
                    ChunkKind::UsageOnly if !client_wants_usage => continue,
                    _ if !client_wants_usage => {
                        // A provider that put its usage on a content chunk: as OpenAI does,
                        // the client sees usage only when it asked for it.
                        if let Some(object) = json.as_object_mut() {
                            object.remove("usage");
                        }
                        StreamFrame::Chunk(json)
                    }
                    _ => StreamFrame::Chunk(json),
                }
            }
            Some(Ok(StreamEvent::Done)) => {
                call.charge_now(produced.usage(&call, counter.as_ref()))
                    .await;
                let _ = sender.send(StreamFrame::Done).await;
                return;
            }
            Some(Err(error)) => {
                tracing::warn!(%error, request_id = %call.request_id, "upstream stream broke");
                // Tell the client in-band rather than end the stream in a way that looks
                // complete.
                let _ = sender.send(StreamFrame::Broken).await;
                break;
            }
            None => break,
        };
        if sender.send(frame).await.is_err() {
            tracing::info!(request_id = %call.request_id, "client left mid-stream; charging what was produced");
            break;
        }
    }
    drop(sender);
    call.charge_now(produced.usage(&call, counter.as_ref()))
        .await;
}

/// What a stream produced so far.
#[derive(Default)]
pub(crate) struct Produced {
    reported: Option<TokenUsage>,
    text: String,
}

pub(crate) enum ChunkKind {
    Content,
    UsageOnly,
}

impl Produced {
    pub(crate) fn take(&mut self, chunk: &Value, usage: Option<TokenUsage>) -> ChunkKind {
        if usage.is_some() {
            self.reported = usage;
        }
        for choice in chunk
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_output(choice.get("delta"), &mut self.text);
        }
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

    /// What upstream reported, or the counted input and the tokens of the streamed text.
    pub(crate) fn usage<A, S, C, T>(&self, call: &MeteredCall<A, S, C>, counter: &T) -> TokenUsage
    where
        A: CallAdmission,
        S: Settler,
        C: Clock,
        T: TokenCounter,
    {
        self.reported.unwrap_or_else(|| {
            let output = if self.text.is_empty() {
                0
            } else {
                counter.count(&call.model, &self.text)
            };
            call.fallback_usage(counter, output)
        })
    }
}

/// The text a message or delta produced, for counting when the provider reported no usage:
/// its content and its tool calls' names and arguments (a tool call is output we pay for).
pub(crate) fn collect_output(message: Option<&Value>, into: &mut String) {
    let Some(message) = message else {
        return;
    };
    if let Some(text) = message.get("content").and_then(Value::as_str) {
        into.push_str(text);
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for field in ["/function/name", "/function/arguments"] {
            if let Some(text) = call.pointer(field).and_then(Value::as_str) {
                into.push_str(text);
            }
        }
    }
}
