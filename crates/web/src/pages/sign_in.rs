//! `/`: what this hospital is, and sign-in with a wallet (or, signed in, where to go).

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::{esc, page, viewer};
use crate::state::AppState;

/// The query of `/`.
#[derive(Debug, Deserialize)]
pub(crate) struct Next {
    /// Where to go after signing in (a path on this site).
    next: Option<String>,
}

pub(super) async fn page_of(state: &AppState, headers: &HeaderMap, next: Option<String>) -> Response {
    let viewer = match viewer(state, headers).await {
        Ok(v) => v,
        Err(p) => return super::error_page(state, None, &p),
    };
    let hospital = &state.hospital;
    let d = hospital.deployment;
    // Only a path on this site, so that sign-in cannot be made to send anyone elsewhere.
    let next = next
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_default();
    let demo = if hospital.demo {
        r#"<p class="notice"><strong>Demo setup.</strong> The public development accounts are funded and the first of
them is the admin: their keys are public, so never use this setup for real records. The demo wallet below keeps
keys in this browser only; the server never sees them.</p>"#
    } else {
        ""
    };
    let body = match &viewer {
        Some(v) => {
            let mut go = String::new();
            if v.roles.admin {
                go.push_str(r#"<li><a href="/admin">Admin: doctors, audit trail, verification</a></li>"#);
            }
            if v.roles.doctor {
                go.push_str(r#"<li><a href="/doctor_dashboard">Doctor dashboard</a></li>"#);
            }
            if v.roles.patient.is_some() {
                go.push_str(r#"<li><a href="/patient_dashboard">My record</a></li>"#);
            }
            if !v.roles.doctor {
                go.push_str(r#"<li><a href="/register_doctor">Apply to practise here as a doctor</a></li>"#);
            }
            format!(
                r#"<p>You are signed in as <code>{}</code>.</p><ul class="go">{go}</ul>
<p>A patient's record is opened by the doctor who registers them: if you are a patient and see no record, ask
your doctor to register this address.</p>"#,
                esc(&v.address.to_string())
            )
        }
        None => format!(
            r#"{demo}
<section id="sign-in" aria-labelledby="sign-in-title" data-next="{next}">
<h2 id="sign-in-title">Sign in with your wallet</h2>
<p>MedLedger never asks for your private key. Your wallet signs a sign-in message (EIP-4361) and, later, each
change you make; the hospital relays it to the chain.</p>
<div id="wallets" class="wallets"><p class="empty">Looking for wallets in this browser…</p></div>
<noscript><p class="error">Signing in needs JavaScript: your wallet lives in the browser.</p></noscript>
</section>"#,
            next = esc(&next),
        ),
    };
    let rpc = if hospital.rpc().is_some() {
        format!(
            "<p>This hospital runs its own chain: Ethereum JSON-RPC at <code>/rpc</code>, chain id {}. Add it to \
             a wallet as a network, or point <code>cast</code> at it.</p>",
            d.chain_id
        )
    } else {
        String::new()
    };
    let main = format!(
        r#"{body}
<details class="deployment"><summary>This hospital's contracts</summary>
<dl>
<dt>MedLedger contract</dt><dd><code>{ledger}</code></dd>
<dt>Forwarder (signed requests, gas paid by the hospital)</dt><dd><code>{forwarder}</code></dd>
<dt>Admin</dt><dd><code>{admin}</code></dd>
<dt>Relayer</dt><dd><code>{relayer}</code></dd>
</dl>{rpc}</details>"#,
        ledger = esc(&d.ledger.to_string()),
        forwarder = esc(&d.forwarder.to_string()),
        admin = esc(&hospital.admin.to_string()),
        relayer = esc(&hospital.relayer_account.to_string()),
    );
    let title = if viewer.is_some() { "Welcome" } else { "Sign in" };
    page(state, title, viewer.as_ref(), &main)
}

pub(super) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Response {
    page_of(&state, &headers, q.next).await
}
