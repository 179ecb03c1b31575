//! The chain's one error type, and how each error becomes a JSON-RPC error.

use alloy::primitives::Bytes;

/// Everything the chain can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request body is not JSON.
    #[error("parse error: {0}")]
    Parse(String),
    /// The JSON is not a JSON-RPC 2.0 request.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No such method.
    #[error("the method {0} does not exist/is not available")]
    MethodNotFound(String),
    /// The parameters are missing or of the wrong shape.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// A transaction the pool refuses (nonce, funds, gas, chain id, signature, size...).
    #[error("{0}")]
    Rejected(String),
    /// A call or estimate that reverted; `data` is the revert data.
    #[error("execution reverted{}", reason_suffix(.reason))]
    Reverted {
        /// The decoded `Error(string)` reason, when there is one.
        reason: Option<String>,
        /// The raw revert data.
        data: Bytes,
    },
    /// A call that halted (out of gas, invalid opcode...).
    #[error("{0}")]
    Halted(String),
    /// A block or state the node does not keep.
    #[error("{0}")]
    Unavailable(String),
    /// The data directory holds something this node cannot use.
    #[error("data directory: {0}")]
    DataDir(String),
    /// The stored chain fails its checks (torn writes are repaired; this is something else).
    #[error("the stored chain is corrupt or was tampered with: {0}")]
    Corrupt(String),
    /// Disk I/O failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The EVM failed in a way that is not the transaction's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The JSON-RPC error code, as geth and anvil use them.
    pub fn code(&self) -> i64 {
        match self {
            Self::Parse(_) => -32700,
            Self::InvalidRequest(_) => -32600,
            Self::MethodNotFound(_) => -32601,
            Self::InvalidParams(_) => -32602,
            Self::Reverted { .. } => 3,
            Self::Rejected(_) | Self::Halted(_) | Self::Unavailable(_) => -32000,
            Self::DataDir(_) | Self::Corrupt(_) | Self::Io(_) | Self::Internal(_) => -32603,
        }
    }

    /// The message a client sees. Internal failures say only that something went wrong; their
    /// cause is logged instead.
    pub fn client_message(&self) -> String {
        match self {
            Self::DataDir(_) | Self::Corrupt(_) | Self::Io(_) | Self::Internal(_) => {
                tracing::error!(error = %self, "internal chain error");
                "internal error".into()
            }
            other => other.to_string(),
        }
    }

    /// The error's `data` member: the revert data of a reverted call.
    pub fn data(&self) -> Option<&Bytes> {
        match self {
            Self::Reverted { data, .. } => Some(data),
            _ => None,
        }
    }
}
