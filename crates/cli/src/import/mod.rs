//! `medledger import FILE|DIR`: loads FHIR R4 Bundles (one patient each, as Synthea writes them)
//! into a running MedLedger server, as the importing doctor, whose wallet key signs every write on
//! this machine and is never sent.
//!
//! Each Bundle becomes one transaction (or several, above the contract's batch limit): the patient
//! and their history, anchored together through the contract's batch path. Resource types
//! MedLedger does not store (Encounter, Claim, …) are counted and left out. A patient whose
//! Patient names no wallet (`urn:ethereum:address`) gets a new one, whose key is written to the
//! wallets directory for the hospital to hand over.
//!
//! A journal beside the input records each request as it is made and each anchoring as it
//! happens, so an interrupted import resumes where it stopped: anchored Bundles are skipped,
//! requests made but not yet signed are signed, and the one request an interruption can leave
//! unrecorded (made, but killed before the journal heard of it) is declined, so nothing is
//! written twice.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::{Client, read_key, why, write_key};

mod bundle;
mod journal;

use bundle::*;
use journal::*;

/// The options of `medledger import`.
#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// A FHIR R4 Bundle (JSON), or a directory of them (`*.json`).
    path: PathBuf,
    /// The MedLedger server.
    #[arg(long, env = "MEDLEDGER_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The importing doctor's wallet key: a file holding 0x and 64 hexadecimal digits. It signs
    /// every write here and is never sent.
    #[arg(long)]
    key_file: PathBuf,
    /// Where the keys of new patients' wallets are written [default: PATH.wallets]
    #[arg(long)]
    wallets: Option<PathBuf>,
    /// The journal an interrupted import resumes from [default: PATH.import-journal]
    #[arg(long)]
    journal: Option<PathBuf>,
    /// How many Bundles may be on their way to the chain at once.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
}

/// The progress line: a bar on a terminal, a line every tenth otherwise.
struct Progress {
    total: usize,
    done: usize,
    resources: usize,
    started: Instant,
    terminal: bool,
    last_tenth: usize,
}

impl Progress {
    fn advance(&mut self, bundles: usize, resources: usize) {
        self.done += bundles;
        self.resources += resources;
        let rate = self.resources as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let filled = (self.done * 30).checked_div(self.total).unwrap_or(30);
        let line = format!(
            "[{}{}] {}/{} bundles · {} resources · {rate:.0} resources/s",
            "#".repeat(filled),
            ".".repeat(30 - filled),
            self.done,
            self.total,
            self.resources
        );
        let tenth = (self.done * 10).checked_div(self.total).unwrap_or(10);
        if self.terminal {
            eprint!("\r{line}");
        } else if tenth > self.last_tenth || self.done == self.total {
            eprintln!("{line}");
            self.last_tenth = tenth;
        }
    }
}

/// One transaction on its way: the file, its chunk, its request, and how many resources.
type InFlight = (String, usize, i64, usize);

/// Runs the import; true when every Bundle was imported.
pub(crate) async fn run(args: ImportArgs) -> anyhow::Result<bool> {
    let files = bundle_files(&args.path)?;
    let stem = args.path.to_string_lossy().trim_end_matches('/').to_owned();
    let journal_path = args
        .journal
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{stem}.import-journal")));
    let wallets = args
        .wallets
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{stem}.wallets")));
    std::fs::create_dir_all(&wallets).with_context(|| format!("creating {}", wallets.display()))?;
    let client = Client::sign_in(&args.url, read_key(&args.key_file)?).await?;
    let mut journal = Journal::open(&journal_path)?;
    // An interruption between a request being made and the journal hearing of it leaves that
    // request waiting for a signature that will never come: decline it (its wallet, if new, is
    // replaced below), so that nothing is imported twice and the doctor's queue moves on.
    decline_strays(&client, &journal).await?;
    eprintln!(
        "importing {} bundle(s) from {} into {} as {}",
        files.len(),
        args.path.display(),
        args.url,
        client.address()
    );
    let mut progress = Progress {
        total: files.len(),
        done: 0,
        resources: 0,
        started: Instant::now(),
        terminal: std::io::stderr().is_terminal(),
        last_tenth: 0,
    };
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = 0usize;
    for path in &files {
        let file = path.to_string_lossy().into_owned();
        let outcome = import_one(
            &client,
            &mut journal,
            &mut in_flight,
            &wallets,
            path,
            &file,
            &mut skipped,
        )
        .await;
        match outcome {
            Ok(None) => progress.advance(1, 0),
            Ok(Some(())) => {}
            Err(err) => {
                failures += 1;
                fail(&mut journal, &mut progress, file, &err)?;
            }
        }
        while in_flight.len() >= args.in_flight.max(1) {
            if !settle(&client, &mut journal, &mut in_flight, &mut progress).await? {
                failures += 1;
            }
        }
    }
    while !in_flight.is_empty() {
        if !settle(&client, &mut journal, &mut in_flight, &mut progress).await? {
            failures += 1;
        }
    }
    if progress.terminal {
        eprintln!();
    }
    let secs = progress.started.elapsed().as_secs_f64();
    println!(
        "imported {} of {} bundle(s): {} resources anchored in {secs:.1} s ({:.0} resources/s)",
        files.len() - failures,
        files.len(),
        progress.resources,
        progress.resources as f64 / secs.max(1e-3)
    );
    for (what, n) in &skipped {
        println!("left out: {n} {what} (not stored by MedLedger)");
    }
    Ok(failures == 0)
}

