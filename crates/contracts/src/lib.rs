//! MedLedger's contracts, as alloy bindings generated from the artifacts committed in
//! `contracts/artifacts/` (so building MedLedger needs no Solidity toolchain).
//!
//! - [`MedLedger`]: roles, the patient registry, consent, emergency access, hash-linked history
//!   commitments and audit anchors.
//! - [`MedLedgerForwarder`]: the ERC-2771 forwarder that relays users' EIP-712-signed requests.
//! - [`history`]: the history-head rule, so that the chain's heads can be recomputed off-chain.
//! - [`forward`]: building the typed data a wallet signs for a relayed request.
//! - [`revert`]: the contracts' revert reasons in words a user can act on.

pub mod deploy;
pub mod forward;
pub mod history;
pub mod revert;

mod error;

pub use deploy::{Deployment, deploy, deploy_hospital};
pub use error::{Error, Result};

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    MedLedger,
    "../../contracts/artifacts/MedLedger.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    MedLedgerForwarder,
    "../../contracts/artifacts/MedLedgerForwarder.json"
);
