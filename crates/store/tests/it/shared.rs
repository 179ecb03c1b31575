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
    let taken = take_relaying(&other).await;
    assert!(taken.is_some(), "taken over once the owner went");
    other.close().await;
    fresh.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_lease_passed_on_stores_nothing_more() {
    use medledger_store::requests::Submitted;
    let Some((fresh, other)) = two_servers().await else {
        return;
    };
    let store = &fresh.store;
    let (first, second) = (signed_request(store, 0).await, signed_request(store, 1).await);
    let submitted = |id: i64, nonce: u64| Submitted {
        tx_nonce: nonce,
        tx_hash: alloy::primitives::B256::repeat_byte(nonce as u8 + 1),
        raw_tx: vec![1, 2, 3],
        requests: vec![(id, nonce)],
    };
    let lease = store.try_lease("relayer").await.unwrap().expect("free at first");
    let fence = lease.fence();
    store.take_over(&lease).await.unwrap();
    store
        .mark_submitted_many(&[submitted(first, 0)], &fence)
        .await
        .expect("stored while the lease is held");
    // Its lease connection goes (a dropped connection, an administrator's kill): the other
    // server takes the work over, and the first one's next write is refused.
    drop(lease);
    let taken = take_relaying(&other).await.expect("taken over");
    other.take_over(&taken).await.unwrap();
    let late = store.mark_submitted_many(&[submitted(second, 1)], &fence).await;
    assert!(
        matches!(late, Err(medledger_store::Error::LeaseLost(ref work)) if work == "relayer"),
        "{late:?}"
    );
    let request = store.request(second).await.unwrap().unwrap();
    assert_eq!(
        request.status,
        medledger_store::requests::RequestStatus::Signed,
        "nothing stored"
    );
    other
        .mark_submitted_many(&[submitted(second, 1)], &taken.fence())
        .await
        .expect("the new holder stores");
    other.close().await;
    fresh.remove().await;
}

/// The relaying's lease, once `store` can take it (within a second), as a standing-by server does.
async fn take_relaying(store: &Store) -> Option<medledger_store::shared::Lease> {
    for _ in 0..50 {
        if let Some(lease) = store.try_lease("relayer").await.unwrap() {
            return Some(lease);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A signed request of a signer of its own, with forwarder nonce `nonce`.
async fn signed_request(store: &Store, nonce: u64) -> i64 {
    let id = store
        .record_entries(
            &[],
            &medledger_store::requests::NewRequest {
                purpose: "test".into(),
                signer: Address::repeat_byte(0x40 + nonce as u8),
                calldata: vec![1],
                gas: 1,
                deadline: u64::MAX / 4,
                forward_nonce: nonce,
            },
        )
        .await
        .unwrap();
    assert!(store.sign_request(id, &[7; 65]).await.unwrap());
    id
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
