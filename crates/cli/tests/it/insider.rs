//! The insider suite (issue 17): someone with their hands on a stopped server's data directory (the
//! database, and once the master key too) changes what it holds, and then both `medledger verify`
//! names each change and the running server's reads show it to the user instead of serving the
//! altered or missing data.
//!
//! One story per backend (SQLite, PostgreSQL), on one data directory: the real `medledger` binary in
//! demo mode, driven over HTTP by real users (the demo admin, two doctors, an applicant the admin
//! never approved, an outsider's wallet and fourteen patients, one per tamper plus an untouched one),
//! every write signed by its author's own key and anchored. The server is stopped (SIGTERM: it
//! anchors its audit head), the database is tampered with, `medledger verify --json` runs, and the
//! server is started again on the same data to read as each user would. The tampers, each on a
//! patient of its own:
//!
//! | patient | tamper |
//! |---|---|
//! | `wallet` | `patients.wallet` re-pointed at an outsider's wallet |
//! | `role` | a `doctors` row (and an `access` row) making an unapproved applicant a doctor with consent |
//! | `consent` | an `access` row giving doctor B a consent the patient never gave |
//! | `deleted` | an entry's row deleted |
//! | `amended` | an amendment's row deleted (rolling the record back to its first revision) |
//! | `swap-a`, `swap-b` | their diagnoses' rows swapped between them |
//! | `edited` | one byte of an entry's ciphertext changed |
//! | `resealed` | demographics re-sealed under another name with the master key (new salt, new commitment) |
//! | `audit-edit`, `audit-del`, `audit-reorder`, `audit-trunc` | an audit row of theirs edited, deleted, two swapped, and the log's tail (theirs) cut |
//! | `ok` | nothing: its reads stay verified and verify names nothing of it |
//!
//! Every expectation is a named check; a story reports all of them and fails at the end if any
//! failed, naming each (see the test output for the list).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, ensure};
use medledger_core::crypto::Binding;
use medledger_core::entry::EntryKind;
use medledger_core::entry::{self, Entry, PatientId, RecordId};
use serde_json::{Value, json};
use sqlx::Row;

use crate::http::{Answer, Api, User};
use crate::serve::Server;
use crate::util::{DEV_KEYS, DataDir};

/// The title of the problem a read answers when the store disagrees with the chain.
const DISAGREES: &str = "The store disagrees with the chain";

/// The demographics the insider re-seals for patient `resealed`.
const FORGED_NAME: &str = "Mallory Forged";

/// How many of the audit log's newest records (all of patient `audit-trunc`) the insider cuts.
const CUT: i64 = 6;

/// The patients, one per tamper, and `ok`, whom nothing touches.
const PATIENTS: [&str; 14] = [
    "ok",
    "wallet",
    "role",
    "consent",
    "deleted",
    "amended",
    "swap-a",
    "swap-b",
    "edited",
    "resealed",
    "audit-edit",
    "audit-del",
    "audit-reorder",
    "audit-trunc",
];

/// The entries doctor A writes: (label, patient, kind, content). Each text is a word found nowhere
/// else, so that finding it in an answer means the entry's content was served.
const ENTRIES: [(&str, &str, &str, &str); 10] = [
    ("ok-dx", "ok", "diagnosis", "Hayfever"),
    ("wallet-dx", "wallet", "diagnosis", "Migraine"),
    ("role-dx", "role", "diagnosis", "Diabetes"),
    ("consent-dx", "consent", "diagnosis", "Depression"),
    ("deleted-dx", "deleted", "diagnosis", "Eczema"),
    ("deleted-med", "deleted", "medication", "Hydrocortisone"),
    ("amended-dx", "amended", "diagnosis", "Asthma"),
    ("swap-a-dx", "swap-a", "diagnosis", "Gout"),
    ("swap-b-dx", "swap-b", "diagnosis", "Psoriasis"),
    ("edited-dx", "edited", "diagnosis", "Anaemia"),
];

/// What the amendment of `amended-dx` says.
const AMENDMENT: &str = "Remission";

// ------------------------------------------------------------------------------------------------
// HTTP as a client sees it.

// ------------------------------------------------------------------------------------------------
// Checks: every expectation named, all of them reported.

struct Checks {
    backend: &'static str,
    passed: usize,
    failed: Vec<String>,
}

impl Checks {
    fn new(backend: &'static str) -> Self {
        Self {
            backend,
            passed: 0,
            failed: Vec::new(),
        }
    }

    /// Records the check `name`; on failure, with `evidence` of what was seen.
    fn check(&mut self, name: &str, ok: bool, evidence: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
            println!("[{}] ok   {name}", self.backend);
        } else {
            let line = format!("[{}] FAIL {name}\n        saw: {}", self.backend, evidence());
            println!("{line}");
            self.failed.push(line);
        }
    }

    fn finish(self) {
        println!(
            "[{}] {} check(s) passed, {} failed",
            self.backend,
            self.passed,
            self.failed.len()
        );
        assert!(
            self.failed.is_empty(),
            "{} of {} insider checks failed on {}:\n{}",
            self.failed.len(),
            self.failed.len() + self.passed,
            self.backend,
            self.failed.join("\n")
        );
    }
}

// ------------------------------------------------------------------------------------------------
// The story.

struct Patient {
    user: User,
    id: String,
    chain_id: u64,
    name: String,
}

/// A record as written and anchored.
struct Written {
    patient: &'static str,
    record: String,
    revision: u32,
    version: u64,
    text: &'static str,
}

struct Hospital {
    admin: User,
    doctor_a: User,
    doctor_b: User,
    /// Applied as a doctor; never approved.
    applicant: User,
    /// A wallet that is nobody's here.
    outsider: User,
    patients: BTreeMap<&'static str, Patient>,
    written: BTreeMap<&'static str, Written>,
    /// Each patient's demographics record.
    demographics: BTreeMap<&'static str, String>,
}

impl Hospital {
    fn p(&self, label: &str) -> &Patient {
        &self.patients[label]
    }

    fn w(&self, label: &str) -> &Written {
        &self.written[label]
    }

