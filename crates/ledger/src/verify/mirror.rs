//! Verification of what the store says about who is who: each patient's wallet and on-chain id,
//! the mirrored roles, consents and histories, against the chain.
//!
//! The chain's side is the contract's state now (`getPatient`, `isDoctor`, `accessOf`) and its
//! logs; the store's is its patients and its mirror. The mirror follows the chain a few blocks
//! behind, so an account or pair whose last event is past the mirror's cursor is not judged.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;
use medledger_contracts::MedLedger;
use medledger_core::access::AccessState;
use medledger_store::Store;
use medledger_store::mirror::{ChainEvent, LoggedEvent, MirroredLink};
use serde::Serialize;

use crate::{Error, Result};

/// A disagreement between the store and the chain about who is who.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum StoreFinding {
    /// The store gives a patient another wallet than the chain does.
    PatientWallet {
        /// The patient's store id.
        patient: String,
        /// Their on-chain id, as the store says.
        chain_patient: u64,
        /// The wallet the store says.
        stored: Address,
        /// The wallet the chain holds.
        chain: Address,
    },
    /// The store links a patient to an on-chain patient the chain does not hold.
    UnknownChainPatient {
        /// The patient's store id.
        patient: String,
        /// The on-chain id the store says.
        chain_patient: u64,
    },
    /// The chain registered a patient whose wallet the store holds unlinked (no on-chain id).
    PatientUnlinked {
        /// The patient's store id.
        patient: String,
        /// Their on-chain id.
        chain_patient: u64,
    },
    /// The mirror says an account is (or is not) a doctor, and the chain says otherwise.
    Role {
        /// The account.
        account: Address,
        /// Whether the store's mirror says they are a doctor.
        stored: bool,
        /// Whether the chain says so.
        chain: bool,
    },
    /// The mirror's access of a doctor to a patient differs from the chain's.
    Access {
        /// The patient's on-chain id.
        chain_patient: u64,
        /// The doctor.
        doctor: Address,
        /// The mirror's consent and emergency expiries (Unix seconds).
        stored: [u64; 2],
        /// The chain's.
        chain: [u64; 2],
    },
    /// The mirror's copy of a patient's on-chain history differs from the chain's logs (reads
    /// then take the chain's own; the mirror was altered).
    MirroredHistory {
        /// The patient's on-chain id.
        chain_patient: u64,
        /// The first version where they differ.
        version: u64,
    },
}

/// What the chain's logs say, gathered while verification reads them.
#[derive(Debug, Default)]
pub(crate) struct Logged {
    /// Per on-chain patient, their history.
    history: BTreeMap<u64, Vec<MirroredLink>>,
    /// The last block of each account's role events.
    roles: HashMap<Address, u64>,
    /// The last block of each (patient, doctor) consent event.
    access: HashMap<(u64, Address), u64>,
    /// Each registered patient's wallet, and the block.
    patients: HashMap<Address, (u64, u64)>,
}

impl Logged {
    /// Takes in one logged event.
    pub(crate) fn add(&mut self, logged: &LoggedEvent) {
        let block = logged.block_number;
        let later = |at: &mut u64| *at = (*at).max(block);
        match &logged.event {
            ChainEvent::HistoryAppended {
                patient,
                version,
                kind,
                supersedes,
                commitment,
                author,
            } => self.history.entry(*patient).or_default().push(MirroredLink {
                version: *version,
                commitment: *commitment,
                kind: *kind,
                supersedes: *supersedes,
                author: *author,
                block_number: block,
                tx_hash: logged.tx_hash,
            }),
            ChainEvent::DoctorRegistered { doctor } | ChainEvent::DoctorRevoked { doctor } => {
                later(self.roles.entry(*doctor).or_insert(block));
            }
            ChainEvent::AccessGranted { patient, doctor, .. }
            | ChainEvent::AccessRevoked { patient, doctor }
            | ChainEvent::EmergencyAccess { patient, doctor, .. }
            | ChainEvent::EmergencyAccessClosed { patient, doctor } => {
                later(self.access.entry((*patient, *doctor)).or_insert(block));
            }
            ChainEvent::PatientAdded { patient, wallet, .. } => {
                self.patients.insert(*wallet, (*patient, block));
            }
            ChainEvent::AuditAnchored { .. } => {}
        }
    }
}

