//! A running MedLedger hospital, assembled: its configuration ([`Config`]), its data directory
//! (`files`: keys and the database file, private to the owner), its store, its chain (embedded or
//! external, [`ChainLink`]) and contracts (deployed on first start), the record flows, and the
//! background loops that relay, index, anchor the audit log and sweep ([`loops`]).
//!
//! Nothing here speaks HTTP: `medledger-web` serves a [`Hospital`], and the `medledger` binary
//! opens one (or, for `verify` and `keys rotate`, only its store and chain).

mod chain;
mod config;
mod error;
mod files;
pub mod loops;

use std::sync::Arc;

use alloy::primitives::Address;
use alloy::providers::DynProvider;
use medledger_chain::DEV_ACCOUNTS;
use medledger_ledger::indexer::Indexer;
use medledger_ledger::records::Records;
use medledger_ledger::relayer::Relayer;
use medledger_store::Store;
use medledger_store::mirror::Deployment;
use tokio::sync::{broadcast, watch};

pub use chain::ChainLink;
pub use config::{Config, redacted};
pub use error::{Error, Result};
pub use files::relayer_key;

/// Batches of settled requests kept for long polls that fall behind (they then read again).
const SETTLED_BACKLOG: usize = 64;

/// A running hospital.
#[derive(Debug)]
pub struct Hospital {
    /// The record flows.
    pub records: Arc<Records>,
    /// The store.
    pub store: Store,
    /// Where the contracts are.
    pub deployment: Deployment,
    /// The chain's provider (in process for the embedded chain).
    pub provider: DynProvider,
    /// The account that relays users' signed requests and pays their gas.
    pub relayer_account: Address,
    /// The contracts' first admin.
    pub admin: Address,
    /// Whether this is the demo setup.
    pub demo: bool,
    /// What `/metrics` asks for as its bearer token.
    pub metrics_token: String,
    /// Wakes the relayer as soon as a request is signed (instead of at its next pass).
    pub wake: Arc<tokio::sync::Notify>,
    /// Wakes the indexer when the relayer finds its transactions mined (an external chain tells
    /// no one of new blocks; the embedded chain does).
    mined: Arc<tokio::sync::Notify>,
    /// The requests that have just settled (anchored or refused), as the loops find them: what a
    /// long poll of a request's status waits on.
    pub settled: broadcast::Sender<Arc<[i64]>>,
    /// Turns true when the server begins to shut down, so that long polls answer at once.
    pub closing: watch::Sender<bool>,
    chain: ChainLink,
    relayer: Arc<Relayer>,
    indexer: Indexer,
    /// The data directory's lock, held while this server runs on it ([`files::exclusive`]).
    _exclusive: Option<std::fs::File>,
}

/// Opens the store `config` names (on first start: creates it), with a private data directory.
pub async fn open_store(config: &Config) -> Result<Store> {
    files::private_data_dir(&config.data_dir)?;
    store_of(config).await
}

/// The store `config` names, in a data directory already made private.
async fn store_of(config: &Config) -> Result<Store> {
    if config.database_url.is_none() {
        files::private_sqlite_file(&config.sqlite_file())?;
    }
    Ok(Store::open(&config.database_url()).await?)
}

impl Hospital {
    /// Opens (on first start: creates) the hospital described by `config`.
    pub async fn open(config: &Config) -> Result<Self> {
        files::private_data_dir(&config.data_dir)?;
        let exclusive = files::exclusive(config)?;
        let store = store_of(config).await?;
        let keyring = medledger_ledger::keyfile::load(&config.data_dir)?;
        let relayer_key = relayer_key(config)?;
        let metrics_token = files::metrics_token(config)?;
        let demo = config.is_demo();
        let admin = match (config.admin, demo) {
            (Some(admin), _) => admin,
            (None, true) => DEV_ACCOUNTS[0],
            (None, false) => {
                return Err(Error::Config(
                    "name the contracts' first admin with --admin ADDRESS (a hospital administrator's wallet)".into(),
                ));
            }
        };
        let chain = ChainLink::open(config, vec![relayer_key.address()]).await?;
        let deployment = chain::deployment(&store, &chain, &relayer_key, admin).await?;
        let provider = chain.provider.clone();
        let records = Arc::new(
            Records::open(store.clone(), keyring, provider.clone())
                .await?
                .with_auditor(relayer_key.address()),
        );
        let relayer = Arc::new(
            Relayer::new(
                provider.clone(),
                store.clone(),
                relayer_key.clone(),
                deployment.chain_id,
                deployment.forwarder,
                deployment.ledger,
            )
            .with_nonces(records.nonces().clone())
            .with_confirmations(config.confirmations),
        );
        let indexer = Indexer::new(
            provider.clone(),
            store.clone(),
            deployment.ledger,
            deployment.block_number,
            config.confirmations,
        );
        Ok(Self {
            records,
            store,
            deployment,
            provider,
            relayer_account: relayer_key.address(),
            admin,
            demo,
            metrics_token,
            wake: Arc::new(tokio::sync::Notify::new()),
            mined: Arc::new(tokio::sync::Notify::new()),
            settled: broadcast::Sender::new(SETTLED_BACKLOG),
            closing: watch::Sender::new(false),
            chain,
            relayer,
            indexer,
            _exclusive: exclusive,
        })
    }

    /// How this hospital verifies itself: the audit log against its own server account's anchors.
    pub fn verify_options(&self) -> medledger_ledger::verify::Options {
        medledger_ledger::verify::Options {
            auditor: Some(self.relayer_account),
            ..Default::default()
        }
    }

    /// A request was signed: wakes the relayer, on this server or, on PostgreSQL, whichever
    /// server relays.
    pub async fn signed(&self) {
        self.wake.notify_one();
        if let Err(err) = self.store.notify_signed().await {
            tracing::warn!("could not tell the relaying server of a signature: {err}");
        }
    }

    /// Requests settled (or were re-offered for signature): told to this server's long polls, and
    /// on PostgreSQL to every server's.
    pub async fn tell_settled(&self, ids: Vec<i64>) {
        loops::Settled::new(self).tell(ids).await;
    }

    /// The embedded chain's JSON-RPC (for in-process clients); `None` on an external chain.
    pub fn rpc(&self) -> Option<Arc<medledger_chain::rpc::EthApi>> {
        self.chain.rpc.clone()
    }

    /// The embedded chain's JSON-RPC as HTTP routes, to mount at `/rpc` (none on an external
    /// chain, which has its own).
    pub fn rpc_router(&self) -> Option<axum::Router> {
        self.chain.rpc_router()
    }

    /// Closes the store and stops the embedded chain.
    pub async fn close(&self) {
        self.store.close().await;
        self.chain.close();
    }
}
