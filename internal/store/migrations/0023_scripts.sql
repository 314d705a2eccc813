-- Scripts and jobs (issue 11).
--
-- A script is edited in place and every saved change is a new row of
-- script_versions (the current one included), so that a run names exactly
-- the text it sent. A job is a command batch (its id is the batch's) with
-- one command per agent, named 'script'; the command row holds the run's
-- state and result, job_runs what the command table does not: when the
-- process started, and whether the output stored is all the agent kept.

CREATE TABLE scripts (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    category     TEXT NOT NULL,
    language     TEXT NOT NULL,
    body         TEXT NOT NULL,
    args         TEXT NOT NULL, -- JSON array of default arguments
    env          TEXT NOT NULL, -- JSON object
    timeout_ms   BIGINT NOT NULL,
    target_os    TEXT NOT NULL, -- '' (any), windows, linux, darwin
    run_as       TEXT NOT NULL,
    version      INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_by   TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX scripts_name ON scripts (name);

CREATE TABLE script_versions (
    script_id    TEXT NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    category     TEXT NOT NULL,
    language     TEXT NOT NULL,
    body         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    args         TEXT NOT NULL,
    env          TEXT NOT NULL,
    timeout_ms   BIGINT NOT NULL,
    target_os    TEXT NOT NULL,
    run_as       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (script_id, version)
);

CREATE TABLE jobs (
    id             TEXT PRIMARY KEY,
    script_id      TEXT NOT NULL, -- '' for an ad-hoc command; the script may be deleted since
    script_version INTEGER NOT NULL,
    name           TEXT NOT NULL,
    language       TEXT NOT NULL,
    body           TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    args           TEXT NOT NULL,
    env_names      TEXT NOT NULL, -- JSON array: the names only, values may be secrets
    timeout_ms     BIGINT NOT NULL,
    run_as         TEXT NOT NULL,
    max_output     BIGINT NOT NULL,
    start_by       BIGINT NOT NULL,
    target         TEXT NOT NULL,
    agents         INTEGER NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    cancelled_by   TEXT NOT NULL DEFAULT '',
    cancelled_at   BIGINT
);
CREATE INDEX jobs_created ON jobs (created_at);

CREATE TABLE job_runs (
    command_id      TEXT PRIMARY KEY,
    job_id          TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    agent_id        TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    started_at      BIGINT,
    output_complete INTEGER NOT NULL DEFAULT 0,
    output_asked_at BIGINT
);
CREATE INDEX job_runs_job ON job_runs (job_id);
CREATE INDEX job_runs_agent ON job_runs (agent_id);
CREATE INDEX job_runs_incomplete ON job_runs (output_complete, command_id);

-- Output in the pieces the agent sent, by byte position in its stream; a
-- piece sent again (after a lost connection) is the same row.
CREATE TABLE job_output (
    command_id TEXT NOT NULL REFERENCES job_runs (command_id) ON DELETE CASCADE,
    stream     TEXT NOT NULL,
    pos        BIGINT NOT NULL,
    data       BYTEA NOT NULL,
    PRIMARY KEY (command_id, stream, pos)
);
