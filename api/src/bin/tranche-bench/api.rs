//! `tranche-bench api`: the real server, in this process, driven over HTTP on loopback by 1, 8
//! and 64 concurrent clients (threads with their own connections), on SQLite and PostgreSQL.
//! Prints transactions/s and p50/p99 latency; then inclusion-proof latency on a large journal.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use tranche_ledger::domain::Command;
use tranche_ledger::{Config, Ledger};

use super::{append_bench_commands, BenchArgs};

const LEVELS: [usize; 3] = [1, 8, 64];

struct Running {
    url: String,
    token: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(ledger: Ledger) -> anyhow::Result<Running> {
    let (_, token) = tranche_api::server::routes::new_user(&ledger, "bench", "admin", None)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = tranche_api::server::serve(listener, ledger, async {
            let _ = rx.await;
        })
        .await;
    });
    Ok(Running {
        url,
        token,
        stop,
        task,
    })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// Posts `total` transactions with `clients` threads; returns (transactions/s, latencies).
fn drive(
    url: &str,
    token: &str,
    clients: usize,
    total: u64,
    tag: &str,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let per_client = total / clients as u64;
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let url = format!("{url}/v1/transactions");
            let auth = format!("Bearer {token}");
            let tag = tag.to_string();
            std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
                let agent = agent();
                let mut latencies = Vec::with_capacity(per_client as usize);
                for i in 0..per_client {
                    let body = format!(
                        r#"{{"memo":"bench","postings":[{{"account":"expense:c4t-stipend","currency":"USD","side":"debit","amount":"60.00"}},{{"account":"payable:participant:P-{:05}","currency":"USD","side":"credit","amount":"60.00"}}]}}"#,
                        (c as u64 * per_client + i) % super::PAYEES
                    );
                    let t = Instant::now();
                    let r = agent
                        .post(&url)
                        .header("Authorization", &auth)
                        .header("Content-Type", "application/json")
                        .header("Idempotency-Key", &format!("{tag}-{c}-{i}"))
                        .send(&body)?;
                    latencies.push(t.elapsed());
                    if r.status().as_u16() != 201 {
                        anyhow::bail!("the server answered {}", r.status());
                    }
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total as usize);
    for t in threads {
        all.extend(
            t.join()
                .map_err(|_| anyhow::anyhow!("a client panicked"))??,
        );
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    Ok((all.len() as f64 / secs, all))
}

async fn bench_backend(name: &str, config: Config, args: &BenchArgs) -> anyhow::Result<()> {
    let ledger = Ledger::open(&config)
        .await
        .context("Failed to open the ledger")?;
    ledger
        .append(&append_bench_commands()?, "bench", Utc::now())
        .await?;
    let server = start(ledger).await?;
    for clients in LEVELS {
        let (url, token) = (server.url.clone(), server.token.clone());
        let requests = args.requests;
        let tag = format!("{name}-{clients}");
        let (tps, lat) =
            tokio::task::spawn_blocking(move || drive(&url, &token, clients, requests, &tag))
                .await??;
        println!(
            "api {name:<8} {clients:>2} clients: {tps:>8.0} transactions/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
            percentile(&lat, 0.50),
            percentile(&lat, 0.99)
        );
    }
    let _ = server.stop.send(());
    let _ = server.task.await;
    Ok(())
}

/// Inclusion proofs over HTTP on a journal of `records` records (SQLite).
async fn proof_latency(dir: &std::path::Path, records: u64) -> anyhow::Result<()> {
    let ledger = Ledger::open(&Config::new(dir.join("proofs"))).await?;
    ledger
        .append(&append_bench_commands()?, "bench", Utc::now())
        .await?;
    let bar = tranche_api::cli::common::progress_bar(records, "building journal");
    let mut size = ledger.store().tree_size().await?;
    let usd = tranche_audit::money::Currency::parse("USD").map_err(|e| anyhow::anyhow!("{e}"))?;
    while size < records {
        let n = (records - size).min(5_000);
        let batch: Vec<Command> = (0..n)
            .map(|k| super::stipend_command(size + k, usd))
            .collect::<anyhow::Result<_>>()?;
        size = ledger
            .append(&batch, "bench", Utc::now())
            .await?
            .checkpoint
            .size;
        bar.set_position(size);
    }
    bar.finish_and_clear();
    let server = start(ledger).await?;
    let (url, token) = (server.url.clone(), server.token.clone());
    let lat = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Duration>> {
        let agent = agent();
        let mut lat = Vec::new();
        for i in 0..2_000u64 {
            let seq = (i * 7_919_993) % size;
            let t = Instant::now();
            let r = agent
                .get(format!("{url}/v1/proofs/inclusion?seq={seq}&size={size}"))
                .header("Authorization", format!("Bearer {token}"))
                .call()?;
            lat.push(t.elapsed());
            if r.status().as_u16() != 200 {
                anyhow::bail!("proof request answered {}", r.status());
            }
        }
        lat.sort();
        Ok(lat)
    })
    .await??;
    println!(
        "api inclusion proofs on {size} records: p50 {:.2} ms   p99 {:.2} ms",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99)
    );
    let _ = server.stop.send(());
    let _ = server.task.await;
    Ok(())
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    println!(
        "tranche-bench api: {} cores, {} transactions per level",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.requests
    );
    let dir = tempfile::tempdir().context("Failed to create a temporary directory")?;
    bench_backend("sqlite", Config::new(dir.path().join("sqlite")), args).await?;
    if !args.skip_postgres {
        let (config, _cluster) = super::postgres_config(args, dir.path(), "bench_api").await?;
        bench_backend("postgres", config, args).await?;
    }
    if args.proof_records > 0 {
        proof_latency(dir.path(), args.proof_records).await?;
    }
    Ok(ExitCode::SUCCESS)
}
