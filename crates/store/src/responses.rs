//! The layout of a FHIR transaction's `transaction-response` Bundle: which record each entry of
//! the Bundle became (or was found as), in the Bundle's order. The entries themselves are read,
//! and checked against the chain, through the ledger; this only keeps their order.

use sqlx::Row;

use crate::{Result, Store};

impl Store {
    /// Keeps the layout (JSON) of request `request_id`'s transaction-response.
    pub async fn keep_response_layout(&self, request_id: i64, layout: &str) -> Result<()> {
        sqlx::query("INSERT INTO fhir_responses (request_id, layout) VALUES ($1, $2)")
            .bind(request_id)
            .bind(layout.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The layout kept for request `request_id`, if any.
    pub async fn response_layout(&self, request_id: i64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT layout FROM fhir_responses WHERE request_id = $1")
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}
