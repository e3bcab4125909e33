-- One row that /readyz rewrites: proof that the database still takes a durable write.
CREATE TABLE health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at INTEGER NOT NULL
);
