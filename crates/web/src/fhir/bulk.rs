//! Bulk Data export (the FHIR Bulk Data Access IG's asynchronous pattern), Patient level:
//!
//! 1. `GET /fhir/Patient/$export` with `Prefer: respond-async` (and `_type`, `_since`,
//!    `_outputFormat` if wanted) answers 202 with `Content-Location`: the job's status URL.
//! 2. `GET` that URL: 202 with `X-Progress` while it runs; then 200 with the manifest
//!    (`transactionTime`, `request`, `requiresAccessToken`, `output`: one NDJSON file per type).
//!    `DELETE` cancels the job or forgets it.
//! 3. `GET` each file (the same bearer): `application/fhir+ndjson`, one resource per line.
//!
//! An export holds what the caller may read, as a search would: every chart read through the
//! ledger, so every entry is checked against the chain on the way out and every chart's read is in
//! its patient's audit trail. Jobs and their files are kept in the database, sealed
//! ([`medledger_ledger::exports`]), for their owner alone, until deleted or for an hour: any
//! server of the hospital answers a job's status and serves its files. A job whose server stops
//! before it finishes is reported failed (the client kicks off again).
//! Group-level and system-level exports are not offered: MedLedger keeps no Groups, and a server
//! holds no chart its caller may not read.

use std::collections::BTreeMap;

use alloy::primitives::Address;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_fhir::{IssueCode, ResourceType};
use medledger_ledger::exports::BEAT_MS;
use medledger_store::exports::ExportStatus;
use serde_json::json;

use super::chart::load;
use super::search::{Params, params_of};
use super::{FhirError, base};
use crate::error::AppError;
use crate::extract::SignedIn;
use crate::state::AppState;

/// `GET /fhir/Patient/$export`: kicks off an export of every chart the caller may read.
pub(crate) async fn kick_off(
    State(state): State<AppState>,
    SignedIn(reader): SignedIn,
    headers: HeaderMap,
    query: super::Query,
) -> Result<Response, FhirError> {
    let asynchronous = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == "respond-async"));
    if !asynchronous {
        return Err(FhirError::bad_request(
            "a bulk export runs asynchronously: send the header Prefer: respond-async",
        ));
    }
    let params = params_of(
        query.0.as_deref(),
        "Patient/$export",
        &["_type", "_since", "_outputFormat"],
    )?;
    let (types, since) = scope(&params)?;
    let request = format!(
        "{}/Patient/$export{}",
        base(&state),
        query.0.as_deref().map(|q| format!("?{q}")).unwrap_or_default()
    );
    let exports = state.hospital.records.exports();
    let job = exports.start(reader, request).await.map_err(AppError::from)?;
    let task_state = state.clone();
    let task_job = job.clone();
    tokio::spawn(async move {
        let outcome = run(&task_state, &task_job, reader, types.as_deref(), since).await;
        let exports = task_state.hospital.records.exports();
        let stored = match outcome {
            Ok(files) => {
                let at = medledger_fhir::time::instant_of_ms(medledger_store::now_ms());
                exports.finish(&task_job, &at, files).await
            }
            Err(why) => exports.fail(&task_job, &why).await,
        };
        if let Err(err) = stored {
            tracing::warn!(job = task_job, "could not store an export's outcome: {err}");
        }
    });
    let mut response = StatusCode::ACCEPTED.into_response();
    let status_url = format!("{}/$export-status/{job}", base(&state));
    if let Ok(value) = HeaderValue::from_str(&status_url) {
        response.headers_mut().insert(header::CONTENT_LOCATION, value);
    }
    Ok(response)
}

/// The types (`_type`) and the time (`_since`, ms) an export covers; a format other than NDJSON
/// is refused.
fn scope(params: &Params) -> Result<(Option<Vec<ResourceType>>, Option<i64>), FhirError> {
    let mut types: Option<Vec<ResourceType>> = None;
    for (name, value) in params {
        match name.as_str() {
            "_type" => {
                for ty in value.split(',') {
                    let ty = ResourceType::from_name(ty.trim()).ok_or_else(|| {
                        FhirError::bad_request(format!(
                            "_type={ty:?} is not a resource type of a chart here: see /fhir/metadata"
                        ))
                    })?;
                    types.get_or_insert_with(Vec::new).push(ty);
                }
            }
            "_outputFormat"
                if !["application/fhir+ndjson", "application/ndjson", "ndjson"].contains(&value.as_str()) =>
            {
                return Err(FhirError::new(
                    StatusCode::BAD_REQUEST,
                    IssueCode::NotSupported,
                    format!("_outputFormat={value:?}: this server writes NDJSON (application/fhir+ndjson)"),
                ));
            }
            _ => {}
        }
    }
    let since = match params.iter().rev().find(|(n, _)| n == "_since") {
        Some((_, text)) => Some(
            medledger_fhir::time::instant(text)
                .map_err(|why| FhirError::bad_request(format!("_since={text:?}: {why}")))?
                .start,
        ),
        None => None,
    };
    Ok((types, since))
}

