//! Transaction Bundles (`POST /fhir`): new resources of one patient, anchored together by one
//! signature through the contract's batch path, so that all of them are anchored or none.
//!
//! Either the Bundle registers the patient as well (one `POST Patient` entry, whose `fullUrl`,
//! a `urn:uuid:`, the other entries reference, as an import does), or every entry references
//! the same existing `Patient/{id}`. Updates are not part of transactions here: `PUT` them one
//! at a time. An entry's `ifNoneExist` is searched first; what it finds is not written, and its
//! `fullUrl` names what was found (a Patient found so makes the transaction one of an existing
//! patient's). What the transaction came to is told by [`super::response`], in the Bundle's order.
//!
//! References between the entries are resolved before anything is sealed: each entry is given its
//! id here, and every `reference` that names an entry's `fullUrl` (`urn:uuid:…`) becomes that
//! resource's `Type/{id}` on this server, wherever it is in the resource. A `urn:uuid:` or
//! `urn:oid:` reference that names no entry of the Bundle is refused: it could never resolve.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::collections::HashMap;

use alloy::primitives::Address;
use medledger_core::entry::{PatientId, RecordId};
use medledger_fhir::{Issue, IssueCode, Outcome, ResourceType};
use serde_json::Value;

use super::chart::Version;
use super::response::Written;
use super::write::{accepted_many, content, ledger_error, new_patient_of};
use super::{FhirError, body_json, kind_of};
use crate::extract::SignedIn;
use crate::state::AppState;

/// What a transaction writes.
#[derive(Debug)]
struct Plan {
    /// A patient registered with the entries, and the id given to them.
    new_patient: Option<(PatientId, Value)>,
    /// Or the existing patient they are for.
    existing: Option<PatientId>,
    /// The entries, in order, with the records given to them, as stored.
    entries: Vec<(ResourceType, RecordId, Value)>,
    /// What each entry of the Bundle is, in its order.
    order: Vec<Slot>,
}

/// What one entry of the Bundle is.
#[derive(Debug)]
enum Slot {
    /// The new patient.
    Patient,
    /// The written entry at this index of [`Plan::entries`].
    Entry(usize),
    /// A resource its `ifNoneExist` found, in this patient's chart: not written.
    Found(PatientId, Box<Version>),
}

/// What the entries' `ifNoneExist` conditions find among the charts the author may read: by the
/// entry's index, the one resource found; several found is 412, and nothing is written.
async fn conditions(
    state: &AppState,
    author: Address,
    bundle: &Value,
) -> Result<HashMap<usize, (PatientId, Version)>, FhirError> {
    let mut found = HashMap::new();
    let entries = bundle["entry"].as_array().map_or(&[][..], Vec::as_slice);
    for (n, entry) in entries.iter().enumerate() {
        let Some(condition) = entry["request"]["ifNoneExist"].as_str() else {
            continue;
        };
        let Some(ty) = entry["resource"]["resourceType"]
            .as_str()
            .and_then(ResourceType::from_name)
        else {
            // The plan names what is wrong with the entry.
            continue;
        };
        let mut hits = super::search::find(state, author, ty, condition)
            .await
            .map_err(|e| {
                FhirError::new(
                    e.status(),
                    IssueCode::Invalid,
                    format!("Bundle.entry[{n}].request.ifNoneExist: {}", e.0.detail),
                )
            })?;
        match hits.len() {
            0 => {}
            1 => {
                found.insert(n, hits.remove(0));
            }
            more => {
                return Err(FhirError::new(
                    StatusCode::PRECONDITION_FAILED,
                    IssueCode::Conflict,
                    format!(
                        "Bundle.entry[{n}].request.ifNoneExist matches {more} {}s: make it specific to one",
                        ty.name()
                    ),
                ));
            }
        }
    }
    Ok(found)
}

/// Replaces every `reference` that names an entry of the Bundle by that entry's `Type/{id}`;
/// a Bundle-local reference (`urn:uuid:`, `urn:oid:`) that names none is an issue.
fn resolve(value: &mut Value, local: &HashMap<String, String>, path: &mut String, issues: &mut Vec<Issue>) {
    medledger_fhir::resource::each_reference(value, path, &mut |path, reference| {
        if let Some(resolved) = local.get(reference.as_str()) {
            *reference = resolved.clone();
        } else if reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:") {
            issues.push(Issue::at(
                IssueCode::NotFound,
                path,
                format!("{reference:?} names no entry of this transaction (no entry has it as its fullUrl)"),
            ));
        }
    });
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
const REQUEST_KEYS: [&str; 3] = ["method", "url", "ifNoneExist"];

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

