//! Doctors: applications to practise here (off-chain), and the mirror's view of who is a doctor
//! and who may read whose record.

use alloy::primitives::Address;
use sqlx::Row;

use crate::{Result, Store, address, int, uint};
use medledger_core::access::AccessState;

/// An application to practise at this hospital.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// The applicant's wallet.
    pub address: Address,
    /// Their name.
    pub name: String,
    /// Their licence number, as their licensing body writes it.
    pub licence: String,
    /// Their speciality (may be empty).
    pub speciality: String,
    /// When they applied (Unix ms).
    pub applied_at: u64,
}

/// A doctor as the mirror knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirroredDoctor {
    /// Their wallet.
    pub address: Address,
    /// Whether the doctor role is held now.
    pub active: bool,
}

/// One doctor's access to one patient, as the mirror knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The patient's on-chain id.
    pub patient: u64,
    /// The doctor.
    pub doctor: Address,
    /// Consent and emergency expiries.
    pub access: AccessState,
}

fn application(row: &sqlx::any::AnyRow) -> Result<Application> {
    Ok(Application {
        address: address(&row.try_get::<Vec<u8>, _>(0)?)?,
        name: row.try_get(1)?,
        licence: row.try_get(2)?,
        speciality: row.try_get(3)?,
        applied_at: uint(row.try_get(4)?),
    })
}

fn grant(row: &sqlx::any::AnyRow) -> Result<Grant> {
    Ok(Grant {
        patient: uint(row.try_get(0)?),
        doctor: address(&row.try_get::<Vec<u8>, _>(1)?)?,
        access: AccessState {
            consent_expires_at: uint(row.try_get(2)?),
            emergency_expires_at: uint(row.try_get(3)?),
        },
    })
}

impl Store {
    /// Records (or updates) an application; the latest one of an address counts.
    pub async fn apply_as_doctor(&self, application: &Application) -> Result<()> {
        sqlx::query(
            "INSERT INTO doctor_applications (address, name, licence, speciality, applied_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (address) DO UPDATE SET name = excluded.name, licence = excluded.licence,
                 speciality = excluded.speciality, applied_at = excluded.applied_at",
        )
        .bind(application.address.to_vec())
        .bind(&application.name)
        .bind(&application.licence)
        .bind(&application.speciality)
        .bind(int(application.applied_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Every application, oldest first.
    pub async fn doctor_applications(&self) -> Result<Vec<Application>> {
        let rows = sqlx::query(
            "SELECT address, name, licence, speciality, applied_at FROM doctor_applications ORDER BY applied_at, address",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(application).collect()
    }

    /// The application of one address.
    pub async fn doctor_application(&self, applicant: Address) -> Result<Option<Application>> {
        let row = sqlx::query(
            "SELECT address, name, licence, speciality, applied_at FROM doctor_applications WHERE address = $1",
        )
        .bind(applicant.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(application).transpose()
    }

    /// Every account the chain ever made a doctor, and whether it still is one.
    pub async fn mirrored_doctors(&self) -> Result<Vec<MirroredDoctor>> {
        let rows = sqlx::query("SELECT address, active FROM doctors ORDER BY address")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(MirroredDoctor {
                    address: address(&r.try_get::<Vec<u8>, _>(0)?)?,
                    active: r.try_get::<i64, _>(1)? == 1,
                })
            })
            .collect()
    }

    /// The doctors with a consent or emergency access to a patient (by on-chain id) that has not
    /// been revoked; expiry is the caller's to judge against the time.
    pub async fn grants_to(&self, patient: u64) -> Result<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT patient, doctor, consent_expires_at, emergency_expires_at FROM access
             WHERE patient = $1 AND (consent_expires_at <> 0 OR emergency_expires_at <> 0) ORDER BY doctor",
        )
        .bind(int(patient))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant).collect()
    }

    /// Every mirrored access row (revoked ones included, as zeroes), for verification.
    pub async fn all_grants(&self) -> Result<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT patient, doctor, consent_expires_at, emergency_expires_at FROM access ORDER BY patient, doctor",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant).collect()
    }

    /// The patients (by on-chain id) a doctor holds a consent or emergency access to.
    pub async fn grants_of(&self, doctor: Address) -> Result<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT patient, doctor, consent_expires_at, emergency_expires_at FROM access
             WHERE doctor = $1 AND (consent_expires_at <> 0 OR emergency_expires_at <> 0) ORDER BY patient",
        )
        .bind(doctor.to_vec())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant).collect()
    }
}
