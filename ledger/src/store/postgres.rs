//! The PostgreSQL backend: the production backend and the way past one machine. Every write
//! takes a transaction-scoped advisory lock on the chain head first, so any number of API
//! processes on one database append one at a time and can never fork the chain.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{Column, PgPool, Postgres, Row as _, TypeInfo, ValueRef};

use super::backend::{Backend, BoxFut, Conn, Driver, Query, Row, SqlConn, Val, WriteTx};
use super::{Result, StoreError};

const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_journal",
        include_str!("../../../migrations/postgres/0001_journal.sql"),
    ),
    (
        "0002_users_idempotency",
        include_str!("../../../migrations/postgres/0002_users_idempotency.sql"),
    ),
    (
        "0003_programme",
        include_str!("../../../migrations/postgres/0003_programme.sql"),
    ),
    (
        "0004_cosignatures",
        include_str!("../../../migrations/postgres/0004_cosignatures.sql"),
    ),
    (
        "0005_web_sessions",
        include_str!("../../../migrations/postgres/0005_web_sessions.sql"),
    ),
    (
        "0006_postings_running",
        include_str!("../../../migrations/postgres/0006_postings_running.sql"),
    ),
    (
        "0007_projection_guard",
        include_str!("../../../migrations/postgres/0007_projection_guard.sql"),
    ),
    (
        "0008_programme_projections",
        include_str!("../../../migrations/postgres/0008_programme_projections.sql"),
    ),
    (
        "0009_disbursement_projections",
        include_str!("../../../migrations/postgres/0009_disbursement_projections.sql"),
    ),
    (
        "0010_guard_codes",
        include_str!("../../../migrations/postgres/0010_guard_codes.sql"),
    ),
    (
        "0011_registry_projections",
        include_str!("../../../migrations/postgres/0011_registry_projections.sql"),
    ),
    (
        "0013_state_lookups",
        include_str!("../../../migrations/postgres/0013_state_lookups.sql"),
    ),
    (
        "0014_accounting_dates",
        include_str!("../../../migrations/postgres/0014_accounting_dates.sql"),
    ),
];

/// The advisory lock key of the chain head ("tranche" in ASCII, as a number).
const CHAIN_HEAD_LOCK: i64 = 0x0074_7261_6e63_6865;

#[derive(Debug)]
pub(crate) struct PgBackend {
    pool: PgPool,
}

impl PgBackend {
    pub(crate) async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        Ok(PgBackend { pool })
    }
}

impl Backend for PgBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn conn(&self) -> BoxFut<'_, Box<dyn Conn>> {
        Box::pin(async move {
            let c: Box<dyn Conn> =
                Box::new(SqlConn::<Postgres, _>::new(self.pool.acquire().await?));
            Ok(c)
        })
    }

    fn begin_write(&self, arm: bool) -> BoxFut<'_, Box<dyn WriteTx>> {
        Box::pin(async move {
            let mut tx = SqlConn::<Postgres, _>::new(self.pool.begin().await?);
            Query::new("SELECT pg_advisory_xact_lock($1)")
                .bind(CHAIN_HEAD_LOCK)
                .execute(&mut tx)
                .await?;
            if arm {
                // Open the projection guard for this transaction only (`set_config(…, true)`):
                // every other session's edits of a projection are refused.
                Query::new("SELECT set_config('tranche.writer', 'on', true)")
                    .execute(&mut tx)
                    .await?;
            }
            let w: Box<dyn WriteTx> = Box::new(PgWrite(tx));
            Ok(w)
        })
    }

    fn migrations(&self) -> &'static [(&'static str, &'static str)] {
        MIGRATIONS
    }

    fn migrations_table(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    }

    fn migration_applied(&self) -> &'static str {
        "INSERT INTO schema_migrations (version) VALUES ($1)"
    }

    fn clear(&self, tables: &[&str]) -> Vec<String> {
        vec![format!("TRUNCATE {}", tables.join(", "))]
    }

    fn byte_order(&self) -> &'static str {
        r#" COLLATE "C""#
    }
}

struct PgWrite(SqlConn<Postgres, sqlx::Transaction<'static, Postgres>>);

impl Conn for PgWrite {
    fn fetch(&mut self, q: Query) -> BoxFut<'_, Vec<Row>> {
        self.0.fetch(q)
    }
    fn execute(&mut self, q: Query) -> BoxFut<'_, u64> {
        self.0.execute(q)
    }
    fn execute_raw<'a>(&'a mut self, sql: &'a str) -> BoxFut<'a, u64> {
        self.0.execute_raw(sql)
    }
}

impl WriteTx for PgWrite {
    fn commit(self: Box<Self>) -> BoxFut<'static, ()> {
        // The guard's setting ends with the transaction.
        Box::pin(async move { Ok(self.0 .0.commit().await?) })
    }
}

impl Driver for Postgres {
    const ARRAYS: bool = true;

    fn arguments<'q>(args: Vec<Val>) -> <Postgres as sqlx::Database>::Arguments<'q> {
        use sqlx::Arguments;
        let mut out = sqlx::postgres::PgArguments::default();
        for a in args {
            let bound = match a {
                Val::Int(v) => out.add(v),
                Val::Text(v) => out.add(v),
                Val::Bytes(v) => out.add(v),
                Val::Ints(v) => out.add(v),
                Val::Texts(v) => out.add(v),
                Val::Blobs(v) => out.add(v),
            };
            // Owned integers, strings, byte strings and their arrays always encode.
            debug_assert!(bound.is_ok());
        }
        out
    }

    /// A row's values by their column types; every integer width is read as `i64`.
    fn decode(r: &PgRow, names: &Arc<[String]>) -> Result<Row> {
        let mut vals = Vec::with_capacity(names.len());
        for (i, col) in r.columns().iter().enumerate() {
            let null = r.try_get_raw(i)?.is_null();
            let ty = col.type_info().name();
            let v = match ty {
                "INT2" => Val::Int(r.try_get::<Option<i16>, _>(i)?.map(i64::from)),
                "INT4" => Val::Int(r.try_get::<Option<i32>, _>(i)?.map(i64::from)),
                "INT8" => Val::Int(r.try_get(i)?),
                "BOOL" => Val::Int(r.try_get::<Option<bool>, _>(i)?.map(i64::from)),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => Val::Text(r.try_get(i)?),
                "BYTEA" => Val::Bytes(r.try_get(i)?),
                _ if null => Val::Int(None),
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "column {} is of type {other}",
                        names[i]
                    )))
                }
            };
            vals.push(v);
        }
        Ok(Row::new(names.clone(), vals))
    }

    fn rows_affected(done: &sqlx::postgres::PgQueryResult) -> u64 {
        done.rows_affected()
    }

    fn raw<'a>(c: &'a mut sqlx::PgConnection, sql: &'a str) -> BoxFut<'a, u64> {
        let done = sqlx::Executor::execute(c, sqlx::raw_sql(sql));
        Box::pin(async move { Ok(done.await?.rows_affected()) })
    }
}
