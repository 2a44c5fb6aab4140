//! Journal records: one RFC 8785 canonical JSON object each, hashed as RFC 6962 leaves and
//! chained by `prev`. This module owns the wire format that outside auditors verify, so it is
//! strict in both directions: `encode` writes only canonical bytes and `decode` accepts only
//! bytes that re-encode to themselves.
//!
//! Every record is `{"v":1,"seq":N,"prev":"<hex>","kind":"…","at":"…Z","actor":"…","body":{…}}`.

use crate::codes::Code;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::account::{AccountName, AccountType};
use crate::invalid::Invalid;
use crate::merkle::{leaf_hash, Hash};
use crate::money::{Currency, Money};
use crate::posting::{Posting, Side};

/// The record format version this code writes and reads.
pub const FORMAT_VERSION: u64 = 1;
/// Records larger than this are refused: a limit that keeps every proof and export line small.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// The `prev` of record 0.
pub const ZERO_HASH: Hash = [0u8; 32];

/// The record kinds this version of the format defines.
pub mod kind {
    /// The ledger's checkpoint key: the first record names the origin and verifier key.
    pub const LEDGER_KEY: &str = "ledger.key";
    /// The ledger's checkpoint key replaced by a new one, signed by the old one.
    pub const LEDGER_ROTATE: &str = "ledger.rotate";
    pub const ACCOUNT_OPEN: &str = "account.open";
    pub const ACCOUNT_CLOSE: &str = "account.close";
    pub const TRANSACTION: &str = "transaction";
    pub const AWARD_OPEN: &str = "award.open";
    pub const PARTNER_REGISTER: &str = "partner.register";
    pub const PARTNER_KEY: &str = "partner.key";
    pub const COHORT_OPEN: &str = "cohort.open";
    pub const SESSION_SCHEDULE: &str = "session.schedule";
    pub const PARTICIPANT_REGISTER: &str = "participant.register";
    pub const EVIDENCE: &str = "evidence";
    pub const RULE_VERSION: &str = "rule.version";
    /// A transaction produced by a rule from evidence (see `programme::EntitlementBody`).
    pub const ENTITLEMENT: &str = "entitlement";
    pub const CYCLE_RUN: &str = "cycle.run";
    /// Disbursement records (see `disburse`).
    pub const DISBURSEMENT_CONFIG: &str = "disbursement.config";
    pub const BATCH_CREATE: &str = "batch.create";
    pub const BATCH_PART: &str = "batch.part";
    pub const BATCH_SUBMIT: &str = "batch.submit";
    pub const BATCH_APPROVE: &str = "batch.approve";
    pub const BATCH_REJECT: &str = "batch.reject";
    pub const BATCH_CANCEL: &str = "batch.cancel";
    pub const BATCH_FILE: &str = "batch.file";
    /// Carries postings (payable to payments in transit).
    pub const BATCH_SEND: &str = "batch.send";
    pub const BANK_IMPORT: &str = "bank.import";
    /// Carries postings (in transit to bank, or back to payable).
    pub const BANK_STATUS: &str = "bank.status";
    /// A quarter of an award closed, and a request or approval to reopen it (see `period`).
    pub const PERIOD_CLOSE: &str = "period.close";
    pub const PERIOD_REOPEN: &str = "period.reopen";
    pub const ALL: &[&str] = &[
        LEDGER_KEY,
        LEDGER_ROTATE,
        ACCOUNT_OPEN,
        ACCOUNT_CLOSE,
        TRANSACTION,
        AWARD_OPEN,
        PARTNER_REGISTER,
        PARTNER_KEY,
        COHORT_OPEN,
        SESSION_SCHEDULE,
        PARTICIPANT_REGISTER,
        EVIDENCE,
        RULE_VERSION,
        ENTITLEMENT,
        CYCLE_RUN,
        DISBURSEMENT_CONFIG,
        BATCH_CREATE,
        BATCH_PART,
        BATCH_SUBMIT,
        BATCH_APPROVE,
        BATCH_REJECT,
        BATCH_CANCEL,
        BATCH_FILE,
        BATCH_SEND,
        BANK_IMPORT,
        BANK_STATUS,
        PERIOD_CLOSE,
        PERIOD_REOPEN,
    ];
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record is {0} bytes, over the {MAX_RECORD_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("record is not valid JSON: {0}")]
    NotJson(String),
    #[error("record is not in RFC 8785 canonical form")]
    NotCanonical,
    #[error("record field {field}: {rule}")]
    Field { field: &'static str, rule: String },
    #[error("record cannot be encoded: {0}")]
    Encode(String),
}

/// RFC 3339 UTC with microseconds and `Z`: the only time form a record carries.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a record time, requiring the exact form `format_time` writes.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let at = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    (format_time(at) == text).then_some(at)
}

/// Canonical (RFC 8785) bytes of any JSON value.
pub fn canonical_bytes(value: &Value) -> Result<Vec<u8>, RecordError> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| RecordError::Encode(e.to_string()))
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub prev: Hash,
    pub kind: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub body: Value,
}

