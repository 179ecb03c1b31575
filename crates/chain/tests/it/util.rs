//! A chain in a fresh temporary data directory, funded accounts, and signed transactions.

use std::path::PathBuf;
use std::sync::Arc;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, TxSignerSync};
use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::signers::local::PrivateKeySigner;
use medledger_chain::rpc::EthApi;
use medledger_chain::transport::InProcess;
use medledger_chain::{Chain, ChainConfig};

/// The chain id tests use.
pub(crate) const CHAIN_ID: u64 = 19_788;

/// A temporary data directory, removed on drop.
pub(crate) struct DataDir(pub(crate) PathBuf);

impl DataDir {
    pub(crate) fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("medledger-chain-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn config(&self, funded: &[Address]) -> ChainConfig {
        let mut config = ChainConfig::new(&self.0);
        config.funded = funded.to_vec();
        config
    }

    pub(crate) fn log(&self) -> PathBuf {
        self.0.join("blocks.log")
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A running chain, its API and people with funds.
pub(crate) struct TestChain {
    pub(crate) chain: Chain,
    pub(crate) api: Arc<EthApi>,
    pub(crate) signers: Vec<PrivateKeySigner>,
    pub(crate) dir: DataDir,
}

impl TestChain {
    pub(crate) fn start(name: &str) -> Self {
        let signers: Vec<PrivateKeySigner> = (0..4).map(|_| PrivateKeySigner::random()).collect();
        let dir = DataDir::new(name);
        let addresses: Vec<Address> = signers.iter().map(|s| s.address()).collect();
        let chain = Chain::open(dir.config(&addresses)).expect("the chain opens");
        let api = Arc::new(EthApi::new(chain.clone()));
        Self {
            chain,
            api,
            signers,
            dir,
        }
    }

    /// Stops the chain and lets go of its data directory.
    pub(crate) fn stop(self) -> Stopped {
        let Self {
            chain,
            api,
            signers,
            dir,
        } = self;
        chain.shutdown();
        drop((chain, api));
        Stopped { signers, dir }
    }

    /// Closes and reopens the chain on the same data directory.
    pub(crate) fn restart(self) -> Self {
        self.stop().reopen().expect("the chain reopens")
    }

    /// An alloy provider over the in-process transport, signing as `signers[who]`.
    pub(crate) fn provider(&self, who: usize) -> DynProvider {
        let client = RpcClient::new(InProcess::new(self.api.clone()), true);
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(self.signers[who].clone()))
            .connect_client(client)
            .erased()
    }

    /// A JSON-RPC call, returning the result or the error object.
    pub(crate) fn rpc(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, serde_json::Value> {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply =
            medledger_chain::rpc::handle_body(&self.api, body.to_string().as_bytes()).expect("a reply");
        match reply.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(reply["result"].clone()),
        }
    }
}

/// A stopped chain's data directory and people.
pub(crate) struct Stopped {
    pub(crate) signers: Vec<PrivateKeySigner>,
    pub(crate) dir: DataDir,
}

impl Stopped {
    /// Opens the chain again.
    pub(crate) fn reopen(self) -> medledger_chain::Result<TestChain> {
        let addresses: Vec<Address> = self.signers.iter().map(|s| s.address()).collect();
        let chain = Chain::open(self.dir.config(&addresses))?;
        let api = Arc::new(EthApi::new(chain.clone()));
        Ok(TestChain {
            chain,
            api,
            signers: self.signers,
            dir: self.dir,
        })
    }
}

/// A signed EIP-1559 transaction from `signer`, EIP-2718 encoded.
pub(crate) fn signed(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: TxKind,
    value: u64,
    input: Bytes,
    gas: u64,
) -> Bytes {
    signed_on(CHAIN_ID, signer, nonce, to, value, input, gas)
}

/// As [`signed`], for another chain id.
pub(crate) fn signed_on(
    chain_id: u64,
    signer: &PrivateKeySigner,
    nonce: u64,
    to: TxKind,
    value: u64,
    input: Bytes,
    gas: u64,
) -> Bytes {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to,
        value: U256::from(value),
        access_list: Default::default(),
        input,
    };
    let signature = signer
        .sign_transaction_sync(&mut tx.clone())
        .expect("signing works");
    let envelope: TxEnvelope = tx.into_signed(signature).into();
    envelope.encoded_2718().into()
}

/// Waits until the chain has a receipt for `hash`.
pub(crate) async fn receipt(
    provider: &DynProvider,
    hash: alloy::primitives::B256,
) -> alloy::rpc::types::TransactionReceipt {
    for _ in 0..500 {
        if let Some(receipt) = provider
            .get_transaction_receipt(hash)
            .await
            .expect("the call works")
        {
            return receipt;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no receipt for {hash} after 5 s");
}
