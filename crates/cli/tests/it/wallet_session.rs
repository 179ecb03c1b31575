//! The embedded chain as a browser wallet (MetaMask) talks to it: the raw JSON-RPC calls it makes
//! on connect and on send, hex quantities and block tags as it writes them, a batch, and a
//! transaction it signs itself (the node holds no keys). Each answer must have the shape the
//! wallet parses: minimal lowercase hex quantities, receipts with status "0x1", blocks with
//! `baseFeePerGas`.

use std::time::Duration;

use alloy::consensus::TxEip1559;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use medledger_contracts::MedLedgerForwarder;
use serde_json::{Value, json};

use crate::util::{
    BLOCK_GAS_LIMIT, Chain, DEV_BALANCE, ONE_ETH, Rpc, data, into_result, is_deployment_of, quantity, sign,
};

const CHAIN_ID: u64 = 424_242;

/// The base fee the node keeps constant: 1 gwei.
const BASE_FEE: u128 = 1_000_000_000;

/// How long a wallet polls for a receipt before giving up.
const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_wallet_connects_sends_ether_and_deploys_a_contract() -> anyhow::Result<()> {
    let chain = Chain::medledger(CHAIN_ID)?;
    let rpc = chain.rpc();
    let me = chain.signers[0].clone();
    connect(&rpc, me.address()).await?;
    let genesis = fees(&rpc).await?;
    send_ether(&rpc, &me, &genesis).await?;
    deploy(&rpc, &me).await?;
    Ok(())
}

/// On connect: one batch, then the balance and nonce of the selected account.
async fn connect(rpc: &Rpc, me: Address) -> anyhow::Result<()> {
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "net_version", "params": []},
        {"jsonrpc": "2.0", "id": "three", "method": "eth_accounts", "params": []},
        {"jsonrpc": "2.0", "id": 4, "method": "eth_blockNumber", "params": []},
        {"jsonrpc": "2.0", "id": 5, "method": "wallet_notAMethod", "params": []},
    ]);
    let answers = rpc.post(batch.to_string()).await?;
    let answers = answers
        .as_array()
        .unwrap_or_else(|| panic!("a batch is answered with an array: {answers}"));
    assert_eq!(answers.len(), 5, "one answer per request: {answers:?}");
    let answer = |id: Value| {
        let found = answers.iter().find(|a| a["id"] == id);
        let found = found.unwrap_or_else(|| panic!("no answer with id {id} in {answers:?}"));
        into_result(found, &id)
    };
    assert_eq!(answer(json!(1))?, json!(format!("{CHAIN_ID:#x}")));
    assert_eq!(
        answer(json!(2))?,
        json!(CHAIN_ID.to_string()),
        "net_version is decimal"
    );
    assert_eq!(answer(json!("three"))?, json!([]), "the node holds no keys");
    assert_eq!(quantity(&answer(json!(4))?), 0, "a fresh chain is at block 0");
    let unknown = answer(json!(5)).expect_err("an unknown method fails alone in its batch");
    let unknown = unknown.downcast::<crate::util::RpcError>()?;
    assert_eq!(unknown.code, -32601, "{unknown}");

    for tag in ["latest", "pending"] {
        let balance = rpc.call("eth_getBalance", json!([me, tag])).await?;
        assert_eq!(quantity(&balance), DEV_BALANCE, "10,000 ETH at {tag}");
    }
    assert_eq!(balance_hex(DEV_BALANCE), "0x21e19e0c9bab2400000");
    let nonce = rpc
        .call("eth_getTransactionCount", json!([me, "pending"]))
        .await?;
    assert_eq!(nonce, json!("0x0"));
    assert_eq!(rpc.call("eth_syncing", json!([])).await?, json!(false));
    let version = rpc.call("web3_clientVersion", json!([])).await?;
    assert!(
        version.as_str().is_some_and(|v| !v.trim().is_empty()),
        "a client version: {version}"
    );
    Ok(())
}

fn balance_hex(wei: u128) -> String {
    format!("{wei:#x}")
}

