-- The journal and everything derived from it, SQLite flavour.
-- Tables marked APPEND-ONLY refuse UPDATE and DELETE in the database itself, so that no code
-- path (and no one with a SQL prompt who keeps the triggers) can edit history.

-- APPEND-ONLY: one canonical record per seq (0-based, gapless).
CREATE TABLE journal (
    seq        INTEGER PRIMARY KEY CHECK (seq >= 0),
    kind       TEXT    NOT NULL,
    at         TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    record     BLOB    NOT NULL,
    leaf_hash  BLOB    NOT NULL CHECK (length(leaf_hash) = 32)
);
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'journal is append-only: UPDATE refused'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'journal is append-only: DELETE refused'); END;

-- APPEND-ONLY: every perfect subtree hash of the RFC 6962 tree, so that appends and proofs are
-- O(log n). Node (level, idx) covers leaves [idx << level, (idx + 1) << level).
CREATE TABLE merkle_nodes (
    level  INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx    INTEGER NOT NULL CHECK (idx >= 0),
    hash   BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TRIGGER merkle_nodes_no_update BEFORE UPDATE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'merkle_nodes is append-only: UPDATE refused'); END;
CREATE TRIGGER merkle_nodes_no_delete BEFORE DELETE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'merkle_nodes is append-only: DELETE refused'); END;

-- APPEND-ONLY: the signed checkpoints, one per committed batch.
CREATE TABLE checkpoints (
    size        INTEGER PRIMARY KEY CHECK (size > 0),
    root        BLOB    NOT NULL CHECK (length(root) = 32),
    note        TEXT    NOT NULL,
    signed_at   TEXT    NOT NULL
);
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only: UPDATE refused'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only: DELETE refused'); END;

-- Projections: derived from the journal in the same database transaction as each append, and
-- rebuildable from the journal alone (`tranche rebuild`).
CREATE TABLE accounts (
    name        TEXT    PRIMARY KEY,
    type        TEXT    NOT NULL,
    description TEXT,
    opened_seq  INTEGER NOT NULL,
    closed_seq  INTEGER
);

CREATE TABLE balances (
    account       TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    -- typeof() guards against SQLite silently turning an overflowing sum into a REAL.
    debit_minor   INTEGER NOT NULL CHECK (typeof(debit_minor) = 'integer' AND debit_minor >= 0),
    credit_minor  INTEGER NOT NULL CHECK (typeof(credit_minor) = 'integer' AND credit_minor >= 0),
    PRIMARY KEY (account, currency)
) WITHOUT ROWID;

CREATE TABLE postings (
    seq           INTEGER NOT NULL,
    idx           INTEGER NOT NULL,
    account       TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    side          TEXT    NOT NULL CHECK (side IN ('debit', 'credit')),
    amount_minor  INTEGER NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (seq, idx)
) WITHOUT ROWID;
CREATE INDEX postings_by_account ON postings (account, seq);

CREATE TABLE transactions (
    seq          INTEGER PRIMARY KEY,
    memo         TEXT    NOT NULL,
    -- UNIQUE: the database itself refuses a second reversal of one transaction.
    reverses     INTEGER UNIQUE,
    reversed_by  INTEGER UNIQUE
);
