-- After the load: the triggers of :table (see triggers_off.sql) back in the states they had, and
-- an error unless every one of them is.
ALTER TABLE :table ENABLE TRIGGER :which;
SELECT format('ALTER TABLE %s %s TRIGGER %I', relid,
              CASE tgenabled WHEN 'A' THEN 'ENABLE ALWAYS' WHEN 'R' THEN 'ENABLE REPLICA'
                             WHEN 'D' THEN 'DISABLE' ELSE 'ENABLE' END, tgname)
  FROM trigger_state WHERE relid = :'table'::regclass AND NOT internal
\gexec
SELECT set_config('bench.trigger_table', :'table', false) \g /dev/null
DO $$
DECLARE
    rel regclass := current_setting('bench.trigger_table')::regclass;
BEGIN
    IF EXISTS ((SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = rel
                EXCEPT SELECT tgname, tgenabled FROM trigger_state WHERE relid = rel)
               UNION ALL
               (SELECT tgname, tgenabled FROM trigger_state WHERE relid = rel
                EXCEPT SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = rel)) THEN
        RAISE EXCEPTION 'trigger states of % were not restored', rel;
    END IF;
END
$$;
DELETE FROM trigger_state WHERE relid = :'table'::regclass;
