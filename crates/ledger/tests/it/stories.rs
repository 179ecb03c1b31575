//! Registering, writing, relaying, indexing and reading, as doctors and patients do it.

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use medledger_core::blind::Match;
use medledger_core::entry::EntryKind;
use medledger_core::entry::PatientId;
use medledger_ledger::Error;
use medledger_ledger::records::{Action, Demographics, Proof};
use medledger_store::entries::Anchoring;
use medledger_store::requests::RequestStatus;
use serde_json::json;

use crate::hospital::Hospital;
use crate::hospital_story;

fn demographics(name: &str) -> Demographics {
    Demographics {
        name: name.into(),
        birth_date: "1815-12-10".into(),
        contact: "ada@example.org".into(),
    }
}

/// Registers a patient as `doctors[0]` and settles; returns their id and wallet.
pub(crate) async fn registered(h: &mut Hospital, name: &str) -> (PatientId, PrivateKeySigner) {
    let wallet = PrivateKeySigner::random();
    let doctor = h.doctors[0].clone();
    let (id, write) = h
        .records
        .register_patient(doctor.address(), wallet.address(), &demographics(name))
        .await
        .unwrap();
    h.sign(&doctor, &write).await;
    h.settle().await;
    (id, wallet)
}

/// A transfer of `value` wei from the relayer's account to itself with the account's `nonce`,
/// signed by hand (not by the relayer): its hash and bytes.
async fn relayer_transfer(h: &Hospital, nonce: u64, value: u64) -> (alloy::primitives::B256, Vec<u8>) {
    use alloy::eips::eip2718::Encodable2718;
    use alloy::network::{Ethereum, EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
    use alloy::rpc::types::TransactionRequest;
    let relayer = h.relayer_key.address();
    let tx = TransactionRequest::default()
        .with_from(relayer)
        .with_to(relayer)
        .with_value(alloy::primitives::U256::from(value))
        .with_nonce(nonce)
        .with_chain_id(h.deployment.chain_id)
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(100_000_000_000)
        .with_max_priority_fee_per_gas(1_000_000_000);
    let wallet = EthereumWallet::from(h.relayer_key.clone());
    let envelope = <TransactionRequest as NetworkTransactionBuilder<Ethereum>>::build(tx, &wallet)
        .await
        .unwrap();
    (*envelope.tx_hash(), envelope.encoded_2718())
}

/// Another relayer of `h`'s account over `store` (a restarted server's, or one set up otherwise).
fn another_relayer(h: &Hospital, store: medledger_store::Store) -> medledger_ledger::relayer::Relayer {
    medledger_ledger::relayer::Relayer::new(
        h.provider.clone(),
        store,
        h.relayer_key.clone(),
        h.deployment.chain_id,
        h.deployment.forwarder,
        h.deployment.ledger,
    )
}

async fn a_doctor_registers_a_patient_and_their_entries_read_back_verified(mut h: Hospital) {
    let doctor = h.doctors[0].clone();
    let (patient, wallet) = registered(&mut h, "Ada Lovelace").await;
    let stored = h.db.store.patient(patient).await.unwrap().unwrap();
    assert_eq!(
        stored.chain_id,
        Some(1),
        "the registration is confirmed and mirrored"
    );

    let condition = json!({"resourceType": "Condition", "code": {"text": "Asthma"}});
    let (record, revision, write) = h
        .records
        .record(doctor.address(), patient, EntryKind::Diagnosis, &condition, None)
        .await
        .unwrap();
    assert_eq!(revision, 1);
    h.sign(&doctor, &write).await;
    h.settle().await;
    let amended = json!({"resourceType": "Condition", "code": {"text": "Asthma, mild"}});
    let (_, revision, write) = h
        .records
        .record(
            doctor.address(),
            patient,
            EntryKind::Diagnosis,
            &amended,
            Some(record),
        )
        .await
        .unwrap();
    assert_eq!(revision, 2);
    h.sign(&doctor, &write).await;
    h.settle().await;

    for reader in [wallet.address(), doctor.address()] {
        let history = h.records.history(reader, patient).await.unwrap();
        assert_eq!(history.len(), 3, "demographics, the diagnosis and its amendment");
        let versions: Vec<u64> = history
            .iter()
            .map(|e| match e.proof {
                Proof::Verified { version, .. } => version,
                ref other => panic!("not verified: {other:?}"),
            })
            .collect();
        assert_eq!(versions, [1, 2, 3]);
        assert_eq!(
            history[2].content.as_ref().map(|c| c.value()),
            Some(amended.clone())
        );
        assert_eq!(
            history[0].content.as_ref().unwrap().value()["name"][0]["text"],
            "Ada Lovelace"
        );
    }

    // A doctor the patient never gave access, and a stranger: refused, and the refusal is audited.
    for outsider in [h.doctors[1].address(), Address::repeat_byte(9)] {
        let err = h.records.history(outsider, patient).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
    }
    let seen = h.db.store.audit_of_patient(patient, 100).await.unwrap();
    let reads: Vec<(&str, &str)> = seen
        .iter()
        .filter(|r| r.event.action == "read")
        .map(|r| (r.event.outcome.as_str(), r.event.detail.as_str()))
        .collect();
    assert_eq!(reads.len(), 4, "{reads:?}");
    assert_eq!(
        reads.iter().filter(|(outcome, _)| *outcome == "denied").count(),
        2
    );

    // A scan, attached and cited by an entry: the patient opens it, an outsider may not.
    let scan = b"%PDF-1.7 spirometry";
    let attached = h
        .records
        .attach(doctor.address(), patient, "application/pdf", scan)
        .await
        .unwrap();
    let document = json!({"resourceType": "DocumentReference", "content": [{"attachment": attached}]});
    let (_, _, write) = h
        .records
        .record(doctor.address(), patient, EntryKind::Note, &document, None)
        .await
        .unwrap();
    h.sign(&doctor, &write).await;
    h.settle().await;
    let id: medledger_core::attachment::AttachmentId = attached.id.parse().unwrap();
    let opened = h.records.attachment(wallet.address(), patient, id).await.unwrap();
    assert_eq!(opened, ("application/pdf".to_owned(), scan.to_vec()));
    let refused = h.records.attachment(h.doctors[1].address(), patient, id).await;
    assert!(matches!(refused, Err(Error::Forbidden(_))));
    let history = h.records.history(wallet.address(), patient).await.unwrap();
    let cited = history.last().unwrap();
    assert!(matches!(cited.proof, Proof::Verified { .. }));
    assert_eq!(
        cited.content.as_ref().unwrap().value()["content"][0]["attachment"]["sha256"],
        attached.sha256
    );

    // Search by name: a doctor finds them, a patient may not search.
    let found = h
        .records
        .search(doctor.address(), "ada lov", Match::Prefix)
        .await
        .unwrap();
    assert_eq!(found, vec![patient]);
    assert!(matches!(
        h.records.search(wallet.address(), "ada", Match::Exact).await,
        Err(Error::Forbidden(_))
    ));
    h.remove().await;
}
hospital_story!(a_doctor_registers_a_patient_and_their_entries_read_back_verified);

async fn concurrent_writes_of_one_doctor_all_land(mut h: Hospital) {
    let doctor = h.doctors[0].clone();
    let (patient, _) = registered(&mut h, "Grace Hopper").await;
    let writes = (0..16).map(|i| {
        let records = h.records.clone();
        let author = doctor.address();
        tokio::spawn(async move {
            let content = json!({"resourceType": "Observation", "valueQuantity": {"value": i}});
            records
                .record(author, patient, EntryKind::Observation, &content, None)
                .await
                .unwrap()
        })
    });
    let mut pending = Vec::new();
    for write in writes {
        pending.push(write.await.unwrap());
    }
    let mut nonces: Vec<_> = pending.iter().map(|(_, _, w)| w.request.nonce).collect();
    nonces.sort();
    nonces.dedup();
    assert_eq!(
        nonces.len(),
        16,
        "every write is signed for its own forwarder nonce"
    );
    for (_, _, write) in &pending {
        h.sign(&doctor, write).await;
    }
    h.settle().await;
    let entries = h.db.store.entries_of(patient).await.unwrap();
    assert_eq!(entries.len(), 17);
    let mut versions: Vec<u64> = entries
        .iter()
        .map(|e| match e.anchoring {
            Anchoring::Anchored { version, .. } => version,
            other => panic!("not anchored: {other:?} {:?}", e.reason),
        })
        .collect();
    versions.sort();
    assert_eq!(versions, (1..=17).collect::<Vec<_>>());
    h.remove().await;
}
hospital_story!(concurrent_writes_of_one_doctor_all_land);

async fn a_write_the_contract_refuses_is_rejected_with_its_reason(mut h: Hospital) {
    let (patient, patient_wallet) = registered(&mut h, "Alan Turing").await;
    let content = json!({"resourceType": "Condition"});

    // A doctor without consent is refused at once, as the contract would refuse them.
    let outsider = h.doctors[1].clone();
    let early = h
        .records
        .record(outsider.address(), patient, EntryKind::Diagnosis, &content, None)
        .await;
    assert!(matches!(early, Err(Error::Forbidden(_))), "{early:?}");

    // A doctor with consent writes; before they sign, the patient withdraws it. The contract,
    // not the server, has the last word: the request is rejected with its reason.
    let doctor = h.doctors[0].clone();
    let (_, _, write) = h
        .records
        .record(doctor.address(), patient, EntryKind::Diagnosis, &content, None)
        .await
        .unwrap();
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
    h.sign(&doctor, &write).await;
    h.settle().await;
    let request = h.db.store.request(write.request_id).await.unwrap().unwrap();
    assert_eq!(request.status, RequestStatus::Rejected);
    let reason = request.reason.unwrap();
    assert!(reason.contains("no current access"), "{reason}");
    let entries = h.db.store.entries_of(patient).await.unwrap();
    assert_eq!(entries.last().unwrap().anchoring, Anchoring::Rejected);
    let history = h
        .records
        .history(patient_wallet.address(), patient)
        .await
        .unwrap();
    assert!(
        history.iter().all(|e| e.proof.is_verified()),
        "a refused write is its author's to see, not part of the patient's record: {history:?}"
    );
    // The patient gives access back (until revoked).
    let grant = h
        .records
        .act(
            patient_wallet.address(),
            Some(patient),
            Action::GrantAccess {
                doctor: doctor.address(),
                expires_at: 0,
            },
        )
        .await
        .unwrap();
    h.sign(&patient_wallet, &grant).await;
    h.settle().await;
    // Nobody but the patient changes their consents, and only an admin approves doctors.
    let theirs = h.records.act(
        doctor.address(),
        Some(patient),
        Action::GrantAccess {
            doctor: outsider.address(),
            expires_at: 0,
        },
    );
    assert!(matches!(theirs.await, Err(Error::Forbidden(_))));
    let approve = h.records.act(
        doctor.address(),
        None,
        Action::ApproveDoctor {
            doctor: h.doctors[2].address(),
        },
    );
    assert!(matches!(approve.await, Err(Error::Forbidden(_))));

    // A signature from the wrong wallet is refused before anything is relayed.
    let doctor = h.doctors[0].clone();
    let (_, _, write) = h
        .records
        .record(doctor.address(), patient, EntryKind::Note, &content, None)
        .await
        .unwrap();
    let forged = alloy::signers::SignerSync::sign_hash_sync(&outsider, &write.signing_hash).unwrap();
    let err = h
        .records
        .sign(write.request_id, &forged.as_bytes())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongSigner { .. }), "{err}");
    h.remove().await;
}
hospital_story!(a_write_the_contract_refuses_is_rejected_with_its_reason);

