//! Sustained transactions/s of the embedded chain beside anvil and Ganache, in one run on one
//! machine: each of N senders sends its pre-signed calls of a contract that writes a storage
//! slot and emits an event, over HTTP (`eth_sendRawTransaction`, one request each), and the
//! clock stops when every receipt is available. Then the same through the in-process path.
//! Every acknowledged transaction must end up with a receipt; any that does not is reported lost.
//!
//! Run: `cargo bench -p medledger --bench chain` (anvil from `npm --prefix contracts install
//! --ignore-scripts`, Ganache from `npm --prefix bench install --ignore-scripts`).
//! Environment: `SENDERS` (default 8, at most 9), `PER_SENDER` (default 2000),
//! `RESTART_TXS` (default 0: how many transactions to put in a chain before timing its restart),
//! `NODES` (default `medledger,anvil,ganache,in-process`: which to run), `KEEP_SCRATCH` (set: keep
//! the data directories, e.g. to profile opening the restart chain with `medledger node`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::signers::local::{MnemonicBuilder, PrivateKeySigner};
use anyhow::{Context, bail};
use serde_json::{Value, json};

const CHAIN_ID: u64 = 19_788;
const MNEMONIC: &str = "test test test test test test test test test test test junk";
/// Init code of a contract whose every call stores its first argument at slot `caller` and logs
/// it with topic `caller`: `60 10 80 60 0b 60 00 39 60 00 f3` copies the 16-byte runtime
/// `6004358033556000523360206000a100` (CALLDATALOAD 4, SSTORE(caller), MSTORE, LOG1, STOP).
const CONTRACT: &str = "0x601080600b6000396000f36004358033556000523360206000a100";
const CALL_GAS: u64 = 60_000;

fn dev_key(index: u32) -> PrivateKeySigner {
    MnemonicBuilder::english()
        .phrase(MNEMONIC)
        .index(index)
        .and_then(|b| b.build())
        .expect("dev key")
}

fn sign(signer: &PrivateKeySigner, nonce: u64, to: TxKind, input: Bytes, gas: u64) -> Bytes {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to,
        value: U256::ZERO,
        access_list: Default::default(),
        input,
    };
    let signature = signer.sign_transaction_sync(&mut tx.clone()).expect("signs");
    let envelope: TxEnvelope = tx.into_signed(signature).into();
    envelope.encoded_2718().into()
}

fn call_data(value: u64) -> Bytes {
    let mut data = vec![0x12, 0x34, 0x56, 0x78];
    data.extend_from_slice(&U256::from(value + 1).to_be_bytes::<32>());
    data.into()
}

/// A node the benchmark talks to over HTTP; killed on drop.
struct Node {
    name: &'static str,
    url: String,
    child: Child,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(name: &'static str, program: &Path, args: &[String], port: u16) -> anyhow::Result<Node> {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {name} ({})", program.display()))?;
    Ok(Node {
        name,
        url: format!("http://127.0.0.1:{port}"),
        child,
    })
}

struct Rpc {
    http: reqwest::Client,
    url: String,
}

impl Rpc {
    async fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply: Value = self.http.post(&self.url).json(&body).send().await?.json().await?;
        match reply.get("error") {
            Some(error) => bail!("{method}: {error}"),
            None => Ok(reply["result"].clone()),
        }
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        for _ in 0..300 {
            if self.call("eth_chainId", json!([])).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("{} did not answer within 15 s", self.url)
    }

