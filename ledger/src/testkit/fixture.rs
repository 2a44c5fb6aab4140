//! A synthetic programme whose participants are owed money: one award, one partner, one cohort
//! with March sessions, `n` participants (with bank accounts) who attended every session, the
//! March C4T cycle run, a donor drawdown and the award's disbursement settings. Benchmarks and
//! tests of disbursement start from it; nothing in it is real.

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use tranche_audit::account::AccountName;
use tranche_audit::disburse::{BankAccountBody, DisbursementConfigBody};
use tranche_audit::money::Money;
use tranche_audit::posting::{Posting, Side};
use tranche_audit::programme::{
    accounts, partner_key_id, public_key_text, AwardOpenBody, BudgetLine, CohortOpenBody, Date,
    EvidenceItem, Id, KeyAction, PartnerKeyBody, PartnerRegisterBody, Pathway, Period, Presence,
    RuleParams, RuleVersionBody, SessionBody, Statement,
};

use crate::domain::programme::ProgrammeCommand;
use crate::domain::{Command, NewTransaction};
use crate::service::programme::{award_commands, CohortInput, ParticipantInput, SeededRandom};
use crate::store::StoreError;
use crate::Ledger;

/// What [`payables_programme`] built.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub award: Id,
    pub participants: Vec<Id>,
    /// Each participant is owed this (minor units).
    pub stipend_minor: i64,
    /// Drawn down into the award's bank account (minor units).
    pub drawdown_minor: i64,
}

fn id(s: &str) -> Id {
    Id::parse(s).expect("fixture ids are valid")
}

fn invalid(e: tranche_audit::Invalid) -> StoreError {
    StoreError::Invalid(e)
}

