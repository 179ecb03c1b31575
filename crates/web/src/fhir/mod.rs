//! FHIR R4 at `/fhir`: the same records, consent checks and signed writes as the JSON API, spoken
//! the way other hospital systems speak.
//!
//! - `access`: Consent (the on-chain grants) and AuditEvent (the audit log), read-only.
//! - [`chart`]: a patient's resources as a reader may see them, each version with its proof, and
//!   each entry's Provenance (its anchor on the chain).
//! - [`search`]: search parameters, matching, paging, `_include`.
//! - `transaction`: transaction Bundles, anchored all together or not at all.
//! - [`write`]: create and update, answered `202 Accepted` with the request the author's wallet
//!   must sign.
//!
//! Reads are authorised exactly as the JSON API's (the chain decides), and a resource the caller
//! may not read answers 404, by every path. Errors are OperationOutcomes.

mod access;
mod chart;
mod search;
mod transaction;
mod write;

pub(crate) use write::checked_entry;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use medledger_contracts::history::EntryKind;
use medledger_fhir::{IssueCode, Outcome, ResourceType};
use serde_json::Value;

use crate::auth::{AuthState, signed_in};
use crate::problem::Problem;

/// The FHIR routes, under `/fhir`.
pub(crate) fn router() -> Router<AuthState> {
    Router::new()
        .route("/fhir/metadata", get(metadata))
        .route("/fhir", axum::routing::post(transaction::transaction))
        // The base URL with its trailing slash, as some clients (fhir-kit-client) post to it.
        .route("/fhir/", axum::routing::post(transaction::transaction))
        .route("/fhir/{ty}", get(search::search_type).post(write::create))
        .route("/fhir/{ty}/{id}", get(chart::read).put(write::update))
        .route("/fhir/{ty}/{id}/{operation}", get(chart::operation))
        .route("/fhir/{ty}/{id}/_history/{version}", get(chart::vread))
}

/// A failed FHIR interaction: its status and OperationOutcome.
#[derive(Debug)]
pub(crate) struct FhirError {
    pub(crate) status: StatusCode,
    pub(crate) outcome: Outcome,
}

impl FhirError {
    pub(crate) fn new(status: StatusCode, code: IssueCode, diagnostics: impl Into<String>) -> Self {
        Self {
            status,
            outcome: Outcome::one(code, diagnostics),
        }
    }

    pub(crate) fn bad_request(diagnostics: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, IssueCode::Invalid, diagnostics)
    }

    /// 404 for `{ty}/{id}`: unknown, or not the caller's to read (the two are not told apart).
    pub(crate) fn not_found(ty: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            IssueCode::NotFound,
            format!("there is no {ty}/{id} that you may read"),
        )
    }

    /// A refusal to read as a 404 for `ty/id`, except that a store disagreeing with the chain
    /// stays a 409 naming the disagreement.
    pub(crate) fn or_not_found(self, ty: &str, id: &str) -> Self {
        if self.status == StatusCode::CONFLICT {
            self
        } else {
            Self::not_found(ty, id)
        }
    }

    /// The content failed validation: 400 for what does not parse, 422 for what breaks the rules.
    pub(crate) fn invalid(outcome: Outcome) -> Self {
        let status = match outcome.code() {
            IssueCode::Structure if outcome.issues.iter().all(|i| i.expression.is_none()) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self { status, outcome }
    }
}

fn code_for(status: StatusCode) -> IssueCode {
    match status {
        StatusCode::UNAUTHORIZED => IssueCode::Login,
        StatusCode::FORBIDDEN => IssueCode::Forbidden,
        StatusCode::NOT_FOUND => IssueCode::NotFound,
        StatusCode::CONFLICT => IssueCode::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE => IssueCode::TooCostly,
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::METHOD_NOT_ALLOWED => IssueCode::NotSupported,
        s if s.is_server_error() => IssueCode::Exception,
        _ => IssueCode::Invalid,
    }
}

impl From<Problem> for FhirError {
    fn from(problem: Problem) -> Self {
        Self::new(problem.status, code_for(problem.status), problem.detail)
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        resource_response(self.status, &self.outcome.to_resource())
    }
}

/// A FHIR resource as the response body.
pub(crate) fn resource_response(status: StatusCode, resource: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+json; charset=utf-8"),
        )],
        resource.to_string(),
    )
        .into_response()
}

/// The caller, or 401.
pub(crate) async fn caller(
    state: &AuthState,
    headers: &HeaderMap,
) -> Result<alloy::primitives::Address, FhirError> {
    Ok(signed_in(state, headers).await?)
}

/// This server's FHIR base URL (`http://host:port/fhir`).
pub(crate) fn base(state: &AuthState) -> String {
    format!("{}://{}/fhir", state.origin.scheme, state.origin.host)
}

