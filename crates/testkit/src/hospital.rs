//! A whole hospital for a test: the embedded chain (demo setup: the development accounts funded,
//! the first the admin), SQLite and the keys, in a temporary directory removed afterwards.

use std::path::PathBuf;
use std::sync::Arc;

use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;
use medledger_hospital::{Config, Hospital};

use crate::wallets::DEV_KEYS;

/// A hospital in a temporary directory.
#[derive(Debug)]
pub struct TempHospital {
    /// The hospital, open.
    pub hospital: Arc<Hospital>,
    /// Its data directory.
    pub dir: PathBuf,
}

impl TempHospital {
    /// Opens a fresh demo hospital.
    pub async fn open() -> Self {
        let dir =
            std::env::temp_dir().join(format!("medledger-test-{}", PrivateKeySigner::random().address()));
        let hospital = Arc::new(
            Hospital::open(&Config::new(&dir))
                .await
                .expect("the hospital opens"),
        );
        Self { hospital, dir }
    }

    /// The demo's admin (development account 0).
    pub fn admin(&self) -> PrivateKeySigner {
        DEV_KEYS[0].parse().expect("a development key")
    }

    /// A provider on the hospital's embedded chain, sending as the demo's admin.
    pub fn as_admin(&self) -> DynProvider {
        let rpc = self.hospital.rpc().expect("the embedded chain");
        crate::doctors::provider(rpc, Some(&self.admin()))
    }

    /// The demo's admin approves `doctors` on chain.
    pub async fn approve(&self, doctors: &[alloy::primitives::Address]) {
        crate::doctors::approve(&self.as_admin(), self.hospital.deployment.ledger, doctors).await;
    }

    /// Closes the hospital and removes its directory.
    pub async fn close(self) {
        self.hospital.close().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
