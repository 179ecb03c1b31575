//! Sign-In with Ethereum over HTTP, and the attacks on it: none opens a session.

use std::sync::Arc;

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use medledger_hospital::Hospital;
use medledger_web::Origin;
use serde_json::{Value, json};
use tower::ServiceExt;

pub(crate) struct Site {
    app: Router,
    pub(crate) hospital: Arc<Hospital>,
    pub(crate) dir: std::path::PathBuf,
    temp: medledger_testkit::hospital::TempHospital,
}

impl Site {
    /// Signs `wallet` in; returns its bearer token.
    pub(crate) async fn sign_in(&self, wallet: &PrivateKeySigner) -> String {
        let text = message(wallet, &self.nonce().await, |m| m);
        let (status, body, _) = self
            .call("POST", "/api/v1/auth/login", Some(signed(wallet, &text)), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn open() -> Self {
        Self::open_at(Origin {
            scheme: "http".into(),
            host: "127.0.0.1:8080".into(),
        })
        .await
    }

    /// A site browsers reach at `origin`.
    pub(crate) async fn open_at(origin: Origin) -> Self {
        Self::open_with(origin, medledger_web::routes::Options::default()).await
    }

    /// A site with an operator's options.
    pub(crate) async fn open_with(origin: Origin, options: medledger_web::routes::Options) -> Self {
        let temp = medledger_testkit::hospital::TempHospital::open().await;
        Self {
            app: medledger_web::routes::router_with(temp.hospital.clone(), origin, options),
            hospital: temp.hospital.clone(),
            dir: temp.dir.clone(),
            temp,
        }
    }

    /// The demo's admin approves `doctors` on chain, from their own wallet.
    pub(crate) async fn approve(&self, doctors: &[alloy::primitives::Address]) {
        self.temp.approve(doctors).await;
    }

    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value, Option<String>) {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| ("authorization", b))
            .into_iter()
            .collect();
        self.call_with(method, path, body, &headers).await
    }

