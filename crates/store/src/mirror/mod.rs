//! The mirror of the contracts' events, and what follows from them.
//!
//! The indexer hands over events only from blocks past the confirmation depth, a range at a time,
//! with the hash of the range's last block; each range is applied in one transaction together with
//! the cursor, so a restart resumes exactly after the last applied block. A reorganisation deeper
//! than the confirmation depth is handled by [`Store::rollback_to`].

use alloy::primitives::{Address, B256};
use medledger_core::access::AccessState;
use sqlx::Row;

use crate::quick::Param;
use crate::{Result, Store, address, hash, int, uint};

/// One contract event, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    /// An admin approved a doctor.
    DoctorRegistered {
        /// The doctor.
        doctor: Address,
    },
    /// An admin revoked a doctor.
    DoctorRevoked {
        /// The doctor.
        doctor: Address,
    },
    /// A patient was registered.
    PatientAdded {
        /// Their on-chain id.
        patient: u64,
        /// Their wallet.
        wallet: Address,
        /// The registering doctor (zero if self-registered).
        registered_by: Address,
    },
    /// An entry was appended to a patient's history.
    HistoryAppended {
        /// The patient's on-chain id.
        patient: u64,
        /// Its version.
        version: u64,
        /// Its kind.
        kind: u8,
        /// The version it amends, or 0.
        supersedes: u64,
        /// Its commitment.
        commitment: B256,
        /// Its author.
        author: Address,
    },
    /// A patient granted a doctor access.
    AccessGranted {
        /// The patient's on-chain id.
        patient: u64,
        /// The doctor.
        doctor: Address,
        /// Until when (Unix s; `u64::MAX` until revoked).
        expires_at: u64,
    },
    /// A patient revoked a doctor's access.
    AccessRevoked {
        /// The patient's on-chain id.
        patient: u64,
        /// The doctor.
        doctor: Address,
    },
    /// A doctor opened emergency access.
    EmergencyAccess {
        /// The patient's on-chain id.
        patient: u64,
        /// The doctor.
        doctor: Address,
        /// Until when (Unix s).
        expires_at: u64,
    },
    /// A doctor closed their emergency access.
    EmergencyAccessClosed {
        /// The patient's on-chain id.
        patient: u64,
        /// The doctor.
        doctor: Address,
    },
    /// An auditor anchored an audit-log head.
    AuditAnchored {
        /// The auditor.
        auditor: Address,
        /// The anchored sequence number.
        sequence: u64,
        /// The anchored head.
        head: B256,
    },
}

/// One link of a patient's mirrored on-chain history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirroredLink {
    /// Its version.
    pub version: u64,
    /// The entry's commitment.
    pub commitment: B256,
    /// Its kind.
    pub kind: u8,
    /// The version it amends, or 0.
    pub supersedes: u64,
    /// Its author.
    pub author: Address,
    /// The block that anchored it.
    pub block_number: u64,
    /// The transaction that anchored it.
    pub tx_hash: B256,
}

/// Where a hospital's contracts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// The chain's id.
    pub chain_id: u64,
    /// The MedLedger contract.
    pub ledger: Address,
    /// Its trusted forwarder.
    pub forwarder: Address,
    /// The block it was deployed in (where indexing and verification start).
    pub block_number: u64,
}

/// An event with its place on the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// The block.
    pub block_number: u64,
    /// Its position in the block (for a batch, a sub-position: `log_index << 10 | i`).
    pub position: u64,
    /// The transaction.
    pub tx_hash: B256,
    /// The event.
    pub event: ChainEvent,
}

mod derive;

use derive::{derive, insert, set_cursor};

