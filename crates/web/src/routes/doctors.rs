//! Doctors: anyone signed in applies to practise here; an admin approves or revokes (signed
//! requests, so the contract decides); the directory lists them as the caller may see them.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use medledger_ledger::records::Action;
use serde::Deserialize;
use serde_json::{Value, json};

use super::act;
use crate::error::Result;
use crate::extract::{Json, Path, SignedIn, address};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/doctors", get(directory))
        .route("/api/v1/doctors/applications", post(apply))
        .route("/api/v1/doctors/{address}/approval", post(approve).delete(revoke))
}

/// The body of `POST /api/v1/doctors/applications`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewApplication {
    /// The applicant's name, as patients will see it.
    name: String,
    /// Their licence number.
    licence: String,
    /// Their speciality.
    speciality: Option<String>,
}

/// `POST /api/v1/doctors/applications`: the signed-in account applies to practise here. An admin
/// approves it with `POST /api/v1/doctors/{address}/approval`. A new application replaces an old one.
async fn apply(
    State(state): State<AppState>,
    SignedIn(applicant): SignedIn,
    Json(body): Json<NewApplication>,
) -> Result<Response> {
    let application = state
        .hospital
        .records
        .apply_as_doctor(
            applicant,
            &body.name,
            &body.licence,
            body.speciality.as_deref().unwrap_or(""),
        )
        .await?;
    let body = json!({
        "address": applicant,
        "name": application.name,
        "licence": application.licence,
        "speciality": application.speciality,
        "appliedAt": application.applied_at,
        "approved": false,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/v1/doctors`: the directory as the caller may see it (decided by the ledger).
async fn directory(State(state): State<AppState>, SignedIn(caller): SignedIn) -> Result<Json<Value>> {
    let doctors = state.hospital.records.directory(caller).await?;
    Ok(Json(json!({ "doctors": doctors })))
}

/// `POST /api/v1/doctors/{address}/approval`: an admin approves a doctor.
async fn approve(
    State(state): State<AppState>,
    SignedIn(admin): SignedIn,
    Path(doctor): Path<String>,
) -> Result<Response> {
    let action = Action::ApproveDoctor {
        doctor: address(&doctor)?,
    };
    act(&state, admin, None, action).await
}

/// `DELETE /api/v1/doctors/{address}/approval`: an admin revokes a doctor.
async fn revoke(
    State(state): State<AppState>,
    SignedIn(admin): SignedIn,
    Path(doctor): Path<String>,
) -> Result<Response> {
    let action = Action::RevokeDoctor {
        doctor: address(&doctor)?,
    };
    act(&state, admin, None, action).await
}
