-- Rate-limit windows shared by kiosk replicas: one row per client key (a keyed digest,
-- never an address), counted by one upsert, gone a minute after its window. Unlogged:
-- a count needs no WAL flush (a busy key is one row every replica updates), and losing
-- the counts in a crash only starts the current minute over.
CREATE UNLOGGED TABLE rate_limits (
    key          BYTEA PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits         INTEGER NOT NULL
);
CREATE INDEX rate_limits_window ON rate_limits (window_start);
