//! The one HTTP error: what went wrong, told to the client in the form its route speaks, made once
//! where it happens and never rewritten afterwards.
//!
//! On the JSON API (and the pages' scripts) an error is an RFC 9457 problem document
//! (`application/problem+json`); under `/fhir` it is an OperationOutcome. A 4xx says exactly
//! what to fix; a 5xx says only that something went wrong, and the cause goes to the log inside
//! the request's span. The record flows' errors map to statuses in one place ([`From`] of
//! [`medledger_ledger::Error`]).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_fhir::{IssueCode, Outcome};

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A short, fixed summary.
    pub title: &'static str,
    /// What happened and what to do about it.
    pub detail: String,
    /// Seconds to wait before asking again (a 429's `Retry-After`).
    retry_after: Option<u64>,
    /// Under `/fhir`: the OperationOutcome to answer with.
    outcome: Option<Outcome>,
}

/// `Result` with [`AppError`].
pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    /// An error with this status, title and detail.
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            retry_after: None,
            outcome: None,
        }
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", detail)
    }

    /// 401: no valid session, or the sign-in was refused.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Not signed in", detail)
    }

    /// 403: signed in, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", detail)
    }

    /// 409: it conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict", detail)
    }

    /// 422: well-formed, but not what the route takes.
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable request", detail)
    }

    /// 429 with `Retry-After`.
    pub fn too_many(detail: impl Into<String>, wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self {
            retry_after: Some(seconds.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests", detail)
        }
    }

    /// 500, without internals: the cause goes to the log.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "the server could not complete the request; nothing was changed by it, try again",
        )
    }

    /// A FHIR interaction's error: its status and an OperationOutcome of one issue.
    pub fn fhir(status: StatusCode, code: IssueCode, diagnostics: impl Into<String>) -> Self {
        Self::outcome(status, Outcome::one(code, diagnostics))
    }

    /// A FHIR interaction's error with this OperationOutcome.
    pub fn outcome(status: StatusCode, outcome: Outcome) -> Self {
        Self {
            detail: outcome.to_string(),
            outcome: Some(outcome),
            ..Self::new(status, title_of(status), "")
        }
    }

    /// This error as `/fhir` answers it: an OperationOutcome whose issue code follows the status.
    pub fn in_fhir(self) -> Self {
        if self.outcome.is_some() {
            return self;
        }
        let code = code_for(self.status);
        Self {
            outcome: Some(Outcome::one(code, self.detail.clone())),
            ..self
        }
    }

    /// This error as the route at `path` answers it (`/fhir` or not).
    pub fn for_path(self, path: &str) -> Self {
        if path == "/fhir" || path.starts_with("/fhir/") {
            self.in_fhir()
        } else {
            self
        }
    }

    /// Whether it answers as an OperationOutcome.
    pub fn is_fhir(&self) -> bool {
        self.outcome.is_some()
    }
}

fn title_of(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// The OperationOutcome issue code of a status.
fn code_for(status: StatusCode) -> IssueCode {
    match status {
        StatusCode::UNAUTHORIZED => IssueCode::Login,
        StatusCode::FORBIDDEN => IssueCode::Forbidden,
        StatusCode::NOT_FOUND => IssueCode::NotFound,
        StatusCode::CONFLICT => IssueCode::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => IssueCode::TooCostly,
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::METHOD_NOT_ALLOWED => IssueCode::NotSupported,
        s if s.is_server_error() => IssueCode::Exception,
        _ => IssueCode::Invalid,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (media, body) = match &self.outcome {
            Some(outcome) => (
                "application/fhir+json; charset=utf-8",
                outcome.to_resource().to_string(),
            ),
            None => (
                "application/problem+json",
                serde_json::json!({
                    "type": "about:blank",
                    "title": self.title,
                    "status": self.status.as_u16(),
                    "detail": self.detail,
                })
                .to_string(),
            ),
        };
        let mut response = (self.status, [(header::CONTENT_TYPE, media)], body).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<medledger_ledger::Error> for AppError {
    fn from(err: medledger_ledger::Error) -> Self {
        use medledger_ledger::Error as E;
        let status = match &err {
            E::UnknownPatient(_) | E::UnknownRecord(_) | E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Forbidden(_) => StatusCode::FORBIDDEN,
            E::PatientNotAnchored(_) | E::NotAwaitingSignature(_) | E::Conflict(_) | E::Disagreement(_) => {
                StatusCode::CONFLICT
            }
            E::InvalidEntry(_) | E::WrongSigner { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            E::Core(medledger_core::Error::SearchTooShort(_)) => StatusCode::BAD_REQUEST,
            E::Store(medledger_store::Error::DuplicateWallet(_)) => StatusCode::CONFLICT,
            _ => return Self::internal(err),
        };
        let title = match status {
            _ if matches!(err, E::Disagreement(_)) => "The store disagrees with the chain",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::CONFLICT => "Conflict",
            StatusCode::BAD_REQUEST => "Bad request",
            _ => "Unprocessable request",
        };
        Self::new(status, title, err.to_string())
    }
}

impl From<medledger_store::Error> for AppError {
    fn from(err: medledger_store::Error) -> Self {
        Self::internal(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_speaks_its_routes_language() {
        let api = AppError::forbidden("only the patient").into_response();
        assert_eq!(api.status(), StatusCode::FORBIDDEN);
        assert_eq!(api.headers()[header::CONTENT_TYPE], "application/problem+json");
        let fhir = AppError::forbidden("only the patient")
            .for_path("/fhir/Condition")
            .into_response();
        assert_eq!(
            fhir.headers()[header::CONTENT_TYPE],
            "application/fhir+json; charset=utf-8"
        );
        let busy = AppError::too_many("wait", std::time::Duration::from_millis(1_200)).into_response();
        assert_eq!(busy.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn the_ledgers_errors_get_their_statuses() {
        let e: AppError = medledger_ledger::Error::Disagreement("wallets".into()).into();
        assert_eq!(
            (e.status, e.title),
            (StatusCode::CONFLICT, "The store disagrees with the chain")
        );
        let e: AppError = medledger_ledger::Error::Forbidden("no".into()).into();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        let e: AppError = medledger_ledger::Error::Chain("node down at 10.0.0.1".into()).into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.detail.contains("10.0.0.1"), "a 5xx tells no internals");
    }
}
