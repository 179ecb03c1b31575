//! A running hospital: store, keys, chain, contracts, record flows, relayer and indexer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::signers::local::PrivateKeySigner;
use medledger_chain::rpc::EthApi;
use medledger_chain::transport::InProcess;
use medledger_chain::{Chain, ChainConfig, DEFAULT_CHAIN_ID, DEV_ACCOUNTS};
use medledger_ledger::indexer::Indexer;
use medledger_ledger::records::Records;
use medledger_ledger::relayer::Relayer;
use medledger_store::Store;
use medledger_store::mirror::Deployment;
use tokio::sync::{broadcast, watch};

use crate::{Error, Result};

/// Batches of settled requests kept for long polls that fall behind (they then read again).
const SETTLED_BACKLOG: usize = 64;

/// How often the audit log's head is anchored on-chain (and once more at a graceful stop). It
/// bounds what an insider could cut from the log's tail unseen: the records of at most the last
/// minute before they cut (docs/store.md). One anchor is one transaction of about 50,000 gas,
/// sent only when something was logged since the last.
pub const AUDIT_ANCHOR_INTERVAL: Duration = Duration::from_secs(60);

/// How often expired sign-in nonces and sessions are forgotten, and unsigned requests past their
/// deadline are ended.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(300);

/// How a hospital is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Master key, SQLite database, embedded chain, relayer key.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default SQLite in the data directory.
    pub database_url: Option<String>,
    /// An external chain; default the embedded one.
    pub rpc_url: Option<String>,
    /// The embedded chain's id.
    pub chain_id: u64,
    /// The contracts' first admin (a hospital administrator's wallet). Without one, on the
    /// embedded chain, MedLedger runs as a demo: the public development accounts are funded and
    /// the first of them is the admin.
    pub admin: Option<Address>,
    /// How many blocks deep an event must be before the indexer trusts it (0 suits the embedded
    /// chain, which never reorganises).
    pub confirmations: u64,
    /// The token `/metrics` asks for (`Authorization: Bearer …`); default: `metrics.token` in the
    /// data directory, made on first start.
    pub metrics_token: Option<String>,
}

impl Config {
    /// The embedded defaults in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
            rpc_url: None,
            chain_id: DEFAULT_CHAIN_ID,
            admin: None,
            confirmations: 0,
            metrics_token: None,
        }
    }

    /// Whether this is the demo setup (embedded chain, no admin named).
    pub fn is_demo(&self) -> bool {
        self.rpc_url.is_none() && self.admin.is_none()
    }
}

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
    /// The embedded chain's JSON-RPC, to serve at `/rpc`; `None` with an external chain.
    pub rpc: Option<Arc<EthApi>>,
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
    /// The requests that have just settled (anchored or refused), as the loops find them: what a
    /// long poll of a request's status waits on.
    pub settled: broadcast::Sender<Arc<[i64]>>,
    /// Turns true when the server begins to shut down, so that long polls answer at once.
    pub closing: watch::Sender<bool>,
    chain: Option<Chain>,
    relayer: Arc<Relayer>,
    indexer: Indexer,
}

fn io(path: &std::path::Path, err: impl std::fmt::Display) -> Error {
    Error::Io(format!("{}: {err}", path.display()))
}

/// The operator's token for `/metrics`: the configured one, else `metrics.token` in the data
/// directory, created (0600) on first start.
fn metrics_token(config: &Config) -> Result<String> {
    if let Some(token) = &config.metrics_token {
        return Ok(token.clone());
    }
    let path = config.data_dir.join("metrics.token");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            medledger_core::crypto::random_bytes(&mut bytes).map_err(|e| io(&path, e))?;
            let token = alloy::hex::encode(bytes);
            medledger_ledger::keyfile::write_secret(&path, &token)?;
            Ok(token)
        }
        Err(e) => Err(io(&path, e)),
    }
}

/// Creates the data directory private to its owner (0700), and says at start what in an existing
/// one others can read: the database, its write-ahead log and the chain hold what must not leak
/// (a doctor's application, the shape of every record).
fn private_data_dir(dir: &std::path::Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io(dir, e))?;
        }
        let mut wide = Vec::new();
        let mut walk = vec![dir.to_path_buf()];
        while let Some(path) = walk.pop() {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                wide.push(path.display().to_string());
            }
            if meta.is_dir()
                && let Ok(entries) = std::fs::read_dir(&path)
            {
                walk.extend(entries.flatten().map(|e| e.path()));
            }
        }
        if !wide.is_empty() {
            wide.sort();
            tracing::warn!(
                "others than the owner can read or enter parts of the data directory: run `chmod -R go-rwx {}` \
                 ({} path(s), e.g. {})",
                dir.display(),
                wide.len(),
                wide[0]
            );
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    Ok(())
}

