//! What the store must do, told as the server uses it.

use alloy::primitives::{Address, B256};
use medledger_core::attachment::{self, AttachmentId};
use medledger_core::audit::{self, AuditEvent};
use medledger_core::blind::{BlindIndexKey, Match};
use medledger_core::crypto::{Binding, DataKey, Keyring, MasterKey};
use medledger_core::emergency::{self, ReasonId};
use medledger_core::entry::EntryKind;
use medledger_core::entry::{self, Entry, PatientId, RecordId};
use medledger_store::entries::{Anchoring, NewEntry};
use medledger_store::mirror::{ChainEvent, LoggedEvent};
use medledger_store::patients::NewPatient;
use medledger_store::requests::{NewRequest, RequestStatus};
use medledger_store::{Error, Store};

use medledger_testkit::db::Fresh;
use medledger_testkit::on_both;

const DOCTOR: Address = Address::repeat_byte(0xd0);

struct Hospital {
    keyring: Keyring,
    index: BlindIndexKey,
}

impl Hospital {
    async fn new(store: &Store) -> Self {
        let keyring = Keyring::new(MasterKey::generate().unwrap(), vec![]);
        let (_, wrapped) = keyring.new_index_key().unwrap();
        let stored = store.put_wrapped_key_once("blind-index", &wrapped).await.unwrap();
        let index = keyring.index_key(&stored).unwrap();
        Self { keyring, index }
    }

    fn entry(&self, key: &DataKey, patient: PatientId, kind: EntryKind, content: &str) -> NewEntry {
        let record = RecordId::random().unwrap();
        let e = Entry {
            record,
            revision: 1,
            kind,
            author: DOCTOR,
            recorded_at: 1_000,
            content: content.into(),
        };
        let salt = entry::new_salt().unwrap();
        let sealed = key
            .seal(
                &Binding {
                    patient,
                    record,
                    revision: 1,
                },
                &entry::sealed_payload(&salt, &e.content),
            )
            .unwrap();
        NewEntry {
            patient,
            record,
            revision: 1,
            kind,
            author: DOCTOR,
            recorded_at: 1_000,
            sealed,
            commitment: e.commitment(&salt),
        }
    }

    /// Registers a patient with their demographics as the first entry; returns them, their data
    /// key, the entry and the request id.
    /// A patient to register with `wallet` (no name tags), with a data key of their own.
    fn new_patient(&self, wallet: Address) -> NewPatient {
        let id = PatientId::random().unwrap();
        let (_, data_key) = self.keyring.new_data_key(id).unwrap();
        NewPatient {
            id,
            wallet,
            registered_by: DOCTOR,
            data_key,
            name_tags: vec![],
            created_at: 3_000,
        }
    }