async fn a_crash_between_storing_and_anchoring_loses_nothing(mut h: Hospital) {
    let doctor = h.doctors[0].clone();
    let (patient, _) = registered(&mut h, "Katherine Johnson").await;
    // Stored and signed, then the server "crashes" before relaying: a new relayer over the same
    // database picks the request up.
    let content = json!({"resourceType": "MedicationStatement"});
    let (_, _, first) = h
        .records
        .record(doctor.address(), patient, EntryKind::Medication, &content, None)
        .await
        .unwrap();
    h.sign(&doctor, &first).await;
    // Sent, and the server crashes before seeing the receipt: the request stays `submitted` with
    // its signed transaction; the new relayer follows it, and sending those bytes again anchors
    // nothing twice.
    let (_, _, second) = h
        .records
        .record(doctor.address(), patient, EntryKind::Note, &content, None)
        .await
        .unwrap();
    h.sign(&doctor, &second).await;
    let step = h.relayer.step().await.unwrap();
    assert_eq!(step.sent, 2);
    let submitted = h.db.store.request(second.request_id).await.unwrap().unwrap();
    assert_eq!(submitted.status, RequestStatus::Submitted);
    // Both went in one transaction, whose bytes are stored once, on its first request.
    let with_bytes = h.db.store.request(first.request_id).await.unwrap().unwrap();
    assert_eq!(with_bytes.tx_hash, submitted.tx_hash, "one transaction for both");
    let submitted = with_bytes;

    let store = medledger_store::Store::open(&h.db.url).await.unwrap();
    let restarted = another_relayer(&h, store);
    h.relayer = restarted;
    h.settle().await;
    use alloy::providers::Provider;
    let again = h
        .provider
        .send_raw_transaction(submitted.raw_tx.as_ref().unwrap())
        .await;
    assert!(again.is_err(), "the node refuses the same transaction twice");
    h.settle().await;
    let entries = h.db.store.entries_of(patient).await.unwrap();
    assert_eq!(entries.len(), 3);
    assert!(
        entries
            .iter()
            .all(|e| matches!(e.anchoring, Anchoring::Anchored { .. })),
        "{entries:?}"
    );
    let onchain = medledger_contracts::MedLedger::new(h.deployment.ledger, h.provider.clone())
        .getPatient(alloy::primitives::U256::from(1))
        .call()
        .await
        .unwrap();
    assert_eq!(onchain.entryCount, 3, "each entry anchored exactly once");
    h.remove().await;
}
hospital_story!(a_crash_between_storing_and_anchoring_loses_nothing);

