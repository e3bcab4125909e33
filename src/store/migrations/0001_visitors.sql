-- Visitors and their certificates. Emails and sealed keys are purged (set NULL)
-- after retention_until; the public certificate stays.
CREATE TABLE visitors (
    id                TEXT PRIMARY KEY,          -- random, never derived from the email
    conference        TEXT NOT NULL,             -- conference slug
    token_hash        BLOB NOT NULL UNIQUE,      -- SHA-256 of the visitor's token
    token_pub         BLOB NOT NULL,             -- X25519 key the private key is sealed to
    name              TEXT NOT NULL,
    email             TEXT,                      -- NULL once purged
    email_lc          TEXT,                      -- lowercase, for duplicate checks; NULL once purged
    state             TEXT NOT NULL CHECK (state IN ('pending', 'issued', 'failed')),
    issuer_kind       TEXT NOT NULL,             -- 'local' or 'cert-manager'
    backend_ref       TEXT,                      -- e.g. the Certificate's name
    error             TEXT,                      -- why issuance failed or is delayed, for staff
    cert_pem          TEXT,
    intermediates_pem TEXT,
    root_pem          TEXT,
    sealed_key        BLOB,                      -- PKCS#8 PEM sealed to token_pub; NULL once purged
    serial            TEXT,
    fingerprint       TEXT,
    not_before        INTEGER,
    not_after         INTEGER,
    created_at        INTEGER NOT NULL,
    issued_at         INTEGER,
    retention_until   INTEGER NOT NULL,
    purged_at         INTEGER,
    voided_at         INTEGER                    -- staff voided it: no guestbook, may reissue
);

-- One live certificate per email per conference; voiding frees the email for a reissue.
CREATE UNIQUE INDEX visitors_one_per_email
    ON visitors (conference, email_lc)
    WHERE email_lc IS NOT NULL AND voided_at IS NULL;
CREATE INDEX visitors_state ON visitors (state);
CREATE INDEX visitors_serial ON visitors (serial);
