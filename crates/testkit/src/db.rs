//! Fresh databases for tests: a SQLite file in a temporary directory, or a new PostgreSQL
//! database on the local server (`MEDLEDGER_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Without a reachable PostgreSQL the PostgreSQL
//! half is skipped locally and fails under `CI=true`.

use std::path::PathBuf;

use sqlx::Connection;

use medledger_store::Store;

/// A fresh database, removed when the test is done.
#[derive(Debug)]
pub struct Fresh {
    /// The store, open.
    pub store: Store,
    /// Its URL.
    pub url: String,
    /// Its file, for SQLite.
    pub sqlite_file: Option<PathBuf>,
    dir: Option<PathBuf>,
    postgres: Option<(String, String)>,
}

fn unique() -> String {
    let mut bytes = [0u8; 8];
    getrandom_fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn getrandom_fill(buf: &mut [u8]) {
    medledger_core::crypto::random_bytes(buf).expect("randomness");
}

/// The fresh database of each kind this machine can make: SQLite always, PostgreSQL when it is
/// reachable (and always under `CI=true`, where an unreachable server is a failure).
pub async fn each() -> Vec<Fresh> {
    let mut all = vec![sqlite().await];
    all.extend(postgres().await);
    all
}

/// A fresh SQLite database in a new temporary directory.
pub async fn sqlite() -> Fresh {
    let dir = std::env::temp_dir().join(format!("medledger-store-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("medledger.db");
    let url = format!("sqlite://{}", file.display());
    let store = Store::open(&url).await.expect("open SQLite");
    Fresh {
        store,
        url,
        sqlite_file: Some(file),
        dir: Some(dir),
        postgres: None,
    }
}

/// Where tests make their PostgreSQL databases.
pub fn postgres_admin_url() -> String {
    std::env::var("MEDLEDGER_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh PostgreSQL database, or `None` (locally) when there is no server to make one on.
pub async fn postgres() -> Option<Fresh> {
    let admin = postgres_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL is required under CI=true, and {admin} is unreachable: {e}")
        }
        Err(e) => {
            eprintln!("skipping the PostgreSQL half: {admin} is unreachable ({e})");
            return None;
        }
    };
    let name = format!("medledger_test_{}", unique());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(base, _)| base.to_owned()).unwrap();
    let url = format!("{base}/{name}");
    let store = Store::open(&url).await.expect("open PostgreSQL");
    Some(Fresh {
        store,
        url,
        sqlite_file: None,
        dir: None,
        postgres: Some((admin, name)),
    })
}

impl Fresh {
    /// Closes the store and removes the database.
    pub async fn remove(self) {
        self.store.close().await;
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = &self.postgres {
            let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }

    /// Every byte the database holds, as text: the SQLite files (with its WAL), or every row of
    /// every table of the PostgreSQL database.
    pub async fn dump(&self) -> Vec<u8> {
        if let Some(file) = &self.sqlite_file {
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                let path = PathBuf::from(format!("{}{suffix}", file.display()));
                bytes.extend(std::fs::read(path).unwrap_or_default());
            }
            return bytes;
        }
        let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
        let tables: Vec<(String,)> =
            sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert!(tables.len() > 10, "the dump sees the schema's tables: {tables:?}");
        let mut text = String::new();
        for (table,) in tables {
            let rows: Vec<(String,)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT t::text FROM {table} t")))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            for (row,) in rows {
                text.push_str(&row);
                text.push('\n');
            }
        }
        text.into_bytes()
    }
}

/// Runs a story on a fresh SQLite database and on a fresh PostgreSQL one.
#[macro_export]
macro_rules! on_both {
    ($story:ident) => {
        mod $story {
            #[tokio::test]
            async fn sqlite() {
                let db = medledger_testkit::db::sqlite().await;
                super::$story(&db).await;
                db.remove().await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = medledger_testkit::db::postgres().await {
                    super::$story(&db).await;
                    db.remove().await;
                }
            }
        }
    };
}
