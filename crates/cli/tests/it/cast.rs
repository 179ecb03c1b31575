//! Foundry's `cast` against the embedded chain and against anvil: the same commands, a developer's
//! everyday session (chain id, balances, a transfer, a deployment, a call that writes and logs, its
//! storage, logs, an estimate, a receipt), and the same answers wherever two chains can agree
//! (everything but hashes and timestamps).

use std::path::Path;
use std::process::Command;

use alloy::primitives::Address;
use serde_json::Value;

use crate::util::{Chain, tool};

const CHAIN_ID: u64 = 424_243;

/// Init code of a contract whose every call stores its first argument at slot `caller` and logs it
/// with topic `caller`: `60 10 80 60 0b 60 00 39 60 00 f3` copies the 16-byte runtime
/// `6004358033556000523360206000a100` (CALLDATALOAD 4, SSTORE(caller), MSTORE, LOG1, STOP).
const CONTRACT: &str = "0x601080600b6000396000f36004358033556000523360206000a100";

#[tokio::test]
async fn cast_drives_the_embedded_chain_as_it_drives_anvil() -> anyhow::Result<()> {
    let Some(cast) = tool("cast") else {
        return Ok(());
    };
    let Some(anvil) = Chain::anvil(CHAIN_ID)? else {
        return Ok(());
    };
    let medledger = Chain::medledger(CHAIN_ID)?;
    let expected = tokio::task::spawn_blocking({
        let cast = cast.clone();
        move || session(&cast, &anvil)
    })
    .await??;
    let seen = tokio::task::spawn_blocking(move || session(&cast, &medledger)).await??;
    assert_eq!(seen.len(), expected.len());
    for ((step, got), (_, want)) in seen.iter().zip(&expected) {
        println!("cast {step}: {got}");
        assert_eq!(got, want, "`cast {step}`: medledger answered {got}, anvil {want}");
    }
    Ok(())
}

/// Runs the session against `chain`; returns each step with what cast printed (normalised where
/// the two chains may differ: hashes, block numbers, timestamps).
fn session(cast: &Path, chain: &Chain) -> anyhow::Result<Vec<(String, String)>> {
    let me = &chain.signers[0];
    let key = format!("0x{}", alloy::hex::encode(me.to_bytes()));
    let untouched = chain.signers[9].address().to_string();
    let payee = Address::repeat_byte(7).to_string();
    let run = |args: &[&str]| -> anyhow::Result<String> {
        // The node's URL right after the subcommand: `send --create CODE` takes what follows as
        // constructor arguments.
        let out = Command::new(cast)
            .arg(args[0])
            .args(["--rpc-url", &chain.url])
            .args(&args[1..])
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "`cast {}` against {} failed: {}",
            args.join(" "),
            chain.name,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    };
    let json = |args: &[&str]| -> anyhow::Result<Value> { Ok(serde_json::from_str(&run(args)?)?) };
    let mut seen = Vec::new();
    let mut note = |step: &str, value: String| seen.push((step.to_owned(), value));

    note("chain-id", run(&["chain-id"])?);
    note("balance (a funded account)", run(&["balance", &untouched])?);
    note(
        "gas-price is answered",
        (!run(&["gas-price"])?.is_empty()).to_string(),
    );

    let transfer = json(&[
        "send",
        "--json",
        "--private-key",
        &key,
        &payee,
        "--value",
        "1ether",
    ])?;
    note("send --value: status, gas", receipt_summary(&transfer));
    note("balance (the payee)", run(&["balance", &payee])?);

    let deployed = json(&["send", "--json", "--private-key", &key, "--create", CONTRACT])?;
    note("send --create: status, gas", receipt_summary(&deployed));
    let contract = deployed["contractAddress"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no contract address in {deployed}"))?
        .to_owned();
    note("contract address", contract.to_lowercase());
    note("code", run(&["code", &contract])?);

    let estimate = run(&[
        "estimate",
        "--from",
        &me.address().to_string(),
        &contract,
        "f(uint256)",
        "7",
    ])?;
    note("estimate", estimate);
    let call = json(&[
        "send",
        "--json",
        "--private-key",
        &key,
        &contract,
        "f(uint256)",
        "42",
    ])?;
    note(
        "send (a call that writes and logs): status, gas",
        receipt_summary(&call),
    );
    note("its log", logs_summary(&call["logs"]));
    let tx = call["transactionHash"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no transaction hash in {call}"))?
        .to_owned();
    note("receipt status", run(&["receipt", &tx, "status"])?);
    let slot = alloy::primitives::U256::from_be_slice(me.address().as_slice()).to_string();
    note(
        "storage at the caller's slot",
        run(&["storage", &contract, &slot])?,
    );
    note(
        "call (returns nothing)",
        run(&["call", &contract, "f(uint256)", "1"])?,
    );
    let logs = json(&["logs", "--json", "--from-block", "0", "--address", &contract])?;
    note("logs --address", logs_summary(&logs));
    note("nonce", run(&["nonce", &me.address().to_string()])?);
    let head: u64 = run(&["block-number"])?.parse()?;
    note("block-number is at least 3", (head >= 3).to_string());
    Ok(seen)
}

fn receipt_summary(receipt: &Value) -> String {
    format!("status {} gas {}", receipt["status"], receipt["gasUsed"])
}

fn logs_summary(logs: &Value) -> String {
    let logs = logs.as_array().cloned().unwrap_or_default();
    logs.iter()
        .map(|log| {
            format!(
                "{} {} {}",
                log["address"].as_str().unwrap_or_default().to_lowercase(),
                log["topics"],
                log["data"]
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
