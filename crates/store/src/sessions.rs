//! Sign-in nonces (each usable once) and sessions (stored by the hash of their token).

use alloy::primitives::{Address, B256};

use sqlx::Row;

use crate::quick::Param;
use crate::{Result, Store, address, int, uint};

/// A signed-in session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The wallet it is bound to.
    pub address: Address,
    /// When it was opened (Unix ms).
    pub created_at: u64,
    /// When it was last used (Unix ms).
    pub last_seen_at: u64,
    /// When it ends whatever happens (Unix ms).
    pub expires_at: u64,
}

impl Store {
    /// Remembers a nonce handed to a browser, until `expires_at` (Unix ms).
    pub async fn issue_nonce(&self, nonce: &str, expires_at: u64) -> Result<()> {
        sqlx::query("INSERT INTO sign_in_nonces (nonce, expires_at) VALUES ($1, $2)")
            .bind(nonce.to_owned())
            .bind(int(expires_at))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// How many issued nonces are unused and unexpired at `now` (Unix ms).
    pub async fn outstanding_nonces(&self, now: u64) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) FROM sign_in_nonces WHERE expires_at > $1")
            .bind(int(now))
            .fetch_one(&self.pool)
            .await?;
        Ok(uint(row.try_get(0)?))
    }

    /// Uses up a nonce: true for exactly one caller, if it was issued and has not expired. One
    /// `DELETE`, so two concurrent sign-ins with the same message cannot both succeed.
    pub async fn consume_nonce(&self, nonce: &str, now: u64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sign_in_nonces WHERE nonce = $1 AND expires_at > $2")
            .bind(nonce.to_owned())
            .bind(int(now))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Opens a session for `address` under the hash of its token.
    pub async fn open_session(
        &self,
        token_hash: B256,
        address: Address,
        now: u64,
        expires_at: u64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, address, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(token_hash.to_vec())
        .bind(address.to_vec())
        .bind(int(now))
        .bind(int(expires_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The session with this token hash, if it is neither past its absolute expiry nor idle for
    /// longer than `idle` ms; using it moves its idle clock on. The clock is kept to a thirtieth
    /// of `idle` (a minute of a 30-minute timeout): a session used more often than that is only
    /// read, so that signed-in requests do not each cost a write to disk.
    pub async fn use_session(&self, token_hash: B256, now: u64, idle: u64) -> Result<Option<Session>> {
        let found = self
            .quick_rows(
                "SELECT address, created_at, last_seen_at, expires_at FROM sessions
                 WHERE token_hash = $1 AND expires_at > $2 AND last_seen_at > $3",
                &[
                    Param::Bytes(token_hash.as_slice()),
                    Param::Int(int(now)),
                    Param::Int(int(now.saturating_sub(idle))),
                ],
                |row| {
                    Ok(Session {
                        address: address(&row.bytes("address")?)?,
                        created_at: uint(row.int("created_at")?),
                        last_seen_at: uint(row.int("last_seen_at")?),
                        expires_at: uint(row.int("expires_at")?),
                    })
                },
            )
            .await?;
        let Some(mut session) = found.into_iter().next() else {
            return Ok(None);
        };
        if now.saturating_sub(session.last_seen_at) >= idle / 30 {
            // Signed out meanwhile: the session is gone and the update touches nothing.
            let touched = sqlx::query(
                "UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1 AND last_seen_at < $2",
            )
            .bind(token_hash.to_vec())
            .bind(int(now))
            .execute(&self.writer)
            .await?;
            if touched.rows_affected() == 1 {
                session.last_seen_at = now;
            }
        }
        Ok(Some(session))
    }

    /// Ends a session (sign-out). True if there was one.
    pub async fn end_session(&self, token_hash: B256) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash.to_vec())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets expired nonces and sessions; returns how many rows went.
    pub async fn sweep_sign_ins(&self, now: u64) -> Result<u64> {
        let nonces = sqlx::query("DELETE FROM sign_in_nonces WHERE expires_at <= $1")
            .bind(int(now))
            .execute(&self.writer)
            .await?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(int(now))
            .execute(&self.writer)
            .await?;
        Ok(nonces.rows_affected() + sessions.rows_affected())
    }
}
