//! What a hospital's security review asks of every answer: health data and session secrets are
//! never cached and their type never guessed; behind https, browsers are told to stay on it; the
//! data directory is the owner's alone; FHIR strings hold no control characters; every refusal
//! says, in words, what to fix.

use alloy::signers::local::PrivateKeySigner;
use axum::http::{StatusCode, header};
use medledger_web::Origin;
use serde_json::json;

use crate::sign_in::Site;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_may_be_cached_or_sniffed_and_https_is_kept() {
    let site = Site::open().await;
    let token = site.sign_in(&PrivateKeySigner::random()).await;
    for path in [
        "/api/v1/auth/session",
        "/api/v1/auth/nonce",
        "/api/v1/patients",
        "/api/openapi.json",
        "/fhir/metadata",
        "/fhir/Condition",
        "/api/v1/no-such-thing",
    ] {
        let (status, headers, _) = site.page(path, Some(&token)).await;
        assert_eq!(
            headers.get(header::CACHE_CONTROL).map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{path} ({status}): Cache-Control"
        );
        assert_eq!(
            headers
                .get(header::X_CONTENT_TYPE_OPTIONS)
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{path} ({status}): X-Content-Type-Options"
        );
        assert!(
            !headers.contains_key(header::STRICT_TRANSPORT_SECURITY),
            "{path}: no HSTS over plain http"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["", "medledger.db", "metrics.token", "master.key", "relayer.key"] {
            let mode = std::fs::metadata(site.dir.join(file))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode & 0o077, 0, "{file:?} is the owner's alone: {mode:o}");
        }
    }
    site.close().await;

    let site = Site::open_at(Origin {
        scheme: "https".into(),
        host: "records.example.org".into(),
    })
    .await;
    for path in ["/", "/api/v1/auth/nonce", "/fhir/metadata"] {
        let (_, headers, _) = site.page(path, None).await;
        let hsts = headers
            .get(header::STRICT_TRANSPORT_SECURITY)
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            hsts.as_deref().is_some_and(|h| h.starts_with("max-age=31536000")),
            "{path}: {hsts:?}"
        );
    }
    site.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_what_to_fix_in_words() {
    let site = Site::open().await;
    let token = site.sign_in(&PrivateKeySigner::random()).await;
    // A path id that is no number, a body without Content-Type, a login without its fields.
    let (status, problem, _) = site
        .call("GET", "/api/v1/requests/null,null", None, Some(&token))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        !detail.contains("i64") && detail.contains("whole number"),
        "{detail}"
    );
    let (status, _, problem) = site
        .raw("POST", "/api/v1/auth/login", None, b"{}".to_vec(), None)
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Content-Type: application/json")
    );
    let (status, problem, _) = site
        .call("POST", "/api/v1/auth/login", Some(json!({"message": "x"})), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("\"signature\" is missing") && !detail.contains("line 1"),
        "{detail}"
    );
    // Signing out leaves the caller signed out, with or without a session.
    for bearer in [None, Some("not-a-session"), Some(token.as_str())] {
        let (status, _, _) = site.call("POST", "/api/v1/auth/logout", None, bearer).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{bearer:?}");
    }
    site.close().await;
}
