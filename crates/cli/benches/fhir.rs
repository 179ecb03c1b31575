//! FHIR end to end, as a hospital runs it: the `medledger` binary (this profile's build) on a
//! fresh data directory with SQLite and the embedded chain.
//!
//! 1. Import: PATIENTS synthetic Bundles (default 200) of ENTRIES resources each (default 50: the
//!    patient, conditions, observations, medications and an allergy), loaded by `medledger
//!    import` as a doctor the admin approved, every transaction signed by the doctor's key and
//!    anchored through the contract's batch path. Reported: resources anchored per second over
//!    the whole command.
//! 2. `$everything` of a patient with 500 resources (imported the same way): READS (default 300)
//!    reads one after another, p50/p99; then READERS (default 8) concurrent readers for READ_SECS
//!    (default 10), reads/s. Each read checks every entry against the chain.
//!
//! Run: `cargo bench -p medledger --bench fhir`.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use support::{ADMIN_KEY, Api, Server, env, percentile};

/// A synthetic patient's Bundle of `entries` resources.
fn bundle(n: usize, entries: usize) -> Value {
    let patient = format!("urn:uuid:00000000-0000-4000-8000-{n:012}");
    let subject = json!({"reference": patient});
    let mut list = vec![json!({"fullUrl": patient, "resource": {
            "resourceType": "Patient",
            "name": [{"family": format!("Bench{n}"), "given": ["Pat"]}],
            "gender": "unknown", "birthDate": "1970-01-01",
        }, "request": {"method": "POST", "url": "Patient"}})];
    for i in 1..entries {
        let resource = match i % 10 {
            0 => json!({"resourceType": "Condition", "subject": subject,
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}], "text": "Hypertension"},
                "onsetDateTime": "2015-03-02"}),
            1 => json!({"resourceType": "MedicationStatement", "status": "active", "subject": subject,
                "medicationCodeableConcept": {"text": "Amlodipine 5 mg"}, "dosage": [{"text": "once daily"}]}),
            2 => {
                json!({"resourceType": "AllergyIntolerance", "patient": subject, "code": {"text": "Penicillin"},
                "reaction": [{"manifestation": [{"text": "Hives"}]}]})
            }
            _ => json!({"resourceType": "Observation", "status": "final", "subject": subject,
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}], "text": "Systolic blood pressure"},
                "effectiveDateTime": format!("2024-01-01T{:02}:{:02}:00Z", i / 60 % 24, i % 60),
                "valueQuantity": {"value": 100 + i % 50, "unit": "mmHg"}}),
        };
        let ty = resource["resourceType"].clone();
        list.push(json!({"resource": resource, "request": {"method": "POST", "url": ty}}));
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": list})
}

fn import(server: &Server, input: &std::path::Path, key: &std::path::Path) -> anyhow::Result<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .arg("import")
        .arg(input)
        .args(["--url", &server.base, "--key-file"])
        .arg(key)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "the import failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let server = Server::start("fhir")?;
    let outcome = run(&server).await;
    server.stop();
    outcome
}

async fn run(server: &Server) -> anyhow::Result<()> {
    let patients = env("PATIENTS", 200) as usize;
    let entries = env("ENTRIES", 50) as usize;
    let reads = env("READS", 300) as usize;
    let readers = env("READERS", 8) as usize;
    let read_secs = env("READ_SECS", 10);
    let api = Api::new(
        reqwest::Client::builder().pool_max_idle_per_host(64).build()?,
        vec![server.base.clone()],
    );
    println!(
        "medledger (pid {}) at {}; {patients} patients x {entries} resources; {} cores",
        server.pid,
        server.base,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // The importing doctor, approved by the admin.
    let admin = api.sign_in(ADMIN_KEY.parse()?).await?;
    let wallet = PrivateKeySigner::random();
    let path = format!("/api/v1/doctors/{}/approval", wallet.address());
    let accepted = api.expect("POST", &path, Some(&admin.token), None, 202).await?;
    let id = api.sign(&admin, &accepted).await?;
    api.anchored(&admin, id).await?;
    let key = server.data_dir().join("doctor.key");
    std::fs::write(&key, alloy::hex::encode_prefixed(wallet.to_bytes()))?;

    // 1. Import.
    let input = server.data_dir().join("bundles");
    std::fs::create_dir_all(&input)?;
    for n in 0..patients {
        std::fs::write(
            input.join(format!("p{n:05}.json")),
            bundle(n, entries).to_string(),
        )?;
    }
    let started = Instant::now();
    let said = import(server, &input, &key)?;
    let secs = started.elapsed().as_secs_f64();
    let resources = patients * entries;
    println!("{}", said.trim());
    println!(
        "import: {resources} resources ({patients} patients) anchored in {secs:.1} s: {:.0} resources/s",
        resources as f64 / secs
    );

    // 2. $everything of a patient with 500 resources.
    let big = server.data_dir().join("big");
    std::fs::create_dir_all(&big)?;
    std::fs::write(big.join("big.json"), bundle(patients, 500).to_string())?;
    import(server, &big, &key)?;
    let doctor = api.sign_in(wallet).await?;
    let found = api
        .expect(
            "GET",
            &format!("/fhir/Patient?name=bench{patients}"),
            Some(&doctor.token),
            None,
            200,
        )
        .await?;
    let id = found["entry"][0]["resource"]["id"]
        .as_str()
        .context("the big patient")?
        .to_owned();
    let everything = format!("/fhir/Patient/{id}/$everything");
    let check = |bundle: &Value| -> anyhow::Result<()> {
        let matches = bundle["entry"].as_array().map_or(0, |e| {
            e.iter()
                .filter(|e| {
                    e["search"]["mode"] == "match" && e["resource"]["meta"]["tag"][0]["code"] == "verified"
                })
                .count()
        });
        if matches != 500 {
            bail!("{matches} verified resources, not 500");
        }
        Ok(())
    };
    let mut latencies = Vec::with_capacity(reads);
    for _ in 0..reads {
        let begun = Instant::now();
        let bundle = api
            .expect("GET", &everything, Some(&doctor.token), None, 200)
            .await?;
        latencies.push(begun.elapsed());
        check(&bundle)?;
    }
    latencies.sort();
    println!(
        "$everything (500 resources, each checked against the chain), one reader: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99)
    );
    let until = Instant::now() + Duration::from_secs(read_secs);
    let mut tasks = Vec::new();
    for _ in 0..readers {
        let (api, token, everything) = (api.clone(), doctor.token.clone(), everything.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < until {
                api.expect("GET", &everything, Some(&token), None, 200).await?;
                done += 1;
            }
            anyhow::Ok(done)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    println!(
        "$everything with {readers} concurrent readers: {:.0} reads/s ({:.0} resources/s)",
        total as f64 / read_secs as f64,
        total as f64 * 500.0 / read_secs as f64
    );
    Ok(())
}
