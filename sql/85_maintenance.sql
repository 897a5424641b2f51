-- 85_maintenance: the purge of ended license sessions and the pg_cron schedule of the
-- extension's maintenance (zombie reaping, audit partitions, that purge, the purge of
-- abandoned uploads, the audit seals, the purge of finished webhook deliveries and of idempotency
-- keys, the reaping of stale global-key claims). Before 89/90 so that
-- it runs with the install script's own search_path (90_partitions resets it).

-- Maintenance (DBA and its pg_cron job): really deletes the license sessions of every tenant
-- that ended at least p_older_than ago (retention: ended sessions are kept 90 days). Zombie and
-- active sessions are never touched. Each deleted row is audited as `license_session.delete`.
CREATE FUNCTION coditect.purge_ended_license_sessions(p_older_than interval DEFAULT '90 days')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    IF p_older_than IS NULL OR p_older_than OPERATOR(pg_catalog.<) interval '0' THEN
        RAISE EXCEPTION 'p_older_than must be a non-negative interval, got %', coalesce(p_older_than::text, 'NULL')
            USING ERRCODE = 'CD400';
    END IF;
    DELETE FROM coditect.license_sessions
     WHERE status OPERATOR(pg_catalog.=) 'ended'
       -- OPERATOR() forms share one precedence, left to right: parenthesise.
       AND ended_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.-) p_older_than);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- The jobs, in one place: name, cron schedule (GMT), command. Sessions turn zombie 6 minutes
-- after their last heartbeat, so reaping every minute frees a seat at most a minute late. The
-- audit seal job closes each UTC hour of the audit trail soon after it (and its margin) ended;
-- a run with nothing to seal reads no audit row. Approvals expire within a minute of their deadline;
-- carts are marked expired within five minutes of theirs (they read as expired at once). Claims
-- of global keys their rows no longer carry (Citus, direct SQL writers) last at most an hour.
CREATE FUNCTION coditect.maintenance_jobs()
RETURNS TABLE (jobname text, schedule text, command text)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    VALUES ('coditect-reap-zombies', '* * * * *', 'SELECT coditect.reap_zombie_sessions()'),
           ('coditect-audit-maintenance', '7 * * * *', 'SELECT coditect.audit_maintenance()'),
           ('coditect-purge-license-sessions', '30 3 * * *', 'SELECT coditect.purge_ended_license_sessions()'),
           ('coditect-purge-upload-sessions', '45 3 * * *', 'SELECT coditect.purge_upload_sessions()'),
           ('coditect-audit-seal', '*/10 * * * *', 'SELECT coditect.audit_seal()'),
           ('coditect-workflow-expiry', '* * * * *', 'SELECT coditect.workflow_expire_approvals()'),
           ('coditect-purge-token-logins', '15 * * * *', 'SELECT coditect.purge_token_logins()'),
           ('coditect-purge-webhook-deliveries', '15 4 * * *', 'SELECT coditect.purge_webhook_deliveries()'),
           ('coditect-purge-idempotency-keys', '25 * * * *', 'SELECT coditect.purge_idempotency_keys()'),
           ('coditect-subscriptions', '*/5 * * * *', 'SELECT coditect.subscription_maintenance()'),
           ('coditect-expire-carts', '*/5 * * * *', 'SELECT coditect.expire_carts()'),
           ('coditect-reap-global-keys', '50 * * * *', 'SELECT coditect.reap_global_keys()')
$$;

-- DBA: registers (or puts back) the jobs of maintenance_jobs() with pg_cron, to run in this
-- database. SECURITY DEFINER so that the jobs belong to, and run as, the extension owner
-- whichever DBA calls it: pg_cron keys jobs by (name, user), so a re-run replaces them.
-- pg_cron can only be installed in the database named by cron.database_name; elsewhere this
-- fails (55000) and the jobs are registered from that database (README, Scheduled maintenance).
CREATE FUNCTION coditect.schedule_maintenance()
RETURNS TABLE (jobid bigint, jobname text, schedule text, command text, database text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j record;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', pg_catalog.current_database()
            USING ERRCODE = '55000',
                  HINT = pg_catalog.format('pg_cron schedules from the database named by cron.database_name '
                      '(here: %s); preload pg_cron, name this database there and CREATE EXTENSION pg_cron in it, '
                      'or register coditect.maintenance_jobs() from that database with cron.schedule_in_database.',
                      coalesce(pg_catalog.current_setting('cron.database_name', true), 'not set: pg_cron is not preloaded'));
    END IF;
    database := pg_catalog.current_database();
    FOR j IN SELECT m.jobname, m.schedule, m.command FROM coditect.maintenance_jobs() m LOOP
        jobid := cron.schedule_in_database(j.jobname::text, j.schedule::text, j.command::text, database::text,
                                           NULL::text, true);
        -- pg_cron's upsert rewrites schedule and command only: put back the database and switch
        -- the job on again in case either was changed by hand.
        PERFORM cron.alter_job(jobid, j.schedule::text, j.command::text, database::text, NULL::text, true);
        jobname := j.jobname;
        schedule := j.schedule;
        command := j.command;
        RETURN NEXT;
    END LOOP;
END
$$;

-- DBA: removes the jobs again (pg_cron's rows are not part of the extension: run this before
-- DROP EXTENSION coditect, or the jobs fail every minute). Returns how many it removed.
CREATE FUNCTION coditect.unschedule_maintenance() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer := 0;
    id bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
        RETURN 0;
    END IF;
    FOR id IN SELECT c.jobid FROM cron.job c
               WHERE c.username OPERATOR(pg_catalog.=) CURRENT_USER::text
                 AND c.database OPERATOR(pg_catalog.=) pg_catalog.current_database()::text
                 AND c.jobname OPERATOR(pg_catalog.=) ANY (SELECT m.jobname FROM coditect.maintenance_jobs() m) LOOP
        PERFORM cron.unschedule(id);
        n := n OPERATOR(pg_catalog.+) 1;
    END LOOP;
    RETURN n;
END
$$;

REVOKE ALL ON FUNCTION coditect.purge_ended_license_sessions(interval), coditect.maintenance_jobs(),
    coditect.schedule_maintenance(), coditect.unschedule_maintenance() FROM PUBLIC;
