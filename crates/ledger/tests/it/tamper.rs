//! Tampering with the store, every way the issue lists, and `verify` naming each.

use alloy::primitives::U256;
use medledger_core::audit::AuditFinding;
use medledger_core::entry::EntryKind;
use medledger_core::entry::PatientId;
use medledger_core::verify::Verdict;
use medledger_ledger::verify::{self, Options};
use medledger_store::entries::StoredEntry;
use serde_json::json;
use sqlx::AnyPool;

use crate::hospital::Hospital;
use crate::hospital_story;
use crate::stories::registered;

/// Registers a patient with `n` diagnoses (the first amended if `amend`), all anchored.
async fn patient_with(h: &mut Hospital, name: &str, n: usize, amend: bool) -> (PatientId, u64) {
    let doctor = h.doctors[0].clone();
    let (patient, _) = registered(h, name).await;
    let mut first = None;
    for i in 0..n {
        let content = json!({"resourceType": "Condition", "code": {"text": format!("finding {i}")}});
        let (record, _, write) = h
            .records
            .record(doctor.address(), patient, EntryKind::Diagnosis, &content, None)
            .await
            .unwrap();
        first.get_or_insert(record);
        h.sign(&doctor, &write).await;
        h.settle().await;
    }
    if amend {
        let content = json!({"resourceType": "Condition", "code": {"text": "amended"}});
        let (_, _, write) = h
            .records
            .record(doctor.address(), patient, EntryKind::Diagnosis, &content, first)
            .await
            .unwrap();
        h.sign(&doctor, &write).await;
        h.settle().await;
    }
    let chain_id =
        h.db.store
            .patient(patient)
            .await
            .unwrap()
            .unwrap()
            .chain_id
            .unwrap();
    (patient, chain_id)
}

async fn entries(h: &Hospital, patient: PatientId) -> Vec<StoredEntry> {
    h.db.store.entries_of(patient).await.unwrap()
}

async fn exec(pool: &AnyPool, sql: &'static str, binds: Vec<sqlx_value::Value>) {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = match bind {
            sqlx_value::Value::Int(i) => query.bind(i),
            sqlx_value::Value::Bytes(b) => query.bind(b),
        };
    }
    let done = query.execute(pool).await.unwrap();
    assert!(done.rows_affected() >= 1, "{sql} changed nothing");
}

mod sqlx_value {
    pub(crate) enum Value {
        Int(i64),
        Bytes(Vec<u8>),
    }
}
use sqlx_value::Value::{Bytes, Int};

