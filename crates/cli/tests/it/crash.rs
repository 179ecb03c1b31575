//! Power cuts: several wallets stream transactions (ether transfers and history entries) into
//! `medledger node` until it is killed with SIGKILL at a random moment; restarted on the same
//! data directory, every transaction whose receipt came back is still there, in the same block
//! with the same hash, the blocks still link up, and the chain goes on.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy::consensus::TxEip1559;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use anyhow::{Context, ensure};
use medledger_contracts::MedLedger;
use medledger_core::entry::EntryKind;
use serde_json::{Value, json};

use crate::util::{DataDir, Node, Rpc, SignedTx, dev_signers, jitter, provider, quantity, sign};

const CHAIN_ID: u64 = 19_791;

/// Doctors sending at once: development accounts 1 to 4 (their patients are 5 to 8).
const SENDERS: usize = 4;
/// Transactions each doctor signs per round; the kill normally comes long before the last.
const PER_SENDER: u64 = 400;
/// Kill-and-restart rounds.
const ROUNDS: usize = 2;
/// A transaction signed ahead, and whom it pays (`Some(i)`: `payee(i)`; `None`: an entry).
struct Outgoing {
    tx: SignedTx,
    pays: Option<usize>,
}

/// A transfer's value: 1 gwei.
const GWEI: u128 = 1_000_000_000;

