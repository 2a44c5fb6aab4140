//! The disbursement projections (migration 0009) on both backends: award settings, batches and
//! their events, payments and their events, bank imports and their parts. The SQL is the same
//! on SQLite and PostgreSQL (`$n` placeholders, which both accept), so one macro writes the
//! methods for each store: the rows are written inside the append's transaction, and read by
//! the views of batches, payments, traces and imports.

use crate::domain::PaymentRow;

/// Rows per multi-row INSERT, well under both backends' bind limits (11 columns at most).
pub(super) const ROWS_PER_INSERT: usize = 500;

/// Payment counts and sums per state (or per event, for an import).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateTotal {
    pub state: String,
    pub count: u64,
    pub amount_minor: i64,
}

/// A payment with the state its latest event left it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentNow {
    pub row: PaymentRow,
    pub state: String,
}

pub(super) const SETTINGS: &str = "award, seq, dual_approval_above_minor, body";
pub(super) const BATCH: &str = "batch, award, currency, preparer, seq, filter";
pub(super) const BATCH_EVENT: &str = "seq, batch, award, event, actor, status, total_minor, approvals_required, digest, reason, detail";
pub(super) const PAYMENT: &str =
    "e2e, batch, idx, award, payee, payable, amount_minor, part, seq, items, reissues";
pub(super) const PAYMENT_EVENT: &str = "e2e, n, seq, event, state, reason";
pub(super) const IMPORT: &str = "sha256, award, format, seq, body";
pub(super) const IMPORT_PART: &str = "seq, sha256, part, outcomes, exceptions";
/// A payment's state: its latest event's.
pub(super) const STATE_OF_P: &str =
    "(SELECT e.state FROM payment_events e WHERE e.e2e = p.e2e ORDER BY e.n DESC LIMIT 1)";

pub(crate) fn small(v: i64, what: &str) -> crate::store::Result<u32> {
    u32::try_from(v)
        .map_err(|_| crate::store::StoreError::Corrupt(format!("{what} out of range: {v}")))
}

macro_rules! row_readers {
    ($row:ty) => {
        fn settings_row(r: &$row) -> crate::store::Result<SettingsRow> {
            Ok(SettingsRow {
                award: r.try_get("award")?,
                seq: crate::store::to_u64(r.try_get("seq")?, "seq")?,
                dual_approval_above_minor: r.try_get("dual_approval_above_minor")?,
                body: r.try_get("body")?,
            })
        }

        fn batch_row(r: &$row) -> crate::store::Result<BatchRow> {
            Ok(BatchRow {
                batch: r.try_get("batch")?,
                award: r.try_get("award")?,
                currency: r.try_get("currency")?,
                preparer: r.try_get("preparer")?,
                seq: crate::store::to_u64(r.try_get("seq")?, "seq")?,
                filter: r.try_get("filter")?,
            })
        }

        fn batch_event_row(r: &$row) -> crate::store::Result<BatchEventRow> {
            Ok(BatchEventRow {
                seq: crate::store::to_u64(r.try_get("seq")?, "seq")?,
                batch: r.try_get("batch")?,
                award: r.try_get("award")?,
                event: r.try_get("event")?,
                actor: r.try_get("actor")?,
                status: r.try_get("status")?,
                total_minor: r.try_get("total_minor")?,
                approvals_required: crate::store::disbursement::small(
                    r.try_get("approvals_required")?,
                    "approvals",
                )?,
                digest: r.try_get("digest")?,
                reason: r.try_get("reason")?,
                detail: r.try_get("detail")?,
            })
        }

        fn payment_row(r: &$row) -> crate::store::Result<PaymentRow> {
            Ok(PaymentRow {
                e2e: r.try_get("e2e")?,
                batch: r.try_get("batch")?,
                idx: crate::store::disbursement::small(r.try_get("idx")?, "payment idx")?,
                award: r.try_get("award")?,
                payee: r.try_get("payee")?,
                payable: r.try_get("payable")?,
                amount_minor: r.try_get("amount_minor")?,
                part: crate::store::disbursement::small(r.try_get("part")?, "part")?,
                seq: crate::store::to_u64(r.try_get("seq")?, "seq")?,
                items: r.try_get("items")?,
                reissues: r.try_get("reissues")?,
            })
        }

        fn payment_event_row(r: &$row) -> crate::store::Result<PaymentEventRow> {
            Ok(PaymentEventRow {
                e2e: r.try_get("e2e")?,
                n: crate::store::disbursement::small(r.try_get("n")?, "event n")?,
                seq: crate::store::to_u64(r.try_get("seq")?, "seq")?,
                event: r.try_get("event")?,
                state: r.try_get("state")?,
                reason: r.try_get("reason")?,
            })
        }

        fn import_row(r: &$row) -> crate::store::Result<ImportRow> {
            Ok(ImportRow {
                sha256: r.try_get("sha256")?,
                award: r.try_get("award")?,
                format: r.try_get("format")?,
                seq: crate::store::to_u64(r.try_get("seq")?, "seq")?,
                body: r.try_get("body")?,
            })
        }

        fn import_part_row(r: &$row) -> crate::store::Result<ImportPartRow> {
            Ok(ImportPartRow {
                seq: crate::store::to_u64(r.try_get("seq")?, "seq")?,
                sha256: r.try_get("sha256")?,
                part: crate::store::disbursement::small(r.try_get("part")?, "part")?,
                outcomes: crate::store::to_u64(r.try_get("outcomes")?, "outcomes")?,
                exceptions: r.try_get("exceptions")?,
            })
        }

        fn state_total(r: &$row) -> crate::store::Result<StateTotal> {
            Ok(StateTotal {
                state: r.try_get("state")?,
                count: crate::store::to_u64(r.try_get("n")?, "count")?,
                amount_minor: r.try_get("amount")?,
            })
        }
    };
}

