//! The OpenAPI schemas of the request bodies that are a journal record's own body (an award, a
//! partner and its keys, a cohort, a participant, signed evidence, a rule version, an award's
//! payment settings). Their handlers read them with the record's own type from `tranche_audit`
//! or `tranche_ledger`, which know no HTTP and derive no schema, so each is described here
//! field by field, with an example; a test reads every example with the type its handler reads,
//! so a field renamed, added or removed on one side and not the other fails it.

// The fields are read by the schemas and the tests, never by the handlers.
#![allow(dead_code)]

use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// `POST /v1/awards`: an `award.open` body (docs/FORMAT.md).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = award_example)]
pub struct AwardRequest {
    pub award: String,
    pub donor: String,
    /// ISO 4217.
    pub currency: String,
    /// The award's total, at the currency's scale.
    pub total: String,
    #[schema(format = Date)]
    pub start: String,
    #[schema(format = Date)]
    pub end: String,
    pub budget_lines: Vec<BudgetLineRequest>,
    /// The award's time zone as an offset from UTC (`-05:00`).
    #[serde(default)]
    pub utc_offset: Option<String>,
    /// The provinces participants may be registered in (absent: any).
    #[serde(default)]
    pub provinces: Option<Vec<String>>,
    /// The pathways participants may be registered on (absent: employability,
    /// entrepreneurship, vocational-scholarship).
    #[serde(default)]
    pub pathways: Option<Vec<String>>,
    /// The age bands participants may be registered in (absent: under-18, 18-24, 25-34,
    /// 35-44, 45-59, 60+).
    #[serde(default)]
    pub age_bands: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetLineRequest {
    pub line: String,
    pub name: String,
    pub authorised: String,
    /// Participant support costs carry no indirect costs (SF-425 line 11 base).
    pub participant_support: bool,
}

fn award_example() -> Value {
    json!({
        "award": "c4t-2026", "donor": "Example Foundation", "currency": "USD",
        "total": "1000000.00", "start": "2026-01-01", "end": "2027-12-31",
        "budget_lines": [
            {"line": "c4t-stipend", "name": "C4T stipend", "authorised": "900000.00", "participant_support": true},
            {"line": "admin", "name": "Administration", "authorised": "100000.00", "participant_support": false}
        ],
        "utc_offset": "-05:00",
        "provinces": ["Sucumbíos", "Imbabura", "Carchi", "Pichincha"],
        "pathways": ["employability", "entrepreneurship", "vocational-scholarship"],
        "age_bands": ["under-18", "18-24", "25-34", "35-44", "45-59", "60+"]
    })
}

/// `POST /v1/partners`: a `partner.register` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"partner": "hias", "name": "HIAS"}))]
pub struct PartnerRequest {
    pub partner: String,
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyAction {
    Register,
    Rotate,
    Revoke,
}

/// `POST /v1/partners/{partner}/keys`: a `partner.key` body, as printed by
/// `tranche partner keygen`. `register` and `rotate` carry `public_key`, `rotate` also the key
/// it `replaces`; `revoke` carries neither.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = partner_key_example)]
pub struct PartnerKeyRequest {
    /// The partner of the path.
    pub partner: String,
    pub action: KeyAction,
    /// 16 lowercase hex digits: the first 8 bytes of the key's SHA-256.
    pub key_id: String,
    /// Standard base64 of the Ed25519 public key.
    #[serde(default)]
    pub public_key: Option<String>,
    #[serde(default)]
    pub replaces: Option<String>,
}

fn partner_key_example() -> Value {
    json!({
        "partner": "hias", "action": "rotate", "key_id": "fe812c12f3ab4ce6",
        "public_key": "6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=",
        "replaces": "0a1b2c3d4e5f6071"
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Pathway {
    Employability,
    Entrepreneurship,
    VocationalScholarship,
}

/// `POST /v1/cohorts`: a `cohort.open` body, with the cohort's first sessions if any. A
/// vocational scholarship cohort names its course and its training provider.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = cohort_example)]
pub struct CohortRequest {
    pub cohort: String,
    pub award: String,
    pub partner: String,
    pub pathway: Pathway,
    pub name: String,
    #[serde(default)]
    pub course: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub sessions: Vec<SessionRequest>,
}

fn cohort_example() -> Value {
    json!({
        "cohort": "c-01", "award": "c4t-2026", "partner": "hias",
        "pathway": "vocational-scholarship", "name": "Quito March", "course": "welding-1",
        "provider": "sena",
        "sessions": [{"session": "s-01", "date": "2026-03-02"}, {"session": "s-02", "date": "2026-03-09"}]
    })
}

/// One session of a cohort.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"session": "s-01", "date": "2026-03-02"}))]
pub struct SessionRequest {
    pub session: String,
    #[schema(format = Date)]
    pub date: String,
}

/// One person to register. The name, document, phone, bank account and attributes go to the
/// erasable participant store; the journal gets a pseudonym and a salted commitment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = participant_example)]
pub struct ParticipantRequest {
    pub award: String,
    /// The partner (a partner's own token may leave it out).
    #[serde(default)]
    pub partner: Option<String>,
    pub name: String,
    pub document: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub bank_account: Option<String>,
    /// female, male or other (blank or absent: not stated).
    #[serde(default)]
    pub sex: Option<String>,
    /// An ISO 3166-1 alpha-2 code: VE, CO, EC, …
    #[serde(default)]
    pub nationality: Option<String>,
    /// One of the award's provinces (`GET /v1/awards/{award}`: `vocabulary`).
    #[serde(default)]
    pub province: Option<String>,
    /// One of the award's pathways.
    #[serde(default)]
    pub pathway: Option<String>,
    /// One of the award's age bands.
    #[serde(default)]
    pub age_band: Option<String>,
}

fn participant_example() -> Value {
    json!({
        "award": "c4t-2026", "partner": "hias", "name": "Ana Pérez", "document": "V-12345678",
        "phone": "+593 99 123 4567", "bank_account": "EC12 3456 7890 1234", "sex": "female",
        "nationality": "VE", "province": "Pichincha", "pathway": "employability",
        "age_band": "18-24"
    })
}

/// `POST /v1/participants`: one participant or an array of them (at most 1,000).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ParticipantsRequest {
    One(Box<ParticipantRequest>),
    Many(Vec<ParticipantRequest>),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Present,
    Absent,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
}

#[derive(Debug, Deserialize, ToSchema)]
pub enum Milestone {
    #[serde(rename = "plan-approved")]
    PlanApproved,
    #[serde(rename = "tranche-1")]
    Tranche1,
    #[serde(rename = "tranche-2")]
    Tranche2,
}

/// One item of a statement; `type` says what it records.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EvidenceItemRequest {
    Enrolment {
        participant: String,
        cohort: String,
        #[schema(format = Date)]
        date: String,
    },
    Attendance {
        participant: String,
        session: String,
        status: Presence,
    },
    AttendanceCorrection {
        participant: String,
        session: String,
        status: Presence,
    },
    Certification {
        participant: String,
        course: String,
        result: Outcome,
        #[schema(format = Date)]
        date: String,
    },
    Milestone {
        participant: String,
        milestone: Milestone,
        result: Outcome,
        #[schema(format = Date)]
        date: String,
    },
}

/// What a partner signs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementRequest {
    pub partner: String,
    /// The partner's own name for this statement, never used twice.
    pub batch_id: String,
    /// 1 to 500 items.
    pub items: Vec<EvidenceItemRequest>,
    /// RFC 3339 UTC, ending in `Z`.
    pub submitted_at: String,
}

/// `POST /v1/evidence`: a signed statement as written by `tranche partner sign`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = evidence_example)]
pub struct EvidenceRequest {
    pub statement: StatementRequest,
    /// The signing key's id (16 lowercase hex digits).
    pub key_id: String,
    /// Standard base64 of the Ed25519 signature over the canonical statement.
    pub signature: String,
}

fn evidence_example() -> Value {
    json!({
        "key_id": "fe812c12f3ab4ce6",
        "signature": "n8Va80KSqG2UboCb4APo2o5hIige6MezTvemBcz55GBjzz+x4WXb3kJFOMBbuO1achKFu9WbDwZudYMSZUgTAw==",
        "statement": {
            "batch_id": "2026-03-w1",
            "items": [{"participant": "p-0001", "session": "s-01", "status": "present", "type": "attendance"}],
            "partner": "hias",
            "submitted_at": "2026-03-08T12:00:00Z"
        }
    })
}

/// A rule's parameters; `shape` says which rule it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "shape", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RuleParamsRequest {
    /// A monthly stipend paid in full or in part by attendance, up to a cap.
    C4tMonthly {
        line: String,
        amount: String,
        full_from_percent: u32,
        partial_from_percent: u32,
        cap: String,
    },
    /// Tuition to the provider and an incentive to the participant on certification.
    Scholarship {
        tuition_line: String,
        tuition: String,
        incentive_line: String,
        incentive: String,
    },
    /// Seed capital obligated at plan approval and paid in two tranches.
    SeedCapital {
        line: String,
        obligation: String,
        tranche_1: String,
        tranche_2: String,
    },
}

/// `POST /v1/rules`: a `rule.version` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = rule_example)]
pub struct RuleRequest {
    pub award: String,
    pub rule: String,
    /// From 1, in effective order.
    pub version: u64,
    #[schema(format = Date)]
    pub effective: String,
    pub params: RuleParamsRequest,
}

fn rule_example() -> Value {
    json!({
        "award": "c4t-2026", "rule": "c4t", "version": 1, "effective": "2026-03-01",
        "params": {
            "shape": "c4t-monthly", "line": "c4t-stipend", "amount": "60.00",
            "full_from_percent": 75, "partial_from_percent": 50, "cap": "360.00"
        }
    })
}

/// A bank account as the bank file names it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankAccountRequest {
    /// The holder.
    pub name: String,
    /// An IBAN, or another identifier such as a mobile-money number.
    pub account: String,
    /// 8 or 11 upper-case letters and digits.
    #[serde(default)]
    pub agent_bic: Option<String>,
}

