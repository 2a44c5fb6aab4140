//! Digests of the postings projection, kept with the checkpoints (`projection_digests`), so that
//! a report is never signed from postings that were changed behind the ledger's back.
//!
//! Postings are grouped in account families, the first two segments of an account name
//! (`expense:AWARD` holds `expense:AWARD:LINE`); a one-segment account is its own family. Each
//! family has a head: the number of its postings and a SHA-256 chain over them in journal order,
//! running totals included. Every append writes the new head of each family it touches, in the
//! same transaction as its checkpoint; the table is append-only. To check a family, the store
//! reads its postings back in order and recomputes the head (the cost is the family's postings,
//! not the journal's), and compares the last running totals with the balances projection.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::domain::PostingRow;

/// The family of an account: its first two segments.
pub fn family(account: &str) -> &str {
    match account.match_indices(':').nth(1) {
        Some((i, _)) => &account[..i],
        None => account,
    }
}

/// Whether the family's accounts are the family itself and everything under it (`a:b`, `a:b:…`)
/// or the family alone (a one-segment account: `cash:x` is another family).
pub fn deep(family: &str) -> bool {
    family.contains(':')
}

/// The head of a family's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub rows: u64,
    pub chain: [u8; 32],
}

impl Head {
    /// Extends the chain with one posting and its running total.
    pub fn push(&mut self, p: &PostingRow, running: i64) {
        let mut h = Sha256::new();
        h.update(b"tranche posting v1\n");
        h.update(self.chain);
        h.update(p.seq.to_be_bytes());
        h.update(p.idx.to_be_bytes());
        for s in [p.account.as_str(), p.currency.as_str(), p.side.as_str()] {
            h.update((s.len() as u32).to_be_bytes());
            h.update(s.as_bytes());
        }
        h.update(p.amount_minor.to_be_bytes());
        h.update(running.to_be_bytes());
        self.chain = h.finalize().into();
        self.rows += 1;
    }
}

/// The families these postings touch, each with its head before them (from `before`, zero
/// when absent) advanced over them.
pub fn advance(
    before: &BTreeMap<String, Head>,
    postings: &[PostingRow],
    running: &[i64],
) -> BTreeMap<String, Head> {
    let mut heads: BTreeMap<String, Head> = BTreeMap::new();
    for (p, r) in postings.iter().zip(running) {
        let f = family(&p.account);
        let head = match heads.get_mut(f) {
            Some(h) => h,
            None => heads
                .entry(f.to_string())
                .or_insert_with(|| before.get(f).copied().unwrap_or_default()),
        };
        head.push(p, *r);
    }
    heads
}

/// The distinct families of some postings, for loading their heads.
pub fn families(postings: &[PostingRow]) -> Vec<String> {
    let mut out: Vec<String> = postings
        .iter()
        .map(|p| family(&p.account).to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Recomputes a family's head from its postings read back in order, with the last running total
/// of each account, currency and side, to compare with the balances projection.
#[derive(Debug, Default)]
pub struct Recompute {
    pub head: Head,
    /// (account, currency) -> (debit, credit) running totals of the last postings read.
    pub totals: BTreeMap<(String, String), (i64, i64)>,
    /// The first posting whose running total does not follow from the ones before it.
    pub broken_running: Option<(u64, u32, String)>,
}

impl Recompute {
    pub fn push(&mut self, p: &PostingRow, running: i64) {
        self.head.push(p, running);
        let t = self
            .totals
            .entry((p.account.clone(), p.currency.clone()))
            .or_insert((0, 0));
        let side = match p.side {
            tranche_audit::posting::Side::Debit => &mut t.0,
            tranche_audit::posting::Side::Credit => &mut t.1,
        };
        if self.broken_running.is_none() && *side + p.amount_minor != running {
            self.broken_running = Some((p.seq, p.idx, p.account.clone()));
        }
        *side = running;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tranche_audit::posting::Side;

    fn row(seq: u64, account: &str, amount: i64) -> PostingRow {
        PostingRow {
            seq,
            idx: 0,
            account: account.into(),
            currency: "USD".into(),
            side: Side::Debit,
            amount_minor: amount,
        }
    }

    #[test]
    fn families_are_the_first_two_segments() {
        assert_eq!(family("expense:A1:L1"), "expense:A1");
        assert_eq!(family("expense:A1"), "expense:A1");
        assert_eq!(family("payable:A1:participant:P9"), "payable:A1");
        assert_eq!(family("cash"), "cash");
        assert!(deep("expense:A1") && !deep("cash"));
    }

    #[test]
    fn a_head_advanced_in_two_appends_equals_one_advanced_at_once() {
        let rows = [
            row(1, "expense:A1:L1", 100),
            row(2, "bank:A1", 5),
            row(3, "expense:A1:L2", 7),
        ];
        let running = [100, 5, 7];
        let once = advance(&BTreeMap::new(), &rows, &running);
        let first = advance(&BTreeMap::new(), &rows[..2], &running[..2]);
        let mut second = advance(&first, &rows[2..], &running[2..]);
        for (f, h) in first {
            second.entry(f).or_insert(h);
        }
        assert_eq!(once, second);
        assert_eq!(once["expense:A1"].rows, 2);
        // Any change to a row, its order or its running total changes the chain.
        let mut changed = rows.clone();
        changed[0].amount_minor = 101;
        assert_ne!(advance(&BTreeMap::new(), &changed, &running), once);
        assert_ne!(advance(&BTreeMap::new(), &rows, &[100, 5, 8]), once);
    }

    #[test]
    fn a_running_total_that_does_not_follow_is_named() {
        let mut r = Recompute::default();
        r.push(&row(1, "bank:A1", 5), 5);
        r.push(&row(2, "bank:A1", 5), 11);
        assert_eq!(r.broken_running, Some((2, 0, "bank:A1".into())));
    }
}
