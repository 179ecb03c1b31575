//! Helpers shared by the integration tests: finding anvil (failing under `CI=true` when it is
//! missing), a throwaway data directory, the `medledger node` process, a chain to test against
//! (the embedded one or anvil), a bare JSON-RPC client that checks the envelope of every answer,
//! and transactions signed locally with the development keys.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, TxSignerSync};
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{B256, Bytes};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

pub(crate) use medledger_testkit::wallets::DEV_KEYS;

/// What `--dev` gives each development account: 10,000 ETH in wei.
pub(crate) const DEV_BALANCE: u128 = 10_000 * ONE_ETH;

/// One ether in wei.
pub(crate) const ONE_ETH: u128 = 1_000_000_000_000_000_000;

/// The block gas limit both chains run with.
pub(crate) const BLOCK_GAS_LIMIT: u64 = 30_000_000;

/// How long a node may take to print its "Listening on" line.
const STARTUP: Duration = Duration::from_secs(60);

/// The development accounts as signers, in anvil's order.
pub(crate) fn dev_signers() -> Vec<PrivateKeySigner> {
    DEV_KEYS
        .iter()
        .map(|key| key.parse().expect("a development key parses"))
        .collect()
}

/// `name` from contracts/node_modules/.bin, else from the PATH. Missing, it fails the test under
/// `CI=true` and otherwise returns `None` after saying why the test skips.
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    let npm_bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/node_modules/.bin");
    let path_dirs = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    // Foundry's native binary first: `.bin/NAME` is a Node wrapper, and killing the wrapper
    // leaves the real process running.
    let native = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../../contracts/node_modules/@foundry-rs/{name}-linux-amd64/bin"
    ));
    let found = std::iter::once(native)
        .chain(std::iter::once(npm_bin))
        .chain(path_dirs)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        missing(
            name,
            "`npm --prefix contracts install --ignore-scripts` installs it",
        );
    }
    found
}

/// Says that the test skips because `what` is missing; under `CI=true`, fails it instead.
pub(crate) fn missing(what: &str, install: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "`{what}` is missing and CI=true requires it: {install}"
    );
    eprintln!("skipping: `{what}` is missing; {install}");
}

/// A directory of its own under the system temp dir, removed on drop. The node keeps its chain in
/// `chain/` and writes its stderr to `node.log` beside it.
pub(crate) struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub(crate) fn new(label: &str) -> Self {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let root = std::env::temp_dir().join(format!(
            "medledger-it-{label}-{}-{}-{nanos}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&root).expect("the temp dir is writable");
        Self { root }
    }

    /// The directory itself.
    pub(crate) fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// What the node gets as `--data-dir`.
    pub(crate) fn chain(&self) -> PathBuf {
        self.root.join("chain")
    }

    fn log(&self) -> PathBuf {
        self.root.join("node.log")
    }

    /// Where a `medledger serve` on this directory writes its log: beside the directory, not in
    /// it (the data directory's files are checked for what they hold).
    pub(crate) fn server_log(&self) -> PathBuf {
        self.root.with_extension("server.log")
    }

    /// The last `lines` lines of the server's log, for a failing test to show.
    pub(crate) fn server_log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.server_log()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_file(self.server_log());
    }
}

/// A running `medledger node --dev`, killed when dropped.
pub(crate) struct Node {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
}

impl Node {
    /// Starts `medledger node --port 0 --dev` on `dir` and waits for its "Listening on" line.
    pub(crate) fn start(dir: &DataDir, chain_id: u64) -> anyhow::Result<Self> {
        let log = File::options().create(true).append(true).open(dir.log())?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_medledger"))
            .args(["node", "--host", "127.0.0.1", "--port", "0", "--dev"])
            .arg("--chain-id")
            .arg(chain_id.to_string())
            .arg("--data-dir")
            .arg(dir.chain())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start `medledger node`")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        // Reads to the end, so the node never blocks on a full pipe after it is up.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.trim().strip_prefix("Listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let mut node = Self {
            child,
            url: String::new(),
        };
        match rx.recv_timeout(STARTUP) {
            Ok(addr) => {
                let addr: std::net::SocketAddr = addr.parse().context("the Listening address")?;
                ensure!(
                    addr.ip().is_loopback(),
                    "the node listens on {addr}, not loopback"
                );
                node.url = format!("http://{addr}");
                Ok(node)
            }
            Err(_) => {
                node.sigkill();
                let stderr = std::fs::read_to_string(dir.log()).unwrap_or_default();
                bail!("`medledger node` printed no \"Listening on\" line; its stderr:\n{stderr}")
            }
        }
    }

