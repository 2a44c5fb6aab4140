//! `tranche participants`: registration (personal data to the erasable store, a pseudonym to
//! the journal), a participant's record, and erasure.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;
use tranche_audit::money::format_minor;
use tranche_audit::programme::Id;
use tranche_audit::Code;
use tranche_ledger::service::programme::{OsRandom, ParticipantInput};
use tranche_ledger::store::load::Need;
use tranche_ledger::StoreError;

use super::common::{
    actor, bad_file, invalid, json_refusal, open, progress_bar, read_text, Global,
};
use crate::partner::{read_csv, LineError};

#[derive(Debug, Subcommand)]
pub enum ParticipantsCmd {
    /// Register participants from CSV (header: award, partner, name, document, phone,
    /// bank_account, sex, nationality, province, pathway, age_band) or a JSON array. Prints the
    /// pseudonym given to each row. The whole file is refused if any row is bad.
    ///
    /// sex: female, male or other; nationality: an ISO 3166-1 alpha-2 code (VE, CO, EC);
    /// province, pathway and age_band: from the award's lists (`tranche award list` shows
    /// them). A blank cell is "not stated".
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
fn participants_csv(text: &str) -> Result<Vec<(usize, ParticipantInput)>, Vec<LineError>> {
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

pub async fn run(g: &Global, cmd: ParticipantsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ParticipantsCmd::Register { file, partner } => {
            let text = read_text(&file)?;
            let rows: Vec<(usize, ParticipantInput)> = if text.trim_start().starts_with('[') {
                let de = &mut serde_json::Deserializer::from_str(&text);
                match serde_path_to_error::deserialize::<_, Vec<ParticipantInput>>(de) {
                    Ok(v) => v.into_iter().enumerate().map(|(i, p)| (i + 1, p)).collect(),
                    Err(e) => {
                        let line = e.inner().line();
                        return Ok(bad_file(&format!("line {line}: {}", json_refusal(&e))));
                    }
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
                    // One field a line, as a person reads it; JSON is for `GET
                    // /v1/participants/{p}`.
                    println!("  personal data (erasable):");
                    let text = |v: Option<&serde_json::Value>| match v {
                        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
                        Some(serde_json::Value::Null) | None => "(none)".into(),
                        Some(other) => other.to_string(),
                    };
                    for (key, label) in [
                        ("name", "name"),
                        ("document", "document"),
                        ("phone", "phone"),
                        ("bank_account", "bank account"),
                    ] {
                        let v = row.personal.as_ref().and_then(|p| p.get(key));
                        println!("    {label:<13} {}", text(v));
                    }
                    println!("  attributes:");
                    for key in tranche_ledger::service::programme::ATTRIBUTES {
                        let v = row.attributes.as_ref().and_then(|a| a.get(key));
                        println!("    {:<13} {}", key.replace('_', " "), text(v));
                    }
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
                .load_programme(Need {
                    participants: [pid.clone()].into(),
                    ..Need::default()
                })
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
