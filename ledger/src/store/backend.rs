//! What a database backend gives the store, and nothing more: connections, a write transaction
//! holding the chain-head lock, migrations, and the few pieces of SQL that differ. Every step of
//! an append, a rebuild and a read is written once over this, in the other modules of `store`.
//!
//! Queries are plain SQL with `$n` placeholders (both SQLite and PostgreSQL take them), bound
//! with a handful of value types (`Val`) and read back into `Row`s by column name. A backend
//! decodes its own column types (PostgreSQL's `SMALLINT` and `INTEGER` are read as `i64`), so
//! the shared code never names a driver type.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::Arc;

use tranche_audit::merkle::Hash;

use super::{to_hash, to_i64, to_u64, Result, StoreError};

/// A boxed future of the store's result: the backends are chosen at run time.
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// A database backend: SQLite or PostgreSQL.
pub(crate) trait Backend: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;

    /// A pooled connection for reads (each statement its own transaction).
    fn conn(&self) -> BoxFut<'_, Box<dyn Conn>>;

    /// A write transaction holding the chain-head lock (`BEGIN IMMEDIATE` on SQLite, an
    /// advisory lock on PostgreSQL), so writers of every process take turns; with `arm`, the
    /// projection guard is open for this transaction alone.
    fn begin_write(&self, arm: bool) -> BoxFut<'_, Box<dyn WriteTx>>;

    /// The migrations of this backend's schema, in order: (version, SQL).
    fn migrations(&self) -> &'static [(&'static str, &'static str)];

    /// Creates `schema_migrations` if missing.
    fn migrations_table(&self) -> &'static str;

    /// Records the migration `$1` as applied.
    fn migration_applied(&self) -> &'static str;

    /// The statements that empty these projection tables inside a write transaction.
    fn clear(&self, tables: &[&str]) -> Vec<String>;

    /// The collation clause that orders and compares text by its bytes, as account ranges
    /// need (empty where that is already the default).
    fn byte_order(&self) -> &'static str;
}

/// A connection or a transaction.
pub(crate) trait Conn: Send {
    fn fetch(&mut self, q: Query) -> BoxFut<'_, Vec<Row>>;
    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, q: Query) -> BoxFut<'_, u64>;
    /// Runs statements without parameters (for tests that prove the database refuses edits).
    fn execute_raw<'a>(&'a mut self, sql: &'a str) -> BoxFut<'a, u64>;
    /// Whether the driver binds arrays ([`Val::Ints`] …), so that many rows go in one
    /// `UNNEST` instead of a `VALUES` list of a placeholder per value.
    fn arrays(&self) -> bool {
        false
    }
}

/// The write transaction of `Backend::begin_write`; dropping it rolls back.
pub(crate) trait WriteTx: Conn {
    /// Closes the projection guard if it was opened and commits.
    fn commit(self: Box<Self>) -> BoxFut<'static, ()>;
}

/// What a backend's sqlx driver must add to run `Query`s: binding `Val`s and decoding a row's
/// values by the backend's own column types.
pub(crate) trait Driver: sqlx::Database {
    /// Whether `arguments` binds the array values.
    const ARRAYS: bool = false;
    /// The query's text as this driver runs it (queries are written with `$n` placeholders).
    fn sql(text: &str) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(text)
    }
    fn arguments<'q>(args: Vec<Val>) -> <Self as sqlx::Database>::Arguments<'q>;
    fn decode(row: &<Self as sqlx::Database>::Row, names: &Arc<[String]>) -> Result<Row>;
    fn rows_affected(done: &<Self as sqlx::Database>::QueryResult) -> u64;
    /// Runs statements without parameters.
    fn raw<'a>(c: &'a mut <Self as sqlx::Database>::Connection, sql: &'a str) -> BoxFut<'a, u64>;
}

