//! API-key domain of Tollgate: every user and organisation gets keys of its own, per environment,
//! revocable and rotatable one by one.
//!
//! A key looks like `tg_prod_<32 base62 characters><6 base62 checksum characters>`: the checksum
//! (CRC32 of everything before it) rejects a mistyped key without a storage look-up and lets
//! secret scanners recognise our keys. Only an HMAC-SHA256 of the key under a server-side pepper
//! is stored. See `docs/api-keys.md`.
//!
//! - [`ApiKeyService`]: creates keys (within the organisation's cap), lists, revokes, rotates
//!   them with a grace period, and authenticates a presented key into a
//!   [`Principal`](tollgate_identity::Principal).
//! - [`ApiKeySecret`], [`parse_key`]: the key format and its checksum, plain functions.
//! - [`KeyHasher`]: the peppered HMAC-SHA256 that storage keeps and looks up.
//! - [`LastUsedTracker`]: batches `last_used_at` writes.
//!
//! # Ports
//!
//! - [`ports::ApiKeyRepository`]: keys, stored by hash.
//! - [`ports::MembershipDirectory`]: who belongs to which organisation, in which role.
//! - [`Clock`](tollgate_kernel::Clock), from the kernel.
//!
//! With the `mocks` feature each port has a `mockall` double (`ports::MockApiKeyRepository`, …).
//!
//! # Example
//!
//! ```
//! use tollgate_keys::{ApiKeySecret, Environment, KeyFormatError, KeyHasher, parse_key};
//!
//! let secret = ApiKeySecret::generate(Environment::Production);
//! let key = secret.expose();
//! assert!(key.starts_with("tg_prod_") && key.starts_with(&secret.display_prefix()));
//! assert_eq!(parse_key(key), Ok(Environment::Production));
//!
//! // A mistyped character fails the checksum before any look-up.
//! let mut typo = key.as_bytes().to_vec();
//! typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
//! let typo = String::from_utf8(typo)?;
//! assert_eq!(parse_key(&typo), Err(KeyFormatError::BadChecksum));
//! assert_eq!(parse_key("sk-someone-else"), Err(KeyFormatError::NotAKey));
//!
//! // Storage keeps only the peppered hash, found again from the presented key.
//! let hasher = KeyHasher::new(b"the server's pepper");
//! let stored = hasher.hash(key);
//! assert!(hasher.hash(key).matches(&stored));
//! assert!(!hasher.hash(&typo).matches(&stored));
//! # Ok::<(), std::string::FromUtf8Error>(())
//! ```

#![warn(missing_docs)]

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
