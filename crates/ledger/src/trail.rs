//! The patient's access trail: who read or changed their record, what, and how it ended.
//!
//! Each audit event about the patient is told with the record it names (and that record's kind),
//! how a write ended (anchored at a version the chain holds, awaiting its signature, declined,
//! expired, refused by the contract), and, beside a read under emergency access, the reason the
//! doctor gave. The anchoring is taken from the history as the chain proves it, not from the
//! store's status alone.
//!
//! The trail is only as good as the audit log under it, which an insider can edit: so every trail
//! comes with [`LogIntegrity`], the log's hash chain re-derived from its first record and checked
//! against the server's newest anchor on chain, and each event the check finds altered is marked.
//! The check reads the whole log; its result is kept for [`INTEGRITY_TTL`].

use std::collections::HashMap;

use alloy::primitives::{Address, B256};
use medledger_core::audit::AuditFinding;
use medledger_core::emergency;
use medledger_core::entry::PatientId;
use medledger_store::entries::{Anchoring, StoredEntry};
use medledger_store::requests::RequestStatus;
use serde::Serialize;

use crate::read::Proof;
use crate::records::Records;
use crate::{Error, Result};

/// How many of the newest events the trail shows.
pub const TRAIL_LENGTH: u32 = 500;

/// How long a check of the audit log's integrity is reused before the log is read again.
pub const INTEGRITY_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// What re-deriving the audit log's hash chain, and its newest anchor on chain, say of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogIntegrity {
    /// Whether nothing was found: the log is whole and unaltered up to its newest anchor, and
    /// consistent after it.
    pub intact: bool,
    /// The records checked (the whole log when the check ran).
    pub records: u64,
    /// The newest sequence number anchored on chain by this server, if any.
    pub anchored_through: Option<u64>,
    /// What was found: altered, missing or reordered records, a cut tail.
    pub findings: Vec<AuditFinding>,
}

impl LogIntegrity {
    /// Whether the check names the record `sequence` as altered.
    pub fn altered(&self, sequence: u64) -> bool {
        self.findings.iter().any(|f| match f {
            AuditFinding::Altered { sequence: s } | AuditFinding::AnchorMismatch { sequence: s } => {
                *s == sequence
            }
            _ => false,
        })
    }

