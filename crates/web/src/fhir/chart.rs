//! A patient's chart as FHIR: every verified version of every entry the reader may see, with its
//! proof; read, vread, `_history`, `$everything`, and each entry's Provenance.
//!
//! Only content that verified against the chain is served. A version the chain holds that the
//! store lacks (or holds altered) is a gap: searches and `$everything` carry an OperationOutcome
//! (`search.mode` `outcome`, severity `warning`, code `incomplete`) naming each one, and a resource
//! whose newest revision is such a gap is served tagged `outdated`, never as current.

use alloy::primitives::{Address, B256};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_core::entry::EntryKind;
use medledger_core::entry::{PatientId, RecordId};
use medledger_fhir::bundle::{self, Entry, Mode};
use medledger_fhir::time::instant_of_ms;
use medledger_fhir::{IssueCode, ResourceType};
use medledger_ledger::records::{Proof, ReadEntry, Records};
use serde_json::{Value, json};

use super::{FhirError, TypeAndId, base, resource_response, stored_type, type_of};
use crate::error::AppError;
use crate::extract::SignedIn;
use crate::state::AppState;

/// The code system of the proof tag every resource carries in `meta.tag`.
pub(crate) use medledger_fhir::resource::PROOF_SYSTEM;
/// The identifier system of wallet addresses.
pub(crate) const WALLET_SYSTEM: &str = "urn:ethereum:address";

/// Where a version stands on the chain.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    pub(crate) version: u64,
    pub(crate) tx_hash: B256,
    pub(crate) block_number: u64,
    pub(crate) commitment: B256,
}

/// One verified version of one resource.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub(crate) ty: ResourceType,
    /// The resource's id: the record's, or the patient's for their Patient resource.
    pub(crate) id: String,
    /// The record it is a revision of.
    pub(crate) record: String,
    pub(crate) revision: u32,
    pub(crate) recorded_at: u64,
    pub(crate) author: Address,
    /// The resource as served: its content with id, meta and the patient reference.
    pub(crate) resource: Value,
    /// `None`: the stored entry does not match the chain.
    pub(crate) anchor: Option<Anchor>,
}

impl Version {
    /// `{ty}/{id}`.
    pub(crate) fn reference(&self) -> String {
        format!("{}/{}", self.ty.name(), self.id)
    }

    /// The id of its Provenance: `{id}-{revision}`, the record's own digits for an id a client
    /// chose (so that the Provenance finds its record).
    pub(crate) fn provenance_id(&self) -> String {
        let id = if self.ty == ResourceType::Patient {
            &self.id
        } else {
            &self.record
        };
        format!("{id}-{}", self.revision)
    }

    /// Its Provenance: who signed it, when, and where it is anchored.
    pub(crate) fn provenance(&self, patient: PatientId) -> Value {
        let mut extension = vec![json!({
            "url": "urn:medledger:anchor:status",
            "valueCode": if self.anchor.is_some() { "verified" } else { "tampered" },
        })];
        if let Some(a) = &self.anchor {
            extension.extend([
                json!({"url": "urn:medledger:anchor:transaction", "valueString": a.tx_hash.to_string()}),
                json!({"url": "urn:medledger:anchor:block", "valueString": a.block_number.to_string()}),
                json!({"url": "urn:medledger:anchor:commitment", "valueString": a.commitment.to_string()}),
                json!({"url": "urn:medledger:anchor:version", "valueString": a.version.to_string()}),
            ]);
        }
        json!({
            "resourceType": "Provenance",
            "id": self.provenance_id(),
            "extension": extension,
            "target": [{"reference": format!("{}/_history/{}", self.reference(), self.revision)}],
            "recorded": instant_of_ms(self.recorded_at),
            "agent": [{
                "type": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                    "code": "author",
                }]},
                "who": {"identifier": {"system": WALLET_SYSTEM, "value": self.author.to_string()}},
            }],
            "entity": [{
                "role": "source",
                "what": {"reference": format!("Patient/{patient}")},
            }],
        })
    }
}

/// A version of the history the chain holds and the reader cannot be shown.
#[derive(Debug, Clone)]
pub(crate) struct Gap {
    /// Its version on chain.
    pub(crate) version: u64,
    /// The type its kind is stored as.
    pub(crate) ty: Option<ResourceType>,
    /// Its author.
    pub(crate) author: Address,
    /// The record it is (or amends), when known.
    pub(crate) record: Option<String>,
    /// What is wrong.
    pub(crate) why: String,
}

