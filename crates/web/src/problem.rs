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
        _ => text,
    };
    Problem {
        status,
        title: status.canonical_reason().unwrap_or("Client error"),
        detail,
    }
    .into_response()
}