    /// The findings in words, for a banner.
    pub fn describe(&self) -> String {
        self.findings
            .iter()
            .map(|f| match f {
                AuditFinding::Altered { sequence } => format!("record {sequence} was altered or moved"),
                AuditFinding::Missing { from, to } if from == to => format!("record {from} is missing"),
                AuditFinding::Missing { from, to } => format!("records {from} to {to} are missing"),
                AuditFinding::AnchorMismatch { sequence } => {
                    format!("record {sequence} does not match its anchor on chain")
                }
                AuditFinding::Truncated { anchored, held } => {
                    format!("the log ends at record {held}, but record {anchored} was anchored on chain: its tail was cut")
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The patient's trail, and what the audit log's check says of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trail {
    /// The audit log's integrity, as last checked.
    pub integrity: LogIntegrity,
    /// The events, newest first.
    pub events: Vec<TrailEvent>,
}

/// One event of the patient's access trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrailEvent {
    /// Its place in the audit log.
    pub sequence: u64,
    /// Its hash in the log's chain.
    pub hash: B256,
    /// `altered` when the log's check names this record (its content cannot be relied on).
    pub integrity: Option<String>,
    /// When (Unix ms).
    pub at: u64,
    /// Who.
    pub actor: Address,
    /// What: `read`, `write`, `grant-access`, `emergency-access`, …
    pub action: String,
    /// Whether it was allowed (`allowed`), refused (`denied`) or failed.
    pub outcome: String,
    /// The record it names, if one.
    pub record: Option<String>,
    /// That record's kind (0 diagnosis … 5 demographics), when known.
    pub kind: Option<u8>,
    /// How a write ended: `anchored (version N)`, `awaiting signature`, `being anchored`,
    /// `declined`, `expired`, `refused: …`, or `does not verify`.
    pub result: Option<String>,
    /// What the log says besides.
    pub detail: String,
    /// For a read under emergency access: the reason the doctor gave.
    pub emergency_reason: Option<String>,
}

impl Records {
    /// The audit log's integrity: its hash chain re-derived from the first record, and checked
    /// against this server's newest anchor on chain (checked at most every [`INTEGRITY_TTL`]).
    pub async fn log_integrity(&self) -> Result<LogIntegrity> {
        let mut cached = self.integrity.lock().await;
        if let Some((at, integrity)) = cached.as_ref()
            && at.elapsed() < INTEGRITY_TTL
        {
            return Ok(integrity.clone());
        }
        let anchors = match self.auditor() {
            Some(auditor) => {
                let anchor = self
                    .ledger()
                    .auditAnchorOf(auditor)
                    .call()
                    .await
                    .map_err(Error::chain)?;
                if anchor.sequence == 0 {
                    vec![]
                } else {
                    vec![(anchor.sequence, anchor.head)]
                }
            }
            None => vec![],
        };
        let check = crate::verify::check_audit_log(self.store(), &anchors).await?;
        let integrity = LogIntegrity {
            intact: check.findings.is_empty(),
            records: check.records,
            anchored_through: check.anchored_through,
            findings: check.findings,
        };
        *cached = Some((std::time::Instant::now(), integrity.clone()));
        Ok(integrity)
    }

    /// The patient's access trail, newest first, with the audit log's integrity: for the patient
    /// alone.
    pub async fn trail(&self, reader: Address, patient: PatientId) -> Result<Trail> {
        let standing = self.standing(patient).await?;
        if standing.wallet() != reader {
            return Err(Error::Forbidden(
                "only the patient sees who read or changed their record".into(),
            ));
        }
        let entries = self.store().entries_of(patient).await?;
        // What the chain proves of each anchored entry, by record and revision.
        let proven: HashMap<(String, u32), Proof> = self
            .proven_history(&standing, entries.clone())
            .await?
            .into_iter()
            .filter_map(|e| Some(((e.record?, e.revision?), e.proof)))
            .collect();
        let reasons = self.emergency_reasons(&standing).await?;
        let integrity = self.log_integrity().await?;
        let mut out = Vec::new();
        for record in self.store().audit_of_patient(patient, TRAIL_LENGTH).await? {
            let e = record.event;
            let written = e.record.and_then(|r| {
                entries
                    .iter()
                    .filter(|s| s.record == r && s.recorded_at <= e.at)
                    .max_by_key(|s| s.recorded_at)
                    .or_else(|| entries.iter().find(|s| s.record == r))
            });
            let result = match written {
                Some(s) if e.action == "write" => Some(self.how_it_ended(s, &proven).await?),
                _ => match e.detail.strip_prefix("request ").and_then(|id| id.parse().ok()) {
                    // A consent or emergency action: how its request ended.
                    Some(id) => self.how_request_ended(id).await?,
                    None => None,
                },
            };
            let emergency_reason = (e.action == "read" && e.detail == "emergency access")
                .then(|| {
                    reasons
                        .iter()
                        .filter(|(doctor, at, _)| *doctor == e.actor && *at <= e.at)
                        .max_by_key(|(_, at, _)| *at)
                        .map(|(_, _, reason)| reason.clone())
                })
                .flatten();
            out.push(TrailEvent {
                sequence: record.sequence,
                hash: record.hash,
                integrity: integrity.altered(record.sequence).then(|| "altered".to_owned()),
                at: e.at,
                actor: e.actor,
                action: e.action,
                outcome: e.outcome,
                record: e.record.map(|r| r.to_string()),
                kind: written.and_then(|s| s.kind).map(|k| k as u8),
                result,
                detail: e.detail,
                emergency_reason,
            });
        }
        Ok(Trail {
            integrity,
            events: out,
        })
    }

    /// How the write of stored entry `s` ended.
    async fn how_it_ended(&self, s: &StoredEntry, proven: &HashMap<(String, u32), Proof>) -> Result<String> {
        if let Anchoring::Anchored { .. } = s.anchoring {
            return Ok(match proven.get(&(s.record.to_string(), s.revision)) {
                Some(Proof::Verified { version, .. }) => format!("anchored (version {version})"),
                _ => "anchored, but this store's copy does not verify against the chain".into(),
            });
        }
        if let Some(Proof::Verified { version, .. }) = proven.get(&(s.record.to_string(), s.revision)) {
            return Ok(format!("anchored (version {version})"));
        }
        let reason = s.reason.clone().unwrap_or_default();
        Ok(match s.anchoring {
            Anchoring::Rejected if reason.starts_with("declined") => "declined by its signer".into(),
            Anchoring::Rejected if reason.starts_with("expired") => "expired unsigned".into(),
            Anchoring::Rejected => format!("refused: {reason}"),
            _ => {
                let status = match s.request_id {
                    Some(id) => self.store().request(id).await?.map(|r| r.status),
                    None => None,
                };
                match status {
                    Some(RequestStatus::AwaitingSignature) => "awaiting its author's signature".into(),
                    _ => "being anchored".into(),
                }
            }
        })
    }

    /// How request `id` ended, if it is stored.
    async fn how_request_ended(&self, id: i64) -> Result<Option<String>> {
        let Some(request) = self.store().request(id).await? else {
            return Ok(None);
        };
        let reason = request.reason.unwrap_or_default();
        Ok(Some(match request.status {
            RequestStatus::Anchored | RequestStatus::Included => match request.block_number {
                Some(block) => format!("anchored (block {block})"),
                None => "anchored".into(),
            },
            RequestStatus::Rejected if reason.starts_with("declined") => "declined by its signer".into(),
            RequestStatus::Rejected if reason.starts_with("expired") => "expired unsigned".into(),
            RequestStatus::Rejected => format!("refused: {reason}"),
            RequestStatus::AwaitingSignature => "awaiting its signer's signature".into(),
            RequestStatus::Signed | RequestStatus::Submitted => "being anchored".into(),
        }))
    }

    /// The emergency reasons given for a patient: (doctor, when, reason).
    async fn emergency_reasons(
        &self,
        standing: &crate::identity::Standing,
    ) -> Result<Vec<(Address, u64, String)>> {
        let stored = standing.stored();
        let key = self.keyring().data_key(stored.id, &stored.data_key)?;
        Ok(self
            .store()
            .emergencies_of(stored.id)
            .await?
            .into_iter()
            .filter_map(|r| {
                let (reason, _) = emergency::open(&key, stored.id, r.id, &r.sealed).ok()?;
                Some((r.doctor, r.created_at, reason))
            })
            .collect())
    }
}
