//! `medledger verify`: every stored entry and the audit log, against the chain.

use alloy::primitives::Address;
use anyhow::Context;
use medledger_ledger::verify::{self, Options};

use crate::site::SiteArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    site: SiteArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// How long an entry may wait for its anchor before it counts as not on chain.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    grace: u64,
    /// Check the audit log against this auditor's on-chain anchors; default: the server's own
    /// account (its `relayer.key` in the data directory).
    #[arg(long, value_name = "ADDRESS")]
    auditor: Option<Address>,
}

/// Runs the verification; returns whether it found nothing.
pub(crate) async fn run(args: VerifyArgs) -> anyhow::Result<bool> {
    let store = args.site.store().await?;
    let deployment = store
        .deployment()
        .await?
        .context("this database has no MedLedger deployment recorded")?;
    let keyring = medledger_ledger::keyfile::load(&args.site.data_dir)?;
    let chain = args.site.chain(deployment.chain_id).await?;
    // Whose anchors protect this log: the server's own account, from its key file, never from the
    // database being checked.
    let auditor = match args.auditor {
        Some(auditor) => Some(auditor),
        None => server_account(&args.site.data_dir)?,
    };
    let options = Options {
        grace_ms: args.grace * 1000,
        auditor,
    };
    let report = verify::verify(&store, &keyring, &chain.provider, options).await;
    chain.close();
    store.close().await;
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "checked {} stored entries against {} on-chain commitments, and {} audit records against {} anchors",
            report.stored_entries, report.chain_entries, report.audit_records, report.audit_anchors
        );
        for entry in &report.entries {
            let mut line = serde_json::to_value(entry.verdict)?
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if let Some(patient) = entry.patient {
                line += &format!(" patient {patient}");
            }
            if let Some(record) = entry.record {
                line += &format!(" record {record} revision {}", entry.revision.unwrap_or(0));
            }
            if let (Some(p), Some(v)) = (entry.chain_patient, entry.version) {
                line += &format!(" (on-chain patient {p}, version {v}");
                if let Some(actual) = entry.chain_version {
                    line += &format!(", found at version {actual}");
                }
                line += ")";
            }
            println!("{line}");
        }
        for finding in &report.audit {
            println!("audit {}", serde_json::to_string(finding)?);
        }
        for finding in &report.store {
            println!(
                "store disagrees with the chain: {}",
                serde_json::to_string(finding)?
            );
        }
        match report.audit_anchored_through {
            Some(through) => println!(
                "audit log anchored on chain through record {through}; {} record(s) after it not yet protected",
                report.audit_unanchored
            ),
            None => println!(
                "the audit log has no anchor on chain: none of its {} record(s) is protected yet",
                report.audit_unanchored
            ),
        }
        println!("{} finding(s)", report.findings());
    }
    Ok(report.findings() == 0)
}

/// The server's own account (which anchors the audit log), from `relayer.key` in `data_dir`.
fn server_account(data_dir: &std::path::Path) -> anyhow::Result<Option<Address>> {
    let path = data_dir.join("relayer.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let signer: alloy::signers::local::PrivateKeySigner = text
                .trim()
                .parse()
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(Some(signer.address()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
