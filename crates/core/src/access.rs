//! Who may read a patient's records: the contract's rule, applied to the mirrored chain state.
//!
//! A patient reads their own records. A doctor reads a patient's records while they hold the doctor
//! role and either the patient's consent or their own emergency access is open — exactly what
//! `MedLedger.hasAccess` answers on-chain. Writes are decided by the contract itself; the server
//! only refuses early what the contract would refuse anyway.

use alloy::primitives::Address;

/// A doctor's access to one patient, as the contract stores it (Unix seconds; 0 means never
/// granted, `u64::MAX` means until revoked).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessState {
    /// Until when the patient's consent lasts.
    pub consent_expires_at: u64,
    /// Until when the doctor's emergency access lasts.
    pub emergency_expires_at: u64,
}

/// Who is asking, as far as the chain says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    /// Their wallet address (from their signed-in session).
    pub address: Address,
    /// Whether they hold the doctor role.
    pub is_doctor: bool,
}

/// Why a read is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grounds {
    /// The patient reads their own records.
    OwnRecords,
    /// The patient's consent, until the given time (`u64::MAX`: until revoked).
    Consent {
        /// Unix seconds.
        until: u64,
    },
    /// The doctor's emergency access, until the given time.
    Emergency {
        /// Unix seconds.
        until: u64,
    },
}

/// Why a read is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The reader is neither the patient nor a doctor.
    NotADoctor,
    /// A doctor without consent or emergency access (never granted, expired or revoked).
    NoAccess,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotADoctor => "only the patient and doctors they have given access may read these records",
            Self::NoAccess => "the patient has not given you access (or it expired or was revoked)",
        })
    }
}

/// Decides whether `reader` may read the records of the patient whose wallet is `patient_wallet`,
/// at Unix time `now`, given the reader's mirrored `access`.
pub fn may_read(
    reader: Reader,
    patient_wallet: Address,
    access: AccessState,
    now: u64,
) -> Result<Grounds, Refusal> {
    if reader.address == patient_wallet {
        return Ok(Grounds::OwnRecords);
    }
    if !reader.is_doctor {
        return Err(Refusal::NotADoctor);
    }
    if now < access.consent_expires_at {
        return Ok(Grounds::Consent {
            until: access.consent_expires_at,
        });
    }
    if now < access.emergency_expires_at {
        return Ok(Grounds::Emergency {
            until: access.emergency_expires_at,
        });
    }
    Err(Refusal::NoAccess)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATIENT: Address = Address::repeat_byte(1);
    const DOCTOR: Address = Address::repeat_byte(2);

    fn doctor(is_doctor: bool) -> Reader {
        Reader {
            address: DOCTOR,
            is_doctor,
        }
    }

    #[test]
    fn the_patient_always_reads_their_own_records() {
        let me = Reader {
            address: PATIENT,
            is_doctor: false,
        };
        assert_eq!(
            may_read(me, PATIENT, AccessState::default(), 5),
            Ok(Grounds::OwnRecords)
        );
    }

    #[test]
    fn doctors_need_open_consent_or_emergency_access() {
        let none = AccessState::default();
        let consent = AccessState {
            consent_expires_at: 100,
            emergency_expires_at: 0,
        };
        let emergency = AccessState {
            consent_expires_at: 0,
            emergency_expires_at: 50,
        };
        assert_eq!(may_read(doctor(true), PATIENT, none, 10), Err(Refusal::NoAccess));
        assert_eq!(
            may_read(doctor(true), PATIENT, consent, 99),
            Ok(Grounds::Consent { until: 100 })
        );
        assert_eq!(
            may_read(doctor(true), PATIENT, consent, 100),
            Err(Refusal::NoAccess)
        );
        assert_eq!(
            may_read(doctor(true), PATIENT, emergency, 49),
            Ok(Grounds::Emergency { until: 50 })
        );
        assert_eq!(
            may_read(doctor(true), PATIENT, emergency, 50),
            Err(Refusal::NoAccess)
        );
        assert_eq!(
            may_read(doctor(false), PATIENT, consent, 10),
            Err(Refusal::NotADoctor)
        );
    }
}
