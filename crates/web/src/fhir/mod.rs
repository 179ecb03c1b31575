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
pub(crate) mod bulk;
mod chart;
mod response;
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
use medledger_core::entry::{EntryKind, RecordId};
use medledger_fhir::{IssueCode, Outcome, ResourceType};
use medledger_ledger::records::Records;
use serde_json::Value;

use crate::error::AppError;
use crate::state::AppState;

/// The largest transaction Bundle `POST /fhir` takes by default, and the least it may be set to
/// ([`crate::routes::Options::max_transaction`]): a year of an inpatient's chart is several
/// megabytes (other bodies: [`crate::routes::MAX_BODY`]).
pub const MAX_TRANSACTION: usize = 16 << 20;

/// Whether `path` is where transactions are posted.
pub(crate) fn is_transaction(path: &str) -> bool {
    path == "/fhir" || path == "/fhir/"
}

/// The FHIR routes, under `/fhir`, taking transaction Bundles of up to `max_transaction` bytes.
pub(crate) fn router(max_transaction: usize) -> Router<AppState> {
    let transaction = move || {
        axum::routing::post(transaction::transaction)
            .layer(axum::extract::DefaultBodyLimit::max(max_transaction))
    };
    Router::new()
        .route("/fhir/metadata", get(metadata))
        .route("/fhir/Patient/$export", get(bulk::kick_off))
        .route(
            "/fhir/$export-status/{job}",
            get(bulk::status).delete(bulk::delete),
        )
        .route("/fhir/$export-files/{job}/{file}", get(bulk::file))
        .route("/fhir/$request-status/{request}", get(response::status))
        .route("/fhir", transaction())
        // The base URL with its trailing slash, as some clients (fhir-kit-client) post to it.
        .route("/fhir/", transaction())
        .route(
            "/fhir/{ty}",
            get(search::search_type)
                .post(write::create)
                .put(write::conditional_update),
        )
        .route("/fhir/{ty}/{id}", get(chart::read).put(write::update))
        .route("/fhir/{ty}/{id}/{operation}", get(chart::operation))
        .route("/fhir/{ty}/{id}/_history/{version}", get(chart::vread))
}

/// A failed FHIR interaction: the one [`AppError`], answered as an OperationOutcome. Any error
/// that reaches a FHIR handler (a session's, the store's, the ledger's) takes this form where it
/// is turned into one (`?` does it), not afterwards.
#[derive(Debug)]
pub(crate) struct FhirError(pub(crate) AppError);

impl FhirError {
    pub(crate) fn new(status: StatusCode, code: IssueCode, diagnostics: impl Into<String>) -> Self {
        Self(AppError::fhir(status, code, diagnostics))
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

    /// Its status.
    pub(crate) fn status(&self) -> StatusCode {
        self.0.status
    }

    /// A refusal to read as a 404 for `ty/id`, except that a store disagreeing with the chain
    /// stays a 409 naming the disagreement.
    pub(crate) fn or_not_found(self, ty: &str, id: &str) -> Self {
        if self.status() == StatusCode::CONFLICT {
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
        Self(AppError::outcome(status, outcome))
    }
}

impl From<AppError> for FhirError {
    fn from(error: AppError) -> Self {
        Self(error.in_fhir())
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        self.0.into_response()
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

/// This server's FHIR base URL (`http://host:port/fhir`).
pub(crate) fn base(state: &AppState) -> String {
    format!("{}://{}/fhir", state.origin.scheme, state.origin.host)
}

/// The resource type named in a path, or 404.
pub(crate) fn stored_type(name: &str) -> Result<ResourceType, FhirError> {
    ResourceType::from_name(name).ok_or_else(|| {
        FhirError::new(
            StatusCode::NOT_FOUND,
            IssueCode::NotSupported,
            format!("{name:?} is not a resource type this server has: see /fhir/metadata for the list"),
        )
    })
}

/// The record a resource's id names: its own 32 hexadecimal digits, or, for an id a client chose
/// (`PUT /fhir/Observation/bp-1`, update as create), a keyed hash of `Observation/bp-1`
/// ([`Records::client_record`]). `None` for what is not a FHIR id.
pub(crate) fn record_of(records: &Records, ty: ResourceType, id: &str) -> Option<RecordId> {
    if let Ok(record) = id.parse::<RecordId>() {
        return Some(record);
    }
    medledger_fhir::validate::id(id).then(|| records.client_record(ty.name(), id))
}

/// Whether `id` is a client's name for `record` (not its own hexadecimal digits).
pub(crate) fn client_named(record: RecordId, id: &str) -> bool {
    id != record.to_string()
}

/// The entry kind a resource type is stored as.
pub(crate) fn kind_of(ty: ResourceType) -> EntryKind {
    EntryKind::of_fhir_type(ty.name()).expect("every stored resource type has its entry kind")
}

/// The resource type an entry kind is shown as.
pub(crate) fn type_of(kind: EntryKind) -> ResourceType {
    ResourceType::from_name(kind.fhir_type()).expect("every entry kind is a stored resource type")
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
async fn metadata(State(state): State<AppState>) -> Response {
    let date = medledger_fhir::time::instant_of_ms(medledger_store::now_ms());
    let statement =
        medledger_fhir::bundle::capability_statement(&base(&state), env!("CARGO_PKG_VERSION"), &date);
    resource_response(StatusCode::OK, &statement)
}

/// The path parameters of `/fhir/{ty}/{id}`.
pub(crate) type TypeAndId = Path<(String, String)>;

/// The raw query, for search parameters that repeat.
pub(crate) type Query = RawQuery;
