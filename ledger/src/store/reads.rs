//! The reads of the journal, its checkpoints and the ledger projections (accounts, balances,
//! transactions, postings with their running totals, digests), once for both backends.

use std::collections::HashMap;

use tranche_audit::merkle::{Hash, NodeId};

use super::append::{self, head_from_row, posting_from_row, record_from_row};
use super::backend::{Query, Row};
use super::projections::rows;
use super::{
    digest, prefix_range, AccountRow, BalanceRow, Result, Store, StoredRecord, TransactionRow,
};
use crate::domain::{PostingRow, SignedCheckpoint};

fn checkpoint_from_row(mut r: Row) -> Result<SignedCheckpoint> {
    Ok(SignedCheckpoint {
        size: r.u64("size")?,
        root: r.hash("root")?,
        note: r.text("note")?,
    })
}

fn account_row(mut r: Row) -> Result<AccountRow> {
    Ok(AccountRow {
        name: r.text("name")?,
        account_type: r.text("type")?,
        description: r.opt_text("description")?,
        opened_seq: r.u64("opened_seq")?,
        closed_seq: r.opt_u64("closed_seq")?,
    })
}

/// One row of the transactions projection.
fn transaction_row(mut r: super::backend::Row) -> Result<TransactionRow> {
    Ok(TransactionRow {
        seq: r.u64("seq")?,
        memo: r.text("memo")?,
        reverses: r.opt_u64("reverses")?,
        reversed_by: r.opt_u64("reversed_by")?,
        accounting_date: r.text("accounting_date")?,
        prior_period: r.opt_text("prior_period")?,
    })
}

impl Store {
    pub async fn tree_size(&self) -> Result<u64> {
        append::tree_size(&mut *self.db.conn().await?).await
    }

    /// Records `[from, from + limit)`, in seq order; `limit` is capped at `MAX_PAGE`.
    pub async fn records(&self, from: u64, limit: u32) -> Result<Vec<StoredRecord>> {
        let limit = limit.min(super::MAX_PAGE);
        append::records(&mut *self.db.conn().await?, from, limit).await
    }

    /// The programme records of `[from, to)`, a page at a time.
    pub(crate) async fn programme_page(&self, from: u64, to: u64) -> Result<Vec<StoredRecord>> {
        append::programme_page(&mut *self.db.conn().await?, from, to).await
    }

    /// Every record of a rare `kind` (key rotations), in seq order.
    pub async fn all_of_kind(&self, kind: &str) -> Result<Vec<StoredRecord>> {
        let q =
            Query::new("SELECT seq, record, leaf_hash FROM journal WHERE kind = $1 ORDER BY seq");
        rows(&mut *self.db.conn().await?, q.bind(kind), record_from_row).await
    }

    /// The last record of `kind` (served by the `journal (kind, seq)` index).
    pub async fn last_of_kind(&self, kind: &str) -> Result<Option<StoredRecord>> {
        Query::new(
            "SELECT seq, record, leaf_hash FROM journal WHERE kind = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(kind)
        .fetch_optional(&mut *self.db.conn().await?)
        .await?
        .map(record_from_row)
        .transpose()
    }

    pub async fn nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
        append::fetch_nodes(&mut *self.db.conn().await?, ids).await
    }

    /// The signed checkpoint at exactly `size`, if one was signed.
    pub async fn checkpoint_at(&self, size: u64) -> Result<Option<SignedCheckpoint>> {
        Query::new("SELECT size, root, note FROM checkpoints WHERE size = $1")
            .bind(size)
            .fetch_optional(&mut *self.db.conn().await?)
            .await?
            .map(checkpoint_from_row)
            .transpose()
    }

