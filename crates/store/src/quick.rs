//! Quick reads: the few point reads every request makes (its session; the patient; the patient's
//! entries and mirrored history; a chain request; a signer's held nonces), on SQLite, run on
//! connections of this process's own, on the caller's thread.
//!
//! sqlx runs each SQLite connection on a worker thread and hands every statement and every row
//! across a channel: a thread wake per row. For a history read of 21 entries that was a third of
//! the server's CPU (perf, `cargo bench -p medledger --bench http`). A quick read is a few indexed
//! lookups in pages SQLite already caches, well under a millisecond, so it runs where it is asked,
//! the way the in-process chain answers calls at its head. Everything else, and every read on
//! PostgreSQL, goes through sqlx. Decoders are written once, against [`Cells`], for both paths.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Result;

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    /// An integer.
    Int(i64),
    /// Bytes (a BLOB).
    Bytes(&'a [u8]),
}

/// A result row, by column name: what decoders read, whichever path produced it.
pub(crate) trait Cells {
    /// An integer column.
    fn int(&self, column: &str) -> Result<i64>;
    /// An integer column that may be NULL.
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
    /// A BLOB column.
    fn bytes(&self, column: &str) -> Result<Vec<u8>>;
    /// A BLOB column that may be NULL.
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>>;
    /// A text column.
    fn text(&self, column: &str) -> Result<String>;
    /// A text column that may be NULL.
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
}

impl Cells for AnyRow {
    fn int(&self, column: &str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>> {
        Ok(self.try_get(column)?)
    }
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(column)?)
    }
    fn text(&self, column: &str) -> Result<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }
}

/// A SQLite row with its statement's column names, looked up here: rusqlite's own lookup by name
/// asks SQLite for every column's name on every call (a fifth of a history read's store time).
struct Named<'a> {
    row: &'a rusqlite::Row<'a>,
    names: &'a [String],
}

impl Named<'_> {
    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> Result<T> {
        let index = self
            .names
            .iter()
            .position(|name| name == column)
            .ok_or_else(|| rusqlite::Error::InvalidColumnName(column.to_owned()))?;
        Ok(self.row.get(index)?)
    }
}

impl Cells for Named<'_> {
    fn int(&self, column: &str) -> Result<i64> {
        self.get(column)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        self.get(column)
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>> {
        self.get(column)
    }
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        self.get(column)
    }
    fn text(&self, column: &str) -> Result<String> {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        self.get(column)
    }
}

/// Read-only connections to a SQLite file, each used by one caller at a time.
#[derive(Debug)]
pub(crate) struct QuickReads {
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

/// How long a quick read waits for a locked database before handing over to sqlx.
const BUSY_WAIT: Duration = Duration::from_millis(50);

/// Whether a quick read failed because the database was locked.
pub(crate) fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Statements each connection keeps prepared.
const CACHED_STATEMENTS: usize = 32;

impl QuickReads {
    /// Opens `connections` read-only connections to the (WAL) database file at `path`.
    pub(crate) fn open(path: &Path, connections: usize) -> Result<Self> {
        let connections = (0..connections)
            .map(|_| {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let connection = Connection::open_with_flags(path, flags)?;
                // Short: a quick read that finds the database locked (rare in WAL mode: recovery,
                // an exclusive lock) is handed to sqlx, which waits on its own thread, instead of
                // putting this async worker thread to sleep.
                connection.busy_timeout(BUSY_WAIT)?;
                connection.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
                Ok(Mutex::new(connection))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            connections,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `sql` with `params` (bound to `$1`, `$2`, …) and decodes each row.
    pub(crate) fn rows<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        decode: &impl Fn(&dyn Cells) -> Result<T>,
    ) -> Result<Vec<T>> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(sql)?;
        for (i, param) in params.iter().enumerate() {
            // By name: SQLite numbers `$N` parameters in the order they first appear.
            let name = format!("${}", i + 1);
            match *param {
                Param::Int(v) => statement.raw_bind_parameter(name.as_str(), v)?,
                Param::Bytes(v) => statement.raw_bind_parameter(name.as_str(), v)?,
            }
        }
        let names: Vec<String> = statement.column_names().into_iter().map(str::to_owned).collect();
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(decode(&Named { row, names: &names })?);
        }
        Ok(out)
    }

    /// A free connection if there is one, else the next in turn once it is free.
    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.connections.len();
        for i in 0..n {
            if let Ok(free) = self.connections[(start + i) % n].try_lock() {
                return free;
            }
        }
        // A connection is only held for one statement, and a panic while holding it leaves it
        // usable (SQLite resets a statement when it is next run).
        self.connections[start % n]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
