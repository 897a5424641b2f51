-- Scheduled maintenance: the pg_cron jobs that scripts/test.sh registered with setup_maintenance
-- (as run.sh does), re-registering without duplicates, the runs pg_cron made of each job's
-- command (test.sh scheduled copies to run every minute and waited for them), the purge of
-- ended license sessions, and who may call what. Committed transactions (pgTAP's counters are
-- transactional); fixtures are purged at the end.
\set ON_ERROR_STOP 1
SELECT plan(99);

CREATE ROLE tap95_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap95_service LOGIN IN ROLE coditect_service;
CREATE ROLE tap95_analyst LOGIN IN ROLE coditect_analyst;
CREATE ROLE tap95_dba SUPERUSER NOLOGIN;
SELECT extowner::regrole::text AS owner FROM pg_extension WHERE extname = 'coditect' \gset
CREATE TEMP TABLE expected_jobs (jobname text PRIMARY KEY, schedule text, command text);
INSERT INTO expected_jobs VALUES
    ('coditect-reap-zombies', '* * * * *', 'SELECT coditect.reap_zombie_sessions()'),
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
    ('coditect-reap-global-keys', '50 * * * *', 'SELECT coditect.reap_global_keys()');
CREATE TEMP VIEW jobs AS
SELECT jobid, jobname::text, schedule, command, database, username, active FROM cron.job
 WHERE jobname LIKE 'coditect-%';
-- Runs the command pg_cron holds for a job, as pg_cron would (but in this session).
CREATE FUNCTION pg_temp.run_job(p_jobname text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    EXECUTE (SELECT command FROM cron.job WHERE jobname = p_jobname) INTO r;
    RETURN r;
END $$;

-- The jobs. test.sh paused them while the other files ran: on again first.
SELECT cron.alter_job(jobid, active => true) FROM cron.job WHERE jobname LIKE 'coditect-%';
SELECT has_extension('pg_cron', 'pg_cron is installed in the test database');
SELECT set_eq($$SELECT jobname, schedule, command, database, username, active FROM jobs$$,
              format($$SELECT jobname, schedule, command, current_database()::text, %L::text, true FROM expected_jobs$$, :'owner'),
              'the twelve maintenance jobs are registered: names, schedules, commands, this database, the extension owner, active');
SELECT set_eq($$SELECT jobname, schedule, command FROM coditect.maintenance_jobs()$$,
              $$SELECT jobname, schedule, command FROM expected_jobs$$, 'maintenance_jobs() lists them');
CREATE TEMP TABLE first_ids AS SELECT jobname, jobid FROM jobs;

SELECT set_eq($$SELECT jobid, jobname, schedule, command, database FROM coditect.schedule_maintenance()$$,
              $$SELECT jobid, jobname, schedule, command, database FROM jobs$$,
              'schedule_maintenance() returns the jobs it registered, with their ids');
SET ROLE tap95_dba;
SELECT lives_ok($$SELECT coditect.schedule_maintenance()$$, 'another superuser may run it too');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM jobs), 12, 'running it twice more made no duplicates');
SELECT set_eq($$SELECT jobname, jobid FROM jobs$$, $$SELECT jobname, jobid FROM first_ids$$,
              'the jobs kept their ids');
SELECT is((SELECT count(*)::int FROM cron.job WHERE username = 'tap95_dba'), 0,
          'jobs belong to the extension owner whoever schedules them');

-- A job changed by hand is put back.
SELECT cron.alter_job(jobid, schedule => '0 0 1 1 *', command => 'SELECT 1', database => 'postgres', active => false)
  FROM jobs WHERE jobname = 'coditect-reap-zombies';
SELECT is((SELECT schedule || ' / ' || command || ' / ' || database || ' / ' || active FROM jobs WHERE jobname = 'coditect-reap-zombies'),
          '0 0 1 1 * / SELECT 1 / postgres / false', 'a job is changed by hand (schedule, command, database, switched off)');
