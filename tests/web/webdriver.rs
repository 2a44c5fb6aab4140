//! A minimal W3C WebDriver client: drives headless Debian Chromium through chromedriver.
//!
//! This is test code: every WebDriver error becomes a panic naming the command and the
//! driver's message. `Browser::start` returns `None` (after saying so on stderr) when
//! chromedriver or chromium is not installed, unless `CI=true`, where that is a failure.

use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The W3C web element identifier key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How often the `wait_*` methods look again.
const POLL: Duration = Duration::from_millis(100);
/// How much page source a failed lookup shows.
const SNIPPET_CHARS: usize = 2000;

/// An error answered by the WebDriver server.
#[derive(Debug)]
struct DriverError {
    status: u16,
    error: String,
    message: String,
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {}): {}", self.error, self.status, self.message)
    }
}

/// A headless Chromium session driven through its own chromedriver process.
#[derive(Debug)]
pub struct Browser {
    agent: ureq::Agent,
    /// `http://127.0.0.1:PORT`
    root: String,
    session: String,
    driver: Child,
    /// The browser's profile and chromedriver's log; removed on drop.
    scratch: tempfile::TempDir,
}

/// An element of the current page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element").field("id", &self.id).finish()
    }
}

fn binary(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("the bound address").port()
}

fn snippet(text: &str) -> String {
    let mut s: String = text.chars().take(SNIPPET_CHARS).collect();
    if s.len() < text.len() {
        s.push_str("\n[…]");
    }
    s
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session whose downloads go to
    /// `download_dir` without prompting. `None` when the binaries are missing outside CI.
    pub fn start(download_dir: &Path) -> Option<Browser> {
        let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        for (what, path) in [("chromedriver", &chromedriver), ("chromium", &chromium)] {
            if !path.is_file() {
                let msg = format!(
                    "{what} not found at {} (install Debian's chromium and chromium-driver, \
                     or set {})",
                    path.display(),
                    what.to_uppercase()
                );
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("CI=true but {msg}");
                }
                eprintln!("skipping the browser test: {msg}");
                return None;
            }
        }
        let download_dir = std::path::absolute(download_dir).expect("an absolute download dir");
        let scratch = tempfile::Builder::new()
            .prefix("tranche-webdriver-")
            .tempdir()
            .expect("a scratch dir for the browser");
        let profile = scratch.path().join("profile");
        let log = scratch.path().join("chromedriver.log");

        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let mut browser = Browser {
            agent,
            root: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            driver,
            scratch,
        };
        browser.wait_until_ready(Duration::from_secs(20));

        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-dev-shm-usage",
                            "--window-size=1366,900",
                            format!("--user-data-dir={}", profile.display()),
                        ],
                        "prefs": {
                            "download.default_directory": download_dir,
                            "download.prompt_for_download": false,
                            "download.directory_upgrade": true,
                            "safebrowsing.enabled": false,
                        },
                    },
                },
            },
        });
        let url = format!("{}/session", browser.root);
        let created = match browser.request("POST", &url, Some(&capabilities)) {
            Ok(v) => v,
            Err(e) => panic!(
                "chromedriver could not start {}: {e}\nchromedriver log:\n{}",
                chromium.display(),
                browser.log_tail()
            ),
        };
        browser.session = created["sessionId"]
            .as_str()
            .expect("a new session has an id")
            .to_string();
        Some(browser)
    }

    fn wait_until_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/status", self.root);
        loop {
            if let Ok(status) = self.request("GET", &url, None) {
                if status["ready"] == json!(true) {
                    return;
                }
            }
            if let Some(exit) = self.driver.try_wait().expect("chromedriver's status") {
                panic!(
                    "chromedriver exited before it was ready ({exit})\nchromedriver log:\n{}",
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver at {} was not ready within {timeout:?}\nchromedriver log:\n{}",
                self.root,
                self.log_tail()
            );
            sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.scratch.path().join("chromedriver.log"))
            .unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// One WebDriver request: its `value`, or the driver's error. A transport error
    /// (the driver is not there) is a `DriverError` with status 0.
    fn request(&self, method: &str, url: &str, body: Option<&Value>) -> Result<Value, DriverError> {
        let reply = match method {
            "GET" => self.agent.get(url).call(),
            "DELETE" => self.agent.delete(url).call(),
            "POST" => {
                let body = body.map_or_else(|| "{}".to_string(), Value::to_string);
                self.agent
                    .post(url)
                    .header("Content-Type", "application/json")
                    .send(body)
            }
            other => panic!("unsupported method {other}"),
        };
        let mut reply = reply.map_err(|e| DriverError {
            status: 0,
            error: "transport".to_string(),
            message: e.to_string(),
        })?;
        let status = reply.status().as_u16();
        let text = reply
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_else(|e| panic!("{method} {url}: reading the reply: {e}"));
        let mut json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {url}: not JSON ({e}): {}", snippet(&text)));
        let value = json["value"].take();
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            return Err(DriverError {
                status,
                error: error.to_string(),
                message: value["message"].as_str().unwrap_or_default().to_string(),
            });
        }
        if status >= 400 {
            return Err(DriverError {
                status,
                error: "HTTP error".to_string(),
                message: snippet(&text),
            });
        }
        Ok(value)
    }

    /// A command of this session, e.g. `("GET", "/url")`; its `value`, or the driver's error.
    fn try_cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, DriverError> {
        let url = format!("{}/session/{}{path}", self.root, self.session);
        self.request(method, &url, body.as_ref())
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    fn string(&self, path: &str) -> String {
        match self.cmd("GET", path, None) {
            Value::String(s) => s,
            other => panic!("WebDriver GET {path}: expected a string, got {other}"),
        }
    }

    fn element(&self, value: &Value) -> Element<'_> {
        Element {
            browser: self,
            id: value[ELEMENT_KEY]
                .as_str()
                .unwrap_or_else(|| panic!("not a web element: {value}"))
                .to_string(),
        }
    }

    fn not_found(&self, css: &str, detail: &str) -> ! {
        panic!(
            "no element matches {css:?} {detail}\nat {}\npage source:\n{}",
            self.url(),
            snippet(&self.source())
        )
    }

    /// Navigates to `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// The current page's URL.
    pub fn url(&self) -> String {
        self.string("/url")
    }

    /// The current page's title.
    pub fn title(&self) -> String {
        self.string("/title")
    }

    /// The current page's serialized DOM.
    pub fn source(&self) -> String {
        self.string("/source")
    }

    /// The first element matching `css`; panics, showing the page, when there is none.
    pub fn find(&self, css: &str) -> Element<'_> {
        self.try_find(css)
            .unwrap_or_else(|| self.not_found(css, "on the page"))
    }

    /// The first element matching `css`, if any.
    pub fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let by = json!({ "using": "css selector", "value": css });
        match self.try_cmd("POST", "/element", Some(by)) {
            Ok(v) => Some(self.element(&v)),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("WebDriver find {css:?}: {e}"),
        }
    }

    /// Every element matching `css`, in document order.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let by = json!({ "using": "css selector", "value": css });
        match self.cmd("POST", "/elements", Some(by)) {
            Value::Array(items) => items.iter().map(|v| self.element(v)).collect(),
            other => panic!("WebDriver find all {css:?}: expected a list, got {other}"),
        }
    }

    /// Waits until an element matches `css` and returns it; panics, showing the page, on timeout.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Element<'_> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.try_find(css) {
                return e;
            }
            if Instant::now() >= deadline {
                self.not_found(css, &format!("within {timeout:?}"));
            }
            sleep(POLL);
        }
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns its result.
    /// Pass elements with [`Element::as_arg`].
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The current page's cookies, as WebDriver lists them.
    pub fn cookies(&self) -> Value {
        self.cmd("GET", "/cookie", None)
    }

    /// Writes a PNG screenshot of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        let data = self.string("/screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("a base64 screenshot");
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("writing the screenshot {}: {e}", path.display()));
    }

    /// Goes back one page in history.
    pub fn back(&self) {
        self.cmd("POST", "/back", Some(json!({})));
    }

    /// Waits until `dir` holds a file whose name ends with `name_suffix` and no download is
    /// in progress (no `.crdownload` file), and returns its path.
    pub fn wait_for_download(&self, dir: &Path, name_suffix: &str, timeout: Duration) -> PathBuf {
        let deadline = Instant::now() + timeout;
        loop {
            let mut found = None;
            let mut in_progress = false;
            let mut seen = Vec::new();
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".crdownload") {
                        in_progress = true;
                    } else if name.ends_with(name_suffix) {
                        found = Some(entry.path());
                    }
                    seen.push(name);
                }
            }
            if let (Some(path), false) = (&found, in_progress) {
                return path.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no finished download ending in {name_suffix:?} in {} within {timeout:?}; \
                 it holds {seen:?}; the page is {}",
                dir.display(),
                self.url()
            );
            sleep(POLL);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.root, self.session);
            let _ = self.request("DELETE", &url, None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl<'a> Element<'a> {
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.browser
            .cmd(method, &format!("/element/{}{path}", self.id), body)
    }

    /// This element as an argument of [`Browser::execute`].
    pub fn as_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    /// Clicks the element (scrolling it into view first).
    pub fn click(&self) {
        self.cmd("POST", "/click", Some(json!({})));
    }

    /// Types `text` into the element.
    pub fn send_keys(&self, text: &str) {
        self.cmd("POST", "/value", Some(json!({ "text": text })));
    }

    /// Empties an input or textarea.
    pub fn clear(&self) {
        self.cmd("POST", "/clear", Some(json!({})));
    }

    /// The element's rendered text.
    pub fn text(&self) -> String {
        match self.cmd("GET", "/text", None) {
            Value::String(s) => s,
            other => panic!("element text: expected a string, got {other}"),
        }
    }

    /// The element's attribute `name`, if it has one.
    pub fn attr(&self, name: &str) -> Option<String> {
        match self.cmd("GET", &format!("/attribute/{name}"), None) {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }

    /// The element's DOM property `name` (e.g. `value`, `checked`).
    pub fn property(&self, name: &str) -> Value {
        self.cmd("GET", &format!("/property/{name}"), None)
    }

    /// The first descendant matching `css`; panics, showing the page, when there is none.
    pub fn find(&self, css: &str) -> Element<'a> {
        let by = json!({ "using": "css selector", "value": css });
        let path = format!("/element/{}/element", self.id);
        match self.browser.try_cmd("POST", &path, Some(by)) {
            Ok(v) => self.browser.element(&v),
            Err(e) if e.error == "no such element" => self
                .browser
                .not_found(css, &format!("within element {}", self.id)),
            Err(e) => panic!("WebDriver find {css:?} within element: {e}"),
        }
    }

    /// Whether the element is rendered visibly.
    pub fn is_displayed(&self) -> bool {
        self.cmd("GET", "/displayed", None) == json!(true)
    }

    /// Chooses `path` in an `input[type=file]`.
    pub fn upload(&self, path: &Path) {
        let path = std::fs::canonicalize(path)
            .unwrap_or_else(|e| panic!("the file to upload, {}: {e}", path.display()));
        self.send_keys(path.to_str().expect("a UTF-8 path to upload"));
    }
}
