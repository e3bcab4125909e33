-- The staff console: newest-first pages, the voided filter, and the links staff show
-- again after a reissue until the visitor has opened them once.
CREATE INDEX visitors_newest ON visitors (created_at DESC);
CREATE INDEX visitors_voided ON visitors (conference, voided_at) WHERE voided_at IS NOT NULL;
CREATE TABLE handoffs (
    visitor_id  TEXT PRIMARY KEY REFERENCES visitors (id),
    sealed_url  BLOB NOT NULL,     -- the new page URL, sealed with the kiosk's queue key
    created_at  INTEGER NOT NULL
);
