-- The tamper-evident audit trail (sql/48_audit_seal.sql): the canonical form of a row, hourly
-- seals of seeded rows and their chain, a clean verification; then, as a superuser with the
-- immutability triggers disabled, a changed, a removed and an added row, a changed and a removed
-- seal, rows before the chain: each reported with its hour and seal; hours past retention not
-- reported; the seals' immutability; who may call what. One transaction, rolled back at the end:
-- the chain the pg_cron job sealed for the suite is set aside inside it only.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(51);

CREATE ROLE tap52_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap52_service LOGIN IN ROLE coditect_service;
CREATE ROLE tap52_analyst LOGIN IN ROLE coditect_analyst;

-- 1. The canonical form: fixed column order, created_at in microseconds, whatever the time zone.
SET LOCAL TimeZone = 'America/St_Johns';
SELECT is(coditect_internal.audit_row_canonical(ROW('01890000-0000-7000-8000-000000000001', '01890000-0000-7000-8000-0000000000aa',
              NULL, 'project.update', 'Project', 'r-1', '192.0.2.7', 'ua/1', 'PATCH', '/api/v1/projects/r-1/', 'req-1',
              '{"name": ["a", "b"], "key": [null, "K"]}', '{"table": "coditect.projects"}', 'info',
              '2024-01-02 03:04:05.678901+00')::coditect.audit_logs),
          '["01890000-0000-7000-8000-000000000001", "01890000-0000-7000-8000-0000000000aa", null, "project.update", "Project", '
          '"r-1", "192.0.2.7/32", "ua/1", "PATCH", "/api/v1/projects/r-1/", "req-1", {"key": [null, "K"], "name": ["a", "b"]}, '
          '{"table": "coditect.projects"}, "info", 1704164645678901]',
          'a row''s canonical text: its columns in table order as JSON, created_at in microseconds (any TimeZone)');
SET LOCAL TimeZone = 'UTC';

-- audit_seal() runs in READ COMMITTED only: a snapshot older than its look at the open
-- transactions could miss rows committed in between (another session, before any lock here).
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('t52', format('host=%s port=%s dbname=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
                                    current_setting('port'), current_database()));
