//! What a database error means to the ledger, read from its code: the SQLSTATE on PostgreSQL,
//! the extended result code on SQLite. Never from its message: a message is free text, reworded
//! between server versions and translated under another `lc_messages`, and the table, column or
//! value it quotes can hold any words (a table named "append-only" is not a guard).
//!
//! The guards raise codes of their own so that nothing else is mistaken for them: on PostgreSQL
//! the trigger functions raise `TR001` and `TR002` (migration 0010; class `TR` is not used by
//! PostgreSQL or the SQL standard), and on SQLite every trigger of the schema that raises is a
//! guard, so `RAISE(ABORT, …)`'s `SQLITE_CONSTRAINT_TRIGGER` is enough.

use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;

/// PostgreSQL: `UPDATE`, `DELETE` or `TRUNCATE` of an append-only table (`journal`,
/// `merkle_nodes`, `checkpoints`, `cosignatures`, `projection_digests`).
pub const SQLSTATE_APPEND_ONLY: &str = "TR001";
/// PostgreSQL: a projection written by someone other than the ledger's own append or rebuild.
pub const SQLSTATE_PROJECTION_GUARD: &str = "TR002";
/// PostgreSQL `unique_violation` (a unique index or primary key).
const SQLSTATE_UNIQUE_VIOLATION: &str = "23505";

/// SQLite `SQLITE_CONSTRAINT_TRIGGER`: a trigger's `RAISE(ABORT, …)`.
const SQLITE_CONSTRAINT_TRIGGER: &str = "1811";
/// SQLite `SQLITE_CONSTRAINT_PRIMARYKEY`.
const SQLITE_CONSTRAINT_PRIMARYKEY: &str = "1555";
/// SQLite `SQLITE_CONSTRAINT_UNIQUE`.
const SQLITE_CONSTRAINT_UNIQUE: &str = "2067";

/// The refusals the ledger acts on; every other database error is a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbRefusal {
    /// A guard trigger refused an edit of history or of a projection.
    Guard,
    /// A row with the same unique key (or primary key) exists.
    Unique,
}

/// The refusal `db` is, by its code, or `None` when it is not one the ledger knows.
pub fn refusal(db: &(dyn DatabaseError + 'static)) -> Option<DbRefusal> {
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        return match pg.code() {
            SQLSTATE_APPEND_ONLY | SQLSTATE_PROJECTION_GUARD => Some(DbRefusal::Guard),
            SQLSTATE_UNIQUE_VIOLATION => Some(DbRefusal::Unique),
            _ => None,
        };
    }
    if db.try_downcast_ref::<SqliteError>().is_some() {
        return match db.code().as_deref() {
            Some(SQLITE_CONSTRAINT_TRIGGER) => Some(DbRefusal::Guard),
            Some(SQLITE_CONSTRAINT_PRIMARYKEY | SQLITE_CONSTRAINT_UNIQUE) => {
                Some(DbRefusal::Unique)
            }
            _ => None,
        };
    }
    None
}

/// Whether `e` is a database refusal of kind `kind`.
pub fn is(e: &sqlx::Error, kind: DbRefusal) -> bool {
    match e {
        sqlx::Error::Database(db) => refusal(db.as_ref()) == Some(kind),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    async fn sqlite() -> sqlx::SqlitePool {
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite")
    }

    async fn error_of(pool: &sqlx::SqlitePool, sql: &str) -> sqlx::Error {
        sqlx::raw_sql(sql).execute(pool).await.expect_err(sql)
    }

    #[tokio::test]
    async fn a_trigger_refusal_is_a_guard_whatever_its_message_says() {
        let pool = sqlite().await;
        sqlx::raw_sql(
            "CREATE TABLE kept (x INTEGER PRIMARY KEY, y TEXT UNIQUE, z INTEGER CHECK (z > 0));
             CREATE TRIGGER kept_no_delete BEFORE DELETE ON kept
             BEGIN SELECT RAISE(ABORT, 'nein'); END;
             INSERT INTO kept VALUES (1, 'a', 1);",
        )
        .execute(&pool)
        .await
        .expect("schema");
        let e = error_of(&pool, "DELETE FROM kept").await;
        assert!(is(&e, DbRefusal::Guard), "{e}");
        assert!(matches!(StoreError::from(e), StoreError::Refused(m) if m == "nein"));
    }

    #[tokio::test]
    async fn words_in_a_message_make_no_refusal() {
        let pool = sqlite().await;
        // The error quotes the table's name, and the name holds the guards' own words.
        let e = error_of(
            &pool,
            r#"SELECT * FROM "is append-only, written only by the ledger""#,
        )
        .await;
        assert!(e.to_string().contains("append-only"), "{e}");
        assert_eq!(e.as_database_error().and_then(refusal), None, "{e}");
        assert!(matches!(StoreError::from(e), StoreError::Database(_)));
    }

    #[tokio::test]
    async fn unique_and_primary_keys_are_told_from_other_constraints() {
        let pool = sqlite().await;
        sqlx::raw_sql(
            "CREATE TABLE kept (x INTEGER PRIMARY KEY, y TEXT UNIQUE, z INTEGER CHECK (z > 0));
             INSERT INTO kept VALUES (1, 'a', 1);",
        )
        .execute(&pool)
        .await
        .expect("schema");
        for sql in [
            "INSERT INTO kept VALUES (1, 'b', 1)",
            "INSERT INTO kept VALUES (2, 'a', 1)",
        ] {
            let e = error_of(&pool, sql).await;
            assert!(is(&e, DbRefusal::Unique), "{sql}: {e}");
        }
        let e = error_of(&pool, "INSERT INTO kept VALUES (3, 'c', 0)").await;
        assert_eq!(e.as_database_error().and_then(refusal), None);
    }
}