/// Reads every chart `reader` may read and writes its resources, by type, as NDJSON; says job
/// `job` is alive every [`BEAT_MS`].
async fn run(
    state: &AppState,
    job: &str,
    reader: Address,
    types: Option<&[ResourceType]>,
    since: Option<i64>,
) -> Result<BTreeMap<String, (String, usize)>, String> {
    let patients = super::search::readable_patients(state, reader)
        .await
        .map_err(|e| format!("{:?}", e.status()))?;
    let exports = state.hospital.records.exports();
    let mut beat = medledger_store::now_ms();
    let mut files: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for patient in patients {
        if medledger_store::now_ms().saturating_sub(beat) >= BEAT_MS {
            beat = medledger_store::now_ms();
            if let Err(err) = exports.beat(job).await {
                tracing::warn!(job, "an export's sign of life was not stored: {err}");
            }
        }
        let chart = match load(state, reader, patient).await {
            Ok(chart) => chart,
            // A chart whose consent ended while the export ran is left out, as a search would.
            Err(e) if e.status() == StatusCode::NOT_FOUND => continue,
            Err(e) => return Err(format!("reading a chart failed ({})", e.status())),
        };
        for version in chart.into_latest() {
            if types.is_some_and(|t| !t.contains(&version.ty))
                || since.is_some_and(|s| (version.recorded_at as i64) < s)
            {
                continue;
            }
            let (text, count) = files.entry(version.ty.name().to_owned()).or_default();
            text.push_str(&version.resource.to_string());
            text.push('\n');
            *count += 1;
        }
    }
    Ok(files)
}

/// `GET /fhir/$export-status/{job}`: 202 while it runs, then the manifest.
pub(crate) async fn status(
    State(state): State<AppState>,
    SignedIn(reader): SignedIn,
    Path(job): Path<String>,
) -> Result<Response, FhirError> {
    let base = base(&state);
    let exports = state.hospital.records.exports();
    let Some(found) = exports.job(&job, reader).await.map_err(AppError::from)? else {
        return Err(FhirError::not_found("$export-status", &job));
    };
    Ok(match found.status {
        ExportStatus::Running { .. } => {
            let mut response = StatusCode::ACCEPTED.into_response();
            for (name, value) in [
                ("x-progress", "reading and verifying charts"),
                ("retry-after", "1"),
            ] {
                response
                    .headers_mut()
                    .insert(name, HeaderValue::from_static(value));
            }
            response
        }
        ExportStatus::Done { finished_at, files } => {
            let output: Vec<_> = files
                .iter()
                .map(|(ty, count)| {
                    json!({"type": ty, "url": format!("{base}/$export-files/{job}/{ty}.ndjson"), "count": count})
                })
                .collect();
            let manifest = json!({
                "transactionTime": finished_at,
                "request": found.request,
                "requiresAccessToken": true,
                "output": output,
                "error": [],
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                manifest.to_string(),
            )
                .into_response()
        }
        ExportStatus::Failed(why) => {
            return Err(FhirError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                IssueCode::Exception,
                format!("the export failed: {why}; kick it off again"),
            ));
        }
    })
}

/// `DELETE /fhir/$export-status/{job}`: cancels a job or forgets its files.
pub(crate) async fn delete(
    State(state): State<AppState>,
    SignedIn(reader): SignedIn,
    Path(job): Path<String>,
) -> Result<Response, FhirError> {
    let exports = state.hospital.records.exports();
    if exports.delete(&job, reader).await.map_err(AppError::from)? {
        Ok(StatusCode::ACCEPTED.into_response())
    } else {
        Err(FhirError::not_found("$export-status", &job))
    }
}

/// `GET /fhir/$export-files/{job}/{type}.ndjson`: one type's resources, a line each.
pub(crate) async fn file(
    State(state): State<AppState>,
    SignedIn(reader): SignedIn,
    Path((job, name)): Path<(String, String)>,
) -> Result<Response, FhirError> {
    let ty = name.strip_suffix(".ndjson").unwrap_or(&name).to_owned();
    let exports = state.hospital.records.exports();
    let text = exports
        .file(&job, reader, &ty)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| FhirError::not_found("$export-files", &format!("{job}/{name}")))?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+ndjson"),
        )],
        text,
    )
        .into_response())
}
