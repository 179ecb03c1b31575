//! The audit log: every read and write of health data, hash-chained.
//!
//! Record `n` stores `hash_n = keccak256(hash_{n-1} ‖ canonical_n)` (with `hash_0` all zeroes), so
//! editing, deleting or reordering any record changes every later hash; from time to time the
//! latest `(n, hash_n)` is anchored on-chain (`MedLedger.anchorAudit`), after which not even a
//! rewrite of the whole log can go unnoticed. The canonical form:
//!
//! ```text
//! "medledger.audit.v1" ‖ sequence (u64 BE) ‖ at (u64 ms BE) ‖ actor (20 bytes)
//! ‖ action (u8 length ‖ UTF-8) ‖ patient (0x00, or 0x01 ‖ 16 bytes) ‖ record (same)
//! ‖ outcome (u8 length ‖ UTF-8) ‖ detail (u32 BE length ‖ UTF-8)
//! ```

use alloy::primitives::{Address, B256, keccak256};

use crate::entry::{PatientId, RecordId};

/// One audited event, before it is chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
    /// Who (their wallet address; the zero address for the server itself).
    pub actor: Address,
    /// What: `read`, `write`, `search`, `verify`, `rotate-keys`, …
    pub action: String,
    /// Whose records, if a patient's.
    pub patient: Option<PatientId>,
    /// Which record, if one.
    pub record: Option<RecordId>,
    /// `allowed`, `denied` or `failed`.
    pub outcome: String,
    /// Anything else worth keeping (never health data).
    pub detail: String,
}

/// A chained audit record, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Its place in the log, from 1.
    pub sequence: u64,
    /// What happened.
    pub event: AuditEvent,
    /// The hash of the record before it.
    pub prev: B256,
    /// Its own hash.
    pub hash: B256,
}

impl AuditEvent {
    fn canonical(&self, sequence: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.detail.len());
        out.extend_from_slice(b"medledger.audit.v1");
        out.extend_from_slice(&sequence.to_be_bytes());
        out.extend_from_slice(&self.at.to_be_bytes());
        out.extend_from_slice(self.actor.as_slice());
        short(&mut out, &self.action);
        optional(&mut out, self.patient.map(|p| p.0));
        optional(&mut out, self.record.map(|r| r.0));
        short(&mut out, &self.outcome);
        out.extend_from_slice(&(self.detail.len() as u32).to_be_bytes());
        out.extend_from_slice(self.detail.as_bytes());
        out
    }

    /// Chains this event after the record `(sequence - 1, prev)`.
    pub fn chain(self, sequence: u64, prev: B256) -> AuditRecord {
        let hash = link(prev, &self.canonical(sequence));
        AuditRecord {
            sequence,
            event: self,
            prev,
            hash,
        }
    }
}

