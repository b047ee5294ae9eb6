//! The web console: two pages and their scripts and styles, compiled into the binary so that
//! it needs no CDN or internet at view time. The pages call the public JSON API only, with the
//! bearer tokens it issues, so these routes serve files and nothing else.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::error::problem_for_status;
use crate::state::AppState;

/// Scripts and styles from this origin only, no inline code, no foreign origin, no framing:
/// a page holding tokens must not run anyone else's script.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("../../console/", $name)),
        }
    };
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("admin.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("api.js", JAVASCRIPT),
    asset!("session.js", JAVASCRIPT),
    asset!("money.js", JAVASCRIPT),
    asset!("dom.js", JAVASCRIPT),
    asset!("chart.js", JAVASCRIPT),
    asset!("shell.js", JAVASCRIPT),
    asset!("customer.js", JAVASCRIPT),
    asset!("keys.js", JAVASCRIPT),
    asset!("admin.js", JAVASCRIPT),
];

/// `/console` (customers), `/console/admin` (operators) and `/console/assets/{name}`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(customer_page))
        .route("/console/", get(customer_page))
        .route("/console/admin", get(admin_page))
        .route("/console/assets/{name}", get(asset))
}

async fn customer_page(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn admin_page(headers: HeaderMap) -> Response {
    serve("admin.html", &headers)
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    // The pages are served at their own paths, not as assets.
    if name.ends_with(".html") {
        return problem_for_status(StatusCode::NOT_FOUND);
    }
    serve(&name, &headers)
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|asset| asset.name == name) else {
        return problem_for_status(StatusCode::NOT_FOUND);
    };
    let asset = &ASSETS[index];
    let etag = &entity_tags()[index];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    // Revalidated on every load, so that a new release's pages never mix with old scripts.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// One strong entity tag per asset, from its content: changes exactly when the file does.
fn entity_tags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = Sha256::digest(asset.body.as_bytes());
                let hex: String = digest[..12]
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_a_page_or_script_imports_is_served() {
        for asset in ASSETS {
            for line in asset.body.lines() {
                for marker in [
                    "from \"./",
                    "src=\"/console/assets/",
                    "href=\"/console/assets/",
                ] {
                    let Some(start) = line.find(marker) else {
                        continue;
                    };
                    let rest = &line[start + marker.len()..];
                    let name = &rest[..rest.find('"').unwrap()];
                    assert!(
                        ASSETS.iter().any(|served| served.name == name),
                        "{} refers to {name}, which is not served",
                        asset.name
                    );
                }
            }
        }
    }

    #[test]
    fn no_page_carries_inline_script_or_style() {
        for asset in ASSETS.iter().filter(|asset| asset.name.ends_with(".html")) {
            for (number, line) in asset.body.lines().enumerate() {
                let inline_script = line.contains("<script") && !line.contains(" src=");
                assert!(
                    !inline_script,
                    "{}:{}: inline script",
                    asset.name,
                    number + 1
                );
                assert!(
                    !line.contains("<style"),
                    "{}:{}: inline style",
                    asset.name,
                    number + 1
                );
                assert!(
                    !line.contains(" style="),
                    "{}:{}: style attribute",
                    asset.name,
                    number + 1
                );
                assert!(
                    !has_event_attribute(line),
                    "{}:{}: event attribute",
                    asset.name,
                    number + 1
                );
            }
        }
    }

    /// ` onclick=`, ` onload=`…: handlers in markup are inline scripts too.
    fn has_event_attribute(line: &str) -> bool {
        line.match_indices(" on").any(|(at, _)| {
            let name: String = line[at + 3..]
                .chars()
                .take_while(char::is_ascii_lowercase)
                .collect();
            !name.is_empty() && line[at + 3 + name.len()..].starts_with('=')
        })
    }
}
