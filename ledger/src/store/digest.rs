//! Digests of the postings projection, kept with the checkpoints (`projection_digests`), so that
//! a report is never signed from postings that were changed behind the ledger's back.
//!
//! Postings are grouped in account families, the first two segments of an account name
//! (`expense:AWARD` holds `expense:AWARD:LINE`); a one-segment account is its own family. Each
//! family has a head: the number of its postings and a SHA-256 chain over them in journal order,
//! running totals included, and its debit and credit totals. Every append writes the new head of
//! each family it touches, in the same transaction as its checkpoint; the table is append-only.
//! Before a report is signed, the store checks each family it reads in index lookups, not in a
//! scan: the number of postings, the totals of every account's last running totals, and those
//! against the balances. `rebuild --check` recomputes every head, chain included, from the
//! journal.

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

/// The head of a family's chain, with the family's debit and credit totals in minor units
/// (summed across currencies: a check sum, not an amount).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub rows: u64,
    pub chain: [u8; 32],
    pub debit: i128,
    pub credit: i128,
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
        match p.side {
            tranche_audit::posting::Side::Debit => self.debit += i128::from(p.amount_minor),
            tranche_audit::posting::Side::Credit => self.credit += i128::from(p.amount_minor),
        }
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
            accounting_date: "2026-03-01".into(),
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
}
