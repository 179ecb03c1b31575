//! Bulk Data export jobs and their files, shared by every server of a hospital: any server
//! answers a job's status and serves its files. The files arrive here sealed (the ledger seals
//! them under the job's own key, wrapped by the master key); this module keeps rows.

use alloy::primitives::Address;
use medledger_core::crypto::{KeyId, WrappedKey};
use sqlx::Row;

use crate::{Error, Result, Store, address, int, uint};

/// A job as it is started.
#[derive(Debug, Clone)]
pub struct NewExport {
    /// Its id (random, unguessable: it is in the status URL).
    pub id: String,
    /// Who started it, and alone may see it.
    pub owner: Address,
    /// The kick-off request's URL, for the manifest.
    pub request: String,
    /// When it started (ms).
    pub started_ms: u64,
    /// The key its files are sealed under, wrapped.
    pub key: WrappedKey,
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportStatus {
    /// Reading; it last said so at `beat_ms`.
    Running {
        /// Its last sign of life (ms).
        beat_ms: u64,
    },
    /// Its files are ready.
    Done {
        /// The manifest's `transactionTime`.
        finished_at: String,
        /// Each file's name and how many resources it holds.
        files: Vec<(String, u64)>,
    },
    /// It failed, for this reason.
    Failed(String),
}

/// A stored job.
#[derive(Debug, Clone)]
pub struct ExportJob {
    /// Its id.
    pub id: String,
    /// Who started it.
    pub owner: Address,
    /// The kick-off request's URL.
    pub request: String,
    /// When it started (ms).
    pub started_ms: u64,
    /// The key its files are sealed under, wrapped.
    pub key: WrappedKey,
    /// Where it stands.
    pub status: ExportStatus,
}

impl Store {
    /// Stores a new running job.
    pub async fn create_export(&self, job: &NewExport) -> Result<()> {
        sqlx::query(
            "INSERT INTO export_jobs (id, owner, request, started_ms, beat_ms, status, key_master_id, sealed_key)
             VALUES ($1, $2, $3, $4, $4, 'running', $5, $6)",
        )
        .bind(job.id.clone())
        .bind(job.owner.to_vec())
        .bind(job.request.clone())
        .bind(int(job.started_ms))
        .bind(job.key.master.0.to_vec())
        .bind(job.key.sealed.clone())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// A running job's sign of life.
    pub async fn beat_export(&self, id: &str, now_ms: u64) -> Result<()> {
        sqlx::query("UPDATE export_jobs SET beat_ms = $2 WHERE id = $1 AND status = 'running'")
            .bind(id.to_owned())
            .bind(int(now_ms))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Stores a job's sealed files `(name, count, sealed)` and marks it done, in one transaction;
    /// `false` (nothing stored) if it is no longer running (deleted, or given up meanwhile).
    pub async fn finish_export(
        &self,
        id: &str,
        finished_at: &str,
        files: &[(String, u64, Vec<u8>)],
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE export_jobs SET status = 'done', finished_at = $2 WHERE id = $1 AND status = 'running'",
        )
        .bind(id.to_owned())
        .bind(finished_at.to_owned())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        for (name, count, sealed) in files {
            sqlx::query("INSERT INTO export_files (job, name, count, sealed) VALUES ($1, $2, $3, $4)")
                .bind(id.to_owned())
                .bind(name.clone())
                .bind(int(*count))
                .bind(sealed.clone())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Marks a running job failed, with its reason.
    pub async fn fail_export(&self, id: &str, reason: &str) -> Result<()> {
        sqlx::query(
            "UPDATE export_jobs SET status = 'failed', reason = $2 WHERE id = $1 AND status = 'running'",
        )
        .bind(id.to_owned())
        .bind(reason.to_owned())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The job with this id.
    pub async fn export_job(&self, id: &str) -> Result<Option<ExportJob>> {
        let Some(row) = sqlx::query(
            "SELECT owner, request, started_ms, beat_ms, status, finished_at, reason, key_master_id, sealed_key
             FROM export_jobs WHERE id = $1",
        )
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let status = match row.try_get::<String, _>("status")?.as_str() {
            "running" => ExportStatus::Running {
                beat_ms: uint(row.try_get("beat_ms")?),
            },
            "done" => {
                let files = sqlx::query("SELECT name, count FROM export_files WHERE job = $1 ORDER BY name")
                    .bind(id.to_owned())
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, uint(r.try_get(1)?))))
                    .collect::<Result<Vec<_>>>()?;
                ExportStatus::Done {
                    finished_at: row
                        .try_get::<Option<String>, _>("finished_at")?
                        .unwrap_or_default(),
                    files,
                }
            }
            "failed" => ExportStatus::Failed(row.try_get::<Option<String>, _>("reason")?.unwrap_or_default()),
            _ => return Err(Error::Corrupt("export status")),
        };
        let master: Vec<u8> = row.try_get("key_master_id")?;
        Ok(Some(ExportJob {
            id: id.to_owned(),
            owner: address(&row.try_get::<Vec<u8>, _>("owner")?)?,
            request: row.try_get("request")?,
            started_ms: uint(row.try_get("started_ms")?),
            key: WrappedKey {
                master: KeyId(master.try_into().map_err(|_| Error::Corrupt("key id"))?),
                sealed: row.try_get("sealed_key")?,
            },
            status,
        }))
    }

    /// A job's sealed file `name`.
    pub async fn export_file(&self, id: &str, name: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT sealed FROM export_files WHERE job = $1 AND name = $2")
            .bind(id.to_owned())
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Forgets a job and its files; `false` if there was none.
    pub async fn delete_export(&self, id: &str) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM export_files WHERE job = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM export_jobs WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.rows_affected() == 1)
    }

    /// Forgets the jobs started before `before_ms`, and their files. Returns how many.
    pub async fn sweep_exports(&self, before_ms: u64) -> Result<u64> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "DELETE FROM export_files WHERE job IN (SELECT id FROM export_jobs WHERE started_ms < $1)",
        )
        .bind(int(before_ms))
        .execute(&mut *tx)
        .await?;
        let gone = sqlx::query("DELETE FROM export_jobs WHERE started_ms < $1")
            .bind(int(before_ms))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.rows_affected())
    }
}
