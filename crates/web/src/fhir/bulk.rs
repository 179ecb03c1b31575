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
//! its patient's audit trail. Jobs and their files live in this server's memory, for their owner
//! alone, until deleted or for an hour; a restart forgets them (the client kicks off again).
//! Group-level and system-level exports are not offered: MedLedger keeps no Groups, and a server
//! holds no chart its caller may not read.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use alloy::primitives::Address;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_fhir::{IssueCode, ResourceType};
use serde_json::json;

use super::chart::load;
use super::search::{Params, params_of};
use super::{FhirError, base};
use crate::extract::SignedIn;
use crate::state::AppState;

/// How long a finished job's files are kept.
const KEPT_MS: u64 = 60 * 60 * 1000;

/// The export jobs of this server.
#[derive(Debug, Default)]
pub struct Exports {
    jobs: Mutex<HashMap<String, Job>>,
}

#[derive(Debug)]
struct Job {
    owner: Address,
    request: String,
    started_ms: u64,
    state: JobState,
}

#[derive(Debug)]
enum JobState {
    Running,
    /// Each type's NDJSON and how many resources it holds.
    Done {
        transaction_time: String,
        files: BTreeMap<String, (String, usize)>,
    },
    Failed(String),
}

impl Exports {
    fn with_jobs<T>(&self, f: impl FnOnce(&mut HashMap<String, Job>) -> T) -> T {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = medledger_store::now_ms();
        jobs.retain(|_, job| now.saturating_sub(job.started_ms) < KEPT_MS);
        f(&mut jobs)
    }
}

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
    let mut id = [0u8; 16];
    medledger_core::crypto::random_bytes(&mut id).map_err(crate::error::AppError::internal)?;
    let job = alloy::hex::encode(id);
    let request = format!(
        "{}/Patient/$export{}",
        base(&state),
        query.0.as_deref().map(|q| format!("?{q}")).unwrap_or_default()
    );
    state.exports.with_jobs(|jobs| {
        jobs.insert(
            job.clone(),
            Job {
                owner: reader,
                request,
                started_ms: medledger_store::now_ms(),
                state: JobState::Running,
            },
        )
    });
    let task_state = state.clone();
    let task_job = job.clone();
    tokio::spawn(async move {
        let outcome = run(&task_state, reader, types.as_deref(), since).await;
        task_state.exports.with_jobs(|jobs| {
            if let Some(job) = jobs.get_mut(&task_job) {
                job.state = match outcome {
                    Ok(files) => JobState::Done {
                        transaction_time: medledger_fhir::time::instant_of_ms(medledger_store::now_ms()),
                        files,
                    },
                    Err(why) => JobState::Failed(why),
                };
            }
        });
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

/// Reads every chart `reader` may read and writes its resources, by type, as NDJSON.
async fn run(
    state: &AppState,
    reader: Address,
    types: Option<&[ResourceType]>,
    since: Option<i64>,
) -> Result<BTreeMap<String, (String, usize)>, String> {
    let patients = super::search::readable_patients(state, reader)
        .await
        .map_err(|e| format!("{:?}", e.status()))?;
    let mut files: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for patient in patients {
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
    state.exports.with_jobs(|jobs| {
        let found = jobs.get(&job).filter(|j| j.owner == reader);
        let Some(found) = found else {
            return Err(FhirError::not_found("$export-status", &job));
        };
        Ok(match &found.state {
            JobState::Running => {
                let mut response = StatusCode::ACCEPTED.into_response();
                for (name, value) in [("x-progress", "reading and verifying charts"), ("retry-after", "1")] {
                    response.headers_mut().insert(name, HeaderValue::from_static(value));
                }
                response
            }
            JobState::Done {
                transaction_time,
                files,
            } => {
                let output: Vec<_> = files
                    .iter()
                    .map(|(ty, (_, count))| {
                        json!({"type": ty, "url": format!("{base}/$export-files/{job}/{ty}.ndjson"), "count": count})
                    })
                    .collect();
                let manifest = json!({
                    "transactionTime": transaction_time,
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
            JobState::Failed(why) => {
                return Err(FhirError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    IssueCode::Exception,
                    format!("the export failed: {why}; kick it off again"),
                ));
            }
        })
    })
}

/// `DELETE /fhir/$export-status/{job}`: cancels a job or forgets its files.
pub(crate) async fn delete(
    State(state): State<AppState>,
    SignedIn(reader): SignedIn,
    Path(job): Path<String>,
) -> Result<Response, FhirError> {
    state.exports.with_jobs(|jobs| {
        if jobs.get(&job).is_some_and(|j| j.owner == reader) {
            jobs.remove(&job);
            Ok(StatusCode::ACCEPTED.into_response())
        } else {
            Err(FhirError::not_found("$export-status", &job))
        }
    })
}

/// `GET /fhir/$export-files/{job}/{type}.ndjson`: one type's resources, a line each.
pub(crate) async fn file(
    State(state): State<AppState>,
    SignedIn(reader): SignedIn,
    Path((job, name)): Path<(String, String)>,
) -> Result<Response, FhirError> {
    let ty = name.strip_suffix(".ndjson").unwrap_or(&name).to_owned();
    state.exports.with_jobs(|jobs| {
        let text = jobs
            .get(&job)
            .filter(|j| j.owner == reader)
            .and_then(|j| match &j.state {
                JobState::Done { files, .. } => files.get(&ty).map(|(text, _)| text.clone()),
                _ => None,
            })
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
    })
}
