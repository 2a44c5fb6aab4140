//! CSV for people and their spreadsheets.
//!
//! Writing: cells for finance staff's spreadsheets, with RFC 4180 quoting and formula injection
//! defused (a cell starting with `=`, `+`, `-` or `@` gets a leading `'`, except an international
//! phone number, which a spreadsheet reads as a number).
//!
//! Reading: [`records`] reads the CSV files partners, field tools and banks send (RFC 4180 in
//! UTF-8) through the `csv` crate, and adds what tranche's error messages need: the physical line
//! each record starts on (the first line is 1, a line break inside a quoted cell counts), a
//! leading byte order mark dropped, records of any length (the caller compares them with its
//! header and names the line), and quoting that breaks RFC 4180 refused instead of guessed at.

use tranche_audit::Code;

/// True for a phone number in international form (`+` and digits).
fn is_phone_number(cell: &str) -> bool {
    cell.len() > 1 && cell.starts_with('+') && cell[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Appends one cell to `out`.
pub fn push_cell(out: &mut String, cell: &str) {
    let defuse = matches!(cell.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@'))
        && !is_phone_number(cell);
    let quote = cell.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if defuse {
        out.push('\'');
    }
    if quote {
        out.push_str(&cell.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(cell);
    }
}

/// One cell as a string.
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_cell(&mut out, text);
    out
}

/// The most cells one record may have: far more than any of tranche's CSV files has columns, and
/// few enough that a file of commas cannot make millions of cells.
pub const MAX_CELLS: usize = 1_000;

/// One record of a CSV file: its cells as written (not trimmed) and the physical line it
/// starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub cells: Vec<String>,
}

/// A record that cannot be read, with the line where the problem is (for an unclosed quote,
/// the line it opens on) and the rule it breaks: `stray_quote`, `text_after_quote`,
/// `unterminated_quote` or `too_many_cells`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: u64,
    pub code: Code,
    pub detail: String,
}

/// The records of CSV text, in order; see [`records`].
#[derive(Debug)]
pub struct Records<'a> {
    /// The text without its byte order mark: the reader's byte offsets index into it.
    text: &'a str,
    reader: ::csv::Reader<&'a [u8]>,
    record: ::csv::StringRecord,
}

/// Reads CSV text: cells separated by commas, records by LF, CRLF or CR, a cell in double
/// quotes may hold commas, line breaks and `""` for a quote. Empty lines are skipped (a line
/// of spaces is a record of one cell). A cell is taken as written, spaces included: a space
/// after a closing quote stays in the cell, and one before an opening quote makes the quote
/// stray.
pub fn records(text: &str) -> Records<'_> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    Records {
        text,
        reader,
        record: ::csv::StringRecord::new(),
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.reader.position().clone();
        let read = self.reader.read_record(&mut self.record);
        let end = self.reader.position().byte() as usize;
        // The reader skips empty lines before a record as part of reading it, so the record
        // starts after the line ends that follow the previous record.
        let skipped = &self.text[start.byte() as usize..end];
        let raw = skipped.trim_start_matches(['\r', '\n']);
        let line = start.line() + newlines(&skipped[..skipped.len() - raw.len()]);
        match read {
            Ok(false) => None,
            // Reading text from memory fails only on bad UTF-8 or I/O, neither of which a
            // `&str` can have; a record is refused all the same rather than trusted.
            Err(e) => Some(Err(SyntaxError {
                line,
                code: Code::MalformedCsv,
                detail: e.to_string(),
            })),
            Ok(true) => Some(match quote_fault(raw) {
                Some((at, code, detail)) => Err(SyntaxError {
                    line: line + newlines(&raw[..at]),
                    code,
                    detail,
                }),
                None if self.record.len() > MAX_CELLS => Err(SyntaxError {
                    line,
                    code: Code::TooManyCells,
                    detail: format!(
                        "has {} cells; at most {MAX_CELLS} are read",
                        self.record.len()
                    ),
                }),
                None => Ok(Record {
                    line,
                    cells: self.record.iter().map(str::to_string).collect(),
                }),
            }),
        }
    }
}

fn newlines(text: &str) -> u64 {
    text.bytes().filter(|&b| b == b'\n').count() as u64
}

