//! The Solidity side, run from `cargo test` so that one command runs every test: forge's unit,
//! fuzz and invariant suites, Slither, and the check that the committed artifacts are what the
//! sources compile to.

use std::process::Command;

use serde_json::Value;

use crate::util::{contracts_dir, forge_lock, path_with_npm_tools, run_ok, tool};

/// The contracts whose artifacts are committed in contracts/artifacts.
const DEPLOYABLE: [&str; 2] = ["MedLedger", "MedLedgerForwarder"];

#[test]
fn forge_unit_fuzz_and_invariant_suites_pass() {
    let Some(forge) = tool("forge") else { return };
    let _lock = forge_lock();
    let output = run_ok(Command::new(forge).arg("test").current_dir(contracts_dir()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .lines()
        .find(|line| line.starts_with("Ran ") && line.contains("test suites"))
        .unwrap_or_else(|| panic!("forge printed no summary:\n{stdout}"));
    println!("{summary}");
    let passed: u32 = summary
        .split(": ")
        .nth(1)
        .and_then(|counts| counts.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable forge summary: {summary}"));
    // The suites hold 57 tests; far fewer means a suite stopped being discovered.
    assert!(passed >= 50, "forge ran only {passed} tests: {summary}");
    assert!(summary.contains(" 0 failed"), "{summary}");
}

#[test]
fn slither_reports_nothing_low_or_above() {
    let Some(slither) = tool("slither") else { return };
    let _lock = forge_lock();
    let output = run_ok(
        Command::new(slither)
            .args([".", "--fail-low"])
            .env("PATH", path_with_npm_tools())
            .current_dir(contracts_dir()),
    );
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(
        report.contains("0 result(s) found"),
        "Slither found something:\n{report}"
    );
}

#[test]
fn committed_artifacts_match_sources() {
    let Some(forge) = tool("forge") else { return };
    let _lock = forge_lock();
    let scratch = std::env::temp_dir().join(format!("medledger-artifacts-{}", std::process::id()));
    let out = scratch.join("out");
    run_ok(
        Command::new(forge)
            .args(["build", "--skip", "test", "--out"])
            .arg(&out)
            .arg("--cache-path")
            .arg(scratch.join("cache"))
            .current_dir(contracts_dir()),
    );
    for name in DEPLOYABLE {
        let built = read_json(&out.join(format!("{name}.sol/{name}.json")));
        let committed = read_json(&contracts_dir().join(format!("artifacts/{name}.json")));
        for field in ["/abi", "/bytecode/object", "/deployedBytecode/object"] {
            assert_eq!(
                built.pointer(field),
                committed.pointer(field),
                "contracts/artifacts/{name}.json{field} differs from what the sources compile to: \
                 run `npm --prefix contracts run artifacts` and commit the result"
            );
        }
    }
    std::fs::remove_dir_all(&scratch).ok();
}

fn read_json(path: &std::path::Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}
