-- The remediation job an alert started (issue 11): a threshold rule may
-- name a library script that runs on the agent when the alert opens.
ALTER TABLE alerts ADD COLUMN remediation_job_id TEXT NOT NULL DEFAULT '';
