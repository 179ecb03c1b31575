use alloy::primitives::Address;

/// What the ledger client and the record flows can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] medledger_store::Error),
    /// A domain rule failed.
    #[error(transparent)]
    Core(#[from] medledger_core::Error),
    /// The chain could not be reached or answered with an error.
    #[error("chain: {0}")]
    Chain(String),
    /// A contract call failed.
    #[error(transparent)]
    Contracts(#[from] medledger_contracts::Error),
    /// The store has no deployment recorded: the contracts are not deployed or not connected yet.
    #[error("no MedLedger deployment is recorded in this database")]
    NotDeployed,
    /// No patient with this id.
    #[error("no patient {0}")]
    UnknownPatient(String),
    /// No record with this id.
    #[error("no record {0}")]
    UnknownRecord(String),
    /// Nothing of the caller's is there (another's is not told apart from none).
    #[error("{0}")]
    NotFound(String),
    /// The patient's registration is not confirmed on-chain yet, so entries cannot be anchored.
    #[error("patient {0} is not confirmed on-chain yet; try again after their registration is anchored")]
    PatientNotAnchored(String),
    /// The store disagrees with the chain about who a patient is, who may read, or what their
    /// history holds: it was altered, and nothing resting on it is shown.
    #[error(
        "the store disagrees with the chain: {0}; nothing was shown (tell the hospital's administrator to run `medledger verify`)"
    )]
    Disagreement(String),
    /// The reader may not read these records.
    #[error("{0}")]
    Forbidden(String),
    /// A signature does not come from the request's signer.
    #[error(
        "the signature is not {expected}'s signature of request {request} as it stands now (it recovers to {actual}); \
         if the request was offered again with a new nonce, sign its current typed data (GET /api/v1/requests/{request})"
    )]
    WrongSigner {
        /// The request.
        request: i64,
        /// Who must sign it.
        expected: Address,
        /// Who did.
        actual: Address,
    },
    /// The request is not waiting for a signature.
    #[error("request {0} is not awaiting a signature (it is unknown, already signed, or done)")]
    NotAwaitingSignature(i64),
    /// The action conflicts with the current state (nothing to close, already applied).
    #[error("{0}")]
    Conflict(String),
    /// A batched write (the audit log, an entry, a signature) could not be committed, so the
    /// action was not completed.
    #[error("could not store {0}")]
    Batch(String),
    /// Content that cannot be stored.
    #[error("invalid entry: {0}")]
    InvalidEntry(String),
    /// The master key file or variable is missing, unreadable or malformed.
    #[error("master key: {0}")]
    MasterKey(String),
}

impl Error {
    pub(crate) fn chain(err: impl std::fmt::Display) -> Self {
        Self::Chain(err.to_string())
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
