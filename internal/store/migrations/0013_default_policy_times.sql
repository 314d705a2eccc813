-- The default policy and its assignment were inserted with the times 0,
-- which the API showed as 0001-01-01. They date from when the policies
-- table was made: the application time of migration 4.
UPDATE policies SET created_at = (SELECT applied_at FROM schema_migrations WHERE version = 4)
WHERE id = 'default' AND created_at = 0 AND EXISTS (SELECT 1 FROM schema_migrations WHERE version = 4);
UPDATE policies SET updated_at = created_at WHERE id = 'default' AND updated_at = 0;
UPDATE policy_assignments SET assigned_at = (SELECT applied_at FROM schema_migrations WHERE version = 4)
WHERE level = 'default' AND target_id = '' AND assigned_at = 0 AND EXISTS (SELECT 1 FROM schema_migrations WHERE version = 4);
