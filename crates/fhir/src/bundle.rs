//! Bundles (searchset, history) and the CapabilityStatement.

use serde_json::{Value, json};

use crate::model::ResourceType;

/// How an entry came into a search result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// It matched.
    Match,
    /// `_include` brought it.
    Include,
    /// An OperationOutcome about the search (what is missing from the answer).
    Outcome,
}

/// One entry of a Bundle.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its absolute URL (`{base}/Condition/{id}`).
    pub full_url: String,
    /// The resource.
    pub resource: Value,
    /// For a search: why it is there.
    pub mode: Option<Mode>,
}

/// A `searchset` Bundle: `total` matches, the `entries` of this page, and its links (`self`,
/// `next`, `previous`, `first`), each an absolute URL.
pub fn searchset(total: usize, entries: Vec<Entry>, links: &[(&str, String)]) -> Value {
    bundle("searchset", Some(total), entries, links)
}

/// A `history` Bundle of one resource's versions, newest first. Each entry says, as R4 requires of
/// a history (bdl-3, bdl-4), the interaction that made it (`request`: version 1 a create, the
/// others updates) and its outcome (`response`: status, ETag, when), read from the version's own
/// `resourceType`, `id` and `meta`.
pub fn history(entries: Vec<Entry>, links: &[(&str, String)]) -> Value {
    let total = entries.len();
    let mut out = bundle("history", Some(total), entries, links);
    for entry in out["entry"].as_array_mut().into_iter().flatten() {
        let resource = &entry["resource"];
        let ty = resource["resourceType"].as_str().unwrap_or_default();
        let id = resource["id"].as_str().unwrap_or_default();
        let version = resource["meta"]["versionId"].as_str().unwrap_or("1").to_owned();
        let created = version == "1";
        let request = if created {
            json!({"method": "POST", "url": ty})
        } else {
            json!({"method": "PUT", "url": format!("{ty}/{id}")})
        };
        let mut response = json!({
            "status": if created { "201 Created" } else { "200 OK" },
            "etag": format!("W/\"{version}\""),
        });
        if let Some(when) = resource["meta"]["lastUpdated"].as_str() {
            response["lastModified"] = json!(when);
        }
        entry["request"] = request;
        entry["response"] = response;
    }
    out
}

fn bundle(kind: &str, total: Option<usize>, entries: Vec<Entry>, links: &[(&str, String)]) -> Value {
    let mut out = json!({ "resourceType": "Bundle", "type": kind });
    if let Some(total) = total {
        out["total"] = json!(total);
    }
    if !links.is_empty() {
        out["link"] = links
            .iter()
            .map(|(relation, url)| json!({ "relation": relation, "url": url }))
            .collect();
    }
    if !entries.is_empty() {
        out["entry"] = entries
            .into_iter()
            .map(|e| {
                // Moved, not copied: `json!` would copy each resource through its serializer.
                let mut entry = serde_json::Map::new();
                entry.insert("fullUrl".into(), Value::String(e.full_url));
                entry.insert("resource".into(), e.resource);
                if let Some(mode) = e.mode {
                    let mode = match mode {
                        Mode::Match => "match",
                        Mode::Include => "include",
                        Mode::Outcome => "outcome",
                    };
                    entry.insert("search".into(), json!({ "mode": mode }));
                }
                Value::Object(entry)
            })
            .collect();
    }
    out
}

/// The search parameters each stored type supports, besides `_id`, `_lastUpdated` and `_count`.
fn search_params(ty: ResourceType) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut out = vec![
        ("_id", "token", "The resource's id"),
        (
            "_lastUpdated",
            "date",
            "When the newest version was recorded (ge, gt, le, lt, eq prefixes)",
        ),
    ];
    match ty {
        ResourceType::Patient => {
            out.push((
                "name",
                "string",
                "Words of the patient's name (doctors; through the blind index)",
            ));
            out.push((
                "identifier",
                "token",
                "The patient's wallet: urn:ethereum:address|0x…",
            ));
            out.push(("birthdate", "date", "The birth date"));
        }
        _ => {
            out.push(("patient", "reference", "The patient (Patient/{id} or {id})"));
            out.push((
                "identifier",
                "token",
                "An identifier: system|value, |value or value",
            ));
            out.push(("subject", "reference", "The patient (Patient/{id} or {id})"));
            if ty.code_element().is_some() {
                out.push(("code", "token", "A code ([system]|code) or words of its text"));
            }
            if !ty.date_elements().is_empty() {
                out.push(("date", "date", "The clinical date (ge, gt, le, lt, eq prefixes)"));
            }
        }
    }
    out
}

