//! Attachments: files (a scan, a letter) sealed under the patient's data key, cited by digest
//! from the entry that refers to them, so that the entry's commitment covers them.

use alloy::primitives::Address;
use medledger_core::attachment::{self, AttachmentId, AttachmentRef};
use medledger_core::entry::PatientId;
use medledger_store::now_ms;

use super::Records;
use crate::{Error, Result};

impl Records {
    /// A doctor who may write to a patient's record (the chain's `hasAccess`: consent or emergency
    /// access) attaches a file to it (a scan, a letter). The
    /// returned reference goes into the content of the entry that cites it (for example a FHIR
    /// DocumentReference), so the entry's commitment covers the attachment's digest.
    pub async fn attach(
        &self,
        author: Address,
        patient: PatientId,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<AttachmentRef> {
        let (stored, _) = self.writable(author, patient).await?;
        let key = self.keyring.data_key(patient, &stored.data_key)?;
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
}
