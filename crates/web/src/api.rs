//! The JSON API for records (`/api/v1`): one pattern for every chain-changing action.
//!
//! A `POST` on a resource validates, stores and answers `202 Accepted` with the outbox request's id
//! and the EIP-712 typed data for the caller's wallet to sign (`eth_signTypedData_v4`); the
//! signature goes to `POST /api/v1/requests/{id}/signature`; `GET /api/v1/requests/{id}` says
//! `awaiting-signature`, `signed`, `submitted`, `included`, `anchored` (tx hash, block) or
//! `rejected` (the contract's reason). Every route needs a session (see [`crate::auth`]).

use alloy::primitives::Address;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use medledger_contracts::forward::{self, ForwardRequest};
use medledger_contracts::history::EntryKind;
use medledger_core::blind::Match;
use medledger_core::entry::{PatientId, RecordId};
use medledger_ledger::records::{Action, Demographics, PendingWrite, ReadEntry};
use medledger_store::requests::RequestStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::{AuthState, signed_in};
use crate::problem::Problem;

/// How the record flows' errors reach a client.
pub(crate) fn problem(err: medledger_ledger::Error) -> Problem {
    use medledger_ledger::Error as E;
    let status = match &err {
        E::UnknownPatient(_) | E::UnknownRecord(_) => StatusCode::NOT_FOUND,
        E::Forbidden(_) => StatusCode::FORBIDDEN,
        E::PatientNotAnchored(_) | E::NotAwaitingSignature(_) | E::Conflict(_) | E::Disagreement(_) => {
            StatusCode::CONFLICT
        }
        E::InvalidEntry(_) | E::WrongSigner { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        E::Core(medledger_core::Error::SearchTooShort(_)) => StatusCode::BAD_REQUEST,
        E::Store(medledger_store::Error::DuplicateWallet(_)) => StatusCode::CONFLICT,
        _ => return Problem::internal(err),
    };
    let title = match status {
        _ if matches!(err, E::Disagreement(_)) => "The store disagrees with the chain",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::BAD_REQUEST => "Bad request",
        _ => "Unprocessable request",
    };
    Problem {
        status,
        title,
        detail: err.to_string(),
    }
}

/// The EIP-712 typed data of a forward request, as `eth_signTypedData_v4` takes it.
pub fn typed_data(request: &ForwardRequest, chain_id: u64, forwarder: Address) -> Value {
    json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "ForwardRequest": [
                {"name": "from", "type": "address"},
                {"name": "to", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "gas", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint48"},
                {"name": "data", "type": "bytes"},
            ],
        },
        "primaryType": "ForwardRequest",
        "domain": {
            "name": forward::DOMAIN_NAME,
            "version": forward::DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": forwarder,
        },
        "message": {
            "from": request.from,
            "to": request.to,
            "value": request.value.to_string(),
            "gas": request.gas.to_string(),
            "nonce": request.nonce.to_string(),
            "deadline": request.deadline.to::<u64>(),
            "data": request.data,
        },
    })
}

