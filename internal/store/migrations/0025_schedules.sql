-- Scheduled scripts (issue 11). Agents report a schedule of their policy
-- due; every agent's run of one occurrence (the schedule's name, its
-- script and the occurrence's local wall time) joins one job, whatever
-- the agent's time zone. The job row comes after the key in the same
-- transaction, hence the deferred references.
CREATE TABLE schedule_jobs (
    schedule   TEXT NOT NULL,
    script_id  TEXT NOT NULL,
    occurrence TEXT NOT NULL,
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (schedule, script_id, occurrence)
);
CREATE INDEX schedule_jobs_job ON schedule_jobs (job_id);

-- One run per agent and occurrence: a due sent again adds none.
CREATE TABLE schedule_runs (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    command_id TEXT NOT NULL,
    PRIMARY KEY (job_id, agent_id)
);
