//! Checks a resource against R4 ([`crate::model::r4`]), reporting every problem (up to
//! [`MOST_ISSUES`]) with its path: unknown elements, wrong types, cardinality, choices given twice,
//! codes outside a required code set, impossible dates, bad ids, empty or control-character
//! strings, missing required elements. Primitive extensions (`_birthDate`) and `contained`
//! resources are checked as R4 defines them. Modifier extensions are refused: MedLedger cannot know
//! what a modifier changes, and a reader that ignores one misreads the record. R4's invariants
//! written in FHIRPath (`con-3`, `obs-6`, …) are not evaluated.

use std::fmt::Write;

use serde_json::{Map, Value};

use crate::model::ResourceType;
use crate::model::r4::{Def, El, Model, Prim, Ty};
use crate::outcome::{Issue, IssueCode, Outcome};
use crate::time;

/// At most this many issues are reported for one resource.
pub const MOST_ISSUES: usize = 50;

/// Checks `value` as one of the resources MedLedger stores, returning its type.
pub fn resource(value: &Value) -> crate::Result<ResourceType> {
    let name = any(value)?;
    ResourceType::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = ResourceType::ALL.iter().map(|t| t.name()).collect();
        Outcome::one(
            IssueCode::NotSupported,
            format!(
                "{name} is an R4 resource this server does not store as a record yet ({})",
                names.join(", ")
            ),
        )
    })
}

/// Checks `value` as any R4 resource, returning its type's name.
pub fn any(value: &Value) -> crate::Result<&str> {
    let Some(object) = value.as_object() else {
        return Err(Outcome::one(IssueCode::Structure, "a resource is a JSON object"));
    };
    let Some(name) = object.get("resourceType").and_then(Value::as_str) else {
        return Err(Outcome::one(
            IssueCode::Required,
            "the resource has no resourceType: say which resource it is",
        ));
    };
    let Some(def) = Model::get().resource(name) else {
        return Err(Outcome::one(
            IssueCode::NotSupported,
            format!("resourceType {name:?} is not a FHIR R4 resource"),
        ));
    };
    let mut issues = Vec::new();
    let mut path = name.to_owned();
    walk(def, object, &mut path, Nesting::Top, &mut issues);
    if issues.is_empty() {
        Ok(name)
    } else {
        issues.truncate(MOST_ISSUES);
        Err(Outcome { issues })
    }
}

/// Where an object is: a resource at the top, a contained resource, or an element.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nesting {
    Top,
    Contained,
    Element,
}

/// Checks an object's elements; `path` is where it is, extended in place for each element so that
/// a clean resource costs no allocation per element.
fn walk(
    def: &Def,
    object: &Map<String, Value>,
    path: &mut String,
    nesting: Nesting,
    issues: &mut Vec<Issue>,
) {
    if issues.len() >= MOST_ISSUES {
        return;
    }
    let mut chosen: Vec<(&str, &str)> = Vec::new();
    // Which elements are given (R4's largest type has 54), for the required ones.
    let mut given = [false; 64];
    // Extensions on primitives are rare: look for `_name` only in an object that has some.
    let extensions = object.keys().any(|k| k.starts_with('_'));
    for (key, value) in object {
        if nesting != Nesting::Element && key == "resourceType" {
            continue;
        }
        let len = path.len();
        path.push('.');
        path.push_str(key);
        if key == "modifierExtension" {
            issues.push(Issue::at(
                IssueCode::NotSupported,
                path,
                "modifier extensions are not supported: this server cannot know what they change, and a reader that ignored one would misread the record",
            ));
        } else if key == "contained" && nesting == Nesting::Contained {
            issues.push(Issue::at(
                IssueCode::Structure,
                path,
                "a contained resource may not contain resources (dom-2)",
            ));
        } else if let Some(base) = key.strip_prefix('_') {
            match def.key(base) {
                Some((n, el, Ty::Prim(_))) => {
                    if let Some(seen) = given.get_mut(n) {
                        *seen = true;
                    }
                    primitive_extension(el, value, object.get(base), path, issues);
                }
                Some(_) => issues.push(Issue::at(
                    IssueCode::Structure,
                    path,
                    format!("{base:?} is not a primitive element, so it has no {key:?}"),
                )),
                None => issues.push(unknown(def, key, path)),
            }
        } else if let Some((n, el, ty)) = def.key(key) {
            if let Some(seen) = given.get_mut(n) {
                *seen = true;
            }
            if el.choice {
                if let Some((_, other)) = chosen.iter().find(|(g, _)| *g == el.name) {
                    issues.push(Issue::at(
                        IssueCode::Structure,
                        path,
                        format!("{}[x] is given twice ({other} and {key}): give one", el.name),
                    ));
                }
                chosen.push((&el.name, key));
            }
            let extended = if extensions {
                object.get(&format!("_{key}"))
            } else {
                None
            };
            check(el, ty, value, extended, path, issues);
        } else {
            issues.push(unknown(def, key, path));
        }
        path.truncate(len);
    }
    for (n, el) in def.elements.iter().enumerate() {
        if el.required && !given.get(n).copied().unwrap_or(true) {
            let name = if el.choice {
                format!("{}[x]", el.name)
            } else {
                el.name.clone()
            };
            issues.push(Issue::at(
                IssueCode::Required,
                &format!("{path}.{name}"),
                format!(
                    "{} requires {}{name}",
                    def.name,
                    if el.choice { "one " } else { "" }
                ),
            ));
        }
    }
}

