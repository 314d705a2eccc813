-- Hourly rollups of metric samples: min, average, max and count per
-- agent, metric and hour (unix ms of the hour's start). They outlive raw
-- samples, so long-range charts keep working after raw retention prunes.

CREATE TABLE sample_rollups (
    agent_id TEXT NOT NULL,
    metric   TEXT NOT NULL,
    hour     BIGINT NOT NULL,
    min      DOUBLE PRECISION NOT NULL,
    avg      DOUBLE PRECISION NOT NULL,
    max      DOUBLE PRECISION NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (agent_id, metric, hour)
);
CREATE INDEX sample_rollups_hour ON sample_rollups (hour);

-- One row (id 1): every hour before rolled_to has been rolled up. The
-- rollup job moves it forward; a batch of late samples moves it back to
-- their hour so the job rolls that hour again.
CREATE TABLE rollup_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    rolled_to BIGINT NOT NULL
);
