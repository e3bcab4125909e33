-- The staff console: newest first in the order visitors came (the rowid breaks ties
-- within a second), the filters on their own indexes, each conference's voided serials
-- (its CRL), the links staff show again after a reissue until the visitor opens them,
-- and who may use the console: sessions and booth-screen enrolment codes (digests only,
-- never the cookie or code) and failed passphrase attempts, and the booth screen's
-- handoffs (digests, the token sealed to the browser session), shared by every replica.
CREATE INDEX visitors_console ON visitors (created_at);
CREATE INDEX visitors_console_state ON visitors (state, created_at);
CREATE INDEX visitors_console_voided ON visitors (created_at) WHERE voided_at IS NOT NULL;
CREATE INDEX visitors_voided ON visitors (conference, voided_at) WHERE voided_at IS NOT NULL;
CREATE TABLE kept_links (
    visitor_id  TEXT PRIMARY KEY REFERENCES visitors (id),
    sealed_url  BLOB NOT NULL,     -- the new page URL, sealed with the kiosk's queue key
    created_at  INTEGER NOT NULL
);
CREATE INDEX kept_links_oldest ON kept_links (created_at);
CREATE TABLE staff_sessions (
    digest            BLOB PRIMARY KEY,
    generation        BLOB NOT NULL,     -- which passphrase opened it
    created_at        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    flash_ok          INTEGER,
    flash_text        TEXT,
    enrolment_sealed  BLOB,              -- sealed to the session's cookie value
    enrolment_expires INTEGER
) WITHOUT ROWID;
CREATE INDEX staff_sessions_idle ON staff_sessions (last_seen);
CREATE TABLE kiosk_enrolments (
    digest     BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX kiosk_enrolments_expiry ON kiosk_enrolments (expires_at);
CREATE TABLE staff_login_failures (
    client       TEXT PRIMARY KEY,       -- the client address, kept for one minute
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX staff_login_failures_window ON staff_login_failures (window_start);
CREATE TABLE kiosk_handoffs (
    id_digest      BLOB PRIMARY KEY,
    session_digest BLOB NOT NULL,
    sealed_token   BLOB NOT NULL,     -- sealed to the booth browser's session
    expires_at     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX kiosk_handoffs_expiry ON kiosk_handoffs (expires_at);
