//! The requests the node answers, parsed from a JSON-RPC method and its positional parameters,
//! with an error that names the parameter at fault.

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, B256, Bytes, U64, U256};
use alloy::rpc::types::{Filter, TransactionRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Error, Result};

/// One Ethereum JSON-RPC request.
#[derive(Debug, Clone)]
pub enum EthRequest {
    /// `eth_chainId`
    ChainId,
    /// `net_version`
    NetVersion,
    /// `net_listening`
    NetListening,
    /// `web3_clientVersion`
    ClientVersion,
    /// `eth_blockNumber`
    BlockNumber,
    /// `eth_syncing`
    Syncing,
    /// `eth_accounts`
    Accounts,
    /// `eth_gasPrice`
    GasPrice,
    /// `eth_maxPriorityFeePerGas`
    MaxPriorityFeePerGas,
    /// `eth_feeHistory(blockCount, newestBlock, rewardPercentiles?)`
    FeeHistory(u64, BlockNumberOrTag, Vec<f64>),
    /// `eth_getBalance(address, block?)`
    Balance(Address, Option<BlockId>),
    /// `eth_getCode(address, block?)`
    Code(Address, Option<BlockId>),
    /// `eth_getStorageAt(address, slot, block?)`
    StorageAt(Address, U256, Option<BlockId>),
    /// `eth_getTransactionCount(address, block?)`
    TransactionCount(Address, Option<BlockId>),
    /// `eth_call(request, block?)`
    Call(Box<TransactionRequest>, Option<BlockId>),
    /// `eth_estimateGas(request, block?)`
    EstimateGas(Box<TransactionRequest>, Option<BlockId>),
    /// `eth_sendRawTransaction(bytes)`
    SendRawTransaction(Bytes),
    /// `eth_sendTransaction`: refused, the node holds no keys.
    SendTransaction,
    /// `eth_getTransactionByHash(hash)`
    TransactionByHash(B256),
    /// `eth_getTransactionReceipt(hash)`
    TransactionReceipt(B256),
    /// `eth_getBlockByNumber(block, fullTransactions)`
    BlockByNumber(BlockNumberOrTag, bool),
    /// `eth_getBlockByHash(hash, fullTransactions)`
    BlockByHash(B256, bool),
    /// `eth_getBlockTransactionCountByNumber(block)`
    BlockTransactionCountByNumber(BlockNumberOrTag),
    /// `eth_getBlockTransactionCountByHash(hash)`
    BlockTransactionCountByHash(B256),
    /// `eth_getLogs(filter)`
    Logs(Box<Filter>),
    /// `eth_newFilter(filter)`
    NewFilter(Box<Filter>),
    /// `eth_newBlockFilter`
    NewBlockFilter,
    /// `eth_getFilterChanges(id)`
    FilterChanges(U256),
    /// `eth_getFilterLogs(id)`
    FilterLogs(U256),
    /// `eth_uninstallFilter(id)`
    UninstallFilter(U256),
}