/// What the wallet reads to price a transaction; returns the latest (genesis) block.
async fn fees(rpc: &Rpc) -> anyhow::Result<Value> {
    let price = quantity(&rpc.call("eth_gasPrice", json!([])).await?);
    assert!(
        price >= BASE_FEE,
        "the gas price {price} covers the 1 gwei base fee"
    );
    quantity(&rpc.call("eth_maxPriorityFeePerGas", json!([])).await?);

    let history = rpc
        .call("eth_feeHistory", json!(["0x5", "latest", [25, 75]]))
        .await?;
    assert_eq!(
        history["oldestBlock"],
        json!("0x0"),
        "only block 0 exists: {history}"
    );
    let base_fees = history["baseFeePerGas"].as_array().cloned().unwrap_or_default();
    let ratios = history["gasUsedRatio"].as_array().cloned().unwrap_or_default();
    let rewards = history["reward"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        (base_fees.len(), ratios.len(), rewards.len()),
        (2, 1, 1),
        "one block, and the next base fee: {history}"
    );
    assert!(base_fees.iter().all(|fee| quantity(fee) == BASE_FEE), "{history}");
    assert!(
        ratios
            .iter()
            .all(|r| r.as_f64().is_some_and(|r| (0.0..=1.0).contains(&r))),
        "{history}"
    );
    for percentiles in &rewards {
        let percentiles = percentiles.as_array().cloned().unwrap_or_default();
        assert_eq!(percentiles.len(), 2, "one reward per asked percentile: {history}");
        for reward in &percentiles {
            quantity(reward);
        }
    }

    let block = rpc.call("eth_getBlockByNumber", json!(["latest", false])).await?;
    assert_eq!(quantity(&block["number"]), 0);
    assert_eq!(
        quantity(&block["baseFeePerGas"]),
        BASE_FEE,
        "EIP-1559 wallets need baseFeePerGas: {block}"
    );
    assert_eq!(quantity(&block["gasLimit"]), u128::from(BLOCK_GAS_LIMIT));
    assert_eq!(data(&block["hash"]).len(), 32);
    assert_eq!(data(&block["parentHash"]).len(), 32);
    assert_eq!(data(&block["logsBloom"]).len(), 256);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let age = u128::from(now).abs_diff(quantity(&block["timestamp"]));
    assert!(
        age < 24 * 3600,
        "the genesis timestamp is about now, not {age} s away"
    );
    assert_eq!(block["transactions"], json!([]));
    Ok(block)
}

