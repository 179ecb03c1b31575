//! The authorisation matrix: every API route against anonymous, the patient, another patient, a
//! doctor with consent, a doctor without, a doctor whose consent was withdrawn, and the admin.

use alloy::signers::local::PrivateKeySigner;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::records::{DEMO_ADMIN_KEY, sign_and_follow};
use crate::sign_in::Site;

const WHO: [&str; 7] = [
    "anonymous",
    "patient",
    "other patient",
    "doctor with consent",
    "doctor without",
    "revoked doctor",
    "admin",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_caller_as_it_should() {
    let site = Site::open().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let loops = site.hospital.spawn_loops(stopped);
    let admin: PrivateKeySigner = DEMO_ADMIN_KEY.parse().unwrap();
    let [patient, other, d1, d2, d3] = std::array::from_fn(|_| PrivateKeySigner::random());
    site.approve(&[d1.address(), d2.address(), d3.address()]).await;
    let mut tokens = vec![None];
    for wallet in [&patient, &other, &d1, &d2, &d3, &admin] {
        tokens.push(Some(site.sign_in(wallet).await));
    }
    let token = |i: usize| tokens[i].clone().unwrap();

    // The doctor with consent registers both patients and writes one entry; the patient gives the
    // third doctor access and withdraws it.
    let mut ids = Vec::new();
    for wallet in [&patient, &other] {
        let body = json!({"wallet": wallet.address(), "name": "Pat Ient", "birthDate": "1990-01-01", "contact": "-"});
        let (status, accepted, _) = site
            .call("POST", "/api/v1/patients", Some(body), Some(&token(3)))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        sign_and_follow(&site, &d1, &token(3), &accepted).await;
        ids.push(accepted["patientId"].as_str().unwrap().to_owned());
    }
    let p = ids[0].clone();
    let consents = format!("/api/v1/patients/{p}/consents");
    let (_, accepted, _) = site
        .call(
            "POST",
            &consents,
            Some(json!({"doctor": d3.address()})),
            Some(&token(1)),
        )
        .await;
    sign_and_follow(&site, &patient, &token(1), &accepted).await;
    let (_, accepted, _) = site
        .call(
            "DELETE",
            &format!("{consents}/{}", d3.address()),
            None,
            Some(&token(1)),
        )
        .await;
    sign_and_follow(&site, &patient, &token(1), &accepted).await;
    let records = format!("/api/v1/patients/{p}/records");
    let note = json!({"kind": "note", "content": {"resourceType": "Basic", "code": {"text": "seen"}}});
    let (_, accepted, _) = site
        .call("POST", &records, Some(note.clone()), Some(&token(3)))
        .await;
    let request = accepted["requestId"].as_i64().unwrap();
    let note_id = accepted["recordId"].as_str().unwrap().to_owned();
    sign_and_follow(&site, &d1, &token(3), &accepted).await;
    let newcomer = PrivateKeySigner::random().address();
    let attachments = format!("/api/v1/patients/{p}/attachments");
    let scan = json!({"a": "scan"});
    let (status, attached, _) = site
        .call("POST", &attachments, Some(scan.clone()), Some(&token(3)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{attached}");
    let attachment = format!("{attachments}/{}", attached["id"].as_str().unwrap());

    // Expected status per caller, in the order of WHO. 202 is a write prepared for signing.
    type Body = Box<dyn Fn() -> Option<Value>>;
    let none: fn() -> Option<Value> = || None;
    let rows: Vec<(&str, String, Body, [u16; 7])> = vec![
        (
            "GET",
            "/api/v1/auth/session".into(),
            Box::new(none),
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            "GET",
            records.clone(),
            Box::new(none),
            [401, 200, 403, 200, 403, 403, 403],
        ),
        (
            "POST",
            records.clone(),
            Box::new(move || Some(note.clone())),
            [401, 403, 403, 202, 403, 403, 403],
        ),
        (
            "POST",
            attachments,
            Box::new(move || Some(scan.clone())),
            [401, 403, 403, 201, 403, 403, 403],
        ),
        (
            "GET",
            attachment,
            Box::new(none),
            [401, 200, 403, 200, 403, 403, 403],
        ),
        (
            "GET",
            "/api/v1/patients?name=pat".into(),
            Box::new(none),
            [401, 403, 403, 200, 200, 200, 403],
        ),
        (
            "GET",
            format!("/api/v1/patients/{p}/audit"),
            Box::new(none),
            [401, 200, 403, 403, 403, 403, 403],
        ),
        (
            "GET",
            format!("/api/v1/requests/{request}"),
            Box::new(none),
            [401, 404, 404, 200, 404, 404, 404],
        ),
        (
            "POST",
            "/api/v1/patients".into(),
            Box::new(|| {
                let wallet = PrivateKeySigner::random().address();
                Some(
                    json!({"wallet": wallet, "name": "New Comer", "birthDate": "2000-01-01", "contact": "-"}),
                )
            }),
            [401, 403, 403, 202, 202, 202, 403],
        ),
        (
            "POST",
            consents.clone(),
            Box::new(move || Some(json!({"doctor": newcomer}))),
            [401, 202, 403, 403, 403, 403, 403],
        ),
        (
            "DELETE",
            format!("{consents}/{newcomer}"),
            Box::new(none),
            [401, 202, 403, 403, 403, 403, 403],
        ),
        (
            "POST",
            format!("/api/v1/doctors/{newcomer}/approval"),
            Box::new(none),
            [401, 403, 403, 403, 403, 403, 202],
        ),
        (
            "DELETE",
            format!("/api/v1/doctors/{newcomer}/approval"),
            Box::new(none),
            [401, 403, 403, 403, 403, 403, 202],
        ),
        (
            "GET",
            "/api/v1/requests".into(),
            Box::new(none),
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            "GET",
            "/api/v1/requests?status=lost".into(),
            Box::new(none),
            [401, 400, 400, 400, 400, 400, 400],
        ),
        (
            "GET",
            "/api/v1/verify".into(),
            Box::new(none),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            "GET",
            format!("/api/v1/patients/{p}"),
            Box::new(none),
            [401, 200, 403, 200, 403, 403, 403],
        ),
        (
            "GET",
            consents.clone(),
            Box::new(none),
            [401, 200, 403, 403, 403, 403, 200],
        ),
        (
            "GET",
            "/api/v1/patients".into(),
            Box::new(none),
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            "GET",
            "/api/v1/doctors".into(),
            Box::new(none),
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            "POST",
            "/api/v1/doctors/applications".into(),
            Box::new(|| Some(json!({"name": "Dr. Who", "licence": "L-1"}))),
            [401, 201, 201, 201, 201, 201, 201],
        ),
        (
            // Nobody holds an emergency access to close.
            "DELETE",
            format!("/api/v1/patients/{p}/emergency-access"),
            Box::new(none),
            [401, 409, 409, 409, 409, 409, 409],
        ),
        (
            // Already anchored: its signer cannot decline it; to others it does not exist.
            "DELETE",
            format!("/api/v1/requests/{request}"),
            Box::new(none),
            [401, 404, 404, 409, 404, 404, 404],
        ),
    ];
    // The same on /fhir: what the caller may not read answers 404 there, whatever the path.
    let basic = format!("/fhir/Basic/{note_id}");
    let fhir_note = json!({"resourceType": "Basic", "code": {"text": "seen again"}, "subject": {"reference": format!("Patient/{p}")}});
    let fhir_update = {
        let mut body = fhir_note.clone();
        body["id"] = json!(note_id);
        body
    };
    let mut rows = rows;
    let readers = [401, 200, 404, 200, 404, 404, 404];
    for path in [
        format!("/fhir/Patient/{p}"),
        basic.clone(),
        format!("{basic}/_history"),
        format!("{basic}/_history/1"),
        format!("/fhir/Patient/{p}/$everything"),
        format!("/fhir/Provenance/{note_id}-1"),
    ] {
        rows.push(("GET", path, Box::new(none), readers));
    }
    // Who finds something: readers of the record; for grants the patient and admins; for the
    // audit trail the patient alone.
    let record_readers = [0, 1, 0, 1, 0, 0, 0];
    let searches = [
        (format!("/fhir/Basic?patient={p}"), record_readers),
        ("/fhir/Basic".to_owned(), record_readers),
        (
            format!("/fhir/Basic?subject=Patient/{p}&_include=Basic:subject&_count=1"),
            record_readers,
        ),
        (format!("/fhir/Provenance?patient={p}"), record_readers),
        (format!("/fhir/Patient?_id={p}"), record_readers),
        (format!("/fhir/Consent?patient={p}"), [0, 1, 0, 0, 0, 0, 1]),
        (format!("/fhir/AuditEvent?patient={p}"), [0, 1, 0, 0, 0, 0, 0]),
    ];
    for (path, _) in &searches {
        rows.push((
            "GET",
            path.clone(),
            Box::new(none),
            [401, 200, 200, 200, 200, 200, 200],
        ));
    }
    let renamed = json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:ethereum:address", "value": patient.address().to_string()}],
        "name": [{"text": "Pat Ient-Renamed"}],
    });
    rows.extend([
        (
            "PUT",
            format!("/fhir/Patient/{p}"),
            Box::new(move || Some(renamed.clone())) as Body,
            [401, 403, 404, 202, 404, 404, 404],
        ),
        (
            "GET",
            "/fhir/metadata".to_owned(),
            Box::new(none),
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            "POST",
            "/fhir/Basic".to_owned(),
            Box::new(move || Some(fhir_note.clone())),
            [401, 403, 403, 202, 403, 403, 403],
        ),
        (
            "PUT",
            basic.clone(),
            Box::new(move || Some(fhir_update.clone())),
            [401, 403, 404, 202, 404, 404, 404],
        ),
        (
            "POST",
            "/fhir/Patient".to_owned(),
            Box::new(|| {
                let wallet = PrivateKeySigner::random().address().to_string();
                Some(json!({
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:ethereum:address", "value": wallet}],
                    "name": [{"text": "New Comer"}],
                }))
            }),
            [401, 403, 403, 202, 202, 202, 403],
        ),
    ]);
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &rows {
        for (who, want) in expected.iter().enumerate() {
            let (status, reply, _) = site.call(method, path, body(), tokens[who].as_deref()).await;
            if status.as_u16() != *want {
                wrong.push(format!(
                    "{method} {path} as {}: {status}, expected {want}: {reply}",
                    WHO[who]
                ));
            }
            if status.is_client_error() {
                let why = reply["detail"]
                    .as_str()
                    .or(reply["issue"][0]["diagnostics"].as_str());
                assert!(
                    why.is_some_and(|d| !d.is_empty()),
                    "{method} {path}: a 4xx says why"
                );
            }
        }
    }
    // A FHIR search finds the note, or the patient, only for those who may read the record.
    for (path, finders) in &searches {
        for (who, want) in finders.iter().enumerate().skip(1) {
            let (_, bundle, _) = site.call("GET", path, None, tokens[who].as_deref()).await;
            let found = bundle["entry"]
                .as_array()
                .map_or(0, |e| e.iter().filter(|e| e["search"]["mode"] == "match").count());
            if found.min(1) != *want {
                wrong.push(format!("GET {path} as {}: found {found}: {bundle}", WHO[who]));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    let _ = stop.send(true);
    loops.await.unwrap();
    site.close().await;
}

/// The OpenAPI document names every route the matrix exercises, with its methods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let site = Site::open().await;
    let (status, doc, _) = site.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let routes = [
        ("get", "/api/v1/auth/nonce"),
        ("post", "/api/v1/auth/login"),
        ("get", "/api/v1/auth/session"),
        ("post", "/api/v1/auth/logout"),
        ("post", "/api/v1/patients"),
        ("get", "/api/v1/patients"),
        ("post", "/api/v1/patients/{id}/records"),
        ("get", "/api/v1/patients/{id}/records"),
        ("post", "/api/v1/patients/{id}/attachments"),
        ("get", "/api/v1/patients/{id}/attachments/{attachment}"),
        ("get", "/api/v1/patients/{id}/audit"),
        ("post", "/api/v1/patients/{id}/consents"),
        ("delete", "/api/v1/patients/{id}/consents/{doctor}"),
        ("post", "/api/v1/patients/{id}/emergency-access"),
        ("get", "/api/v1/patients/{id}/emergency-access"),
        ("post", "/api/v1/doctors/{address}/approval"),
        ("delete", "/api/v1/doctors/{address}/approval"),
        ("get", "/api/v1/requests/{id}"),
        ("post", "/api/v1/requests/{id}/signature"),
        ("get", "/api/v1/verify"),
        ("get", "/api/v1/patients/{id}"),
        ("get", "/api/v1/patients/{id}/consents"),
        ("delete", "/api/v1/patients/{id}/emergency-access"),
        ("get", "/api/v1/doctors"),
        ("post", "/api/v1/doctors/applications"),
        ("delete", "/api/v1/requests/{id}"),
        ("get", "/api/v1/requests"),
    ];
    for (method, path) in routes {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|ops| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
                .count()
        })
        .sum();
    assert_eq!(
        documented,
        routes.len(),
        "the document describes no route the server lacks"
    );
    site.close().await;
}
