//! `medledger export PATIENT`: a patient's chart as one FHIR R4 transaction Bundle that another
//! MedLedger (or any FHIR server) loads as it is: the patient and the newest version of every
//! resource of their chart, read (`Patient/{id}/$everything`) as a signed-in doctor with consent,
//! or as the patient, like any other read, and audited as one. Each resource's fullUrl is a
//! `urn:uuid:` made of its id here, every reference between them names that fullUrl, and this
//! server's part of `meta` (version, time, proof tag) is left out: the importing server makes its
//! own. A chart with gaps (entries the chain holds and this store lacks) is written with what
//! verified, and the command fails saying so.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::{Value, json};

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

/// The `urn:uuid:` a resource of id `id` (32 hexadecimal digits here) is exported under.
fn full_url(id: &str) -> String {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!(
            "urn:uuid:{}-{}-{}-{}-{}",
            &id[..8],
            &id[8..12],
            &id[12..16],
            &id[16..20],
            &id[20..]
        )
    } else {
        format!("urn:uuid:{}", uuid_of(id))
    }
}

/// A UUID made of any other id's bytes (keccak), for ids that are not 32 hexadecimal digits.
fn uuid_of(id: &str) -> String {
    let hash = alloy::primitives::keccak256(id.as_bytes());
    let hex = alloy::hex::encode(&hash[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The transaction Bundle of an `$everything` searchset, and how many of its entries were gaps.
pub(crate) fn transaction_of(everything: &Value) -> (Value, usize) {
    let entries = everything["entry"].as_array().map_or(&[][..], Vec::as_slice);
    let gaps = entries
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "OperationOutcome")
        .count();
    let resources: Vec<&Value> = entries
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| &e["resource"])
        .collect();
    let names: HashMap<String, String> = resources
        .iter()
        .filter_map(|r| {
            let (ty, id) = (r["resourceType"].as_str()?, r["id"].as_str()?);
            Some((format!("{ty}/{id}"), full_url(id)))
        })
        .collect();
    let out: Vec<Value> = resources
        .into_iter()
        .map(|resource| {
            let mut resource = resource.clone();
            let ty = resource["resourceType"].as_str().unwrap_or_default().to_owned();
            let url = full_url(resource["id"].as_str().unwrap_or_default());
            if let Some(object) = resource.as_object_mut() {
                object.remove("id");
            }
            medledger_fhir::resource::without_server_meta(&mut resource);
            medledger_fhir::resource::rename_references(&mut resource, &names);
            json!({"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": ty}})
        })
        .collect();
    (
        json!({"resourceType": "Bundle", "type": "transaction", "entry": out}),
        gaps,
    )
}

/// Writes the Bundle.
pub(crate) async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let client = Client::sign_in(&args.url, read_key(&args.key_file)?).await?;
    let everything = client
        .expect(
            "GET",
            &format!("/fhir/Patient/{}/$everything", args.patient),
            None,
            200,
        )
        .await
        .context("reading the patient's chart")?;
    let (bundle, gaps) = transaction_of(&everything);
    let count = bundle["entry"].as_array().map_or(0, Vec::len);
    let text = serde_json::to_string_pretty(&bundle)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, format!("{text}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {count} resources to {}", path.display());
        }
        None => println!("{text}"),
    }
    if gaps > 0 {
        bail!(
            "the chart has {gaps} gap(s): entries the chain holds that this server's store lacks or holds altered \
             are not in the export (the server's $everything names them)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_becomes_a_transaction_whose_references_name_its_entries() {
        let patient = "0123456789abcdef0123456789abcdef";
        let visit = "fedcba9876543210fedcba9876543210";
        let everything = json!({"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": {"resourceType": "Patient", "id": patient, "meta": {"versionId": "1", "lastUpdated": "2021-01-01T00:00:00Z",
                "tag": [{"system": "urn:medledger:proof", "code": "verified"}]}, "name": [{"text": "A"}]}, "search": {"mode": "match"}},
            {"resource": {"resourceType": "Encounter", "id": visit, "meta": {"versionId": "2", "profile": ["http://p"],
                "tag": [{"system": "urn:medledger:proof", "code": "verified"}]}, "status": "finished",
                "subject": {"reference": format!("Patient/{patient}")}}, "search": {"mode": "match"}},
            {"resource": {"resourceType": "Provenance", "id": format!("{visit}-2")}, "search": {"mode": "include"}},
        ]});
        let (bundle, gaps) = transaction_of(&everything);
        assert_eq!(gaps, 0);
        let entries = bundle["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "the Provenance is the server's own: {bundle}");
        assert_eq!(
            entries[0]["fullUrl"],
            "urn:uuid:01234567-89ab-cdef-0123-456789abcdef"
        );
        assert!(entries[0]["resource"].get("meta").is_none() && entries[0]["resource"].get("id").is_none());
        assert_eq!(entries[1]["resource"]["meta"], json!({"profile": ["http://p"]}));
        assert_eq!(
            entries[1]["resource"]["subject"]["reference"],
            entries[0]["fullUrl"]
        );
        assert_eq!(
            entries[1]["request"],
            json!({"method": "POST", "url": "Encounter"})
        );
    }
}
