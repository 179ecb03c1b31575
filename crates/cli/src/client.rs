//! A MedLedger server as a wallet-holding client reaches it over HTTP: Sign-In with Ethereum,
//! JSON and FHIR calls with the bearer token, and signing what a write hands over (EIP-712) with
//! the user's own key, which never leaves this machine.

use std::path::Path;
use std::time::Duration;

use alloy::dyn_abi::TypedData;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use medledger_core::siwe::SiweMessage;
use serde_json::{Value, json};

/// A signed-in user of one server.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    wallet: PrivateKeySigner,
    token: String,
}

/// A wallet key from a file holding its 32 bytes in hex (`0x…`, as `cast wallet new` prints it).
pub(crate) fn read_key(path: &Path) -> anyhow::Result<PrivateKeySigner> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading the key file {}", path.display()))?;
    text.trim().parse().with_context(|| {
        format!(
            "{} does not hold a private key (0x and 64 hexadecimal digits)",
            path.display()
        )
    })
}

/// Writes a new wallet's key to `path`, readable by its owner only.
pub(crate) fn write_key(path: &Path, wallet: &PrivateKeySigner) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{}", alloy::hex::encode_prefixed(wallet.to_bytes()))?;
    file.sync_all()?;
    Ok(())
}

impl Client {
    /// Signs in to the server at `base` (`http://host:port`) with `wallet`.
    pub(crate) async fn sign_in(base: &str, wallet: PrivateKeySigner) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("the server URL starts with http:// or https://");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        let mut client = Self {
            http,
            base: base.clone(),
            wallet,
            token: String::new(),
        };
        let nonce = client.expect("GET", "/api/v1/auth/nonce", None, 200).await?;
        let chain_id = nonce["chainId"].as_u64().context("the server gave no chain id")?;
        let nonce = nonce["nonce"].as_str().context("the server gave no nonce")?;
        let message = SiweMessage::sign_in(&base, client.wallet.address(), chain_id, nonce, 600).to_string();
        let signature = client.wallet.sign_message_sync(message.as_bytes())?;
        let body =
            json!({"message": message, "signature": alloy::hex::encode_prefixed(signature.as_bytes())});
        let login = client
            .expect("POST", "/api/v1/auth/login", Some(body), 200)
            .await
            .context("signing in")?;
        client.token = login["token"]
            .as_str()
            .context("the server gave no token")?
            .to_owned();
        Ok(client)
    }

    /// The signed-in wallet's address.
    pub(crate) fn address(&self) -> alloy::primitives::Address {
        self.wallet.address()
    }

    /// A call with a JSON body (sent as FHIR JSON under `/fhir`): the status and the answer.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        // Refused for too many requests (signing in is rate-limited): wait `Retry-After` and ask
        // again, a few times.
        for _ in 0..10 {
            let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
            if !self.token.is_empty() {
                request = request.bearer_auth(&self.token);
            }
            if let Some(body) = &body {
                let media = if path.starts_with("/fhir") {
                    "application/fhir+json"
                } else {
                    "application/json"
                };
                request = request.header("content-type", media).body(body.to_string());
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("reaching {}", self.base))?;
            let status = response.status().as_u16();
            if status == 429 {
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1u64);
                tokio::time::sleep(std::time::Duration::from_secs(wait.min(60))).await;
                continue;
            }
            let text = response.text().await?;
            return Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))));
        }
        bail!("{path}: the server kept refusing for too many requests")
    }

    /// A call that must answer `status`.
    pub(crate) async fn expect(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> anyhow::Result<Value> {
        let (got, answer) = self.call(method, path, body).await?;
        if got != status {
            bail!("{method} {path} answered {got}: {}", why(&answer));
        }
        Ok(answer)
    }

    /// Signs a request's EIP-712 typed data with the wallet and posts the signature.
    pub(crate) async fn sign(&self, request_id: i64, typed_data: &Value) -> anyhow::Result<()> {
        let typed: TypedData = serde_json::from_value(typed_data.clone()).context("the typed data")?;
        let signature = self.wallet.sign_hash_sync(&typed.eip712_signing_hash()?)?;
        let body = json!({"signature": alloy::hex::encode_prefixed(signature.as_bytes())});
        self.expect(
            "POST",
            &format!("/api/v1/requests/{request_id}/signature"),
            Some(body),
            202,
        )
        .await?;
        Ok(())
    }

    /// The caller's requests awaiting a signature.
    pub(crate) async fn awaiting(&self) -> anyhow::Result<Vec<i64>> {
        let answer = self.expect("GET", "/api/v1/requests", None, 200).await?;
        Ok(answer["requests"]
            .as_array()
            .map(|list| list.iter().filter_map(|r| r["requestId"].as_i64()).collect())
            .unwrap_or_default())
    }
}

/// What an error answer says: a problem's detail, an OperationOutcome's diagnostics, or the text.
pub(crate) fn why(answer: &Value) -> String {
    if let Some(detail) = answer["detail"].as_str() {
        return detail.to_owned();
    }
    if let Some(issues) = answer["issue"].as_array() {
        return issues
            .iter()
            .map(|i| {
                let at = i["expression"][0]
                    .as_str()
                    .map(|e| format!("{e}: "))
                    .unwrap_or_default();
                format!("{at}{}", i["diagnostics"].as_str().unwrap_or(""))
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    answer.to_string()
}