async fn verify_names_every_kind_of_tampering(mut h: Hospital) {
    let (edited_bytes, c1) = patient_with(&mut h, "Edith Bytes", 1, false).await;
    let (edited_field, c2) = patient_with(&mut h, "Fiona Field", 1, false).await;
    let (deleted, c3) = patient_with(&mut h, "Dora Deleted", 1, false).await;
    let (swapped_from, c4) = patient_with(&mut h, "Sam Swapfrom", 1, false).await;
    let (swapped_to, c5) = patient_with(&mut h, "Tina Swapto", 1, false).await;
    let (rolled_back, c6) = patient_with(&mut h, "Rolf Back", 1, true).await;
    let (reordered, c7) = patient_with(&mut h, "Otto Order", 2, false).await;
    let (unanchored, c8) = patient_with(&mut h, "Nora Nochain", 1, false).await;
    let doctor = h.doctors[0].address();
    let unsigned = json!({"resourceType": "Condition", "code": {"text": "never signed"}});
    h.records
        .record(doctor, unanchored, EntryKind::Diagnosis, &unsigned, None)
        .await
        .unwrap();
    let _ = h
        .records
        .history(h.doctors[0].address(), edited_bytes)
        .await
        .unwrap();
    let anchored = h
        .relayer
        .anchor_audit()
        .await
        .unwrap()
        .expect("an audit head to anchor");
    assert!(anchored.0 > 10, "{anchored:?}");

    let clean = verify::verify(&h.db.store, &h.keyring, &h.provider, Options::default())
        .await
        .unwrap();
    assert_eq!(clean.findings(), 0, "{clean:#?}");
    assert_eq!(
        clean.entries.iter().map(|r| r.verdict).collect::<Vec<_>>(),
        [Verdict::Pending]
    );
    // An entry left unsigned past the grace period is not silently unanchored.
    let strict = Options {
        grace_ms: 0,
        ..Options::default()
    };
    let late = verify::verify(&h.db.store, &h.keyring, &h.provider, strict)
        .await
        .unwrap();
    assert_eq!(
        late.entries.iter().map(|r| r.verdict).collect::<Vec<_>>(),
        [Verdict::NotOnChain]
    );
    assert_eq!(clean.stored_entries, 19);
    assert_eq!(clean.chain_entries, 18);
    assert_eq!(clean.audit_anchors, 1);

    let pool = AnyPool::connect(&h.db.url).await.unwrap();
    // 1. One byte of a ciphertext.
    let e = &entries(&h, edited_bytes).await[1];
    let mut sealed = e.sealed.clone();
    sealed[30] ^= 0x01;
    exec(
        &pool,
        "UPDATE entries SET sealed = $1 WHERE seq = $2",
        vec![Bytes(sealed), Int(e.seq)],
    )
    .await;
    // 2. A stored field (when it was written).
    let e = &entries(&h, edited_field).await[1];
    exec(
        &pool,
        "UPDATE entries SET recorded_at = recorded_at + 1 WHERE seq = $1",
        vec![Int(e.seq)],
    )
    .await;
    // 3. A deleted row.
    let e = &entries(&h, deleted).await[1];
    exec(&pool, "DELETE FROM entries WHERE seq = $1", vec![Int(e.seq)]).await;
    // 4. A row moved to another patient.
    let e = &entries(&h, swapped_from).await[1];
    exec(
        &pool,
        "UPDATE entries SET patient_id = $1 WHERE seq = $2",
        vec![Bytes(swapped_to.0.to_vec()), Int(e.seq)],
    )
    .await;
    // 5. A record rolled back: revision 2's row given revision 1's ciphertext and commitment.
    let rows = entries(&h, rolled_back).await;
    let (old, new) = (&rows[1], &rows[2]);
    assert_eq!((old.record, old.revision, new.revision), (new.record, 1, 2));
    exec(
        &pool,
        "UPDATE entries SET sealed = $1, commitment = $2 WHERE seq = $3",
        vec![
            Bytes(old.sealed.clone()),
            Bytes(old.commitment.to_vec()),
            Int(new.seq),
        ],
    )
    .await;
    // 6. Two entries' places swapped.
    let rows = entries(&h, reordered).await;
    exec(
        &pool,
        "UPDATE entries SET chain_version = 3 WHERE seq = $1",
        vec![Int(rows[1].seq)],
    )
    .await;
    exec(
        &pool,
        "UPDATE entries SET chain_version = 2 WHERE seq = $1",
        vec![Int(rows[2].seq)],
    )
    .await;
    // 7. An entry that was never signed, marked as anchored.
    let e = &entries(&h, unanchored).await[2];
    exec(
        &pool,
        "UPDATE entries SET status = 'anchored', chain_version = 9, tx_hash = $1, block_number = 5 WHERE seq = $2",
        vec![Bytes(vec![7; 32]), Int(e.seq)],
    )
    .await;
    // 8. An audit record edited.
    exec(
        &pool,
        "UPDATE audit_log SET outcome = 'denied' WHERE sequence = $1",
        vec![Int(3)],
    )
    .await;
    pool.close().await;

    let report = verify::verify(&h.db.store, &h.keyring, &h.provider, Options::default())
        .await
        .unwrap();
    let mut found: Vec<(Verdict, u64, u64)> = report
        .entries
        .iter()
        .map(|r| {
            (
                r.verdict,
                r.chain_patient.unwrap_or(0),
                r.chain_version.or(r.version).unwrap_or(0),
            )
        })
        .collect();
    found.sort_by_key(|f| (f.1, f.2, f.0 as u8));
    let mut expected = vec![
        (Verdict::Altered, c1, 2),
        (Verdict::Altered, c2, 2),
        (Verdict::MissingFromStore, c3, 2),
        (Verdict::MissingFromStore, c4, 2),
        (Verdict::Altered, c5, 2), // the moved row does not open under its new patient
        (Verdict::Altered, c6, 3),
        (Verdict::OutOfOrder, c7, 2),
        (Verdict::OutOfOrder, c7, 3),
        (Verdict::NotOnChain, c8, 9),
    ];
    expected.sort_by_key(|f| (f.1, f.2, f.0 as u8));
    assert_eq!(found, expected, "{report:#?}");
    assert_eq!(report.audit, vec![AuditFinding::Altered { sequence: 3 }]);
    assert_eq!(report.findings(), expected.len() + 1);

    // The chain's own view agrees that nothing changed there.
    let onchain = medledger_contracts::MedLedger::new(h.deployment.ledger, h.provider.clone())
        .getPatient(U256::from(c7))
        .call()
        .await
        .unwrap();
    assert_eq!(onchain.entryCount, 3);
    h.remove().await;
}
hospital_story!(verify_names_every_kind_of_tampering);

