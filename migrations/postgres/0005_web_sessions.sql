-- Sign-in sessions of the web interface. Not journal history: a session is created on sign-in,
-- ended on sign-out and expires, so this is an ordinary mutable table. Only the SHA-256 of the
-- session cookie is stored, as with bearer tokens.
CREATE TABLE web_sessions (
    id_hash     BYTEA NOT NULL PRIMARY KEY CHECK (length(id_hash) = 32),
    user_name   TEXT NOT NULL REFERENCES users (name),
    -- The CSRF token every form of this session carries.
    csrf        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    -- Unix seconds after which the session is refused.
    expires_at  BIGINT NOT NULL,
    ended_at    TEXT
);
CREATE INDEX web_sessions_user ON web_sessions (user_name);
