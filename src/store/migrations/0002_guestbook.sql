-- Guestbook entries: one per signing certificate (issuer DN + serial). Only the
-- masked email is kept; a second signature replaces the message.
CREATE TABLE guestbook (
    id            INTEGER PRIMARY KEY,
    issuer        TEXT NOT NULL,                 -- issuer DN of the signing certificate
    serial        TEXT NOT NULL,                 -- its serial, colon hex
    name          TEXT NOT NULL,                 -- subject CN
    email_masked  TEXT NOT NULL,                 -- a***@example.org
    message       TEXT NOT NULL,
    star          INTEGER NOT NULL DEFAULT 0,    -- 1 once signed over mutual TLS by the visitor's own client
    created_at    INTEGER NOT NULL,
    signed_at     INTEGER NOT NULL,
    rev           INTEGER NOT NULL DEFAULT 0,    -- bumped on every signature: newest first, even within a second
    UNIQUE (issuer, serial)
);
CREATE INDEX guestbook_newest ON guestbook (rev DESC);