    fn everyone_mut(&mut self) -> Vec<&mut User> {
        let mut all = vec![
            &mut self.admin,
            &mut self.doctor_a,
            &mut self.doctor_b,
            &mut self.applicant,
            &mut self.outsider,
        ];
        all.extend(self.patients.values_mut().map(|p| &mut p.user));
        all
    }
}

fn condition(text: &str) -> Value {
    json!({"resourceType": "Condition", "code": {"text": text}})
}

fn content(kind: &str, text: &str) -> Value {
    match kind {
        "diagnosis" => condition(text),
        "medication" => json!({
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": {"text": text},
        }),
        other => panic!("no content for {other}"),
    }
}

/// The records read of `user` for `patient`, as a list (empty unless 200).
fn records_of(answer: &Answer) -> Vec<Value> {
    answer.body["records"].as_array().cloned().unwrap_or_default()
}

fn status_of(item: &Value) -> &str {
    item["proof"]["status"].as_str().unwrap_or("")
}

/// Drives the hospital's day over HTTP: approvals, registrations, entries, an amendment, and reads
/// (whose audit records the audit tampers need), ending with `audit-trunc`'s reads, the log's tail.
async fn a_day_at_the_hospital(api: &Api) -> anyhow::Result<Hospital> {
    let mut h = Hospital {
        admin: User::new(DEV_KEYS[0].parse()?),
        doctor_a: User::new(PrivateKeySigner::random()),
        doctor_b: User::new(PrivateKeySigner::random()),
        applicant: User::new(PrivateKeySigner::random()),
        outsider: User::new(PrivateKeySigner::random()),
        patients: BTreeMap::new(),
        written: BTreeMap::new(),
        demographics: BTreeMap::new(),
    };
    for user in h.everyone_mut() {
        user.sign_in(api).await?;
    }

    // Doctors apply; the admin approves A and B, never the applicant.
    for (user, name) in [
        (&h.doctor_a, "Dr Alice A"),
        (&h.doctor_b, "Dr Bob B"),
        (&h.applicant, "Dr Mallory M"),
    ] {
        let applied = api
            .post(
                &user.token,
                "/api/v1/doctors/applications",
                &json!({"name": name, "licence": format!("L-{}", user.address())}),
            )
            .await?;
        ensure!(applied.status == 201, "application: {}", applied.short());
    }
    let mut approvals = Vec::new();
    for doctor in [h.doctor_a.address(), h.doctor_b.address()] {
        let (id, _) = h
            .admin
            .write(api, &format!("/api/v1/doctors/{doctor}/approval"), json!({}))
            .await?;
        approvals.push(id);
    }
    for id in approvals {
        h.admin.anchored(api, id).await?;
    }

    // Doctor A registers every patient.
    let mut registrations = Vec::new();
    for label in PATIENTS {
        let mut user = User::new(PrivateKeySigner::random());
        user.sign_in(api).await?;
        let name = if label == "resealed" {
            "Grace Original".to_owned()
        } else {
            format!("Pat {}", label.replace('-', " "))
        };
        let (request, body) = h
            .doctor_a
            .write(
                api,
                "/api/v1/patients",
                json!({"wallet": user.address(), "name": name, "birthDate": "1980-02-29", "contact": "pat@example.org"}),
            )
            .await?;
        let id = body["patientId"].as_str().context("patientId")?.to_owned();
        registrations.push(request);
        h.patients.insert(
            label,
            Patient {
                user,
                id,
                chain_id: 0,
                name,
            },
        );
    }
    for id in registrations {
        h.doctor_a.anchored(api, id).await?;
    }

    // Doctor A writes the entries, then amends `amended-dx` once it is anchored.
    let mut writes = Vec::new();
    for (label, patient, kind, text) in ENTRIES {
        let id = &h.p(patient).id;
        let (request, body) = h
            .doctor_a
            .write(
                api,
                &format!("/api/v1/patients/{id}/records"),
                json!({"kind": kind, "content": content(kind, text)}),
            )
            .await?;
        writes.push(request);
        h.written.insert(
            label,
            Written {
                patient,
                record: body["recordId"].as_str().context("recordId")?.to_owned(),
                revision: u32::try_from(body["revision"].as_u64().context("revision")?)?,
                version: 0,
                text,
            },
        );
    }
    for id in writes {
        h.doctor_a.anchored(api, id).await?;
    }
    let amended = h.w("amended-dx").record.clone();
    let (request, body) = h
        .doctor_a
        .write(
            api,
            &format!("/api/v1/patients/{}/records", h.p("amended").id),
            json!({"kind": "diagnosis", "content": condition(AMENDMENT), "amends": amended}),
        )
        .await?;
    h.doctor_a.anchored(api, request).await?;
    h.written.insert(
        "amended-dx-2",
        Written {
            patient: "amended",
            record: body["recordId"].as_str().context("recordId")?.to_owned(),
            revision: u32::try_from(body["revision"].as_u64().context("revision")?)?,
            version: 0,
            text: AMENDMENT,
        },
    );
    ensure!(
        h.w("amended-dx-2").record == amended && h.w("amended-dx-2").revision == 2,
        "the amendment is revision 2 of the same record"
    );

    // Every patient reads their record and profile: all verified, nothing missing. Their on-chain
    // ids, their entries' versions and their demographics records come from these reads.
    for label in PATIENTS {
        let patient = &h.patients[label];
        let profile = patient
            .user
            .get(api, &format!("/api/v1/patients/{}", patient.id))
            .await?;
        ensure!(profile.status == 200, "{label}'s profile: {}", profile.short());
        ensure!(
            profile.body["demographicsProof"]["status"] == "verified" && profile.text.contains(&patient.name),
            "{label}'s demographics verify before any tamper: {}",
            profile.short()
        );
        let chain_id = profile.body["onChainId"].as_u64().context("onChainId")?;
        let read = patient
            .user
            .get(api, &format!("/api/v1/patients/{}/records", patient.id))
            .await?;
        ensure!(read.status == 200, "{label}'s records: {}", read.short());
        let items = records_of(&read);
        ensure!(
            !items.is_empty() && items.iter().all(|i| status_of(i) == "verified"),
            "{label}'s records all verify before any tamper: {}",
            read.short()
        );
        let demographics = items
            .iter()
            .find(|i| i["kind"] == EntryKind::Demographics as u8)
            .and_then(|i| i["record"].as_str())
            .context("a demographics record")?
            .to_owned();
        h.demographics.insert(label, demographics);
        for written in h.written.values_mut().filter(|w| w.patient == label) {
            let item = items
                .iter()
                .find(|i| i["record"] == written.record.as_str() && i["revision"] == written.revision)
                .with_context(|| format!("{label}'s read holds record {}", written.record))?;
            ensure!(
                item.to_string().contains(written.text),
                "its content is served: {item}"
            );
            written.version = item["proof"]["version"].as_u64().context("a version")?;
        }
        h.patients.get_mut(label).expect("a patient").chain_id = chain_id;
    }

    // The audit patients read again, so each has several records in the log; `audit-trunc`'s
    // reads come last of all: they are the tail the insider cuts.
    for label in ["audit-edit", "audit-del", "audit-reorder"] {
        let patient = &h.patients[label];
        for _ in 0..2 {
            let read = patient
                .user
                .get(api, &format!("/api/v1/patients/{}/records", patient.id))
                .await?;
            ensure!(read.status == 200, "{}", read.short());
        }
    }
    let last = &h.patients["audit-trunc"];
    for i in 0..CUT {
        let path = if i % 2 == 0 {
            format!("/api/v1/patients/{}/records", last.id)
        } else {
            format!("/api/v1/patients/{}", last.id)
        };
        let read = last.user.get(api, &path).await?;
        ensure!(read.status == 200, "{}", read.short());
    }
    Ok(h)
}

