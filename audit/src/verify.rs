//! The streaming offline verifier of a journal export: a directory holding `records.jsonl` (one
//! canonical record per line), `checkpoint` (the ledger's signed C2SP tlog-checkpoint) and
//! `ledger.vkey` (the checkpoint key, which an auditor should rather obtain out of band).
//!
//! It re-derives everything the ledger claims from the bytes alone: canonical encoding, the
//! gapless `seq`, the `prev` hash chain, non-decreasing time, the genesis key record, the
//! account lifecycle, double entry per transaction, and finally the RFC 6962 root, which must be
//! the one the ledger signed. It stops at the first failure and names the first record that is
//! wrong, so an auditor knows where to look.
//!
//! Programme records (awards, partners and their keys, cohorts, sessions, participants, signed
//! evidence, rule versions, entitlements and cycle runs) are checked by the `programme` module:
//! each body against its type's stateless rules, entitlements as transactions, and every
//! evidence signature against the partner key the journal says was valid at that record.
//!
//! Memory is not constant. It grows with the number of accounts, awards, partners and partner
//! keys; by one (partner, batch id) entry per evidence record, so that a batch cannot be
//! submitted twice; and by 4 bytes per record up to the last transaction (`tx_digests`, a keyed
//! digest of each transaction's postings, so that a reversal can be checked against its
//! original whenever it comes). The Merkle tree is kept as its right border
//! (`merkle::Frontier`) and the records are read one bounded line at a time. On a synthetic
//! 10,000,000-record export with a signed statement every 100 records that is about 51 MiB at
//! peak (`tranche-bench --verify-records 10000000`), most of it the digests.
//!
//! Speed: the generic decoder (`Record::decode`) parses into a `serde_json::Value` and
//! re-canonicalises it, which costs several microseconds a record. The `fast` module recognises
//! the canonical bytes of the record shapes this format version defines in one pass and defers
//! every other line to the generic decoder, which stays the reference: the fast path may only
//! accept what the generic one accepts, with the same values (a property test checks this).
//! It also reads `evidence` records whose body passes its stateless checks, borrowing every
//! field from the line: the signature is then verified over the statement's bytes as they stand
//! in the canonical line, which are its canonical encoding, instead of re-serialising it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::account::{AccountName, AccountType};
use crate::invalid::Invalid;
use crate::merkle::{leaf_hash, Frontier, Hash};
use crate::money::{format_minor, Currency, MAX_AMOUNT_MINOR};
use crate::note::{open_checkpoint, Checkpoint, NoteError, NoteVerifier, MAX_NOTE_BYTES};
use crate::posting::{check_balanced, Posting, Side, MAX_POSTINGS};
use crate::programme::EntitlementBody;
use crate::record::{
    body_from_value, canonical_bytes, format_time, kind, parse_time, AccountCloseBody,
    AccountOpenBody, LedgerKeyBody, LedgerRotateBody, PostingBody, Record, RecordError,
    TransactionBody, MAX_RECORD_BYTES, ZERO_HASH,
};

mod disburse;
mod fast;
mod programme;

use programme::{Programme, ProgrammeBody};

/// The records of an export, one canonical record per line, each line ending in `\n`.
pub const RECORDS_FILE: &str = "records.jsonl";
/// The signed checkpoint (C2SP signed note whose text is a tlog-checkpoint) over every record.
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// The ledger's checkpoint key in C2SP vkey form, as the export claims it.
pub const VKEY_FILE: &str = "ledger.vkey";

/// A vkey is a short line; anything longer is not one.
const MAX_VKEY_BYTES: u64 = 4096;
/// Large reads keep the disk streaming; one buffer is all the memory the records need.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// How often (in records) `verify_dir` reports progress.
const PROGRESS_EVERY_RECORDS: u64 = 1 << 14;

/// The stable codes of the rules the verifier applies. Posting and balance failures use the
/// codes of [`Invalid`] (`unbalanced`, `too_many_decimals`, `unknown_currency`, …) unchanged, and
/// so do the stateless checks of the programme bodies (`invalid_id`, `key_id_mismatch`,
/// `budget_does_not_add_up`, …; see `crate::programme`).
pub mod rule {
    /// A `ledger.rotate` record that is not a valid hand-over signed by the key in force.
    pub const BAD_ROTATION: &str = "bad_rotation";
    /// A checkpoint signed by a key the journal rotated away from.
    pub const RETIRED_KEY: &str = "retired_key";
    /// A line is longer than `record::MAX_RECORD_BYTES`.
    pub const RECORD_TOO_LARGE: &str = "record_too_large";
    /// A line is not JSON, or not a record (missing or mistyped field).
    pub const MALFORMED_RECORD: &str = "malformed_record";
    /// A line is a valid record but not in its RFC 8785 canonical form.
    pub const NON_CANONICAL: &str = "non_canonical";
    /// The last line does not end with a newline.
    pub const MISSING_NEWLINE: &str = "missing_newline";
    /// A record's `seq` is not its 0-based line number.
    pub const SEQ_GAP: &str = "seq_gap";
    /// Record k+1's `prev` is not the leaf hash of record k (reported at k), or record 0's `prev`
    /// is not 32 zero bytes (reported at 0).
    pub const PREV_MISMATCH: &str = "prev_mismatch";
    /// A record's `at` is earlier than its predecessor's.
    pub const TIME_WENT_BACKWARDS: &str = "time_went_backwards";
    /// Record 0 is not a `ledger.key` record.
    pub const MISSING_LEDGER_KEY: &str = "missing_ledger_key";
    /// A `ledger.key` record after record 0 (key rotation is not defined yet).
    pub const UNEXPECTED_LEDGER_KEY: &str = "unexpected_ledger_key";
    /// The genesis key is not the trusted checkpoint key.
    pub const WRONG_LEDGER_KEY: &str = "wrong_ledger_key";
    /// The genesis origin is not the checkpoint's origin (and key name).
    pub const ORIGIN_MISMATCH: &str = "origin_mismatch";
    /// A kind this format version does not define.
    pub const UNKNOWN_KIND: &str = "unknown_kind";
    /// A known kind whose body does not have that kind's shape.
    pub const INVALID_BODY: &str = "invalid_body";
    /// An account is opened a second time (names are never reused).
    pub const ACCOUNT_OPENED_TWICE: &str = "account_opened_twice";
    /// A posting or close names an account that was never opened.
    pub const UNKNOWN_ACCOUNT: &str = "unknown_account";
    /// A posting or close names an account that is closed.
    pub const ACCOUNT_CLOSED: &str = "account_closed";
    /// An account is closed with a non-zero balance in some currency.
    pub const ACCOUNT_NOT_EMPTY: &str = "account_not_empty";
    /// A transaction mixes memo (off-balance) and balance-sheet accounts.
    pub const MEMO_MIXED: &str = "memo_mixed";
    /// A transaction's `reverses` is not an earlier seq.
    pub const REVERSES_NOT_EARLIER: &str = "reverses_not_earlier";
    /// A reversal names a record that is not a transaction.
    pub const REVERSES_NOT_A_TRANSACTION: &str = "reverses_not_a_transaction";
    /// A reversal of a reversal (post the original again instead).
    pub const REVERSAL_OF_REVERSAL: &str = "reversal_of_reversal";
    /// A transaction reversed twice.
    pub const ALREADY_REVERSED: &str = "already_reversed";
    /// A reversal whose postings are not the original's with every side swapped.
    pub const NOT_A_MIRROR: &str = "not_a_mirror";
    /// The export holds more records than the checkpoint's tree size.
    pub const BEYOND_CHECKPOINT: &str = "beyond_checkpoint";
    /// The export holds fewer records than the checkpoint's tree size.
    pub const TRUNCATED: &str = "truncated";
    /// The records' Merkle root is not the checkpoint's root.
    pub const ROOT_MISMATCH: &str = "root_mismatch";
    /// The checkpoint is not signed by the trusted key.
    pub const BAD_CHECKPOINT_SIGNATURE: &str = "bad_checkpoint_signature";
    /// The checkpoint is not a well-formed signed tlog-checkpoint for the key's origin.
    pub const MALFORMED_CHECKPOINT: &str = "malformed_checkpoint";
    /// The ledger's checkpoint does not extend one it signed before (`monitor`): a smaller tree,
    /// another root at the same size, or no valid consistency proof.
    pub const FORK: &str = "fork";
    /// An award is opened a second time (award ids are never reused).
    pub const AWARD_OPENED_TWICE: &str = "award_opened_twice";
    /// A record names an award that no earlier `award.open` opened.
    pub const UNKNOWN_AWARD: &str = "unknown_award";
    /// A partner is registered a second time.
    pub const PARTNER_REGISTERED_TWICE: &str = "partner_registered_twice";
    /// A record names a partner that no earlier `partner.register` registered.
    pub const UNKNOWN_PARTNER: &str = "unknown_partner";
    /// A `partner.key` registers (or rotates in) a key id that is already registered.
    pub const KEY_REGISTERED_TWICE: &str = "key_registered_twice";
    /// A `partner.key` revokes or replaces a key id that was never registered.
    pub const UNKNOWN_KEY: &str = "unknown_key";
    /// A `partner.key` revokes or replaces a key registered to another partner.
    pub const KEY_OF_ANOTHER_PARTNER: &str = "key_of_another_partner";
    /// A `partner.key` revokes or replaces a key that is already revoked.
    pub const KEY_ALREADY_REVOKED: &str = "key_already_revoked";
    /// An evidence record names a key id that was never registered.
    pub const EVIDENCE_UNKNOWN_KEY: &str = "evidence_unknown_key";
    /// An evidence record names a key of another partner than the statement's.
    pub const EVIDENCE_WRONG_PARTNER_KEY: &str = "evidence_wrong_partner_key";
    /// An evidence record names a key revoked (or rotated out) before it.
    pub const EVIDENCE_KEY_REVOKED: &str = "evidence_key_revoked";
    /// An evidence signature does not verify with the key it names.
    pub const EVIDENCE_BAD_SIGNATURE: &str = "evidence_bad_signature";
    /// A partner submits a batch id it has used before.
    pub const DUPLICATE_BATCH: &str = "duplicate_batch";
    /// An entitlement cites an evidence seq that is not earlier than itself.
    pub const EVIDENCE_NOT_EARLIER: &str = "evidence_not_earlier";
    /// An entitlement adjusts a seq that is not earlier than itself.
    pub const ADJUSTS_NOT_EARLIER: &str = "adjusts_not_earlier";
    /// A `cycle.run`'s `report_sha256` is not 64 lowercase hex digits.
    pub const INVALID_DIGEST: &str = "invalid_digest";
    /// The SF-425 of a closed quarter, recomputed from the export, is not the one its
    /// `period.close` recorded.
    pub const CLOSED_REPORT_CHANGED: &str = "closed_report_changed";
    /// A `period.close` whose checkpoint is not the tree just before it.
    pub const CHECKPOINT_MISMATCH: &str = "checkpoint_mismatch";
}