fn accepted(state: &AuthState, write: &PendingWrite, extra: Value) -> Response {
    let d = state.hospital.deployment;
    let mut body = json!({
        "requestId": write.request_id,
        "status": "awaiting-signature",
        "signingHash": write.signing_hash,
        "typedData": typed_data(&write.request, d.chain_id, d.forwarder),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

pub(crate) fn patient_id(text: &str) -> Result<PatientId, Problem> {
    text.parse()
        .map_err(|_| Problem::bad_request(format!("{text:?} is not a patient id (32 hexadecimal digits)")))
}

/// The body of `POST /api/v1/patients`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPatient {
    /// The patient's wallet address.
    pub wallet: Address,
    /// Full name.
    pub name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// Phone or e-mail.
    pub contact: String,
}

/// `POST /api/v1/patients`: a doctor registers a patient.
pub async fn register_patient(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Json(body): Json<NewPatient>,
) -> Result<Response, Problem> {
    let doctor = signed_in(&state, &headers).await?;
    let demographics = Demographics {
        name: body.name,
        birth_date: body.birth_date,
        contact: body.contact,
    };
    let (patient, write) = state
        .hospital
        .records
        .register_patient(doctor, body.wallet, &demographics)
        .await
        .map_err(problem)?;
    Ok(accepted(
        &state,
        &write,
        json!({ "patientId": patient.to_string() }),
    ))
}

/// The body of `POST /api/v1/patients/{id}/records`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRecord {
    /// `diagnosis`, `medication`, `observation`, `note` or `allergy`.
    pub kind: String,
    /// The entry: a JSON object (a FHIR resource).
    pub content: Value,
    /// The record this amends, if any.
    pub amends: Option<String>,
}

fn kind(text: &str) -> Result<EntryKind, Problem> {
    Ok(match text {
        "diagnosis" => EntryKind::Diagnosis,
        "medication" => EntryKind::Medication,
        "observation" => EntryKind::Observation,
        "note" => EntryKind::Note,
        "allergy" => EntryKind::Allergy,
        other => {
            return Err(Problem::bad_request(format!(
                "kind {other:?} is not one of diagnosis, medication, observation, note, allergy"
            )));
        }
    })
}

/// `POST /api/v1/patients/{id}/records`: a doctor writes (or amends) an entry.
pub async fn write_record(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<NewRecord>,
) -> Result<Response, Problem> {
    let author = signed_in(&state, &headers).await?;
    let patient = patient_id(&id)?;
    let amends = body
        .amends
        .as_deref()
        .map(|r| {
            r.parse::<RecordId>()
                .map_err(|_| Problem::bad_request(format!("amends {r:?} is not a record id")))
        })
        .transpose()?;
    let kind = kind(&body.kind)?;
    let content = crate::fhir::checked_entry(kind, patient, body.content).map_err(|outcome| Problem {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        title: "Unprocessable request",
        detail: format!("the content is not a valid FHIR R4 resource of this kind: {outcome}"),
    })?;
    let (record, revision, write) = state
        .hospital
        .records
        .record(author, patient, kind, &content, amends)
        .await
        .map_err(problem)?;
    Ok(accepted(
        &state,
        &write,
        json!({ "recordId": record.to_string(), "revision": revision }),
    ))
}

/// The answer to `GET /api/v1/patients/{id}/records`, serialised as it is (`json!` would first
/// copy every entry's content into a new JSON tree).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Records {
    /// The patient.
    pub patient_id: String,
    /// Their history.
    pub records: Vec<ReadEntry>,
}

/// `GET /api/v1/patients/{id}/records`: the history, each entry with its proof.
pub async fn read_records(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Records>, Problem> {
    let reader = signed_in(&state, &headers).await?;
    let records = state
        .hospital
        .records
        .history(reader, patient_id(&id)?)
        .await
        .map_err(problem)?;
    Ok(Json(Records {
        patient_id: id,
        records,
    }))
}

/// The body of `POST /api/v1/requests/{id}/signature`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The wallet's EIP-712 signature, 0x-hex (65 bytes).
    pub signature: String,
}

/// `POST /api/v1/requests/{id}/signature`: the wallet's signature; the server relays.
pub async fn sign_request(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(body): Json<Signature>,
) -> Result<Response, Problem> {
    signed_in(&state, &headers).await?;
    let signature = alloy::hex::decode(body.signature.trim())
        .map_err(|_| Problem::bad_request("signature must be 0x followed by 130 hexadecimal digits"))?;
    state
        .hospital
        .records
        .sign(id, &signature)
        .await
        .map_err(problem)?;
    state.hospital.wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "requestId": id, "status": "signed" })),
    )
        .into_response())
}

/// The longest a status request may wait for its request to settle, in seconds.
pub const MOST_WAIT_SECS: u64 = 30;

/// The query of `GET /api/v1/requests/{id}`.
#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    /// Seconds to wait (at most [`MOST_WAIT_SECS`]) for the request to be anchored or refused
    /// before answering: a long poll, instead of asking again and again.
    pub wait: Option<u64>,
}

