-- A certificate that failed to issue no longer holds the email: the visitor may try again.
DROP INDEX visitors_one_per_email;
CREATE UNIQUE INDEX visitors_one_per_email
    ON visitors (conference, email_lc)
    WHERE email_lc IS NOT NULL AND voided_at IS NULL AND state != 'failed';
