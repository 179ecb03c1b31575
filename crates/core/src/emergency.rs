//! Emergency ("break-glass") access: the stated reason, kept sealed, committed to on-chain.
//!
//! The contract records `keccak256(salt ‖ reason)` with the emergency access, never the reason
//! (it may describe the patient's condition); the store keeps salt and reason sealed under the
//! patient's data key, bound to the patient and the reason's id, for the patient to read and
//! check against the chain.

use alloy::primitives::{B256, keccak256};

use crate::crypto::DataKey;
use crate::entry::PatientId;
use crate::{Error, Result};

/// The longest reason accepted, in bytes.
pub const MAX_REASON: usize = 1024;

crate::entry::id16!(
    /// An emergency reason's identifier.
    ReasonId
);

fn aad(patient: PatientId, id: ReasonId) -> Vec<u8> {
    let mut aad = b"medledger.emergency.v1".to_vec();
    aad.extend_from_slice(&patient.0);
    aad.extend_from_slice(&id.0);
    aad
}

/// The on-chain commitment to a reason.
pub fn reason_hash(salt: &[u8; 32], reason: &str) -> B256 {
    let mut preimage = salt.to_vec();
    preimage.extend_from_slice(reason.as_bytes());
    keccak256(preimage)
}

/// Seals a reason; returns the sealed bytes and the hash to put on-chain.
pub fn seal(key: &DataKey, patient: PatientId, id: ReasonId, reason: &str) -> Result<(Vec<u8>, B256)> {
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > MAX_REASON {
        return Err(Error::Invalid(format!(
            "an emergency reason is 1 to {MAX_REASON} bytes of text"
        )));
    }
    let salt = crate::entry::new_salt()?;
    let mut plain = zeroize::Zeroizing::new(salt.to_vec());
    plain.extend_from_slice(reason.as_bytes());
    Ok((
        key.seal_raw(&plain, &aad(patient, id))?,
        reason_hash(&salt, reason),
    ))
}

/// Opens a sealed reason: the reason and its hash (to compare with the chain's).
pub fn open(key: &DataKey, patient: PatientId, id: ReasonId, sealed: &[u8]) -> Result<(String, B256)> {
    let plain = key.open_raw(sealed, &aad(patient, id))?;
    let (salt, reason) = crate::entry::split_payload(&plain)?;
    let reason = std::str::from_utf8(reason).map_err(|_| Error::Malformed("emergency reason"))?;
    Ok((reason.to_owned(), reason_hash(&salt, reason)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Keyring, MasterKey};

    #[test]
    fn a_reason_opens_for_its_patient_and_matches_its_hash() {
        let ring = Keyring::new(MasterKey::generate().unwrap(), vec![]);
        let patient = PatientId([1; 16]);
        let (key, _) = ring.new_data_key(patient).unwrap();
        let id = ReasonId([2; 16]);
        let (sealed, hash) = seal(&key, patient, id, "unconscious in the ER").unwrap();
        assert_eq!(
            open(&key, patient, id, &sealed).unwrap(),
            ("unconscious in the ER".to_owned(), hash)
        );
        assert!(open(&key, PatientId([3; 16]), id, &sealed).is_err());
        assert_ne!(
            hash,
            keccak256("unconscious in the ER"),
            "salted: not guessable from the text"
        );
        assert!(seal(&key, patient, id, "  ").is_err());
    }
}
