//! `tranche-bench cycle`: a programme at scale on one backend (SQLite in a temporary directory by
//! default, PostgreSQL with `--postgres`). One award with a C4T budget line and one c4t-monthly
//! rule; cohorts of 25 participants, each cohort with 20 sessions in March 2026; one partner
//! registers everyone and submits signed statements (enrolments, then one attendance sheet of
//! 25 × 20 = 500 items per cohort) with deterministic, realistic attendance. Then the March
//! cycle is computed, run, and run again (which must post nothing), and the programme state is
//! loaded from scratch by a fresh ledger on the same database.
//!
//! Only the ledger's work is timed: building and signing the input is the caller's.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{Datelike, NaiveDate, Utc, Weekday};
use ed25519_dalek::SigningKey;
use tranche_audit::programme::{
    partner_key_id, public_key_text, AwardOpenBody, BudgetLine, CohortOpenBody, Date, EvidenceItem,
    Id, KeyAction, PartnerKeyBody, PartnerRegisterBody, Pathway, Period, Presence, RuleParams,
    RuleVersionBody, SessionBody, Statement, MAX_STATEMENT_ITEMS,
};
use tranche_ledger::domain::programme::ProgrammeCommand;
use tranche_ledger::domain::Command;
use tranche_ledger::service::programme::{
    award_commands, CohortInput, ParticipantInput, SeededRandom,
};
use tranche_ledger::{Config, Ledger};

use super::BenchArgs;

const AWARD: &str = "bench-award";
const PARTNER: &str = "bench-partner";
const RULE: &str = "c4t";
const PERIOD: &str = "2026-03";
const COHORT_SIZE: u64 = 25;
const SESSIONS: usize = 20;
/// The monthly amount and the cap over the award, in whole dollars.
const C4T_AMOUNT: u64 = 60;
const C4T_CAP: u64 = 360;
/// Participants per registration append: two records each, so 10,000 records per batch.
const REGISTER_BATCH: usize = 5_000;
/// Cohorts per append while setting up (two records each).
const COHORT_BATCH: usize = 500;
/// The journal is read back in pages this big (statements are up to 64 KiB) to measure what the
/// evidence wrote.
const READ_PAGE: u32 = 500;

fn id(text: &str) -> anyhow::Result<Id> {
    Id::parse(text).map_err(|e| anyhow::anyhow!("{e}"))
}

fn invalid(e: tranche_audit::Invalid) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Resident memory figures of this process, in MiB (0 where `/proc` has none).
fn memory_mib(field: &str) -> f64 {
    super::status_kib("/proc/self/status", field).unwrap_or(0) as f64 / 1024.0
}

/// Starts a new peak: Linux resets `VmHWM` to the current resident size. Returns false where
/// it cannot (then the peaks printed are of the whole run so far).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// "peak 123 MiB" since the last reset (or since the start when resets are unavailable).
fn peak(resettable: bool) -> String {
    let what = if resettable { "" } else { " (whole run)" };
    format!("peak resident{what} {:.0} MiB", memory_mib("VmHWM"))
}

/// The first `SESSIONS` weekdays of the period.
fn session_dates(period: Period) -> anyhow::Result<Vec<NaiveDate>> {
    let dates: Vec<NaiveDate> = period
        .first
        .iter_days()
        .take_while(|d| period.contains(*d))
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .take(SESSIONS)
        .collect();
    anyhow::ensure!(
        dates.len() == SESSIONS,
        "{period} has fewer than {SESSIONS} weekdays"
    );
    Ok(dates)
}

/// How many of the 20 sessions a participant attended: most all, some nearly all (still full
/// pay from 80%), some partly (pro rata from 60%), some below the threshold.
fn attended(rng: &mut SeededRandom) -> usize {
    let roll = rng.next_u64() % 100;
    let pick = |rng: &mut SeededRandom, lo: u64, hi: u64| lo + rng.next_u64() % (hi - lo + 1);
    (match roll {
        0..=64 => 20,
        65..=79 => pick(rng, 16, 19),
        80..=91 => pick(rng, 12, 15),
        _ => pick(rng, 0, 11),
    }) as usize
}

