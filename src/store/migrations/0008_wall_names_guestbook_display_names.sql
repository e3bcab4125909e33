-- The form's optional "show my name on the booth wall" box; off unless ticked.
ALTER TABLE visitors ADD COLUMN show_on_wall INTEGER NOT NULL DEFAULT 0;
-- A guestbook entry shows the display name its signer chose, never an email or its
-- domain: the masked email goes, and existing entries keep only their first name.
ALTER TABLE guestbook DROP COLUMN email_masked;
UPDATE guestbook SET name = CASE
    WHEN instr(trim(name), ' ') > 0 THEN substr(trim(name), 1, instr(trim(name), ' ') - 1)
    ELSE trim(name) END;
