//! Attachments (scans, letters, images): sealed like entries, and referenced from an entry.
//!
//! The attachment's bytes and media type are sealed under the patient's data key with associated
//! data `"medledger.attachment.v1" ‖ patient ‖ attachment id`, so a sealed attachment copied to
//! another patient or id does not open. The entry that refers to it carries its [`AttachmentRef`]
//! (id, media type, size and SHA-256) in its content, which the entry's on-chain commitment covers:
//! replacing an attachment by another is caught by the AEAD, and by the digest if the key leaked.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::DataKey;
use crate::entry::PatientId;
use crate::{Error, Result};

/// The largest attachment accepted, in bytes.
pub const MAX_ATTACHMENT: usize = 10 * 1024 * 1024;

crate::entry::id16!(
    /// An attachment's identifier.
    AttachmentId
);

/// What an entry says about its attachment (a FHIR `Attachment`, with the digest as hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentRef {
    /// Its id (`urn:medledger:attachment:ID` as the FHIR `url`).
    pub id: String,
    /// Its media type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

fn aad(patient: PatientId, id: AttachmentId) -> Vec<u8> {
    let mut aad = b"medledger.attachment.v1".to_vec();
    aad.extend_from_slice(&patient.0);
    aad.extend_from_slice(&id.0);
    aad
}

fn valid_media_type(media_type: &str) -> bool {
    let mut parts = media_type.splitn(2, '/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        })
    };
    media_type.len() <= 127 && ok(parts.next()) && ok(parts.next())
}

/// Seals an attachment for `patient`; returns the sealed bytes and the reference an entry carries.
pub fn seal(
    key: &DataKey,
    patient: PatientId,
    id: AttachmentId,
    media_type: &str,
    bytes: &[u8],
) -> Result<(Vec<u8>, AttachmentRef)> {
    if bytes.len() > MAX_ATTACHMENT {
        return Err(Error::Invalid(format!(
            "an attachment is at most {MAX_ATTACHMENT} bytes; this one is {}",
            bytes.len()
        )));
    }
    if !valid_media_type(media_type) {
        return Err(Error::Invalid(format!(
            "{media_type:?} is not a media type like application/pdf"
        )));
    }
    let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(1 + media_type.len() + bytes.len()));
    plain.push(media_type.len() as u8);
    plain.extend_from_slice(media_type.as_bytes());
    plain.extend_from_slice(bytes);
    let sealed = key.seal_raw(&plain, &aad(patient, id))?;
    let reference = AttachmentRef {
        id: id.to_string(),
        content_type: media_type.to_owned(),
        size: bytes.len() as u64,
        sha256: alloy::hex::encode(Sha256::digest(bytes)),
    };
    Ok((sealed, reference))
}

/// Opens a sealed attachment of `patient`: its media type and bytes.
pub fn open(key: &DataKey, patient: PatientId, id: AttachmentId, sealed: &[u8]) -> Result<(String, Vec<u8>)> {
    let plain = key.open_raw(sealed, &aad(patient, id))?;
    let (&len, rest) = plain.split_first().ok_or(Error::Malformed("attachment"))?;
    if rest.len() < len as usize {
        return Err(Error::Malformed("attachment"));
    }
    let (media_type, bytes) = rest.split_at(len as usize);
    let media_type =
        String::from_utf8(media_type.to_vec()).map_err(|_| Error::Malformed("attachment media type"))?;
    Ok((media_type, bytes.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Keyring, MasterKey};

    #[test]
    fn an_attachment_opens_only_for_its_patient_and_id() {
        let ring = Keyring::new(MasterKey::generate().unwrap(), vec![]);
        let patient = PatientId([1; 16]);
        let (key, _) = ring.new_data_key(patient).unwrap();
        let id = AttachmentId([2; 16]);
        let (sealed, reference) = seal(&key, patient, id, "application/pdf", b"%PDF-1.7 scan").unwrap();
        assert_eq!(reference.size, 13);
        assert_eq!(
            reference.sha256,
            alloy::hex::encode(Sha256::digest(b"%PDF-1.7 scan"))
        );
        assert_eq!(
            open(&key, patient, id, &sealed).unwrap(),
            ("application/pdf".into(), b"%PDF-1.7 scan".to_vec())
        );
        assert!(open(&key, PatientId([9; 16]), id, &sealed).is_err());
        assert!(open(&key, patient, AttachmentId([9; 16]), &sealed).is_err());
        assert!(seal(&key, patient, id, "not a type", b"x").is_err());
        assert!(seal(&key, patient, id, "image/png", &vec![0; MAX_ATTACHMENT + 1]).is_err());
    }
}
