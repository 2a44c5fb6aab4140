//! Reports bound to the journal: what a report holds, how the ledger signs it, and how anyone
//! checks the signature. Every figure is defined here from the journal alone (records up to the
//! report's tree size), so that `tranche-verify report` can recompute it from an export and
//! the ledger, which computes it from its projections, must agree.
//!
//! Amounts are strings at the award currency's scale; counts are integers. A period is a range
//! of record dates: a record belongs to it when the UTC date of its `at` lies within
//! `[start, end]` (inclusive). "Cumulative" means every record up to `end` (and up to the tree
//! size).
//!
//! Signature: Ed25519 by the ledger's checkpoint key over [`REPORT_DOMAIN`] followed by the RFC
//! 8785 canonical bytes of the `report` member. The domain string keeps a report signature from
//! ever passing for a checkpoint or evidence signature.

use crate::codes::Code;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier as _};
use serde::{Deserialize, Serialize};

use crate::note::NoteVerifier;
use crate::programme::{Date, Id};
use crate::record::canonical_bytes;
use crate::Invalid;

/// The prefix of every report signature.
pub const REPORT_DOMAIN: &str = "tranche/report/v1\n";

/// The report kinds.
pub const KINDS: [&str; 6] = [
    "sf425",
    "budget",
    "payments",
    "bank",
    "participant",
    "disaggregation",
];

/// The journal state a report was computed at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportCheckpoint {
    pub origin: String,
    /// Records 0 to size - 1 were read.
    pub size: u64,
    /// Base64 of the RFC 6962 root at that size (as in the checkpoint note).
    pub root: String,
}

/// A reporting period: record dates from `start` to `end`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportPeriod {
    pub start: Date,
    pub end: Date,
}

/// One figure for the period and cumulative to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    pub period: String,
    pub cumulative: String,
}

/// SF-425 (Federal Financial Report) lines for one award. Definitions (A = the award):
/// - `10a` cash receipts: credits to `fund:A` less its debits (donor drawdowns).
/// - `10b` cash disbursements: `10a` less the net debit movement of `bank:A` (what left the
///   programme's bank account: confirmed payments, less returns booked back).
/// - `10c` cash on hand: `10a - 10b` (cumulative: the balance of `bank:A`).
/// - `10d` total federal funds authorised: the award's total (same in both columns).
/// - `10e` federal share of expenditures: net debit movement of every `expense:A:*` account.
/// - `10f` federal share of unliquidated obligations: net debit balance at the end of every
///   `obligation:A:*` memo account (seed capital committed, not yet paid); the period column
///   holds its movement in the period.
/// - `10g` total federal share: `10e + 10f`.
/// - `10h` unobligated balance of federal funds: `10d - 10g`.
/// - `11` indirect expense: `indirect_rate` x the base, where the base is `10e` of the budget
///   lines *not* flagged as participant support (participant support costs are excluded from
///   the base), rounded down to the cent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sf425 {
    pub line_10a: Figure,
    pub line_10b: Figure,
    pub line_10c: Figure,
    pub line_10d: Figure,
    pub line_10e: Figure,
    pub line_10f: Figure,
    pub line_10g: Figure,
    pub line_10h: Figure,
    /// The rate as a decimal string (`0.10`), `0` when none was given.
    pub indirect_rate: String,
    pub line_11_base: Figure,
    pub line_11_amount: Figure,
    /// Late corrections of closed quarters dated in this period (each cites the quarter it
    /// corrects): already in the figures above, listed so the donor sees what changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prior_period_adjustments: Vec<PriorPeriodAdjustment>,
    /// The definitions above, for the reader of the report.
    pub notes: Vec<String>,
}

/// One late correction of a closed quarter: its record, the quarter it corrects, and what it
/// moved on lines 10a (receipts) and 10e (expenditure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorPeriodAdjustment {
    pub seq: u64,
    pub prior_period: crate::period::Quarter,
    pub accounting_date: crate::programme::Date,
    pub memo: String,
    pub line_10a: String,
    pub line_10e: String,
}

