-- Lookups the rules make when they load only the rows a batch touches: a partner's statement by
-- its batch id (is it already journaled, and with which signature?).
CREATE INDEX evidence_statements_batch ON evidence_statements (partner, batch_id);
-- The payments to a payee's payable account (is her entitlement paid?).
CREATE INDEX payments_payable ON payments (payable, seq);
-- An award's payments (the budget report's "paid" column).
CREATE INDEX payments_award ON payments (award, seq);
-- The sessions of a period (a cycle's attendance) and a key's partner (a statement's signer).
CREATE INDEX sessions_date ON sessions (date, session);
CREATE INDEX partner_keys_key ON partner_keys (key_id, seq);