fn unknown(def: &Def, key: &str, path: &str) -> Issue {
    Issue::at(
        IssueCode::Structure,
        path,
        format!("{key:?} is not an element of {} in FHIR R4", def.name),
    )
}

/// `_name`: the id and extensions of a primitive value, or of each value of a repeating one
/// (an array as long as the values', `null` where a value has none).
fn primitive_extension(
    el: &El,
    value: &Value,
    values: Option<&Value>,
    path: &mut String,
    issues: &mut Vec<Issue>,
) {
    let element = |v: &Value, path: &mut String, issues: &mut Vec<Issue>| match v.as_object() {
        Some(object) if !object.is_empty() => {
            let def = Model::get().element();
            walk(def, object, path, Nesting::Element, issues);
        }
        _ => issues.push(Issue::at(
            IssueCode::Structure,
            path,
            "must be an object with an id or extensions",
        )),
    };
    match (el.many, value) {
        (true, Value::Array(items)) => {
            if let Some(Value::Array(given)) = values
                && given.len() != items.len()
            {
                issues.push(Issue::at(
                    IssueCode::Structure,
                    path,
                    "must be as long as the array of values it extends (null where a value has no extension)",
                ));
            }
            for (n, item) in items.iter().enumerate() {
                if !item.is_null() {
                    let len = path.len();
                    let _ = write!(path, "[{n}]");
                    element(item, path, issues);
                    path.truncate(len);
                }
            }
        }
        (true, _) => issues.push(Issue::at(IssueCode::Structure, path, "must be an array")),
        (false, v) => element(v, path, issues),
    }
}

fn check(
    el: &El,
    ty: Ty,
    value: &Value,
    extended: Option<&Value>,
    path: &mut String,
    issues: &mut Vec<Issue>,
) {
    if el.many {
        match value {
            Value::Array(items) if items.is_empty() => issues.push(Issue::at(
                IssueCode::Structure,
                path,
                "an empty array: leave the element out instead",
            )),
            Value::Array(items) => {
                for (n, item) in items.iter().enumerate() {
                    let len = path.len();
                    let _ = write!(path, "[{n}]");
                    // A repeating primitive's value may be null where its `_name` entry holds an
                    // extension instead.
                    let has_extension = extended.and_then(|e| e.get(n)).is_some_and(|e| !e.is_null());
                    if !(item.is_null() && has_extension) {
                        one_value(el, ty, item, path, issues);
                    }
                    path.truncate(len);
                }
            }
            _ => issues.push(Issue::at(IssueCode::Structure, path, "must be an array")),
        }
    } else if value.is_array() {
        issues.push(Issue::at(
            IssueCode::Structure,
            path,
            "is a single value, not an array",
        ));
    } else {
        one_value(el, ty, value, path, issues);
    }
}

fn is_code(text: &str) -> bool {
    !text.is_empty()
        && text
            .split(' ')
            .all(|w| !w.is_empty() && !w.chars().any(char::is_whitespace))
}

