//! What a server does to a resource it stores or hands on: rewrites its references (wherever in
//! the resource they are), and keeps apart the part of `meta` that is the server's (`versionId`,
//! `lastUpdated`, the proof tag) from the client's (profiles, security labels, other tags).

use std::collections::HashMap;

use serde_json::Value;

/// The code system of the tag MedLedger puts on every resource it serves: whether it matches its
/// commitment on the chain.
pub const PROOF_SYSTEM: &str = "urn:medledger:proof";

/// Calls `f` with every `reference` string in `value` and its path (`path` extended in place:
/// `Observation.encounter.reference`), to read or rewrite it.
pub fn each_reference(value: &mut Value, path: &mut String, f: &mut impl FnMut(&str, &mut String)) {
    match value {
        Value::Object(object) => {
            for (key, item) in object.iter_mut() {
                let len = path.len();
                path.push('.');
                path.push_str(key);
                match item {
                    Value::String(reference) if key == "reference" => f(path, reference),
                    _ => each_reference(item, path, f),
                }
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (n, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{n}]"));
                each_reference(item, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Rewrites every `reference` that `names` holds (a name in a Bundle, to where it is now).
pub fn rename_references(value: &mut Value, names: &HashMap<String, String>) {
    each_reference(value, &mut String::new(), &mut |_, reference| {
        if let Some(to) = names.get(reference.as_str()) {
            *reference = to.clone();
        }
    });
}

/// Takes out of `resource`'s `meta` what a server says of its own copy (its version, when, the
/// proof tag), keeping the client's part; `meta` goes if nothing is left.
pub fn without_server_meta(resource: &mut Value) {
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(meta)) = object.get_mut("meta") {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        if let Some(Value::Array(tags)) = meta.get_mut("tag") {
            tags.retain(|t| t["system"] != PROOF_SYSTEM);
            if tags.is_empty() {
                meta.remove("tag");
            }
        }
        if meta.is_empty() {
            object.remove("meta");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn references_are_found_wherever_they_are_and_renamed() {
        let mut resource = json!({"resourceType": "Condition", "subject": {"reference": "urn:uuid:p"},
            "evidence": [{"detail": [{"reference": "urn:uuid:o"}, {"reference": "Observation/x"}]}]});
        let mut seen = Vec::new();
        each_reference(&mut resource, &mut "Condition".to_owned(), &mut |path, r| {
            seen.push(format!("{path}={r}"));
        });
        assert_eq!(
            seen,
            [
                "Condition.evidence[0].detail[0].reference=urn:uuid:o",
                "Condition.evidence[0].detail[1].reference=Observation/x",
                "Condition.subject.reference=urn:uuid:p",
            ]
        );
        let names = HashMap::from([("urn:uuid:o".to_owned(), "Observation/1".to_owned())]);
        rename_references(&mut resource, &names);
        assert_eq!(resource["evidence"][0]["detail"][0]["reference"], "Observation/1");
        assert_eq!(resource["subject"]["reference"], "urn:uuid:p");
    }

    #[test]
    fn the_servers_meta_goes_and_the_clients_stays() {
        let mut resource = json!({"resourceType": "Encounter", "meta": {"versionId": "2", "lastUpdated": "x",
            "profile": ["http://p"], "tag": [{"system": PROOF_SYSTEM, "code": "verified"}, {"system": "s", "code": "c"}]}});
        without_server_meta(&mut resource);
        assert_eq!(
            resource["meta"],
            json!({"profile": ["http://p"], "tag": [{"system": "s", "code": "c"}]})
        );
        let mut bare = json!({"resourceType": "Encounter", "meta": {"versionId": "1", "tag": [{"system": PROOF_SYSTEM}]}});
        without_server_meta(&mut bare);
        assert!(bare.get("meta").is_none());
    }
}
