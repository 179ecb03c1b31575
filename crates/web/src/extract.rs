//! Extractors: who is asking (a signed-in user, a doctor, an admin, the patient a path names), and
//! the request's JSON body, path and query, each refusing with the one [`AppError`] in the form
//! the route speaks (a problem document, or an OperationOutcome under `/fhir`) and in words a user
//! can act on.

use alloy::primitives::{Address, B256, keccak256};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_core::entry::PatientId;
use medledger_store::now_ms;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "medledger_session";
/// A session ends after this long unused.
pub const IDLE_MS: u64 = 30 * 60 * 1000;

/// The session token a request carries: `Authorization: Bearer …`, else the session cookie.
pub fn token(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    cookie_token(headers)
}

/// The session cookie's token, if the request carries one.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(&format!("{COOKIE}=")).map(str::to_owned))
}

/// The hash a session is stored under.
pub fn token_hash(token: &str) -> B256 {
    keccak256(token.as_bytes())
}

/// The signed-in account of a request with these headers, or 401.
pub async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Address, AppError> {
    let token =
        token(headers).ok_or_else(|| AppError::unauthorized("sign in first (no session token or cookie)"))?;
    let session = state
        .hospital
        .store
        .use_session(token_hash(&token), now_ms(), IDLE_MS)
        .await?;
    session.map(|s| s.address).ok_or_else(|| {
        AppError::unauthorized(
            "the session has ended (signed out, idle for 30 minutes, or older than 12 hours): sign in again",
        )
    })
}

/// The signed-in caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedIn(pub Address);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        signed_in(state, &parts.headers)
            .await
            .map(Self)
            .map_err(|e| e.for_path(parts.uri.path()))
    }
}

/// A signed-in caller who holds the doctor role on chain now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doctor(pub Address);

impl FromRequestParts<AppState> for Doctor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let SignedIn(caller) = SignedIn::from_request_parts(parts, state).await?;
        let path = parts.uri.path();
        match state.hospital.records.is_doctor(caller).await {
            Ok(true) => Ok(Self(caller)),
            Ok(false) => Err(AppError::forbidden("only an approved doctor may do this").for_path(path)),
            Err(e) => Err(AppError::from(e).for_path(path)),
        }
    }
}

/// A signed-in caller who holds the admin role on chain now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admin(pub Address);

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let SignedIn(caller) = SignedIn::from_request_parts(parts, state).await?;
        let path = parts.uri.path();
        match state.hospital.records.is_admin(caller).await {
            Ok(true) => Ok(Self(caller)),
            Ok(false) => Err(AppError::forbidden("only an admin may do this").for_path(path)),
            Err(e) => Err(AppError::from(e).for_path(path)),
        }
    }
}

/// The patient a path's `{id}` names, and the signed-in caller (who may or may not be them: the
/// record flows decide what the caller may do with the patient).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatientPath {
    /// The caller.
    pub caller: Address,
    /// The patient the path names.
    pub patient: PatientId,
}

impl FromRequestParts<AppState> for PatientPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let SignedIn(caller) = SignedIn::from_request_parts(parts, state).await?;
        let axum::extract::Path(params) =
            axum::extract::Path::<std::collections::HashMap<String, String>>::from_request_parts(
                parts, state,
            )
            .await
            .map_err(|r| AppError::bad_request(r.body_text()))?;
        let text = params.get("id").map(String::as_str).unwrap_or_default();
        Ok(Self {
            caller,
            patient: patient_id(text)?,
        })
    }
}

/// A patient id from a path or body, or 400.
pub fn patient_id(text: &str) -> Result<PatientId, AppError> {
    text.parse()
        .map_err(|_| AppError::bad_request(format!("{text:?} is not a patient id (32 hexadecimal digits)")))
}

/// An address from a path or body, or 400.
pub fn address(text: &str) -> Result<Address, AppError> {
    text.parse().map_err(|_| {
        AppError::bad_request(format!(
            "{text:?} is not an address (0x and 40 hexadecimal digits)"
        ))
    })
}

/// A JSON body, or a refusal that says what to fix.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let path = request.uri().path().to_owned();
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(r) => Err(rejected(r.status(), &r.body_text()).for_path(&path)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A path's parameters, or a refusal that says what to fix.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(r) => Err(rejected(r.status(), &r.body_text()).for_path(parts.uri.path())),
        }
    }
}

/// A query string's parameters, or a refusal that says what to fix.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(r) => Err(rejected(r.status(), &r.body_text()).for_path(parts.uri.path())),
        }
    }
}

/// A request body's bytes, or a refusal (too large, cut off) that says what to fix.
#[derive(Debug, Clone, Default)]
pub struct Body(pub axum::body::Bytes);

impl FromRequest<AppState> for Body {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, AppError> {
        let path = request.uri().path().to_owned();
        match axum::body::Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE && crate::fhir::is_transaction(&path) => {
                Err(AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Payload too large",
                    format!(
                        "the Bundle is larger than this server takes in one transaction ({} MiB): split it",
                        state.max_transaction >> 20
                    ),
                )
                .for_path(&path))
            }
            Err(r) => Err(rejected(r.status(), &r.body_text()).for_path(&path)),
        }
    }
}

/// axum's rejection of a body, path or query, as the one error, in words a user can act on (no
/// Rust type names, no parser positions).
pub(crate) fn rejected(status: StatusCode, text: &str) -> AppError {
    let status = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE || status.is_client_error() {
        status
    } else {
        StatusCode::BAD_REQUEST
    };
    AppError::new(
        status,
        status.canonical_reason().unwrap_or("Bad request"),
        in_words(text),
    )
}

/// axum's rejection text in words.
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
            "the body is larger than this server accepts ({} KiB): send less",
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