/// The methods of one store over the disbursement tables; `$db` is the sqlx database.
macro_rules! disbursement_store {
    ($store:ty, $db:ty, $conn:ty, $row:ty) => {
        mod disbursement_impl {
            use sqlx::{QueryBuilder, Row};

            use crate::domain::*;
            use crate::store::disbursement::*;
            use crate::store::{to_i64, Result};

            $crate::store::disbursement::row_readers!($row);

            /// Writes the disbursement rows of an append (inside its transaction).
            pub(crate) async fn write(conn: &mut $conn, p: &ProgrammeRows) -> Result<()> {
                for chunk in p.settings.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "INSERT INTO award_settings ({SETTINGS}) "
                    ));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.award.clone())
                            .push_bind(to_i64(r.seq))
                            .push_bind(r.dual_approval_above_minor)
                            .push_bind(r.body.clone());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in p.batches.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::<$db>::new(format!("INSERT INTO batches ({BATCH}) "));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.batch.clone())
                            .push_bind(r.award.clone())
                            .push_bind(r.currency.clone())
                            .push_bind(r.preparer.clone())
                            .push_bind(to_i64(r.seq))
                            .push_bind(r.filter.clone());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in p.batch_events.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "INSERT INTO batch_events ({BATCH_EVENT}) "
                    ));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(to_i64(r.seq))
                            .push_bind(r.batch.clone())
                            .push_bind(r.award.clone())
                            .push_bind(r.event.clone())
                            .push_bind(r.actor.clone())
                            .push_bind(r.status.clone())
                            .push_bind(r.total_minor)
                            .push_bind(i64::from(r.approvals_required))
                            .push_bind(r.digest.clone())
                            .push_bind(r.reason.clone())
                            .push_bind(r.detail.clone());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in p.payments.chunks(ROWS_PER_INSERT) {
                    let mut q =
                        QueryBuilder::<$db>::new(format!("INSERT INTO payments ({PAYMENT}) "));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.e2e.clone())
                            .push_bind(r.batch.clone())
                            .push_bind(i64::from(r.idx))
                            .push_bind(r.award.clone())
                            .push_bind(r.payee.clone())
                            .push_bind(r.payable.clone())
                            .push_bind(r.amount_minor)
                            .push_bind(i64::from(r.part))
                            .push_bind(to_i64(r.seq))
                            .push_bind(r.items.clone())
                            .push_bind(r.reissues.clone());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in p.payment_events.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "INSERT INTO payment_events ({PAYMENT_EVENT}) "
                    ));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.e2e.clone())
                            .push_bind(i64::from(r.n))
                            .push_bind(to_i64(r.seq))
                            .push_bind(r.event.clone())
                            .push_bind(r.state.clone())
                            .push_bind(r.reason.clone());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in p.imports.chunks(ROWS_PER_INSERT) {
                    let mut q =
                        QueryBuilder::<$db>::new(format!("INSERT INTO bank_imports ({IMPORT}) "));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.sha256.clone())
                            .push_bind(r.award.clone())
                            .push_bind(r.format.clone())
                            .push_bind(to_i64(r.seq))
                            .push_bind(r.body.clone());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in p.import_parts.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "INSERT INTO bank_import_parts ({IMPORT_PART}) "
                    ));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(to_i64(r.seq))
                            .push_bind(r.sha256.clone())
                            .push_bind(i64::from(r.part))
                            .push_bind(to_i64(r.outcomes))
                            .push_bind(r.exceptions.clone());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            impl $store {
                /// The disbursement rows made by the records of `[from, to)`, into `out`.
                pub(crate) async fn disbursement_rows(
                    &self,
                    from: u64,
                    to: u64,
                    out: &mut ProgrammeRows,
                ) -> Result<()> {
                    let (from, to) = (to_i64(from), to_i64(to));
                    let range = "WHERE seq >= $1 AND seq < $2 ORDER BY seq";
                    macro_rules! load {
                        ($cols:expr, $table:literal, $f:ident, $field:ident) => {
                            for r in sqlx::query(&format!(
                                "SELECT {} FROM {} {range}",
                                $cols, $table
                            ))
                            .bind(from)
                            .bind(to)
                            .fetch_all(&self.pool)
                            .await?
                            {
                                out.$field.push($f(&r)?);
                            }
                        };
                    }
                    load!(SETTINGS, "award_settings", settings_row, settings);
                    load!(BATCH, "batches", batch_row, batches);
                    load!(BATCH_EVENT, "batch_events", batch_event_row, batch_events);
                    load!(PAYMENT, "payments", payment_row, payments);
                    load!(PAYMENT_EVENT, "payment_events", payment_event_row, payment_events);
                    load!(IMPORT, "bank_imports", import_row, imports);
                    load!(IMPORT_PART, "bank_import_parts", import_part_row, import_parts);
                    Ok(())
                }

                /// The award's disbursement settings in force (the latest recorded).
                pub async fn settings_row(&self, award: &str) -> Result<Option<SettingsRow>> {
                    sqlx::query(&format!(
                        "SELECT {SETTINGS} FROM award_settings WHERE award = $1 ORDER BY seq DESC LIMIT 1"
                    ))
                    .bind(award)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(settings_row)
                    .transpose()
                }

                /// One batch's header and every record of its life, oldest first.
                pub async fn batch_rows(
                    &self,
                    batch: &str,
                ) -> Result<Option<(BatchRow, Vec<BatchEventRow>)>> {
                    let Some(header) =
                        sqlx::query(&format!("SELECT {BATCH} FROM batches WHERE batch = $1"))
                            .bind(batch)
                            .fetch_optional(&self.pool)
                            .await?
                    else {
                        return Ok(None);
                    };
                    let events = sqlx::query(&format!(
                        "SELECT {BATCH_EVENT} FROM batch_events WHERE batch = $1 ORDER BY seq"
                    ))
                    .bind(batch)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(batch_event_row)
                    .collect::<Result<Vec<_>>>()?;
                    Ok(Some((batch_row(&header)?, events)))
                }

                /// Every batch (of one award, or all), newest first.
                pub async fn batch_list(&self, award: Option<&str>) -> Result<Vec<BatchRow>> {
                    let rows = match award {
                        Some(a) => {
                            sqlx::query(&format!(
                                "SELECT {BATCH} FROM batches WHERE award = $1 ORDER BY seq DESC"
                            ))
                            .bind(a)
                            .fetch_all(&self.pool)
                            .await?
                        }
                        None => {
                            sqlx::query(&format!("SELECT {BATCH} FROM batches ORDER BY seq DESC"))
                                .fetch_all(&self.pool)
                                .await?
                        }
                    };
                    rows.iter().map(batch_row).collect()
                }

                /// A page of a batch's payments in batch order, each with its state.
                pub async fn batch_payment_rows(
                    &self,
                    batch: &str,
                    offset: u64,
                    limit: u64,
                ) -> Result<Vec<PaymentNow>> {
                    let cols = PAYMENT
                        .split(", ")
                        .map(|c| format!("p.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    sqlx::query(&format!(
                        "SELECT {cols}, {STATE_OF_P} AS state FROM payments p \
                         WHERE p.batch = $1 AND p.idx >= $2 ORDER BY p.idx LIMIT $3"
                    ))
                    .bind(batch)
                    .bind(to_i64(offset))
                    .bind(to_i64(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(PaymentNow {
                            row: payment_row(r)?,
                            state: r.try_get("state")?,
                        })
                    })
                    .collect()
                }

                /// A batch's payments counted and summed per state.
                pub async fn batch_states(&self, batch: &str) -> Result<Vec<StateTotal>> {
                    sqlx::query(&format!(
                        "SELECT s.state AS state, COUNT(*) AS n, CAST(COALESCE(SUM(s.amount_minor), 0) AS BIGINT) AS amount \
                         FROM (SELECT p.amount_minor, {STATE_OF_P} AS state FROM payments p WHERE p.batch = $1) s \
                         GROUP BY s.state ORDER BY s.state"
                    ))
                    .bind(batch)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(state_total)
                    .collect()
                }

                /// The totals of the award's batches approved and not yet sent.
                pub async fn committed_minor(&self, award: &str) -> Result<i64> {
                    let n: Option<i64> = sqlx::query_scalar(
                        "SELECT CAST(SUM(e.total_minor) AS BIGINT) FROM batches b JOIN batch_events e \
                         ON e.batch = b.batch AND e.seq = (SELECT MAX(x.seq) FROM batch_events x WHERE x.batch = b.batch) \
                         WHERE b.award = $1 AND e.status = 'approved'",
                    )
                    .bind(award)
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(n.unwrap_or(0))
                }

                /// One payment, its state, and every event of its life.
                pub async fn payment_rows(
                    &self,
                    e2e: &str,
                ) -> Result<Option<(PaymentRow, Vec<PaymentEventRow>)>> {
                    let Some(p) =
                        sqlx::query(&format!("SELECT {PAYMENT} FROM payments WHERE e2e = $1"))
                            .bind(e2e)
                            .fetch_optional(&self.pool)
                            .await?
                    else {
                        return Ok(None);
                    };
                    let events = sqlx::query(&format!(
                        "SELECT {PAYMENT_EVENT} FROM payment_events WHERE e2e = $1 ORDER BY n"
                    ))
                    .bind(e2e)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(payment_event_row)
                    .collect::<Result<Vec<_>>>()?;
                    Ok(Some((payment_row(&p)?, events)))
                }

                /// Bank imports, newest first (all, or the one with this SHA-256).
                pub async fn import_rows(&self, sha256: Option<&str>) -> Result<Vec<ImportRow>> {
                    let rows = match sha256 {
                        Some(s) => {
                            sqlx::query(&format!(
                                "SELECT {IMPORT} FROM bank_imports WHERE sha256 = $1"
                            ))
                            .bind(s)
                            .fetch_all(&self.pool)
                            .await?
                        }
                        None => {
                            sqlx::query(&format!(
                                "SELECT {IMPORT} FROM bank_imports ORDER BY seq DESC"
                            ))
                            .fetch_all(&self.pool)
                            .await?
                        }
                    };
                    rows.iter().map(import_row).collect()
                }

                /// The parts of an import, in order, and the payment events they applied
                /// counted and summed per event.
                pub async fn import_parts(
                    &self,
                    sha256: &str,
                ) -> Result<(Vec<ImportPartRow>, Vec<StateTotal>)> {
                    let parts = sqlx::query(&format!(
                        "SELECT {IMPORT_PART} FROM bank_import_parts WHERE sha256 = $1 ORDER BY part"
                    ))
                    .bind(sha256)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(import_part_row)
                    .collect::<Result<Vec<_>>>()?;
                    let applied = sqlx::query(
                        "SELECT e.event AS state, COUNT(*) AS n, CAST(COALESCE(SUM(p.amount_minor), 0) AS BIGINT) AS amount \
                         FROM bank_import_parts i JOIN payment_events e ON e.seq = i.seq \
                         JOIN payments p ON p.e2e = e.e2e WHERE i.sha256 = $1 GROUP BY e.event ORDER BY e.event",
                    )
                    .bind(sha256)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(state_total)
                    .collect::<Result<Vec<_>>>()?;
                    Ok((parts, applied))
                }
            }
        }
        pub(super) use disbursement_impl::write as write_disbursement;
    };
}

pub(crate) use disbursement_store;
pub(crate) use row_readers;
