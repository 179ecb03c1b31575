//! Errors as RFC 9457 problem details (`application/problem+json`), each saying what to fix.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A problem to report to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The HTTP status.
    pub status: StatusCode,
    /// A short, fixed summary.
    pub title: &'static str,
    /// What happened and what to do about it.
    pub detail: String,
}

impl Problem {
    /// 400: the request itself is wrong.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title: "Bad request",
            detail: detail.into(),
        }
    }

    /// 401: no valid session, or the sign-in was refused.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            title: "Not signed in",
            detail: detail.into(),
        }
    }

    /// 500, without internals: those go to the log.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {err}");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Internal error",
            detail: "the server could not complete the request; nothing was changed by it, try again".into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// The longest plain-text error body turned into a problem's detail.
const MOST_DETAIL: usize = 4096;

/// Under `/api/`, a client error that axum itself answered (a body that is not JSON, a path
/// parameter or query that does not parse, a missing Content-Type, too large a body, an unknown
/// route or method) comes as plain text or nothing: this answers it as a problem like every other,
/// keeping axum's words and saying where the API is described.
pub async fn plain_errors_as_problems(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|t| t.as_bytes().starts_with(b"text/plain"));
    if !path.starts_with("/api/") || !status.is_client_error() || !plain {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), MOST_DETAIL)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let detail = match status {
        StatusCode::NOT_FOUND if text.is_empty() => {
            format!("there is no {path} in this API: its routes are described at /api/openapi.json")
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("{path} does not take {method}: its methods are described at /api/openapi.json")
        }
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the body is larger than this API accepts ({} KiB): send less",
            crate::routes::MAX_BODY / 1024
        ),
        _ if text.is_empty() => format!("{status}: see /api/openapi.json for what {path} expects"),
        _ => in_words(&text),
    };
    Problem {
        status,
        title: status.canonical_reason().unwrap_or("Client error"),
        detail,
    }
    .into_response()
}

/// axum's rejection of a body, path or query, in words a user can act on (no Rust type names,
/// no parser positions).
fn in_words(text: &str) -> String {
    let text = text.trim();
    if text.starts_with("Expected request with `Content-Type: application/json`") {
        return "send the body as JSON, with the header Content-Type: application/json".into();
    }
    if let Some(why) = text.strip_prefix("Failed to parse the request body as JSON: ") {
        return format!(
            "the body is not valid JSON ({}): fix its syntax",
            without_position(why)
        );
    }
    if let Some(why) = text.strip_prefix("Failed to deserialize the JSON body into the target type: ") {
        return format!(
            "the body is not what this route takes: {} (see /api/openapi.json)",
            field_words(without_position(why))
        );
    }
    if let Some(why) = text.strip_prefix("Failed to deserialize query string: ") {
        return format!(
            "the query string is not what this route takes: {} (see /api/openapi.json)",
            field_words(why)
        );
    }
    if text.contains("Cannot parse `") {
        let value = text
            .split('`')
            .nth(1)
            .unwrap_or_default()
            .trim_matches(|c| c == ',' || c == ' ');
        return format!("the path's {value:?} is not a valid id here: ids of requests are whole numbers");
    }
    if text.starts_with("Failed to buffer the request body") {
        return format!(
            "the body is larger than this API accepts ({} KiB): send less",
            crate::routes::MAX_BODY / 1024
        );
    }
    field_words(text)
}

/// `"… at line 1 column 9"` without the position.
fn without_position(text: &str) -> &str {
    match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => text,
    }
}

/// serde's words for a field, with the Rust types named as a user knows them.
fn field_words(text: &str) -> String {
    let mut out = text
        .replace("missing field `", "the field `")
        .replace("unknown field `", "the field `");
    if text.starts_with("missing field") {
        out.push_str(" is missing");
    } else if text.starts_with("unknown field") {
        out = out.replacen("`, expected", "` is not one this route takes; expected", 1);
    }
    for (rust, words) in [
        ("a `i64`", "a whole number"),
        ("a `u64`", "a whole number"),
        ("a `u32`", "a whole number"),
        ("i64", "a whole number"),
        ("u64", "a whole number"),
        ("u32", "a whole number"),
        ("a string", "text"),
        ("usize", "a whole number"),
    ] {
        out = out.replace(rust, words);
    }
    out.replace('`', "\"")
}

#[cfg(test)]
mod tests {
    use super::in_words;

    #[test]
    fn axum_rejections_are_told_in_words() {
        for (axum, says, not) in [
            ("Cannot parse `null,null` to a `i64`", "whole numbers", "i64"),
            (
                "Failed to deserialize the JSON body into the target type: missing field `message` at line 1 column 2",
                "the field \"message\" is missing",
                "line 1",
            ),
            (
                "Failed to deserialize the JSON body into the target type: unknown field `x`, expected `message` or `signature` at line 1 column 4",
                "is not one this route takes",
                "column",
            ),
            (
                "Expected request with `Content-Type: application/json`",
                "Content-Type: application/json",
                "Expected request",
            ),
            (
                "Failed to deserialize query string: invalid digit found in string",
                "query string",
                "deserialize",
            ),
        ] {
            let words = in_words(axum);
            assert!(words.contains(says) && !words.contains(not), "{axum} -> {words}");
        }
    }
}