/// One budget line against what was done with it (cumulative to the period's end).
/// - `authorised`: the award's amount for the line.
/// - `obligated`: net debit balance of `obligation:A:LINE` (unliquidated obligations).
/// - `expended`: net debit balance of `expense:A:LINE`.
/// - `paid`: the part of `expended` settled by payments the bank confirmed (the entitlements of
///   confirmed payments that charge this line), less returned after booking.
/// - `remaining`: `authorised - expended - obligated`.
/// - `percent_used`: `(expended + obligated) / authorised x 100`, two decimals, rounded down.
/// - `projected_at_end`: `expended / days elapsed x days of the award` (days elapsed: from the
///   award's start to the period's end, at least 1; capped at the award's length), rounded down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetLineRow {
    pub line: Id,
    pub name: String,
    pub participant_support: bool,
    pub authorised: String,
    pub obligated: String,
    pub expended: String,
    pub paid: String,
    pub remaining: String,
    pub percent_used: String,
    pub projected_at_end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetReport {
    pub lines: Vec<BudgetLineRow>,
    /// The same columns summed over the lines (`line` = `total`).
    pub total: BudgetLineRow,
}

/// Payment reconciliation for a period (payments whose batch was created in it, entitlements
/// recorded in it) or for one batch. Amounts and counts:
/// - `earned`: entitlements crediting a payable (less reversals) recorded in the period.
/// - `in_open_batches`: payments in batches not yet sent (draft, submitted, approved).
/// - `sent`: payments handed to the bank (all that were sent, whatever happened after).
/// - `confirmed`, `rejected`, `returned`: payments in that state now.
/// - `in_transit`: sent and neither confirmed, rejected nor returned (accepted included).
/// - `reissued`: rejected or returned payments paid again by a later payment.
/// - `still_payable`: credit balance of the award's payable accounts at the end.
/// - `recovered` (shown once there is one): recoveries of paid entitlements recorded in the
///   period (an overpayment found after the bank had the payment, owed back by the payee).
/// - `receivable` (shown with `recovered`, or when not zero): debit balance of the award's
///   receivable accounts at the end, what payees still owe after deductions from later
///   entitlements (each deduction is part of the entitlement it was kept back from).
///
/// Ties: `in_transit` equals the credit balance of `transit:A` (cumulative report); `sent =
/// confirmed + rejected + returned + in_transit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountAmount {
    pub count: u64,
    pub amount: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRow {
    pub e2e: String,
    /// The month (YYYY-MM) of the record that listed the payment in its batch.
    pub month: String,
    pub batch: Id,
    pub payee: String,
    pub amount: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reissued_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentReconciliation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Id>,
    pub earned: CountAmount,
    pub in_open_batches: CountAmount,
    pub sent: CountAmount,
    pub confirmed: CountAmount,
    pub rejected: CountAmount,
    pub returned: CountAmount,
    pub in_transit: CountAmount,
    pub reissued: CountAmount,
    pub still_payable: String,
    /// The balance of `transit:A` at the end, which `in_transit` ties to.
    pub transit_balance: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<CountAmount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receivable: Option<String>,
    pub payments: Vec<PaymentRow>,
}