/// Why an export is invalid: the first record that is wrong (`None` when the fault is not in a
/// record, such as a bad checkpoint signature), the rule it breaks, and an explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub seq: Option<u64>,
    /// A stable machine-readable code; see [`rule`].
    pub rule: &'static str,
    pub detail: String,
}

impl Failure {
    fn at(seq: u64, rule: &'static str, detail: impl Into<String>) -> Self {
        Failure {
            seq: Some(seq),
            rule,
            detail: detail.into(),
        }
    }

    fn global(rule: &'static str, detail: impl Into<String>) -> Self {
        Failure {
            seq: None,
            rule,
            detail: detail.into(),
        }
    }

    fn invalid(seq: u64, e: &Invalid) -> Self {
        let detail = if e.field.is_empty() {
            e.detail.clone()
        } else {
            format!("{}: {}", e.field, e.detail)
        };
        Failure::at(seq, e.code.as_str(), detail)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "at seq {seq}: {}: {}", self.rule, self.detail),
            None => write!(f, "{}: {}", self.rule, self.detail),
        }
    }
}

impl std::error::Error for Failure {}

/// The outcome of `verify_dir` when it is not a success.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The export was read and is wrong.
    #[error("the export is invalid {0}")]
    Invalid(Failure),
    /// The export (or the key) could not be read, so nothing was decided.
    #[error("could not read {what}: {detail}")]
    CouldNotRead { what: String, detail: String },
}

impl VerifyError {
    fn read(what: &Path, e: impl fmt::Display) -> Self {
        VerifyError::CouldNotRead {
            what: what.display().to_string(),
            detail: e.to_string(),
        }
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The log's origin (checkpoint origin, key name and genesis origin, all equal).
    pub origin: String,
    /// The checkpoint key every check was made against, in vkey form.
    pub vkey: String,
    /// Keys the journal used: the trusted one and each it was rotated to.
    pub ledger_keys: u64,
    /// The key in force at the end (the trusted one when never rotated).
    pub current_vkey: String,
    pub tree_size: u64,
    pub root: Hash,
    pub records: u64,
    /// Records of kind `transaction` (entitlements are counted apart).
    pub transactions: u64,
    /// Accounts ever opened.
    pub accounts: u64,
    pub accounts_closed: u64,
    /// Per currency, the total of the debit postings (minor units) of transactions and
    /// entitlements: the money moved.
    pub moved_minor: BTreeMap<Currency, i128>,
    /// Evidence records, each a statement signed by a partner key.
    pub evidence_statements: u64,
    /// The items of those statements.
    pub evidence_items: u64,
    /// Partner keys registered (by `register` or `rotate`), revoked ones included.
    pub partner_keys: u64,
    /// Entitlement records (reversals of entitlements included).
    pub entitlements: u64,
    /// Payment batches created, their payments, approvals given, bank files imported.
    pub batches: u64,
    pub payments: u64,
    pub approvals: u64,
    pub bank_imports: u64,
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    /// Every `period.close` in force (seq and body): `verify_dir` recomputes the SF-425 each
    /// names, and says so in `closes_recomputed`.
    pub closes: Vec<(u64, crate::period::PeriodCloseBody)>,
    pub closes_recomputed: bool,
}

impl Summary {
    /// The summary as JSON, amounts as decimal strings and hashes as base64 (as in checkpoints).
    pub fn to_json(&self) -> Value {
        use base64::Engine;
        let moved: serde_json::Map<String, Value> = self
            .moved_minor
            .iter()
            .map(|(c, m)| (c.code().to_string(), Value::from(format_minor(*m, *c))))
            .collect();
        serde_json::json!({
            "origin": self.origin,
            "vkey": self.vkey,
            "ledger_keys": self.ledger_keys,
            "current_vkey": self.current_vkey,
            "tree_size": self.tree_size,
            "root": base64::engine::general_purpose::STANDARD.encode(self.root),
            "records": self.records,
            "transactions": self.transactions,
            "accounts": self.accounts,
            "accounts_closed": self.accounts_closed,
            "moved": moved,
            "evidence_statements": self.evidence_statements,
            "evidence_items": self.evidence_items,
            "partner_keys": self.partner_keys,
            "entitlements": self.entitlements,
            "batches": self.batches,
            "payments": self.payments,
            "approvals": self.approvals,
            "bank_imports": self.bank_imports,
            "first_at": self.first_at.map(format_time),
            "last_at": self.last_at.map(format_time),
            "periods_closed": self.closes.iter().map(|(seq, c)| serde_json::json!({
                "seq": seq,
                "award": c.award,
                "quarter": c.quarter,
                "sf425": c.sf425,
            })).collect::<Vec<_>>(),
        })
    }
}

/// How far `verify_dir` has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub records: u64,
    pub bytes_read: u64,
    /// The size of `records.jsonl` when it was opened.
    pub bytes_total: u64,
}