/// The SQLite file in `dir`, created 0600 before SQLite opens it (its write-ahead log and shared
/// memory take the same mode).
fn private_sqlite_file(path: &std::path::Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop).map_err(|e| io(path, e))
}

/// The relayer's key: `relayer.key` in the data directory, created (0600) on first start. It is
/// the server's own hot wallet for gas, never a user's key.
fn relayer_key(config: &Config) -> Result<PrivateKeySigner> {
    let path = config.data_dir.join("relayer.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<PrivateKeySigner>().map_err(|e| io(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer = PrivateKeySigner::random();
            medledger_ledger::keyfile::write_secret(&path, &alloy::hex::encode(signer.to_bytes()))?;
            Ok(signer)
        }
        Err(e) => Err(io(&path, e)),
    }
}

impl Hospital {
    /// Opens (on first start: creates) the hospital described by `config`.
    pub async fn open(config: &Config) -> Result<Self> {
        private_data_dir(&config.data_dir)?;
        let keyring = medledger_ledger::keyfile::load(&config.data_dir)?;
        let url = match &config.database_url {
            Some(url) => url.clone(),
            None => {
                let file = config.data_dir.join("medledger.db");
                private_sqlite_file(&file)?;
                format!("sqlite://{}", file.display())
            }
        };
        let store = Store::open(&url).await?;
        let relayer_key = relayer_key(config)?;
        let metrics_token = metrics_token(config)?;
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

        let (chain, rpc, provider) = match &config.rpc_url {
            None => {
                let mut chain_config = ChainConfig::new(config.data_dir.join("chain"));
                chain_config.chain_id = config.chain_id;
                chain_config.funded = vec![relayer_key.address()];
                if demo {
                    chain_config = chain_config.with_dev_accounts();
                }
                let chain = Chain::open(chain_config)?;
                let api = Arc::new(EthApi::new(chain.clone()));
                let client = RpcClient::new(InProcess::new(api.clone()), true);
                let provider = ProviderBuilder::new().connect_client(client).erased();
                (Some(chain), Some(api), provider)
            }
            Some(url) => {
                let provider = ProviderBuilder::new()
                    .connect(url)
                    .await
                    .map_err(|e| Error::Config(format!("cannot reach the chain at {url}: {e}")))?
                    .erased();
                (None, None, provider)
            }
        };
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| Error::Config(format!("the chain: {e}")))?;