    async fn register(
        &self,
        store: &Store,
        wallet: Address,
        name: &str,
    ) -> (PatientId, DataKey, NewEntry, i64) {
        let id = PatientId::random().unwrap();
        let (key, wrapped) = self.keyring.new_data_key(id).unwrap();
        let patient = NewPatient {
            id,
            wallet,
            registered_by: DOCTOR,
            data_key: wrapped,
            name_tags: self.index.tags_for_name(name),
            created_at: 1_000,
        };
        let demographics = self.entry(
            &key,
            id,
            EntryKind::Demographics,
            &format!(r#"{{"name":"{name}"}}"#),
        );
        let request_id = store
            .register_patient(&patient, std::slice::from_ref(&demographics), &request(DOCTOR, 0))
            .await
            .unwrap();
        (id, key, demographics, request_id)
    }
}

fn request(signer: Address, forward_nonce: u64) -> NewRequest {
    NewRequest {
        purpose: "register-patient".into(),
        signer,
        calldata: vec![1, 2, 3],
        gas: 300_000,
        deadline: 4_000_000_000,
        forward_nonce,
    }
}

async fn a_patient_is_stored_with_their_first_entry_and_its_request_in_one_transaction(db: &Fresh) {
    let store = &db.store;
    let h = Hospital::new(store).await;
    let wallet = Address::repeat_byte(1);
    let (id, key, demographics, request_id) = h.register(store, wallet, "Ada Lovelace").await;

    let patient = store.patient_by_wallet(wallet).await.unwrap().unwrap();
    assert_eq!(patient.id, id);
    assert_eq!(patient.chain_id, None);
    let entries = store.entries_of(id).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].commitment, demographics.commitment);
    assert_eq!(entries[0].anchoring, Anchoring::Pending);
    let unwrapped = h.keyring.data_key(id, &patient.data_key).unwrap();
    let binding = Binding {
        patient: id,
        record: demographics.record,
        revision: 1,
    };
    assert_eq!(
        unwrapped.open(&binding, &entries[0].sealed).unwrap(),
        key.open(&binding, &demographics.sealed).unwrap()
    );
    let stored = store.request(request_id).await.unwrap().unwrap();
    assert_eq!(stored.status, RequestStatus::AwaitingSignature);

    // The same wallet again: refused, and nothing of the second attempt is left behind.
    let again = NewPatient {
        id: PatientId::random().unwrap(),
        wallet,
        registered_by: DOCTOR,
        data_key: patient.data_key.clone(),
        name_tags: h.index.tags_for_name("Someone Else"),
        created_at: 2_000,
    };
    let err = store
        .register_patient(&again, &[], &request(DOCTOR, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateWallet(w) if w == wallet), "{err}");
    assert_eq!(store.patients().await.unwrap().len(), 1);
    assert_eq!(store.held_nonces(DOCTOR).await.unwrap().len(), 1);
    let tags = h.index.tags_for_query("someone", Match::Exact).unwrap();
    assert!(store.search_names(&tags, 10).await.unwrap().is_empty());
}
on_both!(a_patient_is_stored_with_their_first_entry_and_its_request_in_one_transaction);

async fn a_refused_registration_frees_its_wallet(db: &Fresh) {
    let store = &db.store;
    let h = Hospital::new(store).await;

    // Declined before it was signed: it can never land, so the wallet is free at once.
    let wallet = Address::repeat_byte(7);
    let (first, _, _, request_id) = h.register(store, wallet, "Grace Hopper").await;
    store
        .mark_rejected(request_id, "declined: the signer did not sign it")
        .await
        .unwrap();
    let (second, _, _, _) = h.register(store, wallet, "Grace Hopper").await;
    assert_ne!(first, second);
    assert_eq!(store.patient_by_wallet(wallet).await.unwrap().unwrap().id, second);
    assert!(store.patient(first).await.unwrap().is_none());
    assert!(store.entries_of(first).await.unwrap().is_empty());
    let tags = h.index.tags_for_query("grace hopper", Match::Exact).unwrap();
    assert_eq!(store.search_names(&tags, 10).await.unwrap(), vec![second]);
    // Its request stays, refused, with the reason.
    let refused = store.request(request_id).await.unwrap().unwrap();
    assert_eq!(refused.status, RequestStatus::Rejected);

    // Still waiting for its signature: the wallet stays taken.
    let err = store
        .register_patient(&h.new_patient(wallet), &[], &request(DOCTOR, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateWallet(w) if w == wallet), "{err}");

    // Signed, then refused by the contract: the signed request stays valid at the forwarder until
    // its deadline (anyone who saw it could send it again), so the wallet stays taken till then.
    let wallet = Address::repeat_byte(8);
    let (_, _, _, request_id) = h.register(store, wallet, "Alan Turing").await;
    store.sign_many(&[(request_id, vec![1; 65])]).await.unwrap();
    store
        .mark_rejected(request_id, "MedLedger: not a doctor")
        .await
        .unwrap();
    let err = store
        .register_patient(&h.new_patient(wallet), &[], &request(DOCTOR, 2))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateWallet(w) if w == wallet), "{err}");

    // The same, past its deadline: it can never land, and the wallet is free.
    let wallet = Address::repeat_byte(9);
    let new = h.new_patient(wallet);
    let expired = NewRequest {
        deadline: 1_000,
        ..request(DOCTOR, 3)
    };
    let request_id = store.register_patient(&new, &[], &expired).await.unwrap();
    store.sign_many(&[(request_id, vec![1; 65])]).await.unwrap();
    store
        .mark_rejected(request_id, "MedLedger: not a doctor")
        .await
        .unwrap();
    let again = h.new_patient(wallet);
    store
        .register_patient(&again, &[], &request(DOCTOR, 4))
        .await
        .unwrap();
    assert_eq!(
        store.patient_by_wallet(wallet).await.unwrap().unwrap().id,
        again.id
    );
}
on_both!(a_refused_registration_frees_its_wallet);

