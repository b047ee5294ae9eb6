//! `?organization_id=` on routes that act on an organisation's data.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::Deserialize;
use tollgate_kernel::OrganizationId;
use utoipa::IntoParams;

use crate::error::ApiError;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganizationQuery {
    /// The organisation to act on; default: the caller's personal organisation (with an API
    /// key: the key's organisation).
    pub organization_id: Option<String>,
}

/// The organisation named by the query, if any.
pub struct OrganizationScope(pub Option<OrganizationId>);

impl<S: Send + Sync> FromRequestParts<S> for OrganizationScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(query) = Query::<OrganizationQuery>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        match query.organization_id.as_deref().map(str::trim) {
            None | Some("") => Ok(Self(None)),
            // An id that cannot exist names no organisation the caller belongs to.
            Some(raw) => raw
                .parse()
                .map(|id| Self(Some(id)))
                .map_err(|_| ApiError::not_found("organization not found")),
        }
    }
}

/// The caller, acting for the organisation the request names (`?organization_id=`) or else its
/// own, as a member of it: `principal.organization_id` is that organisation. Not a member is
/// 404.
pub struct Scoped {
    pub principal: tollgate_identity::Principal,
    pub role: tollgate_identity::OrganizationRole,
}

impl FromRequestParts<crate::state::AppState> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        let crate::auth::Authenticated(mut principal) =
            crate::auth::Authenticated::from_request_parts(parts, state).await?;
        let OrganizationScope(requested) =
            OrganizationScope::from_request_parts(parts, state).await?;
        let (organization, role) = state.organizations.scope(&principal, requested).await?;
        principal.organization_id = organization;
        Ok(Self { principal, role })
    }
}

/// Like [`Scoped`], for what only the organisation's owners and admins may do: a member is 403.
pub struct ManagedScope(pub tollgate_identity::Principal);

impl FromRequestParts<crate::state::AppState> for ManagedScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        let crate::auth::Authenticated(mut principal) =
            crate::auth::Authenticated::from_request_parts(parts, state).await?;
        let OrganizationScope(requested) =
            OrganizationScope::from_request_parts(parts, state).await?;
        principal.organization_id = state
            .organizations
            .managed_scope(&principal, requested)
            .await?;
        Ok(Self(principal))
    }
}
