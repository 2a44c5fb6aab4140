//! The programme commands of `tranche`: awards, cohorts, rules, participants, evidence and
//! cycles, run directly on the ledger (no server needed). Bad input is refused with the field and
//! the rule (exit code 3) and nothing is written.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use clap::Subcommand;
use tranche_audit::money::format_minor;
use tranche_audit::programme::{
    canonical_amount, AwardOpenBody, EvidenceBody, Id, PartnerKeyBody, PartnerRegisterBody, Period,
    RuleVersionBody,
};
use tranche_audit::Code;
use tranche_audit::Invalid;
use tranche_ledger::domain::programme::ProgrammeCommand;
use tranche_ledger::domain::Command;
use tranche_ledger::service::programme::{award_commands, CohortInput, OsRandom, ParticipantInput};
use tranche_ledger::{Ledger, StoreError};

use crate::cli::{actor, open, progress_bar, refused, Global};
use crate::partner::{read_csv, LineError};

/// The largest input file these commands read.
const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum AwardCmd {
    /// Open an award from a JSON file (award, donor, currency, total, start, end, budget_lines)
    /// and the accounts it needs.
    Open { file: PathBuf },
    /// List awards with their budget lines: authorised, used, remaining.
    List,
}

#[derive(Debug, Subcommand)]
pub enum CohortCmd {
    /// Open cohorts from a JSON file (one cohort) or JSON Lines (several): cohort, award,
    /// partner, pathway, name, course?, provider?, sessions?: [{session, date}].
    Open { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum RuleCmd {
    /// Add a rule version from a JSON file: award, rule, version, effective, params.
    Add { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum ParticipantsCmd {
    /// Register participants from CSV (header: award, partner, name, document, phone,
    /// bank_account, sex, nationality, province, pathway, age_band) or a JSON array. Prints the
    /// pseudonym given to each row. The whole file is refused if any row is bad.
    Register {
        file: PathBuf,
        /// The partner registering them (when the file has no partner column).
        #[arg(long)]
        partner: Option<String>,
    },
    /// Show a participant: pseudonym, evidence, entitlements and (unless erased) personal data.
    Show { participant: String },
    /// Delete a participant's personal data. The journal, its proofs and the reports stay valid;
    /// the person counts as "not stated" from then on.
    Erase { participant: String },
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCmd {
    /// Record signed statements (from `tranche partner sign`) directly in the ledger.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CycleCmd {
    /// Compute every entitlement of an award for a month and post them; write the report.
    ///
    /// Running it again posts nothing new; after late or corrected evidence it posts only the
    /// difference (new entitlements, or reversals of ones whose evidence changed).
    Run {
        #[arg(long)]
        award: String,
        /// The month, YYYY-MM.
        #[arg(long)]
        period: String,
        /// Directory for the report (JSON and CSV); default: the current directory.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Compute and report, post nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("Failed to read {}", path.display()))?
        .len();
    anyhow::ensure!(
        len <= MAX_INPUT_BYTES,
        "{} is larger than {MAX_INPUT_BYTES} bytes",
        path.display()
    );
    std::fs::read_to_string(path).with_context(|| format!("Failed to read {}", path.display()))
}

/// Parses one JSON document or JSON Lines, naming the line of a bad one.
fn parse_many<T: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<T>, String> {
    let trimmed = text.trim_start();
    if let Ok(one) = serde_json::from_str::<T>(trimmed) {
        return Ok(vec![one]);
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let de = &mut serde_json::Deserializer::from_str(line);
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(v) => out.push(v),
            Err(e) => return Err(format!("line {}: {}: {}", i + 1, e.path(), e.inner())),
        }
    }
    if out.is_empty() {
        return Err("the file holds no JSON document".into());
    }
    Ok(out)
}

fn bad_file(detail: &str) -> ExitCode {
    eprintln!("refused: {detail}");
    eprintln!("nothing was written");
    ExitCode::from(3)
}

async fn append(ledger: &Ledger, g: &Global, commands: &[Command]) -> anyhow::Result<ExitCode> {
    match ledger.append(commands, &actor(g), Utc::now()).await {
        Ok(done) => {
            println!(
                "recorded {} records at seq {}..{} (checkpoint {})",
                done.count,
                done.first_seq,
                done.first_seq + done.count - 1,
                done.checkpoint.size
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(&e).map(Ok).unwrap_or_else(|| Err(e.into())),
    }
}

fn invalid(i: Invalid) -> ExitCode {
    refused(&StoreError::Invalid(i)).unwrap_or(ExitCode::FAILURE)
}

pub async fn award(g: &Global, cmd: AwardCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AwardCmd::Open { file } => {
            let text = read_text(&file)?;
            let body: AwardOpenBody = match parse_many(&text) {
                Ok(mut v) if v.len() == 1 => v.remove(0),
                Ok(_) => return Ok(bad_file("one award per file")),
                Err(e) => return Ok(bad_file(&e)),
            };
            let commands = match award_commands(body) {
                Ok(c) => c,
                Err(i) => return Ok(invalid(i)),
            };
            let ledger = open(g).await?;
            append(&ledger, g, &commands).await
        }
        AwardCmd::List => {
            // From the projections: the cost is the awards shown, not the journal's history.
            let ledger = open(g).await?;
            for row in ledger.store().award_rows().await? {
                let body: AwardOpenBody = serde_json::from_str(&row.body).map_err(|e| {
                    StoreError::Corrupt(format!("award {} in the projection: {e}", row.award))
                })?;
                let currency = body.currency().map_err(StoreError::Invalid)?;
                let id = body.award.clone();
                let used = ledger.budget_used(&id).await?;
                let (rules, cycles, participants) =
                    ledger.store().award_detail(id.as_str()).await?;
                let mut periods: Vec<&str> = cycles.iter().map(|c| c.period.as_str()).collect();
                periods.dedup();
                let money = |m: i64| format_minor(m.into(), currency);
                println!(
                    "{id}  {}  {} {}  {} to {}  {participants} participants  cycles: {}",
                    body.donor,
                    body.total,
                    currency.code(),
                    body.start,
                    body.end,
                    periods.join(", ")
                );
                println!(
                    "  {:<24} {:>14} {:>14} {:>14} {:>7}",
                    "budget line", "authorised", "used", "remaining", "used %"
                );
                for l in &body.budget_lines {
                    let auth = canonical_amount(&l.authorised, currency, "authorised")
                        .map_err(StoreError::Invalid)?
                        .minor();
                    let u = used.get(&l.line).copied().unwrap_or(0);
                    let pct = if auth > 0 {
                        u as f64 * 100.0 / auth as f64
                    } else {
                        0.0
                    };
                    println!(
                        "  {:<24} {:>14} {:>14} {:>14} {:>6.1}%",
                        l.line.as_str(),
                        money(auth),
                        money(u),
                        money(auth - u),
                        pct
                    );
                }
                for v in &rules {
                    println!(
                        "  rule {} v{} ({}) effective {} (seq {})",
                        v.rule, v.version, v.shape, v.effective, v.seq
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn cohort(g: &Global, cmd: CohortCmd) -> anyhow::Result<ExitCode> {
    let CohortCmd::Open { file } = cmd;
    let text = read_text(&file)?;
    let inputs: Vec<CohortInput> = match parse_many(&text) {
        Ok(v) => v,
        Err(e) => return Ok(bad_file(&e)),
    };
    let ledger = open(g).await?;
    let mut commands = Vec::new();
    for input in inputs {
        match ledger.cohort_commands(input).await {
            Ok(c) => commands.extend(c),
            Err(e) => return refused(&e).map(Ok).unwrap_or_else(|| Err(e.into())),
        }
    }
    append(&ledger, g, &commands).await
}

pub async fn rule(g: &Global, cmd: RuleCmd) -> anyhow::Result<ExitCode> {
    let RuleCmd::Add { file } = cmd;
    let text = read_text(&file)?;
    let rules: Vec<RuleVersionBody> = match parse_many(&text) {
        Ok(v) => v,
        Err(e) => return Ok(bad_file(&e)),
    };
    let commands: Vec<Command> = rules
        .into_iter()
        .map(|r| Command::Programme(ProgrammeCommand::RuleVersion(r)))
        .collect();
    let ledger = open(g).await?;
    append(&ledger, g, &commands).await
}

/// Ledger-side partner registration (`tranche partner register`).
pub async fn partner_register(g: &Global, partner: &str, name: &str) -> anyhow::Result<ExitCode> {
    let partner = match Id::parse(partner) {
        Ok(p) => p,
        Err(i) => return Ok(invalid(i.within("partner"))),
    };
    let body = PartnerRegisterBody {
        partner,
        name: name.to_string(),
    };
    let ledger = open(g).await?;
    append(
        &ledger,
        g,
        &[Command::Programme(ProgrammeCommand::PartnerRegister(body))],
    )
    .await
}

/// Ledger-side key registration, rotation or revocation (`tranche partner key FILE`).
pub async fn partner_key(g: &Global, file: &Path) -> anyhow::Result<ExitCode> {
    let text = read_text(file)?;
    let keys: Vec<PartnerKeyBody> = match parse_many(&text) {
        Ok(v) => v,
        Err(e) => return Ok(bad_file(&e)),
    };
    let commands: Vec<Command> = keys
        .into_iter()
        .map(|k| Command::Programme(ProgrammeCommand::PartnerKey(k)))
        .collect();
    let ledger = open(g).await?;
    append(&ledger, g, &commands).await
}

const PARTICIPANT_COLUMNS: [&str; 11] = [
    "award",
    "partner",
    "name",
    "document",
    "phone",
    "bank_account",
    "sex",
    "nationality",
    "province",
    "pathway",
    "age_band",
];

/// Reads participants from CSV, reporting every bad line.
pub fn participants_csv(text: &str) -> Result<Vec<(usize, ParticipantInput)>, Vec<LineError>> {
    let rows = read_csv(text).map_err(|e| vec![e])?;
    let mut rows = rows
        .into_iter()
        .filter(|r| r.cells.iter().any(|c| !c.trim().is_empty()));
    let Some(header) = rows.next() else {
        return Err(vec![LineError {
            line: 1,
            column: None,
            code: Code::EmptyFile,
            detail: "the file has no header row".into(),
        }]);
    };
    let names: Vec<String> = header
        .cells
        .iter()
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let mut errors = Vec::new();
    for n in &names {
        if !PARTICIPANT_COLUMNS.contains(&n.as_str()) {
            errors.push(LineError {
                line: header.line,
                column: Some(n.clone()),
                code: Code::UnknownColumn,
                detail: format!("known columns: {}", PARTICIPANT_COLUMNS.join(", ")),
            });
        }
    }
    for required in ["award", "name", "document"] {
        if !names.iter().any(|n| n == required) {
            errors.push(LineError {
                line: header.line,
                column: Some(required.into()),
                code: Code::MissingColumn,
                detail: format!("the header needs a {required} column"),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut out = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for row in rows {
        if row.cells.len() != names.len() {
            errors.push(LineError {
                line: row.line,
                column: None,
                code: Code::WrongCellCount,
                detail: format!("{} cells, the header has {}", row.cells.len(), names.len()),
            });
            continue;
        }
        let mut m = serde_json::Map::new();
        for (n, c) in names.iter().zip(&row.cells) {
            let c = c.trim();
            if !c.is_empty() {
                m.insert(n.clone(), serde_json::Value::from(c));
            }
        }
        let input: ParticipantInput = match serde_json::from_value(serde_json::Value::Object(m)) {
            Ok(i) => i,
            Err(e) => {
                errors.push(LineError {
                    line: row.line,
                    column: None,
                    code: Code::MissingField,
                    detail: e.to_string(),
                });
                continue;
            }
        };
        match input.check() {
            Ok((award, doc)) => {
                if !seen.insert(format!("{award}\n{doc}")) {
                    errors.push(LineError {
                        line: row.line,
                        column: Some("document".into()),
                        code: Code::DuplicateDocument,
                        detail: "the same document number appears earlier in this file".into(),
                    });
                    continue;
                }
                out.push((row.line, input));
            }
            Err(i) => errors.push(LineError {
                line: row.line,
                column: (!i.field.is_empty()).then(|| i.field.clone()),
                code: i.code,
                detail: i.detail,
            }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

pub async fn participants(g: &Global, cmd: ParticipantsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ParticipantsCmd::Register { file, partner } => {
            let text = read_text(&file)?;
            let rows: Vec<(usize, ParticipantInput)> = if text.trim_start().starts_with('[') {
                match serde_json::from_str::<Vec<ParticipantInput>>(&text) {
                    Ok(v) => v.into_iter().enumerate().map(|(i, p)| (i + 1, p)).collect(),
                    Err(e) => return Ok(bad_file(&e.to_string())),
                }
            } else {
                match participants_csv(&text) {
                    Ok(v) => v,
                    Err(errors) => {
                        for e in &errors {
                            eprintln!("{e}");
                        }
                        eprintln!("refused: {} bad lines; nothing was written", errors.len());
                        return Ok(ExitCode::from(3));
                    }
                }
            };
            let partner = match partner.as_deref().map(Id::parse).transpose() {
                Ok(p) => p,
                Err(i) => return Ok(invalid(i.within("partner"))),
            };
            let ledger = open(g).await?;
            let inputs: Vec<ParticipantInput> = rows.iter().map(|(_, p)| p.clone()).collect();
            let bar = progress_bar(0, "registering participants");
            let result = ledger
                .import_participants(
                    &inputs,
                    partner.as_ref(),
                    &mut OsRandom,
                    &actor(g),
                    Utc::now(),
                    &mut |done, total| {
                        bar.set_length(total);
                        bar.set_position(done);
                    },
                )
                .await;
            bar.finish_and_clear();
            let line_of = |n: usize| rows.get(n).map(|(l, _)| *l);
            match result {
                Ok(Ok(done)) => {
                    println!("line,participant");
                    for ((line, _), (id, _)) in rows.iter().zip(&done.rows) {
                        println!("{line},{id}");
                    }
                    if done.already > 0 {
                        eprintln!(
                            "{} rows were already registered (an earlier run of this file): skipped",
                            done.already
                        );
                    }
                    match done.seqs {
                        Some((first, last)) => eprintln!(
                            "registered {} participants at seq {first}..{last}",
                            done.registered
                        ),
                        None => eprintln!("registered no new participant"),
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Ok(Err(errors)) => {
                    for (n, i) in &errors {
                        match line_of(*n) {
                            Some(l) => {
                                eprintln!("line {l}: {}: {} ({})", i.field, i.detail, i.code)
                            }
                            None => eprintln!("{i}"),
                        }
                    }
                    eprintln!("refused: {} bad lines; nothing was written", errors.len());
                    Ok(ExitCode::from(3))
                }
                Err(StoreError::Invalid(i)) => {
                    // The checks passed, so this is a rule only the append knows: the chunks
                    // before it are written, and a rerun resumes after them.
                    match i.item.and_then(line_of) {
                        Some(l) => eprintln!("line {l}: {}: {} ({})", i.field, i.detail, i.code),
                        None => eprintln!("refused: {i}"),
                    }
                    eprintln!("the lines before it that were written are kept: run again after fixing it to resume");
                    Ok(ExitCode::from(3))
                }
                Err(e) => Err(e.into()),
            }
        }
        ParticipantsCmd::Show { participant } => {
            let ledger = open(g).await?;
            let pid = match Id::parse(&participant) {
                Ok(p) => p,
                Err(i) => return Ok(invalid(i.within("participant"))),
            };
            // From the projections: the cost is this participant's rows, not the journal's.
            let Some((p, evidence, entitlements)) =
                ledger.store().participant_detail(pid.as_str()).await?
            else {
                eprintln!("participant {pid} is not registered");
                return Ok(ExitCode::from(3));
            };
            let currency = ledger
                .store()
                .award_rows()
                .await?
                .into_iter()
                .find(|a| a.award == p.award)
                .and_then(|a| tranche_audit::money::Currency::parse(&a.currency).ok());
            let money = |m: i64| currency.map_or(m.to_string(), |c| format_minor(m.into(), c));
            println!(
                "participant {}  award {}  partner {}  registered at seq {}",
                p.participant, p.award, p.partner, p.seq
            );
            // The attendance in force per session: the last mark or correction.
            let mut sessions: std::collections::BTreeMap<&str, &str> = Default::default();
            for e in &evidence {
                match e.kind.as_str() {
                    "enrolment" => println!(
                        "  enrolled   {} on {} (seq {})",
                        e.subject,
                        e.date.as_deref().unwrap_or(""),
                        e.seq
                    ),
                    "attendance" | "attendance-correction" => {
                        sessions.insert(&e.subject, &e.value);
                    }
                    "certification" => println!(
                        "  certified  {} {} on {} (seq {})",
                        e.subject,
                        e.value,
                        e.date.as_deref().unwrap_or(""),
                        e.seq
                    ),
                    _ => println!(
                        "  milestone  {} {} on {} (seq {})",
                        e.subject,
                        e.value,
                        e.date.as_deref().unwrap_or(""),
                        e.seq
                    ),
                }
            }
            let present = sessions.values().filter(|v| **v == "present").count();
            println!(
                "  attendance {} sessions recorded, {present} present",
                sessions.len()
            );
            let reversed: HashSet<u64> = entitlements.iter().filter_map(|e| e.reverses).collect();
            for e in &entitlements {
                let note = match (e.reverses, reversed.contains(&e.seq), e.adjusts) {
                    (Some(r), _, _) => format!("  reverses seq {r}"),
                    (None, true, _) => "  reversed".to_string(),
                    (None, false, Some(a)) => format!("  adjusts seq {a}"),
                    _ => String::new(),
                };
                println!(
                    "  entitled   {:<28} {:>12}  rule {} v{} (seq {}){note}",
                    e.basis,
                    money(e.amount_minor),
                    e.rule,
                    e.version,
                    e.seq
                );
            }
            match ledger.store().personal_data(pid.as_str()).await? {
                Some(row) if row.erased_at.is_some() => {
                    println!(
                        "  personal data erased at {}",
                        row.erased_at.unwrap_or_default()
                    );
                }
                Some(row) => {
                    println!(
                        "  personal   {}",
                        row.personal.map(|v| v.to_string()).unwrap_or_default()
                    );
                    println!(
                        "  attributes {}",
                        row.attributes.map(|v| v.to_string()).unwrap_or_default()
                    );
                }
                None => println!("  no personal data on file"),
            }
            Ok(ExitCode::SUCCESS)
        }
        ParticipantsCmd::Erase { participant } => {
            let ledger = open(g).await?;
            let pid = match Id::parse(&participant) {
                Ok(p) => p,
                Err(i) => return Ok(invalid(i.within("participant"))),
            };
            if ledger
                .store()
                .programme()
                .await?
                .participant(&pid)
                .is_none()
            {
                eprintln!("participant {pid} is not registered");
                return Ok(ExitCode::from(3));
            }
            let now = tranche_audit::record::format_time(Utc::now());
            if ledger.store().erase_personal(pid.as_str(), &now).await? {
                println!(
                    "erased the personal data of {pid}; the journal and its proofs are unchanged"
                );
            } else {
                println!("{pid} has no personal data left to erase");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn evidence(g: &Global, cmd: EvidenceCmd) -> anyhow::Result<ExitCode> {
    let EvidenceCmd::Import { files } = cmd;
    let mut bodies: Vec<EvidenceBody> = Vec::new();
    // Where each statement came from: (file, statement number in it, 1-based).
    let mut origin: Vec<(usize, usize)> = Vec::new();
    for (k, f) in files.iter().enumerate() {
        let text = read_text(f)?;
        let parsed: Vec<EvidenceBody> = match parse_many(&text) {
            Ok(v) => v,
            Err(e) => return Ok(bad_file(&format!("{}: {e}", f.display()))),
        };
        origin.extend((1..=parsed.len()).map(|n| (k, n)));
        bodies.extend(parsed);
    }
    let at = |i: usize| {
        origin.get(i).map_or_else(String::new, |&(k, n)| {
            format!("{} statement {n}: ", files[k].display())
        })
    };
    let ledger = open(g).await?;
    let bar = progress_bar(0, "journaling evidence");
    let result = ledger
        .import_evidence(&bodies, &actor(g), Utc::now(), &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await;
    bar.finish_and_clear();
    match result {
        Ok(Ok(done)) => {
            if done.already > 0 {
                eprintln!(
                    "{} statements were already in the journal (an earlier run of these files): skipped",
                    done.already
                );
            }
            match done.seqs {
                Some((first, last)) => println!(
                    "journaled {} statements ({} items) at seq {first}..{last}",
                    done.submitted, done.items
                ),
                None => println!("journaled no new statement"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(errors)) => {
            for (i, e) in &errors {
                eprintln!("{}{}: {} ({})", at(*i), e.field, e.detail, e.code);
            }
            eprintln!(
                "refused: {} of {} statements are bad; nothing was written",
                errors.len(),
                bodies.len()
            );
            Ok(ExitCode::from(3))
        }
        Err(StoreError::Invalid(i)) => {
            // The checks passed, so this is a rule only the append knows: the chunks before it
            // are written, and a rerun resumes after them.
            let place = i.item.map(at).unwrap_or_default();
            eprintln!("{place}{}: {} ({})", i.field, i.detail, i.code);
            eprintln!("the statements before it that were written are kept: run again after fixing it to resume");
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn cycle(g: &Global, cmd: CycleCmd) -> anyhow::Result<ExitCode> {
    let CycleCmd::Run {
        award,
        period,
        out,
        dry_run,
    } = cmd;
    let award = match Id::parse(&award) {
        Ok(a) => a,
        Err(i) => return Ok(invalid(i.within("award"))),
    };
    let period = match Period::parse(&period) {
        Ok(p) => p,
        Err(i) => return Ok(invalid(i)),
    };
    let ledger = open(g).await?;
    let report = if dry_run {
        match ledger.preview_cycle(&award, period).await {
            Ok(c) => c.report,
            Err(e) => return refused(&e).map(Ok).unwrap_or_else(|| Err(e.into())),
        }
    } else {
        let bar = progress_bar(0, "posting entitlements");
        let result = ledger
            .run_cycle(&award, period, &actor(g), Utc::now(), &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await;
        bar.finish_and_clear();
        match result {
            Ok(r) => r,
            Err(e) => return refused(&e).map(Ok).unwrap_or_else(|| Err(e.into())),
        }
    };
    std::fs::create_dir_all(&out).with_context(|| format!("Failed to create {}", out.display()))?;
    let stem = format!("cycle-{award}-{period}");
    let json = out.join(format!("{stem}.json"));
    let lines = out.join(format!("{stem}-lines.csv"));
    let exceptions = out.join(format!("{stem}-exceptions.csv"));
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
    std::fs::write(&lines, report.lines_csv())?;
    std::fs::write(&exceptions, report.exceptions_csv())?;
    println!(
        "cycle {award} {period}{}: {} participants, {} new entitlements, {} reversals, net payable {} {}",
        if dry_run { " (dry run, nothing posted)" } else { "" },
        report.participants,
        report.entitlements,
        report.reversals,
        report.net_payable,
        report.currency
    );
    println!(
        "  {:<10} {:<22} {:<10} {:>6} {:>14} {:>6} {:>14}",
        "rule", "budget line", "kind", "count", "amount", "rev.", "reversed"
    );
    for l in &report.lines {
        println!(
            "  {:<10} {:<22} {:<10} {:>6} {:>14} {:>6} {:>14}",
            l.rule, l.budget_line, l.kind, l.entitlements, l.amount, l.reversals, l.reversed_amount
        );
    }
    if report.exceptions.is_empty() {
        println!("  no exceptions");
    } else {
        println!("  exceptions:");
        for (reason, n) in &report.exception_counts {
            println!("    {reason:<24} {n}");
        }
    }
    println!(
        "report: {}, {}, {}",
        json.display(),
        lines.display(),
        exceptions.display()
    );
    Ok(ExitCode::SUCCESS)
}
