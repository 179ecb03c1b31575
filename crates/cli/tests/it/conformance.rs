//! One MedLedger story told to the embedded chain and to anvil, with the same chain id and the
//! same development keys, comparing everything a client sees: contract addresses and code,
//! receipts (status, gas used, logs), `eth_call` results at several block tags, storage, nonces,
//! balances, revert reasons as alloy decodes them, refusals (classified by code and keyword),
//! and log filters. Gas estimates may differ a little; each must be enough for its transaction.
//!
//! The story records what it sees in a [`Transcript`]; per-chain expectations (things that must
//! hold on any correct chain) are recorded beside it. anvil's transcript must meet every
//! expectation, so the story itself is checked; then the node's must meet them too and equal it.

mod filters;
mod reads;
mod refusals;
mod transcript;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use anyhow::Context;
use medledger_contracts::forward::{ForwardRequest, domain};
use medledger_contracts::{Deployment, MedLedger, MedLedgerForwarder};
use medledger_core::entry::EntryKind;
use serde_json::{Value, json};

use transcript::Transcript;

use crate::util::{Chain, DEV_BALANCE, ONE_ETH, Rpc, dev_signers, quantity};

/// MedLedger's default chain id, on both chains.
const CHAIN_ID: u64 = 19788;

/// A fixed deadline for relayed requests, so both chains see byte-identical calldata.
const DEADLINE: u64 = 4_102_444_800;

#[tokio::test]
async fn the_embedded_chain_answers_a_client_as_anvil_does() -> anyhow::Result<()> {
    let Some(anvil) = Chain::anvil(CHAIN_ID)? else {
        return Ok(());
    };
    let anvil_accounts: Vec<Address> = anvil.signers.iter().map(|s| s.address()).collect();
    let dev_accounts: Vec<Address> = dev_signers().iter().map(|s| s.address()).collect();
    assert_eq!(anvil_accounts, dev_accounts, "util::DEV_KEYS are anvil's keys");

    let mut reference = Transcript::default();
    let told = tell(&anvil, &mut reference).await;
    assert!(
        told.is_ok() && reference.unmet().is_empty(),
        "the story does not hold on anvil itself: {told:?}\n{}",
        reference.unmet().join("\n")
    );
    drop(anvil);

    let node = Chain::medledger(CHAIN_ID)?;
    let mut observed = Transcript::default();
    let told = tell(&node, &mut observed).await;
    let mut problems: Vec<String> = observed.unmet().to_vec();
    problems.extend(reference.differences(&observed));
    if let Err(error) = told {
        problems.push(format!("the story stopped on medledger: {error:#}"));
    }
    assert!(
        problems.is_empty(),
        "medledger node differs from anvil ({} problems):\n{}",
        problems.len(),
        problems.join("\n")
    );
    Ok(())
}

/// The people in the story: anvil's first five development accounts.
pub(crate) struct Cast {
    pub(crate) admin: PrivateKeySigner,
    pub(crate) doctor: PrivateKeySigner,
    pub(crate) patient: PrivateKeySigner,
    pub(crate) stranger: PrivateKeySigner,
    pub(crate) relayer: PrivateKeySigner,
}

/// A story in progress on one chain.
pub(crate) struct Story<'a> {
    pub(crate) chain: &'a Chain,
    pub(crate) provider: DynProvider,
    pub(crate) rpc: Rpc,
    pub(crate) seen: &'a mut Transcript,
    pub(crate) cast: Cast,
    pub(crate) deployment: Deployment,
}

/// Tells the whole story to `chain`, recording into `seen`.
async fn tell(chain: &Chain, seen: &mut Transcript) -> anyhow::Result<()> {
    let rpc = chain.rpc();
    let s = &chain.signers;
    let cast = Cast {
        admin: s[0].clone(),
        doctor: s[1].clone(),
        patient: s[2].clone(),
        stranger: s[3].clone(),
        relayer: s[4].clone(),
    };
    seen.saw("eth_chainId", rpc.call("eth_chainId", json!([])).await?);
    seen.saw("net_version", rpc.call("net_version", json!([])).await?);
    seen.saw(
        "eth_blockNumber at start",
        rpc.call("eth_blockNumber", json!([])).await?,
    );
    let balance = rpc
        .call("eth_getBalance", json!([cast.admin.address(), "latest"]))
        .await?;
    seen.expect(
        quantity(&balance) == DEV_BALANCE,
        format!("the admin starts with 10,000 ETH, not {balance}"),
    );

    let provider = chain.provider();
    let deployment = medledger_contracts::deploy(&provider, cast.admin.address(), 3 * 24 * 3600)
        .await
        .context("deploying MedLedger")?;
    seen.saw(
        "deployment",
        json!(deployment.forwarder.to_string() + " " + &deployment.ledger.to_string()),
    );
    let mut story = Story {
        chain,
        provider,
        rpc,
        seen,
        cast,
        deployment,
    };
    story.code().await?;
    let filters = filters::Installed::new(&mut story).await?;
    story.ledger_entries().await?;
    filters.changes(&mut story).await?;
    story.reverts().await?;
    story.state().await?;
    refusals::tell(&mut story).await?;
    filters::logs(&mut story).await?;
    story.blocks().await
}

