//! An alloy provider over the in-process transport uses the chain as it would use any node:
//! deploy MedLedger, write, read, decode reverts, follow logs.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use medledger_contracts::{MedLedger, deploy, revert};

use crate::util::{TestChain, receipt};

#[tokio::test]
async fn alloy_deploys_and_drives_medledger_in_process() -> anyhow::Result<()> {
    let chain = TestChain::start("provider");
    let admin = chain.provider(0);
    assert_eq!(admin.get_chain_id().await?, crate::util::CHAIN_ID);
    let deployment = deploy(&admin, chain.signers[0].address(), 3600).await?;
    let ledger = MedLedger::new(deployment.ledger, admin.clone());

    let doctor = chain.signers[1].address();
    let hash = *ledger.registerDoctor(doctor).send().await?.tx_hash();
    let mined = receipt(&admin, hash).await;
    assert!(mined.status());
    assert!(ledger.isDoctor(doctor).call().await?);
    let registered = mined
        .inner
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<MedLedger::DoctorRegistered>().ok())
        .expect("a DoctorRegistered log");
    assert_eq!(registered.inner.data.doctor, doctor);

    // A stranger's call reverts with MedLedger's own error, which alloy decodes from eth_call.
    let stranger = chain.provider(2);
    let as_stranger = MedLedger::new(deployment.ledger, stranger);
    let error = as_stranger
        .registerDoctor(doctor)
        .call()
        .await
        .expect_err("only admins approve doctors");
    let why = revert::describe(&error.as_revert_data().expect("revert data")).expect("a MedLedger error");
    assert!(why.contains("lacks the role this needs (admin)"), "{why}");

    // Logs: by address and topic, over the blocks so far.
    let filter = Filter::new()
        .address(deployment.ledger)
        .event_signature(MedLedger::DoctorRegistered::SIGNATURE_HASH)
        .from_block(0u64);
    let logs = admin.get_logs(&filter).await?;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].transaction_hash, Some(hash));
    Ok(())
}

#[tokio::test]
async fn a_log_filter_reports_each_new_log_once() -> anyhow::Result<()> {
    let chain = TestChain::start("filters");
    let admin = chain.provider(0);
    let deployment = deploy(&admin, chain.signers[0].address(), 3600).await?;
    let ledger = MedLedger::new(deployment.ledger, admin.clone());
    let filter = Filter::new()
        .address(deployment.ledger)
        .event_signature(MedLedger::DoctorRegistered::SIGNATURE_HASH);
    let id = admin.new_filter(&filter).await?;
    let none: Vec<alloy::rpc::types::Log> = admin.get_filter_changes(id).await?;
    assert!(none.is_empty(), "nothing happened yet");

    for who in [1usize, 2] {
        let hash = *ledger
            .registerDoctor(chain.signers[who].address())
            .send()
            .await?
            .tx_hash();
        receipt(&admin, hash).await;
    }
    let first: Vec<alloy::rpc::types::Log> = admin.get_filter_changes(id).await?;
    assert_eq!(first.len(), 2, "both approvals are new");
    let again: Vec<alloy::rpc::types::Log> = admin.get_filter_changes(id).await?;
    assert!(again.is_empty(), "and reported only once");
    assert!(admin.uninstall_filter(id).await?);
    Ok(())
}

#[tokio::test]
async fn value_transfers_move_balances_and_nonces() -> anyhow::Result<()> {
    let chain = TestChain::start("transfer");
    let sender = chain.provider(0);
    let to = Address::repeat_byte(0x42);
    let tx = alloy::rpc::types::TransactionRequest::default()
        .to(to)
        .value(U256::from(1_000u64));
    let hash = *sender.send_transaction(tx).await?.tx_hash();
    let mined = receipt(&sender, hash).await;
    assert_eq!(mined.gas_used, 21_000);
    assert_eq!(sender.get_balance(to).await?, U256::from(1_000u64));
    // State at a past block is rebuilt from the log: before the transfer there was nothing.
    assert_eq!(sender.get_balance(to).block_id(0u64.into()).await?, U256::ZERO);
    assert_eq!(
        sender
            .get_transaction_count(chain.signers[0].address())
            .block_id(0u64.into())
            .await?,
        0
    );
    assert_eq!(sender.get_transaction_count(chain.signers[0].address()).await?, 1);
    let block = sender
        .get_block_by_number(mined.block_number.unwrap().into())
        .full()
        .await?
        .expect("the block");
    assert_eq!(block.header.hash, mined.block_hash.unwrap());
    assert_eq!(block.transactions.len(), 1);
    Ok(())
}
