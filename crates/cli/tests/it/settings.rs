//! `.env.sample` lists every setting `medledger` reads from the environment, so an operator finds
//! them all in one place; and a `.env` file is read at start, below the environment and the flags.

use std::path::Path;
use std::process::Command;

use crate::util::DataDir;

/// Every `MEDLEDGER_*` name the command's sources read, with where.
fn settings_read() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut found = Vec::new();
    let mut stack = vec![
        root.join("crates/cli/src"),
        root.join("crates/ledger/src/keyfile.rs"),
        root.join("crates/testkit/src"),
        root.join("crates/cli/tests/it/browser.rs"),
    ];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, _) in text.match_indices("\"MEDLEDGER_") {
            let name: String = text[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            found.push((name, path.display().to_string()));
        }
    }
    assert!(found.len() > 15, "the scan found the settings: {found:?}");
    found
}

#[test]
fn the_sample_lists_every_setting() {
    let sample = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.env.sample"))
        .expect(".env.sample is at the repository's root");
    let missing: Vec<_> = settings_read()
        .into_iter()
        .filter(|(name, _)| !sample.contains(&format!("{name}=")))
        .collect();
    assert!(missing.is_empty(), "not in .env.sample: {missing:?}");
}

#[test]
fn a_dotenv_file_is_read_below_the_environment() {
    let dir = DataDir::new("dotenv");
    std::fs::write(
        dir.root().join(".env"),
        "MEDLEDGER_URL=http://127.0.0.1:9\nMEDLEDGER_DATA_DIR=from-dotenv\n",
    )
    .unwrap();
    std::fs::write(dir.root().join("reader.key"), format!("0x{}", "11".repeat(32))).unwrap();
    // `export` with a URL nothing listens on: the error names the URL it was given.
    let run = |env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_medledger"));
        command
            .current_dir(dir.root())
            .args([
                "export",
                "00000000000000000000000000000000",
                "--key-file",
                "reader.key",
            ])
            .env_remove("MEDLEDGER_URL");
        for (name, value) in env {
            command.env(name, value);
        }
        let out = command.output().unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let from_file = run(&[]);
    assert!(from_file.contains("settings read from"), "{from_file}");
    assert!(from_file.contains("127.0.0.1:9"), "{from_file}");
    let from_env = run(&[("MEDLEDGER_URL", "http://127.0.0.1:7")]);
    assert!(from_env.contains("127.0.0.1:7"), "{from_env}");
}
