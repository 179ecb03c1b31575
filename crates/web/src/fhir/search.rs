//! Search: `GET /fhir/{ty}?…` over the charts the caller may read.
//!
//! Parameters: `patient`/`subject`, `code` (and `code:text`), `date`, `_id`, `_lastUpdated`,
//! `_count` and `_offset` (paging links carry them), `_include` of the patient, `_revinclude` of
//! each result's Provenance, `_sort`
//! (`_lastUpdated`, `date`, `_id`, each may be `-`), `_total` (`none`, `estimate`, `accurate`),
//! `_summary` (`count`, `data`, `false`) and `_elements`; on Patient `name`, `identifier` (the
//! wallet) and `birthdate`; on Provenance `target` and `patient`. A parameter (or a value of
//! `_sort`, `_total`, `_summary`) this server does not know is refused rather than ignored:
//! ignoring a filter on clinical data would answer a different question than the one asked.

use alloy::primitives::Address;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use medledger_core::blind::Match;
use medledger_core::entry::PatientId;
use medledger_fhir::bundle::{self, Entry, Mode};
use medledger_fhir::time::{self, Span};
use medledger_fhir::{IssueCode, ResourceType};
use serde_json::Value;

use super::chart::{Chart, Version, WALLET_SYSTEM, load};
use super::{FhirError, Query, base, resource_response, stored_type};
use crate::error::AppError;
use crate::extract::SignedIn;
use crate::state::AppState;

/// Results per page unless `_count` says otherwise.
pub(crate) const DEFAULT_COUNT: usize = 50;
/// The most results on one page.
pub(crate) const MOST_COUNT: usize = 500;

/// Search parameters, as sent (names may repeat).
pub(crate) type Params = Vec<(String, String)>;

/// Which page of results: `_count` and `_offset`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    pub(crate) count: usize,
    pub(crate) offset: usize,
}

impl Page {
    /// The page a search asks for.
    pub(crate) fn of(params: &Params) -> Result<Self, FhirError> {
        Ok(Self {
            count: number(params, "_count", DEFAULT_COUNT)?.min(MOST_COUNT),
            offset: number(params, "_offset", 0)?,
        })
    }

    /// This page of `all`.
    pub(crate) fn of_list<T>(self, all: Vec<T>) -> Vec<T> {
        all.into_iter().skip(self.offset).take(self.count).collect()
    }
}

/// The `self`, `first`, `next` and `previous` links of a page of `total` results.
pub(crate) fn page_links(
    base: &str,
    ty_name: &str,
    params: &Params,
    page: Page,
    total: usize,
) -> Result<Vec<(&'static str, String)>, FhirError> {
    let Page { count, offset } = page;
    let link = |offset: usize| -> Result<String, FhirError> {
        let mut kept: Params = params
            .iter()
            .filter(|(n, _)| n != "_offset" && n != "_count")
            .cloned()
            .collect();
        kept.push(("_count".into(), count.to_string()));
        kept.push(("_offset".into(), offset.to_string()));
        let query = serde_urlencoded::to_string(&kept).map_err(AppError::internal)?;
        Ok(format!("{base}/{ty_name}?{query}"))
    };
    let mut links = vec![("self", link(offset)?), ("first", link(0)?)];
    if count > 0 && offset + count < total {
        links.push(("next", link(offset + count)?));
    }
    if offset > 0 && count > 0 {
        links.push(("previous", link(offset.saturating_sub(count))?));
    }
    Ok(links)
}

/// The parameters of a search, refusing any not in `known`.
pub(crate) fn params_of(query: Option<&str>, ty_name: &str, known: &[&str]) -> Result<Params, FhirError> {
    let params = parse_params(query)?;
    if let Some((name, _)) = params.iter().find(|(n, _)| {
        !known.contains(&n.as_str()) && !["_count", "_offset", "_format"].contains(&n.as_str())
    }) {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            IssueCode::NotSupported,
            format!("the search parameter {name:?} is not supported on {ty_name}: see /fhir/metadata"),
        ));
    }
    Ok(params)
}

fn parse_params(query: Option<&str>) -> Result<Params, FhirError> {
    serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| FhirError::bad_request(format!("the query string does not parse: {e}")))
}

