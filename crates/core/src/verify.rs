//! Reconciling the store with the chain, entry by entry.
//!
//! The caller reads both sides: every stored entry, with the commitment re-derived from its
//! decrypted content (or `None` when it no longer decrypts), and every commitment the chain holds.
//! [`reconcile`] then names each entry as it stands.

use std::collections::{HashMap, HashSet};

use alloy::primitives::B256;
use serde::Serialize;

use crate::entry::{PatientId, RecordId};

/// One commitment in a patient's on-chain history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainLink {
    /// The patient's on-chain id.
    pub patient: u64,
    /// Its place in the history, from 1.
    pub version: u64,
    /// The commitment.
    pub commitment: B256,
}

/// Where a stored entry says it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Stored, waiting for its chain request to be signed, relayed or confirmed, since the given
    /// time (Unix ms).
    Pending {
        /// When it was stored.
        since: u64,
    },
    /// The contract refused it.
    Rejected,
    /// Anchored at this on-chain patient id and version.
    Anchored {
        /// The patient's on-chain id.
        patient: u64,
        /// Its version in that patient's history.
        version: u64,
    },
}

/// One stored entry as verification sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// The patient it is stored under.
    pub patient: PatientId,
    /// The record.
    pub record: RecordId,
    /// The revision.
    pub revision: u32,
    /// Where it says it stands.
    pub claim: Claim,
    /// The commitment re-derived from its decrypted content and stored fields; `None` when the
    /// ciphertext does not authenticate under its patient, record and revision.
    pub recomputed: Option<B256>,
}

/// What verification found for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Stored, decrypts, and its commitment is on-chain where it says.
    Ok,
    /// Not yet anchored, within the grace period.
    Pending,
    /// The contract refused it; it is kept, marked rejected, and never shown as part of the history.
    Rejected,
    /// Stored, but its content, fields or ciphertext no longer match the chain.
    Altered,
    /// On-chain, but no stored entry holds it.
    MissingFromStore,
    /// Stored as anchored (or pending past the grace period), but the chain does not hold it.
    NotOnChain,
    /// Its commitment is on-chain, at another place than the store says.
    OutOfOrder,
}

impl Verdict {
    /// Whether this verdict is a finding (something to investigate).
    pub fn is_finding(self) -> bool {
        !matches!(self, Self::Ok | Self::Pending | Self::Rejected)
    }
}

/// One line of the verification report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryReport {
    /// The verdict.
    pub verdict: Verdict,
    /// The patient's store id, when a stored entry is involved.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "display")]
    pub patient: Option<PatientId>,
    /// The record, when a stored entry is involved.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "display")]
    pub record: Option<RecordId>,
    /// The revision, when a stored entry is involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    /// The patient's on-chain id, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_patient: Option<u64>,
    /// The on-chain version the store claims, or the chain holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// For an entry out of order: where the chain actually holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_version: Option<u64>,
}

