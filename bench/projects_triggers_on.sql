-- After the load: both triggers back on, and an error unless their states are as before.
ALTER TABLE coditect.projects ENABLE ALWAYS TRIGGER audit_row_change, ENABLE TRIGGER stamp_timestamps;
DO $$
BEGIN
    IF EXISTS (SELECT tgname, tgenabled FROM pg_trigger
                WHERE tgrelid = 'coditect.projects'::regclass AND NOT tgisinternal
               EXCEPT SELECT tgname, tgenabled FROM trigger_state) THEN
        RAISE EXCEPTION 'trigger states of coditect.projects were not restored';
    END IF;
END
$$;