fn known(ty: Option<ResourceType>, name: &str) -> bool {
    let base = name.split(':').next().unwrap_or(name);
    let common = [
        "_id",
        "_lastUpdated",
        "_count",
        "_offset",
        "_format",
        "_include",
        "_sort",
        "_revinclude",
        "_total",
        "_summary",
        "_elements",
    ];
    if common.contains(&name) {
        return true;
    }
    match ty {
        None => ["target", "patient"].contains(&name),
        Some(ResourceType::Patient) => ["name", "identifier", "birthdate"].contains(&name),
        Some(t) => {
            ["patient", "subject", "identifier"].contains(&name)
                || (name == "date" && !t.date_elements().is_empty())
                || (t.code_element().is_some() && (name == "code" || (base == "code" && name == "code:text")))
        }
    }
}

fn number(params: &Params, name: &str, default: usize) -> Result<usize, FhirError> {
    match params.iter().rev().find(|(n, _)| n == name) {
        None => Ok(default),
        Some((_, v)) => v
            .parse()
            .map_err(|_| FhirError::bad_request(format!("{name}={v:?} is not a whole number"))),
    }
}

/// A patient reference in a search: `Patient/{id}`, `{id}`, or a full URL ending so.
pub(crate) fn patient_param(value: &str) -> Result<PatientId, FhirError> {
    let id = value.rsplit('/').next().unwrap_or(value);
    if value.contains('/') && !value.trim_end_matches(id).ends_with("Patient/") {
        return Err(FhirError::bad_request(format!(
            "patient={value:?} does not name a Patient (Patient/{{id}} or {{id}})"
        )));
    }
    id.parse().map_err(|_| {
        FhirError::bad_request(format!(
            "patient={value:?}: a patient id is 32 hexadecimal digits"
        ))
    })
}

/// A date parameter: a prefix and a date.
pub(crate) struct DateFilter {
    prefix: String,
    span: Span,
}

pub(crate) fn date_filters(params: &Params, name: &str) -> Result<Vec<DateFilter>, FhirError> {
    params
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| {
            let (prefix, date) = if v.len() > 2 && v.as_bytes()[..2].iter().all(u8::is_ascii_lowercase) {
                v.split_at(2)
            } else {
                ("eq", v.as_str())
            };
            if !["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"].contains(&prefix) {
                return Err(FhirError::bad_request(format!(
                    "{name}={v:?}: the prefix {prefix:?} is not one of eq, ne, gt, lt, ge, le, sa, eb"
                )));
            }
            let span =
                time::date_time(date).map_err(|why| FhirError::bad_request(format!("{name}: {why}")))?;
            Ok(DateFilter {
                prefix: prefix.to_owned(),
                span,
            })
        })
        .collect()
}

impl DateFilter {
    pub(crate) fn matches(&self, r: Span) -> bool {
        let p = self.span;
        match self.prefix.as_str() {
            "eq" => p.start <= r.start && r.end <= p.end,
            "ne" => !(p.start <= r.start && r.end <= p.end),
            "gt" => r.end > p.end,
            "lt" => r.start < p.start,
            "ge" => r.end > p.start,
            "le" => r.start < p.end,
            "sa" => r.start >= p.end,
            _ => r.end <= p.start,
        }
    }
}

/// The span of a resource's clinical date.
fn clinical_date(ty: ResourceType, resource: &Value) -> Option<Span> {
    ty.date_elements()
        .iter()
        .find_map(|name| match resource.get(*name)? {
            Value::String(text) => time::date_time(text).ok(),
            Value::Object(period) => {
                let start = period
                    .get("start")
                    .and_then(Value::as_str)
                    .and_then(|t| time::date_time(t).ok());
                let end = period
                    .get("end")
                    .and_then(Value::as_str)
                    .and_then(|t| time::date_time(t).ok());
                Some(Span {
                    start: start.map_or(i64::MIN, |s| s.start),
                    end: end.map_or(i64::MAX, |e| e.end),
                })
            }
            _ => None,
        })
}

