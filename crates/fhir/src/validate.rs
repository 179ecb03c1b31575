//! Checks a resource against [`crate::model`], reporting every problem (up to
//! [`MOST_ISSUES`]) with its path.

use std::fmt::Write;

use serde_json::{Map, Value};

use crate::model::{Def, El, ResourceType, Ty};
use crate::outcome::{Issue, IssueCode, Outcome};
use crate::time;

/// At most this many issues are reported for one resource.
pub const MOST_ISSUES: usize = 50;

/// Checks `value` as one of the resources MedLedger stores, returning its type.
pub fn resource(value: &Value) -> crate::Result<ResourceType> {
    let Some(object) = value.as_object() else {
        return Err(Outcome::one(IssueCode::Structure, "a resource is a JSON object"));
    };
    let Some(name) = object.get("resourceType").and_then(Value::as_str) else {
        return Err(Outcome::one(
            IssueCode::Required,
            "the resource has no resourceType: say which resource it is",
        ));
    };
    let Some(ty) = ResourceType::from_name(name) else {
        let names: Vec<&str> = ResourceType::ALL.iter().map(|t| t.name()).collect();
        return Err(Outcome::one(
            IssueCode::NotSupported,
            format!(
                "resourceType {name:?} is not one this server stores ({})",
                names.join(", ")
            ),
        ));
    };
    let mut issues = Vec::new();
    let mut path = name.to_owned();
    walk(ty.def(), object, &mut path, true, &mut issues);
    if issues.is_empty() {
        Ok(ty)
    } else {
        issues.truncate(MOST_ISSUES);
        Err(Outcome { issues })
    }
}

/// Elements every resource may have (besides `resourceType`).
const RESOURCE_BASE: [El; 6] = [
    El {
        name: "id",
        ty: Ty::Id,
        required: false,
        many: false,
        choice: None,
    },
    El {
        name: "meta",
        ty: Ty::Of(crate::model::Complex::Meta),
        required: false,
        many: false,
        choice: None,
    },
    El {
        name: "implicitRules",
        ty: Ty::Uri,
        required: false,
        many: false,
        choice: None,
    },
    El {
        name: "language",
        ty: Ty::Code,
        required: false,
        many: false,
        choice: None,
    },
    El {
        name: "text",
        ty: Ty::Of(crate::model::Complex::Narrative),
        required: false,
        many: false,
        choice: None,
    },
    El {
        name: "extension",
        ty: Ty::Of(crate::model::Complex::Extension),
        required: false,
        many: true,
        choice: None,
    },
];

/// Elements every data type and backbone element may have.
const ELEMENT_BASE: [El; 2] = [
    El {
        name: "id",
        ty: Ty::String,
        required: false,
        many: false,
        choice: None,
    },
    El {
        name: "extension",
        ty: Ty::Of(crate::model::Complex::Extension),
        required: false,
        many: true,
        choice: None,
    },
];

/// Checks an object's elements; `path` is where it is, extended in place for each element so that
/// a clean resource costs no allocation per element.
fn walk(
    def: &Def,
    object: &Map<String, Value>,
    path: &mut String,
    is_resource: bool,
    issues: &mut Vec<Issue>,
) {
    if issues.len() >= MOST_ISSUES {
        return;
    }
    let base: &[El] = if is_resource {
        &RESOURCE_BASE
    } else {
        &ELEMENT_BASE
    };
    let mut chosen: Vec<(&str, &str)> = Vec::new();
    for (key, value) in object {
        if is_resource && key == "resourceType" {
            continue;
        }
        let len = path.len();
        path.push('.');
        path.push_str(key);
        let Some(el) = def.elements.iter().chain(base).find(|e| e.name == key) else {
            let why = match key.as_str() {
                "contained" => {
                    "contained resources are not supported: send each resource on its own".to_owned()
                }
                "modifierExtension" => {
                    "modifier extensions are not supported: this server cannot know what they change"
                        .to_owned()
                }
                k if k.starts_with('_') => "extensions on primitive values are not supported".to_owned(),
                _ => format!(
                    "{key:?} is not an element of {} that this server supports",
                    def.name
                ),
            };
            let code = if key == "contained" || key == "modifierExtension" || key.starts_with('_') {
                IssueCode::NotSupported
            } else {
                IssueCode::Structure
            };
            issues.push(Issue::at(code, path, why));
            path.truncate(len);
            continue;
        };
        if let Some(group) = el.choice {
            if let Some((_, other)) = chosen.iter().find(|(g, _)| *g == group) {
                issues.push(Issue::at(
                    IssueCode::Structure,
                    path,
                    format!("{group}[x] is given twice ({other} and {key}): give one"),
                ));
            }
            chosen.push((group, key));
        }
        check(el, value, path, issues);
        path.truncate(len);
    }
    for el in def.elements {
        if el.required && !object.contains_key(el.name) {
            issues.push(Issue::at(
                IssueCode::Required,
                &format!("{path}.{}", el.name),
                format!("{} requires {}", def.name, el.name),
            ));
        }
    }
    for group in def.required_choices {
        if !chosen.iter().any(|(g, _)| g == group) {
            issues.push(Issue::at(
                IssueCode::Required,
                &format!("{path}.{group}[x]"),
                format!("{} requires one {group}[x]", def.name),
            ));
        }
    }
}

