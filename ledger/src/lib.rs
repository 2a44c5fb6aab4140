//! The tranche ledger: the domain rules of the signed double-entry journal and its storage on
//! SQLite and PostgreSQL. It builds on `tranche-audit` (the record format and proofs) and must
//! never know HTTP: the API crate drives it.
//!
//! A tour, one layer per folder: [`domain`] decides (pure rules, no I/O), [`store`] persists
//! (one interface, two backends, and the rebuild of projections from the journal), [`service`]
//! holds the use cases that the CLI, the API and the web pages call, [`iso20022`] reads and
//! writes bank files, [`keys`] holds the checkpoint key, and [`Ledger`] ties them together.

/// CSV cells for spreadsheets: quoting and formula defusing; the one CSV reader.
pub mod csv;
/// The rules, with no I/O: commands, the programme and disbursement state, cycles, the
/// projection rows and the planner.
pub mod domain;
/// ISO 20022 bank files as pure functions: pain.001 and CSV out, pain.002, camt.053 and the
/// status CSV in.
pub mod iso20022;
/// The ledger's checkpoint key on disk.
pub mod keys;
/// Database URLs with their passwords hidden, for everything that prints one.
pub mod redact;
/// The use cases that the CLI, the API and the web pages call: programme operations,
/// disbursement, reports, exports.
pub mod service;
/// Persistence: the storage interface, its SQLite and PostgreSQL implementations, and the
/// rebuild of projections from the journal.
pub mod store;
/// Throwaway PostgreSQL clusters and synthetic programmes for tests and benchmarks; compiled
/// only with the `testkit` feature.
#[cfg(feature = "testkit")]
pub mod testkit;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use tranche_audit::note::{NoteSigner, NoteVerifier};
use tranche_audit::record::{kind, LedgerKeyBody, Record};
use tranche_audit::Code;

pub use domain::{Command, SignedCheckpoint};
pub use store::{Appended, Store, StoreError};

/// The origin (and checkpoint key name) of a ledger created without `--origin`.
pub const DEFAULT_ORIGIN: &str = "tranche.local/ledger";

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Mismatch(String),
}

/// Where the ledger keeps its state and how it identifies itself. Its `Debug` hides the
/// database URL's password.
#[derive(Clone)]
pub struct Config {
    /// Holds `tranche.db` (SQLite default) and `ledger.key`.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; `None` for the embedded SQLite file.
    pub database_url: Option<String>,
    /// A read-only copy of the database (a PostgreSQL streaming replica) that reports read
    /// from, so that they never load the primary; `None` to read them from the primary.
    /// A report read there is bound to the replica's latest checkpoint and says so.
    pub database_read_url: Option<String>,
    /// Path of the checkpoint key; default `<data_dir>/ledger.key`.
    pub key_path: Option<PathBuf>,
    /// The origin for a new ledger; default [`DEFAULT_ORIGIN`].
    pub origin: Option<String>,
    /// Path of the participant key (the HMAC key for document numbers); default
    /// `<data_dir>/participants.key`. Every node of one ledger must share it.
    pub participant_key_path: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact::RedactedUrl::new),
            )
            .field(
                "database_read_url",
                &self
                    .database_read_url
                    .as_deref()
                    .map(redact::RedactedUrl::new),
            )
            .field("key_path", &self.key_path)
            .field("origin", &self.origin)
            .field("participant_key_path", &self.participant_key_path)
            .finish()
    }
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            database_url: None,
            database_read_url: None,
            key_path: None,
            origin: None,
            participant_key_path: None,
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("tranche.db").display()))
    }

    pub fn participant_key_path(&self) -> PathBuf {
        self.participant_key_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("participants.key"))
    }

    pub fn key_path(&self) -> PathBuf {
        self.key_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("ledger.key"))
    }
}

