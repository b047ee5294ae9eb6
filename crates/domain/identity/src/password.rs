use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// A password as typed by its owner. Never logged, never stored, never returned.
pub struct Password(SecretString);

/// Why a text is not an acceptable new [`Password`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer characters than the policy asks for.
    #[error("password must be at least {min} characters long")]
    TooShort {
        /// [`Password::MIN_CHARS`].
        min: usize,
    },
    /// More characters than the policy allows.
    #[error("password must be at most {max} characters long")]
    TooLong {
        /// [`Password::MAX_CHARS`].
        max: usize,
    },
}

impl Password {
    /// Shortest new password, in characters (not bytes).
    pub const MIN_CHARS: usize = 10;
    /// Bounds the work one login can make argon2 do.
    pub const MAX_CHARS: usize = 1024;

    /// A new password, checked against the policy.
    ///
    /// # Errors
    ///
    /// [`PasswordError`] when it is shorter than [`Self::MIN_CHARS`] or longer than
    /// [`Self::MAX_CHARS`] characters.
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(PasswordError::TooShort {
                min: Self::MIN_CHARS,
            });
        }
        if chars > Self::MAX_CHARS {
            return Err(PasswordError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// A password presented at login: not held to the policy (it may predate it), only bounded.
    pub fn presented(raw: &str) -> Self {
        let bounded: String = raw.chars().take(Self::MAX_CHARS + 1).collect();
        Self(SecretString::from(bounded))
    }

    /// The password in clear, for the hasher and nothing else.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// An argon2id hash in PHC string format (`$argon2id$v=19$...`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// A hash as stored. Not checked here: a malformed hash simply never verifies.
    pub fn from_phc(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    /// The PHC string, for storage.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

/// Argon2id with the OWASP-recommended parameters (19 MiB, 2 passes, 1 lane).
///
/// Synchronous and CPU-bound by nature; the application runs it off the async executor.
#[derive(Clone)]
pub struct Argon2Passwords {
    params: Params,
    /// A hash of a random password, verified when the e-mail is unknown so that an unknown
    /// address and a wrong password take the same time.
    decoy: PasswordHash,
}

impl Default for Argon2Passwords {
    fn default() -> Self {
        Self::new(Params::DEFAULT_M_COST, Params::DEFAULT_T_COST)
    }
}

impl Argon2Passwords {
    /// Argon2id over `memory_kib` KiB in `passes` passes and one lane; parameters argon2 refuses
    /// fall back to its defaults. Computes the decoy hash, so it costs one hash.
    pub fn new(memory_kib: u32, passes: u32) -> Self {
        let params = Params::new(memory_kib, passes, 1, None).unwrap_or_default();
        let mut this = Self {
            params,
            decoy: PasswordHash::from_phc(String::new()),
        };
        let decoy = crate::secret::OpaqueToken::generate();
        this.decoy = this
            .hash(&Password::presented(decoy.expose()))
            .unwrap_or_else(|_| PasswordHash::from_phc(String::new()));
        this
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A new hash of `password` under a fresh random salt.
    ///
    /// # Errors
    ///
    /// argon2's error, as text (it has none for valid parameters).
    pub fn hash(&self, password: &Password) -> Result<PasswordHash, String> {
        self.argon2()
            .hash_password(password.expose().as_bytes())
            .map(|hash| PasswordHash::from_phc(hash.to_string()))
            .map_err(|e| e.to_string())
    }

    /// True when `password` matches `hash`. A malformed stored hash never matches.
    pub fn verify(&self, password: &Password, hash: &PasswordHash) -> bool {
        match PhcHash::new(hash.as_phc()) {
            Ok(parsed) => self
                .argon2()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Spend the time of one verification without a real hash to compare against.
    pub fn verify_decoy(&self, password: &Password) {
        let _ = self.verify(password, &self.decoy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> Argon2Passwords {
        Argon2Passwords::new(64, 1)
    }

    #[test]
    fn policy_bounds_length_in_characters() {
        assert_eq!(
            Password::parse("short").unwrap_err(),
            PasswordError::TooShort { min: 10 }
        );
        assert!(Password::parse("ten chars!").is_ok());
        // Ten characters, more bytes: counted as characters.
        assert!(Password::parse("éééééééééé").is_ok());
        assert!(Password::parse(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn hash_is_argon2id_and_verifies_only_the_right_password() {
        let hasher = fast();
        let hash = hasher
            .hash(&Password::parse("correct horse battery").unwrap())
            .unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$v=19$"));
        assert!(hasher.verify(&Password::presented("correct horse battery"), &hash));
        assert!(!hasher.verify(&Password::presented("correct horse batterY"), &hash));
        assert!(!hasher.verify(
            &Password::presented("x"),
            &PasswordHash::from_phc("garbage")
        ));
    }

    #[test]
    fn same_password_hashes_differently_each_time() {
        let hasher = fast();
        let pw = Password::parse("correct horse battery").unwrap();
        assert_ne!(
            hasher.hash(&pw).unwrap().as_phc(),
            hasher.hash(&pw).unwrap().as_phc()
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let pw = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{pw:?}").contains("horse"));
        let hash = fast().hash(&pw).unwrap();
        assert!(!format!("{hash:?}").contains("argon2"));
    }
}
