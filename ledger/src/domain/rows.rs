//! Rows of the programme projections, derived from records alone (no state), so that an append
//! and a rebuild write the same ones.

use super::programme::ProgrammeCommand;

/// Rows of the programme projections, derived from records alone (no state), so that an append
/// and a rebuild write the same ones. Read by one-shot commands and pages instead of replaying
/// the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgrammeRows {
    pub awards: Vec<AwardRow>,
    pub rules: Vec<RuleRow>,
    pub cycles: Vec<CycleRow>,
    pub periods: Vec<PeriodRow>,
    pub participants: Vec<ParticipantRow>,
    pub evidence: Vec<EvidenceRow>,
    pub entitlements: Vec<EntitlementRow>,
    pub settings: Vec<SettingsRow>,
    pub batches: Vec<BatchRow>,
    pub batch_events: Vec<BatchEventRow>,
    pub payments: Vec<PaymentRow>,
    pub payment_events: Vec<PaymentEventRow>,
    pub imports: Vec<ImportRow>,
    pub import_parts: Vec<ImportPartRow>,
    pub partners: Vec<PartnerRow>,
    pub partner_keys: Vec<PartnerKeyRow>,
    pub statements: Vec<StatementRow>,
    pub cohorts: Vec<CohortRow>,
    pub sessions: Vec<SessionRow>,
}

impl ProgrammeRows {
    pub fn is_empty(&self) -> bool {
        self.awards.is_empty()
            && self.rules.is_empty()
            && self.cycles.is_empty()
            && self.periods.is_empty()
            && self.participants.is_empty()
            && self.evidence.is_empty()
            && self.entitlements.is_empty()
            && self.settings.is_empty()
            && self.batches.is_empty()
            && self.batch_events.is_empty()
            && self.payments.is_empty()
            && self.payment_events.is_empty()
            && self.imports.is_empty()
            && self.import_parts.is_empty()
            && self.partners.is_empty()
            && self.partner_keys.is_empty()
            && self.statements.is_empty()
            && self.cohorts.is_empty()
            && self.sessions.is_empty()
    }
}

/// An award as opened: its body is the record's canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AwardRow {
    pub award: String,
    pub seq: u64,
    pub currency: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleRow {
    pub award: String,
    pub rule: String,
    pub version: u64,
    pub seq: u64,
    pub shape: String,
    pub effective: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CycleRow {
    pub award: String,
    pub period: String,
    pub seq: u64,
}

/// A `period.close` or `period.reopen` of an award.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PeriodRow {
    pub seq: u64,
    pub award: String,
    /// `close`, `reopen_request` or `reopen`.
    pub kind: String,
    pub quarter: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ParticipantRow {
    pub participant: String,
    pub award: String,
    pub partner: String,
    pub seq: u64,
}

/// One item of a partner's signed statement: `kind` is `enrolment`, `attendance`,
/// `attendance-correction`, `certification` or `milestone`; `subject` the cohort, session,
/// course or milestone; `value` the status or result (empty for an enrolment).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EvidenceRow {
    pub seq: u64,
    pub idx: u32,
    pub participant: String,
    pub kind: String,
    pub subject: String,
    pub value: String,
    pub date: Option<String>,
}

/// An entitlement transaction (a reversal is its own row, naming what it reverses).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntitlementRow {
    pub seq: u64,
    pub award: String,
    pub participant: String,
    pub basis: String,
    pub rule: String,
    pub version: u64,
    pub amount_minor: i64,
    pub reverses: Option<u64>,
    pub adjusts: Option<u64>,
}

/// An award's disbursement settings as recorded (the latest by seq is in force).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SettingsRow {
    pub award: String,
    pub seq: u64,
    pub dual_approval_above_minor: i64,
    pub body: String,
}

/// A payment batch as created: its header (the filter as canonical JSON).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BatchRow {
    pub batch: String,
    pub award: String,
    pub currency: String,
    pub preparer: String,
    pub seq: u64,
    pub filter: String,
}

/// One record of a batch's life (`create`, `part`, `submit`, `approve`, `reject`, `cancel`,
/// `file`, `send`) with the batch as it stands after it: the latest row of a batch is its state.
/// `detail` is JSON: a part's number and exceptions, a file's format, SHA-256, message id and
/// creation time, a sending's part.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BatchEventRow {
    pub seq: u64,
    pub batch: String,
    pub award: String,
    pub event: String,
    pub actor: String,
    pub status: String,
    pub total_minor: i64,
    pub approvals_required: u32,
    pub digest: Option<String>,
    pub reason: Option<String>,
    pub detail: String,
}

/// A payment as listed in a batch part (its `seq`); `items` are the entitlement seqs it settles and
/// `reissues` the end-to-end ids of the failed payments it reissues (space-separated).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PaymentRow {
    pub e2e: String,
    pub batch: String,
    /// Its place in the batch, from 0.
    pub idx: u32,
    pub award: String,
    pub payee: String,
    pub payable: String,
    pub amount_minor: i64,
    pub part: u32,
    pub seq: u64,
    pub items: String,
    pub reissues: String,
}

/// The `n`-th event of a payment (0 is `batched`), with the payment's state after it: the
/// event with the highest `n` is the payment's state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PaymentEventRow {
    pub e2e: String,
    pub n: u32,
    pub seq: u64,
    pub event: String,
    pub state: String,
    pub reason: Option<String>,
}

/// A bank file read (`bank.import`): its header as canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImportRow {
    pub sha256: String,
    pub award: String,
    pub format: String,
    pub seq: u64,
    pub body: String,
}