/// A transaction whose receipt came back before the kill, as that receipt placed it.
#[derive(Debug)]
struct Acknowledged {
    hash: B256,
    block_number: Value,
    block_hash: Value,
    status: Value,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_transaction_survives_sigkill() -> anyhow::Result<()> {
    let dir = DataDir::new("crash");
    let signers = dev_signers();
    let mut node = Node::start(&dir, CHAIN_ID)?;
    let ledger = open_clinic(&node.url, &signers).await?;
    let setup_head = head(&Rpc::new(&node.url)).await?;

    // A set: a round may re-sign a lost transfer byte for byte (same nonce, same payee).
    let (mut acknowledged, mut transfers) = (Vec::new(), BTreeSet::new());
    for round in 0..ROUNDS {
        let streams = presign(&Rpc::new(&node.url), &signers, ledger, round).await?;
        let outgoing = streams.iter().flatten();
        transfers.extend(outgoing.filter_map(|o| o.pays.map(|payee| (payee, o.tx.hash))));
        acknowledged.extend(traffic_until_killed(node, streams).await?);
        node = Node::start(&dir, CHAIN_ID).context("restarting after SIGKILL")?;
        let rpc = Rpc::new(&node.url);
        let resumed = rpc
            .call("eth_getBlockByNumber", json!([setup_head["number"], false]))
            .await?;
        assert_eq!(
            resumed["hash"], setup_head["hash"],
            "round {round}: the restarted chain is the same chain"
        );
        survived(&rpc, &acknowledged).await?;
    }
    let rpc = Rpc::new(&node.url);
    payees_were_paid(&rpc, &transfers).await?;
    keeps_going(&rpc, &signers, &acknowledged).await?;
    linked(&rpc).await
}

/// Deploys MedLedger, approves four doctors and lets each add one patient; returns the ledger.
async fn open_clinic(url: &str, signers: &[PrivateKeySigner]) -> anyhow::Result<Address> {
    let provider = provider(url, signers);
    let admin = signers[0].address();
    let ledger = medledger_contracts::deploy(&provider, admin, 3 * 24 * 3600)
        .await?
        .ledger;
    let doctors: Vec<_> = signers[1..=SENDERS]
        .iter()
        .map(PrivateKeySigner::address)
        .collect();
    medledger_testkit::doctors::approve(&provider, ledger, &doctors).await;
    let ledger = MedLedger::new(ledger, provider.clone());
    for (doctor, patient) in signers[1..=SENDERS].iter().zip(&signers[SENDERS + 1..]) {
        let add = ledger.addPatient(patient.address()).from(doctor.address());
        ensure!(
            add.send().await?.get_receipt().await?.status(),
            "adding a patient"
        );
    }
    ensure!(provider.get_block_number().await? > 0, "the setup was mined");
    Ok(*ledger.address())
}

async fn head(rpc: &Rpc) -> anyhow::Result<Value> {
    rpc.call("eth_getBlockByNumber", json!(["latest", false])).await
}

/// Who doctor `i` (1-based) pays in the transfers.
fn payee(i: usize) -> Address {
    Address::repeat_byte(0xc0 + i as u8)
}

/// Each doctor's stream for `round`: transfers to their payee alternating with entries in their
/// patient's history, signed ahead with consecutive nonces.
async fn presign(
    rpc: &Rpc,
    signers: &[PrivateKeySigner],
    ledger: Address,
    round: usize,
) -> anyhow::Result<Vec<Vec<Outgoing>>> {
    let mut streams = Vec::new();
    for (i, doctor) in signers.iter().enumerate().take(SENDERS + 1).skip(1) {
        let first = quantity(
            &rpc.call("eth_getTransactionCount", json!([doctor.address(), "pending"]))
                .await?,
        ) as u64;
        let patient = U256::from(i);
        let stream = (0..PER_SENDER).map(|k| {
            let (to, value, input, gas_limit) = if k % 2 == 0 {
                (payee(i), U256::from(GWEI), Bytes::new(), 21_000)
            } else {
                let commitment = keccak256(format!("round {round} doctor {i} entry {k}"));
                let entry = MedLedger::updateMedicalHistoryCall {
                    patientId: patient,
                    commitment,
                    kind: EntryKind::Observation as u8,
                    supersedes: 0,
                };
                (ledger, U256::ZERO, Bytes::from(entry.abi_encode()), 300_000)
            };
            let tx = TxEip1559 {
                chain_id: CHAIN_ID,
                nonce: first + k,
                gas_limit,
                max_fee_per_gas: 10 * GWEI,
                max_priority_fee_per_gas: GWEI,
                to: TxKind::Call(to),
                value,
                input,
                ..TxEip1559::default()
            };
            let pays = (k % 2 == 0).then_some(i);
            Outgoing {
                tx: sign(doctor, tx),
                pays,
            }
        });
        streams.push(stream.collect());
    }
    Ok(streams)
}

/// One wallet: sends each transaction, waits for its receipt, records it; stops at the first
/// failure, which must come after `killed_at` is set (the kill), not before.
async fn stream(
    rpc: Rpc,
    txs: Vec<Outgoing>,
    receipts: Arc<AtomicUsize>,
) -> (Vec<Acknowledged>, Option<(Instant, String)>) {
    let mut acknowledged = Vec::new();
    for Outgoing { tx, .. } in txs {
        let sent = rpc.call("eth_sendRawTransaction", json!([tx.raw])).await;
        let receipt = match sent {
            Ok(_) => rpc.receipt(tx.hash, Duration::from_secs(20)).await,
            Err(error) => Err(error),
        };
        match receipt {
            Ok(receipt) => {
                acknowledged.push(Acknowledged {
                    hash: tx.hash,
                    block_number: receipt["blockNumber"].clone(),
                    block_hash: receipt["blockHash"].clone(),
                    status: receipt["status"].clone(),
                });
                receipts.fetch_add(1, Ordering::SeqCst);
            }
            Err(error) => return (acknowledged, Some((Instant::now(), format!("{error:#}")))),
        }
    }
    (acknowledged, None)
}

/// Runs every stream at once and kills the node with SIGKILL 300 to 1500 ms after the first
/// receipt; returns what was acknowledged before.
async fn traffic_until_killed(node: Node, streams: Vec<Vec<Outgoing>>) -> anyhow::Result<Vec<Acknowledged>> {
    let receipts = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|txs| tokio::spawn(stream(Rpc::new(&node.url), txs, receipts.clone())))
        .collect();
    let waiting = Instant::now();
    while receipts.load(Ordering::SeqCst) == 0 && waiting.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delay = Duration::from_millis(jitter(300..1500));
    tokio::time::sleep(delay).await;
    let killed_at = Instant::now();
    node.kill();

    let mut acknowledged = Vec::new();
    for task in tasks {
        let (mine, stopped) = tokio::time::timeout(Duration::from_secs(60), task).await??;
        if let Some((when, why)) = stopped {
            ensure!(when >= killed_at, "a wallet was refused before the kill: {why}");
        }
        acknowledged.extend(mine);
    }
    eprintln!(
        "killed {delay:?} after the first receipt; {} transactions acknowledged",
        acknowledged.len()
    );
    ensure!(
        !acknowledged.is_empty(),
        "no receipt came back within 30 s of traffic"
    );
    Ok(acknowledged)
}