SELECT lives_ok($$SELECT coditect.schedule_maintenance()$$, 'schedule_maintenance() again');
SELECT set_eq($$SELECT jobid, jobname, schedule, command, database, active FROM jobs$$,
              $$SELECT f.jobid, e.jobname, e.schedule, e.command, current_database()::text, true
                  FROM expected_jobs e JOIN first_ids f USING (jobname)$$,
              'puts the changed job back as it was, under the same id');

-- Unschedule and schedule again.
SELECT is(coditect.unschedule_maintenance(), 12, 'unschedule_maintenance() removes the twelve jobs');
SELECT is((SELECT count(*)::int FROM jobs), 0, 'none is left');
SELECT is(coditect.unschedule_maintenance(), 0, 'removing them again does nothing');
SELECT is((SELECT count(*)::int FROM coditect.schedule_maintenance()), 12, 'schedule_maintenance() registers them anew');
SELECT set_eq($$SELECT jobname, schedule, command FROM jobs$$, $$SELECT jobname, schedule, command FROM expected_jobs$$,
              'the same twelve jobs');

-- Without pg_cron in the database (the drop is rolled back with the block).
CREATE FUNCTION pg_temp.without_pg_cron(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text;
BEGIN
    BEGIN
        PERFORM set_config('client_min_messages', 'warning', true);  -- no "drop cascades to view jobs"
        DROP EXTENSION pg_cron CASCADE;
        EXECUTE p_sql INTO msg;
        RAISE EXCEPTION 'ran: %', msg;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    RETURN st || ': ' || msg;
END $$;
SELECT is(pg_temp.without_pg_cron('SELECT coditect.schedule_maintenance()'),
          format('55000: pg_cron is not installed in database "%s"', current_database()),
          'without pg_cron, schedule_maintenance() fails with 55000 and says so');
SELECT is(pg_temp.without_pg_cron('SELECT coditect.unschedule_maintenance()'), 'P0001: ran: 0',
          'and unschedule_maintenance() has nothing to remove');
SELECT has_extension('pg_cron', 'pg_cron is still there');

-- Each job ran under pg_cron: copies with the same command, database and user, scheduled every
-- minute by test.sh. A broken command (or one failing as the job's user) ends "failed".
SELECT ok(EXISTS (SELECT FROM cron.job_run_details d WHERE d.command = e.command AND d.status = 'succeeded'
                     AND d.database = current_database() AND d.username = :'owner'),
          e.jobname || ': pg_cron ran its command and it succeeded')
  FROM expected_jobs e ORDER BY e.jobname;
SELECT is((SELECT count(*)::int FROM cron.job_run_details d WHERE d.command = e.command AND d.status = 'failed'), 0,
          e.jobname || ': no run of its command failed')
  FROM expected_jobs e ORDER BY e.jobname;

-- The jobs' commands, run here.
SELECT lives_ok($$SELECT pg_temp.run_job('coditect-reap-zombies')$$, 'the reaper job''s command runs');
SELECT lives_ok($$SELECT pg_temp.run_job('coditect-audit-maintenance')$$, 'the audit maintenance job''s command runs');
SELECT lives_ok($$SELECT pg_temp.run_job('coditect-purge-webhook-deliveries')$$,
                'the webhook deliveries purge job''s command runs (test/pgtap/53_outbox.sql checks what it deletes)');
SELECT lives_ok($$SELECT pg_temp.run_job('coditect-expire-carts')$$,
                'the cart expiry job''s command runs (test/pgtap/84_orders.sql checks what it marks and deletes)');
SELECT lives_ok($$SELECT pg_temp.run_job('coditect-reap-global-keys')$$,
                'the global keys reaper job''s command runs (test/pgtap/21_global_keys.sql checks what it removes)');

-- Purge of ended license sessions: two tenants, sessions in every state.
SELECT coditect.create_tenant('Maint A', 't95-a', 'a@a95.test', 'owner@a95.test') AS ja \gset
SELECT coditect.create_tenant('Maint B', 't95-b', 'b@b95.test', 'owner@b95.test') AS jb \gset
SELECT :'ja'::jsonb->>'tenant_id' AS ta, :'ja'::jsonb->>'user_id' AS ua,
       :'jb'::jsonb->>'tenant_id' AS tb, :'jb'::jsonb->>'user_id' AS ub \gset
INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_total) VALUES (:'ta', now() + interval '1 year', 5) RETURNING id AS la \gset
INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_total) VALUES (:'tb', now() + interval '1 year', 5) RETURNING id AS lb \gset
CREATE TEMP TABLE fx (name text PRIMARY KEY, tenant_id uuid, id uuid);
-- pg_temp.session(name, tenant, license, user, status, age): a session in that state, started
-- that long ago and ended (or, for a zombie, last heard of) then; an active one beats now, so
-- the reaper job leaves it alone.
CREATE FUNCTION pg_temp.session(p_name text, p_tenant uuid, p_license uuid, p_user uuid, p_status text, p_ago interval)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE s uuid;
BEGIN
    INSERT INTO coditect.license_sessions (tenant_id, license_id, user_id, hardware_id, started_at, last_heartbeat_at)
    VALUES (p_tenant, p_license, p_user, 'hw-' || p_name, now() - p_ago - interval '1 day',
            CASE WHEN p_status = 'active' THEN now() ELSE now() - p_ago END)
    RETURNING id INTO s;
    IF p_status <> 'active' THEN
        UPDATE coditect.license_sessions SET status = p_status::coditect.license_session_status WHERE tenant_id = p_tenant AND id = s;
    END IF;
    IF p_status = 'ended' THEN
        UPDATE coditect.license_sessions SET ended_at = now() - p_ago WHERE tenant_id = p_tenant AND id = s;
    END IF;
    INSERT INTO fx VALUES (p_name, p_tenant, s);
