//! MedLedger's embedded chain: a single-node EVM chain inside the MedLedger process, the way
//! SQLite is an embedded database.
//!
//! - [`Chain`] opens a data directory, verifies and replays its blocks, and mines new ones on a
//!   thread of its own; a block is synced to disk before its receipts are visible, and
//!   transactions that arrive together share a block (group commit).
//! - [`rpc::EthApi`] answers standard Ethereum JSON-RPC; [`server`] serves it over HTTP and
//!   [`transport::InProcess`] hands it to an alloy provider with no socket.
//! - [`store`] is the durable block log; [`verify`] the checks each stored block passes on open.

pub mod config;
pub mod rpc;
pub mod server;
pub mod store;
pub mod transport;

mod chain;
mod checkpoint;
mod error;
mod evm;
mod genesis;
mod miner;
mod pool;
mod state;
mod verify;

pub use chain::{BlockMeta, Chain, Indexed};
pub use checkpoint::Checkpoint;
pub use config::{ChainConfig, DEFAULT_CHAIN_ID, DEV_ACCOUNTS};
pub use error::{Error, Result};
