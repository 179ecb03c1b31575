//! Who is who: an account's roles, a doctor's patients, a patient's grants. What the pages and
//! the API list, from the chain; the mirror's copy is checked against it, never believed alone.

use std::collections::{BTreeMap, HashMap};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use medledger_contracts::MedLedger;
use medledger_core::access::AccessState;
use medledger_core::entry::PatientId;
use medledger_store::now_ms;
use serde::Serialize;

use crate::records::Records;
use crate::{Error, Result};

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

/// One row of the doctor directory: a doctor the chain knows or an applicant, as the caller may
/// see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryEntry {
    /// Their wallet.
    pub address: Address,
    /// The name they applied under, if they applied here.
    pub name: Option<String>,
    /// Their speciality, if they gave one.
    pub speciality: Option<String>,
    /// Whether they hold the doctor role now (from the chain).
    pub approved: bool,
    /// Their licence number: for admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    /// When they applied (Unix ms): for admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<u64>,
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
    /// The roles `account` holds now, from the chain; their patient record here if the chain
    /// agrees that the wallet is that patient's.
    pub async fn roles(&self, account: Address) -> Result<Roles> {
        let ledger = self.ledger();
        let admin = ledger
            .hasRole(B256::ZERO, account)
            .call()
            .await
            .map_err(Error::chain)?;
        let doctor = ledger.isDoctor(account).call().await.map_err(Error::chain)?;
        let patient = self.patient_of_wallet(account).await?;
        Ok(Roles {
            admin,
            doctor,
            patient,
        })
    }

    /// The doctor directory as `caller` may see it: an admin sees every applicant and every doctor
    /// the chain ever made, with licences; anyone else the approved doctors (name and speciality),
    /// to choose whom to give access. Whether each is approved is the chain's to say.
    pub async fn directory(&self, caller: Address) -> Result<Vec<DirectoryEntry>> {
        let admin = self.is_admin(caller).await?;
        let mut rows: BTreeMap<Address, Option<medledger_store::doctors::Application>> = BTreeMap::new();
        for doctor in self.store().mirrored_doctors().await? {
            rows.entry(doctor.address).or_default();
        }
        for application in self.store().doctor_applications().await? {
            rows.insert(application.address, Some(application));
        }
        let mut out = Vec::with_capacity(rows.len());
        for (address, application) in rows {
            let approved = self.is_doctor(address).await?;
            if !admin && !approved {
                continue;
            }
            let a = application.as_ref();
            out.push(DirectoryEntry {
                address,
                name: a.map(|a| a.name.clone()),
                speciality: a.map(|a| a.speciality.clone()),
                approved,
                licence: if admin { a.map(|a| a.licence.clone()) } else { None },
                applied_at: if admin { a.map(|a| a.applied_at) } else { None },
            });
        }
        Ok(out)
    }

    /// `applicant` applies to practise here (an admin approves with a signed `registerDoctor`); a
    /// new application replaces their earlier one. Name and licence are required, each one line of
    /// text.
    pub async fn apply_as_doctor(
        &self,
        applicant: Address,
        name: &str,
        licence: &str,
        speciality: &str,
    ) -> Result<medledger_store::doctors::Application> {
        let application = medledger_store::doctors::Application {
            address: applicant,
            name: one_line("name", name, 200, true)?,
            licence: one_line("licence", licence, 100, true)?,
            speciality: one_line("speciality", speciality, 100, false)?,
            applied_at: now_ms(),
        };
        self.store().apply_as_doctor(&application).await?;
        tracing::info!(%applicant, "doctor application");
        Ok(application)
    }

    /// Whether `account` holds the doctor role now, from the chain.
    pub async fn is_doctor(&self, account: Address) -> Result<bool> {
        self.ledger().isDoctor(account).call().await.map_err(Error::chain)
    }

    /// The patients whose records a doctor has (or had, unrevoked) access to: the mirror's list,
    /// each access as the chain holds it now. A mirrored access the chain contradicts (beyond
    /// what the mirror has yet to catch up with) is [`Error::Disagreement`].
    pub async fn patients_of(&self, doctor: Address) -> Result<Vec<Access>> {
        let now = now_ms() / 1000;
        let cursor = self.store().cursor().await?.map_or(0, |(block, _)| block);
        let mut out = Vec::new();
        for grant in self.store().grants_of(doctor).await? {
            let held = self.access_on_chain(grant.patient, doctor).await?;
            if held != grant.access
                && !self
                    .consent_events_since(grant.patient, doctor, cursor + 1)
                    .await?
            {
                return Err(disagreement(grant.patient, doctor, grant.access, held));
            }
            if held == AccessState::default() {
                continue;
            }
            if let Some(p) = self.store().patient_by_chain_id(grant.patient).await? {
                out.push(access(p.id, doctor, held, now));
            }
        }
        Ok(out)
    }

    /// Who may read a patient's records, from the chain (every doctor its logs show given or
    /// taking access, each as `accessOf` holds it now): for the patient themself and for admins.
    /// A mirror that says otherwise (beyond what it has yet to catch up with) is
    /// [`Error::Disagreement`].
    pub async fn grants(&self, reader: Address, patient: PatientId) -> Result<Vec<Access>> {
        let standing = self.standing(patient).await?;
        if standing.wallet() != reader && !self.is_admin(reader).await? {
            return Err(Error::Forbidden(
                "only the patient (or an admin) sees who may read this record".into(),
            ));
        }
        let Some(chain_id) = standing.chain_id() else {
            return Ok(vec![]);
        };
        let cursor = self.store().cursor().await?.map_or(0, |(block, _)| block);
        let last_events = self.consent_doctors(chain_id).await?;
        let mut on_chain = BTreeMap::new();
        for doctor in last_events.keys() {
            let held = self.access_on_chain(chain_id, *doctor).await?;
            if held != AccessState::default() {
                on_chain.insert(*doctor, held);
            }
        }
        let mirrored: BTreeMap<Address, AccessState> = self
            .store()
            .grants_to(chain_id)
            .await?
            .into_iter()
            .map(|g| (g.doctor, g.access))
            .collect();
        for doctor in on_chain.keys().chain(mirrored.keys()) {
            let (said, held) = (
                mirrored.get(doctor).copied().unwrap_or_default(),
                on_chain.get(doctor).copied().unwrap_or_default(),
            );
            let caught_up = last_events.get(doctor).is_none_or(|block| *block <= cursor);
            if said != held && caught_up {
                return Err(disagreement(chain_id, *doctor, said, held));
            }
        }
        let now = now_ms() / 1000;
        Ok(on_chain
            .into_iter()
            .map(|(doctor, held)| access(patient, doctor, held, now))
            .collect())
    }

    /// The chain's view of a doctor's access to a patient, now.
    pub async fn access_now(&self, doctor: Address, patient: PatientId) -> Result<Access> {
        let Some(chain_id) = self.standing(patient).await?.chain_id() else {
            return Ok(access(patient, doctor, AccessState::default(), 0));
        };
        let held = self.access_on_chain(chain_id, doctor).await?;
        Ok(access(patient, doctor, held, now_ms() / 1000))
    }

    /// `accessOf(patient, doctor)` at the latest block.
    async fn access_on_chain(&self, chain_patient: u64, doctor: Address) -> Result<AccessState> {
        let a = self
            .ledger()
            .accessOf(U256::from(chain_patient), doctor)
            .call()
            .await
            .map_err(Error::chain)?;
        Ok(AccessState {
            consent_expires_at: a.consentExpiresAt,
            emergency_expires_at: a.emergencyExpiresAt,
        })
    }

    /// Every doctor the chain's consent events name for on-chain patient `chain_patient`, with
    /// the block of the last such event.
    async fn consent_doctors(&self, chain_patient: u64) -> Result<HashMap<Address, u64>> {
        let mut last = HashMap::new();
        let from = self.deployment().block_number;
        for log in self.consent_logs(chain_patient, None, from).await? {
            let (Some(topic), Some(block)) = (log.topics().get(2), log.block_number) else {
                continue;
            };
            let doctor = Address::from_word(*topic);
            let at = last.entry(doctor).or_insert(block);
            *at = (*at).max(block);
        }
        Ok(last)
    }

    /// Whether the chain logged a consent event of `doctor` for `chain_patient` from block `from`.
    async fn consent_events_since(&self, chain_patient: u64, doctor: Address, from: u64) -> Result<bool> {
        Ok(!self
            .consent_logs(chain_patient, Some(doctor), from)
            .await?
            .is_empty())
    }

    /// The contract's consent events (grants, revocations, emergency accesses) for
    /// `chain_patient` (and `doctor`, if given) from block `from` to the latest.
    async fn consent_logs(
        &self,
        chain_patient: u64,
        doctor: Option<Address>,
        from: u64,
    ) -> Result<Vec<alloy::rpc::types::Log>> {
        let deployment = self.deployment();
        let latest = self.provider().get_block_number().await.map_err(Error::chain)?;
        let mut out = Vec::new();
        let mut from = from;
        while from <= latest {
            let to = latest.min(from + 9_999);
            let mut filter = Filter::new()
                .address(deployment.ledger)
                .event_signature(vec![
                    MedLedger::AccessGranted::SIGNATURE_HASH,
                    MedLedger::AccessRevoked::SIGNATURE_HASH,
                    MedLedger::EmergencyAccess::SIGNATURE_HASH,
                    MedLedger::EmergencyAccessClosed::SIGNATURE_HASH,
                ])
                .topic1(B256::from(U256::from(chain_patient)))
                .from_block(from)
                .to_block(to);
            if let Some(doctor) = doctor {
                filter = filter.topic2(doctor.into_word());
            }
            out.extend(self.provider().get_logs(&filter).await.map_err(Error::chain)?);
            from = to + 1;
        }
        Ok(out)
    }
}

