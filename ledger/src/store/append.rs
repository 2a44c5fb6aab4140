//! The steps of a write, once for both backends: an append (idempotency keys, head, state rows,
//! plan, records, nodes, checkpoint, projections, digests), the migrations, and the rebuild of
//! every projection from the journal. All run inside one write transaction of the backend,
//! which holds the chain-head lock.

use std::collections::{BTreeMap, HashMap, HashSet};

use tranche_audit::account::{AccountName, AccountType};
use tranche_audit::merkle::{frontier_ids, Frontier, Hash, NodeId};
use tranche_audit::money::{Currency, Money};
use tranche_audit::posting::{Posting, Side};
use tranche_audit::record::{format_time, parse_time};

use super::backend::{insert, vals, Backend, Conn, Query, Row};
use super::digest;
use super::groups::{self, GroupOutcome, GroupRequest};
use super::programme::{ProgrammeCache, CATCH_UP_PAGE, PROGRAMME_KINDS};
use super::{personal_doc_hashes, Result, Store, StoreError, StoredRecord, MAX_PAGE};
use crate::domain::programme::ProgrammeState;
use crate::domain::{
    self, AccountState, Command, Context, Effects, Head, Plan, PostingRow, SignedCheckpoint, State,
    TxState,
};
use crate::store::rebuild::Replayer;

/// Rows per multi-row INSERT: far below both backends' bound-parameter limits.
const ROWS_PER_INSERT: usize = 150;
/// Names per `IN (…)` list.
const NAMES_PER_QUERY: usize = 400;
/// Merkle nodes looked up per query.
const NODES_PER_QUERY: usize = 200;

/// Every projection, emptied and rebuilt together.
const PROJECTIONS: &[&str] = &[
    "postings",
    "balances",
    "transactions",
    "accounts",
    "awards",
    "award_rules",
    "award_cycles",
    "award_periods",
    "participants",
    "evidence_items",
    "entitlements",
    "award_settings",
    "batches",
    "batch_events",
    "payments",
    "payment_events",
    "bank_imports",
    "bank_import_parts",
    "partners",
    "partner_keys",
    "evidence_statements",
    "cohorts",
    "sessions",
];

/// Applies the migrations not applied yet; true when the projections must be rebuilt from the
/// journal (a projection was added to a ledger that already has records).
/// Checks that a read-only copy of the database has every migration this build knows: a copy
/// that lags behind an upgrade, or is not a copy of a tranche database, is refused before a
/// report reads it.
pub(crate) async fn check_schema(db: &dyn Backend) -> Result<()> {
    let mut conn = db.conn().await?;
    let rows = Query::new("SELECT version FROM schema_migrations")
        .fetch_all(conn.as_mut())
        .await
        .map_err(|e| {
            StoreError::Refused(format!(
                "the read copy has no tranche schema (schema_migrations: {e})"
            ))
        })?;
    let mut have = std::collections::HashSet::new();
    for mut r in rows {
        have.insert(r.text("version")?);
    }
    for (version, _) in db.migrations() {
        if !have.contains(*version) {
            return Err(StoreError::Refused(format!(
                "the read copy lacks migration {version}: it is not a copy of this ledger's \
                 database, or it has not caught up with an upgrade"
            )));
        }
    }
    Ok(())
}

pub(crate) async fn migrate(db: &dyn Backend) -> Result<bool> {
    let mut rebuild = false;
    let mut tx = db.begin_write(false).await?;
    tx.execute_raw(db.migrations_table()).await?;
    for (version, sql) in db.migrations() {
        let done = Query::new("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(*version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_some() {
            continue;
        }
        tx.execute_raw(sql).await?;
        Query::new(db.migration_applied())
            .bind(*version)
            .execute(&mut *tx)
            .await?;
        if *version == "0007_projection_guard" {
            backfill_digests(&mut *tx).await?;
        }
        if matches!(
            *version,
            "0008_programme_projections"
                | "0009_disbursement_projections"
                | "0011_registry_projections"
                | "0014_accounting_dates"
        ) && tree_size(&mut *tx).await? > 0
        {
            rebuild = true;
        }
    }
    tx.commit().await?;
    Ok(rebuild)
}

