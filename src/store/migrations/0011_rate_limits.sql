-- Rate-limit windows shared by kiosk replicas (one Pi keeps them in memory and never
-- writes here; the table keeps both backends' schemas and suites in step). The key is
-- a keyed digest of the client, never its address; a window lives for a minute.
CREATE TABLE rate_limits (
    key          BLOB PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rate_limits_window ON rate_limits (window_start);
