//! Bad input gets a JSON-RPC error with a standard code and a message that says what is wrong;
//! the chain keeps going.

use alloy::primitives::{Address, Bytes, TxKind};
use medledger_chain::rpc::handle_body;
use serde_json::{Value, json};

use crate::util::{TestChain, receipt, signed, signed_on};

fn code(error: &Value) -> i64 {
    error["code"].as_i64().expect("an error code")
}

fn message(error: &Value) -> &str {
    error["message"].as_str().expect("an error message")
}

fn send(chain: &TestChain, raw: &Bytes) -> Result<Value, Value> {
    chain.rpc("eth_sendRawTransaction", json!([raw]))
}

#[test]
fn malformed_bodies_and_unknown_methods() {
    let chain = TestChain::start("envelope");
    let reply = |body: &str| handle_body(&chain.api, body.as_bytes());

    let parse = reply("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ").expect("a reply");
    assert_eq!(code(&parse["error"]), -32700);

    let not_rpc = reply("{\"id\": 1, \"method\": \"eth_chainId\"}").expect("a reply");
    assert_eq!(code(&not_rpc["error"]), -32600, "jsonrpc 2.0 is required");

    let unknown = chain.rpc("eth_mineGold", json!([])).expect_err("no such method");
    assert_eq!(code(&unknown), -32601);
    assert!(message(&unknown).contains("eth_mineGold"));

    let bad_param = chain
        .rpc("eth_getBalance", json!(["0x1234"]))
        .expect_err("a short address");
    assert_eq!(code(&bad_param), -32602);
    assert!(
        message(&bad_param).contains("parameter 0 (address)"),
        "{}",
        message(&bad_param)
    );

    let missing = chain
        .rpc("eth_getTransactionReceipt", json!([]))
        .expect_err("no hash");
    assert!(
        message(&missing).contains("missing parameter 0"),
        "{}",
        message(&missing)
    );

    assert_eq!(
        code(&reply("[]").expect("a reply")["error"]),
        -32600,
        "an empty batch"
    );
    let notification = reply("{\"jsonrpc\": \"2.0\", \"method\": \"eth_chainId\"}");
    assert!(notification.is_none(), "a notification gets no reply");

    let batch = reply(
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"},\
          {\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_nope\"}]",
    )
    .expect("a reply");
    assert_eq!(batch[0]["result"], json!("0x4d4c"));
    assert_eq!(code(&batch[1]["error"]), -32601);
}

#[test]
fn refused_transactions_say_why() {
    let chain = TestChain::start("refusals");
    let (alice, to) = (&chain.signers[0], TxKind::Call(Address::repeat_byte(9)));

    let other_chain = signed_on(1, alice, 0, to, 1, Bytes::new(), 21_000);
    let error = send(&chain, &other_chain).expect_err("wrong chain id");
    assert!(
        message(&error).contains("invalid chain id"),
        "{}",
        message(&error)
    );

    let too_much_gas = signed(alice, 0, to, 1, Bytes::new(), 30_000_001);
    assert!(message(&send(&chain, &too_much_gas).unwrap_err()).contains("exceeds block gas limit"));

    let too_little_gas = signed(alice, 0, to, 1, Bytes::new(), 20_000);
    assert!(message(&send(&chain, &too_little_gas).unwrap_err()).contains("intrinsic gas too low"));

    let penniless = alloy::signers::local::PrivateKeySigner::random();
    let broke = signed(&penniless, 0, to, 1, Bytes::new(), 21_000);
    let error = send(&chain, &broke).unwrap_err();
    assert_eq!(code(&error), -32000);
    assert!(
        message(&error).contains("insufficient funds"),
        "{}",
        message(&error)
    );

    let far_future = signed(alice, 1_000, to, 1, Bytes::new(), 21_000);
    assert!(message(&send(&chain, &far_future).unwrap_err()).contains("nonce too high"));

    let garbage = Bytes::from_static(&[0x02, 0xf8, 0x01, 0x02]);
    assert!(message(&send(&chain, &garbage).unwrap_err()).contains("invalid transaction encoding"));

    let mut forged = signed(alice, 0, to, 1, Bytes::new(), 21_000).to_vec();
    let n = forged.len();
    forged[n - 20] ^= 0x55; // inside the signature's s value
    let error = send(&chain, &Bytes::from(forged)).unwrap_err();
    assert_eq!(
        code(&error),
        -32000,
        "a bad signature is refused: {}",
        message(&error)
    );

    let huge = signed(alice, 0, to, 1, Bytes::from(vec![1u8; 200_000]), 29_000_000);
    assert!(message(&send(&chain, &huge).unwrap_err()).contains("oversized"));

    assert_eq!(chain.chain.read().head().header.number, 0, "nothing was mined");
}

#[tokio::test]
async fn nonces_too_low_are_refused_and_gaps_are_held_until_filled() {
    let chain = TestChain::start("nonces");
    let (alice, to) = (&chain.signers[0], TxKind::Call(Address::repeat_byte(9)));
    let provider = chain.provider(0);

    let second = signed(alice, 1, to, 1, Bytes::new(), 21_000);
    let held = send(&chain, &second).expect("a nonce just ahead is held");
    assert_eq!(
        chain
            .rpc("eth_getTransactionCount", json!([alice.address(), "pending"]))
            .unwrap(),
        json!("0x0"),
        "a gap does not count as pending"
    );
    let first = signed(alice, 0, to, 1, Bytes::new(), 21_000);
    send(&chain, &first).expect("the gap is filled");
    let hash: alloy::primitives::B256 = serde_json::from_value(held).unwrap();
    let mined = receipt(&provider, hash).await;
    assert!(mined.status(), "the held transaction ran once its gap was filled");

    let again = send(&chain, &first).expect_err("an old nonce");
    assert!(message(&again).contains("already known") || message(&again).contains("nonce too low"));
    let replay = signed(alice, 0, to, 2, Bytes::new(), 21_000);
    assert!(message(&send(&chain, &replay).unwrap_err()).contains("nonce too low"));
}

#[test]
fn calls_and_estimates_report_reverts_like_geth() {
    let chain = TestChain::start("reverts");
    // Init code that reverts with Error("no"): mstore the ABI-encoded reason and revert with it.
    let reason = alloy::sol_types::Revert::from("no");
    let data = alloy::sol_types::SolError::abi_encode(&reason);
    let mut init = Vec::new();
    for (i, chunk) in data.chunks(32).enumerate() {
        let mut word = [0u8; 32];
        word[..chunk.len()].copy_from_slice(chunk);
        init.push(0x7f); // PUSH32 word
        init.extend_from_slice(&word);
        init.extend_from_slice(&[0x60, (i * 32) as u8, 0x52]); // PUSH1 offset, MSTORE
    }
    init.extend_from_slice(&[0x60, data.len() as u8, 0x60, 0x00, 0xfd]); // REVERT(0, len)
    let request = json!([{ "from": chain.signers[0].address(), "data": Bytes::from(init) }]);

    let error = chain.rpc("eth_call", request.clone()).expect_err("it reverts");
    assert_eq!(code(&error), 3);
    assert_eq!(message(&error), "execution reverted: no");
    assert_eq!(error["data"], json!(Bytes::from(data.clone())));

    let error = chain.rpc("eth_estimateGas", request).expect_err("it reverts");
    assert_eq!(code(&error), 3);
    assert_eq!(error["data"], json!(Bytes::from(data)));

    let future = chain
        .rpc("eth_getBalance", json!([chain.signers[0].address(), "0x5"]))
        .unwrap_err();
    assert!(message(&future).contains("not mined yet"), "{}", message(&future));
}