END $$;
SELECT pg_temp.session('a-ended-91d', :'ta', :'la', :'ua', 'ended', '91 days');
SELECT pg_temp.session('a-ended-89d', :'ta', :'la', :'ua', 'ended', '89 days');
SELECT pg_temp.session('a-ended-now', :'ta', :'la', :'ua', 'ended', '0 seconds');
SELECT pg_temp.session('a-active-200d', :'ta', :'la', :'ua', 'active', '200 days');
SELECT pg_temp.session('a-zombie-200d', :'ta', :'la', :'ua', 'zombie', '200 days');
SELECT pg_temp.session('b-ended-1y', :'tb', :'lb', :'ub', 'ended', '1 year');
SELECT pg_temp.session('b-active', :'tb', :'lb', :'ub', 'active', '0 seconds');
SELECT is((SELECT string_agg(f.name || '=' || s.status, ', ' ORDER BY f.name) FROM fx f JOIN coditect.license_sessions s USING (tenant_id, id)),
          'a-active-200d=active, a-ended-89d=ended, a-ended-91d=ended, a-ended-now=ended, a-zombie-200d=zombie, b-active=active, b-ended-1y=ended',
          'fixtures: sessions in every state');

SELECT is(pg_temp.run_job('coditect-purge-license-sessions'), '2',
          'the purge job deletes the sessions that ended over 90 days ago, in every tenant');
SELECT is((SELECT string_agg(f.name, ', ' ORDER BY f.name) FROM fx f JOIN coditect.license_sessions s USING (tenant_id, id)),
          'a-active-200d, a-ended-89d, a-ended-now, a-zombie-200d, b-active',
          'and keeps recent ended, active and zombie sessions, however old');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs a JOIN fx f ON a.resource_id = f.id::text
            WHERE f.name IN ('a-ended-91d', 'b-ended-1y') AND a.action = 'license_session.delete' AND a.tenant_id = f.tenant_id), 2,
          'each purged session is audited as license_session.delete in its tenant');
SELECT is((SELECT seats_in_use FROM coditect.licenses WHERE id = :'la'), 1, 'seat counts are unchanged (ended sessions hold none)');
SELECT is(coditect.purge_ended_license_sessions(), 0::bigint, 'purging again finds nothing');
SELECT is(coditect.purge_ended_license_sessions('30 days'), 1::bigint, 'a shorter age deletes more: the one ended 89 days ago');
SELECT is((SELECT count(*)::int FROM fx f JOIN coditect.license_sessions s USING (tenant_id, id) WHERE f.name = 'a-ended-now'), 1,
          'a session ended just now stays');
