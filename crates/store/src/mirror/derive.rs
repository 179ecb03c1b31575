//! Writing one applied event into the mirror: the row in `chain_events`, and what follows from it
//! (roles, access, patients' on-chain ids, the history's links), in the range's transaction.

use alloy::primitives::{Address, B256};
use sqlx::{Any, Transaction};

use super::{ChainEvent, LoggedEvent};
use crate::{Result, int};

struct Columns {
    name: &'static str,
    patient: Option<u64>,
    account: Option<Address>,
    other: Option<Vec<u8>>,
    version: Option<u64>,
    kind: Option<u8>,
    supersedes: Option<u64>,
    commitment: Option<B256>,
    expires_at: Option<u64>,
}

fn columns(event: &ChainEvent) -> Columns {
    let base = |name| Columns {
        name,
        patient: None,
        account: None,
        other: None,
        version: None,
        kind: None,
        supersedes: None,
        commitment: None,
        expires_at: None,
    };
    match *event {
        ChainEvent::DoctorRegistered { doctor } => Columns {
            account: Some(doctor),
            ..base("doctor-registered")
        },
        ChainEvent::DoctorRevoked { doctor } => Columns {
            account: Some(doctor),
            ..base("doctor-revoked")
        },
        ChainEvent::PatientAdded {
            patient,
            wallet,
            registered_by,
        } => Columns {
            patient: Some(patient),
            account: Some(wallet),
            other: Some(registered_by.to_vec()),
            ..base("patient-added")
        },
        ChainEvent::HistoryAppended {
            patient,
            version,
            kind,
            supersedes,
            commitment,
            author,
        } => Columns {
            patient: Some(patient),
            account: Some(author),
            version: Some(version),
            kind: Some(kind),
            supersedes: Some(supersedes),
            commitment: Some(commitment),
            ..base("history-appended")
        },
        ChainEvent::AccessGranted {
            patient,
            doctor,
            expires_at,
        } => Columns {
            patient: Some(patient),
            account: Some(doctor),
            expires_at: Some(expires_at),
            ..base("access-granted")
        },
        ChainEvent::AccessRevoked { patient, doctor } => Columns {
            patient: Some(patient),
            account: Some(doctor),
            ..base("access-revoked")
        },
        ChainEvent::EmergencyAccess {
            patient,
            doctor,
            expires_at,
        } => Columns {
            patient: Some(patient),
            account: Some(doctor),
            expires_at: Some(expires_at),
            ..base("emergency-access")
        },
        ChainEvent::EmergencyAccessClosed { patient, doctor } => Columns {
            patient: Some(patient),
            account: Some(doctor),
            ..base("emergency-access-closed")
        },
        ChainEvent::AuditAnchored {
            auditor,
            sequence,
            head,
        } => Columns {
            account: Some(auditor),
            version: Some(sequence),
            commitment: Some(head),
            ..base("audit-anchored")
        },
    }
}