impl Record {
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("v".into(), Value::from(FORMAT_VERSION));
        m.insert("seq".into(), Value::from(self.seq));
        m.insert("prev".into(), Value::from(hex::encode(self.prev)));
        m.insert("kind".into(), Value::from(self.kind.clone()));
        m.insert("at".into(), Value::from(format_time(self.at)));
        m.insert("actor".into(), Value::from(self.actor.clone()));
        m.insert("body".into(), self.body.clone());
        Value::Object(m)
    }

    /// The canonical bytes of the record, refused over `MAX_RECORD_BYTES`.
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        let bytes = canonical_bytes(&self.to_value())?;
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// Parses record bytes, accepting only the canonical encoding of a well-formed record.
    pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge(bytes.len()));
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| RecordError::NotJson(e.to_string()))?;
        let record = Self::from_value(value)?;
        // Re-encoding must give the very same bytes: key order, whitespace, escapes and number
        // forms are all fixed by RFC 8785, so any other spelling is a different record.
        if record.encode()? != bytes {
            return Err(RecordError::NotCanonical);
        }
        Ok(record)
    }

    /// Parses record bytes this process's own store wrote and checked, without re-encoding
    /// them to prove they are canonical (about half the cost of [`Record::decode`]). Anything
    /// that verifies a journal must use `decode`.
    pub fn decode_trusted(bytes: &[u8]) -> Result<Record, RecordError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| RecordError::NotJson(e.to_string()))?;
        Self::from_value(value)
    }

    fn from_value(value: Value) -> Result<Record, RecordError> {
        let Value::Object(mut m) = value else {
            return Err(RecordError::Field {
                field: "record",
                rule: "must be a JSON object".into(),
            });
        };
        let field = |field: &'static str, rule: &str| RecordError::Field {
            field,
            rule: rule.to_string(),
        };
        for key in m.keys() {
            if !["v", "seq", "prev", "kind", "at", "actor", "body"].contains(&key.as_str()) {
                return Err(RecordError::Field {
                    field: "record",
                    rule: format!("unknown field {key:?}"),
                });
            }
        }
        match m.get("v").and_then(Value::as_u64) {
            Some(FORMAT_VERSION) => {}
            _ => return Err(field("v", "must be 1")),
        }
        let seq = m
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| field("seq", "must be a non-negative integer"))?;
        let prev: Hash = m
            .get("prev")
            .and_then(Value::as_str)
            .filter(|s| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .and_then(|s| hex::decode(s).ok())
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| field("prev", "must be 64 lowercase hex digits"))?;
        let kind = match m.remove("kind") {
            Some(Value::String(k)) if !k.is_empty() => k,
            _ => return Err(field("kind", "must be a non-empty string")),
        };
        let at = m
            .get("at")
            .and_then(Value::as_str)
            .and_then(parse_time)
            .ok_or_else(|| field("at", "must be RFC 3339 UTC with microseconds and Z"))?;
        let actor = match m.remove("actor") {
            Some(Value::String(a)) if !a.is_empty() => a,
            _ => return Err(field("actor", "must be a non-empty string")),
        };
        let body = match m.remove("body") {
            Some(b @ Value::Object(_)) => b,
            _ => return Err(field("body", "must be a JSON object")),
        };
        Ok(Record {
            seq,
            prev,
            kind,
            at,
            actor,
            body,
        })
    }
}

/// A record with its canonical bytes and leaf hash, as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRecord {
    pub record: Record,
    pub bytes: Vec<u8>,
    pub leaf: Hash,
}

impl EncodedRecord {
    pub fn new(record: Record) -> Result<Self, RecordError> {
        let bytes = record.encode()?;
        let leaf = leaf_hash(&bytes);
        Ok(EncodedRecord {
            record,
            bytes,
            leaf,
        })
    }
}

/// Body of `ledger.key`: the log's origin and its checkpoint verifier key (C2SP vkey).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerKeyBody {
    pub origin: String,
    pub vkey: String,
}

/// Body of `ledger.rotate`: from this record on, checkpoints are signed by `vkey` (same origin,
/// a new key). `signature` is base64 of the retiring key's Ed25519 signature over
/// [`rotation_message`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerRotateBody {
    pub origin: String,
    pub vkey: String,
    pub signature: String,
}

/// What the retiring key signs to hand over to the new one.
pub fn rotation_message(origin: &str, vkey: &str) -> Vec<u8> {
    format!("tranche/key-rotation/v1\n{origin}\n{vkey}\n").into_bytes()
}

/// Body of `account.open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountOpenBody {
    pub name: String,
    #[serde(rename = "type")]
    pub account_type: AccountType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Body of `account.close`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountCloseBody {
    pub name: String,
}

/// One posting as written in a record: every value a string, the amount at the currency's scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostingBody {
    pub account: String,
    pub currency: String,
    pub side: Side,
    pub amount: String,
}

