//! The checks every stored block passes when the chain opens: it extends its parent (number and
//! parent hash), and its transactions, receipts and effects are the ones its header commits to.
//! A block edited on disk fails one of them, or breaks its child's parent hash.
//!
//! The checks come in two parts so that opening a long chain can use every core: [`digest`]
//! checks what a block commits to on its own (its tries, its effects' hash) and can run on many
//! blocks at once; [`Verifier::link`] then checks, block after block, that each extends the last.

use alloy::consensus::Header;
use alloy::primitives::{B256, keccak256};
use alloy::trie::root::ordered_trie_root_encoded;

use crate::store::{BlockEffects, BlockRecord, chain_state_commitment};
use crate::{Error, Result};

/// What a block proves about itself: its hash, the hash of its effects and its transactions'
/// hashes (for the index).
#[derive(Debug, Clone)]
pub(crate) struct Digest {
    /// The header's hash.
    pub(crate) hash: B256,
    /// `keccak256(rlp(effects))`, chained into the state root by [`Verifier::link`].
    pub(crate) effects: B256,
    /// Each transaction's hash, in order.
    pub(crate) tx_hashes: Vec<B256>,
}

/// Checks a block on its own: as many transactions as receipts and senders, and (if `tries`) the
/// transactions and receipts (EIP-2718 encoded) its header's roots commit to. A block in the
/// verified checkpoint skips the tries (see [`crate::checkpoint`]).
pub(crate) fn digest<T: AsRef<[u8]>>(
    header: &Header,
    transactions: &[T],
    receipts: &[T],
    effects: &BlockEffects,
    tries: bool,
) -> Result<Digest> {
    let fail = |what: &str| Err(Error::Corrupt(format!("block {}: {what}", header.number)));
    let n = transactions.len();
    if receipts.len() != n || effects.senders.len() != n {
        return fail("transactions, receipts and senders differ in number");
    }
    if tries && ordered_trie_root_encoded(transactions) != header.transactions_root {
        return fail("transactions do not match the transactions root");
    }
    if tries && ordered_trie_root_encoded(receipts) != header.receipts_root {
        return fail("receipts do not match the receipts root");
    }
    Ok(Digest {
        hash: header.hash_slow(),
        effects: keccak256(alloy_rlp::encode(effects)),
        tx_hashes: transactions.iter().map(keccak256).collect(),
    })
}

/// Checks blocks in order, remembering the last one.
#[derive(Debug, Default)]
pub(crate) struct Verifier {
    parent: Option<(u64, B256, B256)>,
}

impl Verifier {
    /// Checks that the block with `header` and `digest` extends the previous one: the next
    /// number, the previous hash as parent, and a state root chained from the previous one.
    pub(crate) fn link(&mut self, header: &Header, digest: &Digest) -> Result<()> {
        let number = header.number;
        let fail = |what: &str| Err(Error::Corrupt(format!("block {number}: {what}")));
        let (expected_number, parent_hash, parent_state) = match self.parent {
            Some((parent, hash, state)) => (parent + 1, hash, state),
            None => (0, B256::ZERO, B256::ZERO),
        };
        if number != expected_number {
            return fail(&format!("expected block number {expected_number}"));
        }
        if header.parent_hash != parent_hash {
            return fail("parent hash does not match the previous block");
        }
        if chain_state_commitment(parent_state, digest.effects) != header.state_root {
            return fail("senders or state changes do not match the state root");
        }
        self.parent = Some((number, digest.hash, header.state_root));
        Ok(())
    }

    /// Checks `record` in full against the previous block; returns its digest.
    pub(crate) fn check(&mut self, record: &BlockRecord) -> Result<Digest> {
        let digest = digest(
            &record.header,
            &record.transactions,
            &record.receipts,
            &record.effects,
            true,
        )?;
        self.link(&record.header, &digest)?;
        Ok(digest)
    }
}
