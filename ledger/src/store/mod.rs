//! The one storage interface of the ledger and its two implementations: SQLite (the embedded
//! default) and PostgreSQL. Both run the same domain plan inside one database transaction,
//! holding the chain-head lock (`BEGIN IMMEDIATE` on SQLite, an advisory lock on PostgreSQL), so
//! `seq` stays gapless and two writers can never fork the chain.
//!
//! The backend is chosen once, from the database URL. Queries are bound at run time (sqlx's
//! `Any` driver lacks the types we need), and database errors are mapped here, never leaked:
//! by their codes (`db_error`), never by their messages.

pub mod db_error;
pub mod digest;
mod disbursement;
mod groups;
mod postgres;
mod programme;
/// Rebuild projections from the journal; compare rebuilt with live.
pub mod rebuild;
mod registry;
mod sqlite;

use std::collections::HashMap;

use tranche_audit::merkle::{self, Hash, NodeId};
use tranche_audit::Code;
use tranche_audit::Invalid;

pub use disbursement::{PaymentNow, StateTotal};
pub use groups::{GroupOutcome, GroupRequest, IdempotencyKey, Outcome, MAX_GROUP_REQUESTS};
pub use postgres::PgStore;
pub use programme::{replay_command, replay_record, ProgrammeCache, SharedProgramme};
pub use sqlite::SqliteStore;

use crate::domain::{Command, Context, PlanError, SignedCheckpoint};

/// Record pages are bounded so that no read holds the whole journal in memory.
pub const MAX_PAGE: u32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Invalid(Invalid),
    #[error("not found: {0}")]
    NotFound(String),
    /// A guard trigger refused the change: history is append-only and projections are written
    /// only by the ledger. Known by the error's code (`db_error`), never by its message.
    #[error("the database refused the change: {0}")]
    Refused(String),
    #[error("the stored journal is inconsistent: {0}")]
    Corrupt(String),
    /// A projection disagrees with the digest kept with the checkpoints: it was changed behind
    /// the ledger's back, and nothing is signed from it until `tranche rebuild` repairs it.
    #[error("{0}")]
    ProjectionDamaged(String),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// The URL as it may be printed: without its password.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    BadUrl(crate::redact::RedactedUrl),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db_error::refusal(db.as_ref()) == Some(db_error::DbRefusal::Guard) {
                return StoreError::Refused(db.message().to_string());
            }
        }
        StoreError::Database(e)
    }
}

impl From<PlanError> for StoreError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Invalid(i) => StoreError::Invalid(i),
            PlanError::StateNotLoaded(what) => {
                StoreError::Corrupt(format!("state not loaded for {what}"))
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What an append returns: the seqs the batch got and the checkpoint that covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub first_seq: u64,
    pub count: u64,
    pub checkpoint: SignedCheckpoint,
}

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub seq: u64,
    pub bytes: Vec<u8>,
    pub leaf: Hash,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BalanceRow {
    pub account: String,
    pub currency: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccountRow {
    pub name: String,
    pub account_type: String,
    pub description: Option<String>,
    pub opened_seq: u64,
    pub closed_seq: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TransactionRow {
    pub seq: u64,
    pub memo: String,
    pub reverses: Option<u64>,
    pub reversed_by: Option<u64>,
}

/// An API user. The bearer token is never stored: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub name: String,
    pub role: String,
    pub partner: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A web sign-in session (the cookie itself is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub user: String,
    pub csrf: String,
    pub created_at: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub ended_at: Option<String>,
}

/// A participant's row in the erasable participant store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalRow {
    pub participant: String,
    pub award: String,
    pub partner: String,
    pub registered_seq: u64,
    /// Name, document, phone, bank account; `None` once erased.
    pub personal: Option<serde_json::Value>,
    /// Sex, nationality, province, pathway, age band; `None` once erased.
    pub attributes: Option<serde_json::Value>,
    pub erased_at: Option<String>,
}

/// The (award, document hash) of every registration with personal data in `commands`.
pub(crate) fn personal_doc_hashes(
    commands: &[Command],
) -> Vec<(tranche_audit::programme::Id, String)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Programme(
                crate::domain::programme::ProgrammeCommand::ParticipantRegister {
                    body,
                    personal: Some(p),
                },
            ) => Some((body.award.clone(), p.doc_hmac.clone())),
            _ => None,
        })
        .collect()
}

