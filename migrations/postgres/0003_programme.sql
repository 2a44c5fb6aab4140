-- The programme: records are read back by kind to rebuild the in-memory programme state.
CREATE INDEX journal_kind ON journal (kind, seq);

-- MUTABLE AND ERASABLE: the personal data of participants. The journal holds only a pseudonym
-- and a salted commitment; this table holds the rest and can be erased row by row. The document
-- number is checked for duplicates through its keyed hash (doc_hmac), never in clear.
CREATE TABLE participant_data (
    participant     TEXT    COLLATE "C" PRIMARY KEY,
    award           TEXT    COLLATE "C" NOT NULL,
    partner         TEXT    NOT NULL,
    registered_seq  BIGINT  NOT NULL,
    doc_hmac        TEXT,
    salt            TEXT,
    personal        TEXT,
    attributes      TEXT,
    erased_at       TEXT
);
CREATE UNIQUE INDEX participant_data_doc ON participant_data (award, doc_hmac);
CREATE INDEX participant_data_award ON participant_data (award, participant);
