//! Gas per MedLedger function on a real node: each call sent directly by a user with gas, and
//! relayed through the forwarder as a signed EIP-712 request (what users without gas do), as the
//! total gas of the transaction's receipt. Prints a Markdown table for BENCHMARKS.md.
//!
//! Run: `cargo bench -p medledger-contracts --bench gas` (needs anvil: `npm --prefix contracts
//! install --ignore-scripts`).

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use medledger_contracts::MedLedger as L;

#[allow(dead_code)]
#[path = "../tests/it/util.rs"]
mod util;

#[allow(dead_code)]
#[path = "../tests/it/chain.rs"]
mod chain;

use chain::Chain;

/// The thesis prototype's figures (Solidity 0.5.16 contract on Ganache 7.9.2), from
/// shared/thesis-baseline/results.md.
fn thesis(function: &str) -> &'static str {
    match function {
        "registerDoctor" => "43,493",
        "addPatient" => "151,625",
        "updateMedicalHistory" => "44,492",
        _ => "n/a",
    }
}

/// Requests in the measured `executeEach`.
const EACH: u64 = 50;

struct Row {
    function: String,
    direct: u64,
    relayed: u64,
    per: u64,
}

fn commitments(seed: u64, n: usize) -> (Vec<B256>, Bytes) {
    let cs = (0..n).map(|i| keccak256(format!("{seed}/{i}"))).collect();
    let kinds = (0..n).map(|i| (i % 6) as u8).collect::<Vec<_>>();
    (cs, kinds.into())
}

fn wallet(n: u64) -> Address {
    Address::from_word(keccak256(n.to_be_bytes()))
}

