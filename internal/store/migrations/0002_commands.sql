-- Commands sent to agents (ping now; inventory refresh and scripts later),
-- one row per agent, grouped by batch when sent to many at once.

CREATE TABLE commands (
    id            TEXT PRIMARY KEY,
    batch_id      TEXT NOT NULL,
    agent_id      TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    args          TEXT NOT NULL,
    state         TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    sent_at       BIGINT,
    finished_at   BIGINT,
    result_status TEXT NOT NULL DEFAULT '',
    output        TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX commands_agent ON commands (agent_id, created_at);
CREATE INDEX commands_batch ON commands (batch_id, state);
CREATE INDEX commands_open ON commands (state, expires_at);

CREATE TABLE command_batches (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    target      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    agents      INTEGER NOT NULL
);