/// Whether one of a resource's identifiers matches a token: `system|value`, `|value` (no system),
/// or `value` (any system). A wallet (`urn:ethereum:address`, or a bare `0x…` address) matches as
/// an address, whatever its letters' case.
fn identifier_matches(resource: &Value, token: &str) -> bool {
    let (system, value) = match token.split_once('|') {
        Some((s, v)) => (Some(s), v),
        None if value_is_address(token) => (Some(WALLET_SYSTEM), token),
        None => (None, token),
    };
    let ids = resource["identifier"].as_array().map_or(&[][..], Vec::as_slice);
    ids.iter().any(|i| {
        let own_system = i["system"].as_str();
        let system_ok = match system {
            None => true,
            Some("") => own_system.is_none(),
            Some(s) => own_system == Some(s),
        };
        let own_value = i["value"].as_str();
        let value_ok = if system == Some(WALLET_SYSTEM) {
            let wanted = value.parse::<Address>().ok();
            wanted.is_some() && own_value.and_then(|v| v.parse::<Address>().ok()) == wanted
        } else {
            own_value == Some(value)
        };
        system_ok && value_ok
    })
}

fn value_is_address(text: &str) -> bool {
    text.parse::<Address>().is_ok()
}

/// Whether a CodeableConcept matches a token (`system|code`, `|code`, `system|`, `code`).
fn concept_matches(concept: &Value, token: &str) -> bool {
    let codings = concept
        .get("coding")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let (system, code) = match token.split_once('|') {
        Some((s, c)) => (Some(s), c),
        None => (None, token),
    };
    codings.iter().any(|c| {
        let cs = c.get("system").and_then(Value::as_str);
        let cc = c.get("code").and_then(Value::as_str);
        let system_ok = match system {
            None => true,
            Some("") => cs.is_none(),
            Some(s) => cs == Some(s),
        };
        system_ok && (code.is_empty() || cc == Some(code))
    })
}

fn concept_text_matches(concept: &Value, words: &str) -> bool {
    let words = words.to_lowercase();
    let mut texts = vec![
        concept
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase(),
    ];
    if let Some(codings) = concept.get("coding").and_then(Value::as_array) {
        texts.extend(
            codings
                .iter()
                .filter_map(|c| c.get("display")?.as_str().map(str::to_lowercase)),
        );
    }
    texts.iter().any(|t| t.contains(&words))
}

fn matches(ty: ResourceType, version: &Version, params: &Params) -> Result<bool, FhirError> {
    let resource = &version.resource;
    for (name, value) in params {
        let ok = match name.as_str() {
            "_id" => value.split(',').any(|id| id == version.id),
            "code" => {
                let concept = ty.code_element().and_then(|e| resource.get(e));
                concept.is_some_and(|c| value.split(',').any(|token| concept_matches(c, token)))
            }
            "code:text" => ty
                .code_element()
                .and_then(|e| resource.get(e))
                .is_some_and(|c| concept_text_matches(c, value)),
            "identifier" => value.split(',').any(|token| identifier_matches(resource, token)),
            _ => true,
        };
        if !ok {
            return Ok(false);
        }
    }
    let date_param = if ty == ResourceType::Patient {
        "birthdate"
    } else {
        "date"
    };
    let dates = date_filters(params, date_param)?;
    if !dates.is_empty() {
        let Some(span) = clinical_date(ty, resource) else {
            return Ok(false);
        };
        if !dates.iter().all(|f| f.matches(span)) {
            return Ok(false);
        }
    }
    let updated = Span {
        start: version.recorded_at as i64,
        end: version.recorded_at as i64 + 1,
    };
    Ok(date_filters(params, "_lastUpdated")?
        .iter()
        .all(|f| f.matches(updated)))
}

/// The patients a search covers: those named, or all the caller may read.
async fn patients(
    state: &AppState,
    reader: Address,
    ty: Option<ResourceType>,
    params: &Params,
) -> Result<Vec<PatientId>, FhirError> {
    let named: Vec<&str> = params
        .iter()
        .filter(|(n, _)| n == "patient" || n == "subject")
        .map(|(_, v)| v.as_str())
        .collect();
    if let Some(first) = named.first() {
        let ids: Vec<PatientId> = first.split(',').map(patient_param).collect::<Result<_, _>>()?;
        // Several patient parameters AND together: only patients named by all.
        let mut out = ids;
        for other in &named[1..] {
            let more: Vec<PatientId> = other.split(',').map(patient_param).collect::<Result<_, _>>()?;
            out.retain(|id| more.contains(id));
        }
        return Ok(out);
    }
    let records = &state.hospital.records;
    if ty == Some(ResourceType::Patient) {
        if let Some((_, name)) = params.iter().find(|(n, _)| n == "name") {
            return records
                .search(reader, name, Match::Prefix)
                .await
                .map_err(|e| FhirError::from(AppError::from(e)));
        }
        if let Some((_, ids)) = params.iter().find(|(n, _)| n == "_id") {
            return Ok(ids.split(',').filter_map(|id| id.parse().ok()).collect());
        }
    }
    let roles = records
        .roles(reader)
        .await
        .map_err(|e| FhirError::from(AppError::from(e)))?;
    let mut out: Vec<PatientId> = roles.patient.into_iter().collect();
    if roles.doctor {
        let access = records
            .patients_of(reader)
            .await
            .map_err(|e| FhirError::from(AppError::from(e)))?;
        out.extend(access.iter().filter(|a| a.open).map(|a| a.patient));
    }
    out.dedup();
    Ok(out)
}

