//! A patient's consents: they give a doctor access (until revoked, or until a time), take it back,
//! and see who may read their record (as the chain says).

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{delete, get};
use medledger_ledger::records::Action;
use serde::Deserialize;
use serde_json::{Value, json};

use super::act;
use crate::error::Result;
use crate::extract::{Json, Path, PatientPath, address};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/patients/{id}/consents", get(list).post(grant))
        .route("/api/v1/patients/{id}/consents/{doctor}", delete(revoke))
}

/// The body of `POST /api/v1/patients/{id}/consents`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Consent {
    /// The doctor to give access.
    doctor: alloy::primitives::Address,
    /// Until when (Unix seconds); absent or 0: until revoked.
    expires_at: Option<u64>,
}

/// `POST /api/v1/patients/{id}/consents`: the patient gives a doctor access.
async fn grant(
    State(state): State<AppState>,
    path: PatientPath,
    Json(body): Json<Consent>,
) -> Result<Response> {
    let action = Action::GrantAccess {
        doctor: body.doctor,
        expires_at: body.expires_at.unwrap_or(0),
    };
    act(&state, path.caller, Some(path.patient), action).await
}

/// `DELETE /api/v1/patients/{id}/consents/{doctor}`: the patient withdraws a doctor's access.
async fn revoke(
    State(state): State<AppState>,
    path: PatientPath,
    Path((_, doctor)): Path<(String, String)>,
) -> Result<Response> {
    let action = Action::RevokeAccess {
        doctor: address(&doctor)?,
    };
    act(&state, path.caller, Some(path.patient), action).await
}

/// `GET /api/v1/patients/{id}/consents`: who may read the record (the patient, or an admin).
async fn list(
    State(state): State<AppState>,
    PatientPath { caller, patient }: PatientPath,
) -> Result<Json<Value>> {
    let grants = state.hospital.records.grants(caller, patient).await?;
    Ok(Json(json!({ "patientId": patient, "consents": grants })))
}
