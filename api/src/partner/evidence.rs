//! An evidence CSV (the format is described in the module above) read into evidence items,
//! every bad row named by its line and column.

use std::collections::HashMap;

use serde_json::{Map, Value};
use tranche_audit::programme::{Date, EvidenceItem, Id, Milestone, Outcome, Presence};
use tranche_audit::Code;

use super::csv::{read_csv, CsvRow, LineError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Type,
    Participant,
    Cohort,
    Session,
    Status,
    Course,
    Milestone,
    Result,
    Date,
}

const COLUMNS: [Column; 9] = [
    Column::Type,
    Column::Participant,
    Column::Cohort,
    Column::Session,
    Column::Status,
    Column::Course,
    Column::Milestone,
    Column::Result,
    Column::Date,
];

/// The cells each evidence type needs besides `type`: the fields of its `EvidenceItem` variant.
const TYPES: [(&str, &[Column]); 5] = [
    (
        "enrolment",
        &[Column::Participant, Column::Cohort, Column::Date],
    ),
    (
        "attendance",
        &[Column::Participant, Column::Session, Column::Status],
    ),
    (
        "attendance-correction",
        &[Column::Participant, Column::Session, Column::Status],
    ),
    (
        "certification",
        &[
            Column::Participant,
            Column::Course,
            Column::Result,
            Column::Date,
        ],
    ),
    (
        "milestone",
        &[
            Column::Participant,
            Column::Milestone,
            Column::Result,
            Column::Date,
        ],
    ),
];

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Type => "type",
            Column::Participant => "participant",
            Column::Cohort => "cohort",
            Column::Session => "session",
            Column::Status => "status",
            Column::Course => "course",
            Column::Milestone => "milestone",
            Column::Result => "result",
            Column::Date => "date",
        }
    }

    fn parse(header: &str) -> Option<Column> {
        COLUMNS
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(header))
    }

    /// Checks one non-empty cell with the ledger's own parsers and returns its JSON value.
    fn value(self, text: &str) -> Result<Value, (Code, String)> {
        fn word<T: serde::de::DeserializeOwned>(text: &str) -> Result<(), (Code, String)> {
            serde_json::from_value::<T>(Value::String(text.to_string()))
                .map(|_| ())
                .map_err(|e| (Code::InvalidValue, format!("{text:?}: {e}")))
        }
        match self {
            Column::Participant | Column::Cohort | Column::Session | Column::Course => {
                Id::parse(text).map_err(|e| (e.code, e.detail))?;
            }
            Column::Date => {
                Date::parse(text).map_err(|e| (e.code, e.detail))?;
            }
            Column::Status => word::<Presence>(text)?,
            Column::Result => word::<Outcome>(text)?,
            Column::Milestone => word::<Milestone>(text)?,
            Column::Type => {}
        }
        Ok(Value::String(text.to_string()))
    }
}

/// What makes two rows the same evidence, and how to say so.
fn duplicate_key(item: &EvidenceItem) -> (String, String) {
    match item {
        EvidenceItem::Attendance {
            participant,
            session,
            ..
        }
        | EvidenceItem::AttendanceCorrection {
            participant,
            session,
            ..
        } => (
            format!("{}\n{participant}\n{session}", item.type_name()),
            format!(
                "{} of participant {participant} at session {session}",
                item.type_name()
            ),
        ),
        EvidenceItem::Enrolment {
            participant,
            cohort,
            ..
        } => (
            format!("enrolment\n{participant}\n{cohort}"),
            format!("enrolment of participant {participant} in cohort {cohort}"),
        ),
        _ => (
            serde_json::to_string(item).unwrap_or_default(),
            "row".to_string(),
        ),
    }
}

