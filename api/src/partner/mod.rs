//! The tools an implementing partner runs on its own machine, behind `tranche partner` and the
//! partner's web pages. They never open a ledger: [`key`] is the partner's Ed25519 signing key
//! and its file, [`csv`] and [`evidence`] read an evidence CSV exported from a field tool,
//! [`sign`] groups its items into signed statements, and [`submit`] posts those statements to a
//! ledger's HTTP API.
//!
//! # The key file
//!
//! One line, `TRANCHE-PARTNER-KEY+<partner>+<key_id>+<seed>`, where `<partner>` is the partner
//! id, `<key_id>` is [`tranche_audit::programme::partner_key_id`] of the public key (16 lowercase hex digits) and
//! `<seed>` is the standard base64 of the 32-byte Ed25519 seed. The file is created with mode
//! 0600 and refused when group or others can read it.
//!
//! # The evidence CSV
//!
//! RFC 4180 CSV in UTF-8. The first non-blank row is a header naming columns, in any order and
//! in any letter case, from `type`, `participant`, `cohort`, `session`, `status`, `course`,
//! `milestone`, `result` and `date`; `type` and `participant` are required. Every other row is
//! one evidence item, and its `type` decides which cells it needs (the fields of the
//! [`tranche_audit::programme::EvidenceItem`] variant of that type):
//!
//! | type                    | cells                                            |
//! | ----------------------- | ------------------------------------------------ |
//! | `enrolment`             | participant, cohort, date                        |
//! | `attendance`            | participant, session, status (present, absent)   |
//! | `attendance-correction` | participant, session, status (present, absent)   |
//! | `certification`         | participant, course, result (passed, failed), date |
//! | `milestone`             | participant, milestone (plan-approved, tranche-1, tranche-2), result, date |
//!
//! A cell that the row's type does not use must be empty. Ids follow [`tranche_audit::programme::Id::parse`], dates
//! [`tranche_audit::programme::Date::parse`] (`YYYY-MM-DD`), and the words are exactly the ledger's. What field tools
//! such as KoboToolbox write is tolerated: a UTF-8 byte order mark, CRLF line ends, spaces
//! around cells, blank lines (rows whose cells are all empty), and quoted cells holding commas,
//! line breaks and doubled quotes. A quote must open its cell (no space before it). Errors name
//! the physical line of the file (the header's is 1, a quoted line break counts), the column and
//! the rule. Two rows for the same participant and
//! session (attendance, attendance-correction), the same participant and cohort (enrolment), or
//! two identical rows are refused naming both lines.

use std::io::Read as _;
use std::path::Path;

use anyhow::{bail, Context as _};

/// CSV as partners and banks send it, read with physical line numbers.
pub mod csv;
/// An evidence CSV read into evidence items.
pub mod evidence;
/// The partner's signing key and its key file.
pub mod key;
/// Evidence items grouped into statements and signed.
pub mod sign;
/// Signed statements posted to a ledger over HTTP.
pub mod submit;

pub use csv::{read_csv, CsvRow, LineError};
pub use evidence::parse_evidence_csv;
pub use key::PartnerKey;
pub use sign::{sign_csv, statements, SignRefusal};
pub use submit::idempotency_key;

/// The largest CSV or JSON Lines file the partner tools read.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a whole file of at most [`MAX_INPUT_BYTES`].
pub fn read_limited(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("Failed to open {}", path.display()))?
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("Failed to read {}", path.display()))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        bail!(
            "{} is larger than {MAX_INPUT_BYTES} bytes: split it into several files",
            path.display()
        );
    }
    Ok(bytes)
}

/// What the partner tools' tests share: a fixed key and an attendance CSV of `rows` rows.
#[cfg(test)]
pub(crate) mod testing {
    use super::PartnerKey;

    pub(crate) fn key() -> PartnerKey {
        PartnerKey {
            partner: tranche_audit::programme::Id::parse("hias").expect("valid"),
            signing: ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
        }
    }

    pub(crate) fn attendance_csv(rows: usize) -> String {
        let mut text = String::from("type,participant,session,status\n");
        for i in 0..rows {
            text.push_str(&format!("attendance,p-{i:05},s-01,present\n"));
        }
        text
    }
}