/// Options of [`verify_dir`].
#[derive(Default)]
pub struct VerifyOptions<'a> {
    /// The checkpoint key the auditor trusts, obtained out of band. Without it the key is read
    /// from the export's own `ledger.vkey`, which proves that the export is consistent with
    /// itself, not that it comes from the ledger the auditor means.
    pub vkey: Option<NoteVerifier>,
    /// Called every few thousand records and once at the end.
    pub progress: Option<&'a mut dyn FnMut(Progress)>,
    /// Decode every record with the generic `Record::decode` only (slower): for cross-checking
    /// the fast decoder.
    pub reference_decoder: bool,
}

impl fmt::Debug for VerifyOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("vkey", &self.vkey.as_ref().map(NoteVerifier::to_vkey))
            .field("progress", &self.progress.is_some())
            .field("reference_decoder", &self.reference_decoder)
            .finish()
    }
}

/// Reads a vkey given either as a file or as the vkey text itself.
pub fn read_vkey(file_or_text: &str) -> Result<NoteVerifier, VerifyError> {
    let path = Path::new(file_or_text);
    if path.is_file() {
        return read_vkey_file(path);
    }
    NoteVerifier::parse(file_or_text).map_err(|e| VerifyError::CouldNotRead {
        what: "the verifier key".into(),
        detail: format!("{file_or_text:?} is neither a readable file nor a vkey: {e}"),
    })
}

fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, VerifyError> {
    let file = File::open(path).map_err(|e| VerifyError::read(path, e))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| VerifyError::read(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(VerifyError::read(
            path,
            format!("the file is larger than the {limit}-byte limit"),
        ));
    }
    Ok(bytes)
}

fn read_vkey_file(path: &Path) -> Result<NoteVerifier, VerifyError> {
    let bytes = read_limited(path, MAX_VKEY_BYTES)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| VerifyError::read(path, e))?;
    NoteVerifier::parse(text).map_err(|e| VerifyError::read(path, e))
}

/// Verifies the export in `dir`: `checkpoint` first (against the trusted key, or the export's
/// `ledger.vkey` when none is given), then every line of `records.jsonl` in one streaming pass.
pub fn verify_dir(dir: &Path, opts: VerifyOptions<'_>) -> Result<Summary, VerifyError> {
    let VerifyOptions {
        vkey,
        progress,
        reference_decoder,
    } = opts;
    let vkey = match vkey {
        Some(v) => v,
        None => read_vkey_file(&dir.join(VKEY_FILE))?,
    };
    let note_path = dir.join(CHECKPOINT_FILE);
    let note = read_limited(&note_path, MAX_NOTE_BYTES as u64)?;
    let note = String::from_utf8(note).map_err(|_| {
        VerifyError::Invalid(Failure::global(
            rule::MALFORMED_CHECKPOINT,
            "the checkpoint is not UTF-8 text",
        ))
    })?;
    let mut verifier = Verifier::new(&vkey, &note).map_err(VerifyError::Invalid)?;
    verifier.use_reference_decoder(reference_decoder);

    let records_path = dir.join(RECORDS_FILE);
    let file = File::open(&records_path).map_err(|e| VerifyError::read(&records_path, e))?;
    let bytes_total = file
        .metadata()
        .map_err(|e| VerifyError::read(&records_path, e))?
        .len();
    let summary = verify_stream(
        verifier,
        file,
        &records_path.display().to_string(),
        bytes_total,
        progress,
    )?;
    check_closed_reports(dir, &summary)?;
    Ok(Summary {
        closes_recomputed: true,
        ..summary
    })
}

/// Recomputes, from the export, the SF-425 of every closed quarter and compares it with the
/// digest its `period.close` recorded: nothing written after a close may change the report
/// submitted for it. One more pass over the records, whatever the number of closes.
fn check_closed_reports(dir: &Path, summary: &Summary) -> Result<(), VerifyError> {
    if summary.closes.is_empty() {
        return Ok(());
    }
    let requests: Vec<crate::report_compute::ReportRequest> = summary
        .closes
        .iter()
        .map(|(_, c)| crate::report_compute::ReportRequest::sf425(c))
        .collect();
    let bodies = crate::report_compute::many_from_export(dir, summary.tree_size, requests)
        .map_err(|e| VerifyError::Invalid(Failure::global(rule::CLOSED_REPORT_CHANGED, e)))?;
    for ((seq, close), body) in summary.closes.iter().zip(bodies) {
        let digest = crate::report_compute::body_digest(&body);
        if digest != close.sf425 {
            return Err(VerifyError::Invalid(Failure::at(
                *seq,
                rule::CLOSED_REPORT_CHANGED,
                format!(
                    "the SF-425 of {} for award {} recomputed from the export has digest {digest}, \
                     not the {} its close recorded: the closed quarter's figures changed",
                    close.quarter, close.award, close.sf425
                ),
            )));
        }
    }
    Ok(())
}

/// Feeds every line of `reader` (the records of an export: canonical records, each ending in
/// `\n`) to `verifier`, then finishes it. `source` names the reader in read errors and
/// `bytes_total` is passed on in [`Progress`] (0 when unknown). Memory stays constant whatever
/// the size of the stream: one bounded line at a time, so a file and an HTTP body are read the
/// same way.
pub fn verify_stream<R: Read>(
    mut verifier: Verifier,
    reader: R,
    source: &str,
    bytes_total: u64,
    mut progress: Option<&mut dyn FnMut(Progress)>,
) -> Result<Summary, VerifyError> {
    let read_error = |e: std::io::Error| VerifyError::CouldNotRead {
        what: source.to_string(),
        detail: e.to_string(),
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, reader);
    // A line may hold a record of MAX_RECORD_BYTES and its newline; reading one byte more than
    // that is enough to know a line is too long, without ever buffering an unbounded line.
    let line_limit = MAX_RECORD_BYTES as u64 + 2;
    let mut line: Vec<u8> = Vec::with_capacity(MAX_RECORD_BYTES + 2);
    let mut bytes_read = 0u64;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(line_limit)
            .read_until(b'\n', &mut line)
            .map_err(read_error)?;
        if n == 0 {
            break;
        }
        bytes_read += n as u64;
        let complete = line.last() == Some(&b'\n');
        if complete {
            line.pop();
        }
        verifier.push_line(&line).map_err(VerifyError::Invalid)?;
        if !complete {
            return Err(VerifyError::Invalid(Failure::at(
                verifier.records() - 1,
                rule::MISSING_NEWLINE,
                "the last line does not end with a newline: every record line, the last included, \
                 ends in \\n (was the file cut short while being copied?)",
            )));
        }
        if let Some(report) = progress.as_mut() {
            if verifier.records().is_multiple_of(PROGRESS_EVERY_RECORDS) {
                report(Progress {
                    records: verifier.records(),
                    bytes_read,
                    bytes_total,
                });
            }
        }
    }
    if let Some(report) = progress.as_mut() {
        report(Progress {
            records: verifier.records(),
            bytes_read,
            bytes_total,
        });
    }
    verifier.finish().map_err(VerifyError::Invalid)
}

