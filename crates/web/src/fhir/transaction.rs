//! Transaction Bundles (`POST /fhir`): new resources of one patient, anchored together by one
//! signature through the contract's batch path, so that all of them are anchored or none.
//!
//! Either the Bundle registers the patient as well (one `POST Patient` entry, whose `fullUrl`,
//! a `urn:uuid:`, the other entries reference, as an import does), or every entry references
//! the same existing `Patient/{id}`. Updates are not part of transactions here: `PUT` them one
//! at a time.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use medledger_core::entry::PatientId;
use medledger_fhir::{Issue, IssueCode, Outcome, ResourceType};
use serde_json::Value;

use super::write::{accepted_many, content, ledger_error, new_patient_of};
use super::{FhirError, body_json, kind_of};
use crate::extract::SignedIn;
use crate::state::AppState;

/// What a transaction writes.
#[derive(Debug)]
struct Plan {
    /// A patient registered with the entries.
    new_patient: Option<Value>,
    /// Or the existing patient they are for.
    existing: Option<PatientId>,
    /// The entries, in order, as stored.
    entries: Vec<(ResourceType, Value)>,
}

const BUNDLE_KEYS: [&str; 7] = [
    "resourceType",
    "id",
    "meta",
    "type",
    "timestamp",
    "identifier",
    "entry",
];
const ENTRY_KEYS: [&str; 3] = ["fullUrl", "resource", "request"];
const REQUEST_KEYS: [&str; 2] = ["method", "url"];

fn unknown(object: &serde_json::Map<String, Value>, allowed: &[&str], path: &str) -> Vec<Issue> {
    object
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| {
            Issue::at(
                IssueCode::Structure,
                &format!("{path}.{k}"),
                format!("{k:?} is not supported here (only {})", allowed.join(", ")),
            )
        })
        .collect()
}

