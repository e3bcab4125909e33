-- SQLite's 0007 and 0008: the retention purge deletes the guestbook entries of purged
-- visitors (found by serial, the count kept exact); the "show my name on the booth
-- wall" box; guestbook entries keep a display name, never a masked email.
CREATE INDEX guestbook_serial ON guestbook (serial);
CREATE FUNCTION count_guestbook_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bump_counter('guestbook', -1);
    RETURN NULL;
END $$;
CREATE TRIGGER count_guestbook_delete AFTER DELETE ON guestbook
    FOR EACH ROW EXECUTE FUNCTION count_guestbook_delete();
ALTER TABLE visitors ADD COLUMN show_on_wall BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE guestbook DROP COLUMN email_masked;
UPDATE guestbook SET name = split_part(trim(name), ' ', 1);
