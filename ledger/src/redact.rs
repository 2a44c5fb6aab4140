//! Database URLs as they may be printed: with the password replaced by `***`. A URL reaches
//! error messages, `Debug` output and logs, and those are copied into tickets and chat; the
//! password in it must not travel with them. Everything that shows a URL goes through
//! [`redact_url`] (or holds a [`RedactedUrl`], which can only be made redacted).

use std::fmt;

/// What a password is shown as.
const HIDDEN: &str = "***";

/// `url` with every password in it replaced by `***`: the one in the user information
/// (`postgres://user:***@host/db`) and the value of any `password=` or `sslpassword=` parameter,
/// in a query string (`?password=***`) or a libpq `key=value` string (`password=***`). Anything
/// that is not a password is kept, so the URL still says which database it names. When unsure
/// where the user information ends, it hides too much rather than too little.
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let rest = match url.find("://") {
        Some(i) => {
            let (scheme, after) = url.split_at(i + 3);
            out.push_str(scheme);
            // The last '@' ends the user information: a password may hold an unencoded '@',
            // '/' or '?', and a name or address seldom does.
            match after.rfind('@') {
                Some(at) => {
                    let userinfo = &after[..at];
                    match userinfo.find(':') {
                        Some(colon) => {
                            out.push_str(&userinfo[..=colon]);
                            out.push_str(HIDDEN);
                        }
                        None => out.push_str(userinfo),
                    }
                    &after[at..]
                }
                None => after,
            }
        }
        None => url,
    };
    out.push_str(&redact_parameters(rest));
    out
}

/// `text` with the value of every `…password=` parameter replaced by `***`. The value ends at
/// `&`, `#` or white space, or at its closing quote when quoted (libpq's `password='a b'`).
fn redact_parameters(text: &str) -> String {
    const KEY: &str = "password=";
    // ASCII lower-casing keeps every byte where it was, so offsets found in `lower` hold in
    // `text`.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(KEY) {
        let start = from + found + KEY.len();
        let value = &text[start..];
        let len = if let Some(quoted) = value.strip_prefix('\'') {
            let mut escaped = false;
            let close = quoted.char_indices().find_map(|(i, c)| match c {
                _ if escaped => {
                    escaped = false;
                    None
                }
                '\\' => {
                    escaped = true;
                    None
                }
                '\'' => Some(i),
                _ => None,
            });
            close.map_or(value.len(), |i| i + 2)
        } else {
            value
                .find(|c: char| c == '&' || c == '#' || c.is_whitespace())
                .unwrap_or(value.len())
        };
        out.push_str(&text[copied..start]);
        out.push_str(HIDDEN);
        copied = start + len;
        from = copied;
    }
    out.push_str(&text[copied..]);
    out
}

/// A database URL that is safe to print: redacted when it is made, so its `Display` and its
/// `Debug` never hold the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactedUrl(String);

impl RedactedUrl {
    pub fn new(url: &str) -> Self {
        RedactedUrl(redact_url(url))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_of_a_url_is_hidden_and_the_rest_kept() {
        for (url, shown) in [
            (
                "postgres://app:s3cret@db.example:5432/tranche",
                "postgres://app:***@db.example:5432/tranche",
            ),
            (
                "postgresql://app:p%40ss@db/tranche?sslmode=require",
                "postgresql://app:***@db/tranche?sslmode=require",
            ),
            // Unencoded '@' and '/' in the password.
            (
                "postgres://app:s3@c/ret@db/tranche",
                "postgres://app:***@db/tranche",
            ),
            (
                "postgres://:s3cret@db/tranche",
                "postgres://:***@db/tranche",
            ),
            (
                "postgres://app@db/tranche?sslmode=require&password=s3cret&application_name=x",
                "postgres://app@db/tranche?sslmode=require&password=***&application_name=x",
            ),
            (
                "postgres://app@db/tranche?PASSWORD=s3cret",
                "postgres://app@db/tranche?PASSWORD=***",
            ),
            (
                "postgres://app@db/tranche?sslpassword=s3cret",
                "postgres://app@db/tranche?sslpassword=***",
            ),
            (
                "host=db user=app password='s3 c\\'ret' dbname=tranche",
                "host=db user=app password=*** dbname=tranche",
            ),
            (
                "host=db password=s3cret dbname=tranche",
                "host=db password=*** dbname=tranche",
            ),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn a_url_without_a_password_is_shown_as_it_is() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/t_1",
            "postgres://db/tranche",
            "sqlite:///var/lib/tranche/tranche.db",
            "sqlite://data/tranche.db",
            "sqlite::memory:",
            "",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn a_redacted_url_never_prints_its_password() {
        let url = RedactedUrl::new("postgres://app:s3cret@db/tranche");
        assert_eq!(url.to_string(), "postgres://app:***@db/tranche");
        assert_eq!(format!("{url:?}"), "\"postgres://app:***@db/tranche\"");
    }
}