/// A record as the checks see it, borrowed from the line when the fast decoder read it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View<'a> {
    seq: u64,
    prev: Hash,
    kind: Cow<'a, str>,
    /// Exactly as `record::format_time` writes it: fixed width, so byte order is time order.
    at: Cow<'a, str>,
    actor: Cow<'a, str>,
    body: Body<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body<'a> {
    LedgerKey {
        origin: Cow<'a, str>,
        vkey: Cow<'a, str>,
    },
    AccountOpen {
        name: Cow<'a, str>,
        account_type: AccountType,
        description: Option<Cow<'a, str>>,
    },
    /// The checkpoint key handed over to a new key.
    Rotate(LedgerRotateBody),
    AccountClose {
        name: Cow<'a, str>,
    },
    Transaction {
        accounting_date: Cow<'a, str>,
        memo: Cow<'a, str>,
        postings: Vec<PostingView<'a>>,
        prior_period: Option<crate::period::Quarter>,
        reverses: Option<u64>,
    },
    /// A transaction produced by a rule: checked as a transaction, plus its references.
    Entitlement(Box<EntitlementBody>),
    /// An `evidence` record the fast decoder read (the reference decoder reads it as
    /// `Programme`).
    Evidence(programme::SignedEvidence<'a>),
    /// Any other programme record (only the reference decoder reads these).
    Programme(Box<ProgrammeBody>),
    /// A disbursement record; `batch.send` and `bank.status` are also checked as transactions.
    Disburse(Box<disburse::DisburseBody>),
    /// A known kind whose body does not deserialize into that kind's body.
    Invalid(Invalid),
    /// A kind this format version does not define.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PostingView<'a> {
    account: Cow<'a, str>,
    currency: Cow<'a, str>,
    side: Side,
    amount: Cow<'a, str>,
}

impl<'a> PostingView<'a> {
    fn borrowed(p: &'a PostingBody) -> Self {
        PostingView {
            account: Cow::Borrowed(&p.account),
            currency: Cow::Borrowed(&p.currency),
            side: p.side,
            amount: Cow::Borrowed(&p.amount),
        }
    }

    fn to_body(&self) -> PostingBody {
        PostingBody {
            account: self.account.to_string(),
            currency: self.currency.to_string(),
            side: self.side,
            amount: self.amount.to_string(),
        }
    }
}

impl From<PostingBody> for PostingView<'static> {
    fn from(p: PostingBody) -> Self {
        PostingView {
            account: Cow::Owned(p.account),
            currency: Cow::Owned(p.currency),
            side: p.side,
            amount: Cow::Owned(p.amount),
        }
    }
}

/// The reference decoding of one line: `Record::decode`, then the kind's typed body.
fn reference_view(line: &[u8]) -> Result<View<'static>, (&'static str, String)> {
    let record = Record::decode(line).map_err(|e| decode_failure(line, e))?;
    let body = match record.kind.as_str() {
        kind::LEDGER_KEY => match body_from_value::<LedgerKeyBody>(&record.body) {
            Ok(b) => Body::LedgerKey {
                origin: Cow::Owned(b.origin),
                vkey: Cow::Owned(b.vkey),
            },
            Err(e) => Body::Invalid(e),
        },
        kind::LEDGER_ROTATE => match body_from_value::<LedgerRotateBody>(&record.body) {
            Ok(b) => Body::Rotate(b),
            Err(e) => Body::Invalid(e),
        },
        kind::ACCOUNT_OPEN => match body_from_value::<AccountOpenBody>(&record.body) {
            Ok(b) => Body::AccountOpen {
                name: Cow::Owned(b.name),
                account_type: b.account_type,
                description: b.description.map(Cow::Owned),
            },
            Err(e) => Body::Invalid(e),
        },
        kind::ACCOUNT_CLOSE => match body_from_value::<AccountCloseBody>(&record.body) {
            Ok(b) => Body::AccountClose {
                name: Cow::Owned(b.name),
            },
            Err(e) => Body::Invalid(e),
        },
        kind::TRANSACTION => match body_from_value::<TransactionBody>(&record.body) {
            Ok(b) => Body::Transaction {
                accounting_date: Cow::Owned(b.accounting_date.to_string()),
                memo: Cow::Owned(b.memo),
                postings: b.postings.into_iter().map(PostingView::from).collect(),
                prior_period: b.prior_period,
                reverses: b.reverses,
            },
            Err(e) => Body::Invalid(e),
        },
        kind::ENTITLEMENT => match body_from_value::<EntitlementBody>(&record.body) {
            Ok(b) => Body::Entitlement(Box::new(b)),
            Err(e) => Body::Invalid(e),
        },
        other => match programme::decode(other, &record.body) {
            Some(Ok(b)) => Body::Programme(Box::new(b)),
            Some(Err(e)) => Body::Invalid(e),
            None => match disburse::decode(other, &record.body) {
                Some(Ok(b)) => Body::Disburse(Box::new(b)),
                Some(Err(e)) => Body::Invalid(e),
                None => Body::Unknown,
            },
        },
    };
    Ok(View {
        seq: record.seq,
        prev: record.prev,
        kind: Cow::Owned(record.kind),
        at: Cow::Owned(format_time(record.at)),
        actor: Cow::Owned(record.actor),
        body,
    })
}

fn decode_failure(line: &[u8], e: RecordError) -> (&'static str, String) {
    match e {
        RecordError::TooLarge(n) => (
            rule::RECORD_TOO_LARGE,
            format!("the record is {n} bytes, over the {MAX_RECORD_BYTES}-byte limit"),
        ),
        RecordError::NotJson(why) => (
            rule::MALFORMED_RECORD,
            format!("the line is not valid JSON: {why}"),
        ),
        RecordError::NotCanonical => (rule::NON_CANONICAL, non_canonical_detail(line)),
        RecordError::Field { field, rule } => (
            rule::MALFORMED_RECORD,
            format!("record field {field}: {rule}"),
        ),
        RecordError::Encode(why) => (
            rule::MALFORMED_RECORD,
            format!("the record cannot be re-encoded: {why}"),
        ),
    }
}

/// Says where a valid but non-canonical line first departs from its canonical form.
fn non_canonical_detail(line: &[u8]) -> String {
    let canonical = serde_json::from_slice::<Value>(line)
        .ok()
        .and_then(|v| canonical_bytes(&v).ok());
    let base = "the line is a valid record but not its RFC 8785 canonical encoding (key order, \
                whitespace, string escapes or number form differ), so it is not the record the \
                ledger hashed";
    match canonical {
        Some(c) => {
            let at = line
                .iter()
                .zip(&c)
                .position(|(a, b)| a != b)
                .unwrap_or(line.len().min(c.len()));
            format!("{base}; the first difference is at byte {at}")
        }
        None => base.to_string(),
    }
}

#[derive(Debug)]
struct AccountState {
    account_type: AccountType,
    closed: bool,
    /// Debits minus credits per currency, in minor units.
    balances: Vec<(Currency, i128)>,
}

/// One posting after the per-posting checks.
#[derive(Debug, Clone, Copy)]
struct CheckedPosting {
    currency: Currency,
    minor: i64,
    side: Side,
    /// The account's type and whether it is closed; `None` when it was never opened.
    account: Option<(AccountType, bool)>,
}

