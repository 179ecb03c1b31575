//! No signed write is ever lost to a forwarder nonce: a doctor's writes signed out of order, all
//! at once, or behind one that is declined or refused, are each anchored once, at their own
//! version. (Regression: signing the third of three stored writes first got it rejected with "the
//! request claims to be from X but was signed by Y", and eight writes of one doctor signed at
//! once lost some of them the same way.)

use std::collections::HashSet;
use std::sync::Arc;

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use medledger_core::entry::EntryKind;
use medledger_core::entry::PatientId;
use medledger_ledger::records::{Action, PendingWrite, Records};
use medledger_store::entries::Anchoring;
use medledger_store::requests::{REOFFERED, RequestStatus};
use serde_json::json;

use crate::hospital::Hospital;
use crate::hospital_story;
use crate::stories::registered;

/// A write of an observation by `doctor`, stored and awaiting its signature.
async fn write(records: &Records, doctor: &PrivateKeySigner, patient: PatientId, value: u64) -> PendingWrite {
    let content = json!({"resourceType": "Observation", "valueQuantity": {"value": value}});
    records
        .record(doctor.address(), patient, EntryKind::Observation, &content, None)
        .await
        .unwrap()
        .2
}

/// Signs request `id` as it stands now (after a re-offer, its new nonce), as a wallet does.
async fn sign_current(h: &Hospital, wallet: &PrivateKeySigner, id: i64) {
    let request = h.db.store.request(id).await.unwrap().unwrap();
    let typed = medledger_contracts::forward::ForwardRequest::new(
        request.signer,
        h.deployment.ledger,
        request.calldata.into(),
        request.gas,
        alloy::primitives::U256::from(request.forward_nonce),
        request.deadline,
    );
    let hash = typed.signing_hash(&medledger_contracts::forward::domain(
        h.deployment.chain_id,
        h.deployment.forwarder,
    ));
    let signature = wallet.sign_hash_sync(&hash).unwrap();
    h.records.sign(id, &signature.as_bytes()).await.unwrap();
}

/// Every entry of `patient` but the registration is anchored, each at its own version, and no
/// request was refused.
async fn all_anchored_once(h: &Hospital, patient: PatientId, expected: usize) {
    let entries = h.db.store.entries_of(patient).await.unwrap();
    assert_eq!(entries.len(), expected + 1, "every write is stored once");
    let mut versions = HashSet::new();
    for e in &entries {
        match e.anchoring {
            Anchoring::Anchored { version, .. } => {
                assert!(versions.insert(version), "version {version} twice")
            }
            ref other => panic!("an entry is {other:?}: {:?}", e.reason),
        }
    }
    assert_eq!(
        versions,
        (1..=expected as u64 + 1).collect::<HashSet<_>>(),
        "the versions run 1 to n without a gap"
    );
    assert!(
        h.db.store
            .requests_in(RequestStatus::Rejected, 10)
            .await
            .unwrap()
            .is_empty(),
        "no request was refused"
    );
}

async fn three_writes_signed_in_every_order_all_land(mut h: Hospital) {
    let doctor = h.doctors[0].clone();
    let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    let (patient, _) = registered(&mut h, "Katherine Johnson").await;
    for (round, order) in orders.iter().enumerate() {
        let mut writes = Vec::new();
        for i in 0..3 {
            writes.push(write(&h.records, &doctor, patient, (round * 3 + i) as u64).await);
        }
        let mut signed = HashSet::new();
        for &i in order {
            h.sign(&doctor, &writes[i]).await;
            signed.insert(i);
            // The relayer runs between signatures: a later write signed first must wait, and
            // says for which of the doctor's earlier writes, still unsigned.
            h.relayer.step().await.unwrap();
            h.indexer.sync().await.unwrap();
            let request = h.db.store.request(writes[i].request_id).await.unwrap().unwrap();
            let unsigned_before = (0..i).find(|j| !signed.contains(j));
            assert_eq!(
                h.records.waits_for(&request).await.unwrap(),
                unsigned_before.map(|j| writes[j].request_id),
                "order {order:?}, write {i} signed: {:?}",
                request.status
            );
        }
        h.settle().await;
        for w in &writes {
            let request = h.db.store.request(w.request_id).await.unwrap().unwrap();
            assert_eq!(
                request.status,
                RequestStatus::Anchored,
                "order {order:?}: {:?}",
                request.reason
            );
        }
    }
    all_anchored_once(&h, patient, orders.len() * 3).await;
    h.remove().await;
}
hospital_story!(three_writes_signed_in_every_order_all_land);