/// Read access to the programme state, caught up with the journal; holds the state's lock
/// (writers wait), so keep it briefly.
#[derive(Debug)]
pub struct ProgrammeGuard<'a>(tokio::sync::MutexGuard<'a, Option<ProgrammeCache>>);

impl std::ops::Deref for ProgrammeGuard<'_> {
    type Target = crate::domain::programme::ProgrammeState;

    fn deref(&self) -> &Self::Target {
        match self.0.as_ref() {
            Some(c) => &c.state,
            None => unreachable!("a guard is only built over a loaded state"),
        }
    }
}

impl ProgrammeGuard<'_> {
    /// The journal size the state reflects.
    pub fn size(&self) -> u64 {
        self.0.as_ref().map_or(0, |c| c.size)
    }

    /// Runs `f` on the state and then undoes everything it changed: a check of commands against
    /// the state as it stands, writing nothing.
    pub fn dry_run<T>(
        &mut self,
        f: impl FnOnce(&mut crate::domain::programme::ProgrammeState) -> T,
    ) -> T {
        match self.0.as_mut() {
            Some(c) => {
                let mark = c.state.mark();
                let out = f(&mut c.state);
                c.state.rollback_to(mark);
                out
            }
            None => unreachable!("a guard is only built over a loaded state"),
        }
    }
}

/// The store a ledger runs on. Chosen once from the URL; everything else is backend-neutral.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e,
            Store::Postgres($s) => $e,
        }
    };
}

impl Store {
    /// Connects to `sqlite://PATH` (created if missing) or `postgres://…`, and applies the
    /// migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        let store = if url.starts_with("sqlite:") {
            Store::Sqlite(SqliteStore::connect(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::Postgres(PgStore::connect(url).await?)
        } else {
            return Err(StoreError::BadUrl(crate::redact::RedactedUrl::new(url)));
        };
        let s = &store;
        if dispatch!(s, st => st.migrate().await)? {
            tracing::info!("new projections: rebuilding them from the journal");
            store.replace_projections().await?;
        }
        Ok(store)
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Appends a batch atomically: all commands get consecutive seqs and one checkpoint, or
    /// nothing is written.
    pub async fn append(&self, commands: &[Command], ctx: &Context<'_>) -> Result<Appended> {
        let request = GroupRequest {
            actor: ctx.actor.to_string(),
            commands: commands.to_vec(),
            idempotency: None,
        };
        let (mut outcomes, checkpoint) = self.append_groups(&[request], ctx).await?;
        match (outcomes.pop(), checkpoint) {
            (Some(GroupOutcome::Appended(o)), Some(checkpoint)) => Ok(Appended {
                first_seq: o.first_seq,
                count: o.count,
                checkpoint,
            }),
            (Some(GroupOutcome::Refused(inv)), _) => Err(StoreError::Invalid(inv)),
            other => Err(StoreError::Corrupt(format!(
                "unexpected append outcome {other:?}"
            ))),
        }
    }

    /// Group commit: several independent requests (each all or nothing, each with its own
    /// actor and optional idempotency key) in one database transaction and one checkpoint.
    pub async fn append_groups(
        &self,
        requests: &[GroupRequest],
        ctx: &Context<'_>,
    ) -> Result<(Vec<GroupOutcome>, Option<SignedCheckpoint>)> {
        dispatch!(self, s => s.append_groups(requests, ctx).await)
    }

    pub async fn tree_size(&self) -> Result<u64> {
        dispatch!(self, s => s.tree_size().await)
    }

    /// The programme state, caught up with every committed record.
    pub async fn programme(&self) -> Result<ProgrammeGuard<'_>> {
        let shared = dispatch!(self, s => s.programme_handle());
        let mut guard = shared.lock().await;
        let size = self.tree_size().await?;
        loop {
            let cache = guard.get_or_insert_with(ProgrammeCache::default);
            if cache.size >= size {
                break;
            }
            let from = cache.size;
            let page = dispatch!(self, s => s.programme_page(from, size).await)?;
            if let Err(e) = cache.replay(&page, size) {
                *guard = None;
                return Err(e);
            }
        }
        Ok(ProgrammeGuard(guard))
    }

