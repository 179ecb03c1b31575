//! What MedLedger's tests share (a dev-dependency only, never in a shipped binary): the pieces
//! each crate's tests used to paste for themselves.
//!
//! - [`db`]: a fresh database per test, SQLite and PostgreSQL.
//! - [`hospital`]: a whole hospital on the embedded chain in a temporary directory.
//! - [`doctors`]: approving doctors on chain, as an admin's wallet does.
//! - [`wallets`]: the public development keys, and the Sign-In with Ethereum message a wallet signs.

pub mod db;
pub mod doctors;
pub mod hospital;
pub mod wallets;
