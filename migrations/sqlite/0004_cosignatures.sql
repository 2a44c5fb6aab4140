-- APPEND-ONLY: witnesses' cosignatures of checkpoints (C2SP tlog-cosignature note lines),
-- collected after each checkpoint and served with it. Evidence that the witnesses saw this
-- history: never changed, never removed.
CREATE TABLE cosignatures (
    size     INTEGER NOT NULL CHECK (size > 0),
    witness  TEXT    NOT NULL,
    line     TEXT    NOT NULL,
    PRIMARY KEY (size, witness)
) WITHOUT ROWID;
CREATE TRIGGER cosignatures_no_update BEFORE UPDATE ON cosignatures
BEGIN SELECT RAISE(ABORT, 'cosignatures is append-only: UPDATE refused'); END;
CREATE TRIGGER cosignatures_no_delete BEFORE DELETE ON cosignatures
BEGIN SELECT RAISE(ABORT, 'cosignatures is append-only: DELETE refused'); END;
