//! Patients: who they are on-chain, their wrapped data key and their blind-index tags.

use alloy::primitives::Address;
use medledger_core::blind::Tag;
use medledger_core::crypto::{KeyId, WrappedKey};
use medledger_core::entry::EntryKind;
use medledger_core::entry::PatientId;
use sqlx::{Any, Row, Transaction};

use crate::entries::NewEntry;
use crate::quick::{Cells, Param};
use crate::requests::NewRequest;
use crate::{Error, Result, Store, address, int, now_ms, uint};

/// A patient to register.
#[derive(Debug, Clone)]
pub struct NewPatient {
    /// Their store id.
    pub id: PatientId,
    /// Their wallet.
    pub wallet: Address,
    /// The doctor registering them.
    pub registered_by: Address,
    /// Their data key, wrapped.
    pub data_key: WrappedKey,
    /// Blind-index tags of their name.
    pub name_tags: Vec<Tag>,
    /// When (Unix ms).
    pub created_at: u64,
}

/// A stored patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    /// Their store id.
    pub id: PatientId,
    /// Their wallet.
    pub wallet: Address,
    /// The doctor who registered them.
    pub registered_by: Address,
    /// Their on-chain id, once the registration is confirmed.
    pub chain_id: Option<u64>,
    /// Their data key, wrapped.
    pub data_key: WrappedKey,
    /// When they were registered (Unix ms).
    pub created_at: u64,
}

const COLUMNS: &str = "id, wallet, registered_by, chain_id, key_master_id, data_key, created_at";

fn patient(row: &dyn Cells) -> Result<Patient> {
    let master = row.bytes("key_master_id")?;
    Ok(Patient {
        id: PatientId::from_slice(&row.bytes("id")?)?,
        wallet: address(&row.bytes("wallet")?)?,
        registered_by: address(&row.bytes("registered_by")?)?,
        chain_id: row.opt_int("chain_id")?.map(uint),
        data_key: WrappedKey {
            master: KeyId(
                master
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::Corrupt("key id"))?,
            ),
            sealed: row.bytes("data_key")?,
        },
        created_at: uint(row.int("created_at")?),
    })
}

/// A wallet whose registration never happened, and never can, is free again: its patient has no
/// on-chain id, their only entry is their demographics, rejected, and every request that carried
/// it was never signed (the signer declined it) or is past its deadline. A signed request the
/// contract refused stays valid at the forwarder until its deadline (anyone who saw it could send
/// it again once its cause is gone), so until then the wallet stays taken. The freed
/// registration's rows go (its patient, its rejected demographics, its name tags); its request
/// stays, rejected, with the reason, and the audit log keeps the attempt. A registration that
/// carried clinical history, attachments or emergency reasons is never freed.
async fn free_refused_registration(
    tx: &mut Transaction<'static, Any>,
    wallet: Address,
    now_secs: u64,
) -> Result<()> {
    let refused = sqlx::query(
        "SELECT p.id FROM patients p WHERE p.wallet = $1 AND p.chain_id IS NULL
         AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.patient_id = p.id
                         AND (e.status <> 'rejected' OR e.kind <> $2))
         AND NOT EXISTS (SELECT 1 FROM entries e JOIN chain_requests r ON r.id = e.request_id
                         WHERE e.patient_id = p.id AND r.signature IS NOT NULL AND r.deadline > $3)
         AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.patient_id = p.id)
         AND NOT EXISTS (SELECT 1 FROM emergency_reasons r WHERE r.patient_id = p.id)",
    )
    .bind(wallet.to_vec())
    .bind(EntryKind::Demographics as i64)
    .bind(int(now_secs))
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = refused else {
        return Ok(());
    };
    let id: Vec<u8> = row.try_get(0)?;
    for sql in [
        "DELETE FROM name_index WHERE patient_id = $1",
        "DELETE FROM entries WHERE patient_id = $1 AND status = 'rejected'",
    ] {
        sqlx::query(sql).bind(id.clone()).execute(&mut **tx).await?;
    }
    let freed = sqlx::query("DELETE FROM patients WHERE id = $1 AND chain_id IS NULL")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if freed.rows_affected() != 1 {
        return Err(Error::DuplicateWallet(wallet));
    }
    tracing::info!("a refused registration's wallet was registered again");
    Ok(())
}

impl Store {
    /// Registers a patient, their first entries (their demographics) and the chain request that
    /// anchors both, in one transaction. Returns the request's id.
    pub async fn register_patient(
        &self,
        new: &NewPatient,
        entries: &[NewEntry],
        request: &NewRequest,
    ) -> Result<i64> {
        let mut ids = self
            .register_many(&[(new.clone(), entries.to_vec(), request.clone())])
            .await?;
        Ok(ids.remove(0))
    }

