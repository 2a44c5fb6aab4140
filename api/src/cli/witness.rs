//! `tranche witness`: run an independent witness (the server is [`crate::witness`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use tranche_audit::note::NoteVerifier;

use crate::witness::{load_key, router};

#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// Address to listen on.
    #[arg(long, env = "TRANCHE_WITNESS_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// The witness's private key file (created on first start, with --name).
    #[arg(long)]
    pub key: PathBuf,
    /// The witness's name for a new key (a schema-less URL, e.g. witness.example.org/w1).
    #[arg(long)]
    pub name: Option<String>,
    /// Where the witness keeps the last checkpoint it cosigned per log (JSON, replaced
    /// atomically before every answer).
    #[arg(long)]
    pub state: PathBuf,
    /// A log to witness: its checkpoint key in C2SP vkey form, or a file holding it. Repeat
    /// for several logs.
    #[arg(long = "log", required = true)]
    pub logs: Vec<String>,
}

fn read_or_text(text: &str) -> String {
    match std::fs::read_to_string(text) {
        Ok(s) => s,
        Err(_) => text.to_string(),
    }
}

pub async fn run(args: WitnessArgs) -> anyhow::Result<ExitCode> {
    let cosigner = load_key(&args.key, args.name.as_deref())?;
    let mut logs = Vec::new();
    for l in &args.logs {
        logs.push(
            NoteVerifier::parse(&read_or_text(l)).map_err(|e| anyhow::anyhow!("--log {l}: {e}"))?,
        );
    }
    let vkey = cosigner.verifier().to_vkey();
    let app = router(cosigner, logs.clone(), args.state.clone())?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("Failed to listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("tranche witness listening on http://{addr}");
    println!("  witness key (give it to verifiers): {vkey}");
    for l in &logs {
        println!("  witnessing {}", l.name());
    }
    {
        use std::io::Write as _;
        std::io::stdout().flush()?;
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("The witness failed")?;
    Ok(ExitCode::SUCCESS)
}
