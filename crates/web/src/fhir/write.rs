//! Writes through `/fhir`: create and update take the same path as the JSON API. The resource is
//! checked, sealed and stored, and the answer is `202 Accepted` with the request the author's
//! wallet must sign (EIP-712, through the forwarder): a `Parameters` resource carrying the request
//! id, its typed data and where to post the signature. Once the chain anchors it, the resource is
//! readable at the `Location` given.

use alloy::primitives::Address;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use medledger_core::entry::PatientId;
use medledger_fhir::{IssueCode, ResourceType};
use medledger_ledger::records::PendingWrite;
use serde_json::{Value, json};

use super::chart::{WALLET_SYSTEM, load, patient_of};
use super::{FhirError, TypeAndId, base, body_resource, kind_of, resource_response, stored_type};
use crate::error::AppError;
use crate::extract::SignedIn;
use crate::state::AppState;

pub(crate) fn ledger_error(err: medledger_ledger::Error) -> FhirError {
    AppError::from(err).into()
}

/// The 202 answer to a write: where the resource will be, and what to sign.
fn accepted(state: &AppState, ty: ResourceType, id: &str, revision: u32, write: &PendingWrite) -> Response {
    accepted_many(state, &[(ty, id.to_owned(), revision)], write)
}

/// The 202 answer to a write of one or more resources under one signature: where each will be
/// (a `location` parameter each, in order), and what to sign.
pub(crate) fn accepted_many(
    state: &AppState,
    written: &[(ResourceType, String, u32)],
    write: &PendingWrite,
) -> Response {
    let typed_data = state.hospital.records.typed_data(&write.request);
    let locations: Vec<String> = written
        .iter()
        .map(|(ty, id, revision)| format!("{}/{}/{id}/_history/{revision}", base(state), ty.name()))
        .collect();
    let status_url = format!("/api/v1/requests/{}", write.request_id);
    let response_url = super::response::status_url(state, write.request_id);
    let mut parameter = vec![
        json!({"name": "requestId", "valueString": write.request_id.to_string()}),
        json!({"name": "status", "valueCode": "awaiting-signature"}),
    ];
    parameter.extend(
        locations
            .iter()
            .map(|l| json!({"name": "location", "valueUri": l})),
    );
    parameter.extend([
        json!({"name": "signingHash", "valueString": write.signing_hash.to_string()}),
        json!({"name": "typedData", "valueString": typed_data.to_string()}),
        json!({"name": "signatureUrl", "valueUri": format!("{status_url}/signature")}),
        json!({"name": "statusUrl", "valueUri": status_url}),
        json!({"name": "responseUrl", "valueUri": response_url}),
    ]);
    let parameters = json!({ "resourceType": "Parameters", "parameter": parameter });
    let mut response = resource_response(StatusCode::ACCEPTED, &parameters);
    let first = locations.into_iter().next().unwrap_or_default();
    for (name, value) in [
        (header::LOCATION, first),
        (header::CONTENT_LOCATION, response_url),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The patient a resource's `subject` (or `patient`) names: `Patient/{id}`.
fn subject_of(ty: ResourceType, resource: &Value) -> Result<PatientId, FhirError> {
    let element = ty.patient_element().expect("an entry type");
    let path = format!("{}.{element}", ty.name());
    let reference = resource[element]["reference"].as_str().ok_or_else(|| {
        FhirError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            IssueCode::Required,
            format!("{path}.reference must name the patient: Patient/{{id}}"),
        )
    })?;
    reference
        .strip_prefix("Patient/")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| {
            FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                IssueCode::Value,
                format!(
                    "{path}.reference is {reference:?}: it must be Patient/{{id}}, a patient's 32-hex id"
                ),
            )
        })
}

/// What is stored of a resource: without the server's `id` and what the server says in `meta`
/// (`versionId`, `lastUpdated`, its proof tag), its patient reference in one form. The rest of
/// `meta` (profiles, security labels, other tags, source) is the client's and is kept.
pub(crate) fn content(ty: ResourceType, mut resource: Value, patient: Option<PatientId>) -> Value {
    if let Some(object) = resource.as_object_mut() {
        object.remove("id");
    }
    medledger_fhir::resource::without_server_meta(&mut resource);
    if let (Some(element), Some(patient)) = (ty.patient_element(), patient) {
        resource[element] = json!({"reference": format!("Patient/{patient}")});
    }
    resource
}

fn type_matches(ty: ResourceType, body_ty: ResourceType) -> Result<(), FhirError> {
    if ty == body_ty {
        return Ok(());
    }
    Err(FhirError::bad_request(format!(
        "the body is a {} but the URL says {}: send it to /fhir/{}",
        body_ty.name(),
        ty.name(),
        body_ty.name()
    )))
}

