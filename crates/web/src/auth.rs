//! Sign-in with Ethereum and sessions: `/api/v1/auth/{nonce,login,session,logout}`.
//!
//! A browser (or script) asks for a nonce, has the wallet sign an EIP-4361 message carrying it,
//! and posts message and signature. The message is checked in full (`medledger_core::siwe`), then
//! the nonce is consumed (one `DELETE`: a replayed or concurrently reused message fails), and a
//! session opens: a random 256-bit token, returned as a bearer token and set as an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` over HTTPS). Only the token's hash is stored. Sessions end
//! after 30 minutes idle or 12 hours in all, or at sign-out.

use std::sync::Arc;

use alloy::primitives::{Address, B256, keccak256};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_core::siwe::{Expected, SiweMessage};
use medledger_store::now_ms;
use serde::Deserialize;

use crate::problem::Problem;
use medledger_hospital::Hospital;

/// How long a nonce may wait for its signed message.
pub const NONCE_LIFETIME_MS: u64 = 10 * 60 * 1000;
/// A session ends after this long unused.
pub const IDLE_MS: u64 = 30 * 60 * 1000;
/// A session ends after this long whatever happens.
pub const ABSOLUTE_MS: u64 = 12 * 60 * 60 * 1000;
/// The session cookie's name.
pub const COOKIE: &str = "medledger_session";

/// Where this server is, as browsers see it: what sign-in messages must name.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// Host and port.
    pub host: String,
}

impl Origin {
    /// The host a sign-in message may name: this origin's, or, for a server on a loopback
    /// address, any loopback name of the same port (a browser opened at `localhost:8080` signs
    /// for `localhost:8080` while the server listens on `127.0.0.1:8080`).
    pub fn accepts<'a>(&'a self, domain: &'a str) -> &'a str {
        const LOOPBACK: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];
        let split = |h: &'a str| match h.rsplit_once(':') {
            Some((name, port)) if !name.is_empty() && !port.contains(']') => (name, Some(port)),
            _ => (h, None),
        };
        let (mine, my_port) = split(&self.host);
        let (theirs, their_port) = split(domain);
        if LOOPBACK.contains(&mine) && LOOPBACK.contains(&theirs) && my_port == their_port {
            domain
        } else {
            &self.host
        }
    }
}

/// What the auth routes need.
#[derive(Debug, Clone)]
pub struct AuthState {
    /// The hospital.
    pub hospital: Arc<Hospital>,
    /// This server's origin.
    pub origin: Origin,
    /// The rate limits on signing in.
    pub sign_in: Arc<crate::limits::SignInLimits>,
}

fn random_token() -> Result<String, Problem> {
    let mut bytes = [0u8; 32];
    medledger_core::crypto::random_bytes(&mut bytes).map_err(Problem::internal)?;
    Ok(alloy::hex::encode(bytes))
}

/// `GET /api/v1/auth/nonce`: a fresh single-use nonce (rate-limited per client address, and
/// bounded in number outstanding).
pub async fn nonce(
    State(state): State<AuthState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    if let Err(refused) = state
        .sign_in
        .client(state.sign_in.client_of(&extensions, &headers))
    {
        return Ok(refused.into_response());
    }
    let outstanding = state
        .hospital
        .store
        .outstanding_nonces(now_ms())
        .await
        .map_err(Problem::internal)?;
    if outstanding >= crate::limits::MOST_OUTSTANDING_NONCES {
        return Ok(crate::limits::too_many(
            "too many sign-ins are under way on this server: try again in a minute".into(),
            std::time::Duration::from_secs(60),
        )
        .into_response());
    }
    let token = random_token()?;
    let nonce = &token[..24];
    let expires_at = now_ms() + NONCE_LIFETIME_MS;
    state
        .hospital
        .store
        .issue_nonce(nonce, expires_at)
        .await
        .map_err(Problem::internal)?;
    Ok(Json(
        serde_json::json!({ "nonce": nonce, "expiresAt": expires_at, "domain": state.origin.host, "chainId": state.hospital.deployment.chain_id }),
    )
    .into_response())
}

/// The body of `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize)]
pub struct Login {
    /// The EIP-4361 message, exactly as signed.
    pub message: String,
    /// The wallet's `personal_sign` signature, 0x-hex.
    pub signature: String,
}