/// Where one record's quoting breaks RFC 4180, as its offset in `raw`, code and detail. The
/// `csv` crate reads such a record leniently (`b"c` as it stands, `"x"y` as `xy`, an unclosed
/// quote to the end of the file); a file like that was cut short or edited by hand, and a
/// guess would put wrong values in the ledger, so it is refused.
fn quote_fault(raw: &str) -> Option<(usize, Code, String)> {
    #[derive(Clone, Copy)]
    enum Cell {
        Start,
        Unquoted,
        /// Inside quotes opened at this offset.
        Quoted(usize),
        /// After the closing quote.
        Closed,
    }
    let mut cell = Cell::Start;
    let mut bytes = raw.bytes().enumerate().peekable();
    while let Some((i, b)) = bytes.next() {
        cell = match (cell, b) {
            (Cell::Quoted(_), b'"') if bytes.peek().map(|&(_, n)| n) == Some(b'"') => {
                bytes.next();
                cell
            }
            (Cell::Quoted(_), b'"') => Cell::Closed,
            (Cell::Quoted(_), _) => cell,
            (_, b',') => Cell::Start,
            (Cell::Start, b'"') => Cell::Quoted(i),
            (_, b'"') => {
                return Some((
                    i,
                    Code::StrayQuote,
                    "a '\"' inside a cell that does not start with one (a space before it \
                     counts): quote the whole cell and double the quote"
                        .to_string(),
                ))
            }
            (Cell::Closed, b) if !b.is_ascii_whitespace() => {
                // `i` follows an ASCII quote or space, so it starts a character.
                let c = raw[i..].chars().next().unwrap_or_default();
                return Some((
                    i,
                    Code::TextAfterQuote,
                    format!("{c:?} after the closing quote of a cell: quote the whole cell"),
                ));
            }
            (Cell::Closed, _) => Cell::Closed,
            _ => Cell::Unquoted,
        };
    }
    match cell {
        Cell::Quoted(open) => Some((
            open,
            Code::UnterminatedQuote,
            "a quoted cell opened on this line is never closed".to_string(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<(u64, Vec<String>)> {
        records(text)
            .map(|r| r.expect("valid CSV"))
            .map(|r| (r.line, r.cells))
            .collect()
    }

    fn row(line: u64, cells: &[&str]) -> (u64, Vec<String>) {
        (line, cells.iter().map(ToString::to_string).collect())
    }

    fn refusal(text: &str) -> (u64, &'static str) {
        let e = records(text)
            .find_map(Result::err)
            .expect("a record is refused");
        (e.line, e.code.as_str())
    }

    #[test]
    fn records_keep_the_physical_line_they_start_on() {
        assert_eq!(
            read("\u{feff}a,b\r\n\r\n\n1,\"x\r\ny\"\r\n\"p\nq\",\"\"\n2,3"),
            vec![
                row(1, &["a", "b"]),
                row(4, &["1", "x\r\ny"]),
                row(6, &["p\nq", ""]),
                row(8, &["2", "3"]),
            ]
        );
        assert_eq!(
            read("a,,\n  \n"),
            vec![row(1, &["a", "", ""]), row(2, &["  "])]
        );
        assert!(read("").is_empty());
        assert!(read("\u{feff}\r\n\n").is_empty());
    }

    #[test]
    fn records_of_any_length_are_read_up_to_the_limit() {
        assert_eq!(
            read("a\nb,c,d\n"),
            vec![row(1, &["a"]), row(2, &["b", "c", "d"])]
        );
        let wide = ",".repeat(MAX_CELLS - 1);
        assert_eq!(read(&wide)[0].1.len(), MAX_CELLS);
        assert_eq!(refusal(&format!("a\n\n{wide},")), (3, "too_many_cells"));
    }

    #[test]
    fn quoting_that_breaks_rfc_4180_is_refused_naming_its_line() {
        assert_eq!(refusal("a,b\n1,\"open\n2,3\n"), (2, "unterminated_quote"));
        assert_eq!(refusal("a,b\n\"x\ny\",ok\n1,b\"c\n"), (4, "stray_quote"));
        assert_eq!(refusal("a,b\n\"x\ny\"z,1\n"), (3, "text_after_quote"));
        // An opening quote after a space is not one: the csv crate would keep it in the cell.
        assert_eq!(refusal("a, \"b,c\"\n"), (1, "stray_quote"));
        // Spaces after a closing quote are part of the cell; the callers trim.
        assert_eq!(read("\"a\" ,b\n"), vec![row(1, &["a ", "b"])]);
        let e = records("\"x\"é\n").find_map(Result::err).expect("refused");
        assert_eq!(
            e.detail,
            "'é' after the closing quote of a cell: quote the whole cell"
        );
    }

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(cell("-1,2"), "\"'-1,2\"");
        assert_eq!(cell("+593990000000"), "+593990000000");
        assert_eq!(cell("+cmd"), "'+cmd");
    }
}
