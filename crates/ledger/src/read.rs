//! The read path: a patient's history as the chain proves it, whole.
//!
//! A read takes the patient's on-chain history (count and head, from the contract at the latest
//! block; its links from the mirror when they recompute to that head, else from the chain's own
//! logs), and lays the stored entries over it, version by version:
//!
//! - an entry whose re-derived commitment is the chain's at its version is **verified**, and only
//!   then is its content shown;
//! - an entry that claims a version but does not match it (edited, re-sealed, swapped, or no
//!   longer decrypting) is **tampered**, without content;
//! - a version the chain holds and no stored entry accounts for is **missing** ("held on chain,
//!   missing from this store"), with its author, kind and block, and the record it amends if known;
//! - an entry not yet on chain (awaiting its signature, or being anchored) and one the contract
//!   refused are shown to their author alone: unsigned content is not part of the record.
//!
//! Nothing of the history is silently left out, and nothing unproven is shown as the record.

use std::collections::HashMap;

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use medledger_contracts::MedLedger;
use medledger_contracts::history::{EntryKind, Head, Link};
use medledger_core::access::Grounds;
use medledger_core::entry::PatientId;
use medledger_store::entries::{Anchoring, StoredEntry};
use medledger_store::mirror::{ChainEvent, MirroredLink};
use serde::Serialize;

use crate::identity::{OnChain, Standing};
use crate::opening;
use crate::records::Records;
use crate::{Error, Result, events};

/// What a read shows of one entry, or of one version of the history the store lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadEntry {
    /// The record (`None` for a missing version whose record is unknown).
    pub record: Option<String>,
    /// The revision (`None` for a missing version).
    pub revision: Option<u32>,
    /// What it records.
    pub kind: u8,
    /// Who wrote it.
    pub author: Address,
    /// When (Unix ms; `None` for a missing version).
    pub recorded_at: Option<u64>,
    /// The content (a FHIR resource): only when verified, or for its own author while pending.
    pub content: Option<Content>,
    /// Its proof, or why there is none.
    pub proof: Proof,
}

/// An entry's content, a FHIR resource, as it was sealed: JSON, checked when it was written and
/// passed on as it is (parsing it into a tree and writing it out again was a tenth of a history
/// read's CPU).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Content(Box<serde_json::value::RawValue>);

impl Content {
    /// The content if `bytes` are JSON.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok().map(Self)
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The content as a JSON tree.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).unwrap_or(serde_json::Value::Null)
    }
}

impl PartialEq for Content {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Eq for Content {}

/// Where a read entry stands against the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum Proof {
    /// Its commitment is the chain's at its version.
    Verified {
        /// Its version.
        version: u64,
        /// The anchoring transaction.
        tx_hash: B256,
        /// Its block.
        block_number: u64,
        /// The commitment.
        commitment: B256,
    },
    /// Not yet anchored (shown to its author only).
    Pending,
    /// Refused by the contract, declined or expired (shown to its author only).
    Rejected {
        /// Why.
        reason: String,
    },
    /// The stored entry does not match the chain (or does not decrypt): its content is withheld.
    Tampered {
        /// The version it claims, if any.
        version: Option<u64>,
        /// What does not match.
        why: String,
    },
    /// The chain holds this version of the history and the store does not.
    Missing {
        /// The version.
        version: u64,
        /// The version it amends, or 0.
        supersedes: u64,
        /// The anchoring transaction.
        tx_hash: B256,
        /// Its block.
        block_number: u64,
        /// What it means.
        why: String,
    },
}

impl Proof {
    /// Whether the entry is verified against the chain.
    pub fn is_verified(&self) -> bool {
        matches!(self, Self::Verified { .. })
    }
}

/// What a missing version's proof says.
pub const MISSING: &str = "held on chain, missing from this store";

/// One link of a patient's on-chain history, proven by the chain's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChainLink {
    pub(crate) version: u64,
    pub(crate) commitment: B256,
    pub(crate) kind: u8,
    pub(crate) supersedes: u64,
    pub(crate) author: Address,
    pub(crate) block_number: u64,
    pub(crate) tx_hash: B256,
}

impl From<MirroredLink> for ChainLink {
    fn from(l: MirroredLink) -> Self {
        Self {
            version: l.version,
            commitment: l.commitment,
            kind: l.kind,
            supersedes: l.supersedes,
            author: l.author,
            block_number: l.block_number,
            tx_hash: l.tx_hash,
        }
    }
}

