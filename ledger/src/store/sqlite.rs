//! The embedded SQLite backend: one file, WAL, `synchronous = FULL` (a commit is on disk before
//! it is acknowledged). Writers serialise on an in-process mutex and on `BEGIN IMMEDIATE`, which
//! also keeps a second process from interleaving with this one.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row as _, Sqlite, SqlitePool, TypeInfo, ValueRef};

use super::backend::{Backend, BoxFut, Conn, Driver, Query, Row, SqlConn, Val, WriteTx};
use super::{Result, StoreError};

const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_journal",
        include_str!("../../../migrations/sqlite/0001_journal.sql"),
    ),
    (
        "0002_users_idempotency",
        include_str!("../../../migrations/sqlite/0002_users_idempotency.sql"),
    ),
    (
        "0003_programme",
        include_str!("../../../migrations/sqlite/0003_programme.sql"),
    ),
    (
        "0004_cosignatures",
        include_str!("../../../migrations/sqlite/0004_cosignatures.sql"),
    ),
    (
        "0005_web_sessions",
        include_str!("../../../migrations/sqlite/0005_web_sessions.sql"),
    ),
    (
        "0006_postings_running",
        include_str!("../../../migrations/sqlite/0006_postings_running.sql"),
    ),
    (
        "0007_projection_guard",
        include_str!("../../../migrations/sqlite/0007_projection_guard.sql"),
    ),
    (
        "0008_programme_projections",
        include_str!("../../../migrations/sqlite/0008_programme_projections.sql"),
    ),
    (
        "0009_disbursement_projections",
        include_str!("../../../migrations/sqlite/0009_disbursement_projections.sql"),
    ),
    (
        "0011_registry_projections",
        include_str!("../../../migrations/sqlite/0011_registry_projections.sql"),
    ),
    (
        "0013_state_lookups",
        include_str!("../../../migrations/sqlite/0013_state_lookups.sql"),
    ),
    (
        "0014_accounting_dates",
        include_str!("../../../migrations/sqlite/0014_accounting_dates.sql"),
    ),
];

#[derive(Debug)]
pub(crate) struct SqliteBackend {
    pool: SqlitePool,
    /// Writers of this process take turns here before `BEGIN IMMEDIATE`, rather than spinning
    /// on the busy timeout.
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl SqliteBackend {
    pub(crate) async fn connect(url: &str) -> Result<Self> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::BadUrl(crate::redact::RedactedUrl::new(url)))?;
        let options = if path == ":memory:" {
            SqliteConnectOptions::from_str("sqlite::memory:").map_err(StoreError::Database)?
        } else {
            SqliteConnectOptions::new().filename(path)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let max = if path == ":memory:" { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await?;
        Ok(SqliteBackend {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }
}

impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn conn(&self) -> BoxFut<'_, Box<dyn Conn>> {
        Box::pin(async move {
            let c: Box<dyn Conn> = Box::new(SqlConn::<Sqlite, _>::new(self.pool.acquire().await?));
            Ok(c)
        })
    }

    fn begin_write(&self, arm: bool) -> BoxFut<'_, Box<dyn WriteTx>> {
        Box::pin(async move {
            let writer = self.writer.clone().lock_owned().await;
            let mut tx = SqlConn::<Sqlite, _>::new(self.pool.begin_with("BEGIN IMMEDIATE").await?);
            if arm {
                set_armed(&mut tx, true).await?;
            }
            let w: Box<dyn WriteTx> = Box::new(SqliteWrite {
                tx,
                armed: arm,
                _writer: writer,
            });
            Ok(w)
        })
    }

    fn migrations(&self) -> &'static [(&'static str, &'static str)] {
        MIGRATIONS
    }

    fn migrations_table(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    }

    fn migration_applied(&self) -> &'static str {
        "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, datetime('now'))"
    }

    fn clear(&self, tables: &[&str]) -> Vec<String> {
        tables.iter().map(|t| format!("DELETE FROM {t}")).collect()
    }

    fn byte_order(&self) -> &'static str {
        // SQLite compares text with BINARY unless told otherwise.
        ""
    }
}

/// Opens (or closes) the projection guard for this write transaction only: the committed value
/// is always closed, so every other connection's edits of a projection are refused.
async fn set_armed(c: &mut dyn Conn, on: bool) -> Result<()> {
    Query::new("UPDATE projection_writer SET armed = $1")
        .bind(i64::from(on))
        .execute(c)
        .await?;
    Ok(())
}

