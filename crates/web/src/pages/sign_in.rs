//! `/`: what this hospital is, and sign-in with a wallet (or, signed in, where to go).

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use maud::html;

use super::{Viewer, page};
use crate::state::AppState;

/// The query of `/`.
#[derive(Debug, Deserialize)]
pub(crate) struct Next {
    /// Where to go after signing in (a path on this site).
    next: Option<String>,
}

pub(super) async fn page_of(state: &AppState, viewer: Option<Viewer>, next: Option<String>) -> Response {
    let hospital = &state.hospital;
    let d = hospital.deployment;
    // Only a path on this site, so that sign-in cannot be made to send anyone elsewhere.
    let next = next
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_default();
    let body = match &viewer {
        Some(v) => html! {
            p { "You are signed in as " code { (v.address) } "." }
            ul.go {
                @if v.roles.admin { li { a href="/admin" { "Admin: doctors, audit trail, verification" } } }
                @if v.roles.doctor { li { a href="/doctor_dashboard" { "Doctor dashboard" } } }
                @if v.roles.patient.is_some() { li { a href="/patient_dashboard" { "My record" } } }
                @if !v.roles.doctor { li { a href="/register_doctor" { "Apply to practise here as a doctor" } } }
            }
            p {
                "A patient's record is opened by the doctor who registers them: if you are a patient and see \
                 no record, ask your doctor to register this address."
            }
        },
        None => html! {
            @if hospital.demo {
                p.notice {
                    strong { "Demo setup." }
                    " The public development accounts are funded and the first of them is the admin: their keys \
                     are public, so never use this setup for real records. The demo wallet below keeps keys in \
                     this browser only; the server never sees them."
                }
            }
            section #sign-in aria-labelledby="sign-in-title" data-next=(next) {
                h2 #sign-in-title { "Sign in with your wallet" }
                p {
                    "MedLedger never asks for your private key. Your wallet signs a sign-in message (EIP-4361) \
                     and, later, each change you make; the hospital relays it to the chain."
                }
                div #wallets .wallets { p.empty { "Looking for wallets in this browser…" } }
                noscript { p.error { "Signing in needs JavaScript: your wallet lives in the browser." } }
            }
        },
    };
    let main = html! {
        (body)
        details.deployment {
            summary { "This hospital's contracts" }
            dl {
                dt { "MedLedger contract" } dd { code { (d.ledger) } }
                dt { "Forwarder (signed requests, gas paid by the hospital)" } dd { code { (d.forwarder) } }
                dt { "Admin" } dd { code { (hospital.admin) } }
                dt { "Relayer" } dd { code { (hospital.relayer_account) } }
            }
            @if hospital.rpc().is_some() {
                p {
                    "This hospital runs its own chain: Ethereum JSON-RPC at " code { "/rpc" } ", chain id "
                    (d.chain_id) ". Add it to a wallet as a network, or point " code { "cast" } " at it."
                }
            }
        }
    };
    let title = if viewer.is_some() { "Welcome" } else { "Sign in" };
    page(state, title, viewer.as_ref(), main)
}

pub(super) async fn show(
    State(state): State<AppState>,
    viewer: Option<Viewer>,
    Query(q): Query<Next>,
) -> Response {
    page_of(&state, viewer, q.next).await
}