async fn an_export_file_is_its_owners_and_does_not_open_once_altered(h: Hospital) {
    let exports = h.records.exports();
    let (owner, stranger) = (h.doctors[0].address(), h.doctors[1].address());
    let job = exports
        .start(owner, "/fhir/Patient/$export".into())
        .await
        .unwrap();
    let mut files = std::collections::BTreeMap::new();
    files.insert(
        "Condition".to_owned(),
        ("{\"resourceType\":\"Condition\"}\n".to_owned(), 1),
    );
    exports.finish(&job, "2026-12-08T00:00:00Z", files).await.unwrap();
    let opened = exports.file(&job, owner, "Condition").await.unwrap();
    assert_eq!(opened.as_deref(), Some("{\"resourceType\":\"Condition\"}\n"));
    assert!(
        exports.file(&job, stranger, "Condition").await.unwrap().is_none(),
        "the owner's alone"
    );
    assert!(exports.job(&job, stranger).await.unwrap().is_none());

    // What the database holds is sealed: not the resource in plain text.
    let pool = AnyPool::connect(&h.db.url).await.unwrap();
    let (sealed,): (Vec<u8>,) = sqlx::query_as("SELECT sealed FROM export_files WHERE job = $1")
        .bind(job.clone())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("Condition"));
    // An insider makes the job another's: it opens for nobody.
    exec(
        &pool,
        "UPDATE export_jobs SET owner = $1",
        vec![Bytes(stranger.to_vec())],
    )
    .await;
    let err = exports.file(&job, stranger, "Condition").await.unwrap_err();
    assert!(err.to_string().contains("altered in the database"), "{err}");
    exec(
        &pool,
        "UPDATE export_jobs SET owner = $1",
        vec![Bytes(owner.to_vec())],
    )
    .await;
    assert!(exports.file(&job, owner, "Condition").await.unwrap().is_some());
    // An insider swaps in another file's bytes, or flips one: it does not open, and says why.
    let mut flipped = sealed.clone();
    flipped[20] ^= 1;
    exec(&pool, "UPDATE export_files SET sealed = $1", vec![Bytes(flipped)]).await;
    let err = exports.file(&job, owner, "Condition").await.unwrap_err();
    assert!(err.to_string().contains("altered in the database"), "{err}");
    pool.close().await;
    assert!(exports.delete(&job, owner).await.unwrap());
    assert!(exports.job(&job, owner).await.unwrap().is_none(), "deleted");
    h.remove().await;
}
hospital_story!(an_export_file_is_its_owners_and_does_not_open_once_altered);
