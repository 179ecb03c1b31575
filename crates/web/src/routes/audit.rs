//! Who read or changed what: the patient's access trail (theirs alone), and the verification
//! report (admins alone). Both decided by the ledger.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use crate::error::{AppError, Result};
use crate::extract::{Json, PatientPath, SignedIn};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/patients/{id}/audit", get(trail))
        .route("/api/v1/verify", get(verify))
}

/// `GET /api/v1/patients/{id}/audit`: who read or wrote the patient's record, how each write
/// ended, and whether the audit log verifies (the patient only).
async fn trail(
    State(state): State<AppState>,
    PatientPath { caller, patient }: PatientPath,
) -> Result<Json<Value>> {
    let trail = state.hospital.records.trail(caller, patient).await?;
    Ok(Json(json!({
        "patientId": patient,
        "integrity": trail.integrity,
        "events": trail.events,
    })))
}

/// `GET /api/v1/verify`: the verification report (admins only).
async fn verify(State(state): State<AppState>, SignedIn(caller): SignedIn) -> Result<Json<Value>> {
    let report = state
        .hospital
        .records
        .verify_as(caller, state.hospital.verify_options())
        .await?;
    let findings = report.findings();
    let mut body = serde_json::to_value(&report).map_err(AppError::internal)?;
    body["findings"] = json!(findings);
    Ok(Json(body))
}
