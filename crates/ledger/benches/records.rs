//! The store's figures, each beside a plain, unencrypted SQLite table doing the same work in the
//! same run: the write path with batched commits, `verify`, and name search at scale.
//!
//! `cargo bench -p medledger-ledger --bench records`
//! Environment: PATIENTS (200) × ENTRIES (500) for writes and verify; SEARCH_PATIENTS (100000);
//! BATCH (1000 writes per commit); QUERIES (2000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use medledger_chain::rpc::EthApi;
use medledger_chain::{Chain, ChainConfig};
use medledger_contracts::MedLedger;
use medledger_core::blind::{BlindIndexKey, Match};
use medledger_core::crypto::{Binding, Keyring, MasterKey};
use medledger_core::entry::EntryKind;
use medledger_core::entry::{self, Entry, PatientId, RecordId};
use medledger_ledger::indexer::Indexer;
use medledger_ledger::verify::{self, Options};
use medledger_store::Store;
use medledger_store::entries::NewEntry;
use medledger_store::mirror::Deployment;
use medledger_store::patients::NewPatient;
use medledger_store::requests::NewRequest;
use medledger_testkit::doctors::{approve, provider};
use sqlx::{AnyPool, Row};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const FIRST: [&str; 16] = [
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Margaret",
    "Dennis",
    "Radia",
    "Ken",
    "Shafi",
    "Leslie",
    "Tim",
];
const LAST: [&str; 16] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Thompson",
    "Goldwasser",
    "Lamport",
    "Berners",
];

/// A deterministic name per patient: a first name, a last name and a number word, so names
/// repeat realistically and prefixes have many matches.
fn name(i: usize) -> String {
    format!(
        "{} {}{} {}",
        FIRST[i % 16],
        LAST[(i / 16) % 16],
        (i / 256) % 40,
        ["Jr", "Sr", "II", "III"][i % 4]
    )
}

fn content(i: usize) -> Vec<u8> {
    format!(
        r#"{{"resourceType":"Observation","code":{{"text":"heart rate"}},"valueQuantity":{{"value":{},"unit":"/min"}}}}"#,
        60 + i % 40
    )
    .into_bytes()
}

fn request(signer: Address) -> NewRequest {
    NewRequest {
        purpose: "record".into(),
        signer,
        calldata: vec![0; 132],
        gas: 150_000,
        deadline: u64::MAX >> 1,
        forward_nonce: 0,
    }
}

fn per_second(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

async fn plain_pool(dir: &std::path::Path) -> AnyPool {
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}?mode=rwc", dir.join("plain.db").display()))
        .await
        .unwrap();
    for sql in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA cache_size = -65536",
        "CREATE TABLE plain_entries (seq INTEGER PRIMARY KEY, patient INTEGER NOT NULL, kind INTEGER NOT NULL,
             author BLOB NOT NULL, recorded_at INTEGER NOT NULL, content BLOB NOT NULL, hash BLOB NOT NULL)",
        "CREATE TABLE plain_names (token TEXT NOT NULL, patient INTEGER NOT NULL, PRIMARY KEY (token, patient))
             WITHOUT ROWID",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await.unwrap();
    }
    pool
}

struct Bench {
    dir: std::path::PathBuf,
    store: Store,
    keyring: Keyring,
    index: BlindIndexKey,
    plain: AnyPool,
}