/// Every patient whose chart `reader` may read: their own, and those a doctor holds consent or an
/// open emergency access for.
pub(crate) async fn readable_patients(
    state: &AppState,
    reader: Address,
) -> Result<Vec<PatientId>, FhirError> {
    patients(state, reader, None, &Vec::new()).await
}

/// The charts the caller may read among `ids` (others are left out: a search finds nothing there).
async fn charts(state: &AppState, reader: Address, ids: &[PatientId]) -> Result<Vec<Chart>, FhirError> {
    let mut out = Vec::new();
    for &id in ids {
        match load(state, reader, id).await {
            Ok(chart) => out.push(chart),
            Err(e) if e.status() == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A version a search found: the resource itself, or its Provenance.
struct Hit<'a> {
    chart: &'a Chart,
    version: &'a Version,
    provenance: bool,
}

impl Hit<'_> {
    fn reference(&self) -> String {
        if self.provenance {
            format!("Provenance/{}", self.version.provenance_id())
        } else {
            self.version.reference()
        }
    }

    fn resource(&self) -> Value {
        if self.provenance {
            self.version.provenance(self.chart.patient)
        } else {
            self.version.resource.clone()
        }
    }
}

/// Whether a version's Provenance matches `target`, `_id` and `_lastUpdated`.
fn provenance_matches(version: &Version, params: &Params, base: &str) -> Result<bool, FhirError> {
    let versioned = format!("{}/_history/{}", version.reference(), version.revision);
    let prefix = format!("{base}/");
    let wanted = params.iter().filter(|(n, _)| n == "target").all(|(_, targets)| {
        targets.split(',').any(|t| {
            let t = t.trim_start_matches(&prefix);
            t == version.reference() || t == versioned
        })
    });
    let updated = Span {
        start: version.recorded_at as i64,
        end: version.recorded_at as i64 + 1,
    };
    let in_time = date_filters(params, "_lastUpdated")?
        .iter()
        .all(|f| f.matches(updated));
    let by_id = params
        .iter()
        .filter(|(n, _)| n == "_id")
        .all(|(_, ids)| ids.split(',').any(|id| id == version.provenance_id()));
    Ok(wanted && in_time && by_id)
}

/// The current versions of `ty` a search (`query`, its parameters: `identifier=…` for a conditional
/// create) finds among the charts `reader` may read, each with the patient whose chart holds it.
/// Paging and shaping parameters are refused.
pub(crate) async fn find(
    state: &AppState,
    reader: Address,
    ty: ResourceType,
    query: &str,
) -> Result<Vec<(PatientId, Version)>, FhirError> {
    let params = parse_params(Some(query.trim_start_matches('?')))?;
    if params.is_empty() {
        return Err(FhirError::bad_request(
            "the condition is empty: give search parameters, such as identifier=system|value",
        ));
    }
    if let Some((name, _)) = params
        .iter()
        .find(|(n, _)| !known(Some(ty), n) || (n.starts_with('_') && n != "_id" && n != "_lastUpdated"))
    {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            IssueCode::NotSupported,
            format!(
                "the search parameter {name:?} cannot make a condition on {}",
                ty.name()
            ),
        ));
    }
    let ids = patients(state, reader, Some(ty), &params).await?;
    let charts = charts(state, reader, &ids).await?;
    let mut out = Vec::new();
    for chart in &charts {
        for version in chart.latest().into_iter().filter(|v| v.ty == ty) {
            if matches(ty, version, &params)? {
                out.push((chart.patient, version.clone()));
            }
        }
    }
    Ok(out)
}