impl Gap {
    fn describe(&self) -> String {
        format!(
            "chain version {} ({}, by {}{}): {}",
            self.version,
            self.ty.map_or("an entry", |t| t.name()),
            self.author,
            self.record
                .as_ref()
                .map(|r| format!(", record {r}"))
                .unwrap_or_default(),
            self.why
        )
    }
}

/// What a reader may see of one patient's chart.
#[derive(Debug)]
pub(crate) struct Chart {
    pub(crate) patient: PatientId,
    /// Every verified version, in the order written.
    pub(crate) versions: Vec<Version>,
    /// The versions the chain holds that cannot be shown (missing from the store, or altered).
    pub(crate) gaps: Vec<Gap>,
}

impl Chart {
    /// The newest version of each resource.
    pub(crate) fn latest(&self) -> Vec<&Version> {
        let mut out: Vec<&Version> = Vec::new();
        for v in &self.versions {
            match out.iter_mut().find(|o| o.ty == v.ty && o.id == v.id) {
                Some(o) if o.revision < v.revision => *o = v,
                Some(_) => {}
                None => out.push(v),
            }
        }
        out
    }

    /// The newest version of each resource, taken out of the chart.
    pub(crate) fn into_latest(self) -> Vec<Version> {
        let mut out: Vec<Version> = Vec::new();
        for v in self.versions {
            match out.iter_mut().find(|o| o.ty == v.ty && o.id == v.id) {
                Some(o) if o.revision < v.revision => *o = v,
                Some(_) => {}
                None => out.push(v),
            }
        }
        out
    }

    /// An OperationOutcome entry naming the gaps, if there are any, for a search Bundle.
    pub(crate) fn gaps_entry(&self, base: &str) -> Option<Entry> {
        if self.gaps.is_empty() {
            return None;
        }
        let issues = self
            .gaps
            .iter()
            .map(|g| medledger_fhir::outcome::Issue::new(IssueCode::Incomplete, g.describe()))
            .collect();
        let mut resource = medledger_fhir::outcome::Outcome { issues }.to_resource();
        let id = format!("gaps-{}", self.patient);
        resource["id"] = json!(id);
        Some(Entry {
            full_url: format!("{base}/OperationOutcome/{id}"),
            resource,
            mode: Some(Mode::Outcome),
        })
    }

    /// The versions of one resource, newest first.
    pub(crate) fn versions_of(&self, ty: ResourceType, id: &str) -> Vec<&Version> {
        let mut out: Vec<&Version> = self
            .versions
            .iter()
            .filter(|v| v.ty == ty && v.id == id)
            .collect();
        out.sort_by_key(|v| std::cmp::Reverse(v.revision));
        out
    }
}

/// The ledger's refusal to read, as FHIR says it: not found.
pub(crate) fn read_error(err: medledger_ledger::Error, what: &str) -> FhirError {
    use medledger_ledger::Error as E;
    match err {
        E::Forbidden(_) | E::UnknownPatient(_) | E::UnknownRecord(_) => FhirError::new(
            StatusCode::NOT_FOUND,
            IssueCode::NotFound,
            format!("there is no {what} that you may read"),
        ),
        disagreement @ E::Disagreement(_) => FhirError::new(
            StatusCode::CONFLICT,
            IssueCode::Conflict,
            disagreement.to_string(),
        ),
        other => AppError::internal(other).into(),
    }
}

