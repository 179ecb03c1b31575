//! `medledger export PATIENT`: a patient's chart as one FHIR R4 Bundle (`Patient/{id}/$everything`:
//! the patient, the newest version of every entry, and each entry's Provenance), read as a
//! signed-in doctor with consent, or as the patient, like any other read, and audited as one.

use std::path::PathBuf;

use anyhow::Context;

use crate::client::{Client, read_key};

/// The options of `medledger export`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// The patient's id (32 hexadecimal digits).
    patient: String,
    /// The MedLedger server.
    #[arg(long, env = "MEDLEDGER_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The reader's wallet key: a file holding 0x and 64 hexadecimal digits (never sent).
    #[arg(long)]
    key_file: PathBuf,
    /// Where to write the Bundle [default: standard output]
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// Writes the Bundle.
pub(crate) async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let client = Client::sign_in(&args.url, read_key(&args.key_file)?).await?;
    let bundle = client
        .expect(
            "GET",
            &format!("/fhir/Patient/{}/$everything", args.patient),
            None,
            200,
        )
        .await
        .context("reading the patient's chart")?;
    let text = serde_json::to_string_pretty(&bundle)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, format!("{text}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {} resources to {}",
                bundle["entry"].as_array().map_or(0, Vec::len),
                path.display()
            );
        }
        None => println!("{text}"),
    }
    Ok(())
}
