//! Several servers on one PostgreSQL, coordinated by PostgreSQL itself (docs/store.md):
//!
//! - [`Lease`]: one owner for each piece of background work (relaying, indexing), held as a
//!   session advisory lock on a connection of its own. If the owner dies, its connection closes,
//!   PostgreSQL releases the lock, and the next server to try takes it over.
//! - [`SignerLock`]: one writer at a time for a signer's forwarder nonces, across servers (an
//!   advisory lock on a connection of a small pool kept for it).
//! - [`Store::notify_settled`] and [`Store::listen_settled`]: requests that settled, told to every
//!   server (`NOTIFY`/`LISTEN`), so that a long poll answers on whichever server is asked.
//!
//! On SQLite, one server holds the data directory ([`medledger_hospital`'s lock]), so a lease is
//! always granted, a signer's lock is the process's own, and nothing needs telling.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::{Result, Store};

/// The channel settled requests are told on.
const SETTLED_CHANNEL: &str = "medledger_settled";
/// The channel a new signature is told on (to wake the relayer, wherever it runs).
const SIGNED_CHANNEL: &str = "medledger_signed";

/// Connections kept for signers' locks, per server.
const SIGNER_LOCK_CONNECTIONS: u32 = 8;

/// What PostgreSQL coordination needs: how to open connections of its own.
#[derive(Debug)]
pub(crate) struct Shared {
    options: PgConnectOptions,
    locks: PgPool,
}

impl Shared {
    pub(crate) fn new(url: &str) -> Result<Arc<Self>> {
        let options: PgConnectOptions = url.parse()?;
        let options = options.disable_statement_logging();
        let locks = PgPoolOptions::new()
            .max_connections(SIGNER_LOCK_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options.clone());
        Ok(Arc::new(Self { options, locks }))
    }
}

/// The lease connection's TCP settings, on PostgreSQL's side: a probe after 5 idle seconds, every
/// 2 seconds, 3 unanswered ones and the connection is dead; unacknowledged data for 10 seconds
/// likewise.
const LEASE_KEEPALIVE: &str = "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; \
                               SET tcp_keepalives_count = 3; SET tcp_user_timeout = 10000";

/// An advisory lock's key for `what`, in this database: advisory locks are the whole server's,
/// and other databases on it (other hospitals', tests') must not share them.
const KEY: &str = "hashtextextended(current_database() || ' ' || $1, 0)";

/// The ownership of one piece of background work; see [`Store::try_lease`].
#[derive(Debug)]
pub struct Lease {
    /// The connection that holds the lock (none on SQLite).
    held_on: Option<PgConnection>,
    /// What writes under this lease check: the work, and the holding connection's backend.
    fence: Fence,
}

/// What a write made under a [`Lease`] checks inside its own transaction: that the lease is
/// still held by the connection that took it. A server whose lease passed to another (its lease
/// connection dropped while it was busy) then writes nothing: its next write fails with
/// [`crate::Error::LeaseLost`], before anything is sent on its strength. The one that takes the
/// work over first waits out any such write already under way ([`Store::take_over`]), so it
/// sees all that the earlier holder stored. On SQLite (one server) there is nothing to check.
#[derive(Debug, Clone, Default)]
pub struct Fence {
    /// The work, and the holding connection's backend: its pid and when it started (a pid alone
    /// may be reused by a later connection).
    held: Option<(String, i32, String)>,
}

impl Lease {
    /// What writes under this lease check (see [`Fence`]).
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// Whether it is still held: its connection answers within two seconds (a lost connection
    /// lost the lock with it; one that does not answer is given up, so that a black-holed network
    /// cannot hold the work, or a shutdown, for ever).
    pub async fn held(&mut self) -> bool {
        match self.held_on.as_mut() {
            None => true,
            Some(connection) => {
                let answered = tokio::time::timeout(Duration::from_secs(2), connection.ping()).await;
                if matches!(answered, Ok(Ok(()))) {
                    return true;
                }
                self.held_on = None;
                false
            }
        }
    }
}

/// A signer's nonces held still across servers; released when dropped.
#[derive(Debug)]
pub struct SignerLock {
    held: Option<(String, sqlx::pool::PoolConnection<sqlx::Postgres>)>,
}

impl Drop for SignerLock {
    fn drop(&mut self) {
        if let Some((key, mut connection)) = self.held.take() {
            // Unlocked before the connection goes back to the pool; if that fails, the
            // connection is closed instead, which releases the lock too.
            tokio::spawn(async move {
                let unlocked = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT pg_advisory_unlock({KEY})")))
                    .bind(key)
                    .execute(&mut *connection)
                    .await;
                if unlocked.is_err() {
                    let _ = connection.detach().close().await;
                }
            });
        }
    }
}

