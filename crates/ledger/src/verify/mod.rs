//! Verification: every stored entry, the audit log, and what the store says about who is who,
//! against the chain.
//!
//! The chain side is read from the chain itself (the contract's logs since its deployment, and its
//! state now), never from the store's mirror, which is part of what is being checked.

pub mod mirror;

pub use mirror::StoreFinding;

use std::collections::HashMap;

use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use medledger_core::audit::{self, AuditFinding};
use medledger_core::crypto::{DataKey, Keyring};
use medledger_core::entry::PatientId;
use medledger_core::verify::{self as reconcile, ChainLink, Claim, EntryReport};
use medledger_store::entries::Anchoring;
use medledger_store::mirror::ChainEvent;
use medledger_store::{Store, now_ms};
use serde::Serialize;

use crate::opening::{self, Opened};
use crate::{Error, Result, events};

/// Settings of one verification.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long an entry may stay pending before it counts as not on chain (ms).
    pub grace_ms: u64,
    /// Whose audit anchors to check the audit log against (the server's auditor account); `None`:
    /// the accounts the store records having anchored from. (Other hospitals sharing the contract
    /// anchor their own logs; their anchors are not this log's.)
    pub auditor: Option<Address>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            grace_ms: 3_600_000,
            auditor: None,
        }
    }
}

/// What verification found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Stored entries checked.
    pub stored_entries: u64,
    /// Commitments the chain holds.
    pub chain_entries: u64,
    /// Audit records checked.
    pub audit_records: u64,
    /// Audit anchors checked.
    pub audit_anchors: u64,
    /// One line per entry that is not simply `ok`.
    pub entries: Vec<EntryReport>,
    /// Every problem with the audit log.
    pub audit: Vec<AuditFinding>,
    /// The sequence number of the newest anchored audit record, if any.
    pub audit_anchored_through: Option<u64>,
    /// Audit records after the newest anchor: not yet protected on chain (an insider could cut
    /// them unseen until the next anchor, at most a minute away on a running server).
    pub audit_unanchored: u64,
    /// Every disagreement about who is who: patients' wallets, roles, consents, mirrored histories.
    pub store: Vec<StoreFinding>,
}

impl Report {
    /// How many findings (entries altered, missing, not on chain or out of order; audit problems).
    pub fn findings(&self) -> usize {
        self.entries.iter().filter(|r| r.verdict.is_finding()).count() + self.audit.len() + self.store.len()
    }
}

/// Re-derives every stored entry's commitment and checks it, and the audit log, against the chain.
pub async fn verify(
    store: &Store,
    keyring: &Keyring,
    provider: &DynProvider,
    options: Options,
) -> Result<Report> {
    let deployment = store.deployment().await?.ok_or(Error::NotDeployed)?;
    let auditors = match options.auditor {
        Some(auditor) => vec![auditor],
        None => store.audit_anchorers().await?,
    };

    // The chain's side.
    let head = provider.get_block_number().await.map_err(Error::chain)?;
    let mut chain = Vec::new();
    let mut anchors = Vec::new();
    let mut logged = mirror::Logged::default();
    let mut from = deployment.block_number;
    while from <= head {
        let to = head.min(from + 9_999);
        let filter = Filter::new()
            .address(deployment.ledger)
            .from_block(from)
            .to_block(to);
        for log in provider.get_logs(&filter).await.map_err(Error::chain)? {
            for event in events::decode(&log) {
                logged.add(&event);
                match event.event {
                    ChainEvent::HistoryAppended {
                        patient,
                        version,
                        commitment,
                        ..
                    } => chain.push(ChainLink {
                        patient,
                        version,
                        commitment,
                    }),
                    ChainEvent::AuditAnchored {
                        auditor,
                        sequence,
                        head,
                    } if auditors.contains(&auditor) => anchors.push((sequence, head)),
                    _ => {}
                }
            }
        }
        from = to + 1;
    }

    // The store's side, page by page.
    let mut keys: HashMap<PatientId, Option<DataKey>> = HashMap::new();
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = store.entries_after(after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            if let std::collections::hash_map::Entry::Vacant(slot) = keys.entry(e.patient) {
                let key = match store.patient(e.patient).await? {
                    Some(p) => keyring.data_key(e.patient, &p.data_key).ok(),
                    None => None,
                };
                slot.insert(key);
            }
            let opened: Opened = opening::open(keys[&e.patient].as_ref(), e.patient, e);
            let claim = match e.anchoring {
                Anchoring::Pending => Claim::Pending { since: e.recorded_at },
                Anchoring::Rejected => Claim::Rejected,
                Anchoring::Anchored { version, .. } => match e.chain_patient {
                    Some(patient) => Claim::Anchored { patient, version },
                    // Anchored, but its patient is gone or was never confirmed: it cannot be on chain.
                    None => Claim::Anchored {
                        patient: u64::MAX,
                        version,
                    },
                },
            };
            stored.push(reconcile::StoredEntry {
                patient: e.patient,
                record: e.record,
                revision: e.revision,
                claim,
                recomputed: opened.recomputed,
            });
        }
    }
    let entries: Vec<EntryReport> = reconcile::reconcile(&stored, &chain, now_ms(), options.grace_ms)
        .into_iter()
        .filter(|r| r.verdict != reconcile::Verdict::Ok)
        .collect();

    // The audit log, a page at a time.
    let audit = check_audit_log(store, &anchors).await?;
    let store_findings = mirror::check(store, provider, deployment.ledger, &logged).await?;

    Ok(Report {
        stored_entries: stored.len() as u64,
        chain_entries: chain.len() as u64,
        audit_records: audit.records,
        audit_anchors: anchors.len() as u64,
        entries,
        audit: audit.findings,
        audit_anchored_through: audit.anchored_through,
        audit_unanchored: audit.unanchored,
        store: store_findings,
    })
}

/// What checking the audit log found.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditCheck {
    /// Records checked.
    pub(crate) records: u64,
    /// Every finding.
    pub(crate) findings: Vec<AuditFinding>,
    /// The newest anchored sequence number, if any.
    pub(crate) anchored_through: Option<u64>,
    /// Records after it.
    pub(crate) unanchored: u64,
}

/// Re-derives the stored audit log's hash chain, page by page, and checks it against `anchors`.
pub(crate) async fn check_audit_log(
    store: &Store,
    anchors: &[(u64, alloy::primitives::B256)],
) -> Result<AuditCheck> {
    let anchored_through = anchors.iter().map(|(sequence, _)| *sequence).max();
    let mut checker = audit::Checker::new(anchors);
    let (mut records, mut unanchored, mut after) = (0, 0, 0);
    loop {
        let page = store.audit_log(after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.sequence;
        for record in &page {
            checker.push(record);
            records += 1;
            if anchored_through.is_none_or(|through| record.sequence > through) {
                unanchored += 1;
            }
        }
    }
    Ok(AuditCheck {
        records,
        findings: checker.finish(),
        anchored_through,
        unanchored,
    })
}
