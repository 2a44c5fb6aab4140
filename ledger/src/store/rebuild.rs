//! Rebuilding the projections from the journal alone, and checking that rebuilt equals live.
//!
//! The [`Replayer`] walks stored records in seq order, checks the chain as the verifier does
//! (canonical bytes, gapless seq, prev links, stored leaf hashes, Merkle nodes and checkpoint
//! roots), and re-derives every projection change with the same `domain::apply` the append path
//! used. Its memory grows with the number of accounts, plus one bit per record.

use std::collections::{BTreeMap, HashMap};

use tranche_audit::merkle::{leaf_hash, Frontier, Hash, NodeId};
use tranche_audit::note::{open_checkpoint, NoteVerifier};
use tranche_audit::record::{Record, ZERO_HASH};

use crate::domain::{self, Command, Effects, PostingRow, State, TxState};
use crate::store::{digest, AccountRow, BalanceRow, Store, StoreError, StoredRecord, MAX_PAGE};

/// A growable bitset over seqs: one bit per record.
#[derive(Debug, Default)]
struct SeqBits(Vec<u64>);

impl SeqBits {
    fn set(&mut self, seq: u64) {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }

    fn get(&self, seq: u64) -> bool {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        self.0.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }
}

/// Replays stored records, checking the chain and producing projection effects.
#[derive(Debug)]
pub struct Replayer {
    state: State,
    programme: crate::domain::programme::ProgrammeState,
    frontier: Frontier,
    prev: Hash,
    last_at: Option<chrono::DateTime<chrono::Utc>>,
    is_transaction: SeqBits,
    is_reversal: SeqBits,
    reversed_by: HashMap<u64, u64>,
    /// Signed checkpoints still to be reached, ascending by size.
    checkpoints: Vec<(u64, Hash)>,
    next_checkpoint: usize,
    /// Nodes computed while replaying the last page, for comparison with the stored ones.
    pub page_nodes: Vec<(NodeId, Hash)>,
}

impl Default for Replayer {
    fn default() -> Self {
        Self::new()
    }
}

impl Replayer {
    pub fn new() -> Self {
        Replayer {
            state: State::default(),
            programme: crate::domain::programme::ProgrammeState::default(),
            frontier: Frontier::new(),
            prev: ZERO_HASH,
            last_at: None,
            is_transaction: SeqBits::default(),
            is_reversal: SeqBits::default(),
            reversed_by: HashMap::new(),
            checkpoints: Vec::new(),
            next_checkpoint: 0,
            page_nodes: Vec::new(),
        }
    }

