//! A Bundle made ready to import: its patient, the resources MedLedger stores, cut into
//! transactions at the contract's batch limit; and the patient's wallet.

use super::*;

/// Entries in one transaction: the contract's batch limit.
pub(super) const MOST_PER_TRANSACTION: usize = 512;
/// The placeholder the entries of a new patient reference (the server puts in the real id).
pub(super) const NEW_PATIENT: &str = "urn:uuid:00000000-0000-4000-8000-000000000001";
/// What MedLedger stores besides the Patient, and the element naming the patient.
pub(super) const STORED: [(&str, &str); 5] = [
    ("Condition", "subject"),
    ("MedicationStatement", "subject"),
    ("Observation", "subject"),
    ("AllergyIntolerance", "patient"),
    ("Basic", "subject"),
];

/// A Bundle, made ready: its patient, its stored entries, what was left out.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) patient: Value,
    pub(super) entries: Vec<Value>,
    pub(super) skipped: BTreeMap<String, usize>,
}

/// Picks the patient and the entries MedLedger stores out of a Bundle.
pub(super) fn prepare(bundle: &Value) -> anyhow::Result<Prepared> {
    if bundle["resourceType"] != "Bundle" {
        bail!("not a FHIR Bundle");
    }
    let entries = bundle["entry"].as_array().map_or(&[][..], Vec::as_slice);
    let patients: Vec<&Value> = entries
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Patient")
        .collect();
    let [patient_entry] = patients.as_slice() else {
        bail!(
            "a Bundle to import holds exactly one Patient; this one holds {}",
            patients.len()
        );
    };
    let mut names: Vec<String> = Vec::new();
    if let Some(url) = patient_entry["fullUrl"].as_str() {
        names.push(url.to_owned());
    }
    if let Some(id) = patient_entry["resource"]["id"].as_str() {
        names.push(format!("Patient/{id}"));
    }
    let strip = |resource: &Value| {
        let mut r = resource.clone();
        if let Some(o) = r.as_object_mut() {
            o.remove("id");
            o.remove("meta");
        }
        r
    };
    let mut prepared = Prepared {
        patient: strip(&patient_entry["resource"]),
        entries: Vec::new(),
        skipped: BTreeMap::new(),
    };
    for entry in entries {
        let resource = &entry["resource"];
        let ty = resource["resourceType"].as_str().unwrap_or("(none)");
        if ty == "Patient" {
            continue;
        }
        let Some((_, element)) = STORED.iter().find(|(t, _)| *t == ty) else {
            *prepared.skipped.entry(ty.to_owned()).or_default() += 1;
            continue;
        };
        let about = resource[*element]["reference"].as_str().unwrap_or("");
        if !names.iter().any(|n| n == about) {
            *prepared
                .skipped
                .entry(format!("{ty} of another patient"))
                .or_default() += 1;
            continue;
        }
        let mut kept = strip(resource);
        kept[*element] = json!({"reference": NEW_PATIENT});
        prepared.entries.push(kept);
    }
    Ok(prepared)
}

/// The transactions of a prepared Bundle: the first registers the patient with their first
/// entries; any further ones add the rest to `Patient/{id}`.
pub(super) fn transaction(prepared: &Prepared, chunk: usize, patient: Option<&str>) -> Value {
    let request = |ty: &str| json!({"method": "POST", "url": ty});
    let mut entries = Vec::new();
    let (skip, take) = if chunk == 0 {
        entries.push(
            json!({"fullUrl": NEW_PATIENT, "resource": prepared.patient, "request": request("Patient")}),
        );
        (0, MOST_PER_TRANSACTION - 1)
    } else {
        (
            MOST_PER_TRANSACTION - 1 + (chunk - 1) * MOST_PER_TRANSACTION,
            MOST_PER_TRANSACTION,
        )
    };
    for resource in prepared.entries.iter().skip(skip).take(take) {
        let ty = resource["resourceType"].as_str().unwrap_or_default();
        let mut resource = resource.clone();
        if let (Some(id), Some((_, element))) = (patient, STORED.iter().find(|(t, _)| *t == ty)) {
            resource[*element] = json!({"reference": format!("Patient/{id}")});
        }
        entries.push(json!({"resource": resource, "request": request(ty)}));
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

pub(super) fn chunks(prepared: &Prepared) -> usize {
    let rest = prepared.entries.len().saturating_sub(MOST_PER_TRANSACTION - 1);
    1 + rest.div_ceil(MOST_PER_TRANSACTION)
}

/// The Bundles at `path`, in name order.
pub(super) fn bundle_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("reading {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    Ok(files)
}

/// (true), or with `fresh` another one made for them.
pub(super) fn patient_wallet(
    prepared: &mut Prepared,
    wallets: &Path,
    file: &Path,
    fresh: bool,
) -> anyhow::Result<bool> {
    let named = prepared.patient["identifier"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|i| i["system"] == "urn:ethereum:address"));
    if named && !fresh {
        return Ok(false);
    }
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let key_file = wallets.join(format!("{name}.key"));
    if fresh && key_file.exists() {
        std::fs::rename(&key_file, wallets.join(format!("{name}.key.abandoned")))?;
    }
    let wallet = if key_file.exists() {
        read_key(&key_file)?
    } else {
        let wallet = PrivateKeySigner::random();
        write_key(&key_file, &wallet)?;
        wallet
    };
    let identifier = json!({"system": "urn:ethereum:address", "value": wallet.address().to_string()});
    let ids = prepared.patient["identifier"].as_array_mut();
    match ids {
        Some(ids) => {
            ids.retain(|i| i["system"] != "urn:ethereum:address");
            ids.push(identifier);
        }
        None => prepared.patient["identifier"] = json!([identifier]),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn a_bundle_keeps_its_patient_and_what_medledger_stores() {
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient", "id": "p", "name": [{"text": "A"}]}},
            {"resource": {"resourceType": "Encounter", "subject": {"reference": "urn:uuid:p"}}},
            {"resource": {"resourceType": "Condition", "id": "c", "subject": {"reference": "urn:uuid:p"}}},
            {"resource": {"resourceType": "Observation", "subject": {"reference": "Patient/p"}}},
            {"resource": {"resourceType": "Observation", "subject": {"reference": "Patient/q"}}},
        ]});
        let prepared = prepare(&bundle).unwrap();
        assert_eq!(prepared.entries.len(), 2);
        assert!(
            prepared
                .entries
                .iter()
                .all(|e| e["subject"]["reference"] == NEW_PATIENT && e.get("id").is_none())
        );
        assert_eq!(prepared.skipped.get("Encounter"), Some(&1));
        assert_eq!(prepared.skipped.get("Observation of another patient"), Some(&1));
        assert!(prepare(&json!({"resourceType": "Bundle", "entry": []})).is_err());
    }

    #[test]
    pub(super) fn a_long_history_is_split_at_the_batch_limit() {
        let entry = json!({"resourceType": "Observation", "subject": {"reference": NEW_PATIENT}});
        let prepared = Prepared {
            patient: json!({"resourceType": "Patient"}),
            entries: vec![entry; 1200],
            skipped: BTreeMap::new(),
        };
        assert_eq!(chunks(&prepared), 3);
        let sizes: Vec<usize> = (0..3)
            .map(|c| {
                transaction(&prepared, c, Some("x"))["entry"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(sizes, [512, 512, 177]);
        assert_eq!(
            transaction(&prepared, 1, Some("x"))["entry"][0]["resource"]["subject"]["reference"],
            "Patient/x"
        );
    }
}
