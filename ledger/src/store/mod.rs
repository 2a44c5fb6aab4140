//! The one storage interface of the ledger and its two implementations: SQLite (the embedded
//! default) and PostgreSQL. Both run the same domain plan inside one database transaction,
//! holding the chain-head lock (`BEGIN IMMEDIATE` on SQLite, an advisory lock on PostgreSQL), so
//! `seq` stays gapless and two writers can never fork the chain.
//!
//! The backend is chosen once, from the database URL. Every step of an append, a rebuild and a
//! read is written once (`append`, `reads`, `access`, `projections`, `disbursement`,
//! `registry`) over the `backend::Backend` trait; `sqlite` and `postgres` hold only what
//! differs: connecting, the migrations, the writer lock, the projection guard and a few words
//! of SQL. Queries are bound at run time (sqlx's `Any` driver lacks the types we need), and
//! database errors are mapped here, never leaked: by their codes (`db_error`), never by their
//! messages.

mod access;
mod append;
mod backend;
pub mod db_error;
pub mod digest;
mod disbursement;
mod groups;
pub mod load;
mod postgres;
mod programme;
mod projections;
mod reads;
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
pub use programme::{replay_command, replay_record, ProgrammeCache, SharedProgramme};

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
    /// `YYYY-MM-DD`.
    pub accounting_date: String,
    /// The closed quarter a late correction corrects.
    pub prior_period: Option<String>,
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
pub struct Store {
    db: std::sync::Arc<dyn backend::Backend>,
    /// Shared by every clone of the store.
    programme: SharedProgramme,
}

impl Store {
    /// Connects to `sqlite://PATH` (created if missing) or `postgres://…`, and applies the
    /// migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        let db: std::sync::Arc<dyn backend::Backend> = if url.starts_with("sqlite:") {
            std::sync::Arc::new(sqlite::SqliteBackend::connect(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            std::sync::Arc::new(postgres::PgBackend::connect(url).await?)
        } else {
            return Err(StoreError::BadUrl(crate::redact::RedactedUrl::new(url)));
        };
        let store = Store {
            db,
            programme: SharedProgramme::default(),
        };
        if append::migrate(store.db.as_ref()).await? {
            tracing::info!("new projections: rebuilding them from the journal");
            store.replace_projections().await?;
        }
        Ok(store)
    }

    /// A store on a read-only copy of the database (a streaming replica): never migrated or
    /// rebuilt (the primary does that, and the copy follows), never appended to. Refused when
    /// the copy's schema is not the one this build expects.
    pub async fn connect_reader(url: &str) -> Result<Store> {
        let db: std::sync::Arc<dyn backend::Backend> =
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                std::sync::Arc::new(postgres::PgBackend::connect(url).await?)
            } else {
                return Err(StoreError::BadUrl(crate::redact::RedactedUrl::new(url)));
            };
        append::check_schema(db.as_ref()).await?;
        Ok(Store {
            db,
            programme: SharedProgramme::default(),
        })
    }

    pub fn backend_name(&self) -> &'static str {
        self.db.name()
    }

    /// Appends a batch atomically: all commands get consecutive seqs and one checkpoint, or
    /// nothing is written.
    pub async fn append(&self, commands: &[Command], ctx: &Context<'_>) -> Result<Appended> {
        self.append_guarded(commands, ctx, None).await
    }

    /// [`Self::append`], refused (`cycle_moved`, nothing written) when an entitlement of
    /// `award` was written at or after journal size `since`: a cycle's chunk computed from the
    /// state at `since` is then stale (another node ran the same cycle), and posting it could
    /// recover or supplement the same difference twice.
    pub async fn append_unless_entitled_since(
        &self,
        commands: &[Command],
        ctx: &Context<'_>,
        award: &tranche_audit::programme::Id,
        since: u64,
    ) -> Result<Appended> {
        self.append_guarded(commands, ctx, Some((award, since)))
            .await
    }

    async fn append_guarded(
        &self,
        commands: &[Command],
        ctx: &Context<'_>,
        guard: Option<(&tranche_audit::programme::Id, u64)>,
    ) -> Result<Appended> {
        let request = GroupRequest {
            actor: ctx.actor.to_string(),
            commands: commands.to_vec(),
            idempotency: None,
        };
        let (mut outcomes, checkpoint) = self.append_groups_guarded(&[request], ctx, guard).await?;
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

    /// Whether this process holds the programme state replayed from the journal (only
    /// disbursement commands and their services still need it; every other rule loads its rows).
    pub async fn holds_replayed_state(&self) -> bool {
        self.programme.lock().await.is_some()
    }

    /// The programme state, caught up with every committed record.
    pub async fn programme(&self) -> Result<ProgrammeGuard<'_>> {
        let shared = &self.programme;
        let mut guard = shared.lock().await;
        let size = self.tree_size().await?;
        loop {
            let cache = guard.get_or_insert_with(ProgrammeCache::default);
            if cache.size >= size {
                break;
            }
            let from = cache.size;
            let page = self.programme_page(from, size).await?;
            if let Err(e) = cache.replay(&page, size) {
                *guard = None;
                return Err(e);
            }
        }
        Ok(ProgrammeGuard(guard))
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
            let rows = self.family_rows(family, size).await?;
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
