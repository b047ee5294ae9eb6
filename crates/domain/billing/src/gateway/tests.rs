//! The metered call with mocked ports and a scripted provider. Prices are chosen so that every
//! charge can be computed by hand: the test model costs 1 µ$ per input token and 2 µ$ per output
//! token, and calls are priced at a 40 % margin (cost ÷ 0.6, rounded up).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use tollgate_costing::{
    CallPricing, ChunkStream, Completion, Margin, PriceSpec, StreamEvent, UpstreamError, UsageEvent,
};
use tollgate_kernel::{FixedClock, Period, StoreError};
use tollgate_quotas::{AdmitError, PlanCatalog, Reservation, ReservationId};

use super::*;
use crate::ports::{MockCallAdmission, MockSettler};

const MODEL: &str = "test-model";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn rules() -> PricingRules {
    let specs = BTreeMap::from([(
        MODEL.to_owned(),
        PriceSpec {
            input_per_million_micros: Some(1_000_000),
            cached_input_per_million_micros: Some(500_000),
            output_per_million_micros: Some(2_000_000),
        },
    )]);
    PricingRules {
        prices: PriceCatalog::from_specs(&specs).unwrap(),
        call_prices: CallPrices::new(
            CallPricing::Margin(Margin::parse_percent("40").unwrap()),
            Margin::parse_percent("2.9").unwrap(),
        ),
        served_models: vec![MODEL.to_owned()],
        default_max_output_tokens: 100,
    }
}

/// One token per character: easy to count by hand, and below the byte bound for text that is
/// not ASCII.
struct CharCounter;

impl TokenCounter for CharCounter {
    fn count(&self, _model: &str, text: &str) -> u64 {
        text.chars().count() as u64
    }
}

/// A scripted stream: the events, or a failure before the first one.
type ScriptedStream = Result<Vec<Result<StreamEvent, UpstreamError>>, UpstreamError>;

/// A provider that answers from a script and counts its calls.
#[derive(Default)]
struct Scripted {
    plain: Mutex<Option<Result<Completion, UpstreamError>>>,
    stream: Mutex<Option<ScriptedStream>>,
    /// Keep the stream open after its scripted events (a model still thinking).
    hang: bool,
    /// Moved forward by a minute before each streamed event (a slow model).
    clock: Option<Arc<FixedClock>>,
    calls: AtomicUsize,
}

impl CompletionProvider for Scripted {
    async fn complete(&self, _: &Value) -> Result<Completion, UpstreamError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.plain
            .lock()
            .unwrap()
            .take()
            .expect("a scripted answer")
    }

    async fn stream(&self, _: &Value) -> Result<ChunkStream, UpstreamError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let events = self
            .stream
            .lock()
            .unwrap()
            .take()
            .expect("a scripted stream")?;
        let clock = self.clock.clone();
        let events = futures::stream::iter(events).inspect(move |_| {
            if let Some(clock) = &clock {
                clock.advance(chrono::Duration::seconds(60));
            }
        });
        Ok(if self.hang {
            Box::pin(events.chain(futures::stream::pending()))
        } else {
            Box::pin(events)
        })
    }
}

fn admission(estimate: Micros) -> Admission {
    Admission {
        reservation: Reservation {
            id: ReservationId::new(),
            organization: caller().organization,
            action: Action::Chat,
            day: Period::utc_day(now()),
            month: Period::utc_month(now()),
            estimate,
            expires_at: now() + chrono::Duration::minutes(5),
            daily_used: 1,
            daily_limit: 50,
        },
        plan: PlanCatalog::from_specs(&BTreeMap::new())
            .unwrap()
            .get("free")
            .unwrap()
            .clone(),
        rate: None,
    }
}

fn caller() -> Caller {
    static ORGANIZATION: std::sync::OnceLock<OrganizationId> = std::sync::OnceLock::new();
    Caller {
        organization: *ORGANIZATION.get_or_init(OrganizationId::new),
        user: UserId::from_uuid(uuid::Uuid::nil()),
        key: None,
    }
}

