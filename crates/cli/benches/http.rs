//! MedLedger end to end through HTTP, as its users drive it: the `medledger` binary (this profile's
//! build) on a fresh data directory with SQLite and the embedded chain, and N concurrent clients,
//! each a doctor with a wallet of its own that signs its own EIP-712 requests.
//!
//! 1. Setup: each doctor signs in (EIP-4361), the admin approves them (signed requests), and each
//!    registers one patient.
//! 2. Writes: each client writes records to its patient (POST, sign the typed data, POST the
//!    signature, wait for the request with a long poll) until all are anchored. Reported: anchored records/s, and the
//!    latency from submitting the signature to seeing the request anchored (p50/p99).
//! 3. Reads: READERS clients read a patient's history of 20 entries (21 with demographics) for
//!    READ_SECS, counting only answers in which every entry is `verified` against the chain.
//! 4. The server's resident memory (VmRSS, and its peak VmHWM) after the writes and after the reads.
//!
//! Run: `cargo bench -p medledger --bench http`. Environment: `CLIENTS` (default 100), `RECORDS`
//! (records in all, default 20000), `READERS` (default 32), `READ_SECS` (default 10).
//!
//! `SERVERS=1,2,3` runs it again for each count of `medledger serve` processes on one PostgreSQL
//! (a fresh database each, at `MEDLEDGER_TEST_POSTGRES`, default the local server) and one anvil
//! (from the contracts' npm toolchain), after the default run on SQLite with one server: one
//! hospital (one master key, one server account), every request to the next server in turn (a
//! write stored at one is signed through the next). The memory is the first server's.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use serde_json::{Value, json};
use support::{ADMIN_KEY, Api, Server, User, env, percentile};

/// Entries in the history the read phase reads (besides the demographics).
const HISTORY: usize = 20;

impl Api {
    /// Registers a patient with a fresh wallet, and waits until it is on chain and mirrored.
    async fn register(&self, doctor: &User) -> anyhow::Result<String> {
        let wallet = PrivateKeySigner::random().address();
        let body =
            json!({"wallet": wallet, "name": "Bench Patient", "birthDate": "1970-01-01", "contact": "-"});
        let accepted = self
            .expect("POST", "/api/v1/patients", Some(&doctor.token), Some(body), 202)
            .await?;
        let patient = accepted["patientId"].as_str().context("patientId")?.to_owned();
        let id = self.sign(doctor, &accepted).await?;
        self.anchored(doctor, id).await?;
        // The patient's on-chain id reaches the store when the indexer mirrors the event.
        loop {
            let p = self
                .expect(
                    "GET",
                    &format!("/api/v1/patients/{patient}"),
                    Some(&doctor.token),
                    None,
                    200,
                )
                .await?;
            if !p["onChainId"].is_null() {
                return Ok(patient);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Writes one record and waits until it is anchored; returns (create→anchored, submit→anchored).
    async fn write(&self, doctor: &User, patient: &str, i: usize) -> anyhow::Result<(Duration, Duration)> {
        let begun = Instant::now();
        let path = format!("/api/v1/patients/{patient}/records");
        let accepted = self
            .expect("POST", &path, Some(&doctor.token), Some(entry(i)), 202)
            .await?;
        let submitted = Instant::now();
        let id = self.sign(doctor, &accepted).await?;
        self.anchored(doctor, id).await?;
        Ok((begun.elapsed(), submitted.elapsed()))
    }
}

/// `VmRSS` and `VmHWM` of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn entry(i: usize) -> Value {
    json!({"kind": "observation", "content": {
        "resourceType": "Observation", "status": "final",
        "code": {"text": "Blood pressure"}, "valueString": format!("{}/{} mmHg", 110 + i % 40, 70 + i % 20)
    }})
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let clients = env("CLIENTS", 100) as usize;
    let records = env("RECORDS", 20_000) as usize;
    let readers = env("READERS", 32) as usize;
    let read_secs = env("READ_SECS", 10);
    let per_client = records.div_ceil(clients);

    let server = Server::start("http")?;
    println!("== SQLite, one server");
    let outcome = run(
        std::slice::from_ref(&server.base),
        server.pid,
        clients,
        per_client,
        readers,
        read_secs,
    )
    .await;
    server.stop();
    outcome?;
    let Ok(counts) = std::env::var("SERVERS") else {
        return Ok(());
    };
    let anvil = Anvil::start()?;
    for count in counts.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let count: usize = count.parse().context("SERVERS is a list of counts: 1,2,3")?;
        println!("== PostgreSQL, {count} server(s) on one database, anvil");
        let database = fresh_database(count).await?;
        let relayer = PrivateKeySigner::random();
        anvil.fund(relayer.address()).await?;
        let admin = ADMIN_KEY.parse::<PrivateKeySigner>()?.address().to_string();
        let args = [
            "--database-url",
            database.as_str(),
            "--rpc-url",
            anvil.url.as_str(),
            "--chain-id",
            "31337",
            "--admin",
            admin.as_str(),
            "--confirmations",
            "0",
        ];
        let env = [("MEDLEDGER_MASTER_KEY", BENCH_MASTER_KEY)];
        let mut servers = Vec::new();
        for n in 0..count {
            servers.push(Server::start_with(
                &format!("http-pg-{count}-{n}"),
                &args,
                &env,
                Some(&relayer),
            )?);
        }
        let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
        let outcome = run(&bases, servers[0].pid, clients, per_client, readers, read_secs).await;
        for server in servers {
            server.stop();
        }
        outcome?;
    }
    Ok(())
}

/// The master key of the benchmark's PostgreSQL hospitals (never a real one).
const BENCH_MASTER_KEY: &str = "be9c000000000000000000000000000000000000000000000000000000000001";

/// anvil, from the contracts' npm toolchain, with its development accounts (the first is the
/// admin, [`ADMIN_KEY`]).
struct Anvil {
    url: String,
    _node: alloy::node_bindings::AnvilInstance,
}

impl Anvil {
    fn start() -> anyhow::Result<Self> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
        anyhow::ensure!(
            path.is_file(),
            "SERVERS needs anvil: `npm --prefix contracts install --ignore-scripts` installs it"
        );
        let node = alloy::node_bindings::Anvil::at(path).prague().try_spawn()?;
        Ok(Self {
            url: node.endpoint(),
            _node: node,
        })
    }

