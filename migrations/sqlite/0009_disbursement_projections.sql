-- The disbursement projections: award settings, payment batches and every record of their
-- life, payments and every event of theirs (batched, sent, the bank's outcomes, withdrawn),
-- bank files read and their parts. One insert-only row per fact, keyed by the seq of the record
-- that made it; a batch's or a payment's state is its latest row. Written by the store in the
-- same transaction as those records (and by `tranche rebuild`), compared with the journal by
-- `tranche rebuild --check`, and guarded like the other projections. `batch show`, `trace`, the
-- batch and payment pages and the bank import views read these rows instead of replaying the
-- journal.

CREATE TABLE award_settings (award TEXT NOT NULL, seq INTEGER NOT NULL, dual_approval_above_minor INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (award, seq));
CREATE TRIGGER award_settings_guard_insert BEFORE INSERT ON award_settings
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'award_settings is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER award_settings_guard_update BEFORE UPDATE ON award_settings
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'award_settings is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER award_settings_guard_delete BEFORE DELETE ON award_settings
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'award_settings is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE batches (batch TEXT PRIMARY KEY, award TEXT NOT NULL, currency TEXT NOT NULL, preparer TEXT NOT NULL, seq INTEGER NOT NULL, filter TEXT NOT NULL);
CREATE INDEX batches_award ON batches (award, seq);
CREATE INDEX batches_seq ON batches (seq);
CREATE TRIGGER batches_guard_insert BEFORE INSERT ON batches
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'batches is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER batches_guard_update BEFORE UPDATE ON batches
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'batches is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER batches_guard_delete BEFORE DELETE ON batches
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'batches is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE batch_events (seq INTEGER NOT NULL, batch TEXT NOT NULL, award TEXT NOT NULL, event TEXT NOT NULL, actor TEXT NOT NULL, status TEXT NOT NULL, total_minor INTEGER NOT NULL, approvals_required INTEGER NOT NULL, digest TEXT, reason TEXT, detail TEXT NOT NULL, PRIMARY KEY (batch, seq));
CREATE INDEX batch_events_seq ON batch_events (seq);
CREATE TRIGGER batch_events_guard_insert BEFORE INSERT ON batch_events
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'batch_events is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER batch_events_guard_update BEFORE UPDATE ON batch_events
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'batch_events is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER batch_events_guard_delete BEFORE DELETE ON batch_events
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'batch_events is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE payments (e2e TEXT PRIMARY KEY, batch TEXT NOT NULL, idx INTEGER NOT NULL, award TEXT NOT NULL, payee TEXT NOT NULL, payable TEXT NOT NULL, amount_minor INTEGER NOT NULL, part INTEGER NOT NULL, seq INTEGER NOT NULL, items TEXT NOT NULL, reissues TEXT NOT NULL);
CREATE UNIQUE INDEX payments_batch ON payments (batch, idx);
CREATE INDEX payments_seq ON payments (seq);
CREATE TRIGGER payments_guard_insert BEFORE INSERT ON payments
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'payments is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER payments_guard_update BEFORE UPDATE ON payments
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'payments is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER payments_guard_delete BEFORE DELETE ON payments
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'payments is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE payment_events (e2e TEXT NOT NULL, n INTEGER NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, state TEXT NOT NULL, reason TEXT, PRIMARY KEY (e2e, n));
CREATE INDEX payment_events_seq ON payment_events (seq);
CREATE TRIGGER payment_events_guard_insert BEFORE INSERT ON payment_events
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'payment_events is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER payment_events_guard_update BEFORE UPDATE ON payment_events
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'payment_events is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER payment_events_guard_delete BEFORE DELETE ON payment_events
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'payment_events is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE bank_imports (sha256 TEXT PRIMARY KEY, award TEXT NOT NULL, format TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX bank_imports_seq ON bank_imports (seq);
CREATE TRIGGER bank_imports_guard_insert BEFORE INSERT ON bank_imports
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'bank_imports is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER bank_imports_guard_update BEFORE UPDATE ON bank_imports
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'bank_imports is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER bank_imports_guard_delete BEFORE DELETE ON bank_imports
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'bank_imports is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE bank_import_parts (seq INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, part INTEGER NOT NULL, outcomes INTEGER NOT NULL, exceptions TEXT NOT NULL);
CREATE UNIQUE INDEX bank_import_parts_import ON bank_import_parts (sha256, part);
CREATE TRIGGER bank_import_parts_guard_insert BEFORE INSERT ON bank_import_parts
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'bank_import_parts is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER bank_import_parts_guard_update BEFORE UPDATE ON bank_import_parts
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'bank_import_parts is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER bank_import_parts_guard_delete BEFORE DELETE ON bank_import_parts
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'bank_import_parts is a projection of the journal, written only by the ledger: DELETE refused'); END;
