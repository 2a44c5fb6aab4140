//! The disbursement projections (migration 0009): award settings, batches and their events,
//! payments and their events, bank imports and their parts. The rows are written inside the
//! append's transaction, and read by the views of batches, payments, traces and imports.

use super::backend::{insert, vals, Conn, Query, Row};
use super::projections::{rows, seq_range};
use super::{Result, Store};
use crate::domain::{
    BatchEventRow, BatchRow, ImportPartRow, ImportRow, PaymentEventRow, PaymentRow, ProgrammeRows,
    SettingsRow,
};

/// Rows per multi-row INSERT, well under both backends' bind limits (11 columns at most).
const ROWS_PER_INSERT: usize = 500;

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

const SETTINGS: &str = "award, seq, dual_approval_above_minor, body";
const BATCH: &str = "batch, award, currency, preparer, seq, filter";
const BATCH_EVENT: &str = "seq, batch, award, event, actor, status, total_minor, approvals_required, digest, reason, detail";
const PAYMENT: &str =
    "e2e, batch, idx, award, payee, payable, amount_minor, part, seq, items, reissues";
const PAYMENT_EVENT: &str = "e2e, n, seq, event, state, reason";
const IMPORT: &str = "sha256, award, format, seq, body";
const IMPORT_PART: &str = "seq, sha256, part, outcomes, exceptions";
/// A payment's state: its latest event's.
const STATE_OF_P: &str =
    "(SELECT e.state FROM payment_events e WHERE e.e2e = p.e2e ORDER BY e.n DESC LIMIT 1)";

fn settings_row(mut r: Row) -> Result<SettingsRow> {
    Ok(SettingsRow {
        award: r.text("award")?,
        seq: r.u64("seq")?,
        dual_approval_above_minor: r.int("dual_approval_above_minor")?,
        body: r.text("body")?,
    })
}

fn batch_row(mut r: Row) -> Result<BatchRow> {
    Ok(BatchRow {
        batch: r.text("batch")?,
        award: r.text("award")?,
        currency: r.text("currency")?,
        preparer: r.text("preparer")?,
        seq: r.u64("seq")?,
        filter: r.text("filter")?,
    })
}

fn batch_event_row(mut r: Row) -> Result<BatchEventRow> {
    Ok(BatchEventRow {
        seq: r.u64("seq")?,
        batch: r.text("batch")?,
        award: r.text("award")?,
        event: r.text("event")?,
        actor: r.text("actor")?,
        status: r.text("status")?,
        total_minor: r.int("total_minor")?,
        approvals_required: r.u32("approvals_required")?,
        digest: r.opt_text("digest")?,
        reason: r.opt_text("reason")?,
        detail: r.text("detail")?,
    })
}

fn payment_row(r: &mut Row) -> Result<PaymentRow> {
    Ok(PaymentRow {
        e2e: r.text("e2e")?,
        batch: r.text("batch")?,
        idx: r.u32("idx")?,
        award: r.text("award")?,
        payee: r.text("payee")?,
        payable: r.text("payable")?,
        amount_minor: r.int("amount_minor")?,
        part: r.u32("part")?,
        seq: r.u64("seq")?,
        items: r.text("items")?,
        reissues: r.text("reissues")?,
    })
}

fn payment_event_row(mut r: Row) -> Result<PaymentEventRow> {
    Ok(PaymentEventRow {
        e2e: r.text("e2e")?,
        n: r.u32("n")?,
        seq: r.u64("seq")?,
        event: r.text("event")?,
        state: r.text("state")?,
        reason: r.opt_text("reason")?,
    })
}

fn import_row(mut r: Row) -> Result<ImportRow> {
    Ok(ImportRow {
        sha256: r.text("sha256")?,
        award: r.text("award")?,
        format: r.text("format")?,
        seq: r.u64("seq")?,
        body: r.text("body")?,
    })
}

fn import_part_row(mut r: Row) -> Result<ImportPartRow> {
    Ok(ImportPartRow {
        seq: r.u64("seq")?,
        sha256: r.text("sha256")?,
        part: r.u32("part")?,
        outcomes: r.u64("outcomes")?,
        exceptions: r.text("exceptions")?,
    })
}

fn state_total(mut r: Row) -> Result<StateTotal> {
    Ok(StateTotal {
        state: r.text("state")?,
        count: r.u64("n")?,
        amount_minor: r.int("amount")?,
    })
}