async fn set_access(
    tx: &mut Transaction<'static, Any>,
    patient: u64,
    doctor: Address,
    consent: Option<u64>,
    emergency: Option<u64>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO access (patient, doctor, consent_expires_at, emergency_expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (patient, doctor) DO UPDATE SET
             consent_expires_at = CASE WHEN $5 = 1 THEN excluded.consent_expires_at ELSE access.consent_expires_at END,
             emergency_expires_at = CASE WHEN $6 = 1 THEN excluded.emergency_expires_at
                                         ELSE access.emergency_expires_at END",
    )
    .bind(int(patient))
    .bind(doctor.to_vec())
    .bind(int(consent.unwrap_or(0)))
    .bind(int(emergency.unwrap_or(0)))
    .bind(i64::from(consent.is_some()))
    .bind(i64::from(emergency.is_some()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Applies one event's consequences to the derived tables; returns the request it anchored, if
/// this server sent it.
pub(super) async fn derive(tx: &mut Transaction<'static, Any>, logged: &LoggedEvent) -> Result<()> {
    let block = int(logged.block_number);
    match logged.event {
        ChainEvent::DoctorRegistered { doctor } | ChainEvent::DoctorRevoked { doctor } => {
            let active = i64::from(matches!(logged.event, ChainEvent::DoctorRegistered { .. }));
            sqlx::query(
                "INSERT INTO doctors (address, active, block_number) VALUES ($1, $2, $3)
                 ON CONFLICT (address) DO UPDATE SET active = excluded.active, block_number = excluded.block_number",
            )
            .bind(doctor.to_vec())
            .bind(active)
            .bind(block)
            .execute(&mut **tx)
            .await?;
        }
        ChainEvent::PatientAdded {
            patient,
            wallet,
            registered_by,
        } => {
            sqlx::query(
                "INSERT INTO chain_patients (chain_id, wallet, registered_by, block_number) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (chain_id) DO NOTHING",
            )
            .bind(int(patient))
            .bind(wallet.to_vec())
            .bind(registered_by.to_vec())
            .bind(block)
            .execute(&mut **tx)
            .await?;
            sqlx::query("UPDATE patients SET chain_id = $1 WHERE wallet = $2")
                .bind(int(patient))
                .bind(wallet.to_vec())
                .execute(&mut **tx)
                .await?;
        }
        ChainEvent::HistoryAppended {
            patient,
            version,
            kind,
            supersedes,
            commitment,
            author,
        } => {
            sqlx::query(
                "INSERT INTO history (patient, version, commitment, kind, supersedes, author, block_number, tx_hash)
                 VALUES ($1, $2, $3, $4, $8, $5, $6, $7) ON CONFLICT (patient, version) DO NOTHING",
            )
            .bind(int(patient))
            .bind(int(version))
            .bind(commitment.to_vec())
            .bind(i64::from(kind))
            .bind(author.to_vec())
            .bind(block)
            .bind(logged.tx_hash.to_vec())
            .bind(int(supersedes))
            .execute(&mut **tx)
            .await?;
            // The stored entry with this commitment, for this patient and author, is now anchored.
            sqlx::query(
                "UPDATE entries SET status = 'anchored', chain_version = $1, tx_hash = $2, block_number = $3, reason = NULL
                 WHERE commitment = $4 AND author = $5 AND status <> 'anchored'
                   AND patient_id IN (SELECT id FROM patients WHERE chain_id = $6)",
            )
            .bind(int(version))
            .bind(logged.tx_hash.to_vec())
            .bind(block)
            .bind(commitment.to_vec())
            .bind(author.to_vec())
            .bind(int(patient))
            .execute(&mut **tx)
            .await?;
        }
        ChainEvent::AccessGranted {
            patient,
            doctor,
            expires_at,
        } => set_access(tx, patient, doctor, Some(expires_at), None).await?,
        ChainEvent::AccessRevoked { patient, doctor } => {
            set_access(tx, patient, doctor, Some(0), Some(0)).await?
        }
        ChainEvent::EmergencyAccess {
            patient,
            doctor,
            expires_at,
        } => set_access(tx, patient, doctor, None, Some(expires_at)).await?,
        ChainEvent::EmergencyAccessClosed { patient, doctor } => {
            set_access(tx, patient, doctor, None, Some(0)).await?
        }
        ChainEvent::AuditAnchored { .. } => {}
    }
    Ok(())
}

/// Moves the cursor to `block` (number, hash).
pub(super) async fn set_cursor(tx: &mut Transaction<'static, Any>, block: (u64, B256)) -> Result<()> {
    sqlx::query(
        "INSERT INTO chain_cursor (id, block_number, block_hash) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET block_number = excluded.block_number, block_hash = excluded.block_hash",
    )
    .bind(int(block.0))
    .bind(block.1.to_vec())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records `logged` in `chain_events`; `false` if it was there already (a range applied again).
pub(super) async fn insert(tx: &mut Transaction<'static, Any>, logged: &LoggedEvent) -> Result<bool> {
    let c = columns(&logged.event);
    let inserted = sqlx::query(
        "INSERT INTO chain_events (block_number, log_index, tx_hash, event, patient, account, other, version,
                                   kind, supersedes, commitment, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (block_number, log_index) DO NOTHING",
    )
    .bind(int(logged.block_number))
    .bind(int(logged.position))
    .bind(logged.tx_hash.to_vec())
    .bind(c.name)
    .bind(c.patient.map(int))
    .bind(c.account.map(|a| a.to_vec()))
    .bind(c.other)
    .bind(c.version.map(int))
    .bind(c.kind.map(i64::from))
    .bind(c.supersedes.map(int))
    .bind(c.commitment.map(|h| h.to_vec()))
    .bind(c.expires_at.map(int))
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