/// The head `links` (versions 1, 2, … in order) lead to, or `None` if one names no kind.
fn head_of(links: &[ChainLink]) -> Option<Head> {
    let mut head = Head::ZERO;
    for (i, l) in links.iter().enumerate() {
        if l.version != i as u64 + 1 {
            return None;
        }
        head = Link {
            commitment: l.commitment,
            kind: EntryKind::try_from(l.kind).ok()?,
            supersedes: l.supersedes,
            author: l.author,
            version: l.version,
        }
        .next_head(head);
    }
    Some(head)
}

/// A stored entry, opened, with the commitment re-derived from it.
pub(crate) struct OpenedEntry {
    pub(crate) entry: StoredEntry,
    pub(crate) content: Option<Vec<u8>>,
    pub(crate) recomputed: Option<B256>,
}

/// Lays `stored` entries over the proven history `links`, as `reader` may see them (see the
/// module documentation). Versions come in order, then the reader's own entries not on chain.
pub(crate) fn assemble(reader: Address, links: &[ChainLink], stored: Vec<OpenedEntry>) -> Vec<ReadEntry> {
    let by_commitment: HashMap<B256, u64> = links.iter().map(|l| (l.commitment, l.version)).collect();
    let count = links.len() as u64;
    let mut verified: HashMap<u64, ReadEntry> = HashMap::new();
    let mut tampered: HashMap<u64, ReadEntry> = HashMap::new();
    let mut unplaced = Vec::new();
    let mut own = Vec::new();
    let mut records_at: HashMap<u64, String> = HashMap::new();
    for opened in stored {
        let e = &opened.entry;
        let shown = |content: Option<Vec<u8>>, proof: Proof| ReadEntry {
            record: Some(e.record.to_string()),
            revision: Some(e.revision),
            kind: e.kind.map_or(u8::MAX, |k| k as u8),
            author: e.author,
            recorded_at: Some(e.recorded_at),
            content: content.as_deref().and_then(Content::parse),
            proof,
        };
        // Where the chain holds this entry's commitment, if it does (a pending entry the indexer
        // has not caught up with yet is found here too).
        let on_chain = opened.recomputed.and_then(|c| by_commitment.get(&c).copied());
        match (e.anchoring, on_chain) {
            // On chain where the store says, or where a pending (or, altered, rejected) entry is.
            (Anchoring::Anchored { version: claimed, .. }, Some(version)) if claimed == version => {
                let link = &links[(version - 1) as usize];
                records_at.insert(version, e.record.to_string());
                verified.entry(version).or_insert_with(|| {
                    shown(
                        opened.content,
                        Proof::Verified {
                            version,
                            tx_hash: link.tx_hash,
                            block_number: link.block_number,
                            commitment: link.commitment,
                        },
                    )
                });
            }
            (Anchoring::Pending | Anchoring::Rejected, Some(version)) => {
                let link = &links[(version - 1) as usize];
                records_at.insert(version, e.record.to_string());
                verified.entry(version).or_insert_with(|| {
                    shown(
                        opened.content,
                        Proof::Verified {
                            version,
                            tx_hash: link.tx_hash,
                            block_number: link.block_number,
                            commitment: link.commitment,
                        },
                    )
                });
            }
            (Anchoring::Anchored { version, .. }, _) => {
                let why = match (opened.recomputed, on_chain) {
                    (None, _) => {
                        "it does not decrypt under its patient, record and revision: the stored ciphertext \
                                  was altered"
                            .to_owned()
                    }
                    (Some(_), Some(at)) => {
                        format!("it is the chain's version {at}, not version {version} as the store says")
                    }
                    (Some(_), None) if version > count || version == 0 => {
                        format!("it claims version {version}, which the chain does not hold")
                    }
                    (Some(_), None) => format!(
                        "its content or fields were altered: its commitment is not the chain's version {version}"
                    ),
                };
                records_at.entry(version).or_insert_with(|| e.record.to_string());
                let entry = shown(
                    None,
                    Proof::Tampered {
                        version: Some(version),
                        why,
                    },
                );
                if (1..=count).contains(&version) {
                    tampered.entry(version).or_insert(entry);
                } else {
                    unplaced.push(entry);
                }
            }
            (Anchoring::Pending, None) if e.author == reader => match opened.recomputed {
                Some(_) => own.push(shown(opened.content, Proof::Pending)),
                None if e.sealed.is_empty() => {}
                None => own.push(shown(
                    None,
                    Proof::Tampered {
                        version: None,
                        why: "it does not decrypt under its patient, record and revision".into(),
                    },
                )),
            },
            (Anchoring::Rejected, _) if e.author == reader => own.push(shown(
                opened.content,
                Proof::Rejected {
                    reason: e.reason.clone().unwrap_or_default(),
                },
            )),
            // Not on chain and not the reader's: not part of the record.
            (Anchoring::Pending | Anchoring::Rejected, _) => {}
        }
    }
    let mut out = Vec::with_capacity(links.len() + unplaced.len() + own.len());
    for link in links {
        let v = link.version;
        if let Some(entry) = verified.remove(&v) {
            out.push(entry);
        } else if let Some(entry) = tampered.remove(&v) {
            out.push(entry);
        } else {
            out.push(ReadEntry {
                record: records_at.get(&link.supersedes).cloned(),
                revision: None,
                kind: link.kind,
                author: link.author,
                recorded_at: None,
                content: None,
                proof: Proof::Missing {
                    version: v,
                    supersedes: link.supersedes,
                    tx_hash: link.tx_hash,
                    block_number: link.block_number,
                    why: MISSING.into(),
                },
            });
        }
    }
    out.extend(unplaced);
    out.extend(own);
    out
}

