-- The retention purge deletes the guestbook entries of purged visitors: keep the count exact.
CREATE TRIGGER count_guestbook_delete AFTER DELETE ON guestbook BEGIN
    UPDATE counters SET n = n - 1 WHERE key = 'guestbook';
END;