/// Builds the programme on `ledger` as `actor` at `now`; `progress(done, total)` is told about
/// the participants registered and the evidence appended.
pub async fn payables_programme(
    ledger: &Ledger,
    award_name: &str,
    n: usize,
    actor: &str,
    now: DateTime<Utc>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Fixture, StoreError> {
    let award = Id::parse(award_name).map_err(invalid)?;
    let stipend = 6_000i64;
    let budget = stipend * n as i64 + 100_000;
    let cents = |m: i64| format!("{}.{:02}", m / 100, m % 100);
    let body = AwardOpenBody {
        utc_offset: None,
        provinces: None,
        pathways: None,
        age_bands: None,
        liquidation_days: None,
        future_days: None,
        award: award.clone(),
        donor: "Synthetic donor".into(),
        currency: "USD".into(),
        total: cents(budget + 100_000),
        start: Date::parse("2026-01-01").map_err(invalid)?,
        end: Date::parse("2026-12-31").map_err(invalid)?,
        budget_lines: vec![
            BudgetLine {
                line: id("c4t"),
                name: "C4T stipend".into(),
                authorised: cents(budget),
                participant_support: true,
            },
            BudgetLine {
                line: id("admin"),
                name: "Administration".into(),
                authorised: cents(100_000),
                participant_support: false,
            },
        ],
    };
    let key = SigningKey::from_bytes(&[42; 32]);
    let vk = key.verifying_key();
    let mut setup = award_commands(body).map_err(invalid)?;
    setup.push(Command::Programme(ProgrammeCommand::PartnerRegister(
        PartnerRegisterBody {
            partner: id("fixture-partner"),
            name: "Synthetic partner".into(),
        },
    )));
    setup.push(Command::Programme(ProgrammeCommand::PartnerKey(
        PartnerKeyBody {
            partner: id("fixture-partner"),
            action: KeyAction::Register,
            key_id: partner_key_id(&vk),
            public_key: Some(public_key_text(&vk)),
            replaces: None,
        },
    )));
    let sessions: Vec<SessionBody> = (2..=6)
        .map(|d| SessionBody {
            session: Id::parse(&format!("{award}-s{d}")).expect("valid"),
            date: Date::parse(&format!("2026-03-{d:02}")).expect("valid"),
        })
        .collect();
    let cohort = Id::parse(&format!("{award}-cohort")).map_err(invalid)?;
    setup.extend(
        ledger
            .cohort_commands(CohortInput {
                cohort: CohortOpenBody {
                    cohort: cohort.clone(),
                    award: award.clone(),
                    partner: id("fixture-partner"),
                    pathway: Pathway::Employability,
                    name: "Synthetic cohort".into(),
                    course: None,
                    provider: None,
                },
                sessions: sessions.clone(),
            })
            .await?,
    );
    setup.push(Command::Programme(ProgrammeCommand::RuleVersion(
        RuleVersionBody {
            award: award.clone(),
            rule: id("c4t"),
            version: 1,
            effective: Date::parse("2026-01-01").map_err(invalid)?,
            params: RuleParams::C4tMonthly {
                line: id("c4t"),
                amount: cents(stipend),
                full_from_percent: 80,
                partial_from_percent: 60,
                cap: cents(stipend * 12),
            },
        },
    )));
    let total = n as u64 * 2;
    progress(0, total);
    ledger.append(&setup, actor, now).await?;
    // Participants, in registration batches.
    let mut ids = Vec::with_capacity(n);
    let mut rng = SeededRandom(n as u64);
    for start in (0..n).step_by(2_000) {
        let inputs: Vec<ParticipantInput> = (start..(start + 2_000).min(n))
            .map(|i| ParticipantInput {
                award: award.to_string(),
                partner: None,
                name: format!("Participant {i}"),
                document: format!("FX{i:08}"),
                phone: None,
                bank_account: Some(format!("{:010}", 1_000_000_000 + i)),
                sex: Some(if i % 3 == 0 { "male" } else { "female" }.into()),
                nationality: Some("VE".into()),
                province: Some(if i % 2 == 0 { "Pichincha" } else { "Imbabura" }.into()),
                pathway: Some("employability".into()),
                age_band: Some("25-34".into()),
            })
            .collect();
        let (cmds, new) = ledger
            .participant_commands(
                &inputs,
                Some(&id("fixture-partner")),
                &Default::default(),
                &mut rng,
            )
            .map_err(invalid)?;
        ledger.append(&cmds, actor, now).await?;
        ids.extend(new);
        progress(ids.len() as u64, total);
    }
    // Enrolment and full attendance, in signed statements of at most 500 items.
    let mut items = Vec::with_capacity(n * (sessions.len() + 1));
    for p in &ids {
        items.push(EvidenceItem::Enrolment {
            participant: p.clone(),
            cohort: cohort.clone(),
            date: Date::parse("2026-02-15").map_err(invalid)?,
        });
    }
    let mut attendance = Vec::with_capacity(n * sessions.len());
    for p in &ids {
        for s in &sessions {
            attendance.push(EvidenceItem::Attendance {
                participant: p.clone(),
                session: s.session.clone(),
                status: Presence::Present,
            });
        }
    }
    let mut statements = Vec::new();
    for (i, chunk) in items
        .chunks(500)
        .map(<[_]>::to_vec)
        .chain(attendance.chunks(500).map(<[_]>::to_vec))
        .enumerate()
    {
        statements.push(Command::Programme(ProgrammeCommand::Evidence(Box::new(
            Statement {
                partner: id("fixture-partner"),
                batch_id: Id::parse(&format!("{award}-e{i}")).map_err(invalid)?,
                items: chunk,
                submitted_at: "2026-03-31T12:00:00Z".into(),
            }
            .sign(&key),
        ))));
    }
    for (i, chunk) in statements.chunks(50).enumerate() {
        ledger.append(chunk, "partner:fixture-partner", now).await?;
        progress(
            n as u64
                + ((i + 1) * 50).min(statements.len()) as u64 * n as u64
                    / statements.len().max(1) as u64,
            total,
        );
    }
    ledger
        .run_cycle(
            &award,
            Period::parse("2026-03").map_err(invalid)?,
            actor,
            now,
            &mut |_, _| {},
        )
        .await?;
    // The donor's money in, and where to pay from.
    let drawdown = stipend * n as i64 + 50_000;
    let usd = tranche_audit::money::Currency::parse("USD").expect("known");
    let tx = NewTransaction {
        memo: "donor drawdown".into(),
        postings: vec![
            Posting {
                account: AccountName::parse(&accounts::bank(&award)).map_err(invalid)?,
                side: Side::Debit,
                money: Money::from_minor(drawdown, usd),
            },
            Posting {
                account: AccountName::parse(&accounts::fund(&award)).map_err(invalid)?,
                side: Side::Credit,
                money: Money::from_minor(drawdown, usd),
            },
        ],
        reverses: None,
        date: Some(chrono::NaiveDate::from_ymd_opt(2026, 3, 1).expect("valid")),
        prior_period: None,
    };
    let settings = DisbursementConfigBody {
        award: award.clone(),
        debtor: BankAccountBody {
            name: "Synthetic programme account".into(),
            account: "2100456789".into(),
            agent_bic: None,
            bank_code: None,
            account_type: None,
        },
        vendors: vec![],
        dual_approval_above: "25000.00".into(),
    };
    ledger
        .append(
            &[
                Command::Transaction(tx),
                Ledger::settings_command(settings)?,
            ],
            actor,
            now,
        )
        .await?;
    progress(total, total);
    Ok(Fixture {
        award,
        participants: ids,
        stipend_minor: stipend,
        drawdown_minor: drawdown,
    })
}
