//! JSON-RPC over HTTP: an axum router that answers POSTed requests (single or batch), usable on
//! its own (`medledger node`) or mounted by the web server at `/rpc`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::rpc::{EthApi, handle_body};

/// The largest request body accepted (as geth: 5 MiB).
pub const MAX_BODY: usize = 5 * 1024 * 1024;

/// A router answering JSON-RPC at `/`.
pub fn router(api: Arc<EthApi>) -> Router {
    Router::new()
        .route("/", post(answer))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

async fn answer(State(api): State<Arc<EthApi>>, body: Bytes) -> Response {
    // Execution is CPU work under locks; keep it off the async workers.
    let reply = tokio::task::spawn_blocking(move || handle_body(&api, &body)).await;
    match reply {
        Ok(Some(value)) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec(&value).unwrap_or_default(),
        )
            .into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => {
            tracing::error!(%error, "JSON-RPC handler failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves `api` on `listener` until `shutdown` completes.
pub async fn serve(
    api: Arc<EthApi>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(api))
        .with_graceful_shutdown(shutdown)
        .await
}
