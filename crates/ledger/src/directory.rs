//! Who is who: an account's roles, a doctor's patients, a patient's grants, a patient's
//! demographics. What the pages and the API list; the decisions stay with the chain.

use alloy::primitives::{Address, B256, U256};
use medledger_contracts::history::EntryKind;
use medledger_core::access::AccessState;
use medledger_core::entry::PatientId;
use medledger_store::now_ms;
use serde::Serialize;

use crate::records::Records;
use crate::{Error, Result, opening};

/// What an account is to this hospital, from the chain (roles) and the store (patient).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Roles {
    /// Holds the contract's admin role.
    pub admin: bool,
    /// Holds the doctor role.
    pub doctor: bool,
    /// Their patient record here, if they are a patient.
    pub patient: Option<PatientId>,
}

/// One doctor's access to one patient's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    /// The patient.
    pub patient: PatientId,
    /// The doctor.
    pub doctor: Address,
    /// Until when the patient's consent lasts (Unix seconds; 0 none; `u64::MAX` until revoked).
    pub consent_expires_at: u64,
    /// Until when an emergency access lasts (Unix seconds; 0 none).
    pub emergency_expires_at: u64,
    /// Whether either is open now.
    pub open: bool,
}

fn access(patient: PatientId, doctor: Address, state: AccessState, now: u64) -> Access {
    Access {
        patient,
        doctor,
        consent_expires_at: state.consent_expires_at,
        emergency_expires_at: state.emergency_expires_at,
        open: state.consent_expires_at > now || state.emergency_expires_at > now,
    }
}

impl Records {
    /// The roles `account` holds now.
    pub async fn roles(&self, account: Address) -> Result<Roles> {
        let ledger = self.ledger();
        let admin = ledger
            .hasRole(B256::ZERO, account)
            .call()
            .await
            .map_err(Error::chain)?;
        let doctor = ledger.isDoctor(account).call().await.map_err(Error::chain)?;
        let patient = self.store().patient_by_wallet(account).await?.map(|p| p.id);
        Ok(Roles {
            admin,
            doctor,
            patient,
        })
    }

    /// The patients whose records a doctor has (or had, unrevoked) access to, as the mirror knows.
    pub async fn patients_of(&self, doctor: Address) -> Result<Vec<Access>> {
        let now = now_ms() / 1000;
        let mut out = Vec::new();
        for grant in self.store().grants_of(doctor).await? {
            if let Some(p) = self.store().patient_by_chain_id(grant.patient).await? {
                out.push(access(p.id, doctor, grant.access, now));
            }
        }
        Ok(out)
    }

    /// Who may read a patient's records: for the patient themself and for admins.
    pub async fn grants(&self, reader: Address, patient: PatientId) -> Result<Vec<Access>> {
        let stored = self.patient(patient).await?;
        if stored.wallet != reader && !self.is_admin(reader).await? {
            return Err(Error::Forbidden(
                "only the patient (or an admin) sees who may read this record".into(),
            ));
        }
        let Some(chain_id) = stored.chain_id else {
            return Ok(vec![]);
        };
        let now = now_ms() / 1000;
        Ok(self
            .store()
            .grants_to(chain_id)
            .await?
            .into_iter()
            .map(|g| access(patient, g.doctor, g.access, now))
            .collect())
    }

    /// A patient's demographics (the newest revision of their demographics entry), for whoever may
    /// read their records; audited like a read.
    pub async fn demographics(
        &self,
        reader: Address,
        patient: PatientId,
    ) -> Result<Option<serde_json::Value>> {
        let stored = self.patient(patient).await?;
        if let Err(refusal) = self.may_read(reader, stored.wallet, stored.chain_id).await? {
            self.audit(
                reader,
                "read-demographics",
                Some(patient),
                None,
                "denied",
                &refusal,
            )
            .await?;
            return Err(Error::Forbidden(refusal));
        }
        let key = self.keyring().data_key(patient, &stored.data_key)?;
        let newest = self
            .store()
            .entries_of(patient)
            .await?
            .into_iter()
            .filter(|e| e.kind == Some(EntryKind::Demographics))
            .max_by_key(|e| e.revision);
        let content = newest.and_then(|e| {
            opening::open(Some(&key), patient, &e)
                .content
                .and_then(|c| serde_json::from_slice(&c).ok())
        });
        self.audit(reader, "read-demographics", Some(patient), None, "allowed", "")
            .await?;
        Ok(content)
    }

    /// The chain's view of a doctor's access to a patient, now.
    pub async fn access_now(&self, doctor: Address, patient: PatientId) -> Result<Access> {
        let stored = self.patient(patient).await?;
        let Some(chain_id) = stored.chain_id else {
            return Ok(access(patient, doctor, AccessState::default(), 0));
        };
        let a = self
            .ledger()
            .accessOf(U256::from(chain_id), doctor)
            .call()
            .await
            .map_err(Error::chain)?;
        let state = AccessState {
            consent_expires_at: a.consentExpiresAt,
            emergency_expires_at: a.emergencyExpiresAt,
        };
        Ok(access(patient, doctor, state, now_ms() / 1000))
    }
}
