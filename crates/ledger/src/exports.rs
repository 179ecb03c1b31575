//! Bulk Data export jobs as a hospital keeps them: in the database, so that any of its servers
//! answers a job's status and serves its files, and sealed, so that the health data an export
//! holds while it waits to be fetched is no more readable, or alterable unseen, than an entry.
//! Each job has a key of its own, wrapped by the master key, and each file is sealed under it,
//! bound to its job and name. A job is its owner's alone and is kept for an hour.

use std::collections::BTreeMap;

use alloy::primitives::Address;
use medledger_core::crypto::Keyring;
use medledger_store::Store;
use medledger_store::exports::{ExportJob, ExportStatus, NewExport};

use crate::{Error, Result};

/// How long a job and its files are kept, from its start.
pub const KEPT_MS: u64 = 60 * 60 * 1000;

/// How often a running job says it is alive.
pub const BEAT_MS: u64 = 2_000;

/// A running job silent this long ran on a server that went away.
const SILENT_MS: u64 = 30_000;

/// The export jobs of a hospital.
#[derive(Debug, Clone)]
pub struct Exports {
    store: Store,
    keyring: Keyring,
}

impl Exports {
    /// The jobs kept in `store`, their files sealed with keys wrapped by `keyring`.
    pub fn new(store: Store, keyring: Keyring) -> Self {
        Self { store, keyring }
    }

    /// Starts a job for `owner`, kicked off by `request`; returns its id. Jobs past their hour
    /// are forgotten first.
    pub async fn start(&self, owner: Address, request: String) -> Result<String> {
        let now = medledger_store::now_ms();
        self.store.sweep_exports(now.saturating_sub(KEPT_MS)).await?;
        let mut id = [0u8; 16];
        medledger_core::crypto::random_bytes(&mut id)?;
        let id = alloy::hex::encode(id);
        let (_, key) = self.keyring.new_export_key(&id, owner.as_slice())?;
        self.store
            .create_export(&NewExport {
                id: id.clone(),
                owner,
                request,
                started_ms: now,
                key,
            })
            .await?;
        Ok(id)
    }

    /// A running job's sign of life.
    pub async fn beat(&self, id: &str) -> Result<()> {
        Ok(self.store.beat_export(id, medledger_store::now_ms()).await?)
    }

    /// Seals and stores a job's files (each name's NDJSON and how many resources it holds), and
    /// marks it done as of `finished_at` (the manifest's `transactionTime`).
    pub async fn finish(
        &self,
        id: &str,
        finished_at: &str,
        files: BTreeMap<String, (String, usize)>,
    ) -> Result<()> {
        let Some(job) = self.store.export_job(id).await? else {
            return Ok(()); // deleted meanwhile
        };
        let key = self.keyring.export_key(id, job.owner.as_slice(), &job.key)?;
        let mut sealed = Vec::with_capacity(files.len());
        for (name, (text, count)) in files {
            let bytes = key.seal(id, &name, text.as_bytes())?;
            sealed.push((name, count as u64, bytes));
        }
        self.store.finish_export(id, finished_at, &sealed).await?;
        Ok(())
    }

    /// Marks a running job failed.
    pub async fn fail(&self, id: &str, why: &str) -> Result<()> {
        Ok(self.store.fail_export(id, why).await?)
    }

    /// `reader`'s job `id` (`None` if there is none of theirs, or it is past its hour), with a
    /// running job whose server went away shown as failed.
    pub async fn job(&self, id: &str, reader: Address) -> Result<Option<ExportJob>> {
        let now = medledger_store::now_ms();
        // What is past its hour goes at every look, not only when the next export starts.
        self.store.sweep_exports(now.saturating_sub(KEPT_MS)).await?;
        let Some(mut job) = self.store.export_job(id).await? else {
            return Ok(None);
        };
        if job.owner != reader || now.saturating_sub(job.started_ms) >= KEPT_MS {
            return Ok(None);
        }
        if let ExportStatus::Running { beat_ms } = job.status
            && now.saturating_sub(beat_ms) > SILENT_MS
        {
            job.status = ExportStatus::Failed("the server that ran it stopped before it finished".to_owned());
        }
        Ok(Some(job))
    }

    /// File `name` of `reader`'s finished job `id`, opened; `None` if there is no such file of
    /// theirs. A file altered in the database does not open: [`Error::Conflict`] says so.
    pub async fn file(&self, id: &str, reader: Address, name: &str) -> Result<Option<String>> {
        let Some(job) = self.job(id, reader).await? else {
            return Ok(None);
        };
        let Some(sealed) = self.store.export_file(id, name).await? else {
            return Ok(None);
        };
        let altered = || {
            Error::Conflict(format!(
                "export file {name} of job {id} does not open: it was altered in the database; kick the export off again"
            ))
        };
        // Bound to its job, its owner and its name: an owner changed in the database opens nothing.
        let key = self
            .keyring
            .export_key(id, job.owner.as_slice(), &job.key)
            .map_err(|_| altered())?;
        let opened = key.open(id, name, &sealed).map_err(|_| altered())?;
        String::from_utf8(opened.to_vec())
            .map(Some)
            .map_err(|_| altered())
    }

    /// Forgets `reader`'s job `id` (cancelling it, if it runs); `false` if there is none of theirs.
    pub async fn delete(&self, id: &str, reader: Address) -> Result<bool> {
        if self.job(id, reader).await?.is_none() {
            return Ok(false);
        }
        Ok(self.store.delete_export(id).await?)
    }
}
