//! Closed periods: an approver closes a quarter of an award once its SF-425 is submitted (the
//! close records the checkpoint and the digest of that report), after which nothing can be
//! dated in it; reopening takes a request with a reason and the approval of a second approver.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tranche_audit::period::{CheckpointRef, PeriodCloseBody, PeriodReopenBody, Quarter};
use tranche_audit::programme::{Date, Id};
use tranche_audit::report::ReportPeriod;
use tranche_audit::report_compute::{body_digest, ReportRequest};
use tranche_audit::{Code, Invalid};

use crate::domain::programme::ProgrammeCommand;
use crate::domain::Command;
use crate::store::load::Need;
use crate::store::StoreError;
use crate::Ledger;

/// How many times a close is computed again when records were appended meanwhile.
const CLOSE_ATTEMPTS: usize = 5;

/// What a close wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Closed {
    pub award: String,
    pub quarter: String,
    pub seq: u64,
    /// The checkpoint the SF-425 was computed at.
    pub size: u64,
    /// SHA-256 of the SF-425 body's canonical JSON.
    pub sf425: String,
}

/// What a reopen wrote: a request (waiting for a second approver) or the reopening.
#[derive(Debug, Clone, Serialize)]
pub struct Reopened {
    pub award: String,
    pub quarter: String,
    pub seq: u64,
    /// `requested` or `reopened`.
    pub status: &'static str,
}

/// One quarter of an award as the close records say.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodView {
    pub quarter: String,
    pub start: String,
    pub end: String,
    /// `open`, `closed` or `reopen_requested`.
    pub status: &'static str,
    /// The records that closed, asked to reopen and reopened it, in order.
    pub history: Vec<PeriodEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodEvent {
    pub seq: u64,
    pub kind: String,
}

impl Ledger {
    /// The `period.close` of `quarter` of `award`, with its SF-425 (indirect rate in basis
    /// points) computed at the latest checkpoint: it must be appended right after that
    /// checkpoint (else `ledger_moved`, and it is computed again).
    pub async fn close_command(
        &self,
        award: &Id,
        quarter: Quarter,
        indirect_bp: u32,
    ) -> Result<(Command, PeriodCloseBody), StoreError> {
        let award_body = self.award_opened(award).await?;
        let currency = award_body.currency().map_err(StoreError::Invalid)?;
        let req = ReportRequest {
            kind: "sf425".into(),
            award: award.clone(),
            period: ReportPeriod {
                start: Date(quarter.first()),
                end: Date(quarter.last()),
            },
            batch: None,
            participant: None,
            indirect_bp,
            threshold: 5,
        };
        let cp = self.store().latest_checkpoint().await?.ok_or_else(|| {
            StoreError::Invalid(Invalid::new(
                "",
                Code::EmptyJournal,
                "the journal has no checkpoint yet",
            ))
        })?;
        let report = self.report_body_at(&req, &cp, currency).await?;
        let close = PeriodCloseBody {
            award: award.clone(),
            quarter,
            checkpoint: CheckpointRef {
                size: cp.size,
                root: hex::encode(cp.root),
            },
            indirect_bp,
            sf425: body_digest(&report),
        };
        Ok((
            Command::Programme(ProgrammeCommand::PeriodClose(close.clone())),
            close,
        ))
    }

    /// Closes `quarter` of `award`: appends [`Self::close_command`], computed again if other
    /// records were appended meanwhile.
    pub async fn close_period(
        &self,
        award: &Id,
        quarter: Quarter,
        indirect_bp: u32,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Closed, StoreError> {
        let mut last = None;
        for _ in 0..CLOSE_ATTEMPTS {
            let (command, close) = self.close_command(award, quarter, indirect_bp).await?;
            match self.append(&[command], actor, now).await {
                Ok(done) => {
                    return Ok(Closed {
                        award: award.to_string(),
                        quarter: quarter.to_string(),
                        seq: done.first_seq,
                        size: close.checkpoint.size,
                        sf425: close.sf425,
                    })
                }
                Err(StoreError::Invalid(e)) if e.code == Code::LedgerMoved => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Invalid(last.unwrap_or_else(|| {
            Invalid::new("", Code::LedgerMoved, "the journal kept moving")
        })))
    }

    /// The `period.reopen` `actor` asks for: a request with its reason, or the approval of a
    /// pending request another approver made (the quarter reopens then).
    pub async fn reopen_command(
        &self,
        award: &Id,
        quarter: Quarter,
        reason: &str,
        actor: &str,
    ) -> Result<(Command, bool), StoreError> {
        let mut need = Need::default();
        need.awards.insert(award.clone());
        let st = self.store().load_programme(need).await?;
        let a = st.award(award, "award").map_err(StoreError::Invalid)?;
        let request = a
            .periods
            .request
            .as_ref()
            .filter(|r| r.quarter == quarter && r.actor != actor)
            .map(|r| r.seq);
        let body = PeriodReopenBody {
            award: award.clone(),
            quarter,
            reason: reason.trim().to_string(),
            request,
        };
        Ok((
            Command::Programme(ProgrammeCommand::PeriodReopen(body)),
            request.is_some(),
        ))
    }

    async fn award_opened(
        &self,
        award: &Id,
    ) -> Result<tranche_audit::programme::AwardOpenBody, StoreError> {
        let row = self
            .reader()
            .award_rows()
            .await?
            .into_iter()
            .find(|a| a.award == award.as_str())
            .ok_or_else(|| {
                StoreError::Invalid(Invalid::new(
                    "award",
                    Code::UnknownAward,
                    format!("there is no award {award}"),
                ))
            })?;
        serde_json::from_str(&row.body).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Asks to reopen the last closed quarter of `award` (with its reason), or approves the
    /// pending request when another approver made it: the quarter reopens then.
    pub async fn reopen_period(
        &self,
        award: &Id,
        quarter: Quarter,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Reopened, StoreError> {
        let (command, approves) = self.reopen_command(award, quarter, reason, actor).await?;
        let done = self.append(&[command], actor, now).await?;
        Ok(Reopened {
            award: award.to_string(),
            quarter: quarter.to_string(),
            seq: done.first_seq,
            status: if approves { "reopened" } else { "requested" },
        })
    }

    /// Every quarter of `award` from its start to its end, with its status and history.
    pub async fn periods(&self, award: &Id) -> Result<Vec<PeriodView>, StoreError> {
        let award_body = self.award_opened(award).await?;
        let rows = self.reader().period_rows(award.as_str()).await?;
        let mut closed: Vec<Quarter> = Vec::new();
        let mut requested: Option<Quarter> = None;
        for r in &rows {
            let q = Quarter::parse(&r.quarter).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            match r.kind.as_str() {
                "close" => closed.push(q),
                "reopen_request" => requested = Some(q),
                _ => {
                    closed.pop();
                    requested = None;
                }
            }
        }
        let mut out = Vec::new();
        let mut q = Quarter::of(award_body.start.0);
        while q.first() <= award_body.end.0 {
            let history = rows
                .iter()
                .filter(|r| r.quarter == q.to_string())
                .map(|r| PeriodEvent {
                    seq: r.seq,
                    kind: r.kind.clone(),
                })
                .collect();
            out.push(PeriodView {
                quarter: q.to_string(),
                start: q.first().to_string(),
                end: q.last().to_string(),
                status: if requested == Some(q) {
                    "reopen_requested"
                } else if closed.contains(&q) {
                    "closed"
                } else {
                    "open"
                },
                history,
            });
            q = q.next();
        }
        Ok(out)
    }
}
