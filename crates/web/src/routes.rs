//! HTTP: `/rpc` (the embedded chain), `/healthz`, `/readyz`, and the landing page.

use std::sync::Arc;

use alloy::providers::Provider;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::api;
use crate::auth::{self, AuthState, Origin};
use crate::csrf;
use crate::metrics;
use crate::people;
use medledger_hospital::Hospital;

/// The OpenAPI 3.1 description of the JSON API.
pub const OPENAPI: &str = include_str!("../assets/openapi.json");

/// The largest request body the API accepts (JSON; attachments will get their own limit).
pub const MAX_BODY: usize = 256 * 1024;

/// Every route of the server, for a server browsers reach at `origin`.
pub fn router(hospital: Arc<Hospital>, origin: Origin) -> Router {
    router_with(hospital, origin, Vec::new())
}

/// [`router`] behind reverse proxies at `trusted_proxies`, whose `X-Forwarded-For` names the
/// client (for the limits on signing in).
pub fn router_with(
    hospital: Arc<Hospital>,
    origin: Origin,
    trusted_proxies: Vec<std::net::IpAddr>,
) -> Router {
    let https = origin.scheme == "https";
    let rpc = hospital.rpc_router();
    let hospital_for_metrics = hospital.clone();
    let auth_state = AuthState {
        hospital: hospital.clone(),
        origin,
        sign_in: Arc::new(crate::limits::SignInLimits::default().with_trusted_proxies(trusted_proxies)),
    };
    let api = Router::new()
        .route("/api/v1/auth/nonce", get(auth::nonce))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/session", get(auth::session))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/patients", post(api::register_patient).get(api::search))
        .route(
            "/api/v1/patients/{id}/records",
            post(api::write_record).get(api::read_records),
        )
        .route("/api/v1/patients/{id}", get(people::patient))
        .route("/api/v1/patients/{id}/audit", get(api::audit))
        .route(
            "/api/v1/patients/{id}/consents",
            post(api::grant_consent).get(people::consents),
        )
        .route(
            "/api/v1/patients/{id}/emergency-access",
            post(api::open_emergency)
                .get(api::emergencies)
                .delete(people::close_emergency),
        )
        .route("/api/v1/doctors", get(people::doctors))
        .route("/api/v1/doctors/applications", post(people::apply))
        .route(
            "/api/v1/patients/{id}/consents/{doctor}",
            delete(api::revoke_consent),
        )
        .route(
            "/api/v1/doctors/{address}/approval",
            post(api::approve_doctor).delete(api::revoke_doctor),
        )
        .route(
            "/api/v1/requests/{id}",
            get(api::request_status).delete(api::decline_request),
        )
        .route("/api/v1/requests", get(api::my_requests))
        .route("/api/v1/verify", get(api::verify))
        .route("/api/v1/requests/{id}/signature", post(api::sign_request))
        .merge(crate::pages::router())
        .merge(crate::fhir::router())
        .layer(axum::middleware::from_fn(csrf::guard))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(auth_state);
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route(
            "/api/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .with_state(hospital)
        .merge(api);
    let counters = Arc::new(metrics::HttpCounters::default());
    let router = router.route(
        "/metrics",
        get(metrics::render).with_state((hospital_for_metrics, counters.clone())),
    );
    let router = match rpc {
        Some(rpc) => router.nest("/rpc", rpc),
        None => router,
    };
    let router = router
        .layer(axum::middleware::from_fn(
            crate::problem::plain_errors_as_problems,
        ))
        .layer(axum::middleware::from_fn(crate::fhir::errors_as_outcomes))
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
        router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ))
    } else {
        router
    }
}

/// How long a client may take to send a request's body.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Ready when the database answers and the chain does.
async fn ready(State(hospital): State<Arc<Hospital>>) -> Response {
    let store = hospital.store.deployment().await;
    let block = hospital.provider.get_block_number().await;
    match (store, block) {
        (Ok(Some(_)), Ok(block)) => {
            let body = serde_json::json!({
                "status": "ready",
                "chainId": hospital.deployment.chain_id,
                "block": block,
                "ledger": hospital.deployment.ledger,
                "forwarder": hospital.deployment.forwarder,
            });
            ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
        (store, block) => {
            tracing::warn!(store_ok = store.is_ok(), chain_ok = block.is_ok(), "not ready");
            let body =
                serde_json::json!({"status": "not ready", "database": store.is_ok(), "chain": block.is_ok()});
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
    }
}
