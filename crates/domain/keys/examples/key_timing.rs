//! Times API-key verification per kind of presented key, to see whether a wrong key's timing
//! tells anything about the stored keys.
//!
//! `cargo run --release -p tollgate-keys --example key_timing [N]` (N per class, default 20 000).
//!
//! Every sample is one `ApiKeyService::authenticate`, the call the server makes for
//! `Authorization: Bearer tg_…`, over an in-memory repository: a `BTreeMap` keyed by the hex
//! HMAC (an ordered index, compared byte by byte as a database index is), optionally behind a
//! cache of hits and misses keyed by the same hex (what `apps/server/src/key_cache.rs` does with
//! moka). Classes, interleaved in a random order:
//!
//! - `valid`: a stored key;
//! - `wrong-secret`: a stored key with its last secret character changed and the checksum
//!   recomputed (well-formed, same visible prefix as the stored key, 31 of 32 secret characters
//!   equal) — the closest this format has to "a wrong secret for an existing key id": a key
//!   carries no id, it is found by the HMAC of the whole key;
//! - `unknown`: a fresh random well-formed key;
//! - `mistyped`: a stored key with its last character changed (fails the checksum before any
//!   hash or look-up; shown for reference).
//!
//! Two modes: `cold` (no cache: every look-up reaches the index; each wrong key is presented
//! once) and `warm` (the cache holds every presented key, hit or miss, as the server's does
//! for a key presented again within its TTL).
//!
//! Printed: median, p90 and p99 per class in nanoseconds, and the two-sample
//! Kolmogorov–Smirnov distance D between classes with its 5 % critical value.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use chrono::{Duration, Utc};
use crc::{CRC_32_ISO_HDLC, Crc};
use tollgate_identity::{OrganizationRole, Role, StoreError};
use tollgate_kernel::{OrganizationId, SystemClock, UserId};
use tollgate_keys::ports::{ApiKeyRepository, InsertKeyError, MembershipDirectory};
use tollgate_keys::{
    ApiKey, ApiKeyId, ApiKeyRecord, ApiKeySecret, ApiKeyService, Environment, KeyAuthError, KeyEnd,
    KeyHash, KeyHasher, KeyName, KeyPolicy, LastUsedTracker, parse_key,
};

/// Stored keys.
const STORED: usize = 1_000;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// The key store: an ordered index by hex hash, and optionally a cache of hits and misses.
struct Store {
    index: BTreeMap<String, ApiKeyRecord>,
    cache: Option<RwLock<HashMap<String, Option<ApiKeyRecord>>>>,
}

impl ApiKeyRepository for Store {
    async fn insert_within_cap(
        &self,
        _: ApiKey,
        _: KeyHash,
        _: u32,
        _: chrono::DateTime<Utc>,
    ) -> Result<(), InsertKeyError> {
        Ok(())
    }

    async fn find_by_hash(&self, hash: KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        let Some(cache) = &self.cache else {
            return Ok(self.index.get(hash.as_str()).cloned());
        };
        if let Some(cached) = cache.read().unwrap().get(hash.as_str()) {
            return Ok(cached.clone());
        }
        let found = self.index.get(hash.as_str()).cloned();
        cache
            .write()
            .unwrap()
            .insert(hash.as_str().to_owned(), found.clone());
        Ok(found)
    }

    async fn list(&self, _: OrganizationId) -> Result<Vec<ApiKey>, StoreError> {
        Ok(Vec::new())
    }

    async fn find(&self, _: OrganizationId, _: ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        Ok(None)
    }

