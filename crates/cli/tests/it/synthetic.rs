//! Synthetic patients as a public generator writes them (carebundle, from PyPI, pinned in
//! `e2e/requirements.txt`: US Core R4 transaction Bundles, the same bytes for the same seed),
//! imported unmodified with `medledger import`, then every resource read back and compared with
//! its source value for value: decimals with their digits, references between the entries
//! pointing at the resources this server made of them, and every reference resolving here; every
//! document served valid against the official R4 schema and the Bundle rules. Then
//! one chart is exported, loaded into a fresh server as it is, and exported again: the same
//! resources.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use alloy::signers::local::PrivateKeySigner;
use medledger_testkit::doctors::approve;
use serde_json::Value;

use crate::serve::Server;
use crate::util::{DataDir, dev_signers, missing, provider};

const PATIENTS: usize = 4;
const SEED: &str = "2026";

/// carebundle on the PATH, or `None` after saying why the test skips (failing under `CI=true`).
fn carebundle() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join("carebundle"))
        .find(|p| p.is_file());
    if found.is_none() {
        missing(
            "carebundle",
            "`pip install -r e2e/requirements.txt` installs it (`cargo xtask test` does)",
        );
    }
    found
}

/// Every `reference` in `value`, rewritten by `names` where it names a Bundle entry.
fn resolve(value: &mut Value, names: &HashMap<String, String>) {
    match value {
        Value::Object(object) => {
            for (key, item) in object.iter_mut() {
                match item {
                    Value::String(reference) if key == "reference" => {
                        if let Some(to) = names.get(reference.as_str()) {
                            *reference = to.clone();
                        }
                    }
                    _ => resolve(item, names),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| resolve(i, names)),
        _ => {}
    }
}

/// A served resource as its client sent it: without the server's id and its part of `meta`
/// (version, time, proof tag), and without the wallet the import gave a patient who had none.
fn as_sent(mut served: Value) -> Value {
    let object = served.as_object_mut().unwrap();
    object.remove("id");
    if let Some(meta) = object.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        meta.remove("tag");
        if meta.is_empty() {
            object.remove("meta");
        }
    }
    if let Some(ids) = object.get_mut("identifier").and_then(Value::as_array_mut) {
        ids.retain(|i| i["system"] != "urn:ethereum:address");
    }
    served
}

/// Every reference in `value`.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, item) in object {
                match item.as_str() {
                    Some(reference) if key == "reference" => out.push(reference.to_owned()),
                    _ => references(item, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_patients_import_whole_and_read_back_unchanged() {
    let Some(generator) = carebundle() else {
        return;
    };
    let dir = DataDir::new("synthetic");
    let input = dir.root().join("carebundle");
    let generated = Command::new(&generator)
        .args([
            "generate",
            "--profile",
            "mixed",
            "--count",
            &PATIENTS.to_string(),
            "--seed",
            SEED,
            "--sex",
            "mixed",
            "--out",
        ])
        .arg(&input)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&input)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), PATIENTS);

    let server = Server::start(&dir);
    let doctor = PrivateKeySigner::random();
    let admin = provider(&format!("{}/rpc", server.url), &dev_signers()[..1]);
    approve(&admin, server.ledger.parse().unwrap(), &[doctor.address()]).await;
    let key = dir.root().join("doctor.key");
    std::fs::write(&key, alloy::hex::encode_prefixed(doctor.to_bytes())).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .arg("import")
        .arg(&input)
        .args(["--url", &server.url, "--key-file"])
        .arg(&key)
        .output()
        .unwrap();
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains(&format!("imported {PATIENTS} of {PATIENTS} bundle(s)")) && !said.contains("left out"),
        "every resource of every Bundle is kept: {said}"
    );

    // Where the server put each entry: the journal's locations, in the Bundle's order.
    let journal = std::fs::read_to_string(dir.root().join("carebundle.import-journal")).unwrap();
    let mut locations: HashMap<String, Vec<String>> = HashMap::new();
    for line in journal.lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        if line["event"] == "requested" {
            let placed = locations
                .entry(line["file"].as_str().unwrap().to_owned())
                .or_default();
            placed.extend(
                line["locations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_owned()),
            );
        }
    }

    let http = reqwest::Client::new();
    let token = crate::import::sign_in(&http, &server.url, &doctor).await;
    let get = |path: &str| {
        let request = http.get(format!("{}{path}", server.url)).bearer_auth(&token);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let mut compared = 0;
    // Every document served, for the official R4 schema and the Bundle rules (e2e/validate.mjs).
    let served_dir = dir.root().join("served");
    std::fs::create_dir_all(&served_dir).unwrap();
    let keep = |text: &str| {
        let n = std::fs::read_dir(&served_dir).unwrap().count();
        std::fs::write(served_dir.join(format!("{n:05}.json")), text).unwrap();
    };
    for file in &files {
        let source: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let entries = source["entry"].as_array().unwrap();
        let name = file.file_name().unwrap().to_str().unwrap();
        let placed = &locations[file.to_str().unwrap()];
        assert_eq!(placed.len(), entries.len(), "{name}: every entry has its place");
        // The Bundle's names (fullUrls) to this server's `Type/{id}`.
        let here = |location: &str| -> String {
            let path = location.split("/fhir/").nth(1).unwrap();
            path.split('/').take(2).collect::<Vec<_>>().join("/")
        };
        let names: HashMap<String, String> = entries
            .iter()
            .zip(placed)
            .map(|(e, l)| (e["fullUrl"].as_str().unwrap().to_owned(), here(l)))
            .collect();
        let patient = here(&placed[0]);
        for (entry, location) in entries.iter().zip(placed) {
            let mut sent = entry["resource"].clone();
            resolve(&mut sent, &names);
            let path = location.split("/_history/").next().unwrap();
            let path = &path[path.find("/fhir/").unwrap()..];
            let (status, text) = get(path).await;
            assert_eq!(status, 200, "{path}: {text}");
            keep(&text);
            let served: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                served["meta"]["tag"].as_array().unwrap().last().unwrap()["code"],
                "verified"
            );
            assert_eq!(
                as_sent(served.clone()),
                sent,
                "{name}: {path} reads back as it was sent"
            );
            // Decimals keep their digits, byte for byte.
            let mut numbers = Vec::new();
            collect_numbers(&entry["resource"], &mut numbers);
            for number in numbers {
                assert!(
                    text.contains(&number),
                    "{path}: {number} kept as written in {text}"
                );
            }
            // Every reference resolves here.
            let mut found = Vec::new();
            references(&served, &mut found);
            for reference in found.iter().filter(|r| !r.starts_with('#')) {
                let (status, _) = get(&format!("/fhir/{reference}")).await;
                assert_eq!(status, 200, "{path}: {reference} resolves on this server");
            }
            compared += 1;
        }
        let (status, everything) = get(&format!("/fhir/{patient}/$everything")).await;
        assert_eq!(status, 200);
        keep(&everything);
        let (status, history) = get(&format!("/fhir/{}/_history", here(&placed[1]))).await;
        assert_eq!(status, 200);
        keep(&history);
        let everything: Value = serde_json::from_str(&everything).unwrap();
        let matches = everything["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["search"]["mode"] == "match")
            .count();
        assert_eq!(matches, entries.len(), "{name}: the whole chart in $everything");
    }
    println!("{compared} resources of {PATIENTS} synthetic patients read back unchanged");
    validate_served(&served_dir);

    // Export → import into a fresh server → export: the same resources.
    let first = patients_here(&get).await;
    let exported = export(&server.url, &key, &first[0], &dir.root().join("export-1.json"));
    let second_dir = DataDir::new("synthetic-2");
    let second = Server::start(&second_dir);
    let admin = provider(&format!("{}/rpc", second.url), &dev_signers()[..1]);
    approve(&admin, second.ledger.parse().unwrap(), &[doctor.address()]).await;
    let output = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .arg("import")
        .arg(dir.root().join("export-1.json"))
        .args(["--url", &second.url, "--key-file"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let token = crate::import::sign_in(&http, &second.url, &doctor).await;
    let (_, list) = {
        let response = http
            .get(format!("{}/fhir/Patient", second.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    let again_id = list["entry"][0]["resource"]["id"].as_str().unwrap().to_owned();
    let again = export(
        &second.url,
        &key,
        &again_id,
        &second_dir.root().join("export-2.json"),
    );
    assert_eq!(
        comparable(&exported),
        comparable(&again),
        "a chart exported, loaded into a fresh server and exported again is the same"
    );
    second.stop();
    server.stop();
}

/// Runs e2e/validate.mjs (the official R4 schema, with ajv, and bdl-3, bdl-4, bdl-7) on every
/// document in `dir`.
fn validate_served(dir: &std::path::Path) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if !root.join("e2e/node_modules/ajv").is_dir() {
        missing(
            "e2e's npm packages",
            "`npm --prefix e2e install --ignore-scripts` installs them",
        );
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let output = match Command::new("node")
        .arg(root.join("e2e/validate.mjs"))
        .args(&files)
        .output()
    {
        Ok(output) => output,
        Err(_) => {
            missing("node", "Node.js from Debian (`cargo xtask test` installs it)");
            return;
        }
    };
    assert!(
        output.status.success(),
        "what the server returned is not valid R4:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{}", String::from_utf8_lossy(&output.stdout).trim());
}

/// The ids of the patients on a server, as a doctor lists them.
async fn patients_here<F, Fut>(get: &F) -> Vec<String>
where
    F: Fn(&str) -> Fut,
    Fut: std::future::Future<Output = (u16, String)>,
{
    let (_, text) = get("/fhir/Patient?_count=500").await;
    let list: Value = serde_json::from_str(&text).unwrap();
    list["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `medledger export` of a patient into `out`, read back.
fn export(url: &str, key: &std::path::Path, patient: &str, out: &std::path::Path) -> Value {
    let status = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(["export", patient, "--url", url, "--key-file"])
        .arg(key)
        .arg("--out")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

/// An exported Bundle's resources in a form two servers' exports share: each `urn:uuid:` (made of
/// one server's ids) replaced by the type of the entry it names, in a sorted list.
fn comparable(bundle: &Value) -> Vec<String> {
    let entries = bundle["entry"].as_array().unwrap();
    let types: HashMap<String, String> = entries
        .iter()
        .map(|e| {
            (
                e["fullUrl"].as_str().unwrap().to_owned(),
                e["resource"]["resourceType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut out: Vec<String> = entries
        .iter()
        .map(|e| {
            let mut resource = e["resource"].clone();
            resolve(&mut resource, &types);
            resource.to_string()
        })
        .collect();
    out.sort();
    out
}

/// The text of every JSON number with a fraction in `value`, as it is written.
fn collect_numbers(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Number(n) if n.to_string().contains('.') => out.push(n.to_string()),
        Value::Object(object) => object.values().for_each(|v| collect_numbers(v, out)),
        Value::Array(items) => items.iter().for_each(|v| collect_numbers(v, out)),
        _ => {}
    }
}
