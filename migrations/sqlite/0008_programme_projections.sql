-- The programme projections: awards, rule versions, cycle runs, participants, evidence items
-- and entitlements, one insert-only row per fact, keyed by the seq of the record that made it.
-- Written by the store in the same transaction as those records (and by `tranche rebuild`),
-- compared with the journal by `tranche rebuild --check`, and guarded like the other
-- projections. One-shot commands (`award list`, `participants show`) read these rows instead of
-- replaying the journal, so their cost is what they show, not the history.

CREATE TABLE awards (award TEXT PRIMARY KEY, seq INTEGER NOT NULL, currency TEXT NOT NULL, body TEXT NOT NULL);
CREATE TRIGGER awards_guard_insert BEFORE INSERT ON awards
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'awards is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER awards_guard_update BEFORE UPDATE ON awards
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'awards is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER awards_guard_delete BEFORE DELETE ON awards
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'awards is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE award_rules (award TEXT NOT NULL, rule TEXT NOT NULL, version INTEGER NOT NULL, seq INTEGER NOT NULL, shape TEXT NOT NULL, effective TEXT NOT NULL, PRIMARY KEY (award, rule, version));
CREATE TRIGGER award_rules_guard_insert BEFORE INSERT ON award_rules
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'award_rules is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER award_rules_guard_update BEFORE UPDATE ON award_rules
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'award_rules is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER award_rules_guard_delete BEFORE DELETE ON award_rules
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'award_rules is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE award_cycles (award TEXT NOT NULL, period TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (award, period, seq));
CREATE TRIGGER award_cycles_guard_insert BEFORE INSERT ON award_cycles
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'award_cycles is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER award_cycles_guard_update BEFORE UPDATE ON award_cycles
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'award_cycles is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER award_cycles_guard_delete BEFORE DELETE ON award_cycles
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'award_cycles is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE participants (participant TEXT PRIMARY KEY, award TEXT NOT NULL, partner TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX participants_award ON participants (award, participant);
CREATE INDEX participants_seq ON participants (seq);
CREATE TRIGGER participants_guard_insert BEFORE INSERT ON participants
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'participants is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER participants_guard_update BEFORE UPDATE ON participants
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'participants is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER participants_guard_delete BEFORE DELETE ON participants
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'participants is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE evidence_items (seq INTEGER NOT NULL, idx INTEGER NOT NULL, participant TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, value TEXT NOT NULL, date TEXT, PRIMARY KEY (seq, idx));
CREATE INDEX evidence_items_participant ON evidence_items (participant, seq, idx);
CREATE TRIGGER evidence_items_guard_insert BEFORE INSERT ON evidence_items
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'evidence_items is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER evidence_items_guard_update BEFORE UPDATE ON evidence_items
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'evidence_items is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER evidence_items_guard_delete BEFORE DELETE ON evidence_items
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'evidence_items is a projection of the journal, written only by the ledger: DELETE refused'); END;

CREATE TABLE entitlements (seq INTEGER PRIMARY KEY, award TEXT NOT NULL, participant TEXT NOT NULL, basis TEXT NOT NULL, rule TEXT NOT NULL, version INTEGER NOT NULL, amount_minor INTEGER NOT NULL, reverses INTEGER, adjusts INTEGER);
CREATE INDEX entitlements_participant ON entitlements (participant, seq);
CREATE INDEX entitlements_award ON entitlements (award, seq);
CREATE TRIGGER entitlements_guard_insert BEFORE INSERT ON entitlements
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'entitlements is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER entitlements_guard_update BEFORE UPDATE ON entitlements
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'entitlements is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER entitlements_guard_delete BEFORE DELETE ON entitlements
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'entitlements is a projection of the journal, written only by the ledger: DELETE refused'); END;
