//! The audit log, stored: appends are serialised so the hash chain has one order.

use alloy::primitives::{Address, B256};
use medledger_core::audit::{AuditEvent, AuditRecord};
use medledger_core::entry::{PatientId, RecordId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{Backend, Result, Store, address, hash, int, uint, values_rows};

/// Rows per multi-row `INSERT` into the audit log.
const ROWS_PER_INSERT: usize = 100;

fn record(row: &AnyRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        sequence: uint(row.try_get("sequence")?),
        event: AuditEvent {
            at: uint(row.try_get("at")?),
            actor: address(&row.try_get::<Vec<u8>, _>("actor")?)?,
            action: row.try_get("action")?,
            patient: row
                .try_get::<Option<Vec<u8>>, _>("patient_id")?
                .map(|p| PatientId::from_slice(&p))
                .transpose()?,
            record: row
                .try_get::<Option<Vec<u8>>, _>("record_id")?
                .map(|r| RecordId::from_slice(&r))
                .transpose()?,
            outcome: row.try_get("outcome")?,
            detail: row.try_get("detail")?,
        },
        prev: hash(&row.try_get::<Vec<u8>, _>("prev")?)?,
        hash: hash(&row.try_get::<Vec<u8>, _>("hash")?)?,
    })
}

const COLUMNS: &str = "sequence, at, actor, action, patient_id, record_id, outcome, detail, prev, hash";

/// Appends events to the audit log inside `tx`, chained after its current head.
pub(crate) async fn append_in(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    events: Vec<AuditEvent>,
) -> Result<Vec<AuditRecord>> {
    if backend == Backend::Postgres {
        // Several servers may share the database: one appender at a time.
        sqlx::query("SELECT pg_advisory_xact_lock(7367746)")
            .execute(&mut **tx)
            .await?;
    }
    let head = sqlx::query("SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?;
    let (mut sequence, mut prev) = match head {
        Some(r) => (uint(r.try_get(0)?), hash(&r.try_get::<Vec<u8>, _>(1)?)?),
        None => (0, B256::ZERO),
    };
    let records: Vec<AuditRecord> = events
        .into_iter()
        .map(|event| {
            sequence += 1;
            let record = event.chain(sequence, prev);
            prev = record.hash;
            record
        })
        .collect();
    // Multi-row statements: a group commit of many reads' events is a few statements, not one each.
    for chunk in records.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO audit_log (sequence, at, actor, action, patient_id, record_id, outcome, detail, prev, hash) \
             VALUES ",
        );
        sql.push_str(&values_rows(chunk.len(), 10, |p| format!("({})", p.join(", "))));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for record in chunk {
            let e = &record.event;
            query = query
                .bind(int(record.sequence))
                .bind(int(e.at))
                .bind(e.actor.to_vec())
                .bind(e.action.clone())
                .bind(e.patient.map(|p| p.0.to_vec()))
                .bind(e.record.map(|r| r.0.to_vec()))
                .bind(e.outcome.clone())
                .bind(e.detail.clone())
                .bind(record.prev.to_vec())
                .bind(record.hash.to_vec());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(records)
}

impl Store {
    /// Appends events to the audit log, chained after its current head, in one transaction.
    pub async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<Vec<AuditRecord>> {
        let mut tx = self.writer.begin().await?;
        let records = append_in(&mut tx, self.backend, events).await?;
        tx.commit().await?;
        Ok(records)
    }

    /// The audit log from `after` (exclusive), at most `limit` records.
    pub async fn audit_log(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>> {
        let sql =
            format!("SELECT {COLUMNS} FROM audit_log WHERE sequence > $1 ORDER BY sequence LIMIT {limit}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(int(after))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    /// The newest `limit` audit records, newest first (what an admin sees).
    pub async fn audit_log_newest(&self, limit: u32) -> Result<Vec<AuditRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM audit_log ORDER BY sequence DESC LIMIT {limit}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    /// The audit records about one patient, newest first (what the patient sees).
    pub async fn audit_of_patient(&self, patient: PatientId, limit: u32) -> Result<Vec<AuditRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log WHERE patient_id = $1 ORDER BY sequence DESC LIMIT {limit}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(patient.0.to_vec())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    /// Records that `auditor` anchored the log at `(sequence, head)` in transaction `tx_hash`.
    pub async fn record_audit_anchor(
        &self,
        sequence: u64,
        head: B256,
        auditor: Address,
        tx_hash: B256,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_anchors (sequence, head, auditor, tx_hash) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sequence) DO NOTHING",
        )
        .bind(int(sequence))
        .bind(head.to_vec())
        .bind(auditor.to_vec())
        .bind(tx_hash.to_vec())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The accounts this server has anchored the audit log from.
    pub async fn audit_anchorers(&self) -> Result<Vec<Address>> {
        let rows = sqlx::query("SELECT DISTINCT auditor FROM audit_anchors")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| address(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }

    /// The newest audit record's sequence number and hash.
    pub async fn audit_head(&self) -> Result<Option<(u64, B256)>> {
        let row = sqlx::query("SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((uint(r.try_get(0)?), hash(&r.try_get::<Vec<u8>, _>(1)?)?)))
            .transpose()
    }
}
