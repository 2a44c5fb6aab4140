-- The guards raise SQLSTATEs of their own, so that the ledger knows their refusals by code and
-- never by message (ledger/src/store/db_error.rs): TR001 for an edit of an append-only table,
-- TR002 for a projection written by anyone but the ledger. They raised `insufficient_privilege`
-- (42501) before, which PostgreSQL also raises for a role that lacks a right, so that code alone
-- could not tell them apart. Class TR is used neither by PostgreSQL nor by the SQL standard.
-- The messages are unchanged, and every trigger calls these functions by name, so replacing the
-- functions is enough. (SQLite needs no counterpart: every trigger of its schema that raises is
-- a guard, and `RAISE(ABORT, ...)` always reports SQLITE_CONSTRAINT_TRIGGER.)
CREATE OR REPLACE FUNCTION tranche_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'TR001';
END;
$$;

CREATE OR REPLACE FUNCTION tranche_projection_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('tranche.writer', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION '% is a projection of the journal, written only by the ledger: % refused',
            TG_TABLE_NAME, TG_OP USING ERRCODE = 'TR002';
    END IF;
    RETURN NULL;
END;
$$;
