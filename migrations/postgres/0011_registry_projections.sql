-- The registry projections: partners and every record of their keys, partner-signed evidence
-- statements (who signed, batch id, items), cohorts and their sessions. Insert-only rows keyed by
-- the seq of the record that made them, written by the store in the same transaction as those
-- records (and by `tranche rebuild`), compared with the journal by `tranche rebuild --check`,
-- and guarded like the other projections. The partner, cohort, award and participant views read
-- them instead of replaying the journal.

CREATE TABLE partners (partner TEXT PRIMARY KEY, seq BIGINT NOT NULL, name TEXT NOT NULL);
CREATE INDEX partners_seq ON partners (seq);
CREATE TRIGGER partners_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON partners
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE partner_keys (seq BIGINT PRIMARY KEY, key_id TEXT NOT NULL, partner TEXT NOT NULL, action TEXT NOT NULL, public_key TEXT, replaces TEXT);
CREATE INDEX partner_keys_partner ON partner_keys (partner, seq);
CREATE TRIGGER partner_keys_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON partner_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE evidence_statements (seq BIGINT PRIMARY KEY, partner TEXT NOT NULL, batch_id TEXT NOT NULL, items BIGINT NOT NULL, key_id TEXT NOT NULL, submitted_at TEXT NOT NULL);
CREATE INDEX evidence_statements_partner ON evidence_statements (partner, seq);
CREATE TRIGGER evidence_statements_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON evidence_statements
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE cohorts (cohort TEXT PRIMARY KEY, award TEXT NOT NULL, partner TEXT NOT NULL, seq BIGINT NOT NULL, body TEXT NOT NULL);
CREATE INDEX cohorts_award ON cohorts (award, cohort);
CREATE INDEX cohorts_partner ON cohorts (partner, cohort);
CREATE INDEX cohorts_seq ON cohorts (seq);
CREATE TRIGGER cohorts_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON cohorts
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE sessions (session TEXT PRIMARY KEY, cohort TEXT NOT NULL, date TEXT NOT NULL, seq BIGINT NOT NULL);
CREATE INDEX sessions_cohort ON sessions (cohort, date, session);
CREATE INDEX sessions_seq ON sessions (seq);
CREATE TRIGGER sessions_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();
