//! The journal as plain-text accounting: hledger and Beancount files that those tools read and
//! that balance, account by account, to the same figures as `tranche balance`. Every journal
//! record that moves money (transactions, entitlements, sendings, bank outcomes) becomes one
//! transaction dated by its accounting date, carrying its seq and the time it was written;
//! every `account.open` becomes an account declaration (in Beancount an `open` dated
//! 1970-01-01, since a back-dated transaction may be dated before the account was opened in the
//! journal). Memo (obligation) accounts are kept, in their own balanced
//! transactions, as they are in the journal.

use std::collections::HashMap;
use std::fmt::Write as _;

use tranche_audit::account::AccountType;
use tranche_audit::money::format_minor;
use tranche_audit::posting::Side;
use tranche_audit::record::{kind, AccountOpenBody, Record};

use crate::domain::Command;

/// The plain-text formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    Hledger,
    Beancount,
}

impl TextFormat {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "hledger" | "ledger" => Some(TextFormat::Hledger),
            "beancount" => Some(TextFormat::Beancount),
            _ => None,
        }
    }

    pub fn extension(&self) -> &'static str {
        match self {
            TextFormat::Hledger => "journal",
            TextFormat::Beancount => "beancount",
        }
    }
}

/// Writes records as one format, record by record.
#[derive(Debug)]
pub struct TextWriter {
    format: TextFormat,
    types: HashMap<String, AccountType>,
    out: String,
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A Beancount account name: the root its type maps to, then each segment of the tranche name
/// with its first letter upper-cased and `.`/`_` written as `-`.
pub fn beancount_account(name: &str, account_type: AccountType) -> String {
    let root = match account_type {
        AccountType::Asset => "Assets",
        AccountType::Liability => "Liabilities",
        AccountType::Equity => "Equity",
        AccountType::Income => "Income",
        AccountType::Expense => "Expenses",
        AccountType::Memo => "Equity:Memo",
    };
    let mut out = root.to_string();
    for segment in name.split(':') {
        out.push(':');
        let mut chars = segment.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
        }
        out.extend(chars.map(|c| if c == '.' || c == '_' { '-' } else { c }));
    }
    out
}

impl TextWriter {
    /// Starts a file with a header naming the journal state it was made from.
    pub fn new(format: TextFormat, origin: &str, size: u64, root_b64: &str) -> Self {
        let mut out = String::new();
        match format {
            TextFormat::Hledger => {
                let _ = writeln!(
                    out,
                    "; tranche journal {origin}, tree size {size}, root {root_b64}\n\
                     ; One transaction per journal record that moves money; (seq) is its code.\n"
                );
            }
            TextFormat::Beancount => {
                let _ = writeln!(
                    out,
                    "; tranche journal {origin}, tree size {size}, root {root_b64}\n\
                     ; One transaction per journal record that moves money; seq is in its metadata.\n\
                     option \"title\" \"tranche {}\"\n",
                    origin.replace('"', "'")
                );
            }
        }
        TextWriter {
            format,
            types: HashMap::new(),
            out,
        }
    }

    fn account(&self, name: &str) -> String {
        match self.format {
            TextFormat::Hledger => name.to_string(),
            TextFormat::Beancount => beancount_account(
                name,
                self.types.get(name).copied().unwrap_or(AccountType::Asset),
            ),
        }
    }

