//! Changes that write no record: a patient's consents, an admin's approval of doctors, a doctor
//! closing their emergency access; and who may run verification. The contract decides; the
//! server refuses early what it would refuse.

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use medledger_contracts::MedLedger;
use medledger_core::entry::PatientId;

use super::{ACTION_GAS, Commit, PendingWrite, Records, now_secs};
use crate::{Error, Result};

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

impl Records {
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
        let (purpose, calldata) = call_of(action, chain_patient, now_secs())?;
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

    /// Verifies every stored entry and the audit log against the chain (see [`crate::verify`]).
    pub async fn verify(&self, options: crate::verify::Options) -> Result<crate::verify::Report> {
        crate::verify::verify(&self.store, &self.keyring, &self.provider, options).await
    }

    /// [`Records::verify`] for `caller`, who must be an admin (it reads every record). Audited.
    pub async fn verify_as(
        &self,
        caller: Address,
        options: crate::verify::Options,
    ) -> Result<crate::verify::Report> {
        if !self.is_admin(caller).await? {
            self.audit(caller, "verify", None, None, "denied", "not an admin")
                .await?;
            return Err(Error::Forbidden("only an admin runs the verification".into()));
        }
        let report = self.verify(options).await?;
        self.audit(
            caller,
            "verify",
            None,
            None,
            "allowed",
            &format!("{} finding(s)", report.findings()),
        )
        .await?;
        Ok(report)
    }
}

/// What `action` asks of the contract, for on-chain patient `chain_patient` at Unix time `now`:
/// its purpose (as the outbox names it) and its calldata.
fn call_of(action: Action, chain_patient: U256, now: u64) -> Result<(&'static str, Vec<u8>)> {
    Ok(match action {
        Action::GrantAccess { doctor, expires_at } => {
            if expires_at != 0 && expires_at <= now {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_is_the_contract_call_it_names() {
        let doctor = Address::repeat_byte(7);
        let patient = U256::from(3);
        let (purpose, data) = call_of(
            Action::GrantAccess {
                doctor,
                expires_at: 2_000,
            },
            patient,
            1_000,
        )
        .unwrap();
        assert_eq!(purpose, "grant-access");
        let call = MedLedger::grantAccessCall::abi_decode(&data).unwrap();
        assert_eq!(
            (call.patientId, call.doctor, call.expiresAt),
            (patient, doctor, 2_000)
        );
        let (purpose, data) = call_of(Action::RevokeAccess { doctor }, patient, 0).unwrap();
        assert_eq!(purpose, "revoke-access");
        assert_eq!(
            MedLedger::revokeAccessCall::abi_decode(&data).unwrap().doctor,
            doctor
        );
        let (purpose, data) = call_of(Action::ApproveDoctor { doctor }, patient, 0).unwrap();
        assert_eq!(purpose, "approve-doctor");
        assert_eq!(
            MedLedger::registerDoctorCall::abi_decode(&data).unwrap().doctor,
            doctor
        );
        assert_eq!(
            call_of(Action::RevokeDoctor { doctor }, patient, 0).unwrap().0,
            "revoke-doctor"
        );
        assert_eq!(
            call_of(Action::CloseEmergency, patient, 0).unwrap().0,
            "close-emergency-access"
        );
    }

    #[test]
    fn a_consent_must_end_in_the_future_or_never() {
        let doctor = Address::repeat_byte(7);
        let grant = |expires_at| call_of(Action::GrantAccess { doctor, expires_at }, U256::from(1), 1_000);
        assert!(grant(0).is_ok(), "until revoked");
        assert!(grant(1_001).is_ok());
        assert!(matches!(grant(1_000), Err(Error::InvalidEntry(_))));
        assert!(matches!(grant(10), Err(Error::InvalidEntry(_))));
    }
}
