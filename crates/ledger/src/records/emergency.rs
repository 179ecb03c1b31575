//! Emergency (break-glass) access: a doctor opens it for a stated reason, sealed for the patient
//! (the chain gets a salted hash of it); the patient reads every one with its reason.

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolCall;
use medledger_contracts::MedLedger;
use medledger_core::emergency::{self, ReasonId};
use medledger_core::entry::PatientId;
use serde::Serialize;

use super::{ACTION_GAS, Commit, PendingWrite, Records};
use crate::{Error, Result};

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

impl Records {
    /// A doctor opens emergency access to a patient's record for `duration_secs` (at most a day),
    /// stating why. The reason is sealed for the patient; the chain gets a salted hash of it.
    pub async fn open_emergency(
        &self,
        doctor: Address,
        patient: PatientId,
        reason: &str,
        duration_secs: u64,
    ) -> Result<PendingWrite> {
        check_duration(duration_secs)?;
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
}

/// The shortest and the longest emergency access one request opens, in seconds (the contract's
/// longest is a day).
const DURATIONS: std::ops::RangeInclusive<u64> = 60..=86_400;

/// Checks an emergency access's duration.
fn check_duration(secs: u64) -> Result<()> {
    if !DURATIONS.contains(&secs) {
        return Err(Error::InvalidEntry(
            "emergency access lasts from 60 seconds to one day (86400)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emergency_lasts_a_minute_to_a_day() {
        for ok in [60, 3_600, 86_400] {
            assert!(check_duration(ok).is_ok(), "{ok}");
        }
        for bad in [0, 59, 86_401, u64::MAX] {
            let err = check_duration(bad).unwrap_err().to_string();
            assert!(err.contains("86400"), "{bad}: {err}");
        }
    }
}
