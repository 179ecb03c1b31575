//! The chain: opened from its data directory, fed transactions, mined by its own thread, and
//! read by the RPC layer.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use alloy::consensus::transaction::SignerRecoverable;
use alloy::consensus::{Header, Transaction as _, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::map::B256Map;
use alloy::primitives::{Address, B256, Bytes, U256};
use revm::database_interface::DatabaseRef;
use tokio::sync::watch;

use crate::config::{BASE_FEE, BLOCK_GAS_LIMIT, ChainConfig, MAX_TX_BYTES};
use crate::pool::Pool;
use crate::state::{StateView, World, apply};
use crate::store::{AccountChange, BlockLog, BlockRecord, Coverage, Location, RecordView};
use crate::{Error, Result, genesis, miner, verify};

/// What the chain knows about a stored block without reading it.
#[derive(Debug, Clone)]
pub struct BlockMeta {
    /// The header.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
    /// Where its record is.
    pub location: Location,
    /// How many transactions it holds.
    pub tx_count: u32,
}

/// Head state and indexes, changed together when a block is added.
#[derive(Debug, Default)]
pub struct Indexed {
    /// The state after the last block.
    pub world: World,
    /// Block hashes by number.
    pub hashes: Vec<B256>,
    /// Blocks by number.
    pub blocks: Vec<BlockMeta>,
    /// Block numbers by hash.
    pub by_hash: B256Map<u64>,
    /// Transaction locations (block number, index) by hash.
    pub txs: B256Map<(u64, u32)>,
}

impl Indexed {
    /// The head block.
    pub fn head(&self) -> &BlockMeta {
        self.blocks
            .last()
            .expect("a chain has at least its genesis block")
    }

    /// A view of the head state for the EVM.
    pub(crate) fn view(&self) -> StateView<'_> {
        StateView {
            world: &self.world,
            hashes: &self.hashes,
        }
    }

    /// An account's nonce in the head state.
    pub fn nonce(&self, address: Address) -> u64 {
        self.world
            .basic_ref(address)
            .ok()
            .flatten()
            .map(|info| info.nonce)
            .unwrap_or(0)
    }

    /// An account's balance in the head state.
    pub fn balance(&self, address: Address) -> U256 {
        self.world
            .basic_ref(address)
            .ok()
            .flatten()
            .map(|info| info.balance)
            .unwrap_or_default()
    }

    /// Adds a block: its header, state changes, hash and transactions' hashes.
    fn push(
        &mut self,
        header: Header,
        changes: &[AccountChange],
        hash: B256,
        tx_hashes: &[B256],
        location: Location,
    ) {
        apply(&mut self.world, changes);
        let number = header.number;
        self.txs.reserve(tx_hashes.len());
        for (i, tx_hash) in tx_hashes.iter().enumerate() {
            self.txs.insert(*tx_hash, (number, i as u32));
        }
        self.hashes.push(hash);
        self.by_hash.insert(hash, number);
        self.blocks.push(BlockMeta {
            header,
            hash,
            location,
            tx_count: tx_hashes.len() as u32,
        });
    }
}

/// The state after a past block.
pub(crate) struct PastState {
    pub(crate) world: World,
    pub(crate) hashes: Vec<B256>,
    pub(crate) header: Header,
    pub(crate) hash: B256,
}

pub(crate) struct Inner {
    pub(crate) config: ChainConfig,
    pub(crate) indexed: RwLock<Indexed>,
    pub(crate) log: Mutex<BlockLog>,
    pub(crate) reader: File,
    pub(crate) cache: Mutex<BlockCache>,
    pub(crate) pool: Mutex<Pool>,
    pub(crate) wake: Condvar,
    pub(crate) heads: watch::Sender<u64>,
    pub(crate) stopping: AtomicBool,
}

/// Recently read or mined blocks, decoded.
#[derive(Debug, Default)]
pub(crate) struct BlockCache {
    blocks: HashMap<u64, Arc<BlockRecord>>,
    order: VecDeque<u64>,
}

const CACHED_BLOCKS: usize = 256;

impl BlockCache {
    pub(crate) fn get(&self, number: u64) -> Option<Arc<BlockRecord>> {
        self.blocks.get(&number).cloned()
    }

    pub(crate) fn put(&mut self, number: u64, record: Arc<BlockRecord>) {
        if self.blocks.insert(number, record).is_none() {
            self.order.push_back(number);
            if self.order.len() > CACHED_BLOCKS
                && let Some(old) = self.order.pop_front()
            {
                self.blocks.remove(&old);
            }
        }
    }
}

