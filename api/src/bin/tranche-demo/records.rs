//! The programme's records as the ledger takes them: the rule versions, the partners' keys and
//! their signed statements, and the append that writes them.

use anyhow::Context as _;
use chrono::{Datelike as _, NaiveDate, Utc, Weekday};
use ed25519_dalek::SigningKey;
use sha2::{Digest as _, Sha256};
use tranche_audit::programme::{
    Date, EvidenceItem, Period, RuleParams, RuleVersionBody, Statement, MAX_STATEMENT_ITEMS,
};
use tranche_ledger::domain::programme::ProgrammeCommand;
use tranche_ledger::domain::Command;
use tranche_ledger::{Appended, Ledger};

use crate::spec::{AWARD, PARTNERS, STATEMENT_BYTES};
use crate::world::{date, id};

pub(crate) fn rule(
    rule: &str,
    version: u64,
    effective: NaiveDate,
    params: RuleParams,
) -> anyhow::Result<Command> {
    Ok(Command::Programme(ProgrammeCommand::RuleVersion(
        RuleVersionBody {
            award: id(AWARD)?,
            rule: id(rule)?,
            version,
            effective: Date(effective),
            params,
        },
    )))
}

pub(crate) fn c4t(amount: &str, cap: &str) -> anyhow::Result<RuleParams> {
    Ok(RuleParams::C4tMonthly {
        line: id("c4t")?,
        amount: amount.into(),
        full_from_percent: 80,
        partial_from_percent: 60,
        cap: cap.into(),
    })
}

/// A partner's demo signing key: fixed, so the journal is the same on every run.
pub(crate) fn partner_key(partner: &str) -> SigningKey {
    let seed: [u8; 32] =
        Sha256::digest(format!("tranche/demo/partner-key/v1\n{partner}").as_bytes()).into();
    SigningKey::from_bytes(&seed)
}

/// Splits items into statements of at most `MAX_STATEMENT_ITEMS` items and `STATEMENT_BYTES`
/// bytes, signs them, and names them `<prefix>-1`, `<prefix>-2`, …
pub(crate) fn statements(
    partner: usize,
    key: &SigningKey,
    prefix: &str,
    items: Vec<EvidenceItem>,
    submitted_at: &str,
) -> anyhow::Result<Vec<Command>> {
    let mut chunks: Vec<Vec<EvidenceItem>> = Vec::new();
    let mut bytes = 0usize;
    for item in items {
        let len = serde_json::to_vec(&item)?.len() + 1;
        match chunks.last_mut() {
            Some(c) if c.len() < MAX_STATEMENT_ITEMS && bytes + len <= STATEMENT_BYTES => {
                bytes += len;
                c.push(item);
            }
            _ => {
                bytes = len;
                chunks.push(vec![item]);
            }
        }
    }
    let mut out = Vec::with_capacity(chunks.len());
    for (i, items) in chunks.into_iter().enumerate() {
        let body = Statement {
            partner: id(PARTNERS[partner].id)?,
            batch_id: id(&format!("{prefix}-{}", i + 1))?,
            items,
            submitted_at: submitted_at.into(),
        }
        .sign(key);
        out.push(Command::Programme(ProgrammeCommand::Evidence(Box::new(
            body,
        ))));
    }
    Ok(out)
}

/// The first weekday of the month after `month`, at 17:00 UTC: when a month's sheets arrive.
pub(crate) fn submitted_after(month: u32) -> anyhow::Result<String> {
    let mut day = Period::of(date(month, 1)?).next().first;
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day = day.succ_opt().context("a next day")?;
    }
    Ok(format!("{}T17:00:00Z", day.format("%Y-%m-%d")))
}

/// Appends `commands` as `actor`; a refusal names `what` the demo was writing.
pub(crate) async fn append(
    ledger: &Ledger,
    commands: &[Command],
    actor: &str,
    what: &str,
) -> anyhow::Result<Appended> {
    ledger
        .append(commands, actor, Utc::now())
        .await
        .with_context(|| format!("The demo's {what} was refused"))
}