impl Store {
    /// The last applied block, if any.
    pub async fn cursor(&self) -> Result<Option<(u64, B256)>> {
        let row = sqlx::query("SELECT block_number, block_hash FROM chain_cursor WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((uint(r.try_get(0)?), hash(&r.try_get::<Vec<u8>, _>(1)?)?)))
            .transpose()
    }

    /// Applies `events` (in chain order) from the blocks up to `to`, remembers `hashes` of applied
    /// blocks for reorganisation checks, and moves the cursor to `to`, in one transaction. Returns
    /// the requests now anchored: those the relayer found executed in a block up to `to`.
    pub async fn apply_events(
        &self,
        events: &[LoggedEvent],
        hashes: &[(u64, B256)],
        to: (u64, B256),
    ) -> Result<Vec<i64>> {
        let mut tx = self.writer.begin().await?;
        for logged in events {
            let inserted = insert(&mut tx, logged).await?;
            if inserted {
                derive(&mut tx, logged).await?;
            }
        }
        for (number, block_hash) in hashes.iter().chain(std::iter::once(&to)) {
            sqlx::query(
                "INSERT INTO chain_blocks (block_number, block_hash) VALUES ($1, $2)
                 ON CONFLICT (block_number) DO UPDATE SET block_hash = excluded.block_hash",
            )
            .bind(int(*number))
            .bind(block_hash.to_vec())
            .execute(&mut *tx)
            .await?;
        }
        set_cursor(&mut tx, to).await?;
        let anchored = anchor_included(&mut tx).await?;
        tx.commit().await?;
        Ok(anchored)
    }

    /// Anchors the requests found executed (`included`) in a block the mirror has applied, and
    /// returns them: for those the relayer found mined after the indexer had passed their block.
    pub async fn anchor_included(&self) -> Result<Vec<i64>> {
        let mut tx = self.writer.begin().await?;
        let anchored = anchor_included(&mut tx).await?;
        tx.commit().await?;
        Ok(anchored)
    }

    /// Remembered block hashes, newest first, at most `limit`.
    pub async fn applied_blocks(&self, limit: u32) -> Result<Vec<(u64, B256)>> {
        let sql = format!(
            "SELECT block_number, block_hash FROM chain_blocks ORDER BY block_number DESC LIMIT {limit}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((uint(r.try_get(0)?), hash(&r.try_get::<Vec<u8>, _>(1)?)?)))
            .collect()
    }

    /// Undoes everything applied after block `ancestor` (the newest block still on the chain):
    /// events, derived state, anchors of entries and requests; the cursor goes back to it.
    pub async fn rollback_to(&self, ancestor: (u64, B256)) -> Result<()> {
        let b = int(ancestor.0);
        let mut tx = self.writer.begin().await?;
        for sql in [
            "DELETE FROM chain_events WHERE block_number > $1",
            "DELETE FROM chain_blocks WHERE block_number > $1",
            "DELETE FROM history WHERE block_number > $1",
            "DELETE FROM chain_patients WHERE block_number > $1",
            "UPDATE patients SET chain_id = NULL WHERE chain_id IS NOT NULL
                AND chain_id NOT IN (SELECT chain_id FROM chain_patients)",
            "UPDATE entries SET status = 'pending', chain_version = NULL, tx_hash = NULL, block_number = NULL
                WHERE status = 'anchored' AND block_number > $1",
            "UPDATE chain_requests SET status = 'submitted', block_number = NULL
                WHERE status IN ('included', 'anchored') AND (block_number IS NULL OR block_number > $1)
                  AND tx_hash IS NOT NULL",
        ] {
            let query = sqlx::query(sql);
            let query = if sql.contains("$1") { query.bind(b) } else { query };
            query.execute(&mut *tx).await?;
        }
        // Roles and access are latest-value state: rebuild them from the events that remain.
        sqlx::query("DELETE FROM doctors").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM access").execute(&mut *tx).await?;
        let rows = sqlx::query(
            "SELECT block_number, log_index, tx_hash, event, patient, account, expires_at FROM chain_events
             WHERE event IN ('doctor-registered', 'doctor-revoked', 'access-granted', 'access-revoked',
                             'emergency-access', 'emergency-access-closed')
             ORDER BY block_number, log_index",
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in rows {
            let account = address(&row.try_get::<Vec<u8>, _>("account")?)?;
            let patient = row.try_get::<Option<i64>, _>("patient")?.map(uint).unwrap_or(0);
            let expires_at = row
                .try_get::<Option<i64>, _>("expires_at")?
                .map(uint)
                .unwrap_or(0);
            let event = match row.try_get::<String, _>("event")?.as_str() {
                "doctor-registered" => ChainEvent::DoctorRegistered { doctor: account },
                "doctor-revoked" => ChainEvent::DoctorRevoked { doctor: account },
                "access-granted" => ChainEvent::AccessGranted {
                    patient,
                    doctor: account,
                    expires_at,
                },
                "access-revoked" => ChainEvent::AccessRevoked {
                    patient,
                    doctor: account,
                },
                "emergency-access" => ChainEvent::EmergencyAccess {
                    patient,
                    doctor: account,
                    expires_at,
                },
                _ => ChainEvent::EmergencyAccessClosed {
                    patient,
                    doctor: account,
                },
            };
            let logged = LoggedEvent {
                block_number: uint(row.try_get("block_number")?),
                position: uint(row.try_get("log_index")?),
                tx_hash: hash(&row.try_get::<Vec<u8>, _>("tx_hash")?)?,
                event,
            };
            derive(&mut tx, &logged).await?;
        }
        set_cursor(&mut tx, ancestor).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the mirror says `account` is a doctor.
    pub async fn is_doctor(&self, account: Address) -> Result<bool> {
        let row = sqlx::query("SELECT active FROM doctors WHERE address = $1")
            .bind(account.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()? == Some(1))
    }

    /// A doctor's mirrored access to a patient.
    pub async fn access_of(&self, patient: u64, doctor: Address) -> Result<AccessState> {
        let row = sqlx::query(
            "SELECT consent_expires_at, emergency_expires_at FROM access WHERE patient = $1 AND doctor = $2",
        )
        .bind(int(patient))
        .bind(doctor.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => AccessState {
                consent_expires_at: uint(r.try_get(0)?),
                emergency_expires_at: uint(r.try_get(1)?),
            },
            None => AccessState::default(),
        })
    }

    /// The mirrored history of a patient, in order.
    pub async fn mirrored_history(&self, patient: u64) -> Result<Vec<MirroredLink>> {
        self.quick_rows(
            "SELECT version, commitment, kind, supersedes, author, block_number, tx_hash FROM history
             WHERE patient = $1 ORDER BY version",
            &[Param::Int(int(patient))],
            |row| {
                Ok(MirroredLink {
                    version: uint(row.int("version")?),
                    commitment: hash(&row.bytes("commitment")?)?,
                    kind: u8::try_from(row.int("kind")?).map_err(|_| crate::Error::Corrupt("kind"))?,
                    supersedes: uint(row.int("supersedes")?),
                    author: address(&row.bytes("author")?)?,
                    block_number: uint(row.int("block_number")?),
                    tx_hash: hash(&row.bytes("tx_hash")?)?,
                })
            },
        )
        .await
    }

    /// Where this hospital's contracts are, once recorded.
    pub async fn deployment(&self) -> Result<Option<Deployment>> {
        let row =
            sqlx::query("SELECT chain_id, ledger, forwarder, block_number FROM deployment WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(Deployment {
                chain_id: uint(r.try_get(0)?),
                ledger: address(&r.try_get::<Vec<u8>, _>(1)?)?,
                forwarder: address(&r.try_get::<Vec<u8>, _>(2)?)?,
                block_number: uint(r.try_get(3)?),
            })
        })
        .transpose()
    }

