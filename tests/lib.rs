//! Test support for tranche's integration tests: a ledger on either backend, and a throwaway
//! PostgreSQL cluster shared by every test of one test binary (one fresh database per test).
//!
//! PostgreSQL is found as `TRANCHE_TEST_DATABASE_URL` (an admin URL of a server to use), or
//! started from the server binaries. Under `CI=true` a missing PostgreSQL fails the tests;
//! elsewhere those tests print that they were skipped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use tranche_ledger::testkit::pgtemp::{self, TempCluster};
use tranche_ledger::{Config, Ledger};

/// Which store a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static CLUSTER: OnceLock<Result<Option<TempCluster>, String>> = OnceLock::new();
static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The admin URL of the test PostgreSQL server, starting one if needed; `None` when PostgreSQL
/// is not installed outside CI.
fn admin_url() -> Option<String> {
    if let Ok(url) = std::env::var("TRANCHE_TEST_DATABASE_URL") {
        return Some(url);
    }
    let cluster = CLUSTER.get_or_init(|| match TempCluster::start(false) {
        Ok(c) => Ok(Some(c)),
        Err(pgtemp::PgTempError::NotInstalled) if !in_ci() => Ok(None),
        Err(e) => Err(e.to_string()),
    });
    match cluster {
        Ok(Some(c)) => Some(c.url("postgres")),
        Ok(None) => None,
        Err(e) => panic!("PostgreSQL is required for these tests but could not start: {e}"),
    }
}

static REPLICA: OnceLock<Result<TempCluster, String>> = OnceLock::new();

/// The URL of `primary_url`'s database on a streaming replica of the test cluster (started on
/// first use), or `None` when the tests use an outside server (`TRANCHE_TEST_DATABASE_URL`),
/// which this cannot replicate.
pub fn replica_url(primary_url: &str) -> Option<String> {
    let Some(Ok(Some(cluster))) = CLUSTER.get() else {
        eprintln!("no test cluster of our own: skipping the replica test");
        return None;
    };
    let replica = REPLICA.get_or_init(|| cluster.start_replica().map_err(|e| e.to_string()));
    let replica = match replica {
        Ok(r) => r,
        Err(e) => panic!("a streaming replica of the test cluster could not start: {e}"),
    };
    let db = primary_url.rsplit_once('/').map(|(_, db)| db)?;
    Some(replica.url(db))
}

/// A fresh, empty PostgreSQL database URL, or `None` (test skipped) outside CI without
/// PostgreSQL.
pub async fn fresh_postgres_url() -> Option<String> {
    let Some(admin) = admin_url() else {
        eprintln!("PostgreSQL not installed: skipping the PostgreSQL variant of this test");
        return None;
    };
    let n = DB_COUNTER.fetch_add(1, Ordering::SeqCst);
    let name = format!("t_{}_{n}", std::process::id());
    Some(
        pgtemp::create_database(&admin, &name)
            .await
            .expect("create a test database"),
    )
}

/// A ledger under test: the ledger and the temporary directory that holds its files.
#[derive(Debug)]
pub struct TestLedger {
    pub ledger: Ledger,
    pub config: Config,
    pub dir: tempfile::TempDir,
}

impl TestLedger {
    /// Opens another handle on the same database and key (as a second process would).
    pub async fn reopen(&self) -> Ledger {
        Ledger::open(&self.config).await.expect("reopen")
    }
}

/// A new ledger on `backend`, or `None` if that backend is unavailable (outside CI only).
pub async fn ledger(backend: Backend) -> Option<TestLedger> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::new(dir.path().join("data"));
    config.origin = Some("tranche.test/ledger".into());
    if backend == Backend::Postgres {
        config.database_url = Some(fresh_postgres_url().await?);
    }
    let ledger = Ledger::open(&config).await.expect("open ledger");
    Some(TestLedger {
        ledger,
        config,
        dir,
    })
}

/// A fixed clock for deterministic records.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_323_200, 0).expect("valid time")
}

/// Writes one test per backend for an async scenario `fn(TestLedger)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let l = $crate::ledger($crate::Backend::Sqlite).await.expect("sqlite is always available");
                    super::$name(l).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(l) = $crate::ledger($crate::Backend::Postgres).await {
                        super::$name(l).await;
                    }
                }
            )*
        }
    };
}

/// The runtime a test server runs on.
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A real `tranche` server on 127.0.0.1:0 with its own runtime, for end-to-end tests that talk
/// HTTP to it. Dropping it shuts the server down gracefully.
#[derive(Debug)]
pub struct TestServer {
    pub url: String,
    pub admin: String,
    pub ledger: Ledger,
    pub test_ledger: TestLedger,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    /// Starts a server on a new ledger, or `None` when the backend is unavailable (outside CI).
    pub fn start(backend: Backend) -> Option<TestServer> {
        let runtime = server_runtime();
        let test_ledger = runtime.block_on(ledger(backend))?;
        let server = Self::start_on(runtime, test_ledger);
        Some(server)
    }

