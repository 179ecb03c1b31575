//! Several servers on one PostgreSQL: one owner per lease, taken over when the owner goes; one
//! writer at a time per signer's nonces, across servers; settled requests told to every server.

use std::time::Duration;

use alloy::primitives::Address;
use medledger_store::Store;

/// Two stores on one fresh PostgreSQL database, as two servers open it.
async fn two_servers() -> Option<(medledger_testkit::db::Fresh, Store)> {
    let fresh = medledger_testkit::db::postgres().await?;
    let other = Store::open(&fresh.url).await.expect("a second server opens it");
    Some((fresh, other))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_has_one_owner_and_passes_on_when_it_goes() {
    let Some((fresh, other)) = two_servers().await else {
        return;
    };
    let mut lease = fresh
        .store
        .try_lease("relayer")
        .await
        .unwrap()
        .expect("free at first");
    assert!(lease.held().await);
    assert!(other.try_lease("relayer").await.unwrap().is_none(), "one owner");
    assert!(
        other.try_lease("indexer").await.unwrap().is_some(),
        "another piece of work is another lease"
    );
    // The owner dies (its connection goes): the other takes it over.
    drop(lease);
    let mut taken = None;
    for _ in 0..50 {
        taken = other.try_lease("relayer").await.unwrap();
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(taken.is_some(), "taken over once the owner went");
    other.close().await;
    fresh.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signers_nonces_are_held_still_across_servers() {
    let Some((fresh, other)) = two_servers().await else {
        return;
    };
    let signer = Address::repeat_byte(7);
    let held = fresh.store.lock_signer(signer).await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(300), other.lock_signer(signer)).await;
    assert!(waiting.is_err(), "the other server waits while one holds it");
    let unrelated =
        tokio::time::timeout(Duration::from_secs(5), other.lock_signer(Address::repeat_byte(8))).await;
    assert!(unrelated.is_ok(), "another signer's is free");
    drop(held);
    let after = tokio::time::timeout(Duration::from_secs(5), other.lock_signer(signer)).await;
    assert!(after.is_ok(), "released when dropped");
    drop(after);
    drop(unrelated);
    other.close().await;
    fresh.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settled_requests_are_told_to_every_server() {
    let Some((fresh, other)) = two_servers().await else {
        return;
    };
    let mut listener = other.listen_settled().await.unwrap().expect("PostgreSQL listens");
    let ids: Vec<i64> = (1..=1000).collect();
    fresh.store.notify_settled(&ids).await.unwrap();
    let mut told = Vec::new();
    while told.len() < ids.len() {
        let batch = tokio::time::timeout(Duration::from_secs(5), listener.next())
            .await
            .expect("told within seconds")
            .unwrap();
        match batch {
            medledger_store::shared::Told::Settled(ids) => told.extend(ids),
            other => panic!("only settled requests were told: {other:?}"),
        }
    }
    assert_eq!(told, ids);
    fresh.store.notify_signed().await.unwrap();
    let signed = tokio::time::timeout(Duration::from_secs(5), listener.next()).await;
    assert_eq!(
        signed.expect("told").unwrap(),
        medledger_store::shared::Told::Signed
    );
    drop(listener);
    other.close().await;
    fresh.remove().await;
}