/// Bank reconciliation against the imported camt.053 statements in the period. Every line of
/// every statement (a transaction of an entry, an entry without transactions, or a whole entry
/// whose transactions do not add up to it) is in exactly one category:
/// - `matched`: a debit that booked out a payment the ledger sent (counted, not listed);
/// - `returns`: a credit returning a payment (`RtrInf`, `RvslInd`), posted bank -> payable;
/// - `statement_only`: on the statement only: no end-to-end id (a bank charge, interest, a
///   credit the ledger did not expect), or one that names no payment of the award;
/// - `duplicates`: a second booking of a payment already confirmed or returned (the bank must
///   reverse it);
/// - `amount_mismatches`: a line naming a payment at another amount or currency;
/// - `unbalanced_entries`: an entry whose transactions do not add up to its amount;
/// - `not_booked`: pending or information entries, outside the booked balances.
///
/// `categories` sums the booked ones by direction; their totals equal the statements' booked
/// entries (`total_debits`, `total_credits`) and `ties` says whether they do. `ledger_only`
/// lists the payments sent that no statement has booked yet (payments in transit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankLine {
    /// The statement line: its entry's references (`NtryRef`, `AcctSvcrRef`) and its path
    /// (`Stmt[1]/Ntry[4]/NtryDtls[1]/TxDtls[2]`); or the payment's batch.
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e: Option<String>,
    pub amount: String,
    pub detail: String,
    /// `credit` or `debit`, for a statement line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Why the line matched no payment (`unknown_end_to_end_id`, `already_confirmed` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The file it came from (the first 12 hex digits of its SHA-256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<String>,
}

/// The booked lines of one category, summed by direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankCategory {
    pub category: String,
    pub lines: u64,
    pub debits: String,
    pub credits: String,
}

/// The reconciliation a finance officer signs, at the latest statement of the period that states
/// a closing balance: `closing - in_transit + unreconciled = adjusted`, and `adjusted` against
/// the ledger's bank account net of the payments it has handed to the bank (`bank:A` +
/// `transit:A` once that statement was imported; the ledger credits `bank:A` only when a
/// statement books a payment). `unreconciled` adds back every debit and takes off every credit
/// of the statements so far that posted nothing (statement-only lines, duplicates, mismatches,
/// unbalanced entries). `difference = adjusted - ledger`, shown whatever it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankBalance {
    pub statement: String,
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening: Option<String>,
    pub closing: String,
    pub in_transit: String,
    pub unreconciled: String,
    pub adjusted: String,
    /// `bank:A`.
    pub ledger_bank: String,
    /// `bank:A` + `transit:A`.
    pub ledger: String,
    pub difference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankReconciliation {
    pub statements: u64,
    /// The statements' booked entries, by direction.
    pub total_debits: String,
    pub total_credits: String,
    /// Every booked category, in a fixed order, then their totals.
    pub categories: Vec<BankCategory>,
    pub categories_debits: String,
    pub categories_credits: String,
    /// The categories add up to the statements' totals.
    pub ties: bool,
    pub matched: CountAmount,
    pub returns: Vec<BankLine>,
    pub ledger_only: Vec<BankLine>,
    pub statement_only: Vec<BankLine>,
    pub duplicates: Vec<BankLine>,
    pub amount_mismatches: Vec<BankLine>,
    pub unbalanced_entries: Vec<BankLine>,
    pub not_booked: Vec<BankLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<BankBalance>,
}

/// Everything the journal holds about one participant (by pseudonym).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementEntry {
    pub seq: u64,
    pub at: String,
    pub kind: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantStatement {
    pub participant: Id,
    pub evidence: Vec<StatementEntry>,
    pub entitlements: Vec<StatementEntry>,
    pub payments: Vec<StatementEntry>,
    /// Net amount earned (live entitlements crediting the participant's payable).
    pub earned: String,
    /// Confirmed by the bank.
    pub paid: String,
    /// Seqs a receipt can be asked for (`GET /v1/receipts/{seq}`).
    pub receipt_seqs: Vec<u64>,
}

/// One cell of a disaggregation table: `None` when suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    pub count: Option<u64>,
    pub amount: Option<String>,
}

/// Participants by one attribute (sex, nationality, province, pathway, age band): a row per
/// attribute value (`unknown` for missing or erased data), a column per measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisaggregationTable {
    pub attribute: String,
    pub values: Vec<String>,
    /// `enrolled`, `attending`, `certified`, `c4t`, `scholarship`, `seed_capital`.
    pub measures: Vec<String>,
    /// cells[value][measure].
    pub cells: Vec<Vec<Cell>>,
    /// Per measure over all values: never suppressed (the journal determines them), and the
    /// same in every table.
    pub totals: Vec<Cell>,
}

