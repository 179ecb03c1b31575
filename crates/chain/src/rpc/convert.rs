//! Stored blocks as the JSON-RPC wire types (alloy's), which clients already know how to read.

use alloy::consensus::transaction::Recovered;
use alloy::consensus::{ReceiptEnvelope, Transaction as _, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::{Block, BlockTransactions, Filter, Header, Log, Transaction, TransactionReceipt};

use crate::chain::BlockMeta;
use crate::store::BlockRecord;
use crate::{Error, Result};

fn corrupt(number: u64, e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("block {number}: {e}"))
}

/// The `index`th transaction of a block.
pub(crate) fn transaction(record: &BlockRecord, meta: &BlockMeta, index: usize) -> Result<Transaction> {
    let raw = &record.transactions[index];
    let tx = TxEnvelope::decode_2718_exact(raw).map_err(|e| corrupt(meta.header.number, e))?;
    let sender = record.effects.senders[index];
    Ok(Transaction {
        effective_gas_price: Some(tx.effective_gas_price(meta.header.base_fee_per_gas)),
        inner: Recovered::new_unchecked(tx, sender),
        block_hash: Some(meta.hash),
        block_number: Some(meta.header.number),
        transaction_index: Some(index as u64),
        block_timestamp: Some(meta.header.timestamp),
    })
}

/// A transaction still in the pool: no block yet.
pub(crate) fn pending_transaction(sender: Address, tx: TxEnvelope) -> Transaction {
    Transaction {
        effective_gas_price: None,
        inner: Recovered::new_unchecked(tx, sender),
        block_hash: None,
        block_number: None,
        transaction_index: None,
        block_timestamp: None,
    }
}

fn receipts(record: &BlockRecord, number: u64) -> Result<Vec<ReceiptEnvelope>> {
    record
        .receipts
        .iter()
        .map(|raw| ReceiptEnvelope::decode_2718_exact(raw).map_err(|e| corrupt(number, e)))
        .collect()
}

/// The receipt of the `index`th transaction of a block.
pub(crate) fn receipt(record: &BlockRecord, meta: &BlockMeta, index: usize) -> Result<TransactionReceipt> {
    let number = meta.header.number;
    let all = receipts(record, number)?;
    let first_log: usize = all[..index].iter().map(|r| r.logs().len()).sum();
    let previous_gas = if index == 0 {
        0
    } else {
        all[index - 1].cumulative_gas_used()
    };
    let tx = TxEnvelope::decode_2718_exact(&record.transactions[index]).map_err(|e| corrupt(number, e))?;
    let sender = record.effects.senders[index];
    let tx_hash = *tx.hash();
    let mut log_index = first_log as u64;
    let envelope = all[index].clone();
    let gas_used = envelope.cumulative_gas_used() - previous_gas;
    let inner = envelope.map_logs(|log| {
        let rpc = rpc_log(log, meta, tx_hash, index as u64, log_index);
        log_index += 1;
        rpc
    });
    Ok(TransactionReceipt {
        inner,
        transaction_hash: tx_hash,
        transaction_index: Some(index as u64),
        block_hash: Some(meta.hash),
        block_number: Some(number),
        gas_used,
        effective_gas_price: tx.effective_gas_price(meta.header.base_fee_per_gas),
        blob_gas_used: None,
        blob_gas_price: None,
        from: sender,
        to: tx.to(),
        contract_address: tx.is_create().then(|| sender.create(tx.nonce())),
    })
}

fn rpc_log(
    inner: alloy::primitives::Log,
    meta: &BlockMeta,
    tx_hash: B256,
    tx_index: u64,
    log_index: u64,
) -> Log {
    Log {
        inner,
        block_hash: Some(meta.hash),
        block_number: Some(meta.header.number),
        block_timestamp: Some(meta.header.timestamp),
        transaction_hash: Some(tx_hash),
        transaction_index: Some(tx_index),
        log_index: Some(log_index),
        removed: false,
    }
}

/// A block, with its transactions' hashes or the transactions themselves.
pub(crate) fn block(record: &BlockRecord, meta: &BlockMeta, full: bool) -> Result<Block> {
    let transactions = if full {
        let txs = (0..record.transactions.len())
            .map(|i| transaction(record, meta, i))
            .collect::<Result<Vec<_>>>()?;
        BlockTransactions::Full(txs)
    } else {
        BlockTransactions::Hashes(
            record
                .transactions
                .iter()
                .map(alloy::primitives::keccak256)
                .collect(),
        )
    };
    Ok(Block {
        header: Header {
            hash: meta.hash,
            inner: meta.header.clone(),
            total_difficulty: Some(U256::ZERO),
            size: Some(U256::from(meta.location.len)),
        },
        uncles: Vec::new(),
        transactions,
        withdrawals: Some(Default::default()),
    })
}

/// The logs of a block that `filter` selects (address and topics; the caller checks the range).
pub(crate) fn matching_logs(record: &BlockRecord, meta: &BlockMeta, filter: &Filter) -> Result<Vec<Log>> {
    let number = meta.header.number;
    let mut out = Vec::new();
    let mut log_index = 0u64;
    for (i, envelope) in receipts(record, number)?.into_iter().enumerate() {
        let tx_hash = alloy::primitives::keccak256(&record.transactions[i]);
        for log in envelope.logs() {
            if filter.matches(log) {
                out.push(rpc_log(log.clone(), meta, tx_hash, i as u64, log_index));
            }
            log_index += 1;
        }
    }
    Ok(out)
}
