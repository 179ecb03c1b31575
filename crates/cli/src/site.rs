//! Where a MedLedger installation keeps things, as the tools that work on it while the server is
//! stopped (`verify`, `keys rotate`) are told: the data directory, or a PostgreSQL URL and an
//! external chain's URL instead. Opening them is the hospital crate's.

use std::path::PathBuf;

use anyhow::Context;
use medledger_hospital::{ChainLink, Config};
use medledger_store::Store;

/// The options every command that touches the records shares.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SiteArgs {
    /// The data directory: master key, SQLite database and embedded chain.
    #[arg(long, env = "MEDLEDGER_DATA_DIR", default_value = "medledger-data")]
    pub(crate) data_dir: PathBuf,
    /// The database (`sqlite://PATH` or `postgres://…`); default: SQLite in the data directory.
    #[arg(long, env = "MEDLEDGER_DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,
    /// An external chain's JSON-RPC URL; default: the embedded chain in the data directory.
    #[arg(long, env = "MEDLEDGER_RPC_URL")]
    pub(crate) rpc_url: Option<String>,
}

impl SiteArgs {
    /// The hospital's configuration these name (the rest at its defaults).
    pub(crate) fn config(&self) -> Config {
        let mut config = Config::new(&self.data_dir);
        config.database_url = self.database_url.clone();
        config.rpc_url = self.rpc_url.clone();
        config
    }

    pub(crate) async fn store(&self) -> anyhow::Result<Store> {
        let config = self.config();
        medledger_hospital::open_store(&config).await.with_context(|| {
            format!(
                "opening the database {}",
                medledger_hospital::redacted(&config.database_url())
            )
        })
    }

    /// The chain: the URL given, or the embedded chain (opened in this process, so the server
    /// must not be running on the same data directory). Close it with [`ChainLink::close`].
    pub(crate) async fn chain(&self, chain_id: u64) -> anyhow::Result<ChainLink> {
        let mut config = self.config();
        config.chain_id = chain_id;
        Ok(ChainLink::open(&config, vec![]).await?)
    }
}
