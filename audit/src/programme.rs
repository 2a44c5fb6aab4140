//! The programme records: awards and their budget lines, partners and their signing keys,
//! cohorts and sessions, pseudonymous participants, partner-signed evidence, versioned rules,
//! entitlements and cycle runs. Like `record`, this module fixes a wire format that auditors
//! verify, so every body is strict: no unknown fields, no optional spellings, dates in exactly
//! one form and amounts at their currency's scale.
//!
//! Each body has a stateless `check` that names the offending field; rules that need the
//! journal's history (is this key registered, is this participant enrolled) live in the ledger
//! and, for what an auditor can re-check offline, in the verifier.

use std::fmt;

use chrono::{Datelike as _, NaiveDate};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::codes::Code;
use crate::invalid::Invalid;
use crate::money::{Currency, Money};
use crate::record::{canonical_bytes, PostingBody};

/// The domain string prefixed to every evidence statement before it is signed, so a partner's
/// signature can never be replayed as anything else.
pub const EVIDENCE_DOMAIN: &[u8] = b"tranche/evidence/v1\n";
/// The most evidence items one statement may hold (so a record stays under 64 KiB).
pub const MAX_STATEMENT_ITEMS: usize = 500;
/// The most budget lines an award may have.
pub const MAX_BUDGET_LINES: usize = 50;
/// The most sessions one `session.schedule` record may hold.
pub const MAX_SESSIONS_PER_RECORD: usize = 500;
/// The most evidence seqs one entitlement may cite.
pub const MAX_EVIDENCE_REFS: usize = 200;
/// The longest display name or description, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

// ---------------------------------------------------------------------------------------------
// Identifiers, dates and amounts.

/// An identifier: 1 to 64 bytes of ASCII letters, digits, '.', '_' and '-', starting with a
/// letter or digit. Award, partner, cohort, session, course, vendor, rule and participant ids
/// are all of this form, so each can also be an account name segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Id(String);

impl Id {
    /// Whether `text` is an id (what [`Id::parse`] accepts), without allocating.
    pub fn is_valid(text: &str) -> bool {
        !text.is_empty()
            && text.len() <= 64
            && text.as_bytes()[0].is_ascii_alphanumeric()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }

    pub fn parse(text: &str) -> Result<Id, Invalid> {
        if Id::is_valid(text) {
            Ok(Id(text.to_string()))
        } else {
            Err(Invalid::new(
                "",
                Code::InvalidId,
                format!(
                    "{text:?} is not a valid id: 1 to 64 letters, digits, '.', '_' or '-', \
                     starting with a letter or digit"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn check(&self, field: &str) -> Result<(), Invalid> {
        Id::parse(&self.0).map(|_| ()).map_err(|e| e.within(field))
    }
}

/// `Id` hashes and compares as its text, so a set of ids can be searched with a `&str`.
impl std::borrow::Borrow<str> for Id {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A calendar date written exactly `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

impl Date {
    pub fn parse(text: &str) -> Result<Date, Invalid> {
        let d = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .filter(|d| d.format("%Y-%m-%d").to_string() == text)
            .ok_or_else(|| {
                Invalid::new(
                    "",
                    Code::InvalidDate,
                    format!("{text:?} is not a date written YYYY-MM-DD"),
                )
            })?;
        Ok(Date(d))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text).map_err(|e| serde::de::Error::custom(e.detail))
    }
}

/// A calendar month written exactly `YYYY-MM`: the period of a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    pub first: NaiveDate,
}

impl Period {
    pub fn parse(text: &str) -> Result<Period, Invalid> {
        let bad = || {
            Invalid::new(
                "period",
                Code::InvalidPeriod,
                format!("{text:?} is not a month written YYYY-MM"),
            )
        };
        if text.len() != 7 {
            return Err(bad());
        }
        let first =
            NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").map_err(|_| bad())?;
        let p = Period { first };
        if p.to_string() != text {
            return Err(bad());
        }
        Ok(p)
    }

    /// The month containing `date`.
    pub fn of(date: NaiveDate) -> Period {
        Period {
            first: date.with_day0(0).unwrap_or(date),
        }
    }

    /// The last day of the month.
    pub fn last(&self) -> NaiveDate {
        self.next().first.pred_opt().unwrap_or(self.first)
    }

    pub fn next(&self) -> Period {
        Period {
            first: self
                .first
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(self.first),
        }
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        date >= self.first && date <= self.last()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first.format("%Y-%m"))
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Period::parse(&text).map_err(|e| serde::de::Error::custom(e.detail))
    }
}

/// Parses a positive amount written exactly at the currency's scale.
pub fn canonical_amount(text: &str, currency: Currency, field: &str) -> Result<Money, Invalid> {
    let money = Money::parse_positive(text, currency)
        .map_err(|e| crate::posting::money_invalid(field, &e))?;
    if money.to_string() != text {
        return Err(Invalid::new(
            field,
            Code::NonCanonicalAmount,
            format!(
                "{text:?} must be written with exactly {} decimals as {:?}",
                currency.minor_units(),
                money.to_string()
            ),
        ));
    }
    Ok(money)
}

pub(crate) fn check_name(text: &str, field: &str) -> Result<(), Invalid> {
    if text.trim().is_empty() || text.len() > MAX_NAME_BYTES {
        return Err(Invalid::new(
            field,
            Code::InvalidName,
            format!("must be 1 to {MAX_NAME_BYTES} bytes and not blank"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(Invalid::new(
            field,
            Code::ControlCharacters,
            "control characters are not allowed",
        ));
    }
    Ok(())
}

pub(crate) fn lowercase_hex(text: &str, bytes: usize) -> bool {
    text.len() == bytes * 2 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

// ---------------------------------------------------------------------------------------------
// Awards.

/// Body of `award.open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwardOpenBody {
    pub award: Id,
    pub donor: String,
    pub currency: String,
    pub total: String,
    pub start: Date,
    pub end: Date,
    pub budget_lines: Vec<BudgetLine>,
    /// The award's time zone as a fixed offset from UTC (`-05:00` for Ecuador), in which its
    /// record times are shown; absent: UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset: Option<String>,
    /// The provinces participants may be registered in; absent: any province name
    /// (`vocabulary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provinces: Option<Vec<String>>,
    /// The pathways participants may be registered on; absent: the three pathways of cohorts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pathways: Option<Vec<String>>,
    /// The age bands participants may be registered in; absent: the default bands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_bands: Option<Vec<String>>,
    /// Days after `end` during which records may still be dated (paying what was incurred);
    /// absent: 120 (`period::DEFAULT_LIQUIDATION_DAYS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liquidation_days: Option<u32>,
    /// How many days after the day it is written a record may be dated; absent: 7
    /// (`period::DEFAULT_FUTURE_DAYS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub future_days: Option<u32>,
}

/// Seconds east of UTC of an offset written `+HH:MM` or `-HH:MM` (at most 14 hours).
pub fn parse_utc_offset(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    if b.len() != 6 || b[3] != b':' || !matches!(b[0], b'+' | b'-') {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i32> {
        let t = text.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (h, m) = (digits(1..3)?, digits(4..6)?);
    if h > 14 || m > 59 || (h == 14 && m > 0) {
        return None;
    }
    let secs = h * 3600 + m * 60;
    Some(if b[0] == b'-' { -secs } else { secs })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetLine {
    pub line: Id,
    pub name: String,
    pub authorised: String,
    /// Participant support costs carry no indirect costs (SF-425 line 11 base).
    pub participant_support: bool,
}

impl AwardOpenBody {
    pub fn currency(&self) -> Result<Currency, Invalid> {
        Currency::parse(&self.currency)
            .map_err(|e| Invalid::new("currency", Code::UnknownCurrency, e.to_string()))
    }

    pub fn check(&self) -> Result<(), Invalid> {
        self.award.check("award")?;
        check_name(&self.donor, "donor")?;
        let currency = self.currency()?;
        let total = canonical_amount(&self.total, currency, "total")?;
        if let Some(o) = &self.utc_offset {
            if parse_utc_offset(o).is_none() {
                return Err(Invalid::new(
                    "utc_offset",
                    Code::InvalidUtcOffset,
                    format!("{o:?} is not an offset from UTC: +HH:MM or -HH:MM, at most 14 hours, e.g. -05:00"),
                ));
            }
        }
        for (field, days) in [
            ("liquidation_days", self.liquidation_days),
            ("future_days", self.future_days),
        ] {
            if days.is_some_and(|d| d > crate::period::MAX_DAYS) {
                return Err(Invalid::new(
                    field,
                    Code::InvalidField,
                    format!("at most {} days", crate::period::MAX_DAYS),
                ));
            }
        }
        for (field, list) in [
            ("provinces", &self.provinces),
            ("pathways", &self.pathways),
            ("age_bands", &self.age_bands),
        ] {
            if let Some(list) = list {
                crate::vocabulary::check_list(list, field)?;
            }
        }
        if self.end <= self.start {
            return Err(Invalid::new(
                "end",
                Code::EndBeforeStart,
                format!(
                    "the award ends {} on or before it starts {}",
                    self.end, self.start
                ),
            ));
        }
        if self.budget_lines.is_empty() || self.budget_lines.len() > MAX_BUDGET_LINES {
            return Err(Invalid::new(
                "budget_lines",
                Code::InvalidBudgetLines,
                format!("an award needs 1 to {MAX_BUDGET_LINES} budget lines"),
            ));
        }
        let mut sum: i64 = 0;
        for (i, l) in self.budget_lines.iter().enumerate() {
            let field = format!("budget_lines[{i}]");
            l.line.check(&format!("{field}.line"))?;
            check_name(&l.name, &format!("{field}.name"))?;
            let a = canonical_amount(&l.authorised, currency, &format!("{field}.authorised"))?;
            sum += a.minor();
            if self.budget_lines[..i].iter().any(|o| o.line == l.line) {
                return Err(Invalid::new(
                    format!("{field}.line"),
                    Code::DuplicateBudgetLine,
                    format!("budget line {} appears twice", l.line),
                ));
            }
        }
        if sum != total.minor() {
            return Err(Invalid::new(
                "budget_lines",
                Code::BudgetDoesNotAddUp,
                format!(
                    "the budget lines add up to {} {} but the award's total is {} {}",
                    Money::from_minor(sum, currency),
                    currency.code(),
                    self.total,
                    currency.code()
                ),
            ));
        }
        Ok(())
    }

    pub fn line(&self, line: &Id) -> Option<&BudgetLine> {
        self.budget_lines.iter().find(|l| &l.line == line)
    }
}

/// The accounts an award opens, by convention (`A` is the award id):
/// `bank:A` (asset), `fund:A` (equity, the restricted fund), `transit:A` (liability, payments
/// in transit), `expense:A:<line>` (expense), `obligation:A:<line>` and
/// `obligation-contra:A:<line>` (memo), and per payee `payable:A:participant:<P>` and
/// `payable:A:vendor:<V>` (liability), and `receivable:A:participant:<P>` and
/// `receivable:A:vendor:<V>` (asset: an overpayment the payee owes back).
pub mod accounts {
    use super::Id;

    pub fn bank(award: &Id) -> String {
        format!("bank:{award}")
    }
    pub fn fund(award: &Id) -> String {
        format!("fund:{award}")
    }
    pub fn transit(award: &Id) -> String {
        format!("transit:{award}")
    }
    pub fn expense(award: &Id, line: &Id) -> String {
        format!("expense:{award}:{line}")
    }
    pub fn obligation(award: &Id, line: &Id) -> String {
        format!("obligation:{award}:{line}")
    }
    pub fn obligation_contra(award: &Id, line: &Id) -> String {
        format!("obligation-contra:{award}:{line}")
    }
    pub fn participant_payable(award: &Id, participant: &Id) -> String {
        format!("payable:{award}:participant:{participant}")
    }
    pub fn vendor_payable(award: &Id, vendor: &Id) -> String {
        format!("payable:{award}:vendor:{vendor}")
    }
    /// What a payee owes back after an overpayment (asset), opened with the first recovery.
    pub fn participant_receivable(award: &Id, participant: &Id) -> String {
        format!("receivable:{award}:participant:{participant}")
    }
    pub fn vendor_receivable(award: &Id, vendor: &Id) -> String {
        format!("receivable:{award}:vendor:{vendor}")
    }
    /// The receivable account that goes with a payable account (same award and payee).
    pub fn receivable_of_payable(payable: &str) -> Option<String> {
        payable
            .strip_prefix("payable:")
            .map(|rest| format!("receivable:{rest}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Partners and their keys.

/// Body of `partner.register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerRegisterBody {
    pub partner: Id,
    pub name: String,
}

impl PartnerRegisterBody {
    pub fn check(&self) -> Result<(), Invalid> {
        self.partner.check("partner")?;
        check_name(&self.name, "name")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAction {
    /// A new key, valid from this record on.
    Register,
    /// A new key that replaces `replaces`, revoked by this same record.
    Rotate,
    /// The key is invalid from this record on.
    Revoke,
}

/// Body of `partner.key`. `key_id` is always [`partner_key_id`] of the public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerKeyBody {
    pub partner: Id,
    pub action: KeyAction,
    pub key_id: String,
    /// Base64 of the 32-byte Ed25519 public key (register and rotate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The key id this key replaces (rotate only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

/// The id of a partner key: the first 16 lowercase hex digits of SHA-256 of the raw key.
pub fn partner_key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Parses base64 of a 32-byte Ed25519 public key.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, Invalid> {
    use base64::Engine as _;
    let bad = |why: &str| Invalid::new("public_key", Code::InvalidPublicKey, why.to_string());
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| bad("must be standard base64"))?;
    let raw: [u8; 32] = raw
        .try_into()
        .map_err(|_| bad("must decode to 32 bytes (an Ed25519 public key)"))?;
    let key = VerifyingKey::from_bytes(&raw).map_err(|_| bad("is not a valid Ed25519 point"))?;
    if key.is_weak() {
        return Err(bad("is a weak (small-order) key"));
    }
    Ok(key)
}

pub fn public_key_text(key: &VerifyingKey) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

impl PartnerKeyBody {
    /// Stateless checks; returns the public key for register and rotate.
    pub fn check(&self) -> Result<Option<VerifyingKey>, Invalid> {
        self.partner.check("partner")?;
        if !lowercase_hex(&self.key_id, 8) {
            return Err(Invalid::new(
                "key_id",
                Code::InvalidKeyId,
                "must be 16 lowercase hex digits",
            ));
        }
        match self.action {
            KeyAction::Register | KeyAction::Rotate => {
                let text = self.public_key.as_deref().ok_or_else(|| {
                    Invalid::new(
                        "public_key",
                        Code::MissingField,
                        "register and rotate need a public key",
                    )
                })?;
                let key = parse_public_key(text)?;
                if partner_key_id(&key) != self.key_id {
                    return Err(Invalid::new(
                        "key_id",
                        Code::KeyIdMismatch,
                        format!("the key id of this public key is {}", partner_key_id(&key)),
                    ));
                }
                match (self.action, &self.replaces) {
                    (KeyAction::Rotate, None) => Err(Invalid::new(
                        "replaces",
                        Code::MissingField,
                        "a rotation names the key it replaces",
                    )),
                    (KeyAction::Register, Some(_)) => Err(Invalid::new(
                        "replaces",
                        Code::UnexpectedField,
                        "only a rotation replaces a key",
                    )),
                    (_, Some(r)) if !lowercase_hex(r, 8) || *r == self.key_id => Err(Invalid::new(
                        "replaces",
                        Code::InvalidKeyId,
                        "must be the 16-hex-digit id of another key",
                    )),
                    _ => Ok(Some(key)),
                }
            }
            KeyAction::Revoke => {
                if self.public_key.is_some() || self.replaces.is_some() {
                    return Err(Invalid::new(
                        if self.public_key.is_some() {
                            "public_key"
                        } else {
                            "replaces"
                        },
                        Code::UnexpectedField,
                        "a revocation names only the key id",
                    ));
                }
                Ok(None)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cohorts and sessions.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pathway {
    Employability,
    Entrepreneurship,
    VocationalScholarship,
}

impl Pathway {
    pub fn as_str(&self) -> &'static str {
        match self {
            Pathway::Employability => "employability",
            Pathway::Entrepreneurship => "entrepreneurship",
            Pathway::VocationalScholarship => "vocational-scholarship",
        }
    }
}

/// Body of `cohort.open`: a group of participants following one pathway with one partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortOpenBody {
    pub cohort: Id,
    pub award: Id,
    pub partner: Id,
    pub pathway: Pathway,
    pub name: String,
    /// The course the cohort follows; certifications name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course: Option<Id>,
    /// The training provider paid tuition for scholarship cohorts (a vendor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Id>,
}

impl CohortOpenBody {
    pub fn check(&self) -> Result<(), Invalid> {
        self.cohort.check("cohort")?;
        self.award.check("award")?;
        self.partner.check("partner")?;
        check_name(&self.name, "name")?;
        if let Some(c) = &self.course {
            c.check("course")?;
        }
        if let Some(p) = &self.provider {
            p.check("provider")?;
        }
        if self.pathway == Pathway::VocationalScholarship
            && (self.course.is_none() || self.provider.is_none())
        {
            return Err(Invalid::new(
                if self.course.is_none() {
                    "course"
                } else {
                    "provider"
                },
                Code::MissingField,
                "a vocational scholarship cohort names its course and its training provider",
            ));
        }
        if self.pathway != Pathway::VocationalScholarship && self.provider.is_some() {
            return Err(Invalid::new(
                "provider",
                Code::UnexpectedField,
                "only vocational scholarship cohorts have a training provider",
            ));
        }
        Ok(())
    }
}

/// Body of `session.schedule`: sessions added to one cohort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionScheduleBody {
    pub cohort: Id,
    pub sessions: Vec<SessionBody>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    pub session: Id,
    pub date: Date,
}

impl SessionScheduleBody {
    pub fn check(&self) -> Result<(), Invalid> {
        self.cohort.check("cohort")?;
        if self.sessions.is_empty() || self.sessions.len() > MAX_SESSIONS_PER_RECORD {
            return Err(Invalid::new(
                "sessions",
                Code::InvalidSessions,
                format!("1 to {MAX_SESSIONS_PER_RECORD} sessions per record"),
            ));
        }
        for (i, s) in self.sessions.iter().enumerate() {
            s.session.check(&format!("sessions[{i}].session"))?;
            if self.sessions[..i].iter().any(|o| o.session == s.session) {
                return Err(Invalid::new(
                    format!("sessions[{i}].session"),
                    Code::DuplicateSession,
                    format!("session {} appears twice", s.session),
                ));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Participants.

/// Body of `participant.register`: all the journal ever holds about a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantRegisterBody {
    pub participant: Id,
    pub award: Id,
    pub partner: Id,
    /// Lowercase hex SHA-256 of a random salt followed by the canonical JSON of the person's
    /// attributes ([`attribute_commitment`]); the salt lives only in the erasable store.
    pub commitment: String,
}

impl ParticipantRegisterBody {
    pub fn check(&self) -> Result<(), Invalid> {
        self.participant.check("participant")?;
        self.award.check("award")?;
        self.partner.check("partner")?;
        if !lowercase_hex(&self.commitment, 32) {
            return Err(Invalid::new(
                "commitment",
                Code::InvalidCommitment,
                "must be 64 lowercase hex digits (a SHA-256)",
            ));
        }
        Ok(())
    }
}

/// The commitment to a participant's attributes: SHA-256(salt ‖ RFC 8785 JSON of attributes).
pub fn attribute_commitment(salt: &[u8], attributes: &Value) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(canonical_bytes(attributes).unwrap_or_default());
    hex::encode(h.finalize())
}

// ---------------------------------------------------------------------------------------------
// Evidence.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Present,
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
}

/// The seed-capital milestones, in the only order they can pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Milestone {
    PlanApproved,
    #[serde(rename = "tranche-1")]
    Tranche1,
    #[serde(rename = "tranche-2")]
    Tranche2,
}

impl Milestone {
    pub fn as_str(&self) -> &'static str {
        match self {
            Milestone::PlanApproved => "plan-approved",
            Milestone::Tranche1 => "tranche-1",
            Milestone::Tranche2 => "tranche-2",
        }
    }

    /// The milestone that must have passed before this one.
    pub fn previous(&self) -> Option<Milestone> {
        match self {
            Milestone::PlanApproved => None,
            Milestone::Tranche1 => Some(Milestone::PlanApproved),
            Milestone::Tranche2 => Some(Milestone::Tranche1),
        }
    }
}

/// One piece of evidence. Every field is required, so the signed bytes and the stored bytes are
/// the same canonical JSON whoever serialises them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EvidenceItem {
    /// The participant joined the cohort on `date`.
    Enrolment {
        participant: Id,
        cohort: Id,
        date: Date,
    },
    /// Presence at one session; at most one per participant and session.
    Attendance {
        participant: Id,
        session: Id,
        status: Presence,
    },
    /// Replaces the attendance recorded earlier for this participant and session.
    AttendanceCorrection {
        participant: Id,
        session: Id,
        status: Presence,
    },
    Certification {
        participant: Id,
        course: Id,
        result: Outcome,
        date: Date,
    },
    /// A monitoring visit's verification of a seed-capital milestone.
    Milestone {
        participant: Id,
        milestone: Milestone,
        result: Outcome,
        date: Date,
    },
}

impl EvidenceItem {
    pub fn participant(&self) -> &Id {
        match self {
            EvidenceItem::Enrolment { participant, .. }
            | EvidenceItem::Attendance { participant, .. }
            | EvidenceItem::AttendanceCorrection { participant, .. }
            | EvidenceItem::Certification { participant, .. }
            | EvidenceItem::Milestone { participant, .. } => participant,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            EvidenceItem::Enrolment { .. } => "enrolment",
            EvidenceItem::Attendance { .. } => "attendance",
            EvidenceItem::AttendanceCorrection { .. } => "attendance-correction",
            EvidenceItem::Certification { .. } => "certification",
            EvidenceItem::Milestone { .. } => "milestone",
        }
    }

    fn check(&self) -> Result<(), Invalid> {
        self.participant().check("participant")?;
        match self {
            EvidenceItem::Enrolment { cohort, .. } => cohort.check("cohort"),
            EvidenceItem::Attendance { session, .. }
            | EvidenceItem::AttendanceCorrection { session, .. } => session.check("session"),
            EvidenceItem::Certification { course, .. } => course.check("course"),
            EvidenceItem::Milestone { .. } => Ok(()),
        }
    }
}

/// What a partner signs: a batch of evidence items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub partner: Id,
    /// The partner's own name for this batch; a partner can submit each batch id once.
    pub batch_id: Id,
    pub items: Vec<EvidenceItem>,
    /// RFC 3339 UTC, as the partner's tool wrote it (`2026-03-08T12:00:00Z`).
    pub submitted_at: String,
}

impl Statement {
    pub fn check(&self) -> Result<(), Invalid> {
        self.partner.check("partner")?;
        self.batch_id.check("batch_id")?;
        if self.items.is_empty() || self.items.len() > MAX_STATEMENT_ITEMS {
            return Err(Invalid::new(
                "items",
                Code::InvalidItems,
                format!("a statement holds 1 to {MAX_STATEMENT_ITEMS} items"),
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            item.check().map_err(|e| e.within(&format!("items[{i}]")))?;
        }
        if !is_submitted_at(&self.submitted_at) {
            return Err(Invalid::new(
                "submitted_at",
                Code::InvalidTime,
                "must be an RFC 3339 UTC time ending in Z",
            ));
        }
        Ok(())
    }

    /// The exact bytes a partner signs: the domain string, then the canonical JSON.
    pub fn signed_message(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).expect("a statement is plain data");
        let mut m = EVIDENCE_DOMAIN.to_vec();
        m.extend(canonical_bytes(&value).expect("a statement has no numbers to refuse"));
        m
    }

    pub fn sign(self, key: &SigningKey) -> EvidenceBody {
        use base64::Engine as _;
        let signature = key.sign_message(&self.signed_message());
        EvidenceBody {
            key_id: partner_key_id(&key.verifying_key()),
            signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
            statement: self,
        }
    }
}

/// Whether `text` is a statement's `submitted_at`: an RFC 3339 UTC time ending in `Z`.
pub(crate) fn is_submitted_at(text: &str) -> bool {
    text.ends_with('Z') && text.len() <= 40 && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

/// The 64 bytes of an Ed25519 signature written in standard base64, if `text` is one.
pub(crate) fn signature_from_base64(text: &str) -> Option<[u8; 64]> {
    use base64::Engine as _;
    // Room for the decoder's estimate of 88 characters (66 bytes): the length is checked after.
    let mut raw = [0u8; 72];
    let n = base64::engine::general_purpose::STANDARD
        .decode_slice(text, &mut raw)
        .ok()?;
    raw[..n].try_into().ok()
}

/// The failure of an evidence signature that does not verify with key `key_id`.
pub(crate) fn bad_signature(key_id: &str) -> Invalid {
    Invalid::new(
        "signature",
        Code::BadSignature,
        format!(
            "the signature does not verify with key {key_id} over the statement's canonical \
             bytes with the tranche/evidence/v1 domain prefix"
        ),
    )
}

trait SignMessage {
    fn sign_message(&self, m: &[u8]) -> Signature;
}

impl SignMessage for SigningKey {
    fn sign_message(&self, m: &[u8]) -> Signature {
        use ed25519_dalek::Signer as _;
        self.sign(m)
    }
}

/// Body of `evidence`, and what a partner submits: the statement, the id of the key that
/// signed it and the base64 Ed25519 signature over [`Statement::signed_message`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBody {
    pub statement: Statement,
    pub key_id: String,
    pub signature: String,
}

impl EvidenceBody {
    pub fn check(&self) -> Result<(), Invalid> {
        self.statement.check().map_err(|e| e.within("statement"))?;
        if !lowercase_hex(&self.key_id, 8) {
            return Err(Invalid::new(
                "key_id",
                Code::InvalidKeyId,
                "must be 16 lowercase hex digits",
            ));
        }
        self.signature_bytes()?;
        Ok(())
    }

    fn signature_bytes(&self) -> Result<Signature, Invalid> {
        let raw = signature_from_base64(&self.signature).ok_or_else(|| {
            Invalid::new(
                "signature",
                Code::InvalidSignature,
                "must be standard base64 of a 64-byte Ed25519 signature",
            )
        })?;
        Ok(Signature::from_bytes(&raw))
    }

    /// Checks the signature with `key` (which the caller found valid for this partner).
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), Invalid> {
        let sig = self.signature_bytes()?;
        key.verify_strict(&self.statement.signed_message(), &sig)
            .map_err(|_| bad_signature(&self.key_id))
    }
}

// ---------------------------------------------------------------------------------------------
// Rules.

/// The parameters of a rule version; the shape never changes between versions of one rule.
/// Read by hand ([`RuleParamsVisitor`]) rather than as serde's internally tagged enum, which
/// buffers the members and so loses which one a refusal is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "shape", rename_all = "kebab-case")]
pub enum RuleParams {
    /// Monthly cash for training: `amount` at `full_from_percent` attendance or more, pro rata
    /// (rounded down to the minor unit) from `partial_from_percent`, nothing below; at most
    /// `cap` per participant over the award.
    C4tMonthly {
        line: Id,
        amount: String,
        full_from_percent: u32,
        partial_from_percent: u32,
        cap: String,
    },
    /// Tuition to the cohort's provider on enrolment; an incentive to the participant on a
    /// passed certification.
    Scholarship {
        tuition_line: Id,
        tuition: String,
        incentive_line: Id,
        incentive: String,
    },
    /// An obligation on plan approval, paid in two tranches on their milestones.
    SeedCapital {
        line: Id,
        obligation: String,
        tranche_1: String,
        tranche_2: String,
    },
}

/// The shapes of rule parameters, as `shape` spells them.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Shape {
    C4tMonthly,
    Scholarship,
    SeedCapital,
}

/// Every member any shape has, `shape` first.
const PARAM_MEMBERS: &[&str] = &[
    "shape",
    "line",
    "amount",
    "full_from_percent",
    "partial_from_percent",
    "cap",
    "tuition_line",
    "tuition",
    "incentive_line",
    "incentive",
    "obligation",
    "tranche_1",
    "tranche_2",
];

impl<'de> Deserialize<'de> for RuleParams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RuleParamsVisitor)
    }
}

/// Reads rule parameters member by member, each with its own type, so that a refusal names
/// the member (`params.amount`) whatever order the members come in.
struct RuleParamsVisitor;

impl<'de> serde::de::Visitor<'de> for RuleParamsVisitor {
    type Value = RuleParams;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rule parameters: an object with a shape and its members")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RuleParams, A::Error> {
        use serde::de::Error as _;
        let mut shape: Option<Shape> = None;
        let mut ids: Vec<(&'static str, Id)> = Vec::new();
        let mut texts: Vec<(&'static str, String)> = Vec::new();
        let mut percents: Vec<(&'static str, u32)> = Vec::new();
        let mut seen: Vec<&'static str> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let Some(&name) = PARAM_MEMBERS.iter().find(|m| **m == key) else {
                return Err(A::Error::unknown_field(&key, PARAM_MEMBERS));
            };
            if seen.contains(&name) {
                return Err(A::Error::duplicate_field(name));
            }
            seen.push(name);
            match name {
                "shape" => shape = Some(map.next_value()?),
                "line" | "tuition_line" | "incentive_line" => ids.push((name, map.next_value()?)),
                "full_from_percent" | "partial_from_percent" => {
                    percents.push((name, map.next_value()?))
                }
                _ => texts.push((name, map.next_value()?)),
            }
        }
        let shape = shape.ok_or_else(|| A::Error::missing_field("shape"))?;
        let members: &'static [&'static str] = match shape {
            Shape::C4tMonthly => &[
                "line",
                "amount",
                "full_from_percent",
                "partial_from_percent",
                "cap",
            ],
            Shape::Scholarship => &["tuition_line", "tuition", "incentive_line", "incentive"],
            Shape::SeedCapital => &["line", "obligation", "tranche_1", "tranche_2"],
        };
        // A member of another shape.
        if let Some(other) = seen.iter().find(|m| **m != "shape" && !members.contains(m)) {
            return Err(A::Error::unknown_field(other, members));
        }
        fn take<T, E: serde::de::Error>(
            list: &mut Vec<(&str, T)>,
            name: &'static str,
        ) -> Result<T, E> {
            let i = list
                .iter()
                .position(|(n, _)| *n == name)
                .ok_or_else(|| E::missing_field(name))?;
            Ok(list.swap_remove(i).1)
        }
        Ok(match shape {
            Shape::C4tMonthly => RuleParams::C4tMonthly {
                line: take(&mut ids, "line")?,
                amount: take(&mut texts, "amount")?,
                full_from_percent: take(&mut percents, "full_from_percent")?,
                partial_from_percent: take(&mut percents, "partial_from_percent")?,
                cap: take(&mut texts, "cap")?,
            },
            Shape::Scholarship => RuleParams::Scholarship {
                tuition_line: take(&mut ids, "tuition_line")?,
                tuition: take(&mut texts, "tuition")?,
                incentive_line: take(&mut ids, "incentive_line")?,
                incentive: take(&mut texts, "incentive")?,
            },
            Shape::SeedCapital => RuleParams::SeedCapital {
                line: take(&mut ids, "line")?,
                obligation: take(&mut texts, "obligation")?,
                tranche_1: take(&mut texts, "tranche_1")?,
                tranche_2: take(&mut texts, "tranche_2")?,
            },
        })
    }
}

impl RuleParams {
    pub fn shape(&self) -> &'static str {
        match self {
            RuleParams::C4tMonthly { .. } => "c4t-monthly",
            RuleParams::Scholarship { .. } => "scholarship",
            RuleParams::SeedCapital { .. } => "seed-capital",
        }
    }

    /// The budget lines the rule charges.
    pub fn lines(&self) -> Vec<&Id> {
        match self {
            RuleParams::C4tMonthly { line, .. } | RuleParams::SeedCapital { line, .. } => {
                vec![line]
            }
            RuleParams::Scholarship {
                tuition_line,
                incentive_line,
                ..
            } => vec![tuition_line, incentive_line],
        }
    }

    pub fn check(&self, currency: Currency) -> Result<(), Invalid> {
        let p = |f: &str| format!("params.{f}");
        match self {
            RuleParams::C4tMonthly {
                line,
                amount,
                full_from_percent,
                partial_from_percent,
                cap,
            } => {
                line.check(&p("line"))?;
                let a = canonical_amount(amount, currency, &p("amount"))?;
                let c = canonical_amount(cap, currency, &p("cap"))?;
                if *full_from_percent == 0 || *full_from_percent > 100 {
                    return Err(Invalid::new(
                        p("full_from_percent"),
                        Code::InvalidPercent,
                        "must be 1 to 100",
                    ));
                }
                if *partial_from_percent == 0 || partial_from_percent > full_from_percent {
                    return Err(Invalid::new(
                        p("partial_from_percent"),
                        Code::InvalidPercent,
                        "must be 1 to full_from_percent",
                    ));
                }
                if c.minor() < a.minor() {
                    return Err(Invalid::new(
                        p("cap"),
                        Code::CapBelowAmount,
                        "the cap must be at least one month's amount",
                    ));
                }
            }
            RuleParams::Scholarship {
                tuition_line,
                tuition,
                incentive_line,
                incentive,
            } => {
                tuition_line.check(&p("tuition_line"))?;
                incentive_line.check(&p("incentive_line"))?;
                canonical_amount(tuition, currency, &p("tuition"))?;
                canonical_amount(incentive, currency, &p("incentive"))?;
            }
            RuleParams::SeedCapital {
                line,
                obligation,
                tranche_1,
                tranche_2,
            } => {
                line.check(&p("line"))?;
                let o = canonical_amount(obligation, currency, &p("obligation"))?;
                let t1 = canonical_amount(tranche_1, currency, &p("tranche_1"))?;
                let t2 = canonical_amount(tranche_2, currency, &p("tranche_2"))?;
                if t1.minor() + t2.minor() != o.minor() {
                    return Err(Invalid::new(
                        p("tranche_2"),
                        Code::TranchesDoNotAddUp,
                        format!("tranche_1 + tranche_2 must equal the obligation {obligation}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Body of `rule.version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleVersionBody {
    pub award: Id,
    pub rule: Id,
    /// 1 for the first version of a rule, then 2, 3, …
    pub version: u64,
    /// The first day this version applies to.
    pub effective: Date,
    pub params: RuleParams,
}

impl RuleVersionBody {
    pub fn check(&self, currency: Currency) -> Result<(), Invalid> {
        self.award.check("award")?;
        self.rule.check("rule")?;
        if self.version == 0 {
            return Err(Invalid::new(
                "version",
                Code::InvalidVersion,
                "versions start at 1",
            ));
        }
        self.params.check(currency)
    }
}

// ---------------------------------------------------------------------------------------------
// Entitlements and cycles.

/// What an entitlement pays for; with the award and participant it names at most one live
/// entitlement.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Basis(pub String);

impl Basis {
    pub fn c4t(period: Period) -> Basis {
        Basis(format!("c4t:{period}"))
    }
    pub fn tuition(cohort: &Id) -> Basis {
        Basis(format!("tuition:{cohort}"))
    }
    pub fn incentive(course: &Id) -> Basis {
        Basis(format!("incentive:{course}"))
    }
    pub fn seed_obligation() -> Basis {
        Basis("seed:obligation".into())
    }
    pub fn seed_tranche(m: Milestone) -> Basis {
        Basis(format!("seed:{}", m.as_str()))
    }
    /// The memo liquidation of the obligation that goes with a tranche payment.
    pub fn seed_liquidation(m: Milestone) -> Basis {
        Basis(format!("seed:{}:liquidation", m.as_str()))
    }
    pub fn seed_release() -> Basis {
        Basis("seed:release".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Body of `entitlement`: a balanced transaction (same rules as `transaction`) that also says
/// which rule version and which evidence records produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementBody {
    pub award: Id,
    pub participant: Id,
    pub basis: Basis,
    pub rule: Id,
    pub version: u64,
    /// The seqs of the evidence records this entitlement was computed from.
    pub evidence: Vec<u64>,
    /// The day it belongs to: the last day of its cycle's month for a C4T stipend, the date of
    /// the certification or milestone that released it for an incentive or a tranche, the day
    /// it was decided for a reversal or an adjustment (see `period`).
    pub accounting_date: Date,
    pub memo: String,
    pub postings: Vec<PostingBody>,
    /// A late correction of a closed quarter: the quarter it corrects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_period: Option<crate::period::Quarter>,
    /// Set on the reversal of an earlier entitlement (whose metadata this one repeats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverses: Option<u64>,
    /// Set on an adjustment of an earlier entitlement that was already paid (or adjusted) and so
    /// can no longer be reversed: a *recovery* when corrected evidence lowered it (it debits
    /// the payee's receivable and credits the budget line), a *supplement* when it raised it
    /// (it debits the budget line and credits the payee's payable, or her receivable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjusts: Option<u64>,
}

impl EntitlementBody {
    pub fn check_refs(&self) -> Result<(), Invalid> {
        self.award.check("award")?;
        self.participant.check("participant")?;
        self.rule.check("rule")?;
        if self.basis.0.is_empty() || self.basis.0.len() > 100 {
            return Err(Invalid::new(
                "basis",
                Code::InvalidBasis,
                "must be 1 to 100 bytes",
            ));
        }
        if self.evidence.len() > MAX_EVIDENCE_REFS {
            return Err(Invalid::new(
                "evidence",
                Code::TooManyRefs,
                format!("at most {MAX_EVIDENCE_REFS} evidence seqs"),
            ));
        }
        if self.evidence.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Invalid::new(
                "evidence",
                Code::UnsortedRefs,
                "evidence seqs must be strictly increasing",
            ));
        }
        if self.reverses.is_some() && self.adjusts.is_some() {
            return Err(Invalid::new(
                "adjusts",
                Code::ReversalAndAdjustment,
                "an entitlement either reverses or adjusts an earlier one, never both",
            ));
        }
        Ok(())
    }

    /// Whether this is a recovery: an adjustment that takes back part of a paid entitlement.
    pub fn is_recovery(&self) -> bool {
        self.adjusts.is_some()
            && self.postings.iter().any(|p| {
                p.side == crate::posting::Side::Debit && p.account.starts_with("receivable:")
            })
    }
}

/// Body of `cycle.run`: what one run of a cycle posted, closing it in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CycleRunBody {
    pub award: Id,
    pub period: Period,
    /// New entitlements posted by this run.
    pub entitlements: u64,
    /// Earlier entitlements this run reversed (corrected evidence).
    pub reversals: u64,
    /// Exceptions listed in the report.
    pub exceptions: u64,
    /// Lowercase hex SHA-256 of the canonical JSON of the cycle report.
    pub report_sha256: String,
}

impl CycleRunBody {
    pub fn check(&self) -> Result<(), Invalid> {
        self.award.check("award")?;
        if !lowercase_hex(&self.report_sha256, 32) {
            return Err(Invalid::new(
                "report_sha256",
                Code::InvalidDigest,
                "must be 64 lowercase hex digits (a SHA-256)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn statement() -> Statement {
        Statement {
            partner: Id::parse("hias").expect("valid"),
            batch_id: Id::parse("2026-03-w1").expect("valid"),
            items: vec![EvidenceItem::Attendance {
                participant: Id::parse("p-0001").expect("valid"),
                session: Id::parse("s-01").expect("valid"),
                status: Presence::Present,
            }],
            submitted_at: "2026-03-08T12:00:00Z".into(),
        }
    }

    #[test]
    fn a_signed_statement_verifies_and_a_changed_one_does_not() {
        let body = statement().sign(&key());
        body.check().expect("well formed");
        body.verify_signature(&key().verifying_key())
            .expect("verifies");
        let mut changed = body.clone();
        changed.statement.items[0] = EvidenceItem::Attendance {
            participant: Id::parse("p-0001").expect("valid"),
            session: Id::parse("s-01").expect("valid"),
            status: Presence::Absent,
        };
        assert_eq!(
            changed
                .verify_signature(&key().verifying_key())
                .expect_err("refused")
                .code,
            Code::BadSignature
        );
        let other = SigningKey::from_bytes(&[8; 32]);
        assert!(body.verify_signature(&other.verifying_key()).is_err());
    }

    #[test]
    fn the_signed_bytes_are_the_domain_then_canonical_json() {
        let m = statement().signed_message();
        let text = String::from_utf8(m).expect("utf-8");
        assert_eq!(
            text,
            "tranche/evidence/v1\n{\"batch_id\":\"2026-03-w1\",\"items\":[{\"participant\":\"p-0001\",\
             \"session\":\"s-01\",\"status\":\"present\",\"type\":\"attendance\"}],\"partner\":\"hias\",\
             \"submitted_at\":\"2026-03-08T12:00:00Z\"}"
        );
    }

    #[test]
    fn dates_and_periods_have_one_spelling() {
        assert!(Date::parse("2026-03-01").is_ok());
        assert!(Date::parse("2026-3-1").is_err());
        assert!(Date::parse("2026-02-30").is_err());
        let p = Period::parse("2026-02").expect("valid");
        assert_eq!(p.last().to_string(), "2026-02-28");
        assert!(Period::parse("2026-2").is_err());
        assert_eq!(Period::of(p.last()), p);
    }

    #[test]
    fn a_budget_must_add_up_to_the_award() {
        let mut award = AwardOpenBody {
            utc_offset: None,
            provinces: None,
            pathways: None,
            age_bands: None,
            liquidation_days: None,
            future_days: None,
            award: Id::parse("bprm-ec-2026").expect("valid"),
            donor: "BPRM".into(),
            currency: "USD".into(),
            total: "1000.00".into(),
            start: Date::parse("2026-01-01").expect("valid"),
            end: Date::parse("2026-12-31").expect("valid"),
            budget_lines: vec![BudgetLine {
                line: Id::parse("c4t").expect("valid"),
                name: "C4T stipend".into(),
                authorised: "900.00".into(),
                participant_support: true,
            }],
        };
        assert_eq!(
            award.check().expect_err("refused").code,
            Code::BudgetDoesNotAddUp
        );
        award.budget_lines[0].authorised = "1000.00".into();
        award.check().expect("adds up");
        // An award's own lists of attribute values: checked, and absent from older records.
        let before = serde_json::to_string(&award).expect("serialises");
        assert!(!before.contains("provinces"), "{before}");
        award.provinces = Some(vec!["Imbabura".into(), "IMBABURA".into()]);
        let e = award.check().expect_err("a province twice");
        assert_eq!(
            (e.field.as_str(), e.code),
            ("provinces[1]", Code::InvalidVocabulary)
        );
        award.provinces = Some(vec!["Imbabura".into(), "Carchi".into()]);
        award.age_bands = Some(vec![]);
        let e = award.check().expect_err("an empty list");
        assert_eq!(
            (e.field.as_str(), e.code),
            ("age_bands", Code::InvalidVocabulary)
        );
        award.age_bands = None;
        award.check().expect("lists of its own");
        let text = serde_json::to_string(&award).expect("serialises");
        let back: AwardOpenBody = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, award);
        for (offset, ok) in [
            ("-05:00", true),
            ("+05:45", true),
            ("+14:00", true),
            ("-5:00", false),
            ("05:00", false),
            ("+15:00", false),
            ("+01:60", false),
        ] {
            award.utc_offset = Some(offset.into());
            match award.check() {
                Ok(()) => assert!(ok, "{offset} accepted"),
                Err(e) => {
                    assert!(!ok, "{offset} refused");
                    assert_eq!(
                        (e.code.as_str(), e.field.as_str()),
                        ("invalid_utc_offset", "utc_offset")
                    );
                }
            }
        }
        award.utc_offset = None;
        award.total = "1000".into();
        assert_eq!(
            award.check().expect_err("refused").code,
            Code::NonCanonicalAmount
        );
    }

    #[test]
    fn key_ids_must_match_the_key() {
        let vk = key().verifying_key();
        let mut body = PartnerKeyBody {
            partner: Id::parse("hias").expect("valid"),
            action: KeyAction::Register,
            key_id: partner_key_id(&vk),
            public_key: Some(public_key_text(&vk)),
            replaces: None,
        };
        assert!(body.check().expect("valid").is_some());
        body.key_id = "0000000000000000".into();
        assert_eq!(body.check().expect_err("refused").code, Code::KeyIdMismatch);
    }
}
