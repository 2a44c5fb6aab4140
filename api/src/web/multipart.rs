//! `multipart/form-data` (RFC 7578), as browsers send file uploads: parts separated by the
//! boundary, each with a `Content-Disposition: form-data; name="…"[; filename="…"]` header.

use std::collections::BTreeMap;

use super::session::Fields;

/// The first `needle` in `hay` at or after `from` (linear time, whatever the sender chose as
/// its boundary).
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    memchr::memmem::find(&hay[from..], needle).map(|i| i + from)
}

/// A `key="value"` parameter of a header value.
fn param(header: &str, key: &str) -> Option<String> {
    for part in header.split(';').skip(1) {
        let (k, v) = part.trim().split_once('=')?;
        if k.trim().eq_ignore_ascii_case(key) {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            return Some(v.replace("\\\"", "\""));
        }
    }
    None
}

/// Parses a multipart body given its Content-Type header.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Fields, String> {
    let boundary = content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim_matches('"').to_string())
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or("the upload has no multipart boundary")?;
    let delim = format!("--{boundary}");
    let mut fields = Fields {
        text: BTreeMap::new(),
        files: BTreeMap::new(),
    };
    let mut pos = find(body, delim.as_bytes(), 0).ok_or("the upload is not multipart data")?;
    loop {
        pos += delim.len();
        if body.get(pos..).is_none_or(|rest| rest.starts_with(b"--")) {
            break;
        }
        if !body
            .get(pos..)
            .is_some_and(|rest| rest.starts_with(b"\r\n"))
        {
            return Err("a part of the upload is malformed".into());
        }
        pos += 2;
        let head_end =
            find(body, b"\r\n\r\n", pos).ok_or("a part of the upload has no header end")?;
        let head = std::str::from_utf8(&body[pos..head_end])
            .map_err(|_| "a part header of the upload is not UTF-8")?;
        let next_delim = format!("\r\n{delim}");
        let end = find(body, next_delim.as_bytes(), head_end + 4)
            .ok_or("the upload ends before its last boundary")?;
        let content = &body[head_end + 4..end];
        let disposition = head
            .split("\r\n")
            .find(|l| {
                l.split_once(':')
                    .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
            })
            .and_then(|l| l.split_once(':').map(|(_, v)| v.trim().to_string()))
            .ok_or("a part of the upload has no Content-Disposition")?;
        let name = param(&disposition, "name").ok_or("a part of the upload has no name")?;
        match param(&disposition, "filename") {
            Some(filename) => {
                fields.files.insert(name, (filename, content.to_vec()));
            }
            None => {
                let text = String::from_utf8(content.to_vec())
                    .map_err(|_| format!("the field {name} is not UTF-8 text"))?;
                fields.text.insert(name, text);
            }
        }
        pos = end + 2;
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_files_are_read_and_malformed_uploads_refused() {
        let body =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\n\
type,participant\r\nline\r\n--XyZ--\r\n";
        let f = parse("multipart/form-data; boundary=XyZ", body).expect("parses");
        assert_eq!(f.get("csrf"), "abc");
        let (name, bytes) = &f.files["file"];
        assert_eq!(name, "a.csv");
        assert_eq!(bytes.as_slice(), b"type,participant\r\nline");
        assert!(parse("multipart/form-data", body).is_err());
        assert!(parse(
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end"
        )
        .is_err());
        assert!(parse("multipart/form-data; boundary=Q", body).is_err());
    }
}
