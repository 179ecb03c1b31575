//! FHIR R4 at `/fhir`, driven as another hospital system drives it: a doctor registers a patient
//! and writes a Condition, each signed by their wallet from the `Parameters` the 202 returns; reads,
//! versions, searches, paging, `_include`, `$everything` and Provenance; the same refusals as the
//! JSON API (404 for what the caller may not read, by every path); bad input answered with an
//! OperationOutcome that says what is wrong, storing nothing.

use alloy::dyn_abi::TypedData;
use alloy::primitives::B256;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::sign_in::Site;

const FHIR_JSON: &str = "application/fhir+json";

/// The value of a named parameter of a `Parameters` resource.
fn parameter<'a>(parameters: &'a Value, name: &str) -> &'a Value {
    let found = parameters["parameter"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no parameter {name} in {parameters}"));
    found
        .as_object()
        .and_then(|p| p.iter().find(|(k, _)| k.starts_with("value")).map(|(_, v)| v))
        .unwrap()
}

/// Signs the request a FHIR write answered with, posts the signature, waits until anchored, and
/// returns the resource's path (`/fhir/Condition/{id}/_history/1`).
pub(crate) async fn sign(site: &Site, wallet: &PrivateKeySigner, token: &str, accepted: &Value) -> String {
    assert_eq!(accepted["resourceType"], "Parameters", "{accepted}");
    let typed: TypedData = serde_json::from_str(parameter(accepted, "typedData").as_str().unwrap()).unwrap();
    let hash = typed.eip712_signing_hash().unwrap();
    assert_eq!(
        hash,
        parameter(accepted, "signingHash")
            .as_str()
            .unwrap()
            .parse::<B256>()
            .unwrap()
    );
    let signature = wallet.sign_hash_sync(&hash).unwrap();
    let url = parameter(accepted, "signatureUrl").as_str().unwrap();
    let body = json!({ "signature": alloy::hex::encode_prefixed(signature.as_bytes()) });
    let (status, reply, _) = site.call("POST", url, Some(body), Some(token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let status_url = parameter(accepted, "statusUrl").as_str().unwrap();
    let (_, request, _) = site
        .call("GET", &format!("{status_url}?wait=30"), None, Some(token))
        .await;
    assert_eq!(request["status"], "anchored", "{request}");
    let location = parameter(accepted, "location").as_str().unwrap();
    location.trim_start_matches("http://127.0.0.1:8080").to_owned()
}

/// A FHIR call with a JSON body: status, Content-Type, body.
pub(crate) async fn fhir(
    site: &Site,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, String, Value) {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    site.raw(method, path, Some(FHIR_JSON), bytes, token).await
}

/// Every resource in a response is checked by the same model the server checks input with, and
/// every Bundle entry's resource too.
pub(crate) fn assert_valid(resource: &Value) {
    match resource["resourceType"].as_str() {
        Some("Bundle") => {
            for entry in resource["entry"].as_array().into_iter().flatten() {
                assert_valid(&entry["resource"]);
            }
        }
        Some("Provenance" | "OperationOutcome" | "Parameters" | "CapabilityStatement") | None => {}
        Some(_) => {
            medledger_fhir::validate::resource(resource).unwrap_or_else(|o| panic!("{o}: {resource}"));
        }
    }
}

fn condition(patient: &str, text: &str, onset: &str) -> Value {
    json!({
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "195967001"}], "text": text},
        "subject": {"reference": format!("Patient/{patient}")},
        "onsetDateTime": onset,
    })
}

/// A hospital with its loops running, two approved doctors (one signed in as `token`, the other
/// as `stranger`) and a patient's wallet.
pub(crate) struct Clinic {
    pub(crate) site: Site,
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    pub(crate) loops: tokio::task::JoinHandle<()>,
    pub(crate) doctor: PrivateKeySigner,
    pub(crate) patient: PrivateKeySigner,
    pub(crate) token: String,
    pub(crate) stranger: String,
}

