-- The registry projections: partners and every record of their keys, partner-signed evidence
-- statements (who signed, batch id, items), cohorts and their sessions. Insert-only rows keyed by
-- the seq of the record that made them, written by the store in the same transaction as those
-- records (and by `tranche rebuild`), compared with the journal by `tranche rebuild --check`,
-- and guarded like the other projections. The partner, cohort, award and participant views read
-- them instead of replaying the journal.

CREATE TABLE partners (partner TEXT PRIMARY KEY, seq INTEGER NOT NULL, name TEXT NOT NULL);
CREATE INDEX partners_seq ON partners (seq);
CREATE TRIGGER partners_guard_insert BEFORE INSERT ON partners
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'partners is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER partners_guard_update BEFORE UPDATE ON partners
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'partners is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER partners_guard_delete BEFORE DELETE ON partners
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'partners is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE partner_keys (seq INTEGER PRIMARY KEY, key_id TEXT NOT NULL, partner TEXT NOT NULL, action TEXT NOT NULL, public_key TEXT, replaces TEXT);
CREATE INDEX partner_keys_partner ON partner_keys (partner, seq);
CREATE TRIGGER partner_keys_guard_insert BEFORE INSERT ON partner_keys
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'partner_keys is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER partner_keys_guard_update BEFORE UPDATE ON partner_keys
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'partner_keys is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER partner_keys_guard_delete BEFORE DELETE ON partner_keys
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'partner_keys is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE evidence_statements (seq INTEGER PRIMARY KEY, partner TEXT NOT NULL, batch_id TEXT NOT NULL, items INTEGER NOT NULL, key_id TEXT NOT NULL, submitted_at TEXT NOT NULL);
CREATE INDEX evidence_statements_partner ON evidence_statements (partner, seq);
CREATE TRIGGER evidence_statements_guard_insert BEFORE INSERT ON evidence_statements
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'evidence_statements is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER evidence_statements_guard_update BEFORE UPDATE ON evidence_statements
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'evidence_statements is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER evidence_statements_guard_delete BEFORE DELETE ON evidence_statements
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'evidence_statements is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE cohorts (cohort TEXT PRIMARY KEY, award TEXT NOT NULL, partner TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX cohorts_award ON cohorts (award, cohort);
CREATE INDEX cohorts_partner ON cohorts (partner, cohort);
CREATE INDEX cohorts_seq ON cohorts (seq);
CREATE TRIGGER cohorts_guard_insert BEFORE INSERT ON cohorts
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'cohorts is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER cohorts_guard_update BEFORE UPDATE ON cohorts
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'cohorts is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER cohorts_guard_delete BEFORE DELETE ON cohorts
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'cohorts is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE sessions (session TEXT PRIMARY KEY, cohort TEXT NOT NULL, date TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX sessions_cohort ON sessions (cohort, date, session);
CREATE INDEX sessions_seq ON sessions (seq);
CREATE TRIGGER sessions_guard_insert BEFORE INSERT ON sessions
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'sessions is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER sessions_guard_update BEFORE UPDATE ON sessions
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'sessions is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER sessions_guard_delete BEFORE DELETE ON sessions
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'sessions is a projection of the journal, written only by the ledger: DELETE refused'); END;