/// What setting the programme up measured.
struct Figures {
    setup: Duration,
    cohorts: u64,
    register: Duration,
    statements: u64,
    items: u64,
    evidence: Duration,
    evidence_bytes: u64,
    expected_entitlements: u64,
}

/// The award, the partner and its key, the rule, the cohorts with their sessions, the
/// participants and their evidence; returns what that measured.
async fn build(
    ledger: &Ledger,
    args: &BenchArgs,
    period: Period,
    key: &SigningKey,
) -> anyhow::Result<Figures> {
    let n = args.participants;
    let award = id(AWARD)?;
    let partner = id(PARTNER)?;
    let now = Utc::now();

    // The award, partner, key and rule: a handful of records.
    let start = Instant::now();
    let c4t_budget = n * C4T_CAP;
    let admin_budget = 1_000u64;
    let mut commands = award_commands(AwardOpenBody {
        utc_offset: None,
        provinces: None,
        pathways: None,
        age_bands: None,
        liquidation_days: None,
        future_days: None,
        award: award.clone(),
        donor: "Bench donor".into(),
        currency: "USD".into(),
        total: format!("{}.00", c4t_budget + admin_budget),
        start: Date::parse("2026-01-01").map_err(invalid)?,
        end: Date::parse("2026-12-31").map_err(invalid)?,
        budget_lines: vec![
            BudgetLine {
                line: id("c4t")?,
                name: "C4T stipend".into(),
                authorised: format!("{c4t_budget}.00"),
                participant_support: true,
            },
            BudgetLine {
                line: id("admin")?,
                name: "Programme administration".into(),
                authorised: format!("{admin_budget}.00"),
                participant_support: false,
            },
        ],
    })
    .map_err(invalid)?;
    let vk = key.verifying_key();
    commands.extend([
        Command::Programme(ProgrammeCommand::PartnerRegister(PartnerRegisterBody {
            partner: partner.clone(),
            name: "Bench partner".into(),
        })),
        Command::Programme(ProgrammeCommand::PartnerKey(PartnerKeyBody {
            partner: partner.clone(),
            action: KeyAction::Register,
            key_id: partner_key_id(&vk),
            public_key: Some(public_key_text(&vk)),
            replaces: None,
        })),
        Command::Programme(ProgrammeCommand::RuleVersion(RuleVersionBody {
            award: award.clone(),
            rule: id(RULE)?,
            version: 1,
            effective: Date::parse("2026-01-01").map_err(invalid)?,
            params: RuleParams::C4tMonthly {
                line: id("c4t")?,
                amount: format!("{C4T_AMOUNT}.00"),
                full_from_percent: 80,
                partial_from_percent: 60,
                cap: format!("{C4T_CAP}.00"),
            },
        })),
    ]);
    ledger.append(&commands, "bench", now).await?;

    // Cohorts with their sessions.
    let cohorts = n.div_ceil(COHORT_SIZE);
    let dates = session_dates(period)?;
    let cohort_id = |c: u64| format!("c{c:05}");
    let session_id = |c: u64, s: usize| format!("c{c:05}-s{:02}", s + 1);
    let bar = tranche_api::cli::common::progress_bar(cohorts, "cohorts");
    let mut c = 0u64;
    while c < cohorts {
        let mut commands = Vec::new();
        for c in c..(c + COHORT_BATCH as u64).min(cohorts) {
            let input = CohortInput {
                cohort: CohortOpenBody {
                    cohort: id(&cohort_id(c))?,
                    award: award.clone(),
                    partner: partner.clone(),
                    pathway: Pathway::Employability,
                    name: format!("Cohort {c}"),
                    course: None,
                    provider: None,
                },
                sessions: dates
                    .iter()
                    .enumerate()
                    .map(|(s, d)| {
                        Ok(SessionBody {
                            session: id(&session_id(c, s))?,
                            date: Date(*d),
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
            };
            commands.extend(ledger.cohort_commands(input).await?);
        }
        ledger.append(&commands, "bench", now).await?;
        c = (c + COHORT_BATCH as u64).min(cohorts);
        bar.set_position(c);
    }
    bar.finish_and_clear();
    let setup = start.elapsed();

    // Participants: the pseudonyms and personal data are made by the ledger, so both the
    // commands and the append are timed.
    let mut rng = SeededRandom(0x0074_7261_6e63_6865);
    let vocabularies = ledger.vocabularies().await?;
    let mut pseudonyms: Vec<Id> = Vec::with_capacity(n as usize);
    let bar = tranche_api::cli::common::progress_bar(n, "participants");
    let mut register = Duration::ZERO;
    let mut i = 0u64;
    while i < n {
        let inputs: Vec<ParticipantInput> = (i..(i + REGISTER_BATCH as u64).min(n))
            .map(|k| ParticipantInput {
                award: AWARD.into(),
                partner: None,
                name: format!("Participant {k}"),
                document: format!("17{k:08}"),
                phone: Some(format!("+593 99 {:03} {:04}", k / 10_000, k % 10_000)),
                bank_account: Some(format!("EC-{k:08}")),
                sex: Some(if k % 2 == 0 { "female" } else { "male" }.into()),
                nationality: Some("VE".into()),
                province: Some("Imbabura".into()),
                pathway: Some("employability".into()),
                age_band: Some("25-34".into()),
            })
            .collect();
        let t = Instant::now();
        let (commands, ids) = ledger
            .participant_commands(&inputs, Some(&partner), &vocabularies, &mut rng)
            .map_err(invalid)?;
        ledger.append(&commands, "bench", now).await?;
        register += t.elapsed();
        i += ids.len() as u64;
        pseudonyms.extend(ids);
        bar.set_position(i);
    }
    bar.finish_and_clear();

    // Evidence: enrolments in statements of 500 (participant k is in cohort k / 25), then one
    // attendance sheet per cohort.
    let enrol_date = Date::parse("2026-02-01").map_err(invalid)?;
    let enrolments: Vec<EvidenceItem> = pseudonyms
        .iter()
        .enumerate()
        .map(|(k, p)| {
            Ok(EvidenceItem::Enrolment {
                participant: p.clone(),
                cohort: id(&cohort_id(k as u64 / COHORT_SIZE))?,
                date: enrol_date,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let sheets: Vec<Vec<EvidenceItem>> = enrolments
        .chunks(MAX_STATEMENT_ITEMS)
        .map(<[EvidenceItem]>::to_vec)
        .collect();
    drop(enrolments);
    let enrolment_sheets = sheets.len() as u64;
    let mut attendance_rng = SeededRandom(0x6174_7465_6e64);
    let mut expected_entitlements = 0u64;
    let attendance_for =
        |c: u64, rng: &mut SeededRandom, expected: &mut u64| -> anyhow::Result<Vec<EvidenceItem>> {
            let members =
                &pseudonyms[(c * COHORT_SIZE) as usize..((c + 1) * COHORT_SIZE).min(n) as usize];
            let mut items = Vec::with_capacity(members.len() * SESSIONS);
            for p in members {
                let present = attended(rng);
                if present * 100 >= 60 * SESSIONS {
                    *expected += 1;
                }
                // Absences fall on a random run of sessions.
                let offset = (rng.next_u64() % SESSIONS as u64) as usize;
                for s in 0..SESSIONS {
                    let status = if (s + SESSIONS - offset) % SESSIONS < present {
                        Presence::Present
                    } else {
                        Presence::Absent
                    };
                    items.push(EvidenceItem::Attendance {
                        participant: p.clone(),
                        session: id(&session_id(c, s))?,
                        status,
                    });
                }
            }
            Ok(items)
        };
    let statements = enrolment_sheets + cohorts;
    let per_append = args.statements_per_append.max(1);
    let bar = tranche_api::cli::common::progress_bar(statements, "evidence statements");
    let first_evidence_seq = ledger.store().tree_size().await?;
    let mut evidence = Duration::ZERO;
    let mut items = 0u64;
    let mut next = 0u64;
    let mut pending = sheets.into_iter();
    while next < statements {
        let mut batch = Vec::with_capacity(per_append as usize);
        for k in next..(next + per_append).min(statements) {
            let sheet = if k < enrolment_sheets {
                pending.next().unwrap_or_default()
            } else {
                attendance_for(
                    k - enrolment_sheets,
                    &mut attendance_rng,
                    &mut expected_entitlements,
                )?
            };
            items += sheet.len() as u64;
            let body = Statement {
                partner: partner.clone(),
                batch_id: id(&format!("sheet-{k:06}"))?,
                items: sheet,
                submitted_at: "2026-03-31T18:00:00Z".into(),
            }
            .sign(key);
            batch.push(Command::Programme(ProgrammeCommand::Evidence(Box::new(
                body,
            ))));
        }
        let t = Instant::now();
        ledger.append(&batch, "bench", now).await?;
        evidence += t.elapsed();
        next += batch.len() as u64;
        bar.set_position(next);
    }
    bar.finish_and_clear();

    // What the evidence wrote: the exact record bytes, read back untimed.
    let end = ledger.store().tree_size().await?;
    let mut evidence_bytes = 0u64;
    let mut from = first_evidence_seq;
    while from < end {
        let page = ledger.store().records(from, READ_PAGE).await?;
        anyhow::ensure!(!page.is_empty(), "the journal ended at {from} before {end}");
        from += page.len() as u64;
        evidence_bytes += page.iter().map(|r| r.bytes.len() as u64).sum::<u64>();
    }

    Ok(Figures {
        setup,
        cohorts,
        register,
        statements,
        items,
        evidence,
        evidence_bytes,
        expected_entitlements,
    })
}

/// One row of the table: what was measured, how long it took, and the rates.
fn row(what: &str, took: Duration, rates: &str) {
    println!("{what:<46} {:>8.2} s  {rates}", took.as_secs_f64());
}

fn per_sec(count: u64, took: Duration, unit: &str) -> String {
    format!(
        "{:>9.0} {unit}/s",
        count as f64 / took.as_secs_f64().max(1e-9)
    )
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.participants > 0, "--participants must be at least 1");
    let n = args.participants;
    let period = Period::parse(PERIOD).map_err(invalid)?;
    let award = id(AWARD)?;
    let dir = tempfile::tempdir().context("Failed to create a temporary directory")?;
    let (config, _cluster, backend) = match &args.postgres {
        Some(_) => {
            let (config, cluster) = super::postgres_config(args, dir.path(), "bench_cycle").await?;
            (config, cluster, "postgres")
        }
        None => (Config::new(dir.path().join("sqlite")), None, "sqlite"),
    };
    println!(
        "tranche-bench cycle: {} cores, {backend}, {n} participants in {} cohorts of {COHORT_SIZE}, \
         {SESSIONS} sessions each in {period}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        n.div_ceil(COHORT_SIZE),
    );
    let resettable = reset_peak();
    let ledger = Ledger::open(&config)
        .await
        .with_context(|| format!("Failed to open the {backend} ledger"))?;
    let key = SigningKey::from_bytes(&[7; 32]);
    let f = build(&ledger, args, period, &key).await?;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    row(
        &format!(
            "setup: award, rule, {} cohorts, {} sessions",
            f.cohorts,
            f.cohorts * SESSIONS as u64
        ),
        f.setup,
        "",
    );
    row(
        &format!("register {n} participants ({REGISTER_BATCH}/append)"),
        f.register,
        &per_sec(n, f.register, "participants"),
    );
    row(
        &format!(
            "evidence: {} statements ({}/append)",
            f.statements,
            args.statements_per_append.max(1)
        ),
        f.evidence,
        &format!(
            "{}  {}  {:.1} MiB of journal ({:.1} MiB/s)",
            per_sec(f.statements, f.evidence, "statements"),
            per_sec(f.items, f.evidence, "items"),
            mib(f.evidence_bytes),
            mib(f.evidence_bytes) / f.evidence.as_secs_f64().max(1e-9)
        ),
    );
    println!("  {} items; setup {}", f.items, peak(resettable));

    // The cycle: computed alone, then run (computed again, posted, closed), then re-run.
    let resettable = reset_peak();
    let t = Instant::now();
    let preview = ledger.preview_cycle(&award, period).await?;
    let compute = t.elapsed();
    let to_post = preview.commands.len() as u64;
    drop(preview);
    row(
        "cycle compute alone (preview_cycle)",
        compute,
        &per_sec(n, compute, "participants"),
    );
    let size_before = ledger.store().tree_size().await?;
    let bar = tranche_api::cli::common::progress_bar(to_post, "posting entitlements");
    let mut posting_from: Option<Instant> = None;
    let t = Instant::now();
    let report = ledger
        .run_cycle(&award, period, "bench", Utc::now(), &mut |done, total| {
            posting_from.get_or_insert_with(Instant::now);
            bar.set_length(total);
            bar.set_position(done);
        })
        .await?;
    let total = t.elapsed();
    bar.finish_and_clear();
    let in_run_compute = posting_from.map_or(total, |p| p.duration_since(t));
    let posting = total.saturating_sub(in_run_compute);
    let written = ledger.store().tree_size().await? - size_before;
    anyhow::ensure!(
        report.entitlements == f.expected_entitlements && report.reversals == 0,
        "the cycle made {} entitlements and {} reversals; the attendance entitles {}",
        report.entitlements,
        report.reversals,
        f.expected_entitlements
    );
    anyhow::ensure!(
        written == report.entitlements + 1,
        "the cycle wrote {written} records for {} entitlements",
        report.entitlements
    );
    row(
        "cycle run_cycle, total",
        total,
        &per_sec(report.entitlements, total, "entitlements"),
    );
    row("  compute", in_run_compute, "");
    row(
        &format!(
            "  posting ({}/append) and cycle.run",
            tranche_ledger::service::programme::CYCLE_BATCH
        ),
        posting,
        &per_sec(report.entitlements, posting, "entitlements"),
    );
    println!(
        "  {} entitlements, net payable {} {}; exceptions: {}",
        report.entitlements,
        report.net_payable,
        report.currency,
        report
            .exception_counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let t = Instant::now();
    let again = ledger
        .run_cycle(&award, period, "bench", Utc::now(), &mut |_, _| {})
        .await?;
    let rerun = t.elapsed();
    let after = ledger.store().tree_size().await?;
    anyhow::ensure!(
        again.entitlements == 0 && again.reversals == 0 && after == size_before + written,
        "the re-run posted {} entitlements and {} reversals ({} records)",
        again.entitlements,
        again.reversals,
        after - size_before - written
    );
    row("cycle re-run (posts nothing)", rerun, "");
    println!("  cycle {}", peak(resettable));
    drop(ledger);

    // A fresh ledger on the same database catches its programme state up from the journal.
    let resettable = reset_peak();
    let fresh = Ledger::open(&config)
        .await
        .context("Failed to reopen the ledger")?;
    let t = Instant::now();
    let replayed = fresh.store().programme().await?.size();
    let load = t.elapsed();
    row(
        "load programme state from scratch",
        load,
        &per_sec(replayed, load, "records"),
    );
    println!("  {replayed} records; load {}", peak(resettable));
    Ok(ExitCode::SUCCESS)
}
