//! The one shape of a refusal: which field, which rule (a stable machine-readable code), and a
//! sentence for people. The ledger, the CLI and the API all report bad input this way.

use std::fmt;

pub use crate::codes::{Class, Code};

/// Bad input: `field` is a path into the input (`postings[1].amount`), `code` a stable rule
/// name (`too_many_decimals`), `detail` the explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The position of the offending item in a batch (0-based), when the input was a batch.
    pub item: Option<usize>,
    pub field: String,
    pub code: Code,
    pub detail: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, code: Code, detail: impl Into<String>) -> Self {
        Invalid {
            item: None,
            field: field.into(),
            code,
            detail: detail.into(),
        }
    }

    /// Places the error inside a larger input: `postings[1]` + `amount` -> `postings[1].amount`.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_string()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }

    /// Marks which item of a batch was refused.
    pub fn in_item(mut self, item: usize) -> Self {
        self.item = Some(item);
        self
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = self.item {
            write!(f, "item {}: ", i + 1)?;
        }
        if self.field.is_empty() {
            write!(f, "{} ({})", self.detail, self.code)
        } else {
            write!(f, "{}: {} ({})", self.field, self.detail, self.code)
        }
    }
}

impl std::error::Error for Invalid {}
