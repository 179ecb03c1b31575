//! Several `medledger serve` processes on one PostgreSQL and one external chain (anvil), as a
//! hospital that outgrows one machine runs them behind a load balancer: doctors' requests spread
//! over the servers, each write stored at one server and signed through another, and the server
//! that relays and indexes killed with SIGKILL mid-run and restarted. Every acknowledged write is
//! anchored exactly once, none is refused for a nonce, and `medledger verify` finds the store,
//! the mirror and the chain in agreement.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use tokio::sync::RwLock;

use crate::http::{Api, User};
use crate::serve::Server;
use crate::util::{Chain, DataDir};

/// The chain's id: anvil's, for this story alone.
const CHAIN_ID: u64 = 19_793;
const SERVERS: usize = 3;
/// Doctors writing at once, each in a closed loop.
const DOCTORS: usize = 100;
/// Entries each doctor writes for their patient, after registering them.
const WRITES: usize = 3;
/// The master key every server of the hospital shares (a test's; never a real one).
const MASTER_KEY: &str = "5ea1ed0000000000000000000000000000000000000000000000000000c0ffee";

/// The servers, where they answer now (a restarted one answers at a new port).
struct Hospital {
    urls: RwLock<Vec<String>>,
}

impl Hospital {
    /// The API of server `n` (modulo the number of servers).
    async fn api(&self, n: usize) -> Api {
        Api::new(&self.urls.read().await[n % SERVERS])
    }