async fn requests_in_one_transaction_run_or_fail_each_on_their_own(mut h: Hospital) {
    let doctor = h.doctors[0].clone();
    let other = h.doctors[1].clone();
    // A patient whose wallet sorts before the doctor's: their requests go first in the
    // transaction (a transaction holds its signers' requests in address order).
    let wallet = loop {
        let wallet = PrivateKeySigner::random();
        if wallet.address() < doctor.address() {
            break wallet;
        }
    };
    let (patient, registration) = h
        .records
        .register_patient(doctor.address(), wallet.address(), &demographics("Mary Seacole"))
        .await
        .unwrap();
    h.sign(&doctor, &registration).await;
    h.settle().await;
    let content = json!({"resourceType": "Condition", "code": {"text": "Cholera"}});
    // The doctor's write and the patient's revocation are signed together: each passes its
    // simulation at the chain's head, and both go in one transaction, the revocation first; the
    // write then fails on its own, with the contract's reason, and the rest runs.
    let (_, _, write) = h
        .records
        .record(doctor.address(), patient, EntryKind::Diagnosis, &content, None)
        .await
        .unwrap();
    let revoke = h
        .records
        .act(
            wallet.address(),
            Some(patient),
            Action::RevokeAccess {
                doctor: doctor.address(),
            },
        )
        .await
        .unwrap();
    let (_, unrelated) = h
        .records
        .register_patient(
            other.address(),
            PrivateKeySigner::random().address(),
            &demographics("John Snow"),
        )
        .await
        .unwrap();
    h.sign(&doctor, &write).await;
    h.sign(&wallet, &revoke).await;
    h.sign(&other, &unrelated).await;
    let step = h.relayer.step().await.unwrap();
    assert_eq!(step.sent, 3);
    let mut hashes = Vec::new();
    for id in [write.request_id, revoke.request_id, unrelated.request_id] {
        hashes.push(h.db.store.request(id).await.unwrap().unwrap().tx_hash);
    }
    assert!(
        hashes.iter().all(|h| h.is_some() && *h == hashes[0]),
        "one transaction: {hashes:?}"
    );
    h.settle().await;
    let refused = h.db.store.request(write.request_id).await.unwrap().unwrap();
    assert_eq!(refused.status, RequestStatus::Rejected);
    let reason = refused.reason.unwrap();
    assert!(reason.contains("no current access"), "{reason}");
    for id in [revoke.request_id, unrelated.request_id] {
        let request = h.db.store.request(id).await.unwrap().unwrap();
        assert_eq!(request.status, RequestStatus::Anchored, "{request:?}");
    }
    let entries = h.db.store.entries_of(patient).await.unwrap();
    assert_eq!(entries.last().unwrap().anchoring, Anchoring::Rejected);
    h.remove().await;
}
hospital_story!(requests_in_one_transaction_run_or_fail_each_on_their_own);