/// Declines the doctor's requests awaiting a signature that the journal does not know: one an
/// interruption left behind (made, but killed before the journal heard of it). Left, it would hold
/// its forwarder nonce and every later request would wait behind it. The server may still be
/// finishing the request of a client that has just died, so the list is read until it holds still
/// for half a second. This runs before this run makes any request: declining one below requests
/// already signed would leave a gap in the forwarder's nonces, and those would be refused.
async fn decline_strays(client: &Client, journal: &Journal) -> anyhow::Result<()> {
    let mut seen = client.awaiting().await?;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let now = client.awaiting().await?;
        if now == seen {
            break;
        }
        seen = now;
    }
    for request in seen {
        if !journal.knows(request) {
            client
                .expect("DELETE", &format!("/api/v1/requests/{request}"), None, 200)
                .await?;
        }
    }
    Ok(())
}

/// Waits until `request` is anchored, or an error if it is refused.
async fn anchored(client: &Client, request: i64) -> anyhow::Result<()> {
    loop {
        let status = client
            .expect("GET", &format!("/api/v1/requests/{request}?wait=30"), None, 200)
            .await?;
        match status["status"].as_str() {
            Some("anchored") => return Ok(()),
            Some("rejected") => bail!("request {request} was rejected: {}", status["reason"]),
            _ => {}
        }
    }
}

/// Waits for the oldest transaction on its way; false if it was refused.
async fn settle(
    client: &Client,
    journal: &mut Journal,
    in_flight: &mut VecDeque<InFlight>,
    progress: &mut Progress,
) -> anyhow::Result<bool> {
    let Some((file, chunk, request, resources)) = in_flight.pop_front() else {
        return Ok(true);
    };
    match anchored(client, request).await {
        Ok(()) => {
            journal.write(Line::Anchored { file, chunk })?;
            progress.advance(1, resources);
            Ok(true)
        }
        Err(err) => {
            fail(journal, progress, file, &err)?;
            Ok(false)
        }
    }
}

/// Records and reports a Bundle that could not be imported.
fn fail(
    journal: &mut Journal,
    progress: &mut Progress,
    file: String,
    err: &anyhow::Error,
) -> anyhow::Result<()> {
    eprintln!("\n{file}: not imported: {err:#}");
    journal.write(Line::Failed {
        file,
        reason: format!("{err:#}"),
    })?;
    progress.advance(1, 0);
    Ok(())
}

