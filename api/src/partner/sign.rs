//! Evidence items grouped into statements of at most 500 and signed with the partner's key, and
//! the signed statements written as JSON Lines.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use tranche_audit::programme::{EvidenceBody, EvidenceItem, Id, Statement, MAX_STATEMENT_ITEMS};
use tranche_audit::Code;
use tranche_audit::Invalid;

use super::csv::LineError;
use super::evidence::parse_evidence_csv;
use super::PartnerKey;

/// Groups items into statements of at most [`MAX_STATEMENT_ITEMS`]: one statement keeps
/// `batch_id`, several are `batch_id-1`, `batch_id-2`, … Every statement is checked.
pub fn statements(
    partner: &Id,
    batch_id: &Id,
    items: Vec<EvidenceItem>,
    submitted_at: &str,
) -> Result<Vec<Statement>, Invalid> {
    let chunks: Vec<Vec<EvidenceItem>> = items
        .chunks(MAX_STATEMENT_ITEMS)
        .map(<[EvidenceItem]>::to_vec)
        .collect();
    let split = chunks.len() > 1;
    let mut out = Vec::with_capacity(chunks.len());
    for (i, items) in chunks.into_iter().enumerate() {
        let batch_id = if split {
            Id::parse(&format!("{batch_id}-{}", i + 1)).map_err(|e| {
                Invalid::new(
                    "batch_id",
                    e.code,
                    format!(
                        "{} rows make {} statements, and {}",
                        items.len(),
                        i + 1,
                        e.detail
                    ),
                )
            })?
        } else {
            batch_id.clone()
        };
        let statement = Statement {
            partner: partner.clone(),
            batch_id,
            items,
            submitted_at: submitted_at.to_string(),
        };
        statement.check()?;
        out.push(statement);
    }
    Ok(out)
}

/// Why `sign` wrote nothing.
#[derive(Debug)]
pub enum SignRefusal {
    Rows(Vec<LineError>),
    Invalid(Invalid),
}

/// Validates an evidence CSV (raw bytes, which must be UTF-8) and signs it as statements.
pub fn sign_csv(
    bytes: &[u8],
    key: &PartnerKey,
    batch_id: &Id,
    submitted_at: &str,
) -> Result<Vec<EvidenceBody>, SignRefusal> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        SignRefusal::Rows(vec![LineError::new(
            line,
            Code::NotUtf8,
            "the file is not UTF-8 text: export it as CSV in UTF-8",
        )])
    })?;
    let items = parse_evidence_csv(text).map_err(SignRefusal::Rows)?;
    let items = items.into_iter().map(|(_, item)| item).collect();
    let statements =
        statements(&key.partner, batch_id, items, submitted_at).map_err(SignRefusal::Invalid)?;
    Ok(statements
        .into_iter()
        .map(|s| s.sign(&key.signing))
        .collect())
}

/// `2026-03-08T12:00:00Z`: now, to the second.
pub fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Writes one JSON body per line, all or nothing (a temporary file renamed into place).
pub fn write_jsonl(path: &Path, bodies: &[EvidenceBody]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("Failed to write {}", path.display()))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        for body in bodies {
            serde_json::to_writer(&mut w, body)?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("Failed to write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::testing::{attendance_csv, key};
    use tranche_audit::programme::Presence;

    #[test]
    fn up_to_500_rows_make_one_statement_with_the_batch_id() {
        let bodies = sign_csv(
            attendance_csv(MAX_STATEMENT_ITEMS).as_bytes(),
            &key(),
            &Id::parse("2026-03-w1").expect("valid"),
            "2026-03-08T12:00:00Z",
        )
        .expect("signed");
        assert_eq!(bodies.len(), 1);
        assert_eq!(bodies[0].statement.batch_id.as_str(), "2026-03-w1");
        assert_eq!(bodies[0].statement.items.len(), MAX_STATEMENT_ITEMS);
    }

    #[test]
    fn more_rows_are_split_into_numbered_batches_in_file_order() {
        let bodies = sign_csv(
            attendance_csv(1001).as_bytes(),
            &key(),
            &Id::parse("w1").expect("valid"),
            "2026-03-08T12:00:00Z",
        )
        .expect("signed");
        let shape: Vec<(&str, usize)> = bodies
            .iter()
            .map(|b| (b.statement.batch_id.as_str(), b.statement.items.len()))
            .collect();
        assert_eq!(shape, vec![("w1-1", 500), ("w1-2", 500), ("w1-3", 1)]);
        assert_eq!(
            bodies[2].statement.items[0].participant().as_str(),
            "p-01000"
        );
        for b in &bodies {
            b.check().expect("well formed");
            b.verify_signature(&key().signing.verifying_key())
                .expect("verifies");
        }
    }

    #[test]
    fn a_batch_id_too_long_to_number_is_refused() {
        let long = "b".repeat(64);
        let e = statements(
            &key().partner,
            &Id::parse(&long).expect("valid"),
            vec![
                EvidenceItem::Attendance {
                    participant: Id::parse("p").expect("valid"),
                    session: Id::parse("s").expect("valid"),
                    status: Presence::Present,
                };
                MAX_STATEMENT_ITEMS + 1
            ],
            "2026-03-08T12:00:00Z",
        )
        .expect_err("refused");
        assert_eq!((e.field.as_str(), e.code), ("batch_id", Code::InvalidId));
    }

    #[test]
    fn a_bad_submitted_at_is_refused_by_the_statement_rules() {
        let r = sign_csv(
            attendance_csv(1).as_bytes(),
            &key(),
            &Id::parse("w1").expect("valid"),
            "2026-03-08 12:00",
        );
        let Err(SignRefusal::Invalid(e)) = r else {
            panic!("refused: {r:?}");
        };
        assert_eq!(e.field, "submitted_at");
        let now = now_text();
        assert_eq!(now.len(), "2026-03-08T12:00:00Z".len());
        assert!(sign_csv(
            attendance_csv(1).as_bytes(),
            &key(),
            &Id::parse("w1").expect("valid"),
            &now
        )
        .is_ok());
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_at_its_line() {
        let mut bytes = b"type,participant,session,status\nattendance,p-1,s-1,present\n".to_vec();
        bytes.extend(b"attendance,p-\xe9,s-1,present\n");
        let r = sign_csv(
            &bytes,
            &key(),
            &Id::parse("w").expect("valid"),
            "2026-03-08T12:00:00Z",
        );
        let Err(SignRefusal::Rows(e)) = r else {
            panic!("refused: {r:?}");
        };
        assert_eq!((e[0].line, e[0].code), (3, Code::NotUtf8));
    }
}