fn is_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn is_uri(text: &str) -> bool {
    !text.is_empty() && !text.chars().any(char::is_whitespace)
}

fn is_base64(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b' ' | b'\n' | b'\r' | b'\t'))
}

/// Whether `text` is a FHIR id (`[A-Za-z0-9-.]{1,64}`).
pub fn id(text: &str) -> bool {
    is_id(text)
}

fn one_value(el: &El, ty: Ty, value: &Value, path: &mut String, issues: &mut Vec<Issue>) {
    if value.is_null() {
        issues.push(Issue::at(
            IssueCode::Structure,
            &*path,
            "null is not a value: leave the element out",
        ));
        return;
    }
    let prim = match ty {
        Ty::Complex(index) => {
            let def = Model::get().def(index);
            match value.as_object() {
                Some(object) if object.is_empty() => issues.push(Issue::at(
                    IssueCode::Structure,
                    &*path,
                    "an empty object: leave the element out instead",
                )),
                Some(object) => walk(def, object, path, Nesting::Element, issues),
                None => issues.push(Issue::at(
                    IssueCode::Value,
                    &*path,
                    format!("must be an object (a {})", def.name),
                )),
            }
            return;
        }
        Ty::Resource => {
            match value.as_object() {
                Some(object) => match object.get("resourceType").and_then(Value::as_str) {
                    Some(name) => match Model::get().resource(name) {
                        Some(def) => walk(def, object, path, Nesting::Contained, issues),
                        None => issues.push(Issue::at(
                            IssueCode::Value,
                            &*path,
                            format!("resourceType {name:?} is not a FHIR R4 resource"),
                        )),
                    },
                    None => issues.push(Issue::at(
                        IssueCode::Required,
                        &*path,
                        "a resource needs its resourceType",
                    )),
                },
                None => issues.push(Issue::at(
                    IssueCode::Value,
                    &*path,
                    "must be a resource (an object)",
                )),
            }
            return;
        }
        Ty::Prim(prim) => prim,
    };
    let path: &str = path;
    let wrong = |what: &str| Issue::at(IssueCode::Value, path, format!("must be {what}"));
    let text = value.as_str();
    // R4: strings SHALL NOT contain characters below U+0020 but tab, carriage return and line feed.
    if let Some(c) = text.and_then(|t| t.chars().find(|c| *c < ' ' && !matches!(c, '\t' | '\r' | '\n'))) {
        issues.push(Issue::at(
            IssueCode::Value,
            path,
            format!(
                "contains the control character U+{:04X}, which FHIR strings may not hold: remove it",
                u32::from(c)
            ),
        ));
        return;
    }
    let problem: Option<Issue> = match prim {
        Prim::String | Prim::Markdown => match text {
            None => Some(wrong("a string")),
            Some(t) if t.trim().is_empty() => Some(Issue::at(
                IssueCode::Value,
                path,
                "an empty string: leave the element out instead",
            )),
            Some(_) => None,
        },
        Prim::Code => match (&el.codes, text) {
            (Some(codes), Some(t)) if codes.iter().any(|c| c == t) => None,
            (Some(codes), _) if codes.len() <= 12 => Some(wrong(&format!("one of {}", codes.join(", ")))),
            (Some(_), _) => Some(wrong("a code of the value set R4 requires here")),
            (None, t) => {
                (!t.is_some_and(is_code)).then(|| wrong("a code (no leading, trailing or double spaces)"))
            }
        },
        Prim::Id => (!text.is_some_and(is_id)).then(|| wrong("an id: 1 to 64 letters, digits, '-' or '.'")),
        Prim::Uri | Prim::Url | Prim::Canonical => {
            (!text.is_some_and(is_uri)).then(|| wrong("a URI (no spaces)"))
        }
        Prim::Oid => (!text.is_some_and(|t| t.starts_with("urn:oid:") && is_uri(t)))
            .then(|| wrong("an OID (urn:oid:…)")),
        Prim::Uuid => (!text.is_some_and(|t| t.starts_with("urn:uuid:") && is_uri(t)))
            .then(|| wrong("a UUID (urn:uuid:…)")),
        Prim::Base64Binary => (!text.is_some_and(is_base64)).then(|| wrong("base64")),
        Prim::Boolean => (!value.is_boolean()).then(|| wrong("true or false")),
        Prim::Integer | Prim::UnsignedInt | Prim::PositiveInt => {
            let least = match prim {
                Prim::UnsignedInt => 0,
                Prim::PositiveInt => 1,
                _ => i64::from(i32::MIN),
            };
            match value.as_i64() {
                Some(n) if (least..=i64::from(i32::MAX)).contains(&n) => None,
                _ if least == 1 => Some(wrong("a whole number from 1 to 2147483647")),
                _ if least == 0 => Some(wrong("a whole number from 0 to 2147483647")),
                _ => Some(wrong("a whole number of 32 bits")),
            }
        }
        Prim::Decimal => (!value.is_number()).then(|| wrong("a number")),
        Prim::Date => date_like(text, time::date, path),
        Prim::DateTime => date_like(text, time::date_time, path),
        Prim::Instant => date_like(text, time::instant, path),
        Prim::Time => match text {
            Some(t) => time::time(t)
                .err()
                .map(|why| Issue::at(IssueCode::Value, path, why)),
            None => Some(wrong("a time string")),
        },
        Prim::Xhtml => (!text
            .is_some_and(|t| t.starts_with("<div") && t.contains("xmlns=\"http://www.w3.org/1999/xhtml\"")))
        .then(|| wrong("XHTML: a <div xmlns=\"http://www.w3.org/1999/xhtml\"> element")),
    };
    issues.extend(problem);
}

