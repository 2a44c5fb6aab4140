-- API users and idempotency keys. Neither is journal history: users can be revoked and
-- idempotency keys expire (kept at least 24 hours), so both are ordinary mutable tables.

CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'preparer', 'approver', 'partner', 'auditor', 'donor')),
    partner     TEXT,
    -- SHA-256 of the bearer token: the token itself is shown once and never stored.
    token_hash  BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    CHECK ((role = 'partner') = (partner IS NOT NULL))
);

CREATE TABLE idempotency (
    user_name     TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BYTEA NOT NULL CHECK (length(request_hash) = 32),
    outcome       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (user_name, key)
);
