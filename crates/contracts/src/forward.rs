//! The EIP-712 request a wallet signs for a gasless write, relayed by [`MedLedgerForwarder`].
//!
//! The user signs a [`ForwardRequest`] under the forwarder's domain; anyone (the hospital's
//! relayer) submits it with `execute`; the forwarder checks the signature, nonce and deadline and
//! calls MedLedger as the signer.
//!
//! [`MedLedgerForwarder`]: crate::MedLedgerForwarder

use alloy::primitives::{Address, B256, Bytes, U256, aliases::U48};
use alloy::sol_types::{Eip712Domain, SolStruct, eip712_domain};

use crate::ERC2771Forwarder::ForwardRequestData;

alloy::sol! {
    /// The typed data a user signs: OpenZeppelin ERC2771Forwarder's `ForwardRequest`.
    #[derive(Debug, PartialEq, Eq)]
    struct ForwardRequest {
        address from;
        address to;
        uint256 value;
        uint256 gas;
        uint256 nonce;
        uint48 deadline;
        bytes data;
    }
}

/// The forwarder's EIP-712 domain name.
pub const DOMAIN_NAME: &str = "MedLedgerForwarder";
/// The forwarder's EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";

/// The domain a wallet signs under for the forwarder at `forwarder` on chain `chain_id`.
pub fn domain(chain_id: u64, forwarder: Address) -> Eip712Domain {
    eip712_domain! {
        name: DOMAIN_NAME,
        version: DOMAIN_VERSION,
        chain_id: chain_id,
        verifying_contract: forwarder,
    }
}

impl ForwardRequest {
    /// A request from `from` to call `to` with `data`, with no value attached.
    pub fn new(from: Address, to: Address, data: Bytes, gas: u64, nonce: U256, deadline: u64) -> Self {
        Self {
            from,
            to,
            value: U256::ZERO,
            gas: U256::from(gas),
            nonce,
            deadline: U48::from(deadline),
            data,
        }
    }

    /// The digest the wallet signs (`eth_signTypedData_v4` of this request under `domain`).
    pub fn signing_hash(&self, domain: &Eip712Domain) -> B256 {
        self.eip712_signing_hash(domain)
    }

    /// The argument of the forwarder's `execute`: this request with its 65-byte signature.
    pub fn with_signature(self, signature: Bytes) -> ForwardRequestData {
        ForwardRequestData {
            from: self.from,
            to: self.to,
            value: self.value,
            gas: self.gas,
            deadline: self.deadline,
            data: self.data,
            signature,
        }
    }
}
