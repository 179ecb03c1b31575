//! A hospital under test: the embedded chain with MedLedger deployed, a store, the record flows,
//! the relayer and the indexer, and the wallets of an admin, doctors and patients.

use std::sync::Arc;

use alloy::providers::{DynProvider, Provider};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use medledger_chain::rpc::EthApi;
use medledger_chain::{Chain, ChainConfig};
use medledger_contracts::MedLedger;
use medledger_core::crypto::{Keyring, MasterKey};
use medledger_ledger::indexer::Indexer;
use medledger_ledger::records::{PendingWrite, Records};
use medledger_ledger::relayer::Relayer;
use medledger_store::mirror::Deployment;
use medledger_store::requests::RequestStatus;
use medledger_testkit as testkit;
use medledger_testkit::db::Fresh;

pub(crate) struct Hospital {
    pub(crate) db: Fresh,
    pub(crate) chain: Chain,
    pub(crate) chain_dir: std::path::PathBuf,
    pub(crate) provider: DynProvider,
    pub(crate) keyring: Keyring,
    pub(crate) records: Arc<Records>,
    pub(crate) relayer: Relayer,
    pub(crate) indexer: Indexer,
    pub(crate) relayer_key: PrivateKeySigner,
    pub(crate) doctors: Vec<PrivateKeySigner>,
    pub(crate) deployment: Deployment,
}

impl Hospital {
    /// A hospital on a fresh chain, with two approved doctors, over `db`.
    pub(crate) async fn open(db: Fresh) -> Self {
        let admin = PrivateKeySigner::random();
        let relayer_key = PrivateKeySigner::random();
        let doctors: Vec<PrivateKeySigner> = (0..3).map(|_| PrivateKeySigner::random()).collect();
        let chain_dir = std::env::temp_dir().join(format!(
            "medledger-ledger-chain-{}",
            PrivateKeySigner::random().address()
        ));
        let mut config = ChainConfig::new(&chain_dir);
        config.funded = vec![admin.address(), relayer_key.address()];
        let chain = Chain::open(config).expect("the chain opens");
        let api = Arc::new(EthApi::new(chain.clone()));
        let as_admin = testkit::doctors::provider(api.clone(), Some(&admin));
        let deployed = medledger_contracts::deploy(&as_admin, admin.address(), 0)
            .await
            .expect("deploy");
        let ledger = MedLedger::new(deployed.ledger, as_admin.clone());
        let approved: Vec<_> = doctors[..2].iter().map(PrivateKeySigner::address).collect();
        testkit::doctors::approve(&as_admin, deployed.ledger, &approved).await;
        let auditor = ledger.AUDITOR_ROLE().call().await.unwrap();
        ledger
            .grantRole(auditor, relayer_key.address())
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();

        let provider = testkit::doctors::provider(api, None);
        let deployment = Deployment {
            chain_id: provider.get_chain_id().await.unwrap(),
            ledger: deployed.ledger,
            forwarder: deployed.forwarder,
            block_number: 1,
        };
        db.store.set_deployment(&deployment).await.unwrap();
        let keyring = Keyring::new(MasterKey::generate().unwrap(), vec![]);
        let records = Arc::new(
            Records::open(db.store.clone(), keyring.clone(), provider.clone())
                .await
                .unwrap(),
        );
        let mut hospital = Self {
            relayer: Relayer::new(
                provider.clone(),
                db.store.clone(),
                relayer_key.clone(),
                deployment.chain_id,
                deployment.forwarder,
                deployment.ledger,
            )
            .with_nonces(records.nonces().clone()),
            records,
            indexer: Indexer::new(provider.clone(), db.store.clone(), deployment.ledger, 1, 0),
            db,
            chain,
            chain_dir,
            provider,
            keyring,
            relayer_key,
            doctors,
            deployment,
        };
        hospital.settle().await;
        hospital
    }

    /// The doctor's (or patient's) wallet signs what the server handed it.
    pub(crate) async fn sign(&self, wallet: &PrivateKeySigner, write: &PendingWrite) {
        let signature = wallet.sign_hash_sync(&write.signing_hash).unwrap();
        self.records
            .sign(write.request_id, &signature.as_bytes())
            .await
            .unwrap();
    }

    /// Relays and indexes until nothing is in flight.
    pub(crate) async fn settle(&mut self) {
        for _ in 0..100 {
            self.relayer.step().await.unwrap();
            self.indexer.sync().await.unwrap();
            let store = &self.db.store;
            let mut busy = 0;
            for status in [
                RequestStatus::Signed,
                RequestStatus::Submitted,
                RequestStatus::Included,
            ] {
                busy += store.requests_in(status, 1).await.unwrap().len();
            }
            if busy == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("requests still in flight after 100 rounds");
    }

    /// Removes the chain and the database.
    pub(crate) async fn remove(self) {
        self.chain.shutdown();
        let _ = std::fs::remove_dir_all(&self.chain_dir);
        self.db.remove().await;
    }
}

/// A story over a hospital on each database.
#[macro_export]
macro_rules! hospital_story {
    ($story:ident) => {
        mod $story {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let hospital = $crate::hospital::Hospital::open(medledger_testkit::db::sqlite().await).await;
                super::$story(hospital).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = medledger_testkit::db::postgres().await {
                    super::$story($crate::hospital::Hospital::open(db).await).await;
                }
            }
        }
    };
}
