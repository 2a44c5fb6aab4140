//! `tranche serve`: the HTTP server and web interface, until SIGINT or SIGTERM.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::common::{open, Global};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TRANCHE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// A witness to ask for cosignatures of every checkpoint: URL=VKEY (the witness's
    /// cosigner key, as text or a file). Repeat for several; comma-separated in the
    /// environment variable.
    #[arg(long = "witness", env = "TRANCHE_WITNESSES", value_delimiter = ',')]
    pub witnesses: Vec<String>,
    /// Served behind a proxy that terminates TLS: every cookie is marked Secure (without
    /// this, only when the proxy sends X-Forwarded-Proto: https).
    #[arg(long, env = "TRANCHE_BEHIND_TLS")]
    pub behind_tls: bool,
}

pub async fn run(g: &Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    serve(g, &args.listen, &args.witnesses, args.behind_tls).await
}

async fn serve(
    g: &Global,
    listen: &str,
    witnesses: &[String],
    behind_tls: bool,
) -> anyhow::Result<ExitCode> {
    let witnesses = witnesses
        .iter()
        .map(|w| {
            crate::server::cosign::WitnessConfig::parse(w)
                .map_err(|e| anyhow::anyhow!("--witness {w}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ledger = open(g).await?;
    if ledger.store().users().await?.is_empty() {
        let (_, token) = crate::server::routes::new_user(&ledger, "admin", "admin", None)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
        println!("first start: created user 'admin'. Its token is shown only now:");
        println!("  {token}");
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("Failed to listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!(
        "tranche listening on http://{addr} ({} backend, origin {})",
        ledger.store().backend_name(),
        ledger.origin()
    );
    std::io::stdout().flush()?;
    tracing::info!(%addr, "listening");
    for w in &witnesses {
        println!(
            "  collecting cosignatures from {} at {}",
            w.verifier.name(),
            tranche_ledger::redact::redact_url(&w.url)
        );
    }
    let options = crate::server::ServeOptions {
        witnesses,
        behind_tls,
    };
    crate::server::serve_with(listener, ledger, options, shutdown_signal())
        .await
        .context("Server failed")?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