/// An open ledger: its store and its checkpoint key.
#[derive(Debug, Clone)]
pub struct Ledger {
    store: Store,
    /// Where reports read: a replica given by `database_read_url`, else the primary.
    reader: Option<Store>,
    signer: std::sync::Arc<NoteSigner>,
    participant_key: std::sync::Arc<[u8; 32]>,
    cycle_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Ledger {
    /// Opens (and on first use creates) the ledger: data directory, database, migrations, key,
    /// and the genesis `ledger.key` record. Refuses a key that is not the journal's own.
    pub async fn open(config: &Config) -> Result<Ledger, LedgerError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| LedgerError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store = Store::connect(&config.database_url()).await?;
        let origin = config.origin.as_deref().unwrap_or(DEFAULT_ORIGIN);
        let signer = keys::load_or_create(&config.key_path(), origin)?;
        let participant_key = keys::load_or_create_secret(&config.participant_key_path())?;
        let reader = match &config.database_read_url {
            Some(url) => Some(Store::connect_reader(url).await?),
            None => None,
        };
        let ledger = Ledger {
            store,
            reader,
            signer: std::sync::Arc::new(signer),
            participant_key: std::sync::Arc::new(participant_key),
            cycle_lock: Default::default(),
        };
        if let Some(wanted) = &config.origin {
            if wanted != ledger.origin() {
                return Err(LedgerError::Mismatch(format!(
                    "the ledger key is for origin {:?}, not {wanted:?}",
                    ledger.origin()
                )));
            }
        }
        ledger.ensure_genesis().await?;
        // The public verifier key, beside the private one, for the operator to publish.
        let vkey_path = config.data_dir.join("ledger.vkey");
        ledger
            .write_vkey(&vkey_path)
            .map_err(|source| LedgerError::DataDir {
                path: vkey_path.display().to_string(),
                source,
            })?;
        Ok(ledger)
    }