/// `POST /fhir/{ty}`: a doctor creates a resource (a Patient registers a patient). With
/// `If-None-Exist: identifier=system|value` (any search), a resource it finds among the charts the
/// author may read is answered instead (200), and nothing is written; two or more are 412.
pub(crate) async fn create(
    State(state): State<AppState>,
    SignedIn(author): SignedIn,
    headers: HeaderMap,
    Path(ty): Path<String>,
    crate::extract::Body(body): crate::extract::Body,
) -> Result<Response, FhirError> {
    let ty = stored_type(&ty)?;
    let (body_ty, resource) = body_resource(&headers, &body)?;
    type_matches(ty, body_ty)?;
    if let Some(condition) = headers.get("if-none-exist") {
        let condition = condition
            .to_str()
            .map_err(|_| FhirError::bad_request("If-None-Exist is not text: send search parameters"))?;
        let found = super::search::find(&state, author, ty, condition).await?;
        match found.as_slice() {
            [] => {}
            [(_, one)] => return Ok(existing(&state, one)),
            more => {
                return Err(FhirError::new(
                    StatusCode::PRECONDITION_FAILED,
                    IssueCode::Conflict,
                    format!(
                        "If-None-Exist matches {} {}s: make the condition specific to one",
                        more.len(),
                        ty.name()
                    ),
                ));
            }
        }
    }
    create_new(&state, author, ty, resource).await
}

/// Creates `resource` under an id of the server's.
async fn create_new(
    state: &AppState,
    author: Address,
    ty: ResourceType,
    resource: Value,
) -> Result<Response, FhirError> {
    if ty == ResourceType::Patient {
        return create_patient(state, author, resource).await;
    }
    if ty.is_shared() {
        return Err(FhirError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            IssueCode::NotSupported,
            format!(
                "a {} is kept with the chart of the patient it came with: send it in a transaction (POST /fhir) \
                 with that patient's resources",
                ty.name()
            ),
        ));
    }
    let patient = subject_of(ty, &resource)?;
    let content = content(ty, resource, Some(patient));
    let (record, revision, write) = state
        .hospital
        .records
        .record(author, patient, kind_of(ty), &content, None)
        .await
        .map_err(ledger_error)?;
    Ok(accepted(state, ty, &record.to_string(), revision, &write))
}

