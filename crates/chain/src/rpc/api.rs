//! `EthApi::execute`: the one function that answers every request.

use std::sync::Mutex;

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{B256, U64, U256};
use alloy::rpc::types::{FeeHistory, Filter, FilterBlockOption, Log};
use revm::database_interface::DatabaseRef;
use serde_json::{Value, json};

use super::convert;
use super::filters::{Changes, Filters};
use super::request::EthRequest;
use crate::chain::{Chain, Indexed};
use crate::config::BASE_FEE;
use crate::{Error, Result, evm};

/// The tip the node suggests, in wei.
const SUGGESTED_TIP: u64 = 1_000_000_000;
/// The widest block range one `eth_getLogs` may scan.
pub const MAX_LOG_RANGE: u64 = 10_000;

/// Answers JSON-RPC requests from the chain.
#[derive(Debug)]
pub struct EthApi {
    chain: Chain,
    filters: Mutex<Filters>,
}

impl EthApi {
    /// An API over `chain`.
    pub fn new(chain: Chain) -> Self {
        Self {
            chain,
            filters: Mutex::new(Filters::default()),
        }
    }

    /// The chain served.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Answers `method` with `params`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.execute(EthRequest::parse(method, params)?)
    }

    /// Answers one parsed request.
    pub fn execute(&self, request: EthRequest) -> Result<Value> {
        use EthRequest as R;
        let chain = &self.chain;
        Ok(match request {
            R::ChainId => json!(U64::from(chain.chain_id())),
            R::NetVersion => json!(chain.chain_id().to_string()),
            R::NetListening => json!(true),
            R::ClientVersion => json!(concat!("MedLedger/v", env!("CARGO_PKG_VERSION"), "/revm")),
            R::BlockNumber => json!(U64::from(chain.read().head().header.number)),
            R::Syncing => json!(false),
            R::Accounts => json!([]),
            R::GasPrice => json!(U64::from(BASE_FEE + SUGGESTED_TIP)),
            R::MaxPriorityFeePerGas => json!(U64::from(SUGGESTED_TIP)),
            R::FeeHistory(count, newest, percentiles) => {
                json!(self.fee_history(count, newest, &percentiles)?)
            }
            R::Balance(address, block) => {
                let state = self.state_at(block)?;
                json!(
                    state
                        .world()
                        .basic_ref(address)
                        .ok()
                        .flatten()
                        .map(|info| info.balance)
                        .unwrap_or_default()
                )
            }
            R::Code(address, block) => {
                let state = self.state_at(block)?;
                let info = state
                    .world()
                    .basic_ref(address)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let code = match info.code {
                    Some(code) => code.original_bytes(),
                    None => state
                        .world()
                        .code_by_hash_ref(info.code_hash)
                        .unwrap_or_default()
                        .original_bytes(),
                };
                json!(code)
            }
            R::StorageAt(address, slot, block) => {
                let state = self.state_at(block)?;
                let value = state.world().storage_ref(address, slot).unwrap_or_default();
                json!(B256::from(value))
            }
            R::TransactionCount(address, block) => {
                if matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
                    json!(U64::from(chain.pending_nonce(address)))
                } else {
                    let state = self.state_at(block)?;
                    json!(U64::from(
                        state
                            .world()
                            .basic_ref(address)
                            .ok()
                            .flatten()
                            .map(|i| i.nonce)
                            .unwrap_or(0)
                    ))
                }
            }
            R::Call(request, block) => {
                let state = self.state_at(block)?;
                let env = state.call_env(chain.chain_id());
                json!(evm::output(evm::call(state.view(), env, *request)?)?)
            }
            R::EstimateGas(request, block) => {
                let state = self.state_at(block)?;
                let env = state.call_env(chain.chain_id());
                json!(U64::from(evm::estimate(state.view(), env, *request)?))
            }
            R::SendRawTransaction(raw) => json!(chain.submit_raw(&raw)?),
            R::SendTransaction => {
                return Err(Error::Rejected(
                    "this node holds no keys: sign in your wallet and send with eth_sendRawTransaction"
                        .into(),
                ));
            }
            R::TransactionByHash(hash) => self.transaction(hash)?,
            R::TransactionReceipt(hash) => match self.locate(hash) {
                Some((number, index)) => self.with_block(number, |record, meta| {
                    Ok(json!(convert::receipt(record, meta, index as usize)?))
                })?,
                None => Value::Null,
            },
            R::BlockByNumber(tag, full) => match self.number_of(tag) {
                Some(number) => self.block(number, full)?,
                None => Value::Null,
            },
            R::BlockByHash(hash, full) => match chain.read().by_hash.get(&hash).copied() {
                Some(number) => self.block(number, full)?,
                None => Value::Null,
            },
            R::BlockTransactionCountByNumber(tag) => {
                let indexed = chain.read();
                match self.number_of(tag).and_then(|n| indexed.blocks.get(n as usize)) {
                    Some(meta) => json!(U64::from(meta.tx_count)),
                    None => Value::Null,
                }
            }
            R::BlockTransactionCountByHash(hash) => {
                let indexed = chain.read();
                match indexed
                    .by_hash
                    .get(&hash)
                    .and_then(|n| indexed.blocks.get(*n as usize))
                {
                    Some(meta) => json!(U64::from(meta.tx_count)),
                    None => Value::Null,
                }
            }
            R::Logs(filter) => json!(self.logs(&filter)?),
            R::NewFilter(filter) => {
                let head = chain.read().head().header.number;
                let from = filter.get_from_block().unwrap_or(head + 1).max(head + 1);
                json!(self.filters.lock().expect("filters lock").add_logs(*filter, from))
            }
            R::NewBlockFilter => {
                let head = chain.read().head().header.number;
                json!(self.filters.lock().expect("filters lock").add_blocks(head + 1))
            }
            R::FilterChanges(id) => self.filter_changes(id)?,
            R::FilterLogs(id) => {
                let filter = self.filters.lock().expect("filters lock").logs_filter(id)?;
                json!(self.logs(&filter)?)
            }
            R::UninstallFilter(id) => json!(self.filters.lock().expect("filters lock").remove(id)),
        })
    }

    /// The state at `block`: the head's, or a past block's rebuilt from the log.
    fn state_at(&self, block: Option<BlockId>) -> Result<State<'_>> {
        let indexed = self.chain.read();
        let head = indexed.head();
        let number = match block {
            None => head.header.number,
            Some(BlockId::Number(BlockNumberOrTag::Number(n))) => n,
            Some(BlockId::Number(BlockNumberOrTag::Earliest)) => 0,
            Some(BlockId::Number(_)) => head.header.number,
            Some(BlockId::Hash(hash)) => *indexed
                .by_hash
                .get(&hash.block_hash)
                .ok_or_else(|| Error::InvalidParams(format!("unknown block hash {}", hash.block_hash)))?,
        };
        if number == head.header.number {
            return Ok(State::Head(indexed));
        }
        if number > head.header.number {
            return Err(Error::InvalidParams(format!(
                "block {number} is not mined yet (the head is {})",
                head.header.number
            )));
        }
        drop(indexed);
        Ok(State::Past(Box::new(self.chain.state_after(number)?)))
    }

    fn number_of(&self, tag: BlockNumberOrTag) -> Option<u64> {
        let head = self.chain.read().head().header.number;
        match tag {
            BlockNumberOrTag::Number(n) if n <= head => Some(n),
            BlockNumberOrTag::Number(_) => None,
            BlockNumberOrTag::Earliest => Some(0),
            _ => Some(head),
        }
    }

    fn locate(&self, hash: B256) -> Option<(u64, u32)> {
        self.chain.read().txs.get(&hash).copied()
    }

    fn with_block<T>(
        &self,
        number: u64,
        f: impl FnOnce(&crate::store::BlockRecord, &crate::chain::BlockMeta) -> Result<T>,
    ) -> Result<T> {
        let record = self
            .chain
            .block_record(number)?
            .ok_or_else(|| Error::Unavailable(format!("block {number} is not known")))?;
        let meta = self.chain.read().blocks[number as usize].clone();
        f(&record, &meta)
    }

    fn transaction(&self, hash: B256) -> Result<Value> {
        if let Some((number, index)) = self.locate(hash) {
            return self.with_block(number, |record, meta| {
                Ok(json!(convert::transaction(record, meta, index as usize)?))
            });
        }
        Ok(match self.chain.pooled(&hash) {
            Some((sender, tx)) => json!(convert::pending_transaction(sender, (*tx).clone())),
            None => Value::Null,
        })
    }

    fn block(&self, number: u64, full: bool) -> Result<Value> {
        self.with_block(number, |record, meta| {
            Ok(json!(convert::block(record, meta, full)?))
        })
    }

    fn logs(&self, filter: &Filter) -> Result<Vec<Log>> {
        let head = self.chain.read().head().header.number;
        let (from, to) = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => match self.chain.read().by_hash.get(&hash) {
                Some(n) => (*n, *n),
                None => return Err(Error::InvalidParams(format!("unknown block hash {hash}"))),
            },
            FilterBlockOption::Range { .. } => (
                filter.get_from_block().unwrap_or(head),
                filter.get_to_block().unwrap_or(head).min(head),
            ),
        };
        self.logs_in(filter, from, to)
    }

    fn logs_in(&self, filter: &Filter, from: u64, to: u64) -> Result<Vec<Log>> {
        if from > to {
            return Ok(Vec::new());
        }
        if to - from >= MAX_LOG_RANGE {
            return Err(Error::InvalidParams(format!(
                "query exceeds max block range {MAX_LOG_RANGE}: ask for blocks {from} to {to} in smaller ranges"
            )));
        }
        let mut out = Vec::new();
        for number in from..=to {
            let bloom = match self.chain.read().blocks.get(number as usize) {
                Some(meta) => meta.header.logs_bloom,
                None => break,
            };
            if !filter.matches_bloom(bloom) {
                continue;
            }
            out.extend(self.with_block(number, |record, meta| {
                convert::matching_logs(record, meta, filter)
            })?);
        }
        Ok(out)
    }

    fn filter_changes(&self, id: U256) -> Result<Value> {
        let head = self.chain.read().head().header.number;
        let changes = self.filters.lock().expect("filters lock").poll(id, head)?;
        Ok(match changes {
            Changes::Logs(filter, from, to) => json!(self.logs_in(&filter, from, to)?),
            Changes::Blocks(from, to) => {
                let indexed = self.chain.read();
                let hashes: Vec<B256> = (from..=to)
                    .filter_map(|n| indexed.hashes.get(n as usize).copied())
                    .collect();
                json!(hashes)
            }
        })
    }

    fn fee_history(&self, count: u64, newest: BlockNumberOrTag, percentiles: &[f64]) -> Result<FeeHistory> {
        if percentiles.windows(2).any(|w| w[0] > w[1])
            || percentiles.iter().any(|p| !(0.0..=100.0).contains(p))
        {
            return Err(Error::InvalidParams(
                "reward percentiles must be ascending values from 0 to 100".into(),
            ));
        }
        let newest = self
            .number_of(newest)
            .unwrap_or_else(|| self.chain.read().head().header.number);
        let count = count.clamp(1, 1024).min(newest + 1);
        let oldest = newest + 1 - count;
        let mut ratios = Vec::new();
        let mut rewards = Vec::new();
        for number in oldest..=newest {
            let (gas_used, gas_limit) = {
                let indexed = self.chain.read();
                let header = &indexed.blocks[number as usize].header;
                (header.gas_used, header.gas_limit)
            };
            ratios.push(gas_used as f64 / gas_limit as f64);
            if !percentiles.is_empty() {
                rewards.push(self.with_block(number, |record, meta| Ok(tips(record, meta, percentiles)))?);
            }
        }
        Ok(FeeHistory {
            base_fee_per_gas: vec![BASE_FEE as u128; count as usize + 1],
            gas_used_ratio: ratios,
            base_fee_per_blob_gas: vec![1; count as usize + 1],
            blob_gas_used_ratio: vec![0.0; count as usize],
            oldest_block: oldest,
            reward: (!percentiles.is_empty()).then_some(rewards),
        })
    }
}

