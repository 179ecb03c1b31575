//! The verified checkpoint: how much of the block log has passed every check, named by the
//! SHA-256 of those bytes, in `blocks.verified` beside the log.
//!
//! Opening a chain checks every block's transactions and receipts against its header's tries,
//! which costs a few keccak permutations per transaction: seconds for a million. The log is
//! append-only, so bytes that passed once can only change by corruption or tampering; opening
//! therefore hashes the checkpointed prefix with SHA-256 (far cheaper than the tries) and checks
//! the tries only of the blocks after it. Headers are still linked, block by block, all the way.
//! A prefix that no longer matches its checkpoint is refused: even a log rewritten consistently
//! (tries, headers and parent hashes recomputed) is caught, which re-checking the tries alone
//! would not catch. Someone who can rewrite the log can rewrite this file too; the defence against
//! that is outside the node (MedLedger's store keeps the hashes of the blocks it has mirrored).
//!
//! The file is written after open, every [`EVERY`] bytes appended and at shutdown, by rename and
//! without a sync: a lost or stale checkpoint only means more blocks are checked in full.

use std::path::{Path, PathBuf};

use alloy::primitives::B256;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Result;

/// Bytes appended between checkpoints.
pub(crate) const EVERY: u64 = 64 << 20;

/// The first `log_bytes` bytes of the log passed every check, and hash to `sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// How many bytes of the log, from the start (whole records).
    pub log_bytes: u64,
    /// Their SHA-256.
    pub sha256: B256,
}

/// The running SHA-256 of the log's complete records.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prefix {
    hasher: Sha256,
    len: u64,
}

impl Prefix {
    /// Adds the next record's bytes (frame and payload).
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// How many bytes it covers.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The checkpoint of the bytes so far.
    pub(crate) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            log_bytes: self.len,
            sha256: B256::from_slice(&self.hasher.clone().finalize()),
        }
    }
}

/// Where the checkpoint of the log at `log` is kept.
pub(crate) fn path_of(log: &Path) -> PathBuf {
    log.with_extension("verified")
}

/// The checkpoint of the log at `log`, if there is a readable one. An unreadable one is ignored
/// (with a warning): every block is then checked in full.
pub(crate) fn load(log: &Path) -> Option<Checkpoint> {
    let path = path_of(log);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the checkpoint; checking every block");
            return None;
        }
    };
    match serde_json::from_slice(&text) {
        Ok(checkpoint) => Some(checkpoint),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unreadable checkpoint; checking every block");
            None
        }
    }
}

/// Writes the checkpoint of the log at `log` (to a temporary file, then renamed over the old one).
pub(crate) fn save(log: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let path = path_of(log);
    let temporary = path.with_extension("verified.tmp");
    std::fs::write(
        &temporary,
        serde_json::to_vec(checkpoint).expect("a checkpoint serialises"),
    )?;
    std::fs::rename(&temporary, &path)?;
    Ok(())
}
