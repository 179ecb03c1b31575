//! The record flows: register a patient, write an entry, sign it, read a history, search names.
//!
//! A write is validated, sealed and stored as pending together with its chain request, in one
//! transaction, and returns the EIP-712 request for the author's wallet to sign; the signature
//! comes back through [`Records::sign`] and the relayer takes it from there. The contract, not
//! the server, decides whether the author may write. A read decides access from the chain itself
//! (`isDoctor`, `accessOf` at the latest block, so a revocation counts at once), decrypts, checks
//! each entry's commitment against the confirmed mirror and the mirror against the chain's head,
//! and appends an audit record either way.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::DynProvider;
use alloy::sol_types::SolCall;
use medledger_contracts::MedLedger;
use medledger_contracts::forward::{self, ForwardRequest};
use medledger_contracts::history::EntryKind;
use medledger_core::attachment::{self, AttachmentId, AttachmentRef};
use medledger_core::audit::AuditEvent;
use medledger_core::blind::{BlindIndexKey, Match};
use medledger_core::crypto::{Binding, Keyring};
use medledger_core::emergency::{self, ReasonId};
use medledger_core::entry::{self, Entry, PatientId, RecordId};
use medledger_store::entries::{Anchoring, NewEntry};
use medledger_store::mirror::Deployment;
use medledger_store::patients::NewPatient;
use medledger_store::requests::NewRequest;
use medledger_store::{Store, now_ms};
use serde::Serialize;

pub use crate::read::{Content, Demographics as DemographicsRead, Proof, ReadEntry};

use crate::batch::Batcher;
use crate::identity::Standing;
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

/// A patient's demographics, as a doctor enters them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Demographics {
    /// Full name.
    pub name: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: String,
    /// Phone or e-mail.
    pub contact: String,
}

impl Demographics {
    fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::InvalidEntry("the patient's name is empty".into()));
        }
        for (field, text) in [("name", &self.name), ("contact", &self.contact)] {
            if let Some(c) = text.chars().find(|c| c.is_control()) {
                return Err(Error::InvalidEntry(format!(
                    "{field} contains the control character U+{:04X}: remove it",
                    u32::from(c)
                )));
            }
        }
        birth_date(&self.birth_date)?;
        Ok(())
    }

    /// The demographics as a FHIR R4 Patient resource.
    fn to_resource(&self, wallet: Address) -> serde_json::Value {
        serde_json::json!({
            "resourceType": "Patient",
            "identifier": [{ "system": "urn:ethereum:address", "value": wallet.to_string() }],
            "name": [{ "text": self.name }],
            "birthDate": self.birth_date,
            "telecom": [{ "value": self.contact }],
        })
    }
}

/// Checks a birth date: `YYYY-MM-DD`, a real day of the calendar (not 2025-02-30), not after today.
fn birth_date(text: &str) -> Result<()> {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape {
        return Err(Error::InvalidEntry(format!(
            "birthDate {text:?} is not a date written YYYY-MM-DD"
        )));
    }
    let date: jiff::civil::Date = text.parse().map_err(|e| {
        Error::InvalidEntry(format!(
            "birthDate {text:?} is not a real day of the calendar ({e})"
        ))
    })?;
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    if date > today {
        return Err(Error::InvalidEntry(format!(
            "birthDate {text:?} is in the future (today is {today})"
        )));
    }
    Ok(())
}