    async fn receipt(&self, hash: B256, deadline: Instant) -> anyhow::Result<Value> {
        while Instant::now() < deadline {
            let receipt = self.call("eth_getTransactionReceipt", json!([hash])).await?;
            if !receipt.is_null() {
                return Ok(receipt);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        bail!("no receipt for {hash} by the deadline")
    }
}

struct Outcome {
    sent: usize,
    acknowledged: usize,
    lost: usize,
    seconds: f64,
}

/// Deploys the contract, then N senders blast their pre-signed calls; returns when every receipt
/// is there (or two minutes have passed).
async fn blast(node: &Node, senders: usize, per_sender: usize) -> anyhow::Result<Outcome> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let rpc = Arc::new(Rpc {
        http,
        url: node.url.clone(),
    });
    rpc.wait_ready().await?;
    let deployer = dev_key(0);
    let nonce: U256 = serde_json::from_value(
        rpc.call("eth_getTransactionCount", json!([deployer.address(), "latest"]))
            .await?,
    )?;
    let deploy = sign(
        &deployer,
        nonce.to(),
        TxKind::Create,
        Bytes::from(alloy::hex::decode(CONTRACT)?),
        200_000,
    );
    let hash: B256 = serde_json::from_value(rpc.call("eth_sendRawTransaction", json!([deploy])).await?)?;
    let receipt = rpc
        .receipt(hash, Instant::now() + Duration::from_secs(30))
        .await?;
    let contract: Address = serde_json::from_value(receipt["contractAddress"].clone())?;

    let mut batches = Vec::new();
    for s in 0..senders {
        let signer = dev_key(1 + s as u32);
        let start: U256 = serde_json::from_value(
            rpc.call("eth_getTransactionCount", json!([signer.address(), "latest"]))
                .await?,
        )?;
        let txs: Vec<Bytes> = (0..per_sender as u64)
            .map(|i| {
                sign(
                    &signer,
                    start.to::<u64>() + i,
                    TxKind::Call(contract),
                    call_data(i),
                    CALL_GAS,
                )
            })
            .collect();
        batches.push(txs);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for txs in batches {
        let rpc = rpc.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for raw in txs {
                if let Ok(value) = rpc.call("eth_sendRawTransaction", json!([raw])).await
                    && let Ok(hash) = serde_json::from_value::<B256>(value)
                {
                    acked.push(hash);
                }
            }
            acked
        }));
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.push(task.await?);
    }
    let deadline = started + Duration::from_secs(120);
    let mut lost = 0;
    for acked in &acknowledged {
        if let Some(last) = acked.last()
            && rpc.receipt(*last, deadline).await.is_err()
        {
            lost += acked.len();
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    // Every acknowledged transaction, not only each sender's last, must have a receipt.
    if lost == 0 {
        for hash in acknowledged.iter().flatten() {
            if rpc
                .call("eth_getTransactionReceipt", json!([hash]))
                .await?
                .is_null()
            {
                lost += 1;
            }
        }
    }
    let acked = acknowledged.iter().map(Vec::len).sum();
    Ok(Outcome {
        sent: senders * per_sender,
        acknowledged: acked,
        lost,
        seconds,
    })
}

/// The same load through the in-process path: threads submit to the chain directly.
fn in_process(dir: &Path, senders: usize, per_sender: usize) -> anyhow::Result<(Outcome, u64)> {
    use medledger_chain::{Chain, ChainConfig};
    let chain = Chain::open(ChainConfig {
        chain_id: CHAIN_ID,
        ..ChainConfig::new(dir).with_dev_accounts()
    })?;
    let deployer = dev_key(0);
    let deploy = sign(
        &deployer,
        0,
        TxKind::Create,
        Bytes::from(alloy::hex::decode(CONTRACT)?),
        200_000,
    );
    let hash = chain.submit_raw(&deploy)?;
    wait_for(&chain, hash, Duration::from_secs(30))?;
    let contract = deployer.address().create(0);
    let batches: Vec<Vec<Bytes>> = (0..senders)
        .map(|s| {
            let signer = dev_key(1 + s as u32);
            (0..per_sender as u64)
                .map(|i| sign(&signer, i, TxKind::Call(contract), call_data(i), CALL_GAS))
                .collect()
        })
        .collect();
    let last: Vec<B256> = batches
        .iter()
        .map(|txs| alloy::primitives::keccak256(txs.last().unwrap()))
        .collect();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for txs in &batches {
            let chain = chain.clone();
            scope.spawn(move || {
                for raw in txs {
                    submit_with_backpressure(&chain, raw);
                }
            });
        }
    });
    let mut lost = 0;
    for (hash, txs) in last.iter().zip(&batches) {
        if wait_for(&chain, *hash, Duration::from_secs(120)).is_err() {
            lost += txs.len();
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let bytes = chain.disk_bytes();
    chain.shutdown();
    Ok((
        Outcome {
            sent: senders * per_sender,
            acknowledged: senders * per_sender,
            lost,
            seconds,
        },
        bytes,
    ))
}

fn submit_with_backpressure(chain: &medledger_chain::Chain, raw: &Bytes) {
    loop {
        match chain.submit_raw(raw) {
            Ok(_) => return,
            Err(e) if e.to_string().contains("txpool is full") => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("refused: {e}"),
        }
    }
}

fn wait_for(chain: &medledger_chain::Chain, hash: B256, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if chain.read().txs.contains_key(&hash) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    bail!("{hash} not mined in time")
}

/// Fills a chain with `total` transactions, then times opening it again: once with every block
/// checked in full (its verified checkpoint removed), then three times as a restart does, with the
/// checkpoint. The file is in the page cache each time: this is the cost of replaying and
/// verifying, not of the disk.
fn restart_time(dir: &Path, total: usize) -> anyhow::Result<()> {
    let per_sender = total.div_ceil(9);
    let (outcome, bytes) = in_process(dir, 9, per_sender)?;
    let txs = outcome.sent + 1;
    let open = || -> anyhow::Result<(f64, usize)> {
        let started = Instant::now();
        let chain = medledger_chain::Chain::open(medledger_chain::ChainConfig {
            chain_id: CHAIN_ID,
            ..medledger_chain::ChainConfig::new(dir).with_dev_accounts()
        })?;
        let seconds = started.elapsed().as_secs_f64();
        let blocks = chain.read().blocks.len();
        chain.shutdown();
        Ok((seconds, blocks))
    };
    std::fs::remove_file(dir.join("blocks.verified")).context("the chain's checkpoint")?;
    let (full, blocks) = open()?;
    let mut times = Vec::new();
    for _ in 0..3 {
        times.push(format!("{:.2}", open()?.0));
    }
    println!(
        "\nrestart with {txs} transactions in {blocks} blocks: {} s to open (three restarts: headers linked, \
         the checkpointed log hashed); {full:.2} s with every block's tries checked (no checkpoint); \
         {bytes} bytes on disk, {:.0} bytes per transaction",
        times.join(" / "),
        bytes as f64 / txs as f64
    );
    Ok(())
}

fn tool(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

fn report(name: &str, o: &Outcome) {
    println!(
        "| {name} | {} | {} | {} | {:.2} | {:.0} |",
        o.sent,
        o.acknowledged,
        o.lost,
        o.seconds,
        o.acknowledged as f64 / o.seconds
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let senders: usize = std::env::var("SENDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
        .clamp(1, 9);
    let per_sender: usize = std::env::var("PER_SENDER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let restart_txs: usize = std::env::var("RESTART_TXS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let nodes = std::env::var("NODES").unwrap_or_else(|_| "medledger,anvil,ganache,in-process".into());
    let run = |name: &str| nodes.split(',').any(|n| n.trim() == name);
    let scratch = std::env::temp_dir().join(format!("medledger-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;

    println!(
        "{senders} senders x {per_sender} pre-signed contract calls (SSTORE + LOG1), one HTTP request each\n"
    );
    println!("| node | sent | acknowledged | no receipt after 120 s | seconds | transactions/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    if run("medledger") {
        let port = free_port();
        let args: Vec<String> = [
            "node",
            "--dev",
            "--port",
            &port.to_string(),
            "--chain-id",
            &CHAIN_ID.to_string(),
            "--data-dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([scratch.join("http").display().to_string()])
        .collect();
        let medledger = spawn(
            "MedLedger (durable, HTTP)",
            Path::new(env!("CARGO_BIN_EXE_medledger")),
            &args,
            port,
        )?;
        report(medledger.name, &blast(&medledger, senders, per_sender).await?);
        drop(medledger);
    }

    // The native binary, not `.bin/anvil`: that is a Node wrapper, and killing it would leave the
    // real anvil running (orphans of an earlier version of this benchmark held 10-15 GB each).
    let anvil_bin = tool("contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if !run("anvil") {
    } else if anvil_bin.exists() {
        let port = free_port();
        let args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--chain-id",
            &CHAIN_ID.to_string(),
            "--hardfork",
            "prague",
            "--silent",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let anvil = spawn("anvil 1.7.1 (in memory)", &anvil_bin, &args, port)?;
        report(anvil.name, &blast(&anvil, senders, per_sender).await?);
    } else {
        println!("| anvil | not installed: npm --prefix contracts install --ignore-scripts | | | | |");
    }

    let ganache_bin = tool("bench/node_modules/.bin/ganache");
    if !run("ganache") {
    } else if ganache_bin.exists() {
        let port = free_port();
        let args: Vec<String> = [
            "--server.port",
            &port.to_string(),
            "--chain.chainId",
            &CHAIN_ID.to_string(),
            "--wallet.mnemonic",
            MNEMONIC,
            "--logging.quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ganache = spawn("Ganache 7.9.2 (in memory)", &ganache_bin, &args, port)?;
        report(ganache.name, &blast(&ganache, senders, per_sender).await?);
    } else {
        println!("| Ganache | not installed: npm --prefix bench install --ignore-scripts | | | | |");
    }

    if run("in-process") {
        let dir = scratch.join("in-process");
        let (outcome, _) = tokio::task::block_in_place(|| in_process(&dir, senders, per_sender))?;
        report("MedLedger (durable, in-process)", &outcome);
    }

    if restart_txs > 0 {
        tokio::task::block_in_place(|| restart_time(&scratch.join("restart"), restart_txs))?;
    }
    if std::env::var_os("KEEP_SCRATCH").is_some() {
        println!("\nkept {}", scratch.display());
    } else {
        std::fs::remove_dir_all(&scratch).ok();
    }
    Ok(())
}
