//! Entries: each revision of each record, sealed, with its commitment and anchoring state.

use alloy::primitives::{Address, B256};
use medledger_core::audit::AuditEvent;
use medledger_core::entry::EntryKind;
use medledger_core::entry::{PatientId, RecordId};
use sqlx::{Any, Row, Transaction};

use crate::quick::{Cells, Param};
use crate::requests::NewRequest;
use crate::{Error, Result, Store, address, hash, int, uint, values_rows};

/// An entry to store.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// Whose.
    pub patient: PatientId,
    /// The record it is a revision of.
    pub record: RecordId,
    /// Its revision, from 1.
    pub revision: u32,
    /// What it records.
    pub kind: EntryKind,
    /// Who wrote it.
    pub author: Address,
    /// When (Unix ms).
    pub recorded_at: u64,
    /// Salt and content, sealed under the patient's data key.
    pub sealed: Vec<u8>,
    /// Its on-chain commitment.
    pub commitment: B256,
}

/// Where a stored entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchoring {
    /// Waiting for its chain request.
    Pending,
    /// In the patient's on-chain history at this version.
    Anchored {
        /// Its version.
        version: u64,
        /// The transaction.
        tx_hash: B256,
        /// The block.
        block_number: u64,
    },
    /// The contract refused its request.
    Rejected,
}

/// A stored entry.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    /// Its place in the store.
    pub seq: i64,
    /// Whose.
    pub patient: PatientId,
    /// The patient's on-chain id, if confirmed.
    pub chain_patient: Option<u64>,
    /// The record.
    pub record: RecordId,
    /// The revision.
    pub revision: u32,
    /// The kind as stored (`None` if the stored number names no kind).
    pub kind: Option<EntryKind>,
    /// Who wrote it.
    pub author: Address,
    /// When (Unix ms).
    pub recorded_at: u64,
    /// Salt and content, sealed.
    pub sealed: Vec<u8>,
    /// The commitment as stored.
    pub commitment: B256,
    /// Where it stands.
    pub anchoring: Anchoring,
    /// Why the contract refused it, if it did.
    pub reason: Option<String>,
    /// The chain request that anchors it.
    pub request_id: Option<i64>,
}

const COLUMNS: &str = "e.seq, e.patient_id, p.chain_id, e.record_id, e.revision, e.kind, e.author, e.recorded_at, \
                       e.sealed, e.commitment, e.status, e.chain_version, e.tx_hash, e.block_number, e.reason, \
                       e.request_id";

fn entry(row: &dyn Cells) -> Result<StoredEntry> {
    let status = row.text("status")?;
    let anchoring = match status.as_str() {
        "pending" => Anchoring::Pending,
        "rejected" => Anchoring::Rejected,
        "anchored" => Anchoring::Anchored {
            version: uint(
                row.opt_int("chain_version")?
                    .ok_or(Error::Corrupt("entry version"))?,
            ),
            tx_hash: hash(&row.opt_bytes("tx_hash")?.ok_or(Error::Corrupt("entry tx"))?)?,
            block_number: uint(
                row.opt_int("block_number")?
                    .ok_or(Error::Corrupt("entry block"))?,
            ),
        },
        _ => return Err(Error::Corrupt("entry status")),
    };
    Ok(StoredEntry {
        seq: row.int("seq")?,
        patient: PatientId::from_slice(&row.bytes("patient_id")?)?,
        chain_patient: row.opt_int("chain_id")?.map(uint),
        record: RecordId::from_slice(&row.bytes("record_id")?)?,
        revision: u32::try_from(row.int("revision")?).map_err(|_| Error::Corrupt("revision"))?,
        kind: u8::try_from(row.int("kind")?)
            .ok()
            .and_then(|k| EntryKind::try_from(k).ok()),
        author: address(&row.bytes("author")?)?,
        recorded_at: uint(row.int("recorded_at")?),
        sealed: row.bytes("sealed")?,
        commitment: hash(&row.bytes("commitment")?)?,
        anchoring,
        reason: row.opt_text("reason")?,
        request_id: row.opt_int("request_id")?,
    })
}

/// Rows per multi-row `INSERT`: one statement per hundred entries instead of one per entry.
const ROWS_PER_INSERT: usize = 100;

pub(crate) async fn insert(
    tx: &mut Transaction<'static, Any>,
    entries: &[NewEntry],
    request_id: i64,
) -> Result<()> {
    let rows: Vec<(&NewEntry, i64)> = entries.iter().map(|e| (e, request_id)).collect();
    insert_for(tx, &rows).await
}

