-- Before a bulk load of coditect.projects as superuser: the audit trigger would write one audit
-- row per project and stamp_timestamps would give every row the same created_at, so both go off
-- for the load only. Their states are kept for projects_triggers_on.sql to check.
CREATE TEMP TABLE trigger_state AS
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'coditect.projects'::regclass AND NOT tgisinternal;
ALTER TABLE coditect.projects DISABLE TRIGGER audit_row_change, DISABLE TRIGGER stamp_timestamps;