async fn a_stored_transaction_whose_nonce_another_took_goes_again(mut h: Hospital) {
    use alloy::providers::Provider;
    let doctor = h.doctors[0].clone();
    let (patient, _) = registered(&mut h, "Elizabeth Blackwell").await;
    let content = json!({"resourceType": "Observation"});
    let (_, _, write) = h
        .records
        .record(doctor.address(), patient, EntryKind::Observation, &content, None)
        .await
        .unwrap();
    h.sign(&doctor, &write).await;
    // As if a relayer that lost its lease had stored this request's transaction with the
    // account's next nonce, and another had sent a transaction of its own with the same nonce.
    let relayer = h.relayer_key.address();
    let nonce = h.provider.get_transaction_count(relayer).pending().await.unwrap();
    let (stored_hash, stored_raw) = relayer_transfer(&h, nonce, 0).await;
    h.db.store
        .mark_submitted(write.request_id, nonce, stored_hash, &stored_raw)
        .await
        .unwrap();
    let (_, taken) = relayer_transfer(&h, nonce, 1).await;
    h.provider
        .send_raw_transaction(&taken)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    // The stored one can never be mined now: its request goes again, in a new transaction.
    let step = h.relayer.step().await.unwrap();
    assert_eq!(step.requeued, 1, "{step:?}");
    h.settle().await;
    let request = h.db.store.request(write.request_id).await.unwrap().unwrap();
    assert_eq!(request.status, RequestStatus::Anchored, "{request:?}");
    assert_ne!(request.tx_hash, Some(stored_hash));
    let entries = h.db.store.entries_of(patient).await.unwrap();
    assert!(matches!(
        entries.last().unwrap().anchoring,
        Anchoring::Anchored { .. }
    ));
    h.remove().await;
}
hospital_story!(a_stored_transaction_whose_nonce_another_took_goes_again);

