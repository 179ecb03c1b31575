//! `medledger import` and `medledger export` against a running server, as a hospital runs them: a
//! directory of synthetic patients' Bundles (one long enough to need two transactions, references
//! between entries, and a type MedLedger does not store), an import killed with SIGKILL part-way
//! and run again, and then every patient is there once, with every entry anchored and none twice,
//! and every reference resolved on this server; one chart is exported.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use medledger_testkit::doctors::approve;
use medledger_testkit::wallets::sign_in_message;
use serde_json::{Value, json};

use crate::serve::Server;
use crate::util::{DataDir, dev_signers, provider};

/// The Bundles, and how many entries MedLedger keeps of each.
const PATIENTS: usize = 12;
const LONG: usize = 600;

/// A synthetic patient's Bundle, shaped as Synthea writes one.
fn bundle(n: usize) -> (Value, usize) {
    let patient = format!("urn:uuid:00000000-0000-4000-8000-{n:012}");
    let observations = if n == 0 { LONG } else { 3 + n % 4 };
    let mut entries = vec![
        json!({"fullUrl": patient, "resource": {
            "resourceType": "Patient", "id": format!("p{n}"),
            "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
            "name": [{"use": "official", "family": format!("Synthetic{n}"), "given": ["Sam"]}],
            "gender": if n.is_multiple_of(2) { "female" } else { "male" },
            "birthDate": format!("19{:02}-0{}-1{}", 40 + n, 1 + n % 9, n % 10),
        }, "request": {"method": "POST", "url": "Patient"}}),
        json!({"fullUrl": format!("urn:uuid:e{n}"), "resource": {
            "resourceType": "Encounter", "status": "finished", "subject": {"reference": patient},
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        }, "request": {"method": "POST", "url": "Encounter"}}),
        json!({"resource": {
            "resourceType": "Provenance", "target": [{"reference": patient}],
            "recorded": "2020-01-01T00:00:00Z", "agent": [{"who": {"display": "Synthea"}}],
        }, "request": {"method": "POST", "url": "Provenance"}}),
        json!({"resource": {
            "resourceType": "Condition", "subject": {"reference": patient},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}], "text": "Diabetes"},
            "encounter": {"reference": format!("urn:uuid:e{n}")}, "onsetDateTime": "2010-05-01T10:00:00Z",
        }, "request": {"method": "POST", "url": "Condition"}}),
    ];
    for i in 0..observations {
        entries.push(json!({"resource": {
            "resourceType": "Observation", "status": "final", "subject": {"reference": patient},
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}], "text": "Glucose"},
            "effectiveDateTime": format!("2020-01-01T{:02}:{:02}:00Z", i / 60 % 24, i % 60),
            "valueQuantity": {"value": 90 + i % 50, "unit": "mg/dL"},
            "encounter": {"reference": format!("urn:uuid:e{n}")},
        }, "request": {"method": "POST", "url": "Observation"}}));
    }
    (
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
        3 + observations,
    )
}

