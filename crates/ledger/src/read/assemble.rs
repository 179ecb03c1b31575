//! Laying the stored entries over the proven on-chain history: the heart of the read path, pure
//! (no store, no chain), so that every case is a unit test.

use std::collections::HashMap;

use alloy::primitives::{Address, B256};
use medledger_contracts::history::{Head, Link};
use medledger_core::entry::EntryKind;
use medledger_store::entries::{Anchoring, StoredEntry};
use medledger_store::mirror::MirroredLink;

use super::{Content, MISSING, Proof, ReadEntry};

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
pub(crate) fn head_of(links: &[ChainLink]) -> Option<Head> {
    let mut head = Head::ZERO;
    for (i, l) in links.iter().enumerate() {
        if l.version != i as u64 + 1 {
            return None;
        }
        head = Link {
            commitment: l.commitment,
            kind: EntryKind::try_from(l.kind).ok()? as u8,
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
/// read module's documentation). Versions come in order, then the reader's own entries not on chain.
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
            (anchoring, Some(version))
                if matches!(anchoring, Anchoring::Pending | Anchoring::Rejected)
                    || matches!(anchoring, Anchoring::Anchored { version: claimed, .. } if claimed == version) =>
            {
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

#[cfg(test)]
mod tests {
    use super::*;
    use medledger_core::entry::{PatientId, RecordId};

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