async fn the_access_trail_says_what_happened_to_what(mut h: Hospital) {
    let doctor = h.doctors[0].clone();
    let stranger = h.doctors[1].clone();
    let (patient, wallet) = registered(&mut h, "Florence Nightingale").await;
    let condition = json!({"resourceType": "Condition", "code": {"text": "Typhus"}});
    let (anchored, _, write) = h
        .records
        .record(doctor.address(), patient, EntryKind::Diagnosis, &condition, None)
        .await
        .unwrap();
    h.sign(&doctor, &write).await;
    let (declined, _, write) = h
        .records
        .record(doctor.address(), patient, EntryKind::Medication, &condition, None)
        .await
        .unwrap();
    h.records
        .decline(doctor.address(), write.request_id)
        .await
        .unwrap();
    let (waiting, _, _) = h
        .records
        .record(doctor.address(), patient, EntryKind::Note, &condition, None)
        .await
        .unwrap();
    let emergency = h
        .records
        .open_emergency(
            stranger.address(),
            patient,
            "unconscious in the emergency room",
            600,
        )
        .await
        .unwrap();
    h.sign(&stranger, &emergency).await;
    h.settle().await;
    h.records.history(stranger.address(), patient).await.unwrap();

    let trail = h.records.trail(wallet.address(), patient).await.unwrap();
    assert!(trail.integrity.intact, "{:?}", trail.integrity);
    let trail = trail.events;
    let of = |record: &medledger_core::entry::RecordId| {
        trail
            .iter()
            .find(|e| e.action == "write" && e.record.as_deref() == Some(record.to_string().as_str()))
            .unwrap_or_else(|| panic!("no write of {record} in {trail:?}"))
    };
    let first = of(&anchored);
    assert_eq!(first.kind, Some(EntryKind::Diagnosis as u8));
    assert!(
        first.result.as_deref().unwrap().starts_with("anchored (version "),
        "{first:?}"
    );
    assert_eq!(of(&declined).result.as_deref(), Some("declined by its signer"));
    assert_eq!(of(&declined).kind, Some(EntryKind::Medication as u8));
    assert_eq!(
        of(&waiting).result.as_deref(),
        Some("awaiting its author's signature")
    );
    let opened = trail.iter().find(|e| e.action == "emergency-access").unwrap();
    assert!(
        opened.result.as_deref().unwrap().starts_with("anchored"),
        "{opened:?}"
    );
    let read = trail
        .iter()
        .find(|e| e.action == "read" && e.actor == stranger.address())
        .unwrap();
    assert_eq!(
        read.emergency_reason.as_deref(),
        Some("unconscious in the emergency room"),
        "the reason shows beside the emergency read"
    );
    // The trail is the patient's alone.
    assert!(matches!(
        h.records.trail(doctor.address(), patient).await,
        Err(Error::Forbidden(_))
    ));
    h.remove().await;
}
hospital_story!(the_access_trail_says_what_happened_to_what);