    pub async fn personal_data(&self, participant: &str) -> Result<Option<PersonalRow>> {
        dispatch!(self, s => s.personal_data(participant).await)
    }

    pub async fn personal_rows(&self, award: &str) -> Result<Vec<PersonalRow>> {
        dispatch!(self, s => s.personal_rows(award).await)
    }

    /// The registrations of `award` whose document hash is one of `hashes`, with that hash.
    pub async fn personal_by_docs(
        &self,
        award: &str,
        hashes: &[String],
    ) -> Result<Vec<(String, PersonalRow)>> {
        dispatch!(self, s => s.personal_by_docs(award, hashes).await)
    }

    /// Deletes a participant's personal data (the journal keeps the pseudonym and commitment).
    pub async fn erase_personal(&self, participant: &str, at: &str) -> Result<bool> {
        dispatch!(self, s => s.erase_personal(participant, at).await)
    }

    /// Keeps a witness's cosignature line for the checkpoint at `size` (the first one kept).
    pub async fn put_cosignature(&self, size: u64, witness: &str, line: &str) -> Result<()> {
        dispatch!(self, s => s.put_cosignature(size, witness, line).await)
    }

    /// The cosignature lines kept for the checkpoint at `size`.
    pub async fn cosignatures(&self, size: u64) -> Result<Vec<String>> {
        dispatch!(self, s => s.cosignatures(size).await)
    }

    /// The largest checkpoint size with at least one cosignature.
    pub async fn latest_cosigned_size(&self) -> Result<Option<u64>> {
        dispatch!(self, s => s.latest_cosigned_size().await)
    }

    /// The checkpoint at `size` with its witnesses' cosignature lines appended.
    pub async fn cosigned_checkpoint(&self, size: u64) -> Result<Option<SignedCheckpoint>> {
        let Some(mut cp) = self.checkpoint_at(size).await? else {
            return Ok(None);
        };
        for line in self.cosignatures(size).await? {
            cp.note.push_str(&line);
        }
        Ok(Some(cp))
    }

    /// Per account under `prefix` and side ("debit"/"credit"): (account, side, sum of postings
    /// with seq below `to`, sum of those with seq from `from` to `to`).
    pub async fn posting_totals(
        &self,
        prefix: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<(String, String, i64, i64)>> {
        dispatch!(self, s => s.posting_totals(prefix, from, to).await)
    }

    /// The stored running total of every posting of a seq range, in order.
    pub async fn posting_running(&self, from_seq: u64, to_seq: u64) -> Result<Vec<i64>> {
        dispatch!(self, s => s.posting_running(from_seq, to_seq).await)
    }

    /// Every record of a rare `kind` (key rotations), in seq order.
    pub async fn all_of_kind(&self, kind: &str) -> Result<Vec<StoredRecord>> {
        dispatch!(self, s => s.all_of_kind(kind).await)
    }

    /// The last record of `kind`.
    pub async fn last_of_kind(&self, kind: &str) -> Result<Option<StoredRecord>> {
        dispatch!(self, s => s.last_of_kind(kind).await)
    }

    /// The signed checkpoint at exactly `size`, if one was signed.
    pub async fn checkpoint_at(&self, size: u64) -> Result<Option<SignedCheckpoint>> {
        dispatch!(self, s => s.checkpoint_at(size).await)
    }

    pub async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>> {
        dispatch!(self, s => s.latest_checkpoint().await)
    }

    /// Records `[from, from + limit)`, in seq order; `limit` is capped at `MAX_PAGE`.
    pub async fn records(&self, from: u64, limit: u32) -> Result<Vec<StoredRecord>> {
        let limit = limit.min(MAX_PAGE);
        dispatch!(self, s => s.records(from, limit).await)
    }

    pub async fn nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
        dispatch!(self, s => s.nodes(ids).await)
    }

    /// Balances of `prefix` and every account below it (all accounts for "").
    pub async fn balances(&self, prefix: &str) -> Result<Vec<BalanceRow>> {
        dispatch!(self, s => s.balances(prefix).await)
    }

    pub async fn accounts(&self) -> Result<Vec<AccountRow>> {
        dispatch!(self, s => s.accounts().await)
    }

