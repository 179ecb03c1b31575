//! The store's story tests: every story runs on SQLite and on PostgreSQL, each on a fresh database.

mod shared;
mod stories;
