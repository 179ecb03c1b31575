//! Emergency (break-glass) access: a doctor opens it with a reason (sealed for the patient) and may
//! close it early; the patient reads every one, with its reason.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use medledger_ledger::records::Action;
use serde::Deserialize;
use serde_json::{Value, json};

use super::act;
use super::requests::accepted;
use crate::error::Result;
use crate::extract::{Json, PatientPath};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/patients/{id}/emergency-access",
        get(list).post(open).delete(close),
    )
}

/// The body of `POST /api/v1/patients/{id}/emergency-access`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EmergencyRequest {
    /// Why (shown to the patient; never on-chain).
    reason: String,
    /// For how long, in seconds (60 to 86400).
    duration_secs: u64,
}

/// `POST /api/v1/patients/{id}/emergency-access`: a doctor opens break-glass access, with a reason.
async fn open(
    State(state): State<AppState>,
    PatientPath { caller, patient }: PatientPath,
    Json(body): Json<EmergencyRequest>,
) -> Result<Response> {
    let write = state
        .hospital
        .records
        .open_emergency(caller, patient, &body.reason, body.duration_secs)
        .await?;
    Ok(accepted(&state, &write, json!({})))
}

/// `DELETE /api/v1/patients/{id}/emergency-access`: the doctor closes their emergency access early.
async fn close(State(state): State<AppState>, path: PatientPath) -> Result<Response> {
    act(&state, path.caller, Some(path.patient), Action::CloseEmergency).await
}

/// `GET /api/v1/patients/{id}/emergency-access`: the emergency accesses and their reasons (the
/// patient only).
async fn list(
    State(state): State<AppState>,
    PatientPath { caller, patient }: PatientPath,
) -> Result<Json<Value>> {
    let list = state.hospital.records.emergencies(caller, patient).await?;
    Ok(Json(json!({ "patientId": patient, "emergencies": list })))
}
