//! Synthetic journal exports, for tests and benchmarks only.
//!
//! [`write_export`] writes a valid export of any size, deterministically (the same size always
//! gives the same bytes) and in constant memory: a genesis `ledger.key`, a few `account.open`,
//! then two-posting USD transactions that follow a disbursement's path (drawdown, entitlement,
//! batch sent, bank confirmation) plus memo obligations, each about 400 bytes. It is signed with
//! [`signer`], a key derived from a public constant: it must never sign anything real.
//!
//! With a [`Shape`] that asks for them ([`write_export_with`], [`lines_with`]), the journal also
//! registers a training partner and its Ed25519 key ([`partner_signer`], derived from a public
//! constant too) and carries, every `evidence_every` records, a signed `evidence` statement of
//! attendance items, exactly as a partner submits it: so the verifier's signature checks can be
//! measured. The default shape has none, and keeps the bytes the tests were written against.
//!
//! [`write_records`] and [`write_lines`] write an export from given records or lines, re-signing
//! the checkpoint: that is what a dishonest operator holding the key could do, and what the
//! tamper tests do. [`measure`] times the verifier over an export.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::account::AccountType;
use crate::merkle::{leaf_hash, Frontier, Hash};
use crate::note::{Checkpoint, NoteSigner, NoteVerifier};
use crate::programme::{
    partner_key_id, public_key_text, EvidenceItem, Id, KeyAction, PartnerKeyBody,
    PartnerRegisterBody, Presence, Statement, MAX_STATEMENT_ITEMS,
};
use crate::record::{format_time, kind, Record, ZERO_HASH};
use crate::verify::{self, VerifyError, VerifyOptions, CHECKPOINT_FILE, RECORDS_FILE, VKEY_FILE};

/// The origin (and key name) of synthetic exports.
pub const ORIGIN: &str = "tranche.example/synth";

/// Microseconds between two synthetic records (plus a deterministic jitter below it).
const STEP_MICROS: i64 = 250_000;

/// The accounts a synthetic export opens, in order.
pub const ACCOUNTS: &[(&str, AccountType)] = &[
    ("bank:usd", AccountType::Asset),
    ("fund:SPRMCO26CA0001", AccountType::Equity),
    ("expense:c4t-stipend", AccountType::Expense),
    ("payable:participants", AccountType::Liability),
    ("payments-in-transit", AccountType::Asset),
    ("memo:obligations", AccountType::Memo),
    ("memo:obligations-contra", AccountType::Memo),
];

/// The partner whose signed statements a synthetic export with evidence carries.
pub const PARTNER: &str = "synth-partner";

/// What a synthetic export holds besides its transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// One signed `evidence` statement every this many records (0: none, the default). The
    /// partner and its key are then registered right after the accounts.
    pub evidence_every: u64,
    /// Attendance items in each statement (1 to `MAX_STATEMENT_ITEMS`).
    pub items_per_statement: usize,
}

impl Shape {
    /// A cohort of 25 participants' attendance at one session, one statement every 100
    /// records: what a training programme's journal looks like.
    pub const WITH_EVIDENCE: Shape = Shape {
        evidence_every: 100,
        items_per_statement: 25,
    };

    fn has_evidence(&self) -> bool {
        self.evidence_every > 0
    }

    /// The records before the first transaction: genesis, accounts, and the partner's two.
    fn setup_records(&self) -> u64 {
        1 + ACCOUNTS.len() as u64 + if self.has_evidence() { 2 } else { 0 }
    }

    /// True when record `seq` is a signed statement.
    fn is_evidence(&self, seq: u64) -> bool {
        self.has_evidence()
            && seq >= self.setup_records()
            && seq.is_multiple_of(self.evidence_every)
    }

    /// How many of the first `records` records are signed statements.
    pub fn statements_in(&self, records: u64) -> u64 {
        if !self.has_evidence() || records <= self.setup_records() {
            return 0;
        }
        let every = self.evidence_every;
        // Multiples of `every` in [setup, records).
        let below = |n: u64| n.div_ceil(every);
        below(records) - below(self.setup_records())
    }
}

