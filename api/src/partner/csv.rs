//! CSV files as partners and field tools write them (RFC 4180), read into rows that know their
//! physical line, and the refusal of one line of such a file.

use std::fmt;
use tranche_audit::Code;

/// One CSV record: its cells, untrimmed, and the physical line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    pub line: usize,
    pub cells: Vec<String>,
}

/// A refusal of one line of an input file: `line N: column C: rule (detail)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub column: Option<String>,
    pub code: Code,
    pub detail: String,
}

impl LineError {
    pub(crate) fn new(line: usize, code: Code, detail: impl Into<String>) -> LineError {
        LineError {
            line,
            column: None,
            code,
            detail: detail.into(),
        }
    }

    pub(crate) fn column(mut self, column: impl Into<String>) -> LineError {
        self.column = Some(column.into());
        self
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(c) = &self.column {
            write!(f, ": column {c}")?;
        }
        write!(f, ": {} ({})", self.code, self.detail)
    }
}

/// Reads RFC 4180 CSV with [`tranche_ledger::csv::records`]: cells separated by commas,
/// records by LF or CRLF, a cell in double quotes may hold commas, line breaks and `""` for a
/// quote. A leading byte order mark is dropped and empty lines are skipped. Each record knows
/// the physical line it starts on, so a quoted line break moves later records down; quoting
/// that breaks the RFC is refused naming its line.
pub fn read_csv(text: &str) -> Result<Vec<CsvRow>, LineError> {
    tranche_ledger::csv::records(text)
        .map(|r| match r {
            Ok(r) => Ok(CsvRow {
                line: r.line as usize,
                cells: r.cells,
            }),
            Err(e) => Err(LineError::new(e.line as usize, e.code, e.detail)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<(usize, Vec<String>)> {
        read_csv(text)
            .expect("valid CSV")
            .into_iter()
            .map(|r| (r.line, r.cells))
            .collect()
    }

    fn row(line: usize, cells: &[&str]) -> (usize, Vec<String>) {
        (line, cells.iter().map(ToString::to_string).collect())
    }

    // ---- the CSV reader ----

    #[test]
    fn csv_plain_rows_with_and_without_a_final_line_end() {
        assert_eq!(
            rows("a,b\n1,2\n"),
            vec![row(1, &["a", "b"]), row(2, &["1", "2"])]
        );
        assert_eq!(
            rows("a,b\n1,2"),
            vec![row(1, &["a", "b"]), row(2, &["1", "2"])]
        );
        assert_eq!(rows("a,,\n"), vec![row(1, &["a", "", ""])]);
        assert!(rows("").is_empty());
    }

    #[test]
    fn csv_quoted_cells_hold_commas_quotes_and_line_breaks() {
        assert_eq!(
            rows("a,\"b,c\",\"say \"\"hi\"\"\"\n\"x\ny\nz\",2\nlast,1\n"),
            vec![
                row(1, &["a", "b,c", "say \"hi\""]),
                row(2, &["x\ny\nz", "2"]),
                row(5, &["last", "1"]),
            ]
        );
        assert_eq!(rows("\"\",\"\"\n"), vec![row(1, &["", ""])]);
        // Spaces after the closing quote stay in the cell (rows are trimmed when read); a
        // quote after a space opens nothing and is refused.
        assert_eq!(rows("\"a\" ,b\n"), vec![row(1, &["a ", "b"])]);
        let e = read_csv("a, \"b\"\n").expect_err("refused");
        assert_eq!((e.line, e.code), (1, Code::StrayQuote));
    }

    #[test]
    fn csv_bom_crlf_and_blank_lines_keep_physical_line_numbers() {
        assert_eq!(
            rows("\u{feff}a,b\r\n\r\n1,\"x\r\ny\"\r\n2,3\r\n"),
            vec![
                row(1, &["a", "b"]),
                row(3, &["1", "x\r\ny"]),
                row(5, &["2", "3"]),
            ]
        );
    }

    #[test]
    fn csv_syntax_errors_name_their_line() {
        let e = read_csv("a,b\n1,\"open\n2,3\n").expect_err("refused");
        assert_eq!((e.line, e.code), (2, Code::UnterminatedQuote));
        let e = read_csv("a,b\n\"x\ny\",ok\n1,b\"c\n").expect_err("refused");
        assert_eq!((e.line, e.code), (4, Code::StrayQuote));
        let e = read_csv("a,b\n\"x\"y,1\n").expect_err("refused");
        assert_eq!((e.line, e.code), (2, Code::TextAfterQuote));
    }
}
