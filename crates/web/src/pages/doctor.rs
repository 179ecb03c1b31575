//! `/doctor_dashboard` (my patients, search, one patient's record, entries, emergency access) and
//! `/register_patient`.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use medledger_core::blind::Match;
use medledger_core::entry::PatientId;
use serde::Deserialize;

use super::html::{api_form, input, until};
use super::patient::history_table;
use super::{Table, Viewer, error_page, esc, page, require_viewer, short};
use crate::error::AppError;
use crate::state::AppState;

/// The query of `/doctor_dashboard`.
#[derive(Debug, Deserialize)]
pub(crate) struct DashboardQuery {
    /// Search patients by name.
    name: Option<String>,
    /// Show one patient's record.
    patient: Option<String>,
}

const NOT_A_DOCTOR: &str = r#"<p>This address is not an approved doctor here. <a href="/register_doctor">Apply</a>,
and an admin will approve you.</p>"#;

pub(super) async fn dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DashboardQuery>,
) -> Response {
    let viewer = match require_viewer(&state, &headers, "/doctor_dashboard").await {
        Ok(Ok(v)) => v,
        Ok(Err(redirect)) => return redirect,
        Err(p) => return error_page(&state, None, &p),
    };
    if !viewer.roles.doctor {
        return page(&state, "Doctor dashboard", Some(&viewer), NOT_A_DOCTOR);
    }
    match render(&state, &viewer, &q).await {
        Ok(main) => page(&state, "Doctor dashboard", Some(&viewer), &main),
        Err(p) => error_page(&state, Some(&viewer), &p),
    }
}

/// A patient's name and birth date, if the doctor may read them and they verified against the
/// chain; otherwise what stands in their place.
async fn label(state: &AppState, viewer: &Viewer, id: PatientId) -> (String, String) {
    match state.hospital.records.demographics(viewer.address, id).await {
        Ok(d) => match d.resource.map(|r| r.value()) {
            Some(r) => (
                super::html::person_name(&r).unwrap_or_else(|| "(no name)".to_owned()),
                r["birthDate"].as_str().unwrap_or("").to_owned(),
            ),
            None => (
                "(name not shown: it does not verify against the chain)".into(),
                String::new(),
            ),
        },
        Err(medledger_ledger::Error::Disagreement(_)) => (
            "(not shown: the store disagrees with the chain)".into(),
            String::new(),
        ),
        Err(_) => ("(no access)".into(), String::new()),
    }
}

