//! Group commit: write requests queue in a bounded channel in front of the single writer, which
//! takes everything waiting (up to a limit) and appends it in one database transaction with one
//! checkpoint. Throughput grows with concurrency while every request stays all-or-nothing and
//! gets its own seqs.

use std::time::Instant;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use tranche_ledger::domain::{Context, MAX_BATCH};
use tranche_ledger::store::{GroupOutcome, GroupRequest, MAX_GROUP_REQUESTS};
use tranche_ledger::{Ledger, SignedCheckpoint, StoreError};

use super::metrics::Metrics;

/// Requests waiting for the writer; beyond this the API answers 503 and the client retries.
pub const QUEUE_CAPACITY: usize = 4_096;

type Reply = oneshot::Sender<Result<GroupOutcome, String>>;

/// A handle to the writer task.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<(GroupRequest, Reply)>,
}

#[derive(Debug)]
pub enum SubmitError {
    /// The queue is full: try again shortly.
    Busy,
    /// The writer has stopped (shutting down) or the append failed; the string is logged.
    Failed(String),
}

impl Writer {
    /// Starts the writer task; it ends when every `Writer` handle is dropped and the queue is
    /// drained, so a graceful shutdown finishes the requests already accepted.
    pub fn start(ledger: Ledger, metrics: Metrics) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let task = tokio::spawn(run(ledger, metrics, rx));
        (Writer { tx }, task)
    }

    pub async fn submit(&self, request: GroupRequest) -> Result<GroupOutcome, SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send((request, reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SubmitError::Busy,
            mpsc::error::TrySendError::Closed(_) => {
                SubmitError::Failed("the writer has stopped".into())
            }
        })?;
        match answer.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(e)) => Err(SubmitError::Failed(e)),
            Err(_) => Err(SubmitError::Failed("the writer dropped the request".into())),
        }
    }
}

async fn run(ledger: Ledger, metrics: Metrics, mut rx: mpsc::Receiver<(GroupRequest, Reply)>) {
    let signer = ledger.clone();
    while let Some(first) = rx.recv().await {
        let mut requests = vec![first];
        let mut commands = requests[0].0.commands.len();
        // Take whatever else is already waiting, within the limits of one transaction.
        while requests.len() < MAX_GROUP_REQUESTS && commands < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => {
                    commands += next.0.commands.len();
                    requests.push(next);
                }
                Err(_) => break,
            }
        }
        let (group, replies): (Vec<GroupRequest>, Vec<Reply>) = requests.into_iter().unzip();
        let start = Instant::now();
        let result = append(&signer, &group).await;
        metrics.observe_append(start.elapsed(), group.len(), commands);
        match result {
            Ok((outcomes, checkpoint)) => {
                if let Some(cp) = checkpoint {
                    metrics.set_tree_size(cp.size);
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, cause = ?std::error::Error::source(&e), "group append failed");
                for reply in replies {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

async fn append(
    ledger: &Ledger,
    group: &[GroupRequest],
) -> Result<(Vec<GroupOutcome>, Option<SignedCheckpoint>), StoreError> {
    let ctx = Context {
        actor: "ledger",
        now: Utc::now(),
        origin: ledger.origin(),
        signer: ledger.signer(),
    };
    ledger.store().append_groups(group, &ctx).await
}
