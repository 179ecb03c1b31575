//! MedLedger's domain, with no I/O of its own.
//!
//! - [`crypto`]: the master key, per-patient data keys and the authenticated encryption that
//!   binds every ciphertext to its patient, record and revision.
//! - [`attachment`]: attachments, sealed like entries and referenced from them.
//! - [`blind`]: the blind index that lets a name be searched without being stored.
//! - [`emergency`]: emergency-access reasons, sealed, committed to by a salted hash.
//! - [`entry`]: identifiers, the canonical form of an entry and its salted on-chain commitment.
//! - [`access`]: who may read and write a patient's records.
//! - [`audit`]: the hash-chained audit log.
//! - [`siwe`]: Sign-In with Ethereum (EIP-4361) messages, checked in full.
//! - [`calendar`]: dates and times (RFC 3339 instants, how pages print a moment), on jiff.
//! - [`verify`]: reconciling the store with the chain, entry by entry.

pub mod access;
pub mod attachment;
pub mod audit;
pub mod blind;
pub mod calendar;
pub mod crypto;
pub mod emergency;
pub mod entry;
pub mod siwe;
pub mod verify;

mod error;

pub use error::{Error, Result};
