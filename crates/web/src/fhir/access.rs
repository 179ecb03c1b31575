//! Who may read a chart and who did, read-only: the on-chain consent grants as `Consent`, and the
//! audit log as `AuditEvent`. As in the JSON API, a patient sees their own (and an admin a
//! patient's grants); anyone else finds nothing, and reading one by id answers 404.

use alloy::primitives::Address;
use axum::http::StatusCode;
use axum::response::Response;
use medledger_core::entry::PatientId;
use medledger_fhir::bundle::{self, Entry, Mode};
use medledger_fhir::time::{Span, instant_of_ms};
use medledger_fhir::{IssueCode, Outcome};
use medledger_ledger::directory::Access;
use medledger_ledger::trail::{LogIntegrity, Trail, TrailEvent};
use serde_json::{Value, json};

use super::chart::WALLET_SYSTEM;
use super::search::{Page, page_links, params_of, patient_param};
use super::{FhirError, base, resource_response};
use crate::error::AppError;
use crate::state::AppState;

/// A consent grant as a Consent resource; `chain_id` is the patient's on-chain id.
fn consent(patient: PatientId, chain_id: u64, access: &Access) -> Value {
    let mut provision = json!({
        "type": "permit",
        "actor": [{
            "role": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "PRCP",
                "display": "primary information recipient",
            }]},
            "reference": {"identifier": {"system": WALLET_SYSTEM, "value": access.doctor.to_string()}},
        }],
        "action": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "access"}]},
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "correct"}]},
        ],
    });
    if access.consent_expires_at != u64::MAX {
        provision["period"] = json!({"end": instant_of_ms(access.consent_expires_at.saturating_mul(1000))});
    }
    let now = medledger_store::now_ms() / 1000;
    json!({
        "resourceType": "Consent",
        "id": consent_id(chain_id, access.doctor),
        "status": if access.consent_expires_at > now { "active" } else { "inactive" },
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": {"reference": format!("Patient/{patient}")},
        "policyRule": {"text": "A grant in the MedLedger contract, signed by the patient's wallet: the doctor may read and add to the record until it expires or is revoked"},
        "provision": provision,
    })
}

/// `{on-chain patient id}-{doctor's address without 0x}`: at most 61 characters.
fn consent_id(chain_id: u64, doctor: Address) -> String {
    format!("{chain_id}-{}", alloy::hex::encode(doctor))
}

/// The consent grants of `patient` the reader may see (patient, or admin), as Consents.
async fn consents_of(state: &AppState, reader: Address, patient: PatientId) -> Result<Vec<Value>, FhirError> {
    let stored = state
        .hospital
        .store
        .patient(patient)
        .await
        .map_err(AppError::internal)?;
    let Some(chain_id) = stored.and_then(|p| p.chain_id) else {
        return Ok(vec![]);
    };
    match state.hospital.records.grants(reader, patient).await {
        Ok(grants) => Ok(grants
            .iter()
            .filter(|g| g.consent_expires_at > 0)
            .map(|g| consent(patient, chain_id, g))
            .collect()),
        Err(medledger_ledger::Error::Forbidden(_) | medledger_ledger::Error::UnknownPatient(_)) => Ok(vec![]),
        Err(other) => Err(super::chart::read_error(other, &format!("Patient/{patient}"))),
    }
}

/// The patient's trail as `reader` may see it: `None` for anyone but the patient; a 409 when the
/// store disagrees with the chain about who the patient is.
async fn trail_of(state: &AppState, reader: Address, patient: PatientId) -> Result<Option<Trail>, FhirError> {
    match state.hospital.records.trail(reader, patient).await {
        Ok(trail) => Ok(Some(trail)),
        Err(medledger_ledger::Error::Forbidden(_) | medledger_ledger::Error::UnknownPatient(_)) => Ok(None),
        Err(other) => Err(super::chart::read_error(other, &format!("Patient/{patient}"))),
    }
}

/// An event of a patient's trail as an AuditEvent.
fn audit_event(patient: PatientId, e: &TrailEvent) -> Value {
    let action = match e.action.as_str() {
        "write" => "C",
        a if a.starts_with("read") => "R",
        _ => "E",
    };
    let outcome = match e.outcome.as_str() {
        "allowed" => "0",
        "denied" => "4",
        _ => "8",
    };
    let mut entity = vec![json!({"what": {"reference": format!("Patient/{patient}")}})];
    if let Some(r) = &e.record {
        entity.push(json!({"what": {"identifier": {"system": "urn:medledger:record", "value": r}}}));
    }
    let mut extension = vec![json!({"url": "urn:medledger:audit:hash", "valueString": e.hash.to_string()})];
    if let Some(integrity) = &e.integrity {
        extension.push(json!({"url": "urn:medledger:audit:integrity", "valueCode": integrity}));
    }
    if let Some(result) = &e.result {
        extension.push(json!({"url": "urn:medledger:audit:result", "valueString": result}));
    }
    if let Some(reason) = &e.emergency_reason {
        extension.push(json!({"url": "urn:medledger:audit:emergency-reason", "valueString": reason}));
    }
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": e.sequence.to_string(),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "urn:medledger:audit-action", "code": e.action}],
        "action": action,
        "recorded": instant_of_ms(e.at),
        "outcome": outcome,
        "agent": [{
            "who": {"identifier": {"system": WALLET_SYSTEM, "value": e.actor.to_string()}},
            "requestor": true,
        }],
        "source": {"observer": {"display": "MedLedger"}},
        "entity": entity,
        "extension": extension,
    });
    if !e.detail.trim().is_empty() {
        event["outcomeDesc"] = json!(e.detail);
    }
    event
}

