//! What people do with a programme, as ledger operations: open an award with its accounts,
//! register partners and keys, open cohorts, schedule sessions, register participants (the
//! personal data goes to the erasable store, the journal gets a pseudonym and a commitment),
//! submit signed evidence, add rule versions and run cycles. The CLI and the API both call these.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tranche_audit::account::{AccountName, AccountType};
use tranche_audit::programme::{
    accounts, attribute_commitment, AwardOpenBody, CohortOpenBody, CycleRunBody, Id,
    ParticipantRegisterBody, Period, SessionBody, SessionScheduleBody,
};
use tranche_audit::record::canonical_bytes;
use tranche_audit::vocabulary::{Vocabulary, NOT_STATED};
use tranche_audit::Code;
use tranche_audit::Invalid;

use crate::domain::cycle::{self, CycleReport};
use crate::domain::programme::{PersonalData, ProgrammeCommand};
use crate::domain::Command;
use crate::store::load::Need;
use crate::store::StoreError;
use crate::{keys, Appended, Ledger};

/// Entitlements per append while a cycle posts (each batch one checkpoint).
pub const CYCLE_BATCH: usize = 2_000;
/// The longest personal-data field, in bytes.
const MAX_PERSONAL_BYTES: usize = 200;

/// The accounts an award opens: bank, fund, payments in transit, and per budget line its
/// expense account and its memo obligation pair.
pub fn award_commands(body: AwardOpenBody) -> Result<Vec<Command>, Invalid> {
    body.check()?;
    let a = &body.award;
    let desc = |what: &str| Some(format!("{what} of award {a} ({})", body.donor));
    let mut out = vec![Command::Programme(ProgrammeCommand::AwardOpen(
        body.clone(),
    ))];
    let mut open = |name: String, t: AccountType, d: Option<String>| -> Result<(), Invalid> {
        out.push(Command::OpenAccount {
            name: AccountName::parse(&name)?,
            account_type: t,
            description: d,
        });
        Ok(())
    };
    open(accounts::bank(a), AccountType::Asset, desc("bank account"))?;
    open(
        accounts::fund(a),
        AccountType::Equity,
        desc("restricted fund"),
    )?;
    open(
        accounts::transit(a),
        AccountType::Liability,
        desc("payments in transit"),
    )?;
    for l in &body.budget_lines {
        open(
            accounts::expense(a, &l.line),
            AccountType::Expense,
            Some(l.name.clone()),
        )?;
        open(
            accounts::obligation(a, &l.line),
            AccountType::Memo,
            Some(format!("{}: obligations", l.name)),
        )?;
        open(
            accounts::obligation_contra(a, &l.line),
            AccountType::Memo,
            Some(format!("{}: obligations (contra)", l.name)),
        )?;
    }
    Ok(out)
}

/// A cohort and, optionally, its first sessions.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(from = "CohortFile")]
pub struct CohortInput {
    #[serde(flatten)]
    pub cohort: CohortOpenBody,
    #[serde(default)]
    pub sessions: Vec<SessionBody>,
}

/// A cohort file's members, spelt out rather than flattened, so that a refusal names the
/// member that is wrong (serde loses the path through `flatten`) and an unknown member is
/// refused with the list of known ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CohortFile {
    cohort: Id,
    award: Id,
    partner: Id,
    pathway: tranche_audit::programme::Pathway,
    name: String,
    #[serde(default)]
    course: Option<Id>,
    #[serde(default)]
    provider: Option<Id>,
    #[serde(default)]
    sessions: Vec<SessionBody>,
}

impl From<CohortFile> for CohortInput {
    fn from(f: CohortFile) -> Self {
        CohortInput {
            cohort: CohortOpenBody {
                cohort: f.cohort,
                award: f.award,
                partner: f.partner,
                pathway: f.pathway,
                name: f.name,
                course: f.course,
                provider: f.provider,
            },
            sessions: f.sessions,
        }
    }
}

/// A participant as a partner registers them. Only `award`, the pseudonym and the commitment
/// reach the journal; the rest stays in the erasable participant store.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ParticipantInput {
    pub award: String,
    /// Required unless the caller is a partner (then it is the caller's own).
    #[serde(default)]
    pub partner: Option<String>,
    pub name: String,
    pub document: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub bank_account: Option<String>,
    #[serde(default)]
    pub sex: Option<String>,
    #[serde(default)]
    pub nationality: Option<String>,
    #[serde(default)]
    pub province: Option<String>,
    #[serde(default)]
    pub pathway: Option<String>,
    #[serde(default)]
    pub age_band: Option<String>,
}

/// The vocabulary of each award, by award id.
pub type Vocabularies = HashMap<Id, Vocabulary>;

/// The disaggregation attributes, in the form the commitment covers.
pub const ATTRIBUTES: [&str; 5] = ["sex", "nationality", "province", "pathway", "age_band"];

