//! MedLedger's server: everything `medledger serve` runs.
//!
//! - [`hospital`]: assembles a running hospital: the store, the master key, the chain (embedded,
//!   in process, or external by URL), the contracts (deployed on first start), the record flows,
//!   and the relayer and indexer loops.
//! - [`routes`]: HTTP: the embedded chain's JSON-RPC at `/rpc`, `/healthz`, `/readyz`, and the
//!   landing page. (Sign-in, the pages and the JSON API come next: issue 5.)

pub mod hospital;
pub mod routes;

mod error;

pub use error::{Error, Result};
