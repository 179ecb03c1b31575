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