async fn unsigned_requests_past_their_deadline_are_ended_with_their_entries(db: &Fresh) {
    let store = &db.store;
    let h = Hospital::new(store).await;
    let (_, _, _, live) = h.register(store, Address::repeat_byte(10), "Still Waiting").await;
    let new = h.new_patient(Address::repeat_byte(11));
    let (key, data_key) = h.keyring.new_data_key(new.id).unwrap();
    let new = NewPatient { data_key, ..new };
    let demographics = h.entry(&key, new.id, EntryKind::Demographics, r#"{"name":"Left Behind"}"#);
    let late = NewRequest {
        deadline: 1_000,
        ..request(DOCTOR, 1)
    };
    let expired = store
        .register_patient(&new, std::slice::from_ref(&demographics), &late)
        .await
        .unwrap();

    assert_eq!(store.expire_unsigned(999).await.unwrap(), Vec::<i64>::new());
    assert_eq!(store.expire_unsigned(1_000).await.unwrap(), vec![expired]);
    let ended = store.request(expired).await.unwrap().unwrap();
    assert_eq!(ended.status, RequestStatus::Rejected);
    assert!(ended.reason.unwrap().starts_with("expired"));
    let entries = store.entries_of(new.id).await.unwrap();
    assert_eq!(entries[0].anchoring, Anchoring::Rejected);
    assert!(entries[0].reason.as_deref().unwrap().starts_with("expired"));
    // The one still within its deadline waits on; a second sweep ends nothing more.
    assert_eq!(
        store.request(live).await.unwrap().unwrap().status,
        RequestStatus::AwaitingSignature
    );
    assert!(store.expire_unsigned(2_000).await.unwrap().is_empty());
}
on_both!(unsigned_requests_past_their_deadline_are_ended_with_their_entries);

async fn names_are_found_by_blind_index_only(db: &Fresh) {
    let store = &db.store;
    let h = Hospital::new(store).await;
    let (ada, ..) = h.register(store, Address::repeat_byte(1), "Ada Lovelace").await;
    let (adam, ..) = h.register(store, Address::repeat_byte(2), "Adam Smith").await;
    let (_grace, ..) = h.register(store, Address::repeat_byte(3), "Grace Hopper").await;
    let search = |q: &'static str, how| {
        let tags = h.index.tags_for_query(q, how).unwrap();
        async move {
            let mut found = store.search_names(&tags, 10).await.unwrap();
            found.sort();
            found
        }
    };
    let mut both = vec![ada, adam];
    both.sort();
    assert_eq!(search("ada", Match::Exact).await, vec![ada]);
    assert_eq!(search("ad", Match::Prefix).await, both);
    assert_eq!(search("ADA love", Match::Prefix).await, vec![ada]);
    assert_eq!(search("smith adam", Match::Exact).await, vec![adam]);
    assert!(search("turing", Match::Prefix).await.is_empty());
}
on_both!(names_are_found_by_blind_index_only);

