//! What a FHIR write came to, the FHIR way: `GET /fhir/$request-status/{request}`, the status URL
//! of the asynchronous request pattern (the `Content-Location` of every write's 202). While the
//! request waits for its author's signature or for the chain it answers 202 with `X-Progress`;
//! refused, it answers the OperationOutcome of why; anchored, a `transaction-response` Bundle
//! with one entry per entry of what was sent, in its order (`201 Created` or `200 OK`, the
//! location, ETag and Last-Modified of each), as a FHIR server answers a transaction.
//!
//! `Prefer: wait=N` (RFC 7240; at most [`MOST_WAIT_SECS`]) holds the answer until the request
//! settles, instead of polling.
//!
//! Every entry of the answer is read through the ledger, checked against the chain: a version
//! the store lost or altered is a 409 naming it, not a location. The order of a transaction's
//! entries (which record each became, or which existing one its `ifNoneExist` found) is kept in
//! the store as record and patient ids only; without it (a single create or update), the
//! request's own entries are the answer, in the order written.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use medledger_core::entry::PatientId;
use medledger_fhir::IssueCode;
use medledger_store::requests::RequestStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::chart::{Chart, Version, load};
use super::{FhirError, base, resource_response};
use crate::error::AppError;
use crate::extract::SignedIn;
use crate::routes::requests::{MOST_WAIT_SECS, settled};
use crate::state::AppState;

/// What one entry of a transaction became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Written {
    /// The patient whose chart holds it (32 hex digits).
    pub(crate) patient: String,
    /// Its record (32 hex digits).
    pub(crate) record: String,
    /// The version written, or found.
    pub(crate) revision: u32,
    /// Written by this request (else: found by the entry's `ifNoneExist`).
    pub(crate) created: bool,
}

impl Written {
    /// What the transaction wrote, as `version` shows it.
    pub(crate) fn created(version_of: (PatientId, &str, u32)) -> Self {
        let (patient, record, revision) = version_of;
        Self {
            patient: patient.to_string(),
            record: record.to_owned(),
            revision,
            created: true,
        }
    }

    /// What an `ifNoneExist` found.
    pub(crate) fn found(patient: PatientId, version: &Version) -> Self {
        Self {
            patient: patient.to_string(),
            record: version.record.clone(),
            revision: version.revision,
            created: false,
        }
    }
}

/// The URL where request `request`'s outcome is told.
pub(crate) fn status_url(state: &AppState, request: i64) -> String {
    format!("{}/$request-status/{request}", base(state))
}

/// Keeps the order of a transaction's entries for its answer.
pub(crate) async fn keep(state: &AppState, request: i64, layout: &[Written]) -> Result<(), FhirError> {
    let layout = serde_json::to_string(layout).map_err(AppError::internal)?;
    state
        .hospital
        .store
        .keep_response_layout(request, &layout)
        .await
        .map_err(AppError::internal)?;
    Ok(())
}

/// `GET /fhir/$request-status/{request}`: where the caller's write stands, or what it came to.
pub(crate) async fn status(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    Path(request): Path<String>,
) -> Result<Response, FhirError> {
    let id: i64 = request
        .parse()
        .map_err(|_| FhirError::not_found("$request-status", &request))?;
    let wait = prefer_wait(&headers);
    let request = settled(&state, caller, id, wait).await?;
    match request.status {
        RequestStatus::Anchored => {
            let bundle = answer(&state, caller, id).await?;
            Ok(resource_response(StatusCode::OK, &bundle))
        }
        RequestStatus::Rejected => Err(FhirError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            IssueCode::Processing,
            format!(
                "the write was not made: {}",
                request.reason.as_deref().unwrap_or("it was refused")
            ),
        )),
        status => {
            let says = match status {
                RequestStatus::AwaitingSignature => {
                    "awaiting the author's signature: sign its typedData and POST it to its signatureUrl"
                }
                _ => "signed; on its way to the chain",
            };
            let outcome = medledger_fhir::Outcome::one(IssueCode::Informational, says);
            let mut response = resource_response(StatusCode::ACCEPTED, &outcome.to_resource());
            let headers = response.headers_mut();
            headers.insert("x-progress", HeaderValue::from_static(status.as_str()));
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Ok(response)
        }
    }
}