/// Inserts entries, each with the id of its request, a hundred rows per statement.
pub(crate) async fn insert_for(tx: &mut Transaction<'static, Any>, rows: &[(&NewEntry, i64)]) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO entries (patient_id, record_id, revision, kind, author, recorded_at, sealed, commitment, \
             request_id, status) VALUES ",
        );
        sql.push_str(&values_rows(chunk.len(), 9, |p| {
            format!("({}, 'pending')", p.join(", "))
        }));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (e, request_id) in chunk {
            query = query
                .bind(e.patient.0.to_vec())
                .bind(e.record.0.to_vec())
                .bind(i64::from(e.revision))
                .bind(i64::from(e.kind as u8))
                .bind(e.author.to_vec())
                .bind(int(e.recorded_at))
                .bind(e.sealed.clone())
                .bind(e.commitment.to_vec())
                .bind(*request_id);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Store {
    /// Stores entries and the chain request that anchors them, in one transaction. Returns the
    /// request's id.
    pub async fn record_entries(&self, entries: &[NewEntry], request: &NewRequest) -> Result<i64> {
        Ok(self.record_many(&[(entries.to_vec(), request.clone())]).await?[0])
    }

    /// Stores many writes (each: entries and their request) in one transaction, the write path's
    /// batched commit. Returns the requests' ids in order.
    pub async fn record_many(&self, writes: &[(Vec<NewEntry>, NewRequest)]) -> Result<Vec<i64>> {
        self.record_many_audited(writes, vec![]).await
    }

    /// [`Store::record_many`], with the audit events of those writes appended in the same
    /// transaction: a write is stored if and only if it is audited, and the two share one sync.
    pub async fn record_many_audited(
        &self,
        writes: &[(Vec<NewEntry>, NewRequest)],
        audit: Vec<AuditEvent>,
    ) -> Result<Vec<i64>> {
        let mut tx = self.writer.begin().await?;
        let requests: Vec<NewRequest> = writes.iter().map(|(_, r)| r.clone()).collect();
        let ids = crate::requests::insert_many(&mut tx, &requests).await?;
        let mut rows: Vec<(&NewEntry, i64)> = Vec::new();
        for ((entries, _), id) in writes.iter().zip(&ids) {
            rows.extend(entries.iter().map(|e| (e, *id)));
        }
        insert_for(&mut tx, &rows).await?;
        if !audit.is_empty() {
            crate::audit::append_in(&mut tx, self.backend, audit).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// A patient's entries, in the order they were stored.
    pub async fn entries_of(&self, patient: PatientId) -> Result<Vec<StoredEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM entries e JOIN patients p ON p.id = e.patient_id
             WHERE e.patient_id = $1 ORDER BY e.seq"
        );
        self.quick_rows(&sql, &[Param::Bytes(patient.0.as_slice())], entry)
            .await
    }

    /// The entries request `request_id` writes, in store order.
    pub async fn entries_of_request(&self, request_id: i64) -> Result<Vec<StoredEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM entries e LEFT JOIN patients p ON p.id = e.patient_id
             WHERE e.request_id = $1 ORDER BY e.seq"
        );
        self.quick_rows(&sql, &[Param::Int(request_id)], entry).await
    }

    /// Every stored entry with `seq` above `after`, at most `limit`, in store order (for
    /// verification, page by page). An entry whose patient row is gone is still returned.
    pub async fn entries_after(&self, after: i64, limit: u32) -> Result<Vec<StoredEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM entries e LEFT JOIN patients p ON p.id = e.patient_id
             WHERE e.seq > $1 ORDER BY e.seq LIMIT {limit}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| entry(row)).collect()
    }

    /// The latest revision number of a record, if it exists, and whose it is.
    pub async fn latest_revision(&self, record: RecordId) -> Result<Option<(PatientId, u32)>> {
        let row = sqlx::query(
            "SELECT patient_id, revision FROM entries WHERE record_id = $1 ORDER BY revision DESC LIMIT 1",
        )
        .bind(record.0.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let revision = u32::try_from(r.try_get::<i64, _>(1)?).map_err(|_| Error::Corrupt("revision"))?;
            Ok((PatientId::from_slice(&r.try_get::<Vec<u8>, _>(0)?)?, revision))
        })
        .transpose()
    }
}