// ------------------------------------------------------------------------------------------------
// `medledger verify`.

fn verify(dir: &Path, database_url: Option<&str>) -> anyhow::Result<(i32, Value)> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medledger"));
    command.args(["verify", "--json", "--data-dir"]).arg(dir);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    for var in [
        "MEDLEDGER_MASTER_KEY",
        "MEDLEDGER_NEXT_MASTER_KEY",
        "MEDLEDGER_DATABASE_URL",
        "MEDLEDGER_RPC_URL",
        "MEDLEDGER_DATA_DIR",
    ] {
        command.env_remove(var);
    }
    let output = command.output().context("medledger verify runs")?;
    let code = output.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        code == 0 || code == 1,
        "verify failed ({code}): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = serde_json::from_str(&stdout).with_context(|| format!("verify's JSON: {stdout}"))?;
    Ok((code, report))
}

fn list<'a>(report: &'a Value, key: &str) -> Vec<&'a Value> {
    report[key]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn same_address(value: &Value, address: Address) -> bool {
    value.as_str().and_then(|s| s.parse::<Address>().ok()) == Some(address)
}

/// The seven store, entry and audit findings the tampers must produce, checked in `report` (the
/// CLI's, or the admin's `GET /api/v1/verify` on the restarted server: `via` says which).
fn check_report(checks: &mut Checks, via: &str, report: &Value, h: &Hospital, audit: &AuditTampers) {
    let entries = list(report, "entries");
    let store = list(report, "store");
    let findings = list(report, "audit");
    let shown = || serde_json::to_string(report).unwrap_or_default();
    let chain = |label: &str| h.p(label).chain_id;

    // Who is who.
    let wallet = h.p("wallet");
    checks.check(
        &format!("{via}: names the re-pointed wallet (store finding patient-wallet)"),
        store.iter().any(|f| {
            f["finding"] == "patient-wallet"
                && f["patient"] == wallet.id.as_str()
                && same_address(&f["stored"], h.outsider.address())
                && same_address(&f["chain"], wallet.user.address())
        }),
        shown,
    );
    checks.check(
        &format!("{via}: names the forged role row (store finding role: stored true, chain false)"),
        store.iter().any(|f| {
            f["finding"] == "role"
                && same_address(&f["account"], h.applicant.address())
                && f["stored"] == true
                && f["chain"] == false
        }),
        shown,
    );
    checks.check(
        &format!("{via}: names the forged doctor's access row (store finding access)"),
        store.iter().any(|f| {
            f["finding"] == "access"
                && f["chainPatient"] == chain("role")
                && same_address(&f["doctor"], h.applicant.address())
        }),
        shown,
    );
    checks.check(
        &format!("{via}: names the forged consent row (store finding access)"),
        store.iter().any(|f| {
            f["finding"] == "access"
                && f["chainPatient"] == chain("consent")
                && same_address(&f["doctor"], h.doctor_b.address())
        }),
        shown,
    );

    // Entries.
    let deleted = h.w("deleted-med");
    checks.check(
        &format!("{via}: names the deleted entry (missing-from-store at its version)"),
        entries.iter().any(|e| {
            e["verdict"] == "missing-from-store"
                && e["chainPatient"] == chain("deleted")
                && e["version"] == deleted.version
        }),
        shown,
    );
    let amendment = h.w("amended-dx-2");
    checks.check(
        &format!("{via}: names the deleted amendment (missing-from-store at its version)"),
        entries.iter().any(|e| {
            e["verdict"] == "missing-from-store"
                && e["chainPatient"] == chain("amended")
                && e["version"] == amendment.version
        }),
        shown,
    );
    for label in ["swap-a-dx", "swap-b-dx"] {
        let swapped = h.w(label);
        checks.check(
            &format!("{via}: names the swapped entry {label} (altered, out-of-order or not-on-chain)"),
            entries.iter().any(|e| {
                e["record"] == swapped.record.as_str()
                    && ["altered", "out-of-order", "not-on-chain"]
                        .contains(&e["verdict"].as_str().unwrap_or(""))
            }),
            shown,
        );
    }
    let edited = h.w("edited-dx");
    checks.check(
        &format!("{via}: names the edited ciphertext (altered)"),
        entries
            .iter()
            .any(|e| e["record"] == edited.record.as_str() && e["verdict"] == "altered"),
        shown,
    );
    checks.check(
        &format!("{via}: names the re-sealed demographics (altered)"),
        entries.iter().any(|e| {
            e["record"] == h.demographics["resealed"].as_str()
                && e["revision"] == 1
                && e["verdict"] == "altered"
        }),
        shown,
    );

    // The audit log.
    checks.check(
        &format!("{via}: names the edited audit record (altered at its sequence)"),
        findings
            .iter()
            .any(|f| f["finding"] == "altered" && f["sequence"] == audit.edited),
        shown,
    );
    checks.check(
        &format!("{via}: names the deleted audit record (missing from..to its sequence)"),
        findings
            .iter()
            .any(|f| f["finding"] == "missing" && f["from"] == audit.deleted && f["to"] == audit.deleted),
        shown,
    );
    checks.check(
        &format!("{via}: names the reordered audit records (altered at one of their sequences)"),
        findings.iter().any(|f| {
            f["finding"] == "altered"
                && (f["sequence"] == audit.swapped.0 || f["sequence"] == audit.swapped.1)
        }),
        shown,
    );
    checks.check(
        &format!("{via}: names the truncated audit log (truncated: anchored past what the store holds)"),
        findings
            .iter()
            .any(|f| f["finding"] == "truncated" && f["anchored"] == audit.head),
        shown,
    );

    // Nothing of the untouched patient.
    let ok = h.p("ok");
    checks.check(
        &format!("{via}: names nothing of the untouched patient"),
        !entries
            .iter()
            .any(|e| e["patient"] == ok.id.as_str() || e["chainPatient"] == ok.chain_id)
            && !store
                .iter()
                .any(|f| f["patient"] == ok.id.as_str() || f["chainPatient"] == ok.chain_id),
        shown,
    );
}