async fn render(state: &AppState, viewer: &Viewer, q: &DashboardQuery) -> Result<String, AppError> {
    let records = &state.hospital.records;
    let mine = records.patients_of(viewer.address).await?;
    let mut list = Table::new(
        "Patients whose records I may read",
        &["Name", "Born", "Access", ""],
    );
    for a in mine.iter().filter(|a| a.open) {
        let (name, born) = label(state, viewer, a.patient).await;
        let access = if a.emergency_expires_at > medledger_store::now_ms() / 1000 {
            format!("emergency {}", until(a.emergency_expires_at))
        } else {
            format!("consent {}", until(a.consent_expires_at))
        };
        list.row(
            "",
            vec![
                esc(&name),
                esc(&born),
                esc(&access),
                format!(
                    r#"<a href="/doctor_dashboard?patient={}">Open record</a>"#,
                    a.patient
                ),
            ],
        );
    }
    let mut search = String::new();
    if let Some(name) = q.name.as_deref().filter(|n| !n.trim().is_empty()) {
        let found = match records.search(viewer.address, name, Match::Prefix).await {
            Ok(found) => found,
            Err(e) => return Err(AppError::from(e)),
        };
        let mut results = Table::new(&format!("Patients named like “{name}”"), &["Name", "Born", ""]);
        for id in found {
            let (n, born) = label(state, viewer, id).await;
            results.row(
                "",
                vec![
                    esc(&n),
                    esc(&born),
                    format!(r#"<a href="/doctor_dashboard?patient={id}">Open</a>"#),
                ],
            );
        }
        search = results.render("No patient's name matches.");
    }
    let selected = match q.patient.as_deref() {
        None => String::new(),
        Some(text) => {
            let id = crate::extract::patient_id(text)?;
            patient_panel(state, viewer, id).await?
        }
    };
    Ok(format!(
        r#"<section aria-labelledby="h-mine"><h2 id="h-mine">My patients</h2>{list}
<p><a href="/register_patient">Register a new patient</a></p></section>
<section aria-labelledby="h-search"><h2 id="h-search">Find a patient</h2>
<form method="get" action="/doctor_dashboard" class="inline"><label for="f-name">Name (or its beginning)</label>
<input id="f-name" name="name" type="search" minlength="2" value="{name}" required><button type="submit">Search</button></form>
{search}</section>
{selected}"#,
        list = list.render("No patient has given you access yet."),
        name = esc(q.name.as_deref().unwrap_or("")),
    ))
}

const KINDS: &str = r#"<option value="diagnosis">Diagnosis</option><option value="medication">Medication</option>
<option value="observation">Observation</option><option value="note">Note</option><option value="allergy">Allergy</option>"#;

async fn patient_panel(state: &AppState, viewer: &Viewer, id: PatientId) -> Result<String, AppError> {
    let records = &state.hospital.records;
    let base = format!("/api/v1/patients/{id}");
    let access = records.access_now(viewer.address, id).await?;
    let emergency_open = access.emergency_expires_at > medledger_store::now_ms() / 1000;
    let close = if emergency_open {
        format!(
            "<p>Emergency access open {}.</p>{}",
            esc(&until(access.emergency_expires_at)),
            api_form(
                "DELETE",
                &format!("{base}/emergency-access"),
                "none",
                "",
                "Close emergency access now"
            )
        )
    } else {
        String::new()
    };
    let emergency = api_form(
        "POST",
        &format!("{base}/emergency-access"),
        "emergency",
        &format!(
            r#"<label for="f-reason">Reason (the patient will read it)</label><textarea id="f-reason" name="reason" required maxlength="1000"></textarea>
{}"#,
            input(
                "minutes",
                "For how many minutes (1 to 1440)",
                "number",
                r#"min="1" max="1440" value="60" required"#
            )
        ),
        "Open emergency access",
    );
    if !access.open {
        return Ok(format!(
            r#"<section aria-labelledby="h-patient"><h2 id="h-patient">Patient <code>{short}</code></h2>
<p class="error">You have no access to this record: the patient has not given you consent (or withdrew it).</p>
<h3>Emergency access</h3><p>In an emergency you may open access for up to a day. The patient sees your reason
and every read you make.</p>{emergency}</section>"#,
            short = esc(&short(&id.to_string())),
        ));
    }
    let (name, born) = label(state, viewer, id).await;
    let history = records.history(viewer.address, id).await?;
    let add = api_form(
        "POST",
        &format!("{base}/records"),
        "record",
        &format!(
            r#"<input type="hidden" name="amends" value="">
<p class="amending" hidden>Amending <strong data-amending></strong>: the new revision replaces it; the old one stays in the history.
<button type="button" class="link" data-amend-cancel>Write a new entry instead</button></p>
<label for="f-kind">Kind</label><select id="f-kind" name="kind">{KINDS}</select>
{title}
<label for="f-detail">Detail (dose, value, notes)</label><textarea id="f-detail" name="detail" maxlength="4000"></textarea>"#,
            title = input(
                "title",
                "What (diagnosis, medication, observation…)",
                "text",
                r#"required maxlength="300""#
            ),
        ),
        "Sign and add",
    );
    Ok(format!(
        r#"<section aria-labelledby="h-patient"><h2 id="h-patient">{name}{born}</h2>
<p>Patient id <code>{id}</code>.</p>
{history}
<h3 id="h-add">Add an entry</h3>{add}
{close}
</section>"#,
        name = esc(&name),
        born = if born.is_empty() {
            String::new()
        } else {
            format!(", born {}", esc(&born))
        },
        history = history_table(&history, true),
    ))
}

pub(super) async fn register(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let viewer = match require_viewer(&state, &headers, "/register_patient").await {
        Ok(Ok(v)) => v,
        Ok(Err(redirect)) => return redirect,
        Err(p) => return error_page(&state, None, &p),
    };
    if !viewer.roles.doctor {
        return page(&state, "Register a patient", Some(&viewer), NOT_A_DOCTOR);
    }
    let form = api_form(
        "POST",
        "/api/v1/patients",
        "patient",
        &[
            input(
                "wallet",
                "The patient's wallet address (0x…)",
                "text",
                r#"required pattern="0x[0-9a-fA-F]{40}" autocomplete="off""#,
            ),
            input(
                "name",
                "Full name",
                "text",
                r#"required maxlength="200" autocomplete="off""#,
            ),
            input("birthDate", "Date of birth", "date", "required"),
            input(
                "contact",
                "Phone or e-mail",
                "text",
                r#"required maxlength="200" autocomplete="off""#,
            ),
        ]
        .concat(),
        "Sign and register",
    );
    let main = format!(
        r#"<p>The patient's record is opened on the chain under their wallet address; you get access to it as the
registering doctor, and they decide who else does. Name, birth date and contact are stored encrypted, never on
the chain.</p>{form}"#
    );
    page(&state, "Register a patient", Some(&viewer), &main)
}
