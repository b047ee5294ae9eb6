//! `GET /api/v1/usage/events`: what the organisation is billed for, call by call, as JSON or
//! CSV.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tollgate_billing::{EventCursor, MAX_PAGE, UsageEventFilter, UsageEventPage};
use tollgate_costing::UsageEvent;
use tollgate_kernel::{Action, Period};
use utoipa::{IntoParams, ToSchema};

use super::dto::Timestamp;
use super::query::{ApiQuery, page_limit};
use super::scope::{OrganizationQuery, Scoped};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// The header that carries the next page's cursor in a CSV answer.
const NEXT_CURSOR: &str = "x-next-cursor";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this UTC day's events, `YYYY-MM-DD`.
    #[param(format = Date)]
    pub day: Option<String>,
    /// Only events made with this API key (its id).
    #[param(format = Uuid)]
    pub key_id: Option<String>,
    /// Only this action's: `chat`, `analysis` or `comparison`.
    #[param(schema_with = action_names)]
    pub action: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^-?[0-9]{1,18}_[0-9a-fA-F]{32}$")]
    pub cursor: Option<String>,
    /// Events per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `json` (default) or `csv`; `Accept: text/csv` asks for CSV too.
    #[param(schema_with = format_names)]
    pub format: Option<String>,
}

fn names(names: &[&str], description: &str) -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(names.iter().copied()))
        .description(Some(description))
        .build()
}

fn action_names() -> utoipa::openapi::schema::Object {
    names(
        &["chat", "analysis", "comparison"],
        "Only this action's: `chat`, `analysis` or `comparison`.",
    )
}

fn format_names() -> utoipa::openapi::schema::Object {
    names(
        &["json", "csv"],
        "`json` (default) or `csv`; `Accept: text/csv` asks for CSV too.",
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageEventView {
    pub id: String,
    pub at: Timestamp,
    pub action: String,
    pub model: String,
    pub key_id: Option<String>,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    /// What the call cost us.
    pub cost_micros: i64,
    /// What the organisation is charged for it.
    pub price_micros: i64,
    /// The request's `x-request-id`.
    pub request_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageEventList {
    /// Newest first.
    pub events: Vec<UsageEventView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

fn view(event: &UsageEvent) -> UsageEventView {
    UsageEventView {
        id: event.id.to_string(),
        at: event.at.into(),
        action: event.action.as_str().to_owned(),
        model: event.model.clone(),
        key_id: event.key.map(|key| key.to_string()),
        input_tokens: event.usage.input_tokens,
        cached_input_tokens: event.usage.cached_input_tokens,
        output_tokens: event.usage.output_tokens,
        cost_micros: event.cost.get(),
        price_micros: event.price.get(),
        request_id: event.request_id.clone(),
    }
}

fn invalid(param: &str, detail: &str) -> ApiError {
    ApiError::validation(detail).with_param(Some(param.to_owned()))
}

fn filter_of(query: &EventsQuery) -> Result<UsageEventFilter, ApiError> {
    // A parameter given is read, even when empty: `?day=` names no day.
    let day = match query.day.as_deref() {
        None => None,
        Some(text) => {
            let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| invalid("day", "day must be a date, YYYY-MM-DD"))?;
            Some(Period::utc_day(
                date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
            ))
        }
    };
    let key = match query.key_id.as_deref() {
        None => None,
        // Ids are given out hyphenated (RFC 9562's form, `format: uuid`); only that form is read.
        Some(text) => Some(
            uuid::Uuid::try_parse(text)
                .ok()
                .filter(|_| text.len() == 36)
                .map(tollgate_keys::ApiKeyId::from_uuid)
                .ok_or_else(|| invalid("key_id", "key_id must be an API key id"))?,
        ),
    };
    let action = match query.action.as_deref() {
        None => None,
        Some(text) => Some(
            Action::parse(text)
                .ok_or_else(|| invalid("action", "action must be chat, analysis or comparison"))?,
        ),
    };
    Ok(UsageEventFilter { day, key, action })
}

/// CSV as RFC 4180 has it: a field with a comma, quote or line break is quoted.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn csv(page: &UsageEventPage) -> String {
    let mut out = String::from(
        "id,at,action,model,key_id,input_tokens,cached_input_tokens,output_tokens,cost_micros,price_micros,request_id\r\n",
    );
    for event in &page.events {
        let row = [
            event.id.to_string(),
            event
                .at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event.action.as_str().to_owned(),
            event.model.clone(),
            event.key.map(|key| key.to_string()).unwrap_or_default(),
            event.usage.input_tokens.to_string(),
            event.usage.cached_input_tokens.to_string(),
            event.usage.output_tokens.to_string(),
            event.cost.get().to_string(),
            event.price.get().to_string(),
            event.request_id.clone(),
        ];
        let fields: Vec<String> = row.iter().map(|field| csv_field(field)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The organisation's usage events, newest first, a page at a time (any member).
#[utoipa::path(get, path = "/api/v1/usage/events", tag = "plans",
    params(OrganizationQuery, EventsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events (as `text/csv` with `format=csv`; the next cursor then in `x-next-cursor`)", content(
            (UsageEventList = "application/json"),
            (String = "text/csv", example = "id,at,action,model,key_id,input_tokens,cached_input_tokens,output_tokens,cost_micros,price_micros,request_id\r\n"),
        )),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of that organisation", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "A query string that cannot be read (a parameter given twice)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid day, key id, action, cursor, limit or format", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn events(
    State(state): State<AppState>,
    Scoped { principal, .. }: Scoped,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let filter = filter_of(&query)?;
    let limit = page_limit(query.limit.as_deref(), 100, MAX_PAGE)?;
    let before = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(
            EventCursor::decode(text)
                .ok_or_else(|| invalid("cursor", "cursor is not one this API gave"))?,
        ),
    };
    let wants_csv = match query.format.as_deref() {
        None => headers
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/csv")),
        Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(invalid("format", "format must be json or csv")),
    };
    let page = state
        .usage_events
        .page(principal.organization_id, filter, before, limit)
        .await
        .map_err(ApiError::unavailable)?;
    let next = page.next.map(|cursor| cursor.encode());
    if wants_csv {
        let mut response = (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"usage-events.csv\"",
                ),
            ],
            csv(&page),
        )
            .into_response();
        if let Some(next) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
            response.headers_mut().insert(NEXT_CURSOR, next);
        }
        return Ok(response);
    }
    Ok(Json(UsageEventList {
        events: page.events.iter().map(view).collect(),
        next_cursor: next,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("gpt-4o-mini"), "gpt-4o-mini");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
