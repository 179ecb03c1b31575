//! `/admin` (doctors and applications, the audit trail, the verification report) and
//! `/register_doctor` (apply).

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::html::{api_form, input};
use super::{Table, Viewer, error_page, esc, page, require_viewer, short, utc};
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
    headers: HeaderMap,
    Query(q): Query<AdminQuery>,
) -> Response {
    let viewer = match require_viewer(&state, &headers, "/admin").await {
        Ok(Ok(v)) => v,
        Ok(Err(redirect)) => return redirect,
        Err(p) => return error_page(&state, None, &p),
    };
    if !viewer.roles.admin {
        let main = "<p>This page is for the hospital's admins; this address is not one.</p>";
        return page(&state, "Admin", Some(&viewer), main);
    }
    match render(&state, &viewer, q.verify.is_some()).await {
        Ok(main) => page(&state, "Admin", Some(&viewer), &main),
        Err(p) => error_page(&state, Some(&viewer), &p),
    }
}

async fn render(state: &AppState, viewer: &Viewer, verify: bool) -> Result<String, AppError> {
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
        let address = &d.address.to_string();
        let approved = d.approved;
        let action = if approved {
            api_form(
                "DELETE",
                &format!("/api/v1/doctors/{address}/approval"),
                "none",
                "",
                "Revoke",
            )
        } else {
            api_form(
                "POST",
                &format!("/api/v1/doctors/{address}/approval"),
                "none",
                "",
                "Approve",
            )
        };
        table.row(
            if approved { "" } else { "pending" },
            vec![
                esc(d.name.as_deref().unwrap_or("(no application)")),
                esc(d.licence.as_deref().unwrap_or("")),
                esc(d.speciality.as_deref().unwrap_or("")),
                format!(
                    r#"<code title="{a}">{s}</code>"#,
                    a = esc(address),
                    s = esc(&short(address))
                ),
                esc(&d.applied_at.map(utc).unwrap_or_default()),
                if approved {
                    "approved"
                } else {
                    "waiting for approval"
                }
                .into(),
                action,
            ],
        );
    }
    let audit = state
        .hospital
        .store
        .audit_log_newest(100)
        .await
        .map_err(AppError::internal)?;
    let integrity = state
        .hospital
        .records
        .log_integrity()
        .await
        .map_err(AppError::from)?;
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
                r.sequence.to_string(),
                esc(&utc(e.at)),
                format!(
                    r#"<code title="{a}">{s}</code>"#,
                    a = esc(&e.actor.to_string()),
                    s = esc(&short(&e.actor.to_string()))
                ),
                esc(format!("{} {}", e.action, e.detail).trim()),
                esc(&e.patient.map(|p| short(&p.to_string())).unwrap_or_default()),
                esc(&e.outcome),
            ],
        );
    }
    let report = if verify {
        verification(state, viewer.address).await?
    } else {
        r#"<p><a href="/admin?verify=1#h-verify">Run the verification report</a>: every stored entry and the audit log,
checked against the chain (what <code>medledger verify</code> prints).</p>"#
            .into()
    };
    Ok(format!(
        r#"<section aria-labelledby="h-doctors"><h2 id="h-doctors">Doctors</h2>{doctors}</section>
<section aria-labelledby="h-verify"><h2 id="h-verify">Verification</h2>{report}</section>
<section aria-labelledby="h-audit"><h2 id="h-audit">Audit trail</h2>{banner}{trail}</section>"#,
        banner = if integrity.intact {
            format!(
                r#"<p><span class="badge ok">Intact</span> {} record(s) re-derived{}.</p>"#,
                integrity.records,
                integrity
                    .anchored_through
                    .map(|n| format!("; anchored on chain through record {n}"))
                    .unwrap_or_default()
            )
        } else {
            format!(
                r#"<p class="error"><span class="badge bad">The audit log does not verify</span> {}: the records below may be incomplete or altered.</p>"#,
                esc(&integrity.describe())
            )
        },
        doctors = table.render("Nobody has applied yet; doctors apply at /register_doctor."),
        trail = trail.render("The audit log is empty."),
    ))
}

async fn verification(state: &AppState, viewer: alloy::primitives::Address) -> Result<String, AppError> {
    let report = state
        .hospital
        .records
        .verify_as(viewer, state.hospital.verify_options())
        .await
        .map_err(AppError::from)?;
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
        table.row("rejected", vec![esc(verdict.as_str().unwrap_or("")), esc(&place)]);
    }
    for f in &report.audit {
        let text = serde_json::to_string(f).map_err(AppError::internal)?;
        table.row("rejected", vec!["audit log".into(), esc(&text)]);
    }
    for f in &report.store {
        let text = serde_json::to_string(f).map_err(AppError::internal)?;
        table.row(
            "rejected",
            vec!["store disagrees with the chain".into(), esc(&text)],
        );
    }
    let findings = report.findings();
    let verdict = if findings == 0 {
        r#"<p><span class="badge ok">Clean</span> every entry and the audit log match the chain.</p>"#
            .to_owned()
    } else {
        format!(r#"<p><span class="badge bad">{findings} finding(s)</span></p>"#)
    };
    Ok(format!(
        "{verdict}<p>{} stored entries, {} commitments on chain, {} audit records, {} audit anchors checked; {} audit \
         record(s) after the last anchor, not yet protected on chain.</p>{}",
        report.stored_entries,
        report.chain_entries,
        report.audit_records,
        report.audit_anchors,
        report.audit_unanchored,
        table.render("No findings."),
    ))
}

pub(super) async fn apply(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let viewer = match require_viewer(&state, &headers, "/register_doctor").await {
        Ok(Ok(v)) => v,
        Ok(Err(redirect)) => return redirect,
        Err(p) => return error_page(&state, None, &p),
    };
    let current = match state.hospital.store.doctor_application(viewer.address).await {
        Ok(a) => a,
        Err(e) => return error_page(&state, Some(&viewer), &AppError::internal(e)),
    };
    let status = match (&current, viewer.roles.doctor) {
        (_, true) => r#"<p class="notice">You are an approved doctor: <a href="/doctor_dashboard">open your dashboard</a>.</p>"#.to_owned(),
        (Some(a), false) => format!(
            r#"<p class="notice">Your application as <strong>{}</strong> (licence {}) of {} is waiting for an admin. You may correct it below.</p>"#,
            esc(&a.name),
            esc(&a.licence),
            esc(&utc(a.applied_at))
        ),
        (None, false) => String::new(),
    };
    let form = api_form(
        "POST",
        "/api/v1/doctors/applications",
        "fields",
        &[
            input(
                "name",
                "Your name, as patients will see it",
                "text",
                r#"required maxlength="200""#,
            ),
            input("licence", "Licence number", "text", r#"required maxlength="100""#),
            input(
                "speciality",
                "Speciality (optional)",
                "text",
                r#"maxlength="100""#,
            ),
        ]
        .concat(),
        "Apply",
    );
    let main = format!(
        r#"{status}<p>Apply to practise at this hospital. An admin checks your licence and approves your wallet address
on the chain; then you can register patients and, with their consent, read and write their records.</p>{form}"#
    );
    page(&state, "Apply as a doctor", Some(&viewer), &main)
}