    /// Also check that the tree root equals each of these (size, root) pairs when reached.
    pub fn expect_checkpoints(&mut self, mut checkpoints: Vec<(u64, Hash)>) {
        checkpoints.sort();
        self.checkpoints = checkpoints;
        self.next_checkpoint = 0;
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Checks the next page of records and returns the projection changes they cause.
    pub fn replay_page(&mut self, page: &[StoredRecord]) -> Result<Effects, String> {
        let mut effects = Effects::default();
        self.page_nodes.clear();
        for stored in page {
            let seq = self.frontier.size();
            if stored.seq != seq {
                return Err(format!(
                    "seq {seq}: expected next, found seq {}",
                    stored.seq
                ));
            }
            let record = Record::decode(&stored.bytes).map_err(|e| format!("seq {seq}: {e}"))?;
            if record.seq != seq {
                return Err(format!("seq {seq}: the record says seq {}", record.seq));
            }
            if record.prev != self.prev {
                return Err(format!(
                    "seq {seq}: prev does not equal the leaf hash of seq {}",
                    seq.saturating_sub(1)
                ));
            }
            let leaf = leaf_hash(&stored.bytes);
            if leaf != stored.leaf {
                return Err(format!(
                    "seq {seq}: stored leaf hash does not match the record"
                ));
            }
            if self.last_at.is_some_and(|t| record.at < t) {
                return Err(format!("seq {seq}: time goes backwards"));
            }
            let command = Command::from_record(&record).map_err(|e| format!("seq {seq}: {e}"))?;
            self.prepare(&command);
            domain::apply(
                &mut self.state,
                &mut self.programme,
                seq,
                &record.actor,
                record.at,
                &command,
                &mut effects,
            )
            .map_err(|e| format!("seq {seq}: {e}"))?;
            if let Some(t) = command.transaction() {
                self.is_transaction.set(seq);
                if let Some(original) = t.reverses {
                    self.is_reversal.set(seq);
                    self.reversed_by.insert(original, seq);
                }
            }
            // Transactions are tracked in the bitsets, not in the state, to keep memory small.
            self.state.transactions.clear();
            self.programme.commit();
            let nodes = &mut self.page_nodes;
            self.frontier.push(leaf, |id, h| nodes.push((id, *h)));
            self.prev = leaf;
            self.last_at = Some(record.at);
            while let Some(&(size, root)) = self.checkpoints.get(self.next_checkpoint) {
                if size > self.frontier.size() {
                    break;
                }
                if size == self.frontier.size() && root != self.frontier.root() {
                    return Err(format!(
                        "checkpoint at tree size {size}: signed root differs from the journal's"
                    ));
                }
                self.next_checkpoint += 1;
            }
        }
        Ok(effects)
    }

    /// Puts what `apply` will ask about into the state.
    fn prepare(&mut self, command: &Command) {
        for name in command.accounts() {
            self.state.accounts.entry(name.clone()).or_insert(None);
        }
        for name in command.balance_accounts() {
            self.state.accounts.entry(name).or_insert(None);
        }
        if let Some(t) = command.transaction() {
            if let Some(original) = t.reverses {
                let known = self.is_transaction.get(original).then(|| TxState {
                    postings: None,
                    is_reversal: self.is_reversal.get(original),
                    reversed_by: self.reversed_by.get(&original).copied(),
                    date: None,
                });
                self.state.transactions.insert(original, known);
            }
        }
    }
}

/// The outcome of `rebuild --check`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub records: u64,
    pub checkpoints: usize,
    /// The first differences found (at most `MAX_DIFFERENCES`), in words.
    pub differences: Vec<String>,
    pub differences_total: u64,
}

const MAX_DIFFERENCES: usize = 100;

impl CheckReport {
    fn differ(&mut self, what: String) {
        self.differences_total += 1;
        if self.differences.len() < MAX_DIFFERENCES {
            self.differences.push(what);
        }
    }

    pub fn is_clean(&self) -> bool {
        self.differences_total == 0
    }
}

