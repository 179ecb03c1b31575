//! A Bundle made ready to import: its patient, the resources MedLedger stores, cut into
//! transactions at the contract's batch limit and under the server's size limit; and the
//! patient's wallet. Each entry keeps its `fullUrl`, so that the server resolves references
//! between the entries of one transaction; references to entries of an earlier transaction are
//! rewritten here to where the server put them.

use super::*;

/// Entries in one transaction: the contract's batch limit.
pub(super) const MOST_PER_TRANSACTION: usize = 512;
/// Bytes of resources in one transaction: under the server's 16 MiB, with room for the Bundle.
pub(super) const MOST_BYTES_PER_TRANSACTION: usize = 12 << 20;
/// The placeholder the entries of a new patient reference (the server puts in the real id).
pub(super) const NEW_PATIENT: &str = "urn:uuid:00000000-0000-4000-8000-000000000001";
/// How MedLedger keeps a resource of a Bundle's type (docs/fhir.md).
enum Kept {
    /// A record of the chart, naming its patient in this element.
    Record(&'static str),
    /// A shared resource (a Practitioner), kept with the chart.
    Shared,
    /// Not stored.
    No,
}

fn kept(ty: &str) -> Kept {
    match medledger_fhir::ResourceType::from_name(ty) {
        Some(t) if t.is_shared() => Kept::Shared,
        Some(t) => t.patient_element().map_or(Kept::No, Kept::Record),
        None => Kept::No,
    }
}

/// A Bundle, made ready: its patient, its stored entries, what was left out.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) patient: Value,
    /// The names the Bundle gives the patient (its fullUrl, `Patient/{id}`).
    pub(super) patient_names: Vec<String>,
    pub(super) entries: Vec<Value>,
    /// Each entry's fullUrl, where it has one.
    pub(super) full_urls: Vec<Option<String>>,
    pub(super) skipped: BTreeMap<String, usize>,
    /// The entries of each transaction ([`chunk_bounds`]), worked out once, when the Bundle is
    /// read: every run of an import cuts a Bundle the same way, so its journal's chunks stay true.
    pub(super) bounds: Vec<std::ops::Range<usize>>,
}

impl Prepared {
    /// With its transactions' bounds.
    pub(super) fn bounded(mut self) -> Self {
        self.bounds = chunk_bounds(&self);
        self
    }
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
    // The id is the server's to give; `meta` stays (the server keeps the client's profiles,
    // labels and tags, and makes its own version, time and proof tag).
    let strip = |resource: &Value| {
        let mut r = resource.clone();
        if let Some(o) = r.as_object_mut() {
            o.remove("id");
        }
        r
    };
    let mut prepared = Prepared {
        patient: strip(&patient_entry["resource"]),
        patient_names: names.clone(),
        entries: Vec::new(),
        full_urls: Vec::new(),
        skipped: BTreeMap::new(),
        bounds: Vec::new(),
    };
    for entry in entries {
        let resource = &entry["resource"];
        let ty = resource["resourceType"].as_str().unwrap_or("(none)");
        if ty == "Patient" {
            continue;
        }
        let kept = match kept(ty) {
            Kept::No => {
                *prepared.skipped.entry(ty.to_owned()).or_default() += 1;
                continue;
            }
            Kept::Shared => strip(resource),
            Kept::Record(element) => {
                let about = resource[element]["reference"].as_str().unwrap_or("");
                if !names.iter().any(|n| n == about) {
                    *prepared
                        .skipped
                        .entry(format!("{ty} of another patient"))
                        .or_default() += 1;
                    continue;
                }
                let mut kept = strip(resource);
                kept[element] = json!({"reference": NEW_PATIENT});
                kept
            }
        };
        prepared.entries.push(kept);
        prepared
            .full_urls
            .push(entry["fullUrl"].as_str().map(str::to_owned));
    }
    Ok(prepared.bounded())
}

/// The entries of each transaction, in order: the first registers the patient with their first
/// entries; each holds at most [`MOST_PER_TRANSACTION`] entries (the patient counts) and
/// [`MOST_BYTES_PER_TRANSACTION`] bytes of resources (and at least one entry).
pub(super) fn chunk_bounds(prepared: &Prepared) -> Vec<std::ops::Range<usize>> {
    let size = |v: &Value| serde_json::to_vec(v).map_or(0, |b| b.len());
    let mut bounds = Vec::new();
    let (mut start, mut count, mut bytes) = (0, 1, size(&prepared.patient));
    for (n, entry) in prepared.entries.iter().enumerate() {
        let this = size(entry);
        if n > start && (count + 1 > MOST_PER_TRANSACTION || bytes + this > MOST_BYTES_PER_TRANSACTION) {
            bounds.push(start..n);
            (start, count, bytes) = (n, 0, 0);
        }
        count += 1;
        bytes += this;
    }
    bounds.push(start..prepared.entries.len());
    bounds
}

