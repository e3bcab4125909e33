-- The staff console: newest first in the order visitors came (the rowid breaks ties
-- within a second), the filters on their own indexes, each conference's voided serials
-- (its CRL), and the links staff show again after a reissue until the visitor opens them.
CREATE INDEX visitors_console ON visitors (created_at);
CREATE INDEX visitors_console_state ON visitors (state, created_at);
CREATE INDEX visitors_console_voided ON visitors (created_at) WHERE voided_at IS NOT NULL;
CREATE INDEX visitors_voided ON visitors (conference, voided_at) WHERE voided_at IS NOT NULL;
CREATE TABLE handoffs (
    visitor_id  TEXT PRIMARY KEY REFERENCES visitors (id),
    sealed_url  BLOB NOT NULL,     -- the new page URL, sealed with the kiosk's queue key
    created_at  INTEGER NOT NULL
);
CREATE INDEX handoffs_oldest ON handoffs (created_at);
