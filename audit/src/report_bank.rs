//! The bank reconciliation's part of a report's streaming pass: every line of every imported
//! camt.053 in exactly one category, the categories summed against the statements' booked
//! totals, and the balance a finance officer signs. The definitions are those of
//! [`crate::report::BankReconciliation`] and [`crate::report::BankBalance`].
//!
//! Only what the journal holds is read: each `bank.import` of a camt.053 states its statements
//! (balances and booked totals, as the file gave them), and each `bank.status` part lists the
//! lines it applied (outcomes) and those that posted nothing (exceptions), each with its
//! direction and place in the file. So `tranche-verify report` recomputes the same figures from
//! an export, and a line dropped from a status record leaves the categories short of the totals.

use std::collections::HashMap;

use crate::disburse::{
    BankImportBody, BankStatusBody, DirectionBody, ImportExceptionBody, LineRefs, PaymentStatus,
    StatementBody,
};
use crate::money::{format_minor, Currency, Money};
use crate::report::{BankBalance, BankCategory, BankLine, BankReconciliation, CountAmount};

/// The booked categories, in the order a report lists them.
pub const CATEGORIES: [&str; 6] = [
    "matched",
    "returns",
    "statement_only",
    "duplicates",
    "amount_mismatches",
    "unbalanced_entries",
];

/// The category of a line that posted nothing, by the rule it broke; `None` for a line outside
/// the booked balances.
pub fn exception_category(code: &str) -> Option<&'static str> {
    Some(match code {
        "not_booked" => return None,
        "already_confirmed" | "already_returned" | "duplicate_line" => "duplicates",
        "amount_mismatch" | "currency_mismatch" => "amount_mismatches",
        "entry_sum_mismatch" => "unbalanced_entries",
        // no_end_to_end_id, unknown_end_to_end_id, not_a_payment, payment_of_another_award,
        // not_sent, already_rejected, already_accepted, status_not_allowed …
        _ => "statement_only",
    })
}

#[derive(Debug)]
struct CamtImport {
    in_period: bool,
    parts: u32,
    seen: u32,
    statements: Vec<StatementBody>,
    short: String,
}

#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    lines: u64,
    debits: i128,
    credits: i128,
}

/// The bank reconciliation being accumulated.
#[derive(Debug, Default)]
pub(crate) struct BankAcc {
    imports: HashMap<String, CamtImport>,
    statements: u64,
    total_debits: i128,
    total_credits: i128,
    sums: HashMap<&'static str, Sums>,
    lists: HashMap<&'static str, Vec<BankLine>>,
    not_booked: Vec<BankLine>,
    /// Every line that posted nothing, up to now: debits added, credits taken off.
    unreconciled: i128,
    balance: Option<BankBalance>,
}

fn minor_of(text: Option<&str>, c: Currency) -> i128 {
    text.and_then(|t| Money::parse_positive(t, c).ok())
        .map_or(0, |m| i128::from(m.minor()))
}

fn direction(at: Option<&LineRefs>, fallback: DirectionBody) -> DirectionBody {
    at.and_then(|a| a.direction).unwrap_or(fallback)
}

impl BankAcc {
    /// A `bank.import` of the award, not after the period.
    pub(crate) fn import(&mut self, b: &BankImportBody, in_period: bool, c: Currency) {
        if b.format != "camt.053" {
            return;
        }
        if in_period {
            self.statements += 1;
            for s in &b.statements {
                self.total_debits +=
                    crate::disburse::signed_amount(&s.debits, c, "").unwrap_or_default();
                self.total_credits +=
                    crate::disburse::signed_amount(&s.credits, c, "").unwrap_or_default();
            }
        }
        self.imports.insert(
            b.sha256.clone(),
            CamtImport {
                in_period,
                parts: b.parts,
                seen: 0,
                statements: b.statements.clone(),
                short: b.sha256.chars().take(12).collect(),
            },
        );
    }

    fn add(&mut self, category: &'static str, d: DirectionBody, minor: i128) {
        let s = self.sums.entry(category).or_default();
        s.lines += 1;
        match d {
            DirectionBody::Debit => s.debits += minor,
            DirectionBody::Credit => s.credits += minor,
        }
    }

    fn line(short: &str, x: &ImportExceptionBody, d: DirectionBody) -> BankLine {
        BankLine {
            reference: x
                .at
                .as_ref()
                .and_then(LineRefs::describe)
                .unwrap_or_else(|| format!("{short} line {}", x.line)),
            e2e: x.e2e.clone(),
            amount: x.amount.clone().unwrap_or_default(),
            detail: x.detail.clone(),
            direction: Some(d.as_str().to_string()),
            code: Some(x.code.clone()),
            import: Some(short.to_string()),
        }
    }

