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