/// Admission that admits and records the estimate it was asked for.
/// Admission that admits at the bound and records (bound, exact) of the worst case it was given.
fn admitting(estimates: Arc<Mutex<Vec<(Micros, Micros)>>>) -> MockCallAdmission {
    let mut port = MockCallAdmission::new();
    port.expect_admit().returning(move |_, _, _, worst| {
        let (bound, exact) = (worst.bound(), worst.exact());
        estimates.lock().unwrap().push((bound, exact));
        Box::pin(async move { Ok(admission(bound)) })
    });
    port
}

/// A settler that keeps what it was given.
fn recording(settled: Arc<Mutex<Vec<UsageEvent>>>) -> MockSettler {
    let mut settler = MockSettler::new();
    let now_settled = settled.clone();
    settler.expect_settle().returning(move |event| {
        settled.lock().unwrap().push(event);
        Box::pin(async {})
    });
    settler.expect_settle_now().returning(move |event| {
        now_settled.lock().unwrap().push(event);
        Box::pin(async {})
    });
    settler
}

type Service = MeteredCalls<MockCallAdmission, Shared, CharCounter, MockSettler, FixedClock>;

/// The scripted provider, shared with the test that inspects it afterwards.
struct Shared(Arc<Scripted>);

impl CompletionProvider for Shared {
    async fn complete(&self, request: &Value) -> Result<Completion, UpstreamError> {
        self.0.complete(request).await
    }

    async fn stream(&self, request: &Value) -> Result<ChunkStream, UpstreamError> {
        self.0.stream(request).await
    }
}

fn service(admission: MockCallAdmission, provider: Arc<Scripted>, settler: MockSettler) -> Service {
    service_at(
        admission,
        provider,
        settler,
        Arc::new(FixedClock::new(now())),
    )
}

fn service_at(
    admission: MockCallAdmission,
    provider: Arc<Scripted>,
    settler: MockSettler,
    clock: Arc<FixedClock>,
) -> Service {
    let prompt = ActionPrompt {
        system_prompt: "Analyse.".into(),
        model: MODEL.into(),
        max_output_tokens: 10,
    };
    MeteredCalls::new(
        Arc::new(admission),
        Shared(provider),
        Arc::new(CharCounter),
        Arc::new(settler),
        clock,
        rules(),
        prompt.clone(),
        prompt,
    )
}

/// `"hé"` as the only message: its JSON counted a token per character, plus the per-message
/// and reply overheads.
fn request(stream: bool) -> Value {
    json!({"model": MODEL, "stream": stream, "max_tokens": 20,
        "messages": [{"role": "user", "content": "hé"}]})
}

fn counted_input() -> u64 {
    let messages = json!([{"role": "user", "content": "hé"}]).to_string();
    messages.chars().count() as u64
        + tollgate_costing::PER_MESSAGE_OVERHEAD
        + tollgate_costing::REPLY_OVERHEAD
}

/// The input bound: one token per byte.
fn input_bound() -> u64 {
    let messages = json!([{"role": "user", "content": "hé"}]).to_string();
    messages.len() as u64
        + tollgate_costing::PER_MESSAGE_OVERHEAD
        + tollgate_costing::REPLY_OVERHEAD
}

fn completion(usage: Option<TokenUsage>) -> Completion {
    Completion {
        body: json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}}]}),
        usage,
    }
}

fn usage(input: u64, output: u64) -> TokenUsage {
    TokenUsage {
        input_tokens: input,
        cached_input_tokens: 0,
        output_tokens: output,
    }
}

