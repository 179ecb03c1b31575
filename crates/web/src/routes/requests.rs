//! The chain requests users sign: every chain-changing route answers `202 Accepted` with the
//! request's id and the EIP-712 typed data for the caller's wallet (`eth_signTypedData_v4`); the
//! signature comes back to `POST /api/v1/requests/{id}/signature`; `GET /api/v1/requests/{id}`
//! says where it stands, as a long poll with `?wait=`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use medledger_ledger::records::PendingWrite;
use medledger_store::requests::{ChainRequest, RequestStatus};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{AppError, Result};
use crate::extract::{Json, Path, Query, SignedIn};
use crate::state::AppState;

/// The longest a status request may wait for its request to settle, in seconds.
pub const MOST_WAIT_SECS: u64 = 30;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/requests", get(mine))
        .route("/api/v1/requests/{id}", get(status).delete(decline))
        .route("/api/v1/requests/{id}/signature", post(sign))
}

/// The `202 Accepted` of a chain-changing route: the request to sign, and `extra` fields.
pub(crate) fn accepted(state: &AppState, write: &PendingWrite, extra: Value) -> Response {
    let mut body = json!({
        "requestId": write.request_id,
        "status": "awaiting-signature",
        "signingHash": write.signing_hash,
        "typedData": state.hospital.records.typed_data(&write.request),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// The body of `POST /api/v1/requests/{id}/signature`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Signature {
    /// The wallet's EIP-712 signature, 0x-hex (65 bytes).
    signature: String,
}

/// `POST /api/v1/requests/{id}/signature`: the wallet's signature; the server relays.
async fn sign(
    State(state): State<AppState>,
    SignedIn(_): SignedIn,
    Path(id): Path<i64>,
    Json(body): Json<Signature>,
) -> Result<Response> {
    let signature = alloy::hex::decode(body.signature.trim())
        .map_err(|_| AppError::bad_request("signature must be 0x followed by 130 hexadecimal digits"))?;
    state.hospital.records.sign(id, &signature).await?;
    state.hospital.signed().await;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "requestId": id, "status": "signed" })),
    )
        .into_response())
}

/// The query of `GET /api/v1/requests/{id}`.
#[derive(Debug, Deserialize)]
struct StatusQuery {
    /// Seconds to wait (at most [`MOST_WAIT_SECS`]) for the request to be anchored or refused
    /// before answering: a long poll, instead of asking again and again.
    wait: Option<u64>,
}

/// A request as its signer sees it; with what to sign while it awaits a signature (a request
/// offered again after an earlier one was declined or refused carries a new forwarder nonce),
/// and, once signed, the earlier request of theirs it waits for, if one still awaits a
/// signature.
async fn answer(state: &AppState, request: &ChainRequest) -> Result<Value> {
    let mut body = json!({
        "requestId": request.id,
        "purpose": request.purpose,
        "status": request.status.as_str(),
        "txHash": request.tx_hash,
        "blockNumber": request.block_number,
        "reason": request.reason,
    });
    if request.status == RequestStatus::AwaitingSignature {
        let records = &state.hospital.records;
        let to_sign = records.to_sign(request);
        body["signingHash"] = json!(to_sign.signing_hash);
        body["typedData"] = records.typed_data(&to_sign.request);
    }
    if let Some(earlier) = state.hospital.records.waits_for(request).await? {
        body["waitsFor"] = json!(earlier);
        body["reason"] = json!(format!(
            "waits for your request {earlier}, which awaits your signature: a wallet's requests go \
             to the chain in order; sign or decline request {earlier}"
        ));
    }
    Ok(body)
}

/// `GET /api/v1/requests/{id}[?wait=SECONDS]`: where a request stands (its signer only). With
/// `wait`, the answer comes as soon as the request is anchored or rejected, at once while it
/// awaits its signer's signature, or when the wait is over (or the server is shutting down) with
/// the status it has then.
async fn status(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    Path(id): Path<i64>,
    Query(query): Query<StatusQuery>,
) -> Result<Json<Value>> {
    let wait = query.wait.unwrap_or(0);
    if wait > MOST_WAIT_SECS {
        return Err(AppError::bad_request(format!(
            "wait is at most {MOST_WAIT_SECS} seconds; ask again after that"
        )));
    }
    let request = settled(&state, caller, id, std::time::Duration::from_secs(wait)).await?;
    Ok(Json(answer(&state, &request).await?))
}

