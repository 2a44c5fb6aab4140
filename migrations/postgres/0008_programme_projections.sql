-- The programme projections: awards, rule versions, cycle runs, participants, evidence items
-- and entitlements, one insert-only row per fact, keyed by the seq of the record that made it.
-- Written by the store in the same transaction as those records (and by `tranche rebuild`),
-- compared with the journal by `tranche rebuild --check`, and guarded like the other
-- projections. One-shot commands (`award list`, `participants show`) read these rows instead of
-- replaying the journal, so their cost is what they show, not the history.

CREATE TABLE awards (award TEXT PRIMARY KEY, seq BIGINT NOT NULL, currency TEXT NOT NULL, body TEXT NOT NULL);
CREATE TRIGGER awards_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON awards
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE award_rules (award TEXT NOT NULL, rule TEXT NOT NULL, version BIGINT NOT NULL, seq BIGINT NOT NULL, shape TEXT NOT NULL, effective TEXT NOT NULL, PRIMARY KEY (award, rule, version));
CREATE TRIGGER award_rules_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON award_rules
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE award_cycles (award TEXT NOT NULL, period TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (award, period, seq));
CREATE TRIGGER award_cycles_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON award_cycles
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE participants (participant TEXT PRIMARY KEY, award TEXT NOT NULL, partner TEXT NOT NULL, seq BIGINT NOT NULL);
CREATE INDEX participants_award ON participants (award, participant);
CREATE INDEX participants_seq ON participants (seq);
CREATE TRIGGER participants_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON participants
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE evidence_items (seq BIGINT NOT NULL, idx BIGINT NOT NULL, participant TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, value TEXT NOT NULL, date TEXT, PRIMARY KEY (seq, idx));
CREATE INDEX evidence_items_participant ON evidence_items (participant, seq, idx);
CREATE TRIGGER evidence_items_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON evidence_items
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();

CREATE TABLE entitlements (seq BIGINT PRIMARY KEY, award TEXT NOT NULL, participant TEXT NOT NULL, basis TEXT NOT NULL, rule TEXT NOT NULL, version BIGINT NOT NULL, amount_minor BIGINT NOT NULL, reverses BIGINT, adjusts BIGINT);
CREATE INDEX entitlements_participant ON entitlements (participant, seq);
CREATE INDEX entitlements_award ON entitlements (award, seq);
CREATE TRIGGER entitlements_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON entitlements
    FOR EACH STATEMENT EXECUTE FUNCTION tranche_projection_guard();