// ------------------------------------------------------------------------------------------------
// The insider's hands on the stopped server's database.

/// The audit records the insider changed.
#[derive(Debug, Default)]
struct AuditTampers {
    edited: i64,
    deleted: i64,
    swapped: (i64, i64),
    /// The log's head when the server stopped (anchored at the stop).
    head: i64,
}

fn patient_bytes(id: &str) -> anyhow::Result<Vec<u8>> {
    Ok(id.parse::<PatientId>()?.0.to_vec())
}

fn record_bytes(id: &str) -> anyhow::Result<Vec<u8>> {
    Ok(id.parse::<RecordId>()?.0.to_vec())
}

async fn tamper(url: &str, dir: &Path, h: &Hospital) -> anyhow::Result<AuditTampers> {
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(url).await?;
    let exec = |sql: &'static str| sqlx::query(sql);

    // Re-pointed wallet: patient `wallet` now "belongs" to the outsider.
    let done = exec("UPDATE patients SET wallet = $1 WHERE id = $2")
        .bind(h.outsider.address().to_vec())
        .bind(patient_bytes(&h.p("wallet").id)?)
        .execute(&db)
        .await?;
    ensure!(done.rows_affected() == 1, "the wallet row");

    // Changed role row: the applicant is a doctor, with consent to patient `role`.
    let cursor: i64 = exec("SELECT block_number FROM chain_cursor WHERE id = 1")
        .fetch_one(&db)
        .await?
        .try_get(0)?;
    exec("INSERT INTO doctors (address, active, block_number) VALUES ($1, 1, $2)")
        .bind(h.applicant.address().to_vec())
        .bind(cursor)
        .execute(&db)
        .await?;
    // Changed consent rows: until revoked (u64::MAX, stored as -1), which nobody on chain gave.
    for (patient, doctor) in [("role", h.applicant.address()), ("consent", h.doctor_b.address())] {
        exec(
            "INSERT INTO access (patient, doctor, consent_expires_at, emergency_expires_at) VALUES ($1, $2, -1, 0)",
        )
        .bind(i64::try_from(h.p(patient).chain_id)?)
        .bind(doctor.to_vec())
        .execute(&db)
        .await?;
    }

    // Deleted entry; deleted amendment (the record rolls back to its first revision).
    let done = exec("DELETE FROM entries WHERE record_id = $1")
        .bind(record_bytes(&h.w("deleted-med").record)?)
        .execute(&db)
        .await?;
    ensure!(done.rows_affected() == 1, "the deleted entry's row");
    let done = exec("DELETE FROM entries WHERE record_id = $1 AND revision = 2")
        .bind(record_bytes(&h.w("amended-dx-2").record)?)
        .execute(&db)
        .await?;
    ensure!(done.rows_affected() == 1, "the amendment's row");

    // Swapped entries: each diagnosis row moved to the other patient.
    for (entry, to) in [("swap-a-dx", "swap-b"), ("swap-b-dx", "swap-a")] {
        let done = exec("UPDATE entries SET patient_id = $1 WHERE record_id = $2")
            .bind(patient_bytes(&h.p(to).id)?)
            .bind(record_bytes(&h.w(entry).record)?)
            .execute(&db)
            .await?;
        ensure!(done.rows_affected() == 1, "the swapped row {entry}");
    }

    // Edited ciphertext: one byte of the sealed content.
    let edited = record_bytes(&h.w("edited-dx").record)?;
    let mut sealed: Vec<u8> = exec("SELECT sealed FROM entries WHERE record_id = $1")
        .bind(edited.clone())
        .fetch_one(&db)
        .await?
        .try_get(0)?;
    let middle = sealed.len() / 2;
    sealed[middle] ^= 0x01;
    exec("UPDATE entries SET sealed = $1 WHERE record_id = $2")
        .bind(sealed)
        .bind(edited)
        .execute(&db)
        .await?;

    // Re-sealed demographics: with the master key, a new name under a new salt, and the stored
    // commitment made to match it (all an insider with the key and the database can do).
    {
        let store = medledger_store::Store::open(url).await?;
        let keyring = medledger_ledger::keyfile::load(dir)?;
        let patient: PatientId = h.p("resealed").id.parse()?;
        let stored = store.patient(patient).await?.context("the patient row")?;
        let key = keyring.data_key(patient, &stored.data_key)?;
        let demographics = store
            .entries_of(patient)
            .await?
            .into_iter()
            .find(|e| e.kind == Some(EntryKind::Demographics))
            .context("the demographics entry")?;
        let forged = json!({
            "resourceType": "Patient",
            "identifier": [{"system": "urn:ethereum:address", "value": h.p("resealed").user.address().to_string()}],
            "name": [{"text": FORGED_NAME}],
            "birthDate": "1970-01-01",
            "telecom": [{"value": "mallory@example.org"}],
        });
        let entry = Entry {
            record: demographics.record,
            revision: demographics.revision,
            kind: EntryKind::Demographics,
            author: demographics.author,
            recorded_at: demographics.recorded_at,
            content: serde_json::to_vec(&forged)?,
        };
        let salt = entry::new_salt()?;
        let binding = Binding {
            patient,
            record: entry.record,
            revision: entry.revision,
        };
        let sealed = key.seal(&binding, &entry::sealed_payload(&salt, &entry.content))?;
        store.close().await;
        let done =
            exec("UPDATE entries SET sealed = $1, commitment = $2 WHERE record_id = $3 AND revision = $4")
                .bind(sealed)
                .bind(entry.commitment(&salt).to_vec())
                .bind(entry.record.0.to_vec())
                .bind(i64::from(entry.revision))
                .execute(&db)
                .await?;
        ensure!(done.rows_affected() == 1, "the demographics row");
    }

    // The audit log: an edit, a deletion, a swap and the tail cut, each in its patient's records.
    let rows = exec("SELECT sequence, patient_id FROM audit_log ORDER BY sequence")
        .fetch_all(&db)
        .await?;
    let mut log: Vec<(i64, Option<Vec<u8>>)> = Vec::with_capacity(rows.len());
    for row in &rows {
        log.push((row.try_get(0)?, row.try_get(1)?));
    }
    let of = |label: &str| -> anyhow::Result<Vec<i64>> {
        let id = patient_bytes(&h.p(label).id)?;
        Ok(log
            .iter()
            .filter(|(_, p)| p.as_deref() == Some(id.as_slice()))
            .map(|(s, _)| *s)
            .collect())
    };
    let head = log.last().context("an audit log")?.0;
    let tail = &log[log.len() - usize::try_from(CUT)?..];
    let trunc = patient_bytes(&h.p("audit-trunc").id)?;
    ensure!(
        tail.iter().all(|(_, p)| p.as_deref() == Some(trunc.as_slice())),
        "the log's last {CUT} records are audit-trunc's reads"
    );
    let (edits, deletes, swaps) = (of("audit-edit")?, of("audit-del")?, of("audit-reorder")?);
    ensure!(
        edits.len() >= 3 && deletes.len() >= 3 && swaps.len() >= 3,
        "each audit patient has records: {edits:?} {deletes:?} {swaps:?}"
    );
    let tampers = AuditTampers {
        // The patient's own last read, made to say doctor B read the record under consent.
        edited: edits[edits.len() - 1],
        deleted: deletes[deletes.len() - 1],
        // The registration (by doctor A) and the patient's last read change places.
        swapped: (swaps[0], swaps[swaps.len() - 1]),
        head,
    };
    let done = exec("UPDATE audit_log SET actor = $1, detail = 'consent' WHERE sequence = $2")
        .bind(h.doctor_b.address().to_vec())
        .bind(tampers.edited)
        .execute(&db)
        .await?;
    ensure!(done.rows_affected() == 1, "the edited audit record");
    let done = exec("DELETE FROM audit_log WHERE sequence = $1")
        .bind(tampers.deleted)
        .execute(&db)
        .await?;
    ensure!(done.rows_affected() == 1, "the deleted audit record");
    let (first, second) = tampers.swapped;
    for (from, to) in [(first, -1), (second, first), (-1, second)] {
        let done = exec("UPDATE audit_log SET sequence = $1 WHERE sequence = $2")
            .bind(to)
            .bind(from)
            .execute(&db)
            .await?;
        ensure!(done.rows_affected() == 1, "the reordered audit records");
    }
    let done = exec("DELETE FROM audit_log WHERE sequence > $1")
        .bind(head - CUT)
        .execute(&db)
        .await?;
    ensure!(
        done.rows_affected() == u64::try_from(CUT)?,
        "the audit log's tail"
    );
    db.close().await;
    Ok(tampers)
}

