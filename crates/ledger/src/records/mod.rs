//! The record flows: register a patient, write an entry, sign it, act on consent and roles,
//! open emergency access, attach files, search names. (Reading is [`crate::read`].)
//!
//! A write is validated, sealed and stored as pending together with its chain request, in one
//! transaction, and returns the EIP-712 request for the author's wallet to sign; the signature
//! comes back through [`Records::sign`] and the relayer takes it from there. The contract, not
//! the server, decides whether the author may write; the server asks it first and refuses early
//! what it would refuse. Here, by concern:
//!
//! - [`patients`]: registering patients (their demographics first), amending demographics, name
//!   search;
//! - `write`: entries and batches of entries;
//! - `act`: consents and roles, and who may run verification;
//! - `emergency`: break-glass access and its reasons;
//! - `signing`: signatures, declines and expiries;
//! - `attachments`: sealed files cited by entries.

mod act;
mod attachments;
mod emergency;
pub mod patients;
mod signing;
mod write;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::DynProvider;
use medledger_contracts::MedLedger;
use medledger_contracts::forward::{self, ForwardRequest};
use medledger_core::audit::AuditEvent;
use medledger_core::blind::BlindIndexKey;
use medledger_core::crypto::{Binding, Keyring};
use medledger_core::emergency::ReasonId;
use medledger_core::entry::{self, Entry, PatientId, RecordId};
use medledger_store::entries::NewEntry;
use medledger_store::mirror::Deployment;
use medledger_store::patients::NewPatient;
use medledger_store::requests::NewRequest;
use medledger_store::{Store, now_ms};

pub use crate::read::{Content, Demographics as DemographicsRead, Proof, ReadEntry};
pub use act::Action;
pub use emergency::Emergency;
pub use patients::Demographics;

use crate::batch::Batcher;
use crate::nonces::{Nonces, REQUEST_LIFETIME_SECS};
use crate::{Error, Result};

/// The largest entry content accepted, in bytes.
pub const MAX_CONTENT: usize = 64 * 1024;

const REGISTER_GAS: u64 = 400_000;

const ENTRY_GAS: u64 = 150_000;

const ACTION_GAS: u64 = 150_000;

/// What each further entry of a batch adds to its gas: a link's hash, calldata and log data
/// (about 3,000 gas measured), with room to spare.
const BATCH_ENTRY_GAS: u64 = 10_000;

/// The most entries one request anchors (the contract's `MAX_BATCH`).
pub const MAX_BATCH: usize = 512;

const INDEX_KEY: &str = "blind-index";

/// A write waiting for its author's signature.
#[derive(Debug, Clone)]
pub struct PendingWrite {
    /// The outbox request to sign.
    pub request_id: i64,
    /// The forward request, as the wallet must sign it (EIP-712, domain [`forward::domain`]).
    pub request: ForwardRequest,
    /// The EIP-712 hash the signature is over.
    pub signing_hash: B256,
}