/// `Ok(None)`: there was nothing left to do for it.
async fn import_one(
    client: &Client,
    journal: &mut Journal,
    in_flight: &mut VecDeque<InFlight>,
    wallets: &Path,
    path: &Path,
    file: &str,
    skipped: &mut BTreeMap<String, usize>,
) -> anyhow::Result<Option<()>> {
    let text = std::fs::read(path).with_context(|| format!("reading {file}"))?;
    let bundle: Value = serde_json::from_slice(&text).with_context(|| format!("{file} is not JSON"))?;
    let mut prepared = prepare(&bundle)?;
    let count = chunks(&prepared);
    if (0..count).all(|c| journal.anchored.contains(&(file.to_owned(), c))) {
        return Ok(None);
    }
    for (what, n) in &prepared.skipped {
        *skipped.entry(what.clone()).or_default() += n;
    }
    let made_wallet = patient_wallet(&mut prepared, wallets, path, false)?;
    let mut patient: Option<String> = None;
    // Where the server put the entries of earlier transactions, for the references of later ones.
    let mut resolved: HashMap<String, String> = HashMap::new();
    for chunk in 0..count {
        let key = (file.to_owned(), chunk);
        if journal.anchored.contains(&key) {
            if let Some(requested) = journal.requested.get(&key) {
                patient = Some(requested.patient.clone());
                resolved.extend(placed(&prepared, chunk, &requested.locations));
            }
            continue;
        }
        // A request an earlier run made: signed if it still waits, made again if it was refused
        // (its entries were not anchored, so nothing is written twice).
        let mut earlier = journal.requested.get(&key).cloned();
        if let Some(requested) = &earlier {
            let status = client
                .expect(
                    "GET",
                    &format!("/api/v1/requests/{}", requested.request),
                    None,
                    200,
                )
                .await?;
            match status["status"].as_str() {
                Some("awaiting-signature") => client.sign(requested.request, &requested.typed_data).await?,
                Some("rejected") => earlier = None,
                _ => {}
            }
        }
        let request = match earlier {
            Some(requested) => {
                patient = Some(requested.patient);
                resolved.extend(placed(&prepared, chunk, &requested.locations));
                requested.request
            }
            None => {
                let mut answer = client
                    .call(
                        "POST",
                        "/fhir",
                        Some(transaction(&prepared, chunk, patient.as_deref(), &resolved)),
                    )
                    .await?;
                if chunk == 0 && answer.0 == 409 && made_wallet {
                    // A registration an interruption left unrecorded (and that was declined
                    // above) holds the new wallet: give the patient another.
                    patient_wallet(&mut prepared, wallets, path, true)?;
                    answer = client
                        .call(
                            "POST",
                            "/fhir",
                            Some(transaction(&prepared, chunk, None, &resolved)),
                        )
                        .await?;
                }
                let (status, accepted) = answer;
                if status != 202 {
                    bail!("the server refused it ({status}): {}", why(&accepted));
                }
                let parameter = |name: &str| {
                    accepted["parameter"]
                        .as_array()
                        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
                        .and_then(|p| p.as_object())
                        .and_then(|p| {
                            p.iter()
                                .find(|(k, _)| k.starts_with("value"))
                                .map(|(_, v)| v.clone())
                        })
                        .unwrap_or(Value::Null)
                };
                let request: i64 = parameter("requestId")
                    .as_str()
                    .and_then(|r| r.parse().ok())
                    .context("no requestId")?;
                let typed_data: Value =
                    serde_json::from_str(parameter("typedData").as_str().unwrap_or("null"))?;
                let known = match &patient {
                    Some(p) => p.clone(),
                    None => parameter("location")
                        .as_str()
                        .and_then(|l| l.split("/Patient/").nth(1))
                        .and_then(|l| l.split('/').next())
                        .context("no Patient location")?
                        .to_owned(),
                };
                let locations: Vec<String> = accepted["parameter"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["name"] == "location")
                    .filter_map(|p| p["valueUri"].as_str().map(str::to_owned))
                    .collect();
                resolved.extend(placed(&prepared, chunk, &locations));
                journal.write(Line::Requested {
                    file: file.to_owned(),
                    chunk,
                    request,
                    typed_data: typed_data.clone(),
                    patient: known.clone(),
                    locations,
                })?;
                client.sign(request, &typed_data).await?;
                patient = Some(known);
                request
            }
        };
        if chunk + 1 < count {
            // The next transaction adds to the patient, who must be on the chain first.
            anchored(client, request).await?;
            journal.write(Line::Anchored {
                file: file.to_owned(),
                chunk,
            })?;
        } else {
            in_flight.push_back((file.to_owned(), chunk, request, 1 + prepared.entries.len()));
        }
    }
    Ok(Some(()))
}
