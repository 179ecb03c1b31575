//! Emergency-access reasons, sealed, each stored with the request that opens the access.

use alloy::primitives::Address;
use medledger_core::emergency::ReasonId;
use medledger_core::entry::PatientId;
use sqlx::Row;

use crate::requests::NewRequest;
use crate::{Result, Store, address, int, uint};

/// A stored emergency reason.
#[derive(Debug, Clone)]
pub struct StoredReason {
    /// Its id.
    pub id: ReasonId,
    /// The doctor who opened the access.
    pub doctor: Address,
    /// Salt and reason, sealed.
    pub sealed: Vec<u8>,
    /// The request that opens the access.
    pub request_id: i64,
    /// When (Unix ms).
    pub created_at: u64,
}

impl Store {
    /// Stores a sealed reason and the request that opens the emergency access, in one transaction.
    pub async fn record_emergency(
        &self,
        id: ReasonId,
        patient: PatientId,
        doctor: Address,
        sealed: &[u8],
        request: &NewRequest,
        created_at: u64,
    ) -> Result<i64> {
        let mut tx = self.writer.begin().await?;
        let request_id = crate::requests::insert(&mut tx, request).await?;
        sqlx::query(
            "INSERT INTO emergency_reasons (id, patient_id, doctor, sealed, request_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.0.to_vec())
        .bind(patient.0.to_vec())
        .bind(doctor.to_vec())
        .bind(sealed.to_vec())
        .bind(request_id)
        .bind(int(created_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(request_id)
    }

    /// A patient's emergency reasons, newest first.
    pub async fn emergencies_of(&self, patient: PatientId) -> Result<Vec<StoredReason>> {
        let rows = sqlx::query(
            "SELECT id, doctor, sealed, request_id, created_at FROM emergency_reasons
             WHERE patient_id = $1 ORDER BY created_at DESC",
        )
        .bind(patient.0.to_vec())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredReason {
                    id: ReasonId::from_slice(&r.try_get::<Vec<u8>, _>(0)?)?,
                    doctor: address(&r.try_get::<Vec<u8>, _>(1)?)?,
                    sealed: r.try_get(2)?,
                    request_id: r.try_get(3)?,
                    created_at: uint(r.try_get(4)?),
                })
            })
            .collect()
    }
}
