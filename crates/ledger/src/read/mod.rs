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

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use medledger_contracts::MedLedger;
use medledger_core::access::Grounds;
use medledger_core::entry::EntryKind;
use medledger_core::entry::PatientId;
use medledger_store::entries::StoredEntry;
use medledger_store::mirror::ChainEvent;
use serde::Serialize;

use crate::identity::{OnChain, Standing};
use crate::opening;
use crate::records::Records;
use crate::{Error, Result, events};

mod assemble;

pub(crate) use assemble::{ChainLink, OpenedEntry, assemble, head_of};

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
