//! Where a MedLedger installation keeps things: the data directory (master key, SQLite database,
//! embedded chain), or a PostgreSQL URL and an external chain's URL instead.

use std::path::PathBuf;
use std::sync::Arc;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use anyhow::Context;
use medledger_chain::rpc::EthApi;
use medledger_chain::transport::InProcess;
use medledger_chain::{Chain, ChainConfig};
use medledger_store::Store;

/// The options every command that touches the records shares.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SiteArgs {
    /// The data directory: master key, SQLite database and embedded chain.
    #[arg(long, env = "MEDLEDGER_DATA_DIR", default_value = "medledger-data")]
    pub(crate) data_dir: PathBuf,
    /// The database (`sqlite://PATH` or `postgres://…`); default: SQLite in the data directory.
    #[arg(long, env = "MEDLEDGER_DATABASE_URL")]
    pub(crate) database_url: Option<String>,
    /// An external chain's JSON-RPC URL; default: the embedded chain in the data directory.
    #[arg(long, env = "MEDLEDGER_RPC_URL")]
    pub(crate) rpc_url: Option<String>,
}

/// An open chain connection; holds the embedded chain, if that is the one, until dropped.
pub(crate) struct ChainLink {
    pub(crate) provider: DynProvider,
    embedded: Option<Chain>,
}

impl Drop for ChainLink {
    fn drop(&mut self) {
        if let Some(chain) = &self.embedded {
            chain.shutdown();
        }
    }
}

impl SiteArgs {
    pub(crate) fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("medledger.db").display()))
    }

    pub(crate) async fn store(&self) -> anyhow::Result<Store> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let url = self.database_url();
        Store::open(&url)
            .await
            .with_context(|| format!("opening the database {url}"))
    }

    /// The chain: the URL given, or the embedded chain (opened in this process, so the server
    /// must not be running on the same data directory).
    pub(crate) async fn chain(&self, chain_id: u64) -> anyhow::Result<ChainLink> {
        if let Some(url) = &self.rpc_url {
            let provider = ProviderBuilder::new()
                .connect(url)
                .await
                .with_context(|| format!("connecting to {url}"))?;
            return Ok(ChainLink {
                provider: provider.erased(),
                embedded: None,
            });
        }
        let mut config = ChainConfig::new(self.data_dir.join("chain"));
        config.chain_id = chain_id;
        let chain = Chain::open(config).with_context(|| {
            format!(
                "opening the embedded chain in {} (if the server is running, pass --rpc-url http://HOST:PORT/rpc)",
                self.data_dir.join("chain").display()
            )
        })?;
        let client = RpcClient::new(InProcess::new(Arc::new(EthApi::new(chain.clone()))), true);
        Ok(ChainLink {
            provider: ProviderBuilder::new().connect_client(client).erased(),
            embedded: Some(chain),
        })
    }
}
