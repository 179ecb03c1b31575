//! Wrapped keys: reading them, and re-wrapping all of them in one transaction.

use medledger_core::crypto::{KeyId, Keyring, WrappedKey};
use medledger_core::entry::PatientId;
use sqlx::Row;

use crate::{Error, Result, Store};

fn key_id(bytes: &[u8]) -> Result<KeyId> {
    Ok(KeyId(bytes.try_into().map_err(|_| Error::Corrupt("key id"))?))
}

impl Store {
    /// The wrapped key stored under `name`.
    pub async fn wrapped_key(&self, name: &str) -> Result<Option<WrappedKey>> {
        let row = sqlx::query("SELECT master_id, sealed FROM wrapped_keys WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(WrappedKey {
                master: key_id(&r.try_get::<Vec<u8>, _>(0)?)?,
                sealed: r.try_get(1)?,
            })
        })
        .transpose()
    }

    /// Stores a wrapped key under `name` unless one is there; returns the one that is stored.
    pub async fn put_wrapped_key_once(&self, name: &str, key: &WrappedKey) -> Result<WrappedKey> {
        sqlx::query("INSERT INTO wrapped_keys (name, master_id, sealed) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(name.to_owned())
            .bind(key.master.0.to_vec())
            .bind(key.sealed.clone())
            .execute(&self.writer)
            .await?;
        self.wrapped_key(name).await?.ok_or(Error::Corrupt("wrapped key"))
    }

    /// Re-wraps every stored key under `keyring`'s current master key, in one transaction: either
    /// all keys move to the new master key or none does. Returns how many were re-wrapped.
    pub async fn rewrap_keys(&self, keyring: &Keyring) -> Result<u64> {
        let mut tx = self.writer.begin().await?;
        let current = keyring.current().id();
        let mut count = 0;
        let named = sqlx::query("SELECT name, master_id, sealed FROM wrapped_keys")
            .fetch_all(&mut *tx)
            .await?;
        for row in named {
            let name: String = row.try_get(0)?;
            let wrapped = WrappedKey {
                master: key_id(&row.try_get::<Vec<u8>, _>(1)?)?,
                sealed: row.try_get(2)?,
            };
            if wrapped.master == current {
                continue;
            }
            let fresh = keyring.rewrap(None, &wrapped)?;
            sqlx::query("UPDATE wrapped_keys SET master_id = $2, sealed = $3 WHERE name = $1")
                .bind(name)
                .bind(fresh.master.0.to_vec())
                .bind(fresh.sealed)
                .execute(&mut *tx)
                .await?;
            count += 1;
        }
        let patients = sqlx::query("SELECT id, key_master_id, data_key FROM patients")
            .fetch_all(&mut *tx)
            .await?;
        for row in patients {
            let id = PatientId::from_slice(&row.try_get::<Vec<u8>, _>(0)?)?;
            let wrapped = WrappedKey {
                master: key_id(&row.try_get::<Vec<u8>, _>(1)?)?,
                sealed: row.try_get(2)?,
            };
            if wrapped.master == current {
                continue;
            }
            let fresh = keyring.rewrap(Some(id), &wrapped)?;
            sqlx::query("UPDATE patients SET key_master_id = $2, data_key = $3 WHERE id = $1")
                .bind(id.0.to_vec())
                .bind(fresh.master.0.to_vec())
                .bind(fresh.sealed)
                .execute(&mut *tx)
                .await?;
            count += 1;
        }
        // Export jobs' keys too: a job kicked off before a rotation stays fetchable.
        let jobs = sqlx::query("SELECT id, owner, key_master_id, sealed_key FROM export_jobs")
            .fetch_all(&mut *tx)
            .await?;
        for row in jobs {
            let id: String = row.try_get(0)?;
            let owner: Vec<u8> = row.try_get(1)?;
            let wrapped = WrappedKey {
                master: key_id(&row.try_get::<Vec<u8>, _>(2)?)?,
                sealed: row.try_get(3)?,
            };
            if wrapped.master == current {
                continue;
            }
            let fresh = keyring.rewrap_export(&id, &owner, &wrapped)?;
            sqlx::query("UPDATE export_jobs SET key_master_id = $2, sealed_key = $3 WHERE id = $1")
                .bind(id)
                .bind(fresh.master.0.to_vec())
                .bind(fresh.sealed)
                .execute(&mut *tx)
                .await?;
            count += 1;
        }
        tx.commit().await?;
        Ok(count)
    }
}