    /// A `bank.status` part of the award, not after the period, after its postings were
    /// counted: `bank` and `transit` are the ledger's balances (net debits) of `bank:A` and
    /// `transit:A` after it.
    pub(crate) fn status(&mut self, b: &BankStatusBody, c: Currency, bank: i128, transit: i128) {
        let Some(import) = self.imports.get_mut(&b.import) else {
            return;
        };
        import.seen += 1;
        let in_period = import.in_period;
        let short = import.short.clone();
        let last = import.seen == import.parts;
        for o in &b.outcomes {
            let minor = minor_of(Some(&o.amount), c);
            let (category, fallback) = match o.status {
                PaymentStatus::Confirmed => ("matched", DirectionBody::Debit),
                PaymentStatus::Returned => ("returns", DirectionBody::Credit),
                // A statement applies no other outcome.
                PaymentStatus::Accepted | PaymentStatus::Rejected => continue,
            };
            if !in_period {
                continue;
            }
            let d = direction(o.at.as_ref(), fallback);
            self.add(category, d, minor);
            if category == "returns" {
                self.lists.entry(category).or_default().push(BankLine {
                    reference: o
                        .at
                        .as_ref()
                        .and_then(LineRefs::describe)
                        .unwrap_or_else(|| format!("{short} line {}", o.line)),
                    e2e: Some(o.e2e.clone()),
                    amount: o.amount.clone(),
                    detail: match &o.reason {
                        Some(r) => format!("returned ({r}): posted bank -> payable, reopened"),
                        None => "returned: posted bank -> payable, reopened".into(),
                    },
                    direction: Some(d.as_str().to_string()),
                    code: None,
                    import: Some(short.clone()),
                });
            }
        }
        for x in &b.exceptions {
            let d = direction(x.at.as_ref(), DirectionBody::Debit);
            let minor = minor_of(x.amount.as_deref(), c);
            let category = exception_category(&x.code);
            if category.is_some() {
                self.unreconciled += match d {
                    DirectionBody::Debit => minor,
                    DirectionBody::Credit => -minor,
                };
            }
            if !in_period {
                continue;
            }
            let line = Self::line(&short, x, d);
            match category {
                Some(category) => {
                    self.add(category, d, minor);
                    self.lists.entry(category).or_default().push(line);
                }
                None => self.not_booked.push(line),
            }
        }
        if !(last && in_period) {
            return;
        }
        let statements = &self.imports[&b.import].statements;
        if let Some(s) = statements.iter().rev().find(|s| s.closing.is_some()) {
            let closing = crate::disburse::signed_amount(
                s.closing.as_deref().unwrap_or_default(),
                c,
                "closing",
            )
            .unwrap_or_default();
            let in_transit = -transit;
            let adjusted = closing - in_transit + self.unreconciled;
            let ledger = bank + transit;
            let m = |v: i128| format_minor(v, c);
            self.balance = Some(BankBalance {
                statement: s.id.clone(),
                account: s.account.clone(),
                date: s.date.map(|d| d.to_string()),
                opening: s.opening.clone(),
                closing: m(closing),
                in_transit: m(in_transit),
                unreconciled: m(self.unreconciled),
                adjusted: m(adjusted),
                ledger_bank: m(bank),
                ledger: m(ledger),
                difference: m(adjusted - ledger),
            });
        }
    }

    /// The reconciliation; `matched` and `ledger_only` come from the payments.
    pub(crate) fn finish(mut self, c: Currency, ledger_only: Vec<BankLine>) -> BankReconciliation {
        let m = |v: i128| format_minor(v, c);
        let mut categories = Vec::new();
        let (mut debits, mut credits) = (0i128, 0i128);
        for name in CATEGORIES {
            let s = self.sums.get(name).copied().unwrap_or_default();
            debits += s.debits;
            credits += s.credits;
            categories.push(BankCategory {
                category: name.to_string(),
                lines: s.lines,
                debits: m(s.debits),
                credits: m(s.credits),
            });
        }
        let matched = self.sums.get("matched").copied().unwrap_or_default();
        let mut take = |k: &str| self.lists.remove(k).unwrap_or_default();
        BankReconciliation {
            statements: self.statements,
            total_debits: m(self.total_debits),
            total_credits: m(self.total_credits),
            categories,
            categories_debits: m(debits),
            categories_credits: m(credits),
            ties: debits == self.total_debits && credits == self.total_credits,
            matched: CountAmount {
                count: matched.lines,
                amount: m(matched.debits + matched.credits),
            },
            returns: take("returns"),
            ledger_only,
            statement_only: take("statement_only"),
            duplicates: take("duplicates"),
            amount_mismatches: take("amount_mismatches"),
            unbalanced_entries: take("unbalanced_entries"),
            not_booked: self.not_booked,
            balance: self.balance,
        }
    }
}