fn check(el: &El, value: &Value, path: &mut String, issues: &mut Vec<Issue>) {
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
                    one_value(el.ty, item, path, issues);
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
        one_value(el.ty, value, path, issues);
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

/// Whether `text` is a FHIR id (`[A-Za-z0-9-.]{1,64}`).
pub fn id(text: &str) -> bool {
    is_id(text)
}

fn one_value(ty: Ty, value: &Value, path: &mut String, issues: &mut Vec<Issue>) {
    if let (Ty::Of(complex), Some(object)) = (ty, value.as_object())
        && !object.is_empty()
    {
        walk(complex.def(), object, path, false, issues);
        return;
    }
    let path: &str = path;
    if value.is_null() {
        issues.push(Issue::at(
            IssueCode::Structure,
            path,
            "null is not a value: leave the element out",
        ));
        return;
    }
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
    let problem: Option<Issue> = match ty {
        Ty::Of(complex) => match value.as_object() {
            Some(object) if object.is_empty() => Some(Issue::at(
                IssueCode::Structure,
                path,
                "an empty object: leave the element out instead",
            )),
            Some(_) => None,
            None => Some(wrong(&format!("an object (a {})", complex.def().name))),
        },
        Ty::String | Ty::Markdown => match text {
            None => Some(wrong("a string")),
            Some(t) if t.trim().is_empty() => Some(Issue::at(
                IssueCode::Value,
                path,
                "an empty string: leave the element out instead",
            )),
            Some(_) => None,
        },
        Ty::Code => {
            (!text.is_some_and(is_code)).then(|| wrong("a code (no leading, trailing or double spaces)"))
        }
        Ty::OneOf(codes) => match text {
            Some(t) if codes.contains(&t) => None,
            _ => Some(wrong(&format!("one of {}", codes.join(", ")))),
        },
        Ty::Id => (!text.is_some_and(is_id)).then(|| wrong("an id: 1 to 64 letters, digits, '-' or '.'")),
        Ty::Uri => (!text.is_some_and(|t| !t.is_empty() && !t.chars().any(char::is_whitespace)))
            .then(|| wrong("a URI (no spaces)")),
        Ty::Boolean => (!value.is_boolean()).then(|| wrong("true or false")),
        Ty::Integer | Ty::UnsignedInt | Ty::PositiveInt => {
            let least = match ty {
                Ty::UnsignedInt => 0,
                Ty::PositiveInt => 1,
                _ => i64::from(i32::MIN),
            };
            match value.as_i64() {
                Some(n) if (least..=i64::from(i32::MAX)).contains(&n) => None,
                _ if least == 1 => Some(wrong("a whole number from 1 to 2147483647")),
                _ if least == 0 => Some(wrong("a whole number from 0 to 2147483647")),
                _ => Some(wrong("a whole number of 32 bits")),
            }
        }
        Ty::Decimal => (!value.is_number()).then(|| wrong("a number")),
        Ty::Date => date_like(text, time::date, path),
        Ty::DateTime => date_like(text, time::date_time, path),
        Ty::Instant => date_like(text, time::instant, path),
        Ty::Time => match text {
            Some(t) => time::time(t)
                .err()
                .map(|why| Issue::at(IssueCode::Value, path, why)),
            None => Some(wrong("a time string")),
        },
        Ty::Xhtml => (!text
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
        assert!(found.contains("not one this server stores"), "{found}");
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
            "contained": [{"resourceType": "Patient"}],
        }))
        .join("\n");
        for expected in [
            "Patient.birthDate must be a date string",
            "Patient.active must be true or false",
            "Patient.name must be an array",
            "Patient.multipleBirthInteger must be a whole number",
            "Patient.telecom[0].system must be one of",
            "Patient.contained contained resources are not supported",
        ] {
            assert!(found.contains(expected), "{expected} missing from\n{found}");
        }
    }
}
