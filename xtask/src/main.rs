//! `cargo xtask test [CARGO TEST ARGS]`: the README's one test command. On a fresh machine it first
//! installs what the tests need and the machine lacks, each pinned by the project's lockfiles:
//!
//! - the Solidity toolchain (forge, anvil, cast, solcjs, OpenZeppelin) from `contracts/`'s npm
//!   lockfile, and the browser and FHIR client stories' packages from `e2e/`'s;
//! - Slither, schemathesis and carebundle from PyPI (`contracts/requirements.txt`,
//!   `e2e/requirements.txt`);
//! - Debian's Chromium for the browser test, and Node.js, npm and Python if the machine has none,
//!   where the machine allows (as root, with apt-get);
//!
//! then runs `cargo test --workspace --locked` (or `cargo test` with the arguments given). What is
//! installed already is left alone, so a second run starts the tests at once. PostgreSQL is the
//! machine's (`MEDLEDGER_TEST_POSTGRES`); nothing here installs a database server.
//!
//! A plain program (its one dependency is serde_json), so it builds in seconds before anything
//! else; it runs the same commands `DEVELOPERS.md` lists, in order, and stops at the first that
//! fails.
//!
//! `cargo xtask fhir-model` regenerates the FHIR crate's R4 model from HL7's definitions
//! ([`fhir_model`]).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod fhir_model;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("test") => match test(args.collect()) {
            Ok(code) => code,
            Err(why) => {
                eprintln!("xtask: {why}");
                ExitCode::from(2)
            }
        },
        Some("fhir-model") => match fhir_model_write() {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("xtask: {why}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!(
                "usage: cargo xtask test [CARGO TEST ARGS]\n  installs what the tests need (npm, PyPI, Chromium), then runs every test\n       cargo xtask fhir-model\n  regenerates crates/fhir/src/model/r4.json from HL7's R4 definitions"
            );
            ExitCode::from(2)
        }
    }
}

/// The repository's root (this crate's parent folder).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository")
        .to_path_buf()
}

fn fhir_model_write() -> Result<(), String> {
    let root = root();
    let text = fhir_model::generate(&fhir_model::definitions(&root)?)?;
    std::fs::write(root.join(fhir_model::OUTPUT), text).map_err(|e| e.to_string())?;
    say(&format!("wrote {}", fhir_model::OUTPUT));
    Ok(())
}

fn test(cargo_args: Vec<String>) -> Result<ExitCode, String> {
    let root = root();
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    runtimes()?;
    npm_install(&root.join("contracts"))?;
    npm_install(&root.join("e2e"))?;
    if let Some(bin) = python_tools(&root)? {
        let mut paths = vec![bin];
        paths.extend(std::env::split_paths(&path));
        path = std::env::join_paths(paths).map_err(|e| e.to_string())?;
    }
    chromium()?;
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(&root).env("PATH", &path).arg("test");
    if cargo_args.is_empty() {
        cargo.args(["--workspace", "--locked"]);
    } else {
        cargo.args(&cargo_args);
    }
    say(&format!("running {cargo:?}"));
    let status = cargo.status().map_err(|e| format!("cargo did not start: {e}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

fn say(what: &str) {
    eprintln!("xtask: {what}");
}

/// Runs `command`, failing with `what` if it does not succeed.
fn run(command: &mut Command, what: &str) -> Result<(), String> {
    say(what);
    let status = command
        .status()
        .map_err(|e| format!("{what}: {:?} did not start: {e}", command.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what}: {command:?} failed ({status})"))
    }
}

/// Installs `dir`'s npm packages from its lockfile. npm itself sees what is installed already
/// (it keeps a copy of the lockfile in `node_modules`): up to date, it answers in under a second
/// without the network.
fn npm_install(dir: &Path) -> Result<(), String> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    if !on_path("npm") {
        say(&format!(
            "{name}/'s npm packages: npm is missing; the tests that need them will say so"
        ));
        return Ok(());
    }
    run(
        Command::new("npm").arg("--prefix").arg(dir).args([
            "install",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
        ]),
        &format!("{name}/'s npm packages (pinned by its package-lock.json)"),
    )
}

/// Slither, schemathesis and carebundle (the synthetic patients' generator), installed from PyPI
/// at the pinned versions unless all are on the PATH already; returns a folder to put on the PATH
/// when pip installed for this user.
fn python_tools(root: &Path) -> Result<Option<PathBuf>, String> {
    if on_path("slither") && on_path("schemathesis") && on_path("carebundle") {
        return Ok(None);
    }
    if !on_path("python3") {
        say("Slither, schemathesis and carebundle: python3 is missing; the tests that need them will say so");
        return Ok(None);
    }
    let requirements = [
        root.join("contracts/requirements.txt"),
        root.join("e2e/requirements.txt"),
    ];
    let mut pip = Command::new("python3");
    pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]);
    for file in &requirements {
        pip.arg("-r").arg(file);
    }
    let what =
        "installing Slither, schemathesis and carebundle (pinned in contracts/ and e2e/requirements.txt)";
    let user_bin = || -> Result<PathBuf, String> {
        let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
        Ok(Path::new(&home).join(".local/bin"))
    };
    if run(&mut pip, what).is_ok() {
        // pip may have found them installed for this user already, scripts and all in a folder
        // that is not on the PATH.
        let tools = ["slither", "schemathesis", "carebundle"];
        if tools.iter().all(|t| on_path(t)) {
            return Ok(None);
        }
        let user_bin = user_bin()?;
        return Ok(tools
            .iter()
            .all(|t| on_path(t) || user_bin.join(t).exists())
            .then_some(user_bin));
    }
    // A system Python that refuses to be changed (PEP 668): install for this user instead.
    pip.args(["--user", "--break-system-packages"]);
    run(&mut pip, &format!("{what}, for this user"))?;
    Ok(Some(user_bin()?))
}

/// Debian's Chromium for the browser test, unless there is one (or `MEDLEDGER_CHROMIUM` names
/// one).
fn chromium() -> Result<(), String> {
    if std::env::var_os("MEDLEDGER_CHROMIUM").is_some()
        || Path::new("/usr/bin/chromium").exists()
        || on_path("chromium")
    {
        return Ok(());
    }
    apt_install(&["chromium"], "Debian's Chromium, for the browser test")
}

/// Node.js and npm, and Python's pip, from Debian when the machine has none.
fn runtimes() -> Result<(), String> {
    if !on_path("npm") {
        apt_install(
            &["nodejs", "npm"],
            "Node.js and npm, for the Solidity toolchain and the browser tests",
        )?;
    }
    if !on_path("python3") {
        apt_install(
            &["python3", "python3-pip"],
            "Python, for Slither and schemathesis",
        )?;
    }
    Ok(())
}

/// Installs Debian `packages`, where this user may (root, with apt-get); otherwise says how, and
/// the tests that need them skip, or fail under `CI=true`.
fn apt_install(packages: &[&str], what: &str) -> Result<(), String> {
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root_user || !on_path("apt-get") {
        say(&format!(
            "{what}: missing, and this user cannot install it: `apt-get install {}` as root",
            packages.join(" ")
        ));
        return Ok(());
    }
    run(
        Command::new("apt-get").args(["update", "-qq"]),
        "updating Debian's package lists",
    )?;
    run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(packages),
        &format!("installing {what}"),
    )
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
