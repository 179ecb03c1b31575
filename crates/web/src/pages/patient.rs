//! `/patient_dashboard`: my history with its proofs, who may read it, and who did.

use axum::extract::State;
use axum::response::Response;
use medledger_core::entry::EntryKind;
use medledger_core::entry::PatientId;
use medledger_ledger::records::{Proof, ReadEntry};

use maud::{Markup, html};

use super::html::{Input, api_form, summary, until};
use super::{Table, Viewer, code, error_page, page, short, utc};
use crate::error::AppError;
use crate::state::AppState;

/// The name of an entry's kind, as a page shows it.
pub(crate) fn kind_name(kind: u8) -> &'static str {
    EntryKind::try_from(kind).map_or("Unknown", EntryKind::label)
}

/// The proof column: verified (block, transaction, commitment), pending, rejected, tampered or
/// missing from this store.
fn proof(p: &Proof) -> (Markup, &'static str) {
    match p {
        Proof::Verified {
            version,
            tx_hash,
            block_number,
            commitment,
        } => (
            html! {
                span.badge.ok { "Verified" } " version " (version) ", block " (block_number) br;
                "tx " (code(&tx_hash.to_string())) br;
                "commitment " (code(&commitment.to_string()))
            },
            "",
        ),
        Proof::Pending => (html! { span.badge.pending { "Pending" } }, "pending"),
        Proof::Rejected { reason } => (html! { span.badge.bad { "Rejected" } " " (reason) }, "rejected"),
        Proof::Tampered { why, version } => (
            html! {
                span.badge.bad { "Does not verify" }
                @if let Some(v) = version { " version " (v) ":" }
                " " (why) "; its content is withheld"
            },
            "tampered",
        ),
        Proof::Missing {
            version,
            block_number,
            why,
            ..
        } => (
            html! { span.badge.bad { "Missing" } " version " (version) ", block " (block_number) ": " (why) },
            "tampered",
        ),
    }
}

/// A patient's history as a table; `amend` adds an "Amend" button per entry (for doctors).
pub(crate) fn history_table(entries: &[ReadEntry], amend: bool) -> Markup {
    let mut table = Table::new(
        "History, newest first, each entry checked against the chain",
        &["Recorded", "Kind", "Entry", "Author", "Proof"],
    );
    // Records with a newer revision the store lacks (or holds altered): none of theirs is current.
    let outdated: Vec<&str> = entries
        .iter()
        .filter(|e| matches!(e.proof, Proof::Missing { .. } | Proof::Tampered { .. }))
        .filter_map(|e| e.record.as_deref())
        .collect();
    for e in entries.iter().rev() {
        let content = e.content.as_ref().map(|c| c.value());
        let (what, detail) = match (&e.proof, content.as_ref()) {
            (Proof::Missing { .. }, _) => (
                "(held on chain, missing from this store)".to_owned(),
                String::new(),
            ),
            (Proof::Rejected { .. }, None) => {
                ("(never signed: its content was erased)".to_owned(), String::new())
            }
            (_, None) => ("(content withheld)".to_owned(), String::new()),
            (_, Some(_)) => summary(content.as_ref()),
        };
        let (proof, class) = proof(&e.proof);
        let record = e.record.as_deref().unwrap_or_default();
        let not_current = e.proof.is_verified() && outdated.contains(&record);
        let amendable = amend
            && e.proof.is_verified()
            && e.kind != EntryKind::Demographics as u8
            && !outdated.contains(&record);
        let entry = html! {
            strong { (what) }
            @if !detail.is_empty() { br; (detail) }
            @if let Some(revision) = e.revision.filter(|r| *r > 1) { br; small { "revision " (revision) } }
            @if not_current {
                br; span.badge.bad { "Not current" } " a newer revision is held on chain and missing from this store"
            }
            @if amendable {
                br;
                button.link type="button" data-amend=(record)
                    data-kind=(kind_name(e.kind).to_ascii_lowercase()) data-what=(what) { "Amend" }
            }
        };
        table.row(
            class,
            vec![
                html! { (e.recorded_at.map(utc).unwrap_or_else(|| "—".into())) },
                html! { (kind_name(e.kind)) },
                entry,
                code(&e.author.to_string()),
                proof,
            ],
        );
    }
    table.render("No entries yet.")
}

pub(super) async fn dashboard(State(state): State<AppState>, viewer: Viewer) -> Response {
    let Some(patient) = viewer.roles.patient else {
        let main = html! {
            p {
                "This address has no patient record here. A doctor opens your record by registering your \
                 wallet address; ask yours to do so, then sign in again."
            }
        };
        return page(&state, "My record", Some(&viewer), main);
    };
    match render(&state, &viewer, patient).await {
        Ok(main) => page(&state, "My record", Some(&viewer), main),
        Err(p) => error_page(&state, Some(&viewer), &p),
    }
}