/// `GET /api/v1/requests/{id}[?wait=SECONDS]`: where a request stands (its signer only). With
/// `wait`, the answer comes as soon as the request is anchored or rejected, or when the wait is
/// over (or the server is shutting down) with the status it has then.
pub async fn request_status(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(query): Query<StatusQuery>,
) -> Result<Json<Value>, Problem> {
    let caller = signed_in(&state, &headers).await?;
    let not_found = || Problem {
        status: StatusCode::NOT_FOUND,
        title: "Not found",
        detail: format!("no request {id} of yours"),
    };
    let wait = query.wait.unwrap_or(0);
    if wait > MOST_WAIT_SECS {
        return Err(Problem::bad_request(format!(
            "wait is at most {MOST_WAIT_SECS} seconds; ask again after that"
        )));
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    // Subscribed before the first read, so that nothing settling between the read and the wait
    // is missed.
    let mut settled = state.hospital.settled.subscribe();
    let mut closing = state.hospital.closing.subscribe();
    loop {
        let request = state
            .hospital
            .store
            .request(id)
            .await
            .map_err(Problem::internal)?
            .ok_or_else(not_found)?;
        if request.signer != caller {
            return Err(not_found());
        }
        // Settled, or waiting for the signer (nothing happens until they sign: say so now).
        let done = matches!(
            request.status,
            RequestStatus::Anchored | RequestStatus::Rejected | RequestStatus::AwaitingSignature
        );
        if done || *closing.borrow_and_update() || !settles(id, &mut settled, &mut closing, deadline).await {
            let mut body = json!({
                "requestId": id,
                "purpose": request.purpose,
                "status": request.status.as_str(),
                "txHash": request.tx_hash,
                "blockNumber": request.block_number,
                "reason": request.reason,
            });
            if request.status == RequestStatus::AwaitingSignature {
                // What to sign: a request offered again after an earlier one was declined or
                // refused carries a new forwarder nonce.
                let d = state.hospital.deployment;
                let typed = ForwardRequest::new(
                    request.signer,
                    d.ledger,
                    request.calldata.clone().into(),
                    request.gas,
                    alloy::primitives::U256::from(request.forward_nonce),
                    request.deadline,
                );
                body["signingHash"] = json!(typed.signing_hash(&forward::domain(d.chain_id, d.forwarder)));
                body["typedData"] = typed_data(&typed, d.chain_id, d.forwarder);
            }
            return Ok(Json(body));
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

/// The query of `GET /api/v1/patients`.
#[derive(Debug, Deserialize)]
pub struct Search {
    /// Words of the name; absent: the patients the caller may read.
    pub name: Option<String>,
    /// `prefix` (default) or `exact`.
    #[serde(rename = "match")]
    pub how: Option<String>,
}

/// `GET /api/v1/patients?name=…&match=prefix|exact`: doctors search patients by name. Without a
/// name: the patients whose records the caller holds access to (a doctor) or their own (a patient).
pub async fn search(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Query(query): Query<Search>,
) -> Result<Json<Value>, Problem> {
    let reader = signed_in(&state, &headers).await?;
    let Some(name) = query.name else {
        return crate::people::my_patients(&state, reader).await;
    };
    let how = match query.how.as_deref() {
        None | Some("prefix") => Match::Prefix,
        Some("exact") => Match::Exact,
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "match {other:?} is prefix or exact"
            )));
        }
    };
    let found = state
        .hospital
        .records
        .search(reader, &name, how)
        .await
        .map_err(problem)?;
    let ids: Vec<String> = found.iter().map(ToString::to_string).collect();
    Ok(Json(json!({ "patients": ids })))
}

/// `GET /api/v1/patients/{id}/audit`: who read or wrote the patient's record (the patient only).
pub async fn audit(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let caller = signed_in(&state, &headers).await?;
    let patient = patient_id(&id)?;
    let trail = state
        .hospital
        .records
        .trail(caller, patient)
        .await
        .map_err(problem)?;
    Ok(Json(
        json!({ "patientId": id, "integrity": trail.integrity, "events": trail.events }),
    ))
}

/// The query of `GET /api/v1/requests`.
#[derive(Debug, Deserialize)]
pub struct MineQuery {
    /// Which status (default `awaiting-signature`).
    pub status: Option<String>,
}

/// `GET /api/v1/requests[?status=…]`: the caller's own requests in a status, oldest first (at
/// most 500): what a wallet that reconnects, or an interrupted import, has left to sign or decline.
pub async fn my_requests(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Query(query): Query<MineQuery>,
) -> Result<Json<Value>, Problem> {
    let caller = signed_in(&state, &headers).await?;
    let wanted = query.status.as_deref().unwrap_or("awaiting-signature");
    let status = RequestStatus::from_name(wanted).ok_or_else(|| {
        Problem::bad_request(format!(
            "status {wanted:?} is one of awaiting-signature, signed, submitted, included, anchored, rejected"
        ))
    })?;
    let requests = state
        .hospital
        .store
        .requests_of(caller, status, 500)
        .await
        .map_err(Problem::internal)?;
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
/// wallet refused it); it ends `rejected` and frees its place in their queue.
pub async fn decline_request(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let caller = signed_in(&state, &headers).await?;
    let theirs = state
        .hospital
        .store
        .request(id)
        .await
        .map_err(Problem::internal)?
        .is_some_and(|r| r.signer == caller);
    if !theirs {
        return Err(Problem {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            detail: format!("no request {id} of yours"),
        });
    }
    let reoffered = state
        .hospital
        .records
        .decline(caller, id)
        .await
        .map_err(problem)?;
    // Nobody waiting is not an error.
    let changed: Vec<i64> = std::iter::once(id).chain(reoffered).collect();
    let _ = state.hospital.settled.send(changed.into());
    Ok(Json(
        json!({ "requestId": id, "status": "rejected", "reason": "declined: the signer did not sign it" }),
    ))
}

/// The body of `POST /api/v1/patients/{id}/consents`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Consent {
    /// The doctor to give access.
    pub doctor: Address,
    /// Until when (Unix seconds); absent or 0: until revoked.
    pub expires_at: Option<u64>,
}