/// `POST /api/v1/auth/login`: checks the signed message and opens a session.
pub async fn login(
    State(state): State<AuthState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    Json(login): Json<Login>,
) -> Result<Response, Problem> {
    if let Err(refused) = state
        .sign_in
        .client(state.sign_in.client_of(&extensions, &headers))
    {
        return Ok(refused.into_response());
    }
    let signature = alloy::hex::decode(login.signature.trim())
        .map_err(|_| Problem::bad_request("signature must be 0x followed by 130 hexadecimal digits"))?;
    let message = SiweMessage::parse(&login.message).map_err(|e| Problem::unauthorized(e.to_string()))?;
    if let Err(refused) = state.sign_in.wallet(message.address) {
        return Ok(refused.into_response());
    }
    let now = now_ms();
    let expected = Expected {
        scheme: &state.origin.scheme,
        domain: state.origin.accepts(&message.domain),
        chain_id: state.hospital.deployment.chain_id,
        now: now / 1000,
        max_lifetime: ABSOLUTE_MS / 1000,
    };
    let address = message
        .verify(&login.message, &signature, &expected)
        .map_err(|e| Problem::unauthorized(e.to_string()))?;
    if !state
        .hospital
        .store
        .consume_nonce(&message.nonce, now)
        .await
        .map_err(Problem::internal)?
    {
        return Err(Problem::unauthorized(
            "this sign-in message's nonce is unknown, expired or already used: ask for a new nonce and sign again",
        ));
    }
    let token = random_token()?;
    let expires_at = now + ABSOLUTE_MS;
    state
        .hospital
        .store
        .open_session(keccak256(token.as_bytes()), address, now, expires_at)
        .await
        .map_err(Problem::internal)?;
    let secure = if state.origin.scheme == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        ABSOLUTE_MS / 1000
    );
    let body = serde_json::json!({
        "token": token,
        "csrfToken": crate::csrf::token_for(&token),
        "address": address,
        "expiresAt": expires_at,
    });
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// The session token a request carries: `Authorization: Bearer …`, else the session cookie.
fn token(headers: &HeaderMap) -> Option<String> {
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
pub(crate) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(&format!("{COOKIE}=")).map(str::to_owned))
}

fn token_hash(headers: &HeaderMap) -> Result<B256, Problem> {
    let token =
        token(headers).ok_or_else(|| Problem::unauthorized("sign in first (no session token or cookie)"))?;
    Ok(keccak256(token.as_bytes()))
}

/// The signed-in address of a request, or 401.
pub async fn signed_in(state: &AuthState, headers: &HeaderMap) -> Result<Address, Problem> {
    let hash = token_hash(headers)?;
    let session = state
        .hospital
        .store
        .use_session(hash, now_ms(), IDLE_MS)
        .await
        .map_err(Problem::internal)?;
    session.map(|s| s.address).ok_or_else(|| {
        Problem::unauthorized(
            "the session has ended (signed out, idle for 30 minutes, or older than 12 hours): sign in again",
        )
    })
}

/// `GET /api/v1/auth/session`: who is signed in, what they are here (admin, doctor, patient),
/// and the CSRF token their cookie session needs for changes.
pub async fn session(
    State(state): State<AuthState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Problem> {
    let address = signed_in(&state, &headers).await?;
    let roles = state
        .hospital
        .records
        .roles(address)
        .await
        .map_err(crate::api::problem)?;
    let csrf = token(&headers).map(|t| crate::csrf::token_for(&t));
    Ok(Json(
        serde_json::json!({ "address": address, "roles": roles, "csrfToken": csrf }),
    ))
}

/// `POST /api/v1/auth/logout`: ends the session.
pub async fn logout(State(state): State<AuthState>, headers: HeaderMap) -> Result<Response, Problem> {
    // Signing out leaves the caller signed out, whatever they held: 204 with or without a token,
    // valid or not (the cookie is cleared either way).
    if let Some(token) = token(&headers) {
        state
            .hospital
            .store
            .end_session(keccak256(token.as_bytes()))
            .await
            .map_err(Problem::internal)?;
    }
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}