/// The CapabilityStatement: what `/fhir` at `base` supports.
pub fn capability_statement(base: &str, software_version: &str, date: &str) -> Value {
    let mut resources: Vec<Value> = ResourceType::ALL
        .iter()
        .map(|&ty| {
            let interactions = [
                "read",
                "vread",
                "history-instance",
                "search-type",
                "create",
                "update",
            ];
            let mut resource = json!({
                "type": ty.name(),
                "versioning": "versioned",
                "readHistory": true,
                "updateCreate": ty != ResourceType::Patient && !ty.is_shared(),
                "conditionalCreate": true,
                "conditionalUpdate": true,
                "interaction": interactions.iter().map(|c| json!({"code": c})).collect::<Vec<_>>(),
                "searchParam": search_params(ty)
                    .into_iter()
                    .map(|(name, kind, doc)| json!({"name": name, "type": kind, "documentation": doc}))
                    .collect::<Vec<_>>(),
            });
            resource["searchRevInclude"] = json!(["Provenance:target"]);
            if ty.patient_element().is_some() {
                resource["searchInclude"] =
                    json!([format!("{}:patient", ty.name()), format!("{}:subject", ty.name())]);
            } else {
                resource["operation"] = json!([{
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }, {
                    "name": "export",
                    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
                }]);
            }
            resource
        })
        .collect();
    resources.push(json!({
        "type": "Provenance",
        "documentation": "Each entry's anchor on the chain: transaction, block, signer and commitment. Read-only.",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [
            {"name": "target", "type": "reference", "documentation": "The entry ({Type}/{id})"},
            {"name": "patient", "type": "reference", "documentation": "The patient"},
        ],
    }));
    resources.push(json!({
        "type": "Consent",
        "documentation": "The patient's on-chain grants: which doctor may read and add to the record, until when. Read-only: a grant is changed by the patient's wallet (POST /api/v1/patients/{id}/consents). The patient and admins see them.",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [{"name": "patient", "type": "reference", "documentation": "The patient (default: the caller's own record)"}],
    }));
    resources.push(json!({
        "type": "AuditEvent",
        "documentation": "Every read and write of the patient's record, allowed or denied, from the hash-chained audit log. Read-only; the patient sees their own.",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [
            {"name": "patient", "type": "reference", "documentation": "The patient (default: the caller's own record)"},
            {"name": "date", "type": "date", "documentation": "When it happened"},
        ],
    }));
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "MedLedger",
        "kind": "instance",
        "software": {"name": "MedLedger", "version": software_version},
        "implementation": {"description": "MedLedger: records signed by their authors' wallets and anchored on an Ethereum-compatible chain", "url": base},
        "fhirVersion": crate::FHIR_VERSION,
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": "Writes answer 202 Accepted with a signing request: the author's wallet signs its EIP-712 typed data and posts the signature to /api/v1/requests/{id}/signature; once anchored on the chain, the resource is readable.",
            "security": {
                "cors": false,
                "description": "Bearer token from Sign-In with Ethereum (POST /api/v1/auth/login). A resource the caller may not read answers 404.",
            },
            "resource": resources,
            "interaction": [{"code": "transaction", "documentation": "New resources of one patient (and the patient itself), anchored together by one signature: all or none"}],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_says_how_each_version_was_made() {
        let version = |n: &str| Entry {
            full_url: "http://h/fhir/Condition/c1".into(),
            resource: json!({"resourceType": "Condition", "id": "c1",
                "meta": {"versionId": n, "lastUpdated": "2021-01-01T00:00:00.000Z"}}),
            mode: None,
        };
        let out = history(vec![version("2"), version("1")], &[]);
        assert_eq!(
            out["entry"][0]["request"],
            json!({"method": "PUT", "url": "Condition/c1"})
        );
        assert_eq!(out["entry"][0]["response"]["status"], "200 OK");
        assert_eq!(out["entry"][0]["response"]["etag"], "W/\"2\"");
        assert_eq!(
            out["entry"][1]["request"],
            json!({"method": "POST", "url": "Condition"})
        );
        assert_eq!(out["entry"][1]["response"]["status"], "201 Created");
        assert_eq!(
            out["entry"][1]["response"]["lastModified"],
            "2021-01-01T00:00:00.000Z"
        );
        assert!(out["entry"][1].get("search").is_none());
    }
}