impl EthRequest {
    /// Parses `method` with its `params` (a JSON array, or absent).
    pub fn parse(method: &str, params: Value) -> Result<Self> {
        let p = Params::new(params)?;
        use EthRequest as R;
        let request = match method {
            "eth_chainId" => R::ChainId,
            "net_version" => R::NetVersion,
            "net_listening" => R::NetListening,
            "web3_clientVersion" => R::ClientVersion,
            "eth_blockNumber" => R::BlockNumber,
            "eth_syncing" => R::Syncing,
            "eth_accounts" => R::Accounts,
            "eth_gasPrice" => R::GasPrice,
            "eth_maxPriorityFeePerGas" => R::MaxPriorityFeePerGas,
            "eth_feeHistory" => R::FeeHistory(
                p.req::<Quantity>(0, "block count")?.0,
                p.req(1, "newest block")?,
                p.opt(2, "reward percentiles")?.unwrap_or_default(),
            ),
            "eth_getBalance" => R::Balance(p.req(0, "address")?, p.opt(1, "block")?),
            "eth_getCode" => R::Code(p.req(0, "address")?, p.opt(1, "block")?),
            "eth_getStorageAt" => R::StorageAt(p.req(0, "address")?, p.req(1, "slot")?, p.opt(2, "block")?),
            "eth_getTransactionCount" => R::TransactionCount(p.req(0, "address")?, p.opt(1, "block")?),
            "eth_call" => R::Call(Box::new(p.req(0, "transaction")?), p.opt(1, "block")?),
            "eth_estimateGas" => R::EstimateGas(Box::new(p.req(0, "transaction")?), p.opt(1, "block")?),
            "eth_sendRawTransaction" => R::SendRawTransaction(p.req(0, "signed transaction bytes")?),
            "eth_sendTransaction" | "eth_sign" | "eth_signTransaction" | "eth_signTypedData_v4" => {
                R::SendTransaction
            }
            "eth_getTransactionByHash" => R::TransactionByHash(p.req(0, "transaction hash")?),
            "eth_getTransactionReceipt" => R::TransactionReceipt(p.req(0, "transaction hash")?),
            "eth_getBlockByNumber" => R::BlockByNumber(
                p.req(0, "block")?,
                p.opt(1, "full transactions")?.unwrap_or(false),
            ),
            "eth_getBlockByHash" => R::BlockByHash(
                p.req(0, "block hash")?,
                p.opt(1, "full transactions")?.unwrap_or(false),
            ),
            "eth_getBlockTransactionCountByNumber" => R::BlockTransactionCountByNumber(p.req(0, "block")?),
            "eth_getBlockTransactionCountByHash" => R::BlockTransactionCountByHash(p.req(0, "block hash")?),
            "eth_getLogs" => R::Logs(Box::new(p.req(0, "filter")?)),
            "eth_newFilter" => R::NewFilter(Box::new(p.req(0, "filter")?)),
            "eth_newBlockFilter" => R::NewBlockFilter,
            "eth_getFilterChanges" => R::FilterChanges(p.req(0, "filter id")?),
            "eth_getFilterLogs" => R::FilterLogs(p.req(0, "filter id")?),
            "eth_uninstallFilter" => R::UninstallFilter(p.req(0, "filter id")?),
            other => return Err(Error::MethodNotFound(other.to_owned())),
        };
        Ok(request)
    }
}

/// A quantity given as a hex string (as the spec says) or, leniently, as a JSON number.
#[derive(Debug, Clone, Copy)]
struct Quantity(u64);

impl<'de> serde::Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_u64()
                .map(Quantity)
                .ok_or_else(|| serde::de::Error::custom("not a u64")),
            other => U64::deserialize(other)
                .map(|q| Quantity(q.to()))
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Positional parameters.
struct Params(Vec<Value>);

impl Params {
    fn new(params: Value) -> Result<Self> {
        match params {
            Value::Null => Ok(Self(Vec::new())),
            Value::Array(items) => Ok(Self(items)),
            _ => Err(Error::InvalidParams("params must be a JSON array".into())),
        }
    }

    fn req<T: DeserializeOwned>(&self, index: usize, what: &str) -> Result<T> {
        match self.0.get(index) {
            None | Some(Value::Null) => Err(Error::InvalidParams(format!(
                "missing parameter {index} ({what})"
            ))),
            Some(value) => decode(value, index, what),
        }
    }

    fn opt<T: DeserializeOwned>(&self, index: usize, what: &str) -> Result<Option<T>> {
        match self.0.get(index) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => decode(value, index, what).map(Some),
        }
    }
}

fn decode<T: DeserializeOwned>(value: &Value, index: usize, what: &str) -> Result<T> {
    T::deserialize(value).map_err(|e| Error::InvalidParams(format!("parameter {index} ({what}): {e}")))
}
