//! Sign-in with Ethereum and sessions: `/api/v1/auth/{nonce,login,session,logout}`.
//!
//! A browser (or script) asks for a nonce, has the wallet sign an EIP-4361 message carrying it,
//! and posts message and signature. The message is checked in full (`medledger_core::siwe`), then
//! the nonce is consumed (one `DELETE`: a replayed or concurrently reused message fails), and a
//! session opens: a random 256-bit token, returned as a bearer token and set as an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` over HTTPS). Only the token's hash is stored. Sessions end
//! after 30 minutes idle or 12 hours in all, or at sign-out. Signing in is rate-limited per client
//! address and per wallet ([`crate::limits`]).

use axum::Router;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use medledger_core::siwe::{Expected, SiweMessage};
use medledger_store::now_ms;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{AppError, Result};
use crate::extract::{COOKIE, Json, SignedIn, token, token_hash};
use crate::state::AppState;

/// How long a nonce may wait for its signed message.
pub const NONCE_LIFETIME_MS: u64 = 10 * 60 * 1000;
/// A session ends after this long whatever happens.
pub const ABSOLUTE_MS: u64 = 12 * 60 * 60 * 1000;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/nonce", get(nonce))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/session", get(session))
        .route("/api/v1/auth/logout", post(logout))
}

fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    medledger_core::crypto::random_bytes(&mut bytes).map_err(AppError::internal)?;
    Ok(alloy::hex::encode(bytes))
}

/// `GET /api/v1/auth/nonce`: a fresh single-use nonce (rate-limited per client address, and
/// bounded in number outstanding).
async fn nonce(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    state
        .sign_in
        .client(state.sign_in.client_of(&extensions, &headers))?;
    let outstanding = state.hospital.store.outstanding_nonces(now_ms()).await?;
    if outstanding >= crate::limits::MOST_OUTSTANDING_NONCES {
        return Err(AppError::too_many(
            "too many sign-ins are under way on this server: try again in a minute",
            std::time::Duration::from_secs(60),
        ));
    }
    let token = random_token()?;
    let nonce = &token[..24];
    let expires_at = now_ms() + NONCE_LIFETIME_MS;
    state.hospital.store.issue_nonce(nonce, expires_at).await?;
    Ok(Json(json!({
        "nonce": nonce,
        "expiresAt": expires_at,
        "domain": state.origin.host,
        "chainId": state.hospital.deployment.chain_id,
    })))
}

/// The body of `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    /// The EIP-4361 message, exactly as signed.
    message: String,
    /// The wallet's `personal_sign` signature, 0x-hex.
    signature: String,
}

/// `POST /api/v1/auth/login`: checks the signed message and opens a session.
async fn login(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Json(login): Json<Login>,
) -> Result<Response> {
    state
        .sign_in
        .client(state.sign_in.client_of(&extensions, &headers))?;
    let signature = alloy::hex::decode(login.signature.trim())
        .map_err(|_| AppError::bad_request("signature must be 0x followed by 130 hexadecimal digits"))?;
    let message = SiweMessage::parse(&login.message).map_err(|e| AppError::unauthorized(e.to_string()))?;
    state.sign_in.wallet(message.address)?;
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
        .map_err(|e| AppError::unauthorized(e.to_string()))?;
    if !state.hospital.store.consume_nonce(&message.nonce, now).await? {
        return Err(AppError::unauthorized(
            "this sign-in message's nonce is unknown, expired or already used: ask for a new nonce and sign again",
        ));
    }
    let token = random_token()?;
    let expires_at = now + ABSOLUTE_MS;
    state
        .hospital
        .store
        .open_session(token_hash(&token), address, now, expires_at)
        .await?;
    let secure = if state.origin.scheme == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        ABSOLUTE_MS / 1000
    );
    let body = json!({
        "token": token,
        "csrfToken": crate::csrf::token_for(&token),
        "address": address,
        "expiresAt": expires_at,
    });
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// `GET /api/v1/auth/session`: who is signed in, what they are here (admin, doctor, patient),
/// and the CSRF token their cookie session needs for changes.
async fn session(
    State(state): State<AppState>,
    SignedIn(address): SignedIn,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let roles = state.hospital.records.roles(address).await?;
    let csrf = token(&headers).map(|t| crate::csrf::token_for(&t));
    Ok(Json(
        json!({ "address": address, "roles": roles, "csrfToken": csrf }),
    ))
}

/// `POST /api/v1/auth/logout`: ends the session. Signing out leaves the caller signed out,
/// whatever they held: 204 with or without a token, valid or not (the cookie is cleared either
/// way).
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if let Some(token) = token(&headers) {
        state.hospital.store.end_session(token_hash(&token)).await?;
    }
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok((axum::http::StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}