/// Binds `Val`s as a driver's arguments.
pub(crate) fn arguments<'q, DB>(args: Vec<Val>) -> <DB as sqlx::Database>::Arguments<'q>
where
    DB: sqlx::Database,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    use sqlx::Arguments;
    let mut out = <DB as sqlx::Database>::Arguments::<'q>::default();
    for a in args {
        let bound = match a {
            Val::Int(v) => out.add(v),
            Val::Text(v) => out.add(v),
            Val::Bytes(v) => out.add(v),
            Val::Ints(_) | Val::Texts(_) | Val::Blobs(_) => {
                unreachable!("arrays are bound only by a driver that has them")
            }
        };
        // Adding an owned integer, string or byte string cannot fail to encode.
        debug_assert!(bound.is_ok());
    }
    out
}

/// A pooled connection or a transaction of a driver.
pub(crate) struct SqlConn<DB, C>(pub(crate) C, PhantomData<fn() -> DB>);

impl<DB, C> SqlConn<DB, C> {
    pub(crate) fn new(c: C) -> Self {
        SqlConn(c, PhantomData)
    }
}

impl<DB, C> Conn for SqlConn<DB, C>
where
    DB: Driver,
    C: DerefMut<Target = <DB as sqlx::Database>::Connection> + Send,
    for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    fn fetch(&mut self, q: Query) -> BoxFut<'_, Vec<Row>> {
        Box::pin(async move {
            let rows = sqlx::query_with::<DB, _>(&DB::sql(&q.sql), DB::arguments(q.args))
                .fetch_all(&mut *self.0)
                .await?;
            let Some(first) = rows.first() else {
                return Ok(Vec::new());
            };
            let names: Arc<[String]> = sqlx::Row::columns(first)
                .iter()
                .map(|c| sqlx::Column::name(c).to_string())
                .collect();
            rows.iter().map(|r| DB::decode(r, &names)).collect()
        })
    }

    fn execute(&mut self, q: Query) -> BoxFut<'_, u64> {
        Box::pin(async move {
            let done = sqlx::query_with::<DB, _>(&DB::sql(&q.sql), DB::arguments(q.args))
                .execute(&mut *self.0)
                .await?;
            Ok(DB::rows_affected(&done))
        })
    }

    fn execute_raw<'a>(&'a mut self, sql: &'a str) -> BoxFut<'a, u64> {
        DB::raw(&mut self.0, sql)
    }

    fn arrays(&self) -> bool {
        DB::ARRAYS
    }
}

/// A bound value. Nulls keep their type: PostgreSQL refuses a multi-row `VALUES` whose column
/// mixes text and a null of another type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    /// A column of integers, for drivers that bind arrays.
    Ints(Vec<Option<i64>>),
    /// A column of texts, for drivers that bind arrays.
    Texts(Vec<Option<String>>),
    /// A column of byte strings, for drivers that bind arrays.
    Blobs(Vec<Option<Vec<u8>>>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(Some(v))
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        Val::Int(v)
    }
}
impl From<u64> for Val {
    fn from(v: u64) -> Self {
        Val::Int(Some(to_i64(v)))
    }
}
impl From<Option<u64>> for Val {
    fn from(v: Option<u64>) -> Self {
        Val::Int(v.map(to_i64))
    }
}
impl From<u32> for Val {
    fn from(v: u32) -> Self {
        Val::Int(Some(i64::from(v)))
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(Some(v.to_string()))
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(Some(v.clone()))
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(Some(v))
    }
}
impl From<Option<&str>> for Val {
    fn from(v: Option<&str>) -> Self {
        Val::Text(v.map(str::to_string))
    }
}
impl From<&Option<String>> for Val {
    fn from(v: &Option<String>) -> Self {
        Val::Text(v.clone())
    }
}
impl From<&[u8]> for Val {
    fn from(v: &[u8]) -> Self {
        Val::Bytes(Some(v.to_vec()))
    }
}
impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Self {
        Val::Bytes(Some(v))
    }
}

/// The values of one row to insert.
macro_rules! vals {
    ($($v:expr),* $(,)?) => { vec![$($crate::store::backend::Val::from($v)),*] };
}
pub(crate) use vals;