/// A patient's current demographics, as a read shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Demographics {
    /// The FHIR Patient resource, only when its current revision verified against the chain.
    pub resource: Option<Content>,
    /// The proof of the current revision (the chain's newest demographics version), or why none.
    pub proof: Proof,
}

impl Records {
    /// The links of `patient`'s on-chain history, proven against the chain's count and head: the
    /// mirror's when they recompute to the head, else (the mirror lags, or was altered) the
    /// chain's own logs.
    pub(crate) async fn proven_links(&self, patient: &OnChain) -> Result<Vec<ChainLink>> {
        let mirrored: Vec<ChainLink> = self
            .store()
            .mirrored_history(patient.chain_id)
            .await?
            .into_iter()
            .map(ChainLink::from)
            .collect();
        if mirrored.len() as u64 == patient.entry_count && head_of(&mirrored) == Some(patient.head) {
            return Ok(mirrored);
        }
        let logged = self.logged_links(patient.chain_id).await?;
        if logged.len() as u64 == patient.entry_count && head_of(&logged) == Some(patient.head) {
            // A mirror that is a prefix of the chain's history only lags; any other was altered.
            if !logged.starts_with(&mirrored) {
                tracing::warn!(
                    patient = patient.chain_id,
                    "the mirrored history does not match the chain's: read from the chain's logs"
                );
            }
            return Ok(logged);
        }
        Err(Error::Chain(format!(
            "the chain's logs for on-chain patient {} do not lead to its history head",
            patient.chain_id
        )))
    }

    /// The history of on-chain patient `chain_id`, from the contract's logs.
    async fn logged_links(&self, chain_id: u64) -> Result<Vec<ChainLink>> {
        let deployment = self.deployment();
        let provider = self.provider();
        let latest = provider.get_block_number().await.map_err(Error::chain)?;
        let mut links = Vec::new();
        let mut from = deployment.block_number;
        while from <= latest {
            let to = latest.min(from + 9_999);
            let filter = Filter::new()
                .address(deployment.ledger)
                .event_signature(vec![
                    MedLedger::MedicalHistoryUpdated::SIGNATURE_HASH,
                    MedLedger::MedicalHistoryBatchUpdated::SIGNATURE_HASH,
                ])
                .topic1(B256::from(alloy::primitives::U256::from(chain_id)))
                .from_block(from)
                .to_block(to);
            for log in provider.get_logs(&filter).await.map_err(Error::chain)? {
                for logged in events::decode(&log) {
                    if let ChainEvent::HistoryAppended {
                        patient,
                        version,
                        kind,
                        supersedes,
                        commitment,
                        author,
                    } = logged.event
                        && patient == chain_id
                    {
                        links.push(ChainLink {
                            version,
                            commitment,
                            kind,
                            supersedes,
                            author,
                            block_number: logged.block_number,
                            tx_hash: logged.tx_hash,
                        });
                    }
                }
            }
            from = to + 1;
        }
        links.sort_by_key(|l| l.version);
        Ok(links)
    }

