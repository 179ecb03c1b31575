/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database refused or failed a statement.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite refused or failed a quick read.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL names no supported database.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// A stored value does not have the shape the schema promises (the database was edited).
    #[error("stored {0} is malformed")]
    Corrupt(&'static str),
    /// A patient with this wallet is already registered.
    #[error("a patient with wallet {0} is already registered")]
    DuplicateWallet(alloy::primitives::Address),
    /// The store already belongs to another deployment of the contracts.
    #[error("this database belongs to the MedLedger contract {} on chain {}", .0.ledger, .0.chain_id)]
    OtherDeployment(Box<crate::mirror::Deployment>),
    /// A request changed while the relayer prepared its transaction (it was declined, or
    /// renumbered after an earlier request was refused): nothing of the batch was stored.
    #[error("request {0} changed while its transaction was prepared")]
    RequestChanged(i64),
    /// This server's lease on a piece of background work passed to another server: the write
    /// made under it was not stored.
    #[error("the {0} lease passed to another server; nothing was stored")]
    LeaseLost(String),
    /// A domain rule failed.
    #[error(transparent)]
    Core(#[from] medledger_core::Error),
}

impl Error {
    /// Whether the error is a unique-constraint violation.
    pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
