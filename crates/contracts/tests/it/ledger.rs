//! The Rust bindings against real contracts on a real node (anvil from npm): deployment, direct
//! and relayed writes, the history-head rule, and revert reasons a user can read.

use alloy::network::EthereumWallet;
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use medledger_contracts::forward::{ForwardRequest, domain};
use medledger_contracts::history::{EntryKind, Link, head_of};
use medledger_contracts::{Deployment, MedLedger, MedLedgerForwarder, deploy, revert};

use crate::util::tool;

/// A fresh anvil with MedLedger deployed, and the people who use it.
struct Chain {
    _anvil: AnvilInstance,
    provider: DynProvider,
    chain_id: u64,
    deployment: Deployment,
    admin: PrivateKeySigner,
    doctor: PrivateKeySigner,
    patient: PrivateKeySigner,
    stranger: PrivateKeySigner,
    relayer: PrivateKeySigner,
}

impl Chain {
    async fn start() -> anyhow::Result<Option<Self>> {
        let Some(anvil_bin) = tool("anvil") else { return Ok(None) };
        let anvil = Anvil::at(anvil_bin).try_spawn()?;
        let signers: Vec<PrivateKeySigner> = anvil.keys().iter().map(PrivateKeySigner::from).collect();
        let mut wallet = EthereumWallet::from(signers[0].clone());
        for signer in &signers[1..] {
            wallet.register_signer(signer.clone());
        }
        let provider = ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url()).erased();
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
        }))
    }

    fn ledger(&self) -> MedLedger::MedLedgerInstance<DynProvider> {
        MedLedger::new(self.deployment.ledger, self.provider.clone())
    }

    fn forwarder(&self) -> MedLedgerForwarder::MedLedgerForwarderInstance<DynProvider> {
        MedLedgerForwarder::new(self.deployment.forwarder, self.provider.clone())
    }

    /// `signer` signs a forward request for `call` on the ledger, as a wallet would.
    async fn sign_request(
        &self,
        signer: &PrivateKeySigner,
        call: impl SolCall,
    ) -> anyhow::Result<medledger_contracts::ERC2771Forwarder::ForwardRequestData> {
        let nonce = self.forwarder().nonces(signer.address()).call().await?;
        let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
        let request =
            ForwardRequest::new(signer.address(), self.deployment.ledger, call.abi_encode().into(), 500_000, nonce, deadline);
        let signature = signer.sign_hash_sync(&request.signing_hash(&domain(self.chain_id, self.deployment.forwarder)))?;
        Ok(request.with_signature(Bytes::from(signature.as_bytes().to_vec())))
    }

    /// The relayer submits `signer`'s signed `call`.
    async fn relay(&self, signer: &PrivateKeySigner, call: impl SolCall) -> anyhow::Result<TransactionReceipt> {
        let request = self.sign_request(signer, call).await?;
        let pending = self.forwarder().execute(request).from(self.relayer.address()).send().await?;
        Ok(pending.get_receipt().await?)
    }

    /// What the chain says when the relayer tries `signer`'s signed `call`.
    async fn refusal(&self, signer: &PrivateKeySigner, call: impl SolCall) -> anyhow::Result<String> {
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

    async fn approve_doctor(&self) -> anyhow::Result<()> {
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

fn event<E: SolEvent>(receipt: &TransactionReceipt) -> E {
    receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<E>().ok())
        .map(|log| log.inner.data)
        .unwrap_or_else(|| panic!("no {} event in the receipt", E::SIGNATURE))
}

#[tokio::test]
async fn relayed_writes_act_as_their_signer_and_link_the_history() -> anyhow::Result<()> {
    let Some(chain) = Chain::start().await? else { return Ok(()) };
    chain.approve_doctor().await?;
    let (doctor, patient) = (chain.doctor.address(), chain.patient.address());

    let receipt = chain.relay(&chain.doctor, MedLedger::addPatientCall { wallet: patient }).await?;
    let added = event::<MedLedger::PatientAdded>(&receipt);
    assert_eq!((added.patientId, added.wallet, added.registeredBy), (U256::from(1), patient, doctor));

    let mut links = Vec::new();
    for (version, kind) in [(1u64, EntryKind::Diagnosis), (2, EntryKind::Medication)] {
        let commitment = keccak256(format!("salt and entry {version}"));
        let call = MedLedger::updateMedicalHistoryCall {
            patientId: U256::from(1),
            commitment,
            kind: kind as u8,
            supersedes: 0,
        };
        let receipt = chain.relay(&chain.doctor, call).await?;
        let updated = event::<MedLedger::MedicalHistoryUpdated>(&receipt);
        links.push(Link { commitment, kind, supersedes: 0, author: doctor, version });
        assert_eq!(updated.author, doctor, "the signer is the author, not the relayer");
        assert_eq!(updated.version, version);
        assert_eq!(updated.head, head_of(&links), "the Rust head rule matches the contract");
    }

    let on_chain = chain.ledger().getPatient(U256::from(1)).call().await?;
    assert_eq!(on_chain.wallet, patient);
    assert_eq!(on_chain.registeredBy, doctor);
    assert_eq!(on_chain.entryCount, 2);
    assert_eq!(on_chain.head, head_of(&links));
    Ok(())
}

#[tokio::test]
async fn contract_link_matches_the_documented_fixed_vector() -> anyhow::Result<()> {
    let Some(chain) = Chain::start().await? else { return Ok(()) };
    let link = Link {
        commitment: B256::repeat_byte(0x11),
        kind: EntryKind::Medication,
        supersedes: 0,
        author: "0x00000000000000000000000000000000000d0c00".parse::<Address>()?,
        version: 1,
    };
    let on_chain = chain
        .ledger()
        .linkHead(B256::ZERO, link.commitment, link.kind as u8, link.supersedes, link.author, link.version)
        .call()
        .await?;
    assert_eq!(on_chain, link.next_head(B256::ZERO));
    assert_eq!(on_chain.to_string(), "0x858e4a7f5ea5cdcb9ceaabee8909e5904f738bc922e3dca2262a5a41350b9d41");
    Ok(())
}

#[tokio::test]
async fn refused_requests_say_why() -> anyhow::Result<()> {
    let Some(chain) = Chain::start().await? else { return Ok(()) };
    chain.approve_doctor().await?;
    let stranger = chain.stranger.address();

    let why = chain.refusal(&chain.stranger, MedLedger::addPatientCall { wallet: stranger }).await?;
    assert_eq!(why, format!("{stranger} is not an approved doctor"));

    chain.relay(&chain.doctor, MedLedger::addPatientCall { wallet: chain.patient.address() }).await?;
    let why = chain
        .refusal(
            &chain.doctor,
            MedLedger::updateMedicalHistoryCall {
                patientId: U256::from(1),
                commitment: B256::ZERO,
                kind: 0,
                supersedes: 0,
            },
        )
        .await?;
    assert_eq!(why, "the entry's commitment must not be zero");

    let why = chain
        .refusal(&chain.stranger, MedLedger::registerDoctorCall { doctor: stranger })
        .await?;
    assert!(why.starts_with(&format!("{stranger} lacks the role this needs (admin)")), "{why}");
    Ok(())
}

#[tokio::test]
async fn a_relayed_request_runs_once() -> anyhow::Result<()> {
    let Some(chain) = Chain::start().await? else { return Ok(()) };
    chain.approve_doctor().await?;
    let request = chain.sign_request(&chain.doctor, MedLedger::addPatientCall { wallet: chain.patient.address() }).await?;
    let receipt =
        chain.forwarder().execute(request.clone()).from(chain.relayer.address()).send().await?.get_receipt().await?;
    assert!(receipt.status());
    let replay = chain.forwarder().execute(request).from(chain.relayer.address()).call().await;
    let data = replay.expect_err("a replay is refused").as_revert_data().expect("with a reason");
    let why = revert::describe(&data).expect("a forwarder error");
    assert!(why.contains("signed by"), "the replayed signature no longer matches its nonce: {why}");
    assert_eq!(chain.ledger().patientCount().call().await?, U256::from(1));
    Ok(())
}
