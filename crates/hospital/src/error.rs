//! What opening or running a hospital can fail with.

/// What opening or running a hospital can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] medledger_store::Error),
    /// The ledger client failed.
    #[error(transparent)]
    Ledger(#[from] medledger_ledger::Error),
    /// The embedded chain failed.
    #[error(transparent)]
    Chain(#[from] medledger_chain::Error),
    /// Deploying or calling the contracts failed.
    #[error(transparent)]
    Contracts(#[from] medledger_contracts::Error),
    /// A file of the data directory could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The configuration cannot work.
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// A data directory's file that could not be read or written.
    pub(crate) fn io(path: &std::path::Path, err: impl std::fmt::Display) -> Self {
        Self::Io(format!("{}: {err}", path.display()))
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
