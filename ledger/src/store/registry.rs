//! The registry projections (migration 0011): partners and every record of their keys,
//! partner-signed evidence statements, cohorts and their sessions. The rows are written inside
//! the append's transaction and read by the partner, cohort, award and participant views.

use std::collections::HashMap;

use super::backend::{insert, vals, Conn, Query, Row};
use super::projections::{rows, seq_range};
use super::{Result, Store};
use crate::domain::{
    CohortRow, PartnerKeyRow, PartnerRow, ProgrammeRows, SessionRow, StatementRow,
};

/// Rows per multi-row INSERT, well under both backends' bind limits (6 columns at most).
const ROWS_PER_INSERT: usize = 1_000;
/// Session ids looked up per query.
const IDS_PER_QUERY: usize = 500;

const PARTNER: &str = "partner, seq, name";
const PARTNER_KEY: &str = "seq, key_id, partner, action, public_key, replaces";
const STATEMENT: &str = "seq, partner, batch_id, items, key_id, submitted_at";
const COHORT: &str = "cohort, award, partner, seq, body";
const SESSION: &str = "session, cohort, date, seq";

fn partner_row(mut r: Row) -> Result<PartnerRow> {
    Ok(PartnerRow {
        partner: r.text("partner")?,
        seq: r.u64("seq")?,
        name: r.text("name")?,
    })
}

fn partner_key_row(mut r: Row) -> Result<PartnerKeyRow> {
    Ok(PartnerKeyRow {
        seq: r.u64("seq")?,
        key_id: r.text("key_id")?,
        partner: r.text("partner")?,
        action: r.text("action")?,
        public_key: r.opt_text("public_key")?,
        replaces: r.opt_text("replaces")?,
    })
}

fn statement_row(mut r: Row) -> Result<StatementRow> {
    Ok(StatementRow {
        seq: r.u64("seq")?,
        partner: r.text("partner")?,
        batch_id: r.text("batch_id")?,
        items: r.u64("items")?,
        key_id: r.text("key_id")?,
        submitted_at: r.text("submitted_at")?,
    })
}

fn cohort_row(mut r: Row) -> Result<CohortRow> {
    Ok(CohortRow {
        cohort: r.text("cohort")?,
        award: r.text("award")?,
        partner: r.text("partner")?,
        seq: r.u64("seq")?,
        body: r.text("body")?,
    })
}

fn session_row(mut r: Row) -> Result<SessionRow> {
    Ok(SessionRow {
        session: r.text("session")?,
        cohort: r.text("cohort")?,
        date: r.text("date")?,
        seq: r.u64("seq")?,
    })
}

/// Writes the registry rows of an append (inside its transaction).
pub(crate) async fn write(c: &mut dyn Conn, p: &ProgrammeRows) -> Result<()> {
    let n = ROWS_PER_INSERT;
    insert(c, &format!("partners ({PARTNER})"), &p.partners, n, |r| {
        vals![r.partner.as_str(), r.seq, r.name.as_str()]
    })
    .await?;
    let keys = format!("partner_keys ({PARTNER_KEY})");
    insert(c, &keys, &p.partner_keys, n, |r| {
        vals![
            r.seq,
            r.key_id.as_str(),
            r.partner.as_str(),
            r.action.as_str(),
            &r.public_key,
            &r.replaces,
        ]
    })
    .await?;
    let statements = format!("evidence_statements ({STATEMENT})");
    insert(c, &statements, &p.statements, n, |r| {
        vals![
            r.seq,
            r.partner.as_str(),
            r.batch_id.as_str(),
            r.items,
            r.key_id.as_str(),
            r.submitted_at.as_str(),
        ]
    })
    .await?;
    insert(c, &format!("cohorts ({COHORT})"), &p.cohorts, n, |r| {
        vals![
            r.cohort.as_str(),
            r.award.as_str(),
            r.partner.as_str(),
            r.seq,
            r.body.as_str(),
        ]
    })
    .await?;
    insert(c, &format!("sessions ({SESSION})"), &p.sessions, n, |r| {
        vals![
            r.session.as_str(),
            r.cohort.as_str(),
            r.date.as_str(),
            r.seq
        ]
    })
    .await
}

