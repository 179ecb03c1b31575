//! Attachments through the API: a doctor uploads a scan, cites it from a signed entry, and the
//! patient downloads exactly those bytes; anyone without access is refused, and bad uploads are
//! told what to fix.

use alloy::primitives::keccak256;
use alloy::signers::local::PrivateKeySigner;
use axum::http::{StatusCode, header};
use medledger_core::attachment::MAX_ATTACHMENT;
use serde_json::json;

use crate::records::sign_and_follow;
use crate::sign_in::Site;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctor_attaches_a_scan_the_patient_downloads_it_and_no_one_else_can() {
    let site = Site::open().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let loops = site.hospital.spawn_loops(stopped);
    let (doctor, other, patient) = (
        PrivateKeySigner::random(),
        PrivateKeySigner::random(),
        PrivateKeySigner::random(),
    );
    site.approve(&[doctor.address(), other.address()]).await;
    let doctor_token = site.sign_in(&doctor).await;
    let new_patient = json!({"wallet": patient.address(), "name": "Mary Seacole", "birthDate": "1805-11-23", "contact": "-"});
    let (status, accepted, _) = site
        .call("POST", "/api/v1/patients", Some(new_patient), Some(&doctor_token))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let patient_id = accepted["patientId"].as_str().unwrap().to_owned();
    sign_and_follow(&site, &doctor, &doctor_token, &accepted).await;

    // The upload answers the reference an entry cites: id, media type, size and SHA-256.
    let scan = b"%PDF-1.7 chest X-ray, no consolidation".to_vec();
    let uploads = format!("/api/v1/patients/{patient_id}/attachments");
    let (status, _, reference) = site
        .raw(
            "POST",
            &uploads,
            Some("application/pdf"),
            scan.clone(),
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reference}");
    assert_eq!(reference["contentType"], "application/pdf");
    assert_eq!(reference["size"], scan.len());
    let sha256 = reference["sha256"].as_str().unwrap();
    assert_eq!(sha256.len(), 64);
    assert_ne!(
        sha256,
        alloy::hex::encode(keccak256(&scan)),
        "a SHA-256, not the chain's hash"
    );

    // The entry that cites it is signed and anchored like any other. (Until DocumentReference is
    // a record kind, a note cites the file by its id and digest in extensions.)
    let id = reference["id"].as_str().unwrap();
    let entry = json!({"kind": "note", "content": {
        "resourceType": "Basic",
        "code": {"text": "Chest X-ray report"},
        "extension": [
            {"url": "https://medledger.org/fhir/attachment", "valueUri": format!("urn:medledger:attachment:{id}")},
            {"url": "https://medledger.org/fhir/attachment-sha256", "valueString": sha256}
        ]
    }});
    let records = format!("/api/v1/patients/{patient_id}/records");
    let (status, accepted, _) = site
        .call("POST", &records, Some(entry), Some(&doctor_token))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    sign_and_follow(&site, &doctor, &doctor_token, &accepted).await;

    // The patient reads the entry verified, and downloads the very bytes, as a download.
    let patient_token = site.sign_in(&patient).await;
    let (status, history, _) = site.call("GET", &records, None, Some(&patient_token)).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let cited = history["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["content"]["resourceType"] == "Basic")
        .expect("the citing entry is in the history");
    assert_eq!(cited["proof"]["status"], "verified", "{cited}");
    assert_eq!(cited["content"]["extension"][1]["valueString"], sha256);
    let file = format!("{uploads}/{id}");
    let (status, headers, body) = site.page(&file, Some(&patient_token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_bytes(), scan.as_slice());
    assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
    assert_eq!(headers[header::CONTENT_DISPOSITION], "attachment");
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("sandbox"),
        "a file never runs in the site's origin"
    );

    // A doctor without the patient's consent, and a stranger, are refused; so is no session.
    let other_token = site.sign_in(&other).await;
    let (status, _, problem) = site.raw("GET", &file, None, vec![], Some(&other_token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let (status, _, problem) = site
        .raw(
            "POST",
            &uploads,
            Some("application/pdf"),
            scan.clone(),
            Some(&other_token),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let (status, _, _) = site.raw("GET", &file, None, vec![], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Bad uploads are told what to fix, and store nothing.
    let (status, _, problem) = site
        .raw("POST", &uploads, None, scan.clone(), Some(&doctor_token))
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("Content-Type"));
    let (status, _, problem) = site
        .raw(
            "POST",
            &uploads,
            Some("application/pdf"),
            vec![0; MAX_ATTACHMENT + 1],
            Some(&doctor_token),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("10 MiB"));
    let (status, _, problem) = site
        .raw("POST", &uploads, Some("a scan"), scan, Some(&doctor_token))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("media type"));
    let (status, _, _) = site
        .raw("POST", &uploads, Some("image/png"), vec![], Some(&doctor_token))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, problem) = site
        .raw(
            "GET",
            &format!("{uploads}/not-an-id"),
            None,
            vec![],
            Some(&patient_token),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let (status, _, _) = site
        .raw(
            "GET",
            &format!("{uploads}/{}", "0".repeat(32)),
            None,
            vec![],
            Some(&patient_token),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let _ = stop.send(true);
    loops.await.unwrap();
    site.close().await;
}