/// Loads the chart of `patient` as `reader` may see it (audited as a read), or 404.
pub(crate) async fn load(state: &AppState, reader: Address, patient: PatientId) -> Result<Chart, FhirError> {
    let history = state
        .hospital
        .records
        .history(reader, patient)
        .await
        .map_err(|e| read_error(e, &format!("Patient/{patient}")))?;
    let mut versions = Vec::new();
    let mut gaps = Vec::new();
    for entry in history {
        let gap = |version: u64, why: &str| Gap {
            version,
            ty: EntryKind::try_from(entry.kind).ok().map(type_of),
            author: entry.author,
            record: entry.record.clone(),
            why: why.to_owned(),
        };
        match &entry.proof {
            Proof::Missing { version, why, .. } => gaps.push(gap(*version, why)),
            Proof::Tampered {
                version: Some(version),
                why,
            } => gaps.push(gap(
                *version,
                &format!("altered in this store, so withheld: {why}"),
            )),
            _ => versions.extend(version_of(&state.hospital.records, patient, entry)),
        }
    }
    // A resource whose newer revision is a gap is not current: say so on each of its versions.
    for gap in &gaps {
        for v in versions
            .iter_mut()
            .filter(|v| gap.record.as_deref() == Some(v.record.as_str()))
        {
            let outdated = json!({
                "system": PROOF_SYSTEM,
                "code": "outdated",
                "display": format!(
                    "verified, but a newer revision (chain version {}) is held on chain and not in this store: do not \
                     rely on this one as current",
                    gap.version
                ),
            });
            if let Some(tags) = v.resource["meta"]["tag"].as_array_mut() {
                tags.retain(|t| t["system"] != PROOF_SYSTEM);
                tags.push(outdated);
            }
        }
    }
    Ok(Chart {
        patient,
        versions,
        gaps,
    })
}

fn version_of(records: &Records, patient: PatientId, entry: ReadEntry) -> Option<Version> {
    let ty = type_of(EntryKind::try_from(entry.kind).ok()?);
    let anchor = match &entry.proof {
        Proof::Verified {
            version,
            tx_hash,
            block_number,
            commitment,
        } => Some(Anchor {
            version: *version,
            tx_hash: *tx_hash,
            block_number: *block_number,
            commitment: *commitment,
        }),
        // Not (yet) part of the record, or withheld.
        Proof::Tampered { .. } | Proof::Missing { .. } | Proof::Pending | Proof::Rejected { .. } => {
            return None;
        }
    };
    let record = entry.record?;
    let (revision, recorded_at) = (entry.revision?, entry.recorded_at?);
    let mut resource = entry.content?.value();
    if resource.get("resourceType").and_then(Value::as_str) != Some(ty.name()) {
        tracing::warn!(%record, "an entry's content is not the resource its kind says");
        return None;
    }
    // A resource keeps the id a client chose for it (update as create), if that id names this
    // very record; otherwise it is the record's own digits.
    let id = if ty == ResourceType::Patient {
        patient.to_string()
    } else {
        resource
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| super::record_of(records, ty, id).is_some_and(|r| r.to_string() == record))
            .map_or_else(|| record.clone(), str::to_owned)
    };
    resource["id"] = json!(id);
    // The client's meta (profiles, labels, tags), with the server's version, time and proof tag.
    let mut meta = match resource.get_mut("meta").map(Value::take) {
        Some(Value::Object(meta)) => meta,
        _ => serde_json::Map::new(),
    };
    meta.insert("versionId".into(), json!(revision.to_string()));
    meta.insert("lastUpdated".into(), json!(instant_of_ms(recorded_at)));
    let proof =
        json!({"system": PROOF_SYSTEM, "code": "verified", "display": "matches its commitment on the chain"});
    match meta.get_mut("tag") {
        Some(Value::Array(tags)) => {
            tags.retain(|t| t["system"] != PROOF_SYSTEM);
            tags.push(proof);
        }
        _ => {
            meta.insert("tag".into(), json!([proof]));
        }
    }
    resource["meta"] = Value::Object(meta);
    if let Some(element) = ty.patient_element() {
        resource[element] = json!({"reference": format!("Patient/{patient}")});
    }
    // Not validated again: it was checked when written, and its commitment on the chain proves it
    // is what was written (a check here could only hide a verified record from its reader).
    Some(Version {
        ty,
        id,
        record,
        revision,
        recorded_at,
        author: entry.author,
        resource,
        anchor,
    })
}

/// The patient a resource belongs to: for a Patient its own id; for an entry, its record's.
pub(crate) async fn patient_of(state: &AppState, ty: ResourceType, id: &str) -> Result<PatientId, FhirError> {
    let not_found = || FhirError::not_found(ty.name(), id);
    if ty == ResourceType::Patient {
        return id.parse().map_err(|_| not_found());
    }
    let record = super::record_of(&state.hospital.records, ty, id).ok_or_else(not_found)?;
    record_patient(state, record).await?.ok_or_else(not_found)
}

/// The patient of `record`, if it is one.
async fn record_patient(state: &AppState, record: RecordId) -> Result<Option<PatientId>, FhirError> {
    let found = state
        .hospital
        .store
        .latest_revision(record)
        .await
        .map_err(AppError::internal)?;
    Ok(found.map(|(patient, _)| patient))
}