async fn render(state: &AppState, viewer: &Viewer, patient: PatientId) -> Result<Markup, AppError> {
    let records = &state.hospital.records;
    let history = records.history(viewer.address, patient).await?;
    let grants = records.grants(viewer.address, patient).await?;
    let emergencies = records.emergencies(viewer.address, patient).await?;
    let doctors = state.hospital.records.directory(viewer.address).await?;
    let audit = records.trail(viewer.address, patient).await?;
    let who = |address: &alloy::primitives::Address| -> Markup {
        let name = doctors
            .iter()
            .find(|d| d.address == *address)
            .and_then(|d| d.name.clone())
            .unwrap_or_default();
        let label = if *address == viewer.address {
            "you".to_owned()
        } else if name.is_empty() {
            short(&address.to_string())
        } else {
            name
        };
        html! { span title=(address) { (label) } }
    };
    let base = format!("/api/v1/patients/{patient}");

    let mut access = Table::new(
        "Doctors who may read my record",
        &["Doctor", "Consent", "Emergency access", ""],
    );
    for g in grants.iter().filter(|g| g.open) {
        let revoke = api_form(
            "DELETE",
            &format!("{base}/consents/{}", g.doctor),
            "none",
            html! {},
            "Revoke",
        );
        let class = if g.emergency_expires_at > medledger_store::now_ms() / 1000 {
            "emergency"
        } else {
            ""
        };
        access.row(
            class,
            vec![
                who(&g.doctor),
                html! { (until(g.consent_expires_at)) },
                html! { (until(g.emergency_expires_at)) },
                revoke,
            ],
        );
    }
    let until_field = Input {
        name: "expiresAt",
        label: "Until (optional; empty: until I revoke it)",
        kind: "date",
        ..Input::default()
    };
    let grant = api_form(
        "POST",
        &format!("{base}/consents"),
        "consent",
        html! {
            label for="f-doctor" { "Doctor" }
            select #f-doctor name="doctor" required {
                @for d in &doctors {
                    option value=(d.address) {
                        @match (d.name.as_deref(), d.speciality.as_deref()) {
                            (Some(n), Some(s)) if !s.is_empty() => { (n) " (" (s) ")" }
                            (Some(n), _) => { (n) }
                            _ => { (d.address) }
                        }
                    }
                }
            }
            (until_field.render())
        },
        "Give access",
    );

    let mut trail = Table::new(
        "Who read or changed my record",
        &["When", "Who", "What", "Outcome"],
    );
    for e in audit.events.iter().take(200) {
        let emergency = e.action.contains("emergency") || e.detail.contains("emergency");
        let mut what = e.action.replace('-', " ");
        if let Some(kind) = e.kind {
            what += &format!(" {}", kind_name(kind).to_lowercase());
        }
        if let Some(record) = &e.record {
            what += &format!(" (record {})", short(record));
        }
        if e.record.is_none() && !e.detail.is_empty() && !e.detail.starts_with("request ") {
            what += &format!(": {}", e.detail);
        }
        if let Some(reason) = &e.emergency_reason {
            what += &format!(", emergency reason: \u{201c}{reason}\u{201d}");
        }
        let outcome = match &e.result {
            Some(result) => format!("{}: {result}", e.outcome),
            None => e.outcome.clone(),
        };
        let (class, outcome) = match &e.integrity {
            Some(_) => (
                "tampered",
                format!("{outcome} (this record of the log was altered: do not rely on it)"),
            ),
            None if emergency => ("emergency", outcome),
            None => ("", outcome),
        };
        trail.row(
            class,
            vec![
                html! { (utc(e.at)) },
                who(&e.actor),
                html! { (what) },
                html! { (outcome) },
            ],
        );
    }
    let mut breaks = Table::new(
        "Emergency accesses to my record",
        &["When", "Doctor", "Reason", "Status"],
    );
    for e in &emergencies {
        breaks.row(
            "emergency",
            vec![
                html! { (utc(e.opened_at)) },
                who(&e.doctor),
                html! { (e.reason.as_deref().unwrap_or("(reason does not decrypt)")) },
                html! { (e.status) },
            ],
        );
    }
    Ok(html! {
        p {
            "Patient id " code { (patient) } ". Every entry below was decrypted for you and checked against the \
             chain's copy of your history."
        }
        section aria-labelledby="h-history" { h2 #h-history { "My history" } (history_table(&history, false)) }
        section aria-labelledby="h-access" {
            h2 #h-access { "Who may read it" }
            (access.render("Only you (and the doctors you give access) can read your record; nobody has access now."))
            h3 { "Give a doctor access" }
            (grant)
        }
        section aria-labelledby="h-emergency" {
            h2 #h-emergency { "Emergency accesses" }
            (breaks.render("No emergency access has been opened to your record."))
        }
        section aria-labelledby="h-audit" {
            h2 #h-audit { "Who read or changed it" }
            @if !audit.integrity.intact {
                p.error {
                    span.badge.bad { "The audit log does not verify" }
                    " " (audit.integrity.describe()) ": this list may be incomplete or altered."
                }
            }
            (trail.render("Nobody has read or changed your record yet."))
        }
    })
}
