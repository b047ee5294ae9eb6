use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// HMAC-SHA256 of a key under the server's pepper, hex encoded: what storage keeps and looks up
/// by equality. Without the pepper a stolen database cannot be used to test guesses.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    /// A hash read back from storage.
    pub fn from_stored(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    /// The lower-case hex digest, for storage and look-up.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison.
    pub fn matches(&self, other: &KeyHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyHash({}…)", &self.0[..self.0.len().min(8)])
    }
}

/// Computes [`KeyHash`]es under the server's pepper, and, while a pepper is being rotated, under
/// the peppers it replaced.
#[derive(Clone)]
pub struct KeyHasher {
    mac: Hmac<Sha256>,
    previous: Vec<Hmac<Sha256>>,
}

impl KeyHasher {
    /// A hasher keyed with `pepper`, the server-side secret. Another pepper gives other hashes,
    /// so changing it makes every stored key unknown, unless the old pepper is kept as a
    /// previous one ([`with_previous`](Self::with_previous)).
    pub fn new(pepper: &[u8]) -> Self {
        Self {
            mac: mac(pepper),
            previous: Vec::new(),
        }
    }

    /// The same hasher, also hashing under `peppers`, the ones a rotation replaced (tried in
    /// this order). New keys are always hashed under the current pepper.
    #[must_use]
    pub fn with_previous<'a>(mut self, peppers: impl IntoIterator<Item = &'a [u8]>) -> Self {
        self.previous.extend(peppers.into_iter().map(mac));
        self
    }

    /// The hash of a whole key under the current pepper, as presented or as generated.
    pub fn hash(&self, key: &str) -> KeyHash {
        digest(&self.mac, key)
    }

    /// The hashes of a key under each previous pepper, in order; empty when none is configured.
    pub fn previous_hashes(&self, key: &str) -> Vec<KeyHash> {
        self.previous.iter().map(|mac| digest(mac, key)).collect()
    }
}

fn mac(pepper: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(pepper).expect("HMAC accepts keys of any length")
}

fn digest(mac: &Hmac<Sha256>, key: &str) -> KeyHash {
    let mut mac = mac.clone();
    mac.update(key.as_bytes());
    KeyHash(tollgate_kernel::to_hex(&mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_hmac_sha256_under_the_pepper() {
        // RFC 4231 test case 2.
        let hasher = KeyHasher::new(b"Jefe");
        assert_eq!(
            hasher.hash("what do ya want for nothing?").as_str(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(
            KeyHasher::new(b"other").hash("k"),
            KeyHasher::new(b"Jefe").hash("k")
        );
    }

    #[test]
    fn previous_peppers_hash_as_their_own_hasher_would_and_leave_the_current_alone() {
        let rotating = KeyHasher::new(b"new").with_previous([b"old".as_slice(), b"older"]);
        assert_eq!(rotating.hash("k"), KeyHasher::new(b"new").hash("k"));
        assert_eq!(
            rotating.previous_hashes("k"),
            vec![
                KeyHasher::new(b"old").hash("k"),
                KeyHasher::new(b"older").hash("k")
            ]
        );
        assert!(KeyHasher::new(b"new").previous_hashes("k").is_empty());
    }

    #[test]
    fn matches_compares_whole_hashes() {
        let hasher = KeyHasher::new(b"pepper");
        assert!(hasher.hash("a").matches(&hasher.hash("a")));
        assert!(!hasher.hash("a").matches(&hasher.hash("b")));
        assert!(!hasher.hash("a").matches(&KeyHash::from_stored("")));
    }
}
