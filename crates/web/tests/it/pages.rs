//! The pages as a browser gets them: what users typed comes back escaped, a page needs a session,
//! and every page carries a strict Content-Security-Policy. (The flows themselves run in Chromium:
//! crates/cli/tests/it/browser.rs.)

use alloy::signers::local::PrivateKeySigner;
use axum::http::{StatusCode, header};
use serde_json::json;

use crate::records::DEMO_ADMIN_KEY;
use crate::sign_in::Site;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_escape_what_users_typed_and_need_a_session() {
    let site = Site::open().await;
    let applicant = PrivateKeySigner::random();
    let admin: PrivateKeySigner = DEMO_ADMIN_KEY.parse().unwrap();
    let applicant_token = site.sign_in(&applicant).await;
    let admin_token = site.sign_in(&admin).await;
    let hostile = r#"<script>alert("x")</script><img src=x onerror=alert(1)>"#;
    let (status, reply, _) = site
        .call(
            "POST",
            "/api/v1/doctors/applications",
            Some(json!({"name": hostile, "licence": "L'1\"", "speciality": "<b>cardio</b>"})),
            Some(&applicant_token),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");

    let (status, headers, html) = site.page("/admin", Some(&admin_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    // (A single quote needs no escaping in text or in a double-quoted attribute.)
    assert!(html.contains("L'1&quot;") && html.contains("&lt;b&gt;cardio&lt;/b&gt;"));
    assert!(!html.contains("<script>alert") && !html.contains("<img src=x"));
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(html.contains(&format!(r#"data-address="{}""#, admin.address())));

    // The applicant sees their own application waiting; the admin page is not theirs.
    let (_, _, html) = site.page("/register_doctor", Some(&applicant_token)).await;
    assert!(html.contains("waiting for an admin") && html.contains("&lt;script&gt;"));
    let (_, _, html) = site.page("/admin", Some(&applicant_token)).await;
    assert!(
        html.contains("not one") && !html.contains("L&#39;1"),
        "the admin page shows nothing to others"
    );

    // Without a session a page sends the browser to sign in, and back.
    for path in [
        "/admin",
        "/doctor_dashboard",
        "/patient_dashboard",
        "/register_patient",
        "/register_doctor",
    ] {
        let (status, headers, _) = site.page(path, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers[header::LOCATION], format!("/?next={path}").as_str());
    }
    // The sign-in page offers wallets and escapes where it sends the user next.
    let (status, _, html) = site.page("/?next=/admin%22%3E%3Cscript%3E", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"id="wallets""#) && !html.contains("\"><script>"),
        "{html}"
    );
    let (_, _, html) = site.page("/?next=//evil.example/", None).await;
    assert!(
        html.contains(r#"data-next="""#),
        "only a path on this site is kept"
    );
    site.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_list_the_viewers_unsigned_requests_to_decline() {
    let site = Site::open().await;
    let admin: PrivateKeySigner = DEMO_ADMIN_KEY.parse().unwrap();
    let admin_token = site.sign_in(&admin).await;
    let (_, _, html) = site.page("/admin", Some(&admin_token)).await;
    assert!(
        !html.contains("Waiting for your signature"),
        "nothing unsigned yet"
    );

    // A request the admin's wallet never signed (the tab was closed while it asked).
    let applicant = PrivateKeySigner::random().address();
    let approval = format!("/api/v1/doctors/{applicant}/approval");
    let (status, accepted, _) = site.call("POST", &approval, None, Some(&admin_token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["requestId"].as_i64().unwrap();
    let decline = format!(r#"data-method="DELETE" data-url="/api/v1/requests/{id}""#);
    for path in ["/admin", "/register_doctor"] {
        let (_, _, html) = site.page(path, Some(&admin_token)).await;
        assert!(
            html.contains("Waiting for your signature") && html.contains(&decline),
            "{path} offers to decline request {id}: {html}"
        );
    }
    // Only its signer sees it.
    let other = site.sign_in(&PrivateKeySigner::random()).await;
    let (_, _, html) = site.page("/register_doctor", Some(&other)).await;
    assert!(!html.contains("Waiting for your signature"));

    // Declined (what the button sends), it is gone from the page.
    let (status, reply, _) = site
        .call(
            "DELETE",
            &format!("/api/v1/requests/{id}"),
            None,
            Some(&admin_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let (_, _, html) = site.page("/admin", Some(&admin_token)).await;
    assert!(!html.contains("Waiting for your signature"), "{html}");
}