SELECT dblink_exec('t52', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT throws_ok($$SELECT n FROM dblink('t52', 'SELECT coditect.audit_seal()') AS t(n int)$$, 'CD409',
                 'coditect.audit_seal() must run in a READ COMMITTED transaction',
                 'audit_seal() refuses a REPEATABLE READ transaction');
SELECT dblink_exec('t52', 'ROLLBACK');
SELECT dblink_disconnect('t52');

-- 2. Fixtures. The chain the pg_cron job made for the suite is removed (in this transaction only).
ALTER TABLE coditect_internal.audit_seals DISABLE TRIGGER ALL;
DELETE FROM coditect_internal.audit_seals;
ALTER TABLE coditect_internal.audit_seals ENABLE ALWAYS TRIGGER audit_seals_immutable_row;
ALTER TABLE coditect_internal.audit_seals ENABLE ALWAYS TRIGGER audit_seals_immutable;
-- h0: an hour 30 hours ago; five hours of three rows each from it. old: a row six months back,
-- the oldest of the trail, so the chain starts at its hour (older than the partitions the
-- install made, which are the extension's and cannot be dropped by maintenance).
SELECT date_trunc('hour', now(), 'UTC') - interval '30 hours' AS h0,
       date_trunc('month', now()) - interval '6 months' + interval '3 days' AS old,
       date_trunc('month', now()) - interval '7 months' + interval '3 days' AS older \gset
SELECT partman.create_partition_time('coditect.audit_logs', ARRAY[date_trunc('month', :'h0'::timestamptz),
                                     date_trunc('month', :'old'::timestamptz), date_trunc('month', :'older'::timestamptz)]);
INSERT INTO coditect.audit_logs (tenant_id, action, resource_type, resource_id, changes, created_at)
SELECT '01890000-0000-7000-8000-00000000052a', 't52.seed', 'Seed', h || '-' || k, jsonb_build_object('k', k),
       :'h0'::timestamptz + h * interval '1 hour' + k * interval '17 minutes'
  FROM generate_series(0, 4) h, generate_series(0, 2) k;
INSERT INTO coditect.audit_logs (tenant_id, action, resource_type, resource_id, created_at)
VALUES ('01890000-0000-7000-8000-00000000052a', 't52.old', 'Seed', 'old', :'old');
CREATE TEMP TABLE seal_at AS SELECT h, :'h0'::timestamptz + h * interval '1 hour' AS period_start FROM generate_series(0, 8) h;

-- 3. Sealing.
SELECT is(coditect.audit_seal(),
          (extract(epoch FROM date_trunc('hour', now() - interval '5 minutes', 'UTC') - date_trunc('hour', :'old'::timestamptz, 'UTC'))
           / 3600)::int,
          'audit_seal() seals every complete hour from the oldest row''s to the last that ended 5 minutes ago');
SELECT is(coditect.audit_seal(), 0, 'run again, it has nothing to seal');
SELECT is((SELECT min(period_start) FROM coditect_internal.audit_seals), date_trunc('hour', :'old'::timestamptz, 'UTC'),
          'the chain starts at the hour of the oldest audit row');
SELECT is((SELECT max(period_end) FROM coditect_internal.audit_seals), date_trunc('hour', now() - interval '5 minutes', 'UTC'),
          'and ends at the last hour that ended 5 minutes ago: the current hour is not sealed');
SELECT is((SELECT count(*)::int FROM coditect_internal.audit_seals s
            WHERE s.period_end <> s.period_start + interval '1 hour'
               OR NOT EXISTS (SELECT FROM coditect_internal.audit_seals p WHERE p.seq = s.seq - 1
                                 AND p.period_end = s.period_start AND p.hash = s.prev_hash)
                  AND s.seq <> 1), 0,
          'one seal per hour, each following the one before: contiguous hours, prev_hash the previous hash');
SELECT is((SELECT prev_hash FROM coditect_internal.audit_seals WHERE seq = 1), decode(repeat('00', 32), 'hex'),
          'the first seal''s previous hash is 32 zero bytes');
SELECT is((SELECT array_agg(s.row_count ORDER BY s.seq) FROM coditect_internal.audit_seals s JOIN seal_at USING (period_start)
            WHERE seal_at.h < 5),
          ARRAY[3, 3, 3, 3, 3]::bigint[], 'the seeded hours hold three rows each');
-- The digest and hash recomputed here, from the definition (not streamed).
SELECT is(s.rows_digest,
          (SELECT sha256(string_agg(sha256(convert_to(coditect_internal.audit_row_canonical(a), 'UTF8')), ''::bytea
                                    ORDER BY a.created_at, a.id))
             FROM coditect.audit_logs a WHERE a.created_at >= s.period_start AND a.created_at < s.period_end),
          'rows digest: the SHA-256 of the rows'' SHA-256s in (created_at, id) order')
  FROM coditect_internal.audit_seals s WHERE s.period_start = :'h0';
SELECT is(s.hash,
          sha256(s.prev_hash || s.rows_digest || int8send((extract(epoch FROM s.period_start) * 1000000)::bigint)
                 || int8send((extract(epoch FROM s.period_end) * 1000000)::bigint) || int8send(s.row_count)),
          'seal hash: sha256(previous hash, rows digest, start, end, count)')
  FROM coditect_internal.audit_seals s WHERE s.period_start = :'h0';
SELECT is(s.rows_digest, sha256(''::bytea), 'an hour without rows is sealed too (digest of nothing)')
  FROM coditect_internal.audit_seals s WHERE s.period_start = :'h0'::timestamptz + interval '6 hours';

-- 4. A clean verification.
SELECT coditect.audit_verify('-infinity', 'infinity') AS v \gset
SELECT is((:'v'::jsonb)->'problems', '[]'::jsonb, 'verify finds nothing wrong with the trail as sealed');
SELECT is((:'v'::jsonb)->>'intact', 'true', 'and says it is intact');
SELECT is(((:'v'::jsonb)->>'seals_checked')::int, (SELECT count(*)::int FROM coditect_internal.audit_seals), 'having checked every seal');
SELECT is((:'v'::jsonb)->'head', (SELECT jsonb_build_object('seq', seq, 'hash', encode(hash, 'hex'))
                                    FROM coditect_internal.audit_seals ORDER BY seq DESC LIMIT 1),
          'it answers the head of the chain (to keep elsewhere)');
SELECT is(((:'v'::jsonb)->>'sealed_until')::timestamptz, date_trunc('hour', now() - interval '5 minutes', 'UTC'),
          'and how far the trail is sealed');
SELECT is(((:'v'::jsonb)->>'retired')::int, 0, 'within a year''s retention no seal is retired');

-- 5. Tampering as a superuser, past the triggers: a changed row, a removed row, an added row.
SELECT tableoid::regclass::text AS part FROM coditect.audit_logs WHERE created_at = :'h0' \gset
SET LOCAL session_replication_role = replica;
SELECT throws_ok(format($$UPDATE %s SET severity = 'critical' WHERE created_at = %L$$, :'part', :'h0'), 'CD403', NULL,
                 'replica mode does not get past the guards');
RESET session_replication_role;
SELECT format('ALTER TABLE %s DISABLE TRIGGER ALL', :'part') \gexec
SELECT ok((SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = :'part'::regclass AND t.tgenabled = 'D') >= 2,
          'the partition''s triggers are disabled by its owner, a superuser');
SELECT format($$UPDATE %s SET severity = 'critical' WHERE created_at = %L$$, :'part', :'h0'::timestamptz + interval '17 minutes') \gexec
SELECT format($$DELETE FROM %s WHERE created_at = %L$$, :'part', :'h0'::timestamptz + interval '1 hour') \gexec
INSERT INTO coditect.audit_logs (tenant_id, action, resource_type, resource_id, created_at)
VALUES ('01890000-0000-7000-8000-00000000052a', 't52.forged', 'Seed', 'forged', :'h0'::timestamptz + interval '2 hours 50 minutes');
SELECT format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', :'part', t) FROM unnest(ARRAY['audit_logs_immutable', 'audit_logs_immutable_row']) t \gexec
-- ... and a changed seal: its hash.
ALTER TABLE coditect_internal.audit_seals DISABLE TRIGGER ALL;
UPDATE coditect_internal.audit_seals SET hash = sha256(hash) WHERE period_start = :'h0'::timestamptz + interval '3 hours';
ALTER TABLE coditect_internal.audit_seals ENABLE ALWAYS TRIGGER audit_seals_immutable_row;
ALTER TABLE coditect_internal.audit_seals ENABLE ALWAYS TRIGGER audit_seals_immutable;

CREATE TEMP VIEW problems AS
SELECT p.problem, p.seq, p.period_start, p.period_end, p.sealed_rows, p.found_rows
  FROM jsonb_to_recordset(coditect.audit_verify('-infinity', 'infinity')->'problems')
       AS p(problem text, seq bigint, period_start timestamptz, period_end timestamptz, sealed_rows bigint, found_rows bigint);
SELECT set_eq($$SELECT problem, seq, period_start, sealed_rows, found_rows FROM problems$$,
              $$SELECT x.problem, s.seq, s.period_start, x.sealed, x.found
                  FROM (VALUES (0, 'rows_altered', 3::bigint, 3::bigint), (1, 'rows_removed', 3, 2), (2, 'rows_added', 3, 4),
                               (3, 'seal_altered', NULL, NULL), (4, 'chain_broken', NULL, NULL)) x(h, problem, sealed, found)
                  JOIN seal_at a ON a.h = x.h JOIN coditect_internal.audit_seals s ON s.period_start = a.period_start$$,
              'verify reports each tampering at its hour and seal: the changed row, the removed row, the added row, '
              'the changed seal, and the link it broke to the next seal');
SELECT is(coditect.audit_verify('-infinity', 'infinity')->>'intact', 'false', 'the trail is not intact');
SELECT is((SELECT period_end FROM problems WHERE problem = 'rows_added'), :'h0'::timestamptz + interval '3 hours',
          'a problem names its hour''s bounds');
SELECT is(coditect.audit_verify(:'h0'::timestamptz + interval '1 hour', :'h0'::timestamptz + interval '2 hours')->'problems'->0->>'problem',
          'rows_removed', 'a range of one hour reports that hour only');
SELECT is(jsonb_array_length(coditect.audit_verify(:'h0'::timestamptz + interval '1 hour', :'h0'::timestamptz + interval '2 hours')->'problems'),
          1, '... and nothing else');
SELECT is(coditect.audit_verify(:'h0'::timestamptz + interval '5 hours', 'infinity')->'problems', '[]'::jsonb,
          'the hours after the tampering verify clean');

-- A removed seal.
ALTER TABLE coditect_internal.audit_seals DISABLE TRIGGER ALL;
DELETE FROM coditect_internal.audit_seals WHERE period_start = :'h0'::timestamptz + interval '6 hours';
ALTER TABLE coditect_internal.audit_seals ENABLE ALWAYS TRIGGER audit_seals_immutable_row;
ALTER TABLE coditect_internal.audit_seals ENABLE ALWAYS TRIGGER audit_seals_immutable;
SELECT is(coditect.audit_verify(:'h0'::timestamptz + interval '5 hours', :'h0'::timestamptz + interval '9 hours')->'problems',
          jsonb_build_array(jsonb_build_object('problem', 'chain_broken', 'seq', s.seq, 'period_start', s.period_start,
                                               'period_end', s.period_end, 'detail', format('seal %s is missing', s.seq - 1))),
          'a removed seal breaks the chain at the next seal')
  FROM coditect_internal.audit_seals s WHERE s.period_start = :'h0'::timestamptz + interval '7 hours';

-- A row added before the chain begins.
INSERT INTO coditect.audit_logs (tenant_id, action, resource_type, resource_id, created_at)
VALUES ('01890000-0000-7000-8000-00000000052a', 't52.forged', 'Seed', 'older', :'older');
SELECT is((SELECT problem || '/' || found_rows FROM jsonb_to_recordset(coditect.audit_verify('-infinity', :'old')->'problems')
                                               AS p(problem text, found_rows bigint)),
          'unsealed_rows/1', 'a row before the first seal is reported as unsealed');

-- 6. Retention: hours past it are retired, not reported, even once their partitions are dropped.
SELECT coditect.set_audit_retention('5 months');
SELECT is(coditect.audit_verify('-infinity', :'h0')->'problems', '[]'::jsonb,
          'with five months of retention, the rows six and seven months old are not checked');
SELECT lives_ok($$SELECT coditect.audit_maintenance()$$, 'maintenance drops the partitions past retention');
SELECT ok(to_regclass('coditect.audit_logs_p' || to_char(:'old'::timestamptz, 'YYYY_MM')) IS NULL,
          'the old rows'' partition is gone');
SELECT is(coditect.audit_verify('-infinity', :'h0')->'problems', '[]'::jsonb,
          'verify reports nothing for the dropped hours');
SELECT is((coditect.audit_verify('-infinity', 'infinity')->>'retired')::int,
          (SELECT count(*)::int FROM coditect_internal.audit_seals WHERE period_end <= now() - interval '5 months'),
          'it counts their seals as retired');
SELECT ok((SELECT count(*) FROM coditect_internal.audit_seals WHERE period_end <= now() - interval '5 months') > 0,
          '(there are retired seals)');
SELECT is((SELECT count(*)::int FROM problems), 6, 'the tampering within retention is still reported (five, and the removed seal)');
SELECT coditect.set_audit_retention('1 year');

-- 7. Seals are immutable for every role, superusers included, in replica mode too.
SELECT throws_ok($$UPDATE coditect_internal.audit_seals SET row_count = 0$$, 'CD403', NULL, 'UPDATE of seals fails for a superuser');
SELECT throws_ok($$DELETE FROM coditect_internal.audit_seals$$, 'CD403', NULL, 'DELETE of seals fails');
SELECT throws_ok($$TRUNCATE coditect_internal.audit_seals$$, 'CD403', NULL, 'TRUNCATE of seals fails');
SET LOCAL session_replication_role = replica;
SELECT throws_ok($$DELETE FROM coditect_internal.audit_seals$$, 'CD403', NULL, 'replica mode does not switch the guard off');
RESET session_replication_role;
SELECT is((SELECT array_agg(tgname::text || ':' || tgenabled::text ORDER BY tgname) FROM pg_trigger
            WHERE tgrelid = 'coditect_internal.audit_seals'::regclass AND NOT tgisinternal),
          ARRAY['audit_seals_immutable:A', 'audit_seals_immutable_row:A'], 'both guards are ENABLE ALWAYS');

-- 8. Who may call what: the DBA seals (and the job, as the owner); the DBA and services verify.
SELECT is(array_agg(r ORDER BY r) FILTER (WHERE has_function_privilege(r, 'coditect.audit_seal()', 'EXECUTE')), NULL,
          'no application role may call audit_seal()')
  FROM unnest(ARRAY['public', 'coditect_gateway', 'coditect_service', 'coditect_analyst']) r;
SELECT is(array_agg(r ORDER BY r) FILTER (WHERE has_function_privilege(r, 'coditect.audit_verify(timestamptz,timestamptz)', 'EXECUTE')),
          ARRAY['coditect_service'], 'of the application roles, services only may call audit_verify()')
  FROM unnest(ARRAY['public', 'coditect_gateway', 'coditect_service', 'coditect_analyst']) r;
SELECT is(array_agg(r || ':' || p ORDER BY r, p) FILTER (WHERE has_table_privilege(r, 'coditect_internal.audit_seals', p)), NULL,
          'no application role has any privilege on the seals')
  FROM unnest(ARRAY['public', 'coditect_gateway', 'coditect_service', 'coditect_analyst']) r,
       unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p;
SET LOCAL ROLE tap52_gateway;
SELECT throws_ok($$SELECT coditect.audit_seal()$$, '42501', NULL, 'a gateway login cannot seal');
SELECT throws_ok($$SELECT coditect.audit_verify('-infinity', 'infinity')$$, '42501', NULL, 'nor verify');
SELECT throws_ok($$INSERT INTO coditect_internal.audit_seals (seq, period_start, period_end, row_count, rows_digest, prev_hash, hash)
                   VALUES (999999, '3000-01-01', '3000-01-01 01:00', 0, sha256(''), sha256(''), sha256(''))$$,
                 '42501', NULL, 'nor write a seal');
RESET ROLE;
SET LOCAL ROLE tap52_analyst;
SELECT throws_ok($$SELECT coditect.audit_verify('-infinity', 'infinity')$$, '42501', NULL, 'an analyst cannot verify');
RESET ROLE;
SET LOCAL ROLE tap52_service;
SELECT throws_ok($$SELECT coditect.audit_seal()$$, '42501', NULL, 'a service login cannot seal');
SELECT is(coditect.audit_verify(:'h0'::timestamptz + interval '1 hour', :'h0'::timestamptz + interval '2 hours')->'problems'->0->>'problem',
          'rows_removed', 'but verifies');
RESET ROLE;
SELECT throws_ok($$SELECT coditect.audit_verify('infinity', '-infinity')$$, 'CD400', NULL, 'an empty range is CD400');
SELECT throws_ok($$SELECT coditect.audit_verify(NULL, now())$$, 'CD400', NULL, 'a missing bound is CD400');

SELECT * FROM finish();
ROLLBACK;
