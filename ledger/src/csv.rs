//! Writing CSV cells for finance staff's spreadsheets: RFC 4180 quoting, and formula injection
//! defused (a cell starting with `=`, `+`, `-` or `@` gets a leading `'`, except an international
//! phone number, which a spreadsheet reads as a number).

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

#[cfg(test)]
mod tests {
    use super::cell;

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
