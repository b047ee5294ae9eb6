use std::fmt;

/// A normalised e-mail address: trimmed and lower-cased, so that one person has one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// Why a text is not an [`EmailAddress`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("email must not be empty")]
    Empty,
    /// Longer than [`EmailAddress::MAX_LEN`] bytes.
    #[error("email is longer than 254 characters")]
    TooLong,
    /// Not `local@domain`, or it contains whitespace or control characters.
    #[error("email must look like name@example.com")]
    Malformed,
}

impl EmailAddress {
    /// The longest address SMTP can carry (RFC 5321 path limit), in bytes.
    pub const MAX_LEN: usize = 254;

    /// Trims, lower-cases and checks the shape `local@domain`. Deliberately loose: whether the
    /// address exists is for a confirmation mail to find out, not for a parser.
    ///
    /// # Errors
    ///
    /// [`EmailError`] says which check failed.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(EmailError::Empty);
        }
        if normalised.len() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = normalised.split_once('@').ok_or(EmailError::Malformed)?;
        let well_formed = !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !normalised
                .chars()
                .any(|c| c.is_whitespace() || c.is_control());
        if !well_formed {
            return Err(EmailError::Malformed);
        }
        Ok(Self(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        let email = EmailAddress::parse("  Alice@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "alice@example.com");
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for bad in [
            "",
            "   ",
            "alice",
            "@example.com",
            "alice@",
            "a@b@c",
            "al ice@example.com",
            "a@.com",
            "a@com.",
        ] {
            assert!(
                EmailAddress::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert_eq!(
            EmailAddress::parse(&format!("{}@x.io", "a".repeat(250))),
            Err(EmailError::TooLong)
        );
    }
}
