//! The PostgreSQL store: the production backend and the way past one machine. Every append
//! takes a transaction-scoped advisory lock on the chain head first, so any number of API
//! processes on one database append one at a time and can never fork the chain. Batches are
//! written with one `UNNEST` insert per table.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use tranche_audit::account::{AccountName, AccountType};
use tranche_audit::merkle::{frontier_ids, Frontier, Hash, NodeId};
use tranche_audit::money::Currency;
use tranche_audit::record::parse_time;
use tranche_audit::Code;

use super::digest;
use super::groups::{self, GroupOutcome, GroupRequest};
use super::programme::{ProgrammeCache, SharedProgramme, CATCH_UP_PAGE, PROGRAMME_KINDS};
use super::sqlite::{add_original_posting, parse_side};
use super::{personal_doc_hashes, PersonalRow};
use super::{
    prefix_range, to_hash, to_i64, to_u64, AccountRow, BalanceRow, Result, SessionRow, StoreError,
    StoredRecord, TransactionRow, UserRow,
};
use crate::domain::programme::ProgrammeState;
use crate::domain::{
    self, AccountState, Command, Context, Effects, Head, Plan, PostingRow, SignedCheckpoint, State,
    TxState,
};
use crate::store::rebuild::Replayer;

const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_journal",
        include_str!("../../../migrations/postgres/0001_journal.sql"),
    ),
    (
        "0002_users_idempotency",
        include_str!("../../../migrations/postgres/0002_users_idempotency.sql"),
    ),
    (
        "0003_programme",
        include_str!("../../../migrations/postgres/0003_programme.sql"),
    ),
    (
        "0004_cosignatures",
        include_str!("../../../migrations/postgres/0004_cosignatures.sql"),
    ),
    (
        "0005_web_sessions",
        include_str!("../../../migrations/postgres/0005_web_sessions.sql"),
    ),
    (
        "0006_postings_running",
        include_str!("../../../migrations/postgres/0006_postings_running.sql"),
    ),
    (
        "0007_projection_guard",
        include_str!("../../../migrations/postgres/0007_projection_guard.sql"),
    ),
    (
        "0008_programme_projections",
        include_str!("../../../migrations/postgres/0008_programme_projections.sql"),
    ),
    (
        "0009_disbursement_projections",
        include_str!("../../../migrations/postgres/0009_disbursement_projections.sql"),
    ),
    (
        "0010_guard_codes",
        include_str!("../../../migrations/postgres/0010_guard_codes.sql"),
    ),
    (
        "0011_registry_projections",
        include_str!("../../../migrations/postgres/0011_registry_projections.sql"),
    ),
];