    /// SIGKILL, as a power cut would: no shutdown code runs.
    pub(crate) fn kill(mut self) {
        self.sigkill();
    }

    fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.sigkill();
    }
}

/// A dev chain to test against: the embedded one or anvil, with the same development accounts.
pub(crate) struct Chain {
    /// "medledger" or "anvil", for messages.
    pub(crate) name: &'static str,
    pub(crate) url: String,
    pub(crate) chain_id: u64,
    /// The ten funded development accounts.
    pub(crate) signers: Vec<PrivateKeySigner>,
    _process: Process,
}

/// Kept only to be dropped: the node dies before its directory is removed (fields drop in order).
enum Process {
    Medledger { _node: Node, _dir: DataDir },
    Anvil { _anvil: AnvilInstance },
}

impl Chain {
    /// A fresh `medledger node --dev` on its own data directory.
    pub(crate) fn medledger(chain_id: u64) -> anyhow::Result<Self> {
        let dir = DataDir::new("node");
        let node = Node::start(&dir, chain_id)?;
        Ok(Self {
            name: "medledger",
            url: node.url.clone(),
            chain_id,
            signers: dev_signers(),
            _process: Process::Medledger {
                _node: node,
                _dir: dir,
            },
        })
    }

    /// A fresh anvil on Prague, or `None` (skip) when anvil is not installed.
    pub(crate) fn anvil(chain_id: u64) -> anyhow::Result<Option<Self>> {
        let Some(path) = tool("anvil") else {
            return Ok(None);
        };
        let anvil = Anvil::at(path).chain_id(chain_id).prague().try_spawn()?;
        let signers = anvil.keys().iter().map(PrivateKeySigner::from).collect();
        Ok(Some(Self {
            name: "anvil",
            url: anvil.endpoint(),
            chain_id,
            signers,
            _process: Process::Anvil { _anvil: anvil },
        }))
    }

    /// An alloy provider that signs locally for every development account (the first by default).
    pub(crate) fn provider(&self) -> DynProvider {
        provider(&self.url, &self.signers)
    }

    pub(crate) fn rpc(&self) -> Rpc {
        Rpc::new(&self.url)
    }
}

/// An alloy provider at `url` that signs locally for `signers` (the first by default).
pub(crate) fn provider(url: &str, signers: &[PrivateKeySigner]) -> DynProvider {
    let mut wallet = EthereumWallet::from(signers[0].clone());
    for signer in &signers[1..] {
        wallet.register_signer(signer.clone());
    }
    let url = url.parse().expect("the node's URL parses");
    ProviderBuilder::new().wallet(wallet).connect_http(url).erased()
}

/// A JSON-RPC error object: `{"code", "message", "data"?}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub(crate) code: i64,
    pub(crate) message: String,
    pub(crate) data: Option<Value>,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for RpcError {}

/// A bare JSON-RPC 2.0 client over HTTP POST that checks the envelope of every answer.
#[derive(Clone)]
pub(crate) struct Rpc {
    http: reqwest::Client,
    url: String,
    next_id: std::sync::Arc<AtomicU64>,
}

impl Rpc {
    pub(crate) fn new(url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .expect("an HTTP client builds");
        Self {
            http,
            url: url.to_owned(),
            next_id: std::sync::Arc::new(AtomicU64::new(1)),
        }
    }