    async fn revoke(
        &self,
        _: OrganizationId,
        _: ApiKeyId,
        _: chrono::DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn rotate(
        &self,
        _: ApiKeyId,
        _: KeyEnd,
        _: ApiKey,
        _: KeyHash,
        _: chrono::DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn rewrite_hash(&self, _: ApiKeyId, _: KeyHash, _: KeyHash) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn record_last_used(
        &self,
        _: Vec<(ApiKeyId, chrono::DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

struct NoMembers;

impl MembershipDirectory for NoMembers {
    async fn role_in(
        &self,
        _: OrganizationId,
        _: UserId,
    ) -> Result<Option<OrganizationRole>, StoreError> {
        Ok(None)
    }
}

/// xorshift64*, seeded from the OS: enough to shuffle and pick.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).expect("OS random source");
        Self(u64::from_le_bytes(seed) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The key format's checksum (CRC-32 of everything before it, six base62 characters), as
/// `tollgate_keys::format` computes it.
fn checksum(body: &str) -> String {
    let mut value = CRC32.checksum(body.as_bytes());
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

/// `key` with its last secret character changed and a valid checksum.
fn wrong_secret(key: &str) -> String {
    let body = &key[..key.len() - 6];
    let (head, last) = body.split_at(body.len() - 1);
    let changed = if last == "a" { "b" } else { "a" };
    let body = format!("{head}{changed}");
    let checksum = checksum(&body);
    let wrong = format!("{body}{checksum}");
    assert!(parse_key(&wrong).is_ok(), "the checksum is the format's");
    wrong
}

/// `key` with its last (checksum) character changed.
fn mistyped(key: &str) -> String {
    let (head, last) = key.split_at(key.len() - 1);
    format!("{head}{}", if last == "a" { "b" } else { "a" })
}

/// Polls a future that never waits (the in-memory store answers at once).
fn now_or_never<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the in-memory store never waits"),
    }
}

const CLASSES: [&str; 4] = ["valid", "wrong-secret", "unknown", "mistyped"];

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

/// Two-sample Kolmogorov–Smirnov statistic of two sorted samples.
fn ks_distance(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut d) = (0, 0, 0.0_f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] == x {
            i += 1;
        }
        while j < b.len() && b[j] == x {
            j += 1;
        }
        let gap = (i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs();
        d = d.max(gap);
    }
    d
}

fn ks_critical(n: usize, m: usize) -> f64 {
    1.358 * ((n + m) as f64 / (n * m) as f64).sqrt()
}

fn run(mode: &str, cached: bool, n: usize, rng: &mut Rng) {
    let hasher = KeyHasher::new(b"a server-side pepper of reasonable length");
    let now = Utc::now();
    let secrets: Vec<ApiKeySecret> = (0..STORED)
        .map(|_| ApiKeySecret::generate(Environment::Production))
        .collect();
    let index: BTreeMap<String, ApiKeyRecord> = secrets
        .iter()
        .map(|secret| {
            let hash = hasher.hash(secret.expose());
            let record = ApiKeyRecord {
                key: ApiKey {
                    id: ApiKeyId::new(),
                    organization_id: OrganizationId::new(),
                    created_by: UserId::new(),
                    name: KeyName::parse("timing").unwrap(),
                    environment: Environment::Production,
                    prefix: secret.display_prefix(),
                    created_at: now,
                    expires_at: None,
                    revoked_at: None,
                    last_used_at: None,
                },
                hash: hash.clone(),
                creator_role: Role::User,
                organization_suspended: false,
            };
            (hash.as_str().to_owned(), record)
        })
        .collect();
    let store = Store {
        index,
        cache: cached.then(|| RwLock::new(HashMap::new())),
    };
    let service = ApiKeyService::new(
        store,
        NoMembers,
        SystemClock,
        hasher,
        Arc::new(LastUsedTracker::new(Duration::minutes(1))),
        KeyPolicy::default(),
    );

    let stored: Vec<String> = secrets.iter().map(|s| s.expose().to_owned()).collect();
    // Warm: a pool per class, each presented once before timing so that the cache holds it.
    // Cold: every wrong key is new.
    let pick = |rng: &mut Rng| stored[rng.below(STORED)].clone();
    let mut samples: Vec<(usize, String)> = Vec::with_capacity(4 * n);
    if cached {
        let wrong_pool: Vec<String> = stored.iter().map(|k| wrong_secret(k)).collect();
        let unknown_pool: Vec<String> = (0..STORED)
            .map(|_| {
                ApiKeySecret::generate(Environment::Production)
                    .expose()
                    .to_owned()
            })
            .collect();
        let mistyped_pool: Vec<String> = stored.iter().map(|k| mistyped(k)).collect();
        for key in stored
            .iter()
            .chain(&wrong_pool)
            .chain(&unknown_pool)
            .chain(&mistyped_pool)
        {
            let _ = now_or_never(service.authenticate(key));
        }
        for _ in 0..n {
            samples.push((0, pick(rng)));
            samples.push((1, wrong_pool[rng.below(STORED)].clone()));
            samples.push((2, unknown_pool[rng.below(STORED)].clone()));
            samples.push((3, mistyped_pool[rng.below(STORED)].clone()));
        }
    } else {
        for _ in 0..n {
            samples.push((0, pick(rng)));
            samples.push((1, wrong_secret(&pick(rng))));
            samples.push((
                2,
                ApiKeySecret::generate(Environment::Production)
                    .expose()
                    .to_owned(),
            ));
            samples.push((3, mistyped(&pick(rng))));
        }
    }
    // Fisher–Yates: the classes interleaved at random.
    for i in (1..samples.len()).rev() {
        samples.swap(i, rng.below(i + 1));
    }
    // Every key copied into one contiguous buffer of equal slots, in the shuffled order, so
    // that where the allocator happened to put a class's strings (and so their cache-line
    // alignment) is no part of the measurement.
    let width = samples.iter().map(|(_, key)| key.len()).max().unwrap_or(0);
    assert!(samples.iter().all(|(_, key)| key.len() == width));
    let buffer: Vec<u8> = samples.iter().flat_map(|(_, key)| key.bytes()).collect();
    let presented: Vec<(usize, &str)> = samples
        .iter()
        .enumerate()
        .map(|(i, (class, _))| {
            let slot = &buffer[i * width..(i + 1) * width];
            (*class, std::str::from_utf8(slot).unwrap())
        })
        .collect();
    // Warm-up of the code paths (not recorded).
    for (_, key) in presented.iter().take(2_000) {
        let _ = now_or_never(service.authenticate(key));
    }

    let mut times: [Vec<u64>; 4] = Default::default();
    // The unknown class's samples again, split at random into two halves: an A/A comparison
    // that shows the distance noise alone gives.
    let mut halves: [Vec<u64>; 2] = Default::default();
    for (class, key) in &presented {
        let started = Instant::now();
        let outcome = now_or_never(service.authenticate(std::hint::black_box(key)));
        let elapsed = started.elapsed().as_nanos() as u64;
        match (*class, &outcome) {
            (0, Ok(_))
            | (1 | 2, Err(KeyAuthError::Unknown))
            | (3, Err(KeyAuthError::Malformed)) => {}
            _ => panic!("class {} gave {outcome:?}", CLASSES[*class]),
        }
        times[*class].push(elapsed);
        if *class == 2 {
            halves[(rng.next() & 1) as usize].push(elapsed);
        }
    }
    for t in halves.iter_mut() {
        t.sort_unstable();
    }
    for t in &mut times {
        t.sort_unstable();
    }

    println!("\n## {mode} ({n} samples per class, {STORED} stored keys)\n");
    println!("| class | median ns | p90 ns | p99 ns |");
    println!("|---|---:|---:|---:|");
    for (class, t) in CLASSES.iter().zip(&times) {
        println!(
            "| {class} | {} | {} | {} |",
            percentile(t, 0.5),
            percentile(t, 0.9),
            percentile(t, 0.99)
        );
    }
    let critical = ks_critical(n, n);
    println!("\n| pair | KS distance D | 5 % critical value |");
    println!("|---|---:|---:|");
    for (a, b) in [(1, 2), (0, 2), (0, 1), (3, 2)] {
        println!(
            "| {} vs {} | {:.4} | {critical:.4} |",
            CLASSES[a],
            CLASSES[b],
            ks_distance(&times[a], &times[b])
        );
    }
    println!(
        "| unknown vs unknown (A/A, random halves) | {:.4} | {:.4} |",
        ks_distance(&halves[0], &halves[1]),
        ks_critical(halves[0].len(), halves[1].len())
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(20_000, |arg| arg.parse().expect("N is a number"));
    let mut rng = Rng::new();
    run(
        "cold: no cache, every look-up reaches the index",
        false,
        n,
        &mut rng,
    );
    run(
        "warm: cache of hits and misses in front of the index",
        true,
        n,
        &mut rng,
    );
}
