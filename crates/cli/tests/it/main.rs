//! Integration tests of the `medledger` binary: the hospital's pages in a real browser; a FHIR client on `/fhir`; its embedded chain (`medledger node`) compared
//! with anvil (by alloy and by Foundry's `cast`), driven as a wallet drives it, and killed mid-traffic; `medledger verify` and
//! `medledger keys rotate` on a data directory a hospital has used.

mod browser;
mod cast;
mod conformance;
mod crash;
mod fhir_client;
mod http;
mod import;
mod insider;
mod limits;
mod schemathesis;
mod serve;
mod servers;
mod settings;
mod synthetic;
mod util;
mod verify;
mod wallet_session;