/// Rebuilds every projection from the journal in memory and compares it with the live tables;
/// also re-checks the chain, the stored Merkle nodes and every signed checkpoint. Run it on a
/// quiet ledger: records appended while it runs are not compared.
pub async fn check(
    store: &Store,
    verifier: &NoteVerifier,
    mut progress: impl FnMut(u64, u64),
) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport::default();
    let checkpoints = store.checkpoints().await?;
    // The key in force for each checkpoint: the genesis key, then each key a rotation handed
    // over to (a rotation at seq r is first signed by the new key at a size above r).
    let mut history: Vec<(u64, NoteVerifier)> = Vec::new();
    if let Some(genesis) = store.records(0, 1).await?.first() {
        if let Ok(r) = Record::decode(&genesis.bytes) {
            if let Some(v) = r
                .body
                .get("vkey")
                .and_then(|v| v.as_str())
                .and_then(|v| NoteVerifier::parse(v).ok())
            {
                history.push((0, v));
            }
        }
    }
    for stored in store
        .all_of_kind(tranche_audit::record::kind::LEDGER_ROTATE)
        .await?
    {
        if let Ok(r) = Record::decode(&stored.bytes) {
            if let Some(v) = r
                .body
                .get("vkey")
                .and_then(|v| v.as_str())
                .and_then(|v| NoteVerifier::parse(v).ok())
            {
                history.push((stored.seq + 1, v));
            }
        }
    }
    let mut expected = Vec::with_capacity(checkpoints.len());
    for cp in &checkpoints {
        let key = history
            .iter()
            .rev()
            .find(|(from, _)| cp.size >= *from)
            .map_or(verifier, |(_, v)| v);
        match open_checkpoint(&cp.note, key) {
            Ok(v) if v.checkpoint.size == cp.size && v.checkpoint.root == cp.root => {
                expected.push((cp.size, cp.root))
            }
            Ok(_) => report.differ(format!(
                "checkpoint at size {}: the signed note does not match its row",
                cp.size
            )),
            Err(e) => report.differ(format!("checkpoint at size {}: {e}", cp.size)),
        }
    }
    report.checkpoints = checkpoints.len();
    let size = checkpoints.last().map_or(0, |c| c.size);
    let mut replayer = Replayer::new();
    replayer.expect_checkpoints(expected);
    let mut balances: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    // Debit and credit totals per (account, currency) so far, for the running totals.
    let mut running: std::collections::HashMap<(String, String), (i64, i64)> =
        std::collections::HashMap::new();
    let mut accounts: BTreeMap<String, AccountRow> = BTreeMap::new();
    let mut live_reversed: BTreeMap<u64, u64> = BTreeMap::new();
    // The head of each posting family, to compare with the digests kept with the checkpoints.
    let mut digests: BTreeMap<String, digest::Head> = BTreeMap::new();
    let mut from = 0u64;
    while from < size {
        let page = store.records(from, MAX_PAGE).await?;
        let page: Vec<StoredRecord> = page.into_iter().take_while(|r| r.seq < size).collect();
        if page.is_empty() {
            report.differ(format!(
                "the journal ends at seq {from}, but a checkpoint covers {size} records"
            ));
            break;
        }
        let to = from + page.len() as u64;
        let effects = match replayer.replay_page(&page) {
            Ok(e) => e,
            Err(e) => {
                report.differ(format!("journal: {e}"));
                break;
            }
        };
        // Merkle nodes: every node this page completed must be stored as computed.
        let ids: Vec<NodeId> = replayer.page_nodes.iter().map(|(id, _)| *id).collect();
        let stored = store.nodes(&ids).await?;
        for (id, h) in &replayer.page_nodes {
            if stored.get(id) != Some(h) {
                report.differ(format!(
                    "merkle node level {} index {}: stored hash differs from the journal's",
                    id.level, id.index
                ));
            }
        }
        let live_postings = store.postings(from, to).await?;
        compare_rows(
            &mut report,
            "posting",
            &effects.postings,
            &live_postings,
            |p: &PostingRow| format!("seq {} #{}", p.seq, p.idx),
        );
        // The running totals the reports read: each posting's must be its account's sum so far.
        let expected_running = crate::store::running_totals(&effects.postings, &running);
        let advanced = digest::advance(&digests, &effects.postings, &expected_running);
        digests.extend(advanced);
        for p in &effects.postings {
            let t = running
                .entry((p.account.clone(), p.currency.clone()))
                .or_insert((0, 0));
            match p.side {
                tranche_audit::posting::Side::Debit => t.0 += p.amount_minor,
                tranche_audit::posting::Side::Credit => t.1 += p.amount_minor,
            }
        }
        let live_running = store.posting_running(from, to).await?;
        if live_running.len() == expected_running.len() {
            if let Some((i, _)) = expected_running
                .iter()
                .zip(&live_running)
                .enumerate()
                .find(|(_, (e, l))| e != l)
            {
                let p = &effects.postings[i];
                report.differ(format!(
                    "posting seq {} #{}: stored running total differs from the journal's",
                    p.seq, p.idx
                ));
            }
        }
        // The programme projections: every row the page's records make, and no other.
        let live_programme = store.programme_rows(from, to).await?;
        fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
            let mut v = v.to_vec();
            v.sort();
            v
        }
        let (e, l) = (&effects.programme, &live_programme);
        compare_rows(
            &mut report,
            "award",
            &sorted(&e.awards),
            &sorted(&l.awards),
            |r| r.award.clone(),
        );
        compare_rows(
            &mut report,
            "rule version",
            &sorted(&e.rules),
            &sorted(&l.rules),
            |r| format!("{} {} v{}", r.award, r.rule, r.version),
        );
        compare_rows(
            &mut report,
            "cycle run",
            &sorted(&e.cycles),
            &sorted(&l.cycles),
            |r| format!("{} {} (seq {})", r.award, r.period, r.seq),
        );
        compare_rows(
            &mut report,
            "period close or reopen",
            &sorted(&e.periods),
            &sorted(&l.periods),
            |r| format!("{} {} {} (seq {})", r.award, r.kind, r.quarter, r.seq),
        );
        compare_rows(
            &mut report,
            "participant",
            &sorted(&e.participants),
            &sorted(&l.participants),
            |r| r.participant.clone(),
        );
        compare_rows(
            &mut report,
            "evidence item",
            &sorted(&e.evidence),
            &sorted(&l.evidence),
            |r| format!("seq {} #{}", r.seq, r.idx),
        );
        compare_rows(
            &mut report,
            "entitlement",
            &sorted(&e.entitlements),
            &sorted(&l.entitlements),
            |r| format!("seq {}", r.seq),
        );
        compare_rows(
            &mut report,
            "disbursement settings",
            &sorted(&e.settings),
            &sorted(&l.settings),
            |r| format!("{} (seq {})", r.award, r.seq),
        );
        compare_rows(
            &mut report,
            "batch",
            &sorted(&e.batches),
            &sorted(&l.batches),
            |r| r.batch.clone(),
        );
        compare_rows(
            &mut report,
            "batch event",
            &sorted(&e.batch_events),
            &sorted(&l.batch_events),
            |r| format!("{} {} (seq {})", r.batch, r.event, r.seq),
        );
        compare_rows(
            &mut report,
            "payment",
            &sorted(&e.payments),
            &sorted(&l.payments),
            |r| r.e2e.clone(),
        );
        compare_rows(
            &mut report,
            "payment event",
            &sorted(&e.payment_events),
            &sorted(&l.payment_events),
            |r| format!("{} #{} (seq {})", r.e2e, r.n, r.seq),
        );
        compare_rows(
            &mut report,
            "bank import",
            &sorted(&e.imports),
            &sorted(&l.imports),
            |r| r.sha256.clone(),
        );
        compare_rows(
            &mut report,
            "bank import part",
            &sorted(&e.import_parts),
            &sorted(&l.import_parts),
            |r| format!("{} part {}", r.sha256, r.part),
        );
        compare_rows(
            &mut report,
            "partner",
            &sorted(&e.partners),
            &sorted(&l.partners),
            |r| r.partner.clone(),
        );
        compare_rows(
            &mut report,
            "partner key record",
            &sorted(&e.partner_keys),
            &sorted(&l.partner_keys),
            |r| format!("{} (seq {})", r.key_id, r.seq),
        );
        compare_rows(
            &mut report,
            "evidence statement",
            &sorted(&e.statements),
            &sorted(&l.statements),
            |r| format!("seq {}", r.seq),
        );
        compare_rows(
            &mut report,
            "cohort",
            &sorted(&e.cohorts),
            &sorted(&l.cohorts),
            |r| r.cohort.clone(),
        );
        compare_rows(
            &mut report,
            "session",
            &sorted(&e.sessions),
            &sorted(&l.sessions),
            |r| r.session.clone(),
        );
        let live_tx = store.transactions(from, MAX_PAGE).await?;
        let live_tx: Vec<_> = live_tx.into_iter().take_while(|t| t.seq < to).collect();
        type Tx = (u64, String, Option<u64>, String, Option<String>);
        let expected_tx: Vec<Tx> = effects
            .transactions
            .iter()
            .map(|t| {
                let t = t.clone();
                (t.seq, t.memo, t.reverses, t.accounting_date, t.prior_period)
            })
            .collect();
        let got_tx: Vec<Tx> = live_tx
            .iter()
            .map(|t| {
                let t = t.clone();
                (t.seq, t.memo, t.reverses, t.accounting_date, t.prior_period)
            })
            .collect();
        compare_rows(&mut report, "transaction", &expected_tx, &got_tx, |t| {
            format!("seq {}", t.0)
        });
        for t in &live_tx {
            if let Some(by) = t.reversed_by {
                live_reversed.insert(t.seq, by);
            }
        }
        for ((account, currency), (d, c)) in effects.balance_deltas {
            let e = balances.entry((account, currency)).or_default();
            e.0 += d;
            e.1 += c;
        }
        for (name, t, description, seq) in effects.accounts_opened {
            accounts.insert(
                name.clone(),
                AccountRow {
                    name,
                    account_type: t.as_str().to_string(),
                    description,
                    opened_seq: seq,
                    closed_seq: None,
                },
            );
        }
        for (name, seq) in effects.accounts_closed {
            if let Some(a) = accounts.get_mut(&name) {
                a.closed_seq = Some(seq);
            }
        }
        report.records = to;
        progress(to, size);
        from = to;
    }
    let expected_reversed: BTreeMap<u64, u64> = replayer.reversed_by.clone().into_iter().collect();
    let er: Vec<_> = expected_reversed.into_iter().collect();
    let lr: Vec<_> = live_reversed.into_iter().collect();
    compare_rows(&mut report, "reversal", &er, &lr, |r| {
        format!("seq {}", r.0)
    });
    let expected_accounts: Vec<AccountRow> = accounts.into_values().collect();
    let live_accounts = store.accounts().await?;
    compare_rows(
        &mut report,
        "account",
        &expected_accounts,
        &live_accounts,
        |a| a.name.clone(),
    );
    let expected_balances: Vec<BalanceRow> = balances
        .into_iter()
        .map(|((account, currency), (d, c))| BalanceRow {
            account,
            currency,
            debit_minor: d,
            credit_minor: c,
        })
        .collect();
    let live_balances = store.balances("").await?;
    compare_rows(
        &mut report,
        "balance",
        &expected_balances,
        &live_balances,
        |b| format!("{} {}", b.account, b.currency),
    );
    // The state the rules load from these tables must be the journal's, entity by entity.
    if report.is_clean() {
        if let Some(d) = super::load::compare(store, size, &replayer.programme).await? {
            report.differ(format!("programme state loaded from the tables: {d}"));
        }
    }
    for (family, head) in &digests {
        let kept = store.digest_head(family, size).await?;
        if kept.as_ref() != Some(head) {
            report.differ(format!(
                "projection digest of {family}: the one kept with the checkpoints ({}) is not the journal's ({} postings)",
                kept.map_or("none".to_string(), |k| format!("{} postings", k.rows)),
                head.rows
            ));
        }
    }
    Ok(report)
}

/// Compares two sorted row lists and reports each row that is missing, extra or different.
fn compare_rows<T: Ord + std::fmt::Debug>(
    report: &mut CheckReport,
    what: &str,
    expected: &[T],
    live: &[T],
    key: impl Fn(&T) -> String,
) {
    let mut e = expected.iter().peekable();
    let mut l = live.iter().peekable();
    loop {
        match (e.peek(), l.peek()) {
            (None, None) => break,
            (Some(x), Some(y)) if x == y => {
                e.next();
                l.next();
            }
            (Some(x), Some(y)) if key(x) == key(y) => {
                report.differ(format!("{what} {}: rebuilt {x:?}, live {y:?}", key(x)));
                e.next();
                l.next();
            }
            (Some(x), Some(y)) if x < y => {
                report.differ(format!("{what} {}: missing from the live tables", key(x)));
                e.next();
            }
            (Some(x), None) => {
                report.differ(format!("{what} {}: missing from the live tables", key(x)));
                e.next();
            }
            (_, Some(y)) => {
                report.differ(format!(
                    "{what} {}: in the live tables but not in the journal",
                    key(y)
                ));
                l.next();
            }
        }
    }
}
