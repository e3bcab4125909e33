-- What a purge or "forget" removes must leave the database files (see `erase.rs`).
-- The planner's statistics would copy sample values of each column into pg_statistic,
-- out of reach of any purge: none are kept of personal columns (no query needs them:
-- rows are found by id, token, serial or a unique index). Changing a column's type,
-- even to itself, drops the statistics gathered so far.
ALTER TABLE visitors
    ALTER COLUMN name SET STATISTICS 0, ALTER COLUMN name TYPE TEXT,
    ALTER COLUMN email SET STATISTICS 0, ALTER COLUMN email TYPE TEXT,
    ALTER COLUMN email_lc SET STATISTICS 0, ALTER COLUMN email_lc TYPE TEXT,
    ALTER COLUMN cert_pem SET STATISTICS 0, ALTER COLUMN cert_pem TYPE TEXT,
    ALTER COLUMN sealed_key SET STATISTICS 0, ALTER COLUMN sealed_key TYPE BYTEA,
    ALTER COLUMN error SET STATISTICS 0, ALTER COLUMN error TYPE TEXT;
ALTER TABLE guestbook
    ALTER COLUMN name SET STATISTICS 0, ALTER COLUMN name TYPE TEXT,
    ALTER COLUMN message SET STATISTICS 0, ALTER COLUMN message TYPE TEXT;
ALTER TABLE print_jobs ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN payload TYPE BYTEA;
ALTER TABLE kept_links ALTER COLUMN sealed_url SET STATISTICS 0, ALTER COLUMN sealed_url TYPE BYTEA;
-- Bumped in the transaction that deletes personal data; cleared by the kiosk whose
-- rewrite of the tables began after the last bump (`n` tells), so a rewrite that could
-- not get its lock is done by the next hourly upkeep, on any kiosk.
CREATE TABLE erase_owed (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    n   BIGINT NOT NULL,
    xid XID8 NOT NULL     -- the newest deleting transaction
);
-- The console's open tickets, newest first, without walking every printed one.
CREATE INDEX print_jobs_open_newest ON print_jobs (id)
    WHERE state IN ('queued', 'printing', 'failed', 'interrupted');