/// A statement and its arguments.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub(crate) sql: String,
    pub(crate) args: Vec<Val>,
}

impl Query {
    pub(crate) fn new(sql: impl Into<String>) -> Self {
        Query {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    pub(crate) fn bind(mut self, v: impl Into<Val>) -> Self {
        self.args.push(v.into());
        self
    }

    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends the next placeholder and binds `v` to it.
    pub(crate) fn push_bind(&mut self, v: impl Into<Val>) -> &mut Self {
        self.args.push(v.into());
        self.sql.push_str(&format!("${}", self.args.len()));
        self
    }

    /// Appends `(a, b, …)` with one placeholder per value.
    pub(crate) fn push_list<V: Into<Val>>(&mut self, vs: impl IntoIterator<Item = V>) -> &mut Self {
        self.sql.push('(');
        for (i, v) in vs.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.push_bind(v);
        }
        self.sql.push(')');
        self
    }

    /// Appends a membership test of the values: ` = ANY($n)` of one array where the driver
    /// binds arrays (one statement text whatever the count, so it is prepared once), else
    /// ` IN ($n, …)`.
    pub(crate) fn push_in<V: Into<Val>>(
        &mut self,
        arrays: bool,
        vs: impl IntoIterator<Item = V>,
    ) -> &mut Self {
        if !arrays {
            self.sql.push_str(" IN ");
            return self.push_list(vs);
        }
        let vals: Vec<Val> = vs.into_iter().map(Into::into).collect();
        let column = if matches!(vals.first(), Some(Val::Int(_))) {
            Val::Ints(
                vals.into_iter()
                    .map(|v| match v {
                        Val::Int(i) => i,
                        _ => None,
                    })
                    .collect(),
            )
        } else {
            Val::Texts(
                vals.into_iter()
                    .map(|v| match v {
                        Val::Text(t) => t,
                        _ => None,
                    })
                    .collect(),
            )
        };
        self.sql.push_str(" = ANY(");
        self.push_bind(column);
        self.sql.push(')');
        self
    }

    pub(crate) async fn fetch_all(self, c: &mut dyn Conn) -> Result<Vec<Row>> {
        c.fetch(self).await
    }

    /// The first row, if any.
    pub(crate) async fn fetch_optional(self, c: &mut dyn Conn) -> Result<Option<Row>> {
        Ok(c.fetch(self).await?.into_iter().next())
    }

    pub(crate) async fn fetch_one(self, c: &mut dyn Conn) -> Result<Row> {
        self.fetch_optional(c)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// The integer in the first column of the first row (a count, a size).
    pub(crate) async fn fetch_int(self, c: &mut dyn Conn) -> Result<Option<i64>> {
        let mut row = self.fetch_one(c).await?;
        match row.vals.first_mut().map(std::mem::take) {
            Some(Val::Int(v)) => Ok(v),
            other => Err(StoreError::Corrupt(format!("not an integer: {other:?}"))),
        }
    }

    pub(crate) async fn execute(self, c: &mut dyn Conn) -> Result<u64> {
        c.execute(self).await
    }
}

impl Default for Val {
    fn default() -> Self {
        Val::Int(None)
    }
}

/// Inserts `rows` into `into` (`table (columns)`): with a driver that binds arrays, one
/// `INSERT … SELECT * FROM UNNEST(…)` of a typed array per column (up to 10,000 rows each);
/// otherwise `per_insert` rows per multi-row `VALUES`.
pub(crate) async fn insert<T>(
    c: &mut dyn Conn,
    into: &str,
    rows: &[T],
    per_insert: usize,
    values: impl Fn(&T) -> Vec<Val>,
) -> Result<()> {
    if c.arrays() {
        for chunk in rows.chunks(10_000) {
            let mut columns: Vec<Val> = Vec::new();
            for r in chunk {
                let vals = values(r);
                if columns.is_empty() {
                    columns = vals
                        .iter()
                        .map(|v| match v {
                            Val::Int(_) => Val::Ints(Vec::with_capacity(chunk.len())),
                            Val::Text(_) => Val::Texts(Vec::with_capacity(chunk.len())),
                            _ => Val::Blobs(Vec::with_capacity(chunk.len())),
                        })
                        .collect();
                }
                for (col, v) in columns.iter_mut().zip(vals) {
                    match (col, v) {
                        (Val::Ints(c), Val::Int(v)) => c.push(v),
                        (Val::Texts(c), Val::Text(v)) => c.push(v),
                        (Val::Blobs(c), Val::Bytes(v)) => c.push(v),
                        (col, v) => {
                            return Err(StoreError::Corrupt(format!(
                                "insert into {into}: a column mixes {col:?} and {v:?}"
                            )))
                        }
                    }
                }
            }
            let mut q = Query::new(format!("INSERT INTO {into} SELECT * FROM UNNEST("));
            for (i, col) in columns.into_iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                let ty = match &col {
                    Val::Ints(_) => "::bigint[]",
                    Val::Texts(_) => "::text[]",
                    _ => "::bytea[]",
                };
                q.push_bind(col).push(ty);
            }
            q.push(")");
            q.execute(c).await?;
        }
        return Ok(());
    }
    for chunk in rows.chunks(per_insert) {
        let mut q = Query::new(format!("INSERT INTO {into} VALUES "));
        for (i, r) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_list(values(r));
        }
        q.execute(c).await?;
    }
    Ok(())
}

