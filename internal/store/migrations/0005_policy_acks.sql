-- The policy revision each agent acknowledged running, so the dashboard
-- can show agents still on an older revision.

ALTER TABLE agents ADD COLUMN policy_revision TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN policy_applied_at BIGINT NOT NULL DEFAULT 0;
