//! The first block, and the small `chain.json` that records which chain a data directory holds.

use alloy::consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy::eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy::primitives::{B256, Bytes};
use alloy::trie::EMPTY_ROOT_HASH;
use serde::{Deserialize, Serialize};

use crate::chain::BlockMeta;
use crate::config::{BASE_FEE, BLOCK_GAS_LIMIT, ChainConfig, genesis_balance};
use crate::store::{AccountChange, BlockEffects, BlockRecord, state_commitment};
use crate::{Error, Result};

/// `extra_data` of every block this node makes.
pub(crate) const EXTRA_DATA: &[u8] = b"medledger";

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: u32,
    chain_id: u64,
}

/// Writes `chain.json` for a new data directory, or checks that an existing one holds this chain.
pub(crate) fn check_or_write_meta(config: &ChainConfig) -> Result<()> {
    let path = config.data_dir.join("chain.json");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let meta: Meta = serde_json::from_slice(&bytes)
                .map_err(|e| Error::DataDir(format!("{} is not readable: {e}", path.display())))?;
            if meta.chain_id != config.chain_id {
                return Err(Error::DataDir(format!(
                    "{} holds chain id {}, not {}: pass --chain-id {} or use another data directory",
                    config.data_dir.display(),
                    meta.chain_id,
                    config.chain_id,
                    meta.chain_id
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let meta = Meta {
                format: 1,
                chain_id: config.chain_id,
            };
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&meta).expect("meta serialises"))?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Block 0: the funded accounts and nothing else.
pub(crate) fn block(config: &ChainConfig) -> BlockRecord {
    let mut funded = config.funded.clone();
    funded.sort();
    funded.dedup();
    let changes = funded
        .into_iter()
        .map(|address| AccountChange {
            address,
            balance: genesis_balance(),
            nonce: 0,
            code: Bytes::new(),
            storage: Vec::new(),
            destroyed: false,
        })
        .collect();
    let effects = BlockEffects {
        senders: Vec::new(),
        changes,
    };
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let header = Header {
        state_root: state_commitment(B256::ZERO, &effects),
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        number: 0,
        timestamp,
        ..header_template()
    };
    BlockRecord {
        header,
        transactions: Vec::new(),
        receipts: Vec::new(),
        effects,
    }
}

/// The fields every block this node makes shares: no ommers, the block gas limit, the constant
/// base fee, and Prague's empty withdrawals, blobs, beacon root and requests.
pub(crate) fn header_template() -> Header {
    Header {
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        gas_limit: BLOCK_GAS_LIMIT,
        extra_data: Bytes::from_static(EXTRA_DATA),
        base_fee_per_gas: Some(BASE_FEE),
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
        ..Default::default()
    }
}

/// The stored chain starts with a genesis block.
pub(crate) fn check_genesis(_config: &ChainConfig, first: &BlockMeta) -> Result<()> {
    if first.header.number != 0 || first.header.parent_hash != B256::ZERO {
        return Err(Error::Corrupt(
            "the first stored block is not a genesis block".into(),
        ));
    }
    Ok(())
}
