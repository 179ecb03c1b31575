//! The per-patient history as the contract links it, recomputable by anyone off-chain.
//!
//! Each entry appended to a patient's history moves the head on:
//! `head_v = bytes24(keccak256(abi.encode(head_{v-1}, commitment, uint256(kind),
//! uint256(supersedes), author, uint256(version))))`, with `head_0` all zeroes and versions
//! counting from 1 (`abi.encode` of a `bytes24` is its 24 bytes followed by 8 zero bytes). The head
//! therefore commits to every entry, its kind, the entry it amends, its author and its place. It
//! is 192 bits so that it shares one storage slot with the entry count; each entry's commitment
//! is a full 256-bit hash.

use alloy::primitives::{Address, B256, FixedBytes, U256, keccak256};
use alloy::sol_types::SolValue;

/// A history head: the top 24 bytes of the link hash.
pub type Head = FixedBytes<24>;

/// One appended entry, as the contract's events report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The salted commitment to the entry's content.
    pub commitment: B256,
    /// What the entry records: its kind's number (`medledger_core::entry::EntryKind`).
    pub kind: u8,
    /// The version this entry amends, or 0.
    pub supersedes: u64,
    /// The doctor who wrote it (the signer, never the relayer).
    pub author: Address,
    /// Its place in the history, from 1.
    pub version: u64,
}

impl Link {
    /// The head after appending this entry to a history whose head was `prev`.
    pub fn next_head(&self, prev: Head) -> Head {
        let words = (
            prev,
            self.commitment,
            U256::from(self.kind),
            U256::from(self.supersedes),
            self.author,
            U256::from(self.version),
        );
        Head::from_slice(&keccak256(words.abi_encode())[..24])
    }
}

/// The head of a history made of `links`, in order, from the empty head.
pub fn head_of<'a>(links: impl IntoIterator<Item = &'a Link>) -> Head {
    links
        .into_iter()
        .fold(Head::ZERO, |head, link| link.next_head(head))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{address, b256, fixed_bytes};

    /// A fixed vector, so another implementation can check its own link function against ours
    /// (the same value is asserted against the deployed contract's `linkHead` in the it tests).
    #[test]
    fn head_rule_fixed_vector() {
        let link = Link {
            commitment: b256!("0x1111111111111111111111111111111111111111111111111111111111111111"),
            kind: 1, // a medication
            supersedes: 0,
            author: address!("0x00000000000000000000000000000000000d0c00"),
            version: 1,
        };
        assert_eq!(link.next_head(Head::ZERO), FIXED_VECTOR_HEAD);
        assert_eq!(head_of([&link]), FIXED_VECTOR_HEAD);
    }

    // The first 24 bytes of `cast keccak $(cast abi-encode
    // "f(bytes32,bytes32,uint256,uint256,address,uint256)" 0x00…00 0x11…11 1 0 0x…0d0c00 1)`,
    // which is 0x858e4a7f5ea5cdcb9ceaabee8909e5904f738bc922e3dca2262a5a41350b9d41.
    const FIXED_VECTOR_HEAD: Head = fixed_bytes!("0x858e4a7f5ea5cdcb9ceaabee8909e5904f738bc922e3dca2");
}