/// On send: estimate, sign locally, `eth_sendRawTransaction`, poll for the receipt, look it up.
async fn send_ether(rpc: &Rpc, me: &PrivateKeySigner, genesis: &Value) -> anyhow::Result<()> {
    let payee = Address::repeat_byte(0x77);
    let value = format!("{ONE_ETH:#x}");
    let estimate = rpc
        .call(
            "eth_estimateGas",
            json!([{"from": me.address(), "to": payee, "value": value}]),
        )
        .await?;
    assert_eq!(estimate, json!("0x5208"), "a plain transfer costs 21,000 gas");
    assert_eq!(
        rpc.call("eth_getCode", json!([payee, "latest"])).await?,
        json!("0x"),
        "the payee is no contract"
    );

    let priority = quantity(&rpc.call("eth_maxPriorityFeePerGas", json!([])).await?);
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: 0,
        gas_limit: 21_000,
        max_fee_per_gas: 2 * BASE_FEE + priority,
        max_priority_fee_per_gas: priority,
        to: TxKind::Call(payee),
        value: U256::from(ONE_ETH),
        ..TxEip1559::default()
    };
    let signed = sign(me, tx);
    let hash = rpc.call("eth_sendRawTransaction", json!([signed.raw])).await?;
    assert_eq!(
        hash,
        json!(signed.hash),
        "the node names the transaction by its hash"
    );

    let receipt = rpc.receipt(signed.hash, PATIENCE).await?;
    let who = |a: Address| json!(a.to_string().to_lowercase());
    assert_eq!(receipt["status"], json!("0x1"), "{receipt}");
    assert_eq!(receipt["transactionHash"], hash);
    assert_eq!(receipt["from"], who(me.address()));
    assert_eq!(receipt["to"], who(payee));
    assert_eq!(receipt["contractAddress"], Value::Null);
    assert_eq!(receipt["type"], json!("0x2"));
    assert_eq!(receipt["gasUsed"], json!("0x5208"));
    assert_eq!(receipt["cumulativeGasUsed"], json!("0x5208"));
    assert_eq!(receipt["transactionIndex"], json!("0x0"));
    assert_eq!(receipt["blockNumber"], json!("0x1"), "mined at once, in block 1");
    assert_eq!(receipt["logs"], json!([]));
    assert_eq!(data(&receipt["logsBloom"]), Bytes::from(vec![0u8; 256]));
    let price = quantity(&receipt["effectiveGasPrice"]);
    assert_eq!(
        price,
        BASE_FEE + priority,
        "base fee plus the whole tip (the cap is not reached)"
    );

    let tx = rpc.call("eth_getTransactionByHash", json!([hash])).await?;
    assert_eq!(tx["hash"], hash);
    assert_eq!((&tx["from"], &tx["to"]), (&who(me.address()), &who(payee)));
    assert_eq!(
        (&tx["nonce"], &tx["value"], &tx["gas"]),
        (&json!("0x0"), &json!(value), &json!("0x5208"))
    );
    assert_eq!(
        (&tx["type"], &tx["chainId"], &tx["input"]),
        (&json!("0x2"), &json!(format!("{CHAIN_ID:#x}")), &json!("0x"))
    );
    assert_eq!(quantity(&tx["maxFeePerGas"]), 2 * BASE_FEE + priority);
    assert_eq!(
        (&tx["blockHash"], &tx["blockNumber"]),
        (&receipt["blockHash"], &receipt["blockNumber"])
    );

    let block = rpc
        .call("eth_getBlockByNumber", json!([receipt["blockNumber"], true]))
        .await?;
    assert_eq!(block["hash"], receipt["blockHash"]);
    assert_eq!(block["parentHash"], genesis["hash"]);
    assert_eq!(
        block["transactions"][0]["hash"], hash,
        "full transactions: {block}"
    );
    let by_hash = rpc
        .call("eth_getBlockByHash", json!([receipt["blockHash"], false]))
        .await?;
    assert_eq!(
        (&by_hash["number"], &by_hash["transactions"]),
        (&json!("0x1"), &json!([hash]))
    );
    assert_eq!(rpc.call("eth_blockNumber", json!([])).await?, json!("0x1"));

    let paid = quantity(&rpc.call("eth_getBalance", json!([payee, "latest"])).await?);
    assert_eq!(paid, ONE_ETH);
    let left = quantity(
        &rpc.call("eth_getBalance", json!([me.address(), "latest"]))
            .await?,
    );
    assert_eq!(
        left,
        DEV_BALANCE - ONE_ETH - 21_000 * price,
        "the sender pays value and gas"
    );
    for tag in ["latest", "pending"] {
        assert_eq!(
            rpc.call("eth_getTransactionCount", json!([me.address(), tag]))
                .await?,
            json!("0x1")
        );
    }
    Ok(())
}