/// Upper-case ASCII letters and digits only: "0912-345.678 " and "0912345678" are one number.
pub fn normalise_document(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn personal_field(value: &str, field: &str, required: bool) -> Result<(), Invalid> {
    if required && value.trim().is_empty() {
        return Err(Invalid::new(
            field,
            Code::MissingField,
            format!("{field} is required"),
        ));
    }
    if value.len() > MAX_PERSONAL_BYTES || value.chars().any(char::is_control) {
        return Err(Invalid::new(
            field,
            Code::InvalidText,
            format!("at most {MAX_PERSONAL_BYTES} bytes, no control characters"),
        ));
    }
    Ok(())
}

impl ParticipantInput {
    pub fn check(&self) -> Result<(Id, String), Invalid> {
        let award = Id::parse(&self.award).map_err(|e| e.within("award"))?;
        personal_field(&self.name, "name", true)?;
        personal_field(&self.document, "document", true)?;
        let doc = normalise_document(&self.document);
        if doc.len() < 4 {
            return Err(Invalid::new(
                "document",
                Code::InvalidDocument,
                "a document number has at least 4 letters or digits",
            ));
        }
        for (field, v) in [
            ("phone", &self.phone),
            ("bank_account", &self.bank_account),
            ("sex", &self.sex),
            ("nationality", &self.nationality),
            ("province", &self.province),
            ("pathway", &self.pathway),
            ("age_band", &self.age_band),
        ] {
            if let Some(v) = v {
                personal_field(v, field, false)?;
            }
        }
        if let Some(account) = &self.bank_account {
            crate::iso20022::check_account("bank_account", account)?;
        }
        Ok((award, doc))
    }

    /// This input with its attributes in the spelling `vocabulary` lists, or the refusal of
    /// the first attribute it does not list (`not_in_vocabulary`, naming the allowed values).
    pub fn within_vocabulary(&self, vocabulary: &Vocabulary) -> Result<ParticipantInput, Invalid> {
        let mut out = self.clone();
        for (field, value) in [
            ("sex", &mut out.sex),
            ("nationality", &mut out.nationality),
            ("province", &mut out.province),
            ("pathway", &mut out.pathway),
            ("age_band", &mut out.age_band),
        ] {
            if let Some(v) = value.as_deref() {
                let listed = vocabulary.check(field, v)?;
                *value = (listed != NOT_STATED).then_some(listed);
            }
        }
        Ok(out)
    }

    /// The attributes object; a missing or blank value is "not stated".
    pub fn attributes(&self) -> serde_json::Value {
        let v = |x: &Option<String>| {
            x.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or("not stated")
                .to_string()
        };
        serde_json::json!({
            "sex": v(&self.sex),
            "nationality": v(&self.nationality),
            "province": v(&self.province),
            "pathway": v(&self.pathway),
            "age_band": v(&self.age_band),
        })
    }
}

/// Where pseudonyms and salts come from: the OS by default, a seeded generator for the demo.
pub trait Randomness: Send {
    fn fill(&mut self, out: &mut [u8]);
}

/// The operating system's randomness.
#[derive(Debug, Default)]
pub struct OsRandom;

impl Randomness for OsRandom {
    fn fill(&mut self, out: &mut [u8]) {
        if getrandom::getrandom(out).is_err() {
            // No randomness at all is not a state to continue in.
            panic!("the operating system has no randomness to give");
        }
    }
}

/// A deterministic generator (SplitMix64), for reproducible demos and tests.
#[derive(Debug, Clone)]
pub struct SeededRandom(pub u64);

impl SeededRandom {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Randomness for SeededRandom {
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Randomness derived from the participant key and a context (HMAC in counter mode): the same
/// request registers the same pseudonyms, so an idempotent retry is exactly a replay, while no
/// one without the key can predict them.
#[derive(Debug, Clone)]
pub struct KeyedRandom {
    key: [u8; 32],
    context: Vec<u8>,
    counter: u64,
    buffer: Vec<u8>,
}

impl Randomness for KeyedRandom {
    fn fill(&mut self, out: &mut [u8]) {
        for b in out.iter_mut() {
            if self.buffer.is_empty() {
                let mut m = self.context.clone();
                m.extend(self.counter.to_be_bytes());
                self.counter += 1;
                self.buffer = keys::hmac_sha256(&self.key, &m).to_vec();
            }
            *b = self.buffer.pop().unwrap_or_default();
        }
    }
}

/// A new pseudonym: "p-" and 10 base32 characters (50 random bits).
pub fn new_pseudonym(rng: &mut dyn Randomness) -> Id {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut raw = [0u8; 10];
    rng.fill(&mut raw);
    let text: String = std::iter::once("p-".to_string())
        .chain(
            raw.iter()
                .map(|b| (ALPHABET[(*b & 31) as usize] as char).to_string()),
        )
        .collect();
    Id::parse(&text).unwrap_or_else(|_| unreachable!("the alphabet makes valid ids"))
}

impl Ledger {
    /// The vocabulary of every award (its own lists, or the defaults), from the projection:
    /// an award's lists never change once it is opened.
    pub async fn vocabularies(&self) -> Result<Vocabularies, StoreError> {
        let mut out = Vocabularies::new();
        for row in self.store().award_rows().await? {
            let body: AwardOpenBody = serde_json::from_str(&row.body).map_err(|e| {
                StoreError::Corrupt(format!("award {} in the projection: {e}", row.award))
            })?;
            out.insert(body.award.clone(), Vocabulary::of(&body));
        }
        Ok(out)
    }

    /// Randomness for `context` that a retry of the same request reproduces.
    pub fn keyed_random(&self, context: &[u8]) -> KeyedRandom {
        let mut c = b"tranche/participants/v1\n".to_vec();
        c.extend(context);
        KeyedRandom {
            key: *self.participant_key,
            context: c,
            counter: 0,
            buffer: Vec::new(),
        }
    }

    /// The commands that register `inputs` for `partner` (or each input's own partner).
    ///
    /// Attributes are checked against the vocabulary of the row's award in `vocabularies`
    /// ([`Ledger::vocabularies`]; an award not in it takes the defaults, and is refused as
    /// unknown when appended).
    pub fn participant_commands(
        &self,
        inputs: &[ParticipantInput],
        partner: Option<&Id>,
        vocabularies: &Vocabularies,
        rng: &mut dyn Randomness,
    ) -> Result<(Vec<Command>, Vec<Id>), Invalid> {
        let mut commands = Vec::with_capacity(inputs.len() * 2);
        let mut ids = Vec::with_capacity(inputs.len());
        let default = Vocabulary::default();
        for (i, input) in inputs.iter().enumerate() {
            let (award, doc) = input.check().map_err(|e| e.in_item(i))?;
            let input = &input
                .within_vocabulary(vocabularies.get(&award).unwrap_or(&default))
                .map_err(|e| e.in_item(i))?;
            let partner =
                resolve_partner(partner, input.partner.as_deref()).map_err(|e| e.in_item(i))?;
            let participant = new_pseudonym(rng);
            let mut salt = [0u8; 16];
            rng.fill(&mut salt);
            let attributes = input.attributes();
            let commitment = attribute_commitment(&salt, &attributes);
            let doc_hmac = hex::encode(keys::hmac_sha256(&self.participant_key, doc.as_bytes()));
            let personal = personal_json(input);
            commands.push(Command::Programme(ProgrammeCommand::ParticipantRegister {
                body: ParticipantRegisterBody {
                    participant: participant.clone(),
                    award: award.clone(),
                    partner,
                    commitment,
                },
                personal: Some(Box::new(PersonalData {
                    doc_hmac,
                    salt: hex::encode(salt),
                    personal,
                    attributes,
                })),
            }));
            commands.push(Command::OpenAccount {
                name: AccountName::parse(&accounts::participant_payable(&award, &participant))?,
                account_type: AccountType::Liability,
                description: None,
            });
            ids.push(participant);
        }
        Ok((commands, ids))
    }

    /// The commands that open a cohort (with its provider's payable account when new to the
    /// award) and schedule its first sessions.
    pub async fn cohort_commands(&self, input: CohortInput) -> Result<Vec<Command>, StoreError> {
        input.cohort.check().map_err(StoreError::Invalid)?;
        let mut out = vec![Command::Programme(ProgrammeCommand::CohortOpen(
            input.cohort.clone(),
        ))];
        if let Some(provider) = &input.cohort.provider {
            let known = self
                .store()
                .load_programme(Need {
                    awards: [input.cohort.award.clone()].into(),
                    ..Need::default()
                })
                .await?
                .awards
                .get(&input.cohort.award)
                .is_some_and(|a| a.vendors.contains(provider));
            if !known {
                let name = accounts::vendor_payable(&input.cohort.award, provider);
                out.push(Command::OpenAccount {
                    name: AccountName::parse(&name).map_err(StoreError::Invalid)?,
                    account_type: AccountType::Liability,
                    description: Some(format!("training provider {provider}")),
                });
            }
        }
        for chunk in input
            .sessions
            .chunks(tranche_audit::programme::MAX_SESSIONS_PER_RECORD)
        {
            out.push(Command::Programme(ProgrammeCommand::SessionSchedule(
                SessionScheduleBody {
                    cohort: input.cohort.cohort.clone(),
                    sessions: chunk.to_vec(),
                },
            )));
        }
        Ok(out)
    }

    /// Budget used per line of an award: expense balance plus unliquidated obligations.
    pub async fn budget_used(&self, award: &Id) -> Result<HashMap<Id, i64>, StoreError> {
        let mut used: HashMap<Id, i64> = HashMap::new();
        for prefix in ["expense", "obligation"] {
            for row in self.store().balances(&format!("{prefix}:{award}")).await? {
                if let Some(line) = crate::domain::programme::budget_line_of(award, &row.account) {
                    if row.account.starts_with(&format!("{prefix}:")) {
                        *used.entry(line).or_default() += row.debit_minor - row.credit_minor;
                    }
                }
            }
        }
        Ok(used)
    }

    /// The open receivable accounts of an award (overpayments a payee owes back) with what
    /// each payee still owes, minor units.
    pub async fn receivables(&self, award: &Id) -> Result<HashMap<String, i64>, StoreError> {
        let prefix = format!("receivable:{award}");
        let mut out: HashMap<String, i64> = self
            .store()
            .accounts_under(&prefix)
            .await?
            .into_iter()
            .map(|a| (a.name, 0))
            .collect();
        for row in self.store().balances(&prefix).await? {
            if let Some(owed) = out.get_mut(&row.account) {
                *owed += row.debit_minor - row.credit_minor;
            }
        }
        Ok(out)
    }

    /// Computes the cycle without posting anything.
    pub async fn preview_cycle(
        &self,
        award: &Id,
        period: Period,
    ) -> Result<cycle::Computed, StoreError> {
        self.preview_cycle_paged(award, period, CYCLE_PAGE).await
    }

    /// [`Self::preview_cycle`], loading `page` participants at a time (any page size gives the
    /// same result).
    pub async fn preview_cycle_paged(
        &self,
        award: &Id,
        period: Period,
        page_size: u32,
    ) -> Result<cycle::Computed, StoreError> {
        let page_size = page_size.max(1);
        let used = self.budget_used(award).await?;
        let receivables = self.receivables(award).await?;
        // A page of the award's participants at a time, with their enrolments, their
        // attendance in the period, their live entitlements and the payments holding them: what
        // the cycle reads, never the rest of the ledger, and never the whole award at once.
        let upto = self.store().tree_size().await?;
        let mut run = cycle::CycleRun::new(award, period, used, receivables);
        let mut after: Option<Id> = None;
        loop {
            let page = self
                .store()
                .award_participant_page(award, after.as_ref(), page_size, upto)
                .await?;
            let st = self
                .store()
                .load_programme_at(
                    upto,
                    Need {
                        awards: [award.clone()].into(),
                        participants: page.iter().cloned().collect(),
                        attendance_in: Some(period),
                        entitlements: true,
                        payments: true,
                        ..Need::default()
                    },
                )
                .await?;
            run.page(&st).map_err(StoreError::Invalid)?;
            if page.len() < page_size as usize {
                break;
            }
            after = page.last().cloned();
        }
        run.finish().map_err(StoreError::Invalid)
    }

    /// Runs the cycle of `award` for `period`: computes it, posts the entitlements in batches
    /// (reporting `(posted, total)` to `progress`), and closes it with a `cycle.run` record
    /// holding the report's digest. Safe to repeat and to resume after a crash: what is
    /// already posted is never posted again.
    pub async fn run_cycle(
        &self,
        award: &Id,
        period: Period,
        actor: &str,
        now: DateTime<Utc>,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<CycleReport, StoreError> {
        let _one_at_a_time = self.cycle_lock.lock().await;
        let mut attempts = 0;
        let (mut report, total, already_run, last) = 'run: loop {
            let computed_at = self.store().tree_size().await?;
            let computed = self.preview_cycle(award, period).await?;
            let already_run = self
                .store()
                .load_programme(Need {
                    awards: [award.clone()].into(),
                    ..Need::default()
                })
                .await?
                .awards
                .get(award)
                .is_some_and(|a| a.cycles.contains(&period));
            let mut report = computed.report;
            let total = computed.commands.len() as u64;
            let mut posted = 0u64;
            progress(0, total);
            let mut last: Option<Appended> = None;
            // Entitlements of the award from this size on are another run's.
            let mut since = computed_at;
            for chunk in computed.commands.chunks(CYCLE_BATCH) {
                // Refused when an entitlement of the award was written since this run was
                // computed, other than by this run: another node ran the same cycle.
                let guarded = self
                    .append_unless_entitled_since(chunk, actor, now, award, since)
                    .await;
                let appended = match guarded {
                    Ok(a) => a,
                    Err(StoreError::Invalid(refused))
                        if attempts < CYCLE_ATTEMPTS
                            && self.store().tree_size().await? > computed_at + posted =>
                    {
                        // Another process or API node wrote since this run was computed (the
                        // same cycle run on another node): compute again from the journal as it
                        // is now, which holds what was posted, and post only what is missing.
                        tracing::info!(%refused, "the programme moved under the cycle: computing it again");
                        attempts += 1;
                        continue 'run;
                    }
                    Err(e) => return Err(e),
                };
                if report.first_seq.is_none() {
                    report.first_seq = Some(appended.first_seq);
                }
                posted += appended.count;
                since = appended.first_seq + appended.count;
                progress(posted, total);
                last = Some(appended);
            }
            break (report, total, already_run, last);
        };
        if let Some(a) = &last {
            report.last_seq = Some(a.first_seq + a.count - 1);
            report.checkpoint_size = Some(a.checkpoint.size);
        }
        if total > 0 || !already_run {
            let value = serde_json::to_value(&report)
                .map_err(|e| StoreError::Corrupt(format!("cycle report: {e}")))?;
            let digest = Sha256::digest(
                canonical_bytes(&value).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            );
            let body = CycleRunBody {
                award: award.clone(),
                period,
                entitlements: report.entitlements,
                reversals: report.reversals,
                exceptions: report.exceptions.len() as u64,
                report_sha256: hex::encode(digest),
            };
            // The report is returned exactly as hashed, so anyone can recompute the digest.
            self.append(
                &[Command::Programme(ProgrammeCommand::CycleRun(body))],
                actor,
                now,
            )
            .await?;
        }
        Ok(report)
    }
}

impl Ledger {
    /// The commands that record a recovery of `amount` (text at the award's scale) of the paid
    /// entitlement at `seq`, for `reason`: the payee's receivable account (opened with the first
    /// recovery) is debited and the budget line the entitlement charged is credited. What she
    /// owes is then kept back from her next entitlements by the cycles. The ledger re-checks
    /// every rule on append (paid, live, at most what is still entitled).
    /// `date` is the recovery's accounting date; `None`: the day it is written, never before
    /// the entitlement it recovers.
    pub async fn recovery_commands(
        &self,
        seq: u64,
        amount: &str,
        reason: &str,
        date: Option<chrono::NaiveDate>,
    ) -> Result<Vec<Command>, StoreError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StoreError::Invalid(Invalid::new(
                "reason",
                Code::ReasonRequired,
                "a recovery must say why it is made",
            )));
        }
        crate::domain::check_memo(reason, "reason").map_err(StoreError::Invalid)?;
        let not_entitlement = || {
            StoreError::Invalid(Invalid::new(
                "seq",
                Code::NotAnEntitlement,
                format!("seq {seq} is not an entitlement"),
            ))
        };
        let stored = self
            .store()
            .records(seq, 1)
            .await?
            .into_iter()
            .find(|r| r.seq == seq)
            .ok_or_else(not_entitlement)?;
        let record = tranche_audit::record::Record::decode(&stored.bytes)
            .map_err(|e| StoreError::Corrupt(format!("seq {seq}: {e}")))?;
        let Command::Entitlement(original) =
            Command::from_record(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?
        else {
            return Err(not_entitlement());
        };
        if original.tx.reverses.is_some() || original.meta.adjusts.is_some() {
            return Err(not_entitlement());
        }
        let award = original.meta.award.clone();
        let currency = self
            .store()
            .load_programme(Need {
                awards: [award.clone()].into(),
                ..Need::default()
            })
            .await?
            .award(&award, "award")
            .map_err(StoreError::Invalid)?
            .currency;
        let money = tranche_audit::programme::canonical_amount(amount, currency, "amount")
            .map_err(StoreError::Invalid)?;
        if money.minor() <= 0 {
            return Err(StoreError::Invalid(Invalid::new(
                "amount",
                Code::NotPositive,
                "a recovery is a positive amount",
            )));
        }
        let payable = original
            .tx
            .postings
            .iter()
            .find(|p| {
                p.side == tranche_audit::posting::Side::Credit
                    && p.account.as_str().starts_with(&format!("payable:{award}:"))
            })
            .map(|p| p.account.to_string())
            .ok_or_else(|| {
                StoreError::Invalid(Invalid::new(
                    "seq",
                    Code::NotAPayable,
                    format!("entitlement seq {seq} is owed to no payee: only a payable entitlement is recovered"),
                ))
            })?;
        let expense = original
            .tx
            .postings
            .iter()
            .find(|p| {
                p.side == tranche_audit::posting::Side::Debit
                    && p.account.as_str().starts_with(&format!("expense:{award}:"))
            })
            .map(|p| p.account.clone())
            .ok_or_else(not_entitlement)?;
        let receivable = accounts::receivable_of_payable(&payable).expect("a payable account");
        let open = self.receivables(&award).await?.contains_key(&receivable);
        let mut out = Vec::new();
        if !open {
            out.push(Command::OpenAccount {
                name: AccountName::parse(&receivable).map_err(StoreError::Invalid)?,
                account_type: AccountType::Asset,
                description: Some("owed back by the payee after an overpayment".into()),
            });
        }
        let mut meta = original.meta.clone();
        meta.adjusts = Some(seq);
        let command = crate::domain::EntitlementCommand::new(
            meta,
            crate::domain::NewTransaction {
                memo: reason.to_string(),
                postings: vec![
                    tranche_audit::posting::Posting {
                        account: AccountName::parse(&receivable).map_err(StoreError::Invalid)?,
                        side: tranche_audit::posting::Side::Debit,
                        money,
                    },
                    tranche_audit::posting::Posting {
                        account: expense,
                        side: tranche_audit::posting::Side::Credit,
                        money,
                    },
                ],
                reverses: None,
                // The day it is decided, never before the entitlement it recovers (the
                // planner's default); a late correction when that one's quarter is closed.
                date,
                prior_period: None,
            },
        )
        .map_err(StoreError::Invalid)?;
        out.push(Command::Entitlement(command));
        Ok(out)
    }
}

/// Participants per append while a file is imported (two records each, one checkpoint per
/// chunk): a crash loses at most the chunk being written, and a rerun skips what was written.
pub const IMPORT_CHUNK: usize = 2_000;
/// Participants a cycle loads and computes at a time.
pub const CYCLE_PAGE: u32 = 5_000;

/// How many times a cycle is computed again when another process wrote under it.
const CYCLE_ATTEMPTS: u32 = 5;

/// What importing a file of participants did, row by row in file order.
#[derive(Debug, Clone, Default)]
pub struct ParticipantImport {
    /// Per input row: its pseudonym, and whether it was registered before this run (the same
    /// person, same data: an earlier run of the same file that stopped part way).
    pub rows: Vec<(Id, bool)>,
    pub registered: u64,
    pub already: u64,
    /// The seqs written, first and last, when any.
    pub seqs: Option<(u64, u64)>,
}

impl Ledger {
    /// Imports participants without a size ceiling: every row is checked first (its fields,
    /// its partner, a document number repeated in the file or already registered in the award
    /// for someone else), and every bad row is returned with its index and nothing is written.
    /// Then the rows are committed in chunks of [`IMPORT_CHUNK`], reporting `(done, total)` to
    /// `progress`. A row whose document is already registered in the award with exactly the
    /// same partner, personal data and attributes is the same registration from an earlier run
    /// that stopped part way: it is skipped and its pseudonym reported, so a rerun resumes.
    pub async fn import_participants(
        &self,
        inputs: &[ParticipantInput],
        partner: Option<&Id>,
        rng: &mut dyn Randomness,
        actor: &str,
        now: DateTime<Utc>,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<Result<ParticipantImport, Vec<(usize, Invalid)>>, StoreError> {
        struct Row {
            award: Id,
            partner: Id,
            hmac: String,
        }
        let mut errors: Vec<(usize, Invalid)> = Vec::new();
        let mut rows: Vec<Option<Row>> = Vec::with_capacity(inputs.len());
        let mut first_line: HashMap<(Id, String), usize> = HashMap::new();
        // Attributes in their listed spelling from here on, so a rerun compares like with like.
        let vocabularies = self.vocabularies().await?;
        let default = Vocabulary::default();
        let inputs: Vec<ParticipantInput> = inputs
            .iter()
            .map(|input| {
                let vocabulary = Id::parse(&input.award)
                    .ok()
                    .and_then(|a| vocabularies.get(&a))
                    .unwrap_or(&default);
                input
                    .within_vocabulary(vocabulary)
                    .unwrap_or_else(|_| input.clone())
            })
            .collect();
        let inputs = &inputs[..];
        for (i, input) in inputs.iter().enumerate() {
            let checked = input.check().and_then(|(award, doc)| {
                let vocabulary = vocabularies.get(&award).unwrap_or(&default);
                input.within_vocabulary(vocabulary)?;
                let p = resolve_partner(partner, input.partner.as_deref())?;
                Ok((award, doc, p))
            });
            match checked {
                Ok((award, doc, partner)) => {
                    let hmac =
                        hex::encode(keys::hmac_sha256(&self.participant_key, doc.as_bytes()));
                    if let Some(&j) = first_line.get(&(award.clone(), hmac.clone())) {
                        errors.push((
                            i,
                            Invalid::new(
                                "document",
                                Code::DuplicateDocument,
                                format!("the same document number as row {} of this file", j + 1),
                            ),
                        ));
                        rows.push(None);
                        continue;
                    }
                    first_line.insert((award.clone(), hmac.clone()), i);
                    rows.push(Some(Row {
                        award,
                        partner,
                        hmac,
                    }));
                }
                Err(e) => {
                    errors.push((i, e));
                    rows.push(None);
                }
            }
        }
        // Awards and partners must exist; a document already registered is either this very
        // registration (resume) or someone else's (refused).
        {
            let mut need = Need::default();
            for r in rows.iter().flatten() {
                need.awards.insert(r.award.clone());
                need.partners.insert(r.partner.clone());
            }
            let st = self.store().load_programme(need).await?;
            for (i, r) in rows.iter().enumerate() {
                let Some(r) = r else { continue };
                if !st.awards.contains_key(&r.award) {
                    errors.push((
                        i,
                        Invalid::new(
                            "award",
                            Code::UnknownAward,
                            format!("there is no award {}", r.award),
                        ),
                    ));
                } else if !st.partners.contains_key(&r.partner) {
                    errors.push((
                        i,
                        Invalid::new(
                            "partner",
                            Code::UnknownPartner,
                            format!("partner {} is not registered", r.partner),
                        ),
                    ));
                }
            }
        }
        let mut by_award: HashMap<Id, Vec<String>> = HashMap::new();
        for r in rows.iter().flatten() {
            by_award
                .entry(r.award.clone())
                .or_default()
                .push(r.hmac.clone());
        }
        let mut existing: HashMap<(Id, String), crate::store::PersonalRow> = HashMap::new();
        for (award, hashes) in &by_award {
            for chunk in hashes.chunks(IMPORT_CHUNK) {
                for (hash, row) in self.store().personal_by_docs(award.as_str(), chunk).await? {
                    existing.insert((award.clone(), hash), row);
                }
            }
        }
        let mut already: Vec<Option<Id>> = vec![None; inputs.len()];
        for (i, r) in rows.iter().enumerate() {
            let Some(r) = r else { continue };
            let Some(old) = existing.get(&(r.award.clone(), r.hmac.clone())) else {
                continue;
            };
            let input = &inputs[i];
            let same = old.partner == r.partner.as_str()
                && old.personal.as_ref() == Some(&personal_json(input))
                && old.attributes.as_ref() == Some(&input.attributes());
            if same {
                already[i] = Some(Id::parse(&old.participant).map_err(StoreError::Invalid)?);
            } else {
                errors.push((
                    i,
                    Invalid::new(
                        "document",
                        Code::DuplicateDocument,
                        format!(
                            "a participant with this document number is already registered in award {} ({})",
                            r.award, old.participant
                        ),
                    ),
                ));
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|(i, _)| *i);
            return Ok(Err(errors));
        }
        let todo: Vec<usize> = (0..inputs.len())
            .filter(|i| already[*i].is_none())
            .collect();
        let total = todo.len() as u64;
        let mut out = ParticipantImport {
            rows: Vec::with_capacity(inputs.len()),
            already: (inputs.len() - todo.len()) as u64,
            ..ParticipantImport::default()
        };
        let mut new_ids: HashMap<usize, Id> = HashMap::new();
        progress(0, total);
        for chunk in todo.chunks(IMPORT_CHUNK) {
            let chunk_inputs: Vec<ParticipantInput> =
                chunk.iter().map(|&i| inputs[i].clone()).collect();
            let (commands, ids) = self
                .participant_commands(&chunk_inputs, partner, &vocabularies, rng)
                .map_err(|e| {
                    StoreError::Invalid(match e.item {
                        Some(n) => e.in_item(chunk[n]),
                        None => e,
                    })
                })?;
            let done = self
                .append(&commands, actor, now)
                .await
                .map_err(|e| match e {
                    // Two commands per participant: point at the row.
                    StoreError::Invalid(i) => match i.item {
                        Some(n) => StoreError::Invalid(i.in_item(chunk[n / 2])),
                        None => StoreError::Invalid(i),
                    },
                    e => e,
                })?;
            let last = done.first_seq + done.count - 1;
            out.seqs = Some((out.seqs.map_or(done.first_seq, |(f, _)| f), last));
            for (&i, id) in chunk.iter().zip(ids) {
                new_ids.insert(i, id);
            }
            out.registered += chunk.len() as u64;
            progress(out.registered, total);
        }
        for (i, old) in already.into_iter().enumerate() {
            match old {
                Some(id) => out.rows.push((id, true)),
                None => out
                    .rows
                    .push((new_ids.remove(&i).expect("registered"), false)),
            }
        }
        Ok(Ok(out))
    }
}

/// The partner a row registers for: the caller's (a partner registering its own) or the row's.
fn resolve_partner(caller: Option<&Id>, row: Option<&str>) -> Result<Id, Invalid> {
    match (caller, row) {
        (Some(p), None) => Ok(p.clone()),
        (Some(p), Some(q)) if q == p.as_str() => Ok(p.clone()),
        (Some(p), Some(q)) => Err(Invalid::new(
            "partner",
            Code::PartnerScope,
            format!("partner {p} cannot register participants for partner {q}"),
        )),
        (None, Some(q)) => Id::parse(q).map_err(|e| e.within("partner")),
        (None, None) => Err(Invalid::new(
            "partner",
            Code::MissingField,
            "partner is required",
        )),
    }
}

/// The personal data of a row as the erasable store keeps it.
fn personal_json(input: &ParticipantInput) -> serde_json::Value {
    serde_json::json!({
        "name": input.name.trim(),
        "document": input.document.trim(),
        "phone": input.phone.as_deref().map(str::trim),
        "bank_account": input.bank_account.as_deref().map(str::trim),
    })
}

/// Evidence statements per append when importing a file, and items per append.
pub const EVIDENCE_CHUNK: usize = 500;
pub const EVIDENCE_CHUNK_ITEMS: usize = 20_000;

/// What importing signed evidence statements did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceImport {
    /// Statements journaled by this run, and their items.
    pub submitted: u64,
    pub items: u64,
    /// Statements already in the journal with the same signature: an earlier run of the same
    /// file that stopped part way, skipped.
    pub already: u64,
    /// The seqs written, first and last, when any.
    pub seqs: Option<(u64, u64)>,
}

impl Ledger {
    /// Imports signed evidence statements without a size ceiling. Every statement is checked
    /// first against the programme as it stands, the earlier statements of the file included
    /// (its schema, its partner key and signature, a batch id used twice, every item's
    /// participant, session and dates), and every bad statement is reported with nothing
    /// written. Then the statements are journaled in chunks ([`EVIDENCE_CHUNK`] statements or
    /// [`EVIDENCE_CHUNK_ITEMS`] items), reporting `(done, total)` to `progress`. A statement the
    /// journal already holds with the same signature is skipped, so a run that stopped part way
    /// (a crash, a refusal only the append knows) resumes where it stopped and posts nothing
    /// twice.
    pub async fn import_evidence(
        &self,
        bodies: &[tranche_audit::programme::EvidenceBody],
        actor: &str,
        now: DateTime<Utc>,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<Result<EvidenceImport, Vec<(usize, Invalid)>>, StoreError> {
        let mut errors: Vec<(usize, Invalid)> = Vec::new();
        let mut todo: Vec<usize> = Vec::new();
        let mut already = 0u64;
        {
            // What the file touches, as committed now; the appends check it again under the
            // writer lock.
            let mut need = Need::default();
            for body in bodies {
                need.programme(&ProgrammeCommand::Evidence(Box::new(body.clone())));
            }
            let size = self.store().tree_size().await?;
            let mut st = self.store().load_programme_at(size, need).await?;
            {
                let s = &mut st;
                for (i, body) in bodies.iter().enumerate() {
                    if let Err(e) = body.check() {
                        errors.push((i, e));
                        continue;
                    }
                    let journaled = s
                        .partners
                        .get(&body.statement.partner)
                        .and_then(|p| p.batches.get(&body.statement.batch_id))
                        .is_some_and(|d| {
                            *d == crate::domain::programme::signature_digest(&body.signature)
                        });
                    if journaled {
                        already += 1;
                        continue;
                    }
                    let command = ProgrammeCommand::Evidence(Box::new(body.clone()));
                    match crate::domain::programme::apply(
                        s,
                        size + todo.len() as u64,
                        actor,
                        &command,
                    ) {
                        Ok(()) => todo.push(i),
                        Err(e) => errors.push((i, e)),
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        let mut out = EvidenceImport {
            already,
            ..EvidenceImport::default()
        };
        let total = todo.len() as u64;
        progress(0, total);
        let mut rest = &todo[..];
        while !rest.is_empty() {
            let mut n = 0;
            let mut items = 0;
            while n < rest.len() && n < EVIDENCE_CHUNK {
                let k = bodies[rest[n]].statement.items.len();
                if n > 0 && items + k > EVIDENCE_CHUNK_ITEMS {
                    break;
                }
                items += k;
                n += 1;
            }
            let (chunk, tail) = rest.split_at(n);
            let commands: Vec<Command> = chunk
                .iter()
                .map(|&i| {
                    Command::Programme(ProgrammeCommand::Evidence(Box::new(bodies[i].clone())))
                })
                .collect();
            let done = self
                .append(&commands, actor, now)
                .await
                .map_err(|e| match e {
                    StoreError::Invalid(i) => match i.item {
                        Some(n) => StoreError::Invalid(i.in_item(chunk[n])),
                        None => StoreError::Invalid(i),
                    },
                    e => e,
                })?;
            let last = done.first_seq + done.count - 1;
            out.seqs = Some((out.seqs.map_or(done.first_seq, |(f, _)| f), last));
            out.submitted += chunk.len() as u64;
            out.items += items as u64;
            progress(out.submitted, total);
            rest = tail;
        }
        Ok(Ok(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_account(account: &str) -> ParticipantInput {
        ParticipantInput {
            award: "bprm-2026".into(),
            partner: None,
            name: "Ana".into(),
            document: "1700000001".into(),
            phone: None,
            bank_account: Some(account.into()),
            sex: None,
            nationality: None,
            province: None,
            pathway: None,
            age_band: None,
        }
    }

    #[test]
    fn a_participant_bank_account_written_like_an_iban_must_be_a_valid_one() {
        with_account("GB82 WEST 1234 5698 7654 32")
            .check()
            .expect("a valid IBAN");
        with_account("2100456789")
            .check()
            .expect("an Ecuadorian account number");
        with_account("").check().expect("no account");
        let e = with_account("GB82WEST12345698765431")
            .check()
            .expect_err("a bad checksum");
        assert_eq!(
            (e.field.as_str(), e.code),
            ("bank_account", Code::InvalidIban)
        );
    }
}