/// The answer to a conditional create that found its resource: 200 with it, where it is.
fn existing(state: &AppState, version: &super::chart::Version) -> Response {
    let response = resource_response(StatusCode::OK, &version.resource);
    let mut response = super::chart::with_etag(response, version);
    let location = format!(
        "{}/{}/_history/{}",
        base(state),
        version.reference(),
        version.revision
    );
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A name to index: the first name's text, or its given names and family name.
fn name_of(resource: &Value) -> Option<String> {
    let name = resource["name"].as_array()?.first()?;
    if let Some(text) = name["text"].as_str() {
        return Some(text.to_owned());
    }
    let mut words: Vec<&str> = name["given"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    words.extend(name["family"].as_str());
    (!words.is_empty()).then(|| words.join(" "))
}

/// The wallet (its `urn:ethereum:address` identifier) and the name to index of a new Patient.
pub(crate) fn new_patient_of(resource: &Value) -> Result<(Address, String), FhirError> {
    let unprocessable =
        |code, what: &str| FhirError::new(StatusCode::UNPROCESSABLE_ENTITY, code, what.to_owned());
    let wallets: Vec<&Value> = resource["identifier"]
        .as_array()
        .map(|ids| ids.iter().filter(|i| i["system"] == WALLET_SYSTEM).collect())
        .unwrap_or_default();
    let [wallet] = wallets.as_slice() else {
        return Err(unprocessable(
            IssueCode::Required,
            "Patient.identifier must hold the patient's wallet once: {\"system\": \"urn:ethereum:address\", \
             \"value\": \"0x…\"}",
        ));
    };
    let wallet: Address = wallet["value"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            unprocessable(
                IssueCode::Value,
                "Patient.identifier (urn:ethereum:address) is not an address: 0x and 40 hexadecimal digits",
            )
        })?;
    let name = name_of(resource).ok_or_else(|| {
        unprocessable(
            IssueCode::Required,
            "Patient.name must give the patient's name (text, or given and family)",
        )
    })?;
    Ok((wallet, name))
}

async fn create_patient(state: &AppState, doctor: Address, resource: Value) -> Result<Response, FhirError> {
    let (wallet, name) = new_patient_of(&resource)?;
    let content = content(ResourceType::Patient, resource, None);
    let (patient, write) = state
        .hospital
        .records
        .register_patient_resource(doctor, wallet, &name, &content)
        .await
        .map_err(ledger_error)?;
    Ok(accepted(
        state,
        ResourceType::Patient,
        &patient.to_string(),
        1,
        &write,
    ))
}

/// `PUT /fhir/{ty}/{id}`: a new version of a resource the author may read and write. It keeps
/// its patient; `If-Match: W/"n"` makes it conditional on version n being the newest. A resource
/// that does not exist yet is created with the client's id (update as create), as hospitals'
/// systems that name their own resources send them.
pub(crate) async fn update(
    State(state): State<AppState>,
    SignedIn(author): SignedIn,
    headers: HeaderMap,
    Path((ty, id)): TypeAndId,
    crate::extract::Body(body): crate::extract::Body,
) -> Result<Response, FhirError> {
    let ty = stored_type(&ty)?;
    let (body_ty, resource) = body_resource(&headers, &body)?;
    type_matches(ty, body_ty)?;
    update_at(&state, author, &headers, ty, &id, resource).await
}

/// `PUT /fhir/{ty}?{search}`: a conditional update. The search runs among the charts the author
/// may read: if it finds one resource, that one is updated (the body's id, if it has one, must
/// be its id); if it finds none, the body is created (under its own id, if it has one, as
/// `PUT /fhir/{ty}/{id}` would); if it finds several, 412 and nothing is written.
pub(crate) async fn conditional_update(
    State(state): State<AppState>,
    SignedIn(author): SignedIn,
    headers: HeaderMap,
    Path(ty): Path<String>,
    axum::extract::RawQuery(query): super::Query,
    crate::extract::Body(body): crate::extract::Body,
) -> Result<Response, FhirError> {
    let ty = stored_type(&ty)?;
    let Some(condition) = query.filter(|q| !q.trim().is_empty()) else {
        return Err(FhirError::bad_request(format!(
            "PUT /fhir/{0} is a conditional update and needs search parameters (?identifier=system|value); \
             to update one resource by its id, PUT /fhir/{0}/{{id}}",
            ty.name()
        )));
    };
    let (body_ty, resource) = body_resource(&headers, &body)?;
    type_matches(ty, body_ty)?;
    let body_id = resource.get("id").and_then(Value::as_str).map(str::to_owned);
    let found = super::search::find(&state, author, ty, &condition).await?;
    match (found.as_slice(), body_id) {
        ([], Some(id)) => update_at(&state, author, &headers, ty, &id, resource).await,
        ([], None) => create_new(&state, author, ty, resource).await,
        ([(_, one)], Some(id)) if one.id != id => Err(FhirError::bad_request(format!(
            "the body's id {id:?} is not the id of the {} the condition finds ({:?})",
            ty.name(),
            one.id
        ))),
        ([(_, one)], _) => {
            let id = one.id.clone();
            update_at(&state, author, &headers, ty, &id, resource).await
        }
        (more, _) => Err(FhirError::new(
            StatusCode::PRECONDITION_FAILED,
            IssueCode::Conflict,
            format!(
                "the condition matches {} {}s: make it specific to one",
                more.len(),
                ty.name()
            ),
        )),
    }
}

/// A new version of `{ty}/{id}`, or, if there is none, its first (update as create).
async fn update_at(
    state: &AppState,
    author: Address,
    headers: &HeaderMap,
    ty: ResourceType,
    id: &str,
    resource: Value,
) -> Result<Response, FhirError> {
    if let Some(body_id) = resource.get("id").and_then(Value::as_str)
        && body_id != id
    {
        return Err(FhirError::bad_request(format!(
            "the body's id {body_id:?} is not the URL's {id:?}"
        )));
    }
    let patient = match patient_of(state, ty, id).await {
        Ok(patient) => patient,
        Err(e) if e.status() == StatusCode::NOT_FOUND && ty != ResourceType::Patient => {
            return create_as(state, author, ty, id, headers, resource).await;
        }
        Err(e) => return Err(e),
    };
    let chart = load(state, author, patient)
        .await
        .map_err(|e| e.or_not_found(ty.name(), id))?;
    let (newest, current) = chart
        .versions_of(ty, id)
        .first()
        .map(|v| (v.revision, v.resource.clone()))
        .ok_or_else(|| FhirError::not_found(ty.name(), id))?;
    if let Some(expected) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        let wanted = expected.trim().trim_start_matches("W/").trim_matches('"');
        if wanted != newest.to_string() {
            return Err(FhirError::new(
                StatusCode::PRECONDITION_FAILED,
                IssueCode::Conflict,
                format!("If-Match asks for version {wanted} but the newest is {newest}: read it again"),
            ));
        }
    }
    if ty == ResourceType::Patient {
        return update_patient(state, author, patient, &current, resource).await;
    }
    if !ty.is_shared() && subject_of(ty, &resource)? != patient {
        return Err(FhirError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            IssueCode::Value,
            format!(
                "{}.{} names another patient: a record stays with its patient (Patient/{patient})",
                ty.name(),
                ty.patient_element().unwrap_or("subject")
            ),
        ));
    }
    let record = super::record_of(&state.hospital.records, ty, id)
        .ok_or_else(|| FhirError::not_found(ty.name(), id))?;
    let mut content = content(ty, resource, Some(patient));
    if super::client_named(record, id) {
        content["id"] = json!(id);
    }
    let (_, revision, write) = state
        .hospital
        .records
        .record(author, patient, kind_of(ty), &content, Some(record))
        .await
        .map_err(ledger_error)?;
    // Served under the id it was asked for (a client's stays the client's).
    Ok(accepted(state, ty, id, revision, &write))
}

