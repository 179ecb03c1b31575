//! The miner: one thread that turns waiting transactions into blocks. It takes every transaction
//! ready when it wakes, so transactions that arrive while the previous block is being synced to
//! disk share the next block and one `fdatasync` (group commit). A block's receipts become
//! visible only after its record is on disk.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Instant;

use alloy::consensus::transaction::Recovered;
use alloy::consensus::{Eip658Value, Header, Receipt, ReceiptEnvelope, Transaction as _};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, B256, Bloom, Bytes, keccak256};
use alloy::trie::root::ordered_trie_root_encoded;
use alloy_evm::{EthEvmFactory, Evm, EvmFactory};
use revm::database::CacheDB;
use revm::database_interface::DatabaseCommit;

use crate::chain::{Inner, index_block};
use crate::config::BLOCK_GAS_LIMIT;
use crate::genesis::header_template;
use crate::pool::PooledTx;
use crate::state::BlockChanges;
use crate::store::{BlockEffects, BlockRecord, state_commitment};
use crate::{Error, Result, evm};

pub(crate) fn spawn(inner: Arc<Inner>) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("medledger-miner".into())
        .spawn(move || run(&inner))
        .map_err(Error::Io)
}

fn run(inner: &Inner) {
    while let Some(batch) = next_batch(inner) {
        if let Err(error) = mine(inner, batch) {
            // A block that cannot be made durable must not be acknowledged: stop mining.
            tracing::error!(%error, "mining stopped: the block could not be written");
            inner.stopping.store(true, Ordering::SeqCst);
            return;
        }
    }
}

/// Waits for transactions ready to run (or for the block interval); `None` when stopping.
fn next_batch(inner: &Inner) -> Option<Vec<PooledTx>> {
    let started = Instant::now();
    let mut pool = inner.pool.lock().expect("pool lock");
    loop {
        if inner.stopping.load(Ordering::SeqCst) {
            return None;
        }
        if !pool.is_empty() {
            let indexed = inner.indexed.read().expect("chain state lock");
            let ready = pool.ready(|address| indexed.nonce(address), BLOCK_GAS_LIMIT);
            if !ready.is_empty() {
                return Some(ready);
            }
        }
        pool = match inner.config.block_time {
            Some(interval) => {
                let elapsed = started.elapsed();
                if elapsed >= interval {
                    return Some(Vec::new());
                }
                inner
                    .wake
                    .wait_timeout(pool, interval - elapsed)
                    .expect("pool lock")
                    .0
            }
            None => inner.wake.wait(pool).expect("pool lock"),
        };
    }
}

struct Built {
    record: BlockRecord,
    dropped: Vec<B256>,
}

fn mine(inner: &Inner, batch: Vec<PooledTx>) -> Result<()> {
    let tick = batch.is_empty();
    let Built { record, dropped } = build(inner, batch)?;
    if record.transactions.is_empty() && !tick {
        forget(inner, &[], &dropped);
        return Ok(());
    }
    let hash = record.header.hash_slow();
    let location = inner.log.lock().expect("log lock").append(&record)?;
    let senders = record.effects.senders.clone();
    index_block(inner, Arc::new(record), hash, location);
    forget(inner, &senders, &dropped);
    Ok(())
}

/// Takes mined and failed transactions out of the pool.
fn forget(inner: &Inner, senders: &[Address], dropped: &[B256]) {
    let mut pool = inner.pool.lock().expect("pool lock");
    let indexed = inner.indexed.read().expect("chain state lock");
    for sender in senders.iter().collect::<HashSet<_>>() {
        pool.prune(*sender, indexed.nonce(*sender));
    }
    for hash in dropped {
        pool.drop_tx(hash);
    }
}

/// Executes `batch` on the head state and assembles the block.
fn build(inner: &Inner, batch: Vec<PooledTx>) -> Result<Built> {
    let indexed = inner.indexed.read().expect("chain state lock");
    let parent = indexed.head();
    let number = parent.header.number + 1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Timestamps never go back; blocks made within one second share it.
    let timestamp = now.max(parent.header.timestamp);
    let prevrandao = keccak256(parent.hash);
    let env = evm::block_env(
        inner.config.chain_id,
        number,
        timestamp,
        Address::ZERO,
        prevrandao,
    );

    let mut db = CacheDB::new(indexed.view());
    let mut vm = EthEvmFactory::default().create_evm(&mut db, env);
    let mut changes = BlockChanges::default();
    let (mut transactions, mut receipts, mut senders) = (Vec::new(), Vec::new(), Vec::new());
    let (mut dropped, mut blocked) = (Vec::new(), HashSet::new());
    let (mut gas_used, mut bloom) = (0u64, Bloom::default());
    for pooled in batch {
        if blocked.contains(&pooled.sender) || gas_used + pooled.tx.gas_limit() > BLOCK_GAS_LIMIT {
            continue;
        }
        let outcome = match vm.transact(Recovered::new_unchecked(pooled.tx.as_ref(), pooled.sender)) {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(tx = %pooled.hash, %error, "dropping a transaction that cannot run");
                dropped.push(pooled.hash);
                // Its sender's later transactions wait for the gap to be filled.
                blocked.insert(pooled.sender);
                continue;
            }
        };
        changes.record(&outcome.state);
        vm.db_mut().commit(outcome.state);
        let result = outcome.result;
        gas_used += result.tx_gas_used();
        let receipt = Receipt {
            status: Eip658Value::Eip658(result.is_success()),
            cumulative_gas_used: gas_used,
            logs: result.into_logs(),
        }
        .with_bloom();
        bloom |= receipt.logs_bloom;
        receipts.push(Bytes::from(
            ReceiptEnvelope::from_typed(pooled.tx.tx_type(), receipt).encoded_2718(),
        ));
        transactions.push(Bytes::from(pooled.tx.encoded_2718()));
        senders.push(pooled.sender);
    }
    drop(vm);
    let effects = BlockEffects {
        senders,
        changes: changes.into_changes(),
    };
    let header = Header {
        parent_hash: parent.hash,
        state_root: state_commitment(parent.header.state_root, &effects),
        transactions_root: ordered_trie_root_encoded(&transactions),
        receipts_root: ordered_trie_root_encoded(&receipts),
        logs_bloom: bloom,
        number,
        gas_used,
        timestamp,
        mix_hash: prevrandao,
        ..header_template()
    };
    Ok(Built {
        record: BlockRecord {
            header,
            transactions,
            receipts,
            effects,
        },
        dropped,
    })
}