fn date_like(text: Option<&str>, parse: fn(&str) -> Result<time::Span, String>, path: &str) -> Option<Issue> {
    match text {
        Some(t) => parse(t).err().map(|why| Issue::at(IssueCode::Value, path, why)),
        None => Some(Issue::at(IssueCode::Value, path, "must be a date string")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn control_characters_are_refused_and_named() {
        for (c, name) in [('\u{0}', "U+0000"), ('\u{1}', "U+0001"), ('\u{1b}', "U+001B")] {
            let condition = json!({
                "resourceType": "Condition",
                "subject": {"reference": "Patient/x"},
                "code": {"text": format!("Asthma{c}")},
            });
            let err = resource(&condition).unwrap_err().to_string();
            assert!(err.contains("Condition.code.text") && err.contains(name), "{err}");
        }
        let ok = json!({
            "resourceType": "Condition",
            "subject": {"reference": "Patient/x"},
            "code": {"text": "Asthma\twith\r\nlines"},
        });
        assert!(
            resource(&ok).is_ok(),
            "tab, carriage return and line feed are allowed"
        );
    }

    fn issues(value: Value) -> Vec<String> {
        match resource(&value) {
            Ok(_) => vec![],
            Err(o) => o
                .issues
                .iter()
                .map(|i| format!("{} {}", i.expression.clone().unwrap_or_default(), i.diagnostics))
                .collect(),
        }
    }

    #[test]
    fn a_well_formed_condition_passes() {
        let condition = json!({
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes"}], "text": "Type 2 diabetes"},
            "subject": {"reference": "Patient/0123"},
            "onsetDateTime": "2019-04-01T10:00:00+02:00",
            "note": [{"text": "diet first"}],
        });
        assert_eq!(issues(condition), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let bad = json!({
            "resourceType": "Observation",
            "status": "done",
            "code": {"text": ""},
            "subject": {"reference": "Patient/1"},
            "effectiveDateTime": "1981-02-30",
            "valueString": "x",
            "valueBoolean": true,
            "colour": "red",
            "note": [],
            "id": "../../etc/passwd",
        });
        let found = issues(bad).join("\n");
        for expected in [
            "Observation.status must be one of",
            "Observation.code.text an empty string",
            "Observation.effectiveDateTime \"1981-02-30\" is not a dateTime",
            "value[x] is given twice",
            "Observation.colour \"colour\" is not an element",
            "Observation.note an empty array",
            "Observation.id must be an id",
        ] {
            assert!(found.contains(expected), "{expected} missing from\n{found}");
        }
    }

    #[test]
    fn required_elements_and_choices_are_required() {
        let found = issues(json!({"resourceType": "MedicationStatement", "status": "active"})).join("\n");
        assert!(
            found.contains("MedicationStatement.subject MedicationStatement requires subject"),
            "{found}"
        );
        assert!(found.contains("requires one medication[x]"), "{found}");
        let found = issues(json!({"resourceType": "Encounter"})).join("\n");
        assert!(
            found.contains("Encounter.status Encounter requires status"),
            "{found}"
        );
        let encounter = json!({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}});
        assert_eq!(resource(&encounter).map(ResourceType::name), Ok("Encounter"));
        let organization = json!({"resourceType": "Questionnaire", "status": "draft"});
        assert!(any(&organization).is_ok());
        let err = resource(&organization).unwrap_err().to_string();
        assert!(err.contains("does not store as a record yet"), "{err}");
        let err = any(&json!({"resourceType": "Patientt"})).unwrap_err().to_string();
        assert!(err.contains("\"Patientt\" is not a FHIR R4 resource"), "{err}");
    }

    #[test]
    fn wrong_types_are_named() {
        let found = issues(json!({
            "resourceType": "Patient",
            "birthDate": 1981,
            "active": "yes",
            "name": {"text": "Ann"},
            "multipleBirthInteger": 1.5,
            "telecom": [{"system": "pigeon", "value": "x"}],
            "contained": [{"resourceType": "Patient", "contained": [{"resourceType": "Basic", "code": {"text": "x"}}]}],
        }))
        .join("\n");
        for expected in [
            "Patient.birthDate must be a date string",
            "Patient.active must be true or false",
            "Patient.name must be an array",
            "Patient.multipleBirthInteger must be a whole number",
            "Patient.telecom[0].system must be one of",
            "Patient.contained[0].contained a contained resource may not contain resources",
        ] {
            assert!(found.contains(expected), "{expected} missing from\n{found}");
        }
    }

    /// A Patient as a synthetic-patient generator writes it: identifiers with assigners, next of
    /// kin, extensions on primitives, a contained resource, every one of them R4.
    #[test]
    fn what_r4_allows_is_accepted() {
        let patient = json!({
            "resourceType": "Patient",
            "id": "f1",
            "extension": [{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex", "valueCode": "F"}],
            "identifier": [{
                "use": "usual",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                "system": "urn:oid:1.2.36.146.595.217.0.1",
                "value": "12345",
                "assigner": {"display": "Acme Healthcare"},
            }],
            "name": [{"family": "Chalmers", "given": ["Peter", "James"], "_given": [null, {"extension": [{"url": "http://example.org/nickname", "valueString": "Jim"}]}]}],
            "gender": "male",
            "birthDate": "1974-12-25",
            "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
            "deceasedBoolean": false,
            "contact": [{
                "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}],
                "name": {"family": "du Marché", "given": ["Bénédicte"]},
                "telecom": [{"system": "phone", "value": "+33 (237) 998327"}],
                "gender": "female",
                "organization": {"reference": "#org"},
            }],
            "contained": [{"resourceType": "Organization", "id": "org", "name": "Acme"}],
            "managingOrganization": {"reference": "Organization/1"},
        });
        assert_eq!(issues(patient), Vec::<String>::new());
    }

    #[test]
    fn modifier_extensions_unknown_elements_and_codes_are_named_wherever_they_are() {
        let found = issues(json!({
            "resourceType": "Patient",
            "modifierExtension": [{"url": "http://example.org/x", "valueBoolean": true}],
            "contact": [{"colour": "red", "gender": "mostly", "modifierExtension": [{"url": "http://example.org/y", "valueBoolean": true}]}],
            "name": [{"given": ["Ann", "Bo"], "_given": [null]}],
            "_gender": {},
            "_name": {"extension": []},
        }))
        .join("\n");
        for expected in [
            "Patient.modifierExtension modifier extensions are not supported",
            "Patient.contact[0].modifierExtension modifier extensions are not supported",
            "Patient.contact[0].colour \"colour\" is not an element of Patient.contact in FHIR R4",
            "Patient.contact[0].gender must be one of female, male, other, unknown",
            "Patient.name[0]._given must be as long as the array of values it extends",
            "Patient._gender must be an object with an id or extensions",
            "Patient._name \"name\" is not a primitive element",
        ] {
            assert!(found.contains(expected), "{expected} missing from\n{found}");
        }
    }
}
