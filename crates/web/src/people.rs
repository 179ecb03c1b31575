//! The API's directory routes: who is signed in and what they are, doctors and their applications,
//! a patient's profile and who may read it, a doctor's patients, closing an emergency access.

use alloy::primitives::Address;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use medledger_ledger::directory::DirectoryEntry;
use medledger_ledger::records::Action;
use medledger_store::doctors::Application;
use medledger_store::now_ms;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{act, patient_id, problem};
use crate::auth::{AuthState, signed_in};
use crate::problem::Problem;

/// The patients the caller may read: a doctor's (consent or emergency), a patient's own.
pub(crate) async fn my_patients(state: &AuthState, reader: Address) -> Result<Json<Value>, Problem> {
    let records = &state.hospital.records;
    let roles = records.roles(reader).await.map_err(problem)?;
    let access = if roles.doctor {
        records.patients_of(reader).await.map_err(problem)?
    } else {
        vec![]
    };
    let mut ids: Vec<String> = roles.patient.iter().map(ToString::to_string).collect();
    ids.extend(access.iter().filter(|a| a.open).map(|a| a.patient.to_string()));
    Ok(Json(json!({ "patients": ids, "access": access })))
}

/// `GET /api/v1/patients/{id}`: the patient's wallet, on-chain id and demographics, for whoever
/// may read their records.
pub async fn patient(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let reader = signed_in(&state, &headers).await?;
    let patient = patient_id(&id)?;
    let demographics = state
        .hospital
        .records
        .demographics(reader, patient)
        .await
        .map_err(problem)?;
    let stored = state
        .hospital
        .store
        .patient(patient)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(|| problem(medledger_ledger::Error::UnknownPatient(id.clone())))?;
    // The wallet and on-chain id were just checked against the chain (a disagreement is a 409).
    Ok(Json(json!({
        "patientId": patient,
        "wallet": stored.wallet,
        "onChainId": stored.chain_id,
        "demographics": demographics.resource,
        "demographicsProof": demographics.proof,
    })))
}

/// `GET /api/v1/patients/{id}/consents`: who may read the record (the patient, or an admin).
pub async fn consents(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let reader = signed_in(&state, &headers).await?;
    let patient = patient_id(&id)?;
    let grants = state
        .hospital
        .records
        .grants(reader, patient)
        .await
        .map_err(problem)?;
    Ok(Json(json!({ "patientId": patient, "consents": grants })))
}

/// `DELETE /api/v1/patients/{id}/emergency-access`: the doctor closes their emergency access early.
pub async fn close_emergency(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    act(&state, &headers, Some(patient_id(&id)?), Action::CloseEmergency).await
}

/// The body of `POST /api/v1/doctors/applications`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewApplication {
    /// The applicant's name, as patients will see it.
    pub name: String,
    /// Their licence number.
    pub licence: String,
    /// Their speciality.
    pub speciality: Option<String>,
}

fn field(name: &str, value: &str, max: usize, required: bool) -> Result<String, Problem> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(Problem::bad_request(format!("{name} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(Problem::bad_request(format!(
            "{name} is at most {max} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Problem::bad_request(format!(
            "{name} must be one line of text (no control characters)"
        )));
    }
    Ok(value.to_owned())
}

/// `POST /api/v1/doctors/applications`: the signed-in account applies to practise here. An admin
/// approves it with `POST /api/v1/doctors/{address}/approval`. A new application replaces an old one.
pub async fn apply(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Json(body): Json<NewApplication>,
) -> Result<Response, Problem> {
    let applicant = signed_in(&state, &headers).await?;
    let application = Application {
        address: applicant,
        name: field("name", &body.name, 200, true)?,
        licence: field("licence", &body.licence, 100, true)?,
        speciality: field("speciality", body.speciality.as_deref().unwrap_or(""), 100, false)?,
        applied_at: now_ms(),
    };
    state
        .hospital
        .store
        .apply_as_doctor(&application)
        .await
        .map_err(Problem::internal)?;
    tracing::info!(%applicant, "doctor application");
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

/// The doctor directory as `caller` may see it (decided by the ledger).
pub(crate) async fn directory(state: &AuthState, caller: Address) -> Result<Vec<DirectoryEntry>, Problem> {
    state.hospital.records.directory(caller).await.map_err(problem)
}

/// `GET /api/v1/doctors`: see [`directory`].
pub async fn doctors(State(state): State<AuthState>, headers: HeaderMap) -> Result<Json<Value>, Problem> {
    let caller = signed_in(&state, &headers).await?;
    Ok(Json(json!({ "doctors": directory(&state, caller).await? })))
}