    /// Adds one record (records must come in seq order).
    pub fn push(&mut self, record: &Record) -> Result<(), tranche_audit::Invalid> {
        let date = record.at.format("%Y-%m-%d").to_string();
        if record.kind == kind::ACCOUNT_OPEN {
            let b: AccountOpenBody = tranche_audit::record::body_from_value(&record.body)?;
            self.types.insert(b.name.clone(), b.account_type);
            match self.format {
                TextFormat::Hledger => {
                    let tag = match b.account_type {
                        AccountType::Asset => "  ; type: Asset",
                        AccountType::Liability => "  ; type: Liability",
                        AccountType::Equity => "  ; type: Equity",
                        AccountType::Income => "  ; type: Revenue",
                        AccountType::Expense => "  ; type: Expense",
                        AccountType::Memo => "  ; memo (off-balance) account",
                    };
                    let _ = writeln!(self.out, "account {}{tag}", b.name);
                }
                TextFormat::Beancount => {
                    let _ = writeln!(
                        self.out,
                        "1970-01-01 open {}  ; opened at seq {} on {date}",
                        beancount_account(&b.name, b.account_type),
                        record.seq
                    );
                }
            }
            return Ok(());
        }
        if !matches!(
            record.kind.as_str(),
            kind::TRANSACTION | kind::ENTITLEMENT | kind::BATCH_SEND | kind::BANK_STATUS
        ) {
            return Ok(());
        }
        let command = Command::from_record(record)?;
        let Some(tx) = command.transaction() else {
            return Ok(());
        };
        let written = tranche_audit::record::format_time(record.at);
        let date = tx.date.map_or(date, |d| d.format("%Y-%m-%d").to_string());
        let memo = if tx.memo.is_empty() {
            record.kind.clone()
        } else {
            one_line(&tx.memo)
        };
        match self.format {
            TextFormat::Hledger => {
                let _ = writeln!(self.out, "\n{date} ({}) {memo}", record.seq);
                let _ = writeln!(self.out, "    ; kind: {}, written: {written}", record.kind);
            }
            TextFormat::Beancount => {
                let _ = writeln!(
                    self.out,
                    "\n{date} * \"{}\"",
                    memo.replace('\\', "\\\\").replace('"', "\\\"")
                );
                let _ = writeln!(self.out, "  seq: {}", record.seq);
                let _ = writeln!(self.out, "  kind: \"{}\"", record.kind);
                let _ = writeln!(self.out, "  written: \"{written}\"");
            }
        }
        for p in &tx.postings {
            let minor = match p.side {
                Side::Debit => i128::from(p.money.minor()),
                Side::Credit => -i128::from(p.money.minor()),
            };
            let amount = format_minor(minor, p.money.currency());
            let account = self.account(p.account.as_str());
            let indent = if self.format == TextFormat::Hledger {
                "    "
            } else {
                "  "
            };
            let _ = writeln!(
                self.out,
                "{indent}{account:<60}  {amount:>16} {}",
                p.money.currency()
            );
        }
        Ok(())
    }

    /// The text so far (and every further push appends to it).
    pub fn finish(self) -> String {
        self.out
    }
}

