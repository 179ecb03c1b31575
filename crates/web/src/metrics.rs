//! `/metrics`: Prometheus text exposition of what an operator watches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy::providers::Provider;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// HTTP responses counted by status class.
#[derive(Debug, Default)]
pub struct HttpCounters {
    classes: [AtomicU64; 5],
}

impl HttpCounters {
    fn count(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.classes[class].fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts every response by status class.
pub async fn count(State(counters): State<Arc<HttpCounters>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    counters.count(response.status().as_u16());
    response
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
    let mut out = String::new();
    out.push_str("# HELP medledger_http_responses_total HTTP responses by status class.\n");
    out.push_str("# TYPE medledger_http_responses_total counter\n");
    for (i, class) in counters.classes.iter().enumerate() {
        out.push_str(&format!(
            "medledger_http_responses_total{{class=\"{}xx\"}} {}\n",
            i + 1,
            class.load(Ordering::Relaxed)
        ));
    }
    if let Ok(block) = hospital.provider.get_block_number().await {
        out.push_str("# HELP medledger_chain_head_block The chain's latest block.\n# TYPE medledger_chain_head_block gauge\n");
        out.push_str(&format!("medledger_chain_head_block {block}\n"));
    }
    if let Ok(cursor) = hospital.store.cursor().await {
        out.push_str("# HELP medledger_indexer_block The last block the indexer applied.\n# TYPE medledger_indexer_block gauge\n");
        out.push_str(&format!(
            "medledger_indexer_block {}\n",
            cursor.map_or(0, |(n, _)| n)
        ));
    }
    if let Ok(counts) = hospital.store.request_counts().await {
        out.push_str("# HELP medledger_requests Chain requests in the outbox by status.\n# TYPE medledger_requests gauge\n");
        for (status, n) in counts {
            out.push_str(&format!("medledger_requests{{status=\"{status}\"}} {n}\n"));
        }
    }
    if let Ok(head) = hospital.store.audit_head().await {
        out.push_str("# HELP medledger_audit_records Records in the audit log.\n# TYPE medledger_audit_records gauge\n");
        out.push_str(&format!(
            "medledger_audit_records {}\n",
            head.map_or(0, |(n, _)| n)
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// Compares two secrets in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