impl Story<'_> {
    /// The code both contracts were deployed with: the committed runtime code, with the
    /// immutables (the artifact's zero placeholders) filled in the same way on both chains.
    async fn code(&mut self) -> anyhow::Result<()> {
        let Deployment { forwarder, ledger } = self.deployment;
        for (name, address, committed) in [
            ("forwarder", forwarder, &MedLedgerForwarder::DEPLOYED_BYTECODE),
            ("ledger", ledger, &MedLedger::DEPLOYED_BYTECODE),
        ] {
            let on_chain =
                crate::util::data(&self.rpc.call("eth_getCode", json!([address, "latest"])).await?);
            let runs = crate::util::is_deployment_of(&on_chain, committed);
            self.seen
                .expect(runs, format!("the {name} runs its committed code"));
            self.seen.saw(format!("{name} code"), json!(on_chain));
            self.observe(
                format!("{name} code at block 0"),
                "eth_getCode",
                json!([address, "earliest"]),
            )
            .await;
        }
        Ok(())
    }

    /// Records the result of `method`, or its error (so the story goes on past a difference).
    async fn observe(&mut self, step: String, method: &str, params: Value) {
        let seen = match self.rpc.call(method, params).await {
            Ok(result) => result,
            Err(error) => json!({"error": format!("{error:#}")}),
        };
        self.seen.saw(step, seen);
    }

    /// `from` sends `input` to `to` with the gas the chain estimates for it, which must be enough.
    pub(crate) async fn send(
        &mut self,
        step: &str,
        from: Address,
        to: Address,
        input: Bytes,
        value: U256,
    ) -> anyhow::Result<TransactionReceipt> {
        let tx = TransactionRequest::default()
            .with_from(from)
            .with_to(to)
            .with_input(input)
            .with_value(value);
        let estimate = self
            .provider
            .estimate_gas(tx.clone())
            .await
            .context(step.to_owned())?;
        let receipt = self
            .provider
            .send_transaction(tx.with_gas_limit(estimate))
            .await?
            .get_receipt()
            .await?;
        self.seen.expect(
            receipt.status(),
            format!("{step} succeeds with the estimated {estimate} gas"),
        );
        self.seen.estimated(step, estimate);
        Ok(receipt)
    }

    /// `signer`'s `call`, signed as a forward request: the calldata of the forwarder's `execute`
    /// that the relayer submits.
    pub(crate) fn relayed(&self, signer: &PrivateKeySigner, call: impl SolCall, nonce: u64) -> Bytes {
        let request = ForwardRequest::new(
            signer.address(),
            self.deployment.ledger,
            call.abi_encode().into(),
            300_000,
            U256::from(nonce),
            DEADLINE,
        );
        let digest = request.signing_hash(&domain(self.chain.chain_id, self.deployment.forwarder));
        let signature = signer.sign_hash_sync(&digest).expect("a local key signs");
        let data = request.with_signature(Bytes::from(signature.as_bytes().to_vec()));
        MedLedgerForwarder::executeCall { request: data }
            .abi_encode()
            .into()
    }

    /// A doctor approved, a patient added, entries appended directly and through the forwarder,
    /// an ether transfer, and a transaction that reverts on chain.
    async fn ledger_entries(&mut self) -> anyhow::Result<()> {
        let (admin, doctor, patient) = (
            self.cast.admin.address(),
            self.cast.doctor.address(),
            self.cast.patient.address(),
        );
        let (ledger, forwarder) = (self.deployment.ledger, self.deployment.forwarder);
        let zero = U256::ZERO;
        let register = MedLedger::registerDoctorCall { doctor }.abi_encode().into();
        self.send("registerDoctor", admin, ledger, register, zero).await?;
        let add = MedLedger::addPatientCall { wallet: patient }.abi_encode().into();
        self.send("addPatient", doctor, ledger, add, zero).await?;
        let entry = |n: u64, kind: EntryKind, supersedes: u64| MedLedger::updateMedicalHistoryCall {
            patientId: U256::from(1),
            commitment: keccak256(format!("salt and entry {n}")),
            kind: kind as u8,
            supersedes,
        };
        let direct = entry(1, EntryKind::Diagnosis, 0).abi_encode().into();
        self.send("direct entry", doctor, ledger, direct, zero).await?;
        let relayer = self.cast.relayer.address();
        let doctor_signer = self.cast.doctor.clone();
        let relayed = self.relayed(&doctor_signer, entry(2, EntryKind::Medication, 0), 0);
        self.send("relayed entry", relayer, forwarder, relayed, zero)
            .await?;
        let amendment = self.relayed(&doctor_signer, entry(3, EntryKind::Note, 1), 1);
        self.send("relayed amendment", relayer, forwarder, amendment, zero)
            .await?;
        let payee = Address::repeat_byte(0xe7);
        let value = U256::from(3 * ONE_ETH / 2);
        self.send("transfer", admin, payee, Bytes::new(), value).await?;
        let balance = self.rpc.call("eth_getBalance", json!([payee, "latest"])).await?;
        self.seen.expect(
            quantity(&balance) == 3 * ONE_ETH / 2,
            format!("the payee holds 1.5 ETH, not {balance}"),
        );

        // Sent with a fixed gas limit, as a wallet that skips estimation would: mined, reverted.
        let empty = MedLedger::updateMedicalHistoryCall {
            patientId: U256::from(1),
            commitment: B256::ZERO,
            kind: 0,
            supersedes: 0,
        };
        let tx = TransactionRequest::default()
            .with_from(doctor)
            .with_to(ledger)
            .with_input(Bytes::from(empty.abi_encode()))
            .with_gas_limit(200_000);
        let receipt = self.provider.send_transaction(tx).await?.get_receipt().await?;
        self.seen.expect(
            !receipt.status(),
            "an empty commitment reverts on chain (status 0)",
        );
        Ok(())
    }
}
