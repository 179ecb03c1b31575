//! The end-to-end suite in a real browser: `e2e/flow.mjs` drives headless Chromium (Debian's, through
//! playwright-core) over the pages of a `medledger` server started as a user starts it, with an
//! injected EIP-1193 wallet that signs with real keys. Screenshots of each page land in
//! `target/tmp/screenshots/` (the README shows them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::serve::Server;
use crate::util::{DataDir, missing, node_story};

/// The longest the story may take; it takes about 20 s here.
const LIMIT: Duration = Duration::from_secs(300);

#[test]
fn doctors_patients_and_admins_through_the_pages_in_chromium() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let e2e = repo.join("e2e");
    let chromium = std::env::var_os("MEDLEDGER_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.is_file() {
        return missing(
            "chromium",
            "`apt-get install chromium` installs it (or set MEDLEDGER_CHROMIUM)",
        );
    }
    if !e2e.join("node_modules/playwright-core").is_dir() || !e2e.join("node_modules/ethers").is_dir() {
        return missing(
            "e2e/node_modules",
            "`npm --prefix e2e install --ignore-scripts` installs it",
        );
    }
    if Command::new("node").arg("--version").output().is_err() {
        return missing("node", "install Node.js 20 or later");
    }
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    let dir = DataDir::new("browser");
    let server = Server::start(&dir);
    let (status, stdout, stderr) = node_story(
        &e2e.join("flow.mjs"),
        &[server.url.as_ref(), shots.as_os_str()],
        &[("MEDLEDGER_CHROMIUM", chromium.as_os_str())],
        LIMIT,
    );
    println!("{stdout}");
    server.stop();
    assert!(
        status.success() && stdout.contains("every step passed"),
        "the browser story failed ({status}); screenshots of the failure are in {}\n{stdout}\n{stderr}",
        shots.display()
    );
}