/// The store's access row says `said` and the chain `held`.
fn disagreement(patient: u64, doctor: Address, said: AccessState, held: AccessState) -> Error {
    let words = |a: AccessState| {
        format!(
            "consent until {}, emergency access until {}",
            expiry(a.consent_expires_at),
            expiry(a.emergency_expires_at)
        )
    };
    Error::Disagreement(format!(
        "this store's access row of doctor {doctor} to on-chain patient {patient} says {}, and the chain says {}",
        words(said),
        words(held)
    ))
}

fn expiry(at: u64) -> String {
    match at {
        0 => "never".into(),
        u64::MAX => "revoked".into(),
        at => at.to_string(),
    }
}

/// A field of an application: trimmed, at most `max` characters, one line; `required` ones not
/// empty.
fn one_line(name: &str, value: &str, max: usize, required: bool) -> Result<String> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(Error::InvalidEntry(format!("{name} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(Error::InvalidEntry(format!("{name} is at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidEntry(format!(
            "{name} must be one line of text (no control characters)"
        )));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_applications_fields_are_one_line_each() {
        assert_eq!(
            one_line("name", "  Dr. Grace Hopper ", 200, true).unwrap(),
            "Dr. Grace Hopper"
        );
        assert_eq!(one_line("speciality", "", 100, false).unwrap(), "");
        for (value, says) in [
            ("", "must not be empty"),
            ("a\nb", "one line"),
            (&"x".repeat(201)[..], "at most 200"),
        ] {
            let err = one_line("name", value, 200, true).unwrap_err().to_string();
            assert!(err.contains(says), "{value:?}: {err}");
        }
    }
}
