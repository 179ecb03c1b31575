//! The hospital's pages, rendered on the server: sign-in (`/`), `/register_doctor`,
//! `/register_patient`, `/doctor_dashboard`, `/patient_dashboard` and `/admin`.
//!
//! Pages read through the same record flows as the JSON API, with the session cookie. Every
//! change is a form that `wallet.js` sends to the API (with the CSRF token), has the user's wallet
//! sign, and follows until it is anchored or rejected, without reloading the page. The markup is
//! maud's, which escapes every value it is given: nothing from the store or a user is ever markup.
//! Assets are served from this binary.

mod admin;
mod doctor;
mod html;
mod patient;
mod sign_in;

use alloy::primitives::Address;
use axum::Router;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use medledger_ledger::directory::Roles;
use medledger_store::requests::RequestStatus;

use crate::error::AppError;
use crate::extract::signed_in;
use crate::state::AppState;
pub(crate) use html::{Table, code, short, utc};

/// The pages and their assets.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(sign_in::show))
        .route("/register_doctor", get(admin::apply))
        .route("/register_patient", get(doctor::register))
        .route("/doctor_dashboard", get(doctor::dashboard))
        .route("/patient_dashboard", get(patient::dashboard))
        .route("/admin", get(admin::show))
        .route("/assets/{name}", get(asset))
}

const CSS: &str = include_str!("../../assets/medledger.css");
const WALLET_JS: &str = include_str!("../../assets/wallet.js");
const DEMO_WALLET_JS: &str = include_str!("../../assets/demo-wallet.js");

async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "medledger.css" => (CSS, "text/css; charset=utf-8"),
        "wallet.js" => (WALLET_JS, "text/javascript; charset=utf-8"),
        "demo-wallet.js" => (DEMO_WALLET_JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}

/// Who is looking at a page.
pub(crate) struct Viewer {
    pub(crate) address: Address,
    pub(crate) roles: Roles,
    pub(crate) csrf: Option<String>,
    /// Their requests waiting for their signature and not yet past their deadline, oldest first:
    /// `(id, purpose)`.
    pub(crate) unsigned: Vec<(i64, String)>,
}

/// How many of a viewer's unsigned requests a page lists.
const UNSIGNED_SHOWN: usize = 20;

/// The signed-in viewer, or `None` (no session, or it ended).
async fn viewer(state: &AppState, headers: &HeaderMap) -> Result<Option<Viewer>, AppError> {
    let address = match signed_in(state, headers).await {
        Ok(address) => address,
        Err(p) if p.status == StatusCode::UNAUTHORIZED => return Ok(None),
        Err(p) => return Err(p),
    };
    let roles = state
        .hospital
        .records
        .roles(address)
        .await
        .map_err(AppError::from)?;
    let csrf = crate::extract::cookie_token(headers).map(|t| crate::csrf::token_for(&t));
    // Those past their deadline hold nothing up any more (the forwarder refuses them).
    let now = medledger_store::now_ms() / 1000;
    let unsigned = state
        .hospital
        .store
        .requests_of(address, RequestStatus::AwaitingSignature, 500)
        .await
        .map_err(AppError::internal)?
        .into_iter()
        .filter(|r| r.deadline > now)
        .take(UNSIGNED_SHOWN)
        .map(|r| (r.id, r.purpose))
        .collect();
    Ok(Some(Viewer {
        address,
        roles,
        csrf,
        unsigned,
    }))
}

/// A page for a signed-in viewer: one who is not is sent to sign in and brought back to this page.
impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match viewer(state, &parts.headers).await {
            Ok(Some(viewer)) => Ok(viewer),
            Ok(None) => Err(Redirect::to(&format!("/?next={}", parts.uri.path())).into_response()),
            Err(e) => Err(error_page(state, None, &e)),
        }
    }
}

/// A page for anyone, which greets a signed-in viewer.
impl OptionalFromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Response> {
        viewer(state, &parts.headers)
            .await
            .map_err(|e| error_page(state, None, &e))
    }
}

