-- Print jobs. A job is durable before the visitor sees "queued". `printing` is
-- written before the first byte goes to the printer, so a job found in `printing`
-- after a crash may have printed: it becomes `interrupted` and waits for staff.
CREATE TABLE print_jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    visitor_id      TEXT NOT NULL REFERENCES visitors (id),
    origin          TEXT NOT NULL CHECK (origin IN ('visitor', 'auto', 'staff')),
    state           TEXT NOT NULL CHECK (state IN ('queued', 'printing', 'printed', 'failed', 'interrupted', 'cancelled')),
    payload         BLOB,            -- the ticket's page URL, sealed with the kiosk's queue key
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    printed_at      INTEGER
);
CREATE INDEX print_jobs_open ON print_jobs (state, id);
CREATE INDEX print_jobs_visitor ON print_jobs (visitor_id, id);
