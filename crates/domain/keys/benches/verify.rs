//! The API-key verification path without I/O: parse + checksum, peppered hash, and a full
//! `authenticate` against an in-memory repository (what a cache hit costs).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use tollgate_identity::{OrganizationRole, Role, StoreError};
use tollgate_kernel::{OrganizationId, SystemClock, UserId};
use tollgate_keys::ports::{ApiKeyRepository, InsertKeyError, MembershipDirectory};
use tollgate_keys::{
    ApiKey, ApiKeyId, ApiKeyRecord, ApiKeySecret, ApiKeyService, Environment, KeyEnd, KeyHash,
    KeyHasher, KeyName, KeyPolicy, LastUsedTracker, parse_key,
};

struct InMemory(HashMap<String, ApiKeyRecord>);

impl ApiKeyRepository for InMemory {
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
        Ok(self.0.get(hash.as_str()).cloned())
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

fn bench(c: &mut Criterion) {
    let hasher = KeyHasher::new(b"a server-side pepper of reasonable length");
    let secret = ApiKeySecret::generate(Environment::Production);
    let key = ApiKey {
        id: ApiKeyId::new(),
        organization_id: OrganizationId::new(),
        created_by: UserId::new(),
        name: KeyName::parse("bench").unwrap(),
        environment: Environment::Production,
        prefix: secret.display_prefix(),
        created_at: Utc::now(),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    };
    let hash = hasher.hash(secret.expose());
    let record = ApiKeyRecord {
        key,
        hash: hash.clone(),
        creator_role: Role::User,
        organization_suspended: false,
    };
    let repository = InMemory(HashMap::from([(hash.as_str().to_owned(), record)]));
    let tracker = Arc::new(LastUsedTracker::new(Duration::minutes(1)));
    let service = ApiKeyService::new(
        repository,
        NoMembers,
        SystemClock,
        hasher.clone(),
        tracker,
        KeyPolicy::default(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    c.bench_function("parse_and_checksum", |b| {
        b.iter(|| parse_key(std::hint::black_box(secret.expose())))
    });
    c.bench_function("hmac_sha256_hash", |b| {
        b.iter(|| hasher.hash(std::hint::black_box(secret.expose())))
    });
    c.bench_function("authenticate_cache_hit", |b| {
        b.iter(|| {
            runtime
                .block_on(service.authenticate(std::hint::black_box(secret.expose())))
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