/// A contract creation signed by the wallet: the forwarder, whose EIP-712 domain reads the
/// chain id from the EVM.
async fn deploy(rpc: &Rpc, me: &PrivateKeySigner) -> anyhow::Result<()> {
    let code = MedLedgerForwarder::BYTECODE.clone();
    let estimate = rpc
        .call("eth_estimateGas", json!([{"from": me.address(), "data": code}]))
        .await?;
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: 1,
        gas_limit: quantity(&estimate) as u64,
        max_fee_per_gas: 3 * BASE_FEE,
        max_priority_fee_per_gas: 0,
        to: TxKind::Create,
        input: code,
        ..TxEip1559::default()
    };
    let signed = sign(me, tx);
    rpc.call("eth_sendRawTransaction", json!([signed.raw])).await?;
    let receipt = rpc.receipt(signed.hash, PATIENCE).await?;
    let created = me.address().create(1);
    assert_eq!(
        receipt["status"],
        json!("0x1"),
        "the deployment succeeds with its estimate: {receipt}"
    );
    assert_eq!(
        receipt["contractAddress"],
        json!(created.to_string().to_lowercase())
    );
    assert_eq!(receipt["to"], Value::Null);
    assert!(quantity(&receipt["gasUsed"]) <= quantity(&estimate));

    let on_chain = rpc.call("eth_getCode", json!([created, "latest"])).await?;
    assert!(
        is_deployment_of(&data(&on_chain), &MedLedgerForwarder::DEPLOYED_BYTECODE),
        "{on_chain}"
    );
    let domain = MedLedgerForwarder::eip712DomainCall {};
    let call = json!({"from": me.address(), "to": created, "data": Bytes::from(domain.abi_encode())});
    let answer = data(&rpc.call("eth_call", json!([call, "latest"])).await?);
    let domain = MedLedgerForwarder::eip712DomainCall::abi_decode_returns(&answer)?;
    assert_eq!(domain.name, "MedLedgerForwarder");
    assert_eq!(
        domain.chainId,
        U256::from(CHAIN_ID),
        "CHAINID in the EVM is --chain-id"
    );
    assert_eq!(domain.verifyingContract, created);
    Ok(())
}

#[tokio::test]
async fn a_wallet_is_told_when_its_nonce_is_wrong_or_it_asks_the_node_to_sign() -> anyhow::Result<()> {
    let chain = Chain::medledger(CHAIN_ID)?;
    let rpc = chain.rpc();
    let me = &chain.signers[1];
    let transfer = |nonce| TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 2 * BASE_FEE,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(Address::repeat_byte(0x78)),
        value: U256::from(1),
        ..TxEip1559::default()
    };
    // As geth: a nonce far ahead is refused; one just ahead is held, pending, until the gap fills.
    let far = sign(me, transfer(1_000));
    let refusal = rpc.refusal("eth_sendRawTransaction", json!([far.raw])).await?;
    assert!(
        refusal.message.to_lowercase().contains("nonce too high"),
        "{refusal}"
    );
    assert!([-32000, -32003].contains(&refusal.code), "{refusal}");
    assert_eq!(
        rpc.call("eth_getTransactionByHash", json!([far.hash])).await?,
        Value::Null,
        "not kept"
    );
    let gap = sign(me, transfer(1));
    rpc.call("eth_sendRawTransaction", json!([gap.raw])).await?;
    let held = rpc.call("eth_getTransactionByHash", json!([gap.hash])).await?;
    assert_eq!(held["blockNumber"], Value::Null, "held, not mined: {held}");

    let first = sign(me, transfer(0));
    rpc.call("eth_sendRawTransaction", json!([first.raw])).await?;
    assert_eq!(rpc.receipt(first.hash, PATIENCE).await?["status"], json!("0x1"));
    assert_eq!(
        rpc.receipt(gap.hash, PATIENCE).await?["status"],
        json!("0x1"),
        "the gap filled"
    );
    let again = rpc.refusal("eth_sendRawTransaction", json!([first.raw])).await?;
    let words = ["nonce too low", "already known"];
    assert!(
        words.iter().any(|w| again.message.to_lowercase().contains(w)),
        "a replay is refused: {again}"
    );

    let ask = json!([{"from": me.address(), "to": Address::repeat_byte(0x78), "value": "0x1"}]);
    let refusal = rpc.refusal("eth_sendTransaction", ask).await?;
    // Unknown to a keyless node (-32601), or geth's "unknown account" (-32000).
    assert!(
        [-32601, -32000].contains(&refusal.code),
        "the node holds no keys: {refusal}"
    );
    let nonce = rpc
        .call("eth_getTransactionCount", json!([me.address(), "pending"]))
        .await?;
    assert_eq!(
        nonce,
        json!("0x2"),
        "nothing was sent for the wallet (nonces 0 and 1 were mined)"
    );
    let receipt = rpc
        .call("eth_getTransactionReceipt", json!([B256::repeat_byte(0xab)]))
        .await?;
    assert_eq!(receipt, Value::Null, "an unknown transaction has no receipt yet");
    Ok(())
}