impl Clinic {
    pub(crate) async fn open() -> Self {
        let site = Site::open().await;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let loops = site.hospital.spawn_loops(stopped);
        let [doctor, stranger_doctor, patient] = std::array::from_fn(|_| PrivateKeySigner::random());
        site.approve(&[doctor.address(), stranger_doctor.address()]).await;
        let token = site.sign_in(&doctor).await;
        let stranger = site.sign_in(&stranger_doctor).await;
        Self {
            site,
            stop,
            loops,
            doctor,
            patient,
            token,
            stranger,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fhir_client_writes_reads_searches_and_is_refused_as_the_api_refuses() {
    let Clinic {
        site,
        stop,
        loops,
        doctor,
        patient,
        token,
        stranger,
    } = Clinic::open().await;

    // The CapabilityStatement needs no sign-in.
    let (status, content_type, metadata) = fhir(&site, "GET", "/fhir/metadata", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with(FHIR_JSON), "{content_type}");
    assert_eq!(metadata["fhirVersion"], "4.0.1");

    // A Patient, registered with the patient's wallet as identifier.
    let new_patient = json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:ethereum:address", "value": patient.address().to_string()}],
        "name": [{"family": "Lovelace", "given": ["Ada"]}],
        "gender": "female",
        "birthDate": "1815-12-10",
    });
    let (status, _, accepted) = fhir(&site, "POST", "/fhir/Patient", Some(new_patient), Some(&token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let patient_path = sign(&site, &doctor, &token, &accepted).await;
    let patient_id = patient_path.split('/').nth(3).unwrap().to_owned();
    let (status, _, read) = fhir(
        &site,
        "GET",
        &format!("/fhir/Patient/{patient_id}"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["gender"], "female", "what was sent is kept: {read}");
    assert_eq!(read["meta"]["tag"][0]["code"], "verified", "{read}");

    // The doctor corrects the patient's name: version 2; both names find them; the wallet stays.
    let patient_url = format!("/fhir/Patient/{patient_id}");
    let mut renamed = read.clone();
    renamed["name"] = json!([{"family": "King", "given": ["Ada"]}]);
    let (status, _, accepted) = fhir(&site, "PUT", &patient_url, Some(renamed.clone()), Some(&token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    sign(&site, &doctor, &token, &accepted).await;
    let (_, _, now) = fhir(&site, "GET", &patient_url, None, Some(&token)).await;
    assert_eq!(
        (
            now["meta"]["versionId"].as_str(),
            now["name"][0]["family"].as_str()
        ),
        (Some("2"), Some("King"))
    );
    for name in ["king", "lovelace"] {
        let (_, _, found) = fhir(
            &site,
            "GET",
            &format!("/fhir/Patient?name={name}"),
            None,
            Some(&token),
        )
        .await;
        assert_eq!(found["total"], 1, "{name}: {found}");
    }
    renamed["identifier"][0]["value"] = json!(PrivateKeySigner::random().address().to_string());
    let (status, _, outcome) = fhir(&site, "PUT", &patient_url, Some(renamed), Some(&token)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert!(outcome.to_string().contains("cannot change"), "{outcome}");

    // Two Conditions; the first is then updated.
    let mut paths = Vec::new();
    for (text, onset) in [
        ("Asthma", "2019-04-01"),
        ("Hay fever", "2021-06-15T09:30:00+02:00"),
    ] {
        let (status, _, accepted) = fhir(
            &site,
            "POST",
            "/fhir/Condition",
            Some(condition(&patient_id, text, onset)),
            Some(&token),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        paths.push(sign(&site, &doctor, &token, &accepted).await);
    }
    let asthma = paths[0].trim_end_matches("/_history/1").to_owned();
    let asthma_id = asthma.rsplit('/').next().unwrap().to_owned();
    let (status, _, first) = fhir(&site, "GET", &asthma, None, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["id"], asthma_id.as_str());
    assert_eq!(first["meta"]["versionId"], "1");
    assert_eq!(first["subject"]["reference"], format!("Patient/{patient_id}"));
    assert_valid(&first);
    let mut amended = condition(&patient_id, "Asthma, mild", "2019-04-01");
    amended["id"] = json!(asthma_id);
    let (status, _, outcome) = site
        .raw(
            "PUT",
            &asthma,
            Some(FHIR_JSON),
            amended.to_string().into_bytes(),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{outcome}");
    let second = sign(&site, &doctor, &token, &outcome).await;
    assert!(second.ends_with("/_history/2"), "{second}");
    let (_, _, newest) = fhir(&site, "GET", &asthma, None, Some(&token)).await;
    assert_eq!(
        (
            newest["meta"]["versionId"].as_str(),
            newest["code"]["text"].as_str()
        ),
        (Some("2"), Some("Asthma, mild"))
    );
    let (status, _, old) = fhir(&site, "GET", &format!("{asthma}/_history/1"), None, Some(&token)).await;
    assert_eq!(
        (status, old["code"]["text"].as_str()),
        (StatusCode::OK, Some("Asthma"))
    );
    let (_, _, history) = fhir(&site, "GET", &format!("{asthma}/_history"), None, Some(&token)).await;
    assert_eq!(
        (history["type"].as_str(), history["total"].as_u64()),
        (Some("history"), Some(2)),
        "{history}"
    );

    // Searches.
    let search = |query: &str| format!("/fhir/Condition?{query}");
    let count = |bundle: &Value| bundle["total"].as_u64().unwrap();
    for (query, expected) in [
        (format!("patient={patient_id}"), 2),
        (format!("subject=Patient/{patient_id}"), 2),
        ("code=http://snomed.info/sct|195967001".to_owned(), 2),
        ("code=http://loinc.org|195967001".to_owned(), 0),
        ("code:text=fever".to_owned(), 1),
        ("date=ge2020-01-01".to_owned(), 1),
        ("date=2019".to_owned(), 1),
        ("date=lt2019-04-01".to_owned(), 0),
        (format!("_id={asthma_id}"), 1),
        ("_lastUpdated=gt2000-01-01".to_owned(), 2),
        (String::new(), 2),
    ] {
        let (status, _, bundle) = fhir(&site, "GET", &search(&query), None, Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{query}: {bundle}");
        assert_eq!(count(&bundle), expected, "{query}: {bundle}");
        assert_valid(&bundle);
    }
    // Paging: one per page, the next link leads to the other.
    let (_, _, page) = fhir(&site, "GET", &search("_count=1"), None, Some(&token)).await;
    assert_eq!(
        (count(&page), page["entry"].as_array().unwrap().len()),
        (2, 1),
        "{page}"
    );
    let next = page["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://127.0.0.1:8080")
        .to_owned();
    let (_, _, page2) = fhir(&site, "GET", &next, None, Some(&token)).await;
    assert_ne!(
        page["entry"][0]["fullUrl"], page2["entry"][0]["fullUrl"],
        "{page2}"
    );
    assert!(
        page2["link"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["relation"] != "next")
    );
    // _include brings the patient once.
    let (_, _, included) = fhir(
        &site,
        "GET",
        &search("_include=Condition:patient"),
        None,
        Some(&token),
    )
    .await;
    let modes: Vec<&str> = included["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["search"]["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["match", "match", "include"], "{included}");
    // $everything: the patient, both conditions, and their provenance.
    let everything = format!("/fhir/Patient/{patient_id}/$everything");
    let (status, _, all) = fhir(&site, "GET", &everything, None, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let types: Vec<&str> = all["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Patient",
            "Condition",
            "Condition",
            "Provenance",
            "Provenance",
            "Provenance"
        ],
        "{all}"
    );
    assert_valid(&all);
    // Provenance: the anchor, readable by id and found by target.
    let provenance = format!("/fhir/Provenance/{asthma_id}-2");
    let (status, _, anchor) = fhir(&site, "GET", &provenance, None, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{anchor}");
    assert_eq!(
        anchor["target"][0]["reference"],
        format!("Condition/{asthma_id}/_history/2")
    );
    assert_eq!(
        anchor["agent"][0]["who"]["identifier"]["value"],
        doctor.address().to_string()
    );
    assert_eq!(anchor["extension"][0]["valueCode"], "verified", "{anchor}");
    let (_, _, found) = fhir(
        &site,
        "GET",
        &format!("/fhir/Provenance?target=Condition/{asthma_id}"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(count(&found), 2, "{found}");

    // The patient reads their own chart.
    let patient_token = site.sign_in(&patient).await;
    let (status, _, mine) = fhir(&site, "GET", &search(""), None, Some(&patient_token)).await;
    assert_eq!((status, count(&mine)), (StatusCode::OK, 2), "{mine}");

    // Who may read, and who did: the patient's own Consents and AuditEvents, none for others.
    let (_, _, consents) = fhir(&site, "GET", "/fhir/Consent", None, Some(&patient_token)).await;
    assert_eq!(count(&consents), 1, "the registering doctor's grant: {consents}");
    let grant = &consents["entry"][0]["resource"];
    assert_eq!(
        grant["provision"]["actor"][0]["reference"]["identifier"]["value"],
        doctor.address().to_string()
    );
    assert_eq!(grant["status"], "active");
    let consent_path = format!("/fhir/Consent/{}", grant["id"].as_str().unwrap());
    let (status, _, same) = fhir(&site, "GET", &consent_path, None, Some(&patient_token)).await;
    assert_eq!((status, &same), (StatusCode::OK, grant));
    let (_, _, events) = fhir(
        &site,
        "GET",
        "/fhir/AuditEvent?_count=2",
        None,
        Some(&patient_token),
    )
    .await;
    assert!(count(&events) > 5, "reads and writes were audited: {events}");
    let event = &events["entry"][0]["resource"];
    assert_eq!(event["resourceType"], "AuditEvent");
    let event_path = format!("/fhir/AuditEvent/{}", event["id"].as_str().unwrap());
    let (status, _, same) = fhir(&site, "GET", &event_path, None, Some(&patient_token)).await;
    assert_eq!((status, &same), (StatusCode::OK, event));
    let (_, _, denied) = fhir(
        &site,
        "GET",
        "/fhir/AuditEvent?date=ge2000",
        None,
        Some(&patient_token),
    )
    .await;
    assert_eq!(count(&denied), count(&events));
    for path in [consent_path.as_str(), event_path.as_str()] {
        let (status, _, _) = fhir(&site, "GET", path, None, Some(&stranger)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    for path in [
        format!("/fhir/Consent?patient={patient_id}"),
        format!("/fhir/AuditEvent?patient={patient_id}"),
    ] {
        let (_, _, none) = fhir(&site, "GET", &path, None, Some(&stranger)).await;
        assert_eq!(count(&none), 0, "{path}: {none}");
    }

    // A doctor without consent gets nothing, by any path: 404 for each resource, empty searches.
    for path in [
        asthma.clone(),
        format!("{asthma}/_history"),
        format!("{asthma}/_history/1"),
        format!("/fhir/Patient/{patient_id}"),
        everything.clone(),
        provenance.clone(),
    ] {
        let (status, _, outcome) = fhir(&site, "GET", &path, None, Some(&stranger)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
    for query in [
        format!("/fhir/Condition?patient={patient_id}"),
        "/fhir/Condition".to_owned(),
        format!("/fhir/Condition?patient={patient_id}&_include=Condition:patient&_count=1&_offset=1"),
        format!("/fhir/Provenance?patient={patient_id}"),
        "/fhir/Patient?name=ada".to_owned(),
    ] {
        let (status, _, bundle) = fhir(&site, "GET", &query, None, Some(&stranger)).await;
        assert_eq!((status, count(&bundle)), (StatusCode::OK, 0), "{query}: {bundle}");
        assert!(bundle.get("entry").is_none(), "{query}: {bundle}");
    }
    let (status, _, outcome) = fhir(&site, "PUT", &asthma, Some(amended.clone()), Some(&stranger)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{outcome}");
    let (status, _, outcome) = fhir(
        &site,
        "POST",
        "/fhir/Condition",
        Some(condition(&patient_id, "x", "2020")),
        Some(&stranger),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    let (status, _, outcome) = fhir(&site, "GET", &asthma, None, None).await;
    assert_eq!(
        (status, outcome["issue"][0]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("login"))
    );

    // Bad input: a 4xx OperationOutcome naming the problem, and nothing stored.
    let before = site.hospital.store.request_counts().await.unwrap();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = condition(&patient_id, "Bad", "2020-01-01");
        edit(&mut c);
        c.to_string().into_bytes()
    };
    let other_patient = "0123456789abcdef0123456789abcdef";
    let cases: Vec<(&str, Vec<u8>, &str, StatusCode, &str)> = vec![
        (
            "POST",
            with(&|c| c["colour"] = json!("red")),
            FHIR_JSON,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Condition.colour",
        ),
        (
            "POST",
            with(&|c| c["onsetDateTime"] = json!("1981-02-30")),
            FHIR_JSON,
            StatusCode::UNPROCESSABLE_ENTITY,
            "1981-02-30",
        ),
        (
            "POST",
            with(&|c| c["code"]["text"] = json!(42)),
            FHIR_JSON,
            StatusCode::UNPROCESSABLE_ENTITY,
            "must be a string",
        ),
        (
            "POST",
            with(&|c| c["code"]["text"] = json!("")),
            FHIR_JSON,
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty string",
        ),
        (
            "POST",
            with(&|c| c["id"] = json!("../../etc/passwd")),
            FHIR_JSON,
            StatusCode::UNPROCESSABLE_ENTITY,
            "must be an id",
        ),
        (
            "POST",
            with(&|_| {}),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/fhir+json",
        ),
        (
            "POST",
            br#"{"resourceType":"Condition","resourceType":"Condition"}"#.to_vec(),
            FHIR_JSON,
            StatusCode::BAD_REQUEST,
            "appears twice",
        ),
        (
            "POST",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            FHIR_JSON,
            StatusCode::BAD_REQUEST,
            "nests too deeply",
        ),
        (
            "POST",
            vec![b' '; 10 << 20],
            FHIR_JSON,
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        ),
        (
            "POST",
            with(&|c| c["subject"]["reference"] = json!(format!("Patient/{other_patient}"))),
            FHIR_JSON,
            StatusCode::NOT_FOUND,
            "patient",
        ),
        (
            "PUT",
            with(&|c| c["subject"]["reference"] = json!(format!("Patient/{other_patient}"))),
            FHIR_JSON,
            StatusCode::UNPROCESSABLE_ENTITY,
            "another patient",
        ),
        (
            "PUT",
            with(&|c| c["id"] = json!("0000")),
            FHIR_JSON,
            StatusCode::BAD_REQUEST,
            "is not the URL's",
        ),
    ];
    for (method, body, content_type, expected, words) in cases {
        let path = if method == "PUT" {
            asthma.as_str()
        } else {
            "/fhir/Condition"
        };
        let (status, got_type, outcome) = site
            .raw(method, path, Some(content_type), body, Some(&token))
            .await;
        assert_eq!(status, expected, "{words}: {outcome}");
        assert!(got_type.starts_with(FHIR_JSON), "{words}: {got_type}");
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{words}");
        assert!(outcome.to_string().contains(words), "{words} not in {outcome}");
    }
    for (path, expected) in [
        ("/fhir/Condition/..%2F..%2Fetc%2Fpasswd", StatusCode::NOT_FOUND),
        ("/fhir/Encounter/1", StatusCode::NOT_FOUND),
        ("/fhir/Condition?colour=red", StatusCode::BAD_REQUEST),
        ("/fhir/Condition?date=2020-13-01", StatusCode::BAD_REQUEST),
        ("/fhir/Condition?_count=many", StatusCode::BAD_REQUEST),
    ] {
        let (status, _, outcome) = fhir(&site, "GET", path, None, Some(&token)).await;
        assert_eq!(status, expected, "{path}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{path}");
    }
    assert_eq!(
        site.hospital.store.request_counts().await.unwrap(),
        before,
        "nothing was stored"
    );

    stop.send(true).unwrap();
    loops.await.unwrap();
    site.close().await;
}

/// A transaction Bundle (an import's shape): a new patient and their history under one
/// signature, anchored all together; then more entries for them; refusals store nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_anchors_a_patient_and_their_history_together() {
    let Clinic {
        site,
        stop,
        loops,
        doctor,
        patient,
        token,
        stranger,
    } = Clinic::open().await;
    let uuid = "urn:uuid:5a3c1d1e-2f0b-4c8e-9d35-0b1f4c2a7e61";
    let entry = |resource: Value| {
        let ty = resource["resourceType"].as_str().unwrap().to_owned();
        json!({"resource": resource, "request": {"method": "POST", "url": ty}})
    };
    let observation = |value: u32, subject: &str| {
        json!({
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Heart rate"},
            "subject": {"reference": subject},
            "valueQuantity": {"value": value, "unit": "/min"},
        })
    };
    let mut new_patient = entry(json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:ethereum:address", "value": patient.address().to_string()}],
        "name": [{"text": "Imported Person"}],
    }));
    new_patient["fullUrl"] = json!(uuid);
    let bundle = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [new_patient, entry(condition_of(uuid)), entry(observation(61, uuid)), entry(observation(64, uuid))],
    });
    let (status, _, accepted) = fhir(&site, "POST", "/fhir", Some(bundle.clone()), Some(&token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
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
    assert_eq!(locations.len(), 4, "{accepted}");
    // What it came to is told at its response URL: not yet, while it awaits its signature.
    let bearer = format!("Bearer {token}");
    let response_url = parameter(&accepted, "responseUrl")
        .as_str()
        .unwrap()
        .trim_start_matches("http://127.0.0.1:8080")
        .to_owned();
    let answer = |url: String| {
        let (site, bearer) = (&site, bearer.clone());
        async move {
            site.call_with(
                "GET",
                &url,
                None,
                &[("authorization", &bearer), ("prefer", "wait=10")],
            )
            .await
        }
    };
    let (status, waiting, _) = answer(response_url.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{waiting}");
    assert!(waiting.to_string().contains("signature"), "{waiting}");
    sign(&site, &doctor, &token, &accepted).await;
    let (status, response, _) = answer(response_url.clone()).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["type"], "transaction-response", "{response}");
    assert_valid(&response);
    let told: Vec<(&str, String)> = response["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let r = &e["response"];
            (
                r["status"].as_str().unwrap(),
                format!("/fhir/{}", r["location"].as_str().unwrap()),
            )
        })
        .collect();
    let created: Vec<(&str, String)> = locations.iter().map(|l| ("201 Created", l.clone())).collect();
    assert_eq!(told, created, "one entry per entry sent, in its order");
    let (status, _, _) = site.call("GET", &response_url, None, Some(&stranger)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another's write is not theirs to see"
    );
    let patient_id = locations[0].split('/').nth(3).unwrap().to_owned();
    for location in &locations {
        let (status, _, resource) = fhir(&site, "GET", location, None, Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{location}: {resource}");
        assert_valid(&resource);
        if resource["resourceType"] != "Patient" {
            let element = if resource["resourceType"] == "AllergyIntolerance" {
                "patient"
            } else {
                "subject"
            };
            assert_eq!(
                resource[element]["reference"],
                format!("Patient/{patient_id}"),
                "{resource}"
            );
        }
    }
    let (_, _, all) = fhir(
        &site,
        "GET",
        &format!("/fhir/Patient/{patient_id}/$everything"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(all["total"], 4, "{all}");
    // All four anchored by one transaction.
    let anchors: std::collections::BTreeSet<&str> = all["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Provenance")
        .map(|e| e["resource"]["extension"][1]["valueString"].as_str().unwrap())
        .collect();
    assert_eq!(anchors.len(), 1, "{all}");

    // More entries for the existing patient, in one transaction.
    let subject = format!("Patient/{patient_id}");
    let more = json!({"resourceType": "Bundle", "type": "transaction",
        "entry": [entry(observation(70, &subject)), entry(observation(72, &subject))]});
    let (status, _, accepted) = fhir(&site, "POST", "/fhir", Some(more.clone()), Some(&token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    sign(&site, &doctor, &token, &accepted).await;
    let (_, _, heart) = fhir(
        &site,
        "GET",
        &format!("/fhir/Observation?patient={patient_id}"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(heart["total"], 4, "{heart}");

    // Conditional creates in a transaction: the patient found by their wallet, and a result by its
    // identifier; sent twice, the second time finds both and writes nothing.
    let lab_result = |value: u32| {
        let mut result = observation(value, "urn:uuid:9d2a54b0-5c1e-4c3a-8f0e-2b6f0f1d7a11");
        result["identifier"] = json!([{"system": "https://lab.example/results", "value": "T-1"}]);
        result
    };
    let mut known = entry(json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:ethereum:address", "value": patient.address().to_string()}],
        "name": [{"text": "Imported Person"}],
    }));
    known["fullUrl"] = json!("urn:uuid:9d2a54b0-5c1e-4c3a-8f0e-2b6f0f1d7a11");
    known["request"]["ifNoneExist"] = json!(format!("identifier=urn:ethereum:address|{}", patient.address()));
    let mut result = entry(lab_result(75));
    result["request"]["ifNoneExist"] = json!("identifier=https://lab.example/results|T-1");
    // The patient second: the answer keeps the Bundle's order.
    let conditional = json!({"resourceType": "Bundle", "type": "transaction", "entry": [result, known]});
    let (status, _, accepted) = fhir(&site, "POST", "/fhir", Some(conditional.clone()), Some(&token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    sign(&site, &doctor, &token, &accepted).await;
    let url = parameter(&accepted, "responseUrl")
        .as_str()
        .unwrap()
        .trim_start_matches("http://127.0.0.1:8080")
        .to_owned();
    let (status, response, _) = answer(url).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let result_at = response["entry"][0]["response"]["location"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        response["entry"][0]["response"]["status"], "201 Created",
        "{response}"
    );
    assert!(result_at.starts_with("Observation/"), "{response}");
    assert_eq!(
        response["entry"][1]["response"],
        json!({"status": "200 OK", "location": format!("Patient/{patient_id}/_history/1"), "etag": "W/\"1\"",
            "lastModified": response["entry"][1]["response"]["lastModified"]}),
        "the patient was found, not written"
    );
    let (_, _, stored) = fhir(&site, "GET", &format!("/fhir/{result_at}"), None, Some(&token)).await;
    assert_eq!(
        stored["subject"]["reference"],
        format!("Patient/{patient_id}"),
        "{stored}"
    );
    let (status, _, again) = fhir(&site, "POST", "/fhir", Some(conditional), Some(&token)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "everything found, nothing to sign: {again}"
    );
    assert_eq!(again["type"], "transaction-response");
    assert_eq!(again["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(again["entry"][0]["response"]["location"], result_at.as_str());
    let (_, _, heart) = fhir(
        &site,
        "GET",
        &format!("/fhir/Observation?patient={patient_id}"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(heart["total"], 5, "written once: {heart}");

    // Refusals: nothing stored.
    let before = site.hospital.store.request_counts().await.unwrap();
    let mut bad_date = more.clone();
    bad_date["entry"][1]["resource"]["effectiveDateTime"] = json!("2023-02-29");
    let mut two_patients = more.clone();
    two_patients["entry"][1]["resource"]["subject"]["reference"] =
        json!("Patient/0123456789abcdef0123456789abcdef");
    let mut update = more.clone();
    update["entry"][0]["request"]["method"] = json!("PUT");
    let mut batch = more.clone();
    batch["type"] = json!("batch");
    for (what, body, expected, words) in [
        (
            "an impossible date",
            bad_date,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Bundle.entry[1].resource.effectiveDateTime",
        ),
        (
            "two patients",
            two_patients,
            StatusCode::UNPROCESSABLE_ENTITY,
            "of one patient",
        ),
        ("an update", update, StatusCode::UNPROCESSABLE_ENTITY, "PUT"),
        ("a batch", batch, StatusCode::BAD_REQUEST, "transaction"),
        ("the same patient again", bundle, StatusCode::CONFLICT, "wallet"),
    ] {
        let (status, _, outcome) = fhir(&site, "POST", "/fhir", Some(body), Some(&token)).await;
        assert_eq!(status, expected, "{what}: {outcome}");
        assert!(
            outcome.to_string().contains(words),
            "{what}: {words} not in {outcome}"
        );
    }
    let (status, _, outcome) = fhir(&site, "POST", "/fhir", Some(more), Some(&stranger)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a doctor without consent: {outcome}"
    );
    assert_eq!(
        site.hospital.store.request_counts().await.unwrap(),
        before,
        "nothing was stored"
    );

    stop.send(true).unwrap();
    loops.await.unwrap();
    site.close().await;
}

fn condition_of(subject: &str) -> Value {
    json!({"resourceType": "Condition", "code": {"text": "Imported finding"}, "subject": {"reference": subject}})
}