impl Store {
    /// Group commit: several independent requests (each all or nothing, each with its own
    /// actor and optional idempotency key) in one database transaction and one checkpoint.
    pub async fn append_groups(
        &self,
        requests: &[GroupRequest],
        ctx: &Context<'_>,
    ) -> Result<(Vec<GroupOutcome>, Option<SignedCheckpoint>)> {
        self.append_groups_guarded(requests, ctx, None).await
    }

    pub(crate) async fn append_groups_guarded(
        &self,
        requests: &[GroupRequest],
        ctx: &Context<'_>,
        guard: Option<(&tranche_audit::programme::Id, u64)>,
    ) -> Result<(Vec<GroupOutcome>, Option<SignedCheckpoint>)> {
        let mut cache = self.programme.lock().await;
        let result = self.append_locked(requests, ctx, &mut cache, guard).await;
        if result.is_err() {
            // The in-memory state may hold changes the database never got: rebuild it.
            *cache = None;
        }
        result
    }

    async fn append_locked(
        &self,
        requests: &[GroupRequest],
        ctx: &Context<'_>,
        cache: &mut Option<ProgrammeCache>,
        guard: Option<(&tranche_audit::programme::Id, u64)>,
    ) -> Result<(Vec<GroupOutcome>, Option<SignedCheckpoint>)> {
        let mut tx = self.db.begin_write(true).await?;
        if let Some((award, since)) = guard {
            let moved = Query::new(
                "SELECT seq FROM entitlements WHERE award = $1 AND seq >= $2 ORDER BY seq LIMIT 1",
            )
            .bind(award.as_str())
            .bind(since)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(mut row) = moved {
                return Err(StoreError::Invalid(tranche_audit::Invalid::new(
                    "period",
                    tranche_audit::Code::CycleMoved,
                    format!(
                        "entitlement seq {} of award {award} was written after this cycle was computed (at journal size {since}): compute the cycle again",
                        row.u64("seq")?
                    ),
                )));
            }
        }
        let mut existing = Vec::with_capacity(requests.len());
        for r in requests {
            existing.push(match &r.idempotency {
                Some(k) => Query::new(
                    "SELECT request_hash, outcome FROM idempotency WHERE user_name = $1 AND key = $2",
                )
                .bind(&k.user)
                .bind(&k.key)
                .fetch_optional(&mut *tx)
                .await?
                .map(|mut row| -> Result<_> {
                    Ok((row.bytes("request_hash")?, row.text("outcome")?))
                })
                .transpose()?,
                None => None,
            });
        }
        let pending = groups::before(requests, &existing)?;
        let head = load_head(&mut *tx).await?;
        let (all, groups) = groups::to_plan(requests, &pending);
        let mut state = load_state(&mut *tx, head.size(), &all).await?;
        // The rows the commands touch, loaded under the lock; only a disbursement record still
        // decides on the whole state.
        let mut loaded = match super::load::Need::of(&all) {
            Some(need) => Some(super::load::load(&mut *tx, head.size(), need).await?),
            None => None,
        };
        let programme_state = match loaded.as_mut() {
            Some(st) => st,
            None => {
                let programme = cache.get_or_insert_with(ProgrammeCache::default);
                while programme.size < head.size() {
                    let page = programme_page(&mut *tx, programme.size, head.size()).await?;
                    programme.replay(&page, head.size())?;
                }
                &mut programme.state
            }
        };
        load_doc_hashes(&mut *tx, &all, programme_state).await?;
        let planned = domain::plan_groups(&head, &mut state, programme_state, &groups, ctx);
        programme_state.doc_hashes.clear();
        let (plan, results) = planned?;
        if let Some(plan) = &plan {
            write_plan(&mut *tx, plan).await?;
            write_personal(&mut *tx, &plan.effects).await?;
        }
        let checkpoint = plan.map(|p| p.checkpoint);
        let (outcomes, rows) = groups::after(requests, pending, results, checkpoint.as_ref());
        let now = format_time(ctx.now);
        for (user, key, hash, outcome) in rows {
            Query::new(
                "INSERT INTO idempotency (user_name, key, request_hash, outcome, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(user)
            .bind(key)
            .bind(hash)
            .bind(outcome)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        // A loaded state is dropped here; the whole state (when a process keeps one) follows
        // the journal: replayed up to what it reflects, or caught up later by replay.
        if loaded.is_none() {
            if let Some(programme) = cache.as_mut() {
                programme.state.commit();
                if let Some(cp) = &checkpoint {
                    programme.size = cp.size;
                }
            }
        }
        Ok((outcomes, checkpoint))
    }

    /// Replaces every projection with one rebuilt from the journal alone, in one transaction
    /// under the writer lock.
    pub async fn replace_projections(&self) -> Result<()> {
        let mut tx = self.db.begin_write(true).await?;
        for sql in self.db.clear(PROJECTIONS) {
            tx.execute_raw(&sql).await?;
        }
        // Replay the journal page by page under the lock, writing each page's effects exactly as
        // an append would have.
        let mut replayer = Replayer::new();
        let size = tree_size(&mut *tx).await?;
        let mut from = 0;
        while from < size {
            let page = records(&mut *tx, from, MAX_PAGE).await?;
            if page.is_empty() {
                break;
            }
            from += page.len() as u64;
            let effects = replayer.replay_page(&page).map_err(StoreError::Corrupt)?;
            write_effects(&mut *tx, &effects).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

pub(crate) async fn tree_size(c: &mut dyn Conn) -> Result<u64> {
    let size = Query::new("SELECT CAST(COALESCE(MAX(seq) + 1, 0) AS BIGINT) FROM journal")
        .fetch_int(c)
        .await?
        .unwrap_or(0);
    super::to_u64(size, "tree size")
}

/// Records `[from, from + limit)`, in seq order.
pub(crate) async fn records(c: &mut dyn Conn, from: u64, limit: u32) -> Result<Vec<StoredRecord>> {
    Query::new("SELECT seq, record, leaf_hash FROM journal WHERE seq >= $1 ORDER BY seq LIMIT $2")
        .bind(from)
        .bind(limit)
        .fetch_all(c)
        .await?
        .into_iter()
        .map(record_from_row)
        .collect()
}

pub(crate) fn record_from_row(mut r: Row) -> Result<StoredRecord> {
    Ok(StoredRecord {
        seq: r.u64("seq")?,
        bytes: r.bytes("record")?,
        leaf: r.hash("leaf_hash")?,
    })
}

pub(crate) fn posting_from_row(mut r: Row) -> Result<PostingRow> {
    Ok(PostingRow {
        seq: r.u64("seq")?,
        idx: r.u32("idx")?,
        account: r.text("account")?,
        currency: r.text("currency")?,
        side: parse_side(&r.text("side")?)?,
        amount_minor: r.int("amount_minor")?,
        accounting_date: r.text("accounting_date")?,
    })
}

fn parse_side(s: &str) -> Result<Side> {
    match s {
        "debit" => Ok(Side::Debit),
        "credit" => Ok(Side::Credit),
        other => Err(StoreError::Corrupt(format!("posting side {other:?}"))),
    }
}

pub(crate) async fn fetch_nodes(c: &mut dyn Conn, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(NODES_PER_QUERY) {
        let mut q = Query::new("SELECT level, idx, hash FROM merkle_nodes WHERE ");
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            q.push("(level = ")
                .push_bind(i64::from(id.level))
                .push(" AND idx = ")
                .push_bind(id.index)
                .push(")");
        }
        for mut r in q.fetch_all(&mut *c).await? {
            let level = r.int("level")?;
            let id = NodeId::new(
                u8::try_from(level).map_err(|_| StoreError::Corrupt("node level".into()))?,
                r.u64("idx")?,
            );
            out.insert(id, r.hash("hash")?);
        }
    }
    Ok(out)
}

async fn load_head(c: &mut dyn Conn) -> Result<Head> {
    let size = tree_size(c).await?;
    if size == 0 {
        return Ok(Head::empty());
    }
    let mut row = Query::new("SELECT leaf_hash, at FROM journal WHERE seq = $1")
        .bind(size - 1)
        .fetch_one(&mut *c)
        .await?;
    let last_leaf = row.hash("leaf_hash")?;
    let at = row.text("at")?;
    let last_at =
        parse_time(&at).ok_or_else(|| StoreError::Corrupt(format!("record time {at:?}")))?;
    let ids = frontier_ids(size);
    let nodes = fetch_nodes(c, &ids).await?;
    let hashes = ids
        .iter()
        .map(|id| {
            nodes
                .get(id)
                .copied()
                .ok_or_else(|| StoreError::Corrupt(format!("frontier node {id:?} missing")))
        })
        .collect::<Result<Vec<_>>>()?;
    let frontier =
        Frontier::from_nodes(size, hashes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Head {
        frontier,
        last_leaf,
        last_at: Some(last_at),
    })
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The accounts and reversal targets the commands touch, with their balances and postings.
async fn load_state(c: &mut dyn Conn, size: u64, commands: &[Command]) -> Result<State> {
    let mut state = State::default();
    let names: Vec<AccountName> = {
        let mut seen = HashSet::new();
        commands
            .iter()
            .flat_map(|c| {
                c.accounts()
                    .into_iter()
                    .cloned()
                    .chain(c.balance_accounts())
            })
            .filter(|n| seen.insert(n.clone()))
            .collect()
    };
    for chunk in names.chunks(NAMES_PER_QUERY) {
        for n in chunk {
            state.accounts.insert(n.clone(), None);
        }
        let mut q = Query::new(
            "SELECT a.name, a.type, a.closed_seq, b.currency, b.debit_minor - b.credit_minor AS net
             FROM accounts a LEFT JOIN balances b ON b.account = a.name WHERE a.name",
        );
        q.push_in(c.arrays(), chunk.iter().map(|n| n.as_str()));
        for mut r in q.fetch_all(&mut *c).await? {
            let name = AccountName::parse(&r.text("name")?).map_err(corrupt)?;
            let account_type = AccountType::parse(&r.text("type")?).map_err(corrupt)?;
            let closed = r.opt_int("closed_seq")?.is_some();
            let entry = state
                .accounts
                .entry(name)
                .or_insert(None)
                .get_or_insert(AccountState {
                    account_type,
                    closed,
                    net: BTreeMap::new(),
                });
            if let Some(code) = r.opt_text("currency")? {
                let currency = Currency::parse(&code).map_err(corrupt)?;
                entry.net.insert(currency, i128::from(r.int("net")?));
            }
        }
    }
    // What a reversal or an adjustment corrects: its postings (the mirror rule) and its date
    // (never dated before it).
    let targets: Vec<u64> = commands
        .iter()
        .flat_map(|c| {
            let adjusts = match c {
                Command::Entitlement(e) => e.meta.adjusts,
                _ => None,
            };
            c.transaction()
                .and_then(|t| t.reverses)
                .into_iter()
                .chain(adjusts)
        })
        .collect();
    for &t in &targets {
        state.transactions.insert(t, None);
    }
    let known: Vec<u64> = targets.into_iter().filter(|&t| t < size).collect();
    for chunk in known.chunks(NAMES_PER_QUERY) {
        let mut q = Query::new(
            "SELECT seq, reverses, reversed_by, accounting_date FROM transactions WHERE seq",
        );
        q.push_in(c.arrays(), chunk.iter().copied());
        for mut r in q.fetch_all(&mut *c).await? {
            let seq = r.u64("seq")?;
            let tx = TxState {
                postings: Some(Vec::new()),
                is_reversal: r.opt_int("reverses")?.is_some(),
                reversed_by: r.opt_u64("reversed_by")?,
                date: chrono::NaiveDate::parse_from_str(&r.text("accounting_date")?, "%Y-%m-%d")
                    .ok(),
            };
            state.transactions.insert(seq, Some(tx));
        }
        let mut q = Query::new(
            "SELECT seq, idx, account, currency, side, amount_minor, accounting_date FROM postings WHERE seq",
        );
        q.push_in(c.arrays(), chunk.iter().copied())
            .push(" ORDER BY seq, idx");
        for r in q.fetch_all(&mut *c).await? {
            add_original_posting(&mut state, posting_from_row(r)?)?;
        }
    }
    Ok(state)
}

/// Adds one stored posting to the original transaction it belongs to (for the mirror check).
fn add_original_posting(state: &mut State, row: PostingRow) -> Result<()> {
    let currency = Currency::parse(&row.currency).map_err(corrupt)?;
    let posting = Posting {
        account: AccountName::parse(&row.account).map_err(corrupt)?,
        side: row.side,
        money: Money::from_minor(row.amount_minor, currency),
    };
    if let Some(Some(tx)) = state.transactions.get_mut(&row.seq) {
        tx.postings.get_or_insert_with(Vec::new).push(posting);
    }
    Ok(())
}

/// The programme records of `[from, to)`, a page at a time.
pub(crate) async fn programme_page(
    c: &mut dyn Conn,
    from: u64,
    to: u64,
) -> Result<Vec<StoredRecord>> {
    let sql = format!("SELECT seq, record, leaf_hash FROM journal WHERE seq >= $1 AND seq < $2 AND kind IN ({PROGRAMME_KINDS}) ORDER BY seq LIMIT $3");
    Query::new(sql)
        .bind(from)
        .bind(to)
        .bind(CATCH_UP_PAGE)
        .fetch_all(c)
        .await?
        .into_iter()
        .map(record_from_row)
        .collect()
}

/// Marks which document hashes of the registrations in `commands` are already taken.
async fn load_doc_hashes(
    c: &mut dyn Conn,
    commands: &[Command],
    state: &mut ProgrammeState,
) -> Result<()> {
    let pairs = personal_doc_hashes(commands);
    let mut by_award: BTreeMap<&tranche_audit::programme::Id, Vec<&str>> = BTreeMap::new();
    for (award, hash) in &pairs {
        by_award.entry(award).or_default().push(hash.as_str());
    }
    for (award, hashes) in by_award {
        for chunk in hashes.chunks(NAMES_PER_QUERY) {
            let mut q = Query::new("SELECT doc_hmac FROM participant_data WHERE award = ");
            q.push_bind(award.as_str()).push(" AND doc_hmac");
            q.push_in(c.arrays(), chunk.iter().copied());
            for mut r in q.fetch_all(&mut *c).await? {
                state
                    .doc_hashes
                    .insert((award.clone(), r.text("doc_hmac")?));
            }
        }
    }
    Ok(())
}

async fn write_personal(c: &mut dyn Conn, e: &Effects) -> Result<()> {
    insert(
        c,
        "participant_data (participant, award, partner, registered_seq, doc_hmac, salt, personal, attributes)",
        &e.personal,
        ROWS_PER_INSERT,
        |(participant, award, partner, data, seq)| {
            vals![
                participant.as_str(),
                award.as_str(),
                partner.as_str(),
                *seq,
                data.doc_hmac.as_str(),
                data.salt.as_str(),
                data.personal.to_string(),
                data.attributes.to_string(),
            ]
        },
    )
    .await
}

async fn write_plan(c: &mut dyn Conn, plan: &Plan) -> Result<()> {
    insert(
        c,
        "journal (seq, kind, at, actor, record, leaf_hash)",
        &plan.records,
        ROWS_PER_INSERT,
        |r| {
            vals![
                r.record.seq,
                r.record.kind.as_str(),
                format_time(r.record.at),
                r.record.actor.as_str(),
                r.bytes.as_slice(),
                r.leaf.as_slice(),
            ]
        },
    )
    .await?;
    insert(
        c,
        "merkle_nodes (level, idx, hash)",
        &plan.nodes,
        ROWS_PER_INSERT * 2,
        |(id, h)| vals![i64::from(id.level), id.index, h.as_slice()],
    )
    .await?;
    let cp = &plan.checkpoint;
    let at = plan
        .records
        .last()
        .map(|r| format_time(r.record.at))
        .unwrap_or_default();
    Query::new("INSERT INTO checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4)")
        .bind(cp.size)
        .bind(cp.root.as_slice())
        .bind(cp.note.as_str())
        .bind(at)
        .execute(&mut *c)
        .await?;
    let running = write_effects(c, &plan.effects).await?;
    write_digests(c, cp.size, &plan.effects.postings, &running).await
}

/// Writes the new head of every posting family these postings touch, at `size`.
async fn write_digests(
    c: &mut dyn Conn,
    size: u64,
    postings: &[PostingRow],
    running: &[i64],
) -> Result<()> {
    if postings.is_empty() {
        return Ok(());
    }
    let mut before = BTreeMap::new();
    for chunk in digest::families(postings).chunks(NAMES_PER_QUERY) {
        let mut q = Query::new(
            "SELECT d.family AS family, d.rows AS rows, d.chain AS chain, d.debit AS debit, d.credit AS credit FROM projection_digests d
             WHERE d.size = (SELECT MAX(e.size) FROM projection_digests e WHERE e.family = d.family)
               AND d.family",
        );
        q.push_in(c.arrays(), chunk.iter().map(String::as_str));
        for mut r in q.fetch_all(&mut *c).await? {
            before.insert(r.text("family")?, head_from_row(r)?);
        }
    }
    insert_heads(c, size, &digest::advance(&before, postings, running)).await
}

async fn insert_heads(
    c: &mut dyn Conn,
    size: u64,
    heads: &BTreeMap<String, digest::Head>,
) -> Result<()> {
    let heads: Vec<_> = heads.iter().collect();
    insert(
        c,
        "projection_digests (family, size, rows, chain, debit, credit)",
        &heads,
        ROWS_PER_INSERT,
        |(f, h)| {
            vals![
                f.as_str(),
                size,
                h.rows,
                h.chain.to_vec(),
                h.debit.to_string(),
                h.credit.to_string(),
            ]
        },
    )
    .await
}

pub(crate) fn head_from_row(mut r: Row) -> Result<digest::Head> {
    let total = |text: String| -> Result<i128> {
        text.parse()
            .map_err(|_| StoreError::Corrupt(format!("digest total {text:?} is not an integer")))
    };
    Ok(digest::Head {
        rows: r.u64("rows")?,
        chain: r.hash("chain")?,
        debit: total(r.text("debit")?)?,
        credit: total(r.text("credit")?)?,
    })
}

/// The first digests of a ledger that had postings before digests were kept: taken from the
/// postings as they stand at the upgrade (`tranche rebuild --check` compares those with the
/// journal).
async fn backfill_digests(c: &mut dyn Conn) -> Result<()> {
    let size = tree_size(c).await?;
    if size == 0 {
        return Ok(());
    }
    let mut heads: BTreeMap<String, digest::Head> = BTreeMap::new();
    // A page of seqs at a time: the postings of a large ledger are never all in memory.
    let mut from = 0;
    while from < size {
        let to = from.saturating_add(u64::from(MAX_PAGE));
        let rows = Query::new(
            "SELECT seq, idx, account, currency, side, amount_minor, running_minor, accounting_date FROM postings
             WHERE seq >= $1 AND seq < $2 ORDER BY seq, idx",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *c)
        .await?;
        for mut r in rows {
            let running = r.int("running_minor")?;
            let p = posting_from_row(r)?;
            heads
                .entry(digest::family(&p.account).to_string())
                .or_default()
                .push(&p, running);
        }
        from = to;
    }
    insert_heads(c, size, &heads).await
}

/// Writes the projections of a batch of records (an append's, or a page of a rebuild's);
/// returns the running total of each posting.
async fn write_effects(c: &mut dyn Conn, e: &Effects) -> Result<Vec<i64>> {
    insert(
        c,
        "accounts (name, type, description, opened_seq)",
        &e.accounts_opened,
        ROWS_PER_INSERT,
        |(name, t, d, seq)| vals![name.as_str(), t.as_str(), d.as_deref(), *seq],
    )
    .await?;
    for (name, seq) in &e.accounts_closed {
        Query::new("UPDATE accounts SET closed_seq = $1 WHERE name = $2")
            .bind(*seq)
            .bind(name.as_str())
            .execute(&mut *c)
            .await?;
    }
    // The running totals continue from the balances before this batch (under the writer lock).
    let mut before = HashMap::new();
    let touched: Vec<&str> = {
        let mut t: Vec<&str> = e.balance_deltas.keys().map(|k| k.0.as_str()).collect();
        t.dedup();
        t
    };
    for chunk in touched.chunks(NAMES_PER_QUERY) {
        let mut q = Query::new(
            "SELECT account, currency, debit_minor, credit_minor FROM balances WHERE account",
        );
        q.push_in(c.arrays(), chunk.iter().copied());
        for mut r in q.fetch_all(&mut *c).await? {
            before.insert(
                (r.text("account")?, r.text("currency")?),
                (r.int("debit_minor")?, r.int("credit_minor")?),
            );
        }
    }
    let running = super::running_totals(&e.postings, &before);
    let rows: Vec<(&PostingRow, i64)> = e.postings.iter().zip(running.iter().copied()).collect();
    insert(
        c,
        "postings (seq, idx, account, currency, side, amount_minor, running_minor, accounting_date)",
        &rows,
        ROWS_PER_INSERT,
        |(p, running)| {
            vals![
                p.seq,
                p.idx,
                p.account.as_str(),
                p.currency.as_str(),
                p.side.as_str(),
                p.amount_minor,
                *running,
                p.accounting_date.as_str(),
            ]
        },
    )
    .await?;
    let deltas: Vec<_> = e.balance_deltas.iter().collect();
    for chunk in deltas.chunks(ROWS_PER_INSERT) {
        let mut q = Query::new(
            "INSERT INTO balances (account, currency, debit_minor, credit_minor) VALUES ",
        );
        for (i, ((account, currency), (d, cr))) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_list(vals![account.as_str(), currency.as_str(), *d, *cr]);
        }
        q.push(
            " ON CONFLICT (account, currency) DO UPDATE SET
              debit_minor = balances.debit_minor + excluded.debit_minor,
              credit_minor = balances.credit_minor + excluded.credit_minor",
        );
        q.execute(&mut *c).await?;
    }
    insert(
        c,
        "transactions (seq, memo, reverses, accounting_date, prior_period)",
        &e.transactions,
        ROWS_PER_INSERT,
        |t| {
            vals![
                t.seq,
                t.memo.as_str(),
                t.reverses,
                t.accounting_date.as_str(),
                t.prior_period.as_deref(),
            ]
        },
    )
    .await?;
    for (original, by) in &e.reversed {
        Query::new("UPDATE transactions SET reversed_by = $1 WHERE seq = $2")
            .bind(*by)
            .bind(*original)
            .execute(&mut *c)
            .await?;
    }
    super::projections::write(c, &e.programme).await?;
    super::disbursement::write(c, &e.programme).await?;
    super::registry::write(c, &e.programme).await?;
    Ok(running)
}
