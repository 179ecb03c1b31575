//! Helpers shared by the integration tests: where the contracts live, finding the tools they
//! need (failing under `CI=true` when one is missing), and running them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// The Foundry project.
pub(crate) fn contracts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts")
        .canonicalize()
        .expect("contracts/ exists beside crates/")
}

/// The project's npm tool bin folder (forge, anvil, cast).
pub(crate) fn npm_bin() -> PathBuf {
    contracts_dir().join("node_modules/.bin")
}

/// `name` from contracts/node_modules/.bin or the PATH. When it is missing the test fails under
/// `CI=true` and is skipped (with a message saying how to install it) otherwise.
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    // Foundry's native binary first: `.bin/NAME` is a Node wrapper, and killing the wrapper
    // leaves the real process running.
    let native = contracts_dir().join(format!("node_modules/@foundry-rs/{name}-linux-amd64/bin/{name}"));
    if native.is_file() {
        return Some(native);
    }
    let local = npm_bin().join(name);
    if local.is_file() {
        return Some(local);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if on_path.is_some() {
        return on_path;
    }
    let how = "install the toolchain with `npm --prefix contracts install --ignore-scripts` and \
               `pip install -r contracts/requirements.txt` (or run .ci/run)";
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("`{name}` is required under CI=true but is not installed: {how}");
    }
    eprintln!("skipping: `{name}` is not installed; {how}");
    None
}

/// The PATH with the npm tools first, for tools that call forge themselves (Slither).
pub(crate) fn path_with_npm_tools() -> std::ffi::OsString {
    let mut paths = vec![npm_bin()];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).expect("PATH entries are joinable")
}

/// forge and Slither share contracts/out and contracts/cache: one at a time.
pub(crate) fn forge_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `command`, failing the test with everything it printed unless it succeeds.
pub(crate) fn run_ok(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    if !output.status.success() {
        panic!(
            "{command:?} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}
