/// What a storage adapter reports. Adapters MUST map unique-constraint violations to
/// `Conflict`; everything else they cannot handle is `Unavailable` with its cause.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a record with the same unique value already exists")]
    Conflict,
    #[error("storage failed: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn unavailable(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(cause.into())
    }
}
