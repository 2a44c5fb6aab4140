//! The programme projections (migration 0008): awards, their rule versions and cycle runs,
//! participants, evidence items and entitlements. Written inside the append's transaction and
//! read by the award and participant views and by `rebuild --check`.

use super::backend::{insert, vals, Conn, Query, Row};
use super::{Result, Store};
use crate::domain::{
    AwardRow, CycleRow, EntitlementRow, EvidenceRow, ParticipantRow, PeriodRow, ProgrammeRows,
    RuleRow,
};

/// Rows per multi-row INSERT of the programme projections.
const ROWS_PER_INSERT: usize = 150;

const AWARD: &str = "award, seq, currency, body";
const RULE: &str = "award, rule, version, seq, shape, effective";
const CYCLE: &str = "award, period, seq";
const PERIOD: &str = "seq, award, kind, quarter";
pub(crate) const PARTICIPANT: &str = "participant, award, partner, seq";
pub(crate) const EVIDENCE: &str = "seq, idx, participant, kind, subject, value, date";
pub(crate) const ENTITLEMENT: &str =
    "seq, award, participant, basis, rule, version, amount_minor, reverses, adjusts";

/// Writes the programme projections' rows (insert-only).
pub(crate) async fn write(c: &mut dyn Conn, p: &ProgrammeRows) -> Result<()> {
    if p.is_empty() {
        return Ok(());
    }
    let n = ROWS_PER_INSERT;
    insert(c, &format!("awards ({AWARD})"), &p.awards, n, |r| {
        vals![
            r.award.as_str(),
            r.seq,
            r.currency.as_str(),
            r.body.as_str()
        ]
    })
    .await?;
    insert(c, &format!("award_rules ({RULE})"), &p.rules, n, |r| {
        vals![
            r.award.as_str(),
            r.rule.as_str(),
            r.version,
            r.seq,
            r.shape.as_str(),
            r.effective.as_str(),
        ]
    })
    .await?;
    insert(c, &format!("award_cycles ({CYCLE})"), &p.cycles, n, |r| {
        vals![r.award.as_str(), r.period.as_str(), r.seq]
    })
    .await?;
    insert(
        c,
        &format!("award_periods ({PERIOD})"),
        &p.periods,
        n,
        |r| vals![r.seq, r.award.as_str(), r.kind.as_str(), r.quarter.as_str()],
    )
    .await?;
    let participants = format!("participants ({PARTICIPANT})");
    insert(c, &participants, &p.participants, n, |r| {
        vals![
            r.participant.as_str(),
            r.award.as_str(),
            r.partner.as_str(),
            r.seq,
        ]
    })
    .await?;
    insert(
        c,
        &format!("evidence_items ({EVIDENCE})"),
        &p.evidence,
        n,
        |r| {
            vals![
                r.seq,
                r.idx,
                r.participant.as_str(),
                r.kind.as_str(),
                r.subject.as_str(),
                r.value.as_str(),
                r.date.as_deref(),
            ]
        },
    )
    .await?;
    let entitlements = format!("entitlements ({ENTITLEMENT})");
    insert(c, &entitlements, &p.entitlements, n, |r| {
        vals![
            r.seq,
            r.award.as_str(),
            r.participant.as_str(),
            r.basis.as_str(),
            r.rule.as_str(),
            r.version,
            r.amount_minor,
            r.reverses,
            r.adjusts,
        ]
    })
    .await
}

fn award_row(mut r: Row) -> Result<AwardRow> {
    Ok(AwardRow {
        award: r.text("award")?,
        seq: r.u64("seq")?,
        currency: r.text("currency")?,
        body: r.text("body")?,
    })
}

fn rule_row(mut r: Row) -> Result<RuleRow> {
    Ok(RuleRow {
        award: r.text("award")?,
        rule: r.text("rule")?,
        version: r.u64("version")?,
        seq: r.u64("seq")?,
        shape: r.text("shape")?,
        effective: r.text("effective")?,
    })
}

fn period_row(mut r: Row) -> Result<PeriodRow> {
    Ok(PeriodRow {
        seq: r.u64("seq")?,
        award: r.text("award")?,
        kind: r.text("kind")?,
        quarter: r.text("quarter")?,
    })
}

fn cycle_row(mut r: Row) -> Result<CycleRow> {
    Ok(CycleRow {
        award: r.text("award")?,
        period: r.text("period")?,
        seq: r.u64("seq")?,
    })
}

pub(crate) fn participant_row(mut r: Row) -> Result<ParticipantRow> {
    Ok(ParticipantRow {
        participant: r.text("participant")?,
        award: r.text("award")?,
        partner: r.text("partner")?,
        seq: r.u64("seq")?,
    })
}

pub(crate) fn evidence_row(mut r: Row) -> Result<EvidenceRow> {
    Ok(EvidenceRow {
        seq: r.u64("seq")?,
        idx: r.u32("idx")?,
        participant: r.text("participant")?,
        kind: r.text("kind")?,
        subject: r.text("subject")?,
        value: r.text("value")?,
        date: r.opt_text("date")?,
    })
}