pub(crate) async fn act(
    state: &AuthState,
    headers: &HeaderMap,
    patient: Option<PatientId>,
    action: Action,
) -> Result<Response, Problem> {
    let signer = signed_in(state, headers).await?;
    let write = state
        .hospital
        .records
        .act(signer, patient, action)
        .await
        .map_err(problem)?;
    Ok(accepted(state, &write, json!({})))
}

pub(crate) fn address(text: &str) -> Result<Address, Problem> {
    text.parse().map_err(|_| {
        Problem::bad_request(format!(
            "{text:?} is not an address (0x and 40 hexadecimal digits)"
        ))
    })
}

/// `POST /api/v1/patients/{id}/consents`: the patient gives a doctor access.
pub async fn grant_consent(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Consent>,
) -> Result<Response, Problem> {
    let action = Action::GrantAccess {
        doctor: body.doctor,
        expires_at: body.expires_at.unwrap_or(0),
    };
    act(&state, &headers, Some(patient_id(&id)?), action).await
}

/// `DELETE /api/v1/patients/{id}/consents/{doctor}`: the patient withdraws a doctor's access.
pub async fn revoke_consent(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path((id, doctor)): Path<(String, String)>,
) -> Result<Response, Problem> {
    act(
        &state,
        &headers,
        Some(patient_id(&id)?),
        Action::RevokeAccess {
            doctor: address(&doctor)?,
        },
    )
    .await
}

/// `POST /api/v1/doctors/{address}/approval`: an admin approves a doctor.
pub async fn approve_doctor(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(doctor): Path<String>,
) -> Result<Response, Problem> {
    act(
        &state,
        &headers,
        None,
        Action::ApproveDoctor {
            doctor: address(&doctor)?,
        },
    )
    .await
}

/// `DELETE /api/v1/doctors/{address}/approval`: an admin revokes a doctor.
pub async fn revoke_doctor(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(doctor): Path<String>,
) -> Result<Response, Problem> {
    act(
        &state,
        &headers,
        None,
        Action::RevokeDoctor {
            doctor: address(&doctor)?,
        },
    )
    .await
}

/// `GET /api/v1/verify`: the verification report (admins only: the ledger decides).
pub async fn verify(State(state): State<AuthState>, headers: HeaderMap) -> Result<Json<Value>, Problem> {
    let caller = signed_in(&state, &headers).await?;
    let report = state
        .hospital
        .records
        .verify_as(caller, state.hospital.verify_options())
        .await
        .map_err(problem)?;
    let findings = report.findings();
    let mut body = serde_json::to_value(&report).map_err(Problem::internal)?;
    body["findings"] = json!(findings);
    Ok(Json(body))
}

/// The body of `POST /api/v1/patients/{id}/emergency-access`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmergencyRequest {
    /// Why (shown to the patient; never on-chain).
    pub reason: String,
    /// For how long, in seconds (60 to 86400).
    pub duration_secs: u64,
}

/// `POST /api/v1/patients/{id}/emergency-access`: a doctor opens break-glass access, with a reason.
pub async fn open_emergency(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<EmergencyRequest>,
) -> Result<Response, Problem> {
    let doctor = signed_in(&state, &headers).await?;
    let write = state
        .hospital
        .records
        .open_emergency(doctor, patient_id(&id)?, &body.reason, body.duration_secs)
        .await
        .map_err(problem)?;
    Ok(accepted(&state, &write, json!({})))
}

/// `GET /api/v1/patients/{id}/emergency-access`: the emergency accesses and their reasons (the
/// patient only).
pub async fn emergencies(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let reader = signed_in(&state, &headers).await?;
    let list = state
        .hospital
        .records
        .emergencies(reader, patient_id(&id)?)
        .await
        .map_err(problem)?;
    Ok(Json(json!({ "patientId": id, "emergencies": list })))
}