/// One row read back, its values taken by column name.
#[derive(Debug)]
pub(crate) struct Row {
    names: Arc<[String]>,
    vals: Vec<Val>,
}

impl Row {
    pub(crate) fn new(names: Arc<[String]>, vals: Vec<Val>) -> Self {
        Row { names, vals }
    }

    fn take(&mut self, col: &str) -> Result<Val> {
        let i =
            self.names.iter().position(|n| n == col).ok_or_else(|| {
                StoreError::Database(sqlx::Error::ColumnNotFound(col.to_string()))
            })?;
        Ok(std::mem::take(&mut self.vals[i]))
    }

    fn mismatch(col: &str, v: &Val) -> StoreError {
        StoreError::Corrupt(format!("column {col} holds {v:?}"))
    }

    pub(crate) fn opt_int(&mut self, col: &str) -> Result<Option<i64>> {
        match self.take(col)? {
            Val::Int(v) => Ok(v),
            Val::Text(None) | Val::Bytes(None) => Ok(None),
            v => Err(Self::mismatch(col, &v)),
        }
    }

    pub(crate) fn int(&mut self, col: &str) -> Result<i64> {
        self.opt_int(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {col} is null")))
    }

    pub(crate) fn u64(&mut self, col: &str) -> Result<u64> {
        to_u64(self.int(col)?, col)
    }

    pub(crate) fn opt_u64(&mut self, col: &str) -> Result<Option<u64>> {
        self.opt_int(col)?.map(|v| to_u64(v, col)).transpose()
    }

    pub(crate) fn u32(&mut self, col: &str) -> Result<u32> {
        let v = self.int(col)?;
        u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{col} out of range: {v}")))
    }

    pub(crate) fn opt_text(&mut self, col: &str) -> Result<Option<String>> {
        match self.take(col)? {
            Val::Text(v) => Ok(v),
            Val::Int(None) | Val::Bytes(None) => Ok(None),
            v => Err(Self::mismatch(col, &v)),
        }
    }

    pub(crate) fn text(&mut self, col: &str) -> Result<String> {
        self.opt_text(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {col} is null")))
    }

    pub(crate) fn bytes(&mut self, col: &str) -> Result<Vec<u8>> {
        match self.take(col)? {
            Val::Bytes(Some(v)) => Ok(v),
            v => Err(Self::mismatch(col, &v)),
        }
    }

    pub(crate) fn hash(&mut self, col: &str) -> Result<Hash> {
        to_hash(self.bytes(col)?, col)
    }
}