/// Checks the Bundle and works out what it writes, given what its entries' `ifNoneExist` found
/// (`found`, by entry); every problem is reported with its path.
fn plan(
    records: &medledger_ledger::records::Records,
    bundle: &Value,
    mut found: HashMap<usize, (PatientId, Version)>,
) -> Result<Plan, FhirError> {
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
    let bundle_len = entries.len();
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
    let mut new_patient: Option<(String, Value, usize)> = None;
    // A Patient entry whose ifNoneExist found the patient: its fullUrl, and who.
    let mut found_patient: Option<(String, PatientId)> = None;
    let mut written: Vec<(ResourceType, Value, usize, Option<String>)> = Vec::new();
    // The ids PUT entries give their resources.
    let mut client_ids: Vec<(ResourceType, String)> = Vec::new();
    // An entry's fullUrl, to the entry it names.
    let mut full_urls: HashMap<String, usize> = HashMap::new();
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
            if request.contains_key("ifNoneExist") && method != Some("POST") {
                issues.push(Issue::at(
                    IssueCode::NotSupported,
                    &format!("{path}.request.ifNoneExist"),
                    "ifNoneExist makes a POST conditional; a PUT names its resource already",
                ));
            }
        }
        if method != Some("POST") && method != Some("PUT") {
            issues.push(Issue::at(
                IssueCode::NotSupported,
                &format!("{path}.request.method"),
                "a transaction here creates: POST, or PUT {type}/{id} with an id of the client's choosing \
                 (update as create); update an existing resource with PUT /fhir/{type}/{id}, one at a time",
            ));
            continue;
        }
        if let Some(full_url) = entry.get("fullUrl").and_then(Value::as_str)
            && full_urls.insert(full_url.to_owned(), n).is_some()
        {
            issues.push(Issue::at(
                IssueCode::Value,
                &format!("{path}.fullUrl"),
                format!("{full_url:?} is the fullUrl of another entry too: each entry's is its own"),
            ));
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
        // A PUT names the resource's id (the client's); a POST leaves it to the server.
        let mut client_id = None;
        if method == Some("PUT") {
            let named = url
                .and_then(|u| u.split_once('/'))
                .filter(|(t, id)| *t == ty.name() && medledger_fhir::validate::id(id));
            match named {
                Some((_, id)) if ty != ResourceType::Patient && !ty.is_shared() => {
                    if resource
                        .get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|own| own != id)
                    {
                        issues.push(Issue::at(
                            IssueCode::Value,
                            &format!("{path}.resource.id"),
                            format!("the resource's id is not the {id:?} its request.url names"),
                        ));
                    }
                    if client_ids.iter().any(|(t, other)| *t == ty && other == id) {
                        issues.push(Issue::at(
                            IssueCode::Value,
                            &format!("{path}.request.url"),
                            format!("{}/{id} is written twice in this transaction", ty.name()),
                        ));
                    }
                    client_ids.push((ty, id.to_owned()));
                    client_id = Some(id.to_owned());
                }
                Some(_) => issues.push(Issue::at(
                    IssueCode::NotSupported,
                    &format!("{path}.request.method"),
                    format!(
                        "a {} is created with POST here (its id is the server's)",
                        ty.name()
                    ),
                )),
                None => issues.push(Issue::at(
                    IssueCode::Value,
                    &format!("{path}.request.url"),
                    format!(
                        "the url of a PUT of a {} is {}/{{id}}, with a FHIR id",
                        ty.name(),
                        ty.name()
                    ),
                )),
            }
        } else if url != Some(ty.name()) {
            issues.push(Issue::at(
                IssueCode::Value,
                &format!("{path}.request.url"),
                format!("the url of a POST of a {} is {:?}", ty.name(), ty.name()),
            ));
        }
        // What its ifNoneExist found (searched on the resource's own type) is not written.
        if let Some((patient, _)) = found.get(&n) {
            if ty == ResourceType::Patient {
                let full_url = entry.get("fullUrl").and_then(Value::as_str).unwrap_or("");
                if new_patient.is_some() || found_patient.is_some() {
                    issues.push(Issue::at(
                        IssueCode::Value,
                        &path,
                        "a transaction is about one patient",
                    ));
                }
                found_patient = Some((full_url.to_owned(), *patient));
            }
            continue;
        }
        if ty == ResourceType::Patient {
            let full_url = entry.get("fullUrl").and_then(Value::as_str).unwrap_or("");
            if new_patient.is_some() || found_patient.is_some() {
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
                new_patient = Some((full_url.to_owned(), resource.clone(), n));
            }
            continue;
        }
        written.push((ty, resource.clone(), n, client_id));
    }
    // Every entry is about the one patient.
    let mut existing: Option<PatientId> = None;
    for (n, (ty, resource, _, _)) in written.iter().enumerate() {
        // A shared resource (a Practitioner) is kept with the chart of the transaction's patient.
        let Some(element) = ty.patient_element() else {
            continue;
        };
        let reference = resource[element]["reference"].as_str().unwrap_or("");
        let here = format!("Bundle.entry.resource.{element}.reference");
        let named = match &found_patient {
            Some((full_url, id)) if !full_url.is_empty() && reference == full_url => format!("Patient/{id}"),
            _ => reference.to_owned(),
        };
        let reference = named.as_str();
        match &new_patient {
            Some((full_url, _, _)) if reference == full_url => {}
            Some((full_url, _, _)) => issues.push(Issue::at(
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
    // Ids for what is new, and every reference between the entries resolved to them.
    let fresh = |e: medledger_core::Error| FhirError::from(crate::error::AppError::internal(e));
    let new_patient = match new_patient {
        Some((full_url, resource, n)) => Some((full_url, PatientId::random().map_err(fresh)?, resource, n)),
        None => None,
    };
    let patient = new_patient.as_ref().map(|(_, id, _, _)| *id).or(existing);
    let mut local: HashMap<String, String> = HashMap::new();
    if let Some((full_url, id, _, _)) = &new_patient {
        local.insert(full_url.clone(), format!("Patient/{id}"));
    }
    // An entry its ifNoneExist found is named by its fullUrl as the resource found.
    for (n, (_, version)) in &found {
        if let Some((full_url, _)) = full_urls.iter().find(|(_, at)| *at == n) {
            local.insert(full_url.clone(), version.reference());
        }
    }
    let mut entries = Vec::with_capacity(written.len());
    for (ty, resource, n, client_id) in written {
        let (record, id) = match client_id {
            Some(id) => (super::record_of(records, ty, &id).expect("a checked FHIR id"), id),
            None => {
                let record = RecordId::random().map_err(fresh)?;
                (record, record.to_string())
            }
        };
        if let Some((full_url, _)) = full_urls.iter().find(|(_, at)| **at == n) {
            local.insert(full_url.clone(), format!("{}/{id}", ty.name()));
        }
        entries.push((ty, record, resource, n, id));
    }
    let mut resolve_in = |resource: &mut Value, n: usize| {
        let mut path = format!("Bundle.entry[{n}].resource");
        resolve(resource, &local, &mut path, &mut issues);
    };
    let patient_at = new_patient.as_ref().map(|(_, _, _, n)| *n);
    let new_patient = new_patient.map(|(_, id, mut resource, n)| {
        resolve_in(&mut resource, n);
        (id, resource)
    });
    let written_at: Vec<usize> = entries.iter().map(|(_, _, _, n, _)| *n).collect();
    let entries: Vec<(ResourceType, RecordId, Value)> = entries
        .into_iter()
        .map(|(ty, record, mut resource, n, id)| {
            resolve_in(&mut resource, n);
            let mut stored = content(ty, resource, patient);
            if super::client_named(record, &id) {
                stored["id"] = Value::String(id);
            }
            (ty, record, stored)
        })
        .collect();
    if !issues.is_empty() {
        issues.truncate(medledger_fhir::validate::MOST_ISSUES);
        return Err(invalid(issues));
    }
    let mut order = Vec::with_capacity(bundle_len);
    for n in 0..bundle_len {
        if patient_at == Some(n) {
            order.push(Slot::Patient);
        } else if let Some(at) = written_at.iter().position(|w| *w == n) {
            order.push(Slot::Entry(at));
        } else if let Some((patient, version)) = found.remove(&n) {
            order.push(Slot::Found(patient, Box::new(version)));
        }
    }
    Ok(Plan {
        new_patient,
        existing,
        entries,
        order,
    })
}

/// The id a written resource is served under: the client's, or its record's digits.
fn id_of(content: &Value, record: RecordId) -> String {
    content
        .get("id")
        .and_then(Value::as_str)
        .map_or_else(|| record.to_string(), str::to_owned)
}

/// `POST /fhir`: a transaction Bundle, answered `202 Accepted` with one request to sign for all of
/// it and a `location` for each entry, in order; its `Content-Location` tells, once it is
/// anchored, the `transaction-response` ([`super::response`]). A Bundle whose every entry its
/// `ifNoneExist` found writes nothing and is answered at once, 200 with that Bundle.
pub(crate) async fn transaction(
    State(state): State<AppState>,
    SignedIn(author): SignedIn,
    headers: HeaderMap,
    crate::extract::Body(body): crate::extract::Body,
) -> Result<Response, FhirError> {
    let bundle = body_json(&headers, &body)?;
    let found = conditions(&state, author, &bundle).await?;
    let plan = plan(&state.hospital.records, &bundle, found)?;
    if plan.new_patient.is_none() && plan.entries.is_empty() {
        let found: Vec<&Version> = plan
            .order
            .iter()
            .filter_map(|slot| match slot {
                Slot::Found(_, version) => Some(&**version),
                _ => None,
            })
            .collect();
        let bundle = super::response::bundle(&state, None, found.iter().map(|v| (*v, false)));
        return Ok(super::resource_response(StatusCode::OK, &bundle));
    }
    let entries: Vec<_> = plan
        .entries
        .iter()
        .map(|(ty, record, c)| (*record, kind_of(*ty), c.clone()))
        .collect();
    // A PUT creates: what it names must not exist (update it on its own, where If-Match can say
    // which version it changes).
    for (ty, record, content) in &plan.entries {
        let Some(id) = content.get("id").and_then(Value::as_str) else {
            continue;
        };
        let exists = state
            .hospital
            .store
            .latest_revision(*record)
            .await
            .map_err(crate::error::AppError::internal)?;
        if exists.is_some() {
            return Err(FhirError::new(
                StatusCode::CONFLICT,
                IssueCode::Conflict,
                format!(
                    "{}/{id} exists already: a transaction here creates; update it with PUT /fhir/{}/{id} on its own",
                    ty.name(),
                    ty.name()
                ),
            ));
        }
    }
    let records = &state.hospital.records;
    let (patient, ids, write) = match (&plan.new_patient, plan.existing) {
        (Some((id, resource)), _) => {
            let (wallet, name) = new_patient_of(resource)?;
            let stored = content(ResourceType::Patient, resource.clone(), None);
            let (patient, ids, write) = records
                .register_patient_with_history(author, *id, wallet, &name, &stored, &entries)
                .await
                .map_err(ledger_error)?;
            (patient, ids, write)
        }
        (None, Some(patient)) => {
            let (ids, write) = records
                .record_many(author, patient, &entries)
                .await
                .map_err(ledger_error)?;
            (patient, ids, write)
        }
        (None, None) => {
            return Err(FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                IssueCode::Required,
                "a transaction writes one patient's chart: it registers the patient or holds resources naming an \
                 existing Patient/{id} (a Practitioner, Organization, Location or Medication is kept with such a chart)",
            ));
        }
    };
    // The new patient's demographics: the first entry the request writes.
    let demographics = match plan.new_patient {
        Some(_) => state
            .hospital
            .store
            .entries_of_request(write.request_id)
            .await
            .map_err(crate::error::AppError::internal)?
            .into_iter()
            .find(|e| e.kind == Some(medledger_core::entry::EntryKind::Demographics))
            .map(|e| e.record),
        None => None,
    };
    // Where each entry of the Bundle is, in its order: for the 202, and for the answer to come.
    let mut written = Vec::with_capacity(plan.order.len());
    let mut layout = Vec::with_capacity(plan.order.len());
    for slot in &plan.order {
        match slot {
            Slot::Patient => {
                written.push((ResourceType::Patient, patient.to_string(), 1));
                if let Some(record) = demographics {
                    layout.push(Written::created((patient, &record.to_string(), 1)));
                }
            }
            Slot::Entry(at) => {
                let (ty, _, content) = &plan.entries[*at];
                written.push((*ty, id_of(content, ids[*at]), 1));
                layout.push(Written::created((patient, &ids[*at].to_string(), 1)));
            }
            Slot::Found(holder, version) => {
                written.push((version.ty, version.id.clone(), version.revision));
                layout.push(Written::found(*holder, version));
            }
        }
    }
    if layout.len() == plan.order.len() {
        // Without it, the answer lists what was written in the order stored, which differs
        // only for a Bundle whose Patient is not first or whose ifNoneExist found something.
        if let Err(error) = super::response::keep(&state, write.request_id, &layout).await {
            tracing::warn!(
                request = write.request_id,
                ?error,
                "the order of a transaction's answer was not kept"
            );
        }
    }
    Ok(accepted_many(&state, &written, &write))
}