/// How long `Prefer: wait=N` asks to wait, at most [`MOST_WAIT_SECS`].
fn prefer_wait(headers: &HeaderMap) -> std::time::Duration {
    let secs = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("wait="))
        .find_map(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    std::time::Duration::from_secs(secs.min(MOST_WAIT_SECS))
}

/// The `transaction-response` Bundle of anchored request `id`.
async fn answer(state: &AppState, reader: alloy::primitives::Address, id: i64) -> Result<Value, FhirError> {
    let store = &state.hospital.store;
    let layout: Vec<Written> = match store.response_layout(id).await.map_err(AppError::internal)? {
        Some(text) => serde_json::from_str(&text).map_err(|_| {
            FhirError::new(
                StatusCode::CONFLICT,
                IssueCode::Conflict,
                format!("the store's account of request {id}'s entries is unreadable: ask an administrator to run verify"),
            )
        })?,
        None => store
            .entries_of_request(id)
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .map(|e| Written::created((e.patient, &e.record.to_string(), e.revision)))
            .collect(),
    };
    if layout.is_empty() {
        return Err(FhirError::new(
            StatusCode::NOT_FOUND,
            IssueCode::NotFound,
            format!("request {id} wrote no FHIR resource: see /api/v1/requests/{id}"),
        ));
    }
    let mut charts: HashMap<String, Chart> = HashMap::new();
    for (n, written) in layout.iter().enumerate() {
        if !charts.contains_key(&written.patient) {
            let patient: PatientId = written
                .patient
                .parse()
                .map_err(|_| missing(n, written, "names no patient"))?;
            charts.insert(written.patient.clone(), load(state, reader, patient).await?);
        }
        let shown = |v: &&Version| v.record == written.record && v.revision == written.revision;
        if !charts[&written.patient].versions.iter().any(|v| shown(&v)) {
            return Err(missing(
                n,
                written,
                "is held on chain but missing or altered in this store",
            ));
        }
    }
    let versions = layout.iter().map(|written| {
        let version = charts[&written.patient]
            .versions
            .iter()
            .find(|v| v.record == written.record && v.revision == written.revision)
            .expect("checked above");
        (version, written.created)
    });
    Ok(bundle(state, Some(id), versions))
}

/// A `transaction-response` Bundle: for each version, whether the transaction created it (else
/// it was updated, or found by an `ifNoneExist`); `request`, the request it answers.
pub(crate) fn bundle<'a>(
    state: &AppState,
    request: Option<i64>,
    versions: impl Iterator<Item = (&'a Version, bool)>,
) -> Value {
    let entries: Vec<Value> = versions
        .map(|(version, created)| {
            let status = if created && version.revision == 1 {
                "201 Created"
            } else {
                "200 OK"
            };
            json!({
                "response": {
                    "status": status,
                    "location": format!("{}/_history/{}", version.reference(), version.revision),
                    "etag": format!("W/\"{}\"", version.revision),
                    "lastModified": medledger_fhir::time::instant_of_ms(version.recorded_at),
                }
            })
        })
        .collect();
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": entries,
    });
    if let Some(request) = request {
        bundle["link"] = json!([{"relation": "self", "url": status_url(state, request)}]);
    }
    bundle
}

/// A 409: entry `n` of the answer cannot be shown as the chain holds it.
fn missing(n: usize, written: &Written, why: &str) -> FhirError {
    FhirError::new(
        StatusCode::CONFLICT,
        IssueCode::Conflict,
        format!(
            "entry {n} (record {}, version {}) {why}: ask an administrator to run verify",
            written.record, written.revision
        ),
    )
}
