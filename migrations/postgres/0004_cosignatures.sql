-- APPEND-ONLY: witnesses' cosignatures of checkpoints (C2SP tlog-cosignature note lines),
-- collected after each checkpoint and served with it. Evidence that the witnesses saw this
-- history: never changed, never removed.
CREATE TABLE cosignatures (
    size     BIGINT NOT NULL CHECK (size > 0),
    witness  TEXT   NOT NULL,
    line     TEXT   NOT NULL,
    PRIMARY KEY (size, witness)
);
CREATE TRIGGER cosignatures_append_only BEFORE UPDATE OR DELETE ON cosignatures
    FOR EACH ROW EXECUTE FUNCTION tranche_append_only();
CREATE TRIGGER cosignatures_no_truncate BEFORE TRUNCATE ON cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_append_only();
