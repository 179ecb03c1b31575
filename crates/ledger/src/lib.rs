//! MedLedger's ledger client and the flows that join the store to the chain.
//!
//! - [`directory`]: roles, a doctor's patients, a patient's grants and demographics.
//! - [`events`]: the contract's logs, decoded into the store's [`ChainEvent`]s.
//! - [`indexer`]: follows those events past the confirmation depth, across restarts and reorgs.
//! - [`relayer`]: drains the outbox, with one nonce sequence and a stored transaction per request.
//! - [`nonces`]: each signer's forwarder nonces, handed out in order and kept without gaps.
//! - [`records`]: registering patients, writing entries, signing, searching names.
//! - `identity`: who a patient is and who may read their record, from the chain.
//! - [`read`]: a patient's history as the chain proves it, whole: verified, tampered, missing.
//! - [`trail`]: the patient's access trail: who read or changed their record, and how it ended.
//! - [`verify`]: re-checks every stored entry and the audit log against the chain.
//! - [`keyfile`]: the master key's file (or environment variable) and its rotation.
//!
//! Every chain is reached through an alloy provider: the embedded chain in-process, any other by URL.
//!
//! [`ChainEvent`]: medledger_store::mirror::ChainEvent

pub mod directory;
pub mod events;
pub mod exports;
pub mod indexer;
pub mod keyfile;
pub mod nonces;
pub mod read;
pub mod records;
pub mod relayer;
pub mod trail;
pub mod verify;

mod batch;
mod error;
mod identity;
mod opening;

pub use error::{Error, Result};