impl Store {
    /// The lease on `work` (`relayer`, `indexer`) if no other server holds it: on PostgreSQL, a
    /// session advisory lock on a connection of its own, kept as long as the [`Lease`] lives; on
    /// SQLite, always.
    pub async fn try_lease(&self, work: &str) -> Result<Option<Lease>> {
        let Some(shared) = &self.shared else {
            return Ok(Some(Lease {
                held_on: None,
                fence: Fence::default(),
            }));
        };
        let mut connection = PgConnection::connect_with(&shared.options).await?;
        // PostgreSQL releases the lock when it finds the connection dead: within seconds of a
        // host that vanished (power, network), not the operating system's two hours, so that
        // another server takes the work over. (Over a Unix socket these do nothing, and need not.)
        sqlx::raw_sql(LEASE_KEEPALIVE).execute(&mut connection).await?;
        let (taken,): (bool,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT pg_try_advisory_lock({KEY})")))
                .bind(format!("medledger lease {work}"))
                .fetch_one(&mut connection)
                .await?;
        if taken {
            let (pid, started): (i32, String) = sqlx::query_as(
                "SELECT pid, backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()",
            )
            .fetch_one(&mut connection)
            .await?;
            Ok(Some(Lease {
                held_on: Some(connection),
                fence: Fence {
                    held: Some((work.to_owned(), pid, started)),
                },
            }))
        } else {
            let _ = connection.close().await;
            Ok(None)
        }
    }

    /// Waits until no write fenced by an earlier holder of `lease`'s work is under way, so that
    /// whatever it stored is seen from now on and it stores nothing more (see [`Fence`]). The
    /// first thing a server does with a lease it has just taken.
    pub async fn take_over(&self, lease: &Lease) -> Result<()> {
        let Some((work, _, _)) = &lease.fence.held else {
            return Ok(());
        };
        let mut tx = self.writer.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT pg_advisory_xact_lock({KEY})"
        )))
        .bind(format!("medledger fence {work}"))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Holds `signer`'s forwarder nonces still across servers until the lock is dropped (on
    /// SQLite, nothing: one server, whose own lock suffices).
    pub async fn lock_signer(&self, signer: Address) -> Result<SignerLock> {
        let Some(shared) = &self.shared else {
            return Ok(SignerLock { held: None });
        };
        let connection = shared.locks.acquire().await?;
        let key = format!("medledger signer {signer}");
        // The guard first: a caller that gives up while PostgreSQL makes it wait (a client that
        // goes away) drops it, and its unlock then waits for the lock to be granted and gives it
        // straight back, instead of leaving it held by a connection in the pool.
        let mut lock = SignerLock {
            held: Some((key.clone(), connection)),
        };
        let (_, connection) = lock.held.as_mut().expect("just made");
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT pg_advisory_lock({KEY})")))
            .bind(key)
            .execute(&mut **connection)
            .await?;
        Ok(lock)
    }

    /// Tells every server that requests `ids` settled (on SQLite, nothing: the one server knows).
    pub async fn notify_settled(&self, ids: &[i64]) -> Result<()> {
        if self.shared.is_none() || ids.is_empty() {
            return Ok(());
        }
        // A notification's payload is at most 8000 bytes: a few hundred ids each.
        for chunk in ids.chunks(400) {
            let payload = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(SETTLED_CHANNEL)
                .bind(payload)
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// Tells the server that relays that a request was signed (on SQLite, nothing: the one
    /// server knows).
    pub async fn notify_signed(&self) -> Result<()> {
        if self.shared.is_some() {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(SIGNED_CHANNEL)
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// A listener for what [`Store::notify_settled`] and [`Store::notify_signed`] tell, on
    /// PostgreSQL.
    pub async fn listen_settled(&self) -> Result<Option<SettledListener>> {
        let Some(shared) = &self.shared else {
            return Ok(None);
        };
        // A connection of its own, not one of the signers' locks'.
        let own = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(shared.options.clone());
        let mut listener = PgListener::connect_with(&own).await?;
        listener.listen_all([SETTLED_CHANNEL, SIGNED_CHANNEL]).await?;
        Ok(Some(SettledListener { listener }))
    }

    /// Whether other servers may share this store (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }
}

/// What servers tell each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Told {
    /// These requests settled.
    Settled(Vec<i64>),
    /// A request was signed: the relayer has work.
    Signed,
}

/// Settled requests and new signatures, as other servers (and this one) tell them.
#[derive(Debug)]
pub struct SettledListener {
    listener: PgListener,
}

impl SettledListener {
    /// The next thing told; reconnects by itself when its connection drops (what was told
    /// meanwhile is lost: long polls then answer at their deadline, the relayer at its next pass).
    pub async fn next(&mut self) -> Result<Told> {
        let notification = self.listener.recv().await?;
        if notification.channel() == SIGNED_CHANNEL {
            return Ok(Told::Signed);
        }
        Ok(Told::Settled(
            notification
                .payload()
                .split(',')
                .filter_map(|id| id.parse().ok())
                .collect(),
        ))
    }
}

/// Checks, inside `tx`, that `fence`'s lease is still held by the connection that took it; holds
/// off a takeover ([`Store::take_over`]) until `tx` ends.
pub(crate) async fn check_fence(tx: &mut sqlx::Transaction<'static, sqlx::Any>, fence: &Fence) -> Result<()> {
    let Some((work, pid, started)) = &fence.held else {
        return Ok(());
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT pg_advisory_xact_lock_shared({KEY})"
    )))
    .bind(format!("medledger fence {work}"))
    .execute(&mut **tx)
    .await?;
    // An advisory lock on a bigint key shows in pg_locks as its high and low 32 bits.
    let (held,): (bool,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid = $2
               AND a.backend_start::text = $3
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND ((l.classid::bigint << 32) | l.objid::bigint) = {KEY})"
    )))
    .bind(format!("medledger lease {work}"))
    .bind(*pid)
    .bind(started.clone())
    .fetch_one(&mut **tx)
    .await?;
    if held {
        Ok(())
    } else {
        Err(crate::Error::LeaseLost(work.clone()))
    }
}