/// Writes the disbursement rows of an append (inside its transaction).
pub(crate) async fn write(c: &mut dyn Conn, p: &ProgrammeRows) -> Result<()> {
    let n = ROWS_PER_INSERT;
    insert(
        c,
        &format!("award_settings ({SETTINGS})"),
        &p.settings,
        n,
        |r| {
            vals![
                r.award.as_str(),
                r.seq,
                r.dual_approval_above_minor,
                r.body.as_str()
            ]
        },
    )
    .await?;
    insert(c, &format!("batches ({BATCH})"), &p.batches, n, |r| {
        vals![
            r.batch.as_str(),
            r.award.as_str(),
            r.currency.as_str(),
            r.preparer.as_str(),
            r.seq,
            r.filter.as_str(),
        ]
    })
    .await?;
    let events = format!("batch_events ({BATCH_EVENT})");
    insert(c, &events, &p.batch_events, n, |r| {
        vals![
            r.seq,
            r.batch.as_str(),
            r.award.as_str(),
            r.event.as_str(),
            r.actor.as_str(),
            r.status.as_str(),
            r.total_minor,
            r.approvals_required,
            &r.digest,
            &r.reason,
            r.detail.as_str(),
        ]
    })
    .await?;
    insert(c, &format!("payments ({PAYMENT})"), &p.payments, n, |r| {
        vals![
            r.e2e.as_str(),
            r.batch.as_str(),
            r.idx,
            r.award.as_str(),
            r.payee.as_str(),
            r.payable.as_str(),
            r.amount_minor,
            r.part,
            r.seq,
            r.items.as_str(),
            r.reissues.as_str(),
        ]
    })
    .await?;
    let events = format!("payment_events ({PAYMENT_EVENT})");
    insert(c, &events, &p.payment_events, n, |r| {
        vals![
            r.e2e.as_str(),
            r.n,
            r.seq,
            r.event.as_str(),
            r.state.as_str(),
            &r.reason,
        ]
    })
    .await?;
    insert(c, &format!("bank_imports ({IMPORT})"), &p.imports, n, |r| {
        vals![
            r.sha256.as_str(),
            r.award.as_str(),
            r.format.as_str(),
            r.seq,
            r.body.as_str(),
        ]
    })
    .await?;
    let parts = format!("bank_import_parts ({IMPORT_PART})");
    insert(c, &parts, &p.import_parts, n, |r| {
        vals![
            r.seq,
            r.sha256.as_str(),
            r.part,
            r.outcomes,
            r.exceptions.as_str(),
        ]
    })
    .await
}

/// The disbursement rows made by the records of `[from, to)`, into `out`.
pub(crate) async fn rows_in(
    c: &mut dyn Conn,
    from: u64,
    to: u64,
    out: &mut ProgrammeRows,
) -> Result<()> {
    let range = |cols: &str, table: &str| seq_range(cols, table, from, to, "seq");
    out.settings = rows(c, range(SETTINGS, "award_settings"), settings_row).await?;
    out.batches = rows(c, range(BATCH, "batches"), batch_row).await?;
    out.batch_events = rows(c, range(BATCH_EVENT, "batch_events"), batch_event_row).await?;
    out.payments = rows(c, range(PAYMENT, "payments"), |mut r| payment_row(&mut r)).await?;
    let events = range(PAYMENT_EVENT, "payment_events");
    out.payment_events = rows(c, events, payment_event_row).await?;
    out.imports = rows(c, range(IMPORT, "bank_imports"), import_row).await?;
    let parts = range(IMPORT_PART, "bank_import_parts");
    out.import_parts = rows(c, parts, import_part_row).await?;
    Ok(())
}

impl Store {
    /// The award's disbursement settings in force (the latest recorded).
    pub async fn settings_row(&self, award: &str) -> Result<Option<SettingsRow>> {
        Query::new(format!(
            "SELECT {SETTINGS} FROM award_settings WHERE award = $1 ORDER BY seq DESC LIMIT 1"
        ))
        .bind(award)
        .fetch_optional(&mut *self.db.conn().await?)
        .await?
        .map(settings_row)
        .transpose()
    }

    /// One batch's header and every record of its life, oldest first; `None` if unknown.
    pub async fn batch_rows(&self, batch: &str) -> Result<Option<(BatchRow, Vec<BatchEventRow>)>> {
        let c = &mut *self.db.conn().await?;
        let Some(header) = Query::new(format!("SELECT {BATCH} FROM batches WHERE batch = $1"))
            .bind(batch)
            .fetch_optional(c)
            .await?
        else {
            return Ok(None);
        };
        let q = Query::new(format!(
            "SELECT {BATCH_EVENT} FROM batch_events WHERE batch = $1 ORDER BY seq"
        ));
        let events = rows(c, q.bind(batch), batch_event_row).await?;
        Ok(Some((batch_row(header)?, events)))
    }