    /// Records where the contracts are. A store belongs to one deployment: recording another is refused.
    pub async fn set_deployment(&self, deployment: &Deployment) -> Result<()> {
        sqlx::query(
            "INSERT INTO deployment (id, chain_id, ledger, forwarder, block_number) VALUES (1, $1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(int(deployment.chain_id))
        .bind(deployment.ledger.to_vec())
        .bind(deployment.forwarder.to_vec())
        .bind(int(deployment.block_number))
        .execute(&self.writer)
        .await?;
        match self.deployment().await? {
            Some(stored) if stored == *deployment => Ok(()),
            Some(stored) => Err(crate::Error::OtherDeployment(Box::new(stored))),
            None => Err(crate::Error::Corrupt("deployment")),
        }
    }

    /// How many mirrored events there are (for tests and status pages).
    pub async fn mirrored_event_count(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) FROM chain_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(uint(row.try_get(0)?))
    }
}

/// A request is anchored once its execution was found (by the relayer, from its transaction's
/// receipt: `included`, with its block) and the mirror has applied that block's events. The two
/// are written by different loops, perhaps on different servers: the indexer anchors them, when
/// it applies blocks ([`Store::apply_events`]) and at each pass that finds no new block
/// ([`Store::anchor_included`]). (Matching a request to its transaction's events by hash
/// would not do: one transaction carries many requests, some of which may fail.)
pub(crate) async fn anchor_included(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<Vec<i64>> {
    let rows = sqlx::query(
        "UPDATE chain_requests SET status = 'anchored'
         WHERE status = 'included' AND block_number <= (SELECT block_number FROM chain_cursor WHERE id = 1)
         RETURNING id",
    )
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
