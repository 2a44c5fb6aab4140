-- Running totals: each posting carries the sum of its account's postings on the same side and
-- in the same currency up to and including itself, so the total of any seq range of an account
-- is two index lookups (the reports' projections), never a scan of the postings. A projection
-- like the rest of this table: rebuilt from the journal by `tranche rebuild`, checked by
-- `tranche rebuild --check`.
ALTER TABLE postings ADD COLUMN running_minor INTEGER NOT NULL DEFAULT 0;
UPDATE postings SET running_minor = r.running FROM (
    SELECT seq, idx, (SUM(amount_minor) OVER (
        PARTITION BY account, currency, side ORDER BY seq, idx ROWS UNBOUNDED PRECEDING)) AS running
    FROM postings) AS r
WHERE postings.seq = r.seq AND postings.idx = r.idx;
CREATE INDEX postings_running ON postings (account, currency, side, seq, idx);
