//! Integration tests of MedLedger's contracts: the Solidity suites and Slither, the committed
//! artifacts against their sources, and the Rust bindings driving real contracts on anvil.

mod chain;
mod ledger;
mod solidity;
mod util;
