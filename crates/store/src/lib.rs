//! MedLedger's store: sqlx over SQLite (embedded, the default) or PostgreSQL.
//!
//! The same statements run on both (`$1` placeholders work on SQLite too); each database has its
//! own numbered migrations under `migrations/`. What is stored:
//!
//! - [`patients`]: wrapped data keys and blind-index tags; never a name.
//! - [`attachments`]: sealed attachments.
//! - [`emergencies`]: emergency-access reasons, sealed.
//! - [`entries`]: sealed entries and their commitments, written together with their chain request.
//! - [`requests`]: the outbox the relayer drains.
//! - [`mirror`]: the contracts' events past the confirmation depth, and what follows from them.
//! - [`audit`]: the hash-chained audit log.
//! - [`sessions`]: sign-in nonces and sessions.
//! - [`keys`]: keys that belong to no patient (the blind-index key), wrapped.

pub mod attachments;
pub mod audit;
pub mod doctors;
pub mod emergencies;
pub mod entries;
pub mod exports;
pub mod keys;
pub mod mirror;
pub mod patients;
pub mod requests;
pub mod responses;
pub mod sessions;
pub mod shared;

mod error;
mod quick;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

pub use error::{Error, Result};
use quick::{Cells, Param, QuickReads};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: one file, WAL, one writer connection.
    Sqlite,
    /// PostgreSQL: one pool, shared by several servers if need be.
    Postgres,
}

/// A MedLedger database.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads.
    pool: AnyPool,
    /// Writes: the same pool on PostgreSQL; a single connection on SQLite, so that writers queue
    /// in the process instead of failing on SQLite's database lock.
    writer: AnyPool,
    backend: Backend,
    /// On SQLite: connections of this process's own for the reads every request makes.
    quick: Option<Arc<QuickReads>>,
    /// On PostgreSQL: what coordinates several servers ([`shared`]).
    shared: Option<Arc<shared::Shared>>,
}

/// Connections for quick reads (each is held for one statement).
const QUICK_CONNECTIONS: usize = 4;

impl Store {
    /// Opens (creating if need be) the database at `url` (`sqlite://PATH` or `postgres://…`) and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::UnsupportedUrl(url.to_owned()));
        };
        let mut store = match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
                // WAL is a property of the file; set it once, before the pools open.
                let mut first = options.connect().await?;
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&mut first)
                    .await?;
                drop(first);
                let pool = sqlite_pool(4).connect_with(options.clone()).await?;
                let writer = sqlite_pool(1).connect_with(options).await?;
                Self {
                    pool,
                    writer,
                    backend,
                    quick: None,
                    shared: None,
                }
            }
            Backend::Postgres => {
                let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
                Self {
                    pool: pool.clone(),
                    writer: pool,
                    backend,
                    quick: None,
                    shared: Some(shared::Shared::new(url)?),
                }
            }
        };
        match backend {
            Backend::Sqlite => {
                SQLITE.run(&store.writer).await?;
                // After the migrations: the quick connections prepare against the final schema.
                if let Some(path) = sqlite_file(url) {
                    store.quick = Some(Arc::new(QuickReads::open(&path, QUICK_CONNECTIONS)?));
                }
            }
            Backend::Postgres => POSTGRES.run(&store.writer).await?,
        }
        Ok(store)
    }

    /// A quick read (see [`quick`]): on SQLite, on a connection of this process's own on the
    /// caller's thread; on PostgreSQL, through the pool.
    pub(crate) async fn quick_rows<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        decode: impl Fn(&dyn Cells) -> Result<T>,
    ) -> Result<Vec<T>> {
        if let Some(quick) = &self.quick {
            match quick.rows(sql, params, &decode) {
                // Locked: sqlx waits for it on its own thread.
                Err(Error::Sqlite(e)) if quick::is_busy(&e) => {}
                done => return done,
            }
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
        for param in params {
            query = match *param {
                Param::Int(v) => query.bind(v),
                Param::Bytes(v) => query.bind(v.to_vec()),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(|row| decode(row)).collect()
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// The file of a `sqlite://PATH[?…]` URL, as sqlx reads it (percent-decoded); none for an
/// in-memory database.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    let name = file.to_string_lossy();
    let in_memory =
        name.is_empty() || name == ":memory:" || name.starts_with("file:") || url.contains("mode=memory");
    (!in_memory).then(|| file.to_path_buf())
}

fn sqlite_pool(connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(|conn, _| {
            Box::pin(async move {
                // FULL: a commit is on disk before it returns, so an acknowledged write survives a
                // power cut, not just a crash of the process.
                sqlx::query("PRAGMA synchronous = FULL")
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("PRAGMA foreign_keys = ON")
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("PRAGMA busy_timeout = 10000")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The `VALUES` list of a multi-row `INSERT`: `rows` rows of `columns` numbered placeholders each,
/// every row shaped by `row` from its placeholders (`$1`, `$2`, …).
fn values_rows(rows: usize, columns: usize, row: impl Fn(&[String]) -> String) -> String {
    (0..rows)
        .map(|r| {
            row(&(1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect::<Vec<_>>())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

// Both databases store integers as signed 64-bit: u64 values round-trip through `as` (so
// `u64::MAX`, the contract's "forever", is stored as -1).
fn int(value: u64) -> i64 {
    value as i64
}

fn uint(value: i64) -> u64 {
    value as u64
}

fn address(bytes: &[u8]) -> Result<Address> {
    (bytes.len() == 20)
        .then(|| Address::from_slice(bytes))
        .ok_or(Error::Corrupt("address"))
}

fn hash(bytes: &[u8]) -> Result<B256> {
    (bytes.len() == 32)
        .then(|| B256::from_slice(bytes))
        .ok_or(Error::Corrupt("hash"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_rows_numbers_placeholders_row_by_row() {
        let sql = super::values_rows(2, 3, |p| format!("({}, 'x', {})", p.join(", "), p[2]));
        assert_eq!(sql, "($1, $2, $3, 'x', $3), ($4, $5, $6, 'x', $6)");
    }

    #[test]
    fn sqlite_file_is_the_path_of_the_url() {
        use std::path::PathBuf;
        let file = super::sqlite_file;
        assert_eq!(file("sqlite:///d/m.db"), Some(PathBuf::from("/d/m.db")));
        assert_eq!(file("sqlite://./m.db?mode=rwc"), Some(PathBuf::from("./m.db")));
        assert_eq!(file("sqlite:m.db"), Some(PathBuf::from("m.db")));
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("sqlite://"), None);
        assert_eq!(file("sqlite://?mode=memory"), None);
        assert_eq!(file("sqlite:///d/a%20b.db"), Some(PathBuf::from("/d/a b.db")));
    }
}
