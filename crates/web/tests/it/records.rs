//! The records API end to end: a doctor registers a patient and writes an entry, each signed by
//! the doctor's own wallet from the typed data the server returns; the patient reads it verified.

use std::time::Duration;

use alloy::dyn_abi::TypedData;
use alloy::primitives::B256;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::sign_in::Site;

/// The public development account 0, the demo's admin (its key is public: anvil's first key).
pub(crate) const DEMO_ADMIN_KEY: &str = medledger_testkit::wallets::DEV_KEYS[0];

/// Signs what a 202 handed over, posts the signature, and waits until the request is anchored.
pub(crate) async fn sign_and_follow(
    site: &Site,
    wallet: &PrivateKeySigner,
    token: &str,
    accepted: &Value,
) -> Value {
    let typed: TypedData = serde_json::from_value(accepted["typedData"].clone()).unwrap();
    let hash = typed.eip712_signing_hash().unwrap();
    assert_eq!(
        hash,
        accepted["signingHash"].as_str().unwrap().parse::<B256>().unwrap(),
        "the typed data is what is signed"
    );
    let signature = wallet.sign_hash_sync(&hash).unwrap();
    let id = accepted["requestId"].as_i64().unwrap();
    let body = json!({ "signature": alloy::hex::encode_prefixed(signature.as_bytes()) });
    let (status, reply, _) = site
        .call(
            "POST",
            &format!("/api/v1/requests/{id}/signature"),
            Some(body),
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    // One long poll: the answer comes when the request settles, not before.
    let (status, request, _) = site
        .call(
            "GET",
            &format!("/api/v1/requests/{id}?wait=30"),
            None,
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{request}");
    assert_eq!(request["status"], "anchored", "{request}");
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctor_writes_through_the_api_and_the_patient_reads_it_verified() {
    let site = Site::open().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let loops = site.hospital.spawn_loops(stopped);
    let doctor = PrivateKeySigner::random();
    let patient = PrivateKeySigner::random();

    // The demo admin approves the doctor, from their own wallet, straight to the contract.
    let admin: PrivateKeySigner = DEMO_ADMIN_KEY.parse().unwrap();
    site.approve(&[doctor.address()]).await;

    let doctor_token = site.sign_in(&doctor).await;
    // An impossible birth date is refused with a 422 that says so, and nothing is stored.
    let impossible = json!({"wallet": patient.address(), "name": "Ada Lovelace", "birthDate": "2025-02-30", "contact": "-"});
    let (status, problem, _) = site
        .call("POST", "/api/v1/patients", Some(impossible), Some(&doctor_token))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not a real day of the calendar"),
        "{problem}"
    );
    let new_patient = json!({"wallet": patient.address(), "name": "Ada Lovelace", "birthDate": "1815-12-10", "contact": "ada@example.org"});
    let (status, accepted, _) = site
        .call(
            "POST",
            "/api/v1/patients",
            Some(new_patient.clone()),
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let patient_id = accepted["patientId"].as_str().unwrap().to_owned();
    let anchored = sign_and_follow(&site, &doctor, &doctor_token, &accepted).await;
    assert!(
        anchored["txHash"].is_string() && anchored["blockNumber"].is_u64(),
        "{anchored}"
    );

    let (status, problem, _) = site
        .call("POST", "/api/v1/patients", Some(new_patient), Some(&doctor_token))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the same wallet twice: {problem}");

    let entry =
        json!({"kind": "diagnosis", "content": {"resourceType": "Condition", "code": {"text": "Asthma"}}});
    let path = format!("/api/v1/patients/{patient_id}/records");
    let (status, accepted, _) = site.call("POST", &path, Some(entry), Some(&doctor_token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    // A long poll of a request awaiting its signer's signature answers at once (nothing happens
    // until they sign), with what to sign; a wait beyond the limit is refused with the limit.
    let id = accepted["requestId"].as_i64().unwrap();
    let waited = std::time::Instant::now();
    let (status, pending, _) = site
        .call(
            "GET",
            &format!("/api/v1/requests/{id}?wait=5"),
            None,
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{pending}");
    assert_eq!(pending["status"], "awaiting-signature");
    assert_eq!(
        pending["typedData"], accepted["typedData"],
        "the same request to sign"
    );
    assert_eq!(pending["signingHash"], accepted["signingHash"]);
    assert!(
        waited.elapsed() < Duration::from_secs(4),
        "it did not wait for nothing"
    );
    let (status, problem, _) = site
        .call(
            "GET",
            &format!("/api/v1/requests/{id}?wait=31"),
            None,
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("at most 30"),
        "{problem}"
    );
    // A second write signed while the first is not: it waits behind it, and its long poll
    // answers at once, naming the request it waits for.
    let later = json!({"kind": "note", "content": {"resourceType": "Basic", "code": {"text": "Follow-up"}}});
    let (status, second, _) = site.call("POST", &path, Some(later), Some(&doctor_token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{second}");
    let second_id = second["requestId"].as_i64().unwrap();
    let typed: TypedData = serde_json::from_value(second["typedData"].clone()).unwrap();
    let signature = doctor
        .sign_hash_sync(&typed.eip712_signing_hash().unwrap())
        .unwrap();
    let (status, reply, _) = site
        .call(
            "POST",
            &format!("/api/v1/requests/{second_id}/signature"),
            Some(json!({ "signature": alloy::hex::encode_prefixed(signature.as_bytes()) })),
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let waited = std::time::Instant::now();
    let (status, waiting, _) = site
        .call(
            "GET",
            &format!("/api/v1/requests/{second_id}?wait=10"),
            None,
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{waiting}");
    assert_eq!(waiting["status"], "signed", "{waiting}");
    assert_eq!(waiting["waitsFor"], id, "{waiting}");
    assert!(
        waiting["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("sign or decline request {id}")),
        "{waiting}"
    );
    assert!(waited.elapsed() < Duration::from_secs(8), "it said so at once");
    sign_and_follow(&site, &doctor, &doctor_token, &accepted).await;
    let (status, anchored, _) = site
        .call(
            "GET",
            &format!("/api/v1/requests/{second_id}?wait=30"),
            None,
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{anchored}");
    assert_eq!(
        anchored["status"], "anchored",
        "the one it waited for is signed: {anchored}"
    );

    let patient_token = site.sign_in(&patient).await;
    let (status, history, _) = site.call("GET", &path, None, Some(&patient_token)).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let records = history["records"].as_array().unwrap();
    assert_eq!(records.len(), 3, "{history}");
    assert!(
        records.iter().all(|r| r["proof"]["status"] == "verified"),
        "{history}"
    );
    assert_eq!(records[1]["content"]["code"]["text"], "Asthma");

    // Refusals say what is wrong.
    let stranger = site.sign_in(&PrivateKeySigner::random()).await;
    let (status, _, _) = site.call("GET", &path, None, Some(&stranger)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = site.call("GET", &path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, problem, _) = site
        .call(
            "POST",
            &path,
            Some(json!({"kind": "rumour", "content": {}})),
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("diagnosis, medication"),
        "{problem}"
    );
    let (status, _, _) = site
        .call(
            "GET",
            "/api/v1/patients/nothex/records",
            None,
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Consent: the patient withdraws the doctor's access, and the doctor is refused at once.
    let doctor_address = doctor.address().to_string();
    let consent = format!("/api/v1/patients/{patient_id}/consents");
    let (status, accepted, _) = site
        .call(
            "DELETE",
            &format!("{consent}/{doctor_address}"),
            None,
            Some(&patient_token),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    sign_and_follow(&site, &patient, &patient_token, &accepted).await;
    let (status, problem, _) = site.call("GET", &path, None, Some(&doctor_token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("access"),
        "{problem}"
    );
    // Only the patient can give it back.
    let grant = json!({"doctor": doctor.address()});
    let (status, problem, _) = site
        .call("POST", &consent, Some(grant), Some(&doctor_token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let grant = json!({"doctor": doctor.address(), "expiresAt": now + 3600});
    let (status, accepted, _) = site
        .call("POST", &consent, Some(grant), Some(&patient_token))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    sign_and_follow(&site, &patient, &patient_token, &accepted).await;
    let (status, _, _) = site.call("GET", &path, None, Some(&doctor_token)).await;
    assert_eq!(status, StatusCode::OK, "access is back, with an expiry");

    // The admin approves another doctor through the API, signing with the admin's wallet.
    let second = PrivateKeySigner::random();
    let second_token = site.sign_in(&second).await;
    let (status, _, _) = site
        .call("GET", "/api/v1/patients?name=ada", None, Some(&second_token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not a doctor yet");
    let admin_token = site.sign_in(&admin).await;
    let approval = format!("/api/v1/doctors/{}/approval", second.address());
    let (status, accepted, _) = site.call("POST", &approval, None, Some(&admin_token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    sign_and_follow(&site, &admin, &admin_token, &accepted).await;
    let (status, _, _) = site
        .call("GET", "/api/v1/patients?name=ada", None, Some(&second_token))
        .await;
    assert_eq!(status, StatusCode::OK, "approved");

    // Break-glass: the new doctor, without consent, opens emergency access with a reason; the
    // patient sees who, why, and the hash the chain holds.
    let (status, _, _) = site.call("GET", &path, None, Some(&second_token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let emergency = format!("/api/v1/patients/{patient_id}/emergency-access");
    let reason = json!({"reason": "unconscious on arrival, allergy history needed", "durationSecs": 3600});
    let (status, accepted, _) = site
        .call("POST", &emergency, Some(reason), Some(&second_token))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    sign_and_follow(&site, &second, &second_token, &accepted).await;
    let (status, _, _) = site.call("GET", &path, None, Some(&second_token)).await;
    assert_eq!(status, StatusCode::OK, "emergency access reads");
    let (status, seen, _) = site.call("GET", &emergency, None, Some(&patient_token)).await;
    assert_eq!(status, StatusCode::OK);
    let first = &seen["emergencies"][0];
    assert_eq!(
        first["reason"], "unconscious on arrival, allergy history needed",
        "{seen}"
    );
    assert_eq!(first["status"], "anchored");
    assert_eq!(
        first["doctor"].as_str().unwrap().to_lowercase(),
        second.address().to_string().to_lowercase()
    );
    let (status, _, _) = site.call("GET", &emergency, None, Some(&doctor_token)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the reasons are the patient's to read"
    );
    let (status, problem, _) = site
        .call(
            "POST",
            &emergency,
            Some(json!({"reason": "x", "durationSecs": 999_999})),
            Some(&second_token),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    // Search: doctors only. Audit: the patient only.
    let (status, found, _) = site
        .call(
            "GET",
            "/api/v1/patients?name=ada%20lov",
            None,
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["patients"], json!([patient_id]));
    let (status, _, _) = site
        .call("GET", "/api/v1/patients?name=ada", None, Some(&patient_token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let audit_path = format!("/api/v1/patients/{patient_id}/audit");
    let (status, audit, _) = site.call("GET", &audit_path, None, Some(&patient_token)).await;
    assert_eq!(status, StatusCode::OK);
    let events = audit["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "read" && e["outcome"] == "denied"),
        "{audit}"
    );
    let (status, _, _) = site.call("GET", &audit_path, None, Some(&doctor_token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A request is visible to its signer only.
    let id = accepted["requestId"].as_i64().unwrap();
    let (status, _, _) = site
        .call(
            "GET",
            &format!("/api/v1/requests/{id}"),
            None,
            Some(&patient_token),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let _ = stop.send(true);
    loops.await.unwrap();
    site.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_registration_leaves_the_wallet_free_to_register() {
    let site = Site::open().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let loops = site.hospital.spawn_loops(stopped);
    let admin: PrivateKeySigner = DEMO_ADMIN_KEY.parse().unwrap();
    let doctor = PrivateKeySigner::random();
    let admin_token = site.sign_in(&admin).await;
    let approval = format!("/api/v1/doctors/{}/approval", doctor.address());
    let (status, accepted, _) = site.call("POST", &approval, None, Some(&admin_token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    sign_and_follow(&site, &admin, &admin_token, &accepted).await;

    // The doctor starts a registration, then their wallet declines to sign it.
    let doctor_token = site.sign_in(&doctor).await;
    let wallet = PrivateKeySigner::random().address();
    let new_patient =
        json!({"wallet": wallet, "name": "Mary Seacole", "birthDate": "1805-11-23", "contact": "-"});
    let (status, declined, _) = site
        .call(
            "POST",
            "/api/v1/patients",
            Some(new_patient.clone()),
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{declined}");
    let id = declined["requestId"].as_i64().unwrap();
    let (status, reply, _) = site
        .call(
            "DELETE",
            &format!("/api/v1/requests/{id}"),
            None,
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");

    // That registration never happened: the same wallet registers, and is anchored.
    let (status, accepted, _) = site
        .call("POST", "/api/v1/patients", Some(new_patient), Some(&doctor_token))
        .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the wallet is free again: {accepted}"
    );
    sign_and_follow(&site, &doctor, &doctor_token, &accepted).await;
    let gone = declined["patientId"].as_str().unwrap();
    let (status, _, _) = site
        .call(
            "GET",
            &format!("/api/v1/patients/{gone}"),
            None,
            Some(&doctor_token),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the declined registration's patient is gone"
    );

    let _ = stop.send(true);
    loops.await.unwrap();
}
