use std::sync::Arc;

use tollgate_identity::AccessTokenVerifier;

use crate::services::{IdentityApi, Readiness};

/// What every handler can reach. Cheap to clone: everything is behind an `Arc`.
#[derive(Clone)]
pub struct AppState {
    pub identity: Arc<dyn IdentityApi>,
    pub verifier: Arc<AccessTokenVerifier>,
    pub readiness: Arc<dyn Readiness>,
}
