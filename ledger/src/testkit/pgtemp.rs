//! A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` in a temporary directory,
//! a server on a free loopback port, and a watchdog process that stops the server and removes
//! the directory when the process that started it exits (test binaries never run destructors of
//! statics). As root, the server runs as the `postgres` user, since `initdb` refuses root.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum PgTempError {
    #[error("PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found")]
    NotInstalled,
    #[error("{step} failed: {detail}")]
    Step { step: &'static str, detail: String },
}

/// A running throwaway cluster. Dropping it stops the server; if it is never dropped (a static in
/// a test binary), the watchdog stops it when the process exits.
#[derive(Debug)]
pub struct TempCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// Where the PostgreSQL server binaries are: `PG_BIN`, Debian's layout, or the PATH.
pub fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        let p = PathBuf::from(dir);
        if p.join("initdb").exists() {
            return Some(p);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    // SAFETY-free check: the effective uid of this process.
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn run(step: &'static str, cmd: &mut Command) -> Result<(), PgTempError> {
    let out = cmd.output().map_err(|e| PgTempError::Step {
        step,
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(PgTempError::Step {
            step,
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

impl TempCluster {
    /// Starts a cluster. `durable` keeps fsync on (for honest benchmark figures); tests turn it
    /// off for speed.
    pub fn start(durable: bool) -> Result<Self, PgTempError> {
        let cluster = Self::empty()?;
        cluster.pg(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        cluster.run_server(durable)?;
        Ok(cluster)
    }

    /// A streaming replica of this cluster (a hot standby, read-only), as a report reader
    /// given by `DATABASE_READ_URL` would be: a base backup, then the primary's WAL as it
    /// comes.
    pub fn start_replica(&self) -> Result<Self, PgTempError> {
        let replica = Self::empty()?;
        replica.pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-D",
                &replica.data().display().to_string(),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
            ],
        )?;
        replica.run_server(false)?;
        Ok(replica)
    }

    /// A new directory (owned by `postgres` when running as root) on a free port.
    fn empty() -> Result<Self, PgTempError> {
        let bin = find_bin_dir().ok_or(PgTempError::NotInstalled)?;
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!(
            "tranche-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| PgTempError::Step {
            step: "create directory",
            detail: e.to_string(),
        })?;
        let cluster = TempCluster {
            dir,
            bin,
            port: free_port()?,
            as_postgres,
        };
        if as_postgres {
            run(
                "chown",
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&cluster.dir),
            )?;
        }
        Ok(cluster)
    }

    fn run_server(&self, durable: bool) -> Result<(), PgTempError> {
        let mut opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200",
            self.port,
            self.dir.display()
        );
        if !durable {
            opts.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        self.pg(
            "pg_ctl start",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.join("server.log").display().to_string(),
                "-o",
                &opts,
            ],
        )?;
        self.spawn_watchdog()?;
        self.wait_ready()
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg(&self, step: &'static str, args: &[&str]) -> Result<(), PgTempError> {
        let tool = match step {
            "initdb" => "initdb",
            "pg_basebackup" => "pg_basebackup",
            _ => "pg_ctl",
        };
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).current_dir(&self.dir).stdin(Stdio::null());
        run(step, &mut cmd)
    }

    /// A shell that outlives us: when our pid is gone it stops the server and removes the dir.
    fn spawn_watchdog(&self) -> Result<(), PgTempError> {
        let stop = format!(
            "{} {} stop -m immediate -D {} >/dev/null 2>&1",
            if self.as_postgres {
                "runuser -u postgres --"
            } else {
                ""
            },
            self.bin.join("pg_ctl").display(),
            self.data().display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop}; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|_| ())
            .map_err(|e| PgTempError::Step {
                step: "watchdog",
                detail: e.to_string(),
            })
    }

    fn wait_ready(&self) -> Result<(), PgTempError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(PgTempError::Step {
            step: "wait for server",
            detail: format!("nothing listens on port {}", self.port),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of database `db` on this cluster (create it first with `create_database`).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates an empty database; returns its URL.
    pub async fn create_database(&self, db: &str) -> Result<String, sqlx::Error> {
        create_database(&self.url("postgres"), db).await
    }
}

/// Creates database `db` through the maintenance URL `admin_url`; returns the new URL.
pub async fn create_database(admin_url: &str, db: &str) -> Result<String, sqlx::Error> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE \"{db}\""))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    Ok(format!("{base}/{db}"))
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        let _ = self.pg(
            "pg_ctl stop",
            &[
                "stop",
                "-m",
                "immediate",
                "-D",
                &self.data().display().to_string(),
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16, PgTempError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| PgTempError::Step {
        step: "find a free port",
        detail: e.to_string(),
    })?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| PgTempError::Step {
            step: "find a free port",
            detail: e.to_string(),
        })
}
