//! The record flows end to end: a real EVM (the embedded chain, in process; anvil for reorgs), a
//! real database (SQLite and PostgreSQL), wallets that sign what the server hands them.

mod hospital;
mod nonces;
mod reorg;
mod stories;
mod tamper;