#[tokio::test]
async fn a_refused_call_reaches_no_provider_and_charges_nothing() {
    let mut admission = MockCallAdmission::new();
    admission
        .expect_admit()
        .returning(|_, _, _, _| Box::pin(async { Err(AdmitError::OrganizationNotFound) }));
    let provider = Arc::new(Scripted::default());
    let settler = MockSettler::new(); // any settle would panic
    let result = service(admission, provider.clone(), settler)
        .complete(&caller(), request(false), "r".into())
        .await;
    assert!(matches!(
        result,
        Err(CallError::Refused(AdmitError::OrganizationNotFound))
    ));
    assert_eq!(provider.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_reservation_is_the_worst_case_of_the_input_and_output_cap_bounded_or_counted() {
    let estimates = Arc::new(Mutex::new(Vec::new()));
    let provider = Arc::new(Scripted::default());
    *provider.plain.lock().unwrap() = Some(Ok(completion(Some(usage(10, 5)))));
    let settled = Arc::new(Mutex::new(Vec::new()));
    service(
        admitting(estimates.clone()),
        provider,
        recording(settled.clone()),
    )
    .complete(&caller(), request(false), "r".into())
    .await
    .unwrap();
    // input × 1 µ$ + 20 (max_tokens) × 2 µ$; the bound counts a token per byte.
    let bound = Micros::new((input_bound() + 40) as i64);
    let exact = Micros::new((counted_input() + 40) as i64);
    assert!(exact < bound);
    assert_eq!(*estimates.lock().unwrap(), vec![(bound, exact)]);
}

#[tokio::test]
async fn a_plain_call_is_charged_the_reported_usage_rounded_up_and_priced_at_the_margin() {
    let provider = Arc::new(Scripted::default());
    *provider.plain.lock().unwrap() = Some(Ok(completion(Some(TokenUsage {
        input_tokens: 10,
        cached_input_tokens: 3,
        output_tokens: 5,
    }))));
    let settled = Arc::new(Mutex::new(Vec::new()));
    let reply = service(
        admitting(Arc::default()),
        provider,
        recording(settled.clone()),
    )
    .complete(&caller(), request(false), "req-1".into())
    .await
    .unwrap();
    assert!(matches!(reply, ChatReply::Complete(_)));
    let events = settled.lock().unwrap();
    assert_eq!(events.len(), 1);
    // 7 uncached × 1 + 3 cached × 0.5 + 5 × 2 = 7 + 1.5 + 10 = 18.5 µ$ → 19 (never under).
    assert_eq!(events[0].cost, Micros::new(19));
    // 19 ÷ 0.6 = 31.67 → 32.
    assert_eq!(events[0].price, Micros::new(32));
    assert_eq!(events[0].request_id, "req-1");
    assert_eq!(events[0].at, now());
    assert_eq!(events[0].action, Action::Chat);
}

#[tokio::test]
async fn a_provider_without_usage_is_charged_counted_input_and_output_never_zero() {
    let provider = Arc::new(Scripted::default());
    *provider.plain.lock().unwrap() = Some(Ok(completion(None)));
    let settled = Arc::new(Mutex::new(Vec::new()));
    service(
        admitting(Arc::default()),
        provider,
        recording(settled.clone()),
    )
    .complete(&caller(), request(false), "r".into())
    .await
    .unwrap();
    let events = settled.lock().unwrap();
    // "Hello" is 5 counted output tokens.
    assert_eq!(events[0].usage, usage(counted_input(), 5));
    assert_eq!(events[0].cost, Micros::new((counted_input() + 10) as i64));
}

#[tokio::test]
async fn an_upstream_failure_before_any_byte_releases_and_charges_nothing() {
    for stream in [false, true] {
        let provider = Arc::new(Scripted::default());
        if stream {
            *provider.stream.lock().unwrap() = Some(Err(UpstreamError::Timeout));
        } else {
            *provider.plain.lock().unwrap() = Some(Err(UpstreamError::Timeout));
        }
        let mut admission = admitting(Arc::default());
        admission
            .expect_release()
            .times(1)
            .returning(|_| Box::pin(async { Ok(true) }));
        let result = service(admission, provider, MockSettler::new())
            .complete(&caller(), request(stream), "r".into())
            .await;
        assert!(matches!(
            result,
            Err(CallError::Upstream(UpstreamError::Timeout))
        ));
    }
}

#[tokio::test]
async fn a_model_that_is_not_served_is_refused_before_admission() {
    let result = service(
        MockCallAdmission::new(),
        Arc::new(Scripted::default()),
        MockSettler::new(),
    )
    .complete(
        &caller(),
        json!({"model": "gpt-unknown", "messages": [{"role": "user", "content": "hi"}]}),
        "r".into(),
    )
    .await;
    assert!(matches!(result, Err(CallError::InvalidRequest(_))));
}

fn chunk(text: &str) -> Result<StreamEvent, UpstreamError> {
    Ok(StreamEvent::Chunk {
        json: json!({"choices": [{"index": 0, "delta": {"content": text}}]}),
        usage: None,
    })
}

async fn streamed(
    events: Vec<Result<StreamEvent, UpstreamError>>,
    hang: bool,
    read_frames: usize,
) -> (Vec<StreamFrame>, Vec<UsageEvent>) {
    let provider = Arc::new(Scripted {
        hang,
        ..Scripted::default()
    });
    *provider.stream.lock().unwrap() = Some(Ok(events));
    let settled = Arc::new(Mutex::new(Vec::new()));
    let reply = service(
        admitting(Arc::default()),
        provider,
        recording(settled.clone()),
    )
    .complete(&caller(), request(true), "r".into())
    .await
    .unwrap();
    let ChatReply::Stream(mut call) = reply else {
        panic!("expected a stream");
    };
    let relay = tokio::spawn(call.relay);
    let mut frames = Vec::new();
    while frames.len() < read_frames {
        match call.frames.recv().await {
            Some(frame) => frames.push(frame),
            None => break,
        }
    }
    // The client leaves (or has read everything).
    drop(call.frames);
    tokio::time::timeout(std::time::Duration::from_secs(5), relay)
        .await
        .expect("the relay ends once the client is gone")
        .unwrap();
    let events = settled.lock().unwrap().clone();
    (frames, events)
}

#[tokio::test]
async fn a_finished_stream_is_charged_before_done_is_sent() {
    let (frames, events) = streamed(
        vec![
            chunk("Hel"),
            chunk("lo"),
            Ok(StreamEvent::Chunk {
                json: json!({"choices": []}),
                usage: Some(usage(12, 4)),
            }),
            Ok(StreamEvent::Done),
        ],
        false,
        usize::MAX,
    )
    .await;
    // The usage-only chunk is not forwarded: the client did not ask for it.
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert_eq!(frames.last().unwrap(), &StreamFrame::Done);
    assert_eq!(events.len(), 1);
    // 12 × 1 + 4 × 2 = 20 µ$, as reported by the provider.
    assert_eq!(events[0].cost, Micros::new(20));
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_charged_for_what_was_produced() {
    let (frames, events) = streamed(vec![chunk("Hel"), chunk("lo")], true, 2).await;
    assert_eq!(frames.len(), 2);
    assert_eq!(events.len(), 1);
    // Counted input, and "Hello" = 5 output tokens × 2 µ$.
    assert_eq!(events[0].usage, usage(counted_input(), 5));
    assert_eq!(events[0].cost, Micros::new((counted_input() + 10) as i64));
}

#[tokio::test]
async fn a_stream_left_before_its_first_chunk_is_charged_its_input() {
    let (frames, events) = streamed(vec![], true, 0).await;
    assert!(frames.is_empty());
    assert_eq!(
        events.len(),
        1,
        "the provider accepted the prompt: input is charged"
    );
    assert_eq!(events[0].usage, usage(counted_input(), 0));
}

#[tokio::test]
async fn a_stream_that_breaks_is_charged_and_says_so_in_band() {
    let (frames, events) = streamed(
        vec![chunk("Hi"), Err(UpstreamError::Unavailable("cut".into()))],
        false,
        usize::MAX,
    )
    .await;
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1], StreamFrame::Broken);
    assert!(!frames.contains(&StreamFrame::Done));
    assert_eq!(events[0].usage, usage(counted_input(), 2));
}

#[tokio::test]
async fn a_release_that_fails_is_left_to_the_sweeper_and_the_error_is_the_upstreams() {
    let provider = Arc::new(Scripted::default());
    *provider.plain.lock().unwrap() = Some(Err(UpstreamError::Unavailable("down".into())));
    let mut admission = admitting(Arc::default());
    admission
        .expect_release()
        .times(1)
        .returning(|_| Box::pin(async { Err(StoreError::unavailable("database down")) }));
    let result = service(admission, provider, MockSettler::new())
        .complete(&caller(), request(false), "r".into())
        .await;
    assert!(matches!(result, Err(CallError::Upstream(_))));
}

#[tokio::test]
async fn an_action_sends_its_prompt_and_reports_cost_and_price() {
    let provider = Arc::new(Scripted::default());
    *provider.plain.lock().unwrap() = Some(Ok(completion(Some(usage(100, 10)))));
    let settled = Arc::new(Mutex::new(Vec::new()));
    let outcome = service(
        admitting(Arc::default()),
        provider,
        recording(settled.clone()),
    )
    .run_action(&caller(), Action::Analysis, None, "text".into(), "r".into())
    .await
    .unwrap();
    assert_eq!(outcome.output, "Hello");
    assert_eq!(outcome.model, MODEL);
    // 100 × 1 + 10 × 2 = 120 µ$; 120 ÷ 0.6 = 200.
    assert_eq!(outcome.cost, Micros::new(120));
    assert_eq!(outcome.price, Micros::new(200));
    assert_eq!(settled.lock().unwrap()[0].action, Action::Analysis);
}

#[tokio::test]
async fn tool_calls_count_as_output_when_the_provider_reports_no_usage() {
    let provider = Arc::new(Scripted::default());
    *provider.plain.lock().unwrap() = Some(Ok(Completion {
        body: json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "t", "type": "function",
                "function": {"name": "look", "arguments": "{\"q\":1}"}}]}}]}),
        usage: None,
    }));
    let settled = Arc::new(Mutex::new(Vec::new()));
    service(
        admitting(Arc::default()),
        provider,
        recording(settled.clone()),
    )
    .complete(&caller(), request(false), "r".into())
    .await
    .unwrap();
    // "look" + "{\"q\":1}" = 4 + 7 = 11 counted output tokens, not 0.
    assert_eq!(settled.lock().unwrap()[0].usage, usage(counted_input(), 11));
}