async fn a_stolen_database_reveals_no_canary(db: &Fresh) {
    let store = &db.store;
    let h = Hospital::new(store).await;
    let (id, key, _, _) = h
        .register(store, Address::repeat_byte(1), "Zebulon Canarysmith")
        .await;
    let diagnosis = h.entry(&key, id, EntryKind::Diagnosis, r#"{"code":"CANARY-ASTHMA-7731"}"#);
    store
        .record_entries(&[diagnosis], &request(DOCTOR, 1))
        .await
        .unwrap();
    // An attachment: its bytes and its media type are sealed too.
    let scan = AttachmentId::random().unwrap();
    let report = b"CANARY-SCAN-REPORT-5521";
    let (sealed, _) = attachment::seal(&key, id, scan, "text/x-canary", report).unwrap();
    store.put_attachment(scan, id, &sealed, 1).await.unwrap();
    let (owner, stored) = store.attachment(scan).await.unwrap().unwrap();
    assert_eq!(owner, id);
    let opened = attachment::open(&key, id, scan, &stored).unwrap();
    assert_eq!(opened, ("text/x-canary".to_owned(), report.to_vec()));
    // An emergency reason: sealed too; the chain would get only its salted hash.
    let reason_id = ReasonId::random().unwrap();
    let (sealed, _) = emergency::seal(&key, id, reason_id, "CANARY-REASON-seizure").unwrap();
    store
        .record_emergency(reason_id, id, DOCTOR, &sealed, &request(DOCTOR, 2), 1)
        .await
        .unwrap();
    let reasons = store.emergencies_of(id).await.unwrap();
    assert_eq!(
        emergency::open(&key, id, reason_id, &reasons[0].sealed)
            .unwrap()
            .0,
        "CANARY-REASON-seizure"
    );
    // A log line for the audit trail must not carry health data either.
    store
        .append_audit(vec![AuditEvent {
            at: 1,
            actor: DOCTOR,
            action: "write".into(),
            patient: Some(id),
            record: None,
            outcome: "allowed".into(),
            detail: String::new(),
        }])
        .await
        .unwrap();
    let dump = db.dump().await;
    assert!(
        dump.len() > 1000,
        "the dump holds the database ({} bytes)",
        dump.len()
    );
    for canary in [
        "Zebulon",
        "zebulon",
        "Canarysmith",
        "canarysmith",
        "CANARY-ASTHMA-7731",
        "CANARY-SCAN",
        "CANARY-REASON",
        "text/x-canary",
    ] {
        assert!(
            !contains(&dump, canary.as_bytes()),
            "{canary:?} is readable in the stored bytes"
        );
    }
    // The check can fail: the same scan finds a value that is stored in the clear.
    assert!(contains(&dump, b"register-patient"));
}
on_both!(a_stolen_database_reveals_no_canary);

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn the_outbox_moves_requests_through_their_states(db: &Fresh) {
    let store = &db.store;
    let h = Hospital::new(store).await;
    let (id, key, _, first) = h.register(store, Address::repeat_byte(1), "Ada Lovelace").await;
    let note = h.entry(&key, id, EntryKind::Note, r#"{"text":"fine"}"#);
    let second = store.record_entries(&[note], &request(DOCTOR, 1)).await.unwrap();
    assert_eq!(store.held_nonces(DOCTOR).await.unwrap().len(), 2);

    assert!(store.sign_request(first, &[7; 65]).await.unwrap());
    assert!(
        !store.sign_request(first, &[8; 65]).await.unwrap(),
        "a signed request is not re-signed"
    );
    let signed = store.requests_in(RequestStatus::Signed, 10).await.unwrap();
    assert_eq!(signed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![first]);
    assert_eq!(signed[0].signature.as_deref(), Some(&[7u8; 65][..]));

    store
        .mark_submitted(first, 5, B256::repeat_byte(9), &[1, 2])
        .await
        .unwrap();
    assert_eq!(store.highest_tx_nonce().await.unwrap(), Some(5));
    store.mark_included(first, 12).await.unwrap();
    let r = store.request(first).await.unwrap().unwrap();
    assert_eq!(
        (r.status, r.block_number, r.raw_tx),
        (RequestStatus::Included, Some(12), Some(vec![1, 2]))
    );

    store.mark_rejected(second, "NoAccess").await.unwrap();
    assert_eq!(store.held_nonces(DOCTOR).await.unwrap().len(), 0);
    let entries = store.entries_of(id).await.unwrap();
    assert_eq!(entries[1].anchoring, Anchoring::Rejected);
    assert_eq!(entries[1].reason.as_deref(), Some("NoAccess"));
    assert_eq!(
        entries[0].anchoring,
        Anchoring::Pending,
        "the other request's entry is untouched"
    );
}
on_both!(the_outbox_moves_requests_through_their_states);

async fn confirmed_events_anchor_entries_and_a_reorganisation_undoes_them(db: &Fresh) {
    let store = &db.store;
    let h = Hospital::new(store).await;
    let wallet = Address::repeat_byte(1);
    let (id, _, demographics, request_id) = h.register(store, wallet, "Ada Lovelace").await;
    store.sign_request(request_id, &[7; 65]).await.unwrap();
    let tx = B256::repeat_byte(0x77);
    store.mark_submitted(request_id, 0, tx, &[1]).await.unwrap();
    let event = |block, position, event| LoggedEvent {
        block_number: block,
        position,
        tx_hash: tx,
        event,
    };
    let events = [
        LoggedEvent {
            block_number: 5,
            position: 0,
            tx_hash: B256::repeat_byte(0x55),
            event: ChainEvent::DoctorRegistered { doctor: DOCTOR },
        },
        event(
            7,
            0,
            ChainEvent::PatientAdded {
                patient: 1,
                wallet,
                registered_by: DOCTOR,
            },
        ),
        event(
            7,
            1,
            ChainEvent::AccessGranted {
                patient: 1,
                doctor: DOCTOR,
                expires_at: u64::MAX,
            },
        ),
        event(
            7,
            2 << 10,
            ChainEvent::HistoryAppended {
                patient: 1,
                version: 1,
                kind: 5,
                supersedes: 0,
                commitment: demographics.commitment,
                author: DOCTOR,
            },
        ),
    ];
    let anchored = store
        .apply_events(&events, &[(5, B256::repeat_byte(5))], (7, B256::repeat_byte(7)))
        .await
        .unwrap();
    // A transaction's events do not say which of its requests ran (one may carry many, some
    // failed): the request is anchored once the relayer has found it executed, in a block the
    // mirror has applied.
    assert!(anchored.is_empty(), "{anchored:?}");
    assert_eq!(
        store.request(request_id).await.unwrap().unwrap().status,
        RequestStatus::Submitted
    );
    assert!(store.anchor_included().await.unwrap().is_empty());
    store.mark_included(request_id, 7).await.unwrap();
    assert_eq!(store.anchor_included().await.unwrap(), vec![request_id]);
    // Applying the same range twice changes nothing.
    let again = store
        .apply_events(&events, &[], (7, B256::repeat_byte(7)))
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(store.mirrored_event_count().await.unwrap(), 4);
    assert_eq!(store.cursor().await.unwrap(), Some((7, B256::repeat_byte(7))));
    assert!(store.is_doctor(DOCTOR).await.unwrap());
    assert_eq!(
        store.access_of(1, DOCTOR).await.unwrap().consent_expires_at,
        u64::MAX
    );
    assert_eq!(store.patient(id).await.unwrap().unwrap().chain_id, Some(1));
    let entries = store.entries_of(id).await.unwrap();
    assert_eq!(
        entries[0].anchoring,
        Anchoring::Anchored {
            version: 1,
            tx_hash: tx,
            block_number: 7
        }
    );
    assert_eq!(
        store.request(request_id).await.unwrap().unwrap().status,
        RequestStatus::Anchored
    );
    assert_eq!(store.mirrored_history(1).await.unwrap().len(), 1);

    // Block 7 is gone from the chain: back to block 5, and the anchors with it.
    store.rollback_to((5, B256::repeat_byte(5))).await.unwrap();
    assert_eq!(store.cursor().await.unwrap(), Some((5, B256::repeat_byte(5))));
    assert!(store.is_doctor(DOCTOR).await.unwrap(), "block 5's role survives");
    assert_eq!(store.access_of(1, DOCTOR).await.unwrap().consent_expires_at, 0);
    assert_eq!(store.patient(id).await.unwrap().unwrap().chain_id, None);
    assert_eq!(
        store.entries_of(id).await.unwrap()[0].anchoring,
        Anchoring::Pending
    );
    assert_eq!(
        store.request(request_id).await.unwrap().unwrap().status,
        RequestStatus::Submitted
    );
    assert!(store.mirrored_history(1).await.unwrap().is_empty());
    assert_eq!(
        store.applied_blocks(10).await.unwrap(),
        vec![(5, B256::repeat_byte(5))]
    );
}
on_both!(confirmed_events_anchor_entries_and_a_reorganisation_undoes_them);

async fn the_audit_log_chains_and_detects_edits(db: &Fresh) {
    let store = &db.store;
    let event = |action: &str| AuditEvent {
        at: 5,
        actor: DOCTOR,
        action: action.into(),
        patient: Some(PatientId([1; 16])),
        record: Some(RecordId([2; 16])),
        outcome: "allowed".into(),
        detail: "via consent".into(),
    };
    let first = store
        .append_audit(vec![event("read"), event("write")])
        .await
        .unwrap();
    let second = store.append_audit(vec![event("read")]).await.unwrap();
    assert_eq!(second[0].prev, first[1].hash);
    assert_eq!(store.audit_head().await.unwrap(), Some((3, second[0].hash)));
    let log = store.audit_log(0, 100).await.unwrap();
    assert_eq!(log.len(), 3);
    assert!(audit::check(&log, &[(3, second[0].hash)]).is_empty());
    assert_eq!(
        store
            .audit_of_patient(PatientId([1; 16]), 10)
            .await
            .unwrap()
            .len(),
        3
    );

    // A group commit of 250 events (more than one multi-row statement) chains on in order.
    let many = store
        .append_audit((0..250).map(|_| event("read")).collect())
        .await
        .unwrap();
    assert_eq!(many[0].prev, second[0].hash);
    let log = store.audit_log(0, 1000).await.unwrap();
    assert_eq!(log.len(), 253);
    assert_eq!(log.last().unwrap().sequence, 253);
    assert!(audit::check(&log, &[(253, many[249].hash)]).is_empty());
}
on_both!(the_audit_log_chains_and_detects_edits);

async fn rotating_the_master_key_rewraps_every_key_and_nothing_else(db: &Fresh) {
    let store = &db.store;
    let h = Hospital::new(store).await;
    let (id, _, demographics, _) = h.register(store, Address::repeat_byte(1), "Ada Lovelace").await;
    let before = store.entries_of(id).await.unwrap();

    let new = MasterKey::generate().unwrap();
    let rotating = Keyring::new(new.clone(), vec![h.keyring.current().clone()]);
    assert_eq!(
        store.rewrap_keys(&rotating).await.unwrap(),
        2,
        "the index key and one data key"
    );
    assert_eq!(
        store.rewrap_keys(&rotating).await.unwrap(),
        0,
        "a second run has nothing to do"
    );

    let after = Keyring::new(new, vec![]);
    let patient = store.patient(id).await.unwrap().unwrap();
    let key = after.data_key(id, &patient.data_key).unwrap();
    let entries = store.entries_of(id).await.unwrap();
    assert_eq!(
        entries[0].sealed, before[0].sealed,
        "entries are not re-encrypted"
    );
    let binding = Binding {
        patient: id,
        record: demographics.record,
        revision: 1,
    };
    assert!(key.open(&binding, &entries[0].sealed).is_ok());
    let index = after
        .index_key(&store.wrapped_key("blind-index").await.unwrap().unwrap())
        .unwrap();
    assert_eq!(index.tags_for_name("Ada"), h.index.tags_for_name("Ada"));
}
on_both!(rotating_the_master_key_rewraps_every_key_and_nothing_else);

async fn batched_writes_keep_each_entry_with_its_own_request(db: &Fresh) {
    let store = &db.store;
    let h = Hospital::new(store).await;
    let (id, key, _, _) = h.register(store, Address::repeat_byte(1), "Ada Lovelace").await;
    // 250 writes in one commit: more than one multi-row statement of each kind.
    let writes: Vec<(Vec<NewEntry>, NewRequest)> = (0..250)
        .map(|k| {
            (
                vec![h.entry(&key, id, EntryKind::Observation, &format!(r#"{{"k":{k}}}"#))],
                request(DOCTOR, k + 1),
            )
        })
        .collect();
    let ids = store.record_many(&writes).await.unwrap();
    assert_eq!(ids.len(), 250);
    for (k, request_id) in ids.iter().enumerate() {
        let stored = store.request(*request_id).await.unwrap().unwrap();
        assert_eq!(
            stored.forward_nonce,
            k as u64 + 1,
            "request ids come back in the order given"
        );
        if k % 7 == 0 {
            store.mark_rejected(*request_id, &format!("r{k}")).await.unwrap();
        }
    }
    let entries = store.entries_of(id).await.unwrap();
    assert_eq!(entries.len(), 251);
    for (k, e) in entries[1..].iter().enumerate() {
        assert_eq!(e.commitment, writes[k].0[0].commitment);
        let expected = (k % 7 == 0).then(|| format!("r{k}"));
        assert_eq!(e.reason, expected, "entry {k} belongs to request {}", ids[k]);
    }
}
on_both!(batched_writes_keep_each_entry_with_its_own_request);

async fn a_write_and_its_audit_event_are_stored_together_or_not_at_all(db: &Fresh) {
    let store = &db.store;
    let h = Hospital::new(store).await;
    let (id, key, _, _) = h.register(store, Address::repeat_byte(1), "Ada Lovelace").await;
    let written = |patient: PatientId, entry: &NewEntry| AuditEvent {
        at: 5_000,
        actor: DOCTOR,
        action: "write".into(),
        patient: Some(patient),
        record: Some(entry.record),
        outcome: "allowed".into(),
        detail: "stored, awaiting signature".into(),
    };
    let entry = h.entry(&key, id, EntryKind::Observation, r#"{"k":1}"#);
    store
        .record_many_audited(
            &[(vec![entry.clone()], request(DOCTOR, 1))],
            vec![written(id, &entry)],
        )
        .await
        .unwrap();
    assert_eq!(store.entries_of(id).await.unwrap().len(), 2);
    let log = store.audit_log(0, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event.record, Some(entry.record));

    // A write that cannot be stored (no such patient) leaves no audit event behind either.
    let nobody = PatientId::random().unwrap();
    let orphan = h.entry(&key, nobody, EntryKind::Observation, r#"{"k":2}"#);
    store
        .record_many_audited(
            &[(vec![orphan.clone()], request(DOCTOR, 2))],
            vec![written(nobody, &orphan)],
        )
        .await
        .unwrap_err();
    assert_eq!(store.audit_log(0, 10).await.unwrap().len(), 1);
}
on_both!(a_write_and_its_audit_event_are_stored_together_or_not_at_all);

async fn a_sign_in_nonce_opens_one_session_only(db: &Fresh) {
    let store = &db.store;
    store.issue_nonce("n0nce0001", 10_000).await.unwrap();
    store.issue_nonce("n0nce0002", 10_000).await.unwrap();
    // Ten sign-ins race with the same message: exactly one uses the nonce.
    let racers = (0..10).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.consume_nonce("n0nce0001", 5_000).await.unwrap() })
    });
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1);
    assert!(
        !store.consume_nonce("n0nce0001", 5_000).await.unwrap(),
        "replayed"
    );
    assert!(
        !store.consume_nonce("n0nce0002", 10_000).await.unwrap(),
        "expired"
    );
    assert!(!store.consume_nonce("never-issued", 0).await.unwrap());

    let token = B256::repeat_byte(0x5e);
    let who = Address::repeat_byte(0xa1);
    store.open_session(token, who, 1_000, 100_000).await.unwrap();
    let idle = 30_000;
    let session = store.use_session(token, 20_000, idle).await.unwrap().unwrap();
    assert_eq!((session.address, session.last_seen_at), (who, 20_000));
    let again = store.use_session(token, 20_500, idle).await.unwrap().unwrap();
    assert_eq!(
        again.last_seen_at, 20_000,
        "used again within a thirtieth of the idle time: read, not written"
    );
    assert!(
        store.use_session(token, 60_000, idle).await.unwrap().is_none(),
        "idle too long"
    );
    let token2 = B256::repeat_byte(0x5f);
    store.open_session(token2, who, 90_000, 100_000).await.unwrap();
    assert!(
        store.use_session(token2, 100_000, idle).await.unwrap().is_none(),
        "past its absolute expiry"
    );
    assert!(
        store
            .use_session(B256::ZERO, 1_000, idle)
            .await
            .unwrap()
            .is_none()
    );
    let token3 = B256::repeat_byte(0x60);
    store.open_session(token3, who, 1_000, 100_000).await.unwrap();
    assert!(store.end_session(token3).await.unwrap());
    assert!(
        store.use_session(token3, 2_000, idle).await.unwrap().is_none(),
        "signed out"
    );
    assert!(store.sweep_sign_ins(200_000).await.unwrap() >= 2);
}
on_both!(a_sign_in_nonce_opens_one_session_only);
