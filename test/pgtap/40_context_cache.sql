-- set_request_context's per-backend cache of membership checks (src_ext/pg_context_cache.cpp)
-- never outlives a committed change. A gateway backend (dblink, as a gateway login) first shows
-- that it answers from its cache (its transaction reads no memberships row), then this session
-- (or a second writer through dblink) commits a change, and the gateway's very next call must
-- see it: a revoked membership, a changed role (down and up), a deactivated user or tenant, a
-- deleted user, an analyst binding; also inside one open transaction, after a write that was
-- uncommitted when the gateway checked, and in the writer's own backend (its own change at once,
-- and back after its rollback). Committed fixtures, removed at the end.
\set ON_ERROR_STOP 1
SELECT plan(37);

CREATE EXTENSION IF NOT EXISTS dblink;
CREATE ROLE tapcc_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tapcc_late_analyst LOGIN IN ROLE coditect_gateway;
SELECT coditect.create_tenant('Cache A', 'tcc-a', 'a@tcc.test', 'owner@a.tcc.test') AS ja \gset
SELECT coditect.create_tenant('Cache B', 'tcc-b', 'b@tcc.test', 'owner@b.tcc.test') AS jb \gset
SELECT :'ja'::jsonb ->> 'tenant_id' AS ta, :'ja'::jsonb ->> 'user_id' AS oa,
       :'jb'::jsonb ->> 'tenant_id' AS tb, :'jb'::jsonb ->> 'user_id' AS ob \gset
INSERT INTO coditect.users (tenant_id, email) VALUES (:'ta', 'member@a.tcc.test') RETURNING id AS ma \gset
INSERT INTO coditect.users (tenant_id, email) VALUES (:'ta', 'leaver@a.tcc.test') RETURNING id AS la \gset
INSERT INTO coditect.users (tenant_id, email) VALUES (:'ta', 'late@a.tcc.test') RETURNING id AS ra \gset
INSERT INTO coditect.memberships (tenant_id, user_id, role)
SELECT :'ta', u, 'member' FROM unnest(ARRAY[:'ma', :'la', :'ra']::uuid[]) u;

SELECT dblink_connect(c, format('host=%s port=%s dbname=%s user=%s',
                                split_part(current_setting('unix_socket_directories'), ',', 1),
                                current_setting('port'), current_database(), u))
  FROM (VALUES ('tcc_gw', 'tapcc_gateway'), ('tcc_late', 'tapcc_late_analyst'), ('tcc_writer', 'postgres')) v(c, u);