pub(crate) fn entitlement_row(mut r: Row) -> Result<EntitlementRow> {
    Ok(EntitlementRow {
        seq: r.u64("seq")?,
        award: r.text("award")?,
        participant: r.text("participant")?,
        basis: r.text("basis")?,
        rule: r.text("rule")?,
        version: r.u64("version")?,
        amount_minor: r.int("amount_minor")?,
        reverses: r.opt_u64("reverses")?,
        adjusts: r.opt_u64("adjusts")?,
    })
}

/// The rows of `table` made by the records of `[from, to)`, in seq order.
pub(crate) fn seq_range(cols: &str, table: &str, from: u64, to: u64, order: &str) -> Query {
    Query::new(format!(
        "SELECT {cols} FROM {table} WHERE seq >= $1 AND seq < $2 ORDER BY {order}"
    ))
    .bind(from)
    .bind(to)
}

/// Reads every row of `query` with `read`.
pub(crate) async fn rows<T>(
    c: &mut dyn Conn,
    query: Query,
    read: fn(Row) -> Result<T>,
) -> Result<Vec<T>> {
    query.fetch_all(c).await?.into_iter().map(read).collect()
}

impl Store {
    /// The `period.close` and `period.reopen` rows of an award, in journal order.
    pub async fn period_rows(&self, award: &str) -> Result<Vec<PeriodRow>> {
        let c = &mut *self.db.conn().await?;
        let q = Query::new(format!(
            "SELECT {PERIOD} FROM award_periods WHERE award = $1 ORDER BY seq"
        ))
        .bind(award);
        rows(c, q, period_row).await
    }

    /// The programme projections' rows made by the records of `[from, to)` (for `rebuild
    /// --check`), each table in key order.
    pub async fn programme_rows(&self, from: u64, to: u64) -> Result<ProgrammeRows> {
        let c = &mut *self.db.conn().await?;
        let range = |cols: &str, table: &str, order: &str| seq_range(cols, table, from, to, order);
        let mut out = ProgrammeRows {
            awards: rows(c, range(AWARD, "awards", "seq"), award_row).await?,
            rules: rows(c, range(RULE, "award_rules", "seq"), rule_row).await?,
            cycles: rows(c, range(CYCLE, "award_cycles", "seq"), cycle_row).await?,
            periods: rows(c, range(PERIOD, "award_periods", "seq"), period_row).await?,
            participants: rows(
                c,
                range(PARTICIPANT, "participants", "seq"),
                participant_row,
            )
            .await?,
            evidence: rows(
                c,
                range(EVIDENCE, "evidence_items", "seq, idx"),
                evidence_row,
            )
            .await?,
            entitlements: rows(
                c,
                range(ENTITLEMENT, "entitlements", "seq"),
                entitlement_row,
            )
            .await?,
            ..Default::default()
        };
        super::disbursement::rows_in(c, from, to, &mut out).await?;
        super::registry::rows_in(c, from, to, &mut out).await?;
        Ok(out)
    }

    /// Every award, in id order, from the projection (no replay).
    pub async fn award_rows(&self) -> Result<Vec<AwardRow>> {
        let q = Query::new(format!("SELECT {AWARD} FROM awards ORDER BY award"));
        rows(&mut *self.db.conn().await?, q, award_row).await
    }

    /// An award's rule versions (rule, then version) and cycle runs (period, then seq), and
    /// how many participants it has registered, from the projections.
    pub async fn award_detail(&self, award: &str) -> Result<(Vec<RuleRow>, Vec<CycleRow>, u64)> {
        let c = &mut *self.db.conn().await?;
        let q = Query::new(format!(
            "SELECT {RULE} FROM award_rules WHERE award = $1 ORDER BY rule, version"
        ));
        let rules = rows(c, q.bind(award), rule_row).await?;
        let q = Query::new(format!(
            "SELECT {CYCLE} FROM award_cycles WHERE award = $1 ORDER BY period, seq"
        ));
        let cycles = rows(c, q.bind(award), cycle_row).await?;
        let n = Query::new("SELECT COUNT(*) FROM participants WHERE award = $1")
            .bind(award)
            .fetch_int(c)
            .await?
            .unwrap_or(0);
        Ok((rules, cycles, super::to_u64(n, "count")?))
    }

    /// A participant's registration, evidence items (in journal order) and entitlement
    /// transactions (reversals included), from the projections (no replay).
    #[allow(clippy::type_complexity)]
    pub async fn participant_detail(
        &self,
        participant: &str,
    ) -> Result<Option<(ParticipantRow, Vec<EvidenceRow>, Vec<EntitlementRow>)>> {
        let c = &mut *self.db.conn().await?;
        let Some(p) = Query::new(format!(
            "SELECT {PARTICIPANT} FROM participants WHERE participant = $1"
        ))
        .bind(participant)
        .fetch_optional(c)
        .await?
        else {
            return Ok(None);
        };
        let q = Query::new(format!(
            "SELECT {EVIDENCE} FROM evidence_items WHERE participant = $1 ORDER BY seq, idx"
        ));
        let evidence = rows(c, q.bind(participant), evidence_row).await?;
        let q = Query::new(format!(
            "SELECT {ENTITLEMENT} FROM entitlements WHERE participant = $1 ORDER BY seq"
        ));
        let entitlements = rows(c, q.bind(participant), entitlement_row).await?;
        Ok(Some((participant_row(p)?, evidence, entitlements)))
    }
}
