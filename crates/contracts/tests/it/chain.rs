//! A fresh anvil with MedLedger deployed, and the people who use it: shared by the integration
//! tests and the gas benchmark (which includes this file by path).

use alloy::network::EthereumWallet;
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use medledger_contracts::forward::{ForwardRequest, domain};
use medledger_contracts::{Deployment, MedLedger, MedLedgerForwarder, deploy, revert};

use crate::util::tool;

/// A fresh anvil with MedLedger deployed, and the people who use it.
pub(crate) struct Chain {
    _anvil: AnvilInstance,
    pub(crate) provider: DynProvider,
    pub(crate) chain_id: u64,
    pub(crate) deployment: Deployment,
    pub(crate) admin: PrivateKeySigner,
    pub(crate) doctor: PrivateKeySigner,
    pub(crate) patient: PrivateKeySigner,
    pub(crate) stranger: PrivateKeySigner,
    pub(crate) relayer: PrivateKeySigner,
    /// anvil's ten funded development accounts, the five above first.
    pub(crate) signers: Vec<PrivateKeySigner>,
}

impl Chain {
    pub(crate) async fn start() -> anyhow::Result<Option<Self>> {
        let Some(anvil_bin) = tool("anvil") else {
            return Ok(None);
        };
        let anvil = Anvil::at(anvil_bin).try_spawn()?;
        let signers: Vec<PrivateKeySigner> = anvil.keys().iter().map(PrivateKeySigner::from).collect();
        let mut wallet = EthereumWallet::from(signers[0].clone());
        for signer in &signers[1..] {
            wallet.register_signer(signer.clone());
        }
        let provider = ProviderBuilder::new()
            .wallet(wallet)
            .connect_http(anvil.endpoint_url())
            .erased();
        let admin = signers[0].clone();
        let deployment = deploy(&provider, admin.address(), 3 * 24 * 3600).await?;
        Ok(Some(Self {
            chain_id: anvil.chain_id(),
            _anvil: anvil,
            provider,
            deployment,
            admin,
            doctor: signers[1].clone(),
            patient: signers[2].clone(),
            stranger: signers[3].clone(),
            relayer: signers[4].clone(),
            signers,
        }))
    }

    pub(crate) fn ledger(&self) -> MedLedger::MedLedgerInstance<DynProvider> {
        MedLedger::new(self.deployment.ledger, self.provider.clone())
    }

    pub(crate) fn forwarder(&self) -> MedLedgerForwarder::MedLedgerForwarderInstance<DynProvider> {
        MedLedgerForwarder::new(self.deployment.forwarder, self.provider.clone())
    }

    /// `signer` signs a forward request for `call` on the ledger, as a wallet would.
    pub(crate) async fn sign_request(
        &self,
        signer: &PrivateKeySigner,
        call: impl SolCall,
    ) -> anyhow::Result<medledger_contracts::ERC2771Forwarder::ForwardRequestData> {
        let nonce = self.forwarder().nonces(signer.address()).call().await?;
        self.sign_request_at(signer, call, nonce)
    }

    /// As [`Chain::sign_request`], for the forwarder nonce `nonce` (one still to come).
    pub(crate) fn sign_request_at(
        &self,
        signer: &PrivateKeySigner,
        call: impl SolCall,
        nonce: U256,
    ) -> anyhow::Result<medledger_contracts::ERC2771Forwarder::ForwardRequestData> {
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
            + 3600;
        let request = ForwardRequest::new(
            signer.address(),
            self.deployment.ledger,
            call.abi_encode().into(),
            500_000,
            nonce,
            deadline,
        );
        let signature = signer
            .sign_hash_sync(&request.signing_hash(&domain(self.chain_id, self.deployment.forwarder)))?;
        Ok(request.with_signature(Bytes::from(signature.as_bytes().to_vec())))
    }

    /// The relayer submits `signer`'s signed `call`.
    pub(crate) async fn relay(
        &self,
        signer: &PrivateKeySigner,
        call: impl SolCall,
    ) -> anyhow::Result<TransactionReceipt> {
        let request = self.sign_request(signer, call).await?;
        let pending = self
            .forwarder()
            .execute(request)
            .from(self.relayer.address())
            .send()
            .await?;
        Ok(pending.get_receipt().await?)
    }

    /// What the chain says when the relayer tries `signer`'s signed `call`.
    pub(crate) async fn refusal(
        &self,
        signer: &PrivateKeySigner,
        call: impl SolCall,
    ) -> anyhow::Result<String> {
        let request = self.sign_request(signer, call).await?;
        let error = self
            .forwarder()
            .execute(request)
            .from(self.relayer.address())
            .call()
            .await
            .expect_err("the forwarder should refuse this request");
        let data = error.as_revert_data().expect("the refusal carries revert data");
        Ok(revert::describe(&data).expect("MedLedger's errors are all described"))
    }

    /// `from` sends `call` to the ledger itself, paying its own gas.
    pub(crate) async fn direct(
        &self,
        from: &PrivateKeySigner,
        call: impl SolCall,
    ) -> anyhow::Result<TransactionReceipt> {
        let tx = TransactionRequest::default()
            .from(from.address())
            .to(self.deployment.ledger)
            .input(Bytes::from(call.abi_encode()).into());
        Ok(self.provider.send_transaction(tx).await?.get_receipt().await?)
    }

    pub(crate) async fn approve_doctor(&self) -> anyhow::Result<()> {
        let receipt = self
            .ledger()
            .registerDoctor(self.doctor.address())
            .from(self.admin.address())
            .send()
            .await?
            .get_receipt()
            .await?;
        assert!(receipt.status(), "the admin's direct transaction succeeds");
        Ok(())
    }
}
