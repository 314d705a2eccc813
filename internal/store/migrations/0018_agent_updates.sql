-- Each agent's updates (issue 10): the current step of every release an
-- agent was offered, and the history of its steps.
CREATE TABLE agent_updates (
    agent_id     TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    release_id   TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    from_version TEXT NOT NULL,
    to_version   TEXT NOT NULL,
    step         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    log          TEXT NOT NULL,
    done         BIGINT NOT NULL,
    total        BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (agent_id, release_id)
);
CREATE INDEX agent_updates_release ON agent_updates (release_id, step);

CREATE TABLE agent_update_events (
    id         TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    step       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX agent_update_events_agent ON agent_update_events (agent_id, at);
