//! Test support for tranche's integration tests: a ledger on either backend, and a throwaway
//! PostgreSQL cluster shared by every test of one test binary (one fresh database per test).
//!
//! PostgreSQL is found as `TRANCHE_TEST_DATABASE_URL` (an admin URL of a server to use), or
//! started from the server binaries. Under `CI=true` a missing PostgreSQL fails the tests;
//! elsewhere those tests print that they were skipped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use tranche_ledger::pgtemp::{self, TempCluster};
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