/// A whole page around `main`.
pub(crate) fn page(state: &AppState, title: &str, viewer: Option<&Viewer>, main: Markup) -> Response {
    let hospital = &state.hospital;
    let chain_id = hospital.deployment.chain_id;
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(viewer.and_then(|v| v.csrf.as_deref()).unwrap_or(""));
                title { (title) " · MedLedger" }
                link rel="stylesheet" href="/assets/medledger.css";
                script src="/assets/wallet.js" defer {}
                @if hospital.demo { script src="/assets/demo-wallet.js" defer {} }
            }
            body data-chain-id=(chain_id) data-rpc=(if hospital.rpc().is_some() { "/rpc" } else { "" })
                data-demo=(u8::from(hospital.demo))
                data-address=(viewer.map(|v| v.address.to_string()).unwrap_or_default()) {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href="/" { "MedLedger" }
                    nav aria-label="Main" { @if let Some(v) = viewer { (navigation(v)) } }
                }
                div #flow-status role="status" aria-live="polite" {}
                main #main {
                    h1 { (title) }
                    @if let Some(v) = viewer { (unsigned(&v.unsigned)) }
                    (main)
                }
                footer {
                    "Records are encrypted here and anchored on chain " (chain_id)
                    "; every read is checked against it."
                }
            }
        }
    };
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        Html(html.into_string()),
    )
        .into_response()
}

/// The links a viewer's roles open, and who they are signed in as.
fn navigation(v: &Viewer) -> Markup {
    let mut links = vec![];
    if v.roles.admin {
        links.push(("/admin", "Admin"));
    }
    if v.roles.doctor {
        links.push(("/doctor_dashboard", "Doctor"));
        links.push(("/register_patient", "Register a patient"));
    } else {
        links.push(("/register_doctor", "Apply as a doctor"));
    }
    if v.roles.patient.is_some() {
        links.push(("/patient_dashboard", "My record"));
    }
    let address = v.address.to_string();
    html! {
        @for (href, label) in links { a href=(href) { (label) } }
        span.who title=(address) { "Signed in as " code { (short(&address)) } }
        button.link type="button" data-sign-out { "Sign out" }
    }
}

/// The viewer's requests that wait for their signature, each with a Sign and a Decline button. A
/// request left unsigned (a tab closed while the wallet asked, or one re-offered with a new nonce
/// after an earlier one was declined or refused) holds its forwarder nonce, so the signer's later
/// requests wait behind it until it is signed, declined, or past its deadline.
fn unsigned(requests: &[(i64, String)]) -> Markup {
    if requests.is_empty() {
        return html! {};
    }
    let mut table = Table::new(
        "Your requests waiting for your signature, oldest first",
        &["Request", "What", "Action"],
    );
    for (id, purpose) in requests {
        let url = format!("/api/v1/requests/{id}");
        table.row(
            "",
            vec![
                html! { (id) },
                html! { (purpose.replace('-', " ")) },
                html! {
                    form.api.inline data-method="GET" data-url=(url) data-build="none" {
                        button type="submit" { "Sign request " (id) }
                    }
                    form.api.inline data-method="DELETE" data-url=(url) data-build="none"
                        data-done=(format!("Declined request {id}: nothing of it was sent to the chain.")) {
                        button type="submit" { "Decline request " (id) }
                    }
                },
            ],
        );
    }
    html! {
        section.unsigned aria-labelledby="h-unsigned" {
            h2 #h-unsigned { "Waiting for your signature" }
            p {
                "Your wallet was asked to sign these and has not (or must sign again: an earlier request was \
                 declined or refused, so they moved up in your queue). Each holds up your later requests until \
                 it is signed or declined: sign it, or, if you did not mean to, decline it."
            }
            (table.render(""))
        }
    }
}

/// A page that says what went wrong, with the error's status.
pub(crate) fn error_page(state: &AppState, viewer: Option<&Viewer>, error: &AppError) -> Response {
    let body = html! {
        p.error { (error.detail) }
        p { a href="/" { "Back to the start" } }
    };
    let mut response = page(state, error.title, viewer, body);
    *response.status_mut() = error.status;
    response
}