    /// Sends `to` 1,000 ETH from the admin's account.
    async fn fund(&self, to: alloy::primitives::Address) -> anyhow::Result<()> {
        use alloy::network::TransactionBuilder;
        use alloy::providers::{Provider, ProviderBuilder};
        let admin: PrivateKeySigner = ADMIN_KEY.parse()?;
        let provider = ProviderBuilder::new()
            .wallet(admin)
            .connect_http(self.url.parse()?);
        let tx = alloy::rpc::types::TransactionRequest::default()
            .with_to(to)
            .with_value(alloy::primitives::U256::from(1_000u128 * 10u128.pow(18)));
        provider.send_transaction(tx).await?.get_receipt().await?;
        Ok(())
    }
}

/// A fresh database on the PostgreSQL server at `MEDLEDGER_TEST_POSTGRES`; its URL.
async fn fresh_database(label: usize) -> anyhow::Result<String> {
    use sqlx::Connection;
    let admin = std::env::var("MEDLEDGER_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut connection = sqlx::PgConnection::connect(&admin)
        .await
        .with_context(|| format!("SERVERS needs PostgreSQL at {admin}"))?;
    let name = format!("medledger_bench_{}_{label}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
        .execute(&mut connection)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

async fn run(
    bases: &[String],
    pid: u32,
    clients: usize,
    per_client: usize,
    readers: usize,
    read_secs: u64,
) -> anyhow::Result<()> {
    let api = Api::new(
        reqwest::Client::builder().pool_max_idle_per_host(256).build()?,
        bases.to_vec(),
    );
    println!(
        "medledger (pid {pid}) at {}; {clients} clients x {per_client} records = {} records; {} cores",
        bases.join(", "),
        clients * per_client,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Setup: doctors sign in; the admin approves them; each registers a patient.
    let started = Instant::now();
    let admin = Arc::new(api.sign_in(ADMIN_KEY.parse()?).await?);
    let mut doctors = Vec::new();
    for _ in 0..clients {
        doctors.push(api.sign_in(PrivateKeySigner::random()).await?);
    }
    let mut approvals = Vec::new();
    for doctor in &doctors {
        let path = format!("/api/v1/doctors/{}/approval", doctor.wallet.address());
        let accepted = api.expect("POST", &path, Some(&admin.token), None, 202).await?;
        approvals.push(api.sign(&admin, &accepted).await?);
    }
    for id in approvals {
        api.anchored(&admin, id).await?;
    }
    let mut setups = Vec::new();
    for doctor in doctors {
        let api = api.clone();
        setups.push(tokio::spawn(async move {
            let patient = api.register(&doctor).await?;
            anyhow::Ok((doctor, patient))
        }));
    }
    let mut pairs = Vec::new();
    for setup in setups {
        pairs.push(setup.await??);
    }
    println!(
        "setup: {clients} doctors approved and {clients} patients registered in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Writes.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (doctor, patient) in pairs {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut submit_to_anchored = Vec::with_capacity(per_client);
            let mut end_to_end = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let (whole, submit) = api.write(&doctor, &patient, i).await?;
                submit_to_anchored.push(submit);
                end_to_end.push(whole);
            }
            anyhow::Ok((doctor, patient, submit_to_anchored, end_to_end))
        }));
    }
    let mut submit = Vec::new();
    let mut whole = Vec::new();
    let mut readers_of = Vec::new();
    for task in tasks {
        let (doctor, patient, s, w) = task.await??;
        submit.extend(s);
        whole.extend(w);
        readers_of.push((doctor, patient));
    }
    let elapsed = started.elapsed().as_secs_f64();
    submit.sort();
    whole.sort();
    let (rss, peak) = memory(pid);
    println!(
        "writes: {} records anchored in {elapsed:.1} s = {:.0} records/s; submit->anchored p50 {:.1} ms, p99 {:.1} ms; \
         create->anchored p50 {:.1} ms, p99 {:.1} ms",
        submit.len(),
        submit.len() as f64 / elapsed,
        percentile(&submit, 0.50),
        percentile(&submit, 0.99),
        percentile(&whole, 0.50),
        percentile(&whole, 0.99),
    );
    println!("memory after writes: VmRSS {rss:.0} MiB (peak {peak:.0} MiB)");

    // Reads: a patient with HISTORY entries, read by their doctor, every entry verified.
    let (doctor, _) = readers_of.swap_remove(0);
    let patient = api.register(&doctor).await?;
    for i in 0..HISTORY {
        api.write(&doctor, &patient, i).await?;
    }
    let doctor = Arc::new(doctor);
    let path = Arc::new(format!("/api/v1/patients/{patient}/records"));
    let history = api.expect("GET", &path, Some(&doctor.token), None, 200).await?;
    let entries = history["records"].as_array().map_or(0, Vec::len);
    println!("reads: the history read has {entries} entries");
    let started = Instant::now();
    let until = started + Duration::from_secs(read_secs);
    let mut tasks = Vec::new();
    for _ in 0..readers {
        let (api, doctor, path) = (api.clone(), doctor.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut unverified = 0u64;
            while Instant::now() < until {
                let begun = Instant::now();
                let history = api.expect("GET", &path, Some(&doctor.token), None, 200).await?;
                let all = history["records"].as_array().is_some_and(|r| {
                    r.len() == entries && r.iter().all(|e| e["proof"]["status"] == "verified")
                });
                if all {
                    latencies.push(begun.elapsed());
                } else {
                    unverified += 1;
                }
            }
            anyhow::Ok((latencies, unverified))
        }));
    }
    let mut reads = Vec::new();
    let mut unverified = 0;
    for task in tasks {
        let (l, u) = task.await??;
        reads.extend(l);
        unverified += u;
    }
    let elapsed = started.elapsed().as_secs_f64();
    reads.sort();
    let (rss, peak) = memory(pid);
    println!(
        "reads: {} verified histories of {entries} entries in {elapsed:.1} s by {readers} readers = {:.0} reads/s; \
         p50 {:.1} ms, p99 {:.1} ms; {unverified} not all verified",
        reads.len(),
        reads.len() as f64 / elapsed,
        percentile(&reads, 0.50),
        percentile(&reads, 0.99),
    );
    println!("memory after reads: VmRSS {rss:.0} MiB (peak {peak:.0} MiB)");
    Ok(())
}
