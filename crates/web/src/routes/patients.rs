//! Patients: a doctor registers one (`POST /api/v1/patients`), finds them by name, lists those
//! they may read; anyone who may read a patient's records reads their profile.

use alloy::primitives::Address;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use medledger_core::blind::Match;
use medledger_ledger::records::Demographics;
use serde::Deserialize;
use serde_json::{Value, json};

use super::requests::accepted;
use crate::error::{AppError, Result};
use crate::extract::{Json, PatientPath, Query, SignedIn};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/patients", get(search).post(register))
        .route("/api/v1/patients/{id}", get(profile))
}

/// The body of `POST /api/v1/patients`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewPatient {
    /// The patient's wallet address.
    wallet: Address,
    /// Full name.
    name: String,
    /// `YYYY-MM-DD`.
    birth_date: String,
    /// Phone or e-mail.
    contact: String,
}

/// `POST /api/v1/patients`: a doctor registers a patient.
async fn register(
    State(state): State<AppState>,
    SignedIn(doctor): SignedIn,
    Json(body): Json<NewPatient>,
) -> Result<Response> {
    let demographics = Demographics {
        name: body.name,
        birth_date: body.birth_date,
        contact: body.contact,
    };
    let (patient, write) = state
        .hospital
        .records
        .register_patient(doctor, body.wallet, &demographics)
        .await?;
    Ok(accepted(
        &state,
        &write,
        json!({ "patientId": patient.to_string() }),
    ))
}

/// The query of `GET /api/v1/patients`.
#[derive(Debug, Deserialize)]
struct Search {
    /// Words of the name; absent: the patients the caller may read.
    name: Option<String>,
    /// `prefix` (default) or `exact`.
    #[serde(rename = "match")]
    how: Option<String>,
}

/// `GET /api/v1/patients?name=…&match=prefix|exact`: doctors search patients by name. Without a
/// name: the patients whose records the caller holds access to (a doctor) or their own (a patient).
async fn search(
    State(state): State<AppState>,
    SignedIn(reader): SignedIn,
    Query(query): Query<Search>,
) -> Result<Json<Value>> {
    let records = &state.hospital.records;
    let Some(name) = query.name else {
        let roles = records.roles(reader).await?;
        let access = if roles.doctor {
            records.patients_of(reader).await?
        } else {
            vec![]
        };
        let mut ids: Vec<String> = roles.patient.iter().map(ToString::to_string).collect();
        ids.extend(access.iter().filter(|a| a.open).map(|a| a.patient.to_string()));
        return Ok(Json(json!({ "patients": ids, "access": access })));
    };
    let how = match query.how.as_deref() {
        None | Some("prefix") => Match::Prefix,
        Some("exact") => Match::Exact,
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "match {other:?} is prefix or exact"
            )));
        }
    };
    let found = records.search(reader, &name, how).await?;
    let ids: Vec<String> = found.iter().map(ToString::to_string).collect();
    Ok(Json(json!({ "patients": ids })))
}

/// `GET /api/v1/patients/{id}`: the patient's wallet, on-chain id and demographics (only when
/// they verified), for whoever may read their records.
async fn profile(
    State(state): State<AppState>,
    PatientPath { caller, patient }: PatientPath,
) -> Result<Json<Value>> {
    let demographics = state.hospital.records.demographics(caller, patient).await?;
    let stored = state
        .hospital
        .store
        .patient(patient)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no patient {patient}")))?;
    // The wallet and on-chain id were just checked against the chain (a disagreement is a 409).
    Ok(Json(json!({
        "patientId": patient,
        "wallet": stored.wallet,
        "onChainId": stored.chain_id,
        "demographics": demographics.resource,
        "demographicsProof": demographics.proof,
    })))
}
