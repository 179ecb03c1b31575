//! Integration tests of the `medledger` binary: its embedded chain (`medledger node`) compared
//! with anvil, driven as a wallet drives it, and killed mid-traffic.

mod conformance;
mod crash;
mod util;
mod wallet_session;