    /// Stops this server as a process would stop (its runtime, its ledger handle, its writer
    /// and every cache gone) and starts a new one on the same database, key and address: what
    /// the new one knows, it read from the database.
    pub fn restart(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
        }
        let runtime = server_runtime();
        let config = self.test_ledger.config.clone();
        let ledger = runtime.block_on(Ledger::open(&config)).expect("reopen");
        let dir = std::mem::replace(
            &mut self.test_ledger.dir,
            tempfile::tempdir().expect("temp dir"),
        );
        let test_ledger = TestLedger {
            ledger,
            config,
            dir,
        };
        let address = self.url.trim_start_matches("http://").to_string();
        let admin = std::mem::take(&mut self.admin);
        let mut fresh = Self::start_at(runtime, test_ledger, &address);
        fresh.admin = admin;
        std::mem::swap(self, &mut fresh);
        // `fresh` is now the stopped server with an empty temporary directory.
    }

    fn start_on(runtime: tokio::runtime::Runtime, test_ledger: TestLedger) -> TestServer {
        Self::start_at(runtime, test_ledger, "127.0.0.1:0")
    }

    fn start_at(
        runtime: tokio::runtime::Runtime,
        test_ledger: TestLedger,
        address: &str,
    ) -> TestServer {
        let ledger = test_ledger.ledger.clone();
        let (listener, admin) = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .expect("bind the address");
            let admin = match tranche_api::server::routes::new_user(&ledger, "admin", "admin", None)
                .await
            {
                Ok((_, token)) => token,
                // A second server on the same database shares the users.
                Err(_) => String::new(),
            };
            (listener, admin)
        });
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = ledger.clone();
        runtime.spawn(async move {
            tranche_api::server::serve(listener, served, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        TestServer {
            url,
            admin,
            ledger,
            test_ledger,
            shutdown: Some(tx),
            runtime: Some(runtime),
        }
    }

    /// A second server process on the same database and key (as behind a load balancer).
    pub fn second(&self) -> TestServer {
        let runtime = server_runtime();
        let config = self.test_ledger.config.clone();
        let ledger = runtime
            .block_on(Ledger::open(&config))
            .expect("second handle");
        let test_ledger = TestLedger {
            ledger,
            config,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let mut s = Self::start_on(runtime, test_ledger);
        s.admin = self.admin.clone();
        s
    }

    pub fn client(&self, token: &str) -> Client {
        Client::new(&self.url, token)
    }

    pub fn admin(&self) -> Client {
        self.client(&self.admin)
    }

    /// Runs a future on the server's runtime (for direct store checks).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.as_ref().expect("running").block_on(f)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
        }
    }
}

/// A response: status, headers we care about, body text.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub replayed: bool,
    pub body: String,
    /// Response headers, lower-case names (the last value of a repeated one).
    pub headers: std::collections::BTreeMap<String, String>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts a problem+json with this status, code and field.
    pub fn problem(&self, status: u16, code: &str, field: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.body
        );
        let p = self.json();
        assert_eq!(p["code"], code, "{}", self.body);
        assert_eq!(p["status"], status, "{}", self.body);
        assert!(p["type"].is_string() && p["title"].is_string() && p["detail"].is_string());
        match field {
            Some(f) => assert_eq!(p["field"], f, "{}", self.body),
            None => assert!(p.get("field").is_none(), "{}", self.body),
        }
    }
}

/// A blocking HTTP client with a bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Client {
    pub fn new(base: &str, token: &str) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Client {
            agent: config.into(),
            base: base.to_string(),
            token: token.to_string(),
        }
    }

    fn finish(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut r = r.expect("the server answers");
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let replayed = r.headers().contains_key("idempotent-replayed");
        let headers = r
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .expect("body");
        Reply {
            status,
            content_type,
            replayed,
            body,
            headers,
        }
    }

    /// A request with any method and no body (to probe methods a route does not serve).
    pub fn call(&self, method: &str, path: &str) -> Reply {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !self.token.is_empty() {
            req = req.header("Authorization", format!("Bearer {}", self.token));
        }
        Self::finish(self.agent.run(req.body(()).expect("a request")))
    }

    pub fn get(&self, path: &str) -> Reply {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if !self.token.is_empty() {
            req = req.header("Authorization", format!("Bearer {}", self.token));
        }
        Self::finish(req.call())
    }

    pub fn post(&self, path: &str, key: Option<&str>, body: &str) -> Reply {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        if !self.token.is_empty() {
            req = req.header("Authorization", format!("Bearer {}", self.token));
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        Self::finish(req.send(body))
    }

    /// Creates a user through the API and returns its token.
    pub fn add_user(&self, name: &str, role: &str, partner: Option<&str>) -> String {
        let body = match partner {
            Some(p) => format!(r#"{{"name":"{name}","role":"{role}","partner":"{p}"}}"#),
            None => format!(r#"{{"name":"{name}","role":"{role}"}}"#),
        };
        let r = self.post("/v1/users", Some(&format!("user-{name}")), &body);
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["token"].as_str().expect("token").to_string()
    }
}

/// Writes one test per backend for a blocking scenario `fn(TestServer)`.
#[macro_export]
macro_rules! server_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_server {
            $(
                #[test]
                fn $name() {
                    let s = $crate::TestServer::start($crate::Backend::Sqlite).expect("sqlite is always available");
                    super::$name(s);
                }
            )*
        }
        mod postgres_server {
            $(
                #[test]
                fn $name() {
                    if let Some(s) = $crate::TestServer::start($crate::Backend::Postgres) {
                        super::$name(s);
                    }
                }
            )*
        }
    };
}
