-- The disbursement projections: award settings, payment batches and every record of their
-- life, payments and every event of theirs (batched, sent, the bank's outcomes, withdrawn),
-- bank files read and their parts. One insert-only row per fact, keyed by the seq of the record
-- that made it; a batch's or a payment's state is its latest row. Written by the store in the
-- same transaction as those records (and by `tranche rebuild`), compared with the journal by
-- `tranche rebuild --check`, and guarded like the other projections. `batch show`, `trace`, the
-- batch and payment pages and the bank import views read these rows instead of replaying the
-- journal.

CREATE TABLE award_settings (award TEXT NOT NULL, seq BIGINT NOT NULL, dual_approval_above_minor BIGINT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (award, seq));
CREATE TRIGGER award_settings_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON award_settings
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE batches (batch TEXT PRIMARY KEY, award TEXT NOT NULL, currency TEXT NOT NULL, preparer TEXT NOT NULL, seq BIGINT NOT NULL, filter TEXT NOT NULL);
CREATE INDEX batches_award ON batches (award, seq);
CREATE INDEX batches_seq ON batches (seq);
CREATE TRIGGER batches_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON batches
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE batch_events (seq BIGINT NOT NULL, batch TEXT NOT NULL, award TEXT NOT NULL, event TEXT NOT NULL, actor TEXT NOT NULL, status TEXT NOT NULL, total_minor BIGINT NOT NULL, approvals_required BIGINT NOT NULL, digest TEXT, reason TEXT, detail TEXT NOT NULL, PRIMARY KEY (batch, seq));
CREATE INDEX batch_events_seq ON batch_events (seq);
CREATE TRIGGER batch_events_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON batch_events
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE payments (e2e TEXT PRIMARY KEY, batch TEXT NOT NULL, idx BIGINT NOT NULL, award TEXT NOT NULL, payee TEXT NOT NULL, payable TEXT NOT NULL, amount_minor BIGINT NOT NULL, part BIGINT NOT NULL, seq BIGINT NOT NULL, items TEXT NOT NULL, reissues TEXT NOT NULL);
CREATE UNIQUE INDEX payments_batch ON payments (batch, idx);
CREATE INDEX payments_seq ON payments (seq);
CREATE TRIGGER payments_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON payments
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE payment_events (e2e TEXT NOT NULL, n BIGINT NOT NULL, seq BIGINT NOT NULL, event TEXT NOT NULL, state TEXT NOT NULL, reason TEXT, PRIMARY KEY (e2e, n));
CREATE INDEX payment_events_seq ON payment_events (seq);
CREATE TRIGGER payment_events_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON payment_events
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE bank_imports (sha256 TEXT PRIMARY KEY, award TEXT NOT NULL, format TEXT NOT NULL, seq BIGINT NOT NULL, body TEXT NOT NULL);
CREATE INDEX bank_imports_seq ON bank_imports (seq);
CREATE TRIGGER bank_imports_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON bank_imports
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE bank_import_parts (seq BIGINT PRIMARY KEY, sha256 TEXT NOT NULL, part BIGINT NOT NULL, outcomes BIGINT NOT NULL, exceptions TEXT NOT NULL);
CREATE UNIQUE INDEX bank_import_parts_import ON bank_import_parts (sha256, part);
CREATE TRIGGER bank_import_parts_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON bank_import_parts
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();