/// Gas of `make()` sent directly by `by` and relayed with `by`'s signature. Both run on fresh state
/// of the same shape: `make` is called twice with distinct seeds.
async fn measure<C: SolCall>(
    chain: &Chain,
    by: &PrivateKeySigner,
    mut make: impl FnMut(u64) -> C,
) -> anyhow::Result<(u64, u64)> {
    let direct = chain.direct(by, make(1)).await?;
    anyhow::ensure!(direct.status(), "direct call reverted");
    let relayed = chain.relay(by, make(2)).await?;
    anyhow::ensure!(relayed.status(), "relayed call reverted");
    Ok((direct.gas_used, relayed.gas_used))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let chain = Chain::start()
        .await?
        .ok_or_else(|| anyhow::anyhow!("anvil is required"))?;
    let ledger = chain.deployment.ledger;
    let (admin, doctor, patient) = (&chain.admin, &chain.doctor, &chain.patient);
    let mut rows = Vec::new();
    let mut row = |function: &str, (direct, relayed): (u64, u64), per: u64| {
        rows.push(Row {
            function: function.into(),
            direct,
            relayed,
            per,
        })
    };

    // Warm up: every signer relays once first, so the forwarder's nonce slot for them is already
    // set, as it is for anyone who has used MedLedger before (the first relayed request of a
    // wallet ever costs ~17,100 gas more).
    // Likewise one patient exists before any is measured (the very first registration also pays
    // for the patient counter's first write).
    chain.approve_doctor().await?;
    chain
        .direct(doctor, L::addPatientCall { wallet: wallet(0) })
        .await?;
    for signer in [admin, doctor, patient, &chain.signers[5]] {
        let request = L::patientIdOfCall {
            wallet: signer.address(),
        };
        chain.relay(signer, request).await?;
    }
    let (d1, d2) = (chain.signers[5].address(), chain.signers[6].address());
    let mut doctors = [d1, d2].into_iter();
    row(
        "registerDoctor",
        measure(&chain, admin, |_| L::registerDoctorCall {
            doctor: doctors.next().unwrap(),
        })
        .await?,
        1,
    );
    row(
        "addPatient",
        measure(&chain, doctor, |s| L::addPatientCall { wallet: wallet(s) }).await?,
        1,
    );
    row(
        "addPatientWithHistory (1 entry)",
        measure(&chain, doctor, |s| {
            let (commitments, kinds) = commitments(s, 1);
            L::addPatientWithHistoryCall {
                wallet: wallet(100 + s),
                commitments,
                kinds,
            }
        })
        .await?,
        1,
    );
    let append = |patient: u64, s: u64| L::updateMedicalHistoryCall {
        patientId: U256::from(patient),
        commitment: keccak256(s.to_be_bytes()),
        kind: 1,
        supersedes: 0,
    };
    // Patients 2 and 3 (from addPatient above) get their first entries, one direct and one relayed;
    // then patient 2 gets typical later ones.
    row(
        "updateMedicalHistory (a patient's first entry)",
        measure(&chain, doctor, |s| append(s + 1, s)).await?,
        1,
    );
    row(
        "updateMedicalHistory",
        measure(&chain, doctor, |s| append(2, 10 + s)).await?,
        1,
    );
    row(
        "updateMedicalHistory (amendment)",
        measure(&chain, doctor, |s| L::updateMedicalHistoryCall {
            patientId: U256::from(2),
            commitment: keccak256((20 + s).to_be_bytes()),
            kind: 1,
            supersedes: 1,
        })
        .await?,
        1,
    );
    for n in [10usize, 100] {
        let name = format!("updateMedicalHistoryBatch ({n} entries), per entry");
        row(
            &name,
            measure(&chain, doctor, |s| {
                let (commitments, kinds) = commitments(1000 + s, n);
                L::updateMedicalHistoryBatchCall {
                    patientId: U256::from(2),
                    commitments,
                    kinds,
                }
            })
            .await?,
            n as u64,
        );
    }
    row(
        "addPatientWithHistory (100 entries), per entry",
        measure(&chain, doctor, |s| {
            let (commitments, kinds) = commitments(2000 + s, 100);
            L::addPatientWithHistoryCall {
                wallet: wallet(200 + s),
                commitments,
                kinds,
            }
        })
        .await?,
        100,
    );

    // The patient's own actions: patient wallet signs; its id is registered first.
    chain
        .direct(
            doctor,
            L::addPatientCall {
                wallet: patient.address(),
            },
        )
        .await?;
    let id = chain.ledger().patientIdOf(patient.address()).call().await?;
    let (direct, relayed) = (chain.signers[7].clone(), chain.signers[8].clone());
    for d in [&direct, &relayed] {
        chain
            .direct(admin, L::registerDoctorCall { doctor: d.address() })
            .await?;
    }
    let mut grantees = [direct.address(), relayed.address()].into_iter();
    row(
        "grantAccess",
        measure(&chain, patient, |_| L::grantAccessCall {
            patientId: id,
            doctor: grantees.next().unwrap(),
            expiresAt: 0,
        })
        .await?,
        1,
    );
    let mut revokees = [direct.address(), relayed.address()].into_iter();
    row(
        "revokeAccess",
        measure(&chain, patient, |_| L::revokeAccessCall {
            patientId: id,
            doctor: revokees.next().unwrap(),
        })
        .await?,
        1,
    );
    // A doctor without consent (approved above as signer 5) breaks the glass on patients 2 and 3.
    row(
        "openEmergencyAccess",
        measure(&chain, &chain.signers[5], |s| L::openEmergencyAccessCall {
            patientId: U256::from(s + 1),
            reasonHash: keccak256(b"salted reason"),
            duration: 3600,
        })
        .await?,
        1,
    );
    let auditor = L::grantRoleCall {
        role: keccak256("MEDLEDGER_AUDITOR"),
        account: admin.address(),
    };
    chain.direct(admin, auditor).await?;
    // A hospital anchors again and again: measure a later anchor, not the very first.
    chain
        .direct(
            admin,
            L::anchorAuditCall {
                head: keccak256(b"first"),
                sequence: 1,
            },
        )
        .await?;
    row(
        "anchorAudit",
        measure(&chain, admin, |s| L::anchorAuditCall {
            head: keccak256(s.to_be_bytes()),
            sequence: 100 + s,
        })
        .await?,
        1,
    );
    let (p1, p2) = (chain.signers[9].clone(), chain.stranger.clone());
    let direct = chain.direct(&p1, L::registerPatientCall {}).await?;
    chain
        .relay(&p2, L::patientIdOfCall { wallet: p2.address() })
        .await?;
    let relayed = chain.relay(&p2, L::registerPatientCall {}).await?;
    row("registerPatient (self)", (direct.gas_used, relayed.gas_used), 1);

    // What the hospital's relayer sends: many requests in one `executeEach`, the transaction's
    // base cost and the call around them shared.
    let first = chain.forwarder().nonces(doctor.address()).call().await?;
    let mut each = Vec::new();
    for k in 0..EACH {
        let call = append(2, 1_000 + k);
        each.push(chain.sign_request_at(doctor, call, first + U256::from(k))?);
    }
    let receipt = chain
        .forwarder()
        .executeEach(each)
        .from(chain.relayer.address())
        .send()
        .await?
        .get_receipt()
        .await?;
    anyhow::ensure!(receipt.status(), "executeEach reverted");
    let ran = chain.forwarder().nonces(doctor.address()).call().await? - first;
    anyhow::ensure!(ran == U256::from(EACH), "{ran} of {EACH} requests ran");

    println!("Gas per call on anvil 1.7.1 (Prague), total gas of each transaction's receipt.");
    println!("ledger {ledger}, forwarder {}\n", chain.deployment.forwarder);
    println!("| function | direct | relayed (ERC-2771) | thesis prototype (Ganache, 0.5.16) |");
    println!("|---|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} |",
            r.function,
            group(r.direct / r.per),
            group(r.relayed / r.per),
            thesis(&r.function)
        );
    }
    println!(
        "\nupdateMedicalHistory, {EACH} requests relayed in one executeEach (as the relayer sends them): {} gas per request",
        group(receipt.gas_used / EACH)
    );
    Ok(())
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