/// The synthetic partner's signing key: derived from a public constant, so anyone can forge
/// with it.
pub fn partner_signer() -> ed25519_dalek::SigningKey {
    let seed: [u8; 32] = Sha256::digest(b"tranche synthetic partner key: for tests only").into();
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

/// The synthetic ledger key: derived from a public constant, so anyone can forge with it.
pub fn signer() -> NoteSigner {
    let seed: [u8; 32] = Sha256::digest(b"tranche synthetic export key: for tests only").into();
    NoteSigner::from_seed(ORIGIN, seed).expect("the synthetic origin is a valid key name")
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportInfo {
    pub records: u64,
    /// Size of `records.jsonl`.
    pub bytes: u64,
    pub checkpoint: Checkpoint,
    pub vkey: String,
}

fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T08:00:00Z")
        .expect("a valid constant time")
        .with_timezone(&Utc)
}

/// splitmix64: a tiny deterministic generator, so that exports are reproducible everywhere.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The canonical lines (without newline) of the synthetic journal of `records` records, one
/// at a time.
#[derive(Debug)]
pub struct Lines {
    total: u64,
    next: u64,
    prev: Hash,
    vkey: String,
    start: DateTime<Utc>,
    shape: Shape,
    /// The partner's key, when the shape has evidence.
    partner: Option<ed25519_dalek::SigningKey>,
}

/// The lines of the synthetic journal of `records` records, signed by [`signer`].
pub fn lines(records: u64) -> Lines {
    lines_with(records, Shape::default())
}

/// The lines of the synthetic journal of `records` records of `shape`.
pub fn lines_with(records: u64, shape: Shape) -> Lines {
    assert!(
        !shape.has_evidence() || (1..=MAX_STATEMENT_ITEMS).contains(&shape.items_per_statement),
        "a statement holds 1 to {MAX_STATEMENT_ITEMS} items"
    );
    Lines {
        total: records,
        next: 0,
        prev: ZERO_HASH,
        vkey: signer().verifier().to_vkey(),
        start: start_time(),
        shape,
        partner: shape.has_evidence().then(partner_signer),
    }
}

impl Lines {
    fn at(&self, seq: u64) -> DateTime<Utc> {
        let jitter = (mix(seq) % 1000) as i64;
        let micros = seq as i64 * STEP_MICROS + jitter;
        self.start + chrono::Duration::microseconds(micros)
    }

    fn record(&self, seq: u64, kind: &str, actor: &str, body: serde_json::Value) -> Vec<u8> {
        let record = Record {
            seq,
            prev: self.prev,
            kind: kind.to_string(),
            at: self.at(seq),
            actor: actor.to_string(),
            body,
        };
        record.encode().expect("synthetic records are small")
    }

    /// `partner.register` (`first` true) or the `partner.key` that registers its key.
    fn partner_record(&self, seq: u64, key: &ed25519_dalek::SigningKey, first: bool) -> Vec<u8> {
        let partner = Id::parse(PARTNER).expect("a valid constant id");
        let body = if first {
            serde_json::to_value(PartnerRegisterBody {
                partner,
                name: "Synthetic training partner".into(),
            })
        } else {
            serde_json::to_value(PartnerKeyBody {
                partner,
                action: KeyAction::Register,
                key_id: partner_key_id(&key.verifying_key()),
                public_key: Some(public_key_text(&key.verifying_key())),
                replaces: None,
            })
        };
        let kind = if first {
            kind::PARTNER_REGISTER
        } else {
            kind::PARTNER_KEY
        };
        self.record(
            seq,
            kind,
            "admin:setup",
            body.expect("a body is plain data"),
        )
    }

    /// A statement of one session's attendance by a cohort, signed by the partner's key.
    fn evidence(&self, seq: u64, key: &ed25519_dalek::SigningKey) -> Vec<u8> {
        let n = seq / self.shape.evidence_every;
        let r = mix(seq ^ 0xE71D);
        let cohort = r % 400;
        let session = Id::parse(&format!("S-{cohort:03}-{:02}", (n % 20) + 1)).expect("a valid id");
        let items = (0..self.shape.items_per_statement as u64)
            .map(|i| EvidenceItem::Attendance {
                participant: Id::parse(&format!("P-{:06}", (cohort * 250 + i) % 100_000))
                    .expect("a valid id"),
                session: session.clone(),
                status: if mix(seq ^ i).is_multiple_of(10) {
                    Presence::Absent
                } else {
                    Presence::Present
                },
            })
            .collect();
        let statement = Statement {
            partner: Id::parse(PARTNER).expect("a valid constant id"),
            batch_id: Id::parse(&format!("B-{n:010}")).expect("a valid id"),
            items,
            submitted_at: self.at(seq).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        };
        let body = serde_json::to_value(statement.sign(key)).expect("a body is plain data");
        self.record(seq, kind::EVIDENCE, "partner:synth-partner", body)
    }

    /// A transaction written directly in canonical form (the tests check it against
    /// `Record::encode`): the generic encoder would make writing a large export slow.
    fn transaction(&self, seq: u64) -> Vec<u8> {
        let t = seq - 1 - ACCOUNTS.len() as u64;
        let r = mix(seq ^ 0x5EED);
        let participant = r % 100_000;
        let cohort = (r >> 20) % 40 + 1;
        let month = (t / 20_000) % 12 + 1;
        let sessions = 16 + (r >> 32) % 5;
        let stipend = [6000u64, 5400, 4800, 4500, 3600][((r >> 40) % 5) as usize];
        let step = t % 5;
        let (debit, credit, minor, memo) = match step {
            0 => (
                ACCOUNTS[0].0,
                ACCOUNTS[1].0,
                stipend * 50,
                format!("Drawdown DR-{t:08} cohort CAM-{cohort:02}"),
            ),
            1 => (
                ACCOUNTS[2].0,
                ACCOUNTS[3].0,
                stipend,
                format!("Stipend 2026-{month:02} P-{participant:06} {sessions}/20"),
            ),
            2 => (
                ACCOUNTS[3].0,
                ACCOUNTS[4].0,
                stipend,
                format!("Batch B-{:06} P-{participant:06}", t / 500),
            ),
            3 => (
                ACCOUNTS[4].0,
                ACCOUNTS[0].0,
                stipend,
                format!("Bank confirmation BC-{t:08}"),
            ),
            _ => (
                ACCOUNTS[5].0,
                ACCOUNTS[6].0,
                80_000,
                format!("Seed capital P-{participant:06}"),
            ),
        };
        let amount = format!("{}.{:02}", minor / 100, minor % 100);
        let actor = if step == 0 {
            "finance:treasury"
        } else {
            "finance:preparer-01"
        };
        format!(
            concat!(
                r#"{{"actor":"{actor}","at":"{at}","body":{{"accounting_date":"{date}","memo":"{memo}","postings":["#,
                r#"{{"account":"{debit}","amount":"{amount}","currency":"USD","side":"debit"}},"#,
                r#"{{"account":"{credit}","amount":"{amount}","currency":"USD","side":"credit"}}]}},"#,
                r#""kind":"transaction","prev":"{prev}","seq":{seq},"v":1}}"#
            ),
            actor = actor,
            at = format_time(self.at(seq)),
            date = self.at(seq).format("%Y-%m-%d"),
            memo = memo,
            debit = debit,
            credit = credit,
            amount = amount,
            prev = hex::encode(self.prev),
            seq = seq,
        )
        .into_bytes()
    }
}

impl Iterator for Lines {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.next >= self.total {
            return None;
        }
        let seq = self.next;
        let line = if seq == 0 {
            let body = serde_json::json!({ "origin": ORIGIN, "vkey": self.vkey });
            self.record(seq, kind::LEDGER_KEY, "ledger", body)
        } else if seq <= ACCOUNTS.len() as u64 {
            let (name, account_type) = ACCOUNTS[seq as usize - 1];
            let body = serde_json::json!({
                "name": name,
                "type": account_type.as_str(),
                "description": format!("synthetic {} account", account_type.as_str()),
            });
            self.record(seq, kind::ACCOUNT_OPEN, "admin:setup", body)
        } else if let Some(key) = self
            .partner
            .as_ref()
            .filter(|_| seq < self.shape.setup_records())
        {
            self.partner_record(seq, key, seq == ACCOUNTS.len() as u64 + 1)
        } else if let Some(key) = self
            .partner
            .as_ref()
            .filter(|_| self.shape.is_evidence(seq))
        {
            self.evidence(seq, key)
        } else {
            self.transaction(seq)
        };
        self.prev = leaf_hash(&line);
        self.next += 1;
        Some(line)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.total - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

/// Writes the valid synthetic export of `records` records into `dir` (created if missing).
pub fn write_export(dir: &Path, records: u64) -> io::Result<ExportInfo> {
    write_lines(dir, &signer(), lines(records))
}

/// Writes the valid synthetic export of `records` records of `shape` into `dir`.
pub fn write_export_with(dir: &Path, records: u64, shape: Shape) -> io::Result<ExportInfo> {
    write_lines(dir, &signer(), lines_with(records, shape))
}

/// The tiny journal of the worked example in `docs/FORMAT.md`: the genesis key record, two
/// accounts, and one drawdown.
pub fn example_records() -> Vec<Record> {
    let base = lines(0);
    let vkey = signer().verifier().to_vkey();
    let record = |seq: u64, kind: &str, actor: &str, body: serde_json::Value| Record {
        seq,
        prev: ZERO_HASH,
        kind: kind.to_string(),
        at: base.at(seq),
        actor: actor.to_string(),
        body,
    };
    vec![
        record(
            0,
            kind::LEDGER_KEY,
            "ledger",
            serde_json::json!({ "origin": ORIGIN, "vkey": vkey }),
        ),
        record(
            1,
            kind::ACCOUNT_OPEN,
            "admin:setup",
            serde_json::json!({ "name": "bank:usd", "type": "asset" }),
        ),
        record(
            2,
            kind::ACCOUNT_OPEN,
            "admin:setup",
            serde_json::json!({
                "name": "fund:SPRMCO26CA0001",
                "type": "equity",
                "description": "restricted fund of award SPRMCO26CA0001",
            }),
        ),
        record(
            3,
            kind::TRANSACTION,
            "finance:treasury",
            serde_json::json!({
                "accounting_date": "2026-01-05",
                "memo": "Drawdown DR-00000001",
                "postings": [
                    {"account": "bank:usd", "amount": "3000.00", "currency": "USD", "side": "debit"},
                    {"account": "fund:SPRMCO26CA0001", "amount": "3000.00", "currency": "USD", "side": "credit"},
                ],
            }),
        ),
    ]
}

/// Writes the worked example of `docs/FORMAT.md` (see [`example_records`]) into `dir`.
pub fn write_example(dir: &Path) -> io::Result<ExportInfo> {
    write_records(dir, &signer(), example_records())
}

/// Writes `lines` as they are (each followed by a newline), then a checkpoint over them signed
/// by `signer`, and `signer`'s vkey, into `dir` (created if missing).
pub fn write_lines<L: AsRef<[u8]>>(
    dir: &Path,
    signer: &NoteSigner,
    lines: impl IntoIterator<Item = L>,
) -> io::Result<ExportInfo> {
    std::fs::create_dir_all(dir)?;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(dir.join(RECORDS_FILE))?);
    let mut frontier = Frontier::new();
    let mut bytes = 0u64;
    for line in lines {
        let line = line.as_ref();
        out.write_all(line)?;
        out.write_all(b"\n")?;
        bytes += line.len() as u64 + 1;
        frontier.push(leaf_hash(line), |_, _| {});
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let checkpoint = Checkpoint::new(signer.name(), frontier.size(), frontier.root());
    write_checkpoint(dir, signer, &checkpoint)?;
    let vkey = signer.verifier().to_vkey();
    std::fs::write(dir.join(VKEY_FILE), format!("{vkey}\n"))?;
    Ok(ExportInfo {
        records: frontier.size(),
        bytes,
        checkpoint,
        vkey,
    })
}

/// Writes `records` re-chained (each gets its position as `seq` and its predecessor's leaf
/// hash as `prev`), then a fresh checkpoint signed by `signer`.
pub fn write_records(
    dir: &Path,
    signer: &NoteSigner,
    records: impl IntoIterator<Item = Record>,
) -> io::Result<ExportInfo> {
    let mut prev = ZERO_HASH;
    let mut seq = 0u64;
    let lines = records.into_iter().map(move |mut record| {
        record.seq = seq;
        record.prev = prev;
        let bytes = record
            .encode()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        prev = leaf_hash(&bytes);
        seq += 1;
        Ok::<_, io::Error>(bytes)
    });
    let mut error = None;
    let info = write_lines(
        dir,
        signer,
        lines.map_while(|l| l.map_err(|e| error = Some(e)).ok()),
    )?;
    match error {
        Some(e) => Err(e),
        None => Ok(info),
    }
}

/// Signs `checkpoint` with `signer` and writes it as the export's checkpoint.
pub fn write_checkpoint(
    dir: &Path,
    signer: &NoteSigner,
    checkpoint: &Checkpoint,
) -> io::Result<()> {
    let note = signer
        .sign(&checkpoint.to_text())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    std::fs::write(dir.join(CHECKPOINT_FILE), note)
}

/// The result of one timed verification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Throughput {
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Verifies the export in `dir` against `vkey` and times it (the export must be valid).
pub fn measure(dir: &Path, vkey: &NoteVerifier) -> Result<Throughput, VerifyError> {
    let bytes = std::fs::metadata(dir.join(RECORDS_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    let started = Instant::now();
    let summary = verify::verify_dir(
        dir,
        VerifyOptions {
            vkey: Some(vkey.clone()),
            ..VerifyOptions::default()
        },
    )?;
    Ok(Throughput {
        records: summary.records,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Writes a synthetic export of `records` records into `dir`, then times its verification.
pub fn bench(dir: &Path, records: u64) -> Result<Throughput, VerifyError> {
    write_export(dir, records).map_err(|e| VerifyError::CouldNotRead {
        what: dir.display().to_string(),
        detail: format!("writing the synthetic export failed: {e}"),
    })?;
    measure(dir, signer().verifier())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_transactions_are_exactly_the_canonical_encoding() {
        for line in lines(3_000) {
            let record = Record::decode(&line).expect("every synthetic line is a canonical record");
            assert_eq!(record.encode().expect("encodes"), line);
        }
    }

    #[test]
    fn the_same_size_always_gives_the_same_journal() {
        let a: Vec<Vec<u8>> = lines(50).collect();
        let b: Vec<Vec<u8>> = lines(50).collect();
        assert_eq!(a, b);
        let prefix: Vec<Vec<u8>> = lines(20).collect();
        assert_eq!(&a[..20], &prefix[..]);
    }

    #[test]
    fn transactions_are_a_few_hundred_bytes() {
        let sizes: Vec<usize> = lines(1_000).skip(10).map(|l| l.len()).collect();
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        assert!((300..=450).contains(&mean), "mean record size {mean}");
    }

    #[test]
    fn an_export_with_signed_statements_verifies_and_counts_them() {
        let shape = Shape::WITH_EVIDENCE;
        let records = 1_234;
        let dir = tempfile::tempdir().expect("a temporary directory");
        write_export_with(dir.path(), records, shape).expect("written");
        let summary = verify::verify_dir(
            dir.path(),
            VerifyOptions {
                vkey: Some(signer().verifier().clone()),
                ..VerifyOptions::default()
            },
        )
        .expect("the export with evidence verifies");
        assert_eq!(summary.records, records);
        assert_eq!(summary.partner_keys, 1);
        assert_eq!(summary.evidence_statements, shape.statements_in(records));
        assert_eq!(summary.evidence_statements, 12, "seqs 100, 200, …, 1200");
        assert_eq!(
            summary.evidence_items,
            12 * shape.items_per_statement as u64
        );
        assert_eq!(
            summary.transactions,
            records - shape.setup_records() - summary.evidence_statements
        );
        // Deterministic, and the default shape is unchanged by the option.
        let a: Vec<Vec<u8>> = lines_with(300, shape).collect();
        assert_eq!(a, lines_with(300, shape).collect::<Vec<_>>());
        assert_eq!(
            lines(300).collect::<Vec<_>>(),
            lines_with(300, Shape::default()).collect::<Vec<_>>()
        );
        // Every line is canonical, and a statement's signature is the partner's.
        for line in &a {
            let record = Record::decode(line).expect("canonical");
            if record.kind == kind::EVIDENCE {
                let body: crate::programme::EvidenceBody =
                    serde_json::from_value(record.body).expect("an evidence body");
                body.verify_signature(&partner_signer().verifying_key())
                    .expect("signed by the partner");
            }
        }
    }

    #[test]
    fn the_worked_example_is_a_valid_export() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let info = write_example(dir.path()).expect("written");
        assert_eq!(info.records, 4);
        let summary = verify::verify_dir(
            dir.path(),
            VerifyOptions {
                vkey: Some(signer().verifier().clone()),
                ..VerifyOptions::default()
            },
        )
        .expect("the example verifies");
        assert_eq!(summary.transactions, 1);
    }
}