/// `GET /fhir/{ty}?…`: a searchset Bundle.
pub(crate) async fn search_type(
    State(state): State<AppState>,
    SignedIn(reader): SignedIn,
    Path(ty_name): Path<String>,
    query: Query,
) -> Result<Response, FhirError> {
    if ty_name == "Consent" || ty_name == "AuditEvent" {
        return super::access::search(&state, reader, &ty_name, query.0.as_deref()).await;
    }
    let ty = if ty_name == "Provenance" {
        None
    } else {
        Some(stored_type(&ty_name)?)
    };
    let params = parse_params(query.0.as_deref())?;
    if let Some((name, _)) = params.iter().find(|(n, _)| !known(ty, n)) {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            IssueCode::NotSupported,
            format!("the search parameter {name:?} is not supported on {ty_name}: see /fhir/metadata"),
        ));
    }
    if let Some((_, format)) = params.iter().find(|(n, _)| n == "_format")
        && !["json", "application/json", "application/fhir+json"].contains(&format.as_str())
    {
        return Err(FhirError::new(
            StatusCode::NOT_ACCEPTABLE,
            IssueCode::NotSupported,
            format!("_format={format:?}: this server speaks JSON only"),
        ));
    }
    let includes: Vec<&str> = params
        .iter()
        .filter(|(n, _)| n == "_include")
        .map(|(_, v)| v.as_str())
        .collect();
    let include_patient = match (ty, includes.as_slice()) {
        (_, []) => false,
        (Some(t), list) if t != ResourceType::Patient => {
            for include in list {
                let ok = *include == "*"
                    || *include == format!("{ty_name}:patient")
                    || *include == format!("{ty_name}:subject")
                    || *include == format!("{ty_name}:subject:Patient");
                if !ok {
                    return Err(FhirError::bad_request(format!(
                        "_include={include:?} is not supported: {ty_name} includes {ty_name}:patient or \
                         {ty_name}:subject"
                    )));
                }
            }
            true
        }
        _ => {
            return Err(FhirError::bad_request(format!(
                "_include is not supported on {ty_name}"
            )));
        }
    };
    let page = Page::of(&params)?;
    // A resource's anchors on the chain are its Provenance: `_revinclude=Provenance:target`.
    let mut revinclude_provenance = false;
    for (_, value) in params.iter().filter(|(n, _)| n == "_revinclude") {
        match (ty, value.as_str()) {
            (Some(_), "Provenance:target" | "*") => revinclude_provenance = true,
            _ => {
                return Err(FhirError::bad_request(format!(
                    "_revinclude={value:?} is not supported on {ty_name}: this server reverse-includes Provenance:target"
                )));
            }
        }
    }

    let ids = patients(&state, reader, ty, &params).await?;
    let charts = charts(&state, reader, &ids).await?;
    let base = base(&state);
    let mut found: Vec<Hit> = Vec::new();
    for chart in &charts {
        match ty {
            Some(ty) => {
                for version in chart.latest().into_iter().filter(|v| v.ty == ty) {
                    if matches(ty, version, &params)? {
                        found.push(Hit {
                            chart,
                            version,
                            provenance: false,
                        });
                    }
                }
            }
            None => {
                for version in &chart.versions {
                    if provenance_matches(version, &params, &base)? {
                        found.push(Hit {
                            chart,
                            version,
                            provenance: true,
                        });
                    }
                }
            }
        }
    }
    let shape = Shape::of(&params)?;
    // As `_sort` asks (newest first unless it says otherwise); ties broken by reference so that
    // pages are stable.
    found.sort_by(|a, b| {
        for (key, descending) in &shape.sort {
            let order = match key {
                SortKey::LastUpdated => a.version.recorded_at.cmp(&b.version.recorded_at),
                SortKey::Date => sort_date(a).cmp(&sort_date(b)),
                SortKey::Id => a.version.id.cmp(&b.version.id),
            };
            let order = if *descending { order.reverse() } else { order };
            if order.is_ne() {
                return order;
            }
        }
        a.reference().cmp(&b.reference())
    });
    let total = found.len();
    let found = if shape.count_only {
        Vec::new()
    } else {
        page.of_list(found)
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut included: Vec<&Chart> = Vec::new();
    for hit in &found {
        entries.push(Entry {
            full_url: format!("{base}/{}", hit.reference()),
            resource: shape.apply(hit.resource()),
            mode: Some(Mode::Match),
        });
        if include_patient && !included.iter().any(|c| c.patient == hit.chart.patient) {
            included.push(hit.chart);
        }
    }
    if revinclude_provenance {
        for hit in &found {
            entries.push(Entry {
                full_url: format!("{base}/Provenance/{}", hit.version.provenance_id()),
                resource: hit.version.provenance(hit.chart.patient),
                mode: Some(Mode::Include),
            });
        }
    }
    for chart in included {
        let me = chart.patient.to_string();
        if let Some(v) = chart.versions_of(ResourceType::Patient, &me).first() {
            entries.push(Entry {
                full_url: format!("{base}/Patient/{me}"),
                resource: v.resource.clone(),
                mode: Some(Mode::Include),
            });
        }
    }
    let links = page_links(&base, &ty_name, &params, page, total)?;
    let mut found = bundle::searchset(total, entries, &links);
    if !shape.total
        && let Some(object) = found.as_object_mut()
    {
        object.remove("total");
    }
    Ok(resource_response(StatusCode::OK, &found))
}

