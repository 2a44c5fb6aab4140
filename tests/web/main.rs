//! Browser tests: headless Chromium driven through chromedriver (see `webdriver.rs`).

mod pages;
mod webdriver;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use webdriver::Browser;

const WAIT: Duration = Duration::from_secs(20);
const CSV: &str = "payee,amount\nAda,10.00\n";
const UPLOAD: &str = "tranche upload self-test: 7f3c9a\n";

const FORM_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>webdriver self-test</title></head>
<body>
<form id="greet" method="post" action="/greet">
  <input id="name" name="name" type="text" value="placeholder">
  <button id="send" type="submit">Send</button>
</form>
<form id="up" method="post" action="/upload" enctype="multipart/form-data">
  <input id="file" name="file" type="file">
  <button id="upload" type="submit">Upload</button>
</form>
<p id="hidden" style="display:none">hidden</p>
<a id="download" href="/a.csv">a.csv</a>
</body></html>
"#;

/// A request as the test server saw it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// A tiny HTTP/1.1 server on a loopback port, one thread per connection, `Connection: close`.
#[derive(Debug)]
struct Site {
    base: String,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Site {
    fn start() -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test site");
        let base = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("its address").port()
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve(stream, &log));
            }
        });
        Site { base, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requests(&self, method: &str, path: &str) -> Vec<Request> {
        let seen = self.seen.lock().expect("the request log");
        seen.iter()
            .filter(|r| r.method == method && r.path == path)
            .cloned()
            .collect()
    }
}

/// Reads one request and answers it; a connection that sends nothing (a browser's
/// preconnect) times out quietly.
fn serve(stream: TcpStream, log: &Mutex<Vec<Request>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("a numeric Content-Length");
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = Request { method, path, body };
    log.lock().expect("the request log").push(request.clone());

    let (status, headers, body) = respond(&request);
    let mut reply = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        reply.push_str(&format!("{name}: {value}\r\n"));
    }
    reply.push_str("\r\n");
    let mut stream = &stream;
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.flush();
}

fn html(body: String) -> (&'static str, Vec<(&'static str, String)>, Vec<u8>) {
    (
        "200 OK",
        vec![("Content-Type", "text/html; charset=utf-8".to_string())],
        body.into_bytes(),
    )
}

fn respond(r: &Request) -> (&'static str, Vec<(&'static str, String)>, Vec<u8>) {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/") => {
            let (status, mut headers, body) = html(FORM_PAGE.to_string());
            headers.push(("Set-Cookie", "visited=yes; Path=/".to_string()));
            (status, headers, body)
        }
        ("POST", "/greet") => {
            let body = String::from_utf8_lossy(&r.body);
            let name = body
                .split('&')
                .find_map(|kv| kv.strip_prefix("name="))
                .map(form_decode)
                .unwrap_or_default();
            html(format!(
                "<!doctype html><title>greeted</title><p id=\"greeting\">Hello, {}</p>",
                escape(&name)
            ))
        }
        ("POST", "/upload") => html(format!(
            "<!doctype html><title>uploaded</title><p id=\"uploaded\">received {} bytes</p>",
            r.body.len()
        )),
        ("GET", "/a.csv") => (
            "200 OK",
            vec![
                ("Content-Type", "text/csv".to_string()),
                (
                    "Content-Disposition",
                    "attachment; filename=\"a.csv\"".to_string(),
                ),
            ],
            CSV.as_bytes().to_vec(),
        ),
        _ => ("404 Not Found", vec![], b"not found".to_vec()),
    }
}

/// Decodes an `application/x-www-form-urlencoded` value.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[test]
fn webdriver_drives_headless_chromium() {
    let started = Instant::now();
    let downloads = tempfile::tempdir().expect("a download dir");
    let Some(browser) = Browser::start(downloads.path()) else {
        return;
    };
    eprintln!("browser started in {:?}", started.elapsed());
    let site = Site::start();

    // Navigation, title, source, attributes, properties, visibility, scripts, cookies.
    browser.goto(&site.url("/"));
    assert_eq!(browser.url(), site.url("/"));
    assert_eq!(browser.title(), "webdriver self-test");
    assert!(browser.source().contains("id=\"greet\""));
    assert_eq!(browser.find_all("form").len(), 2);
    assert_eq!(browser.find_all("input").len(), 2);
    assert!(browser.try_find("#absent").is_none());
    let form = browser.find("#greet");
    let input = form.find("input[name=name]");
    assert_eq!(input.attr("type").as_deref(), Some("text"));
    assert_eq!(input.attr("data-absent"), None);
    assert_eq!(input.property("value"), json!("placeholder"));
    assert!(input.is_displayed());
    assert!(!browser.find("#hidden").is_displayed());
    assert_eq!(
        browser.execute(
            "return arguments[0].id + ':' + (arguments[1] + 1)",
            &[input.as_arg(), json!(41)]
        ),
        json!("name:42")
    );
    let cookies = browser.cookies();
    assert!(
        cookies
            .as_array()
            .expect("a list of cookies")
            .iter()
            .any(|c| c["name"] == "visited" && c["value"] == "yes"),
        "{cookies}"
    );

    // Typing and submitting a form.
    input.clear();
    input.send_keys("Ada Lovelace & <co>");
    assert_eq!(input.property("value"), json!("Ada Lovelace & <co>"));
    browser.find("#send").click();
    let greeting = browser.wait_for("#greeting", WAIT);
    assert_eq!(greeting.text(), "Hello, Ada Lovelace & <co>");
    assert_eq!(browser.url(), site.url("/greet"));
    let posted = site.requests("POST", "/greet");
    assert_eq!(posted.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&posted[0].body),
        "name=Ada+Lovelace+%26+%3Cco%3E"
    );

    // Uploading a file.
    browser.back();
    let scratch = tempfile::tempdir().expect("a scratch dir");
    let upload = scratch.path().join("upload.txt");
    std::fs::write(&upload, UPLOAD).expect("write the file to upload");
    browser.wait_for("#file", WAIT).upload(&upload);
    browser.find("#upload").click();
    let uploaded = browser.wait_for("#uploaded", WAIT);
    let received = site.requests("POST", "/upload");
    assert_eq!(received.len(), 1);
    let multipart = String::from_utf8_lossy(&received[0].body);
    assert!(multipart.contains(UPLOAD), "{multipart}");
    assert!(multipart.contains("filename=\"upload.txt\""), "{multipart}");
    assert_eq!(
        uploaded.text(),
        format!("received {} bytes", received[0].body.len())
    );

    // Downloading a file.
    browser.back();
    browser.wait_for("#download", WAIT).click();
    let csv = browser.wait_for_download(downloads.path(), "a.csv", WAIT);
    assert_eq!(csv, downloads.path().join("a.csv"));
    assert_eq!(std::fs::read_to_string(&csv).expect("the download"), CSV);

    // A screenshot.
    let shot = scratch.path().join("page.png");
    browser.screenshot(&shot);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 1000, "a {}-byte screenshot", png.len());

    drop(browser);
    eprintln!("the browser self-test took {:?}", started.elapsed());
}