/// Reads an evidence CSV (see the module documentation) into items with their line numbers,
/// or every error found: the header's, or those of every bad row.
pub fn parse_evidence_csv(text: &str) -> Result<Vec<(usize, EvidenceItem)>, Vec<LineError>> {
    let rows = read_csv(text).map_err(|e| vec![e])?;
    let blank = |r: &CsvRow| r.cells.iter().all(|c| c.trim().is_empty());
    let mut rows = rows.into_iter().filter(|r| !blank(r));
    let Some(header) = rows.next() else {
        return Err(vec![LineError::new(
            1,
            Code::MissingHeader,
            "the file is empty: it needs a header row naming its columns",
        )]);
    };

    // The header: where each known column is.
    let mut errors = Vec::new();
    let mut at: [Option<usize>; COLUMNS.len()] = [None; COLUMNS.len()];
    for (i, name) in header.cells.iter().enumerate() {
        let name = name.trim();
        let shown = if name.is_empty() {
            format!("{}", i + 1)
        } else {
            name.to_string()
        };
        match Column::parse(name) {
            Some(c) if at[c as usize].is_some() => errors.push(
                LineError::new(
                    header.line,
                    Code::DuplicateColumn,
                    format!("the header names {} twice", c.name()),
                )
                .column(shown),
            ),
            Some(c) => at[c as usize] = Some(i),
            None => errors.push(
                LineError::new(
                    header.line,
                    Code::UnknownColumn,
                    format!(
                        "{name:?} is not a column; the columns are {}",
                        COLUMNS.map(Column::name).join(", ")
                    ),
                )
                .column(shown),
            ),
        }
    }
    for required in [Column::Type, Column::Participant] {
        if at[required as usize].is_none() {
            errors.push(
                LineError::new(
                    header.line,
                    Code::MissingColumn,
                    format!("the header must name a {} column", required.name()),
                )
                .column(required.name()),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut items = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let line = row.line;
        if row.cells.len() != header.cells.len() {
            errors.push(LineError::new(
                line,
                Code::WrongCellCount,
                format!(
                    "{} cells but the header has {}",
                    row.cells.len(),
                    header.cells.len()
                ),
            ));
            continue;
        }
        let cell = |c: Column| at[c as usize].map(|i| row.cells[i].trim());
        let type_name = cell(Column::Type).unwrap_or("");
        let Some((type_name, uses)) = TYPES.iter().find(|(t, _)| *t == type_name) else {
            let detail = if type_name.is_empty() {
                "every row needs a type".to_string()
            } else {
                format!(
                    "{type_name:?} is not an evidence type: {}",
                    TYPES.map(|(t, _)| t).join(", ")
                )
            };
            let code = if type_name.is_empty() {
                Code::MissingValue
            } else {
                Code::InvalidValue
            };
            errors.push(LineError::new(line, code, detail).column("type"));
            continue;
        };
        let mut fields = Map::new();
        fields.insert("type".into(), Value::String(type_name.to_string()));
        let mut bad = false;
        for column in COLUMNS.into_iter().skip(1) {
            let name = column.name();
            let error = match (uses.contains(&column), cell(column)) {
                (true, None) => Some(LineError::new(
                    line,
                    Code::MissingColumn,
                    format!("{type_name} rows need a {name}, and the file has no {name} column"),
                )),
                (true, Some("")) => Some(LineError::new(
                    line,
                    Code::MissingValue,
                    format!("{type_name} rows need a {name}"),
                )),
                (true, Some(text)) => match column.value(text) {
                    Ok(v) => {
                        fields.insert(name.into(), v);
                        None
                    }
                    Err((code, detail)) => Some(LineError::new(line, code, detail)),
                },
                (false, Some(text)) if !text.is_empty() => Some(LineError::new(
                    line,
                    Code::UnexpectedValue,
                    format!(
                        "{type_name} rows have no {name}: leave the cell empty (it has {text:?})"
                    ),
                )),
                (false, _) => None,
            };
            if let Some(e) = error {
                errors.push(e.column(name));
                bad = true;
            }
        }
        if bad {
            continue;
        }
        // The ledger's own type decides: the same serde rules as when it reads the statement.
        let item = match serde_json::from_value::<EvidenceItem>(Value::Object(fields)) {
            Ok(item) => item,
            Err(e) => {
                errors.push(LineError::new(line, Code::InvalidRow, e.to_string()));
                continue;
            }
        };
        let (key, what) = duplicate_key(&item);
        if let Some(first) = seen.get(&key) {
            errors.push(LineError::new(
                line,
                Code::DuplicateRow,
                format!("the same {what} as line {first}"),
            ));
            continue;
        }
        seen.insert(key, line);
        items.push((line, item));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if items.is_empty() {
        return Err(vec![LineError::new(
            header.line,
            Code::NoRows,
            "the file has a header but no evidence rows",
        )]);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse_evidence_csv(text)
            .expect_err("refused")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    // ---- evidence rows ----

    #[test]
    fn every_type_reads_into_its_evidence_item() {
        let text =
            "\u{feff}Type, PARTICIPANT ,cohort,session,status,course,milestone,result,date\r\n\
            enrolment,p-1,c-1,,,,,,2026-03-02\r\n\
            attendance,p-1,,s-01,present,,,,\r\n\
            attendance-correction,p-1,,s-01,absent,,,,\r\n\
            certification,p-1,,,,welding,,passed,2026-06-30\r\n\
            milestone,p-1,,,,,tranche-1,failed,2026-07-01\r\n";
        let items = parse_evidence_csv(text).expect("valid");
        let lines: Vec<usize> = items.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6]);
        let types: Vec<&str> = items.iter().map(|(_, i)| i.type_name()).collect();
        assert_eq!(types, TYPES.map(|(t, _)| t).to_vec());
        assert_eq!(
            items[1].1,
            EvidenceItem::Attendance {
                participant: Id::parse("p-1").expect("valid"),
                session: Id::parse("s-01").expect("valid"),
                status: Presence::Present,
            }
        );
        assert_eq!(
            items[4].1,
            EvidenceItem::Milestone {
                participant: Id::parse("p-1").expect("valid"),
                milestone: Milestone::Tranche1,
                result: Outcome::Failed,
                date: Date::parse("2026-07-01").expect("valid"),
            }
        );
    }

    #[test]
    fn header_errors_name_every_bad_column() {
        assert_eq!(
            errors("type,participant,Sesion,TYPE\n"),
            vec![
                "line 1: column Sesion: unknown_column (\"Sesion\" is not a column; the columns \
                 are type, participant, cohort, session, status, course, milestone, result, date)",
                "line 1: column TYPE: duplicate_column (the header names type twice)",
            ]
        );
        assert_eq!(
            errors("session,status\n"),
            vec![
                "line 1: column type: missing_column (the header must name a type column)",
                "line 1: column participant: missing_column (the header must name a participant \
                 column)",
            ]
        );
        assert_eq!(
            errors("\n\n")[0],
            "line 1: missing_header (the file is empty: it needs a header row naming its columns)"
        );
        assert_eq!(
            errors("type,participant,session,status\r\n\r\n"),
            vec!["line 1: no_rows (the file has a header but no evidence rows)"]
        );
    }

    #[test]
    fn every_bad_row_is_reported_with_its_physical_line() {
        // Line 3 holds a quoted cell over three lines, so the rows after it start on line 6.
        let text = "\u{feff}type,participant,session,status,cohort,date\r\n\
            attendance,p-1,s-01,present,,\r\n\
            attendance,p-2,\"s-01\r\nstill\r\nquoted\",present,,\r\n\
            attendance,p 3,s-01,here,,\r\n\
            \r\n\
            enrolment,p-4,s-01,,c-1,2026-3-1\r\n\
            certification,p-5,,,,\r\n\
            graduation,p-6,,,,\r\n\
            ,p-7,,,,\r\n\
            attendance,p-8,s-01\r\n\
            attendance,p-1,s-01,absent,,\r\n\
            enrolment,p-9,,,c-1,2026-03-01\r\n\
            enrolment,p-9,,,c-1,2026-03-02\r\n\
            attendance,p-10,s-02,,,\r\n";
        assert_eq!(
            errors(text),
            vec![
                "line 3: column session: invalid_id (\"s-01\\r\\nstill\\r\\nquoted\" is not a \
                 valid id: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or \
                 digit)",
                "line 6: column participant: invalid_id (\"p 3\" is not a valid id: 1 to 64 \
                 letters, digits, '.', '_' or '-', starting with a letter or digit)",
                "line 6: column status: invalid_value (\"here\": unknown variant `here`, expected \
                 `present` or `absent`)",
                "line 8: column session: unexpected_value (enrolment rows have no session: leave \
                 the cell empty (it has \"s-01\"))",
                "line 8: column date: invalid_date (\"2026-3-1\" is not a date written \
                 YYYY-MM-DD)",
                "line 9: column course: missing_column (certification rows need a course, and \
                 the file has no course column)",
                "line 9: column result: missing_column (certification rows need a result, and \
                 the file has no result column)",
                "line 9: column date: missing_value (certification rows need a date)",
                "line 10: column type: invalid_value (\"graduation\" is not an evidence type: \
                 enrolment, attendance, attendance-correction, certification, milestone)",
                "line 11: column type: missing_value (every row needs a type)",
                "line 12: wrong_cell_count (3 cells but the header has 6)",
                "line 13: duplicate_row (the same attendance of participant p-1 at session s-01 \
                 as line 2)",
                "line 15: duplicate_row (the same enrolment of participant p-9 in cohort c-1 as \
                 line 14)",
                "line 16: column status: missing_value (attendance rows need a status)",
            ]
        );
    }

    #[test]
    fn identical_rows_are_duplicates_and_different_outcomes_are_not() {
        let text = "type,participant,course,result,date\n\
            certification,p-1,welding,failed,2026-03-01\n\
            certification,p-1,welding,passed,2026-04-01\n\
            certification,p-1,welding,failed,2026-03-01\n";
        assert_eq!(
            errors(text),
            vec!["line 4: duplicate_row (the same row as line 2)"]
        );
    }

    #[test]
    fn the_words_are_exactly_the_ledgers() {
        let e = errors("type,participant,session,status\nAttendance,p-1,s-1,Present\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("line 2: column type: invalid_value"),
            "{e:?}"
        );
        let e = errors("type,participant,session,status\nattendance,p-1,s-1,Present\n");
        assert!(
            e[0].starts_with("line 2: column status: invalid_value"),
            "{e:?}"
        );
    }
}
