//! Doctors, approved on chain by an admin's wallet, straight to the contract (what a test needs
//! before its story starts).

use std::sync::Arc;

use alloy::network::EthereumWallet;
use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::signers::local::PrivateKeySigner;
use medledger_chain::rpc::EthApi;
use medledger_chain::transport::InProcess;
use medledger_contracts::MedLedger;

/// A provider on the embedded chain `api`, in process, sending as `signer` when given.
pub fn provider(api: Arc<EthApi>, signer: Option<&PrivateKeySigner>) -> DynProvider {
    let client = RpcClient::new(InProcess::new(api), true);
    match signer {
        Some(s) => ProviderBuilder::new()
            .wallet(EthereumWallet::from(s.clone()))
            .connect_client(client)
            .erased(),
        None => ProviderBuilder::new().connect_client(client).erased(),
    }
}

/// `admin` (whose wallet `as_admin` sends from) approves each of `doctors` on the MedLedger
/// contract at `ledger`, each mined before the next.
pub async fn approve(as_admin: &DynProvider, ledger: Address, doctors: &[Address]) {
    let ledger = MedLedger::new(ledger, as_admin.clone());
    for doctor in doctors {
        let receipt = ledger
            .registerDoctor(*doctor)
            .send()
            .await
            .expect("registerDoctor is sent")
            .get_receipt()
            .await
            .expect("registerDoctor is mined");
        assert!(receipt.status(), "approving {doctor}");
    }
}
