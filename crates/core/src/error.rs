/// Everything the domain can refuse.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A ciphertext failed authentication: wrong key, wrong patient, record or revision, or edited bytes.
    #[error("ciphertext does not authenticate (edited, swapped or rolled back)")]
    Decrypt,
    /// A wrapped key names a master key this keyring does not hold.
    #[error("no master key with id {0} (was the key file replaced?)")]
    UnknownMasterKey(String),
    /// A key given as text is not 64 hexadecimal digits.
    #[error("a master key is 64 hexadecimal digits (32 bytes)")]
    MalformedKey,
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// A stored value is too short or otherwise malformed.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// Input that cannot be accepted, with what to fix.
    #[error("{0}")]
    Invalid(String),
    /// A name search term was too short to use.
    #[error("search terms need at least {0} letters")]
    SearchTooShort(usize),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