fn short(out: &mut Vec<u8>, text: &str) {
    let bytes = &text.as_bytes()[..text.len().min(255)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn optional(out: &mut Vec<u8>, id: Option<[u8; 16]>) {
    match id {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            out.extend_from_slice(&id);
        }
    }
}

fn link(prev: B256, canonical: &[u8]) -> B256 {
    let mut preimage = Vec::with_capacity(32 + canonical.len());
    preimage.extend_from_slice(prev.as_slice());
    preimage.extend_from_slice(canonical);
    keccak256(preimage)
}

/// Something wrong with the stored audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "finding", rename_all = "kebab-case")]
pub enum AuditFinding {
    /// A record's content no longer matches its hash, or its hash does not follow from the one before.
    Altered {
        /// The record's sequence number.
        sequence: u64,
    },
    /// Sequence numbers jump: records were deleted.
    Missing {
        /// The first missing sequence number.
        from: u64,
        /// The last missing sequence number.
        to: u64,
    },
    /// An on-chain anchor disagrees with the stored log at its sequence number.
    AnchorMismatch {
        /// The anchored sequence number.
        sequence: u64,
    },
    /// The log ends before the newest anchored record: its tail was cut.
    Truncated {
        /// The newest anchored sequence number.
        anchored: u64,
        /// The last sequence number the store holds (0: none).
        held: u64,
    },
}

/// Re-derives the chain over `records` (in stored order) and checks it against on-chain anchors
/// `(sequence, head)`. Returns every finding.
pub fn check(records: &[AuditRecord], anchors: &[(u64, B256)]) -> Vec<AuditFinding> {
    let mut checker = Checker::new(anchors);
    for record in records {
        checker.push(record);
    }
    checker.finish()
}

/// [`check`] a record at a time, so that a log of any length is checked in constant memory.
#[derive(Debug)]
pub struct Checker {
    anchors: std::collections::HashMap<u64, B256>,
    findings: Vec<AuditFinding>,
    expected_sequence: u64,
    prev: B256,
    held: u64,
}

impl Checker {
    /// A check against the on-chain `anchors` `(sequence, head)`.
    pub fn new(anchors: &[(u64, B256)]) -> Self {
        Self {
            anchors: anchors.iter().copied().collect(),
            findings: Vec::new(),
            expected_sequence: 1,
            prev: B256::ZERO,
            held: 0,
        }
    }

    /// Checks the next stored record.
    pub fn push(&mut self, record: &AuditRecord) {
        if record.sequence > self.expected_sequence {
            self.findings.push(AuditFinding::Missing {
                from: self.expected_sequence,
                to: record.sequence - 1,
            });
        }
        let hash = link(self.prev, &record.event.canonical(record.sequence));
        if record.sequence < self.expected_sequence || hash != record.hash || record.prev != self.prev {
            self.findings.push(AuditFinding::Altered {
                sequence: record.sequence,
            });
        }
        if let Some(head) = self.anchors.remove(&record.sequence)
            && (record.hash != head || hash != head)
        {
            self.findings.push(AuditFinding::AnchorMismatch {
                sequence: record.sequence,
            });
        }
        // Carry on from the stored hash, so one edit is reported once and not for every later record.
        self.prev = record.hash;
        self.expected_sequence = record.sequence + 1;
        self.held = record.sequence;
    }

    /// Every finding: those of the records, then anchors the log does not reach or whose records
    /// are gone.
    pub fn finish(mut self) -> Vec<AuditFinding> {
        let held = self.held;
        if let Some(anchored) = self.anchors.keys().copied().filter(|a| *a > held).max() {
            self.findings.push(AuditFinding::Truncated { anchored, held });
        }
        let mut gone: Vec<u64> = self.anchors.into_keys().filter(|a| *a <= held).collect();
        gone.sort_unstable();
        self.findings.extend(
            gone.into_iter()
                .map(|sequence| AuditFinding::AnchorMismatch { sequence }),
        );
        self.findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: u64) -> Vec<AuditRecord> {
        let mut prev = B256::ZERO;
        (1..=n)
            .map(|sequence| {
                let event = AuditEvent {
                    at: sequence * 1000,
                    actor: Address::repeat_byte(7),
                    action: "read".into(),
                    patient: Some(PatientId([1; 16])),
                    record: None,
                    outcome: "allowed".into(),
                    detail: String::new(),
                };
                let record = event.chain(sequence, prev);
                prev = record.hash;
                record
            })
            .collect()
    }

    #[test]
    fn an_intact_log_matches_its_anchors() {
        let records = log(5);
        assert_eq!(
            check(&records, &[(3, records[2].hash), (5, records[4].hash)]),
            vec![]
        );
    }

    #[test]
    fn edits_deletions_and_truncations_are_found() {
        let mut edited = log(5);
        edited[1].event.outcome = "denied".into();
        assert_eq!(check(&edited, &[]), vec![AuditFinding::Altered { sequence: 2 }]);

        let mut deleted = log(5);
        deleted.remove(2);
        assert_eq!(
            check(&deleted, &[]),
            vec![
                AuditFinding::Missing { from: 3, to: 3 },
                AuditFinding::Altered { sequence: 4 }
            ]
        );

        let full = log(5);
        let truncated = &full[..3];
        assert_eq!(
            check(truncated, &[(3, full[2].hash), (5, full[4].hash)]),
            vec![AuditFinding::Truncated { anchored: 5, held: 3 }]
        );
        assert_eq!(
            check(&[], &[(5, full[4].hash)]),
            vec![AuditFinding::Truncated { anchored: 5, held: 0 }],
            "a log cut to nothing"
        );

        let mut reordered = log(5);
        reordered.swap(1, 2);
        assert!(
            check(&reordered, &[]).contains(&AuditFinding::Altered { sequence: 3 }),
            "reordered records are found"
        );
    }

    #[test]
    fn a_rewritten_log_is_caught_by_its_anchor() {
        let original = log(4);
        let mut rewritten = log(4);
        rewritten[0].event.action = "write".into();
        let mut prev = B256::ZERO;
        for record in &mut rewritten {
            *record = record.event.clone().chain(record.sequence, prev);
            prev = record.hash;
        }
        assert_eq!(
            check(&rewritten, &[]),
            vec![],
            "a consistent rewrite is invisible without an anchor"
        );
        assert_eq!(
            check(&rewritten, &[(4, original[3].hash)]),
            vec![AuditFinding::AnchorMismatch { sequence: 4 }]
        );
    }
}
