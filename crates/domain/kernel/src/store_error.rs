/// What a storage adapter reports. Adapters MUST map unique-constraint violations to
/// `Conflict`; everything else they cannot handle is `Unavailable` with its cause.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated (the record already exists).
    #[error("a record with the same unique value already exists")]
    Conflict,
    /// Storage could not do the operation; the cause is kept for the log.
    #[error("storage failed: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// [`StoreError::Unavailable`] from any error or message.
    pub fn unavailable(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(cause.into())
    }
}
