//! `medledger verify` and `medledger keys rotate`, run as an operator runs them, on a data
//! directory the record flows have used (embedded chain, SQLite, key file).

use std::process::Command;
use std::sync::Arc;

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use medledger_chain::rpc::EthApi;
use medledger_chain::{Chain, ChainConfig};
use medledger_core::entry::EntryKind;
use medledger_ledger::indexer::Indexer;
use medledger_ledger::records::{Demographics, Records};
use medledger_ledger::relayer::Relayer;
use medledger_store::Store;
use medledger_store::mirror::Deployment;
use medledger_testkit::doctors;
use serde_json::{Value, json};

use crate::util::DataDir;

/// A hospital's day in `dir`: a doctor registers a patient and records two entries, all anchored.
async fn a_day_at_the_hospital(dir: &std::path::Path) {
    let keyring = medledger_ledger::keyfile::load(dir).unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.join("medledger.db").display()))
        .await
        .unwrap();
    let (admin, relayer, doctor) = (
        PrivateKeySigner::random(),
        PrivateKeySigner::random(),
        PrivateKeySigner::random(),
    );
    let mut config = ChainConfig::new(dir.join("chain"));
    config.funded = vec![admin.address(), relayer.address()];
    let chain = Chain::open(config).unwrap();
    let api = Arc::new(EthApi::new(chain.clone()));
    let as_admin = doctors::provider(api.clone(), Some(&admin));
    let deployed = medledger_contracts::deploy(&as_admin, admin.address(), 0)
        .await
        .unwrap();
    doctors::approve(&as_admin, deployed.ledger, &[doctor.address()]).await;
    let provider = doctors::provider(api, None);
    let deployment = Deployment {
        chain_id: chain.chain_id(),
        ledger: deployed.ledger,
        forwarder: deployed.forwarder,
        block_number: 1,
    };
    store.set_deployment(&deployment).await.unwrap();
    let records = Records::open(store.clone(), keyring, provider.clone())
        .await
        .unwrap();
    let relayer = Relayer::new(
        provider.clone(),
        store.clone(),
        relayer,
        deployment.chain_id,
        deployed.forwarder,
        deployed.ledger,
    );
    let indexer = Indexer::new(provider.clone(), store.clone(), deployed.ledger, 1, 0);
    let settle = async || {
        for _ in 0..50 {
            relayer.step().await.unwrap();
            indexer.sync().await.unwrap();
        }
    };
    let sign = |hash| doctor.sign_hash_sync(&hash).unwrap().as_bytes();

    let demographics = Demographics {
        name: "Ada Lovelace".into(),
        birth_date: "1815-12-10".into(),
        contact: "ada@example.org".into(),
    };
    let wallet = PrivateKeySigner::random().address();
    let (patient, write) = records
        .register_patient(doctor.address(), wallet, &demographics)
        .await
        .unwrap();
    records
        .sign(write.request_id, &sign(write.signing_hash))
        .await
        .unwrap();
    settle().await;
    for (kind, content) in [
        (
            EntryKind::Diagnosis,
            json!({"resourceType": "Condition", "code": {"text": "Asthma"}}),
        ),
        (
            EntryKind::Medication,
            json!({"resourceType": "MedicationStatement", "note": [{"text": "salbutamol"}]}),
        ),
    ] {
        let (_, _, write) = records
            .record(doctor.address(), patient, kind, &content, None)
            .await
            .unwrap();
        records
            .sign(write.request_id, &sign(write.signing_hash))
            .await
            .unwrap();
    }
    settle().await;
    let anchored = store.entries_of(patient).await.unwrap();
    assert!(
        anchored
            .iter()
            .all(|e| matches!(e.anchoring, medledger_store::entries::Anchoring::Anchored { .. }))
    );
    store.close().await;
    drop((records, relayer, indexer, provider, as_admin));
    chain.shutdown();
}

fn medledger(args: &[&str], dir: &std::path::Path) -> (i32, String) {
    medledger_with(args, dir, &[])
}

/// Runs `medledger ARGS --data-dir DIR` with only the given MEDLEDGER_* key variables set.
fn medledger_with(args: &[&str], dir: &std::path::Path, keys: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medledger"));
    command
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("MEDLEDGER_MASTER_KEY")
        .env_remove("MEDLEDGER_NEXT_MASTER_KEY");
    for (name, value) in keys {
        command.env(name, value);
    }
    let output = command.output().expect("medledger runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.code() != Some(2),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_a_faithful_store_and_names_an_edit_even_after_a_key_rotation() {
    let dir = DataDir::new("verify");
    let root = dir.root().to_path_buf();
    a_day_at_the_hospital(&root).await;
    let key_file = root.join("master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the master key file is private");
    }

    let (code, out) = medledger(&["verify", "--json"], &root);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["storedEntries"], 3);
    assert_eq!(report["chainEntries"], 3);

    // Someone with database access back-dates the diagnosis.
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", root.join("medledger.db").display()))
        .await
        .unwrap();
    sqlx::query("UPDATE entries SET recorded_at = recorded_at - 86400000 WHERE kind = 0")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (code, out) = medledger(&["verify", "--json"], &root);
    assert_eq!(code, 1, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["entries"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(report["entries"][0]["verdict"], "altered");
    assert_eq!(report["entries"][0]["version"], 2);
    let (_, text) = medledger(&["verify"], &root);
    assert!(
        text.contains("altered patient") && text.contains("1 finding(s)"),
        "{text}"
    );

    // A new master key: the key file changes, every other entry still opens and verifies.
    let before = std::fs::read_to_string(&key_file).unwrap();
    let (code, out) = medledger(&["keys", "rotate"], &root);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 stored keys re-wrapped"), "{out}");
    assert_ne!(std::fs::read_to_string(&key_file).unwrap(), before);
    assert!(!root.join("master.key.next").exists());
    let (code, out) = medledger(&["verify", "--json"], &root);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["entries"].as_array().unwrap().len(),
        1,
        "only the edited entry: {out}"
    );

    // The key in the environment instead: the operator puts the next one beside it and rotates;
    // afterwards the new key opens every record and the old one none.
    let current = std::fs::read_to_string(&key_file).unwrap().trim().to_owned();
    std::fs::remove_file(&key_file).unwrap();
    let next = medledger_core::crypto::MasterKey::generate()
        .unwrap()
        .to_hex()
        .to_string();
    let both = [
        ("MEDLEDGER_MASTER_KEY", current.as_str()),
        ("MEDLEDGER_NEXT_MASTER_KEY", next.as_str()),
    ];
    let (code, out) = medledger_with(&["keys", "rotate"], &root, &both);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 stored keys re-wrapped"), "{out}");
    assert!(
        !key_file.exists(),
        "a key from the environment is never written to disk"
    );
    let (code, out) = medledger_with(
        &["verify", "--json"],
        &root,
        &[("MEDLEDGER_MASTER_KEY", next.as_str())],
    );
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["entries"].as_array().unwrap().len(),
        1,
        "only the edited entry: {out}"
    );
    let (code, out) = medledger_with(
        &["verify", "--json"],
        &root,
        &[("MEDLEDGER_MASTER_KEY", current.as_str())],
    );
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["entries"].as_array().unwrap().len(),
        3,
        "the retired key opens nothing: {out}"
    );
}
