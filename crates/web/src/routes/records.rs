//! A patient's records: a doctor with access writes (or amends) an entry; the patient, and doctors
//! with their consent or emergency access, read the whole history with each entry's proof.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use medledger_core::entry::EntryKind;
use medledger_core::entry::RecordId;
use medledger_ledger::records::ReadEntry;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::requests::accepted;
use crate::error::{AppError, Result};
use crate::extract::{Json, PatientPath};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/patients/{id}/records", get(read).post(write))
}

/// The body of `POST /api/v1/patients/{id}/records`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewRecord {
    /// `diagnosis`, `medication`, `observation`, `note` or `allergy`, or the FHIR resource type
    /// of another kind (`Immunization`).
    kind: String,
    /// The entry: a JSON object (a FHIR resource).
    content: Value,
    /// The record this amends, if any.
    amends: Option<String>,
}

/// A kind by its name here (`diagnosis`, `medication`, `observation`, `note`, `allergy`) or by the
/// FHIR resource type it holds (`Immunization`); not the demographics, which have their own route.
fn kind(text: &str) -> Result<EntryKind> {
    let kind = match text {
        "diagnosis" => Some(EntryKind::Diagnosis),
        "medication" => Some(EntryKind::Medication),
        "observation" => Some(EntryKind::Observation),
        "note" => Some(EntryKind::Note),
        "allergy" => Some(EntryKind::Allergy),
        other => EntryKind::of_fhir_type(other),
    };
    kind.filter(|k| *k != EntryKind::Demographics).ok_or_else(|| {
        AppError::bad_request(format!(
            "kind {text:?} is not one of diagnosis, medication, observation, note, allergy, or a clinical FHIR resource type of the patient's chart (Encounter, Immunization, Procedure, …: see /fhir/metadata)"
        ))
    })
}

/// `POST /api/v1/patients/{id}/records`: a doctor writes (or amends) an entry.
async fn write(
    State(state): State<AppState>,
    PatientPath { caller, patient }: PatientPath,
    Json(body): Json<NewRecord>,
) -> Result<Response> {
    let amends = body
        .amends
        .as_deref()
        .map(|r| {
            r.parse::<RecordId>()
                .map_err(|_| AppError::bad_request(format!("amends {r:?} is not a record id")))
        })
        .transpose()?;
    let kind = kind(&body.kind)?;
    let content = crate::fhir::checked_entry(kind, patient, body.content).map_err(|outcome| {
        AppError::unprocessable(format!(
            "the content is not a valid FHIR R4 resource of this kind: {outcome}"
        ))
    })?;
    let (record, revision, write) = state
        .hospital
        .records
        .record(caller, patient, kind, &content, amends)
        .await?;
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
struct Records {
    /// The patient.
    patient_id: String,
    /// Their history.
    records: Vec<ReadEntry>,
}

/// `GET /api/v1/patients/{id}/records`: the history, each version the chain holds with its proof.
async fn read(
    State(state): State<AppState>,
    PatientPath { caller, patient }: PatientPath,
) -> Result<Json<Records>> {
    let records = state.hospital.records.history(caller, patient).await?;
    Ok(Json(Records {
        patient_id: patient.to_string(),
        records,
    }))
}