/// The stored bytes of an entry's content: a JSON object of at most [`MAX_CONTENT`] bytes.
fn entry_bytes(content: &serde_json::Value) -> Result<Vec<u8>> {
    if !content.is_object() {
        return Err(Error::InvalidEntry(
            "the content must be a JSON object (a FHIR resource)".into(),
        ));
    }
    let bytes = serde_json::to_vec(content).expect("JSON");
    if bytes.len() > MAX_CONTENT {
        return Err(Error::InvalidEntry(format!(
            "the content is {} bytes; at most {MAX_CONTENT}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

fn check_batch(n: usize) -> Result<()> {
    if n > MAX_BATCH {
        return Err(Error::InvalidEntry(format!(
            "{n} entries in one request; at most {MAX_BATCH}: split them"
        )));
    }
    Ok(())
}

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

/// An emergency access, as the patient sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Emergency {
    /// The doctor.
    pub doctor: Address,
    /// The reason they gave (`None` if it no longer decrypts).
    pub reason: Option<String>,
    /// The salted hash the chain holds.
    pub reason_hash: Option<B256>,
    /// Where the request stands (`anchored` once the access is open on-chain).
    pub status: String,
    /// When it was asked for (Unix ms).
    pub opened_at: u64,
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

/// A chain action that changes no record: consent and roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The patient gives a doctor access, until a Unix time (0: until revoked).
    GrantAccess {
        /// The doctor.
        doctor: Address,
        /// Unix seconds, or 0.
        expires_at: u64,
    },
    /// The patient withdraws a doctor's access (and any emergency access).
    RevokeAccess {
        /// The doctor.
        doctor: Address,
    },
    /// An admin approves a doctor.
    ApproveDoctor {
        /// The doctor.
        doctor: Address,
    },
    /// An admin revokes a doctor.
    RevokeDoctor {
        /// The doctor.
        doctor: Address,
    },
    /// A doctor closes their own emergency access to a patient before it expires.
    CloseEmergency,
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
        let _one_at_a_time = self.nonces.lock(signer).await;
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

    /// A doctor registers a patient (their wallet and demographics). Returns the new patient and
    /// the request the doctor's wallet must sign.
    pub async fn register_patient(
        &self,
        doctor: Address,
        wallet: Address,
        demographics: &Demographics,
    ) -> Result<(PatientId, PendingWrite)> {
        demographics.validate()?;
        self.register_patient_resource(
            doctor,
            wallet,
            &demographics.name,
            &demographics.to_resource(wallet),
        )
        .await
    }

    /// A doctor registers a patient whose demographics are a FHIR Patient resource (checked by the
    /// caller); `name` is what the blind index makes searchable.
    pub async fn register_patient_resource(
        &self,
        doctor: Address,
        wallet: Address,
        name: &str,
        resource: &serde_json::Value,
    ) -> Result<(PatientId, PendingWrite)> {
        let (id, _, write) = self
            .register_patient_with_history(doctor, wallet, name, resource, &[])
            .await?;
        Ok((id, write))
    }

    /// A doctor registers a patient and their first entries (an imported history), anchored
    /// together by one signature: the demographics are version 1, the entries follow in order.
    /// Returns the patient, the entries' records and the request to sign.
    pub async fn register_patient_with_history(
        &self,
        doctor: Address,
        wallet: Address,
        name: &str,
        resource: &serde_json::Value,
        entries: &[(EntryKind, serde_json::Value)],
    ) -> Result<(PatientId, Vec<RecordId>, PendingWrite)> {
        if name.trim().is_empty() {
            return Err(Error::InvalidEntry("the patient's name is empty".into()));
        }
        check_batch(entries.len() + 1)?;
        let demographics = entry_bytes(resource)?;
        let contents = entries
            .iter()
            .map(|(_, c)| entry_bytes(c))
            .collect::<Result<Vec<_>>>()?;
        self.require_doctor(doctor).await?;
        if wallet == Address::ZERO {
            return Err(Error::InvalidEntry(
                "the patient's wallet address is the zero address".into(),
            ));
        }
        let id = PatientId::random()?;
        let (key, wrapped) = self.keyring.new_data_key(id)?;
        let now = now_ms();
        let kinds: Vec<EntryKind> = std::iter::once(EntryKind::Demographics)
            .chain(entries.iter().map(|(k, _)| *k))
            .collect();
        let mut sealed = Vec::with_capacity(kinds.len());
        for (kind, content) in kinds.iter().zip(std::iter::once(demographics).chain(contents)) {
            let entry = Entry {
                record: RecordId::random()?,
                revision: 1,
                kind: *kind,
                author: doctor,
                recorded_at: now,
                content,
            };
            sealed.push(self.seal(&key, id, &entry)?);
        }
        let patient = NewPatient {
            id,
            wallet,
            registered_by: doctor,
            data_key: wrapped,
            name_tags: self.index.tags_for_name(name),
            created_at: now,
        };
        let calldata = MedLedger::addPatientWithHistoryCall {
            wallet,
            commitments: sealed.iter().map(|e| e.commitment).collect(),
            kinds: Bytes::from(kinds.iter().map(|k| *k as u8).collect::<Vec<_>>()),
        }
        .abi_encode();
        let gas = REGISTER_GAS + BATCH_ENTRY_GAS * entries.len() as u64;
        let write = self
            .store_write(
                doctor,
                "register-patient",
                calldata,
                gas,
                Commit::Register(&patient, &sealed),
            )
            .await?;
        let records: Vec<RecordId> = sealed.iter().skip(1).map(|e| e.record).collect();
        let events = std::iter::once((sealed[0].record, "register patient")).chain(
            records
                .iter()
                .map(|r| (*r, "stored with the registration, awaiting signature")),
        );
        self.audit_writes(doctor, id, events).await?;
        Ok((id, records, write))
    }

    /// A doctor writes an entry for a patient: a new record, or a new revision of `amends`.
    pub async fn record(
        &self,
        author: Address,
        patient: PatientId,
        kind: EntryKind,
        content: &serde_json::Value,
        amends: Option<RecordId>,
    ) -> Result<(RecordId, u32, PendingWrite)> {
        let content = entry_bytes(content)?;
        let (stored, chain_id) = self.writable(author, patient).await?;
        let (record, revision, supersedes) = match amends {
            None => (RecordId::random()?, 1, 0),
            Some(record) => {
                let entries = self.store.entries_of(patient).await?;
                let latest = entries
                    .iter()
                    .filter(|e| e.record == record)
                    .max_by_key(|e| e.revision)
                    .ok_or_else(|| Error::UnknownRecord(record.to_string()))?;
                let Anchoring::Anchored { version, .. } = latest.anchoring else {
                    return Err(Error::InvalidEntry(format!(
                        "revision {} of record {record} is not anchored yet; amend it once it is",
                        latest.revision
                    )));
                };
                (record, latest.revision + 1, version)
            }
        };
        let key = self.keyring.data_key(patient, &stored.data_key)?;
        let entry = Entry {
            record,
            revision,
            kind,
            author,
            recorded_at: now_ms(),
            content,
        };
        let sealed = self.seal(&key, patient, &entry)?;
        let calldata = MedLedger::updateMedicalHistoryCall {
            patientId: U256::from(chain_id),
            commitment: sealed.commitment,
            kind: kind as u8,
            supersedes,
        }
        .abi_encode();
        let audit = write_event(author, patient, record, "stored, awaiting signature");
        let write = self
            .store_write(
                author,
                "record",
                calldata,
                ENTRY_GAS,
                Commit::Record(std::slice::from_ref(&sealed), vec![audit]),
            )
            .await?;
        Ok((record, revision, write))
    }

    /// A doctor with access amends a patient's demographics: `resource` (a FHIR Patient, checked by
    /// the caller) becomes the next revision of their demographics record. The blind index then
    /// finds the patient by `old_name` and by `name` (until the store is reindexed, an amended
    /// name stays findable, as a search by a former name should be).
    pub async fn amend_demographics(
        &self,
        author: Address,
        patient: PatientId,
        old_name: &str,
        name: &str,
        resource: &serde_json::Value,
    ) -> Result<(RecordId, u32, PendingWrite)> {
        if name.trim().is_empty() {
            return Err(Error::InvalidEntry("the patient's name is empty".into()));
        }
        let record = self
            .store
            .entries_of(patient)
            .await?
            .into_iter()
            .find(|e| e.kind == Some(EntryKind::Demographics))
            .map(|e| e.record)
            .ok_or_else(|| Error::UnknownPatient(patient.to_string()))?;
        let written = self
            .record(author, patient, EntryKind::Demographics, resource, Some(record))
            .await?;
        let mut tags = self.index.tags_for_name(old_name);
        tags.extend(self.index.tags_for_name(name));
        tags.sort_unstable();
        tags.dedup();
        self.store.set_name_tags(patient, &tags).await?;
        Ok(written)
    }

    /// The patient, and their on-chain id, if `author` may write to their record now (the
    /// contract decides when the request executes; asking it now spares a doomed signature).
    async fn writable(
        &self,
        author: Address,
        patient: PatientId,
    ) -> Result<(medledger_store::patients::Patient, u64)> {
        let (stored, chain_id) = self.confirmed(patient).await?;
        let may_write = self
            .ledger()
            .hasAccess(author, U256::from(chain_id))
            .call()
            .await
            .map_err(Error::chain)?;
        if !may_write {
            let refusal = "you may not write to this patient's record: you are not a doctor with their consent or \
                           emergency access";
            self.audit(author, "write", Some(patient), None, "denied", refusal)
                .await?;
            return Err(Error::Forbidden(refusal.into()));
        }
        Ok((stored, chain_id))
    }

    /// The stored patient and their on-chain id, checked against the chain (see
    /// [`Records::standing`]); [`Error::PatientNotAnchored`] before their registration is.
    async fn confirmed(&self, patient: PatientId) -> Result<(medledger_store::patients::Patient, u64)> {
        match self.standing(patient).await? {
            Standing::Confirmed(on_chain) => Ok((on_chain.stored, on_chain.chain_id)),
            Standing::Unconfirmed(_) => Err(Error::PatientNotAnchored(patient.to_string())),
        }
    }

    /// A doctor writes several new records for a patient, anchored together by one signature (the
    /// contract's batch path): all of them or none. Returns their records, in order.
    pub async fn record_many(
        &self,
        author: Address,
        patient: PatientId,
        entries: &[(EntryKind, serde_json::Value)],
    ) -> Result<(Vec<RecordId>, PendingWrite)> {
        if entries.is_empty() {
            return Err(Error::InvalidEntry("no entries to write".into()));
        }
        check_batch(entries.len())?;
        let contents = entries
            .iter()
            .map(|(_, c)| entry_bytes(c))
            .collect::<Result<Vec<_>>>()?;
        let (stored, chain_id) = self.writable(author, patient).await?;
        let key = self.keyring.data_key(patient, &stored.data_key)?;
        let now = now_ms();
        let mut sealed = Vec::with_capacity(entries.len());
        for ((kind, _), content) in entries.iter().zip(contents) {
            let entry = Entry {
                record: RecordId::random()?,
                revision: 1,
                kind: *kind,
                author,
                recorded_at: now,
                content,
            };
            sealed.push(self.seal(&key, patient, &entry)?);
        }
        let calldata = MedLedger::updateMedicalHistoryBatchCall {
            patientId: U256::from(chain_id),
            commitments: sealed.iter().map(|e| e.commitment).collect(),
            kinds: Bytes::from(entries.iter().map(|(k, _)| *k as u8).collect::<Vec<_>>()),
        }
        .abi_encode();
        let gas = ENTRY_GAS + BATCH_ENTRY_GAS * entries.len() as u64;
        let records: Vec<RecordId> = sealed.iter().map(|e| e.record).collect();
        let audit = records
            .iter()
            .map(|r| write_event(author, patient, *r, "stored in a batch, awaiting signature"))
            .collect();
        let write = self
            .store_write(author, "record", calldata, gas, Commit::Record(&sealed, audit))
            .await?;
        Ok((records, write))
    }

    /// Prepares a consent or role change for `signer`'s wallet to sign. The contract decides whether
    /// the signer may make it (only the patient changes their consents; only an admin approves).
    pub async fn act(
        &self,
        signer: Address,
        patient: Option<PatientId>,
        action: Action,
    ) -> Result<PendingWrite> {
        let chain_patient = match patient {
            None => U256::ZERO,
            Some(id) => U256::from(self.confirmed(id).await?.1),
        };
        self.may_act(signer, patient, &action).await?;
        let (purpose, calldata) = match action {
            Action::GrantAccess { doctor, expires_at } => {
                if expires_at != 0 && expires_at <= now_secs() {
                    return Err(Error::InvalidEntry(
                        "the consent's expiry must be in the future (or 0: until revoked)".into(),
                    ));
                }
                (
                    "grant-access",
                    MedLedger::grantAccessCall {
                        patientId: chain_patient,
                        doctor,
                        expiresAt: expires_at,
                    }
                    .abi_encode(),
                )
            }
            Action::RevokeAccess { doctor } => (
                "revoke-access",
                MedLedger::revokeAccessCall {
                    patientId: chain_patient,
                    doctor,
                }
                .abi_encode(),
            ),
            Action::ApproveDoctor { doctor } => (
                "approve-doctor",
                MedLedger::registerDoctorCall { doctor }.abi_encode(),
            ),
            Action::RevokeDoctor { doctor } => (
                "revoke-doctor",
                MedLedger::revokeDoctorCall { doctor }.abi_encode(),
            ),
            Action::CloseEmergency => (
                "close-emergency-access",
                MedLedger::closeEmergencyAccessCall {
                    patientId: chain_patient,
                }
                .abi_encode(),
            ),
        };
        let write = self
            .store_write(signer, purpose, calldata, ACTION_GAS, Commit::Request)
            .await?;
        self.audit(
            signer,
            purpose,
            patient,
            None,
            "allowed",
            &format!("request {}", write.request_id),
        )
        .await?;
        Ok(write)
    }

    /// The stored patient, or [`Error::UnknownPatient`].
    pub(crate) async fn patient(&self, id: PatientId) -> Result<medledger_store::patients::Patient> {
        self.store
            .patient(id)
            .await?
            .ok_or_else(|| Error::UnknownPatient(id.to_string()))
    }

    pub(crate) async fn require_doctor(&self, account: Address) -> Result<()> {
        if self
            .ledger()
            .isDoctor(account)
            .call()
            .await
            .map_err(Error::chain)?
        {
            return Ok(());
        }
        Err(Error::Forbidden("only an approved doctor may do this".into()))
    }

    /// Whether `account` holds the contract's admin role.
    pub async fn is_admin(&self, account: Address) -> Result<bool> {
        self.ledger()
            .hasRole(alloy::primitives::B256::ZERO, account)
            .call()
            .await
            .map_err(Error::chain)
    }

    /// Refuses early what the contract would refuse: consents are the patient's, roles the admin's.
    async fn may_act(&self, signer: Address, patient: Option<PatientId>, action: &Action) -> Result<()> {
        match action {
            Action::GrantAccess { .. } | Action::RevokeAccess { .. } => {
                let Some(id) = patient else {
                    return Err(Error::InvalidEntry("a consent names a patient".into()));
                };
                if self.standing(id).await?.wallet() != signer {
                    return Err(Error::Forbidden(
                        "only the patient gives or withdraws access to their record".into(),
                    ));
                }
            }
            Action::CloseEmergency => {
                let id = patient
                    .ok_or_else(|| Error::InvalidEntry("an emergency access names a patient".into()))?;
                let chain_id = self.confirmed(id).await?.1;
                let access = self
                    .ledger()
                    .accessOf(U256::from(chain_id), signer)
                    .call()
                    .await
                    .map_err(Error::chain)?;
                if access.emergencyExpiresAt <= now_secs() {
                    return Err(Error::Conflict(
                        "you hold no open emergency access to this patient's record".into(),
                    ));
                }
            }
            Action::ApproveDoctor { .. } | Action::RevokeDoctor { .. } => {
                if !self.is_admin(signer).await? {
                    return Err(Error::Forbidden(
                        "only an admin approves or revokes doctors".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A doctor opens emergency access to a patient's record for `duration_secs` (at most a day),
    /// stating why. The reason is sealed for the patient; the chain gets a salted hash of it.
    pub async fn open_emergency(
        &self,
        doctor: Address,
        patient: PatientId,
        reason: &str,
        duration_secs: u64,
    ) -> Result<PendingWrite> {
        if !(60..=86_400).contains(&duration_secs) {
            return Err(Error::InvalidEntry(
                "emergency access lasts from 60 seconds to one day (86400)".into(),
            ));
        }
        self.require_doctor(doctor).await?;
        let (stored, chain_id) = self.confirmed(patient).await?;
        let key = self.keyring.data_key(patient, &stored.data_key)?;
        let id = ReasonId::random()?;
        let (sealed, reason_hash) =
            emergency::seal(&key, patient, id, reason).map_err(|e| Error::InvalidEntry(e.to_string()))?;
        let calldata = MedLedger::openEmergencyAccessCall {
            patientId: U256::from(chain_id),
            reasonHash: reason_hash,
            duration: duration_secs,
        }
        .abi_encode();
        let write = self
            .store_write(
                doctor,
                "emergency-access",
                calldata,
                ACTION_GAS,
                Commit::Emergency(id, patient, doctor, &sealed),
            )
            .await?;
        self.audit(
            doctor,
            "emergency-access",
            Some(patient),
            None,
            "allowed",
            &format!("request {}", write.request_id),
        )
        .await?;
        Ok(write)
    }

    /// The emergency accesses opened to a patient's record, with their reasons: for the patient.
    pub async fn emergencies(&self, reader: Address, patient: PatientId) -> Result<Vec<Emergency>> {
        let standing = self.standing(patient).await?;
        if standing.wallet() != reader {
            return Err(Error::Forbidden(
                "only the patient reads the reasons given for emergency access".into(),
            ));
        }
        let stored = standing.stored();
        let key = self.keyring.data_key(patient, &stored.data_key)?;
        let mut out = Vec::new();
        for r in self.store.emergencies_of(patient).await? {
            let opened = emergency::open(&key, patient, r.id, &r.sealed).ok();
            let status = self
                .store
                .request(r.request_id)
                .await?
                .map(|q| q.status.as_str().to_owned());
            out.push(Emergency {
                doctor: r.doctor,
                reason: opened.as_ref().map(|(reason, _)| reason.clone()),
                reason_hash: opened.map(|(_, hash)| hash),
                status: status.unwrap_or_else(|| "unknown".into()),
                opened_at: r.created_at,
            });
        }
        Ok(out)
    }

    /// Verifies every stored entry and the audit log against the chain (see [`crate::verify`]).
    pub async fn verify(&self, options: crate::verify::Options) -> Result<crate::verify::Report> {
        crate::verify::verify(&self.store, &self.keyring, &self.provider, options).await
    }

    /// The signer declines a request awaiting their signature: it ends rejected, its entries too
    /// (their content erased), and their later requests move down to the forwarder nonce it
    /// leaves free (those already signed are offered for signature again).
    /// Returns the requests offered for signature again.
    pub async fn decline(&self, signer: Address, request_id: i64) -> Result<Vec<i64>> {
        let _one_at_a_time = self.nonces.lock(signer).await;
        if self
            .store
            .decline_request(request_id, signer, "declined: the signer did not sign it")
            .await?
        {
            let reoffered = self.nonces.close_gaps_locked(signer, &[]).await?;
            self.audit(
                signer,
                "decline",
                None,
                None,
                "allowed",
                &format!("request {request_id}"),
            )
            .await?;
            return Ok(reoffered);
        }
        Err(Error::NotAwaitingSignature(request_id))
    }

    /// Ends the requests still awaiting a signature past their deadline (rejected, "expired", their
    /// entries' content erased) and closes the gaps they leave in their signers' nonces. Returns
    /// the requests that ended and those offered for signature again.
    pub async fn expire_unsigned(&self) -> Result<(Vec<i64>, Vec<i64>)> {
        let now = now_secs();
        let signers = self.store.signers_of_expired(now).await?;
        let mut expired = Vec::new();
        let mut reoffered = Vec::new();
        for signer in signers {
            let _one_at_a_time = self.nonces.lock(signer).await;
            expired.extend(self.store.expire_unsigned_of(signer, now).await?);
            reoffered.extend(self.nonces.close_gaps_locked(signer, &[]).await?);
        }
        Ok((expired, reoffered))
    }

    /// Accepts the wallet's signature of a request, after checking that it is the signer's.
    pub async fn sign(&self, request_id: i64, signature: &[u8]) -> Result<()> {
        let request = self
            .store
            .request(request_id)
            .await?
            .ok_or(Error::NotAwaitingSignature(request_id))?;
        let typed = ForwardRequest::new(
            request.signer,
            self.deployment.ledger,
            Bytes::from(request.calldata.clone()),
            request.gas,
            U256::from(request.forward_nonce),
            request.deadline,
        );
        let hash = typed.signing_hash(&forward::domain(
            self.deployment.chain_id,
            self.deployment.forwarder,
        ));
        let parsed = alloy::primitives::Signature::try_from(signature)
            .map_err(|_| Error::InvalidEntry("a signature is 65 bytes (r, s, v)".into()))?;
        let actual = parsed
            .recover_address_from_prehash(&hash)
            .unwrap_or(Address::ZERO);
        if actual != request.signer {
            return Err(Error::WrongSigner {
                request: request_id,
                expected: request.signer,
                actual,
            });
        }
        if !self
            .commits
            .signatures
            .run((request_id, signature.to_vec()))
            .await?
        {
            return Err(Error::NotAwaitingSignature(request_id));
        }
        Ok(())
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

    /// A doctor who may read a patient's records attaches a file to them (a scan, a letter). The
    /// returned reference goes into the content of the entry that cites it (for example a FHIR
    /// DocumentReference), so the entry's commitment covers the attachment's digest.
    pub async fn attach(
        &self,
        author: Address,
        patient: PatientId,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<AttachmentRef> {
        let (standing, _) = self.readable(author, patient, "attach").await?;
        let key = self.keyring.data_key(patient, &standing.stored().data_key)?;
        let id = AttachmentId::random()?;
        let (sealed, reference) = attachment::seal(&key, patient, id, media_type, bytes)
            .map_err(|e| Error::InvalidEntry(e.to_string()))?;
        self.store.put_attachment(id, patient, &sealed, now_ms()).await?;
        self.audit(
            author,
            "attach",
            Some(patient),
            None,
            "allowed",
            &format!("attachment {id}"),
        )
        .await?;
        Ok(reference)
    }

    /// Reads an attachment of a patient's record: its media type and bytes. Audited.
    pub async fn attachment(
        &self,
        reader: Address,
        patient: PatientId,
        id: AttachmentId,
    ) -> Result<(String, Vec<u8>)> {
        let (standing, _) = self.readable(reader, patient, "read").await?;
        let missing = || Error::UnknownRecord(format!("attachment {id}"));
        let (owner, sealed) = self.store.attachment(id).await?.ok_or_else(missing)?;
        if owner != patient {
            return Err(missing());
        }
        let key = self.keyring.data_key(patient, &standing.stored().data_key)?;
        let opened = attachment::open(&key, patient, id, &sealed)
            .map_err(|_| Error::InvalidEntry(format!("attachment {id} does not decrypt: it was altered")))?;
        self.audit(
            reader,
            "read",
            Some(patient),
            None,
            "allowed",
            &format!("attachment {id}"),
        )
        .await?;
        Ok(opened)
    }

    /// A doctor searches patients by name (exact words or prefixes). The query is not audited
    /// (a name is personal data); the search and its number of results are.
    pub async fn search(&self, reader: Address, query: &str, how: Match) -> Result<Vec<PatientId>> {
        let is_doctor = self
            .ledger()
            .isDoctor(reader)
            .call()
            .await
            .map_err(Error::chain)?;
        if !is_doctor {
            self.audit(reader, "search", None, None, "denied", "not a doctor")
                .await?;
            return Err(Error::Forbidden("only doctors may search patients".into()));
        }
        let tags = self.index.tags_for_query(query, how)?;
        let found = self.store.search_names(&tags, 50).await?;
        self.audit(
            reader,
            "search",
            None,
            None,
            "allowed",
            &format!("{} results", found.len()),
        )
        .await?;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::birth_date;

    #[test]
    fn a_birth_date_is_a_real_day_not_in_the_future() {
        assert!(birth_date("1815-12-10").is_ok());
        assert!(birth_date("2024-02-29").is_ok(), "a leap day");
        for (bad, says) in [
            ("2025-02-30", "not a real day"),
            ("2023-02-29", "not a real day"),
            ("1990-13-01", "not a real day"),
            ("1990-1-1", "YYYY-MM-DD"),
            ("10/12/1815", "YYYY-MM-DD"),
            ("2999-01-01", "in the future"),
        ] {
            let err = birth_date(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
