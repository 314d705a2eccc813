-- Metric samples: one row per agent, metric (with its instance, e.g.
-- "disk.percent:/var") and time. The primary key makes a resent batch
-- harmless and serves range queries for charts.

CREATE TABLE samples (
    agent_id TEXT NOT NULL,
    metric   TEXT NOT NULL,
    at       BIGINT NOT NULL,
    value    DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (agent_id, metric, at)
);
CREATE INDEX samples_at ON samples (at);