/// What a write stores beside its request.
enum Commit<'a> {
    /// A new patient, their demographics entry first and any other first entries.
    Register(&'a NewPatient, &'a [NewEntry]),
    /// Entries of one patient, anchored together, and the audit events of writing them (stored in
    /// the same transaction).
    Record(&'a [NewEntry], Vec<AuditEvent>),
    /// Nothing but the request (consent, roles).
    Request,
    /// An emergency reason, sealed.
    Emergency(ReasonId, PatientId, Address, &'a [u8]),
}

/// The record flows of one hospital.
#[derive(Debug)]
pub struct Records {
    store: Store,
    keyring: Keyring,
    index: BlindIndexKey,
    provider: DynProvider,
    deployment: Deployment,
    /// Forwarder nonces, handed out in order per signer and kept without gaps.
    nonces: Nonces,
    commits: Commits,
    /// The server's own account, which anchors the audit log (see [`Records::with_auditor`]).
    auditor: Option<Address>,
    /// The last check of the audit log, and when it ran (see [`Records::log_integrity`]).
    pub(crate) integrity: tokio::sync::Mutex<Option<(std::time::Instant, crate::trail::LogIntegrity)>>,
}

/// Group commits: concurrent writes of one kind share a database transaction (and its sync).
#[derive(Debug)]
struct Commits {
    /// Audit records.
    audit: Batcher<AuditEvent, ()>,
    /// Stored writes: a request with its entries and their audit events; answers the request's id.
    writes: Batcher<(Vec<NewEntry>, NewRequest, Vec<AuditEvent>), i64>,
    /// Signatures of requests; answers whether the request awaited one.
    signatures: Batcher<(i64, Vec<u8>), bool>,
}

/// The audit event of a write stored for its author's signature.
fn write_event(author: Address, patient: PatientId, record: RecordId, detail: &str) -> AuditEvent {
    AuditEvent {
        at: now_ms(),
        actor: author,
        action: "write".into(),
        patient: Some(patient),
        record: Some(record),
        outcome: "allowed".into(),
        detail: detail.into(),
    }
}

/// The same outcome for each of `n` jobs.
fn each<R: Clone>(
    n: usize,
    outcome: std::result::Result<R, medledger_store::Error>,
) -> Vec<std::result::Result<R, String>> {
    let outcome = outcome.map_err(|e| e.to_string());
    vec![outcome; n]
}

impl Commits {
    fn start(store: &Store) -> Self {
        let s = store.clone();
        let audit = Batcher::start("the audit log", move |events: Vec<AuditEvent>| {
            let store = s.clone();
            async move {
                let n = events.len();
                each(n, store.append_audit(events).await.map(|_| ()))
            }
        });
        let s = store.clone();
        let writes = Batcher::start(
            "the entries",
            move |writes: Vec<(Vec<NewEntry>, NewRequest, Vec<AuditEvent>)>| {
                let store = s.clone();
                async move {
                    let (stored, audits): (Vec<_>, Vec<Vec<AuditEvent>>) = writes
                        .into_iter()
                        .map(|(entries, request, audit)| ((entries, request), audit))
                        .unzip();
                    match store.record_many_audited(&stored, audits.concat()).await {
                        Ok(ids) => ids.into_iter().map(Ok).collect(),
                        // One bad write must not fail the others: each alone.
                        Err(_) if stored.len() > 1 => {
                            let mut out = Vec::with_capacity(stored.len());
                            for (write, audit) in stored.iter().zip(audits) {
                                out.push(
                                    store
                                        .record_many_audited(std::slice::from_ref(write), audit)
                                        .await
                                        .map(|ids| ids[0])
                                        .map_err(|e| e.to_string()),
                                );
                            }
                            out
                        }
                        Err(e) => vec![Err(e.to_string())],
                    }
                }
            },
        );
        let s = store.clone();
        let signatures = Batcher::start("the signatures", move |signed: Vec<(i64, Vec<u8>)>| {
            let store = s.clone();
            async move {
                match store.sign_many(&signed).await {
                    Ok(done) => done.into_iter().map(Ok).collect(),
                    Err(e) => each(signed.len(), Err(e)),
                }
            }
        });
        Self {
            audit,
            writes,
            signatures,
        }
    }
}

fn now_secs() -> u64 {
    now_ms() / 1000
}

impl Records {
    /// The record a client's id for a resource names (`PUT /fhir/Observation/bp-1`, update as
    /// create): a keyed hash of `{type}/{id}` under the hospital's blind-index key, stable for the
    /// life of the data directory.
    pub fn client_record(&self, resource_type: &str, id: &str) -> RecordId {
        RecordId(self.index.record_tag(&format!("{resource_type}/{id}")))
    }

    /// The record flows over `store`, for the deployment it records.
    pub async fn open(store: Store, keyring: Keyring, provider: DynProvider) -> Result<Self> {
        let deployment = store.deployment().await?.ok_or(Error::NotDeployed)?;
        let wrapped = match store.wrapped_key(INDEX_KEY).await? {
            Some(wrapped) => wrapped,
            None => {
                store
                    .put_wrapped_key_once(INDEX_KEY, &keyring.new_index_key()?.1)
                    .await?
            }
        };
        let index = keyring.index_key(&wrapped)?;
        let commits = Commits::start(&store);
        let nonces = Nonces::new(store.clone(), provider.clone(), deployment.forwarder);
        Ok(Self {
            nonces,
            store,
            keyring,
            index,
            provider,
            deployment,
            commits,
            auditor: None,
            integrity: tokio::sync::Mutex::new(None),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The hospital's Bulk Data export jobs.
    pub fn exports(&self) -> crate::exports::Exports {
        crate::exports::Exports::new(self.store.clone(), self.keyring.clone())
    }

    pub(crate) fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub(crate) fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Where the contracts are.
    pub fn deployment(&self) -> Deployment {
        self.deployment
    }

    /// The server's own account, whose on-chain anchors protect this store's audit log.
    pub fn with_auditor(mut self, auditor: Address) -> Self {
        self.auditor = Some(auditor);
        self
    }

    /// The account whose anchors protect the audit log, if known.
    pub(crate) fn auditor(&self) -> Option<Address> {
        self.auditor
    }

    /// The signers' forwarder nonces (the relayer shares them: see [`crate::nonces`]).
    pub fn nonces(&self) -> &Nonces {
        &self.nonces
    }

    pub(crate) fn ledger(&self) -> MedLedger::MedLedgerInstance<DynProvider> {
        MedLedger::new(self.deployment.ledger, self.provider.clone())
    }

    /// Validates, seals and stores entries with their request, returning the request to sign.
    async fn store_write(
        &self,
        signer: Address,
        purpose: &str,
        calldata: Vec<u8>,
        gas: u64,
        commit: Commit<'_>,
    ) -> Result<PendingWrite> {
        let deadline = now_secs() + REQUEST_LIFETIME_SECS;
        // Forwarder nonces are handed out per signer: one write at a time per signer, until it is
        // stored (so the next one sees its nonce held); different signers' writes share commits.
        let _one_at_a_time = self.nonces.lock(signer).await?;
        let nonce = self.nonces.next(signer).await?;
        let new = NewRequest {
            purpose: purpose.into(),
            signer,
            calldata: calldata.clone(),
            gas,
            deadline,
            forward_nonce: nonce,
        };
        let request_id = match commit {
            Commit::Register(patient, entries) => self.store.register_patient(patient, entries, &new).await?,
            Commit::Record(entries, audit) => self.commits.writes.run((entries.to_vec(), new, audit)).await?,
            Commit::Request => self.commits.writes.run((vec![], new, vec![])).await?,
            Commit::Emergency(id, patient, doctor, sealed) => {
                self.store
                    .record_emergency(id, patient, doctor, sealed, &new, now_ms())
                    .await?
            }
        };
        let request = ForwardRequest::new(
            signer,
            self.deployment.ledger,
            Bytes::from(calldata),
            gas,
            U256::from(nonce),
            deadline,
        );
        let signing_hash = request.signing_hash(&forward::domain(
            self.deployment.chain_id,
            self.deployment.forwarder,
        ));
        Ok(PendingWrite {
            request_id,
            request,
            signing_hash,
        })
    }

    fn seal(
        &self,
        key: &medledger_core::crypto::DataKey,
        patient: PatientId,
        entry: &Entry,
    ) -> Result<NewEntry> {
        let salt = entry::new_salt()?;
        let binding = Binding {
            patient,
            record: entry.record,
            revision: entry.revision,
        };
        let sealed = key.seal(&binding, &entry::sealed_payload(&salt, &entry.content))?;
        Ok(NewEntry {
            patient,
            record: entry.record,
            revision: entry.revision,
            kind: entry.kind,
            author: entry.author,
            recorded_at: entry.recorded_at,
            sealed,
            commitment: entry.commitment(&salt),
        })
    }

    /// The stored patient, or [`Error::UnknownPatient`].
    pub(crate) async fn patient(&self, id: PatientId) -> Result<medledger_store::patients::Patient> {
        self.store
            .patient(id)
            .await?
            .ok_or_else(|| Error::UnknownPatient(id.to_string()))
    }

    pub(crate) async fn audit(
        &self,
        actor: Address,
        action: &str,
        patient: Option<PatientId>,
        record: Option<RecordId>,
        outcome: &str,
        detail: &str,
    ) -> Result<()> {
        self.commits
            .audit
            .run(AuditEvent {
                at: now_ms(),
                actor,
                action: action.into(),
                patient,
                record,
                outcome: outcome.into(),
                detail: detail.into(),
            })
            .await
    }

    /// Audits several writes of one actor at once (one commit).
    async fn audit_writes(
        &self,
        actor: Address,
        patient: PatientId,
        written: impl IntoIterator<Item = (RecordId, &str)>,
    ) -> Result<()> {
        let at = now_ms();
        let events = written
            .into_iter()
            .map(|(record, detail)| AuditEvent {
                at,
                actor,
                action: "write".into(),
                patient: Some(patient),
                record: Some(record),
                outcome: "allowed".into(),
                detail: detail.into(),
            })
            .collect();
        self.commits.audit.run_all(events).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_outcome_is_every_jobs_outcome() {
        assert_eq!(
            each(3, Ok::<_, medledger_store::Error>(7)),
            vec![Ok(7), Ok(7), Ok(7)]
        );
        let failed = each::<u8>(2, Err(medledger_store::Error::Corrupt("row")));
        assert_eq!(failed.len(), 2);
        assert!(
            failed
                .iter()
                .all(|r| r.as_ref().is_err_and(|e| e.contains("row")))
        );
    }

    #[test]
    fn a_write_is_audited_as_its_authors_with_its_record() {
        let event = write_event(
            Address::repeat_byte(1),
            PatientId([2; 16]),
            RecordId([3; 16]),
            "stored",
        );
        assert_eq!(
            (
                event.action.as_str(),
                event.outcome.as_str(),
                event.detail.as_str()
            ),
            ("write", "allowed", "stored")
        );
        assert_eq!(
            (event.actor, event.patient, event.record),
            (
                Address::repeat_byte(1),
                Some(PatientId([2; 16])),
                Some(RecordId([3; 16]))
            )
        );
    }
}
