//! `/patient_dashboard`: my history with its proofs, who may read it, and who did.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use medledger_contracts::history::EntryKind;
use medledger_core::entry::PatientId;
use medledger_ledger::records::{Proof, ReadEntry};

use super::html::{api_form, input, summary, until};
use super::{Table, Viewer, error_page, esc, page, require_viewer, short, utc};
use crate::error::AppError;
use crate::state::AppState;

/// The name of an entry's kind, as a page shows it.
pub(crate) fn kind_name(kind: u8) -> &'static str {
    match EntryKind::try_from(kind) {
        Ok(EntryKind::Diagnosis) => "Diagnosis",
        Ok(EntryKind::Medication) => "Medication",
        Ok(EntryKind::Observation) => "Observation",
        Ok(EntryKind::Note) => "Note",
        Ok(EntryKind::Allergy) => "Allergy",
        Ok(EntryKind::Demographics) => "Demographics",
        Err(_) => "Unknown",
    }
}

/// The proof column: verified (block, transaction, commitment), pending, rejected, tampered or
/// missing from this store.
fn proof(p: &Proof) -> (String, &'static str) {
    match p {
        Proof::Verified {
            version,
            tx_hash,
            block_number,
            commitment,
        } => (
            format!(
                r#"<span class="badge ok">Verified</span> version {version}, block {block_number}<br>
tx <code title="{tx}">{tx_s}</code><br>commitment <code title="{c}">{c_s}</code>"#,
                tx = esc(&tx_hash.to_string()),
                tx_s = esc(&short(&tx_hash.to_string())),
                c = esc(&commitment.to_string()),
                c_s = esc(&short(&commitment.to_string())),
            ),
            "",
        ),
        Proof::Pending => (r#"<span class="badge pending">Pending</span>"#.into(), "pending"),
        Proof::Rejected { reason } => (
            format!(r#"<span class="badge bad">Rejected</span> {}"#, esc(reason)),
            "rejected",
        ),
        Proof::Tampered { why, version } => (
            format!(
                r#"<span class="badge bad">Does not verify</span>{} {}; its content is withheld"#,
                version.map(|v| format!(" version {v}:")).unwrap_or_default(),
                esc(why)
            ),
            "tampered",
        ),
        Proof::Missing {
            version,
            block_number,
            why,
            ..
        } => (
            format!(
                r#"<span class="badge bad">Missing</span> version {version}, block {block_number}: {}"#,
                esc(why)
            ),
            "tampered",
        ),
    }
}

/// A patient's history as a table; `amend` adds an "Amend" button per entry (for doctors).
pub(crate) fn history_table(entries: &[ReadEntry], amend: bool) -> String {
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
        let mut entry = format!("<strong>{}</strong>", esc(&what));
        if !detail.is_empty() {
            entry.push_str(&format!("<br>{}", esc(&detail)));
        }
        if let Some(revision) = e.revision.filter(|r| *r > 1) {
            entry.push_str(&format!(r#"<br><small>revision {revision}</small>"#));
        }
        let record = e.record.as_deref().unwrap_or_default();
        if e.proof.is_verified() && outdated.contains(&record) {
            entry.push_str(
                r#"<br><span class="badge bad">Not current</span> a newer revision is held on chain and missing from this store"#,
            );
        }
        if amend
            && e.proof.is_verified()
            && e.kind != EntryKind::Demographics as u8
            && !outdated.contains(&record)
        {
            entry.push_str(&format!(
                r#"<br><button type="button" class="link" data-amend="{record}" data-kind="{kind}" data-what="{what}">Amend</button>"#,
                record = esc(record),
                kind = kind_name(e.kind).to_ascii_lowercase(),
                what = esc(&what),
            ));
        }
        table.row(
            class,
            vec![
                e.recorded_at
                    .map(|at| esc(&utc(at)))
                    .unwrap_or_else(|| "—".into()),
                kind_name(e.kind).into(),
                entry,
                format!(
                    r#"<code title="{a}">{s}</code>"#,
                    a = esc(&e.author.to_string()),
                    s = esc(&short(&e.author.to_string()))
                ),
                proof,
            ],
        );
    }
    table.render("No entries yet.")
}

pub(super) async fn dashboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let viewer = match require_viewer(&state, &headers, "/patient_dashboard").await {
        Ok(Ok(v)) => v,
        Ok(Err(redirect)) => return redirect,
        Err(p) => return error_page(&state, None, &p),
    };
    let Some(patient) = viewer.roles.patient else {
        let main = r#"<p>This address has no patient record here. A doctor opens your record by registering your
wallet address; ask yours to do so, then sign in again.</p>"#;
        return page(&state, "My record", Some(&viewer), main);
    };
    match render(&state, &viewer, patient).await {
        Ok(main) => page(&state, "My record", Some(&viewer), &main),
        Err(p) => error_page(&state, Some(&viewer), &p),
    }
}

async fn render(state: &AppState, viewer: &Viewer, patient: PatientId) -> Result<String, AppError> {
    let records = &state.hospital.records;
    let history = records.history(viewer.address, patient).await?;
    let grants = records.grants(viewer.address, patient).await?;
    let emergencies = records.emergencies(viewer.address, patient).await?;
    let doctors = state.hospital.records.directory(viewer.address).await?;
    let audit = records.trail(viewer.address, patient).await?;
    let name = |address: &alloy::primitives::Address| -> String {
        doctors
            .iter()
            .find(|d| d.address == *address)
            .and_then(|d| d.name.clone())
            .unwrap_or_default()
    };
    let who = |address: &alloy::primitives::Address| -> String {
        let n = name(address);
        let label = if *address == viewer.address {
            "you".to_owned()
        } else if n.is_empty() {
            short(&address.to_string())
        } else {
            n
        };
        format!(
            r#"<span title="{}">{}</span>"#,
            esc(&address.to_string()),
            esc(&label)
        )
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
            "",
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
                esc(&until(g.consent_expires_at)),
                esc(&until(g.emergency_expires_at)),
                revoke,
            ],
        );
    }
    let options: String = doctors
        .iter()
        .map(|d| {
            let address = d.address.to_string();
            let label = match (d.name.as_deref(), d.speciality.as_deref()) {
                (Some(n), Some(s)) if !s.is_empty() => format!("{n} ({s})"),
                (Some(n), _) => n.to_owned(),
                _ => address.clone(),
            };
            format!(r#"<option value="{}">{}</option>"#, esc(&address), esc(&label))
        })
        .collect();
    let grant = api_form(
        "POST",
        &format!("{base}/consents"),
        "consent",
        &format!(
            r#"<label for="f-doctor">Doctor</label><select id="f-doctor" name="doctor" required>{options}</select>
{}"#,
            input(
                "expiresAt",
                "Until (optional; empty: until I revoke it)",
                "date",
                ""
            )
        ),
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
            vec![esc(&utc(e.at)), who(&e.actor), esc(&what), esc(&outcome)],
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
                esc(&utc(e.opened_at)),
                who(&e.doctor),
                esc(e.reason.as_deref().unwrap_or("(reason does not decrypt)")),
                esc(&e.status),
            ],
        );
    }
    Ok(format!(
        r#"<p>Patient id <code>{patient}</code>. Every entry below was decrypted for you and checked against the
chain's copy of your history.</p>
<section aria-labelledby="h-history"><h2 id="h-history">My history</h2>{history}</section>
<section aria-labelledby="h-access"><h2 id="h-access">Who may read it</h2>{access}
<h3>Give a doctor access</h3>{grant}</section>
<section aria-labelledby="h-emergency"><h2 id="h-emergency">Emergency accesses</h2>{breaks}</section>
<section aria-labelledby="h-audit"><h2 id="h-audit">Who read or changed it</h2>{integrity}{trail}</section>"#,
        integrity = if audit.integrity.intact {
            String::new()
        } else {
            format!(
                r#"<p class="error"><span class="badge bad">The audit log does not verify</span> {}: this list may be incomplete or altered.</p>"#,
                esc(&audit.integrity.describe())
            )
        },
        history = history_table(&history, false),
        access = access.render(
            "Only you (and the doctors you give access) can read your record; nobody has access now."
        ),
        breaks = breaks.render("No emergency access has been opened to your record."),
        trail = trail.render("Nobody has read or changed your record yet."),
    ))
}