    /// The accounts whose names start with `prefix:`, in name order.
    pub async fn accounts_under(&self, prefix: &str) -> Result<Vec<AccountRow>> {
        dispatch!(self, s => s.accounts_under(prefix).await)
    }

    pub async fn transactions(&self, from: u64, limit: u32) -> Result<Vec<TransactionRow>> {
        dispatch!(self, s => s.transactions(from, limit.min(MAX_PAGE)).await)
    }

    pub async fn postings(
        &self,
        from_seq: u64,
        to_seq: u64,
    ) -> Result<Vec<crate::domain::PostingRow>> {
        dispatch!(self, s => s.postings(from_seq, to_seq).await)
    }

    pub async fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>> {
        dispatch!(self, s => s.checkpoints().await)
    }

    /// Replaces every projection with one rebuilt from the journal alone, in one transaction
    /// under the writer lock.
    pub async fn replace_projections(&self) -> Result<()> {
        dispatch!(self, s => s.replace_projections().await)
    }

    pub async fn create_user(&self, user: &UserRow, token_hash: &[u8]) -> Result<()> {
        dispatch!(self, s => s.create_user(user, token_hash).await)
    }

    pub async fn users(&self) -> Result<Vec<UserRow>> {
        dispatch!(self, s => s.users().await)
    }

    /// The user holding this token hash, revoked or not (the caller decides).
    pub async fn user_by_token(&self, token_hash: &[u8]) -> Result<Option<UserRow>> {
        dispatch!(self, s => s.user_by_token(token_hash).await)
    }

    /// Revokes a user; false if there is no such active user. The last active administrator
    /// is never revoked (`last_admin`): someone must be able to manage users.
    pub async fn revoke_user(&self, name: &str, at: &str) -> Result<bool> {
        dispatch!(self, s => s.revoke_user(name, at).await)
    }

    /// Starts a web session for a user.
    pub async fn create_session(&self, session: &SessionRow, id_hash: &[u8]) -> Result<()> {
        dispatch!(self, s => s.create_session(session, id_hash).await)
    }

    /// A session by the hash of its cookie, with its user (ended, expired or revoked or not:
    /// the caller decides).
    pub async fn session(&self, id_hash: &[u8]) -> Result<Option<(SessionRow, UserRow)>> {
        dispatch!(self, s => s.session(id_hash).await)
    }

    /// Ends a session (sign-out); false if it had already ended.
    pub async fn end_session(&self, id_hash: &[u8], at: &str) -> Result<bool> {
        dispatch!(self, s => s.end_session(id_hash, at).await)
    }

    /// Forgets sessions that expired before this time (Unix seconds).
    pub async fn purge_sessions(&self, expired_before: i64) -> Result<u64> {
        dispatch!(self, s => s.purge_sessions(expired_before).await)
    }

    /// The stored (request hash, outcome) of an idempotency key (for writes that are not a
    /// plain append, such as a cycle run).
    pub async fn idempotent_get(&self, user: &str, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        dispatch!(self, s => s.idempotent_get(user, key).await)
    }

    /// Remembers the outcome of such a write; the first one stored wins.
    pub async fn idempotent_put(
        &self,
        user: &str,
        key: &str,
        hash: &[u8],
        outcome: &str,
        at: &str,
    ) -> Result<()> {
        dispatch!(self, s => s.idempotent_put(user, key, hash, outcome, at).await)
    }

    /// Forgets idempotency keys created before `before` (RFC 3339).
    pub async fn purge_idempotency(&self, before: &str) -> Result<u64> {
        dispatch!(self, s => s.purge_idempotency(before).await)
    }

    /// A round trip to the database (readiness).
    pub async fn ping(&self) -> Result<()> {
        dispatch!(self, s => s.ping().await)
    }