async fn eight_writers_on_one_key_lose_nothing(mut h: Hospital) {
    const WRITERS: usize = 8;
    const ROUNDS: usize = 50;
    let doctor = h.doctors[0].clone();
    let (patient, _) = registered(&mut h, "Dorothy Vaughan").await;
    for round in 0..ROUNDS {
        let tasks: Vec<_> = (0..WRITERS)
            .map(|i| {
                let records: Arc<Records> = h.records.clone();
                let doctor = doctor.clone();
                tokio::spawn(async move {
                    let w = write(&records, &doctor, patient, (round * WRITERS + i) as u64).await;
                    let signature = doctor.sign_hash_sync(&w.signing_hash).unwrap();
                    records.sign(w.request_id, &signature.as_bytes()).await.unwrap();
                    w.request_id
                })
            })
            .collect();
        // The relayer and the indexer run while the writes are stored and signed.
        while !tasks.iter().all(tokio::task::JoinHandle::is_finished) {
            h.relayer.step().await.unwrap();
            h.indexer.sync().await.unwrap();
            tokio::task::yield_now().await;
        }
        for task in tasks {
            task.await.unwrap();
        }
    }
    h.settle().await;
    let reoffered =
        h.db.store
            .requests_in(RequestStatus::AwaitingSignature, 10)
            .await
            .unwrap();
    assert!(
        reoffered.is_empty(),
        "no write had to be signed twice: {:?}",
        reoffered.iter().map(|r| &r.reason).collect::<Vec<_>>()
    );
    all_anchored_once(&h, patient, ROUNDS * WRITERS).await;
    h.remove().await;
}
hospital_story!(eight_writers_on_one_key_lose_nothing);

async fn writes_behind_a_declined_or_refused_one_are_offered_again_and_land(mut h: Hospital) {
    let doctor = h.doctors[0].clone();
    let (patient, patient_wallet) = registered(&mut h, "Mary Jackson").await;

    // Three writes; the third is signed, then the second is declined: the third moves down to the
    // free nonce and is offered for signature again, with the reason.
    let writes = [
        write(&h.records, &doctor, patient, 1).await,
        write(&h.records, &doctor, patient, 2).await,
        write(&h.records, &doctor, patient, 3).await,
    ];
    h.sign(&doctor, &writes[2]).await;
    h.sign(&doctor, &writes[0]).await;
    // The first lands; the third waits for the second, for as long as it takes.
    for _ in 0..100 {
        h.relayer.step().await.unwrap();
        h.indexer.sync().await.unwrap();
        let first = h.db.store.request(writes[0].request_id).await.unwrap().unwrap();
        if first.status == RequestStatus::Anchored {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let waiting = h.db.store.request(writes[2].request_id).await.unwrap().unwrap();
    assert_eq!(waiting.status, RequestStatus::Signed, "{:?}", waiting.reason);
    let reoffered = h
        .records
        .decline(doctor.address(), writes[1].request_id)
        .await
        .unwrap();
    assert_eq!(reoffered, vec![writes[2].request_id]);
    let third = h.db.store.request(writes[2].request_id).await.unwrap().unwrap();
    assert_eq!(third.status, RequestStatus::AwaitingSignature);
    assert_eq!(third.reason.as_deref(), Some(REOFFERED));
    assert_eq!(third.forward_nonce, writes[1].request.nonce.to::<u64>());
    // The old signature no longer fits, and the refusal says what to do.
    let stale = doctor.sign_hash_sync(&writes[2].signing_hash).unwrap();
    let err = h
        .records
        .sign(writes[2].request_id, &stale.as_bytes())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sign its current typed data"), "{err}");
    sign_current(&h, &doctor, writes[2].request_id).await;
    h.settle().await;
    for (w, status) in writes.iter().zip([
        RequestStatus::Anchored,
        RequestStatus::Rejected,
        RequestStatus::Anchored,
    ]) {
        assert_eq!(
            h.db.store.request(w.request_id).await.unwrap().unwrap().status,
            status
        );
    }
    // The declined write's content is erased; its row stays, rejected.
    let entries = h.db.store.entries_of(patient).await.unwrap();
    let declined = entries
        .iter()
        .find(|e| e.anchoring == Anchoring::Rejected)
        .unwrap();
    assert!(declined.sealed.is_empty(), "the unsigned content is erased");

    // Two writes signed at once; before they are relayed the patient withdraws the doctor's
    // access, so the contract refuses the first. The second, signed for the nonce after it, is
    // offered again (not refused for its nonce), and lands once access is back.
    let (other, _) = registered(&mut h, "Annie Easley").await;
    let refused = write(&h.records, &doctor, patient, 4).await;
    let behind = write(&h.records, &doctor, other, 5).await;
    let revoke = h
        .records
        .act(
            patient_wallet.address(),
            Some(patient),
            Action::RevokeAccess {
                doctor: doctor.address(),
            },
        )
        .await
        .unwrap();
    h.sign(&patient_wallet, &revoke).await;
    h.settle().await;
    h.sign(&doctor, &refused).await;
    h.sign(&doctor, &behind).await;
    h.settle().await;
    let first = h.db.store.request(refused.request_id).await.unwrap().unwrap();
    assert_eq!(first.status, RequestStatus::Rejected);
    assert!(first.reason.unwrap().contains("no current access"));
    let second = h.db.store.request(behind.request_id).await.unwrap().unwrap();
    assert_eq!(
        second.status,
        RequestStatus::AwaitingSignature,
        "{:?}",
        second.reason
    );
    assert_eq!(second.reason.as_deref(), Some(REOFFERED));
    sign_current(&h, &doctor, behind.request_id).await;
    h.settle().await;
    let second = h.db.store.request(behind.request_id).await.unwrap().unwrap();
    assert_eq!(second.status, RequestStatus::Anchored, "{:?}", second.reason);
    h.remove().await;
}
hospital_story!(writes_behind_a_declined_or_refused_one_are_offered_again_and_land);