    /// Opens `entries` of `patient` with their data key.
    fn open_all(&self, standing: &Standing, entries: Vec<StoredEntry>) -> Vec<OpenedEntry> {
        let stored = standing.stored();
        let key = self.keyring().data_key(stored.id, &stored.data_key).ok();
        entries
            .into_iter()
            .map(|entry| {
                let opened = opening::open(key.as_ref(), stored.id, &entry);
                OpenedEntry {
                    entry,
                    content: opened.content,
                    recomputed: opened.recomputed,
                }
            })
            .collect()
    }

    /// The history of `standing`'s patient as `reader` may see it, from `entries`: with the links
    /// of kind `only` alone when given.
    async fn assembled(
        &self,
        reader: Address,
        standing: &Standing,
        entries: Vec<StoredEntry>,
        only: Option<EntryKind>,
    ) -> Result<Vec<ReadEntry>> {
        let links = match standing {
            Standing::Confirmed(on_chain) => self.proven_links(on_chain).await?,
            Standing::Unconfirmed(_) => vec![],
        };
        let opened = self.open_all(standing, entries);
        let out = assemble(reader, &links, opened);
        Ok(match only {
            // Only this kind's versions were asked for: the others are not missing.
            Some(kind) => out.into_iter().filter(|e| e.kind == kind as u8).collect(),
            None => out,
        })
    }

    /// The history as the chain proves it, without anyone's drafts and without auditing a read
    /// (for views built on it, which audit themselves).
    pub(crate) async fn proven_history(
        &self,
        standing: &Standing,
        entries: Vec<StoredEntry>,
    ) -> Result<Vec<ReadEntry>> {
        self.assembled(Address::ZERO, standing, entries, None).await
    }

    /// Reads a patient's whole history, each entry with its proof, every version the chain holds
    /// accounted for (see the module documentation). Every attempt is audited.
    pub async fn history(&self, reader: Address, patient: PatientId) -> Result<Vec<ReadEntry>> {
        let (standing, grounds) = self.readable(reader, patient, "read").await?;
        let entries = self.store().entries_of(patient).await?;
        let out = self.assembled(reader, &standing, entries, None).await?;
        let detail = match grounds {
            Grounds::OwnRecords => "own records",
            Grounds::Consent { .. } => "consent",
            Grounds::Emergency { .. } => "emergency access",
        };
        self.audit(reader, "read", Some(patient), None, "allowed", detail)
            .await?;
        Ok(out)
    }

    /// A patient's current demographics (the chain's newest demographics version), for whoever
    /// may read their records; its content only when it verified. Audited like a read.
    pub async fn demographics(&self, reader: Address, patient: PatientId) -> Result<Demographics> {
        let (standing, _) = self.readable(reader, patient, "read-demographics").await?;
        let entries = self
            .store()
            .entries_of(patient)
            .await?
            .into_iter()
            .filter(|e| e.kind == Some(EntryKind::Demographics))
            .collect();
        let read = self
            .assembled(reader, &standing, entries, Some(EntryKind::Demographics))
            .await?;
        self.audit(reader, "read-demographics", Some(patient), None, "allowed", "")
            .await?;
        Ok(current_demographics(read))
    }
}