    /// Every batch (of one award, or all), newest first.
    pub async fn batch_list(&self, award: Option<&str>) -> Result<Vec<BatchRow>> {
        let q = match award {
            Some(a) => Query::new(format!(
                "SELECT {BATCH} FROM batches WHERE award = $1 ORDER BY seq DESC"
            ))
            .bind(a),
            None => Query::new(format!("SELECT {BATCH} FROM batches ORDER BY seq DESC")),
        };
        rows(&mut *self.db.conn().await?, q, batch_row).await
    }

    /// A page of a batch's payments in batch order, each with the state its latest event
    /// left it in.
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
        let q = Query::new(format!(
            "SELECT {cols}, {STATE_OF_P} AS state FROM payments p \
             WHERE p.batch = $1 AND p.idx >= $2 ORDER BY p.idx LIMIT $3"
        ))
        .bind(batch)
        .bind(offset)
        .bind(limit);
        rows(&mut *self.db.conn().await?, q, |mut r| {
            Ok(PaymentNow {
                row: payment_row(&mut r)?,
                state: r.text("state")?,
            })
        })
        .await
    }

    /// A batch's payments counted and summed per state.
    pub async fn batch_states(&self, batch: &str) -> Result<Vec<StateTotal>> {
        let q = Query::new(format!(
            "SELECT s.state AS state, COUNT(*) AS n, CAST(COALESCE(SUM(s.amount_minor), 0) AS BIGINT) AS amount \
             FROM (SELECT p.amount_minor, {STATE_OF_P} AS state FROM payments p WHERE p.batch = $1) s \
             GROUP BY s.state ORDER BY s.state"
        ));
        rows(&mut *self.db.conn().await?, q.bind(batch), state_total).await
    }

    /// The totals of the award's batches approved and not yet sent, minor units.
    pub async fn committed_minor(&self, award: &str) -> Result<i64> {
        let n = Query::new(
            "SELECT CAST(SUM(e.total_minor) AS BIGINT) FROM batches b JOIN batch_events e \
             ON e.batch = b.batch AND e.seq = (SELECT MAX(x.seq) FROM batch_events x WHERE x.batch = b.batch) \
             WHERE b.award = $1 AND e.status = 'approved'",
        )
        .bind(award)
        .fetch_int(&mut *self.db.conn().await?)
        .await?;
        Ok(n.unwrap_or(0))
    }

    /// One payment and every event of its life; `None` if unknown.
    pub async fn payment_rows(
        &self,
        e2e: &str,
    ) -> Result<Option<(PaymentRow, Vec<PaymentEventRow>)>> {
        let c = &mut *self.db.conn().await?;
        let Some(mut p) = Query::new(format!("SELECT {PAYMENT} FROM payments WHERE e2e = $1"))
            .bind(e2e)
            .fetch_optional(c)
            .await?
        else {
            return Ok(None);
        };
        let q = Query::new(format!(
            "SELECT {PAYMENT_EVENT} FROM payment_events WHERE e2e = $1 ORDER BY n"
        ));
        let events = rows(c, q.bind(e2e), payment_event_row).await?;
        Ok(Some((payment_row(&mut p)?, events)))
    }

    /// Bank imports, newest first (all, or the one with this SHA-256).
    pub async fn import_rows(&self, sha256: Option<&str>) -> Result<Vec<ImportRow>> {
        let q = match sha256 {
            Some(s) => Query::new(format!(
                "SELECT {IMPORT} FROM bank_imports WHERE sha256 = $1"
            ))
            .bind(s),
            None => Query::new(format!(
                "SELECT {IMPORT} FROM bank_imports ORDER BY seq DESC"
            )),
        };
        rows(&mut *self.db.conn().await?, q, import_row).await
    }

    /// The parts of an import, in order, and the payment events they applied counted and
    /// summed per event.
    pub async fn import_parts(
        &self,
        sha256: &str,
    ) -> Result<(Vec<ImportPartRow>, Vec<StateTotal>)> {
        let c = &mut *self.db.conn().await?;
        let q = Query::new(format!(
            "SELECT {IMPORT_PART} FROM bank_import_parts WHERE sha256 = $1 ORDER BY part"
        ));
        let parts = rows(c, q.bind(sha256), import_part_row).await?;
        let q = Query::new(
            "SELECT e.event AS state, COUNT(*) AS n, CAST(COALESCE(SUM(p.amount_minor), 0) AS BIGINT) AS amount \
             FROM bank_import_parts i JOIN payment_events e ON e.seq = i.seq \
             JOIN payments p ON p.e2e = e.e2e WHERE i.sha256 = $1 GROUP BY e.event ORDER BY e.event",
        );
        let applied = rows(c, q.bind(sha256), state_total).await?;
        Ok((parts, applied))
    }
}