    /// POSTs `body` exactly as given and parses the answer as JSON.
    pub(crate) async fn post(&self, body: impl Into<String>) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .await?;
        let text = response.text().await?;
        serde_json::from_str(&text).with_context(|| format!("the answer is not JSON: {text}"))
    }

    /// Calls `method`: its result, or the JSON-RPC error as an [`RpcError`] inside the error.
    pub(crate) async fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let answer = self.post(request.to_string()).await?;
        into_result(&answer, &json!(id)).with_context(|| format!("{method} {params}"))
    }

    /// Calls `method` expecting a JSON-RPC error, and returns it.
    pub(crate) async fn refusal(&self, method: &str, params: Value) -> anyhow::Result<RpcError> {
        match self.call(method, params.clone()).await {
            Ok(result) => bail!("{method} {params} should fail but returned {result}"),
            Err(error) => error.downcast::<RpcError>(),
        }
    }

    /// Polls for the receipt of `hash` until it is there (at most `within`).
    pub(crate) async fn receipt(&self, hash: B256, within: Duration) -> anyhow::Result<Value> {
        let until = Instant::now() + within;
        loop {
            let receipt = self.call("eth_getTransactionReceipt", json!([hash])).await?;
            if !receipt.is_null() {
                return Ok(receipt);
            }
            ensure!(Instant::now() < until, "no receipt for {hash} within {within:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The result of the JSON-RPC response `answer` to the request with id `id`, after checking its
/// envelope: `"jsonrpc": "2.0"`, the same id, and exactly one of `result` and `error`.
pub(crate) fn into_result(answer: &Value, id: &Value) -> anyhow::Result<Value> {
    ensure!(answer["jsonrpc"] == "2.0", "no \"jsonrpc\": \"2.0\" in {answer}");
    ensure!(
        &answer["id"] == id,
        "the answer to id {id} carries another id: {answer}"
    );
    match (answer.get("result"), answer.get("error")) {
        (Some(result), None) => Ok(result.clone()),
        (None, Some(error)) => {
            let code = error["code"]
                .as_i64()
                .context("an error without an integer code")?;
            let message = error["message"].as_str().context("an error without a message")?;
            Err(RpcError {
                code,
                message: message.to_owned(),
                data: error.get("data").cloned(),
            }
            .into())
        }
        _ => bail!("an answer needs exactly one of result and error: {answer}"),
    }
}

/// The JSON-RPC error in `answer` (to the request with id `id`); an error if it holds none.
pub(crate) fn refusal_in(answer: &Value, id: &Value) -> anyhow::Result<RpcError> {
    match into_result(answer, id) {
        Ok(result) => bail!("expected a JSON-RPC error, got the result {result}"),
        Err(error) => error.downcast::<RpcError>(),
    }
}

/// The number a JSON-RPC quantity encodes, panicking unless it is one: "0x" and lowercase hex
/// digits without leading zeroes ("0x0" for zero), as wallets parse them.
pub(crate) fn quantity(value: &Value) -> u128 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a string"));
    let digits = text
        .strip_prefix("0x")
        .unwrap_or_else(|| panic!("{text} lacks 0x"));
    assert!(
        !digits.is_empty() && (digits == "0" || !digits.starts_with('0')),
        "{text} is not a minimal quantity"
    );
    assert!(
        digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{text} is not lowercase hex"
    );
    u128::from_str_radix(digits, 16).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The bytes of a JSON-RPC data string ("0x" and an even number of hex digits).
pub(crate) fn data(value: &Value) -> Bytes {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a string"));
    assert!(text.starts_with("0x"), "{text} lacks 0x");
    text.parse()
        .unwrap_or_else(|e| panic!("{text} is not hex data: {e}"))
}

/// Whether `code` is the runtime code `committed` as deployed: the same length and the same
/// bytes, except where the compiler left zeroes for immutables the constructor fills in.
pub(crate) fn is_deployment_of(code: &[u8], committed: &[u8]) -> bool {
    code.len() == committed.len()
        && code
            .iter()
            .zip(committed)
            .all(|(got, want)| got == want || *want == 0)
}

/// A transaction signed locally, ready for `eth_sendRawTransaction`.
#[derive(Debug, Clone)]
pub(crate) struct SignedTx {
    pub(crate) hash: B256,
    pub(crate) raw: Bytes,
}

/// `signer` signs `tx` (EIP-1559), as a wallet does before `eth_sendRawTransaction`.
pub(crate) fn sign(signer: &PrivateKeySigner, mut tx: TxEip1559) -> SignedTx {
    let signature = signer.sign_transaction_sync(&mut tx).expect("a local key signs");
    let envelope = TxEnvelope::from(tx.into_signed(signature));
    SignedTx {
        hash: *envelope.tx_hash(),
        raw: envelope.encoded_2718().into(),
    }
}

/// A pseudo-random number from the clock, different on every call: enough to vary a delay.
pub(crate) fn jitter(range: std::ops::Range<u64>) -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // One round of splitmix64 spreads the low bits of the clock over the whole word.
    let mut x = nanos ^ CALLS.fetch_add(1, Ordering::Relaxed).rotate_left(32);
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    range.start + x % (range.end - range.start)
}

/// Runs a Node story (`node SCRIPT ARGS…` with `envs`) to its end, at most `limit`: its exit
/// status, standard output and standard error.
pub(crate) fn node_story(
    script: &Path,
    args: &[&std::ffi::OsStr],
    envs: &[(&str, &std::ffi::OsStr)],
    limit: Duration,
) -> (std::process::ExitStatus, String, String) {
    use std::io::Read;
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    // Read both pipes as the story runs, so that a talkative one never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("{} took more than {limit:?}", script.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status, stdout.join().unwrap(), stderr.join().unwrap())
}
