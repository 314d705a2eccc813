-- Remote sessions (issue 12): one row per terminal session relayed
-- through the server, kept after the agent or user is gone, as history
-- beside the audit log. ended_at is 0 while the session is live (or was
-- live when its replica stopped: the replica ends its rows on start).
CREATE TABLE remote_sessions (
    id               TEXT PRIMARY KEY,
    agent_id         TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    user_name        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    replica_id       TEXT NOT NULL,
    started_at       BIGINT NOT NULL,
    ended_at         BIGINT NOT NULL DEFAULT 0,
    bytes_to_agent   BIGINT NOT NULL DEFAULT 0,
    bytes_to_browser BIGINT NOT NULL DEFAULT 0,
    end_reason       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX remote_sessions_agent ON remote_sessions (agent_id, started_at);
CREATE INDEX remote_sessions_live ON remote_sessions (ended_at);
