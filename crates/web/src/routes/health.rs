//! For operators: `/healthz` (the process answers), `/readyz` (the database and the chain do),
//! `/metrics` (Prometheus, for the operator's token), and the API's description at
//! `/api/openapi.json`.

use alloy::providers::Provider;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

/// The OpenAPI 3.1 description of the JSON API.
pub const OPENAPI: &str = include_str!("../../assets/openapi.json");

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(crate::metrics::render))
        .route(
            "/api/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
}

/// Ready when the database answers and the chain does.
async fn ready(State(state): State<AppState>) -> Response {
    let hospital = &state.hospital;
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