/// `PUT /fhir/{ty}/{id}` of a resource that does not exist: created under the client's id, which
/// it keeps (its record is named after it: [`super::record_of`]).
async fn create_as(
    state: &AppState,
    author: Address,
    ty: ResourceType,
    id: &str,
    headers: &HeaderMap,
    resource: Value,
) -> Result<Response, FhirError> {
    let record = super::record_of(&state.hospital.records, ty, id).ok_or_else(|| {
        FhirError::bad_request(format!(
            "{id:?} is not a FHIR id: 1 to 64 letters, digits, '-' or '.'"
        ))
    })?;
    if headers.contains_key(header::IF_MATCH) {
        return Err(FhirError::new(
            StatusCode::PRECONDITION_FAILED,
            IssueCode::Conflict,
            format!(
                "If-Match names a version of {}/{id}, which does not exist",
                ty.name()
            ),
        ));
    }
    if ty.is_shared() {
        return Err(FhirError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            IssueCode::NotSupported,
            format!(
                "a {} is kept with the chart of the patient it came with: send it in a transaction (POST /fhir) \
                 with that patient's resources",
                ty.name()
            ),
        ));
    }
    let patient = subject_of(ty, &resource)?;
    let mut content = content(ty, resource, Some(patient));
    if super::client_named(record, id) {
        content["id"] = json!(id);
    }
    let (_, write) = state
        .hospital
        .records
        .record_many(author, patient, &[(record, kind_of(ty), content)])
        .await
        .map_err(ledger_error)?;
    Ok(accepted(state, ty, id, 1, &write))
}

/// The content of an entry written through the JSON API (`kind` and a resource): it must be the
/// resource the kind is stored as, valid as [`medledger_fhir::validate`] checks, and about this
/// patient; its patient reference is filled in when left out.
pub(crate) fn checked_entry(
    kind: medledger_core::entry::EntryKind,
    patient: PatientId,
    content: Value,
) -> Result<Value, medledger_fhir::Outcome> {
    let ty = super::type_of(kind);
    let named = content.get("resourceType").and_then(Value::as_str);
    if named != Some(ty.name()) {
        return Err(medledger_fhir::Outcome::one(
            IssueCode::Value,
            format!(
                "content.resourceType is {}: an entry of this kind is a {}",
                named.map_or("missing".to_owned(), |n| format!("{n:?}")),
                ty.name()
            ),
        ));
    }
    if let Some(element) = ty.patient_element()
        && let Some(reference) = content.get(element).map(|r| r["reference"].clone())
        && reference != json!(format!("Patient/{patient}"))
    {
        return Err(medledger_fhir::Outcome::one(
            IssueCode::Value,
            format!("content.{element} names another patient than the one in the path: leave it out"),
        ));
    }
    let content = self::content(ty, content, Some(patient));
    medledger_fhir::validate::resource(&content)?;
    Ok(content)
}

/// `PUT /fhir/Patient/{id}`: new demographics, by a doctor with access. The wallet is the patient's
/// identity on the chain: it cannot change.
async fn update_patient(
    state: &AppState,
    author: Address,
    patient: PatientId,
    current: &Value,
    resource: Value,
) -> Result<Response, FhirError> {
    let (wallet, name) = new_patient_of(&resource)?;
    let (old_wallet, old_name) = new_patient_of(current)?;
    if wallet != old_wallet {
        return Err(FhirError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            IssueCode::Value,
            format!(
                "Patient.identifier names the wallet {wallet}, but this patient's is {old_wallet}: the wallet is \
                 their identity on the chain and cannot change"
            ),
        ));
    }
    let content = content(ResourceType::Patient, resource, None);
    let (_, revision, write) = state
        .hospital
        .records
        .amend_demographics(author, patient, &old_name, &name, &content)
        .await
        .map_err(ledger_error)?;
    Ok(accepted(
        state,
        ResourceType::Patient,
        &patient.to_string(),
        revision,
        &write,
    ))
}