/// The current revision among a history's demographics entries: the chain's newest one (or, before
/// the registration is anchored, its author's pending one).
fn current_demographics(read: Vec<ReadEntry>) -> Demographics {
    let newest = read
        .into_iter()
        .filter(|e| e.kind == EntryKind::Demographics as u8)
        .max_by_key(|e| match &e.proof {
            Proof::Verified { version, .. } | Proof::Missing { version, .. } => (1, *version),
            Proof::Tampered { version, .. } => (1, version.unwrap_or(0)),
            Proof::Pending | Proof::Rejected { .. } => (0, 0),
        });
    match newest {
        Some(e) => Demographics {
            resource: if e.proof.is_verified() || e.proof == Proof::Pending {
                e.content
            } else {
                None
            },
            proof: e.proof,
        },
        None => Demographics {
            resource: None,
            proof: Proof::Tampered {
                version: None,
                why: "the store holds no demographics for this patient".into(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medledger_core::entry::RecordId;

    const READER: Address = Address::repeat_byte(0xee);

    fn link(version: u64, commitment: u8, supersedes: u64) -> ChainLink {
        ChainLink {
            version,
            commitment: B256::repeat_byte(commitment),
            kind: 0,
            supersedes,
            author: Address::repeat_byte(1),
            block_number: version * 10,
            tx_hash: B256::repeat_byte(version as u8),
        }
    }

    fn stored(record: u8, revision: u32, anchoring: Anchoring, recomputed: Option<u8>) -> OpenedEntry {
        OpenedEntry {
            entry: StoredEntry {
                seq: 0,
                patient: PatientId([1; 16]),
                chain_patient: Some(1),
                record: RecordId([record; 16]),
                revision,
                kind: Some(EntryKind::Diagnosis),
                author: Address::repeat_byte(1),
                recorded_at: 5,
                sealed: vec![1],
                commitment: B256::ZERO,
                anchoring,
                reason: Some("declined".into()),
                request_id: None,
            },
            content: Some(br#"{"resourceType":"Condition"}"#.to_vec()),
            recomputed: recomputed.map(B256::repeat_byte),
        }
    }

    fn anchored(version: u64) -> Anchoring {
        Anchoring::Anchored {
            version,
            tx_hash: B256::ZERO,
            block_number: 0,
        }
    }

    fn statuses(read: &[ReadEntry]) -> Vec<(&'static str, Option<u64>, bool)> {
        read.iter()
            .map(|e| {
                let (name, version) = match &e.proof {
                    Proof::Verified { version, .. } => ("verified", Some(*version)),
                    Proof::Pending => ("pending", None),
                    Proof::Rejected { .. } => ("rejected", None),
                    Proof::Tampered { version, .. } => ("tampered", *version),
                    Proof::Missing { version, .. } => ("missing", Some(*version)),
                };
                (name, version, e.content.is_some())
            })
            .collect()
    }

    #[test]
    fn every_version_is_accounted_for_and_only_verified_content_is_shown() {
        let links = [
            link(1, 1, 0),
            link(2, 2, 0),
            link(3, 3, 2),
            link(4, 4, 0),
            link(5, 5, 0),
        ];
        let read = assemble(
            READER,
            &links,
            vec![
                stored(1, 1, anchored(1), Some(1)),
                // Record 2's first revision is here; its amendment (version 3) was deleted.
                stored(2, 1, anchored(2), Some(2)),
                // Edited: decrypts, but does not match version 4.
                stored(4, 1, anchored(4), Some(9)),
                // Version 5 anchored, the indexer not there yet: found by its commitment.
                stored(5, 1, Anchoring::Pending, Some(5)),
                // Claims a version the chain lacks.
                stored(6, 1, anchored(8), Some(8)),
            ],
        );
        assert_eq!(
            statuses(&read),
            [
                ("verified", Some(1), true),
                ("verified", Some(2), true),
                ("missing", Some(3), false),
                ("tampered", Some(4), false),
                ("verified", Some(5), true),
                ("tampered", Some(8), false),
            ]
        );
        assert_eq!(
            read[2].record.as_deref(),
            Some(RecordId([2; 16]).to_string().as_str()),
            "a missing amendment names the record it amends"
        );
        assert!(matches!(
            read[2].proof,
            Proof::Missing {
                supersedes: 2,
                block_number: 30,
                ..
            }
        ));
    }

    #[test]
    fn drafts_are_their_authors_alone() {
        let links = [link(1, 1, 0)];
        let entries = || {
            vec![
                stored(1, 1, anchored(1), Some(1)),
                stored(2, 1, Anchoring::Pending, Some(7)),
                stored(3, 1, Anchoring::Rejected, None),
            ]
        };
        let author = Address::repeat_byte(1);
        assert_eq!(
            statuses(&assemble(author, &links, entries())),
            [
                ("verified", Some(1), true),
                ("pending", None, true),
                ("rejected", None, true)
            ]
        );
        assert_eq!(
            statuses(&assemble(READER, &links, entries())),
            [("verified", Some(1), true)]
        );
    }

    #[test]
    fn entries_swapped_between_versions_are_tampered_not_verified() {
        let links = [link(1, 1, 0), link(2, 2, 0)];
        let read = assemble(
            READER,
            &links,
            vec![
                stored(1, 1, anchored(2), Some(1)),
                stored(2, 1, anchored(1), Some(2)),
            ],
        );
        assert_eq!(
            statuses(&read),
            [("tampered", Some(1), false), ("tampered", Some(2), false)]
        );
    }

    #[test]
    fn a_head_covers_every_link() {
        let links = [link(1, 1, 0), link(2, 2, 0)];
        let head = head_of(&links).unwrap();
        let mut edited = links;
        edited[1].author = Address::repeat_byte(2);
        assert_ne!(head_of(&edited), Some(head));
        assert_eq!(head_of(&links[1..]), None, "versions start at 1");
    }
}