struct SqliteWrite {
    tx: SqlConn<Sqlite, sqlx::Transaction<'static, Sqlite>>,
    armed: bool,
    _writer: tokio::sync::OwnedMutexGuard<()>,
}

impl Conn for SqliteWrite {
    fn fetch(&mut self, q: Query) -> BoxFut<'_, Vec<Row>> {
        self.tx.fetch(q)
    }
    fn execute(&mut self, q: Query) -> BoxFut<'_, u64> {
        self.tx.execute(q)
    }
    fn execute_raw<'a>(&'a mut self, sql: &'a str) -> BoxFut<'a, u64> {
        self.tx.execute_raw(sql)
    }
}

impl WriteTx for SqliteWrite {
    fn commit(mut self: Box<Self>) -> BoxFut<'static, ()> {
        Box::pin(async move {
            if self.armed {
                set_armed(&mut self.tx, false).await?;
            }
            self.tx.0.commit().await?;
            Ok(())
        })
    }
}

impl Driver for Sqlite {
    /// `$1 … $n` in order, each once (every query the builder makes), become anonymous `?`:
    /// SQLite looks a named parameter up by a linear scan, so binding the 900 named values of
    /// a multi-row insert cost a quadratic number of steps (a third of an append's time).
    fn sql(text: &str) -> std::borrow::Cow<'_, str> {
        anonymous_placeholders(text).map_or(std::borrow::Cow::Borrowed(text), Into::into)
    }

    fn arguments<'q>(args: Vec<Val>) -> <Sqlite as sqlx::Database>::Arguments<'q> {
        super::backend::arguments::<Sqlite>(args)
    }

    fn decode(r: &SqliteRow, names: &Arc<[String]>) -> Result<Row> {
        decode(r, names)
    }

    fn rows_affected(done: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn raw<'a>(c: &'a mut sqlx::SqliteConnection, sql: &'a str) -> BoxFut<'a, u64> {
        let done = sqlx::Executor::execute(c, sqlx::raw_sql(sql));
        Box::pin(async move { Ok(done.await?.rows_affected()) })
    }
}

/// A row's values by their storage class (SQLite's types belong to values, not columns).
fn decode(r: &SqliteRow, names: &Arc<[String]>) -> Result<Row> {
    let mut vals = Vec::with_capacity(names.len());
    for i in 0..names.len() {
        let raw = r.try_get_raw(i)?;
        let v = if raw.is_null() {
            Val::Int(None)
        } else {
            let class = raw.type_info().name().to_string();
            match class.as_str() {
                "INTEGER" | "BOOLEAN" => Val::Int(Some(r.try_get_unchecked(i)?)),
                "TEXT" => Val::Text(Some(r.try_get_unchecked(i)?)),
                "BLOB" => Val::Bytes(Some(r.try_get_unchecked(i)?)),
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "column {} holds a value of type {other}",
                        names[i]
                    )))
                }
            }
        };
        vals.push(v);
    }
    Ok(Row::new(names.clone(), vals))
}

/// `text` with `$1 … $n` replaced by `?`, when they appear in that order, each once, outside
/// quoted strings; `None` otherwise (the text is then run as written).
fn anonymous_placeholders(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut next = 1u64;
    let mut quote: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '$' => {
                let mut n = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    n.push(d);
                    chars.next();
                }
                if n.parse::<u64>().ok()? != next {
                    return None;
                }
                next += 1;
                out.push('?');
            }
            None => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod placeholder_tests {
    use super::anonymous_placeholders;

    #[test]
    fn placeholders_in_order_become_anonymous_and_others_stay() {
        assert_eq!(
            anonymous_placeholders("INSERT INTO t VALUES ($1, $2), ($3, '$9')").as_deref(),
            Some("INSERT INTO t VALUES (?, ?), (?, '$9')")
        );
        assert_eq!(
            anonymous_placeholders("SELECT 1").as_deref(),
            Some("SELECT 1")
        );
        // Repeated or out of order: run as written.
        assert_eq!(anonymous_placeholders("SELECT $1 WHERE a = $1"), None);
        assert_eq!(anonymous_placeholders("SELECT $2, $1"), None);
    }
}
