//! The data directory: private to its owner, with the server's own keys (its relayer's, for gas
//! and audit anchors, and the operator's token for `/metrics`) and the SQLite file.

use std::path::Path;

use alloy::signers::local::PrivateKeySigner;

use crate::{Config, Error, Result};

/// The operator's token for `/metrics`: the configured one, else `metrics.token` in the data
/// directory, created (0600) on first start.
pub(crate) fn metrics_token(config: &Config) -> Result<String> {
    if let Some(token) = &config.metrics_token {
        return Ok(token.clone());
    }
    let path = config.data_dir.join("metrics.token");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            medledger_core::crypto::random_bytes(&mut bytes).map_err(|e| Error::io(&path, e))?;
            let token = alloy::hex::encode(bytes);
            medledger_ledger::keyfile::write_secret(&path, &token)?;
            Ok(token)
        }
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Creates the data directory private to its owner (0700), and says at start what in an existing
/// one others can read: the database, its write-ahead log and the chain hold what must not leak
/// (a doctor's application, the shape of every record).
pub(crate) fn private_data_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::io(dir, e))?;
        }
        let mut wide = Vec::new();
        let mut walk = vec![dir.to_path_buf()];
        while let Some(path) = walk.pop() {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                wide.push(path.display().to_string());
            }
            if meta.is_dir()
                && let Ok(entries) = std::fs::read_dir(&path)
            {
                walk.extend(entries.flatten().map(|e| e.path()));
            }
        }
        if !wide.is_empty() {
            wide.sort();
            tracing::warn!(
                "others than the owner can read or enter parts of the data directory: run `chmod -R go-rwx {}` \
                 ({} path(s), e.g. {})",
                dir.display(),
                wide.len(),
                wide[0]
            );
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    Ok(())
}

/// The SQLite file in `dir`, created 0600 before SQLite opens it (its write-ahead log and shared
/// memory take the same mode).
pub(crate) fn private_sqlite_file(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop).map_err(|e| Error::io(path, e))
}

/// The relayer's key: `relayer.key` in the data directory, created (0600) on first start. It is
/// the server's own hot wallet for gas, never a user's key.
pub fn relayer_key(config: &Config) -> Result<PrivateKeySigner> {
    let path = config.data_dir.join("relayer.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse::<PrivateKeySigner>()
            .map_err(|e| Error::io(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer = PrivateKeySigner::random();
            medledger_ledger::keyfile::write_secret(&path, &alloy::hex::encode(signer.to_bytes()))?;
            Ok(signer)
        }
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Holds the data directory for this server alone when it keeps something there that one server
/// at a time may use: the SQLite database, or the embedded chain. A second server on it is refused
/// at start; several servers share a hospital on PostgreSQL and an external chain (docs/store.md).
/// The lock is the operating system's (`flock`), released when the process ends however it ends.
pub(crate) fn exclusive(config: &Config) -> Result<Option<std::fs::File>> {
    let sqlite = config
        .database_url
        .as_deref()
        .is_none_or(|url| url.starts_with("sqlite:"));
    let embedded_chain = config.rpc_url.is_none();
    if !sqlite && !embedded_chain {
        return Ok(None);
    }
    let path = config.data_dir.join("server.lock");
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&path).map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => {
            let what = match (sqlite, embedded_chain) {
                (true, true) => "its SQLite database and embedded chain",
                (true, false) => "its SQLite database",
                _ => "its embedded chain",
            };
            Err(Error::Config(format!(
                "another MedLedger server is running on the data directory {} and {what} serve one server \
                 at a time: stop it first, or run several servers on PostgreSQL (--database-url postgres://…) \
                 and an external chain (--rpc-url), each with its own data directory",
                config.data_dir.display()
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}
