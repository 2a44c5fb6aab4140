-- Accounting dates: every posting and transaction row carries the accounting date (value date)
-- of the record that made it, and a late correction the closed quarter it corrects. Reports sum
-- postings by accounting date, not by the time a record was written. `award_periods` holds the
-- `period.close` and `period.reopen` records of each award (replayed with the award's other
-- records when the rules load it). Projections like the rest: rebuilt by `tranche rebuild`,
-- compared by `tranche rebuild --check`.
ALTER TABLE postings ADD COLUMN accounting_date TEXT NOT NULL DEFAULT '';
-- Covering: a period's sums per account read the index alone.
CREATE INDEX postings_dated ON postings (account, accounting_date, side, seq, amount_minor);
ALTER TABLE transactions ADD COLUMN accounting_date TEXT NOT NULL DEFAULT '';
ALTER TABLE transactions ADD COLUMN prior_period TEXT;
CREATE INDEX transactions_dated ON transactions (accounting_date);

CREATE TABLE award_periods (seq INTEGER PRIMARY KEY, award TEXT NOT NULL, kind TEXT NOT NULL, quarter TEXT NOT NULL);
CREATE INDEX award_periods_award ON award_periods (award, seq);
CREATE TRIGGER award_periods_guard_insert BEFORE INSERT ON award_periods
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'award_periods is a projection of the journal, written only by the ledger: INSERT refused'); END;
CREATE TRIGGER award_periods_guard_update BEFORE UPDATE ON award_periods
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'award_periods is a projection of the journal, written only by the ledger: UPDATE refused'); END;
CREATE TRIGGER award_periods_guard_delete BEFORE DELETE ON award_periods
WHEN (SELECT armed FROM projection_writer) IS NOT 1
BEGIN SELECT RAISE(ABORT, 'award_periods is a projection of the journal, written only by the ledger: DELETE refused'); END;