/// Counts of participants: `enrolled` (an enrolment item), `attending` (at least one session
/// present), `certified` (a passed certification), `c4t` / `scholarship` / `seed_capital` (a
/// live entitlement of that rule shape, with the amounts paid or payable). Any count below
/// `threshold` (and not 0) is suppressed, with complementary suppression in its column so that
/// no suppressed cell can be derived from the published cells and totals of any table (the rule
/// and why it holds: `report_compute::suppress_column`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disaggregation {
    pub threshold: u64,
    pub tables: Vec<DisaggregationTable>,
}

/// The body of a report, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ReportBody {
    Sf425(Sf425),
    Budget(BudgetReport),
    Payments(PaymentReconciliation),
    Bank(BankReconciliation),
    Participant(ParticipantStatement),
    Disaggregation(Disaggregation),
}

/// The basis every report states: figures by accounting date.
pub const BASIS: &str = "accounting_date";

/// A report: what, for which award and period, at which journal state, and its figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub award: Id,
    pub currency: String,
    pub period: ReportPeriod,
    /// How records are placed in the period: always `accounting_date` (each record that posts
    /// by its accounting date, not by when it was written; `period`).
    pub basis: String,
    pub generated_at: String,
    pub checkpoint: ReportCheckpoint,
    pub body: ReportBody,
}

/// A report with the ledger's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReport {
    pub report: Report,
    /// The ledger's vkey that signed it.
    pub key: String,
    /// Base64 Ed25519 signature over REPORT_DOMAIN ‖ canonical(report).
    pub signature: String,
}

/// The bytes a report signature covers.
pub fn signed_bytes(report: &Report) -> Vec<u8> {
    let value = serde_json::to_value(report).expect("reports are plain data");
    let mut out = REPORT_DOMAIN.as_bytes().to_vec();
    out.extend(canonical_bytes(&value).expect("reports are canonical JSON values"));
    out
}

impl SignedReport {
    /// Signs `report` with the ledger's checkpoint key.
    pub fn sign(report: Report, signer: &crate::note::NoteSigner) -> SignedReport {
        let sig = signer.sign_raw(&signed_bytes(&report));
        SignedReport {
            key: signer.verifier().to_vkey(),
            signature: B64.encode(sig.to_bytes()),
            report,
        }
    }

    /// Checks the signature against the trusted ledger key.
    pub fn verify_signature(&self, trusted: &NoteVerifier) -> Result<(), Invalid> {
        let bad = |detail: &str| Invalid::new("signature", Code::BadReportSignature, detail);
        if self.key != trusted.to_vkey() {
            return Err(Invalid::new(
                "key",
                Code::UnknownReportKey,
                "the report names another key than the trusted ledger key",
            ));
        }
        if self.report.checkpoint.origin != trusted.name() {
            return Err(Invalid::new(
                "report.checkpoint.origin",
                Code::OriginMismatch,
                "the report is for another ledger",
            ));
        }
        let raw = B64
            .decode(&self.signature)
            .map_err(|_| bad("the signature is not base64"))?;
        let sig = Signature::from_slice(&raw).map_err(|_| bad("not an Ed25519 signature"))?;
        trusted
            .verifying_key()
            .verify(&signed_bytes(&self.report), &sig)
            .map_err(|_| bad("the signature does not hold over the report's canonical content"))
    }
}

/// Where two reports' figures differ: the JSON paths of every leaf value that is not equal
/// (`body.line_10b.period`), for naming the figures a recomputation does not confirm.
pub fn differences(claimed: &serde_json::Value, recomputed: &serde_json::Value) -> Vec<String> {
    fn walk(path: String, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    match (x.get(k), y.get(k)) {
                        (Some(v), Some(w)) => walk(p, v, w, out),
                        _ => out.push(p),
                    }
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    walk(format!("{path}[{i}]"), v, w, out);
                }
            }
            _ if a == b => {}
            _ => out.push(path),
        }
    }
    let mut out = Vec::new();
    walk(String::new(), claimed, recomputed, &mut out);
    out
}
