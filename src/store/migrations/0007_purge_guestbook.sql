-- The retention purge deletes the guestbook entries of purged visitors: find them by
-- serial, and keep the count exact.
CREATE INDEX guestbook_serial ON guestbook (serial);
CREATE TRIGGER count_guestbook_delete AFTER DELETE ON guestbook BEGIN
    UPDATE counters SET n = n - 1 WHERE key = 'guestbook';
END;