impl Bench {
    async fn open() -> Self {
        let dir = std::env::temp_dir().join(format!("medledger-bench-records-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.join("medledger.db").display()))
            .await
            .unwrap();
        let keyring = Keyring::new(MasterKey::generate().unwrap(), vec![]);
        let (_, wrapped) = keyring.new_index_key().unwrap();
        let index = keyring
            .index_key(&store.put_wrapped_key_once("blind-index", &wrapped).await.unwrap())
            .unwrap();
        let plain = plain_pool(&dir).await;
        Self {
            dir,
            store,
            keyring,
            index,
            plain,
        }
    }
}

/// Registers `wallets.len()` patients in the store (no demographics entry: not the figure here).
async fn register(b: &Bench, wallets: &[Address], doctor: Address, batch: usize) -> Vec<PatientId> {
    let mut ids = Vec::with_capacity(wallets.len());
    for (chunk_no, chunk) in wallets.chunks(batch).enumerate() {
        let mut rows = Vec::with_capacity(chunk.len());
        for (j, wallet) in chunk.iter().enumerate() {
            let id = PatientId::random().unwrap();
            let (_, wrapped) = b.keyring.new_data_key(id).unwrap();
            let patient = NewPatient {
                id,
                wallet: *wallet,
                registered_by: doctor,
                data_key: wrapped,
                name_tags: b.index.tags_for_name(&name(chunk_no * batch + j)),
                created_at: 1,
            };
            rows.push((patient, vec![], request(doctor)));
            ids.push(id);
        }
        b.store.register_many(&rows).await.unwrap();
    }
    ids
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let patients = env("PATIENTS", 200);
    let per_patient = env("ENTRIES", 500);
    let search_patients = env("SEARCH_PATIENTS", 100_000);
    let batch = env("BATCH", 1000);
    let queries = env("QUERIES", 2000);
    let b = Bench::open().await;

    // A chain with MedLedger, a doctor, and the patients registered on it.
    let (admin, doctor) = (PrivateKeySigner::random(), PrivateKeySigner::random());
    let mut config = ChainConfig::new(b.dir.join("chain"));
    config.funded = vec![admin.address(), doctor.address()];
    let chain = Chain::open(config).unwrap();
    let api = Arc::new(EthApi::new(chain.clone()));
    let as_admin = provider(api.clone(), Some(&admin));
    let as_doctor = provider(api.clone(), Some(&doctor));
    let reader = provider(api.clone(), None);
    let deployed = medledger_contracts::deploy(&as_admin, admin.address(), 0)
        .await
        .unwrap();
    approve(&as_admin, deployed.ledger, &[doctor.address()]).await;
    b.store
        .set_deployment(&Deployment {
            chain_id: chain.chain_id(),
            ledger: deployed.ledger,
            forwarder: deployed.forwarder,
            block_number: 1,
        })
        .await
        .unwrap();
    let ledger = MedLedger::new(deployed.ledger, as_doctor.clone());
    let wallets: Vec<Address> = (0..patients)
        .map(|i| Address::left_padding_from(&(i as u64 + 1).to_be_bytes()))
        .collect();
    for wallet in &wallets {
        ledger
            .addPatient(*wallet)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
    let ids = register(&b, &wallets, doctor.address(), batch).await;
    Indexer::new(reader.clone(), b.store.clone(), deployed.ledger, 1, 0)
        .sync()
        .await
        .unwrap();

    // 1. The write path: seal, commit and store, `batch` writes (entry + request) per commit.
    let total = patients * per_patient;
    let mut writes = Vec::with_capacity(total);
    let mut in_database = Duration::ZERO;
    let started = Instant::now();
    for (p, id) in ids.iter().enumerate() {
        let key = b
            .keyring
            .data_key(*id, &b.store.patient(*id).await.unwrap().unwrap().data_key)
            .unwrap();
        for i in 0..per_patient {
            let record = RecordId::random().unwrap();
            let e = Entry {
                record,
                revision: 1,
                kind: EntryKind::Observation,
                author: doctor.address(),
                recorded_at: (p * per_patient + i) as u64,
                content: content(i),
            };
            let salt = entry::new_salt().unwrap();
            let sealed = key
                .seal(
                    &Binding {
                        patient: *id,
                        record,
                        revision: 1,
                    },
                    &entry::sealed_payload(&salt, &e.content),
                )
                .unwrap();
            let new = NewEntry {
                patient: *id,
                record,
                revision: 1,
                kind: e.kind,
                author: e.author,
                recorded_at: e.recorded_at,
                sealed,
                commitment: e.commitment(&salt),
            };
            writes.push((vec![new], request(doctor.address())));
            if writes.len() == batch {
                let commit = Instant::now();
                b.store.record_many(&writes).await.unwrap();
                in_database += commit.elapsed();
                writes.clear();
            }
        }
    }
    if !writes.is_empty() {
        b.store.record_many(&writes).await.unwrap();
    }
    let medledger_write = started.elapsed();

    let started = Instant::now();
    let author = doctor.address().to_vec();
    for chunk_start in (0..total).step_by(batch) {
        let mut tx = b.plain.begin().await.unwrap();
        for n in chunk_start..(chunk_start + batch).min(total) {
            let body = content(n % per_patient);
            sqlx::query("INSERT INTO plain_entries (patient, kind, author, recorded_at, content, hash) VALUES ($1, 2, $2, $3, $4, $5)")
                .bind((n / per_patient) as i64)
                .bind(author.clone())
                .bind(n as i64)
                .bind(body.clone())
                .bind(keccak256(&body).to_vec())
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let plain_write = started.elapsed();
    println!("write path, {total} entries, {batch} per commit (SQLite, synchronous=FULL):");
    println!(
        "  medledger (seal + commitment + entry + outbox row): {:>9.0} entries/s ({:.0}% of it in the database)",
        per_second(total, medledger_write),
        100.0 * in_database.as_secs_f64() / medledger_write.as_secs_f64()
    );
    println!(
        "  plain table (content in the clear + its hash):      {:>9.0} entries/s",
        per_second(total, plain_write)
    );

    // Anchor them: the doctor sends each patient's commitments as batches, straight to the contract.
    let mut chain_ids: Vec<(PatientId, u64)> = Vec::new();
    for id in &ids {
        chain_ids.push((
            *id,
            b.store.patient(*id).await.unwrap().unwrap().chain_id.unwrap(),
        ));
    }
    for (id, chain_id) in &chain_ids {
        let entries = b.store.entries_of(*id).await.unwrap();
        for chunk in entries.chunks(500) {
            let commitments: Vec<B256> = chunk.iter().map(|e| e.commitment).collect();
            let kinds = Bytes::from(vec![EntryKind::Observation as u8; chunk.len()]);
            ledger
                .updateMedicalHistoryBatch(U256::from(*chain_id), commitments, kinds)
                .send()
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
        }
    }
    Indexer::new(reader.clone(), b.store.clone(), deployed.ledger, 1, 0)
        .sync()
        .await
        .unwrap();

    // 2. verify: every entry decrypted, its commitment re-derived and checked against the chain's logs.
    let started = Instant::now();
    let report = verify::verify(&b.store, &b.keyring, &reader, Options::default())
        .await
        .unwrap();
    let medledger_verify = started.elapsed();
    assert_eq!(report.findings(), 0);
    assert_eq!(report.stored_entries as usize, total);
    assert_eq!(report.chain_entries as usize, total);

    let started = Instant::now();
    let rows = sqlx::query("SELECT content, hash FROM plain_entries ORDER BY seq")
        .fetch_all(&b.plain)
        .await
        .unwrap();
    let mut bad = 0;
    for row in &rows {
        let body: Vec<u8> = row.try_get(0).unwrap();
        let hash: Vec<u8> = row.try_get(1).unwrap();
        bad += usize::from(keccak256(&body).as_slice() != hash.as_slice());
    }
    let plain_verify = started.elapsed();
    assert_eq!((rows.len(), bad), (total, 0));
    println!("verify, {total} entries:");
    println!(
        "  medledger (decrypt, re-derive, match the chain's logs): {:>9.0} entries/s ({:.2} s)",
        per_second(total, medledger_verify),
        medledger_verify.as_secs_f64()
    );
    println!(
        "  plain table (re-hash each row against its stored hash): {:>9.0} entries/s ({:.2} s)",
        per_second(total, plain_verify),
        plain_verify.as_secs_f64()
    );
    drop((ledger, as_doctor, reader));
    chain.shutdown();

    // 3. Name search at scale.
    let wallets: Vec<Address> = (0..search_patients)
        .map(|i| Address::left_padding_from(&(1_000_000 + i as u64).to_be_bytes()))
        .collect();
    let started = Instant::now();
    let _ = register(&b, &wallets, doctor.address(), batch).await;
    let medledger_register = started.elapsed();
    let started = Instant::now();
    for chunk_start in (0..search_patients).step_by(batch) {
        let mut tx = b.plain.begin().await.unwrap();
        for i in chunk_start..(chunk_start + batch).min(search_patients) {
            let mut tokens: Vec<String> = Vec::new();
            for word in medledger_core::blind::words(&name(i)) {
                let chars: Vec<char> = word.chars().collect();
                tokens.push(format!("w:{word}"));
                tokens.extend(
                    (2..=chars.len()).map(|n| format!("p:{}", chars[..n].iter().collect::<String>())),
                );
            }
            tokens.sort();
            tokens.dedup();
            for token in tokens {
                sqlx::query("INSERT INTO plain_names (token, patient) VALUES ($1, $2)")
                    .bind(token)
                    .bind(i as i64)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
        }
        tx.commit().await.unwrap();
    }
    let plain_register = started.elapsed();

    let query_text = |q: usize| -> (String, Match) {
        let words: Vec<String> = medledger_core::blind::words(&name(q * 7919 % search_patients));
        match q % 3 {
            0 => (format!("{} {}", words[0], words[1]), Match::Exact),
            1 => (words[1][..3].to_owned(), Match::Prefix),
            _ => (format!("{} {}", &words[0][..2], &words[1][..4]), Match::Prefix),
        }
    };
    let mut medledger_times = Vec::with_capacity(queries);
    let mut found_total = 0;
    for q in 0..queries {
        let (text, how) = query_text(q);
        let started = Instant::now();
        let tags = b.index.tags_for_query(&text, how).unwrap();
        let found = b.store.search_names(&tags, 50).await.unwrap();
        medledger_times.push(started.elapsed());
        found_total += found.len();
        assert!(!found.is_empty(), "{text:?} finds its patient");
    }
    let mut plain_times = Vec::with_capacity(queries);
    for q in 0..queries {
        let (text, how) = query_text(q);
        let kind = if how == Match::Exact { "w:" } else { "p:" };
        let words = medledger_core::blind::words(&text);
        let started = Instant::now();
        let rows = if words.len() == 1 {
            sqlx::query("SELECT patient FROM plain_names WHERE token = $1 ORDER BY patient LIMIT 50")
                .bind(format!("{kind}{}", words[0]))
                .fetch_all(&b.plain)
                .await
                .unwrap()
        } else {
            sqlx::query("SELECT patient FROM plain_names WHERE token = $1 INTERSECT SELECT patient FROM plain_names WHERE token = $2 ORDER BY patient LIMIT 50")
                .bind(format!("{kind}{}", words[0]))
                .bind(format!("{kind}{}", words[1]))
                .fetch_all(&b.plain)
                .await
                .unwrap()
        };
        plain_times.push(started.elapsed());
        assert!(!rows.is_empty());
    }
    let pct = |times: &mut Vec<Duration>, p: f64| {
        times.sort();
        times[((times.len() as f64 * p) as usize).min(times.len() - 1)].as_secs_f64() * 1000.0
    };
    println!(
        "name search, {search_patients} patients, {queries} queries (exact and prefix, 1-2 words, top 50):"
    );
    println!(
        "  medledger blind index: p50 {:.3} ms, p99 {:.3} ms; {:.1} results per query; indexing {:.0} patients/s",
        pct(&mut medledger_times, 0.5),
        pct(&mut medledger_times, 0.99),
        found_total as f64 / queries as f64,
        per_second(search_patients, medledger_register)
    );
    println!(
        "  plain tokens in clear: p50 {:.3} ms, p99 {:.3} ms; indexing {:.0} patients/s",
        pct(&mut plain_times, 0.5),
        pct(&mut plain_times, 0.99),
        per_second(search_patients, plain_register)
    );
    let db_bytes = std::fs::metadata(b.dir.join("medledger.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!("database file: {:.1} MB", db_bytes as f64 / 1e6);
    b.store.close().await;
    let _ = std::fs::remove_dir_all(&b.dir);
}
