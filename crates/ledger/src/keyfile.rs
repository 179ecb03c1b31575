//! The master key: from `MEDLEDGER_MASTER_KEY` (64 hex digits), or from `master.key` in the data
//! directory, created on first run with mode 0600.
//!
//! Rotation (`medledger keys rotate`) writes the new key to `master.key.next` first, re-wraps
//! every stored key under it in one database transaction, then renames it over `master.key`. A
//! crash at any point leaves a keyring that opens everything: while `master.key.next` exists it
//! is loaded beside `master.key`, and the next rotation finishes the job.

use std::io::Write;
use std::path::{Path, PathBuf};

use medledger_core::crypto::{Keyring, MasterKey};
use medledger_store::Store;

use crate::{Error, Result};

/// The environment variable that holds the master key, when it is not in a file.
pub const ENV: &str = "MEDLEDGER_MASTER_KEY";
/// The environment variable that holds the next master key for a rotation, with [`ENV`].
pub const ENV_NEXT: &str = "MEDLEDGER_NEXT_MASTER_KEY";

fn current_path(data_dir: &Path) -> PathBuf {
    data_dir.join("master.key")
}

fn next_path(data_dir: &Path) -> PathBuf {
    data_dir.join("master.key.next")
}

fn read(path: &Path) -> Result<Option<MasterKey>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            Ok(Some(MasterKey::from_hex(&text).map_err(|e| {
                Error::MasterKey(format!("{}: {e}", path.display()))
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::MasterKey(format!("{}: {e}", path.display()))),
    }
}

fn write_private(path: &Path, key: &MasterKey) -> Result<()> {
    write_secret(path, key.to_hex().as_str())
}

/// Creates `path` (it must not exist) readable and writable by its owner only (0600), writes
/// `secret` and a newline, and syncs the file and its directory.
pub fn write_secret(path: &Path, secret: &str) -> Result<()> {
    let fail = |e: std::io::Error| Error::MasterKey(format!("{}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(secret.as_bytes()).map_err(fail)?;
    file.write_all(b"\n").map_err(fail)?;
    file.sync_all().map_err(fail)?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::MasterKey(format!("{}: {e}", dir.display())))?;
    }
    Ok(())
}

/// The keyring: the environment's key if set, else `master.key` in `data_dir` (created on first
/// run), plus `master.key.next` if a rotation was interrupted.
pub fn load(data_dir: &Path) -> Result<Keyring> {
    if let Ok(text) = std::env::var(ENV) {
        let current = MasterKey::from_hex(&text).map_err(|e| Error::MasterKey(format!("{ENV}: {e}")))?;
        let next = std::env::var(ENV_NEXT)
            .ok()
            .map(|t| MasterKey::from_hex(&t))
            .transpose()?;
        return Ok(Keyring::new(current, next.into_iter().collect()));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| Error::MasterKey(format!("{}: {e}", data_dir.display())))?;
    let path = current_path(data_dir);
    let current = match read(&path)? {
        Some(key) => key,
        None => {
            let key = MasterKey::generate()?;
            write_private(&path, &key)?;
            tracing::info!(path = %path.display(), "created a new master key; back it up, apart from the database");
            key
        }
    };
    let others = read(&next_path(data_dir))?.into_iter().collect();
    Ok(Keyring::new(current, others))
}

/// Rotates the master key kept in `data_dir`: every stored key is re-wrapped under a new master
/// key, no entry is re-encrypted. Returns the new key's id and how many keys were re-wrapped.
pub async fn rotate(data_dir: &Path, store: &Store) -> Result<(medledger_core::crypto::KeyId, u64)> {
    if std::env::var(ENV).is_ok() {
        // Keys in the environment: the operator supplies the next one and swaps the variables after.
        let current = MasterKey::from_hex(&std::env::var(ENV).unwrap_or_default())?;
        let next = std::env::var(ENV_NEXT).map_err(|_| {
            Error::MasterKey(format!("with {ENV} set, put the new key in {ENV_NEXT} to rotate"))
        })?;
        let next = MasterKey::from_hex(&next)?;
        let count = store
            .rewrap_keys(&Keyring::new(next.clone(), vec![current]))
            .await?;
        return Ok((next.id(), count));
    }
    let current = read(&current_path(data_dir))?
        .ok_or_else(|| Error::MasterKey(format!("no master key at {}", current_path(data_dir).display())))?;
    let next = match read(&next_path(data_dir))? {
        Some(interrupted) => interrupted,
        None => {
            let key = MasterKey::generate()?;
            write_private(&next_path(data_dir), &key)?;
            key
        }
    };
    let count = store
        .rewrap_keys(&Keyring::new(next.clone(), vec![current]))
        .await?;
    std::fs::rename(next_path(data_dir), current_path(data_dir))
        .map_err(|e| Error::MasterKey(format!("{}: {e}", current_path(data_dir).display())))?;
    sync_dir(&current_path(data_dir))?;
    Ok((next.id(), count))
}
