-- Before a bulk load as superuser: the triggers of one table off for the load only. psql
-- variables:
--   table  the table (e.g. coditect.tasks)
--   which  USER (our triggers: audit, timestamps, state machine, ...) or ALL (foreign-key
--          checks too; the loading script then checks the references itself, in bulk)
-- The states of the table's triggers are kept in trigger_state for triggers_on.sql to restore
-- and check.
CREATE TEMP TABLE IF NOT EXISTS trigger_state (relid regclass, tgname name, tgenabled "char", internal boolean);
DELETE FROM trigger_state WHERE relid = :'table'::regclass;
INSERT INTO trigger_state
SELECT tgrelid, tgname, tgenabled, tgisinternal FROM pg_trigger WHERE tgrelid = :'table'::regclass;
ALTER TABLE :table DISABLE TRIGGER :which;
