//! Organisations and their members: `/api/v1/organizations…`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tollgate_identity::{Added, Member, OrganizationRole};
use tollgate_kernel::{OrganizationId, UserId};
use utoipa::ToSchema;

use super::dto::Timestamp;
use crate::auth::Authenticated;
use crate::error::{ApiError, Problem};
use crate::json::ApiJson;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrganization {
    /// 1 to 100 characters once surrounding whitespace is trimmed.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    /// Always `free` for a new organisation: plans change through billing or an operator.
    pub plan: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationWithRole {
    pub id: String,
    pub name: String,
    pub plan: String,
    /// The caller's role: `owner`, `admin` or `member`.
    pub role: String,
    /// Whether it is the caller's personal organisation.
    pub personal: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationList {
    pub organizations: Vec<OrganizationWithRole>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddMember {
    /// The e-mail of a user who has an account (or, with team invitations, of one to invite).
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// `admin` or `member` (ownership is transferred, not given).
    #[schema(schema_with = addable_role)]
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangeRole {
    /// `owner` (owners only), `admin` or `member`.
    #[schema(schema_with = any_role)]
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TransferOwnership {
    /// The member who becomes owner (a user id); the caller becomes admin.
    #[schema(format = Uuid)]
    pub user_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub joined_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberView>,
}

impl From<Member> for MemberView {
    fn from(member: Member) -> Self {
        Self {
            user_id: member.user_id.to_string(),
            email: member.email.to_string(),
            role: member.role.as_str().to_owned(),
            joined_at: member.joined_at.into(),
        }
    }
}

/// A role as a string schema naming `roles`.
fn role_schema(roles: &[&str], description: &str) -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(roles.iter().copied()))
        .description(Some(description))
        .build()
}

fn addable_role() -> utoipa::openapi::schema::Object {
    role_schema(
        &["admin", "member"],
        "`admin` or `member` (ownership is transferred, not given).",
    )
}

fn any_role() -> utoipa::openapi::schema::Object {
    role_schema(
        &["owner", "admin", "member"],
        "`owner` (owners only), `admin` or `member`.",
    )
}

fn organization(raw: &str) -> Result<OrganizationId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("organization not found"))
}

fn user(raw: &str) -> Result<UserId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("not a member of this organization"))
}

fn role(raw: &str) -> Result<OrganizationRole, ApiError> {
    OrganizationRole::parse(raw).ok_or_else(|| {
        ApiError::validation("role must be owner, admin or member")
            .with_param(Some("role".to_owned()))
    })
}

/// Create an organisation; the caller becomes its owner. It starts on Free.
#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations",
    request_body = CreateOrganization, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = OrganizationView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An API key (organisations are created with a login)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid name", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<CreateOrganization>,
) -> Result<(StatusCode, Json<OrganizationView>), ApiError> {
    let created = state.organizations.create(&principal, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(OrganizationView {
            id: created.id.to_string(),
            name: created.name,
            plan: created.plan.to_string(),
        }),
    ))
}

/// The organisations the caller belongs to (an API key: its own), personal first.
#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "With the caller's role in each", body = OrganizationList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<OrganizationList>, ApiError> {
    let memberships = state.organizations.list(&principal).await?;
    Ok(Json(OrganizationList {
        organizations: memberships
            .into_iter()
            .map(|m| OrganizationWithRole {
                id: m.organization.id.to_string(),
                name: m.organization.name,
                plan: m.organization.plan.to_string(),
                role: m.role.as_str().to_owned(),
                personal: m.organization.personal,
            })
            .collect(),
    }))
}

