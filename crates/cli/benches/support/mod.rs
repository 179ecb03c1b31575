//! What the benchmarks share: the `medledger` binary started on a fresh data directory, and a
//! client that signs in with its own wallet and signs what writes hand over.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::dyn_abi::TypedData;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use medledger_core::siwe::SiweMessage;
use serde_json::{Value, json};

/// The demo admin: public development account 0 (anvil's first key).
pub const ADMIN_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// A number from the environment, or `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `medledger` (this profile's build) serving a fresh data directory.
pub struct Server {
    child: Child,
    pub base: String,
    pub pid: u32,
    pub dir: PathBuf,
}

impl Server {
    pub fn start(label: &str) -> anyhow::Result<Self> {
        Self::start_with(label, &[], &[], None)
    }

    /// [`Server::start`] with more arguments and settings, its data directory holding `relayer`
    /// as its server account's key if given (servers of one hospital share it).
    pub fn start_with(
        label: &str,
        args: &[&str],
        env: &[(&str, &str)],
        relayer: Option<&PrivateKeySigner>,
    ) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("medledger-bench-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        if let Some(relayer) = relayer {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("relayer.key"), alloy::hex::encode(relayer.to_bytes()))?;
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_medledger"));
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .args(["--port", "0", "--data-dir"])
            .arg(&dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("medledger starts")?;
        let pid = child.id();
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let base = loop {
            let line = lines
                .next()
                .context("the server stopped before saying where it runs")??;
            if let Some(url) = line.strip_prefix("MedLedger is running at ") {
                break url.trim_end_matches('/').to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            child,
            base,
            pid,
            dir,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One user: a wallet and its session.
pub struct User {
    pub wallet: PrivateKeySigner,
    pub token: String,
}

/// A client of one server, or of several behind no balancer but itself: each request goes to the
/// next server in turn.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    /// Every server (the first is `base`), and which is next.
    pub bases: std::sync::Arc<Vec<String>>,
    pub turn: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Api {
    /// A client of the servers at `bases`.
    pub fn new(http: reqwest::Client, bases: Vec<String>) -> Self {
        Self {
            http,
            base: bases[0].clone(),
            bases: std::sync::Arc::new(bases),
            turn: std::sync::Arc::default(),
        }
    }

    /// The server the next request goes to.
    fn next_base(&self) -> &str {
        let turn = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.bases[turn % self.bases.len()]
    }

    /// This client, held to the next server alone (a sign-in names the server it is for).
    pub fn pinned(&self) -> Self {
        Self::new(self.http.clone(), vec![self.next_base().to_owned()])
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        // A refusal for too many requests (signing in is rate-limited) is waited out, as a
        // well-behaved client does: `Retry-After` seconds, a few times.
        for _ in 0..20 {
            let mut request = self
                .http
                .request(method.parse()?, format!("{}{path}", self.next_base()));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await?;
            let status = response.status().as_u16();
            if status == 429 {
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1u64);
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                continue;
            }
            let bytes = response.bytes().await?;
            return Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)));
        }
        bail!("{method} {path}: still refused for too many requests after 20 waits")
    }

    pub async fn expect(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        want: u16,
    ) -> anyhow::Result<Value> {
        let (status, reply) = self.call(method, path, token, body).await?;
        if status != want {
            bail!("{method} {path}: {status} (expected {want}): {reply}");
        }
        Ok(reply)
    }

    pub async fn sign_in(&self, wallet: PrivateKeySigner) -> anyhow::Result<User> {
        if self.bases.len() > 1 {
            return Box::pin(self.pinned().sign_in(wallet)).await;
        }
        let nonce = self.expect("GET", "/api/v1/auth/nonce", None, None, 200).await?;
        let chain_id = nonce["chainId"].as_u64().context("chain id")?;
        let nonce = nonce["nonce"].as_str().context("nonce")?;
        let message = SiweMessage::sign_in(&self.base, wallet.address(), chain_id, nonce, 600).to_string();
        let signature = wallet.sign_message_sync(message.as_bytes())?;
        let body =
            json!({"message": message, "signature": alloy::hex::encode_prefixed(signature.as_bytes())});
        let login = self
            .expect("POST", "/api/v1/auth/login", None, Some(body), 200)
            .await?;
        Ok(User {
            wallet,
            token: login["token"].as_str().context("token")?.to_owned(),
        })
    }

    /// Signs what a 202 handed over and posts the signature; returns the request id.
    pub async fn sign(&self, user: &User, accepted: &Value) -> anyhow::Result<i64> {
        let typed: TypedData = serde_json::from_value(accepted["typedData"].clone())?;
        let signature = user.wallet.sign_hash_sync(&typed.eip712_signing_hash()?)?;
        let id = accepted["requestId"].as_i64().context("requestId")?;
        let body = json!({ "signature": alloy::hex::encode_prefixed(signature.as_bytes()) });
        self.expect(
            "POST",
            &format!("/api/v1/requests/{id}/signature"),
            Some(&user.token),
            Some(body),
            202,
        )
        .await?;
        Ok(id)
    }

    /// Waits (long polls of 30 s) until a request is anchored.
    pub async fn anchored(&self, user: &User, id: i64) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let request = self
                .expect(
                    "GET",
                    &format!("/api/v1/requests/{id}?wait=30"),
                    Some(&user.token),
                    None,
                    200,
                )
                .await?;
            match request["status"].as_str() {
                Some("anchored") => return Ok(()),
                Some("rejected") => bail!("request {id} rejected: {request}"),
                _ if started.elapsed() > Duration::from_secs(120) => {
                    bail!("request {id} not anchored in 120 s")
                }
                _ => {}
            }
        }
    }
}

/// The `p` quantile of sorted durations, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}
