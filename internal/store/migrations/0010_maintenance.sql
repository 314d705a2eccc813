-- Maintenance windows silence new alerts of a client, a site or an agent
-- for a time.

CREATE TABLE maintenance_windows (
    id         TEXT PRIMARY KEY,
    level      TEXT NOT NULL,
    target_id  TEXT NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX maintenance_windows_target ON maintenance_windows (level, target_id, ends_at);
