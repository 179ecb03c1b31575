//! Patients: registering them (their demographics the first entry of their history, anchored
//! together with any first entries), amending their demographics, and finding them by name.

use alloy::primitives::{Address, Bytes};
use alloy::sol_types::SolCall;
use medledger_contracts::MedLedger;
use medledger_core::blind::Match;
use medledger_core::entry::EntryKind;
use medledger_core::entry::{Entry, PatientId, RecordId};
use medledger_store::now_ms;
use medledger_store::patients::NewPatient;
use serde::Serialize;

use super::write::{check_batch, entry_bytes};
use super::{BATCH_ENTRY_GAS, Commit, PendingWrite, REGISTER_GAS, Records};
use crate::{Error, Result};

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

impl Records {
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
            .register_patient_with_history(doctor, PatientId::random()?, wallet, name, resource, &[])
            .await?;
        Ok((id, write))
    }

    /// A doctor registers a patient and their first entries (an imported history), anchored
    /// together by one signature: the demographics are version 1, the entries follow in order.
    /// The caller names the patient and the records (`PatientId::random`, `RecordId::random`), so
    /// that a transaction's entries can reference each other before they are sealed. Returns the
    /// patient, the entries' records and the request to sign.
    pub async fn register_patient_with_history(
        &self,
        doctor: Address,
        id: PatientId,
        wallet: Address,
        name: &str,
        resource: &serde_json::Value,
        entries: &[(RecordId, EntryKind, serde_json::Value)],
    ) -> Result<(PatientId, Vec<RecordId>, PendingWrite)> {
        if name.trim().is_empty() {
            return Err(Error::InvalidEntry("the patient's name is empty".into()));
        }
        check_batch(entries.len() + 1)?;
        let demographics = entry_bytes(resource)?;
        let contents = entries
            .iter()
            .map(|(_, _, c)| entry_bytes(c))
            .collect::<Result<Vec<_>>>()?;
        self.require_doctor(doctor).await?;
        if wallet == Address::ZERO {
            return Err(Error::InvalidEntry(
                "the patient's wallet address is the zero address".into(),
            ));
        }
        let (key, wrapped) = self.keyring.new_data_key(id)?;
        let now = now_ms();
        let kinds: Vec<EntryKind> = std::iter::once(EntryKind::Demographics)
            .chain(entries.iter().map(|(_, k, _)| *k))
            .collect();
        let records = std::iter::once(RecordId::random()?).chain(entries.iter().map(|(r, _, _)| *r));
        let mut sealed = Vec::with_capacity(kinds.len());
        for ((kind, record), content) in kinds
            .iter()
            .zip(records)
            .zip(std::iter::once(demographics).chain(contents))
        {
            let entry = Entry {
                record,
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
