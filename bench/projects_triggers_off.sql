-- Before a bulk load of coditect.projects as superuser: the audit trigger would write one audit
-- row per project and stamp_timestamps would give every row the same created_at, so our
-- triggers go off for the load only (foreign-key checks stay on). projects_triggers_on.sql
-- restores and checks their states.
\set table coditect.projects
\set which USER
\ir triggers_off.sql