    async fn ensure_genesis(&self) -> Result<(), LedgerError> {
        let vkey = self.signer.verifier().to_vkey();
        let first = self.store.records(0, 1).await?;
        match first.first() {
            None => {
                let command = Command::LedgerKey {
                    origin: self.origin().to_string(),
                    vkey,
                };
                match self.append(&[command], "ledger", Utc::now()).await {
                    Ok(_) => Ok(()),
                    // Another process created the genesis record first: check it is ours.
                    Err(StoreError::Invalid(i)) if i.code == Code::LedgerKeyNotFirst => {
                        Box::pin(self.ensure_genesis()).await
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Some(stored) => {
                // After a rotation, the key in force is the last one handed over to.
                if let Some(rotation) = self.store.last_of_kind(kind::LEDGER_ROTATE).await? {
                    let record = Record::decode(&rotation.bytes).map_err(|e| {
                        LedgerError::Mismatch(format!("seq {} is unreadable: {e}", rotation.seq))
                    })?;
                    let b: tranche_audit::record::LedgerRotateBody =
                        serde_json::from_value(record.body).map_err(|e| {
                            LedgerError::Mismatch(format!("seq {}: {e}", rotation.seq))
                        })?;
                    return if b.vkey == vkey {
                        Ok(())
                    } else {
                        Err(LedgerError::Mismatch(format!(
                            "the journal's checkpoint key was rotated to {} at seq {}, but the configured key is {vkey}",
                            b.vkey, rotation.seq
                        )))
                    };
                }
                let record = Record::decode(&stored.bytes)
                    .map_err(|e| LedgerError::Mismatch(format!("record 0 is unreadable: {e}")))?;
                let body: Option<LedgerKeyBody> = (record.kind == kind::LEDGER_KEY)
                    .then(|| serde_json::from_value(record.body.clone()).ok())
                    .flatten();
                match body {
                    Some(b) if b.vkey == vkey => Ok(()),
                    Some(b) => Err(LedgerError::Mismatch(format!(
                        "this journal was created with key {}, but the configured key is {vkey}",
                        b.vkey
                    ))),
                    None => Err(LedgerError::Mismatch(
                        "record 0 of this journal is not a ledger key record".into(),
                    )),
                }
            }
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store reports read: the replica given by `database_read_url`, else the primary.
    pub fn reader(&self) -> &Store {
        self.reader.as_ref().unwrap_or(&self.store)
    }

    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The checkpoint signer, for callers that build their own `domain::Context`.
    pub fn signer(&self) -> &NoteSigner {
        &self.signer
    }

    pub fn verifier(&self) -> &NoteVerifier {
        self.signer.verifier()
    }

    /// Appends a batch as `actor` at `now`: all or nothing, one checkpoint.
    pub async fn append(
        &self,
        commands: &[Command],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Appended, StoreError> {
        self.store.append(commands, &self.context(actor, now)).await
    }

    /// What an append by `actor` at `now` is signed and dated with.
    fn context<'a>(&'a self, actor: &'a str, now: DateTime<Utc>) -> domain::Context<'a> {
        domain::Context {
            actor,
            now,
            origin: self.origin(),
            signer: &self.signer,
        }
    }

    /// [`Self::append`], refused (`cycle_moved`, nothing written) when an entitlement of `award`
    /// was written at or after journal size `since` (see
    /// [`store::Store::append_unless_entitled_since`]): how a cycle posts what it computed at
    /// `since`.
    pub async fn append_unless_entitled_since(
        &self,
        commands: &[Command],
        actor: &str,
        now: DateTime<Utc>,
        award: &tranche_audit::programme::Id,
        since: u64,
    ) -> Result<Appended, StoreError> {
        self.store
            .append_unless_entitled_since(commands, &self.context(actor, now), award, since)
            .await
    }

    /// Rotates the checkpoint key: a new key of the same origin is made, the retiring key signs
    /// the hand-over in a `ledger.rotate` record (whose checkpoint the new key signs), the old
    /// key file is kept as `<key>.retired-<seq>` and the new one takes its place. Run it with
    /// the server stopped; every process must then be started again with the new key file.
    pub async fn rotate_key(&self, config: &Config) -> Result<(String, u64), LedgerError> {
        use base64::Engine as _;
        let new = keys::generate(self.origin())?;
        let vkey = new.verifier().to_vkey();
        let message = tranche_audit::record::rotation_message(self.origin(), &vkey);
        let signature = base64::engine::general_purpose::STANDARD
            .encode(self.signer.sign_raw(&message).to_bytes());
        let command = Command::RotateKey(tranche_audit::record::LedgerRotateBody {
            origin: self.origin().to_string(),
            vkey: vkey.clone(),
            signature,
        });
        let path = config.key_path();
        // The new key is on disk before the journal names it, so a crash leaves it recoverable.
        let staged = path.with_extension("next");
        let _ = std::fs::remove_file(&staged);
        keys::write_private(&staged, &new.to_private_text()).map_err(|source| {
            LedgerError::DataDir {
                path: staged.display().to_string(),
                source,
            }
        })?;
        let ctx = domain::Context {
            actor: "ledger",
            now: Utc::now(),
            origin: self.origin(),
            signer: &new,
        };
        let appended = self.store.append(&[command], &ctx).await?;
        let retired = path.with_extension(format!("retired-{}", appended.first_seq));
        let io = |p: &Path| {
            let p = p.display().to_string();
            move |source| LedgerError::DataDir { path: p, source }
        };
        std::fs::rename(&path, &retired).map_err(io(&path))?;
        std::fs::rename(&staged, &path).map_err(io(&path))?;
        std::fs::write(config.data_dir.join("ledger.vkey"), format!("{vkey}\n"))
            .map_err(io(&config.data_dir))?;
        Ok((vkey, appended.first_seq))
    }

    /// Writes the verifier key file next to an export or for publication.
    pub fn write_vkey(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, format!("{}\n", self.verifier().to_vkey()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_never_prints_the_database_password() {
        let mut config = Config::new("data");
        config.database_url = Some("postgres://app:s3cret@db.example/tranche".into());
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://app:***@db.example/tranche"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn opening_a_ledger_at_a_bad_url_never_prints_its_password() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::new(dir.path());
        config.database_url = Some("mysql://app:s3cret@db.example/tranche".into());
        let err = Ledger::open(&config).await.expect_err("no such backend");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }
}
