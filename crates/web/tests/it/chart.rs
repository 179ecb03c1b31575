//! The whole chart through `/fhir`: a transaction as a hospital's system sends it, with a Patient
//! carrying what R4 allows (identifiers with assigners, next of kin, extensions on primitives, a
//! contained resource) and a patient's visits, vaccinations, procedures, prescriptions, reports and
//! cover, each one a record anchored on the chain; read back value for value (decimals with their
//! digits), searched, and in `$everything`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::fhir::{Clinic, assert_valid, fhir, sign};

const NEW: &str = "urn:uuid:9b2f6d1c-7f43-4b1e-a3f0-2c5d8e61a0b7";
const VISIT: &str = "urn:uuid:0d7c3e55-1b6a-4f0e-9a61-52b7e2c4d9a3";

/// The resources of the chart, each naming its patient as `subject` (or `patient`,
/// `beneficiary`), as a generator writes them.
fn chart() -> Vec<Value> {
    let patient = json!({"reference": NEW});
    vec![
        json!({
            "resourceType": "Encounter", "status": "finished",
            "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter"]},
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "185349003", "display": "Encounter for check up"}], "text": "Encounter for check up"}],
            "subject": patient,
            "period": {"start": "2021-03-04T09:00:00+01:00", "end": "2021-03-04T09:30:00+01:00"},
        }),
        json!({
            "resourceType": "Immunization", "status": "completed",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140", "display": "Influenza, seasonal"}], "text": "Influenza, seasonal"},
            "patient": patient,
            "occurrenceDateTime": "2021-03-04T09:10:00+01:00",
            "primarySource": true,
        }),
        json!({
            "resourceType": "Procedure", "status": "completed",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "430193006", "display": "Medication reconciliation"}], "text": "Medication reconciliation"},
            "subject": patient,
            "performedPeriod": {"start": "2021-03-04T09:15:00+01:00", "end": "2021-03-04T09:20:00+01:00"},
        }),
        json!({
            "resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril 10 MG Oral Tablet"}], "text": "lisinopril 10 MG Oral Tablet"},
            "subject": patient,
            "authoredOn": "2021-03-04T09:25:00+01:00",
            "dosageInstruction": [{"sequence": 1, "timing": {"repeat": {"frequency": 1, "period": 1.0, "periodUnit": "d"}}, "doseAndRate": [{"doseQuantity": {"value": dec("0.50"), "unit": "tablet"}}]}],
        }),
        json!({
            "resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "2093-3"}], "text": "Cholesterol"},
            "subject": patient,
            "encounter": {"reference": VISIT},
            "effectiveDateTime": "2021-03-04T09:05:00+01:00",
            "valueQuantity": {"value": dec("1.50"), "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
            "referenceRange": [{"low": {"value": dec("0.010"), "unit": "mmol/L"}}],
        }),
        json!({
            "resourceType": "DiagnosticReport", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "57698-3"}], "text": "Lipid panel"},
            "subject": patient,
            "effectiveDateTime": "2021-03-04T09:05:00+01:00",
            "issued": "2021-03-04T11:00:00.000+01:00",
        }),
        json!({
            "resourceType": "Coverage", "status": "active",
            "beneficiary": patient,
            "payor": [{"display": "NO_INSURANCE"}],
        }),
        json!({
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2093-3"}], "text": "Cholesterol"},
            "subject": patient,
            "effectiveDateTime": "2020-02-01T08:00:00Z",
            "valueQuantity": {"value": dec("5.20"), "unit": "mmol/L"},
        }),
    ]
}