CREATE TEMP TABLE ctx_errors (at timestamptz DEFAULT clock_timestamp(), state text, msg text);
-- One context call in its own transaction of connection p_conn: NULL when it is refused (the
-- error is the next ctx_error()), else the number of rows of memberships and analyst bindings
-- that the call read (pending statistics of the backend, before and after): 0 means the
-- answers came from its cache.
CREATE FUNCTION pg_temp.ctx_reads(p_conn text, p_tenant uuid, p_user uuid, p_role text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    reads CONSTANT text := $q$SELECT (sum(seq_tup_read) + sum(idx_tup_fetch))::bigint FROM pg_stat_xact_user_tables
                               WHERE relid IN ('coditect.memberships'::regclass, 'coditect_internal.analyst_bindings'::regclass)$q$;
    before bigint;
    after bigint;
BEGIN
    PERFORM dblink_exec(p_conn, 'BEGIN');
    SELECT n INTO before FROM dblink(p_conn, reads) AS r(n bigint);
    BEGIN
        PERFORM * FROM dblink(p_conn, format('SELECT coditect.set_request_context(%L, %L, %L)::text',
                                             p_tenant, p_user, p_role)) AS r(x text);
    EXCEPTION WHEN OTHERS THEN
        PERFORM dblink_exec(p_conn, 'ROLLBACK');
        INSERT INTO ctx_errors (state, msg) VALUES (SQLSTATE, SQLERRM);
        RETURN NULL;
    END;
    SELECT n INTO after FROM dblink(p_conn, reads) AS r(n bigint);
    PERFORM dblink_exec(p_conn, 'COMMIT');
    RETURN after - before;
END $$;
CREATE FUNCTION pg_temp.ctx_error() RETURNS text LANGUAGE sql AS $$
    SELECT state || ' ' || msg FROM ctx_errors ORDER BY at DESC LIMIT 1
$$;
-- Whether a call answers from the cache. Any relcache invalidation of the four tables (an
-- autovacuum's statistics too) empties it, so one of three calls in a row is enough: with no
-- cache at all none would.
CREATE FUNCTION pg_temp.from_cache(p_conn text, p_tenant uuid, p_user uuid, p_role text) RETURNS boolean
LANGUAGE sql AS $$
    SELECT bool_or(pg_temp.ctx_reads(p_conn, p_tenant, p_user, p_role) = 0) FROM generate_series(1, 3)
$$;

-- The cache at work.
SELECT cmp_ok(pg_temp.ctx_reads('tcc_gw', :'ta', :'ma', 'member'), '>', 0::bigint,
              'the first check of a membership reads it');
SELECT ok(pg_temp.from_cache('tcc_gw', :'ta', :'ma', 'member'), 'the next transaction''s check is answered from the backend''s cache');
SELECT is(pg_temp.ctx_reads('tcc_gw', :'tb', :'ma', 'member'), NULL, 'a member of A gets no context in B');
SELECT is(pg_temp.ctx_error(), 'CD403 user is not an active member of this tenant', '... refused as before');
SELECT ok(pg_temp.ctx_reads('tcc_gw', :'tb', :'ob', 'owner') IS NOT NULL, 'B''s owner acts in B');
SELECT is(pg_temp.ctx_reads('tcc_gw', :'ta', :'ob', 'owner'), NULL, 'and gets no context in A, whatever is cached');

-- Revocation.
UPDATE coditect.memberships SET revoked_at = now() WHERE tenant_id = :'ta' AND user_id = :'ma';
SELECT is(pg_temp.ctx_reads('tcc_gw', :'ta', :'ma', 'member'), NULL,
          'a membership revoked by another backend is refused at the next call');
SELECT is(pg_temp.ctx_error(), 'CD403 user is not an active member of this tenant', '... as not an active member');
UPDATE coditect.memberships SET revoked_at = NULL WHERE tenant_id = :'ta' AND user_id = :'ma';
SELECT cmp_ok(pg_temp.ctx_reads('tcc_gw', :'ta', :'ma', 'member'), '>', 0::bigint, 'restored, it is read again');
SELECT ok(pg_temp.from_cache('tcc_gw', :'ta', :'ma', 'member'), '... and cached again');

-- A role change, down and then up.
UPDATE coditect.memberships SET role = 'guest' WHERE tenant_id = :'ta' AND user_id = :'ma';
SELECT is(pg_temp.ctx_reads('tcc_gw', :'ta', :'ma', 'member'), NULL, 'a member demoted to guest can no longer act as member');
SELECT is(pg_temp.ctx_error(), 'CD403 role "member" exceeds the membership role "guest"', '... the new role is the one checked');
SELECT ok(pg_temp.ctx_reads('tcc_gw', :'ta', :'ma', 'guest') IS NOT NULL, '... and acts as guest');
SELECT ok(pg_temp.from_cache('tcc_gw', :'ta', :'ma', 'guest'), 'the guest membership is cached');
UPDATE coditect.memberships SET role = 'admin' WHERE tenant_id = :'ta' AND user_id = :'ma';
SELECT ok(pg_temp.ctx_reads('tcc_gw', :'ta', :'ma', 'admin') IS NOT NULL, 'promoted to admin, it acts as admin at once');
UPDATE coditect.memberships SET role = 'member' WHERE tenant_id = :'ta' AND user_id = :'ma';

-- A deactivated user, a deactivated tenant.
SELECT ok(pg_temp.ctx_reads('tcc_gw', :'ta', :'ma', 'member') IS NOT NULL, 'the member acts as member');
SELECT ok(pg_temp.from_cache('tcc_gw', :'ta', :'ma', 'member'), '... from the cache');
UPDATE coditect.users SET is_active = false WHERE tenant_id = :'ta' AND id = :'ma';
SELECT is(pg_temp.ctx_reads('tcc_gw', :'ta', :'ma', 'member'), NULL, 'a deactivated user is refused at the next call');
UPDATE coditect.users SET is_active = true WHERE tenant_id = :'ta' AND id = :'ma';
SELECT ok(pg_temp.ctx_reads('tcc_gw', :'ta', :'oa', 'owner') IS NOT NULL, 'the owner of A acts');
SELECT ok(pg_temp.from_cache('tcc_gw', :'ta', :'oa', 'owner'), '... from the cache');
UPDATE coditect.tenants SET is_active = false WHERE id = :'ta';
SELECT is(pg_temp.ctx_reads('tcc_gw', :'ta', :'oa', 'owner'), NULL, 'in a deactivated tenant nobody gets a context at the next call');
UPDATE coditect.tenants SET is_active = true WHERE id = :'ta';

-- A deleted user (its membership goes with it).
SELECT ok(pg_temp.ctx_reads('tcc_gw', :'ta', :'la', 'member') IS NOT NULL, 'the leaver acts');
SELECT ok(pg_temp.from_cache('tcc_gw', :'ta', :'la', 'member'), '... from the cache');
DELETE FROM coditect.users WHERE tenant_id = :'ta' AND id = :'la';
SELECT is(pg_temp.ctx_reads('tcc_gw', :'ta', :'la', 'member'), NULL, 'a deleted user is refused at the next call');

-- Inside one open transaction of the gateway: its next call sees a revocation committed meanwhile.
SELECT dblink_exec('tcc_gw', 'BEGIN');
SELECT is((SELECT x FROM dblink('tcc_gw', format($$SELECT coditect.set_request_context(%L, %L, 'member')::text$$, :'ta', :'ma')) AS r(x text)),
          '', 'a gateway transaction sets a member''s context');
UPDATE coditect.memberships SET revoked_at = now() WHERE tenant_id = :'ta' AND user_id = :'ma';
SELECT throws_ok(format($$SELECT * FROM dblink('tcc_gw', %L) AS r(x text)$$,
                        format($$SELECT coditect.set_request_context(%L, %L, 'member')::text$$, :'ta', :'ma')),
                 'CD403', 'user is not an active member of this tenant',
                 'its next call in the same transaction is refused once the revocation committed');
SELECT dblink_exec('tcc_gw', 'ROLLBACK');
UPDATE coditect.memberships SET revoked_at = NULL WHERE tenant_id = :'ta' AND user_id = :'ma';

-- A check made while a revocation was still uncommitted caches the committed membership; the
-- commit then drops it.
SELECT dblink_exec('tcc_writer', 'BEGIN');
SELECT dblink_exec('tcc_writer', format('UPDATE coditect.memberships SET revoked_at = now() WHERE tenant_id = %L AND user_id = %L', :'ta', :'ra'));
SELECT cmp_ok(pg_temp.ctx_reads('tcc_gw', :'ta', :'ra', 'member'), '>', 0::bigint,
              'a member checked while its revocation is uncommitted is still one (read)');
SELECT ok(pg_temp.from_cache('tcc_gw', :'ta', :'ra', 'member'), '... and cached');
SELECT dblink_exec('tcc_writer', 'COMMIT');
SELECT is(pg_temp.ctx_reads('tcc_gw', :'ta', :'ra', 'member'), NULL, 'after the commit its next call is refused');
-- A rolled-back revocation changes nothing.
SELECT ok(pg_temp.ctx_reads('tcc_gw', :'ta', :'ma', 'member') IS NOT NULL, 'the member acts again');
SELECT dblink_exec('tcc_writer', 'BEGIN');
SELECT dblink_exec('tcc_writer', format('UPDATE coditect.memberships SET revoked_at = now() WHERE tenant_id = %L AND user_id = %L', :'ta', :'ma'));
SELECT dblink_exec('tcc_writer', 'ROLLBACK');
SELECT ok(pg_temp.ctx_reads('tcc_gw', :'ta', :'ma', 'member') IS NOT NULL, 'a rolled-back revocation leaves the member');

-- The writer's own backend: its uncommitted promotion counts for its own next call, and is
-- forgotten with its rollback.
SELECT dblink_exec('tcc_writer', 'BEGIN');
SELECT dblink_exec('tcc_writer', format('UPDATE coditect.memberships SET role = %L WHERE tenant_id = %L AND user_id = %L', 'admin', :'ta', :'ma'));
SELECT lives_ok(format('SELECT * FROM dblink(%L, %L) AS r(x text)', 'tcc_writer',
                       format($$SELECT coditect.set_request_context(%L, %L, 'admin')::text$$, :'ta', :'ma')),
                'a backend''s own uncommitted promotion counts for its next call');
SELECT dblink_exec('tcc_writer', 'ROLLBACK');
SELECT throws_ok(format('SELECT * FROM dblink(%L, %L) AS r(x text)', 'tcc_writer',
                        format($$SELECT coditect.set_request_context(%L, %L, 'admin')::text$$, :'ta', :'ma')),
                 'CD403', 'role "admin" exceeds the membership role "member"',
                 'after its rollback the promotion is forgotten');

-- An analyst binding made while a gateway login's backend holds its "not bound" answer.
SELECT ok(pg_temp.ctx_reads('tcc_late', :'ta', :'oa', 'owner') IS NOT NULL, 'a gateway login sets a context');
SELECT ok(pg_temp.from_cache('tcc_late', :'ta', :'oa', 'owner'), '... its checks answered from the cache');
REVOKE coditect_gateway FROM tapcc_late_analyst;
SELECT coditect.bind_analyst('tapcc_late_analyst', :'ta');
GRANT coditect_gateway TO tapcc_late_analyst;
SELECT is(pg_temp.ctx_reads('tcc_late', :'ta', :'oa', 'owner'), NULL, 'once it is bound as an analyst, its next call is refused');
SELECT is(pg_temp.ctx_error(), 'CD403 an analyst login cannot set a request context', '... as an analyst login');

SELECT dblink_disconnect(c) FROM unnest(ARRAY['tcc_gw', 'tcc_late', 'tcc_writer']) c;
SELECT * FROM finish();
SELECT coditect.unbind_analyst('tapcc_late_analyst');
SELECT coditect.purge_tenant(t) FROM unnest(ARRAY[:'ta', :'tb']::uuid[]) t;
DROP ROLE tapcc_gateway, tapcc_late_analyst;