/// The resource type named in a path, or 404.
pub(crate) fn stored_type(name: &str) -> Result<ResourceType, FhirError> {
    ResourceType::from_name(name).ok_or_else(|| {
        FhirError::new(
            StatusCode::NOT_FOUND,
            IssueCode::NotSupported,
            format!(
                "{name:?} is not a resource type this server has: see /fhir/metadata (Patient, Condition, \
                 MedicationStatement, Observation, AllergyIntolerance, Basic, Provenance, Consent, AuditEvent)"
            ),
        )
    })
}

/// The entry kind a resource type is stored as.
pub(crate) fn kind_of(ty: ResourceType) -> EntryKind {
    match ty {
        ResourceType::Patient => EntryKind::Demographics,
        ResourceType::Condition => EntryKind::Diagnosis,
        ResourceType::MedicationStatement => EntryKind::Medication,
        ResourceType::Observation => EntryKind::Observation,
        ResourceType::AllergyIntolerance => EntryKind::Allergy,
        ResourceType::Basic => EntryKind::Note,
    }
}

/// The resource type an entry kind is shown as.
pub(crate) fn type_of(kind: EntryKind) -> ResourceType {
    match kind {
        EntryKind::Demographics => ResourceType::Patient,
        EntryKind::Diagnosis => ResourceType::Condition,
        EntryKind::Medication => ResourceType::MedicationStatement,
        EntryKind::Observation => ResourceType::Observation,
        EntryKind::Allergy => ResourceType::AllergyIntolerance,
        EntryKind::Note => ResourceType::Basic,
    }
}

/// The resource in a request body: FHIR JSON (`application/fhir+json` or `application/json`),
/// parsed strictly and checked against the model.
pub(crate) fn body_resource(headers: &HeaderMap, body: &Bytes) -> Result<(ResourceType, Value), FhirError> {
    let value = body_json(headers, body)?;
    let ty = medledger_fhir::validate::resource(&value).map_err(FhirError::invalid)?;
    Ok((ty, value))
}

/// A request body as strict JSON, after checking its Content-Type.
pub(crate) fn body_json(headers: &HeaderMap, body: &Bytes) -> Result<Value, FhirError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("application/fhir+json" | "application/json") => {}
        other => {
            return Err(FhirError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                IssueCode::NotSupported,
                format!(
                    "the body's Content-Type is {}: send FHIR JSON as application/fhir+json",
                    other.map_or("missing".to_owned(), |o| format!("{o:?}"))
                ),
            ));
        }
    }
    medledger_fhir::json::parse(body).map_err(FhirError::invalid)
}

/// `GET /fhir/metadata`: the CapabilityStatement (no sign-in needed).
async fn metadata(State(state): State<AuthState>) -> Response {
    let date = medledger_fhir::time::instant_of_ms(medledger_store::now_ms());
    let statement =
        medledger_fhir::bundle::capability_statement(&base(&state), env!("CARGO_PKG_VERSION"), &date);
    resource_response(StatusCode::OK, &statement)
}

/// The longest error body turned into an OperationOutcome's diagnostics.
const MOST_DETAIL: usize = 4096;

/// Under `/fhir`, errors answered by something other than the FHIR handlers (axum's rejections,
/// the body limit, the CSRF guard's problem documents, unknown routes) become OperationOutcomes
/// with the same words.
pub async fn errors_as_outcomes(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let fhir = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/fhir+json"));
    if !(path == "/fhir" || path.starts_with("/fhir/")) || status.is_success() || fhir {
        return response;
    }
    let problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/problem+json"));
    let body = axum::body::to_bytes(response.into_body(), MOST_DETAIL)
        .await
        .unwrap_or_default();
    let text = if problem {
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|p| p["detail"].as_str().map(str::to_owned))
            .unwrap_or_default()
    } else {
        String::from_utf8_lossy(&body).trim().to_owned()
    };
    let diagnostics = match status {
        StatusCode::NOT_FOUND if text.is_empty() => {
            format!("there is no {path} on this FHIR server: see /fhir/metadata for what it supports")
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("{path} does not take {method}: see /fhir/metadata for the interactions supported")
        }
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the body is larger than this server accepts ({} KiB): send less, or split a Bundle",
            crate::routes::MAX_BODY / 1024
        ),
        _ if text.is_empty() => format!("{status}: see /fhir/metadata for what {path} expects"),
        _ => text,
    };
    FhirError::new(status, code_for(status), diagnostics).into_response()
}

/// The path parameters of `/fhir/{ty}/{id}`.
pub(crate) type TypeAndId = Path<(String, String)>;

/// The raw query, for search parameters that repeat.
pub(crate) type Query = RawQuery;
