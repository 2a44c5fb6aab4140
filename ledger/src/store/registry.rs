//! The registry projections (migration 0011) on both backends: partners and every record of
//! their keys, partner-signed evidence statements, cohorts and their sessions. As with the
//! disbursement projections the SQL is the same on SQLite and PostgreSQL (`$n` placeholders), so
//! one macro writes the methods of each store: the rows are written inside the append's
//! transaction and read by the partner, cohort, award and participant views.

/// Rows per multi-row INSERT, well under both backends' bind limits (6 columns at most).
pub(super) const ROWS_PER_INSERT: usize = 1_000;
/// Session ids looked up per query.
pub(super) const IDS_PER_QUERY: usize = 500;

pub(super) const PARTNER: &str = "partner, seq, name";
pub(super) const PARTNER_KEY: &str = "seq, key_id, partner, action, public_key, replaces";
pub(super) const STATEMENT: &str = "seq, partner, batch_id, items, key_id, submitted_at";
pub(super) const COHORT: &str = "cohort, award, partner, seq, body";
pub(super) const SESSION: &str = "session, cohort, date, seq";

macro_rules! registry_store {
    ($store:ty, $db:ty, $conn:ty, $row:ty) => {
        mod registry_impl {
            use std::collections::HashMap;

            use sqlx::{QueryBuilder, Row};

            use crate::domain::{
                CohortRow, PartnerKeyRow, PartnerRow, ProgrammeRows, SessionRow, StatementRow,
            };
            use crate::store::registry::*;
            use crate::store::{to_i64, to_u64, Result};

            fn partner_row(r: &$row) -> Result<PartnerRow> {
                Ok(PartnerRow {
                    partner: r.try_get("partner")?,
                    seq: to_u64(r.try_get("seq")?, "seq")?,
                    name: r.try_get("name")?,
                })
            }

            fn partner_key_row(r: &$row) -> Result<PartnerKeyRow> {
                Ok(PartnerKeyRow {
                    seq: to_u64(r.try_get("seq")?, "seq")?,
                    key_id: r.try_get("key_id")?,
                    partner: r.try_get("partner")?,
                    action: r.try_get("action")?,
                    public_key: r.try_get("public_key")?,
                    replaces: r.try_get("replaces")?,
                })
            }

            fn statement_row(r: &$row) -> Result<StatementRow> {
                Ok(StatementRow {
                    seq: to_u64(r.try_get("seq")?, "seq")?,
                    partner: r.try_get("partner")?,
                    batch_id: r.try_get("batch_id")?,
                    items: to_u64(r.try_get("items")?, "items")?,
                    key_id: r.try_get("key_id")?,
                    submitted_at: r.try_get("submitted_at")?,
                })
            }

            fn cohort_row(r: &$row) -> Result<CohortRow> {
                Ok(CohortRow {
                    cohort: r.try_get("cohort")?,
                    award: r.try_get("award")?,
                    partner: r.try_get("partner")?,
                    seq: to_u64(r.try_get("seq")?, "seq")?,
                    body: r.try_get("body")?,
                })
            }

            fn session_row(r: &$row) -> Result<SessionRow> {
                Ok(SessionRow {
                    session: r.try_get("session")?,
                    cohort: r.try_get("cohort")?,
                    date: r.try_get("date")?,
                    seq: to_u64(r.try_get("seq")?, "seq")?,
                })
            }

            /// Writes the registry rows of an append (inside its transaction).
            pub(crate) async fn write(conn: &mut $conn, p: &ProgrammeRows) -> Result<()> {
                for chunk in p.partners.chunks(ROWS_PER_INSERT) {
                    let mut q =
                        QueryBuilder::<$db>::new(format!("INSERT INTO partners ({PARTNER}) "));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.partner.clone())
                            .push_bind(to_i64(r.seq))
                            .push_bind(r.name.clone());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in p.partner_keys.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "INSERT INTO partner_keys ({PARTNER_KEY}) "
                    ));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(to_i64(r.seq))
                            .push_bind(r.key_id.clone())
                            .push_bind(r.partner.clone())
                            .push_bind(r.action.clone())
                            .push_bind(r.public_key.clone())
                            .push_bind(r.replaces.clone());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in p.statements.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "INSERT INTO evidence_statements ({STATEMENT}) "
                    ));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(to_i64(r.seq))
                            .push_bind(r.partner.clone())
                            .push_bind(r.batch_id.clone())
                            .push_bind(to_i64(r.items))
                            .push_bind(r.key_id.clone())
                            .push_bind(r.submitted_at.clone());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in p.cohorts.chunks(ROWS_PER_INSERT) {
                    let mut q =
                        QueryBuilder::<$db>::new(format!("INSERT INTO cohorts ({COHORT}) "));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.cohort.clone())
                            .push_bind(r.award.clone())
                            .push_bind(r.partner.clone())
                            .push_bind(to_i64(r.seq))
                            .push_bind(r.body.clone());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in p.sessions.chunks(ROWS_PER_INSERT) {
                    let mut q =
                        QueryBuilder::<$db>::new(format!("INSERT INTO sessions ({SESSION}) "));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.session.clone())
                            .push_bind(r.cohort.clone())
                            .push_bind(r.date.clone())
                            .push_bind(to_i64(r.seq));
                    });
                    q.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            impl $store {
                /// The registry rows made by the records of `[from, to)`, into `out`.
                pub(crate) async fn registry_rows(
                    &self,
                    from: u64,
                    to: u64,
                    out: &mut ProgrammeRows,
                ) -> Result<()> {
                    let (from, to) = (to_i64(from), to_i64(to));
                    let range = "WHERE seq >= $1 AND seq < $2 ORDER BY seq";
                    macro_rules! load {
                        ($cols:expr, $table:literal, $f:ident, $field:ident) => {
                            for r in
                                sqlx::query(&format!("SELECT {} FROM {} {range}", $cols, $table))
                                    .bind(from)
                                    .bind(to)
                                    .fetch_all(&self.pool)
                                    .await?
                            {
                                out.$field.push($f(&r)?);
                            }
                        };
                    }
                    load!(PARTNER, "partners", partner_row, partners);
                    load!(PARTNER_KEY, "partner_keys", partner_key_row, partner_keys);
                    load!(STATEMENT, "evidence_statements", statement_row, statements);
                    load!(COHORT, "cohorts", cohort_row, cohorts);
                    load!(SESSION, "sessions", session_row, sessions);
                    Ok(())
                }

                /// Every partner, in id order.
                pub async fn partner_rows(&self) -> Result<Vec<PartnerRow>> {
                    sqlx::query(&format!("SELECT {PARTNER} FROM partners ORDER BY partner"))
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(partner_row)
                        .collect()
                }

                /// Every record of a partner's keys, oldest first.
                pub async fn partner_key_rows(&self, partner: &str) -> Result<Vec<PartnerKeyRow>> {
                    sqlx::query(&format!(
                        "SELECT {PARTNER_KEY} FROM partner_keys WHERE partner = $1 ORDER BY seq"
                    ))
                    .bind(partner)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(partner_key_row)
                    .collect()
                }

                /// The newest `limit` statements (of one partner, or all), newest first, and
                /// how many there are in all.
                pub async fn statement_rows(
                    &self,
                    partner: Option<&str>,
                    limit: u64,
                ) -> Result<(Vec<StatementRow>, u64)> {
                    let (rows, count): (Vec<$row>, i64) = match partner {
                        Some(p) => (
                            sqlx::query(&format!(
                                "SELECT {STATEMENT} FROM evidence_statements WHERE partner = $1 \
                                 ORDER BY seq DESC LIMIT $2"
                            ))
                            .bind(p)
                            .bind(to_i64(limit))
                            .fetch_all(&self.pool)
                            .await?,
                            sqlx::query_scalar(
                                "SELECT COUNT(*) FROM evidence_statements WHERE partner = $1",
                            )
                            .bind(p)
                            .fetch_one(&self.pool)
                            .await?,
                        ),
                        None => (
                            sqlx::query(&format!(
                                "SELECT {STATEMENT} FROM evidence_statements \
                                 ORDER BY seq DESC LIMIT $1"
                            ))
                            .bind(to_i64(limit))
                            .fetch_all(&self.pool)
                            .await?,
                            sqlx::query_scalar("SELECT COUNT(*) FROM evidence_statements")
                                .fetch_one(&self.pool)
                                .await?,
                        ),
                    };
                    let rows = rows.iter().map(statement_row).collect::<Result<Vec<_>>>()?;
                    Ok((rows, to_u64(count, "statement count")?))
                }

                /// Cohorts, in id order, of one award and/or one partner (or all).
                pub async fn cohort_rows(
                    &self,
                    award: Option<&str>,
                    partner: Option<&str>,
                ) -> Result<Vec<CohortRow>> {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "SELECT {COHORT} FROM cohorts WHERE 1 = 1"
                    ));
                    if let Some(a) = award {
                        q.push(" AND award = ").push_bind(a.to_string());
                    }
                    if let Some(p) = partner {
                        q.push(" AND partner = ").push_bind(p.to_string());
                    }
                    q.push(" ORDER BY cohort");
                    q.build()
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(cohort_row)
                        .collect()
                }

                /// The cohorts of an award, counted.
                pub async fn cohort_count(&self, award: &str) -> Result<u64> {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cohorts WHERE award = $1")
                        .bind(award)
                        .fetch_one(&self.pool)
                        .await?;
                    to_u64(n, "cohort count")
                }

                /// The sessions of a cohort, by date.
                pub async fn session_rows(&self, cohort: &str) -> Result<Vec<SessionRow>> {
                    sqlx::query(&format!(
                        "SELECT {SESSION} FROM sessions WHERE cohort = $1 ORDER BY date, session"
                    ))
                    .bind(cohort)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(session_row)
                    .collect()
                }

                /// The dates of these sessions (those that exist).
                pub async fn session_dates(
                    &self,
                    sessions: &[String],
                ) -> Result<HashMap<String, String>> {
                    let mut out = HashMap::with_capacity(sessions.len());
                    for chunk in sessions.chunks(IDS_PER_QUERY) {
                        let mut q = QueryBuilder::<$db>::new(
                            "SELECT session, date FROM sessions WHERE session IN (",
                        );
                        let mut list = q.separated(", ");
                        for s in chunk {
                            list.push_bind(s.clone());
                        }
                        q.push(")");
                        for r in q.build().fetch_all(&self.pool).await? {
                            out.insert(r.try_get("session")?, r.try_get("date")?);
                        }
                    }
                    Ok(out)
                }
            }
        }
        pub(super) use registry_impl::write as write_registry;
    };
}

pub(crate) use registry_store;
