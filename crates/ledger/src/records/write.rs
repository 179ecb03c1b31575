//! Writing entries: one new record or a revision of one, or a batch of new records anchored by
//! one signature.

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::SolCall;
use medledger_contracts::MedLedger;
use medledger_core::entry::EntryKind;
use medledger_core::entry::{Entry, PatientId, RecordId};
use medledger_store::entries::Anchoring;
use medledger_store::now_ms;

use super::{BATCH_ENTRY_GAS, Commit, ENTRY_GAS, MAX_BATCH, MAX_CONTENT, PendingWrite, Records, write_event};
use crate::identity::Standing;
use crate::{Error, Result};

/// The stored bytes of an entry's content: a JSON object of at most [`MAX_CONTENT`] bytes.
pub(super) fn entry_bytes(content: &serde_json::Value) -> Result<Vec<u8>> {
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

pub(super) fn check_batch(n: usize) -> Result<()> {
    if n > MAX_BATCH {
        return Err(Error::InvalidEntry(format!(
            "{n} entries in one request; at most {MAX_BATCH}: split them"
        )));
    }
    Ok(())
}

impl Records {
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

    /// The patient, and their on-chain id, if `author` may write to their record now (the
    /// contract decides when the request executes; asking it now spares a doomed signature).
    pub(super) async fn writable(
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
    pub(super) async fn confirmed(
        &self,
        patient: PatientId,
    ) -> Result<(medledger_store::patients::Patient, u64)> {
        match self.standing(patient).await? {
            Standing::Confirmed(on_chain) => Ok((on_chain.stored, on_chain.chain_id)),
            Standing::Unconfirmed(_) => Err(Error::PatientNotAnchored(patient.to_string())),
        }
    }

    /// A doctor writes several new records for a patient, anchored together by one signature (the
    /// contract's batch path): all of them or none. The caller names the records
    /// (`RecordId::random`), so that the entries can reference each other before they are sealed.
    /// Returns their records, in order.
    pub async fn record_many(
        &self,
        author: Address,
        patient: PatientId,
        entries: &[(RecordId, EntryKind, serde_json::Value)],
    ) -> Result<(Vec<RecordId>, PendingWrite)> {
        if entries.is_empty() {
            return Err(Error::InvalidEntry("no entries to write".into()));
        }
        check_batch(entries.len())?;
        let contents = entries
            .iter()
            .map(|(_, _, c)| entry_bytes(c))
            .collect::<Result<Vec<_>>>()?;
        let (stored, chain_id) = self.writable(author, patient).await?;
        let key = self.keyring.data_key(patient, &stored.data_key)?;
        let now = now_ms();
        let mut sealed = Vec::with_capacity(entries.len());
        for ((record, kind, _), content) in entries.iter().zip(contents) {
            let entry = Entry {
                record: *record,
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
            kinds: Bytes::from(entries.iter().map(|(_, k, _)| *k as u8).collect::<Vec<_>>()),
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
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_is_a_json_object_of_at_most_64_kib() {
        let bytes = entry_bytes(&json!({"resourceType": "Condition"})).unwrap();
        assert_eq!(bytes, br#"{"resourceType":"Condition"}"#);
        assert!(matches!(entry_bytes(&json!([1, 2])), Err(Error::InvalidEntry(_))));
        assert!(matches!(entry_bytes(&json!("text")), Err(Error::InvalidEntry(_))));
        let big = json!({"text": "x".repeat(MAX_CONTENT)});
        let err = entry_bytes(&big).unwrap_err().to_string();
        assert!(err.contains("at most"), "{err}");
    }

    #[test]
    fn a_batch_holds_at_most_what_the_contract_takes() {
        assert!(check_batch(1).is_ok());
        assert!(check_batch(MAX_BATCH).is_ok());
        let err = check_batch(MAX_BATCH + 1).unwrap_err().to_string();
        assert!(err.contains("split them"), "{err}");
    }
}
