//! The indexer: follows the contract's events into the store.
//!
//! Only blocks at least `confirmations` behind the chain's head are applied, a range at a time,
//! each range in one database transaction with the cursor (the last applied block and its hash),
//! so a restart resumes where it stopped. Before each range the cursor's block hash is checked
//! against the chain: if it changed, a reorganisation deeper than the confirmation depth
//! happened, and the store is rolled back to the newest remembered block still on the chain, then
//! re-indexed from there.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use medledger_store::Store;

use crate::{Error, Result, events};

/// How far back the indexer remembers block hashes to find a common ancestor after a reorg.
const REMEMBERED_BLOCKS: u32 = 256;

/// Follows one MedLedger contract.
#[derive(Debug, Clone)]
pub struct Indexer {
    provider: DynProvider,
    store: Store,
    ledger: Address,
    start: u64,
    confirmations: u64,
    range: u64,
}

/// What one [`Indexer::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The last applied block.
    pub cursor: u64,
    /// Events applied.
    pub events: u64,
    /// Reorganisations undone.
    pub reorgs: u64,
    /// This server's requests that are now anchored.
    pub anchored: Vec<i64>,
}

impl Indexer {
    /// An indexer of the contract at `ledger`, deployed in block `start`.
    pub fn new(provider: DynProvider, store: Store, ledger: Address, start: u64, confirmations: u64) -> Self {
        Self {
            provider,
            store,
            ledger,
            start,
            confirmations,
            range: 2_000,
        }
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(Error::chain)?;
        Ok(block.map(|b| b.header.hash))
    }

    /// Applies every confirmed block not yet applied.
    pub async fn sync(&self) -> Result<Progress> {
        let mut progress = Progress::default();
        while let Some(range) = self.sync_range().await? {
            progress.events += range.events;
            progress.reorgs += range.reorgs;
            progress.anchored.extend(range.anchored);
        }
        progress.cursor = self
            .store
            .cursor()
            .await?
            .map_or(self.start.saturating_sub(1), |(n, _)| n);
        Ok(progress)
    }

    /// Applies the next range of confirmed blocks not yet applied (or undoes a reorganisation),
    /// in one database transaction: what it did, or `None` once every confirmed block is
    /// applied. A caller that tells of what each range anchored loses none of it to an error in
    /// a later range.
    pub async fn sync_range(&self) -> Result<Option<Progress>> {
        let mut progress = Progress::default();
        let head = self.provider.get_block_number().await.map_err(Error::chain)?;
        let safe = head.saturating_sub(self.confirmations);
        let cursor = self.store.cursor().await?;
        if let Some((number, hash)) = cursor
            && self.block_hash(number).await? != Some(hash)
        {
            self.rewind().await?;
            progress.reorgs += 1;
            progress.cursor = self
                .store
                .cursor()
                .await?
                .map_or(self.start.saturating_sub(1), |(n, _)| n);
            return Ok(Some(progress));
        }
        let from = cursor.map_or(self.start, |(n, _)| n + 1);
        if from > safe {
            // Nothing new: the requests the relayer has since found executed in applied blocks.
            progress.anchored = self.store.anchor_included().await?;
            if progress.anchored.is_empty() {
                return Ok(None);
            }
            progress.cursor = from.saturating_sub(1);
            return Ok(Some(progress));
        }
        let to = safe.min(from + self.range - 1);
        let filter = Filter::new().address(self.ledger).from_block(from).to_block(to);
        let logs = self.provider.get_logs(&filter).await.map_err(Error::chain)?;
        let mut applied = Vec::new();
        let mut hashes = Vec::new();
        for log in &logs {
            if let (Some(n), Some(h)) = (log.block_number, log.block_hash)
                && hashes.last() != Some(&(n, h))
            {
                hashes.push((n, h));
            }
            applied.extend(events::decode(log));
        }
        let Some(to_hash) = self.block_hash(to).await? else {
            // The block went between the two reads (a reorganisation): the next call sees it.
            progress.cursor = from.saturating_sub(1);
            return Ok(Some(progress));
        };
        progress.anchored = self.store.apply_events(&applied, &hashes, (to, to_hash)).await?;
        progress.events = applied.len() as u64;
        progress.cursor = to;
        Ok(Some(progress))
    }

    /// Rolls the store back to the newest remembered block the chain still has.
    async fn rewind(&self) -> Result<()> {
        for (number, hash) in self.store.applied_blocks(REMEMBERED_BLOCKS).await? {
            if self.block_hash(number).await? == Some(hash) {
                tracing::warn!(
                    ancestor = number,
                    "chain reorganised below the confirmation depth; re-indexing"
                );
                return Ok(self.store.rollback_to((number, hash)).await?);
            }
        }
        // Nothing remembered survives: start again from before the deployment.
        let before = self.start.saturating_sub(1);
        let hash = self.block_hash(before).await?.unwrap_or_default();
        tracing::warn!("chain reorganised past every remembered block; re-indexing from the deployment");
        Ok(self.store.rollback_to((before, hash)).await?)
    }
}