// ------------------------------------------------------------------------------------------------
// What the restarted server's users see.

/// Whether an answer tells its reader the store disagrees with the chain: 409, titled so.
fn disagrees(answer: &Answer) -> bool {
    answer.status == 409 && answer.body["title"] == DISAGREES
}

/// Whether an audit view (`GET /api/v1/patients/{id}/audit`) says anything of the log's integrity:
/// not a plain 200, or words naming a finding.
fn flags_integrity(answer: &Answer) -> bool {
    answer.status != 200 || flags_integrity_text(&answer.text)
}

/// Whether `text` has words naming an integrity finding.
fn flags_integrity_text(text: &str) -> bool {
    let text = text.to_lowercase();
    [
        "altered",
        "tampered",
        "missing",
        "truncated",
        "does not match",
        "not anchored",
        "integrity",
    ]
    .iter()
    .any(|w| text.contains(w))
}

async fn reads_show_it(
    checks: &mut Checks,
    api: &Api,
    h: &Hospital,
    audit: &AuditTampers,
) -> anyhow::Result<()> {
    // The admin's verification report, first (before the reads below add to the audit log).
    let report = h.admin.get(api, "/api/v1/verify").await?;
    checks.check(
        "admin GET /api/v1/verify answers 200 with findings",
        report.status == 200 && report.body["findings"].as_u64().unwrap_or(0) > 0,
        || report.short(),
    );
    check_report(checks, "GET /api/v1/verify", &report.body, h, audit);
    let page = h.admin.get(api, "/admin?verify=1").await?;
    checks.check(
        "audit log: the admin page's verification report names the audit findings",
        page.status == 200
            && page.text.contains("finding(s)")
            && page.text.contains("truncated")
            && page.text.contains("altered"),
        || page.short(),
    );
    let page = h.admin.get(api, "/admin").await?;
    let trail = page.text.split("id=\"h-audit\"").nth(1).unwrap_or_default();
    checks.check(
        "audit log: the admin page's audit trail does not present the tampered log as intact",
        page.status == 200 && flags_integrity_text(trail),
        || {
            let trail: String = trail.chars().take(600).collect();
            format!("{} {trail}", page.status)
        },
    );

    let records_path = |label: &str| format!("/api/v1/patients/{}/records", h.p(label).id);
    let profile_path = |label: &str| format!("/api/v1/patients/{}", h.p(label).id);
    let everything_path = |label: &str| format!("/fhir/Patient/{}/$everything", h.p(label).id);

    // The untouched patient: as before.
    let ok = h.p("ok");
    let read = ok.user.get(api, &records_path("ok")).await?;
    checks.check(
        "untouched patient: every entry still verified, with content",
        read.status == 200
            && records_of(&read).iter().all(|i| status_of(i) == "verified")
            && read.text.contains(h.w("ok-dx").text),
        || read.short(),
    );
    let profile = ok.user.get(api, &profile_path("ok")).await?;
    checks.check(
        "untouched patient: demographics verified, name shown",
        profile.status == 200
            && profile.body["demographicsProof"]["status"] == "verified"
            && profile.text.contains(&ok.name),
        || profile.short(),
    );

    // Re-pointed wallet: the outsider gets the disagreement, not the history.
    let wallet = h.p("wallet");
    let secret = h.w("wallet-dx").text;
    for (what, path) in [
        ("records", records_path("wallet")),
        ("profile", profile_path("wallet")),
    ] {
        let answer = h.outsider.get(api, &path).await?;
        checks.check(
            &format!("re-pointed wallet: the outsider's {what} read is a 409 \"{DISAGREES}\""),
            disagrees(&answer) && !answer.text.contains(secret),
            || answer.short(),
        );
    }
    let answer = h.outsider.get(api, &everything_path("wallet")).await?;
    checks.check(
        "re-pointed wallet: the outsider's FHIR $everything is a 409 naming the disagreement",
        answer.status == 409 && !answer.text.contains(secret),
        || answer.short(),
    );
    let answer = h
        .outsider
        .get(api, &format!("/api/v1/patients/{}/audit", wallet.id))
        .await?;
    checks.check(
        "re-pointed wallet: the outsider is not shown the patient's access log",
        answer.status != 200 && answer.body["events"].is_null(),
        || answer.short(),
    );
    for path in [
        format!("/fhir/AuditEvent?patient={}", wallet.id),
        "/fhir/AuditEvent".to_owned(),
    ] {
        let answer = h.outsider.get(api, &path).await?;
        // Events of others (the doctor who registered the patient, the patient's own reads).
        let others: Vec<String> = answer.body["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                !same_address(
                    &e["resource"]["agent"][0]["who"]["identifier"]["value"],
                    h.outsider.address(),
                )
            })
            .map(|e| {
                let r = &e["resource"];
                format!(
                    "{} by {}",
                    r["id"],
                    r["agent"][0]["who"]["identifier"]["value"]
                        .as_str()
                        .unwrap_or("?")
                )
            })
            .collect();
        checks.check(
            &format!(
                "re-pointed wallet: the outsider's FHIR {path} serves none of the patient's audit events"
            ),
            answer.status != 200 || others.is_empty(),
            || {
                format!(
                    "{} total {}, {} event(s) of others: {others:?}",
                    answer.status,
                    answer.body["total"],
                    others.len()
                )
            },
        );
    }
    let answer = h.outsider.get(api, "/patient_dashboard").await?;
    checks.check(
        "re-pointed wallet: the outsider's patient page does not show the history",
        !answer.text.contains(secret),
        || answer.short(),
    );
    let answer = wallet.user.get(api, &records_path("wallet")).await?;
    checks.check(
        "re-pointed wallet: the real patient's read says the store disagrees with the chain (409)",
        disagrees(&answer),
        || answer.short(),
    );

    // Forged role row: the applicant may neither search nor read.
    let applicant = &h.applicant;
    let answer = applicant.get(api, "/api/v1/patients?name=Pat").await?;
    checks.check(
        "forged role row: the applicant's name search is refused (403)",
        answer.status == 403,
        || answer.short(),
    );
    let answer = applicant.get(api, &records_path("role")).await?;
    checks.check(
        "forged role row: the applicant's read of the patient's records is refused (403)",
        answer.status == 403 && !answer.text.contains(h.w("role-dx").text),
        || answer.short(),
    );
    let answer = applicant.get(api, &everything_path("role")).await?;
    checks.check(
        "forged role row: the applicant's FHIR $everything serves nothing",
        answer.status != 200 && !answer.text.contains(h.w("role-dx").text),
        || answer.short(),
    );
    let answer = applicant.get(api, "/doctor_dashboard").await?;
    checks.check(
        "forged role row: the applicant's doctor page says they are not an approved doctor",
        answer.text.contains("not an approved doctor"),
        || answer.short(),
    );
    let answer = ok.user.get(api, "/api/v1/doctors").await?;
    checks.check(
        "forged role row: the doctors directory does not list the applicant as approved",
        answer.status == 200
            && !answer.body["doctors"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| same_address(&d["address"], applicant.address()) && d["approved"] == true),
        || answer.short(),
    );
    let answer = applicant.get(api, "/api/v1/auth/session").await?;
    checks.check(
        "forged role row: the applicant's session does not say doctor",
        answer.status == 200 && answer.body["roles"]["doctor"] == false,
        || answer.short(),
    );

    // Forged consent row: doctor B may not read; the patient's consent list is a 409.
    let consent = h.p("consent");
    let answer = h.doctor_b.get(api, &records_path("consent")).await?;
    checks.check(
        "forged consent row: doctor B's read is refused (403)",
        answer.status == 403 && !answer.text.contains(h.w("consent-dx").text),
        || answer.short(),
    );
    let answer = h.doctor_b.get(api, &everything_path("consent")).await?;
    checks.check(
        "forged consent row: doctor B's FHIR $everything serves nothing",
        answer.status != 200 && !answer.text.contains(h.w("consent-dx").text),
        || answer.short(),
    );
    let consents = format!("/api/v1/patients/{}/consents", consent.id);
    let answer = consent.user.get(api, &consents).await?;
    checks.check(
        "forged consent row: the patient's consent list is a 409 \"The store disagrees with the chain\"",
        disagrees(&answer),
        || answer.short(),
    );
    let answer = h.admin.get(api, &consents).await?;
    checks.check(
        "forged consent row: the admin's view of the consent list is a 409 too",
        disagrees(&answer),
        || answer.short(),
    );
    let answer = consent
        .user
        .get(api, &format!("/fhir/Consent?patient={}", consent.id))
        .await?;
    checks.check(
        "forged consent row: the patient's FHIR Consent search is a 409 naming the disagreement",
        answer.status == 409 && answer.text.contains("disagree"),
        || answer.short(),
    );
    let answer = h.doctor_b.get(api, "/api/v1/patients").await?;
    checks.check(
        "forged consent row: doctor B's list of patients does not offer the patient (409, or absent)",
        disagrees(&answer)
            || (answer.status == 200
                && !answer.body["patients"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p == consent.id.as_str())),
        || answer.short(),
    );

    // Deleted entry: its version is there, missing.
    let deleted = h.p("deleted");
    let gone = h.w("deleted-med");
    let read = deleted.user.get(api, &records_path("deleted")).await?;
    let items = records_of(&read);
    checks.check(
        "deleted entry: the read shows its version as missing, without content",
        items.iter().any(|i| {
            status_of(i) == "missing" && i["proof"]["version"] == gone.version && i["content"].is_null()
        }),
        || read.short(),
    );
    checks.check(
        "deleted entry: the rest of the history still verifies",
        items
            .iter()
            .any(|i| i["record"] == h.w("deleted-dx").record.as_str() && status_of(i) == "verified"),
        || read.short(),
    );
    let answer = deleted.user.get(api, &everything_path("deleted")).await?;
    checks.check(
        "deleted entry: FHIR $everything carries an OperationOutcome naming the missing version",
        answer.status == 200
            && answer.text.contains("OperationOutcome")
            && answer.text.contains(&format!("chain version {} ", gone.version)),
        || answer.short(),
    );
    let answer = deleted.user.get(api, "/patient_dashboard").await?;
    checks.check(
        "deleted entry: the patient's page says an entry is missing from this store",
        answer.text.contains("missing from this store"),
        || answer.short(),
    );

    // Deleted amendment: the rollback shows; the first revision is not silently current.
    let amended = h.p("amended");
    let (first, second) = (h.w("amended-dx"), h.w("amended-dx-2"));
    let read = amended.user.get(api, &records_path("amended")).await?;
    let items = records_of(&read);
    checks.check(
        "deleted amendment: the read shows the amendment's version as missing, naming the record it amends",
        items.iter().any(|i| {
            status_of(i) == "missing"
                && i["proof"]["version"] == second.version
                && i["proof"]["supersedes"] == first.version
                && i["record"] == first.record.as_str()
                && i["content"].is_null()
        }),
        || read.short(),
    );
    let condition_path = format!("/fhir/Condition/{}", first.record);
    let answer = amended.user.get(api, &condition_path).await?;
    checks.check(
        "deleted amendment: FHIR serves the first revision only tagged outdated (or not at all)",
        answer.status != 200 || answer.text.contains("\"outdated\""),
        || answer.short(),
    );
    let answer = amended.user.get(api, &everything_path("amended")).await?;
    checks.check(
        "deleted amendment: FHIR $everything names the missing version and tags the record outdated",
        answer.status == 200
            && answer
                .text
                .contains(&format!("chain version {} ", second.version))
            && answer.text.contains("\"outdated\""),
        || answer.short(),
    );
    let answer = amended.user.get(api, "/patient_dashboard").await?;
    checks.check(
        "deleted amendment: the patient's page marks the record not current",
        answer.text.contains("Not current"),
        || answer.short(),
    );

    // Swapped entries: neither patient is served the other's diagnosis, nor their own as verified.
    for (label, own, other) in [
        ("swap-a", "swap-a-dx", "swap-b-dx"),
        ("swap-b", "swap-b-dx", "swap-a-dx"),
    ] {
        let patient = h.p(label);
        let (own, other) = (h.w(own), h.w(other));
        let read = patient.user.get(api, &records_path(label)).await?;
        let items = records_of(&read);
        checks.check(
            &format!("swapped entries: {label}'s read withholds the other patient's diagnosis"),
            read.status == 200 && !read.text.contains(other.text),
            || read.short(),
        );
        checks.check(
            &format!("swapped entries: {label}'s read shows its diagnosis version as tampered or missing"),
            items.iter().any(|i| {
                ["tampered", "missing"].contains(&status_of(i))
                    && i["proof"]["version"] == own.version
                    && i["content"].is_null()
            }) && !items
                .iter()
                .any(|i| status_of(i) == "verified" && i["proof"]["version"] == own.version),
            || read.short(),
        );
        let answer = h.doctor_a.get(api, &everything_path(label)).await?;
        checks.check(
            &format!("swapped entries: doctor A's FHIR $everything of {label} names the gap, serves neither diagnosis"),
            answer.status == 200
                && answer.text.contains(&format!("chain version {} ", own.version))
                && !answer.text.contains(other.text)
                && !answer.text.contains(own.text),
            || answer.short(),
        );
    }

    // Edited ciphertext: tampered, no content.
    let edited = h.p("edited");
    let altered = h.w("edited-dx");
    let read = edited.user.get(api, &records_path("edited")).await?;
    checks.check(
        "edited ciphertext: the read shows the entry tampered, without content",
        records_of(&read).iter().any(|i| {
            i["record"] == altered.record.as_str() && status_of(i) == "tampered" && i["content"].is_null()
        }),
        || read.short(),
    );
    let answer = h.doctor_a.get(api, &everything_path("edited")).await?;
    checks.check(
        "edited ciphertext: doctor A's FHIR $everything names the altered version",
        answer.status == 200
            && answer
                .text
                .contains(&format!("chain version {} ", altered.version))
            && !answer.text.contains(altered.text),
        || answer.short(),
    );

    // Re-sealed demographics: the forged name is shown nowhere; the profile says why.
    let resealed = h.p("resealed");
    for (who, user) in [("the patient", &resealed.user), ("doctor A", &h.doctor_a)] {
        let answer = user.get(api, &profile_path("resealed")).await?;
        checks.check(
            &format!("re-sealed demographics: {who}'s profile read has no demographics, proof tampered"),
            answer.status == 200
                && answer.body["demographics"].is_null()
                && answer.body["demographicsProof"]["status"] == "tampered"
                && !answer.text.contains(FORGED_NAME),
            || answer.short(),
        );
    }
    let read = resealed.user.get(api, &records_path("resealed")).await?;
    checks.check(
        "re-sealed demographics: the records read shows the demographics entry tampered",
        records_of(&read).iter().any(|i| {
            i["record"] == h.demographics["resealed"].as_str()
                && status_of(i) == "tampered"
                && i["content"].is_null()
        }) && !read.text.contains(FORGED_NAME),
        || read.short(),
    );
    let answer = h
        .doctor_a
        .get(api, &format!("/fhir/Patient/{}", resealed.id))
        .await?;
    checks.check(
        "re-sealed demographics: FHIR Patient read does not serve the forged name",
        !answer.text.contains(FORGED_NAME),
        || answer.short(),
    );
    let answer = h.doctor_a.get(api, &everything_path("resealed")).await?;
    checks.check(
        "re-sealed demographics: FHIR $everything names demographics version 1 as altered, not the name",
        answer.text.contains("chain version 1 ") && !answer.text.contains(FORGED_NAME),
        || answer.short(),
    );
    for (who, user, page) in [
        (
            "doctor A's dashboard",
            &h.doctor_a,
            format!("/doctor_dashboard?patient={}", resealed.id),
        ),
        (
            "the patient's page",
            &resealed.user,
            "/patient_dashboard".to_owned(),
        ),
    ] {
        let answer = user.get(api, &page).await?;
        checks.check(
            &format!("re-sealed demographics: {who} does not show the forged name"),
            !answer.text.contains(FORGED_NAME),
            || answer.short(),
        );
    }
    let answer = h
        .doctor_a
        .get(api, "/api/v1/patients?name=Grace&match=exact")
        .await?;
    let found = answer.body["patients"].clone();
    if answer.status == 200
        && found
            .as_array()
            .is_some_and(|f| f.iter().any(|p| p == resealed.id.as_str()))
    {
        let page = h.doctor_a.get(api, "/doctor_dashboard?name=Grace").await?;
        checks.check(
            "re-sealed demographics: a search result's label says the name does not verify",
            !page.text.contains(FORGED_NAME) && page.text.contains("does not verify"),
            || page.short(),
        );
    }

    // The audit log, as each audit patient sees who read or changed their record.
    for (label, what) in [
        ("audit-edit", "an edited record"),
        ("audit-del", "a deleted record"),
        ("audit-reorder", "two reordered records"),
        ("audit-trunc", "its newest records cut off"),
    ] {
        let patient = h.p(label);
        let answer = patient
            .user
            .get(api, &format!("/api/v1/patients/{}/audit", patient.id))
            .await?;
        checks.check(
            &format!("audit log with {what}: the patient's access view says so instead of serving it as is"),
            flags_integrity(&answer),
            || answer.short(),
        );
    }
    let edited = h.p("audit-edit");
    let answer = edited
        .user
        .get(api, &format!("/fhir/AuditEvent?patient={}", edited.id))
        .await?;
    checks.check(
        "audit log with an edited record: the patient's FHIR AuditEvent search says so instead of serving it as is",
        flags_integrity(&answer),
        || answer.short(),
    );
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// The tests.