        let deployment = match store.deployment().await? {
            Some(deployment) if deployment.chain_id == chain_id => deployment,
            Some(deployment) => {
                return Err(Error::Config(format!(
                    "this database belongs to chain {}, and the chain here is {chain_id}",
                    deployment.chain_id
                )));
            }
            None => {
                // First start: the relayer's account deploys, naming the admin.
                let deployer = ProviderBuilder::new()
                    .wallet(EthereumWallet::from(relayer_key.clone()))
                    .connect_provider(provider.clone())
                    .erased();
                let from = provider
                    .get_block_number()
                    .await
                    .map_err(|e| Error::Config(e.to_string()))?
                    + 1;
                // The server's own account anchors the audit log's head from the start.
                let deployed =
                    medledger_contracts::deploy_hospital(&deployer, admin, relayer_key.address(), 0).await?;
                let deployment = Deployment {
                    chain_id,
                    ledger: deployed.ledger,
                    forwarder: deployed.forwarder,
                    block_number: from,
                };
                store.set_deployment(&deployment).await?;
                tracing::info!(ledger = %deployed.ledger, forwarder = %deployed.forwarder, %admin, "deployed MedLedger");
                deployment
            }
        };

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
                chain_id,
                deployment.forwarder,
                deployment.ledger,
            )
            .with_nonces(records.nonces().clone()),
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
            rpc,
            relayer_account: relayer_key.address(),
            admin,
            demo,
            metrics_token,
            wake: Arc::new(tokio::sync::Notify::new()),
            settled: broadcast::Sender::new(SETTLED_BACKLOG),
            closing: watch::Sender::new(false),
            chain,
            relayer,
            indexer,
        })
    }

    /// Runs the relayer and the indexer until `stop` turns true, each in its own task so that
    /// one block's indexing overlaps the next batch's relaying. The relayer passes after every
    /// signed request, every new block of the embedded chain, and at least every 250 ms, and
    /// anchors the audit log's head every [`AUDIT_ANCHOR_INTERVAL`] once an admin has given the
    /// relayer's account the auditor role (its own deployment grants it); the indexer after every
    /// new block and every 250 ms.
    pub fn spawn_loops(&self, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let relaying = self.spawn_relayer(stop.clone());
        let indexing = self.spawn_indexer(stop);
        tokio::spawn(async move {
            let _ = relaying.await;
            let _ = indexing.await;
        })
    }

    fn spawn_relayer(&self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let relayer = self.relayer.clone();
        let mut heads = self.chain.as_ref().map(Chain::subscribe_heads);
        let wake = self.wake.clone();
        let settled = self.settled.clone();
        let records = self.records.clone();
        tokio::spawn(async move {
            let mut last_anchor = tokio::time::Instant::now();
            let mut last_sweep: Option<tokio::time::Instant> = None;
            let mut told_no_role = false;
            loop {
                if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_INTERVAL) {
                    last_sweep = Some(tokio::time::Instant::now());
                    match sweep(&records).await {
                        Ok(ended) if !ended.is_empty() => {
                            tracing::info!(
                                requests = ended.len(),
                                "ended unsigned requests past their deadline"
                            );
                            let _ = settled.send(ended.into());
                        }
                        Ok(_) => {}
                        Err(err) => tracing::warn!("sweep: {err}"),
                    }
                }
                if last_anchor.elapsed() >= AUDIT_ANCHOR_INTERVAL {
                    last_anchor = tokio::time::Instant::now();
                    match relayer.anchor_audit().await {
                        Ok(Some((sequence, _))) => tracing::info!(sequence, "anchored the audit log"),
                        Ok(None) => {}
                        Err(err) if !told_no_role => {
                            told_no_role = true;
                            tracing::warn!(
                                "cannot anchor the audit log yet ({err}); an admin must grant the auditor role to {}",
                                relayer.account()
                            );
                        }
                        Err(_) => {}
                    }
                }
                match relayer.step().await {
                    // Nobody waiting is not an error.
                    Ok(step) if !step.refused.is_empty() || !step.reoffered.is_empty() => {
                        let changed: Vec<i64> = step.refused.into_iter().chain(step.reoffered).collect();
                        let _ = settled.send(changed.into());
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!("relayer: {err}"),
                }
                tokio::select! {
                    _ = stop.changed() => return,
                    () = next_head(&mut heads) => {}
                    () = wake.notified() => {}
                    () = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
                if *stop.borrow() {
                    return;
                }
            }
        })
    }

    fn spawn_indexer(&self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let indexer = self.indexer.clone();
        let mut heads = self.chain.as_ref().map(Chain::subscribe_heads);
        let settled = self.settled.clone();
        tokio::spawn(async move {
            loop {
                match indexer.sync().await {
                    Ok(progress) if !progress.anchored.is_empty() => {
                        let _ = settled.send(progress.anchored.into());
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!("indexer: {err}"),
                }
                tokio::select! {
                    _ = stop.changed() => return,
                    () = next_head(&mut heads) => {}
                    () = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
                if *stop.borrow() {
                    return;
                }
            }
        })
    }

    /// How this hospital verifies itself: the audit log against its own server account's anchors.
    pub fn verify_options(&self) -> medledger_ledger::verify::Options {
        medledger_ledger::verify::Options {
            auditor: Some(self.relayer_account),
            ..Default::default()
        }
    }

    /// Anchors the audit log's head now, if anything was logged since the last anchor (for a
    /// graceful stop; the relayer loop anchors every [`AUDIT_ANCHOR_INTERVAL`]).
    pub async fn anchor_audit(&self) {
        match self.relayer.anchor_audit().await {
            Ok(Some((sequence, _))) => tracing::info!(sequence, "anchored the audit log"),
            Ok(None) => {}
            Err(err) => tracing::warn!("could not anchor the audit log: {err}"),
        }
    }

    /// Closes the store and stops the embedded chain.
    pub async fn close(&self) {
        self.store.close().await;
        if let Some(chain) = &self.chain {
            chain.shutdown();
        }
    }
}

/// Waits for the embedded chain's next block (forever, on an external node: the timers do).
async fn next_head(heads: &mut Option<watch::Receiver<u64>>) {
    match heads.as_mut() {
        Some(heads) => {
            if heads.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Forgets expired sign-in nonces and sessions, and ends the unsigned requests past their
/// deadline (returning their ids and those of the requests re-offered for signature behind them,
/// for anyone waiting on them).
async fn sweep(records: &Records) -> std::result::Result<Vec<i64>, medledger_ledger::Error> {
    records.store().sweep_sign_ins(medledger_store::now_ms()).await?;
    let (expired, reoffered) = records.expire_unsigned().await?;
    Ok(expired.into_iter().chain(reoffered).collect())
}