/// Checks the Bundle and works out what it writes; every problem is reported with its path.
fn plan(bundle: &Value) -> Result<Plan, FhirError> {
    let invalid = |issues: Vec<Issue>| FhirError::invalid(Outcome { issues });
    let Some(object) = bundle.as_object() else {
        return Err(FhirError::bad_request("the body must be a Bundle"));
    };
    if object.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(FhirError::bad_request(
            "POST /fhir takes a Bundle of type transaction; send other resources to /fhir/{type}",
        ));
    }
    if object.get("type").and_then(Value::as_str) != Some("transaction") {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            IssueCode::NotSupported,
            "this server takes Bundles of type transaction (all anchored or none)",
        ));
    }
    let mut issues = unknown(object, &BUNDLE_KEYS, "Bundle");
    let entries = object
        .get("entry")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if entries.is_empty() {
        issues.push(Issue::at(
            IssueCode::Required,
            "Bundle.entry",
            "a transaction needs at least one entry",
        ));
    }
    if entries.len() > medledger_ledger::records::MAX_BATCH {
        issues.push(Issue::at(
            IssueCode::TooCostly,
            "Bundle.entry",
            format!(
                "{} entries; at most {} in one transaction: split it",
                entries.len(),
                medledger_ledger::records::MAX_BATCH
            ),
        ));
    }
    let mut new_patient: Option<(String, Value)> = None;
    let mut written: Vec<(ResourceType, Value)> = Vec::new();
    for (n, entry) in entries.iter().enumerate() {
        let path = format!("Bundle.entry[{n}]");
        let Some(entry) = entry.as_object() else {
            issues.push(Issue::at(IssueCode::Structure, &path, "an entry is an object"));
            continue;
        };
        issues.extend(unknown(entry, &ENTRY_KEYS, &path));
        let request = entry.get("request").and_then(Value::as_object);
        let method = request.and_then(|r| r.get("method")).and_then(Value::as_str);
        let url = request.and_then(|r| r.get("url")).and_then(Value::as_str);
        if let Some(request) = request {
            issues.extend(unknown(request, &REQUEST_KEYS, &format!("{path}.request")));
        }
        if method != Some("POST") {
            issues.push(Issue::at(
                IssueCode::NotSupported,
                &format!("{path}.request.method"),
                "a transaction here creates (POST); update with PUT /fhir/{type}/{id}, one at a time",
            ));
            continue;
        }
        let Some(resource) = entry.get("resource") else {
            issues.push(Issue::at(
                IssueCode::Required,
                &format!("{path}.resource"),
                "a POST entry needs its resource",
            ));
            continue;
        };
        let ty = match medledger_fhir::validate::resource(resource) {
            Ok(ty) => ty,
            Err(outcome) => {
                let prefix = format!("{path}.resource");
                issues.extend(outcome.issues.into_iter().map(|mut i| {
                    i.expression = Some(match i.expression.as_deref().and_then(|e| e.split_once('.')) {
                        Some((_, rest)) => format!("{prefix}.{rest}"),
                        None => prefix.clone(),
                    });
                    i
                }));
                continue;
            }
        };
        if url != Some(ty.name()) {
            issues.push(Issue::at(
                IssueCode::Value,
                &format!("{path}.request.url"),
                format!("the url of a POST of a {} is {:?}", ty.name(), ty.name()),
            ));
        }
        if ty == ResourceType::Patient {
            let full_url = entry.get("fullUrl").and_then(Value::as_str).unwrap_or("");
            if new_patient.is_some() {
                issues.push(Issue::at(
                    IssueCode::Value,
                    &path,
                    "a transaction registers at most one patient",
                ));
            } else if !full_url.starts_with("urn:uuid:") {
                issues.push(Issue::at(
                    IssueCode::Required,
                    &format!("{path}.fullUrl"),
                    "a new Patient needs a fullUrl urn:uuid:… for the other entries to reference",
                ));
            } else {
                new_patient = Some((full_url.to_owned(), resource.clone()));
            }
            continue;
        }
        written.push((ty, resource.clone()));
    }
    // Every entry is about the one patient.
    let mut existing: Option<PatientId> = None;
    for (n, (ty, resource)) in written.iter().enumerate() {
        let element = ty.patient_element().expect("an entry type");
        let reference = resource[element]["reference"].as_str().unwrap_or("");
        let here = format!("Bundle.entry.resource.{element}.reference");
        match &new_patient {
            Some((full_url, _)) if reference == full_url => {}
            Some((full_url, _)) => issues.push(Issue::at(
                IssueCode::Value,
                &here,
                format!("entry {n} names {reference:?}: a transaction's entries are of its new patient, {full_url}"),
            )),
            None => match reference.strip_prefix("Patient/").and_then(|id| id.parse::<PatientId>().ok()) {
                Some(id) if existing.is_none_or(|e| e == id) => existing = Some(id),
                _ => issues.push(Issue::at(
                    IssueCode::Value,
                    &here,
                    format!("entry {n} names {reference:?}: a transaction's entries are of one patient, Patient/{{id}}"),
                )),
            },
        }
    }
    if !issues.is_empty() {
        issues.truncate(medledger_fhir::validate::MOST_ISSUES);
        return Err(invalid(issues));
    }
    let patient_reference = existing;
    Ok(Plan {
        new_patient: new_patient.map(|(_, r)| r),
        existing,
        entries: written
            .into_iter()
            .map(|(ty, r)| {
                // Of a new patient, the reference is left out: reads put in the patient's id.
                let mut stored = content(ty, r, patient_reference);
                if patient_reference.is_none()
                    && let Some(object) = stored.as_object_mut()
                {
                    object.remove(ty.patient_element().expect("an entry type"));
                }
                (ty, stored)
            })
            .collect(),
    })
}

/// `POST /fhir`: a transaction Bundle, answered `202 Accepted` with one request to sign for all of
/// it and a `location` for each entry, in order.
pub(crate) async fn transaction(
    State(state): State<AppState>,
    SignedIn(author): SignedIn,
    headers: HeaderMap,
    crate::extract::Body(body): crate::extract::Body,
) -> Result<Response, FhirError> {
    let plan = plan(&body_json(&headers, &body)?)?;
    let entries: Vec<_> = plan
        .entries
        .iter()
        .map(|(ty, c)| (kind_of(*ty), c.clone()))
        .collect();
    let records = &state.hospital.records;
    let mut written = Vec::new();
    let write = match (plan.new_patient, plan.existing) {
        (Some(resource), _) => {
            let (wallet, name) = new_patient_of(&resource)?;
            let stored = content(ResourceType::Patient, resource, None);
            let (patient, ids, write) = records
                .register_patient_with_history(author, wallet, &name, &stored, &entries)
                .await
                .map_err(ledger_error)?;
            written.push((ResourceType::Patient, patient.to_string(), 1));
            written.extend(
                plan.entries
                    .iter()
                    .zip(ids)
                    .map(|((ty, _), id)| (*ty, id.to_string(), 1)),
            );
            write
        }
        (None, Some(patient)) => {
            let (ids, write) = records
                .record_many(author, patient, &entries)
                .await
                .map_err(ledger_error)?;
            written.extend(
                plan.entries
                    .iter()
                    .zip(ids)
                    .map(|((ty, _), id)| (*ty, id.to_string(), 1)),
            );
            write
        }
        (None, None) => return Err(FhirError::bad_request("the transaction writes nothing")),
    };
    Ok(accepted_many(&state, &written, &write))
}
