//! Account names and types. Names are hierarchical, segments joined by ':'
//! (`expense:c4t-stipend`, `payable:participant:P-00012`); a prefix selects a subtree.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codes::Code;
use crate::invalid::Invalid;

pub const MAX_ACCOUNT_NAME_BYTES: usize = 200;
pub const MAX_ACCOUNT_SEGMENTS: usize = 10;

/// A validated account name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountName(String);

impl AccountName {
    /// Segments are ASCII letters, digits, '-', '_' and '.', starting with a letter or digit.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let bad = |why: &str| {
            Invalid::new(
                "",
                Code::InvalidAccountName,
                format!("{text:?} is not a valid account name: {why}"),
            )
        };
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        if text.len() > MAX_ACCOUNT_NAME_BYTES {
            return Err(bad("it is longer than 200 bytes"));
        }
        let segments: Vec<&str> = text.split(':').collect();
        if segments.len() > MAX_ACCOUNT_SEGMENTS {
            return Err(bad("it has more than 10 segments"));
        }
        for s in segments {
            let mut chars = s.chars();
            match chars.next() {
                Some(c) if c.is_ascii_alphanumeric() => {}
                _ => {
                    return Err(bad(
                        "each ':'-separated segment must start with a letter or digit",
                    ))
                }
            }
            if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
                return Err(bad(
                    "segments may hold only letters, digits, '-', '_' and '.'",
                ));
            }
        }
        Ok(AccountName(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when this account is `prefix` or lies below it (`expense` matches `expense:c4t`,
    /// not `expenses`).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        prefix.is_empty()
            || self.0 == prefix
            || (self.0.starts_with(prefix) && self.0.as_bytes().get(prefix.len()) == Some(&b':'))
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an account is. Memo accounts are off-balance (obligations) and never share a
/// transaction with balance-sheet accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    Asset,
    Liability,
    Equity,
    Income,
    Expense,
    Memo,
}

impl AccountType {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        Ok(match text {
            "asset" => AccountType::Asset,
            "liability" => AccountType::Liability,
            "equity" => AccountType::Equity,
            "income" => AccountType::Income,
            "expense" => AccountType::Expense,
            "memo" => AccountType::Memo,
            _ => {
                return Err(Invalid::new(
                    "type",
                    Code::InvalidAccountType,
                    format!(
                        "{text:?} is not an account type: use asset, liability, equity, income, expense or memo"
                    ),
                ))
            }
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            AccountType::Asset => "asset",
            AccountType::Liability => "liability",
            AccountType::Equity => "equity",
            AccountType::Income => "income",
            AccountType::Expense => "expense",
            AccountType::Memo => "memo",
        }
    }

    pub fn is_memo(&self) -> bool {
        matches!(self, AccountType::Memo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchical_names_are_accepted_and_odd_ones_refused() {
        assert!(AccountName::parse("payable:participant:P-00012").is_ok());
        assert!(AccountName::parse("expense:c4t-stipend").is_ok());
        for bad in ["", "a::b", ":a", "a:", "a b", "gasto:niño", "-x"] {
            assert_eq!(
                AccountName::parse(bad).map_err(|e| e.code.as_str()),
                Err("invalid_account_name"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let a = AccountName::parse("expense:c4t").expect("valid");
        assert!(a.has_prefix("expense"));
        assert!(a.has_prefix("expense:c4t"));
        assert!(!a.has_prefix("exp"));
        assert!(a.has_prefix(""));
    }
}
