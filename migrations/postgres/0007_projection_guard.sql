-- Projections are written only by the ledger's own append and rebuild, never from a SQL prompt:
-- the store sets `tranche.writer` to 'on' for its own write transaction only
-- (`set_config(..., true)`), and a statement-level trigger refuses every other INSERT, UPDATE,
-- DELETE and TRUNCATE. (Someone who sets the variable or drops a trigger on purpose can still
-- edit a projection; a separate database role without those rights closes that, and the digests
-- below, kept with the checkpoints, catch it before anything is signed.)
CREATE FUNCTION tranche_projection_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('tranche.writer', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION '% is a projection of the journal, written only by the ledger: % refused',
            TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER accounts_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();
CREATE TRIGGER balances_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON balances
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();
CREATE TRIGGER postings_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();
CREATE TRIGGER transactions_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

-- APPEND-ONLY: a digest of the postings projection kept with each checkpoint, per account family
-- (the first two segments of an account name: `expense:AWARD`, `bank:AWARD`). `chain` is the
-- SHA-256 chain over the family's postings in (seq, idx) order, running totals included, and
-- `rows` their count, for every posting below `size`. A row is written for each family an append
-- touches, in the same transaction as its checkpoint. Before the ledger signs a report from the
-- postings, it checks each family the report reads against the latest row (count, totals of the
-- accounts' last running totals, balances) and refuses on a difference; `rebuild --check`
-- recomputes every chain from the journal.
CREATE TABLE projection_digests (
    family  TEXT    NOT NULL,
    size    BIGINT  NOT NULL CHECK (size > 0),
    rows    BIGINT  NOT NULL CHECK (rows > 0),
    chain   BYTEA   NOT NULL CHECK (length(chain) = 32),
    -- The family's debit and credit totals in minor units, summed across currencies (a check
    -- sum, kept as decimal text: it may pass an i64).
    debit   TEXT    NOT NULL,
    credit  TEXT    NOT NULL,
    PRIMARY KEY (family, size)
);
CREATE TRIGGER projection_digests_append_only BEFORE UPDATE OR DELETE ON projection_digests
    FOR EACH ROW EXECUTE FUNCTION tranche_append_only();
CREATE TRIGGER projection_digests_no_truncate BEFORE TRUNCATE ON projection_digests
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_append_only();