    /// Runs a statement directly: for tests that prove the database itself refuses edits.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        dispatch!(self, s => s.execute_raw(sql).await)
    }

    /// The programme projections' rows made by the records of `[from, to)`.
    pub async fn programme_rows(&self, from: u64, to: u64) -> Result<crate::domain::ProgrammeRows> {
        dispatch!(self, s => s.programme_rows(from, to).await)
    }

    /// The award's disbursement settings in force.
    pub async fn settings_row(&self, award: &str) -> Result<Option<crate::domain::SettingsRow>> {
        dispatch!(self, s => s.settings_row(award).await)
    }

    /// One batch's header and the records of its life, oldest first; `None` if unknown.
    pub async fn batch_rows(
        &self,
        batch: &str,
    ) -> Result<Option<(crate::domain::BatchRow, Vec<crate::domain::BatchEventRow>)>> {
        dispatch!(self, s => s.batch_rows(batch).await)
    }

    /// Batches (of one award, or all), newest first.
    pub async fn batch_list(&self, award: Option<&str>) -> Result<Vec<crate::domain::BatchRow>> {
        dispatch!(self, s => s.batch_list(award).await)
    }

    /// A page of a batch's payments, in batch order, with their states.
    pub async fn batch_payment_rows(
        &self,
        batch: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<PaymentNow>> {
        dispatch!(self, s => s.batch_payment_rows(batch, offset, limit).await)
    }

    /// A batch's payments counted and summed per state.
    pub async fn batch_states(&self, batch: &str) -> Result<Vec<StateTotal>> {
        dispatch!(self, s => s.batch_states(batch).await)
    }

    /// The totals of an award's batches approved and not yet sent, minor units.
    pub async fn committed_minor(&self, award: &str) -> Result<i64> {
        dispatch!(self, s => s.committed_minor(award).await)
    }

    /// One payment and every event of its life; `None` if unknown.
    pub async fn payment_rows(
        &self,
        e2e: &str,
    ) -> Result<
        Option<(
            crate::domain::PaymentRow,
            Vec<crate::domain::PaymentEventRow>,
        )>,
    > {
        dispatch!(self, s => s.payment_rows(e2e).await)
    }

    /// Bank imports, newest first (or the one with this SHA-256).
    pub async fn import_rows(&self, sha256: Option<&str>) -> Result<Vec<crate::domain::ImportRow>> {
        dispatch!(self, s => s.import_rows(sha256).await)
    }

    /// An import's parts and the payment events they applied, per event.
    pub async fn import_parts(
        &self,
        sha256: &str,
    ) -> Result<(Vec<crate::domain::ImportPartRow>, Vec<StateTotal>)> {
        dispatch!(self, s => s.import_parts(sha256).await)
    }

    /// Every partner, in id order.
    pub async fn partner_rows(&self) -> Result<Vec<crate::domain::PartnerRow>> {
        dispatch!(self, s => s.partner_rows().await)
    }

    /// Every record of a partner's keys, oldest first.
    pub async fn partner_key_rows(
        &self,
        partner: &str,
    ) -> Result<Vec<crate::domain::PartnerKeyRow>> {
        dispatch!(self, s => s.partner_key_rows(partner).await)
    }

    /// The newest `limit` evidence statements (of one partner, or all), newest first, and how
    /// many there are in all.
    pub async fn statement_rows(
        &self,
        partner: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<crate::domain::StatementRow>, u64)> {
        dispatch!(self, s => s.statement_rows(partner, limit).await)
    }

    /// Cohorts, in id order, of one award and/or one partner (or all).
    pub async fn cohort_rows(
        &self,
        award: Option<&str>,
        partner: Option<&str>,
    ) -> Result<Vec<crate::domain::CohortRow>> {
        dispatch!(self, s => s.cohort_rows(award, partner).await)
    }

    /// The cohorts of an award, counted.
    pub async fn cohort_count(&self, award: &str) -> Result<u64> {
        dispatch!(self, s => s.cohort_count(award).await)
    }

    /// The sessions of a cohort, by date.
    pub async fn session_rows(&self, cohort: &str) -> Result<Vec<crate::domain::SessionRow>> {
        dispatch!(self, s => s.session_rows(cohort).await)
    }

    /// The dates of these sessions (those that exist), by session id.
    pub async fn session_dates(
        &self,
        sessions: &[String],
    ) -> Result<std::collections::HashMap<String, String>> {
        dispatch!(self, s => s.session_dates(sessions).await)
    }

    /// Every award, in id order, from the projection (no replay).
    pub async fn award_rows(&self) -> Result<Vec<crate::domain::AwardRow>> {
        dispatch!(self, s => s.award_rows().await)
    }

    /// An award's rule versions, cycle runs and number of participants, from the projections.
    pub async fn award_detail(
        &self,
        award: &str,
    ) -> Result<(
        Vec<crate::domain::RuleRow>,
        Vec<crate::domain::CycleRow>,
        u64,
    )> {
        dispatch!(self, s => s.award_detail(award).await)
    }

    /// A participant's registration, evidence items and entitlement transactions, from the
    /// projections (no replay).
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
        dispatch!(self, s => s.participant_detail(participant).await)
    }

    /// The digest of a posting family kept with the latest checkpoint at or below `size`.
    pub async fn digest_head(&self, family: &str, size: u64) -> Result<Option<digest::Head>> {
        dispatch!(self, s => s.digest_head(family, size).await)
    }

    /// Checks the postings and balances of these account families, as of the checkpoint of
    /// `size`, against the digests kept with the checkpoints, in index lookups (no scan of the
    /// postings): the number of postings of each family, the sum of every account's last
    /// running totals against the family's totals, and, when nothing was appended after that
    /// checkpoint, each account's last running totals against its balance. A posting deleted,
    /// added or re-totalled, and a balance changed or deleted, are found here; a posting edited
    /// in the middle of an account's history with every later running total adjusted to match
    /// is found by `rebuild --check`, which compares every row with the journal.
    pub async fn check_families(&self, families: &[String], size: u64) -> Result<()> {
        for family in families {
            let kept = self.digest_head(family, size).await?.unwrap_or_default();
            let damaged = |what: String| {
                StoreError::ProjectionDamaged(format!(
                    "the postings projection of {family} (below seq {size}) {what}: it was \
                     changed outside the ledger; run `tranche rebuild --check` to see every \
                     difference and `tranche rebuild` to repair it from the journal"
                ))
            };
            let rows = dispatch!(self, s => s.family_rows(family, size).await)?;
            if rows != kept.rows {
                return Err(damaged(format!(
                    "holds {rows} postings, the digest kept with the checkpoints counts {}",
                    kept.rows
                )));
            }
            let in_family = |account: &str| digest::deep(family) || account == family.as_str();
            // (account, side) -> the last running total below `size`, summed over currencies.
            let last: Vec<(String, String, i64, i64)> = self
                .posting_totals(family, size, size)
                .await?
                .into_iter()
                .filter(|t| in_family(&t.0))
                .collect();
            let (mut debit, mut credit) = (0i128, 0i128);
            for (_, side, cumulative, _) in &last {
                if side == "debit" {
                    debit += i128::from(*cumulative);
                } else {
                    credit += i128::from(*cumulative);
                }
            }
            if (debit, credit) != (kept.debit, kept.credit) {
                return Err(damaged(format!(
                    "adds up to debit {debit} credit {credit} (minor units over its accounts' last \
                     running totals), the digest kept with the checkpoints to debit {} credit {}",
                    kept.debit, kept.credit
                )));
            }
            if self.tree_size().await? == size {
                // The balances are the state now: they must be the last running totals.
                let mut by_account: HashMap<(String, String), i64> = HashMap::new();
                for b in self.balances(family).await? {
                    if !in_family(&b.account) {
                        continue;
                    }
                    *by_account
                        .entry((b.account.clone(), "debit".into()))
                        .or_default() += b.debit_minor;
                    *by_account.entry((b.account, "credit".into())).or_default() += b.credit_minor;
                }
                by_account.retain(|_, v| *v != 0);
                for (account, side, cumulative, _) in &last {
                    let balance = by_account
                        .remove(&(account.clone(), side.clone()))
                        .unwrap_or(0);
                    if balance != *cumulative {
                        return Err(damaged(format!(
                            "gives {account} a {side} total of {cumulative} minor units, the \
                             balances table {balance}"
                        )));
                    }
                }
                if let Some(((account, side), v)) = by_account.into_iter().next() {
                    return Err(damaged(format!(
                        "has no {side} postings on {account}, the balances table {v} minor units"
                    )));
                }
            }
        }
        Ok(())
    }

    /// RFC 9162 inclusion proof of `seq` in the tree of `size`, from stored nodes (one query).
    pub async fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>> {
        self.check_size(size).await?;
        let ids = merkle::nodes_needed(|src| {
            let _ = merkle::inclusion_proof(seq, size, src);
        });
        let nodes = self.nodes(&ids).await?;
        let mut src = |id: NodeId| nodes.get(&id).copied().ok_or(id);
        merkle::inclusion_proof(seq, size, &mut src).map_err(proof_error)
    }

    /// RFC 9162 consistency proof from `size1` to `size2`.
    pub async fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>> {
        self.check_size(size2).await?;
        let ids = merkle::nodes_needed(|src| {
            let _ = merkle::consistency_proof(size1, size2, src);
        });
        let nodes = self.nodes(&ids).await?;
        let mut src = |id: NodeId| nodes.get(&id).copied().ok_or(id);
        merkle::consistency_proof(size1, size2, &mut src).map_err(proof_error)
    }

    async fn check_size(&self, size: u64) -> Result<()> {
        let current = self.tree_size().await?;
        if size > current {
            return Err(StoreError::Invalid(Invalid::new(
                "size",
                Code::BeyondTreeSize,
                format!("tree size {size} is beyond the current size {current}"),
            )));
        }
        Ok(())
    }
}