/// What `_sort` sorts by.
#[derive(Debug, Clone, Copy)]
enum SortKey {
    LastUpdated,
    Date,
    Id,
}

/// How a searchset is shaped: its order (`_sort`), whether it says its total (`_total`), whether
/// it holds entries (`_summary=count`) and which of their elements (`_summary=data`, `_elements`).
struct Shape {
    sort: Vec<(SortKey, bool)>,
    total: bool,
    count_only: bool,
    without_text: bool,
    elements: Option<Vec<String>>,
}

impl Shape {
    fn of(params: &Params) -> Result<Self, FhirError> {
        let last = |name: &str| {
            params
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let mut sort = Vec::new();
        for key in last("_sort").unwrap_or("-_lastUpdated").split(',') {
            let (name, descending) = match key.strip_prefix('-') {
                Some(name) => (name, true),
                None => (key, false),
            };
            let key = match name {
                "_lastUpdated" => SortKey::LastUpdated,
                "date" | "birthdate" => SortKey::Date,
                "_id" => SortKey::Id,
                other => {
                    return Err(FhirError::bad_request(format!(
                        "_sort={other:?} is not supported: sort by _lastUpdated, date or _id (- for descending)"
                    )));
                }
            };
            sort.push((key, descending));
        }
        let total = match last("_total") {
            None | Some("accurate" | "estimate") => true,
            Some("none") => false,
            Some(other) => {
                return Err(FhirError::bad_request(format!(
                    "_total={other:?} is not one of none, estimate, accurate"
                )));
            }
        };
        let (count_only, without_text) = match last("_summary") {
            None | Some("false") => (false, false),
            Some("count") => (true, false),
            Some("data") => (false, true),
            Some(other @ ("true" | "text")) => {
                return Err(FhirError::new(
                    StatusCode::BAD_REQUEST,
                    IssueCode::NotSupported,
                    format!("_summary={other} is not supported here: use count, data or false, or _elements"),
                ));
            }
            Some(other) => {
                return Err(FhirError::bad_request(format!(
                    "_summary={other:?} is not one of true, text, data, count, false"
                )));
            }
        };
        let elements = last("_elements").map(|list| {
            list.split(',')
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty())
                .collect()
        });
        Ok(Self {
            sort,
            total,
            count_only,
            without_text,
            elements,
        })
    }

    /// The resource as the caller asked to see it: a subset is tagged SUBSETTED, as R4 requires.
    fn apply(&self, mut resource: Value) -> Value {
        let Some(object) = resource.as_object_mut() else {
            return resource;
        };
        let mut subsetted = false;
        if self.without_text {
            subsetted |= object.remove("text").is_some();
        }
        if let Some(keep) = &self.elements {
            let before = object.len();
            object.retain(|k, _| {
                ["resourceType", "id", "meta"].contains(&k.as_str()) || keep.iter().any(|e| e == k)
            });
            subsetted |= object.len() != before;
        }
        if subsetted {
            let tag = serde_json::json!({
                "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                "code": "SUBSETTED",
                "display": "subsetted",
            });
            match resource["meta"]["tag"].as_array_mut() {
                Some(tags) => tags.push(tag),
                None => resource["meta"]["tag"] = serde_json::json!([tag]),
            }
        }
        resource
    }
}

/// The clinical date a hit sorts by (its start; none sorts first).
fn sort_date(hit: &Hit<'_>) -> i64 {
    clinical_date(hit.version.ty, &hit.version.resource).map_or(i64::MIN, |span| span.start)
}
