-- Replicas sharing one database, each with a lease it renews, and named
-- leases for background jobs that must run on exactly one replica.

CREATE TABLE replicas (
    id               TEXT PRIMARY KEY,
    hostname         TEXT NOT NULL,
    version          TEXT NOT NULL,
    started_at       BIGINT NOT NULL,
    renewed_at       BIGINT NOT NULL,
    lease_expires_at BIGINT NOT NULL
);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
