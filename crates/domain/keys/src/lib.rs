//! API-key domain of Tollgate: every user and organisation gets keys of its own, per environment,
//! revocable and rotatable one by one.
//!
//! A key looks like `tg_prod_<32 base62 characters><6 base62 checksum characters>`: the checksum
//! (CRC32 of everything before it) rejects a mistyped key without a storage look-up and lets
//! secret scanners recognise our keys. Only an HMAC-SHA256 of the key under a server-side pepper
//! is stored. See `docs/api-keys.md`.

mod errors;
mod format;
mod hashing;
mod last_used;
mod models;
pub mod ports;
mod service;

pub use errors::{CreateKeyError, KeyAuthError, ListKeysError, ManageKeyError};
pub use format::{ApiKeySecret, Environment, KeyFormatError, parse_key};
pub use hashing::{KeyHash, KeyHasher};
pub use last_used::LastUsedTracker;
pub use models::{ApiKey, ApiKeyId, ApiKeyRecord, CreatedKey, KeyEnd, KeyName, KeyNameError};
pub use service::{ApiKeyService, KeyPolicy};
