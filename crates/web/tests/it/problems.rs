//! Requests the API cannot even parse still get a problem document that says what to fix, and
//! change nothing.

use alloy::signers::local::PrivateKeySigner;
use axum::http::StatusCode;

use crate::sign_in::Site;

/// Method, path, Content-Type, body; the status expected and a word its detail must say.
type Case = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    StatusCode,
    &'static str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_problems_that_say_what_to_fix() {
    let site = Site::open().await;
    let token = site.sign_in(&PrivateKeySigner::random()).await;
    let json = Some("application/json");
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/v1/patients",
            json,
            b"{\"wallet\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            "JSON",
        ),
        (
            "POST",
            "/api/v1/patients",
            None,
            b"{}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "POST",
            "/api/v1/patients",
            json,
            b"{\"name\": 7}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "GET",
            "/api/v1/requests/not-a-number",
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "not-a-number",
        ),
        (
            "GET",
            "/api/v1/requests/1?wait=soon",
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "wait",
        ),
        (
            "GET",
            "/api/v1/no-such-thing",
            None,
            vec![],
            StatusCode::NOT_FOUND,
            "/api/openapi.json",
        ),
        (
            "PUT",
            "/api/v1/patients",
            json,
            b"{}".to_vec(),
            StatusCode::METHOD_NOT_ALLOWED,
            "does not take PUT",
        ),
        (
            "POST",
            "/api/v1/patients",
            json,
            vec![b' '; 300 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
            "256 KiB",
        ),
    ];
    for (method, path, content_type, body, status, says) in cases {
        let (got, kind, problem) = site.raw(method, path, content_type, body, Some(&token)).await;
        assert_eq!(got, status, "{method} {path}: {problem}");
        assert_eq!(kind, "application/problem+json", "{method} {path}");
        assert_eq!(problem["status"], status.as_u16(), "{problem}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(says),
            "{method} {path}: {detail:?} should mention {says:?}"
        );
    }
    // Nothing was stored by any of them.
    let (status, mine, _) = site.call("GET", "/api/v1/patients", None, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["patients"].as_array().map(Vec::len), Some(0), "{mine}");
    // Pages keep their own errors (HTML), untouched.
    let (status, _, html) = site.page("/no-such-page", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!html.contains("problem"), "{html}");
}

/// The largest transaction Bundle is the operator's to raise (`MEDLEDGER_MAX_TRANSACTION_MIB`),
/// never below 16 MiB; a larger one is a 413 naming the limit in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_transaction_is_the_operators_to_raise() {
    let origin = || medledger_web::Origin {
        scheme: "http".into(),
        host: "127.0.0.1:8080".into(),
    };
    let mib = |n: usize| vec![b' '; (n << 20) + 1];
    for (limit, body, too_large, says) in [
        (None, 15, false, ""),
        (None, 16, true, "16 MiB"),
        (Some(20), 19, false, ""),
        (Some(20), 20, true, "20 MiB"),
        // Set lower than 16 MiB, it stays 16.
        (Some(4), 8, false, ""),
    ] {
        let mut options = medledger_web::routes::Options::default();
        if let Some(limit) = limit {
            options.max_transaction = limit << 20;
        }
        let site = Site::open_with(origin(), options).await;
        let token = site.sign_in(&PrivateKeySigner::random()).await;
        let (status, _, outcome) = site
            .raw(
                "POST",
                "/fhir",
                Some("application/fhir+json"),
                mib(body),
                Some(&token),
            )
            .await;
        if too_large {
            assert_eq!(
                status,
                StatusCode::PAYLOAD_TOO_LARGE,
                "{limit:?}, {body} MiB: {outcome}"
            );
            assert!(
                outcome.to_string().contains(says),
                "{outcome} should say {says:?}"
            );
        } else {
            // Read whole, then refused for what it is (blank), not for its size.
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{limit:?}, {body} MiB: {outcome}"
            );
        }
    }
}
