//! A client of the running server's JSON API, as a script or another system drives it: answers
//! kept whole (status, JSON, text), users who sign in with their own wallets (EIP-4361) and sign
//! their own requests (EIP-712).

use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail, ensure};
use medledger_testkit::wallets::sign_in_message;
use serde_json::{Value, json};

/// The JSON API of a running server.
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) url: String,
}

/// One answer: its status, its body as JSON (`Null` if it is not), and as text.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Answer {
    pub(crate) fn short(&self) -> String {
        let text: String = self.text.chars().take(600).collect();
        format!("{} {text}", self.status)
    }
}

impl Api {
    pub(crate) fn new(url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()
            .expect("an HTTP client builds");
        Self {
            http,
            url: url.to_owned(),
        }
    }

    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer { status, body, text })
    }

    pub(crate) async fn get(&self, token: &str, path: &str) -> anyhow::Result<Answer> {
        let request = self.http.get(format!("{}{path}", self.url)).bearer_auth(token);
        self.send(request).await.with_context(|| format!("GET {path}"))
    }

    pub(crate) async fn post(&self, token: &str, path: &str, body: &Value) -> anyhow::Result<Answer> {
        let request = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body);
        self.send(request).await.with_context(|| format!("POST {path}"))
    }

    pub(crate) async fn delete(&self, token: &str, path: &str) -> anyhow::Result<Answer> {
        let request = self.http.delete(format!("{}{path}", self.url)).bearer_auth(token);
        self.send(request).await.with_context(|| format!("DELETE {path}"))
    }
}

/// Someone with a wallet, and their session on the running server.
pub(crate) struct User {
    pub(crate) key: PrivateKeySigner,
    pub(crate) token: String,
}

impl User {
    pub(crate) fn new(key: PrivateKeySigner) -> Self {
        Self {
            key,
            token: String::new(),
        }
    }

    pub(crate) fn address(&self) -> Address {
        self.key.address()
    }

    /// [`User::sign_in`], as a client that many users share an address with does: told to wait
    /// (429, the limit on sign-ins per client address), it waits as long as `Retry-After` says.
    pub(crate) async fn sign_in_patiently(&mut self, api: &Api) -> anyhow::Result<()> {
        for _ in 0..60 {
            match self.sign_in(api).await {
                Err(e) if e.to_string().contains(": 429 ") => {
                    tokio::time::sleep(Duration::from_millis(1100)).await;
                }
                done => return done,
            }
        }
        bail!("{} was refused sign-in for a minute", self.address())
    }

    /// Signs in with Sign-In with Ethereum (as `import.rs` does) and keeps the bearer token.
    pub(crate) async fn sign_in(&mut self, api: &Api) -> anyhow::Result<()> {
        let nonce = api
            .send(api.http.get(format!("{}/api/v1/auth/nonce", api.url)))
            .await?;
        ensure!(nonce.status == 200, "a sign-in nonce: {}", nonce.short());
        let nonce = nonce.body;
        let chain_id = nonce["chainId"].as_u64().context("a chain id")?;
        let nonce = nonce["nonce"].as_str().context("a nonce")?;
        let message = sign_in_message(&api.url, self.address(), chain_id, nonce, 3600);
        let signature =
            alloy::hex::encode_prefixed(self.key.sign_message_sync(message.as_bytes())?.as_bytes());
        let login = api
            .send(
                api.http
                    .post(format!("{}/api/v1/auth/login", api.url))
                    .json(&json!({"message": message, "signature": signature})),
            )
            .await?;
        ensure!(
            login.status == 200,
            "sign-in of {}: {}",
            self.address(),
            login.short()
        );
        self.token = login.body["token"].as_str().context("a token")?.to_owned();
        Ok(())
    }

    pub(crate) async fn get(&self, api: &Api, path: &str) -> anyhow::Result<Answer> {
        api.get(&self.token, path).await
    }

    /// A chain-changing `POST`: expects 202, signs the request's EIP-712 hash with this wallet's
    /// key and posts the signature. Returns the request's id and the 202's body.
    pub(crate) async fn write(&self, api: &Api, path: &str, body: Value) -> anyhow::Result<(i64, Value)> {
        let answer = api.post(&self.token, path, &body).await?;
        ensure!(answer.status == 202, "POST {path} {body}: {}", answer.short());
        let id = answer.body["requestId"].as_i64().context("requestId")?;
        let hash: B256 = answer.body["signingHash"]
            .as_str()
            .context("signingHash")?
            .parse()?;
        let signature = self.key.sign_hash_sync(&hash)?;
        let signed = api
            .post(
                &self.token,
                &format!("/api/v1/requests/{id}/signature"),
                &json!({"signature": alloy::hex::encode_prefixed(signature.as_bytes())}),
            )
            .await?;
        ensure!(signed.status == 202, "signing request {id}: {}", signed.short());
        Ok((id, answer.body))
    }

    /// Waits until request `id` is anchored (long polls of 30 s).
    pub(crate) async fn anchored(&self, api: &Api, id: i64) -> anyhow::Result<()> {
        for _ in 0..8 {
            let answer = self.get(api, &format!("/api/v1/requests/{id}?wait=30")).await?;
            ensure!(answer.status == 200, "request {id}: {}", answer.short());
            match answer.body["status"].as_str() {
                Some("anchored") => return Ok(()),
                Some("rejected" | "awaiting-signature") => bail!("request {id}: {}", answer.short()),
                _ => {}
            }
        }
        bail!("request {id} was not anchored within four minutes")
    }
}
