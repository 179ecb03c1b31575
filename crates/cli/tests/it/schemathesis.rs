//! The API keeps the contract its OpenAPI document states, as schemathesis (from PyPI) checks it
//! against a live server: every status code, Content-Type and response body it generates requests
//! for, as a signed-out caller, a doctor and a patient. Each run is bounded by a time budget and a
//! fixed seed, so that CI stays within minutes and a failure can be replayed.

use std::process::Command;

use alloy::signers::local::PrivateKeySigner;
use serde_json::json;

use crate::http::{Api, User};
use crate::serve::Server;
use crate::util::{DEV_KEYS, DataDir, missing};

/// Seconds each caller's run may take.
const BUDGET_SECS: u32 = 40;

/// The checks that hold the server to its document (and that it never answers 5xx).
const CHECKS: &str =
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// `schemathesis` on the PATH (pip installs it there), or `None` after saying why the test skips
/// (it fails instead under `CI=true`).
fn schemathesis() -> Option<String> {
    let found = Command::new("schemathesis").arg("--version").output();
    if found.is_ok_and(|o| o.status.success()) {
        return Some("schemathesis".into());
    }
    missing(
        "schemathesis",
        "`python3 -m pip install -r e2e/requirements.txt` installs it",
    );
    None
}

/// Runs schemathesis against `url` with `headers`; panics with its report when a check fails.
fn run(tool: &str, url: &str, who: &str, headers: &[String]) {
    let mut command = Command::new(tool);
    command
        .args(["run", &format!("{url}/api/openapi.json"), "--url", url])
        .args(["--checks", CHECKS])
        .args(["--phases", "coverage,fuzzing"])
        .args(["--max-time", &BUDGET_SECS.to_string()])
        .args(["--seed", "19788", "--workers", "1", "--request-timeout", "40"])
        .args(["--suppress-health-check", "all", "--warnings", "off"])
        .env("NO_COLOR", "1");
    for header in headers {
        command.args(["-H", header]);
    }
    let output = command.output().expect("schemathesis runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("schemathesis as {who}:\n{report}");
    assert!(
        output.status.success(),
        "schemathesis, as {who}, found answers the OpenAPI document does not promise:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_its_openapi_contract_for_every_caller() -> anyhow::Result<()> {
    let Some(tool) = schemathesis() else {
        return Ok(());
    };
    let dir = DataDir::new("schemathesis");
    let server = Server::start(&dir);
    let api = Api::new(&server.url);

    // A doctor approved by the demo admin, and a patient they registered, with an entry.
    let mut admin = User::new(DEV_KEYS[0].parse()?);
    let mut doctor = User::new(PrivateKeySigner::random());
    let mut patient = User::new(PrivateKeySigner::random());
    admin.sign_in(&api).await?;
    doctor.sign_in(&api).await?;
    let applied = api
        .post(
            &doctor.token,
            "/api/v1/doctors/applications",
            &json!({"name": "Dr. Schema", "licence": "L-1"}),
        )
        .await?;
    anyhow::ensure!(applied.status == 201, "{}", applied.short());
    let (id, _) = admin
        .write(
            &api,
            &format!("/api/v1/doctors/{}/approval", doctor.address()),
            json!({}),
        )
        .await?;
    admin.anchored(&api, id).await?;
    let (id, registered) = doctor
        .write(
            &api,
            "/api/v1/patients",
            json!({"wallet": patient.address(), "name": "Pat Schema", "birthDate": "1990-01-01", "contact": "-"}),
        )
        .await?;
    doctor.anchored(&api, id).await?;
    let patient_id = registered["patientId"].as_str().unwrap_or_default().to_owned();
    let (id, _) = doctor
        .write(
            &api,
            &format!("/api/v1/patients/{patient_id}/records"),
            json!({"kind": "diagnosis", "content": {"resourceType": "Condition", "code": {"text": "Asthma"}}}),
        )
        .await?;
    doctor.anchored(&api, id).await?;
    patient.sign_in(&api).await?;

    run(&tool, &server.url, "a signed-out caller", &[]);
    run(
        &tool,
        &server.url,
        "a doctor",
        &[format!("Authorization: Bearer {}", doctor.token)],
    );
    run(
        &tool,
        &server.url,
        "a patient",
        &[format!("Authorization: Bearer {}", patient.token)],
    );
    server.stop();
    Ok(())
}
