//! `/admin` (doctors and applications, the audit trail, the verification report) and
//! `/register_doctor` (apply).

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use maud::{Markup, html};

use super::html::{Input, api_form};
use super::{Table, Viewer, code, error_page, page, short, utc};
use crate::error::AppError;
use crate::state::AppState;

/// The query of `/admin`.
#[derive(Debug, Deserialize)]
pub(crate) struct AdminQuery {
    /// Run the verification report.
    verify: Option<String>,
}

pub(super) async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<AdminQuery>,
) -> Response {
    if !viewer.roles.admin {
        let main = html! { p { "This page is for the hospital's admins; this address is not one." } };
        return page(&state, "Admin", Some(&viewer), main);
    }
    match render(&state, &viewer, q.verify.is_some()).await {
        Ok(main) => page(&state, "Admin", Some(&viewer), main),
        Err(p) => error_page(&state, Some(&viewer), &p),
    }
}

async fn render(state: &AppState, viewer: &Viewer, verify: bool) -> Result<Markup, AppError> {
    let doctors = state.hospital.records.directory(viewer.address).await?;
    let mut table = Table::new(
        "Doctors and applicants",
        &[
            "Name",
            "Licence",
            "Speciality",
            "Address",
            "Applied",
            "Status",
            "",
        ],
    );
    for d in &doctors {
        let url = format!("/api/v1/doctors/{}/approval", d.address);
        let action = if d.approved {
            api_form("DELETE", &url, "none", html! {}, "Revoke")
        } else {
            api_form("POST", &url, "none", html! {}, "Approve")
        };
        table.row(
            if d.approved { "" } else { "pending" },
            vec![
                html! { (d.name.as_deref().unwrap_or("(no application)")) },
                html! { (d.licence.as_deref().unwrap_or("")) },
                html! { (d.speciality.as_deref().unwrap_or("")) },
                code(&d.address.to_string()),
                html! { (d.applied_at.map(utc).unwrap_or_default()) },
                html! { @if d.approved { "approved" } @else { "waiting for approval" } },
                action,
            ],
        );
    }
    let audit = state.hospital.store.audit_log_newest(100).await?;
    let integrity = state.hospital.records.log_integrity().await?;
    let mut trail = Table::new(
        "The newest 100 audit records (hash-chained, anchored on chain)",
        &["#", "When", "Who", "What", "Patient", "Outcome"],
    );
    for r in &audit {
        let e = &r.event;
        let emergency = e.action.contains("emergency") || e.detail.contains("emergency");
        let class = if integrity.altered(r.sequence) {
            "tampered"
        } else if emergency {
            "emergency"
        } else {
            ""
        };
        trail.row(
            class,
            vec![
                html! { (r.sequence) },
                html! { (utc(e.at)) },
                code(&e.actor.to_string()),
                html! { (format!("{} {}", e.action, e.detail).trim()) },
                html! { (e.patient.map(|p| short(&p.to_string())).unwrap_or_default()) },
                html! { (e.outcome) },
            ],
        );
    }
    let report = if verify {
        verification(state, viewer.address).await?
    } else {
        html! {
            p {
                a href="/admin?verify=1#h-verify" { "Run the verification report" }
                ": every stored entry and the audit log, checked against the chain (what "
                code { "medledger verify" } " prints)."
            }
        }
    };
    Ok(html! {
        section aria-labelledby="h-doctors" {
            h2 #h-doctors { "Doctors" }
            (table.render("Nobody has applied yet; doctors apply at /register_doctor."))
        }
        section aria-labelledby="h-verify" { h2 #h-verify { "Verification" } (report) }
        section aria-labelledby="h-audit" {
            h2 #h-audit { "Audit trail" }
            @if integrity.intact {
                p {
                    span.badge.ok { "Intact" }
                    " " (integrity.records) " record(s) re-derived"
                    @if let Some(n) = integrity.anchored_through { "; anchored on chain through record " (n) }
                    "."
                }
            } @else {
                p.error {
                    span.badge.bad { "The audit log does not verify" }
                    " " (integrity.describe()) ": the records below may be incomplete or altered."
                }
            }
            (trail.render("The audit log is empty."))
        }
    })
}

async fn verification(state: &AppState, viewer: alloy::primitives::Address) -> Result<Markup, AppError> {
    let report = state
        .hospital
        .records
        .verify_as(viewer, state.hospital.verify_options())
        .await?;
    let mut table = Table::new("Findings", &["Finding", "Where"]);
    for e in report.entries.iter().filter(|e| e.verdict.is_finding()) {
        let verdict = serde_json::to_value(e.verdict).map_err(AppError::internal)?;
        let mut place = String::new();
        if let Some(p) = e.patient {
            place += &format!("patient {p}");
        }
        if let Some(r) = e.record {
            place += &format!(" record {r} revision {}", e.revision.unwrap_or(0));
        }
        table.row(
            "rejected",
            vec![html! { (verdict.as_str().unwrap_or("")) }, html! { (place) }],
        );
    }
    for f in &report.audit {
        let text = serde_json::to_string(f).map_err(AppError::internal)?;
        table.row("rejected", vec![html! { "audit log" }, html! { (text) }]);
    }
    for f in &report.store {
        let text = serde_json::to_string(f).map_err(AppError::internal)?;
        table.row(
            "rejected",
            vec![html! { "store disagrees with the chain" }, html! { (text) }],
        );
    }
    let findings = report.findings();
    Ok(html! {
        @if findings == 0 {
            p { span.badge.ok { "Clean" } " every entry and the audit log match the chain." }
        } @else {
            p { span.badge.bad { (findings) " finding(s)" } }
        }
        p {
            (report.stored_entries) " stored entries, " (report.chain_entries) " commitments on chain, "
            (report.audit_records) " audit records, " (report.audit_anchors) " audit anchors checked; "
            (report.audit_unanchored) " audit record(s) after the last anchor, not yet protected on chain."
        }
        (table.render("No findings."))
    })
}

pub(super) async fn apply(State(state): State<AppState>, viewer: Viewer) -> Response {
    let current = match state.hospital.store.doctor_application(viewer.address).await {
        Ok(a) => a,
        Err(e) => return error_page(&state, Some(&viewer), &AppError::internal(e)),
    };
    let status = match (&current, viewer.roles.doctor) {
        (_, true) => html! {
            p.notice { "You are an approved doctor: " a href="/doctor_dashboard" { "open your dashboard" } "." }
        },
        (Some(a), false) => html! {
            p.notice {
                "Your application as " strong { (a.name) } " (licence " (a.licence) ") of " (utc(a.applied_at))
                " is waiting for an admin. You may correct it below."
            }
        },
        (None, false) => html! {},
    };
    let text = |name, label, maxlength, required| Input {
        name,
        label,
        kind: "text",
        required,
        maxlength: Some(maxlength),
        ..Input::default()
    };
    let form = api_form(
        "POST",
        "/api/v1/doctors/applications",
        "fields",
        html! {
            (text("name", "Your name, as patients will see it", 200, true).render())
            (text("licence", "Licence number", 100, true).render())
            (text("speciality", "Speciality (optional)", 100, false).render())
        },
        "Apply",
    );
    let main = html! {
        (status)
        p {
            "Apply to practise at this hospital. An admin checks your licence and approves your wallet address \\
             on the chain; then you can register patients and, with their consent, read and write their records."
        }
        (form)
    };
    page(&state, "Apply as a doctor", Some(&viewer), main)
}