/// A decimal as a client writes it, digits and all.
fn dec(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// What the server adds or puts in its own form: the id, `meta`'s version, time and proof tag,
/// and the patient reference.
fn as_sent(mut resource: Value) -> Value {
    let object = resource.as_object_mut().unwrap();
    object.remove("id");
    if let Some(meta) = object.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        meta.remove("tag");
        if meta.is_empty() {
            object.remove("meta");
        }
    }
    for element in ["subject", "patient", "beneficiary"] {
        object.remove(element);
    }
    resource
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_chart_comes_in_and_reads_back_unchanged() {
    let Clinic {
        site,
        stop,
        loops,
        doctor,
        patient,
        token,
        stranger: clinic_stranger,
        ..
    } = Clinic::open().await;
    let demographics = json!({
        "resourceType": "Patient",
        "identifier": [
            {"system": "urn:ethereum:address", "value": patient.address().to_string()},
            {
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                "system": "https://hospital.example/mrn", "value": "MRN-0042",
                "assigner": {"display": "Example Hospital"},
            },
        ],
        "name": [{"use": "official", "family": "Okafor", "given": ["Ada", "Nneka"]}],
        "gender": "female",
        "birthDate": "1984-07-09",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1984-07-09T04:12:00+01:00"}]},
        "contact": [{
            "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}],
            "name": {"family": "Okafor", "given": ["Chidi"]},
            "telecom": [{"system": "phone", "value": "+44 20 7946 0000"}],
            "organization": {"reference": "#employer"},
        }],
        "contained": [{"resourceType": "Organization", "id": "employer", "name": "Example Works"}],
    });
    let mut entries = vec![json!({
        "fullUrl": NEW,
        "resource": demographics,
        "request": {"method": "POST", "url": "Patient"},
    })];
    for resource in chart() {
        let ty = resource["resourceType"].as_str().unwrap().to_owned();
        let mut entry = json!({"resource": resource, "request": {"method": "POST", "url": ty}});
        if ty == "Encounter" {
            entry["fullUrl"] = json!(VISIT);
        }
        entries.push(entry);
    }
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
    let (status, _, accepted) = fhir(&site, "POST", "/fhir", Some(bundle), Some(&token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    sign(&site, &doctor, &token, &accepted).await;
    let locations: Vec<String> = accepted["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "location")
        .map(|p| {
            p["valueUri"]
                .as_str()
                .unwrap()
                .trim_start_matches("http://127.0.0.1:8080")
                .to_owned()
        })
        .collect();
    assert_eq!(locations.len(), 9, "{accepted}");
    let patient_id = locations[0].split('/').nth(3).unwrap().to_owned();

    // Each resource reads back as it was sent, value for value, decimals with their digits; the
    // reference to the visit, a urn:uuid: in the Bundle, names the visit's resource here.
    let visit = locations[1]
        .trim_end_matches("/_history/1")
        .trim_start_matches("/fhir/")
        .to_owned();
    let mut sent: Vec<Value> = std::iter::once(demographics_sent(&patient))
        .chain(chart())
        .collect();
    sent[5]["encounter"]["reference"] = json!(visit);
    let (status, _, read) = fhir(&site, "GET", &format!("/fhir/{visit}"), None, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "the reference resolves here: {read}");
    for (location, sent) in locations.iter().zip(sent) {
        let (status, _, text) = site.raw("GET", location, None, Vec::new(), Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{location}: {text}");
        assert_valid(&text);
        assert_eq!(text["meta"]["tag"][0]["code"], "verified", "{text}");
        if text["resourceType"] != "Patient" {
            let element = medledger_fhir::ResourceType::from_name(text["resourceType"].as_str().unwrap())
                .and_then(|t| t.patient_element())
                .unwrap();
            assert_eq!(text[element]["reference"], format!("Patient/{patient_id}"));
        }
        assert_eq!(as_sent(text.clone()), as_sent(sent), "{location}");
    }
    let (_, _, raw) = site.page(&locations[5], Some(&token)).await;
    assert!(
        raw.contains(r#""value":1.50"#) && raw.contains(r#""value":0.010"#),
        "decimals keep their digits: {raw}"
    );

    // A client that holds the current version is told so (304), and every read says when.
    let bearer = format!("Bearer {token}");
    let (status, _, _) = site
        .call_with(
            "GET",
            &locations[1].replace("/_history/1", ""),
            None,
            &[("authorization", &bearer), ("if-none-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, _, _) = site
        .call_with(
            "GET",
            &locations[1].replace("/_history/1", ""),
            None,
            &[("authorization", &bearer), ("if-none-match", "W/\"0\"")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, headers, _) = site
        .page(&locations[1].replace("/_history/1", ""), Some(&token))
        .await;
    let modified = headers["last-modified"].to_str().unwrap();
    assert!(modified.ends_with(" GMT") && modified.len() == 29, "{modified}");

    // Searched by R4's parameters, and all of it in $everything.
    for (query, expected) in [
        (format!("/fhir/Immunization?patient={patient_id}"), 1),
        (
            format!("/fhir/Encounter?patient={patient_id}&date=ge2021-03-01"),
            1,
        ),
        (
            format!("/fhir/Encounter?patient={patient_id}&date=lt2021-03-01"),
            0,
        ),
        (
            format!("/fhir/Procedure?patient={patient_id}&code=http://snomed.info/sct|430193006"),
            1,
        ),
        (
            format!("/fhir/MedicationRequest?patient={patient_id}&code=314076"),
            1,
        ),
        (format!("/fhir/Coverage?patient={patient_id}"), 1),
    ] {
        let (status, _, found) = fhir(&site, "GET", &query, None, Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{query}: {found}");
        assert_eq!(found["total"], expected, "{query}: {found}");
    }
    let (status, _, refused) = fhir(
        &site,
        "GET",
        &format!("/fhir/Coverage?patient={patient_id}&date=ge2021"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "R4 defines no date on Coverage: {refused}"
    );
    let (_, _, all) = fhir(
        &site,
        "GET",
        &format!("/fhir/Patient/{patient_id}/$everything"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(all["total"], 9, "{all}");

    // Sorted, counted and subsetted as the client asks; what is not supported is refused.
    let search = |query: String| {
        let site = &site;
        let token = &token;
        async move { fhir(site, "GET", &query, None, Some(token)).await }
    };
    let (_, _, by_date) = search(format!("/fhir/Observation?patient={patient_id}&_sort=date")).await;
    assert_eq!(
        by_date["entry"][0]["resource"]["effectiveDateTime"], "2020-02-01T08:00:00Z",
        "{by_date}"
    );
    let (_, _, by_date) = search(format!("/fhir/Observation?patient={patient_id}&_sort=-date")).await;
    assert_eq!(
        by_date["entry"][0]["resource"]["effectiveDateTime"], "2021-03-04T09:05:00+01:00",
        "{by_date}"
    );
    let (_, _, counted) = search(format!("/fhir/Observation?patient={patient_id}&_summary=count")).await;
    assert_eq!(counted["total"], 2, "{counted}");
    assert!(counted.get("entry").is_none(), "{counted}");
    let (_, _, untotalled) = search(format!("/fhir/Observation?patient={patient_id}&_total=none")).await;
    assert!(untotalled.get("total").is_none() && untotalled["entry"].as_array().unwrap().len() == 2);
    let (_, _, subset) = search(format!(
        "/fhir/Encounter?patient={patient_id}&_elements=status,class"
    ))
    .await;
    let visit = &subset["entry"][0]["resource"];
    assert!(
        visit.get("period").is_none() && visit["status"] == "finished",
        "{visit}"
    );
    assert!(
        visit["meta"]["tag"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["code"] == "SUBSETTED"),
        "{visit}"
    );
    let (_, _, anchored) = search(format!(
        "/fhir/Observation?patient={patient_id}&_revinclude=Provenance:target"
    ))
    .await;
    let provenances: Vec<&Value> = anchored["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Provenance" && e["search"]["mode"] == "include")
        .collect();
    assert_eq!(provenances.len(), 2, "each result's Provenance: {anchored}");
    for (query, words) in [
        ("_revinclude=Condition:evidence", "_revinclude"),
        ("_sort=colour", "_sort"),
        ("_summary=text", "_summary=text is not supported"),
        ("_total=maybe", "_total"),
    ] {
        let (status, _, outcome) = search(format!("/fhir/Observation?patient={patient_id}&{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {outcome}");
        assert!(outcome.to_string().contains(words), "{query}: {outcome}");
    }

    // $everything narrowed by type and time, and paged; what it does not know is refused.
    let everything = |query: &str| search(format!("/fhir/Patient/{patient_id}/$everything?{query}"));
    let matches = |bundle: &Value| {
        bundle["entry"]
            .as_array()
            .map_or(0, |e| e.iter().filter(|e| e["search"]["mode"] == "match").count())
    };
    let (_, _, some) = everything("_type=Observation,Encounter").await;
    assert_eq!((some["total"].clone(), matches(&some)), (json!(3), 3), "{some}");
    let (_, _, none) = everything("_since=2999-01-01T00:00:00Z").await;
    assert_eq!(none["total"], 0, "{none}");
    let (_, _, first) = everything("_count=4").await;
    assert_eq!(
        (first["total"].clone(), matches(&first)),
        (json!(9), 4),
        "{first}"
    );
    assert!(
        first["link"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["relation"] == "next"),
        "{first}"
    );
    for query in ["_type=Colour", "_since=yesterday", "colour=red"] {
        let (status, _, outcome) = everything(query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {outcome}");
    }

    // Resources a hospital's system names itself: PUT with its own ids creates them (update as
    // create), they keep those ids, and references by them resolve.
    let subject = json!({"reference": format!("Patient/{patient_id}")});
    let named = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Observation", "id": "bp-2021-03-04", "status": "final",
            "code": {"text": "Blood pressure"}, "subject": subject, "valueString": "120/80 mmHg"},
         "request": {"method": "PUT", "url": "Observation/bp-2021-03-04"}},
        {"resource": {"resourceType": "Condition", "code": {"text": "Hypertension"}, "subject": subject,
            "evidence": [{"detail": [{"reference": "Observation/bp-2021-03-04"}]}]},
         "request": {"method": "PUT", "url": "Condition/htn-1"}},
    ]});
    let (status, _, accepted) = fhir(&site, "POST", "/fhir", Some(named.clone()), Some(&token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let location = sign(&site, &doctor, &token, &accepted).await;
    assert_eq!(location, "/fhir/Observation/bp-2021-03-04/_history/1");
    let (status, _, condition) = fhir(&site, "GET", "/fhir/Condition/htn-1", None, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{condition}");
    assert_eq!(condition["id"], "htn-1");
    let evidence = condition["evidence"][0]["detail"][0]["reference"]
        .as_str()
        .unwrap();
    let (status, _, pressure) = fhir(&site, "GET", &format!("/fhir/{evidence}"), None, Some(&token)).await;
    assert_eq!(
        (status, &pressure["id"]),
        (StatusCode::OK, &json!("bp-2021-03-04")),
        "{pressure}"
    );
    let (status, _, outcome) = fhir(&site, "POST", "/fhir", Some(named), Some(&token)).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a PUT in a transaction creates: {outcome}"
    );
    // On its own, PUT creates, then updates, under the same id.
    let mut flu = chart().remove(1);
    flu["patient"] = subject.clone();
    flu["id"] = json!("flu-2022");
    let (status, _, accepted) = fhir(
        &site,
        "PUT",
        "/fhir/Immunization/flu-2022",
        Some(flu.clone()),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    sign(&site, &doctor, &token, &accepted).await;
    flu["status"] = json!("entered-in-error");
    let (status, _, accepted) = fhir(
        &site,
        "PUT",
        "/fhir/Immunization/flu-2022",
        Some(flu),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(
        sign(&site, &doctor, &token, &accepted).await,
        "/fhir/Immunization/flu-2022/_history/2"
    );
    let (_, _, flu) = fhir(&site, "GET", "/fhir/Immunization/flu-2022", None, Some(&token)).await;
    assert_eq!(
        (&flu["id"], &flu["status"], &flu["meta"]["versionId"]),
        (&json!("flu-2022"), &json!("entered-in-error"), &json!("2"))
    );
    // Its history says how each version was made (bdl-3, bdl-4).
    let (_, _, history) = fhir(
        &site,
        "GET",
        "/fhir/Immunization/flu-2022/_history",
        None,
        Some(&token),
    )
    .await;
    assert_eq!(
        history["entry"][0]["request"],
        json!({"method": "PUT", "url": "Immunization/flu-2022"}),
        "{history}"
    );
    assert_eq!(history["entry"][0]["response"]["etag"], "W/\"2\"");
    assert_eq!(
        history["entry"][1]["request"],
        json!({"method": "POST", "url": "Immunization"})
    );
    assert_eq!(history["entry"][1]["response"]["status"], "201 Created");
    let (_, _, anchors) = fhir(
        &site,
        "GET",
        "/fhir/Provenance?target=Immunization/flu-2022",
        None,
        Some(&token),
    )
    .await;
    assert_eq!(anchors["total"], 2, "{anchors}");
    let provenance = anchors["entry"][0]["resource"]["id"].as_str().unwrap();
    let (status, _, _) = fhir(
        &site,
        "GET",
        &format!("/fhir/Provenance/{provenance}"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // A conditional create: a resource the condition finds is answered (200) and nothing written.
    let result = json!({"resourceType": "Observation", "status": "final", "code": {"text": "Potassium"},
        "subject": subject, "identifier": [{"system": "https://lab.example/results", "value": "R-77"}],
        "valueQuantity": {"value": dec("4.10"), "unit": "mmol/L"}});
    let condition = [
        ("authorization", bearer.as_str()),
        ("if-none-exist", "identifier=https://lab.example/results|R-77"),
    ];
    let (status, accepted, _) = site
        .call_with("POST", "/fhir/Observation", Some(result.clone()), &condition)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "none exists yet: {accepted}");
    let created = sign(&site, &doctor, &token, &accepted).await;
    let (status, found, _) = site
        .call_with("POST", "/fhir/Observation", Some(result.clone()), &condition)
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert!(
        created.starts_with(&format!("/fhir/Observation/{}/", found["id"].as_str().unwrap())),
        "{created} {found}"
    );
    let (_, _, by_identifier) =
        search("/fhir/Observation?identifier=https://lab.example/results|R-77".to_owned()).await;
    assert_eq!(by_identifier["total"], 1, "{by_identifier}");
    let (status, accepted, _) = site
        .call_with(
            "POST",
            "/fhir/Observation",
            Some(result.clone()),
            &[("authorization", bearer.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    sign(&site, &doctor, &token, &accepted).await;
    let (status, outcome, _) = site
        .call_with("POST", "/fhir/Observation", Some(result), &condition)
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "two match: {outcome}");

    // A conditional update: what the condition finds is updated; nothing found, it is created;
    // several found, nothing is written.
    let (status, outcome, _) = site
        .call_with(
            "PUT",
            "/fhir/Observation?identifier=https://lab.example/results|R-77",
            Some(
                json!({"resourceType": "Observation", "status": "final", "code": {"text": "Potassium"},
                "subject": subject}),
            ),
            &[("authorization", bearer.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "two match: {outcome}");
    let sodium = |value: &str| {
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "Sodium"},
            "subject": subject, "identifier": [{"system": "https://lab.example/results", "value": "R-88"}],
            "valueQuantity": {"value": dec(value), "unit": "mmol/L"}})
    };
    let by_r88 = "/fhir/Observation?identifier=https://lab.example/results|R-88";
    let (status, accepted, _) = site
        .call_with(
            "PUT",
            by_r88,
            Some(sodium("139")),
            &[("authorization", bearer.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "none found: created: {accepted}");
    let first = sign(&site, &doctor, &token, &accepted).await;
    assert!(first.ends_with("/_history/1"), "{first}");
    let (status, accepted, _) = site
        .call_with(
            "PUT",
            by_r88,
            Some(sodium("141.0")),
            &[("authorization", bearer.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "one found: updated: {accepted}");
    let second = sign(&site, &doctor, &token, &accepted).await;
    assert_eq!(second, first.replace("/_history/1", "/_history/2"));
    let (_, _, found) = search(by_r88.to_owned()).await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(
        found["entry"][0]["resource"]["valueQuantity"]["value"].to_string(),
        "141.0"
    );
    let mut other_id = sodium("140");
    other_id["id"] = json!("not-the-one");
    for (path, body, expected, says) in [
        (by_r88, other_id, StatusCode::BAD_REQUEST, "is not the id"),
        (
            "/fhir/Observation",
            sodium("140"),
            StatusCode::BAD_REQUEST,
            "needs search parameters",
        ),
        (
            "/fhir/Observation?_count=2",
            sodium("140"),
            StatusCode::BAD_REQUEST,
            "cannot make a condition",
        ),
    ] {
        let (status, outcome, _) = site
            .call_with("PUT", path, Some(body), &[("authorization", bearer.as_str())])
            .await;
        assert_eq!(status, expected, "{path}: {outcome}");
        assert!(
            outcome.to_string().contains(says),
            "{path}: {outcome} should say {says:?}"
        );
    }

    // Bulk Data export: kicked off, polled, its NDJSON files fetched; for its owner alone.
    let bulk = |path: String, extra: Vec<(&'static str, &'static str)>| {
        let site = &site;
        let bearer = bearer.clone();
        async move {
            let mut headers = vec![("authorization", bearer.as_str())];
            headers.extend(extra);
            site.exchange(
                if path.starts_with("DELETE ") {
                    "DELETE"
                } else {
                    "GET"
                },
                path.trim_start_matches("DELETE "),
                &headers,
            )
            .await
        }
    };
    let (status, _, text) = bulk("/fhir/Patient/$export".into(), vec![]).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "without Prefer: respond-async: {text}"
    );
    let (status, _, _) = bulk(
        "/fhir/Patient/$export?_outputFormat=text/csv".into(),
        vec![("prefer", "respond-async")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, headers, text) = bulk(
        "/fhir/Patient/$export?_type=Observation,Encounter".into(),
        vec![("prefer", "respond-async")],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let status_url = headers["content-location"]
        .to_str()
        .unwrap()
        .trim_start_matches("http://127.0.0.1:8080")
        .to_owned();
    let manifest = loop {
        let (status, _, text) = bulk(status_url.clone(), vec![]).await;
        if status == StatusCode::OK {
            break serde_json::from_str::<Value>(&text).unwrap();
        }
        assert_eq!(status, StatusCode::ACCEPTED, "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(manifest["requiresAccessToken"], true, "{manifest}");
    let outputs = manifest["output"].as_array().unwrap();
    assert_eq!(outputs.len(), 2, "{manifest}");
    for output in outputs {
        let url = output["url"]
            .as_str()
            .unwrap()
            .trim_start_matches("http://127.0.0.1:8080")
            .to_owned();
        let (status, headers, ndjson) = bulk(url, vec![]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "application/fhir+ndjson");
        let lines: Vec<Value> = ndjson.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len() as u64, output["count"].as_u64().unwrap());
        for resource in &lines {
            assert_eq!(resource["resourceType"], output["type"]);
            assert!(
                resource["meta"]["tag"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["code"] == "verified")
            );
        }
    }
    let stranger = format!("Bearer {}", clinic_stranger);
    let (status, _, _) = site
        .exchange("GET", &status_url, &[("authorization", stranger.as_str())])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another caller cannot see the job");
    let (status, _, _) = bulk(format!("DELETE {status_url}"), vec![]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _, _) = bulk(status_url.clone(), vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a deleted job is gone");

    // A urn:uuid: that names no entry of the Bundle is refused: it could never resolve.
    let mut dangling = chart().remove(2);
    dangling["subject"] = json!({"reference": format!("Patient/{patient_id}")});
    dangling["encounter"] = json!({"reference": "urn:uuid:11111111-2222-4333-8444-555555555555"});
    let bundle = json!({"resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": dangling, "request": {"method": "POST", "url": "Procedure"}}]});
    let (status, _, outcome) = fhir(&site, "POST", "/fhir", Some(bundle), Some(&token)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert!(
        outcome
            .to_string()
            .contains("Bundle.entry[0].resource.encounter.reference"),
        "{outcome}"
    );

    // A modifier extension is refused, and says why.
    let mut modified = chart().remove(1);
    modified["patient"] = json!({"reference": format!("Patient/{patient_id}")});
    modified["modifierExtension"] = json!([{"url": "http://example.org/not-given", "valueBoolean": true}]);
    let (status, _, outcome) = fhir(&site, "POST", "/fhir/Immunization", Some(modified), Some(&token)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert!(
        outcome.to_string().contains("Immunization.modifierExtension"),
        "{outcome}"
    );

    stop.send(true).unwrap();
    loops.await.unwrap();
    site.close().await;
}

/// The Patient as sent, for comparison (the one in the Bundle is moved into it).
fn demographics_sent(patient: &alloy::signers::local::PrivateKeySigner) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [
            {"system": "urn:ethereum:address", "value": patient.address().to_string()},
            {
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                "system": "https://hospital.example/mrn", "value": "MRN-0042",
                "assigner": {"display": "Example Hospital"},
            },
        ],
        "name": [{"use": "official", "family": "Okafor", "given": ["Ada", "Nneka"]}],
        "gender": "female",
        "birthDate": "1984-07-09",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1984-07-09T04:12:00+01:00"}]},
        "contact": [{
            "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}],
            "name": {"family": "Okafor", "given": ["Chidi"]},
            "telecom": [{"system": "phone", "value": "+44 20 7946 0000"}],
            "organization": {"reference": "#employer"},
        }],
        "contained": [{"resourceType": "Organization", "id": "employer", "name": "Example Works"}],
    })
}