/// An OperationOutcome entry saying that the audit log does not verify, for a search Bundle.
fn integrity_entry(base: &str, integrity: &LogIntegrity) -> Option<Entry> {
    if integrity.intact {
        return None;
    }
    let mut resource = Outcome::one(
        IssueCode::Incomplete,
        format!(
            "the audit log does not verify ({}): these events may be incomplete or altered",
            integrity.describe()
        ),
    )
    .to_resource();
    resource["id"] = json!("audit-log-integrity");
    Some(Entry {
        full_url: format!("{base}/OperationOutcome/audit-log-integrity"),
        resource,
        mode: Some(Mode::Outcome),
    })
}

/// `GET /fhir/Consent/{id}` and `GET /fhir/AuditEvent/{id}`.
pub(crate) async fn read(
    state: &AppState,
    reader: Address,
    ty: &str,
    id: &str,
) -> Result<Response, FhirError> {
    let not_found = || FhirError::not_found(ty, id);
    let store = &state.hospital.store;
    let found = if ty == "Consent" {
        let (chain_id, doctor) = id.split_once('-').ok_or_else(not_found)?;
        let chain_id: u64 = chain_id.parse().map_err(|_| not_found())?;
        let patient = store
            .patient_by_chain_id(chain_id)
            .await
            .map_err(AppError::internal)?
            .ok_or_else(not_found)?;
        consents_of(state, reader, patient.id)
            .await?
            .into_iter()
            .find(|c| c["id"] == id && !doctor.is_empty())
    } else {
        let sequence: u64 = id.parse().map_err(|_| not_found())?;
        let record = store
            .audit_log(sequence.saturating_sub(1), 1)
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .find(|r| r.sequence == sequence);
        match record.and_then(|r| r.event.patient) {
            Some(patient) => trail_of(state, reader, patient).await?.and_then(|trail| {
                trail
                    .events
                    .iter()
                    .find(|e| e.sequence == sequence)
                    .map(|e| audit_event(patient, e))
            }),
            None => None,
        }
    };
    found
        .map(|resource| resource_response(StatusCode::OK, &resource))
        .ok_or_else(not_found)
}

/// `GET /fhir/Consent?patient=…` and `GET /fhir/AuditEvent?patient=…&date=…`. Without `patient`:
/// the caller's own record.
pub(crate) async fn search(
    state: &AppState,
    reader: Address,
    ty: &str,
    query: Option<&str>,
) -> Result<Response, FhirError> {
    let known: &[&str] = if ty == "Consent" {
        &["patient"]
    } else {
        &["patient", "date"]
    };
    let params = params_of(query, ty, known)?;
    let page = Page::of(&params)?;
    let patient = match params.iter().find(|(n, _)| n == "patient") {
        Some((_, value)) => Some(patient_param(value)?),
        // The caller's own record, if the chain agrees they are that patient.
        None => {
            state
                .hospital
                .records
                .roles(reader)
                .await
                .map_err(|e| super::chart::read_error(e, "your patient record"))?
                .patient
        }
    };
    let mut found: Vec<Value> = Vec::new();
    let mut warning = None;
    let base = base(state);
    if let Some(patient) = patient {
        if ty == "Consent" {
            found = consents_of(state, reader, patient).await?;
        } else if let Some(trail) = trail_of(state, reader, patient).await? {
            let dates = super::search::date_filters(&params, "date")?;
            warning = integrity_entry(&base, &trail.integrity);
            found = trail
                .events
                .iter()
                .filter(|e| {
                    let at = Span {
                        start: e.at as i64,
                        end: e.at as i64 + 1,
                    };
                    dates.iter().all(|d| d.matches(at))
                })
                .map(|e| audit_event(patient, e))
                .collect();
        }
    }
    let total = found.len();
    let mut entries: Vec<Entry> = page
        .of_list(found)
        .into_iter()
        .map(|resource| Entry {
            full_url: format!("{base}/{ty}/{}", resource["id"].as_str().unwrap_or_default()),
            resource,
            mode: Some(Mode::Match),
        })
        .collect();
    entries.extend(warning);
    let links = page_links(&base, ty, &params, page, total)?;
    Ok(resource_response(
        StatusCode::OK,
        &bundle::searchset(total, entries, &links),
    ))
}