/// One `bank.status` part of an import: how many outcomes it applied, and its exceptions (JSON).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImportPartRow {
    pub seq: u64,
    pub sha256: String,
    pub part: u32,
    pub outcomes: u64,
    pub exceptions: String,
}

/// An implementing partner as registered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartnerRow {
    pub partner: String,
    pub seq: u64,
    pub name: String,
}

/// One record of a partner key's life (`register`, `rotate`, `revoke`): a key is valid from the
/// row that registers or rotates it in until a row revokes it or rotates it out (`replaces`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartnerKeyRow {
    pub seq: u64,
    pub key_id: String,
    pub partner: String,
    pub action: String,
    pub public_key: Option<String>,
    pub replaces: Option<String>,
}

/// A partner-signed evidence statement: who signed it with which key, its batch id, how many
/// items it held and when the partner says it was submitted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StatementRow {
    pub seq: u64,
    pub partner: String,
    pub batch_id: String,
    pub items: u64,
    pub key_id: String,
    pub submitted_at: String,
}

/// A cohort as opened (its opening body as canonical JSON).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CohortRow {
    pub cohort: String,
    pub award: String,
    pub partner: String,
    pub seq: u64,
    pub body: String,
}

/// A session as scheduled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionRow {
    pub session: String,
    pub cohort: String,
    pub date: String,
    pub seq: u64,
}

fn word<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}").to_lowercase()
}

/// The programme rows a programme command makes at `seq`.
pub(super) fn programme_rows(rows: &mut ProgrammeRows, seq: u64, p: &ProgrammeCommand) {
    use tranche_audit::programme::EvidenceItem as I;
    match p {
        ProgrammeCommand::AwardOpen(b) => rows.awards.push(AwardRow {
            award: b.award.to_string(),
            seq,
            currency: b.currency.clone(),
            body: serde_json::to_string(b).unwrap_or_default(),
        }),
        ProgrammeCommand::RuleVersion(b) => rows.rules.push(RuleRow {
            award: b.award.to_string(),
            rule: b.rule.to_string(),
            version: b.version,
            seq,
            shape: b.params.shape().to_string(),
            effective: b.effective.0.to_string(),
        }),
        ProgrammeCommand::CycleRun(b) => rows.cycles.push(CycleRow {
            award: b.award.to_string(),
            period: b.period.to_string(),
            seq,
        }),
        ProgrammeCommand::PeriodClose(b) => rows.periods.push(PeriodRow {
            seq,
            award: b.award.to_string(),
            kind: "close".into(),
            quarter: b.quarter.to_string(),
        }),
        ProgrammeCommand::PeriodReopen(b) => rows.periods.push(PeriodRow {
            seq,
            award: b.award.to_string(),
            kind: if b.request.is_some() {
                "reopen"
            } else {
                "reopen_request"
            }
            .into(),
            quarter: b.quarter.to_string(),
        }),
        ProgrammeCommand::ParticipantRegister { body, .. } => {
            rows.participants.push(ParticipantRow {
                participant: body.participant.to_string(),
                award: body.award.to_string(),
                partner: body.partner.to_string(),
                seq,
            })
        }
        ProgrammeCommand::Evidence(e) => {
            rows.statements.push(StatementRow {
                seq,
                partner: e.statement.partner.to_string(),
                batch_id: e.statement.batch_id.to_string(),
                items: e.statement.items.len() as u64,
                key_id: e.key_id.clone(),
                submitted_at: e.statement.submitted_at.clone(),
            });
            for (idx, item) in e.statement.items.iter().enumerate() {
                let (kind, subject, value, date) = match item {
                    I::Enrolment { cohort, date, .. } => {
                        ("enrolment", cohort.to_string(), String::new(), Some(date.0))
                    }
                    I::Attendance {
                        session, status, ..
                    } => ("attendance", session.to_string(), word(status), None),
                    I::AttendanceCorrection {
                        session, status, ..
                    } => (
                        "attendance-correction",
                        session.to_string(),
                        word(status),
                        None,
                    ),
                    I::Certification {
                        course,
                        result,
                        date,
                        ..
                    } => (
                        "certification",
                        course.to_string(),
                        word(result),
                        Some(date.0),
                    ),
                    I::Milestone {
                        milestone,
                        result,
                        date,
                        ..
                    } => (
                        "milestone",
                        milestone.as_str().to_string(),
                        word(result),
                        Some(date.0),
                    ),
                };
                rows.evidence.push(EvidenceRow {
                    seq,
                    idx: idx as u32,
                    participant: item.participant().to_string(),
                    kind: kind.to_string(),
                    subject,
                    value,
                    date: date.map(|d| d.to_string()),
                });
            }
        }
        ProgrammeCommand::PartnerRegister(b) => rows.partners.push(PartnerRow {
            partner: b.partner.to_string(),
            seq,
            name: b.name.clone(),
        }),
        ProgrammeCommand::PartnerKey(b) => rows.partner_keys.push(PartnerKeyRow {
            seq,
            key_id: b.key_id.clone(),
            partner: b.partner.to_string(),
            action: word(&b.action),
            public_key: b.public_key.clone(),
            replaces: b.replaces.clone(),
        }),
        ProgrammeCommand::CohortOpen(b) => rows.cohorts.push(CohortRow {
            cohort: b.cohort.to_string(),
            award: b.award.to_string(),
            partner: b.partner.to_string(),
            seq,
            body: serde_json::to_string(b).unwrap_or_default(),
        }),
        ProgrammeCommand::SessionSchedule(b) => {
            rows.sessions.extend(b.sessions.iter().map(|s| SessionRow {
                session: s.session.to_string(),
                cohort: b.cohort.to_string(),
                date: s.date.to_string(),
                seq,
            }))
        }
    }
}