/// A vendor's (training provider's) account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VendorAccountRequest {
    pub vendor: String,
    pub name: String,
    pub account: String,
    #[serde(default)]
    pub agent_bic: Option<String>,
}

/// `POST /v1/disbursement-settings`: a `disbursement.config` body. A later one replaces an
/// earlier one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = settings_example)]
pub struct SettingsRequest {
    pub award: String,
    /// The award's paying account.
    pub debtor: BankAccountRequest,
    #[serde(default)]
    pub vendors: Vec<VendorAccountRequest>,
    /// Batches with a total above this need two distinct approvers.
    pub dual_approval_above: String,
}

fn settings_example() -> Value {
    json!({
        "award": "c4t-2026",
        "debtor": {"name": "Example Foundation", "account": "DE89370400440532013000", "agent_bic": "COBADEFFXXX"},
        "vendors": [{"vendor": "sena", "name": "SENA", "account": "EC-0012345"}],
        "dual_approval_above": "10000.00"
    })
}

/// What a batch holds: all open payables of the award, or those that match every filter given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchFilterRequest {
    #[serde(default)]
    pub budget_line: Option<String>,
    #[serde(default)]
    pub cohort: Option<String>,
    #[serde(default)]
    pub province: Option<String>,
    /// Payees (`participant:P`, `vendor:V`).
    #[serde(default)]
    pub payees: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tranche_audit::disburse::{BatchFilter, DisbursementConfigBody};
    use tranche_audit::programme::{
        AwardOpenBody, EvidenceBody, PartnerKeyBody, PartnerRegisterBody, RuleVersionBody,
    };
    use tranche_ledger::service::programme::{CohortInput, ParticipantInput};
    use utoipa::PartialSchema;

    /// The example the schema shows.
    fn shown<T: PartialSchema>() -> Value {
        let schema = serde_json::to_value(T::schema()).expect("a schema is JSON");
        schema
            .get("examples")
            .and_then(|e| e.get(0))
            .or_else(|| schema.get("example"))
            .cloned()
            .expect("the schema shows an example")
    }

    /// Every property of `T`'s schema is in its example, so reading the example with the
    /// handler's type (which refuses unknown fields) checks that the handler knows them all.
    fn complete<T: PartialSchema>() -> Value {
        let schema = serde_json::to_value(T::schema()).expect("a schema is JSON");
        let example = shown::<T>();
        for name in schema["properties"].as_object().expect("properties").keys() {
            assert!(
                example.get(name).is_some(),
                "the example leaves out {name}: {example}"
            );
        }
        example
    }

    fn both<Doc: for<'de> Deserialize<'de>, Real: for<'de> Deserialize<'de>>(v: &Value) {
        if let Err(e) = serde_json::from_value::<Real>(v.clone()) {
            panic!("the handler's type refuses {v}: {e}");
        }
        if let Err(e) = serde_json::from_value::<Doc>(v.clone()) {
            panic!("the schema's type refuses {v}: {e}");
        }
    }

    /// Every example is read by the type the handler reads and by the schema's own type, so
    /// the examples are bodies the server accepts and the schemas name their fields.
    #[test]
    fn every_example_is_a_body_the_handler_reads() {
        both::<AwardRequest, AwardOpenBody>(&complete::<AwardRequest>());
        both::<PartnerRequest, PartnerRegisterBody>(&complete::<PartnerRequest>());
        both::<PartnerKeyRequest, PartnerKeyBody>(&complete::<PartnerKeyRequest>());
        both::<CohortRequest, CohortInput>(&complete::<CohortRequest>());
        both::<ParticipantRequest, ParticipantInput>(&complete::<ParticipantRequest>());
        both::<ParticipantsRequest, Vec<ParticipantInput>>(&json!([participant_example()]));
        both::<EvidenceRequest, EvidenceBody>(&complete::<EvidenceRequest>());
        both::<RuleRequest, RuleVersionBody>(&complete::<RuleRequest>());
        both::<SettingsRequest, DisbursementConfigBody>(&complete::<SettingsRequest>());
        let filter = json!({"budget_line": "c4t-stipend", "cohort": "c-01", "province": "Pichincha", "payees": ["participant:p-0001"]});
        both::<BatchFilterRequest, BatchFilter>(&filter);
    }

    /// A field the record's type does not know is refused by it, so the examples above would
    /// notice a schema field that the handler does not read.
    #[test]
    fn the_handlers_types_refuse_unknown_fields() {
        let mut award = award_example();
        award["extra"] = json!(1);
        assert!(serde_json::from_value::<AwardOpenBody>(award).is_err());
        let mut cohort = cohort_example();
        cohort["extra"] = json!(1);
        assert!(serde_json::from_value::<CohortInput>(cohort).is_err());
    }
}