/// The transaction of chunk `chunk` (of [`chunk_bounds`]): the first registers the patient
/// (`patient` is `None`); the others add to `Patient/{patient}`. `resolved` maps the names of
/// entries of earlier transactions to where the server put them.
pub(super) fn transaction(
    prepared: &Prepared,
    chunk: usize,
    patient: Option<&str>,
    resolved: &HashMap<String, String>,
) -> Value {
    let request = |ty: &str| json!({"method": "POST", "url": ty});
    let mut resolved = resolved.clone();
    for name in &prepared.patient_names {
        resolved.insert(
            name.clone(),
            patient.map_or(NEW_PATIENT.to_owned(), |id| format!("Patient/{id}")),
        );
    }
    if let Some(id) = patient {
        resolved.insert(NEW_PATIENT.to_owned(), format!("Patient/{id}"));
    }
    let mut entries = Vec::new();
    if chunk == 0 {
        let mut resource = prepared.patient.clone();
        medledger_fhir::resource::rename_references(&mut resource, &resolved);
        entries.push(json!({"fullUrl": NEW_PATIENT, "resource": resource, "request": request("Patient")}));
    }
    let range = prepared.bounds[chunk].clone();
    for n in range {
        let mut resource = prepared.entries[n].clone();
        let ty = resource["resourceType"].as_str().unwrap_or_default().to_owned();
        medledger_fhir::resource::rename_references(&mut resource, &resolved);
        let mut entry = json!({"resource": resource, "request": request(&ty)});
        if let Some(full_url) = &prepared.full_urls[n] {
            entry["fullUrl"] = json!(full_url);
        }
        entries.push(entry);
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

/// Where a transaction's entries went: each entry's fullUrl to the `Type/{id}` of its
/// `location` (the answer's locations are in the entries' order, the patient's first).
pub(super) fn placed(prepared: &Prepared, chunk: usize, locations: &[String]) -> HashMap<String, String> {
    let names = prepared.bounds[chunk]
        .clone()
        .map(|n| prepared.full_urls[n].clone());
    let skip = usize::from(chunk == 0);
    names
        .zip(locations.iter().skip(skip))
        .filter_map(|(name, location)| {
            let path = location.split("/fhir/").nth(1)?;
            let mut parts = path.split('/');
            Some((name?, format!("{}/{}", parts.next()?, parts.next()?)))
        })
        .collect()
}

pub(super) fn chunks(prepared: &Prepared) -> usize {
    prepared.bounds.len()
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
            {"resource": {"resourceType": "Organization", "name": "Acme"}},
            {"resource": {"resourceType": "Provenance", "target": [{"reference": "urn:uuid:p"}]}},
            {"resource": {"resourceType": "Condition", "id": "c", "subject": {"reference": "urn:uuid:p"}}},
            {"resource": {"resourceType": "Observation", "subject": {"reference": "Patient/p"}}},
            {"resource": {"resourceType": "Observation", "subject": {"reference": "Patient/q"}}},
        ]});
        let prepared = prepare(&bundle).unwrap();
        assert_eq!(prepared.entries.len(), 4);
        assert!(
            prepared
                .entries
                .iter()
                .filter(|e| e["resourceType"] != "Organization")
                .all(|e| e["subject"]["reference"] == NEW_PATIENT && e.get("id").is_none())
        );
        assert_eq!(
            prepared.skipped.get("Encounter"),
            None,
            "an Encounter is a record now"
        );
        assert_eq!(prepared.skipped.get("Organization"), None, "kept with the chart");
        assert_eq!(
            prepared.skipped.get("Provenance"),
            Some(&1),
            "the server makes its own"
        );
        assert_eq!(prepared.skipped.get("Observation of another patient"), Some(&1));
        assert!(prepare(&json!({"resourceType": "Bundle", "entry": []})).is_err());
    }

    #[test]
    pub(super) fn a_long_history_is_split_at_the_batch_limit() {
        let entry = json!({"resourceType": "Observation", "subject": {"reference": NEW_PATIENT}});
        let prepared = Prepared {
            patient: json!({"resourceType": "Patient"}),
            patient_names: vec![],
            entries: vec![entry; 1200],
            full_urls: vec![None; 1200],
            skipped: BTreeMap::new(),
            bounds: Vec::new(),
        }
        .bounded();
        assert_eq!(chunks(&prepared), 3);
        let none = HashMap::new();
        let sizes: Vec<usize> = (0..3)
            .map(|c| {
                let patient = (c > 0).then_some("x");
                transaction(&prepared, c, patient, &none)["entry"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(sizes, [512, 512, 177]);
        assert_eq!(
            transaction(&prepared, 1, Some("x"), &none)["entry"][0]["resource"]["subject"]["reference"],
            "Patient/x"
        );
    }

    #[test]
    pub(super) fn large_resources_are_split_by_size_and_references_follow_their_entries() {
        let big = "x".repeat(60 << 10);
        let entry = |n: usize| {
            json!({"resourceType": "Observation", "subject": {"reference": NEW_PATIENT},
                "valueString": big, "derivedFrom": [{"reference": format!("urn:uuid:{}", n.saturating_sub(1))}]})
        };
        let prepared = Prepared {
            patient: json!({"resourceType": "Patient"}),
            patient_names: vec!["urn:uuid:p".into()],
            entries: (0..400).map(entry).collect(),
            full_urls: (0..400).map(|n| Some(format!("urn:uuid:{n}"))).collect(),
            skipped: BTreeMap::new(),
            bounds: Vec::new(),
        }
        .bounded();
        let bounds = &prepared.bounds;
        assert_eq!(bounds.len(), 2, "400 entries of 60 KiB are 23 MiB: {bounds:?}");
        assert_eq!(bounds[0].end, bounds[1].start);
        let first = transaction(&prepared, 0, None, &HashMap::new());
        assert!(first.to_string().len() < 16 << 20);
        assert_eq!(first["entry"][1]["fullUrl"], "urn:uuid:0");
        // The second transaction references the first one's entries where the server put them.
        let locations: Vec<String> = (0..=bounds[0].len())
            .map(|n| format!("http://h/fhir/Observation/id{n}/_history/1"))
            .collect();
        let resolved = placed(&prepared, 0, &locations);
        let second = transaction(&prepared, 1, Some("p1"), &resolved);
        let last_of_first = bounds[0].end - 1;
        assert_eq!(
            second["entry"][0]["resource"]["derivedFrom"][0]["reference"],
            format!("Observation/id{}", last_of_first + 1)
        );
        assert_eq!(
            second["entry"][0]["resource"]["subject"]["reference"],
            "Patient/p1"
        );
    }
}