/// Checks the store's patients and mirror against the chain and `logged`.
pub(crate) async fn check(
    store: &Store,
    provider: &DynProvider,
    ledger: Address,
    logged: &Logged,
) -> Result<Vec<StoreFinding>> {
    let ledger = MedLedger::new(ledger, provider.clone());
    let cursor = store.cursor().await?.map_or(0, |(block, _)| block);
    let mut findings = Vec::new();

    for p in store.patients().await? {
        let Some(chain_patient) = p.chain_id else {
            if let Some(&(chain_patient, block)) = logged.patients.get(&p.wallet)
                && block <= cursor
            {
                findings.push(StoreFinding::PatientUnlinked {
                    patient: p.id.to_string(),
                    chain_patient,
                });
            }
            continue;
        };
        match ledger.getPatient(U256::from(chain_patient)).call().await {
            Ok(held) if held.wallet != p.wallet => findings.push(StoreFinding::PatientWallet {
                patient: p.id.to_string(),
                chain_patient,
                stored: p.wallet,
                chain: held.wallet,
            }),
            Ok(_) => {}
            Err(e) if e.as_revert_data().is_some() => findings.push(StoreFinding::UnknownChainPatient {
                patient: p.id.to_string(),
                chain_patient,
            }),
            Err(e) => return Err(Error::chain(e)),
        }
    }

    let mirrored_roles: HashMap<Address, bool> = store
        .mirrored_doctors()
        .await?
        .into_iter()
        .map(|d| (d.address, d.active))
        .collect();
    let accounts: BTreeSet<Address> = logged
        .roles
        .keys()
        .chain(mirrored_roles.keys())
        .copied()
        .collect();
    for account in accounts {
        if logged.roles.get(&account).is_some_and(|b| *b > cursor) {
            continue;
        }
        let stored = mirrored_roles.get(&account).copied().unwrap_or(false);
        let chain = ledger.isDoctor(account).call().await.map_err(Error::chain)?;
        if stored != chain {
            findings.push(StoreFinding::Role {
                account,
                stored,
                chain,
            });
        }
    }

    let mirrored_access: HashMap<(u64, Address), AccessState> = store
        .all_grants()
        .await?
        .into_iter()
        .map(|g| ((g.patient, g.doctor), g.access))
        .collect();
    let pairs: BTreeSet<(u64, Address)> = logged
        .access
        .keys()
        .chain(mirrored_access.keys())
        .copied()
        .collect();
    for (patient, doctor) in pairs {
        if logged.access.get(&(patient, doctor)).is_some_and(|b| *b > cursor) {
            continue;
        }
        let stored = mirrored_access
            .get(&(patient, doctor))
            .copied()
            .unwrap_or_default();
        let held = ledger
            .accessOf(U256::from(patient), doctor)
            .call()
            .await
            .map_err(Error::chain)?;
        let chain = [held.consentExpiresAt, held.emergencyExpiresAt];
        if [stored.consent_expires_at, stored.emergency_expires_at] != chain {
            findings.push(StoreFinding::Access {
                chain_patient: patient,
                doctor,
                stored: [stored.consent_expires_at, stored.emergency_expires_at],
                chain,
            });
        }
    }

    for (&patient, links) in &logged.history {
        let mut expected: Vec<&MirroredLink> = links.iter().filter(|l| l.block_number <= cursor).collect();
        expected.sort_by_key(|l| l.version);
        let mirrored = store.mirrored_history(patient).await?;
        let differs = (0..expected.len().max(mirrored.len())).find(|&i| {
            match (expected.get(i), mirrored.get(i)) {
                (Some(chain), Some(m)) => *chain != m,
                // The mirror may hold what it applied after the cursor was read: not a finding.
                (None, Some(m)) => m.block_number <= cursor,
                _ => true,
            }
        });
        if let Some(i) = differs {
            findings.push(StoreFinding::MirroredHistory {
                chain_patient: patient,
                version: i as u64 + 1,
            });
        }
    }
    Ok(findings)
}
