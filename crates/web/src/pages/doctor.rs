//! `/doctor_dashboard` (my patients, search, one patient's record, entries, emergency access) and
//! `/register_patient`.

use axum::extract::{Query, State};
use axum::response::Response;
use medledger_core::blind::Match;
use medledger_core::entry::PatientId;
use serde::Deserialize;

use maud::{Markup, html};

use super::html::{Input, api_form, until};
use super::patient::history_table;
use super::{Table, Viewer, error_page, page, short};
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

fn not_a_doctor() -> Markup {
    html! {
        p {
            "This address is not an approved doctor here. " a href="/register_doctor" { "Apply" }
            ", and an admin will approve you."
        }
    }
}

pub(super) async fn dashboard(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<DashboardQuery>,
) -> Response {
    if !viewer.roles.doctor {
        return page(&state, "Doctor dashboard", Some(&viewer), not_a_doctor());
    }
    match render(&state, &viewer, &q).await {
        Ok(main) => page(&state, "Doctor dashboard", Some(&viewer), main),
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

async fn render(state: &AppState, viewer: &Viewer, q: &DashboardQuery) -> Result<Markup, AppError> {
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
                html! { (name) },
                html! { (born) },
                html! { (access) },
                html! { a href=(format!("/doctor_dashboard?patient={}", a.patient)) { "Open record" } },
            ],
        );
    }
    let mut search = html! {};
    if let Some(name) = q.name.as_deref().filter(|n| !n.trim().is_empty()) {
        let found = records.search(viewer.address, name, Match::Prefix).await?;
        let mut results = Table::new(&format!("Patients named like “{name}”"), &["Name", "Born", ""]);
        for id in found {
            let (n, born) = label(state, viewer, id).await;
            results.row(
                "",
                vec![
                    html! { (n) },
                    html! { (born) },
                    html! { a href=(format!("/doctor_dashboard?patient={id}")) { "Open" } },
                ],
            );
        }
        search = results.render("No patient's name matches.");
    }
    let selected = match q.patient.as_deref() {
        None => html! {},
        Some(text) => {
            let id = crate::extract::patient_id(text)?;
            patient_panel(state, viewer, id).await?
        }
    };
    Ok(html! {
        section aria-labelledby="h-mine" {
            h2 #h-mine { "My patients" }
            (list.render("No patient has given you access yet."))
            p { a href="/register_patient" { "Register a new patient" } }
        }
        section aria-labelledby="h-search" {
            h2 #h-search { "Find a patient" }
            form.inline method="get" action="/doctor_dashboard" {
                label for="f-name" { "Name (or its beginning)" }
                input #f-name name="name" type="search" minlength="2" value=(q.name.as_deref().unwrap_or("")) required;
                button type="submit" { "Search" }
            }
            (search)
        }
        (selected)
    })
}

/// The kinds of entry a doctor writes here.
const KINDS: [(&str, &str); 5] = [
    ("diagnosis", "Diagnosis"),
    ("medication", "Medication"),
    ("observation", "Observation"),
    ("note", "Note"),
    ("allergy", "Allergy"),
];

async fn patient_panel(state: &AppState, viewer: &Viewer, id: PatientId) -> Result<Markup, AppError> {
    let records = &state.hospital.records;
    let base = format!("/api/v1/patients/{id}");
    let access = records.access_now(viewer.address, id).await?;
    let emergency_open = access.emergency_expires_at > medledger_store::now_ms() / 1000;
    let close = html! {
        @if emergency_open {
            p { "Emergency access open " (until(access.emergency_expires_at)) "." }
            (api_form("DELETE", &format!("{base}/emergency-access"), "none", html! {}, "Close emergency access now"))
        }
    };
    let minutes = Input {
        name: "minutes",
        label: "For how many minutes (1 to 1440)",
        kind: "number",
        required: true,
        min: Some(1),
        max: Some(1440),
        value: Some("60"),
        ..Input::default()
    };
    let emergency = api_form(
        "POST",
        &format!("{base}/emergency-access"),
        "emergency",
        html! {
            label for="f-reason" { "Reason (the patient will read it)" }
            textarea #f-reason name="reason" required maxlength="1000" {}
            (minutes.render())
        },
        "Open emergency access",
    );
    if !access.open {
        return Ok(html! {
            section aria-labelledby="h-patient" {
                h2 #h-patient { "Patient " code { (short(&id.to_string())) } }
                p.error { "You have no access to this record: the patient has not given you consent (or withdrew it)." }
                h3 { "Emergency access" }
                p {
                    "In an emergency you may open access for up to a day. The patient sees your reason and every \
                     read you make."
                }
                (emergency)
            }
        });
    }
    let (name, born) = label(state, viewer, id).await;
    let history = records.history(viewer.address, id).await?;
    let title = Input {
        name: "title",
        label: "What (diagnosis, medication, observation…)",
        kind: "text",
        required: true,
        maxlength: Some(300),
        ..Input::default()
    };
    let add = api_form(
        "POST",
        &format!("{base}/records"),
        "record",
        html! {
            input type="hidden" name="amends" value="";
            p.amending hidden {
                "Amending " strong data-amending {} ": the new revision replaces it; the old one stays in the history. "
                button.link type="button" data-amend-cancel { "Write a new entry instead" }
            }
            label for="f-kind" { "Kind" }
            select #f-kind name="kind" { @for (value, label) in KINDS { option value=(value) { (label) } } }
            (title.render())
            label for="f-detail" { "Detail (dose, value, notes)" }
            textarea #f-detail name="detail" maxlength="4000" {}
        },
        "Sign and add",
    );
    Ok(html! {
        section aria-labelledby="h-patient" {
            h2 #h-patient { (name) @if !born.is_empty() { ", born " (born) } }
            p { "Patient id " code { (id) } "." }
            (history_table(&history, true))
            h3 #h-add { "Add an entry" }
            (add)
            (close)
        }
    })
}

pub(super) async fn register(State(state): State<AppState>, viewer: Viewer) -> Response {
    if !viewer.roles.doctor {
        return page(&state, "Register a patient", Some(&viewer), not_a_doctor());
    }
    let private = |name, label, kind, maxlength| Input {
        name,
        label,
        kind,
        required: true,
        maxlength,
        private: true,
        ..Input::default()
    };
    let form = api_form(
        "POST",
        "/api/v1/patients",
        "patient",
        html! {
            (Input { pattern: Some("0x[0-9a-fA-F]{40}"), ..private("wallet", "The patient's wallet address (0x…)", "text", None) }.render())
            (private("name", "Full name", "text", Some(200)).render())
            (Input { name: "birthDate", label: "Date of birth", kind: "date", required: true, ..Input::default() }.render())
            (private("contact", "Phone or e-mail", "text", Some(200)).render())
        },
        "Sign and register",
    );
    let main = html! {
        p {
            "The patient's record is opened on the chain under their wallet address; you get access to it as \
             the registering doctor, and they decide who else does. Name, birth date and contact are stored \
             encrypted, never on the chain."
        }
        (form)
    };
    page(&state, "Register a patient", Some(&viewer), main)
}