/// The advisory lock key of the chain head ("tranche" in ASCII, as a number).
const CHAIN_HEAD_LOCK: i64 = 0x0074_7261_6e63_6865;

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    programme: SharedProgramme,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        Ok(PgStore {
            pool,
            programme: SharedProgramme::default(),
        })
    }

    /// Applies the migrations not applied yet; true when the projections must be rebuilt from
    /// the journal (a projection was added to a ledger that already has records).
    pub async fn migrate(&self) -> Result<bool> {
        let mut rebuild = false;
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CHAIN_HEAD_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .execute(&mut *tx)
        .await?;
        for (version, sql) in MIGRATIONS {
            let done: Option<String> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                if *version == "0007_projection_guard" {
                    backfill_digests(&mut tx).await?;
                }
                if matches!(
                    *version,
                    "0008_programme_projections"
                        | "0009_disbursement_projections"
                        | "0011_registry_projections"
                ) && tree_size(&mut tx).await? > 0
                {
                    rebuild = true;
                }
            }
        }
        tx.commit().await?;
        Ok(rebuild)
    }

    pub async fn append_groups(
        &self,
        requests: &[GroupRequest],
        ctx: &Context<'_>,
    ) -> Result<(Vec<GroupOutcome>, Option<SignedCheckpoint>)> {
        let mut cache = self.programme.lock().await;
        let result = self.append_locked(requests, ctx, &mut cache).await;
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
    ) -> Result<(Vec<GroupOutcome>, Option<SignedCheckpoint>)> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CHAIN_HEAD_LOCK)
            .execute(&mut *tx)
            .await?;
        arm(&mut tx).await?;
        let mut existing = Vec::with_capacity(requests.len());
        for r in requests {
            existing.push(match &r.idempotency {
                Some(k) => sqlx::query(
                    "SELECT request_hash, outcome FROM idempotency WHERE user_name = $1 AND key = $2",
                )
                .bind(&k.user)
                .bind(&k.key)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| -> Result<_> { Ok((row.try_get("request_hash")?, row.try_get("outcome")?)) })
                .transpose()?,
                None => None,
            });
        }
        let pending = groups::before(requests, &existing)?;
        let head = load_head(&mut tx).await?;
        let (all, groups) = groups::to_plan(requests, &pending);
        let mut state = load_state(&mut tx, head.size(), &all).await?;
        let programme = cache.get_or_insert_with(ProgrammeCache::default);
        while programme.size < head.size() {
            let page = programme_page(&mut tx, programme.size, head.size()).await?;
            programme.replay(&page, head.size())?;
        }
        load_doc_hashes(&mut tx, &all, &mut programme.state).await?;
        let planned = domain::plan_groups(&head, &mut state, &mut programme.state, &groups, ctx);
        programme.state.doc_hashes.clear();
        let (plan, results) = planned?;
        if let Some(plan) = &plan {
            write_plan(&mut tx, plan).await?;
            write_personal(&mut tx, &plan.effects).await?;
        }
        let checkpoint = plan.map(|p| p.checkpoint);
        let (outcomes, rows) = groups::after(requests, pending, results, checkpoint.as_ref());
        let now = tranche_audit::record::format_time(ctx.now);
        for (user, key, hash, outcome) in rows {
            sqlx::query(
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
        programme.state.commit();
        if let Some(cp) = &checkpoint {
            programme.size = cp.size;
        }
        Ok((outcomes, checkpoint))
    }

    pub async fn tree_size(&self) -> Result<u64> {
        let mut conn = self.pool.acquire().await?;
        tree_size(&mut conn).await
    }

    /// Keeps a witness's cosignature line for the checkpoint at `size` (the first one kept).
    pub async fn put_cosignature(&self, size: u64, witness: &str, line: &str) -> Result<()> {
        sqlx::query("INSERT INTO cosignatures (size, witness, line) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(to_i64(size))
            .bind(witness)
            .bind(line)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The cosignature lines kept for the checkpoint at `size`.
    pub async fn cosignatures(&self, size: u64) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT line FROM cosignatures WHERE size = $1 ORDER BY witness")
            .bind(to_i64(size))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| r.try_get::<String, _>("line").map_err(Into::into))
            .collect()
    }

    /// The signed checkpoint at exactly `size`, if one was signed.
    pub async fn checkpoint_at(&self, size: u64) -> Result<Option<SignedCheckpoint>> {
        let row = sqlx::query("SELECT size, root, note FROM checkpoints WHERE size = $1")
            .bind(to_i64(size))
            .fetch_optional(&self.pool)
            .await?;
        row.map(checkpoint_from_row).transpose()
    }

    /// The largest checkpoint size with at least one cosignature.
    pub async fn latest_cosigned_size(&self) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT max(size) AS size FROM cosignatures")
            .fetch_one(&self.pool)
            .await?;
        row.try_get::<Option<i64>, _>("size")?
            .map(|s| to_u64(s, "size"))
            .transpose()
    }

    pub async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>> {
        let row =
            sqlx::query("SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        row.map(checkpoint_from_row).transpose()
    }

    pub async fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>> {
        let rows = sqlx::query("SELECT size, root, note FROM checkpoints ORDER BY size")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(checkpoint_from_row).collect()
    }

    pub async fn records(&self, from: u64, limit: u32) -> Result<Vec<StoredRecord>> {
        let rows = sqlx::query(
            "SELECT seq, record, leaf_hash FROM journal WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(to_i64(from))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(record_from_row).collect()
    }

    /// Per account under `prefix` and side: the sum of postings with seq below `to`, and of
    /// those from `from` on.
    pub async fn posting_totals(
        &self,
        prefix: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<(String, String, i64, i64)>> {
        let (lo, hi) = prefix_range(prefix);
        // Per account, currency and side: the running total of its last posting before `to`
        // and before `from` (two index lookups each), never a scan of its postings.
        let rows = sqlx::query(
            r#"SELECT b.account AS account, s.side AS side,
                    COALESCE((SELECT p.running_minor FROM postings p
                              WHERE p.account = b.account AND p.currency = b.currency
                                AND p.side = s.side AND p.seq < $1
                              ORDER BY p.seq DESC, p.idx DESC LIMIT 1), 0)::BIGINT AS at_to,
                    COALESCE((SELECT p.running_minor FROM postings p
                              WHERE p.account = b.account AND p.currency = b.currency
                                AND p.side = s.side AND p.seq < $2
                              ORDER BY p.seq DESC, p.idx DESC LIMIT 1), 0)::BIGINT AS at_from
             FROM balances b CROSS JOIN (VALUES ('debit'), ('credit')) AS s(side)
             WHERE b.account = $3 OR (b.account COLLATE "C" >= $4 AND b.account COLLATE "C" < $5)"#,
        )
        .bind(to_i64(to))
        .bind(to_i64(from.min(to)))
        .bind(prefix)
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows
            .into_iter()
            .map(|r| -> Result<_> {
                Ok((
                    r.try_get("account")?,
                    r.try_get("side")?,
                    r.try_get("at_to")?,
                    r.try_get("at_from")?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(super::range_totals(rows))
    }

    /// The stored running total of every posting of a seq range, in order (for rebuild --check).
    pub async fn posting_running(&self, from_seq: u64, to_seq: u64) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT running_minor FROM postings WHERE seq >= $1 AND seq < $2 ORDER BY seq, idx",
        )
        .bind(to_i64(from_seq))
        .bind(to_i64(to_seq))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| Ok(r.try_get("running_minor")?))
            .collect()
    }

    /// Every record of a rare `kind`, in seq order.
    pub async fn all_of_kind(&self, kind: &str) -> Result<Vec<StoredRecord>> {
        let rows =
            sqlx::query("SELECT seq, record, leaf_hash FROM journal WHERE kind = $1 ORDER BY seq")
                .bind(kind)
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(record_from_row).collect()
    }

    /// The last record of `kind` (served by the `journal (kind, seq)` index).
    pub async fn last_of_kind(&self, kind: &str) -> Result<Option<StoredRecord>> {
        let row = sqlx::query(
            "SELECT seq, record, leaf_hash FROM journal WHERE kind = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?;
        row.map(record_from_row).transpose()
    }

    pub async fn nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
        let mut conn = self.pool.acquire().await?;
        fetch_nodes(&mut conn, ids).await
    }

    pub async fn balances(&self, prefix: &str) -> Result<Vec<BalanceRow>> {
        let (lo, hi) = prefix_range(prefix);
        let rows = sqlx::query(
            r#"SELECT account, currency, debit_minor, credit_minor FROM balances
               WHERE $1 = '' OR account = $1 OR (account COLLATE "C" >= $2 AND account COLLATE "C" < $3)
               ORDER BY account COLLATE "C", currency COLLATE "C""#,
        )
        .bind(prefix)
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(BalanceRow {
                    account: r.try_get("account")?,
                    currency: r.try_get("currency")?,
                    debit_minor: r.try_get("debit_minor")?,
                    credit_minor: r.try_get("credit_minor")?,
                })
            })
            .collect()
    }

    pub async fn accounts(&self) -> Result<Vec<AccountRow>> {
        let rows = sqlx::query(
            r#"SELECT name, type, description, opened_seq, closed_seq FROM accounts ORDER BY name COLLATE "C""#,
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_row).collect()
    }

    /// The accounts whose names start with `prefix:` (an index range, not a scan).
    pub async fn accounts_under(&self, prefix: &str) -> Result<Vec<AccountRow>> {
        let (lo, hi) = prefix_range(prefix);
        let rows = sqlx::query(
            r#"SELECT name, type, description, opened_seq, closed_seq FROM accounts
               WHERE name COLLATE "C" >= $1 AND name COLLATE "C" < $2 ORDER BY name COLLATE "C""#,
        )
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_row).collect()
    }

    pub async fn transactions(&self, from: u64, limit: u32) -> Result<Vec<TransactionRow>> {
        let rows = sqlx::query(
            "SELECT seq, memo, reverses, reversed_by FROM transactions WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(to_i64(from))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let opt = |v: Option<i64>| v.map(|s| to_u64(s, "seq")).transpose();
                Ok(TransactionRow {
                    seq: to_u64(r.try_get("seq")?, "seq")?,
                    memo: r.try_get("memo")?,
                    reverses: opt(r.try_get("reverses")?)?,
                    reversed_by: opt(r.try_get("reversed_by")?)?,
                })
            })
            .collect()
    }

    pub async fn postings(&self, from_seq: u64, to_seq: u64) -> Result<Vec<PostingRow>> {
        let rows = sqlx::query(
            "SELECT seq, idx, account, currency, side, amount_minor FROM postings
             WHERE seq >= $1 AND seq < $2 ORDER BY seq, idx",
        )
        .bind(to_i64(from_seq))
        .bind(to_i64(to_seq))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(posting_from_row).collect()
    }

    pub async fn replace_projections(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CHAIN_HEAD_LOCK)
            .execute(&mut *tx)
            .await?;
        arm(&mut tx).await?;
        sqlx::query(
            "TRUNCATE postings, balances, transactions, accounts, awards, award_rules, \
             award_cycles, participants, evidence_items, entitlements, award_settings, batches, \
             batch_events, payments, payment_events, bank_imports, bank_import_parts, partners, partner_keys, \
             evidence_statements, cohorts, sessions",
        )
        .execute(&mut *tx)
        .await?;
        let mut replayer = Replayer::new();
        let size = tree_size(&mut tx).await?;
        let mut from = 0;
        while from < size {
            let rows = sqlx::query(
                "SELECT seq, record, leaf_hash FROM journal WHERE seq >= $1 ORDER BY seq LIMIT $2",
            )
            .bind(to_i64(from))
            .bind(i64::from(super::MAX_PAGE))
            .fetch_all(&mut *tx)
            .await?;
            let page = rows
                .into_iter()
                .map(record_from_row)
                .collect::<Result<Vec<_>>>()?;
            if page.is_empty() {
                break;
            }
            from += page.len() as u64;
            let effects = replayer.replay_page(&page).map_err(StoreError::Corrupt)?;
            write_effects(&mut tx, &effects).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_user(&self, u: &UserRow, token_hash: &[u8]) -> Result<()> {
        let r = sqlx::query(
            "INSERT INTO users (name, role, partner, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&u.name)
        .bind(&u.role)
        .bind(&u.partner)
        .bind(token_hash)
        .bind(&u.created_at)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if super::db_error::is(&e, super::db_error::DbRefusal::Unique) => {
                Err(StoreError::Invalid(tranche_audit::Invalid::new(
                    "name",
                    Code::UserExists,
                    format!("a user named {:?} exists", u.name),
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn users(&self) -> Result<Vec<UserRow>> {
        let rows = sqlx::query(r#"SELECT name, role, partner, created_at, revoked_at FROM users ORDER BY name COLLATE "C""#)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(user_from_row).collect()
    }

    pub async fn user_by_token(&self, token_hash: &[u8]) -> Result<Option<UserRow>> {
        let row = sqlx::query(
            "SELECT name, role, partner, created_at, revoked_at FROM users WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(user_from_row).transpose()
    }

    pub async fn revoke_user(&self, name: &str, at: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // Lock every active admin: two revocations of the last two admins cannot both pass.
        let admins: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM users WHERE role = 'admin' AND revoked_at IS NULL ORDER BY name FOR UPDATE",
        )
        .fetch_all(&mut *tx)
        .await?;
        if admins.len() <= 1 && admins.iter().any(|a| a == name) {
            return Err(super::last_admin(name));
        }
        let done =
            sqlx::query("UPDATE users SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn create_session(&self, s: &SessionRow, id_hash: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, user_name, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(&s.user)
        .bind(&s.csrf)
        .bind(&s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn session(&self, id_hash: &[u8]) -> Result<Option<(SessionRow, UserRow)>> {
        let row = sqlx::query(
            "SELECT s.user_name AS s_user, s.csrf, s.created_at AS s_created, s.expires_at, s.ended_at,
                    u.name, u.role, u.partner, u.created_at, u.revoked_at
             FROM web_sessions s JOIN users u ON u.name = s.user_name WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let session = SessionRow {
            user: r.try_get("s_user")?,
            csrf: r.try_get("csrf")?,
            created_at: r.try_get("s_created")?,
            expires_at: r.try_get("expires_at")?,
            ended_at: r.try_get("ended_at")?,
        };
        Ok(Some((session, user_from_row(r)?)))
    }

    pub async fn end_session(&self, id_hash: &[u8], at: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE web_sessions SET ended_at = $1 WHERE id_hash = $2 AND ended_at IS NULL",
        )
        .bind(at)
        .bind(id_hash)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn purge_sessions(&self, expired_before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1")
            .bind(expired_before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub fn programme_handle(&self) -> &SharedProgramme {
        &self.programme
    }

    pub async fn programme_page(&self, from: u64, to: u64) -> Result<Vec<StoredRecord>> {
        let mut conn = self.pool.acquire().await?;
        programme_page(&mut conn, from, to).await
    }

    pub async fn personal_data(&self, participant: &str) -> Result<Option<PersonalRow>> {
        let row = sqlx::query(
            "SELECT participant, award, partner, registered_seq, personal, attributes, erased_at
             FROM participant_data WHERE participant = $1",
        )
        .bind(participant)
        .fetch_optional(&self.pool)
        .await?;
        row.map(personal_from_row).transpose()
    }

    /// Every participant of an award with its attributes (none once erased), by pseudonym.
    /// The registrations of `award` whose document hash is one of `hashes`, with that hash.
    pub async fn personal_by_docs(
        &self,
        award: &str,
        hashes: &[String],
    ) -> Result<Vec<(String, PersonalRow)>> {
        let rows = sqlx::query(
            "SELECT doc_hmac, participant, award, partner, registered_seq, personal, attributes, erased_at
             FROM participant_data WHERE award = $1 AND doc_hmac = ANY($2)",
        )
        .bind(award)
        .bind(hashes)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let hash: String = r.try_get("doc_hmac")?;
                Ok((hash, personal_from_row(r)?))
            })
            .collect()
    }

    pub async fn personal_rows(&self, award: &str) -> Result<Vec<PersonalRow>> {
        let rows = sqlx::query(
            "SELECT participant, award, partner, registered_seq, personal, attributes, erased_at
             FROM participant_data WHERE award = $1 ORDER BY participant",
        )
        .bind(award)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(personal_from_row).collect()
    }

    /// Deletes the personal data of a participant; false if there is none left to erase.
    pub async fn erase_personal(&self, participant: &str, at: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE participant_data SET doc_hmac = NULL, salt = NULL, personal = NULL,
             attributes = NULL, erased_at = $1 WHERE participant = $2 AND erased_at IS NULL",
        )
        .bind(at)
        .bind(participant)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The stored (request hash, outcome) of an idempotency key, if any.
    pub async fn idempotent_get(&self, user: &str, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        let row = sqlx::query(
            "SELECT request_hash, outcome FROM idempotency WHERE user_name = $1 AND key = $2",
        )
        .bind(user)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| -> Result<_> { Ok((r.try_get("request_hash")?, r.try_get("outcome")?)) })
            .transpose()
    }

    /// Remembers an outcome for an idempotency key; the first one stored wins.
    pub async fn idempotent_put(
        &self,
        user: &str,
        key: &str,
        hash: &[u8],
        outcome: &str,
        at: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO idempotency (user_name, key, request_hash, outcome, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(user)
        .bind(key)
        .bind(hash)
        .bind(outcome)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn purge_idempotency(&self, before: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The digest of a posting family kept with the latest checkpoint at or below `size`.
    pub async fn digest_head(&self, family: &str, size: u64) -> Result<Option<digest::Head>> {
        sqlx::query(
            "SELECT rows, chain, debit, credit FROM projection_digests WHERE family = $1 AND size <= $2
             ORDER BY size DESC LIMIT 1",
        )
        .bind(family)
        .bind(to_i64(size))
        .fetch_optional(&self.pool)
        .await?
        .map(|r| head_from_row(&r))
        .transpose()
    }

    /// The number of postings of a family below `size` (an index range count).
    pub async fn family_rows(&self, family: &str, size: u64) -> Result<u64> {
        // Two index ranges of `postings_by_account (account, seq)`: the account itself, and
        // (for a two-segment family) every account under it.
        let mut n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM postings WHERE account = $1 AND seq < $2")
                .bind(family)
                .bind(to_i64(size))
                .fetch_one(&self.pool)
                .await?;
        if digest::deep(family) {
            let (lo, hi) = prefix_range(family);
            n += sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM postings WHERE account >= $1 AND account < $2 AND seq < $3",
            )
            .bind(lo)
            .bind(hi)
            .bind(to_i64(size))
            .fetch_one(&self.pool)
            .await?;
        }
        to_u64(n, "count")
    }

    /// The programme projections' rows made by the records of `[from, to)` (for `rebuild
    /// --check`), each table in key order.
    pub async fn programme_rows(&self, from: u64, to: u64) -> Result<crate::domain::ProgrammeRows> {
        let (from, to) = (to_i64(from), to_i64(to));
        let mut out = crate::domain::ProgrammeRows::default();
        for r in sqlx::query("SELECT award, seq, currency, body FROM awards WHERE seq >= $1 AND seq < $2 ORDER BY seq")
            .bind(from).bind(to).fetch_all(&self.pool).await?
        {
            out.awards.push(award_row(&r)?);
        }
        for r in sqlx::query("SELECT award, rule, version, seq, shape, effective FROM award_rules WHERE seq >= $1 AND seq < $2 ORDER BY seq")
            .bind(from).bind(to).fetch_all(&self.pool).await?
        {
            out.rules.push(rule_row(&r)?);
        }
        for r in sqlx::query(
            "SELECT award, period, seq FROM award_cycles WHERE seq >= $1 AND seq < $2 ORDER BY seq",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?
        {
            out.cycles.push(cycle_row(&r)?);
        }
        for r in sqlx::query("SELECT participant, award, partner, seq FROM participants WHERE seq >= $1 AND seq < $2 ORDER BY seq")
            .bind(from).bind(to).fetch_all(&self.pool).await?
        {
            out.participants.push(participant_row(&r)?);
        }
        for r in sqlx::query("SELECT seq, idx, participant, kind, subject, value, date FROM evidence_items WHERE seq >= $1 AND seq < $2 ORDER BY seq, idx")
            .bind(from).bind(to).fetch_all(&self.pool).await?
        {
            out.evidence.push(evidence_row(&r)?);
        }
        for r in sqlx::query("SELECT seq, award, participant, basis, rule, version, amount_minor, reverses, adjusts FROM entitlements WHERE seq >= $1 AND seq < $2 ORDER BY seq")
            .bind(from).bind(to).fetch_all(&self.pool).await?
        {
            out.entitlements.push(entitlement_row(&r)?);
        }
        self.disbursement_rows(from as u64, to as u64, &mut out)
            .await?;
        self.registry_rows(from as u64, to as u64, &mut out).await?;
        Ok(out)
    }

    /// Every award, in id order.
    pub async fn award_rows(&self) -> Result<Vec<crate::domain::AwardRow>> {
        sqlx::query("SELECT award, seq, currency, body FROM awards ORDER BY award")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(award_row)
            .collect()
    }

    /// An award's rule versions (rule, then version) and cycle runs (period, then seq), and
    /// how many participants it has registered.
    pub async fn award_detail(
        &self,
        award: &str,
    ) -> Result<(
        Vec<crate::domain::RuleRow>,
        Vec<crate::domain::CycleRow>,
        u64,
    )> {
        let rules = sqlx::query("SELECT award, rule, version, seq, shape, effective FROM award_rules WHERE award = $1 ORDER BY rule, version")
            .bind(award).fetch_all(&self.pool).await?
            .iter().map(rule_row).collect::<Result<Vec<_>>>()?;
        let cycles = sqlx::query(
            "SELECT award, period, seq FROM award_cycles WHERE award = $1 ORDER BY period, seq",
        )
        .bind(award)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(cycle_row)
        .collect::<Result<Vec<_>>>()?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM participants WHERE award = $1")
            .bind(award)
            .fetch_one(&self.pool)
            .await?;
        Ok((rules, cycles, to_u64(n, "count")?))
    }

    /// A participant's registration, evidence items (in journal order) and entitlement
    /// transactions (reversals included).
    #[allow(clippy::type_complexity)]
    pub async fn participant_detail(
        &self,
        participant: &str,
    ) -> Result<
        Option<(
            crate::domain::ParticipantRow,
            Vec<crate::domain::EvidenceRow>,
            Vec<crate::domain::EntitlementRow>,
        )>,
    > {
        let Some(p) = sqlx::query(
            "SELECT participant, award, partner, seq FROM participants WHERE participant = $1",
        )
        .bind(participant)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let evidence = sqlx::query("SELECT seq, idx, participant, kind, subject, value, date FROM evidence_items WHERE participant = $1 ORDER BY seq, idx")
            .bind(participant).fetch_all(&self.pool).await?
            .iter().map(evidence_row).collect::<Result<Vec<_>>>()?;
        let entitlements = sqlx::query("SELECT seq, award, participant, basis, rule, version, amount_minor, reverses, adjusts FROM entitlements WHERE participant = $1 ORDER BY seq")
            .bind(participant).fetch_all(&self.pool).await?
            .iter().map(entitlement_row).collect::<Result<Vec<_>>>()?;
        Ok(Some((participant_row(&p)?, evidence, entitlements)))
    }

    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        Ok(sqlx::raw_sql(sql)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

fn record_from_row(r: sqlx::postgres::PgRow) -> Result<StoredRecord> {
    Ok(StoredRecord {
        seq: to_u64(r.try_get("seq")?, "seq")?,
        bytes: r.try_get("record")?,
        leaf: to_hash(r.try_get("leaf_hash")?, "leaf hash")?,
    })
}

fn checkpoint_from_row(r: sqlx::postgres::PgRow) -> Result<SignedCheckpoint> {
    Ok(SignedCheckpoint {
        size: to_u64(r.try_get("size")?, "size")?,
        root: to_hash(r.try_get("root")?, "checkpoint root")?,
        note: r.try_get("note")?,
    })
}

fn posting_from_row(r: sqlx::postgres::PgRow) -> Result<PostingRow> {
    let side: String = r.try_get("side")?;
    Ok(PostingRow {
        seq: to_u64(r.try_get("seq")?, "seq")?,
        idx: u32::try_from(r.try_get::<i32, _>("idx")?)
            .map_err(|_| StoreError::Corrupt("posting index out of range".into()))?,
        account: r.try_get("account")?,
        currency: r.try_get("currency")?,
        side: parse_side(&side)?,
        amount_minor: r.try_get("amount_minor")?,
    })
}

async fn tree_size(conn: &mut PgConnection) -> Result<u64> {
    let size: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq) + 1, 0)::BIGINT FROM journal")
        .fetch_one(&mut *conn)
        .await?;
    to_u64(size, "tree size")
}

async fn fetch_nodes(conn: &mut PgConnection, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
    let levels: Vec<i16> = ids.iter().map(|id| i16::from(id.level)).collect();
    let idxs: Vec<i64> = ids.iter().map(|id| to_i64(id.index)).collect();
    let rows = sqlx::query(
        "SELECT n.level, n.idx, n.hash FROM merkle_nodes n
         JOIN UNNEST($1::SMALLINT[], $2::BIGINT[]) AS w(level, idx)
           ON n.level = w.level AND n.idx = w.idx",
    )
    .bind(levels)
    .bind(idxs)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let level: i16 = r.try_get("level")?;
        let id = NodeId::new(
            u8::try_from(level).map_err(|_| StoreError::Corrupt("node level".into()))?,
            to_u64(r.try_get("idx")?, "node index")?,
        );
        out.insert(id, to_hash(r.try_get("hash")?, "node hash")?);
    }
    Ok(out)
}

async fn load_head(conn: &mut PgConnection) -> Result<Head> {
    let size = tree_size(conn).await?;
    if size == 0 {
        return Ok(Head::empty());
    }
    let row = sqlx::query("SELECT leaf_hash, at FROM journal WHERE seq = $1")
        .bind(to_i64(size - 1))
        .fetch_one(&mut *conn)
        .await?;
    let last_leaf = to_hash(row.try_get("leaf_hash")?, "leaf hash")?;
    let at: String = row.try_get("at")?;
    let last_at =
        parse_time(&at).ok_or_else(|| StoreError::Corrupt(format!("record time {at:?}")))?;
    let ids = frontier_ids(size);
    let nodes = fetch_nodes(conn, &ids).await?;
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

async fn load_state(conn: &mut PgConnection, size: u64, commands: &[Command]) -> Result<State> {
    let mut state = State::default();
    let mut seen = HashSet::new();
    let names: Vec<String> = commands
        .iter()
        .flat_map(|c| {
            c.accounts()
                .into_iter()
                .cloned()
                .chain(c.balance_accounts())
        })
        .filter(|n| seen.insert(n.clone()))
        .map(|n| n.to_string())
        .collect();
    for n in &seen {
        state.accounts.insert(n.clone(), None);
    }
    let rows = sqlx::query(
        "SELECT a.name, a.type, a.closed_seq, b.currency, b.debit_minor - b.credit_minor AS net
         FROM accounts a LEFT JOIN balances b ON b.account = a.name
         WHERE a.name = ANY($1)",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let name: String = r.try_get("name")?;
        let name = AccountName::parse(&name).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let type_: String = r.try_get("type")?;
        let account_type =
            AccountType::parse(&type_).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let closed = r.try_get::<Option<i64>, _>("closed_seq")?.is_some();
        let entry = state
            .accounts
            .entry(name)
            .or_insert(None)
            .get_or_insert(AccountState {
                account_type,
                closed,
                net: BTreeMap::new(),
            });
        if let Some(code) = r.try_get::<Option<String>, _>("currency")? {
            let currency =
                Currency::parse(&code).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let net: i64 = r.try_get("net")?;
            entry.net.insert(currency, i128::from(net));
        }
    }
    let targets: Vec<u64> = commands
        .iter()
        .filter_map(|c| c.transaction().and_then(|t| t.reverses))
        .collect();
    for &t in &targets {
        state.transactions.insert(t, None);
    }
    let known: Vec<i64> = targets
        .into_iter()
        .filter(|&t| t < size)
        .map(to_i64)
        .collect();
    if !known.is_empty() {
        let rows =
            sqlx::query("SELECT seq, reverses, reversed_by FROM transactions WHERE seq = ANY($1)")
                .bind(&known)
                .fetch_all(&mut *conn)
                .await?;
        for r in rows {
            let seq = to_u64(r.try_get("seq")?, "seq")?;
            let reversed_by = r
                .try_get::<Option<i64>, _>("reversed_by")?
                .map(|s| to_u64(s, "seq"))
                .transpose()?;
            state.transactions.insert(
                seq,
                Some(TxState {
                    postings: Some(Vec::new()),
                    is_reversal: r.try_get::<Option<i64>, _>("reverses")?.is_some(),
                    reversed_by,
                }),
            );
        }
        let rows = sqlx::query(
            "SELECT seq, idx, account, currency, side, amount_minor FROM postings
             WHERE seq = ANY($1) ORDER BY seq, idx",
        )
        .bind(&known)
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            add_original_posting(&mut state, posting_from_row(r)?)?;
        }
    }
    Ok(state)
}

async fn programme_page(conn: &mut PgConnection, from: u64, to: u64) -> Result<Vec<StoredRecord>> {
    let sql = format!("SELECT seq, record, leaf_hash FROM journal WHERE seq >= $1 AND seq < $2 AND kind IN ({PROGRAMME_KINDS}) ORDER BY seq LIMIT $3");
    let rows = sqlx::query(&sql)
        .bind(to_i64(from))
        .bind(to_i64(to))
        .bind(i64::from(CATCH_UP_PAGE))
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter().map(record_from_row).collect()
}

/// Marks which document hashes of the registrations in `commands` are already taken.
async fn load_doc_hashes(
    conn: &mut PgConnection,
    commands: &[Command],
    state: &mut ProgrammeState,
) -> Result<()> {
    let pairs = personal_doc_hashes(commands);
    if pairs.is_empty() {
        return Ok(());
    }
    let awards: Vec<&str> = pairs.iter().map(|(a, _)| a.as_str()).collect();
    let hashes: Vec<&str> = pairs.iter().map(|(_, h)| h.as_str()).collect();
    let rows = sqlx::query(
        "SELECT d.award, d.doc_hmac FROM participant_data d
         JOIN UNNEST($1::TEXT[], $2::TEXT[]) AS q(award, doc_hmac)
           ON d.award = q.award AND d.doc_hmac = q.doc_hmac",
    )
    .bind(&awards)
    .bind(&hashes)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let award: String = r.try_get("award")?;
        let hash: String = r.try_get("doc_hmac")?;
        let award = tranche_audit::programme::Id::parse(&award)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        state.doc_hashes.insert((award, hash));
    }
    Ok(())
}

async fn write_personal(conn: &mut PgConnection, e: &Effects) -> Result<()> {
    if e.personal.is_empty() {
        return Ok(());
    }
    let col = |f: &dyn Fn(&crate::domain::PersonalEffect) -> String| -> Vec<String> {
        e.personal.iter().map(f).collect()
    };
    let seqs: Vec<i64> = e.personal.iter().map(|r| to_i64(r.4)).collect();
    sqlx::query(
        "INSERT INTO participant_data (participant, award, partner, registered_seq, doc_hmac, salt, personal, attributes)
         SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[])",
    )
    .bind(col(&|r| r.0.to_string()))
    .bind(col(&|r| r.1.to_string()))
    .bind(col(&|r| r.2.to_string()))
    .bind(&seqs)
    .bind(col(&|r| r.3.doc_hmac.clone()))
    .bind(col(&|r| r.3.salt.clone()))
    .bind(col(&|r| r.3.personal.to_string()))
    .bind(col(&|r| r.3.attributes.to_string()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn personal_from_row(r: sqlx::postgres::PgRow) -> Result<PersonalRow> {
    let json = |v: Option<String>| -> Result<Option<serde_json::Value>> {
        v.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| StoreError::Corrupt(format!("participant data is not JSON: {e}")))
        })
        .transpose()
    };
    Ok(PersonalRow {
        participant: r.try_get("participant")?,
        award: r.try_get("award")?,
        partner: r.try_get("partner")?,
        registered_seq: to_u64(r.try_get("registered_seq")?, "seq")?,
        personal: json(r.try_get("personal")?)?,
        attributes: json(r.try_get("attributes")?)?,
        erased_at: r.try_get("erased_at")?,
    })
}

async fn write_plan(conn: &mut PgConnection, plan: &Plan) -> Result<()> {
    let n = plan.records.len();
    let mut seqs = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut ats = Vec::with_capacity(n);
    let mut actors = Vec::with_capacity(n);
    let mut bytes = Vec::with_capacity(n);
    let mut leaves = Vec::with_capacity(n);
    for r in &plan.records {
        seqs.push(to_i64(r.record.seq));
        kinds.push(r.record.kind.clone());
        ats.push(tranche_audit::record::format_time(r.record.at));
        actors.push(r.record.actor.clone());
        bytes.push(r.bytes.clone());
        leaves.push(r.leaf.to_vec());
    }
    sqlx::query(
        "INSERT INTO journal (seq, kind, at, actor, record, leaf_hash)
         SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BYTEA[], $6::BYTEA[])",
    )
    .bind(&seqs)
    .bind(&kinds)
    .bind(&ats)
    .bind(&actors)
    .bind(&bytes)
    .bind(&leaves)
    .execute(&mut *conn)
    .await?;
    let levels: Vec<i16> = plan
        .nodes
        .iter()
        .map(|(id, _)| i16::from(id.level))
        .collect();
    let idxs: Vec<i64> = plan.nodes.iter().map(|(id, _)| to_i64(id.index)).collect();
    let hashes: Vec<Vec<u8>> = plan.nodes.iter().map(|(_, h)| h.to_vec()).collect();
    sqlx::query(
        "INSERT INTO merkle_nodes (level, idx, hash)
         SELECT * FROM UNNEST($1::SMALLINT[], $2::BIGINT[], $3::BYTEA[])",
    )
    .bind(&levels)
    .bind(&idxs)
    .bind(&hashes)
    .execute(&mut *conn)
    .await?;
    let cp = &plan.checkpoint;
    let at = ats.last().cloned().unwrap_or_default();
    sqlx::query("INSERT INTO checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4)")
        .bind(to_i64(cp.size))
        .bind(cp.root.as_slice())
        .bind(cp.note.as_str())
        .bind(at)
        .execute(&mut *conn)
        .await?;
    let running = write_effects(conn, &plan.effects).await?;
    write_digests(conn, plan.checkpoint.size, &plan.effects.postings, &running).await
}

/// Opens the projection guard for this write transaction only (`set_config(…, true)`): every
/// other session's edits of a projection are refused.
async fn arm(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT set_config('tranche.writer', 'on', true)")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Writes the new head of every posting family these postings touch, at `size`.
async fn write_digests(
    conn: &mut PgConnection,
    size: u64,
    postings: &[PostingRow],
    running: &[i64],
) -> Result<()> {
    if postings.is_empty() {
        return Ok(());
    }
    let mut before = BTreeMap::new();
    for r in sqlx::query(
        "SELECT DISTINCT ON (family) family, rows, chain, debit, credit FROM projection_digests
         WHERE family = ANY($1) ORDER BY family, size DESC",
    )
    .bind(digest::families(postings))
    .fetch_all(&mut *conn)
    .await?
    {
        before.insert(r.try_get::<String, _>("family")?, head_from_row(&r)?);
    }
    insert_heads(conn, size, &digest::advance(&before, postings, running)).await
}

async fn insert_heads(
    conn: &mut PgConnection,
    size: u64,
    heads: &BTreeMap<String, digest::Head>,
) -> Result<()> {
    if heads.is_empty() {
        return Ok(());
    }
    let families: Vec<&str> = heads.keys().map(String::as_str).collect();
    let rows: Vec<i64> = heads.values().map(|h| to_i64(h.rows)).collect();
    let chains: Vec<Vec<u8>> = heads.values().map(|h| h.chain.to_vec()).collect();
    let debits: Vec<String> = heads.values().map(|h| h.debit.to_string()).collect();
    let credits: Vec<String> = heads.values().map(|h| h.credit.to_string()).collect();
    sqlx::query(
        "INSERT INTO projection_digests (family, size, rows, chain, debit, credit)
         SELECT f, $2, r, c, d, k
         FROM UNNEST($1::TEXT[], $3::BIGINT[], $4::BYTEA[], $5::TEXT[], $6::TEXT[]) AS t(f, r, c, d, k)",
    )
    .bind(&families)
    .bind(to_i64(size))
    .bind(&rows)
    .bind(&chains)
    .bind(&debits)
    .bind(&credits)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn head_from_row(r: &sqlx::postgres::PgRow) -> Result<digest::Head> {
    Ok(digest::Head {
        rows: to_u64(r.try_get("rows")?, "digest rows")?,
        chain: to_hash(r.try_get("chain")?, "digest chain")?,
        debit: total(r.try_get("debit")?)?,
        credit: total(r.try_get("credit")?)?,
    })
}

fn total(text: String) -> Result<i128> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("digest total {text:?} is not an integer")))
}

/// The first digests of a ledger that had postings before digests were kept: taken from the
/// postings as they stand at the upgrade (`tranche rebuild --check` compares those with the
/// journal).
async fn backfill_digests(conn: &mut PgConnection) -> Result<()> {
    use futures_util::TryStreamExt;
    let size = tree_size(conn).await?;
    if size == 0 {
        return Ok(());
    }
    let mut heads: BTreeMap<String, digest::Head> = BTreeMap::new();
    {
        let mut rows = sqlx::query(
            "SELECT seq, idx, account, currency, side, amount_minor, running_minor FROM postings
             ORDER BY seq, idx",
        )
        .fetch(&mut *conn);
        while let Some(r) = rows.try_next().await? {
            let running: i64 = r.try_get("running_minor")?;
            let p = posting_from_row(r)?;
            heads
                .entry(digest::family(&p.account).to_string())
                .or_default()
                .push(&p, running);
        }
    }
    insert_heads(conn, size, &heads).await
}

async fn write_effects(conn: &mut PgConnection, e: &Effects) -> Result<Vec<i64>> {
    if !e.accounts_opened.is_empty() {
        let names: Vec<&str> = e.accounts_opened.iter().map(|a| a.0.as_str()).collect();
        let types: Vec<&str> = e.accounts_opened.iter().map(|a| a.1.as_str()).collect();
        let descs: Vec<Option<&str>> = e.accounts_opened.iter().map(|a| a.2.as_deref()).collect();
        let seqs: Vec<i64> = e.accounts_opened.iter().map(|a| to_i64(a.3)).collect();
        sqlx::query(
            "INSERT INTO accounts (name, type, description, opened_seq)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[])",
        )
        .bind(&names)
        .bind(&types)
        .bind(&descs)
        .bind(&seqs)
        .execute(&mut *conn)
        .await?;
    }
    for (name, seq) in &e.accounts_closed {
        sqlx::query("UPDATE accounts SET closed_seq = $1 WHERE name = $2")
            .bind(to_i64(*seq))
            .bind(name)
            .execute(&mut *conn)
            .await?;
    }
    let mut running = Vec::new();
    if !e.postings.is_empty() {
        let seqs: Vec<i64> = e.postings.iter().map(|p| to_i64(p.seq)).collect();
        let idxs: Vec<i32> = e.postings.iter().map(|p| p.idx as i32).collect();
        let accounts: Vec<&str> = e.postings.iter().map(|p| p.account.as_str()).collect();
        let currencies: Vec<&str> = e.postings.iter().map(|p| p.currency.as_str()).collect();
        let sides: Vec<&str> = e.postings.iter().map(|p| p.side.as_str()).collect();
        let amounts: Vec<i64> = e.postings.iter().map(|p| p.amount_minor).collect();
        // The running totals continue from the balances before this batch (under the writer
        // lock).
        let mut touched: Vec<&str> = e.balance_deltas.keys().map(|k| k.0.as_str()).collect();
        touched.dedup();
        let mut before = std::collections::HashMap::new();
        for r in sqlx::query(
            "SELECT account, currency, debit_minor, credit_minor FROM balances WHERE account = ANY($1)",
        )
        .bind(&touched)
        .fetch_all(&mut *conn)
        .await?
        {
            before.insert(
                (r.try_get("account")?, r.try_get("currency")?),
                (r.try_get("debit_minor")?, r.try_get("credit_minor")?),
            );
        }
        running = super::running_totals(&e.postings, &before);
        sqlx::query(
            "INSERT INTO postings (seq, idx, account, currency, side, amount_minor, running_minor)
             SELECT * FROM UNNEST($1::BIGINT[], $2::INT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::BIGINT[], $7::BIGINT[])",
        )
        .bind(&seqs)
        .bind(&idxs)
        .bind(&accounts)
        .bind(&currencies)
        .bind(&sides)
        .bind(&amounts)
        .bind(&running)
        .execute(&mut *conn)
        .await?;
    }
    if !e.balance_deltas.is_empty() {
        let accounts: Vec<&str> = e.balance_deltas.keys().map(|k| k.0.as_str()).collect();
        let currencies: Vec<&str> = e.balance_deltas.keys().map(|k| k.1.as_str()).collect();
        let debits: Vec<i64> = e.balance_deltas.values().map(|v| v.0).collect();
        let credits: Vec<i64> = e.balance_deltas.values().map(|v| v.1).collect();
        sqlx::query(
            "INSERT INTO balances (account, currency, debit_minor, credit_minor)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[])
             ON CONFLICT (account, currency) DO UPDATE SET
               debit_minor = balances.debit_minor + EXCLUDED.debit_minor,
               credit_minor = balances.credit_minor + EXCLUDED.credit_minor",
        )
        .bind(&accounts)
        .bind(&currencies)
        .bind(&debits)
        .bind(&credits)
        .execute(&mut *conn)
        .await?;
    }
    if !e.transactions.is_empty() {
        let seqs: Vec<i64> = e.transactions.iter().map(|t| to_i64(t.0)).collect();
        let memos: Vec<&str> = e.transactions.iter().map(|t| t.1.as_str()).collect();
        let reverses: Vec<Option<i64>> = e.transactions.iter().map(|t| t.2.map(to_i64)).collect();
        sqlx::query(
            "INSERT INTO transactions (seq, memo, reverses)
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[])",
        )
        .bind(&seqs)
        .bind(&memos)
        .bind(&reverses)
        .execute(&mut *conn)
        .await?;
    }
    for (original, by) in &e.reversed {
        sqlx::query("UPDATE transactions SET reversed_by = $1 WHERE seq = $2")
            .bind(to_i64(*by))
            .bind(to_i64(*original))
            .execute(&mut *conn)
            .await?;
    }
    write_programme(conn, &e.programme).await?;
    write_disbursement(conn, &e.programme).await?;
    write_registry(conn, &e.programme).await?;
    Ok(running)
}

fn user_from_row(r: sqlx::postgres::PgRow) -> Result<UserRow> {
    Ok(UserRow {
        name: r.try_get("name")?,
        role: r.try_get("role")?,
        partner: r.try_get("partner")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// Rows per multi-row INSERT of the programme projections.
const PROGRAMME_ROWS_PER_INSERT: usize = 150;

/// Writes the programme projections' rows (insert-only).
async fn write_programme(conn: &mut PgConnection, p: &crate::domain::ProgrammeRows) -> Result<()> {
    if p.is_empty() {
        return Ok(());
    }
    for chunk in p.awards.chunks(PROGRAMME_ROWS_PER_INSERT) {
        let mut q =
            QueryBuilder::<Postgres>::new("INSERT INTO awards (award, seq, currency, body) ");
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.award.as_str())
                .push_bind(to_i64(r.seq))
                .push_bind(r.currency.as_str())
                .push_bind(r.body.as_str());
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in p.rules.chunks(PROGRAMME_ROWS_PER_INSERT) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO award_rules (award, rule, version, seq, shape, effective) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.award.as_str())
                .push_bind(r.rule.as_str())
                .push_bind(to_i64(r.version))
                .push_bind(to_i64(r.seq))
                .push_bind(r.shape.as_str())
                .push_bind(r.effective.as_str());
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in p.cycles.chunks(PROGRAMME_ROWS_PER_INSERT) {
        let mut q = QueryBuilder::<Postgres>::new("INSERT INTO award_cycles (award, period, seq) ");
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.award.as_str())
                .push_bind(r.period.as_str())
                .push_bind(to_i64(r.seq));
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in p.participants.chunks(PROGRAMME_ROWS_PER_INSERT) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO participants (participant, award, partner, seq) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.participant.as_str())
                .push_bind(r.award.as_str())
                .push_bind(r.partner.as_str())
                .push_bind(to_i64(r.seq));
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in p.evidence.chunks(PROGRAMME_ROWS_PER_INSERT) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO evidence_items (seq, idx, participant, kind, subject, value, date) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(to_i64(r.seq))
                .push_bind(i64::from(r.idx))
                .push_bind(r.participant.as_str())
                .push_bind(r.kind.as_str())
                .push_bind(r.subject.as_str())
                .push_bind(r.value.as_str())
                .push_bind(r.date.as_deref());
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in p.entitlements.chunks(PROGRAMME_ROWS_PER_INSERT) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO entitlements (seq, award, participant, basis, rule, version, amount_minor, reverses, adjusts) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(to_i64(r.seq))
                .push_bind(r.award.as_str())
                .push_bind(r.participant.as_str())
                .push_bind(r.basis.as_str())
                .push_bind(r.rule.as_str())
                .push_bind(to_i64(r.version))
                .push_bind(r.amount_minor)
                .push_bind(r.reverses.map(to_i64))
                .push_bind(r.adjusts.map(to_i64));
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

fn award_row(r: &sqlx::postgres::PgRow) -> Result<crate::domain::AwardRow> {
    Ok(crate::domain::AwardRow {
        award: r.try_get("award")?,
        seq: to_u64(r.try_get("seq")?, "seq")?,
        currency: r.try_get("currency")?,
        body: r.try_get("body")?,
    })
}

fn rule_row(r: &sqlx::postgres::PgRow) -> Result<crate::domain::RuleRow> {
    Ok(crate::domain::RuleRow {
        award: r.try_get("award")?,
        rule: r.try_get("rule")?,
        version: to_u64(r.try_get("version")?, "version")?,
        seq: to_u64(r.try_get("seq")?, "seq")?,
        shape: r.try_get("shape")?,
        effective: r.try_get("effective")?,
    })
}

fn cycle_row(r: &sqlx::postgres::PgRow) -> Result<crate::domain::CycleRow> {
    Ok(crate::domain::CycleRow {
        award: r.try_get("award")?,
        period: r.try_get("period")?,
        seq: to_u64(r.try_get("seq")?, "seq")?,
    })
}

fn participant_row(r: &sqlx::postgres::PgRow) -> Result<crate::domain::ParticipantRow> {
    Ok(crate::domain::ParticipantRow {
        participant: r.try_get("participant")?,
        award: r.try_get("award")?,
        partner: r.try_get("partner")?,
        seq: to_u64(r.try_get("seq")?, "seq")?,
    })
}

fn evidence_row(r: &sqlx::postgres::PgRow) -> Result<crate::domain::EvidenceRow> {
    let idx: i64 = r.try_get("idx")?;
    Ok(crate::domain::EvidenceRow {
        seq: to_u64(r.try_get("seq")?, "seq")?,
        idx: u32::try_from(idx).map_err(|_| StoreError::Corrupt(format!("evidence idx {idx}")))?,
        participant: r.try_get("participant")?,
        kind: r.try_get("kind")?,
        subject: r.try_get("subject")?,
        value: r.try_get("value")?,
        date: r.try_get("date")?,
    })
}

fn entitlement_row(r: &sqlx::postgres::PgRow) -> Result<crate::domain::EntitlementRow> {
    let opt = |v: Option<i64>| v.map(|s| to_u64(s, "seq")).transpose();
    Ok(crate::domain::EntitlementRow {
        seq: to_u64(r.try_get("seq")?, "seq")?,
        award: r.try_get("award")?,
        participant: r.try_get("participant")?,
        basis: r.try_get("basis")?,
        rule: r.try_get("rule")?,
        version: to_u64(r.try_get("version")?, "version")?,
        amount_minor: r.try_get("amount_minor")?,
        reverses: opt(r.try_get("reverses")?)?,
        adjusts: opt(r.try_get("adjusts")?)?,
    })
}

super::disbursement::disbursement_store!(
    super::PgStore,
    sqlx::Postgres,
    sqlx::PgConnection,
    sqlx::postgres::PgRow
);

super::registry::registry_store!(
    super::PgStore,
    sqlx::Postgres,
    sqlx::PgConnection,
    sqlx::postgres::PgRow
);

fn account_row(r: &sqlx::postgres::PgRow) -> Result<AccountRow> {
    Ok(AccountRow {
        name: r.try_get("name")?,
        account_type: r.try_get("type")?,
        description: r.try_get("description")?,
        opened_seq: to_u64(r.try_get("opened_seq")?, "seq")?,
        closed_seq: r
            .try_get::<Option<i64>, _>("closed_seq")?
            .map(|s| to_u64(s, "seq"))
            .transpose()?,
    })
}