    /// Registers many patients (each with their first entries and request) in one transaction;
    /// all or none. Returns the requests' ids in order.
    pub async fn register_many(
        &self,
        patients: &[(NewPatient, Vec<NewEntry>, NewRequest)],
    ) -> Result<Vec<i64>> {
        let mut tx = self.writer.begin().await?;
        let mut ids = Vec::with_capacity(patients.len());
        for (new, entries, request) in patients {
            free_refused_registration(&mut tx, new.wallet, now_ms() / 1000).await?;
            let inserted = sqlx::query(
                "INSERT INTO patients (id, wallet, registered_by, chain_id, key_master_id, data_key, created_at)
                 VALUES ($1, $2, $3, NULL, $4, $5, $6)",
            )
            .bind(new.id.0.to_vec())
            .bind(new.wallet.to_vec())
            .bind(new.registered_by.to_vec())
            .bind(new.data_key.master.0.to_vec())
            .bind(new.data_key.sealed.clone())
            .bind(int(new.created_at))
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(e) if Error::is_unique_violation(&e) => return Err(Error::DuplicateWallet(new.wallet)),
                other => other?,
            };
            for tag in &new.name_tags {
                sqlx::query("INSERT INTO name_index (tag, patient_id) VALUES ($1, $2)")
                    .bind(tag.to_vec())
                    .bind(new.id.0.to_vec())
                    .execute(&mut *tx)
                    .await?;
            }
            let request_id = crate::requests::insert(&mut tx, request).await?;
            crate::entries::insert(&mut tx, entries, request_id).await?;
            ids.push(request_id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The patient with this store id.
    pub async fn patient(&self, id: PatientId) -> Result<Option<Patient>> {
        let sql = format!("SELECT {COLUMNS} FROM patients WHERE id = $1");
        let found = self
            .quick_rows(&sql, &[Param::Bytes(id.0.as_slice())], patient)
            .await?;
        Ok(found.into_iter().next())
    }

    /// The patient with this wallet.
    pub async fn patient_by_wallet(&self, wallet: Address) -> Result<Option<Patient>> {
        let sql = format!("SELECT {COLUMNS} FROM patients WHERE wallet = $1");
        let found = self
            .quick_rows(&sql, &[Param::Bytes(wallet.as_slice())], patient)
            .await?;
        Ok(found.into_iter().next())
    }

    /// The patient with this on-chain id.
    pub async fn patient_by_chain_id(&self, chain_id: u64) -> Result<Option<Patient>> {
        let sql = format!("SELECT {COLUMNS} FROM patients WHERE chain_id = $1");
        let found = self
            .quick_rows(&sql, &[Param::Int(int(chain_id))], patient)
            .await?;
        Ok(found.into_iter().next())
    }

    /// Every patient, in registration order.
    pub async fn patients(&self) -> Result<Vec<Patient>> {
        let sql = format!("SELECT {COLUMNS} FROM patients ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| patient(row)).collect()
    }

    /// The patients whose names carry every one of `tags` (at most `limit`).
    pub async fn search_names(&self, tags: &[Tag], limit: u32) -> Result<Vec<PatientId>> {
        let Some((first, rest)) = tags.split_first() else {
            return Ok(vec![]);
        };
        // One indexed lookup per tag, intersected; a query has a handful of words.
        let mut sql = String::from("SELECT patient_id FROM name_index WHERE tag = $1");
        for i in 0..rest.len() {
            sql.push_str(&format!(
                " INTERSECT SELECT patient_id FROM name_index WHERE tag = ${}",
                i + 2
            ));
        }
        sql.push_str(&format!(" ORDER BY patient_id LIMIT {limit}"));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(first.to_vec());
        for tag in rest {
            query = query.bind(tag.to_vec());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok(PatientId::from_slice(&r.try_get::<Vec<u8>, _>(0)?)?))
            .collect()
    }

    /// Replaces a patient's blind-index tags (after a name change).
    pub async fn set_name_tags(&self, id: PatientId, tags: &[Tag]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM name_index WHERE patient_id = $1")
            .bind(id.0.to_vec())
            .execute(&mut *tx)
            .await?;
        for tag in tags {
            sqlx::query("INSERT INTO name_index (tag, patient_id) VALUES ($1, $2)")
                .bind(tag.to_vec())
                .bind(id.0.to_vec())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
