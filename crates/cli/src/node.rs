//! `medledger node`: the embedded chain on its own, serving JSON-RPC over HTTP.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use anyhow::Context;
use medledger_chain::rpc::EthApi;
use medledger_chain::{Chain, ChainConfig, DEFAULT_CHAIN_ID, DEV_ACCOUNTS, server};

/// Options of `medledger node`.
#[derive(Debug, clap::Args)]
pub(crate) struct NodeArgs {
    /// Address to listen on.
    #[arg(long, env = "MEDLEDGER_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "MEDLEDGER_PORT", default_value_t = 8545)]
    port: u16,
    /// Where MedLedger keeps its data; the chain lives in its `chain/` folder.
    #[arg(long, env = "MEDLEDGER_DATA_DIR", default_value = "medledger-data")]
    data_dir: PathBuf,
    /// The chain id (a new data directory takes it; an existing one must match).
    #[arg(long, env = "MEDLEDGER_CHAIN_ID", default_value_t = DEFAULT_CHAIN_ID)]
    chain_id: u64,
    /// Fund the ten public development accounts (anvil's and Hardhat's). Their keys are public:
    /// development only.
    #[arg(long, env = "MEDLEDGER_DEV")]
    dev: bool,
    /// Fund this account at genesis (repeatable): e.g. the relayer and deployer.
    #[arg(long = "fund", value_name = "ADDRESS")]
    funded: Vec<Address>,
    /// Mine an empty block after this many seconds without transactions.
    #[arg(long, value_name = "SECONDS")]
    block_time: Option<u64>,
}

pub(crate) fn run(args: NodeArgs) -> anyhow::Result<()> {
    let mut config = ChainConfig::new(args.data_dir.join("chain"));
    config.chain_id = args.chain_id;
    config.funded = args.funded;
    config.block_time = args.block_time.map(Duration::from_secs);
    if args.dev {
        config = config.with_dev_accounts();
    }
    let chain =
        Chain::open(config).with_context(|| format!("opening the chain in {}", args.data_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = runtime.block_on(serve(
        chain.clone(),
        SocketAddr::new(args.host, args.port),
        args.dev,
    ));
    chain.shutdown();
    served
}

async fn serve(chain: Chain, addr: SocketAddr, dev: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    let shutdown = crate::shutdown_signal();
    if dev {
        println!("Development accounts (10,000 ETH each; their keys are public, never use them for real):");
        for (i, account) in DEV_ACCOUNTS.iter().enumerate() {
            println!("  ({i}) {account}");
        }
    }
    println!("Chain id {} in {}", chain.chain_id(), chain.data_dir().display());
    println!("Listening on {local}");
    server::serve(Arc::new(EthApi::new(chain)), listener, shutdown).await?;
    Ok(())
}