fn display<T: std::fmt::Display, S: serde::Serializer>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// Reconciles `stored` with `chain`: one report per stored entry, then one per on-chain
/// commitment no stored entry accounts for. `now` and `grace` (ms) decide when a pending entry has
/// waited too long.
pub fn reconcile(stored: &[StoredEntry], chain: &[ChainLink], now: u64, grace: u64) -> Vec<EntryReport> {
    let at: HashMap<(u64, u64), B256> = chain
        .iter()
        .map(|l| ((l.patient, l.version), l.commitment))
        .collect();
    let by_commitment: HashMap<(u64, B256), u64> = chain
        .iter()
        .map(|l| ((l.patient, l.commitment), l.version))
        .collect();
    let mut accounted: HashSet<(u64, u64)> = HashSet::with_capacity(stored.len());
    let mut reports = Vec::with_capacity(stored.len());

    for entry in stored {
        let mut report = EntryReport {
            verdict: Verdict::Ok,
            patient: Some(entry.patient),
            record: Some(entry.record),
            revision: Some(entry.revision),
            chain_patient: None,
            version: None,
            chain_version: None,
        };
        report.verdict = match entry.claim {
            Claim::Rejected => Verdict::Rejected,
            Claim::Pending { .. } if entry.recomputed.is_none() => Verdict::Altered,
            Claim::Pending { since } => {
                if now.saturating_sub(since) > grace {
                    Verdict::NotOnChain
                } else {
                    Verdict::Pending
                }
            }
            Claim::Anchored { patient, version } => {
                report.chain_patient = Some(patient);
                report.version = Some(version);
                match (entry.recomputed, at.get(&(patient, version))) {
                    (Some(mine), Some(&onchain)) if mine == onchain => {
                        accounted.insert((patient, version));
                        Verdict::Ok
                    }
                    (Some(mine), onchain) => match by_commitment.get(&(patient, mine)) {
                        Some(&actual) => {
                            accounted.insert((patient, actual));
                            report.chain_version = Some(actual);
                            Verdict::OutOfOrder
                        }
                        None if onchain.is_some() => {
                            accounted.insert((patient, version));
                            Verdict::Altered
                        }
                        None => Verdict::NotOnChain,
                    },
                    (None, onchain) => {
                        if onchain.is_some() {
                            accounted.insert((patient, version));
                        }
                        Verdict::Altered
                    }
                }
            }
        };
        reports.push(report);
    }

    let mut missing: Vec<&ChainLink> = chain
        .iter()
        .filter(|l| !accounted.contains(&(l.patient, l.version)))
        .collect();
    missing.sort_by_key(|l| (l.patient, l.version));
    reports.extend(missing.into_iter().map(|l| EntryReport {
        verdict: Verdict::MissingFromStore,
        patient: None,
        record: None,
        revision: None,
        chain_patient: Some(l.patient),
        version: Some(l.version),
        chain_version: None,
    }));
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: u8) -> B256 {
        B256::repeat_byte(n)
    }

    fn stored(revision: u32, claim: Claim, recomputed: Option<B256>) -> StoredEntry {
        StoredEntry {
            patient: PatientId([1; 16]),
            record: RecordId([revision as u8; 16]),
            revision,
            claim,
            recomputed,
        }
    }

    fn anchored(version: u64) -> Claim {
        Claim::Anchored { patient: 7, version }
    }

    fn verdicts(stored: &[StoredEntry], chain: &[ChainLink]) -> Vec<(Verdict, Option<u64>)> {
        reconcile(stored, chain, 10_000, 1_000)
            .into_iter()
            .map(|r| (r.verdict, r.version))
            .collect()
    }

    fn chain(n: u8) -> Vec<ChainLink> {
        (1..=n)
            .map(|v| ChainLink {
                patient: 7,
                version: v as u64,
                commitment: c(v),
            })
            .collect()
    }

    #[test]
    fn a_faithful_store_is_all_ok() {
        let s = [
            stored(1, anchored(1), Some(c(1))),
            stored(1, anchored(2), Some(c(2))),
        ];
        assert_eq!(
            verdicts(&s, &chain(2)),
            [(Verdict::Ok, Some(1)), (Verdict::Ok, Some(2))]
        );
    }

    #[test]
    fn each_kind_of_tampering_gets_its_name() {
        let s = [
            stored(1, anchored(1), None),                        // does not decrypt
            stored(1, anchored(2), Some(c(9))),                  // decrypts, fields edited
            stored(1, anchored(4), Some(c(3))),                  // version swapped with the next
            stored(1, anchored(3), Some(c(4))),                  // ... and back
            stored(1, anchored(8), Some(c(8))),                  // claims an anchor the chain lacks
            stored(1, Claim::Pending { since: 1 }, Some(c(10))), // pending far too long
            stored(1, Claim::Pending { since: 9_500 }, Some(c(11))),
            stored(1, Claim::Rejected, Some(c(12))),
        ];
        assert_eq!(
            verdicts(&s, &chain(5)),
            [
                (Verdict::Altered, Some(1)),
                (Verdict::Altered, Some(2)),
                (Verdict::OutOfOrder, Some(4)),
                (Verdict::OutOfOrder, Some(3)),
                (Verdict::NotOnChain, Some(8)),
                (Verdict::NotOnChain, None),
                (Verdict::Pending, None),
                (Verdict::Rejected, None),
                (Verdict::MissingFromStore, Some(5)),
            ]
        );
        assert!(!Verdict::Pending.is_finding() && Verdict::MissingFromStore.is_finding());
    }
}
