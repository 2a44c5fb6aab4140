-- Projections are written only by the ledger's own append and rebuild, never from a SQL prompt.
-- The store arms `projection_writer` inside its own write transaction and disarms it before it
-- commits, so the committed value is always 0 and every other connection sees the guard closed.
-- (SQLite has no session variables and no roles: someone who arms the flag or drops a trigger on
-- purpose can still edit a projection; the digests below, kept with the checkpoints, then catch
-- it before anything is signed.)
CREATE TABLE projection_writer (armed INTEGER NOT NULL CHECK (armed IN (0, 1)));
INSERT INTO projection_writer (armed) VALUES (0);
CREATE TRIGGER projection_writer_one_row BEFORE INSERT ON projection_writer
BEGIN SELECT RAISE(ABORT, 'projection_writer holds one row: INSERT refused'); END;
CREATE TRIGGER projection_writer_no_delete BEFORE DELETE ON projection_writer
BEGIN SELECT RAISE(ABORT, 'projection_writer holds one row: DELETE refused'); END;
CREATE TRIGGER accounts_guard_insert BEFORE INSERT ON accounts
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'accounts is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER accounts_guard_update BEFORE UPDATE ON accounts
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'accounts is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER accounts_guard_delete BEFORE DELETE ON accounts
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'accounts is a projection of the journal, written only by the ledger: DELETE refused'); END;
CREATE TRIGGER balances_guard_insert BEFORE INSERT ON balances
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'balances is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER balances_guard_update BEFORE UPDATE ON balances
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'balances is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER balances_guard_delete BEFORE DELETE ON balances
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'balances is a projection of the journal, written only by the ledger: DELETE refused'); END;
CREATE TRIGGER postings_guard_insert BEFORE INSERT ON postings
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'postings is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER postings_guard_update BEFORE UPDATE ON postings
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'postings is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER postings_guard_delete BEFORE DELETE ON postings
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'postings is a projection of the journal, written only by the ledger: DELETE refused'); END;
CREATE TRIGGER transactions_guard_insert BEFORE INSERT ON transactions
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'transactions is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER transactions_guard_update BEFORE UPDATE ON transactions
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'transactions is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER transactions_guard_delete BEFORE DELETE ON transactions
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'transactions is a projection of the journal, written only by the ledger: DELETE refused'); END;

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
    size    INTEGER NOT NULL CHECK (size > 0),
    rows    INTEGER NOT NULL CHECK (rows > 0),
    chain   BLOB    NOT NULL CHECK (length(chain) = 32),
    -- The family's debit and credit totals in minor units, summed across currencies (a check
    -- sum, kept as decimal text: it may pass an i64).
    debit   TEXT    NOT NULL,
    credit  TEXT    NOT NULL,
    PRIMARY KEY (family, size)
) WITHOUT ROWID;
CREATE TRIGGER projection_digests_no_update BEFORE UPDATE ON projection_digests
BEGIN SELECT RAISE(ABORT, 'projection_digests is append-only: UPDATE refused'); END;
CREATE TRIGGER projection_digests_no_delete BEFORE DELETE ON projection_digests
BEGIN SELECT RAISE(ABORT, 'projection_digests is append-only: DELETE refused'); END;
