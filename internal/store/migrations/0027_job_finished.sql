-- When a job's last run ended and its outcome went to the audit log
-- (job.finished); NULL while runs wait or run.
ALTER TABLE jobs ADD COLUMN finished_at BIGINT;
CREATE INDEX jobs_unfinished ON jobs (finished_at, created_at);
