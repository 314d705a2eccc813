-- Threshold alerts: open → acknowledged → resolved, with history. The
-- partial unique index allows one unresolved alert per agent and rule.

CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    agent_id        TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    site_id         TEXT NOT NULL,
    rule            TEXT NOT NULL,
    metric          TEXT NOT NULL,
    severity        TEXT NOT NULL,
    state           TEXT NOT NULL,
    message         TEXT NOT NULL,
    value           DOUBLE PRECISION NOT NULL,
    opened_at       BIGINT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by TEXT NOT NULL DEFAULT '',
    resolved_at     BIGINT,
    resolved_by     TEXT NOT NULL DEFAULT '',
    resolved_value  DOUBLE PRECISION
);
CREATE UNIQUE INDEX alerts_one_unresolved ON alerts (agent_id, rule) WHERE state <> 'resolved';
CREATE INDEX alerts_state ON alerts (state, opened_at);
CREATE INDEX alerts_client ON alerts (client_id, state);