/// The page an operation's `_count` and `_offset` ask for; without `_count`, all of it.
fn paged(params: &super::search::Params, total: usize) -> Result<super::search::Page, FhirError> {
    let mut page = super::search::Page::of(params)?;
    if !params.iter().any(|(n, _)| n == "_count") {
        page.count = total;
    }
    Ok(page)
}

/// The version's `ETag` (`W/"n"`) and `Last-Modified` (when it was recorded).
pub(crate) fn with_etag(mut response: Response, version: &Version) -> Response {
    if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{}\"", version.revision)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    if let Ok(date) = HeaderValue::from_str(&medledger_core::calendar::http_date(version.recorded_at)) {
        response.headers_mut().insert(header::LAST_MODIFIED, date);
    }
    response
}

/// Finds a Provenance by id (`{resource id}-{revision}`).
async fn provenance(state: &AppState, reader: Address, id: &str) -> Result<Response, FhirError> {
    let not_found = || FhirError::not_found("Provenance", id);
    let (target, revision) = id.rsplit_once('-').ok_or_else(not_found)?;
    let revision: u32 = revision.parse().map_err(|_| not_found())?;
    // The target is an entry's record, or else a patient (their demographics).
    let record = match target.parse::<RecordId>() {
        Ok(record) => record_patient(state, record).await?,
        Err(_) => None,
    };
    let (ty, patient) = match record {
        Some(patient) => (None, patient),
        None => (
            Some(ResourceType::Patient),
            target.parse().map_err(|_| not_found())?,
        ),
    };
    let chart = load(state, reader, patient)
        .await
        .map_err(|e| e.or_not_found("Provenance", id))?;
    let found = chart
        .versions
        .iter()
        .find(|v| {
            (v.id == target || v.record == target) && v.revision == revision && ty.is_none_or(|t| t == v.ty)
        })
        .ok_or_else(not_found)?;
    Ok(resource_response(StatusCode::OK, &found.provenance(patient)))
}

/// `GET /fhir/{ty}/{id}`: the newest version.
///
/// `If-None-Match` with the newest version's ETag answers 304 Not Modified (the read is audited
/// all the same: it was checked against the chain, and the caller learnt it is current).
pub(crate) async fn read(
    State(state): State<AppState>,
    SignedIn(reader): SignedIn,
    Path((ty, id)): TypeAndId,
    headers: axum::http::HeaderMap,
) -> Result<Response, FhirError> {
    match ty.as_str() {
        "Provenance" => return provenance(&state, reader, &id).await,
        "Consent" | "AuditEvent" => return super::access::read(&state, reader, &ty, &id).await,
        _ => {}
    }
    let ty = stored_type(&ty)?;
    let patient = patient_of(&state, ty, &id).await?;
    let chart = load(&state, reader, patient)
        .await
        .map_err(|e| e.or_not_found(ty.name(), &id))?;
    let versions = chart.versions_of(ty, &id);
    let newest = versions
        .first()
        .ok_or_else(|| FhirError::not_found(ty.name(), &id))?;
    let current = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',').any(|tag| {
                let tag = tag.trim();
                tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == newest.revision.to_string()
            })
        });
    if current {
        return Ok(with_etag(StatusCode::NOT_MODIFIED.into_response(), newest));
    }
    Ok(with_etag(
        resource_response(StatusCode::OK, &newest.resource),
        newest,
    ))
}

/// `GET /fhir/{ty}/{id}/_history/{version}`: one version.
pub(crate) async fn vread(
    State(state): State<AppState>,
    SignedIn(reader): SignedIn,
    Path((ty, id, version)): Path<(String, String, String)>,
) -> Result<Response, FhirError> {
    let ty = stored_type(&ty)?;
    let what = format!("{id}/_history/{version}");
    let not_found = || FhirError::not_found(ty.name(), &what);
    let revision: u32 = version.parse().map_err(|_| not_found())?;
    let patient = patient_of(&state, ty, &id).await.map_err(|_| not_found())?;
    let chart = load(&state, reader, patient)
        .await
        .map_err(|e| e.or_not_found(ty.name(), &what))?;
    let found = chart
        .versions_of(ty, &id)
        .into_iter()
        .find(|v| v.revision == revision)
        .ok_or_else(not_found)?;
    Ok(with_etag(
        resource_response(StatusCode::OK, &found.resource),
        found,
    ))
}