fn proof_error(e: merkle::GenerateError<NodeId>) -> StoreError {
    match e {
        merkle::GenerateError::Proof(p) => {
            StoreError::Invalid(Invalid::new("", Code::InvalidProofRequest, p.to_string()))
        }
        merkle::GenerateError::Source(id) => StoreError::Corrupt(format!(
            "Merkle node level {} index {} is missing",
            id.level, id.index
        )),
    }
}

/// The running total of each posting: the sum of its account's postings on the same side and in
/// the same currency up to and including it, starting from `before` (the account's totals,
/// debit and credit, before these postings).
pub(crate) fn running_totals(
    postings: &[crate::domain::PostingRow],
    before: &HashMap<(String, String), (i64, i64)>,
) -> Vec<i64> {
    let mut totals = before.clone();
    postings
        .iter()
        .map(|p| {
            let t = totals
                .entry((p.account.clone(), p.currency.clone()))
                .or_insert((0, 0));
            let side = match p.side {
                tranche_audit::posting::Side::Debit => &mut t.0,
                tranche_audit::posting::Side::Credit => &mut t.1,
            };
            *side += p.amount_minor;
            *side
        })
        .collect()
}

/// Debit and credit totals per (account, currency) for a range query's rows: the running
/// totals at its end and at its start, summed over currencies per (account, side).
pub(crate) fn range_totals(
    rows: Vec<(String, String, i64, i64)>,
) -> Vec<(String, String, i64, i64)> {
    let mut out: std::collections::BTreeMap<(String, String), (i64, i64)> = Default::default();
    for (account, side, at_to, at_from) in rows {
        if at_to == 0 {
            continue;
        }
        let e = out.entry((account, side)).or_insert((0, 0));
        e.0 += at_to;
        e.1 += at_to - at_from;
    }
    out.into_iter()
        .map(|((a, s), (cum, per))| (a, s, cum, per))
        .collect()
}

pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what}: {v}")))
}

pub(crate) fn to_i64(v: u64) -> i64 {
    // Seqs and sizes are bounded far below i64::MAX by the record limits; saturate defensively.
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_hash(v: Vec<u8>, what: &str) -> Result<Hash> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

/// The end of a `[prefix, prefix:…]` range for account-prefix queries: ';' sorts right after ':'.
pub(crate) fn prefix_range(prefix: &str) -> (String, String) {
    (format!("{prefix}:"), format!("{prefix};"))
}

/// The refusal to revoke the last active administrator.
pub(crate) fn last_admin(name: &str) -> StoreError {
    StoreError::Invalid(tranche_audit::Invalid::new(
        "name",
        Code::LastAdmin,
        format!("{name} is the last active admin: add another admin first, then revoke {name}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_url_the_store_cannot_use_is_shown_without_its_password() {
        for url in [
            "mysql://app:s3cret@db/tranche",
            "host=db user=app password=s3cret dbname=tranche",
        ] {
            let err = Store::connect(url).await.expect_err("no such backend");
            assert!(matches!(err, StoreError::BadUrl(_)), "{err:?}");
            for shown in [err.to_string(), format!("{err:?}")] {
                assert!(!shown.contains("s3cret"), "{shown}");
                assert!(shown.contains("***"), "{shown}");
            }
        }
    }
}