    pub async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>> {
        Query::new("SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(&mut *self.db.conn().await?)
            .await?
            .map(checkpoint_from_row)
            .transpose()
    }

    pub async fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>> {
        let q = Query::new("SELECT size, root, note FROM checkpoints ORDER BY size");
        rows(&mut *self.db.conn().await?, q, checkpoint_from_row).await
    }

    /// Keeps a witness's cosignature line for the checkpoint at `size` (the first one kept).
    pub async fn put_cosignature(&self, size: u64, witness: &str, line: &str) -> Result<()> {
        Query::new("INSERT INTO cosignatures (size, witness, line) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(size)
            .bind(witness)
            .bind(line)
            .execute(&mut *self.db.conn().await?)
            .await?;
        Ok(())
    }

    /// The cosignature lines kept for the checkpoint at `size`.
    pub async fn cosignatures(&self, size: u64) -> Result<Vec<String>> {
        let q = Query::new("SELECT line FROM cosignatures WHERE size = $1 ORDER BY witness");
        rows(&mut *self.db.conn().await?, q.bind(size), |mut r| {
            r.text("line")
        })
        .await
    }

    /// The largest checkpoint size with at least one cosignature.
    pub async fn latest_cosigned_size(&self) -> Result<Option<u64>> {
        Query::new("SELECT MAX(size) AS size FROM cosignatures")
            .fetch_int(&mut *self.db.conn().await?)
            .await?
            .map(|s| super::to_u64(s, "size"))
            .transpose()
    }

    /// Per account under `prefix` and side ("debit"/"credit"): (account, side, sum of postings
    /// with seq below `to`, sum of those with seq from `from` to `to`).
    pub async fn posting_totals(
        &self,
        prefix: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<(String, String, i64, i64)>> {
        let (lo, hi) = prefix_range(prefix);
        let c = self.db.byte_order();
        // Per account, currency and side: the running total of its last posting before `to`
        // and before `from` (two index lookups each), never a scan of its postings.
        let q = Query::new(format!(
            "SELECT b.account AS account, s.side AS side,
                    CAST(COALESCE((SELECT p.running_minor FROM postings p
                              WHERE p.account = b.account AND p.currency = b.currency
                                AND p.side = s.side AND p.seq < $1
                              ORDER BY p.seq DESC, p.idx DESC LIMIT 1), 0) AS BIGINT) AS at_to,
                    CAST(COALESCE((SELECT p.running_minor FROM postings p
                              WHERE p.account = b.account AND p.currency = b.currency
                                AND p.side = s.side AND p.seq < $2
                              ORDER BY p.seq DESC, p.idx DESC LIMIT 1), 0) AS BIGINT) AS at_from
             FROM balances b CROSS JOIN (SELECT 'debit' AS side UNION ALL SELECT 'credit') s
             WHERE b.account = $3 OR (b.account{c} >= $4 AND b.account{c} < $5)"
        ))
        .bind(to)
        .bind(from.min(to))
        .bind(prefix)
        .bind(lo)
        .bind(hi);
        let rows = rows(&mut *self.db.conn().await?, q, |mut r| {
            Ok((
                r.text("account")?,
                r.text("side")?,
                r.int("at_to")?,
                r.int("at_from")?,
            ))
        })
        .await?;
        Ok(super::range_totals(rows))
    }

    /// Per account of `prefix` (the account itself and those under it) and side, the total of
    /// the postings before `size` dated up to `end` and the part of it dated from `start`:
    /// (account, side, cumulative, period). What the SF-425 and budget reports sum, by
    /// accounting date.
    pub async fn posting_totals_dated(
        &self,
        prefix: &str,
        start: chrono::NaiveDate,
        end: chrono::NaiveDate,
        size: u64,
    ) -> Result<Vec<(String, String, i64, i64)>> {
        let (lo, hi) = prefix_range(prefix);
        let c = self.db.byte_order();
        let q = Query::new(format!(
            "SELECT account, side,
                    CAST(SUM(amount_minor) AS BIGINT) AS cumulative,
                    CAST(SUM(CASE WHEN accounting_date >= $1 THEN amount_minor ELSE 0 END) AS BIGINT) AS period
             FROM postings
             WHERE accounting_date <= $2 AND seq < $3
               AND (account = $4 OR (account{c} >= $5 AND account{c} < $6))
             GROUP BY account, side ORDER BY account, side"
        ))
        .bind(start.format("%Y-%m-%d").to_string())
        .bind(end.format("%Y-%m-%d").to_string())
        .bind(size)
        .bind(prefix)
        .bind(lo)
        .bind(hi);
        rows(&mut *self.db.conn().await?, q, |mut r| {
            Ok((
                r.text("account")?,
                r.text("side")?,
                r.int("cumulative")?,
                r.int("period")?,
            ))
        })
        .await
    }

    /// The latest accounting date of any transaction written so far (an index lookup).
    pub async fn last_accounting_date(&self) -> Result<Option<chrono::NaiveDate>> {
        let q = Query::new("SELECT MAX(accounting_date) AS d FROM transactions");
        let mut found = rows(&mut *self.db.conn().await?, q, |mut r| r.opt_text("d")).await?;
        Ok(found
            .pop()
            .flatten()
            .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()))
    }

    /// The late corrections of closed quarters (transactions citing a `prior_period`) dated
    /// from `start` to `end`, before `size`, in journal order.
    pub async fn late_corrections(
        &self,
        start: chrono::NaiveDate,
        end: chrono::NaiveDate,
        size: u64,
    ) -> Result<Vec<TransactionRow>> {
        let q = Query::new(
            "SELECT seq, memo, reverses, reversed_by, accounting_date, prior_period FROM transactions
             WHERE prior_period IS NOT NULL AND accounting_date >= $1 AND accounting_date <= $2
               AND seq < $3 ORDER BY seq",
        )
        .bind(start.format("%Y-%m-%d").to_string())
        .bind(end.format("%Y-%m-%d").to_string())
        .bind(size);
        rows(&mut *self.db.conn().await?, q, transaction_row).await
    }

    /// The stored running total of every posting of a seq range, in order (for rebuild --check).
    pub async fn posting_running(&self, from_seq: u64, to_seq: u64) -> Result<Vec<i64>> {
        let q = Query::new(
            "SELECT running_minor FROM postings WHERE seq >= $1 AND seq < $2 ORDER BY seq, idx",
        );
        let q = q.bind(from_seq).bind(to_seq);
        rows(&mut *self.db.conn().await?, q, |mut r| {
            r.int("running_minor")
        })
        .await
    }

    /// Balances of `prefix` and every account below it (all accounts for "").
    pub async fn balances(&self, prefix: &str) -> Result<Vec<BalanceRow>> {
        let (lo, hi) = prefix_range(prefix);
        let c = self.db.byte_order();
        let q = Query::new(format!(
            "SELECT account, currency, debit_minor, credit_minor FROM balances
             WHERE $1 = '' OR account = $1 OR (account{c} >= $2 AND account{c} < $3)
             ORDER BY account{c}, currency{c}"
        ))
        .bind(prefix)
        .bind(lo)
        .bind(hi);
        rows(&mut *self.db.conn().await?, q, |mut r| {
            Ok(BalanceRow {
                account: r.text("account")?,
                currency: r.text("currency")?,
                debit_minor: r.int("debit_minor")?,
                credit_minor: r.int("credit_minor")?,
            })
        })
        .await
    }

    pub async fn accounts(&self) -> Result<Vec<AccountRow>> {
        let c = self.db.byte_order();
        let q = Query::new(format!(
            "SELECT name, type, description, opened_seq, closed_seq FROM accounts ORDER BY name{c}"
        ));
        rows(&mut *self.db.conn().await?, q, account_row).await
    }

    /// The accounts whose names start with `prefix:`, in name order (an index range, not a
    /// scan).
    pub async fn accounts_under(&self, prefix: &str) -> Result<Vec<AccountRow>> {
        let (lo, hi) = prefix_range(prefix);
        let c = self.db.byte_order();
        let q = Query::new(format!(
            "SELECT name, type, description, opened_seq, closed_seq FROM accounts
             WHERE name{c} >= $1 AND name{c} < $2 ORDER BY name{c}"
        ));
        rows(
            &mut *self.db.conn().await?,
            q.bind(lo).bind(hi),
            account_row,
        )
        .await
    }

    pub async fn transactions(&self, from: u64, limit: u32) -> Result<Vec<TransactionRow>> {
        let q = Query::new(
            "SELECT seq, memo, reverses, reversed_by, accounting_date, prior_period FROM transactions
             WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(from)
        .bind(limit.min(super::MAX_PAGE));
        rows(&mut *self.db.conn().await?, q, transaction_row).await
    }

    pub async fn postings(&self, from_seq: u64, to_seq: u64) -> Result<Vec<PostingRow>> {
        let q = Query::new(
            "SELECT seq, idx, account, currency, side, amount_minor, accounting_date FROM postings
             WHERE seq >= $1 AND seq < $2 ORDER BY seq, idx",
        )
        .bind(from_seq)
        .bind(to_seq);
        rows(&mut *self.db.conn().await?, q, posting_from_row).await
    }

    /// The digest of a posting family kept with the latest checkpoint at or below `size`.
    pub async fn digest_head(&self, family: &str, size: u64) -> Result<Option<digest::Head>> {
        Query::new(
            "SELECT rows, chain, debit, credit FROM projection_digests WHERE family = $1 AND size <= $2
             ORDER BY size DESC LIMIT 1",
        )
        .bind(family)
        .bind(size)
        .fetch_optional(&mut *self.db.conn().await?)
        .await?
        .map(head_from_row)
        .transpose()
    }

    /// The number of postings of a family below `size` (an index range count).
    pub(crate) async fn family_rows(&self, family: &str, size: u64) -> Result<u64> {
        let c = &mut *self.db.conn().await?;
        // Two index ranges of `postings_by_account (account, seq)`: the account itself, and
        // (for a two-segment family) every account under it.
        let mut n = Query::new("SELECT COUNT(*) FROM postings WHERE account = $1 AND seq < $2")
            .bind(family)
            .bind(size)
            .fetch_int(c)
            .await?
            .unwrap_or(0);
        if digest::deep(family) {
            let (lo, hi) = prefix_range(family);
            n += Query::new(
                "SELECT COUNT(*) FROM postings WHERE account >= $1 AND account < $2 AND seq < $3",
            )
            .bind(lo)
            .bind(hi)
            .bind(size)
            .fetch_int(c)
            .await?
            .unwrap_or(0);
        }
        super::to_u64(n, "count")
    }

    /// A round trip to the database (readiness).
    pub async fn ping(&self) -> Result<()> {
        Query::new("SELECT 1")
            .execute(&mut *self.db.conn().await?)
            .await?;
        Ok(())
    }

    /// Runs a statement directly: for tests that prove the database itself refuses edits.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        self.db.conn().await?.execute_raw(sql).await
    }
}