#[tokio::test]
async fn usage_on_a_content_chunk_reaches_only_a_client_that_asked_for_it() {
    let (frames, events) = streamed(
        vec![
            Ok(StreamEvent::Chunk {
                json: json!({"choices": [{"index": 0, "delta": {"content": "Hi"}}],
                    "usage": {"prompt_tokens": 12, "completion_tokens": 4}}),
                usage: Some(usage(12, 4)),
            }),
            Ok(StreamEvent::Done),
        ],
        false,
        usize::MAX,
    )
    .await;
    let StreamFrame::Chunk(first) = &frames[0] else {
        panic!("a chunk first: {frames:?}");
    };
    assert!(first.get("usage").is_none(), "{frames:?}");
    assert_eq!(events[0].usage, usage(12, 4));
}

#[tokio::test]
async fn a_long_stream_keeps_its_reservation_alive_from_its_own_chunks() {
    let clock = Arc::new(FixedClock::new(now()));
    let provider = Arc::new(Scripted {
        clock: Some(clock.clone()),
        ..Scripted::default()
    });
    // A chunk a minute for four minutes; the reservation lives five.
    *provider.stream.lock().unwrap() = Some(Ok(vec![
        chunk("a"),
        chunk("b"),
        chunk("c"),
        chunk("d"),
        Ok(StreamEvent::Done),
    ]));
    let renewals = Arc::new(Mutex::new(Vec::new()));
    let mut admission = admitting(Arc::default());
    let seen = renewals.clone();
    let at = clock.clone();
    admission.expect_keep_alive().returning(move |_| {
        seen.lock().unwrap().push(at.now());
        Box::pin(async { Ok(true) })
    });
    let settled = Arc::new(Mutex::new(Vec::new()));
    let reply = service_at(admission, provider, recording(settled.clone()), clock)
        .complete(&caller(), request(true), "r".into())
        .await
        .unwrap();
    let ChatReply::Stream(mut call) = reply else {
        panic!("expected a stream");
    };
    let relay = tokio::spawn(call.relay);
    while call.frames.recv().await.is_some() {}
    relay.await.unwrap();
    // Renewed once a third of the lifetime (100 s) has passed since the last renewal: at the
    // chunks of minute 2 and minute 4, not at every chunk.
    let minutes: Vec<i64> = renewals
        .lock()
        .unwrap()
        .iter()
        .map(|at| (*at - now()).num_minutes())
        .collect();
    assert_eq!(minutes, vec![2, 4]);
    assert_eq!(settled.lock().unwrap().len(), 1);
}
