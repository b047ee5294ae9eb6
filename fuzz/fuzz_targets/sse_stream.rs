//! Upstream SSE bytes → stream events, through the adapter's own reader (`sse_events`, what
//! `OpenAiClient::chat_stream` runs on the response body). The input is cut into chunks three
//! ways (whole, byte by byte, and at points derived from the input): nothing may panic, and every
//! cutting must give the same events.

#![no_main]

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;
use tollgate_openai::{StreamEvent, UpstreamError, sse_events};

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
}

/// An event as compared: the chunk and its usage, the end, or the kind and text of the error
/// that ends the stream.
#[derive(Debug, PartialEq)]
enum Seen {
    Chunk(serde_json::Value, Option<(u64, u64, u64)>),
    Done,
    Error(String),
}

fn events(chunks: Vec<Bytes>) -> Vec<Seen> {
    let stream = sse_events(
        futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>)),
        Duration::from_secs(60),
    );
    RUNTIME.with(|runtime| {
        runtime.block_on(async {
            let mut seen = Vec::new();
            let mut stream = stream;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(StreamEvent::Chunk { json, usage }) => seen.push(Seen::Chunk(
                        json,
                        usage.map(|u| (u.input_tokens, u.cached_input_tokens, u.output_tokens)),
                    )),
                    Ok(StreamEvent::Done) => seen.push(Seen::Done),
                    // The consumer stops at the first error.
                    Err(error) => {
                        let kind = match &error {
                            UpstreamError::Timeout => "timeout",
                            UpstreamError::Unavailable(_) => "unavailable",
                            UpstreamError::Protocol(_) => "protocol",
                            _ => "other",
                        };
                        seen.push(Seen::Error(format!("{kind}: {error}")));
                        break;
                    }
                }
            }
            seen
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let whole = events(vec![Bytes::copy_from_slice(data)]);
    assert!(
        !whole
            .iter()
            .any(|seen| matches!(seen, Seen::Error(e) if e.starts_with("timeout")))
    );

    let bytewise = events(data.iter().map(|b| Bytes::copy_from_slice(&[*b])).collect());
    assert_eq!(whole, bytewise, "byte-by-byte chunks read differently");

    // Cuts from a small generator seeded with the input, empty chunks included.
    let mut state = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < data.len() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let length = ((state >> 33) % 7) as usize;
        let end = (start + length).min(data.len());
        chunks.push(Bytes::copy_from_slice(&data[start..end]));
        start = end;
    }
    assert_eq!(whole, events(chunks), "other chunks read differently");
});
