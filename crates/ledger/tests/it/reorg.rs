//! The indexer against anvil's reorganisations (`anvil_rollback`, `anvil_reorg`).

use std::path::{Path, PathBuf};

use alloy::network::EthereumWallet;
use alloy::node_bindings::Anvil;
use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use medledger_contracts::MedLedger;
use medledger_ledger::indexer::Indexer;

/// Foundry's native anvil (never the npm wrapper: killing that leaves anvil running). Under
/// `CI=true` a missing anvil fails the test; elsewhere it is skipped with a message.
fn anvil_bin() -> Option<PathBuf> {
    let native = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if native.is_file() {
        return Some(native);
    }
    let how = "install it with `npm --prefix contracts install --ignore-scripts` (or run .ci/run)";
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!(
            "anvil is required under CI=true and missing at {}: {how}",
            native.display()
        );
    }
    eprintln!("skipping: anvil is not installed; {how}");
    None
}

async fn register(admin: &DynProvider, ledger: Address, doctor: Address) {
    // Polls for the receipt itself: alloy's block heartbeat ignores heights it has seen before,
    // and after a rollback the new blocks reuse them.
    let approve = async {
        // The nonce is asked for each time: a cached one would run ahead of a rolled-back chain.
        let from = admin.get_accounts().await.unwrap()[0];
        let nonce = admin.get_transaction_count(from).await.unwrap();
        let pending = MedLedger::new(ledger, admin.clone())
            .registerDoctor(doctor)
            .nonce(nonce)
            .send()
            .await
            .unwrap();
        let hash = *pending.tx_hash();
        loop {
            if admin.get_transaction_receipt(hash).await.unwrap().is_some() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), approve)
        .await
        .expect("the approval is mined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_follows_the_chain_through_reorganisations() {
    let Some(bin) = anvil_bin() else { return };
    let anvil = Anvil::at(bin).prague().try_spawn().expect("anvil starts");
    let admin_key: PrivateKeySigner = anvil.keys()[0].clone().into();
    let admin = ProviderBuilder::new()
        .wallet(EthereumWallet::from(admin_key.clone()))
        .connect_http(anvil.endpoint_url())
        .erased();
    let deployed = medledger_contracts::deploy(&admin, admin_key.address(), 0)
        .await
        .unwrap();
    let start = admin.get_block_number().await.unwrap() - 1;
    let db = medledger_testkit::db::sqlite().await;
    let store = db.store.clone();
    let [a, b, c, d] = [1u8, 2, 3, 4].map(Address::repeat_byte);

    // Confirmation depth 0: every block is applied at once, so a reorg must be undone.
    let eager = Indexer::new(admin.clone(), store.clone(), deployed.ledger, start, 0);
    register(&admin, deployed.ledger, a).await;
    eager.sync().await.unwrap();
    assert!(store.is_doctor(a).await.unwrap());

    // The block that approved `a` is rolled back and replaced by one approving `b`.
    let _: () = admin.raw_request("anvil_rollback".into(), (1,)).await.unwrap();
    let _: () = admin
        .raw_request("anvil_dropAllTransactions".into(), ())
        .await
        .unwrap();
    register(&admin, deployed.ledger, b).await;
    let progress = eager.sync().await.unwrap();
    assert_eq!(progress.reorgs, 1, "{progress:?}");
    assert!(
        !store.is_doctor(a).await.unwrap(),
        "the orphaned approval is undone"
    );
    assert!(store.is_doctor(b).await.unwrap());

    // Depth 2: a block one deep is not trusted yet, so replacing it (anvil_reorg) costs nothing.
    let careful = Indexer::new(admin.clone(), store.clone(), deployed.ledger, start, 2);
    careful.sync().await.unwrap();
    register(&admin, deployed.ledger, c).await;
    careful.sync().await.unwrap();
    assert!(!store.is_doctor(c).await.unwrap(), "not confirmed yet");
    let no_transactions: Vec<serde_json::Value> = vec![];
    let _: () = admin
        .raw_request("anvil_reorg".into(), (1, no_transactions))
        .await
        .unwrap();
    let _: () = admin
        .raw_request("anvil_dropAllTransactions".into(), ())
        .await
        .unwrap();
    register(&admin, deployed.ledger, d).await;
    let _: () = admin.raw_request("anvil_mine".into(), (2,)).await.unwrap();
    let progress = careful.sync().await.unwrap();
    assert_eq!(progress.reorgs, 0, "{progress:?}");
    assert!(
        !store.is_doctor(c).await.unwrap(),
        "the reorganised-away approval never reached the store"
    );
    assert!(store.is_doctor(d).await.unwrap());
    assert!(store.is_doctor(b).await.unwrap());

    // A restart resumes from the stored cursor: nothing is applied twice.
    let events = store.mirrored_event_count().await.unwrap();
    let restarted = Indexer::new(admin.clone(), store.clone(), deployed.ledger, start, 2);
    assert_eq!(restarted.sync().await.unwrap().events, 0);
    assert_eq!(store.mirrored_event_count().await.unwrap(), events);
    db.remove().await;
}
