//! The crate's one error type.

/// What can go wrong interpreting or deploying MedLedger's contracts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call or deployment the chain refused or could not be reached for.
    #[error("contract call failed: {0}")]
    Contract(#[from] alloy::contract::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