/// The organisation's members, owners first (any member may look).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/members", tag = "organizations",
    params(("id" = String, Path, description = "The organisation")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Its members", body = MemberList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation, or not a member", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn members(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<MemberList>, ApiError> {
    let members = state
        .organizations
        .members(&principal, organization(&id)?)
        .await?;
    Ok(Json(MemberList {
        members: members.into_iter().map(MemberView::from).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub email: String,
    pub role: String,
    /// Shown only here: give it to the invitee for `POST /auth/signup`; they join as `role`.
    pub invite_token: String,
    pub expires_at: Timestamp,
}

/// Add a user as `admin` or `member` (owners and admins only). An e-mail without an account is
/// invited instead (202, with the token to pass on) when team invitations are on.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/members", tag = "organizations",
    params(("id" = String, Path, description = "The organisation")), request_body = AddMember,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = MemberView),
        (status = 202, description = "Invited: no account has the e-mail", body = InvitationView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A member, not an owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation (or not a member), or no user has that e-mail and team invitations are off", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid e-mail or role, or a personal organisation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_member(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AddMember>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let organization = organization(&id)?;
    let role = role(&body.role)?;
    Ok(
        match state
            .organizations
            .add_member(&principal, organization, &body.email, role)
            .await?
        {
            Added::Member(member) => {
                (StatusCode::CREATED, Json(MemberView::from(member))).into_response()
            }
            Added::Invited { invitation, role } => (
                StatusCode::ACCEPTED,
                Json(InvitationView {
                    email: invitation.email.to_string(),
                    role: role.as_str().to_owned(),
                    invite_token: invitation.token.expose().to_owned(),
                    expires_at: invitation.expires_at.into(),
                }),
            )
                .into_response(),
        },
    )
}

/// Change a member's role (owners and admins; only owners make or unmake owners).
#[utoipa::path(patch, path = "/api/v1/organizations/{id}/members/{user_id}", tag = "organizations",
    params(("id" = String, Path, description = "The organisation"),
           ("user_id" = String, Path, description = "The member")),
    request_body = ChangeRole, security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for the caller's role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation or member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It would leave no owner", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid role", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_role(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((id, member)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeRole>,
) -> Result<StatusCode, ApiError> {
    let organization = organization(&id)?;
    let role = role(&body.role)?;
    state
        .organizations
        .set_role(&principal, organization, user(&member)?, role)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member (owners and admins), or leave (yourself). The last owner stays.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/members/{user_id}", tag = "organizations",
    params(("id" = String, Path, description = "The organisation"),
           ("user_id" = String, Path, description = "The member")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for the caller's role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation or member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last owner", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_member(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .remove_member(&principal, organization(&id)?, user(&member)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Hand ownership to a member (owners only); the caller becomes admin.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/owner", tag = "organizations",
    params(("id" = String, Path, description = "The organisation")),
    request_body = TransferOwnership, security(("bearer" = [])),
    responses(
        (status = 204, description = "Transferred"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation, or the caller is not a member of it", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`user_id` names no member of the organisation, or it is a personal organisation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn transfer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TransferOwnership>,
) -> Result<StatusCode, ApiError> {
    // The organisation is the target resource (404 when it is not the caller's); the member to
    // hand it to is a field of the body, so naming no member is an invalid field (422).
    let organization = organization(&id)?;
    let not_a_member = || {
        ApiError::validation("field \"user_id\": not a member of this organization")
            .with_param(Some("user_id".to_owned()))
    };
    // An id that cannot be a user's is read as the nil id, which no member has: the caller's
    // own standing (404, 403) is decided first, as for any other user id.
    let user = body
        .user_id
        .parse()
        .unwrap_or_else(|_| UserId::from_uuid(uuid::Uuid::nil()));
    state
        .organizations
        .transfer_ownership(&principal, organization, user)
        .await
        .map_err(|error| match error {
            tollgate_identity::OrganizationError::NotAMember => not_a_member(),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct SpendingCap {
    /// The organisation's own monthly AI-cost cap in micro-dollars; its budget is the lower of
    /// this and its plan's. `null` lifts it.
    #[schema(minimum = 1)]
    pub monthly_cap_micros: Option<i64>,
}

/// Set the organisation's monthly spending cap (owners only); it applies to new calls within a
/// second on every instance.
#[utoipa::path(put, path = "/api/v1/organizations/{id}/spending-cap", tag = "organizations",
    params(("id" = String, Path, description = "The organisation")),
    request_body = SpendingCap, security(("bearer" = [])),
    responses(
        (status = 200, description = "Set", body = SpendingCap),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation, or not a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a positive number", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_spending_cap(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SpendingCap>,
) -> Result<Json<SpendingCap>, ApiError> {
    state
        .organizations
        .set_spending_cap(&principal, organization(&id)?, body.monthly_cap_micros)
        .await?;
    Ok(Json(body))
}

/// Set the monthly spending cap of one of the organisation's API keys (owners only): calls made
/// with it are refused (402 `key_budget_exceeded`) once its month's cost and calls in flight
/// would pass the cap. Applies within a second on every instance.
#[utoipa::path(put, path = "/api/v1/keys/{id}/spending-cap", tag = "keys",
    params(("id" = String, Path, description = "The key"), super::scope::OrganizationQuery),
    request_body = SpendingCap, security(("bearer" = [])),
    responses(
        (status = 200, description = "Set", body = SpendingCap),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner of the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key in the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a positive number", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_key_cap(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    super::scope::OrganizationScope(requested): super::scope::OrganizationScope,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SpendingCap>,
) -> Result<Json<SpendingCap>, ApiError> {
    let key = id
        .parse()
        .map_err(|_| ApiError::not_found("no such API key in this organization"))?;
    let organization = requested.unwrap_or(principal.organization_id);
    state
        .organizations
        .set_key_cap(&principal, organization, key, body.monthly_cap_micros)
        .await?;
    Ok(Json(body))
}
