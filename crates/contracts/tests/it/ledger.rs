//! The Rust bindings against real contracts on a real node (anvil from npm): deployment, direct
//! and relayed writes, the history-head rule, and revert reasons a user can read.

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::SolEvent;
use medledger_contracts::history::{Head, Link, head_of};
use medledger_contracts::{MedLedger, revert};

use crate::chain::Chain;

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
    let Some(chain) = Chain::start().await? else {
        return Ok(());
    };
    chain.approve_doctor().await?;
    let (doctor, patient) = (chain.doctor.address(), chain.patient.address());

    let receipt = chain
        .relay(&chain.doctor, MedLedger::addPatientCall { wallet: patient })
        .await?;
    let added = event::<MedLedger::PatientAdded>(&receipt);
    assert_eq!(
        (added.patientId, added.wallet, added.registeredBy),
        (U256::from(1), patient, doctor)
    );

    let mut links = Vec::new();
    for (version, kind) in [(1u64, 0u8), (2, 1)] {
        // A diagnosis (kind 0), then a medication (kind 1).
        let commitment = keccak256(format!("salt and entry {version}"));
        let call = MedLedger::updateMedicalHistoryCall {
            patientId: U256::from(1),
            commitment,
            kind,
            supersedes: 0,
        };
        let receipt = chain.relay(&chain.doctor, call).await?;
        let updated = event::<MedLedger::MedicalHistoryUpdated>(&receipt);
        links.push(Link {
            commitment,
            kind,
            supersedes: 0,
            author: doctor,
            version,
        });
        assert_eq!(
            updated.author, doctor,
            "the signer is the author, not the relayer"
        );
        assert_eq!(updated.version, version);
        assert_eq!(
            updated.head,
            head_of(&links),
            "the Rust head rule matches the contract"
        );
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
    let Some(chain) = Chain::start().await? else {
        return Ok(());
    };
    let link = Link {
        commitment: B256::repeat_byte(0x11),
        kind: 1, // a medication
        supersedes: 0,
        author: "0x00000000000000000000000000000000000d0c00".parse::<Address>()?,
        version: 1,
    };
    let on_chain = chain
        .ledger()
        .linkHead(
            Head::ZERO,
            link.commitment,
            link.kind,
            link.supersedes,
            link.author,
            link.version,
        )
        .call()
        .await?;
    assert_eq!(on_chain, link.next_head(Head::ZERO));
    assert_eq!(
        on_chain.to_string(),
        "0x858e4a7f5ea5cdcb9ceaabee8909e5904f738bc922e3dca2"
    );
    Ok(())
}

#[tokio::test]
async fn refused_requests_say_why() -> anyhow::Result<()> {
    let Some(chain) = Chain::start().await? else {
        return Ok(());
    };
    chain.approve_doctor().await?;
    let stranger = chain.stranger.address();

    let why = chain
        .refusal(&chain.stranger, MedLedger::addPatientCall { wallet: stranger })
        .await?;
    assert_eq!(why, format!("{stranger} is not an approved doctor"));

    chain
        .relay(
            &chain.doctor,
            MedLedger::addPatientCall {
                wallet: chain.patient.address(),
            },
        )
        .await?;
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
        .refusal(
            &chain.stranger,
            MedLedger::registerDoctorCall { doctor: stranger },
        )
        .await?;
    assert!(
        why.starts_with(&format!("{stranger} lacks the role this needs (admin)")),
        "{why}"
    );
    Ok(())
}

#[tokio::test]
async fn a_relayed_request_runs_once() -> anyhow::Result<()> {
    let Some(chain) = Chain::start().await? else {
        return Ok(());
    };
    chain.approve_doctor().await?;
    let request = chain
        .sign_request(
            &chain.doctor,
            MedLedger::addPatientCall {
                wallet: chain.patient.address(),
            },
        )
        .await?;
    let receipt = chain
        .forwarder()
        .execute(request.clone())
        .from(chain.relayer.address())
        .send()
        .await?
        .get_receipt()
        .await?;
    assert!(receipt.status());
    let replay = chain
        .forwarder()
        .execute(request)
        .from(chain.relayer.address())
        .call()
        .await;
    let data = replay
        .expect_err("a replay is refused")
        .as_revert_data()
        .expect("with a reason");
    assert!(
        revert::is_invalid_signer(&data),
        "recognised as signed for another nonce"
    );
    let why = revert::describe(&data).expect("a forwarder error");
    assert!(
        why.contains("signed by"),
        "the replayed signature no longer matches its nonce: {why}"
    );
    assert_eq!(chain.ledger().patientCount().call().await?, U256::from(1));
    Ok(())
}

#[tokio::test]
async fn users_with_gas_send_their_own_transactions() -> anyhow::Result<()> {
    let Some(chain) = Chain::start().await? else {
        return Ok(());
    };
    chain.approve_doctor().await?;
    let second_doctor = &chain.signers[5];
    let approve = MedLedger::registerDoctorCall {
        doctor: second_doctor.address(),
    };
    assert!(chain.direct(&chain.admin, approve).await?.status());

    let add = MedLedger::addPatientCall {
        wallet: chain.patient.address(),
    };
    let receipt = chain.direct(&chain.doctor, add).await?;
    let id = event::<MedLedger::PatientAdded>(&receipt).patientId;

    let grant = MedLedger::grantAccessCall {
        patientId: id,
        doctor: second_doctor.address(),
        expiresAt: 0,
    };
    let receipt = chain.direct(&chain.patient, grant).await?;
    let granted = event::<MedLedger::AccessGranted>(&receipt);
    assert_eq!(
        (granted.doctor, granted.expiresAt),
        (second_doctor.address(), u64::MAX)
    );
    assert!(
        chain
            .ledger()
            .hasAccess(second_doctor.address(), id)
            .call()
            .await?
    );

    let revoke = MedLedger::revokeAccessCall {
        patientId: id,
        doctor: second_doctor.address(),
    };
    assert!(chain.direct(&chain.patient, revoke).await?.status());
    assert!(
        !chain
            .ledger()
            .hasAccess(second_doctor.address(), id)
            .call()
            .await?
    );
    Ok(())
}