/// The registry rows made by the records of `[from, to)`, into `out`.
pub(crate) async fn rows_in(
    c: &mut dyn Conn,
    from: u64,
    to: u64,
    out: &mut ProgrammeRows,
) -> Result<()> {
    let range = |cols: &str, table: &str| seq_range(cols, table, from, to, "seq");
    out.partners = rows(c, range(PARTNER, "partners"), partner_row).await?;
    out.partner_keys = rows(c, range(PARTNER_KEY, "partner_keys"), partner_key_row).await?;
    out.statements = rows(c, range(STATEMENT, "evidence_statements"), statement_row).await?;
    out.cohorts = rows(c, range(COHORT, "cohorts"), cohort_row).await?;
    out.sessions = rows(c, range(SESSION, "sessions"), session_row).await?;
    Ok(())
}

impl Store {
    /// Every partner, in id order.
    pub async fn partner_rows(&self) -> Result<Vec<PartnerRow>> {
        let q = Query::new(format!("SELECT {PARTNER} FROM partners ORDER BY partner"));
        rows(&mut *self.db.conn().await?, q, partner_row).await
    }

    /// Every record of a partner's keys, oldest first.
    pub async fn partner_key_rows(&self, partner: &str) -> Result<Vec<PartnerKeyRow>> {
        let q = Query::new(format!(
            "SELECT {PARTNER_KEY} FROM partner_keys WHERE partner = $1 ORDER BY seq"
        ));
        rows(
            &mut *self.db.conn().await?,
            q.bind(partner),
            partner_key_row,
        )
        .await
    }

    /// The newest `limit` evidence statements (of one partner, or all), newest first, and how
    /// many there are in all.
    pub async fn statement_rows(
        &self,
        partner: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<StatementRow>, u64)> {
        let c = &mut *self.db.conn().await?;
        let (page, count) = match partner {
            Some(p) => (
                Query::new(format!(
                    "SELECT {STATEMENT} FROM evidence_statements WHERE partner = $1 \
                     ORDER BY seq DESC LIMIT $2"
                ))
                .bind(p)
                .bind(limit),
                Query::new("SELECT COUNT(*) FROM evidence_statements WHERE partner = $1").bind(p),
            ),
            None => (
                Query::new(format!(
                    "SELECT {STATEMENT} FROM evidence_statements ORDER BY seq DESC LIMIT $1"
                ))
                .bind(limit),
                Query::new("SELECT COUNT(*) FROM evidence_statements"),
            ),
        };
        let page = rows(c, page, statement_row).await?;
        let count = count.fetch_int(c).await?.unwrap_or(0);
        Ok((page, super::to_u64(count, "statement count")?))
    }

    /// Cohorts, in id order, of one award and/or one partner (or all).
    pub async fn cohort_rows(
        &self,
        award: Option<&str>,
        partner: Option<&str>,
    ) -> Result<Vec<CohortRow>> {
        let mut q = Query::new(format!("SELECT {COHORT} FROM cohorts WHERE 1 = 1"));
        if let Some(a) = award {
            q.push(" AND award = ").push_bind(a);
        }
        if let Some(p) = partner {
            q.push(" AND partner = ").push_bind(p);
        }
        q.push(" ORDER BY cohort");
        rows(&mut *self.db.conn().await?, q, cohort_row).await
    }

    /// The cohorts of an award, counted.
    pub async fn cohort_count(&self, award: &str) -> Result<u64> {
        let n = Query::new("SELECT COUNT(*) FROM cohorts WHERE award = $1")
            .bind(award)
            .fetch_int(&mut *self.db.conn().await?)
            .await?
            .unwrap_or(0);
        super::to_u64(n, "cohort count")
    }

    /// The sessions of a cohort, by date.
    pub async fn session_rows(&self, cohort: &str) -> Result<Vec<SessionRow>> {
        let q = Query::new(format!(
            "SELECT {SESSION} FROM sessions WHERE cohort = $1 ORDER BY date, session"
        ));
        rows(&mut *self.db.conn().await?, q.bind(cohort), session_row).await
    }

    /// The dates of these sessions (those that exist), by session id.
    pub async fn session_dates(&self, sessions: &[String]) -> Result<HashMap<String, String>> {
        let c = &mut *self.db.conn().await?;
        let mut out = HashMap::with_capacity(sessions.len());
        for chunk in sessions.chunks(IDS_PER_QUERY) {
            let mut q = Query::new("SELECT session, date FROM sessions WHERE session");
            q.push_in(c.arrays(), chunk);
            for mut r in q.fetch_all(c).await? {
                out.insert(r.text("session")?, r.text("date")?);
            }
        }
        Ok(out)
    }
}