/// Every acknowledged transaction has its receipt, in the same block, with the same outcome.
async fn survived(rpc: &Rpc, acknowledged: &[Acknowledged]) -> anyhow::Result<()> {
    let mut lost = Vec::new();
    for tx in acknowledged {
        assert_eq!(tx.status, json!("0x1"), "{} succeeded when acknowledged", tx.hash);
        let receipt = rpc.call("eth_getTransactionReceipt", json!([tx.hash])).await?;
        let now = (&receipt["blockNumber"], &receipt["blockHash"], &receipt["status"]);
        if receipt.is_null() || now != (&tx.block_number, &tx.block_hash, &tx.status) {
            lost.push(format!(
                "{}: acknowledged in block {} {}, now {now:?}",
                tx.hash, tx.block_number, tx.block_hash
            ));
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged transactions changed after SIGKILL:\n{}",
        lost.len(),
        acknowledged.len(),
        lost.join("\n")
    );
    Ok(())
}

/// Each payee holds exactly one gwei per transfer to it that the chain holds: none lost from
/// the state, none applied twice on replay.
async fn payees_were_paid(rpc: &Rpc, transfers: &BTreeSet<(usize, B256)>) -> anyhow::Result<()> {
    for i in 1..=SENDERS {
        let mut mined = 0u128;
        for (_, hash) in transfers.iter().filter(|(payee, _)| *payee == i) {
            let receipt = rpc.call("eth_getTransactionReceipt", json!([hash])).await?;
            mined += u128::from(!receipt.is_null());
        }
        let balance = quantity(&rpc.call("eth_getBalance", json!([payee(i), "latest"])).await?);
        assert_eq!(
            balance,
            mined * GWEI,
            "payee {i} after {mined} mined 1 gwei transfers"
        );
    }
    Ok(())
}

/// A new transaction from every doctor is mined after everything acknowledged.
async fn keeps_going(
    rpc: &Rpc,
    signers: &[PrivateKeySigner],
    acknowledged: &[Acknowledged],
) -> anyhow::Result<()> {
    let last = acknowledged
        .iter()
        .map(|tx| quantity(&tx.block_number))
        .max()
        .unwrap_or(0);
    for doctor in &signers[1..=SENDERS] {
        let nonce = quantity(
            &rpc.call("eth_getTransactionCount", json!([doctor.address(), "pending"]))
                .await?,
        ) as u64;
        let tx = TxEip1559 {
            chain_id: CHAIN_ID,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 10 * GWEI,
            max_priority_fee_per_gas: GWEI,
            to: TxKind::Call(Address::repeat_byte(0xcf)),
            value: U256::from(1),
            ..TxEip1559::default()
        };
        let signed = sign(doctor, tx);
        rpc.call("eth_sendRawTransaction", json!([signed.raw])).await?;
        let receipt = rpc.receipt(signed.hash, Duration::from_secs(30)).await?;
        assert_eq!(receipt["status"], json!("0x1"), "after the restarts: {receipt}");
        assert!(
            quantity(&receipt["blockNumber"]) > last,
            "mined after block {last}: {receipt}"
        );
    }
    Ok(())
}

/// Blocks 1 to the latest each name the previous block's hash as their parent.
async fn linked(rpc: &Rpc) -> anyhow::Result<()> {
    let latest = quantity(&rpc.call("eth_blockNumber", json!([])).await?);
    assert!(latest < 100_000, "a bounded walk: {latest} blocks");
    let mut parent = rpc.call("eth_getBlockByNumber", json!(["0x0", false])).await?["hash"].clone();
    for number in 1..=latest {
        let block = rpc
            .call("eth_getBlockByNumber", json!([format!("{number:#x}"), false]))
            .await?;
        assert_eq!(quantity(&block["number"]), number);
        assert_eq!(
            block["parentHash"],
            parent,
            "block {number} links to block {}",
            number - 1
        );
        parent = block["hash"].clone();
    }
    Ok(())
}