async fn insider_story(checks: &mut Checks, database_url: Option<String>) -> anyhow::Result<()> {
    let dir = DataDir::new("insider");
    let extra: Vec<&str> = match &database_url {
        Some(url) => vec!["--database-url", url.as_str()],
        None => vec![],
    };
    let url = database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.root().join("medledger.db").display()));

    let started = std::time::Instant::now();
    let server = Server::start_with(&dir, &extra);
    let mut h = a_day_at_the_hospital(&Api::new(&server.url)).await?;
    server.stop();
    println!(
        "[{}] the day at the hospital took {:?}",
        checks.backend,
        started.elapsed()
    );

    // A faithful store first: verify finds nothing, and the stop anchored the whole audit log.
    let (code, report) = verify(dir.root(), database_url.as_deref())?;
    checks.check(
        "before any tamper: verify exits 0 with no finding, the audit log anchored through its head",
        code == 0 && report["auditUnanchored"] == 0 && report["auditAnchoredThrough"].as_u64().is_some(),
        || report.to_string(),
    );

    let audit = tamper(&url, dir.root(), &h).await?;
    checks.check(
        "before any tamper: the stop anchored the audit log at its head",
        report["auditAnchoredThrough"] == audit.head,
        || format!("head {}, report {report}", audit.head),
    );
    let (code, report) = verify(dir.root(), database_url.as_deref())?;
    checks.check("after the tampers: verify exits 1", code == 1, || {
        report.to_string()
    });
    check_report(checks, "medledger verify", &report, &h, &audit);

    let server = Server::start_with(&dir, &extra);
    let api = Api::new(&server.url);
    for user in h.everyone_mut() {
        user.sign_in(&api).await?;
    }
    reads_show_it(checks, &api, &h, &audit).await?;
    server.stop();
    println!(
        "[{}] the whole story took {:?}",
        checks.backend,
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insider_on_sqlite_is_named_by_verify_and_shown_by_every_read() {
    let mut checks = Checks::new("sqlite");
    insider_story(&mut checks, None).await.expect("the story runs");
    checks.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insider_on_postgres_is_named_by_verify_and_shown_by_every_read() {
    let Some(db) = medledger_testkit::db::postgres().await else {
        return;
    };
    let mut checks = Checks::new("postgres");
    let outcome = insider_story(&mut checks, Some(db.url.clone())).await;
    db.remove().await;
    outcome.expect("the story runs");
    checks.finish();
}
