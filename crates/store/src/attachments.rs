//! Attachments, sealed.

use medledger_core::attachment::AttachmentId;
use medledger_core::entry::PatientId;
use sqlx::Row;

use crate::{Result, Store, int};

impl Store {
    /// Stores a sealed attachment of `patient`.
    pub async fn put_attachment(
        &self,
        id: AttachmentId,
        patient: PatientId,
        sealed: &[u8],
        created_at: u64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO attachments (id, patient_id, sealed, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id.0.to_vec())
            .bind(patient.0.to_vec())
            .bind(sealed.to_vec())
            .bind(int(created_at))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// A sealed attachment and the patient it is stored under.
    pub async fn attachment(&self, id: AttachmentId) -> Result<Option<(PatientId, Vec<u8>)>> {
        let row = sqlx::query("SELECT patient_id, sealed FROM attachments WHERE id = $1")
            .bind(id.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok((
                PatientId::from_slice(&r.try_get::<Vec<u8>, _>(0)?)?,
                r.try_get(1)?,
            ))
        })
        .transpose()
    }
}
