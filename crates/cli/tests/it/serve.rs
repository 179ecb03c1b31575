//! `medledger` with no command: the whole system starts on embedded defaults, says where to open
//! it, answers on HTTP, stops on SIGTERM, and comes back on the same data without redeploying.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::DataDir;

/// A `medledger` server with no command, on a free port of its own.
pub(crate) struct Server {
    child: Child,
    /// Where it answers, without a trailing slash.
    pub(crate) url: String,
    /// Its MedLedger contract's address.
    pub(crate) ledger: String,
}

impl Server {
    pub(crate) fn start(dir: &DataDir) -> Self {
        Self::start_with(dir, &[])
    }

    /// [`Server::start`] with more arguments, e.g. `["--database-url", URL]`.
    pub(crate) fn start_with(dir: &DataDir, extra: &[&str]) -> Self {
        Self::start_env(dir, extra, &[])
    }

    /// [`Server::start_with`] with settings in its environment, e.g. the master key.
    pub(crate) fn start_env(dir: &DataDir, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_medledger"));
        command.env_remove("MEDLEDGER_MASTER_KEY");
        for (name, value) in env {
            command.env(name, value);
        }
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.server_log())
            .expect("the temp dir is writable");
        let mut child = command
            .args(["--port", "0", "--data-dir"])
            .arg(dir.root())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("medledger starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut ledger) = (None, None);
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("MedLedger contract ") {
                ledger = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.strip_prefix("MedLedger is running at ") {
                url = Some(rest.trim_end_matches('/').to_owned());
                break;
            }
        }
        Self {
            child,
            url: url.expect("the server says where it runs"),
            ledger: ledger.expect("and its contract"),
        }
    }

    /// Kills it at once (SIGKILL): no graceful anything.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn stop(mut self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "a graceful stop exits 0: {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("the server did not stop within 10 s of SIGTERM");
    }
}

/// A test that fails before [`Server::stop`] leaves no server running behind it.
impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_command_starts_the_whole_system() {
    let dir = DataDir::new("serve");
    let server = Server::start(&dir);
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{}/healthz", server.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let ready: serde_json::Value = http
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["chainId"], 19_788);
    assert_eq!(
        ready["ledger"].as_str().unwrap().to_lowercase(),
        server.ledger.to_lowercase()
    );
    let page = http
        .get(format!("{}/", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&server.ledger) && page.contains("Demo setup"),
        "{page}"
    );
    let chain_id: serde_json::Value = http
        .post(format!("{}/rpc", server.url))
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(chain_id["result"], "0x4d4c");
    // The data directory is the owner's alone: every file 0600, every folder 0700 (the database's
    // write-ahead log once held a doctor's application in the clear).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut seen = 0;
        // (The directory itself was made by this test; what the server made is inside it.)
        let mut walk: Vec<_> = std::fs::read_dir(dir.root())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.ends_with("node.log"))
            .collect();
        while let Some(path) = walk.pop() {
            let meta = std::fs::metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                assert_eq!(mode, 0o700, "{}", path.display());
                walk.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else {
                assert_eq!(mode, 0o600, "{}", path.display());
                seen += 1;
            }
        }
        assert!(
            seen >= 6,
            "the keys, the database and its log, the chain's files: {seen}"
        );
    }
    // One server at a time on a data directory with SQLite and the embedded chain.
    let second = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(["--port", "0", "--data-dir"])
        .arg(dir.root())
        .env_remove("MEDLEDGER_MASTER_KEY")
        .output()
        .expect("medledger runs");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second server is refused: {said}");
    assert!(
        said.contains("another MedLedger server is running") && said.contains("PostgreSQL"),
        "{said}"
    );
    let first = server.ledger.clone();
    server.stop();

    let again = Server::start(&dir);
    assert_eq!(again.ledger, first, "a restart uses the contracts it deployed");
    again.stop();
}