async fn a_receipt_is_acted_on_once_its_block_is_confirmed(mut h: Hospital) {
    use alloy::providers::Provider;
    let doctor = h.doctors[0].clone();
    let (patient, _) = registered(&mut h, "Grace Hopper").await;
    // A relayer that waits two blocks past a receipt's, as with `--confirmations 2`.
    h.relayer = another_relayer(&h, h.db.store.clone())
        .with_nonces(h.records.nonces().clone())
        .with_confirmations(2);
    let content = json!({"resourceType": "Observation"});
    let (_, _, write) = h
        .records
        .record(doctor.address(), patient, EntryKind::Observation, &content, None)
        .await
        .unwrap();
    h.sign(&doctor, &write).await;
    assert_eq!(h.relayer.step().await.unwrap().sent, 1);
    let hash =
        h.db.store
            .request(write.request_id)
            .await
            .unwrap()
            .unwrap()
            .tx_hash
            .unwrap();
    let mut mined_in = None;
    for _ in 0..200 {
        if let Some(receipt) = h.provider.get_transaction_receipt(hash).await.unwrap() {
            mined_in = receipt.block_number;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mined_in = mined_in.expect("mined");
    // Mined, but at the head: not acted on yet.
    let step = h.relayer.step().await.unwrap();
    assert_eq!(step.included, 0, "{step:?}");
    let request = h.db.store.request(write.request_id).await.unwrap().unwrap();
    assert_eq!(request.status, RequestStatus::Submitted);
    // Two more blocks (transfers of the relayer's account, sent by hand).
    let from = h.relayer_key.address();
    while h.provider.get_block_number().await.unwrap() < mined_in + 2 {
        let nonce = h.provider.get_transaction_count(from).pending().await.unwrap();
        let (_, transfer) = relayer_transfer(&h, nonce, 0).await;
        h.provider
            .send_raw_transaction(&transfer)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
    h.relayer.forget_nonce().await;
    let step = h.relayer.step().await.unwrap();
    assert_eq!(step.included, 1, "{step:?}");
    h.settle().await;
    let request = h.db.store.request(write.request_id).await.unwrap().unwrap();
    assert_eq!(request.status, RequestStatus::Anchored);
    h.remove().await;
}
hospital_story!(a_receipt_is_acted_on_once_its_block_is_confirmed);