/// The state a query runs against.
enum State<'a> {
    /// The head, read in place.
    Head(std::sync::RwLockReadGuard<'a, Indexed>),
    /// A past block's, rebuilt.
    Past(Box<crate::chain::PastState>),
}

impl State<'_> {
    fn world(&self) -> &crate::state::World {
        match self {
            Self::Head(indexed) => &indexed.world,
            Self::Past(past) => &past.world,
        }
    }

    fn view(&self) -> crate::state::StateView<'_> {
        match self {
            Self::Head(indexed) => indexed.view(),
            Self::Past(past) => crate::state::StateView {
                world: &past.world,
                hashes: &past.hashes,
            },
        }
    }

    /// The environment calls run in: the block after this state's.
    fn call_env(&self, chain_id: u64) -> alloy_evm::EvmEnv {
        let (header, hash) = match self {
            Self::Head(indexed) => (&indexed.head().header, indexed.head().hash),
            Self::Past(past) => (&past.header, past.hash),
        };
        evm::block_env(
            chain_id,
            header.number + 1,
            header.timestamp,
            alloy::primitives::Address::ZERO,
            hash,
        )
    }
}

/// The priority fees paid in a block at the given percentiles (unweighted).
fn tips(
    record: &crate::store::BlockRecord,
    meta: &crate::chain::BlockMeta,
    percentiles: &[f64],
) -> Vec<u128> {
    use alloy::consensus::Transaction as _;
    use alloy::eips::eip2718::Decodable2718;
    let mut fees: Vec<u128> = record
        .transactions
        .iter()
        .filter_map(|raw| alloy::consensus::TxEnvelope::decode_2718_exact(raw).ok())
        .map(|tx| tx.effective_tip_per_gas(BASE_FEE).unwrap_or(0))
        .collect();
    fees.sort_unstable();
    let _ = meta;
    percentiles
        .iter()
        .map(|p| {
            if fees.is_empty() {
                0
            } else {
                let i = ((p / 100.0) * (fees.len() - 1) as f64).round() as usize;
                fees[i.min(fees.len() - 1)]
            }
        })
        .collect()
}
