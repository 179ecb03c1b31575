//! CSRF protection for cookie sessions.
//!
//! A request that changes anything (any method but GET, HEAD and OPTIONS) and is authenticated by
//! the session cookie must carry `X-CSRF-Token`, a value derived from the session token: pages
//! carry it in `<meta name="csrf-token">`, sign-in returns it. Another site can make a browser
//! send the cookie (were it not `SameSite=Strict`) but cannot read the page, so cannot know the
//! token. Requests with `Authorization: Bearer` carry no ambient credential and need none.

use alloy::primitives::keccak256;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// The header that carries the token.
pub const HEADER: &str = "x-csrf-token";

/// The CSRF token of a session token.
pub fn token_for(session_token: &str) -> String {
    let mut input = b"medledger csrf v1 ".to_vec();
    input.extend_from_slice(session_token.as_bytes());
    alloy::hex::encode(&keccak256(&input)[..16])
}

/// Constant-time equality of two short strings.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses a state-changing, cookie-authenticated request without the session's CSRF token.
pub async fn guard(request: Request, next: Next) -> Response {
    // Sign-in opens a session rather than using one; it needs a signed message, not a cookie.
    let path = request.uri().path();
    let signing_in = path.ends_with("/auth/login");
    if let Err(refused) = check(request.method(), request.headers())
        && !signing_in
    {
        return refused.for_path(path).into_response();
    }
    next.run(request).await
}

fn check(method: &Method, headers: &HeaderMap) -> Result<(), AppError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || headers.contains_key(header::AUTHORIZATION)
    {
        return Ok(());
    }
    let Some(session) = crate::extract::cookie_token(headers) else {
        return Ok(());
    };
    let sent = headers.get(HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if same(sent, &token_for(&session)) {
        return Ok(());
    }
    Err(AppError::forbidden(
        "a change made with the session cookie needs the X-CSRF-Token header: reload the page (or use the \
         csrfToken sign-in returned, or an Authorization: Bearer token)",
    ))
}
