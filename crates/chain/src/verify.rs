//! The checks every stored block passes when the chain opens: it extends its parent (number and
//! parent hash), and its transactions, receipts and effects are the ones its header commits to.
//! A block edited on disk fails one of them, or breaks its child's parent hash.

use alloy::consensus::Header;
use alloy::primitives::B256;
use alloy::trie::root::ordered_trie_root_encoded;

use crate::store::{BlockRecord, state_commitment};
use crate::{Error, Result};

/// Checks blocks in order, remembering the last one.
#[derive(Debug, Default)]
pub(crate) struct Verifier {
    parent: Option<(Header, B256)>,
}

impl Verifier {
    /// Checks `record` against the previous block; returns its hash.
    pub(crate) fn check(&mut self, record: &BlockRecord) -> Result<B256> {
        let header = &record.header;
        let number = header.number;
        let fail = |what: &str| Err(Error::Corrupt(format!("block {number}: {what}")));
        let (expected_number, parent_hash, parent_state) = match &self.parent {
            Some((parent, hash)) => (parent.number + 1, *hash, parent.state_root),
            None => (0, B256::ZERO, B256::ZERO),
        };
        if number != expected_number {
            return fail(&format!("expected block number {expected_number}"));
        }
        if header.parent_hash != parent_hash {
            return fail("parent hash does not match the previous block");
        }
        let n = record.transactions.len();
        if record.receipts.len() != n || record.effects.senders.len() != n {
            return fail("transactions, receipts and senders differ in number");
        }
        if ordered_trie_root_encoded(&record.transactions) != header.transactions_root {
            return fail("transactions do not match the transactions root");
        }
        if ordered_trie_root_encoded(&record.receipts) != header.receipts_root {
            return fail("receipts do not match the receipts root");
        }
        if state_commitment(parent_state, &record.effects) != header.state_root {
            return fail("senders or state changes do not match the state root");
        }
        let hash = header.hash_slow();
        self.parent = Some((header.clone(), hash));
        Ok(hash)
    }
}
