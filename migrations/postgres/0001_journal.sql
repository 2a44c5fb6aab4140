-- The journal and everything derived from it, PostgreSQL flavour.
-- Tables marked APPEND-ONLY refuse UPDATE, DELETE and TRUNCATE in the database itself.

CREATE FUNCTION tranche_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- APPEND-ONLY: one canonical record per seq (0-based, gapless).
CREATE TABLE journal (
    seq        BIGINT PRIMARY KEY CHECK (seq >= 0),
    kind       TEXT   NOT NULL,
    at         TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    record     BYTEA  NOT NULL,
    leaf_hash  BYTEA  NOT NULL CHECK (length(leaf_hash) = 32)
);

-- APPEND-ONLY: every perfect subtree hash of the RFC 6962 tree.
CREATE TABLE merkle_nodes (
    level  SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx    BIGINT   NOT NULL CHECK (idx >= 0),
    hash   BYTEA    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- APPEND-ONLY: the signed checkpoints, one per committed batch.
CREATE TABLE checkpoints (
    size       BIGINT PRIMARY KEY CHECK (size > 0),
    root       BYTEA  NOT NULL CHECK (length(root) = 32),
    note       TEXT   NOT NULL,
    signed_at  TEXT   NOT NULL
);

CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION tranche_append_only();
CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_append_only();
CREATE TRIGGER merkle_nodes_append_only BEFORE UPDATE OR DELETE ON merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION tranche_append_only();
CREATE TRIGGER merkle_nodes_no_truncate BEFORE TRUNCATE ON merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_append_only();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION tranche_append_only();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_append_only();

-- Projections, rebuildable from the journal alone.
CREATE TABLE accounts (
    name        TEXT   PRIMARY KEY,
    type        TEXT   NOT NULL,
    description TEXT,
    opened_seq  BIGINT NOT NULL,
    closed_seq  BIGINT
);

CREATE TABLE balances (
    account       TEXT   NOT NULL,
    currency      TEXT   NOT NULL,
    debit_minor   BIGINT NOT NULL CHECK (debit_minor >= 0),
    credit_minor  BIGINT NOT NULL CHECK (credit_minor >= 0),
    PRIMARY KEY (account, currency)
);

CREATE TABLE postings (
    seq           BIGINT   NOT NULL,
    idx           INTEGER  NOT NULL,
    account       TEXT     NOT NULL,
    currency      TEXT     NOT NULL,
    side          TEXT     NOT NULL CHECK (side IN ('debit', 'credit')),
    amount_minor  BIGINT   NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (seq, idx)
);
CREATE INDEX postings_by_account ON postings (account, seq);

CREATE TABLE transactions (
    seq          BIGINT PRIMARY KEY,
    memo         TEXT   NOT NULL,
    reverses     BIGINT UNIQUE,
    reversed_by  BIGINT UNIQUE
);