SELECT throws_ok($$SELECT coditect.purge_ended_license_sessions(NULL)$$, 'CD400', NULL, 'a NULL age is CD400');
SELECT throws_ok($$SELECT coditect.purge_ended_license_sessions('-1 day')$$, 'CD400',
                 'p_older_than must be a non-negative interval, got -1 days', 'a negative age is CD400');
SELECT throws_ok($$SELECT coditect.purge_ended_license_sessions('1 mon -40 days')$$, 'CD400', NULL,
                 'an age that adds up to less than nothing is CD400');
SELECT is((SELECT count(*)::int FROM fx f JOIN coditect.license_sessions s USING (tenant_id, id)), 4,
          'refused purges delete nothing');

-- Who may call what: the DBA only (and the jobs, which run as the extension owner).
SELECT ok(NOT has_function_privilege(r, f, 'EXECUTE'), r || ' cannot execute ' || f)
  FROM unnest(ARRAY['public', 'coditect_gateway', 'coditect_service', 'coditect_analyst']) r,
       unnest(ARRAY['coditect.purge_ended_license_sessions(interval)', 'coditect.purge_webhook_deliveries(interval)',
                    'coditect.purge_idempotency_keys()', 'coditect.schedule_maintenance()',
                    'coditect.unschedule_maintenance()', 'coditect.maintenance_jobs()', 'coditect.reap_global_keys()']) f
 ORDER BY f, r;
SELECT ok(NOT has_schema_privilege(r, 'cron', 'USAGE'), r || ' has no access to pg_cron (schema cron)')
  FROM unnest(ARRAY['public', 'coditect_gateway', 'coditect_service', 'coditect_analyst']) r ORDER BY r;
SET ROLE tap95_service;
SELECT throws_ok($$SELECT coditect.purge_ended_license_sessions('0 seconds')$$, '42501', NULL, 'a service login cannot purge sessions');
SELECT throws_ok($$SELECT coditect.schedule_maintenance()$$, '42501', NULL, 'nor schedule the jobs');
SELECT throws_ok($$SELECT coditect.unschedule_maintenance()$$, '42501', NULL, 'nor remove them');
RESET ROLE;
SET ROLE tap95_gateway;
SELECT throws_ok($$SELECT coditect.purge_ended_license_sessions('0 seconds')$$, '42501', NULL, 'nor can a gateway login');
RESET ROLE;
SET ROLE tap95_analyst;
SELECT throws_ok($$SELECT coditect.purge_ended_license_sessions('0 seconds')$$, '42501', NULL, 'nor an analyst');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM fx f JOIN coditect.license_sessions s USING (tenant_id, id)), 4,
          'the refused calls deleted nothing');
-- Every SECURITY DEFINER function of this file pins search_path with pg_temp last.
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'coditect'::regnamespace AND p.prosecdef
              AND p.proname IN ('purge_ended_license_sessions', 'purge_webhook_deliveries', 'schedule_maintenance',
                                'unschedule_maintenance')
              AND p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']),
          ARRAY['coditect.purge_ended_license_sessions(interval)', 'coditect.purge_webhook_deliveries(interval)',
                'coditect.schedule_maintenance()', 'coditect.unschedule_maintenance()'],
          'the maintenance functions are SECURITY DEFINER with search_path = pg_catalog, pg_temp');

SELECT * FROM finish();

SELECT coditect.purge_tenant(:'ta');
SELECT coditect.purge_tenant(:'tb');
DROP FUNCTION pg_temp.session(text, uuid, uuid, uuid, text, interval);
DROP FUNCTION pg_temp.without_pg_cron(text);
DROP FUNCTION pg_temp.run_job(text);
DROP VIEW jobs;
DROP TABLE fx, first_ids, expected_jobs;
DROP ROLE tap95_gateway, tap95_service, tap95_analyst, tap95_dba;
