//! How a hospital is set up: where its data lives, which database and chain it uses, who its
//! first admin is. Secrets in it (a database URL's password, the metrics token) are redacted
//! when it is printed.

use std::path::PathBuf;

use alloy::primitives::Address;
use medledger_chain::DEFAULT_CHAIN_ID;

/// How a hospital is set up.
#[derive(Clone)]
pub struct Config {
    /// Master key, SQLite database, embedded chain, relayer key.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default SQLite in the data directory.
    pub database_url: Option<String>,
    /// An external chain; default the embedded one.
    pub rpc_url: Option<String>,
    /// The embedded chain's id.
    pub chain_id: u64,
    /// The contracts' first admin (a hospital administrator's wallet). Without one, on the
    /// embedded chain, MedLedger runs as a demo: the public development accounts are funded and
    /// the first of them is the admin.
    pub admin: Option<Address>,
    /// How many blocks deep an event must be before the indexer trusts it (0 suits the embedded
    /// chain, which never reorganises).
    pub confirmations: u64,
    /// The token `/metrics` asks for (`Authorization: Bearer …`); default: `metrics.token` in the
    /// data directory, made on first start.
    pub metrics_token: Option<String>,
}

impl Config {
    /// The embedded defaults in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
            rpc_url: None,
            chain_id: DEFAULT_CHAIN_ID,
            admin: None,
            confirmations: 0,
            metrics_token: None,
        }
    }

    /// Whether this is the demo setup (embedded chain, no admin named).
    pub fn is_demo(&self) -> bool {
        self.rpc_url.is_none() && self.admin.is_none()
    }

    /// The database's URL: the one given, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.sqlite_file().display()))
    }

    /// The embedded SQLite database's file.
    pub fn sqlite_file(&self) -> PathBuf {
        self.data_dir.join("medledger.db")
    }
}

/// `scheme://user:password@host/…` with the password replaced by `***`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(redacted))
            .field("rpc_url", &self.rpc_url.as_deref().map(redacted))
            .field("chain_id", &self.chain_id)
            .field("admin", &self.admin)
            .field("confirmations", &self.confirmations)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_when_printed() {
        let mut config = Config::new("/d");
        config.database_url = Some("postgres://medledger:s3cret@db.example.org:5432/records".into());
        config.metrics_token = Some("t0ken".into());
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("s3cret") && !printed.contains("t0ken"),
            "{printed}"
        );
        assert!(
            printed.contains("postgres://medledger:***@db.example.org:5432/records"),
            "{printed}"
        );
        assert_eq!(redacted("sqlite:///d/medledger.db"), "sqlite:///d/medledger.db");
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
    }
}
