//! `tranche-bench scale`: the figures of a country programme on one machine. A synthetic
//! organisation (`--awards` awards sharing `--cohorts` cohorts of one partner, `--participants`
//! people, 20 sessions a month for `--months` months of attendance, every month's cycle, and a
//! batch of one award's payments to the bank and back) is built on SQLite and on a throwaway
//! PostgreSQL cluster, and each figure of the scale targets is printed with the machine's core
//! count: evidence ingestion, the monthly cycle, a batch from creation to pain.001, one-shot CLI
//! commands and `tranche serve` (start to ready, resident memory after start, after reads and
//! after a cycle). One-shot commands and the server run as child processes of this binary, so
//! their time and memory are theirs alone.
//!
//! It measures and asserts nothing but the programme's own arithmetic (every cycle entitles the
//! people the attendance entitles, every payment of the batch is confirmed).

use std::process::{Command as Process, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{Datelike, NaiveDate, Utc, Weekday};
use ed25519_dalek::SigningKey;
use tranche_audit::account::AccountName;
use tranche_audit::disburse::{BankAccountBody, DisbursementConfigBody};
use tranche_audit::money::{Currency, Money};
use tranche_audit::posting::{Posting, Side};
use tranche_audit::programme::{
    accounts, partner_key_id, public_key_text, AwardOpenBody, BudgetLine, CohortOpenBody, Date,
    EvidenceItem, Id, KeyAction, PartnerKeyBody, PartnerRegisterBody, Pathway, Period, Presence,
    RuleParams, RuleVersionBody, SessionBody, Statement, MAX_STATEMENT_ITEMS,
};
use tranche_ledger::domain::programme::ProgrammeCommand;
use tranche_ledger::domain::{Command, NewTransaction};
use tranche_ledger::service::payments::BatchRequest;
use tranche_ledger::service::programme::{
    award_commands, CohortInput, ParticipantInput, SeededRandom,
};
use tranche_ledger::{Config, Ledger};

use super::BenchArgs;

const PARTNER: &str = "scale-partner";
const SESSIONS: usize = 20;
/// A month's stipend, in cents, for full attendance.
const STIPEND_MINOR: i64 = 6_000;
/// Participants per registration append (two records each).
const REGISTER_BATCH: usize = 5_000;
/// Signed statements per evidence append (the API's group commit merges concurrent
/// submissions the same way).
const STATEMENTS_PER_APPEND: usize = 10;
/// How long `tranche serve` may take to answer `/readyz` before the benchmark gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(600);

fn id(text: &str) -> anyhow::Result<Id> {
    Id::parse(text).map_err(|e| anyhow::anyhow!("{text}: {e}"))
}

fn invalid(e: tranche_audit::Invalid) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn cents(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// The organisation's shape, from the arguments.
#[derive(Debug, Clone, Copy)]
struct Shape {
    participants: u64,
    awards: u64,
    cohorts: u64,
    months: u32,
}

impl Shape {
    fn award(&self, a: u64) -> String {
        format!("scale-award-{a:02}")
    }

    /// Participants of award `a` (the first awards take the remainder).
    fn people(&self, a: u64) -> u64 {
        self.participants / self.awards + u64::from(a < self.participants % self.awards)
    }

    /// Cohorts of award `a`.
    fn cohorts_of(&self, a: u64) -> u64 {
        (self.cohorts / self.awards + u64::from(a < self.cohorts % self.awards)).max(1)
    }

    fn cohort(&self, a: u64, c: u64) -> String {
        format!("a{a:02}-c{c:04}")
    }

    fn session(&self, a: u64, c: u64, month: u32, s: usize) -> String {
        format!("a{a:02}-c{c:04}-m{month:02}-s{:02}", s + 1)
    }

    fn period(&self, month: u32) -> anyhow::Result<Period> {
        Period::parse(&format!("2026-{month:02}")).map_err(invalid)
    }
}

/// The first `SESSIONS` weekdays of a month of 2026.
fn session_dates(month: u32) -> anyhow::Result<Vec<NaiveDate>> {
    let mut d = NaiveDate::from_ymd_opt(2026, month, 1).context("a month of 2026")?;
    let mut out = Vec::with_capacity(SESSIONS);
    while out.len() < SESSIONS && d.month() == month {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            out.push(d);
        }
        d = d.succ_opt().context("a next day")?;
    }
    anyhow::ensure!(
        out.len() == SESSIONS,
        "2026-{month:02} has too few weekdays"
    );
    Ok(out)
}

/// Sessions attended of 20: most people nearly all, some fewer (so the cycle pays full,
/// partial and nothing).
fn attended(rng: &mut SeededRandom) -> usize {
    match rng.next_u64() % 10 {
        0 => 8 + (rng.next_u64() % 4) as usize,
        1 | 2 => 12 + (rng.next_u64() % 4) as usize,
        _ => 16 + (rng.next_u64() % 5) as usize,
    }
}

fn secs(d: Duration) -> String {
    format!("{:>9.2} s", d.as_secs_f64())
}

fn rate(count: u64, d: Duration, unit: &str) -> String {
    format!(
        "{:>10.0} {unit}/s",
        count as f64 / d.as_secs_f64().max(1e-9)
    )
}

/// What building the organisation measured.
#[derive(Debug, Default)]
struct Built {
    /// Pseudonyms of award 0, for the one-shot reads.
    first_award_people: Vec<Id>,
    register: Duration,
    evidence: Duration,
    statements: u64,
    items: u64,
    /// The last month's cycles, over every award.
    cycle: Duration,
    cycle_entitlements: u64,
}

async fn setup(ledger: &Ledger, shape: &Shape, key: &SigningKey) -> anyhow::Result<()> {
    let now = Utc::now();
    let partner = id(PARTNER)?;
    let vk = key.verifying_key();
    let mut commands = vec![
        Command::Programme(ProgrammeCommand::PartnerRegister(PartnerRegisterBody {
            partner: partner.clone(),
            name: "Scale partner".into(),
        })),
        Command::Programme(ProgrammeCommand::PartnerKey(PartnerKeyBody {
            partner: partner.clone(),
            action: KeyAction::Register,
            key_id: partner_key_id(&vk),
            public_key: Some(public_key_text(&vk)),
            replaces: None,
        })),
    ];
    let usd = Currency::parse("USD").map_err(|e| anyhow::anyhow!("{e}"))?;
    for a in 0..shape.awards {
        let award = id(&shape.award(a))?;
        let budget = STIPEND_MINOR * i64::from(shape.months) * shape.people(a) as i64 + 100_000;
        commands.extend(
            award_commands(AwardOpenBody {
                utc_offset: None,
                provinces: None,
                pathways: None,
                age_bands: None,
                liquidation_days: None,
                future_days: None,
                award: award.clone(),
                donor: "Scale donor".into(),
                currency: "USD".into(),
                total: cents(budget + 100_000),
                start: Date::parse("2026-01-01").map_err(invalid)?,
                end: Date::parse("2026-12-31").map_err(invalid)?,
                budget_lines: vec![
                    BudgetLine {
                        line: id("c4t")?,
                        name: "C4T stipend".into(),
                        authorised: cents(budget),
                        participant_support: true,
                    },
                    BudgetLine {
                        line: id("admin")?,
                        name: "Administration".into(),
                        authorised: cents(100_000),
                        participant_support: false,
                    },
                ],
            })
            .map_err(invalid)?,
        );
        commands.push(Command::Programme(ProgrammeCommand::RuleVersion(
            RuleVersionBody {
                award: award.clone(),
                rule: id("c4t")?,
                version: 1,
                effective: Date::parse("2026-01-01").map_err(invalid)?,
                params: RuleParams::C4tMonthly {
                    line: id("c4t")?,
                    amount: cents(STIPEND_MINOR),
                    full_from_percent: 80,
                    partial_from_percent: 60,
                    cap: cents(STIPEND_MINOR * 12),
                },
            },
        )));
        // The donor's money in, and where to pay from.
        let drawdown = Money::from_minor(budget, usd);
        commands.push(Command::Transaction(NewTransaction {
            memo: "donor drawdown".into(),
            postings: vec![
                Posting {
                    account: AccountName::parse(&accounts::bank(&award)).map_err(invalid)?,
                    side: Side::Debit,
                    money: drawdown,
                },
                Posting {
                    account: AccountName::parse(&accounts::fund(&award)).map_err(invalid)?,
                    side: Side::Credit,
                    money: drawdown,
                },
            ],
            reverses: None,
            date: Some(chrono::NaiveDate::from_ymd_opt(2026, 1, 10).expect("a date")),
            prior_period: None,
        }));
        commands.push(
            Ledger::settings_command(DisbursementConfigBody {
                award: award.clone(),
                debtor: BankAccountBody {
                    name: "Scale programme account".into(),
                    account: "2100456789".into(),
                    agent_bic: None,
                    bank_code: None,
                    account_type: None,
                },
                vendors: vec![],
                dual_approval_above: "25000.00".into(),
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    ledger.append(&commands, "user:bench-setup", now).await?;

    // Cohorts with every month's sessions.
    let total: u64 = (0..shape.awards).map(|a| shape.cohorts_of(a)).sum();
    let bar = tranche_api::cli::common::progress_bar(total, "cohorts");
    let months: Vec<(u32, Vec<NaiveDate>)> = (1..=shape.months)
        .map(|m| Ok((m, session_dates(m)?)))
        .collect::<anyhow::Result<_>>()?;
    for a in 0..shape.awards {
        let award = id(&shape.award(a))?;
        let mut commands = Vec::new();
        for c in 0..shape.cohorts_of(a) {
            let mut sessions = Vec::with_capacity(SESSIONS * months.len());
            for (m, dates) in &months {
                for (s, d) in dates.iter().enumerate() {
                    sessions.push(SessionBody {
                        session: id(&shape.session(a, c, *m, s))?,
                        date: Date(*d),
                    });
                }
            }
            commands.extend(
                ledger
                    .cohort_commands(CohortInput {
                        cohort: CohortOpenBody {
                            cohort: id(&shape.cohort(a, c))?,
                            award: award.clone(),
                            partner: partner.clone(),
                            pathway: Pathway::Employability,
                            name: format!("Cohort {c} of award {a}"),
                            course: None,
                            provider: None,
                        },
                        sessions,
                    })
                    .await?,
            );
            bar.inc(1);
        }
        ledger.append(&commands, "user:bench-setup", now).await?;
    }
    bar.finish_and_clear();
    Ok(())
}

/// Signs and appends `sheets` as statements, `STATEMENTS_PER_APPEND` per append; returns the
/// time the appends took.
async fn submit(
    ledger: &Ledger,
    key: &SigningKey,
    sheets: Vec<Vec<EvidenceItem>>,
    tag: &str,
    built: &mut Built,
) -> anyhow::Result<Duration> {
    let partner = id(PARTNER)?;
    let mut took = Duration::ZERO;
    let mut batch = Vec::with_capacity(STATEMENTS_PER_APPEND);
    let count = sheets.len();
    for (k, items) in sheets.into_iter().enumerate() {
        built.items += items.len() as u64;
        built.statements += 1;
        batch.push(Command::Programme(ProgrammeCommand::Evidence(Box::new(
            Statement {
                partner: partner.clone(),
                batch_id: id(&format!("{tag}-{k:06}"))?,
                items,
                submitted_at: "2026-07-01T12:00:00Z".into(),
            }
            .sign(key),
        ))));
        if batch.len() == STATEMENTS_PER_APPEND || k + 1 == count {
            let t = Instant::now();
            ledger
                .append(&batch, &format!("partner:{PARTNER}"), Utc::now())
                .await?;
            took += t.elapsed();
            batch.clear();
        }
    }
    Ok(took)
}

async fn build(ledger: &Ledger, shape: &Shape, key: &SigningKey) -> anyhow::Result<Built> {
    let mut built = Built::default();
    let partner = id(PARTNER)?;
    let now = Utc::now();
    setup(ledger, shape, key).await?;

    // Participants, each award in registration appends, then their enrolments.
    let mut rng = SeededRandom(0x0073_6361_6c65);
    let mut people: Vec<Vec<Id>> = Vec::with_capacity(shape.awards as usize);
    let bar = tranche_api::cli::common::progress_bar(shape.participants, "participants");
    let vocabularies = ledger.vocabularies().await?;
    let mut k = 0u64;
    for a in 0..shape.awards {
        let mut ids = Vec::with_capacity(shape.people(a) as usize);
        let n = shape.people(a);
        let mut i = 0u64;
        while i < n {
            let inputs: Vec<ParticipantInput> = (i..(i + REGISTER_BATCH as u64).min(n))
                .map(|j| {
                    let g = k + j;
                    ParticipantInput {
                        award: shape.award(a),
                        partner: None,
                        name: format!("Participant {g}"),
                        document: format!("SC{g:09}"),
                        phone: None,
                        bank_account: Some(format!("{:010}", 1_000_000_000 + g)),
                        sex: Some(if matches!(g % 3, 0) { "male" } else { "female" }.into()),
                        nationality: Some("VE".into()),
                        province: Some(
                            if matches!(g % 2, 0) {
                                "Pichincha"
                            } else {
                                "Imbabura"
                            }
                            .into(),
                        ),
                        pathway: Some("employability".into()),
                        age_band: Some("25-34".into()),
                    }
                })
                .collect();
            let t = Instant::now();
            let (commands, new) = ledger
                .participant_commands(&inputs, Some(&partner), &vocabularies, &mut rng)
                .map_err(invalid)?;
            ledger.append(&commands, "user:bench-setup", now).await?;
            built.register += t.elapsed();
            i += new.len() as u64;
            ids.extend(new);
            bar.set_position(k + i);
        }
        k += n;
        people.push(ids);
    }
    bar.finish_and_clear();
    let enrol = Date::parse("2026-01-01").map_err(invalid)?;
    let mut sheets = Vec::new();
    for (a, ids) in people.iter().enumerate() {
        let a = a as u64;
        let items: Vec<EvidenceItem> = ids
            .iter()
            .enumerate()
            .map(|(j, p)| {
                Ok(EvidenceItem::Enrolment {
                    participant: p.clone(),
                    cohort: id(&shape.cohort(a, j as u64 % shape.cohorts_of(a)))?,
                    date: enrol,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        sheets.extend(items.chunks(MAX_STATEMENT_ITEMS).map(<[_]>::to_vec));
    }
    let took = submit(ledger, key, sheets, "enrol", &mut built).await?;
    built.evidence += took;

    // Every month: each cohort's attendance sheets, then every award's cycle.
    let mut attendance = SeededRandom(0x6174_7465_6e64);
    for month in 1..=shape.months {
        let period = shape.period(month)?;
        let mut expected = 0u64;
        let bar =
            tranche_api::cli::common::progress_bar(shape.cohorts, &format!("attendance {period}"));
        for (a, ids) in people.iter().enumerate() {
            let a = a as u64;
            let cohorts = shape.cohorts_of(a);
            for c in 0..cohorts {
                let mut items = Vec::new();
                for p in ids.iter().skip(c as usize).step_by(cohorts as usize) {
                    let present = attended(&mut attendance);
                    if present * 100 >= 60 * SESSIONS {
                        expected += 1;
                    }
                    for s in 0..SESSIONS {
                        items.push(EvidenceItem::Attendance {
                            participant: p.clone(),
                            session: id(&shape.session(a, c, month, s))?,
                            status: if s < present {
                                Presence::Present
                            } else {
                                Presence::Absent
                            },
                        });
                    }
                }
                let sheets = items
                    .chunks(MAX_STATEMENT_ITEMS)
                    .map(<[_]>::to_vec)
                    .collect();
                let tag = format!("att-{}-m{month:02}", shape.cohort(a, c));
                let took = submit(ledger, key, sheets, &tag, &mut built).await?;
                built.evidence += took;
                bar.inc(1);
            }
        }
        bar.finish_and_clear();
        let bar = tranche_api::cli::common::progress_bar(shape.awards, &format!("cycles {period}"));
        let t = Instant::now();
        let mut entitled = 0u64;
        for a in 0..shape.awards {
            let report = ledger
                .run_cycle(
                    &id(&shape.award(a))?,
                    period,
                    "user:bench-preparer",
                    Utc::now(),
                    &mut |_, _| {},
                )
                .await?;
            entitled += report.entitlements;
            bar.inc(1);
        }
        bar.finish_and_clear();
        anyhow::ensure!(
            entitled == expected,
            "the {period} cycles entitled {entitled}; the attendance entitles {expected}"
        );
        built.cycle = t.elapsed();
        built.cycle_entitlements = entitled;
        println!(
            "  {period}: evidence appended, cycles of {} awards {} ({entitled} entitlements)",
            shape.awards,
            secs(built.cycle)
        );
    }
    built.first_award_people = people.into_iter().next().unwrap_or_default();
    Ok(built)
}

/// Runs `tranche ARGS` as a child: (wall time, its peak resident memory in MiB, stdout).
fn one_shot(base: &[String], args: &[&str]) -> anyhow::Result<(Duration, f64, String)> {
    let exe = crate::sibling("tranche")?;
    let t = Instant::now();
    let out = Process::new(exe)
        .args(base)
        .args(args)
        .env(tranche_api::PEAK_MEMORY_ENV, "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .context("Failed to run tranche")?;
    let took = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success(),
        "tranche {} failed: {stderr}",
        args.join(" ")
    );
    let peak_kib = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix(tranche_api::PEAK_MEMORY_LINE)?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    Ok((
        took,
        peak_kib as f64 / 1024.0,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("Failed to find a free port")?;
    Ok(l.local_addr()?.port())
}

fn rss_mib(pid: u32) -> f64 {
    super::status_kib(&format!("/proc/{pid}/status"), "VmRSS").unwrap_or(0) as f64 / 1024.0
}

/// Stops the server when dropped, whatever happened.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// GETs `url`; the status the server answered (a read that times out is a figure too).
fn get(agent: &ureq::Agent, url: &str, token: &str) -> anyhow::Result<u16> {
    let r = agent
        .get(url)
        .header("Authorization", &format!("Bearer {token}"))
        .call()?;
    Ok(r.status().as_u16())
}

async fn one(args: &BenchArgs, shape: &Shape, postgres: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("Failed to create a temporary directory")?;
    let (config, _cluster, backend) = if postgres {
        let (config, cluster) = super::postgres_config(args, dir.path(), "bench_scale").await?;
        (config, cluster, "postgres")
    } else {
        (Config::new(dir.path().join("sqlite")), None, "sqlite")
    };
    println!(
        "tranche-bench scale: {} cores, {backend}, {} participants in {} awards and {} cohorts, \
         {SESSIONS} sessions a month for {} months",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        shape.participants,
        shape.awards,
        shape.cohorts,
        shape.months,
    );
    let ledger = Ledger::open(&config)
        .await
        .with_context(|| format!("Failed to open the {backend} ledger"))?;
    let key = SigningKey::from_bytes(&[11; 32]);
    let t = Instant::now();
    let built = build(&ledger, shape, &key).await?;
    println!("  built in {}", secs(t.elapsed()));
    println!(
        "  register participants           {}  {}",
        secs(built.register),
        rate(shape.participants, built.register, "participants")
    );
    println!(
        "  evidence ingestion              {}  {}  {}",
        secs(built.evidence),
        rate(built.items, built.evidence, "items"),
        rate(built.statements, built.evidence, "statements")
    );
    println!(
        "  monthly cycle, every award      {}  ({} entitlements; target < 60 s SQLite, < 90 s PostgreSQL at 1,000,000)",
        secs(built.cycle),
        built.cycle_entitlements
    );

    // One award's payments: create, submit, two approvals, pain.001; then sent and booked.
    let award = shape.award(0);
    let now = Utc::now();
    let t = Instant::now();
    let plan = ledger
        .plan_batch(&BatchRequest {
            award: award.clone(),
            filter: Default::default(),
        })
        .await?;
    ledger
        .append(&plan.commands, "user:bench-preparer", now)
        .await?;
    let submit = ledger.submit_command(&plan.batch).await?;
    ledger.append(&[submit], "user:bench-preparer", now).await?;
    let required = ledger
        .batch_view(&plan.batch, 0, 0)
        .await?
        .approvals_required as usize;
    for approver in ["user:bench-approver-1", "user:bench-approver-2"]
        .into_iter()
        .take(required)
    {
        let c = ledger
            .decision_command(&plan.batch, true, Some(&plan.digest), None)
            .await?;
        ledger.append(&[c], approver, now).await?;
    }
    let file = ledger.bank_file(&plan.batch, "pain.001", now, None).await?;
    if let Some(c) = file.record {
        ledger.append(&[c], "user:bench-preparer", now).await?;
    }
    let batch_took = t.elapsed();
    println!(
        "  batch of {:>7} payments         {}  (create, submit, approvals, pain.001; target < 30 s for 100,000)",
        plan.payments.len(),
        secs(batch_took)
    );
    let send = ledger
        .send_commands(
            &plan.batch,
            None,
            Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 2).expect("a date")),
        )
        .await?;
    ledger.append(&send, "user:bench-approver-1", now).await?;
    let lines: Vec<(String, String)> = plan
        .payments
        .iter()
        .map(|p| (p.e2e.clone(), p.amount.clone()))
        .collect();
    let statement = super::disburse::camt053(&lines, "USD");
    let import = ledger
        .plan_import(
            statement.as_bytes(),
            Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 6).expect("a date")),
        )
        .await?;
    ledger
        .append(&import.commands, "user:bench-preparer", now)
        .await?;
    let confirmed = import
        .report
        .applied
        .get("confirmed")
        .map_or(0, |c| c.count);
    anyhow::ensure!(
        confirmed as usize == plan.payments.len(),
        "{confirmed} of {} payments were confirmed",
        plan.payments.len()
    );
    let (token, _) = {
        let (user, token) =
            tranche_api::server::routes::new_user(&ledger, "bench-preparer", "preparer", None)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        (token, user)
    };
    drop(ledger);

    // One-shot commands, each a process of its own on the ledger as it now stands.
    let mut base = vec![
        "--data-dir".to_string(),
        config.data_dir.display().to_string(),
    ];
    if let Some(url) = &config.database_url {
        base.extend(["--database-url".to_string(), url.clone()]);
    }
    let person = built
        .first_award_people
        .first()
        .context("award 0 has participants")?
        .to_string();
    let e2e = plan
        .payments
        .first()
        .map(|p| p.e2e.clone())
        .context("the batch has payments")?;
    let batch = plan.batch.to_string();
    println!("  one-shot CLI commands (target < 200 ms, flat in participants):");
    for args in [
        vec!["award", "list"],
        vec!["participants", "show", &person],
        vec!["batch", "show", &batch],
        vec!["trace", &e2e],
    ] {
        let (took, peak, _) = one_shot(&base, &args)?;
        println!(
            "    tranche {:<40} {:>7.0} ms  {peak:>6.1} MiB peak",
            args.join(" "),
            took.as_secs_f64() * 1000.0
        );
    }

    // The server: start to ready, and its memory after start, after reads and after a cycle.
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let exe = crate::sibling("tranche")?;
    let t = Instant::now();
    let child = Process::new(exe)
        .args(&base)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("TRANCHE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("Failed to start tranche serve")?;
    let server = Server(child);
    let pid = server.0.id();
    let agent = agent();
    loop {
        if let Ok(r) = agent.get(&format!("{url}/readyz")).call() {
            if r.status().as_u16() == 200 {
                break;
            }
        }
        anyhow::ensure!(
            t.elapsed() < READY_TIMEOUT,
            "tranche serve was not ready within {READY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let ready = t.elapsed();
    let after_start = rss_mib(pid);
    let mut reads = Vec::new();
    for path in [
        format!("/v1/batches/{batch}"),
        format!("/v1/payments/{e2e}/trace"),
        format!("/v1/participants/{person}"),
        "/v1/awards".to_string(),
    ] {
        let t = Instant::now();
        let status = get(&agent, &format!("{url}{path}"), &token)?;
        reads.push((path, status, t.elapsed(), rss_mib(pid)));
    }
    let after_reads = rss_mib(pid);
    let period = shape.period(shape.months)?;
    let t = Instant::now();
    let r = agent
        .post(&format!("{url}/v1/cycles"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", "bench-scale-cycle")
        .send(&format!(
            r#"{{"award":"{award}","period":"{period}","dry_run":true}}"#
        ))?;
    let cycle_took = t.elapsed();
    anyhow::ensure!(
        r.status().is_success(),
        "the cycle over HTTP answered {}",
        r.status()
    );
    let after_cycle = rss_mib(pid);
    drop(server);
    for (path, status, took, rss) in &reads {
        println!(
            "    GET {path:<44} {status} {:>7.0} ms  {rss:>6.1} MiB resident after",
            took.as_secs_f64() * 1000.0
        );
    }
    println!(
        "  tranche serve: ready in {} (target < 2 s); resident {after_start:.1} MiB after start, \
         {after_reads:.1} MiB after reads, {after_cycle:.1} MiB after a cycle of one award \
         ({:.2} s) (target < 256 MiB)",
        secs(ready).trim(),
        cycle_took.as_secs_f64()
    );
    Ok(())
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let shape = Shape {
        participants: args.participants,
        awards: args.awards.max(1),
        cohorts: args.cohorts.max(1),
        months: args.months.clamp(1, 12),
    };
    anyhow::ensure!(
        shape.participants >= shape.awards,
        "--participants must be at least --awards"
    );
    one(args, &shape, false).await?;
    if !args.skip_postgres {
        one(args, &shape, true).await?;
    }
    Ok(ExitCode::SUCCESS)
}
