//! `/metrics`: what an operator watches, in the Prometheus/OpenMetrics text format
//! (`prometheus-client`, the Prometheus project's own Rust client), for the operator alone.

use std::sync::Arc;

use alloy::providers::Provider;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A response's status class (`2xx`, …).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Class {
    class: String,
}

/// A chain request's status.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Status {
    status: String,
}

/// HTTP responses counted by status class, since the server started.
#[derive(Debug, Default)]
pub struct HttpCounters {
    responses: Family<Class, Counter>,
}

impl HttpCounters {
    fn count(&self, status: u16) {
        let class = format!("{}xx", (status / 100).clamp(1, 5));
        self.responses.get_or_create(&Class { class }).inc();
    }
}

/// Counts every response by status class.
pub async fn count(State(counters): State<Arc<HttpCounters>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    counters.count(response.status().as_u16());
    response
}

/// A gauge set to `value`.
fn gauge(value: u64) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    g
}

/// `GET /metrics`, for the operator alone: `Authorization: Bearer` the token in the data
/// directory's `metrics.token` (or `MEDLEDGER_METRICS_TOKEN`). Request counts, the outbox and the
/// chain head are not for anyone who asks.
pub async fn render(State(state): State<crate::state::AppState>, headers: axum::http::HeaderMap) -> Response {
    let (hospital, counters) = (&state.hospital, &state.counters);
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !same(presented.as_bytes(), hospital.metrics_token.as_bytes()) {
        let mut response = crate::error::AppError::unauthorized(
            "/metrics is the operator's: send Authorization: Bearer with the token in the data directory's \
             metrics.token (or MEDLEDGER_METRICS_TOKEN)",
        )
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    let mut registry = Registry::with_prefix("medledger");
    registry.register(
        "http_responses",
        "HTTP responses by status class",
        counters.responses.clone(),
    );
    if let Ok(block) = hospital.provider.get_block_number().await {
        registry.register("chain_head_block", "The chain's latest block", gauge(block));
    }
    if let Ok(cursor) = hospital.store.cursor().await {
        registry.register(
            "indexer_block",
            "The last block the indexer applied",
            gauge(cursor.map_or(0, |(n, _)| n)),
        );
    }
    if let Ok(counts) = hospital.store.request_counts().await {
        let requests = Family::<Status, Gauge>::default();
        // Every status, at zero unless counted, so that a dashboard sees each from the start.
        for status in [
            "awaiting-signature",
            "signed",
            "submitted",
            "included",
            "anchored",
            "rejected",
        ] {
            requests
                .get_or_create(&Status {
                    status: status.to_owned(),
                })
                .set(0);
        }
        for (status, n) in counts {
            requests
                .get_or_create(&Status { status })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        registry.register("requests", "Chain requests in the outbox by status", requests);
    }
    if let Ok(head) = hospital.store.audit_head().await {
        registry.register(
            "audit_records",
            "Records in the audit log",
            gauge(head.map_or(0, |(n, _)| n)),
        );
    }
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        return crate::error::AppError::internal(e).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// Compares two secrets in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