/// `caller`'s request `id`, as soon as it is anchored or refused, at once while it awaits its
/// signer's signature, or when `wait` is over (or the server begins to shut down) as it is then.
pub(crate) async fn settled(
    state: &AppState,
    caller: alloy::primitives::Address,
    id: i64,
    wait: std::time::Duration,
) -> Result<ChainRequest> {
    let deadline = tokio::time::Instant::now() + wait;
    // Subscribed before the first read, so that nothing settling between the read and the wait
    // is missed.
    let mut settled = state.hospital.settled.subscribe();
    let mut closing = state.hospital.closing.subscribe();
    loop {
        let request = state.hospital.records.request_of(caller, id).await?;
        // Settled, or waiting for the signer (nothing happens until they sign: say so now), or
        // signed but waiting for an earlier request of theirs that awaits their signature.
        let done = matches!(
            request.status,
            RequestStatus::Anchored | RequestStatus::Rejected | RequestStatus::AwaitingSignature
        ) || state.hospital.records.waits_for(&request).await?.is_some();
        if done || *closing.borrow_and_update() || !settles(id, &mut settled, &mut closing, deadline).await {
            return Ok(request);
        }
    }
}

/// Waits until request `id` is among those settling (true: read it again), or the deadline
/// passes or the server begins to shut down (false).
async fn settles(
    id: i64,
    settled: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<[i64]>>,
    closing: &mut tokio::sync::watch::Receiver<bool>,
    deadline: tokio::time::Instant,
) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        tokio::select! {
            batch = settled.recv() => match batch {
                Ok(ids) if ids.contains(&id) => return true,
                Ok(_) => {}
                // Fell behind: whatever was missed, the store knows.
                Err(RecvError::Lagged(_)) => return true,
                Err(RecvError::Closed) => return false,
            },
            _ = closing.changed() => return false,
            () = tokio::time::sleep_until(deadline) => return false,
        }
    }
}

/// The query of `GET /api/v1/requests`.
#[derive(Debug, Deserialize)]
struct MineQuery {
    /// Which status (default `awaiting-signature`).
    status: Option<String>,
}

/// `GET /api/v1/requests[?status=…]`: the caller's own requests in a status, oldest first (at
/// most 500): what a wallet that reconnects, or an interrupted import, has left to sign or decline.
async fn mine(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    Query(query): Query<MineQuery>,
) -> Result<Json<Value>> {
    let wanted = query.status.as_deref().unwrap_or("awaiting-signature");
    let status = RequestStatus::from_name(wanted).ok_or_else(|| {
        AppError::bad_request(format!(
            "status {wanted:?} is one of awaiting-signature, signed, submitted, included, anchored, rejected"
        ))
    })?;
    let requests = state.hospital.records.requests_of(caller, status, 500).await?;
    let list: Vec<Value> = requests
        .iter()
        .map(|r| {
            json!({
                "requestId": r.id,
                "purpose": r.purpose,
                "status": r.status.as_str(),
                "txHash": r.tx_hash,
                "blockNumber": r.block_number,
                "reason": r.reason,
            })
        })
        .collect();
    Ok(Json(json!({ "requests": list })))
}

/// `DELETE /api/v1/requests/{id}`: the signer declines a request awaiting their signature (their
/// wallet refused it); it ends `rejected`, and their later requests move up in their queue.
async fn decline(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    Path(id): Path<i64>,
) -> Result<Json<Value>> {
    state.hospital.records.request_of(caller, id).await?;
    let reoffered = state.hospital.records.decline(caller, id).await?;
    // Told to whichever server a long poll waits on.
    let changed: Vec<i64> = std::iter::once(id).chain(reoffered).collect();
    state.hospital.tell_settled(changed).await;
    Ok(Json(
        json!({ "requestId": id, "status": "rejected", "reason": "declined: the signer did not sign it" }),
    ))
}