/// The streaming verifier: feed it every line of the export in order (without the newline),
/// then call [`Verifier::finish`]. It can be fed from any reader.
pub struct Verifier {
    vkey: String,
    checkpoint: Checkpoint,
    /// The key checkpoints are signed with at this point of the journal: the trusted key, then
    /// each key a `ledger.rotate` record hands over to.
    current_key: NoteVerifier,
    /// The checkpoint note, when it was not signed by the trusted key: it must then be signed
    /// by the key in force at the end of the journal (after rotations).
    deferred_note: Option<String>,
    /// Seq of the last `ledger.rotate` record.
    rotated_at: Option<u64>,
    rotations: u64,
    /// Per seq, a keyed 32-bit digest of a transaction's postings with their sides swapped (0
    /// for other records): a later reversal must hash to it. The key is random per run, so no
    /// one can make a non-mirror collide on purpose.
    tx_digests: Vec<u32>,
    /// Per seq, the accounting date of a posting record as days since 0001-01-01 plus one (0
    /// for other records): a reversal or an adjustment is never dated before it.
    tx_dates: Vec<u32>,
    digest_key: std::collections::hash_map::RandomState,
    /// Seqs reversed, and seqs that are reversals.
    reversed: HashSet<u64>,
    reversals: HashSet<u64>,
    reference_decoder: bool,
    next_seq: u64,
    prev_leaf: Hash,
    frontier: Frontier,
    first_at: Option<String>,
    last_at: String,
    accounts: HashMap<Box<str>, AccountState>,
    accounts_closed: u64,
    transactions: u64,
    moved_minor: Vec<(Currency, i128)>,
    programme: Programme,
    disburse: disburse::Disburse,
    scratch: Vec<CheckedPosting>,
    failed: Option<Failure>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("origin", &self.checkpoint.origin)
            .field("checkpoint_size", &self.checkpoint.size)
            .field("records", &self.next_seq)
            .field("accounts", &self.accounts.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Opens the signed checkpoint with the trusted key (`note::open_checkpoint`).
pub fn open_trusted_checkpoint(note: &str, trusted: &NoteVerifier) -> Result<Checkpoint, Failure> {
    match open_checkpoint(note, trusted) {
        Ok(opened) => Ok(opened.checkpoint),
        Err(e @ (NoteError::NotSignedBy { .. } | NoteError::BadSignature { .. })) => {
            Err(Failure::global(
                rule::BAD_CHECKPOINT_SIGNATURE,
                format!(
                    "{e}: the checkpoint was not signed by the trusted key {}",
                    trusted.to_vkey()
                ),
            ))
        }
        Err(e) => Err(Failure::global(rule::MALFORMED_CHECKPOINT, e.to_string())),
    }
}

impl Verifier {
    /// Starts a verification against `checkpoint_note`, which must be signed by `trusted`. The
    /// checkpoint comes first so that a forged one is refused before any record is read, and so
    /// that a line beyond its tree size is refused as soon as it is seen.
    pub fn new(trusted: &NoteVerifier, checkpoint_note: &str) -> Result<Verifier, Failure> {
        // A checkpoint signed by another key of the same origin may be signed by a key the
        // journal rotated to: its signature is then checked at the end, with that key.
        let (checkpoint, deferred_note) = match open_checkpoint(checkpoint_note, trusted) {
            Err(NoteError::NotSignedBy { .. }) => {
                let unverified = crate::note::SignedNote::parse(checkpoint_note)
                    .ok()
                    .and_then(|n| Checkpoint::parse(&n.text).ok())
                    .filter(|c| c.origin == trusted.name());
                match unverified {
                    Some(c) => (c, Some(checkpoint_note.to_string())),
                    None => {
                        return Err(open_trusted_checkpoint(checkpoint_note, trusted)
                            .err()
                            .unwrap_or_else(|| {
                                Failure::global(
                                    rule::BAD_CHECKPOINT_SIGNATURE,
                                    "the checkpoint is not signed by the trusted key",
                                )
                            }))
                    }
                }
            }
            _ => (open_trusted_checkpoint(checkpoint_note, trusted)?, None),
        };
        Ok(Verifier {
            vkey: trusted.to_vkey(),
            checkpoint,
            current_key: trusted.clone(),
            deferred_note,
            rotated_at: None,
            rotations: 0,
            tx_digests: Vec::new(),
            tx_dates: Vec::new(),
            digest_key: std::collections::hash_map::RandomState::new(),
            reversed: HashSet::new(),
            reversals: HashSet::new(),
            reference_decoder: false,
            next_seq: 0,
            prev_leaf: ZERO_HASH,
            frontier: Frontier::new(),
            first_at: None,
            last_at: String::new(),
            accounts: HashMap::new(),
            accounts_closed: 0,
            transactions: 0,
            moved_minor: Vec::new(),
            programme: Programme::default(),
            disburse: disburse::Disburse::default(),
            scratch: Vec::new(),
            failed: None,
        })
    }

    /// Decode with the generic `Record::decode` only (slower), to cross-check the fast decoder.
    pub fn use_reference_decoder(&mut self, on: bool) {
        self.reference_decoder = on;
    }

    /// The verified checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// How many lines have been accepted so far.
    pub fn records(&self) -> u64 {
        self.next_seq
    }

    /// Checks the next line (its bytes without the trailing newline). After a failure every
    /// further call returns that same failure.
    pub fn push_line(&mut self, line: &[u8]) -> Result<(), Failure> {
        if let Some(f) = &self.failed {
            return Err(f.clone());
        }
        let result = self.push_inner(line);
        if let Err(f) = &result {
            self.failed = Some(f.clone());
        }
        result
    }

    fn push_inner(&mut self, line: &[u8]) -> Result<(), Failure> {
        let seq = self.next_seq;
        if seq >= self.checkpoint.size {
            let size = self.checkpoint.size;
            let covered = match size {
                0 => "no records".to_string(),
                1 => "1 record (seq 0)".to_string(),
                n => format!("{n} records (seq 0 to {})", n - 1),
            };
            return Err(Failure::at(
                size,
                rule::BEYOND_CHECKPOINT,
                format!(
                    "the signed checkpoint covers {covered}, but the export holds more: record \
                     {size} and any after it are not covered by any signature"
                ),
            ));
        }
        if line.len() > MAX_RECORD_BYTES {
            return Err(Failure::at(
                seq,
                rule::RECORD_TOO_LARGE,
                format!(
                    "the line is over the {MAX_RECORD_BYTES}-byte limit of a record (read {} bytes)",
                    line.len()
                ),
            ));
        }
        let fast = if self.reference_decoder {
            None
        } else {
            fast::parse(line).or_else(|| fast::parse_evidence(line))
        };
        let view = match fast {
            Some(v) => v,
            None => {
                reference_view(line).map_err(|(rule, detail)| Failure::at(seq, rule, detail))?
            }
        };
        if view.seq != seq {
            return Err(Failure::at(
                seq,
                rule::SEQ_GAP,
                format!(
                    "line {} must hold record seq {seq} (seq is gapless and 0-based), found seq {}",
                    seq + 1,
                    view.seq
                ),
            ));
        }
        if view.prev != self.prev_leaf {
            return Err(if seq == 0 {
                Failure::at(
                    0,
                    rule::PREV_MISMATCH,
                    format!(
                        "record 0 must have prev = 64 zeros, found {}",
                        hex::encode(view.prev)
                    ),
                )
            } else {
                Failure::at(
                    seq - 1,
                    rule::PREV_MISMATCH,
                    format!(
                        "record {} no longer hashes to what record {seq} committed to: its leaf \
                         hash is {}, record {seq} has prev {}; record {} was altered (or record \
                         {seq}'s prev was)",
                        seq - 1,
                        hex::encode(self.prev_leaf),
                        hex::encode(view.prev),
                        seq - 1
                    ),
                )
            });
        }
        if view.at.as_ref() < self.last_at.as_str() {
            return Err(Failure::at(
                seq,
                rule::TIME_WENT_BACKWARDS,
                format!(
                    "at {} is earlier than record {}'s at {}",
                    view.at,
                    seq - 1,
                    self.last_at
                ),
            ));
        }
        self.check_kind(seq, &view)?;

        let leaf = leaf_hash(line);
        self.frontier.push(leaf, |_, _| {});
        self.prev_leaf = leaf;
        self.last_at.clear();
        self.last_at.push_str(&view.at);
        if self.first_at.is_none() {
            self.first_at = Some(view.at.to_string());
        }
        self.next_seq += 1;
        Ok(())
    }

    fn check_kind(&mut self, seq: u64, view: &View<'_>) -> Result<(), Failure> {
        let is_key = view.kind == kind::LEDGER_KEY;
        if seq == 0 && !is_key {
            return Err(Failure::at(
                0,
                rule::MISSING_LEDGER_KEY,
                format!(
                    "record 0 must be a {:?} record naming the origin and the checkpoint key, \
                     found kind {:?}",
                    kind::LEDGER_KEY,
                    view.kind
                ),
            ));
        }
        if seq > 0 && is_key {
            return Err(Failure::at(
                seq,
                rule::UNEXPECTED_LEDGER_KEY,
                "only record 0 may be a ledger.key record in this format version",
            ));
        }
        match &view.body {
            Body::Unknown => Err(Failure::at(
                seq,
                rule::UNKNOWN_KIND,
                format!(
                    "kind {:?} is not defined by format version 1 (known kinds: {})",
                    view.kind,
                    kind::ALL.join(", ")
                ),
            )),
            Body::Invalid(e) => Err(Failure::invalid(seq, e)),
            Body::LedgerKey { origin, vkey } => self.check_ledger_key(origin, vkey),
            Body::Rotate(b) => self.rotate(seq, b),
            Body::AccountOpen {
                name, account_type, ..
            } => self.open_account(seq, name, *account_type),
            Body::AccountClose { name } => self.close_account(seq, name),
            Body::Transaction {
                accounting_date,
                postings,
                prior_period,
                reverses,
                ..
            } => {
                self.check_transaction(seq, postings, *reverses)?;
                let mut awards: Vec<&str> = postings
                    .iter()
                    .filter_map(|p| crate::period::award_of_account(&p.account))
                    .collect();
                awards.sort_unstable();
                awards.dedup();
                self.check_accounting_date(
                    seq,
                    &view.at,
                    accounting_date,
                    &awards,
                    *prior_period,
                    *reverses,
                )?;
                self.transactions += 1;
                Ok(())
            }
            Body::Entitlement(b) => {
                self.programme.check_entitlement(seq, b)?;
                let postings: Vec<PostingView<'_>> =
                    b.postings.iter().map(PostingView::borrowed).collect();
                self.check_transaction(seq, &postings, b.reverses)?;
                self.check_accounting_date(
                    seq,
                    &view.at,
                    &b.accounting_date.to_string(),
                    &[b.award.as_str()],
                    b.prior_period,
                    b.reverses.or(b.adjusts),
                )?;
                if let Some(original) = b.reverses {
                    // A paid entitlement is recovered, never reversed; a reversed one is no
                    // longer payable.
                    self.disburse.check_reversal(seq, original)?;
                    self.disburse.note_reversal(seq, original);
                }
                if let Some(original) = b.adjusts {
                    self.disburse.check_adjustment(seq, original)?;
                }
                self.programme.entitlements += 1;
                Ok(())
            }
            Body::Programme(b) => {
                if let ProgrammeBody::PeriodClose(c) = &**b {
                    // The report was computed at the tree just before the close.
                    let root = hex::encode(self.frontier.root());
                    if c.checkpoint.size != seq || c.checkpoint.root != root {
                        return Err(Failure::at(
                            seq,
                            rule::CHECKPOINT_MISMATCH,
                            format!(
                                "body.checkpoint: a close names the tree just before it (size {seq}, root {root}), not size {} root {}",
                                c.checkpoint.size, c.checkpoint.root
                            ),
                        ));
                    }
                }
                self.programme.check(seq, &view.at, &view.actor, b)
            }
            Body::Evidence(e) => self.programme.signed_evidence(seq, e),
            Body::Disburse(b) => {
                let currency = self.programme.award_currency(b.award_id());
                self.disburse.check(seq, &view.actor, b, currency)?;
                if let Some(postings) = b.postings() {
                    self.check_transaction(seq, &postings, None)?;
                }
                if let Some(date) = b.accounting_date() {
                    self.check_accounting_date(
                        seq,
                        &view.at,
                        &date,
                        &[b.award_id().as_str()],
                        None,
                        None,
                    )?;
                }
                Ok(())
            }
        }
    }

    fn check_ledger_key(&mut self, origin: &str, vkey: &str) -> Result<(), Failure> {
        if vkey != self.vkey && self.deferred_note.is_some() {
            // Another ledger altogether: neither its genesis nor its checkpoint is this key's.
            return Err(Failure::global(
                rule::BAD_CHECKPOINT_SIGNATURE,
                format!(
                    "the checkpoint is not signed by the trusted key {}, and the journal begins                      with another key ({vkey}): this is not the trusted ledger's export",
                    self.vkey
                ),
            ));
        }
        if vkey != self.vkey {
            return Err(Failure::at(
                0,
                rule::WRONG_LEDGER_KEY,
                format!(
                    "the genesis record names checkpoint key {vkey:?}, but the trusted key is {:?}",
                    self.vkey
                ),
            ));
        }
        if origin != self.checkpoint.origin {
            return Err(Failure::at(
                0,
                rule::ORIGIN_MISMATCH,
                format!(
                    "the genesis record names origin {origin:?}, but the checkpoint and its key \
                     are for {:?}",
                    self.checkpoint.origin
                ),
            ));
        }
        Ok(())
    }

    /// A `ledger.rotate` record: the key in force signs the hand-over to the new key, of the
    /// same origin; checkpoints from here on are signed by the new key.
    fn rotate(&mut self, seq: u64, b: &LedgerRotateBody) -> Result<(), Failure> {
        if b.origin != self.checkpoint.origin {
            return Err(Failure::at(
                seq,
                rule::ORIGIN_MISMATCH,
                format!("body.origin: the rotation is for origin {:?}", b.origin),
            ));
        }
        let new = NoteVerifier::parse(&b.vkey)
            .map_err(|e| Failure::at(seq, rule::BAD_ROTATION, format!("body.vkey: {e}")))?;
        if new.name() != b.origin {
            return Err(Failure::at(
                seq,
                rule::BAD_ROTATION,
                "body.vkey: the new key is named for another origin",
            ));
        }
        if new.to_vkey() == self.current_key.to_vkey() {
            return Err(Failure::at(
                seq,
                rule::BAD_ROTATION,
                "body.vkey: the new key is the key in force",
            ));
        }
        use base64::Engine;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&b.signature)
            .ok()
            .and_then(|v| <[u8; 64]>::try_from(v).ok())
            .ok_or_else(|| {
                Failure::at(
                    seq,
                    rule::BAD_ROTATION,
                    "body.signature: not a base64 Ed25519 signature",
                )
            })?;
        self.current_key
            .verifying_key()
            .verify_strict(
                &crate::record::rotation_message(&b.origin, &b.vkey),
                &ed25519_dalek::Signature::from_bytes(&sig),
            )
            .map_err(|_| {
                Failure::at(
                    seq,
                    rule::BAD_ROTATION,
                    format!(
                        "body.signature: the hand-over is not signed by the key in force ({})",
                        self.current_key.to_vkey()
                    ),
                )
            })?;
        self.current_key = new;
        self.rotated_at = Some(seq);
        self.rotations += 1;
        Ok(())
    }

    fn open_account(
        &mut self,
        seq: u64,
        name: &str,
        account_type: AccountType,
    ) -> Result<(), Failure> {
        AccountName::parse(name).map_err(|e| Failure::invalid(seq, &e.within("body.name")))?;
        if self.accounts.contains_key(name) {
            return Err(Failure::at(
                seq,
                rule::ACCOUNT_OPENED_TWICE,
                format!("account {name:?} was already opened; an account name is never reused"),
            ));
        }
        self.accounts.insert(
            name.into(),
            AccountState {
                account_type,
                closed: false,
                balances: Vec::new(),
            },
        );
        Ok(())
    }

    fn close_account(&mut self, seq: u64, name: &str) -> Result<(), Failure> {
        AccountName::parse(name).map_err(|e| Failure::invalid(seq, &e.within("body.name")))?;
        let Some(account) = self.accounts.get_mut(name) else {
            return Err(Failure::at(
                seq,
                rule::UNKNOWN_ACCOUNT,
                format!("body.name: account {name:?} was never opened"),
            ));
        };
        if account.closed {
            return Err(Failure::at(
                seq,
                rule::ACCOUNT_CLOSED,
                format!("body.name: account {name:?} is already closed"),
            ));
        }
        let left: Vec<String> = account
            .balances
            .iter()
            .filter(|(_, b)| *b != 0)
            .map(|(c, b)| format!("{c} {}", format_minor(*b, *c)))
            .collect();
        if !left.is_empty() {
            return Err(Failure::at(
                seq,
                rule::ACCOUNT_NOT_EMPTY,
                format!(
                    "account {name:?} cannot be closed with a balance (debits minus credits): {}",
                    left.join(", ")
                ),
            ));
        }
        account.closed = true;
        self.accounts_closed += 1;
        Ok(())
    }

    /// The rules of `transaction` (and of an entitlement's postings), in this order: each posting
    /// is well formed (as `PostingBody::to_posting(true)` decides), the postings balance
    /// (`check_balanced`), every account is open, memo and balance-sheet accounts are not mixed,
    /// `reverses` is earlier. It does not count the record: the caller does.
    /// The common case is decided without allocating; whenever it finds a fault, the reference
    /// functions are run to report it exactly as the ledger would.
    fn check_transaction(
        &mut self,
        seq: u64,
        postings: &[PostingView<'_>],
        reverses: Option<u64>,
    ) -> Result<(), Failure> {
        let mut checked = std::mem::take(&mut self.scratch);
        checked.clear();
        let mut result = self.check_transaction_into(seq, postings, reverses, &mut checked);
        if result.is_ok() {
            result = self.check_mirror(seq, postings, &checked, reverses);
        }
        if result.is_ok() {
            for (p, c) in postings.iter().zip(&checked) {
                let account = self
                    .accounts
                    .get_mut(p.account.as_ref())
                    .expect("every posting's account was found open above");
                let signed = match c.side {
                    Side::Debit => i128::from(c.minor),
                    Side::Credit => -i128::from(c.minor),
                };
                match account
                    .balances
                    .iter_mut()
                    .find(|(cur, _)| *cur == c.currency)
                {
                    Some((_, b)) => *b += signed,
                    None => account.balances.push((c.currency, signed)),
                }
                if c.side == Side::Debit {
                    match self
                        .moved_minor
                        .iter_mut()
                        .find(|(cur, _)| *cur == c.currency)
                    {
                        Some((_, m)) => *m += i128::from(c.minor),
                        None => self.moved_minor.push((c.currency, i128::from(c.minor))),
                    }
                }
            }
        }
        self.scratch = checked;
        result
    }

    fn check_transaction_into(
        &self,
        seq: u64,
        postings: &[PostingView<'_>],
        reverses: Option<u64>,
        checked: &mut Vec<CheckedPosting>,
    ) -> Result<(), Failure> {
        for (i, p) in postings.iter().enumerate() {
            let account = self
                .accounts
                .get(p.account.as_ref())
                .map(|a| (a.account_type, a.closed));
            // An account in the map had its name validated when it was opened.
            let fast = account
                .and_then(|_| Currency::parse(&p.currency).ok())
                .and_then(|c| canonical_minor(&p.amount, c).map(|m| (c, m)));
            let (currency, minor) = match fast {
                Some(cm) => cm,
                None => match p.to_body().to_posting(true) {
                    Ok(posting) => (posting.money.currency(), posting.money.minor()),
                    Err(e) => {
                        return Err(Failure::invalid(
                            seq,
                            &e.within(&format!("body.postings[{i}]")),
                        ))
                    }
                },
            };
            checked.push(CheckedPosting {
                currency,
                minor,
                side: p.side,
                account,
            });
        }
        if !balanced(checked) {
            let typed: Vec<Posting> = postings
                .iter()
                .map(|p| p.to_body().to_posting(true))
                .collect::<Result<_, _>>()
                .map_err(|e| Failure::invalid(seq, &e.within("body.postings")))?;
            check_balanced(&typed).map_err(|e| Failure::invalid(seq, &e.within("body")))?;
        }
        for (i, (p, c)) in postings.iter().zip(checked.iter()).enumerate() {
            match c.account {
                None => {
                    return Err(Failure::at(
                        seq,
                        rule::UNKNOWN_ACCOUNT,
                        format!(
                            "body.postings[{i}].account: account {:?} was never opened",
                            p.account
                        ),
                    ))
                }
                Some((_, true)) => {
                    return Err(Failure::at(
                        seq,
                        rule::ACCOUNT_CLOSED,
                        format!(
                            "body.postings[{i}].account: account {:?} is closed",
                            p.account
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        let is_memo = |c: &CheckedPosting| c.account.is_some_and(|(t, _)| t.is_memo());
        if checked.iter().any(is_memo) && !checked.iter().all(is_memo) {
            return Err(Failure::at(
                seq,
                rule::MEMO_MIXED,
                "body.postings: memo (off-balance) accounts and balance-sheet accounts never \
                 share a transaction",
            ));
        }
        if let Some(r) = reverses {
            if r >= seq {
                return Err(Failure::at(
                    seq,
                    rule::REVERSES_NOT_EARLIER,
                    format!("body.reverses: {r} is not an earlier record (this record is {seq})"),
                ));
            }
        }
        Ok(())
    }

    /// A multiset digest of postings (order does not matter), sides swapped when `flip`.
    fn postings_digest(
        &self,
        postings: &[PostingView<'_>],
        checked: &[CheckedPosting],
        flip: bool,
    ) -> u32 {
        use std::hash::BuildHasher;
        let mut sum = 0u64;
        for (p, c) in postings.iter().zip(checked) {
            let side = if flip { c.side.opposite() } else { c.side };
            let h = self.digest_key.hash_one((
                p.account.as_ref(),
                c.currency.code(),
                side.as_str(),
                c.minor,
            ));
            sum = sum.wrapping_add(h);
        }
        ((sum >> 32) as u32 ^ sum as u32) | 1
    }

    /// The rules of a posting record's accounting date (`period::check_date`, for each award
    /// whose accounts it moves), of the closed quarter it cites, and of a reversal or an
    /// adjustment, which is never dated before what it corrects. Keeps the date for later
    /// reversals.
    fn check_accounting_date(
        &mut self,
        seq: u64,
        at: &str,
        date: &str,
        awards: &[&str],
        prior_period: Option<crate::period::Quarter>,
        corrects: Option<u64>,
    ) -> Result<(), Failure> {
        let field = "body.accounting_date";
        let day = crate::period::parse_accounting_date(date, field)
            .map_err(|e| Failure::invalid(seq, &e))?;
        let at = crate::record::parse_time(at).unwrap_or_default();
        let mut checked_any = false;
        for award in awards {
            if let Some((body, periods)) = self.programme.dated(award) {
                let today = crate::period::local_date(Some(body), at);
                crate::period::check_date(field, day, today, Some((body, periods)))
                    .map_err(|e| Failure::invalid(seq, &e))?;
                if let Some(q) = prior_period {
                    crate::period::check_prior_period(q, day, &body.award, periods)
                        .map_err(|e| Failure::invalid(seq, &e.within("body")))?;
                }
                checked_any = true;
            }
        }
        if !checked_any {
            let today = crate::period::local_date(None, at);
            crate::period::check_date(field, day, today, None)
                .map_err(|e| Failure::invalid(seq, &e))?;
            if prior_period.is_some() {
                return Err(Failure::invalid(
                    seq,
                    &Invalid::new(
                        "body.prior_period",
                        crate::Code::PeriodNotClosed,
                        "only a record of an award can cite one of its closed quarters",
                    ),
                ));
            }
        }
        let days = day_number(day);
        if let Some(original) = corrects {
            let before = self.tx_dates.get(original as usize).copied().unwrap_or(0);
            if before != 0 && days < before {
                return Err(Failure::invalid(
                    seq,
                    &Invalid::new(
                        field,
                        crate::Code::DateBeforeOriginal,
                        format!("{day} is before the accounting date of seq {original}, which it corrects"),
                    ),
                ));
            }
        }
        if self.tx_dates.len() <= seq as usize {
            self.tx_dates.resize(seq as usize + 1, 0);
        }
        self.tx_dates[seq as usize] = days;
        Ok(())
    }

    /// Keeps this transaction's digest, and checks a reversal against its original: it must
    /// name an earlier transaction, not itself a reversal, not reversed already, with exactly
    /// its postings with every side swapped.
    fn check_mirror(
        &mut self,
        seq: u64,
        postings: &[PostingView<'_>],
        checked: &[CheckedPosting],
        reverses: Option<u64>,
    ) -> Result<(), Failure> {
        if let Some(r) = reverses {
            let original = self.tx_digests.get(r as usize).copied().unwrap_or(0);
            if original == 0 {
                return Err(Failure::at(
                    seq,
                    rule::REVERSES_NOT_A_TRANSACTION,
                    format!("body.reverses: seq {r} is not a transaction"),
                ));
            }
            if self.reversals.contains(&r) {
                return Err(Failure::at(
                    seq,
                    rule::REVERSAL_OF_REVERSAL,
                    format!("body.reverses: seq {r} is itself a reversal"),
                ));
            }
            if self.reversed.contains(&r) {
                return Err(Failure::at(
                    seq,
                    rule::ALREADY_REVERSED,
                    format!("body.reverses: seq {r} was already reversed"),
                ));
            }
            if self.postings_digest(postings, checked, false) != original {
                return Err(Failure::at(
                    seq,
                    rule::NOT_A_MIRROR,
                    format!(
                        "postings: a reversal must hold exactly the postings of seq {r} with debit and credit swapped"
                    ),
                ));
            }
            self.reversed.insert(r);
            self.reversals.insert(seq);
        }
        let digest = self.postings_digest(postings, checked, true);
        if self.tx_digests.len() <= seq as usize {
            self.tx_digests.resize(seq as usize + 1, 0);
        }
        self.tx_digests[seq as usize] = digest;
        Ok(())
    }

    /// Ends the verification: the records must be exactly the checkpoint's tree, with its root.
    pub fn finish(self) -> Result<Summary, Failure> {
        if let Some(f) = self.failed {
            return Err(f);
        }
        let size = self.checkpoint.size;
        if self.next_seq < size {
            return Err(Failure::at(
                self.next_seq,
                rule::TRUNCATED,
                format!(
                    "the signed checkpoint covers {size} records but the export ends after {}: \
                     record {} is missing",
                    self.next_seq, self.next_seq
                ),
            ));
        }
        let root = self.frontier.root();
        if root != self.checkpoint.root {
            let detail = format!(
                "the records' Merkle root is {} but the checkpoint signed {}; the hash chain is \
                 intact up to here, so only the last record (or the checkpoint itself) can differ \
                 from what was signed",
                hex::encode(root),
                hex::encode(self.checkpoint.root)
            );
            return Err(if size == 0 {
                Failure::global(rule::ROOT_MISMATCH, detail)
            } else {
                Failure::at(size - 1, rule::ROOT_MISMATCH, detail)
            });
        }
        match (&self.deferred_note, self.rotated_at) {
            (Some(note), _) => {
                if open_checkpoint(note, &self.current_key).is_err() {
                    return Err(Failure::global(
                        rule::BAD_CHECKPOINT_SIGNATURE,
                        format!(
                            "the checkpoint is signed neither by the trusted key {} nor by the                              key in force at the end of the journal ({}, after {} rotation(s))",
                            self.vkey,
                            self.current_key.to_vkey(),
                            self.rotations
                        ),
                    ));
                }
            }
            (None, Some(at)) => {
                return Err(Failure::global(
                    rule::RETIRED_KEY,
                    format!(
                        "the checkpoint is signed by the trusted key, which the journal retired at                          seq {at}: checkpoints after it must be signed by {}",
                        self.current_key.to_vkey()
                    ),
                ));
            }
            (None, None) => {}
        }
        Ok(Summary {
            origin: self.checkpoint.origin.clone(),
            ledger_keys: self.rotations + 1,
            current_vkey: self.current_key.to_vkey(),
            vkey: self.vkey,
            tree_size: size,
            root,
            records: self.next_seq,
            transactions: self.transactions,
            accounts: self.accounts.len() as u64,
            accounts_closed: self.accounts_closed,
            moved_minor: self.moved_minor.into_iter().collect(),
            evidence_statements: self.programme.evidence_statements,
            evidence_items: self.programme.evidence_items,
            partner_keys: self.programme.partner_keys,
            entitlements: self.programme.entitlements,
            batches: self.disburse.batch_count,
            payments: self.disburse.payments,
            approvals: self.disburse.approvals,
            bank_imports: self.disburse.bank_imports,
            first_at: self.first_at.as_deref().and_then(parse_time),
            last_at: parse_time(&self.last_at),
            closes: self.programme.closes,
            closes_recomputed: false,
        })
    }
}

/// A date as a small positive number (0 means "none").
fn day_number(d: chrono::NaiveDate) -> u32 {
    use chrono::Datelike;
    u32::try_from(d.num_days_from_ce()).unwrap_or(0).max(1)
}

/// True when every currency's debits equal its credits and the posting count is within the
/// limits: the verdict of `posting::check_balanced`, without building postings.
fn balanced(checked: &[CheckedPosting]) -> bool {
    if checked.len() < 2 || checked.len() > MAX_POSTINGS {
        return false;
    }
    let mut net: [(Option<Currency>, i128); 4] = [(None, 0); 4];
    let mut overflow: Vec<(Currency, i128)> = Vec::new();
    for c in checked {
        let signed = match c.side {
            Side::Debit => i128::from(c.minor),
            Side::Credit => -i128::from(c.minor),
        };
        if let Some(slot) = net
            .iter_mut()
            .find(|(cur, _)| cur.is_none() || *cur == Some(c.currency))
        {
            slot.0 = Some(c.currency);
            slot.1 += signed;
            continue;
        }
        match overflow.iter_mut().find(|(cur, _)| *cur == c.currency) {
            Some((_, n)) => *n += signed,
            None => overflow.push((c.currency, signed)),
        }
    }
    net.iter().all(|(_, n)| *n == 0) && overflow.iter().all(|(_, n)| *n == 0)
}

/// The amount in minor units when `text` is exactly how a record writes a positive amount of
/// `currency` (what `PostingBody::to_posting(true)` accepts); `None` otherwise, including for
/// forms this shortcut does not try to judge, which then go to the reference path.
fn canonical_minor(text: &str, currency: Currency) -> Option<i64> {
    let b = text.as_bytes();
    let scale = currency.minor_units() as usize;
    let (int, frac) = if scale == 0 {
        (b, &b[..0])
    } else {
        let dot = b.len().checked_sub(scale + 1)?;
        if b[dot] != b'.' {
            return None;
        }
        (&b[..dot], &b[dot + 1..])
    };
    if int.is_empty() || int.len() > 18 || (int.len() > 1 && int[0] == b'0') {
        return None;
    }
    let mut minor: u64 = 0;
    for &d in int.iter().chain(frac) {
        if !d.is_ascii_digit() {
            return None;
        }
        minor = minor.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    let minor = i64::try_from(minor).ok()?;
    (minor > 0 && minor <= MAX_AMOUNT_MINOR).then_some(minor)
}

#[cfg(test)]
mod disburse_tests;
#[cfg(test)]
mod evidence_tests;
#[cfg(test)]
mod programme_tests;
#[cfg(test)]
mod rotation_tests;
#[cfg(test)]
mod tests;
