//! The hospital's chain: the embedded one in the data directory (in process, no socket), or an
//! external node by URL; and the contracts on it, deployed on first start.

use std::sync::Arc;

use alloy::network::EthereumWallet;
use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::signers::local::PrivateKeySigner;
use medledger_chain::rpc::EthApi;
use medledger_chain::transport::InProcess;
use medledger_chain::{Chain, ChainConfig};
use medledger_store::Store;
use medledger_store::mirror::Deployment;

use crate::{Config, Error, Result};

/// An open chain: its provider, and the embedded chain itself when it is the one (kept open
/// until [`ChainLink::close`]).
#[derive(Debug)]
pub struct ChainLink {
    /// The chain's provider (in process for the embedded chain).
    pub provider: DynProvider,
    /// The embedded chain's JSON-RPC, to serve at `/rpc`; `None` with an external chain.
    pub rpc: Option<Arc<EthApi>>,
    embedded: Option<Chain>,
}

impl ChainLink {
    /// Opens the chain `config` names: `config.rpc_url`, else the embedded chain in the data
    /// directory with `funded` accounts (and the public development accounts in the demo).
    pub async fn open(config: &Config, funded: Vec<Address>) -> Result<Self> {
        if let Some(url) = &config.rpc_url {
            let provider = ProviderBuilder::new()
                .connect(url)
                .await
                .map_err(|e| Error::Config(format!("cannot reach the chain at {url}: {e}")))?
                .erased();
            return Ok(Self {
                provider,
                rpc: None,
                embedded: None,
            });
        }
        let mut chain_config = ChainConfig::new(config.data_dir.join("chain"));
        chain_config.chain_id = config.chain_id;
        chain_config.funded = funded;
        if config.is_demo() {
            chain_config = chain_config.with_dev_accounts();
        }
        let chain = Chain::open(chain_config).map_err(|e| {
            Error::Config(format!(
                "opening the embedded chain in {} (if a server is running on it, pass --rpc-url \
                 http://HOST:PORT/rpc): {e}",
                config.data_dir.join("chain").display()
            ))
        })?;
        let api = Arc::new(EthApi::new(chain.clone()));
        let client = RpcClient::new(InProcess::new(api.clone()), true);
        Ok(Self {
            provider: ProviderBuilder::new().connect_client(client).erased(),
            rpc: Some(api),
            embedded: Some(chain),
        })
    }

    /// The embedded chain's new heads, if it is the one.
    pub(crate) fn heads(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.embedded.as_ref().map(Chain::subscribe_heads)
    }

    /// The embedded chain's JSON-RPC as HTTP routes, to mount at `/rpc`.
    pub fn rpc_router(&self) -> Option<axum::Router> {
        self.rpc.clone().map(medledger_chain::server::router)
    }

    /// Stops the embedded chain, if it is the one.
    pub fn close(&self) {
        if let Some(chain) = &self.embedded {
            chain.shutdown();
        }
    }

    /// The chain's id.
    pub async fn chain_id(&self) -> Result<u64> {
        self.provider
            .get_chain_id()
            .await
            .map_err(|e| Error::Config(format!("the chain: {e}")))
    }
}

/// The contracts `store` records, on the chain `link` reaches; on first start, deployed by the
/// server's own account (`relayer`), naming `admin` the first admin and itself the first auditor.
pub(crate) async fn deployment(
    store: &Store,
    link: &ChainLink,
    relayer: &PrivateKeySigner,
    admin: Address,
) -> Result<Deployment> {
    let chain_id = link.chain_id().await?;
    match store.deployment().await? {
        Some(deployment) if deployment.chain_id == chain_id => Ok(deployment),
        Some(deployment) => Err(Error::Config(format!(
            "this database belongs to chain {}, and the chain here is {chain_id}",
            deployment.chain_id
        ))),
        None => {
            let deployer = ProviderBuilder::new()
                .wallet(EthereumWallet::from(relayer.clone()))
                .connect_provider(link.provider.clone())
                .erased();
            let from = link
                .provider
                .get_block_number()
                .await
                .map_err(|e| Error::Config(e.to_string()))?
                + 1;
            // The server's own account anchors the audit log's head from the start.
            let deployed =
                medledger_contracts::deploy_hospital(&deployer, admin, relayer.address(), 0).await?;
            let deployment = Deployment {
                chain_id,
                ledger: deployed.ledger,
                forwarder: deployed.forwarder,
                block_number: from,
            };
            store.set_deployment(&deployment).await?;
            tracing::info!(ledger = %deployed.ledger, forwarder = %deployed.forwarder, %admin, "deployed MedLedger");
            Ok(deployment)
        }
    }
}