/// Writes the journal, up to its latest checkpoint, as `format` to `path`; `progress(done,
/// total)` per page. Returns the checkpoint size written.
pub async fn export_text(
    ledger: &crate::Ledger,
    path: &std::path::Path,
    format: TextFormat,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, crate::service::export::ExportError> {
    use base64::Engine as _;
    let checkpoint = ledger
        .store()
        .latest_checkpoint()
        .await?
        .ok_or(crate::service::export::ExportError::Empty)?;
    let root = base64::engine::general_purpose::STANDARD.encode(checkpoint.root);
    let mut w = TextWriter::new(format, ledger.origin(), checkpoint.size, &root);
    let mut done = 0u64;
    while done < checkpoint.size {
        let page = ledger.store().records(done, crate::store::MAX_PAGE).await?;
        if page.is_empty() {
            break;
        }
        for stored in page.into_iter().take_while(|r| r.seq < checkpoint.size) {
            let record = Record::decode_trusted(&stored.bytes).map_err(|e| {
                crate::service::export::ExportError::Store(crate::store::StoreError::Corrupt(
                    format!("seq {}: {e}", stored.seq),
                ))
            })?;
            w.push(&record).map_err(|e| {
                crate::service::export::ExportError::Store(crate::store::StoreError::Corrupt(
                    format!("seq {}: {e}", stored.seq),
                ))
            })?;
            done += 1;
        }
        progress(done, checkpoint.size);
    }
    let text = w.finish();
    std::fs::write(path, text).map_err(|source| crate::service::export::ExportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(checkpoint.size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn record(seq: u64, kind: &str, body: serde_json::Value) -> Record {
        Record {
            seq,
            prev: [0; 32],
            kind: kind.into(),
            at: chrono::Utc
                .with_ymd_and_hms(2026, 3, 31, 12, 0, 0)
                .single()
                .expect("valid"),
            actor: "test".into(),
            body,
        }
    }

    fn journal() -> Vec<Record> {
        vec![
            record(
                1,
                "account.open",
                json!({"name": "bank:a", "type": "asset"}),
            ),
            record(
                2,
                "account.open",
                json!({"name": "fund:a", "type": "equity"}),
            ),
            record(
                3,
                "account.open",
                json!({"name": "payable:a:participant:p_1", "type": "liability"}),
            ),
            record(
                4,
                "transaction",
                json!({"accounting_date": "2026-03-30", "memo": "drawdown \"Q1\"", "postings": [
                    {"account": "bank:a", "currency": "USD", "side": "debit", "amount": "100.00"},
                    {"account": "fund:a", "currency": "USD", "side": "credit", "amount": "100.00"}]}),
            ),
            record(
                5,
                "transaction",
                json!({"accounting_date": "2026-03-31", "memo": "", "postings": [
                    {"account": "fund:a", "currency": "CLP", "side": "debit", "amount": "1500"},
                    {"account": "payable:a:participant:p_1", "currency": "CLP", "side": "credit", "amount": "1500"}]}),
            ),
        ]
    }

    #[test]
    fn hledger_text_is_exactly_as_expected() {
        let mut w = TextWriter::new(TextFormat::Hledger, "t.example/log", 6, "ROOT=");
        for r in journal() {
            w.push(&r).expect("pushed");
        }
        let expected = format!(
            "; tranche journal t.example/log, tree size 6, root ROOT=\n\
; One transaction per journal record that moves money; (seq) is its code.\n\
\n\
account bank:a  ; type: Asset\n\
account fund:a  ; type: Equity\n\
account payable:a:participant:p_1  ; type: Liability\n\
\n\
2026-03-30 (4) drawdown \"Q1\"\n    ; kind: transaction, written: 2026-03-31T12:00:00.000000Z\n    {:<60}  {:>16} USD\n    {:<60}  {:>16} USD\n\
\n\
2026-03-31 (5) transaction\n    ; kind: transaction, written: 2026-03-31T12:00:00.000000Z\n    {:<60}  {:>16} CLP\n    {:<60}  {:>16} CLP\n",
            "bank:a", "100.00", "fund:a", "-100.00", "fund:a", "1500",
            "payable:a:participant:p_1", "-1500"
        );
        assert_eq!(w.finish(), expected);
    }

    #[test]
    fn beancount_text_is_exactly_as_expected() {
        let mut w = TextWriter::new(TextFormat::Beancount, "t.example/log", 6, "ROOT=");
        for r in journal() {
            w.push(&r).expect("pushed");
        }
        let expected = format!(
            "; tranche journal t.example/log, tree size 6, root ROOT=\n\
; One transaction per journal record that moves money; seq is in its metadata.\n\
option \"title\" \"tranche t.example/log\"\n\
\n\
1970-01-01 open Assets:Bank:A  ; opened at seq 1 on 2026-03-31\n\
1970-01-01 open Equity:Fund:A  ; opened at seq 2 on 2026-03-31\n\
1970-01-01 open Liabilities:Payable:A:Participant:P-1  ; opened at seq 3 on 2026-03-31\n\
\n\
2026-03-30 * \"drawdown \\\"Q1\\\"\"\n  seq: 4\n  kind: \"transaction\"\n  written: \"2026-03-31T12:00:00.000000Z\"\n  {:<60}  {:>16} USD\n  {:<60}  {:>16} USD\n\
\n\
2026-03-31 * \"transaction\"\n  seq: 5\n  kind: \"transaction\"\n  written: \"2026-03-31T12:00:00.000000Z\"\n  {:<60}  {:>16} CLP\n  {:<60}  {:>16} CLP\n",
            "Assets:Bank:A", "100.00", "Equity:Fund:A", "-100.00", "Equity:Fund:A", "1500",
            "Liabilities:Payable:A:Participant:P-1", "-1500"
        );
        assert_eq!(w.finish(), expected);
    }

    #[test]
    fn beancount_names_accounts_under_their_type_and_escapes_text() {
        let mut w = TextWriter::new(TextFormat::Beancount, "t.example/log", 6, "ROOT=");
        for r in journal() {
            w.push(&r).expect("pushed");
        }
        let text = w.finish();
        assert!(text.contains("1970-01-01 open Assets:Bank:A  ;"), "{text}");
        assert!(
            text.contains("1970-01-01 open Liabilities:Payable:A:Participant:P-1  ;"),
            "{text}"
        );
        assert!(
            text.contains("2026-03-30 * \"drawdown \\\"Q1\\\"\"\n  seq: 4\n"),
            "{text}"
        );
        assert!(text.contains(&format!(
            "  {:<60}  {:>16} USD\n",
            "Equity:Fund:A", "-100.00"
        )));
    }
}
