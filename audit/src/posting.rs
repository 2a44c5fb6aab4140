//! Postings and the double-entry rules that need no state: at least two postings, every amount
//! above zero, and per currency debits equal credits. A pure function over postings, so the
//! ledger (before it writes) and the verifier (when it reads) apply the very same check.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::account::AccountName;
use crate::codes::Code;
use crate::invalid::Invalid;
use crate::money::{format_minor, Currency, Money, MoneyError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Side::Debit => "debit",
            Side::Credit => "credit",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Posting {
    pub account: AccountName,
    pub side: Side,
    pub money: Money,
}

/// The most postings one transaction may hold (a limit on everything).
pub const MAX_POSTINGS: usize = 500;

pub(crate) fn money_invalid(field: &str, e: &MoneyError) -> Invalid {
    Invalid::new(field, e.code(), e.to_string())
}

/// Checks the stateless double-entry rules. Returns the per-currency total moved.
pub fn check_balanced(postings: &[Posting]) -> Result<BTreeMap<Currency, i128>, Invalid> {
    if postings.len() < 2 {
        return Err(Invalid::new(
            "postings",
            Code::TooFewPostings,
            format!(
                "a transaction needs at least two postings, found {}",
                postings.len()
            ),
        ));
    }
    if postings.len() > MAX_POSTINGS {
        return Err(Invalid::new(
            "postings",
            Code::TooManyPostings,
            format!("a transaction may hold at most {MAX_POSTINGS} postings"),
        ));
    }
    // Debits minus credits per currency; i128 so that no sum of bounded amounts can overflow.
    let mut net: BTreeMap<Currency, (i128, i128)> = BTreeMap::new();
    for p in postings {
        let e = net.entry(p.money.currency()).or_default();
        match p.side {
            Side::Debit => e.0 += i128::from(p.money.minor()),
            Side::Credit => e.1 += i128::from(p.money.minor()),
        }
    }
    for (currency, (debit, credit)) in &net {
        if debit != credit {
            return Err(Invalid::new(
                "postings",
                Code::Unbalanced,
                format!(
                    "{currency} debits {} do not equal credits {}",
                    format_minor(*debit, *currency),
                    format_minor(*credit, *currency)
                ),
            ));
        }
    }
    Ok(net.into_iter().map(|(c, (d, _))| (c, d)).collect())
}

/// True when `reversal` undoes `original` exactly: the same postings with every side swapped
/// (order does not matter).
pub fn is_mirror(original: &[Posting], reversal: &[Posting]) -> bool {
    let key = |p: &Posting, flip: bool| {
        (
            p.account.clone(),
            p.money.currency(),
            if flip { p.side.opposite() } else { p.side },
            p.money.minor(),
        )
    };
    let mut a: Vec<_> = original.iter().map(|p| key(p, true)).collect();
    let mut b: Vec<_> = reversal.iter().map(|p| key(p, false)).collect();
    a.sort();
    b.sort();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(account: &str, side: Side, amount: &str, cur: &str) -> Posting {
        let currency = Currency::parse(cur).expect("known");
        Posting {
            account: AccountName::parse(account).expect("valid"),
            side,
            money: Money::parse_positive(amount, currency).expect("valid"),
        }
    }

    #[test]
    fn balanced_per_currency_is_accepted() {
        let ps = [
            p("bank", Side::Debit, "10.00", "USD"),
            p("fund", Side::Credit, "10.00", "USD"),
            p("bank:clp", Side::Debit, "5000", "CLP"),
            p("fund:clp", Side::Credit, "5000", "CLP"),
        ];
        assert!(check_balanced(&ps).is_ok());
    }

    #[test]
    fn balance_across_currencies_does_not_count() {
        let ps = [
            p("bank", Side::Debit, "10.00", "USD"),
            p("fund", Side::Credit, "10.00", "EUR"),
        ];
        assert_eq!(
            check_balanced(&ps).map_err(|e| e.code.as_str()),
            Err("unbalanced")
        );
    }

    #[test]
    fn one_posting_is_refused() {
        let ps = [p("bank", Side::Debit, "10.00", "USD")];
        assert_eq!(
            check_balanced(&ps).map_err(|e| e.code.as_str()),
            Err("too_few_postings")
        );
    }

    #[test]
    fn a_mirror_swaps_every_side() {
        let a = [
            p("bank", Side::Debit, "10.00", "USD"),
            p("fund", Side::Credit, "10.00", "USD"),
        ];
        let b = [
            p("fund", Side::Debit, "10.00", "USD"),
            p("bank", Side::Credit, "10.00", "USD"),
        ];
        assert!(is_mirror(&a, &b));
        assert!(!is_mirror(&a, &a));
    }
}
