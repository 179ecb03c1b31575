//! Every route of the server, one router per resource, and the layers they share.
//!
//! - the JSON API under `/api/v1`: [`auth`] (sign-in and sessions), [`patients`], [`records`],
//!   [`attachments`] (files an entry cites), [`requests`] (the signed requests every change goes
//!   through), [`consents`], [`doctors`],
//!   [`emergency`] access, [`audit`] (the patient's trail, verification);
//! - FHIR R4 under `/fhir` ([`crate::fhir`]) and the pages ([`crate::pages`]);
//! - [`health`] for operators; the embedded chain's JSON-RPC at `/rpc`.
//!
//! Who is asking is an extractor ([`crate::extract`]); what they may do is the ledger's to decide;
//! every error is the one [`AppError`], made where it happens in the form its route speaks.

mod attachments;
mod audit;
pub mod auth;
mod consents;
mod doctors;
mod emergency;
mod health;
mod patients;
mod records;
pub mod requests;

use std::sync::Arc;

use alloy::primitives::Address;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, Uri, header};
use axum::response::Response;
use medledger_core::entry::PatientId;
use medledger_hospital::Hospital;
use medledger_ledger::records::Action;
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

pub use health::OPENAPI;

use crate::error::{AppError, Result};
use crate::limits::SignInLimits;
use crate::metrics::{self, HttpCounters};
use crate::state::{AppState, Origin};

/// The largest request body the API accepts (JSON; an attachment's file has its own limit,
/// [`medledger_core::attachment::MAX_ATTACHMENT`]).
pub const MAX_BODY: usize = 256 * 1024;

/// How long a client may take to send a request's body.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What an operator may set of the HTTP side.
#[derive(Debug, Clone)]
pub struct Options {
    /// Reverse proxies in front of the server, whose `X-Forwarded-For` names the client (for the
    /// limits on signing in).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The largest transaction Bundle `POST /fhir` takes, in bytes (at least, and by default,
    /// [`crate::fhir::MAX_TRANSACTION`]).
    pub max_transaction: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            max_transaction: crate::fhir::MAX_TRANSACTION,
        }
    }
}

/// Every route of the server, for a server browsers reach at `origin`.
pub fn router(hospital: Arc<Hospital>, origin: Origin) -> Router {
    router_with(hospital, origin, Options::default())
}

/// [`router`] with an operator's [`Options`].
pub fn router_with(hospital: Arc<Hospital>, origin: Origin, options: Options) -> Router {
    let https = origin.scheme == "https";
    let rpc = hospital.rpc_router();
    let state = AppState {
        hospital,
        origin,
        sign_in: Arc::new(SignInLimits::default().with_trusted_proxies(options.trusted_proxies)),
        counters: Arc::new(HttpCounters::default()),
        max_transaction: options.max_transaction.max(crate::fhir::MAX_TRANSACTION),
    };
    let counters = state.counters.clone();
    let app = Router::new()
        .merge(auth::router())
        .merge(patients::router())
        .merge(records::router())
        .merge(attachments::router())
        .merge(requests::router())
        .merge(consents::router())
        .merge(doctors::router())
        .merge(emergency::router())
        .merge(audit::router())
        .merge(crate::fhir::router(state.max_transaction))
        .merge(crate::pages::router())
        .layer(axum::middleware::from_fn(crate::csrf::guard))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .merge(health::router())
        .fallback(no_such_route)
        .method_not_allowed_fallback(no_such_method)
        .with_state(state);
    let app = match rpc {
        Some(rpc) => app.nest("/rpc", rpc),
        None => app,
    };
    let app = app
        .layer(axum::middleware::from_fn_with_state(counters, metrics::count))
        // Health data must not be kept by a browser or a proxy, nor its type guessed: every answer
        // (the pages set their own, stricter, headers first).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // A client that stops sending a request's body is cut off instead of holding the server.
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT));
    if https {
        // Behind https, browsers are told to come back only over https (RFC 6797).
        app.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ))
    } else {
        app
    }
}

/// A path no route serves: a 404 in the form its part of the server speaks.
async fn no_such_route(uri: Uri) -> AppError {
    let path = uri.path();
    let detail = if path == "/fhir" || path.starts_with("/fhir/") {
        format!("there is no {path} on this FHIR server: see /fhir/metadata for what it supports")
    } else if path.starts_with("/api/") {
        format!("there is no {path} in this API: its routes are described at /api/openapi.json")
    } else {
        format!("there is no page {path} here")
    };
    AppError::not_found(detail).for_path(path)
}

/// A method a route does not take.
async fn no_such_method(method: Method, uri: Uri) -> AppError {
    let path = uri.path();
    let described = if path.starts_with("/fhir") {
        "see /fhir/metadata for the interactions supported"
    } else {
        "its methods are described at /api/openapi.json"
    };
    AppError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        format!("{path} does not take {method}: {described}"),
    )
    .for_path(path)
}

/// Prepares a consent or role change for `signer`'s wallet to sign; the `202` that hands it over.
async fn act(
    state: &AppState,
    signer: Address,
    patient: Option<PatientId>,
    action: Action,
) -> Result<Response> {
    let write = state.hospital.records.act(signer, patient, action).await?;
    Ok(requests::accepted(state, &write, json!({})))
}
