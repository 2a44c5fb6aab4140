//! Loading: the programme written through the ledger's own operations, month by month with its
//! cycles, then the money side and the users.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context as _};
use chrono::{NaiveDate, Utc};
use ed25519_dalek::SigningKey;
use tranche_api::cli::common::{open, progress_bar};
use tranche_api::cli::Global;
use tranche_audit::programme::{
    partner_key_id, public_key_text, Date, EvidenceItem, Id, KeyAction, PartnerKeyBody,
    PartnerRegisterBody, Period, Presence, RuleParams, SessionBody,
};
use tranche_ledger::domain::programme::ProgrammeCommand;
use tranche_ledger::domain::Command;
use tranche_ledger::service::programme::{
    award_commands, CohortInput, ParticipantInput, SeededRandom,
};
use tranche_ledger::Ledger;

use crate::disburse::disburse;
use crate::records::{append, c4t, partner_key, rule, statements, submitted_after};
use crate::spec::{ADMIN, AWARD, MONTHS, PARTNERS, PREPARER, REGISTER_BATCH};
use crate::summary::{summary, users, Tally};
use crate::world::{date, id, world, World};

/// Loads the programme of `participants` people drawn from `seed` into the ledger `g` names.
pub(crate) async fn run(g: &Global, participants: u32, seed: u64) -> anyhow::Result<ExitCode> {
    let began = Instant::now();
    let ledger = open(g).await?;
    let award_id = id(AWARD)?;
    let (partners_known, keys_known) = {
        let st = ledger.store().programme().await?;
        if st.awards.contains_key(&award_id) {
            eprintln!(
                "refused: award {AWARD} is already open in this ledger; the demo loads only into \
                 a ledger without it (use another --data-dir or DATABASE_URL) (award_exists)"
            );
            eprintln!("nothing was written");
            return Ok(ExitCode::from(3));
        }
        let partners: Vec<bool> = PARTNERS
            .iter()
            .map(|p| Id::parse(p.id).is_ok_and(|i| st.partners.contains_key(&i)))
            .collect();
        let keys: Vec<bool> = PARTNERS
            .iter()
            .map(|p| {
                st.keys
                    .contains_key(&partner_key_id(&partner_key(p.id).verifying_key()))
            })
            .collect();
        (partners, keys)
    };

    let n = participants as usize;
    let w = world(n, seed)?;
    let keys: Vec<SigningKey> = PARTNERS.iter().map(|p| partner_key(p.id)).collect();
    let register_batches: usize = (0..PARTNERS.len())
        .map(|pi| {
            let count = w.people.iter().filter(|p| p.partner == pi).count();
            (count * 2).div_ceil(REGISTER_BATCH)
        })
        .sum();
    // Setup (2), registration, each month's evidence per partner and its cycle, rule version
    // 2, the correction with February's second run.
    let steps = 2 + register_batches + MONTHS.count() * (PARTNERS.len() + 1) + 2;
    let bar = progress_bar(steps as u64, "loading the demo");
    let say = |line: String| bar.suspend(|| println!("{line}"));

    // The award, the partners and their keys (the administrator).
    let mut commands = award_commands(w.award.clone()).map_err(|e| anyhow!("{e}"))?;
    for (i, p) in PARTNERS.iter().enumerate() {
        if !partners_known[i] {
            commands.push(Command::Programme(ProgrammeCommand::PartnerRegister(
                PartnerRegisterBody {
                    partner: id(p.id)?,
                    name: p.name.into(),
                },
            )));
        }
        if !keys_known[i] {
            let vk = keys[i].verifying_key();
            commands.push(Command::Programme(ProgrammeCommand::PartnerKey(
                PartnerKeyBody {
                    partner: id(p.id)?,
                    action: KeyAction::Register,
                    key_id: partner_key_id(&vk),
                    public_key: Some(public_key_text(&vk)),
                    replaces: None,
                },
            )));
        }
    }
    append(&ledger, &commands, ADMIN, "award and partners").await?;
    bar.inc(1);

    // Cohorts with their sessions, and the first rule versions (the finance preparer).
    let mut commands = Vec::new();
    let mut opened = HashSet::new();
    for c in &w.cohorts {
        let input = CohortInput {
            cohort: c.body.clone(),
            sessions: c
                .sessions
                .iter()
                .map(|(s, d)| SessionBody {
                    session: s.clone(),
                    date: Date(*d),
                })
                .collect(),
        };
        let made = ledger
            .cohort_commands(input)
            .await
            .with_context(|| format!("The demo's cohort {} was refused", c.body.cohort))?;
        // A provider's payable account is opened once, with its first cohort.
        commands.extend(made.into_iter().filter(|cmd| match cmd {
            Command::OpenAccount { name, .. } => opened.insert(name.as_str().to_string()),
            _ => true,
        }));
    }
    commands.push(rule("c4t", 1, date(1, 1)?, c4t("60.00", "360.00")?)?);
    commands.push(rule(
        "scholarship",
        1,
        date(1, 1)?,
        RuleParams::Scholarship {
            tuition_line: id("scholarship-tuition")?,
            tuition: "350.00".into(),
            incentive_line: id("scholarship-incentive")?,
            incentive: "100.00".into(),
        },
    )?);
    commands.push(rule(
        "seed-capital",
        1,
        date(1, 1)?,
        RuleParams::SeedCapital {
            line: id("seed-capital")?,
            obligation: "800.00".into(),
            tranche_1: "480.00".into(),
            tranche_2: "320.00".into(),
        },
    )?);
    append(&ledger, &commands, PREPARER, "cohorts and rules").await?;
    bar.inc(1);

    // Participants, registered by their partner with personal data; deterministic pseudonyms.
    let mut pseudonyms = SeededRandom(seed ^ 0x7472_616e_6368_6521);
    let mut ids: Vec<Option<Id>> = vec![None; w.people.len()];
    for (pi, p) in PARTNERS.iter().enumerate() {
        let mine: Vec<usize> = (0..w.people.len())
            .filter(|&i| w.people[i].partner == pi)
            .collect();
        let inputs: Vec<ParticipantInput> =
            mine.iter().map(|&i| w.people[i].input.clone()).collect();
        let vocabularies = ledger.vocabularies().await?;
        let (commands, made) = ledger
            .participant_commands(&inputs, Some(&id(p.id)?), &vocabularies, &mut pseudonyms)
            .map_err(|e| anyhow!("The demo's participants were refused: {e}"))?;
        for chunk in commands.chunks(REGISTER_BATCH) {
            append(&ledger, chunk, &format!("user:{}", p.user), "registration").await?;
            bar.inc(1);
        }
        for (&i, pid) in mine.iter().zip(made) {
            ids[i] = Some(pid);
        }
    }
    let pid = |i: usize| ids[i].clone().context("a registered participant");

    // The late correction: a participant of the first partner paid pro rata for February
    // whose sheet had one absence too many.
    let correction = find_correction(&w)?;

    // Month by month: the partners' signed sheets, then the cycle.
    let mut tally = Tally::default();
    let mut statements_sent = 0u64;
    let mut items_sent = 0u64;
    for month in MONTHS {
        let period = Period::of(date(month, 1)?);
        let submitted = submitted_after(month)?;
        for (pi, p) in PARTNERS.iter().enumerate() {
            let mut commands = Vec::new();
            let prefix = format!("{}-{period}", p.short);
            let mine = |i: &usize| w.people[*i].partner == pi;
            if month == 1 {
                let mut items = Vec::new();
                for (i, person) in w.people.iter().enumerate().filter(|(i, _)| mine(i)) {
                    if let Some(c) = person.cohort {
                        items.push(EvidenceItem::Enrolment {
                            participant: pid(i)?,
                            cohort: w.cohorts[c].body.cohort.clone(),
                            date: Date(person.enrolled),
                        });
                    }
                }
                items_sent += items.len() as u64;
                commands.extend(statements(
                    pi,
                    &keys[pi],
                    &format!("{prefix}-enrolment"),
                    items,
                    &submitted,
                )?);
            }
            // One attendance sheet per cohort and session, people in registration order.
            let mut items = Vec::new();
            for (c, cohort) in w.cohorts.iter().enumerate() {
                if cohort.partner != pi {
                    continue;
                }
                let members: Vec<usize> = (0..w.people.len())
                    .filter(|&i| w.people[i].cohort == Some(c))
                    .collect();
                for (k, (session, day)) in cohort.sessions.iter().enumerate() {
                    if !period.contains(*day) {
                        continue;
                    }
                    for &i in &members {
                        if let Some(status) = w.people[i].attendance.get(k).copied().flatten() {
                            items.push(EvidenceItem::Attendance {
                                participant: pid(i)?,
                                session: session.clone(),
                                status,
                            });
                        }
                    }
                }
            }
            items_sent += items.len() as u64;
            commands.extend(statements(
                pi,
                &keys[pi],
                &format!("{prefix}-attendance"),
                items,
                &submitted,
            )?);
            let mut exams = Vec::new();
            let mut visits = Vec::new();
            for (i, person) in w.people.iter().enumerate().filter(|(i, _)| mine(i)) {
                if let (Some((result, day)), Some(c)) = (person.certification, person.cohort) {
                    if period.contains(day) {
                        if let Some(course) = &w.cohorts[c].body.course {
                            exams.push(EvidenceItem::Certification {
                                participant: pid(i)?,
                                course: course.clone(),
                                result,
                                date: Date(day),
                            });
                        }
                    }
                }
                for (milestone, result, day) in &person.milestones {
                    if period.contains(*day) {
                        visits.push(EvidenceItem::Milestone {
                            participant: pid(i)?,
                            milestone: *milestone,
                            result: *result,
                            date: Date(*day),
                        });
                    }
                }
            }
            for (what, items) in [("certification", exams), ("visits", visits)] {
                if !items.is_empty() {
                    items_sent += items.len() as u64;
                    commands.extend(statements(
                        pi,
                        &keys[pi],
                        &format!("{prefix}-{what}"),
                        items,
                        &submitted,
                    )?);
                }
            }
            statements_sent += commands.len() as u64;
            append(
                &ledger,
                &commands,
                &format!("user:{}", p.user),
                &format!("evidence of {period}"),
            )
            .await?;
            bar.inc(1);
        }
        run_cycle(&ledger, period, &mut tally, &say).await?;
        bar.inc(1);

        if month == 3 {
            // From April the stipend rises to 65.00 (and the cap with it): a new version,
            // never changing the months already run.
            append(
                &ledger,
                &[rule("c4t", 2, date(4, 1)?, c4t("65.00", "375.00")?)?],
                PREPARER,
                "C4T rule version 2",
            )
            .await?;
            say("rule c4t version 2: 65.00 a month from 2026-04-01 (cap 375.00)".into());
            bar.inc(1);
        }
        if month == 4 {
            if let Some((i, session, day)) = &correction {
                let p = w.people[*i].partner;
                let participant = pid(*i)?;
                let items = vec![EvidenceItem::AttendanceCorrection {
                    participant: participant.clone(),
                    session: session.clone(),
                    status: Presence::Present,
                }];
                let commands = statements(
                    p,
                    &keys[p],
                    &format!("{}-2026-02-correction", PARTNERS[p].short),
                    items,
                    "2026-05-04T15:00:00Z",
                )?;
                statements_sent += commands.len() as u64;
                items_sent += 1;
                append(
                    &ledger,
                    &commands,
                    &format!("user:{}", PARTNERS[p].user),
                    "late correction",
                )
                .await?;
                say(format!(
                    "late correction: {} signed that {participant} was present at session \
                     {session} on {day} after all; February is run again",
                    PARTNERS[p].name
                ));
                run_cycle(&ledger, Period::of(date(2, 1)?), &mut tally, &say).await?;
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    disburse(&ledger, &say).await?;

    let keys_dir = write_partner_keys(g, &keys);
    summary(
        &ledger,
        &w,
        &tally,
        statements_sent,
        items_sent,
        correction.as_ref().map(|c| pid(c.0)).transpose()?,
    )
    .await?;
    let loaded = began.elapsed();
    users(&ledger, g, keys_dir.as_deref()).await?;
    println!();
    println!("loaded in {:.1} s", loaded.as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// A participant of the first partner, with every February session recorded and paid pro
/// rata (60 to 79%), and one of their absent sessions: (person, session, date).
pub(crate) fn find_correction(w: &World) -> anyhow::Result<Option<(usize, Id, NaiveDate)>> {
    let feb = Period::of(date(2, 1)?);
    for (i, person) in w.people.iter().enumerate() {
        let Some(c) = person.cohort else { continue };
        if person.partner != 0 {
            continue;
        }
        let cohort = &w.cohorts[c];
        let month: Vec<(usize, &(Id, NaiveDate))> = cohort
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, (_, d))| feb.contains(*d) && *d >= person.enrolled)
            .collect();
        let marks: Vec<Option<Presence>> = month
            .iter()
            .map(|(k, _)| person.attendance.get(*k).copied().flatten())
            .collect();
        if month.is_empty() || marks.iter().any(Option::is_none) {
            continue;
        }
        let present = marks
            .iter()
            .filter(|m| **m == Some(Presence::Present))
            .count();
        let pct = present * 100 / month.len();
        if !(60..80).contains(&pct) {
            continue;
        }
        if let Some(((_, (session, day)), _)) = month
            .iter()
            .zip(&marks)
            .find(|(_, m)| **m == Some(Presence::Absent))
        {
            return Ok(Some((i, session.clone(), *day)));
        }
    }
    Ok(None)
}

pub(crate) async fn run_cycle(
    ledger: &Ledger,
    period: Period,
    tally: &mut Tally,
    say: &impl Fn(String),
) -> anyhow::Result<()> {
    let award = id(AWARD)?;
    let again = tally.latest.contains_key(&period.to_string());
    let report = ledger
        .run_cycle(&award, period, PREPARER, Utc::now(), &mut |_, _| {})
        .await
        .with_context(|| format!("The demo's cycle {period} failed"))?;
    tally.runs += 1;
    tally.entitlements += report.entitlements;
    tally.reversals += report.reversals;
    say(format!(
        "cycle {period}{}: {} new entitlements, {} reversals, net payable {} {}, {} exceptions",
        if again { " (run again)" } else { "" },
        report.entitlements,
        report.reversals,
        report.net_payable,
        report.currency,
        report.exceptions.len()
    ));
    tally.latest.insert(period.to_string(), report);
    Ok(())
}

/// Writes the partners' demo keys next to the ledger (never overwriting), so that new evidence
/// can be signed with `tranche partner sign`. Returns the directory when it could.
pub(crate) fn write_partner_keys(g: &Global, keys: &[SigningKey]) -> Option<std::path::PathBuf> {
    let dir = g.data_dir.join("demo-partner-keys");
    std::fs::create_dir_all(&dir).ok()?;
    for (p, key) in PARTNERS.iter().zip(keys) {
        let path = dir.join(format!("{}.key", p.id));
        if path.exists() {
            continue;
        }
        let k = tranche_api::partner::PartnerKey {
            partner: Id::parse(p.id).ok()?,
            signing: key.clone(),
        };
        k.create_file(&path).ok()?;
    }
    Some(dir)
}