/// Body of `transaction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionBody {
    /// The day the movement belongs to (the value date), `YYYY-MM-DD`: what every report and
    /// period filter reads (see `period`).
    pub accounting_date: crate::programme::Date,
    pub memo: String,
    pub postings: Vec<PostingBody>,
    /// A late correction of a closed quarter, posted in an open one: the quarter it corrects
    /// (a prior-period adjustment on the next SF-425).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_period: Option<crate::period::Quarter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverses: Option<u64>,
}

impl PostingBody {
    pub fn from_posting(p: &Posting) -> Self {
        PostingBody {
            account: p.account.to_string(),
            currency: p.money.currency().code().to_string(),
            side: p.side,
            amount: p.money.to_string(),
        }
    }

    /// The typed posting. With `canonical`, the amount must be written exactly as a record
    /// writes it (what the verifier demands); without, any exact amount is accepted (input).
    pub fn to_posting(&self, canonical: bool) -> Result<Posting, Invalid> {
        let account = AccountName::parse(&self.account).map_err(|e| e.within("account"))?;
        let currency = Currency::parse(&self.currency)
            .map_err(|e| Invalid::new("currency", Code::UnknownCurrency, e.to_string()))?;
        let money = Money::parse_positive(&self.amount, currency)
            .map_err(|e| crate::posting::money_invalid("amount", &e))?;
        if canonical && money.to_string() != self.amount {
            return Err(Invalid::new(
                "amount",
                Code::NonCanonicalAmount,
                format!(
                    "{:?} must be written with exactly {} decimals as {:?}",
                    self.amount,
                    currency.minor_units(),
                    money.to_string()
                ),
            ));
        }
        Ok(Posting {
            account,
            side: self.side,
            money,
        })
    }
}

impl TransactionBody {
    pub fn postings(&self, canonical: bool) -> Result<Vec<Posting>, Invalid> {
        self.postings
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.to_posting(canonical)
                    .map_err(|e| e.within(&format!("postings[{i}]")))
            })
            .collect()
    }
}

/// Deserializes a body with the field named in the error.
pub fn body_from_value<T: serde::de::DeserializeOwned>(body: &Value) -> Result<T, Invalid> {
    T::deserialize(body).map_err(|e| Invalid::new("body", Code::InvalidBody, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(seq: u64, memo: &str) -> Record {
        Record {
            seq,
            prev: [seq as u8; 32],
            kind: kind::TRANSACTION.into(),
            at: parse_time("2026-03-01T10:00:00.000000Z").expect("valid time"),
            actor: "finance:ana".into(),
            body: serde_json::json!({
                "memo": memo,
                "postings": [
                    {"account": "expense:c4t-stipend", "currency": "USD", "side": "debit", "amount": "60.00"},
                    {"account": "payable:participant:P-00012", "currency": "USD", "side": "credit", "amount": "60.00"}
                ]
            }),
        }
    }

    #[test]
    fn a_record_encodes_with_sorted_keys_and_no_whitespace() {
        let bytes = sample(0, "March stipend").encode().expect("encodes");
        let text = String::from_utf8(bytes).expect("utf-8");
        assert!(text.starts_with(r#"{"actor":"finance:ana","at":"2026-03-01T10:00:00.000000Z","body":{"memo":"March stipend","postings":[{"account":"#));
        assert!(text.ends_with(r#""kind":"transaction","prev":"0000000000000000000000000000000000000000000000000000000000000000","seq":0,"v":1}"#));
    }

    #[test]
    fn non_canonical_spellings_are_refused() {
        let good = String::from_utf8(sample(1, "x").encode().expect("encodes")).expect("utf-8");
        assert!(Record::decode(good.as_bytes()).is_ok());
        let spaced = good.replacen(":", ": ", 1);
        assert_eq!(
            Record::decode(spaced.as_bytes()),
            Err(RecordError::NotCanonical)
        );
        let reordered = good
            .replacen(r#"{"actor":"finance:ana","#, "{", 1)
            .replacen(r#""v":1}"#, r#""v":1,"actor":"finance:ana"}"#, 1);
        assert_eq!(
            Record::decode(reordered.as_bytes()),
            Err(RecordError::NotCanonical)
        );
        let float = good.replace(r#""v":1}"#, r#""v":1.0}"#);
        assert!(Record::decode(float.as_bytes()).is_err());
        let escaped = good.replace("finance:ana", "finance:\\u0061na");
        assert_eq!(
            Record::decode(escaped.as_bytes()),
            Err(RecordError::NotCanonical)
        );
    }

    #[test]
    fn oversized_records_are_refused() {
        let r = sample(2, &"x".repeat(MAX_RECORD_BYTES));
        assert!(matches!(r.encode(), Err(RecordError::TooLarge(_))));
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_the_identity(seq in 0u64..1_000_000_000, memo in "\\PC{0,80}", actor in "[a-z:]{1,20}", micros in 0i64..4_000_000_000_000_000) {
            let mut r = sample(seq, &memo);
            r.actor = actor;
            r.at = DateTime::from_timestamp_micros(micros).expect("in range");
            let bytes = r.encode().expect("encodes");
            let back = Record::decode(&bytes).expect("decodes");
            prop_assert_eq!(&back, &r);
            prop_assert_eq!(back.encode().expect("encodes"), bytes);
        }
    }
}
