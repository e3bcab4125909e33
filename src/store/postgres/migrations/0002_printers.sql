-- A print job names its printer; each printer's worker (the kiosk's own, or a print
-- agent beside the printer) takes only its jobs, in order. Existing jobs belong to the
-- kiosk's own printer, named 'default'.
ALTER TABLE print_jobs ADD COLUMN printer TEXT NOT NULL DEFAULT 'default';
DROP INDEX print_jobs_ready;
CREATE INDEX print_jobs_ready ON print_jobs (printer, id) WHERE state IN ('queued', 'failed');
CREATE INDEX print_jobs_in_flight ON print_jobs (printer) WHERE state = 'printing';

-- Every printer a worker serves: its last status for staff, and the lease that lets one
-- worker at a time print on it (renewed while it runs; a dead worker's lease runs out).
CREATE TABLE printers (
    name        TEXT COLLATE "C" PRIMARY KEY,
    status      TEXT NOT NULL,
    seen_at     BIGINT NOT NULL,
    holder      TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0
);