/// A running chain. Cheap to clone; the miner thread stops when [`Chain::shutdown`] is called.
#[derive(Clone)]
pub struct Chain {
    pub(crate) inner: Arc<Inner>,
    miner: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("chain_id", &self.inner.config.chain_id)
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// Opens the chain in `config.data_dir`, creating it (with its genesis block) if it is new,
    /// and starts mining.
    pub fn open(config: ChainConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.data_dir)?;
        genesis::check_or_write_meta(&config)?;
        let path = config.data_dir.join("blocks.log");
        let mut indexed = Indexed::default();
        let mut verifier = verify::Verifier::default();
        // Each block's own checks run on every core; linking and indexing follow in log order.
        // Blocks in the verified checkpoint skip their tries: the checkpoint's hash covers them.
        let mut log = BlockLog::open(
            &path,
            |payload, location, coverage| {
                let block = RecordView::decode(payload, location)?;
                let digest = verify::digest(
                    &block.header,
                    &block.transactions,
                    &block.receipts,
                    &block.effects,
                    coverage == Coverage::Unchecked,
                )?;
                Ok((block.header, block.effects.changes, digest, location))
            },
            |(header, changes, digest, location)| {
                verifier.link(&header, &digest)?;
                indexed.push(header, &changes, digest.hash, &digest.tx_hashes, location);
                Ok(())
            },
        )?;
        if indexed.blocks.is_empty() {
            let record = genesis::block(&config);
            let digest = verifier.check(&record)?;
            let location = log.append(&record)?;
            indexed.push(
                record.header,
                &record.effects.changes,
                digest.hash,
                &digest.tx_hashes,
                location,
            );
        }
        genesis::check_genesis(&config, &indexed.blocks[0])?;
        // Every block has passed: the next open need only hash what is here now.
        if let Err(e) = log.save_checkpoint() {
            tracing::warn!(error = %e, "cannot write the chain's checkpoint");
        }
        tracing::info!(
            blocks = indexed.blocks.len(),
            transactions = indexed.txs.len(),
            bytes = log.size(),
            "chain opened"
        );
        let head = indexed.head().header.number;
        let reader = File::open(&path)?;
        let inner = Arc::new(Inner {
            config,
            indexed: RwLock::new(indexed),
            log: Mutex::new(log),
            reader,
            cache: Mutex::new(BlockCache::default()),
            pool: Mutex::new(Pool::default()),
            wake: Condvar::new(),
            heads: watch::Sender::new(head),
            stopping: AtomicBool::new(false),
        });
        let miner = miner::spawn(inner.clone())?;
        Ok(Self {
            inner,
            miner: Arc::new(Mutex::new(Some(miner))),
        })
    }

    /// Stops mining after the block in progress; pending transactions are not mined.
    pub fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.wake.notify_all();
        if let Some(handle) = self.miner.lock().expect("miner handle lock").take() {
            handle.join().ok();
            // Every block is now checked: the next open need only hash them.
            if let Err(e) = self.inner.log.lock().expect("log lock").save_checkpoint() {
                tracing::warn!(error = %e, "cannot write the chain's checkpoint");
            }
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.inner.config.chain_id
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.config.data_dir
    }

    /// Follows the head block number.
    pub fn subscribe_heads(&self) -> watch::Receiver<u64> {
        self.inner.heads.subscribe()
    }

    /// Reads the head state and indexes.
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Indexed> {
        self.inner.indexed.read().expect("chain state lock")
    }

    /// Bytes of the block log on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.inner.log.lock().expect("log lock").size()
    }

    /// Validates a signed, EIP-2718-encoded transaction and queues it for the next block.
    /// Returns its hash.
    pub fn submit_raw(&self, raw: &[u8]) -> Result<B256> {
        if raw.len() > MAX_TX_BYTES {
            return Err(Error::Rejected(format!(
                "oversized data: transaction of {} bytes exceeds {MAX_TX_BYTES}",
                raw.len()
            )));
        }
        let tx = TxEnvelope::decode_2718_exact(raw)
            .map_err(|e| Error::Rejected(format!("invalid transaction encoding: {e}")))?;
        let hash = *tx.hash();
        let sender = tx
            .recover_signer()
            .map_err(|_| Error::Rejected("invalid sender: bad signature".into()))?;
        self.check_static(&tx)?;
        // Lock order, here and in the miner: pool, then chain state. The nonce must be read under
        // the pool lock, or a block mined in between makes it stale.
        let mut pool = self.inner.pool.lock().expect("pool lock");
        let (state_nonce, balance) = {
            let indexed = self.read();
            if indexed.txs.contains_key(&hash) {
                return Err(Error::Rejected("already known".into()));
            }
            (indexed.nonce(sender), indexed.balance(sender))
        };
        let cost = U256::from(tx.gas_limit()) * U256::from(tx.max_fee_per_gas()) + tx.value();
        if balance < cost {
            return Err(Error::Rejected(format!(
                "insufficient funds for gas * price + value: address {sender} have {balance} want {cost}"
            )));
        }
        pool.insert(hash, sender, tx, state_nonce)?;
        drop(pool);
        self.inner.wake.notify_one();
        Ok(hash)
    }

    fn check_static(&self, tx: &TxEnvelope) -> Result<()> {
        match tx.chain_id() {
            Some(id) if id == self.chain_id() => {}
            Some(id) => {
                return Err(Error::Rejected(format!(
                    "invalid chain id: have {id}, want {}",
                    self.chain_id()
                )));
            }
            None => {
                return Err(Error::Rejected(
                    "only replay-protected (EIP-155) transactions allowed over RPC".into(),
                ));
            }
        }
        if tx.is_eip4844() {
            return Err(Error::Rejected(
                "blob transactions are not supported by this chain".into(),
            ));
        }
        if tx.gas_limit() > BLOCK_GAS_LIMIT {
            return Err(Error::Rejected(format!(
                "exceeds block gas limit: tx gas {} > block gas limit {BLOCK_GAS_LIMIT}",
                tx.gas_limit()
            )));
        }
        let floor = crate::evm::intrinsic_gas(tx);
        if tx.gas_limit() < floor {
            return Err(Error::Rejected(format!(
                "intrinsic gas too low: have {}, want {floor}",
                tx.gas_limit()
            )));
        }
        if tx.max_fee_per_gas() < BASE_FEE as u128 {
            return Err(Error::Rejected(format!(
                "max fee per gas less than block base fee: maxFeePerGas {} < baseFee {BASE_FEE}",
                tx.max_fee_per_gas()
            )));
        }
        Ok(())
    }

    /// The decoded record of block `number`.
    pub fn block_record(&self, number: u64) -> Result<Option<Arc<BlockRecord>>> {
        if let Some(record) = self.inner.cache.lock().expect("cache lock").get(number) {
            return Ok(Some(record));
        }
        let location = match self.read().blocks.get(number as usize) {
            Some(meta) => meta.location,
            None => return Ok(None),
        };
        let mut payload = vec![0u8; location.len as usize];
        std::os::unix::fs::FileExt::read_exact_at(&self.inner.reader, &mut payload, location.offset)?;
        let record = Arc::new(
            <BlockRecord as alloy_rlp::Decodable>::decode(&mut &payload[..])
                .map_err(|e| Error::Corrupt(format!("block {number}: {e}")))?,
        );
        self.inner
            .cache
            .lock()
            .expect("cache lock")
            .put(number, record.clone());
        Ok(Some(record))
    }

    /// The state after block `number`, rebuilt by replaying the log from genesis: the node keeps
    /// only its latest state in memory, so this costs time in proportion to `number`.
    pub(crate) fn state_after(&self, number: u64) -> Result<PastState> {
        let (hashes, header, hash) = {
            let indexed = self.read();
            let meta = indexed
                .blocks
                .get(number as usize)
                .ok_or_else(|| Error::Unavailable(format!("block {number} is not known")))?;
            (
                indexed.hashes[..=number as usize].to_vec(),
                meta.header.clone(),
                meta.hash,
            )
        };
        let mut world = World::default();
        for n in 0..=number {
            let record = self
                .block_record(n)?
                .ok_or_else(|| Error::Unavailable(format!("block {n} is not known")))?;
            apply(&mut world, &record.effects.changes);
        }
        Ok(PastState {
            world,
            hashes,
            header,
            hash,
        })
    }

    /// A transaction still waiting in the pool.
    pub fn pooled(&self, hash: &B256) -> Option<(Address, Arc<TxEnvelope>)> {
        let pool = self.inner.pool.lock().expect("pool lock");
        pool.get(hash).map(|tx| (tx.sender, tx.tx.clone()))
    }

    /// `eth_getTransactionCount` at "pending".
    pub fn pending_nonce(&self, address: Address) -> u64 {
        let pool = self.inner.pool.lock().expect("pool lock");
        let state_nonce = self.read().nonce(address);
        pool.pending_nonce(address, state_nonce)
    }

    /// Raw transactions' bytes for tests and tools: the `index`th transaction of block `number`.
    pub fn raw_transaction(&self, number: u64, index: u32) -> Result<Option<Bytes>> {
        Ok(self
            .block_record(number)?
            .and_then(|record| record.transactions.get(index as usize).cloned()))
    }
}

/// Adds a freshly mined block to the indexes (used by the miner after the block is on disk).
pub(crate) fn index_block(inner: &Inner, record: Arc<BlockRecord>, hash: B256, location: Location) {
    let number = record.header.number;
    let tx_hashes: Vec<B256> = record
        .transactions
        .iter()
        .map(alloy::primitives::keccak256)
        .collect();
    inner.indexed.write().expect("chain state lock").push(
        record.header.clone(),
        &record.effects.changes,
        hash,
        &tx_hashes,
        location,
    );
    inner.cache.lock().expect("cache lock").put(number, record);
    inner.heads.send_replace(number);
}