/// `GET /fhir/{ty}/{id}/_history` (`_count` and `_offset` page it) and
/// `GET /fhir/Patient/{id}/$everything` (`_type` and `_since` narrow it, `_count` and `_offset`
/// page it; without `_count` it is whole). Other parameters are refused, not ignored.
pub(crate) async fn operation(
    State(state): State<AppState>,
    SignedIn(reader): SignedIn,
    Path((ty, id, operation)): Path<(String, String, String)>,
    query: super::Query,
) -> Result<Response, FhirError> {
    let ty = stored_type(&ty)?;
    match operation.as_str() {
        "_history" => {
            let params = super::search::params_of(query.0.as_deref(), "_history", &[])?;
            let patient = patient_of(&state, ty, &id).await?;
            let chart = load(&state, reader, patient)
                .await
                .map_err(|e| e.or_not_found(ty.name(), &id))?;
            let versions = chart.versions_of(ty, &id);
            if versions.is_empty() {
                return Err(FhirError::not_found(ty.name(), &id));
            }
            let base = base(&state);
            let total = versions.len();
            let page = paged(&params, total)?;
            let entries = page
                .of_list(versions)
                .iter()
                .map(|v| Entry {
                    full_url: format!("{base}/{}", v.reference()),
                    resource: v.resource.clone(),
                    mode: None,
                })
                .collect();
            let links = super::search::page_links(
                &base,
                &format!("{}/{id}/_history", ty.name()),
                &params,
                page,
                total,
            )?;
            Ok(resource_response(
                StatusCode::OK,
                &bundle::history(entries, &links),
            ))
        }
        "$everything" if ty == ResourceType::Patient => {
            let params =
                super::search::params_of(query.0.as_deref(), "Patient/$everything", &["_type", "_since"])?;
            let mut types: Option<Vec<ResourceType>> = None;
            for (_, list) in params.iter().filter(|(n, _)| n == "_type") {
                let mut these = Vec::new();
                for name in list.split(',') {
                    these.push(ResourceType::from_name(name.trim()).ok_or_else(|| {
                        FhirError::bad_request(format!(
                            "_type={name:?} is not a resource type of a chart here: see /fhir/metadata"
                        ))
                    })?);
                }
                types.get_or_insert_with(Vec::new).extend(these);
            }
            let since = match params.iter().rev().find(|(n, _)| n == "_since") {
                Some((_, text)) => Some(
                    medledger_fhir::time::instant(text)
                        .map_err(|why| FhirError::bad_request(format!("_since={text:?}: {why}")))?
                        .start,
                ),
                None => None,
            };
            let patient = patient_of(&state, ty, &id).await?;
            let chart = load(&state, reader, patient)
                .await
                .map_err(|e| e.or_not_found("Patient", &id))?;
            let base = base(&state);
            let gaps = chart.gaps_entry(&base);
            let mut latest = chart.into_latest();
            latest.retain(|v| {
                types.as_ref().is_none_or(|t| t.contains(&v.ty))
                    && since.is_none_or(|since| v.recorded_at as i64 >= since)
            });
            // The Patient first, then the entries in the order written.
            latest.sort_by_key(|v| (v.ty != ResourceType::Patient, v.recorded_at));
            let total = latest.len();
            let page = paged(&params, total)?;
            let latest = page.of_list(latest);
            let provenance: Vec<Entry> = latest
                .iter()
                .map(|v| Entry {
                    full_url: format!("{base}/Provenance/{}", v.provenance_id()),
                    resource: v.provenance(patient),
                    mode: Some(Mode::Include),
                })
                .collect();
            let mut entries: Vec<Entry> = latest
                .into_iter()
                .map(|v| Entry {
                    full_url: format!("{base}/{}", v.reference()),
                    resource: v.resource,
                    mode: Some(Mode::Match),
                })
                .collect();
            entries.extend(provenance);
            entries.extend(gaps);
            let links =
                super::search::page_links(&base, &format!("Patient/{id}/$everything"), &params, page, total)?;
            Ok(resource_response(
                StatusCode::OK,
                &bundle::searchset(total, entries, &links),
            ))
        }
        other => Err(FhirError::new(
            StatusCode::NOT_FOUND,
            IssueCode::NotSupported,
            format!(
                "{other:?} is not an operation on {}: this server has _history, and $everything on Patient",
                ty.name()
            ),
        )),
    }
}