    /// `POST path` at server `n`, or the next that answers (one may be down).
    async fn post(
        &self,
        n: usize,
        token: &str,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<crate::http::Answer> {
        let mut last = None;
        for attempt in 0..(SERVERS * 20) {
            match self.api(n + attempt).await.post(token, path, body).await {
                Ok(answer) => return Ok(answer),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last
            .expect("tried")
            .context(format!("no server took POST {path}")))
    }

    async fn get(&self, n: usize, token: &str, path: &str) -> anyhow::Result<crate::http::Answer> {
        let mut last = None;
        for attempt in 0..(SERVERS * 20) {
            match self.api(n + attempt).await.get(token, path).await {
                Ok(answer) => return Ok(answer),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last.expect("tried").context(format!("no server took GET {path}")))
    }

    /// Declines every request `user` left awaiting a signature, asking server `n` (or the next):
    /// what a client does after a write whose answer never came (the server may have stored
    /// it and died before answering), before it writes again. A request left unsigned would
    /// hold the user's later ones back, for the forwarder runs a signer's requests in order.
    async fn decline_unsigned(&self, n: usize, user: &User) -> anyhow::Result<()> {
        let pending = self
            .get(n, &user.token, "/api/v1/requests?status=awaiting-signature")
            .await?;
        ensure!(pending.status == 200, "listing requests: {}", pending.short());
        let ids: Vec<i64> = pending.body["requests"]
            .as_array()
            .context("requests")?
            .iter()
            .filter_map(|r| r["requestId"].as_i64())
            .collect();
        for id in ids {
            let path = format!("/api/v1/requests/{id}");
            let mut declined = None;
            for attempt in 0..(SERVERS * 20) {
                if let Ok(answer) = self.api(n + attempt).await.delete(&user.token, &path).await {
                    declined = Some(answer);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let declined = declined.with_context(|| format!("no server took DELETE {path}"))?;
            ensure!(
                declined.status < 300 || declined.status == 409,
                "declining {id}: {}",
                declined.short()
            );
        }
        Ok(())
    }

    /// A chain-changing write stored at server `n` and signed through server `n + 1`: its
    /// request id once the signature is acknowledged, and the 202's body. If a server dies
    /// before answering, what it may have stored is declined and the write is made again at
    /// the next server.
    async fn write(&self, n: usize, user: &User, path: &str, body: Value) -> anyhow::Result<(i64, Value)> {
        let mut attempt = 0;
        let answer = loop {
            match self.api(n + attempt).await.post(&user.token, path, &body).await {
                Ok(answer) => break answer,
                Err(err) if attempt < SERVERS * 20 => {
                    println!("{err:#}: declining what it may have stored, and writing again");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    self.decline_unsigned(n + attempt, user).await?;
                }
                Err(err) => return Err(err.context(format!("no server took POST {path}"))),
            }
        };
        ensure!(answer.status == 202, "POST {path}: {}", answer.short());
        let id = answer.body["requestId"].as_i64().context("requestId")?;
        let hash: B256 = answer.body["signingHash"]
            .as_str()
            .context("signingHash")?
            .parse()?;
        let signature = alloy::hex::encode_prefixed(user.key.sign_hash_sync(&hash)?.as_bytes());
        let signed = self
            .post(
                n + 1,
                &user.token,
                &format!("/api/v1/requests/{id}/signature"),
                &json!({ "signature": signature }),
            )
            .await?;
        if signed.status != 202 {
            // A server killed after taking the signature but before answering: it is stored.
            let status = self
                .get(n + 2, &user.token, &format!("/api/v1/requests/{id}"))
                .await?;
            ensure!(
                status.body["status"] != "awaiting-signature" && status.body["status"] != "rejected",
                "signing request {id}: {} (then {})",
                signed.short(),
                status.short()
            );
        }
        Ok((id, answer.body))
    }

    /// Waits until request `id` is anchored, asking server `n` (and the next, if it is down).
    async fn anchored(&self, n: usize, user: &User, id: i64) -> anyhow::Result<()> {
        for round in 0..12 {
            let answer = self
                .get(n + round, &user.token, &format!("/api/v1/requests/{id}?wait=10"))
                .await?;
            ensure!(answer.status == 200, "request {id}: {}", answer.short());
            match answer.body["status"].as_str() {
                Some("anchored") => return Ok(()),
                Some("rejected" | "awaiting-signature") => bail!("request {id}: {}", answer.short()),
                _ => {}
            }
        }
        bail!("request {id} was not anchored within two minutes")
    }
}

/// One doctor's day: signed in at one server, registers a patient and writes their entries, each
/// write stored at one server and signed through the next. Returns the patient and request ids.
async fn doctor_day(
    hospital: Arc<Hospital>,
    n: usize,
    doctor: User,
    acknowledged: Arc<AtomicUsize>,
) -> anyhow::Result<(User, String, Vec<i64>)> {
    let patient = PrivateKeySigner::random();
    let (request, body) = hospital
        .write(
            n,
            &doctor,
            "/api/v1/patients",
            json!({"wallet": patient.address(), "name": format!("Pat {n}"), "birthDate": "1970-01-01", "contact": "pat@example.org"}),
        )
        .await?;
    let patient_id = body["patientId"].as_str().context("patientId")?.to_owned();
    acknowledged.fetch_add(1, Ordering::Relaxed);
    hospital.anchored(n + 2, &doctor, request).await?;
    let mut requests = vec![request];
    for k in 0..WRITES {
        let content = json!({"resourceType": "Condition", "code": {"text": format!("Finding {n}-{k}")}});
        let (request, _) = hospital
            .write(
                n + k,
                &doctor,
                &format!("/api/v1/patients/{patient_id}/records"),
                json!({"kind": "diagnosis", "content": content}),
            )
            .await?;
        acknowledged.fetch_add(1, Ordering::Relaxed);
        hospital.anchored(n + k + 2, &doctor, request).await?;
        requests.push(request);
    }
    Ok((doctor, patient_id, requests))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_on_one_postgres_lose_and_double_nothing_when_one_is_killed() -> anyhow::Result<()> {
    let Some(database) = medledger_testkit::db::postgres().await else {
        return Ok(());
    };
    let Some(anvil) = Chain::anvil(CHAIN_ID)? else {
        return Ok(());
    };
    let dirs: Vec<DataDir> = (0..SERVERS).map(|_| DataDir::new("servers")).collect();
    let told = three_servers(&database, &anvil, &dirs).await;
    if told.is_err() || std::env::var_os("MEDLEDGER_SHOW_LOGS").is_some() {
        // What the servers said last, and where the chain stands, to find why.
        for (n, dir) in dirs.iter().enumerate() {
            println!("---- server {n}'s log, its end ----\n{}", dir.server_log_tail(60));
        }
        println!("---- the chain ----\n{}", chain_state(&anvil).await);
    }
    told?;
    database.remove().await;
    Ok(())
}

/// The chain's head, its base fee, and its transaction pool, for a failing run to show.
async fn chain_state(anvil: &Chain) -> String {
    let provider = anvil.provider();
    let head = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .ok()
        .flatten()
        .map(|b| {
            format!(
                "block {} base fee {:?}",
                b.header.number, b.header.base_fee_per_gas
            )
        });
    let status: Result<Value, _> = provider.raw_request("txpool_status".into(), ()).await;
    let inspect: Result<Value, _> = provider.raw_request("txpool_inspect".into(), ()).await;
    let inspect: String = format!("{inspect:?}").chars().take(3000).collect();
    format!("{head:?}\npool {status:?}\n{inspect}")
}

async fn three_servers(
    database: &medledger_testkit::db::Fresh,
    anvil: &Chain,
    dirs: &[DataDir],
) -> anyhow::Result<()> {
    // One hospital: the same master key and the same server account (relayer.key) on every server,
    // the account funded by the chain's first development account, its admin.
    let relayer = PrivateKeySigner::random();
    let funding = TransactionRequest::default()
        .with_to(relayer.address())
        .with_value(U256::from(100u128 * 10u128.pow(18)));
    anvil
        .provider()
        .send_transaction(funding)
        .await?
        .get_receipt()
        .await?;
    let admin_key = anvil.signers[0].clone();
    for dir in dirs {
        std::fs::write(
            dir.root().join("relayer.key"),
            alloy::hex::encode(relayer.to_bytes()),
        )?;
    }
    let admin_address = admin_key.address().to_string();
    let args = [
        "--database-url",
        database.url.as_str(),
        "--rpc-url",
        anvil.url.as_str(),
        "--chain-id",
        "19793",
        "--admin",
        admin_address.as_str(),
        "--confirmations",
        "0",
    ];
    let env = [("MEDLEDGER_MASTER_KEY", MASTER_KEY)];
    // The first deploys the contracts; the others find them in the database.
    let mut servers: Vec<Option<Server>> = vec![Some(Server::start_env(&dirs[0], &args, &env))];
    for dir in &dirs[1..] {
        servers.push(Some(Server::start_env(dir, &args, &env)));
    }
    let hospital = Arc::new(Hospital {
        urls: RwLock::new(servers.iter().map(|s| s.as_ref().unwrap().url.clone()).collect()),
    });

    // The admin approves the doctors, each of whom applied at a server of their own.
    let mut admin = User::new(admin_key);
    admin.sign_in_patiently(&hospital.api(0).await).await?;
    let mut doctors = Vec::new();
    for n in 0..DOCTORS {
        let mut doctor = User::new(PrivateKeySigner::random());
        doctor.sign_in_patiently(&hospital.api(n).await).await?;
        let applied = hospital
            .post(
                n + 1,
                &doctor.token,
                "/api/v1/doctors/applications",
                &json!({"name": format!("Dr {n}"), "licence": format!("L-{n}")}),
            )
            .await?;
        ensure!(applied.status == 201, "application: {}", applied.short());
        doctors.push(doctor);
    }
    let mut approvals = Vec::new();
    for (n, doctor) in doctors.iter().enumerate() {
        let path = format!("/api/v1/doctors/{}/approval", doctor.address());
        approvals.push(hospital.write(n, &admin, &path, json!({})).await?.0);
    }
    for (n, id) in approvals.into_iter().enumerate() {
        hospital.anchored(n, &admin, id).await?;
    }

    // Every doctor's day at once; once a third of the writes are acknowledged, the first server
    // (which took the relaying and the indexing first) is killed, and restarted a moment later.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let days: Vec<_> = doctors
        .into_iter()
        .enumerate()
        .map(|(n, doctor)| tokio::spawn(doctor_day(hospital.clone(), n, doctor, acknowledged.clone())))
        .collect();
    let total = DOCTORS * (WRITES + 1);
    while acknowledged.load(Ordering::Relaxed) < total / 3 && !days.iter().all(|d| d.is_finished()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    servers[0].take().expect("running").kill();
    println!(
        "killed server 0 after {} of {total} writes were acknowledged",
        acknowledged.load(Ordering::Relaxed)
    );
    // The writes go on without it: another server takes the relaying and the indexing over (each
    // doctor waits for one write to be anchored before the next).
    let killed_at = acknowledged.load(Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while acknowledged.load(Ordering::Relaxed) < killed_at + DOCTORS && !days.iter().all(|d| d.is_finished())
    {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "no server took the work over: {} writes acknowledged",
            acknowledged.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let restarted = Server::start_env(&dirs[0], &args, &env);
    hospital.urls.write().await[0] = restarted.url.clone();
    servers[0] = Some(restarted);
    let mut results = Vec::new();
    for day in days {
        results.push(day.await??);
    }

    // Each patient's history is what their doctor wrote, each entry once and verified.
    for (n, (doctor, patient, requests)) in results.iter().enumerate() {
        ensure!(requests.len() == WRITES + 1);
        let read = hospital
            .get(n, &doctor.token, &format!("/api/v1/patients/{patient}/records"))
            .await?;
        ensure!(read.status == 200, "reading {patient}: {}", read.short());
        let records = read.body["records"].as_array().context("records")?;
        let verified = records
            .iter()
            .filter(|r| r["proof"]["status"] == "verified")
            .count();
        // What their doctor declined after a server died before answering (shown to its
        // author as rejected, its content erased).
        let declined = records
            .iter()
            .filter(|r| r["proof"]["status"] == "rejected" && r["content"].is_null())
            .count();
        // Their demographics, and what their doctor wrote.
        ensure!(
            verified == WRITES + 1 && records.len() == verified + declined,
            "patient {patient}: {} records, {verified} verified and {declined} declined, want {} verified: {}",
            records.len(),
            WRITES + 1,
            read.body
        );
    }
    let (doctor, _, _) = &results[0];
    bulk_export_across_servers(&hospital, doctor).await?;
    for server in servers.into_iter().flatten() {
        server.stop();
    }
    // The store, the mirror and the chain agree, and the audit log is anchored.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(["verify", "--json", "--data-dir"])
        .arg(dirs[1].root())
        .args([
            "--database-url",
            database.url.as_str(),
            "--rpc-url",
            anvil.url.as_str(),
        ])
        .env("MEDLEDGER_MASTER_KEY", MASTER_KEY)
        .output()?;
    let report: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("verify's JSON: {}", String::from_utf8_lossy(&output.stderr)))?;
    ensure!(output.status.success(), "verify finds something: {report}");
    Ok(())
}

/// A Bulk Data export kicked off at one server, followed at the next and its file fetched at the
/// third: the jobs and their (sealed) files are the hospital's, not one server's.
async fn bulk_export_across_servers(hospital: &Hospital, doctor: &User) -> anyhow::Result<()> {
    let first = hospital.api(0).await;
    let kicked = first
        .http
        .get(format!("{}/fhir/Patient/$export?_type=Condition", first.url))
        .bearer_auth(&doctor.token)
        .header("prefer", "respond-async")
        .send()
        .await?;
    ensure!(kicked.status() == 202, "kick-off: {}", kicked.status());
    let location = kicked
        .headers()
        .get("content-location")
        .context("Content-Location")?
        .to_str()?
        .to_owned();
    let status_path = &location[location.find("/fhir/").context("a FHIR URL")?..];
    let mut manifest = None;
    for _ in 0..100 {
        let answer = hospital.get(1, &doctor.token, status_path).await?;
        match answer.status {
            202 => tokio::time::sleep(Duration::from_millis(100)).await,
            200 => {
                manifest = Some(answer.body);
                break;
            }
            _ => bail!("export status at another server: {}", answer.short()),
        }
    }
    let manifest = manifest.context("the export did not finish within ten seconds")?;
    let output = manifest["output"].as_array().context("output")?;
    ensure!(
        output.len() == 1 && output[0]["type"] == "Condition",
        "{manifest}"
    );
    let url = output[0]["url"].as_str().context("url")?;
    let file = hospital
        .get(
            2,
            &doctor.token,
            &url[url.find("/fhir/").context("a FHIR URL")?..],
        )
        .await?;
    ensure!(
        file.status == 200,
        "export file at a third server: {}",
        file.short()
    );
    let lines = file.text.lines().count();
    ensure!(
        lines == WRITES && output[0]["count"] == WRITES,
        "{lines} lines, want the doctor's {WRITES} Conditions: {manifest}"
    );
    Ok(())
}