/// A bearer token for `wallet` (Sign-In with Ethereum).
pub(crate) async fn sign_in(http: &reqwest::Client, url: &str, wallet: &PrivateKeySigner) -> String {
    let nonce: Value = http
        .get(format!("{url}/api/v1/auth/nonce"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = sign_in_message(
        url,
        wallet.address(),
        nonce["chainId"].as_u64().unwrap(),
        nonce["nonce"].as_str().unwrap(),
        600,
    );
    let signature =
        alloy::hex::encode_prefixed(wallet.sign_message_sync(message.as_bytes()).unwrap().as_bytes());
    let login: Value = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"message": message, "signature": signature}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["token"].as_str().unwrap().to_owned()
}

fn import(input: &Path, url: &str, key: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medledger"));
    command
        .arg("import")
        .arg(input)
        .args(["--url", url, "--key-file"])
        .arg(key);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_import_resumes_and_every_entry_is_anchored_once() {
    let dir = DataDir::new("import");
    let server = Server::start(&dir);
    let doctor = PrivateKeySigner::random();
    let admin = provider(&format!("{}/rpc", server.url), &dev_signers()[..1]);
    approve(&admin, server.ledger.parse().unwrap(), &[doctor.address()]).await;
    let key = dir.root().join("doctor.key");
    std::fs::write(&key, alloy::hex::encode_prefixed(doctor.to_bytes())).unwrap();
    let input = dir.root().join("synthea");
    std::fs::create_dir_all(&input).unwrap();
    let mut expected = Vec::new();
    for n in 0..PATIENTS {
        let (bundle, kept) = bundle(n);
        std::fs::write(input.join(format!("patient-{n:02}.json")), bundle.to_string()).unwrap();
        expected.push(kept);
    }
    let journal = dir.root().join("synthea.import-journal");

    // The first run is killed once some Bundles are anchored.
    let mut first = import(&input, &server.url, &key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        if text.contains("\"anchored\"") || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        if first.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = first.kill();
    let _ = first.wait();
    let interrupted = std::fs::read_to_string(&journal).unwrap();
    let anchored = interrupted.matches("\"anchored\"").count();
    println!("the first run was killed after {anchored} anchored transaction(s)");
    assert!(anchored > 0, "the first run got somewhere: {interrupted}");
    assert!(
        anchored < PATIENTS + 1,
        "and was interrupted before the end: {interrupted}"
    );

    // The second run finishes the job.
    let output = import(&input, &server.url, &key).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("imported {PATIENTS} of {PATIENTS} bundle(s)")),
        "{stdout}"
    );
    assert!(
        stdout.contains("left out: ") && stdout.contains("Provenance") && !stdout.contains("Encounter"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("{PATIENTS}/{PATIENTS} bundles")),
        "a progress line: {stderr}"
    );
    // Patients without a wallet got one, whose key the hospital hands over.
    let wallets = std::fs::read_dir(dir.root().join("synthea.wallets"))
        .unwrap()
        .count();
    assert!(wallets >= PATIENTS, "{wallets} wallet keys");

    // Each patient once, with every entry anchored and verified, none twice.
    let http = reqwest::Client::new();
    let token = sign_in(&http, &server.url, &doctor).await;
    let get = |path: String| {
        let request = http.get(format!("{}{path}", server.url)).bearer_auth(&token);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let patients = get("/fhir/Patient?_count=500".into()).await;
    assert_eq!(
        patients["total"], PATIENTS,
        "each patient once: {patients}\nthe import said:\n{stdout}\n{stderr}"
    );
    let mut sizes = Vec::new();
    for entry in patients["entry"].as_array().unwrap() {
        let id = entry["resource"]["id"].as_str().unwrap();
        let family = entry["resource"]["name"][0]["family"].as_str().unwrap();
        let n: usize = family.trim_start_matches("Synthetic").parse().unwrap();
        let all = get(format!("/fhir/Patient/{id}/$everything")).await;
        let matches: Vec<&Value> = all["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["search"]["mode"] == "match")
            .collect();
        assert!(
            matches
                .iter()
                .all(|e| e["resource"]["meta"]["tag"][0]["code"] == "verified"),
            "every entry verified against the chain"
        );
        let distinct: BTreeSet<String> = matches
            .iter()
            .filter(|e| e["resource"]["resourceType"] == "Observation")
            .map(|e| e["resource"]["effectiveDateTime"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            matches.len(),
            expected[n],
            "patient {n}: {} of {} entries",
            matches.len(),
            expected[n]
        );
        assert_eq!(
            distinct.len(),
            expected[n] - 3,
            "patient {n}: no observation twice"
        );
        // Every reference names a resource served here, across the transactions of a long chart too.
        let served: BTreeSet<String> = all["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{}/{}",
                    e["resource"]["resourceType"].as_str().unwrap(),
                    e["resource"]["id"].as_str().unwrap()
                )
            })
            .collect();
        for e in &matches {
            if let Some(visit) = e["resource"]["encounter"]["reference"].as_str() {
                assert!(
                    visit.starts_with("Encounter/") && served.contains(visit),
                    "patient {n}: {visit}"
                );
            }
        }
        sizes.push((n, matches.len()));
    }

    // One chart exported as a Bundle.
    let (n, size) = sizes[0];
    let id = patients["entry"][0]["resource"]["id"].as_str().unwrap();
    let out = dir.root().join("export.json");
    let status = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(["export", id, "--url", &server.url, "--key-file"])
        .arg(&key)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let exported: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(exported["resourceType"], "Bundle");
    assert_eq!(exported["type"], "transaction");
    assert_eq!(
        exported["entry"].as_array().unwrap().len(),
        size,
        "patient {n}'s chart"
    );
    server.stop();
}
