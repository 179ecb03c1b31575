//! Transactions waiting for a block: per sender, by nonce. A transaction whose nonce is ahead of
//! the sender's next one is held (as geth queues it) until the gap fills, within a bound.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::primitives::{Address, B256};

use crate::{Error, Result};

/// How far ahead of a sender's next nonce a transaction may be held.
pub(crate) const MAX_NONCE_GAP: u64 = 64;
/// The most transactions one sender may have waiting.
pub(crate) const MAX_PER_SENDER: usize = 4096;
/// The most transactions waiting in all.
pub(crate) const MAX_POOLED: usize = 200_000;

/// A transaction accepted into the pool, its sender recovered.
#[derive(Debug, Clone)]
pub(crate) struct PooledTx {
    /// Its hash.
    pub(crate) hash: B256,
    /// Its recovered sender.
    pub(crate) sender: Address,
    /// The transaction.
    pub(crate) tx: Arc<TxEnvelope>,
    /// Arrival order, so blocks take transactions first come, first served.
    pub(crate) seq: u64,
}

/// The waiting transactions.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    by_sender: HashMap<Address, BTreeMap<u64, PooledTx>>,
    by_hash: HashMap<B256, (Address, u64)>,
    next_seq: u64,
}

impl Pool {
    /// Adds `tx`, given its sender's nonce in the head state.
    pub(crate) fn insert(
        &mut self,
        hash: B256,
        sender: Address,
        tx: TxEnvelope,
        state_nonce: u64,
    ) -> Result<()> {
        if self.by_hash.contains_key(&hash) {
            return Err(Error::Rejected("already known".into()));
        }
        let nonce = tx.nonce();
        if nonce < state_nonce {
            return Err(Error::Rejected(format!(
                "nonce too low: next nonce {state_nonce}, tx nonce {nonce}"
            )));
        }
        let next = self.pending_nonce(sender, state_nonce);
        if nonce > next + MAX_NONCE_GAP {
            return Err(Error::Rejected(format!(
                "nonce too high: next nonce {next}, tx nonce {nonce} (at most {MAX_NONCE_GAP} ahead are held)"
            )));
        }
        if self.by_hash.len() >= MAX_POOLED {
            return Err(Error::Rejected("txpool is full".into()));
        }
        let queue = self.by_sender.entry(sender).or_default();
        if let Some(existing) = queue.get(&nonce) {
            // A replacement must pay at least 10% more, as in geth.
            let old = existing.tx.max_fee_per_gas();
            if tx.max_fee_per_gas() < old + old / 10 {
                return Err(Error::Rejected("replacement transaction underpriced".into()));
            }
            self.by_hash.remove(&existing.hash);
        } else if queue.len() >= MAX_PER_SENDER {
            return Err(Error::Rejected(format!("txpool is full for sender {sender}")));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        queue.insert(
            nonce,
            PooledTx {
                hash,
                sender,
                tx: Arc::new(tx),
                seq,
            },
        );
        self.by_hash.insert(hash, (sender, nonce));
        Ok(())
    }

    /// The sender's next nonce counting its waiting transactions (`eth_getTransactionCount`
    /// at "pending").
    pub(crate) fn pending_nonce(&self, sender: Address, state_nonce: u64) -> u64 {
        let mut next = state_nonce;
        if let Some(queue) = self.by_sender.get(&sender) {
            for nonce in queue.range(state_nonce..).map(|(n, _)| *n) {
                if nonce != next {
                    break;
                }
                next += 1;
            }
        }
        next
    }

    /// The transactions that can run now, in arrival order (each sender's in nonce order), up to
    /// `gas_budget` of gas limits.
    pub(crate) fn ready(&self, state_nonce: impl Fn(Address) -> u64, gas_budget: u64) -> Vec<PooledTx> {
        let mut heads = BinaryHeap::new();
        let mut cursors: HashMap<Address, u64> = HashMap::new();
        for (sender, queue) in &self.by_sender {
            let next = state_nonce(*sender);
            if let Some(tx) = queue.get(&next) {
                heads.push(Reverse((tx.seq, *sender)));
                cursors.insert(*sender, next);
            }
        }
        let mut out = Vec::new();
        let mut gas = 0u64;
        while let Some(Reverse((_, sender))) = heads.pop() {
            let nonce = cursors[&sender];
            let tx = &self.by_sender[&sender][&nonce];
            if gas + tx.tx.gas_limit() > gas_budget {
                continue;
            }
            gas += tx.tx.gas_limit();
            out.push(tx.clone());
            if let Some(next) = self.by_sender[&sender].get(&(nonce + 1)) {
                cursors.insert(sender, nonce + 1);
                heads.push(Reverse((next.seq, sender)));
            }
        }
        out
    }

    /// Whether anything is waiting at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// A waiting transaction.
    pub(crate) fn get(&self, hash: &B256) -> Option<&PooledTx> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        self.by_sender.get(sender)?.get(nonce)
    }

    /// Forgets `sender`'s transactions below `next_nonce` (mined, or made stale).
    pub(crate) fn prune(&mut self, sender: Address, next_nonce: u64) {
        if let Some(queue) = self.by_sender.get_mut(&sender) {
            let keep = queue.split_off(&next_nonce);
            for tx in queue.values() {
                self.by_hash.remove(&tx.hash);
            }
            if keep.is_empty() {
                self.by_sender.remove(&sender);
            } else {
                *queue = keep;
            }
        }
    }

    /// Drops one transaction that cannot run (it would fail execution).
    pub(crate) fn drop_tx(&mut self, hash: &B256) {
        if let Some((sender, nonce)) = self.by_hash.remove(hash)
            && let Some(queue) = self.by_sender.get_mut(&sender)
        {
            queue.remove(&nonce);
            if queue.is_empty() {
                self.by_sender.remove(&sender);
            }
        }
    }
}