    /// A request with the given headers (a cookie, a CSRF token).
    pub(crate) async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value, Option<String>) {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_owned());
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        crate::contract::check(method, path, status, &content_type, &value);
        (status, value, cookie)
    }

    /// A request with a raw body and Content-Type: status, Content-Type, and the body as JSON.
    pub(crate) async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> (StatusCode, String, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        crate::contract::check(method, path, status, &content_type, &value);
        (status, content_type, value)
    }

    /// A request with the given headers and no body: status, headers, and the body as text.
    pub(crate) async fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 16 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    /// A page as a browser gets it: status, `Location` or `Content-Security-Policy`, and the HTML.
    pub(crate) async fn page(&self, path: &str, token: Option<&str>) -> (StatusCode, HeaderMap, String) {
        let mut request = Request::builder().method("GET").uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 4 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    pub(crate) async fn nonce(&self) -> String {
        let (status, body, _) = self.call("GET", "/api/v1/auth/nonce", None, None).await;
        assert_eq!(status, StatusCode::OK);
        body["nonce"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn close(self) {
        self.temp.close().await;
    }
}

pub(crate) fn message(wallet: &PrivateKeySigner, nonce: &str, edit: impl FnOnce(String) -> String) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let time = medledger_core::calendar::rfc3339;
    edit(format!(
        "127.0.0.1:8080 wants you to sign in with your Ethereum account:\n{}\n\nSign in to MedLedger.\n\n\
         URI: http://127.0.0.1:8080/\nVersion: 1\nChain ID: 19788\nNonce: {nonce}\nIssued At: {}\nExpiration Time: {}",
        wallet.address().to_checksum(None),
        time(now - 5),
        time(now + 600),
    ))
}

pub(crate) fn signed(wallet: &PrivateKeySigner, text: &str) -> Value {
    let signature = wallet.sign_message_sync(text.as_bytes()).unwrap();
    json!({ "message": text, "signature": alloy::hex::encode_prefixed(signature.as_bytes()) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_signs_in_once_and_out_again() {
    let site = Site::open().await;
    let wallet = PrivateKeySigner::random();
    let text = message(&wallet, &site.nonce().await, |m| m);
    let (status, body, cookie) = site
        .call("POST", "/api/v1/auth/login", Some(signed(&wallet, &text)), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"),
        "{cookie}"
    );
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, me, _) = site.call("GET", "/api/v1/auth/session", None, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me["address"].as_str().unwrap().to_lowercase(),
        wallet.address().to_string().to_lowercase()
    );

    // The same message again: its nonce is spent.
    let (status, problem, _) = site
        .call("POST", "/api/v1/auth/login", Some(signed(&wallet, &text)), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        problem["detail"].as_str().unwrap().contains("already used"),
        "{problem}"
    );

    let (status, _, cleared) = site.call("POST", "/api/v1/auth/logout", None, Some(&token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(cleared.unwrap().contains("Max-Age=0"));
    let (status, problem, _) = site.call("GET", "/api/v1/auth/session", None, Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["status"], 401);
    let (status, _, _) = site.call("GET", "/api/v1/auth/session", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // /metrics is the operator's: anyone else is refused, even with a user's session.
    for authorization in [
        None,
        Some(format!("Bearer {token}")),
        Some("Bearer wrong".to_owned()),
    ] {
        let mut request = Request::builder().uri("/metrics");
        if let Some(value) = &authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let response = site
            .app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{authorization:?}");
    }
    // What an operator's Prometheus sees of it, with the token from the data directory.
    let operator = std::fs::read_to_string(site.dir.join("metrics.token")).unwrap();
    let response = site
        .app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/metrics")
                .header(header::AUTHORIZATION, format!("Bearer {}", operator.trim()))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(
        axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let count = |line: &str| -> u64 {
        let found = text
            .lines()
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("{line} in {text}"));
        found.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(
        count("medledger_http_responses_total{class=\"2xx\"}") >= 3,
        "{text}"
    );
    assert!(
        count("medledger_http_responses_total{class=\"4xx\"}") >= 3,
        "{text}"
    );
    assert!(count("medledger_chain_head_block") >= 2, "{text}");
    assert!(count("medledger_audit_records") == 0, "{text}");
    assert!(text.contains("# TYPE medledger_requests gauge"), "{text}");
    site.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_attack_on_sign_in_opens_a_session() {
    let site = Site::open().await;
    let wallet = PrivateKeySigner::random();
    type Edit = Box<dyn FnOnce(String) -> String + Send>;
    let attacks: Vec<(&str, &str, Edit)> = vec![
        (
            "another domain",
            "domain",
            Box::new(|m| m.replacen("127.0.0.1:8080 wants", "evil.example wants", 1)),
        ),
        (
            "another scheme",
            "scheme",
            Box::new(|m| m.replacen("127.0.0.1:8080 wants", "https://127.0.0.1:8080 wants", 1)),
        ),
        (
            "another chain",
            "chain id",
            Box::new(|m| m.replace("Chain ID: 19788", "Chain ID: 1")),
        ),
        (
            "expired",
            "expired",
            Box::new(|m| {
                let at = m.find("Expiration Time: ").unwrap();
                format!("{}Expiration Time: 2020-01-01T00:00:00Z", &m[..at])
            }),
        ),
        (
            "future-dated",
            "future",
            Box::new(|m| {
                let at = m.find("Issued At: ").unwrap();
                let rest = &m[at..];
                let end = rest.find('\n').unwrap();
                format!("{}Issued At: 2099-01-01T00:00:00Z{}", &m[..at], &rest[end..])
            }),
        ),
    ];
    for (what, why, edit) in attacks {
        let text = message(&wallet, &site.nonce().await, edit);
        let (status, problem, _) = site
            .call("POST", "/api/v1/auth/login", Some(signed(&wallet, &text)), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {problem}");
        assert_eq!(problem["title"], "Not signed in", "{what}");
        assert!(
            problem["detail"].as_str().unwrap().contains(why),
            "{what}: refused, but for {problem}"
        );
    }

    // A byte changed after signing.
    let text = message(&wallet, &site.nonce().await, |m| m);
    let mut body = signed(&wallet, &text);
    body["message"] = json!(text.replace("Sign in to MedLedger.", "Sign in to MedLedgeR."));
    let (status, problem, _) = site.call("POST", "/api/v1/auth/login", Some(body), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");

    // A nonce this server never issued.
    let text = message(&wallet, "deadbeefdeadbeef", |m| m);
    let (status, _, _) = site
        .call("POST", "/api/v1/auth/login", Some(signed(&wallet, &text)), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // One message sent twice at once: one session, not two.
    let text = message(&wallet, &site.nonce().await, |m| m);
    let body = signed(&wallet, &text);
    let (a, b) = tokio::join!(
        site.call("POST", "/api/v1/auth/login", Some(body.clone()), None),
        site.call("POST", "/api/v1/auth/login", Some(body), None)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED]);

    // Garbage gets a 400 that says what to fix.
    let (status, problem, _) = site
        .call(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"message": text, "signature": "0xzz"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"].as_str().unwrap().contains("hexadecimal"),
        "{problem}"
    );
    site.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_with_the_session_cookie_need_the_csrf_token() {
    let site = Site::open().await;
    let wallet = PrivateKeySigner::random();
    let text = message(&wallet, &site.nonce().await, |m| m);
    let (status, login, _) = site
        .call("POST", "/api/v1/auth/login", Some(signed(&wallet, &text)), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let token = login["token"].as_str().unwrap();
    let csrf = login["csrfToken"].as_str().unwrap();
    let cookie = format!("medledger_session={token}");
    let apply = || Some(json!({"name": "Dr. Forged", "licence": "X-1"}));

    // Another site can make the browser send the cookie, but cannot know the token.
    for headers in [
        vec![("cookie", cookie.as_str())],
        vec![
            ("cookie", cookie.as_str()),
            ("x-csrf-token", "00000000000000000000000000000000"),
        ],
    ] {
        let (status, reply, _) = site
            .call_with("POST", "/api/v1/doctors/applications", apply(), &headers)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
        assert!(
            reply["detail"].as_str().unwrap().contains("X-CSRF-Token"),
            "{reply}"
        );
        let (status, _, _) = site
            .call_with("POST", "/api/v1/auth/logout", None, &headers)
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "sign-out by cookie needs the token too"
        );
    }
    assert!(
        site.hospital
            .store
            .doctor_application(wallet.address())
            .await
            .unwrap()
            .is_none(),
        "a refused change stores nothing"
    );
    // Reads need no token; the session says which token changes need.
    let (status, session, _) = site
        .call_with(
            "GET",
            "/api/v1/auth/session",
            None,
            &[("cookie", cookie.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session["csrfToken"], csrf);
    let (status, reply, _) = site
        .call_with(
            "POST",
            "/api/v1/doctors/applications",
            apply(),
            &[("cookie", cookie.as_str()), ("x-csrf-token", csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    // A bearer token is no ambient credential: it needs no CSRF token.
    let (status, reply, _) = site
        .call("POST", "/api/v1/doctors/applications", apply(), Some(token))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    site.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_server_accepts_its_other_loopback_names_only() {
    let site = Site::open().await;
    let wallet = PrivateKeySigner::random();
    for (domain, uri, accepted) in [
        ("localhost:8080", "http://localhost:8080/", true),
        ("[::1]:8080", "http://[::1]:8080/", true),
        ("localhost:9090", "http://localhost:9090/", false),
        ("records.example.org", "http://records.example.org/", false),
    ] {
        let text = message(&wallet, &site.nonce().await, |m| {
            m.replace("127.0.0.1:8080 wants", &format!("{domain} wants"))
                .replace("URI: http://127.0.0.1:8080/", &format!("URI: {uri}"))
        });
        let (status, reply, _) = site
            .call("POST", "/api/v1/auth/login", Some(signed(&wallet, &text)), None)
            .await;
        let want = if accepted {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, want, "{domain}: {reply}");
    }
    site.close().await;
}
