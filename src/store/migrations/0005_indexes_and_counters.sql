-- Every list reads an index in its own order, and counts are kept, not counted: no
-- page or query walks all visitors, however many there are.

-- Staff list (all, or one state), newest first; the issuer's pending scan (state first).
DROP INDEX visitors_state;
CREATE INDEX visitors_state_newest ON visitors (state, created_at, id);
CREATE INDEX visitors_newest ON visitors (created_at, id);
-- The wall: a conference's live certificates, newest first.
CREATE INDEX visitors_wall ON visitors (conference, issued_at, id)
    WHERE state = 'issued' AND voided_at IS NULL;
-- The retention purge looks only at rows not purged yet.
CREATE INDEX visitors_to_purge ON visitors (retention_until) WHERE purged_at IS NULL;
-- The print worker's next job, oldest first, among open jobs only.
CREATE INDEX print_jobs_ready ON print_jobs (id) WHERE state IN ('queued', 'failed');
-- Jobs still holding a sealed payload (dropped at retention).
CREATE INDEX print_jobs_payload ON print_jobs (visitor_id) WHERE payload IS NOT NULL;

-- Counters, kept exact by triggers in the same transaction as the rows they count.
CREATE TABLE counters (
    key TEXT PRIMARY KEY,   -- 'visitors:<slug>', 'issued:<slug>', 'printed', 'guestbook'
    n   INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters SELECT 'visitors:' || conference, COUNT(*) FROM visitors GROUP BY conference;
INSERT INTO counters SELECT 'issued:' || conference, COUNT(*) FROM visitors WHERE state = 'issued' GROUP BY conference;
INSERT INTO counters SELECT 'printed', COUNT(*) FROM print_jobs WHERE state = 'printed';
INSERT INTO counters SELECT 'guestbook', COUNT(*) FROM guestbook;

CREATE TRIGGER count_visitors AFTER INSERT ON visitors BEGIN
    INSERT OR IGNORE INTO counters VALUES ('visitors:' || NEW.conference, 0);
    UPDATE counters SET n = n + 1 WHERE key = 'visitors:' || NEW.conference;
    INSERT OR IGNORE INTO counters VALUES ('issued:' || NEW.conference, 0);
    UPDATE counters SET n = n + 1 WHERE key = 'issued:' || NEW.conference AND NEW.state = 'issued';
END;
CREATE TRIGGER count_issued AFTER UPDATE OF state ON visitors WHEN (OLD.state = 'issued') != (NEW.state = 'issued') BEGIN
    INSERT OR IGNORE INTO counters VALUES ('issued:' || NEW.conference, 0);
    UPDATE counters SET n = n + (CASE WHEN NEW.state = 'issued' THEN 1 ELSE -1 END)
        WHERE key = 'issued:' || NEW.conference;
END;
CREATE TRIGGER count_printed_insert AFTER INSERT ON print_jobs WHEN NEW.state = 'printed' BEGIN
    INSERT OR IGNORE INTO counters VALUES ('printed', 0);
    UPDATE counters SET n = n + 1 WHERE key = 'printed';
END;
CREATE TRIGGER count_printed AFTER UPDATE OF state ON print_jobs WHEN (OLD.state = 'printed') != (NEW.state = 'printed') BEGIN
    INSERT OR IGNORE INTO counters VALUES ('printed', 0);
    UPDATE counters SET n = n + (CASE WHEN NEW.state = 'printed' THEN 1 ELSE -1 END) WHERE key = 'printed';
END;
CREATE TRIGGER count_guestbook AFTER INSERT ON guestbook BEGIN
    INSERT OR IGNORE INTO counters VALUES ('guestbook', 0);
    UPDATE counters SET n = n + 1 WHERE key = 'guestbook';
END;
