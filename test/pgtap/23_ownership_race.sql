-- Two owners demoting each other at the same time: the tenant row lock serialises the two
-- checks, so the second sees the first's commit and is refused; one owner is left. Two sessions
-- through dblink (committed fixtures, removed at the end).
\set ON_ERROR_STOP 1
SELECT plan(7);

CREATE EXTENSION dblink;
SELECT coditect.create_tenant('Race', 't23-race', 'race@t23.test', 'one@t23.test') AS j \gset
SELECT :'j'::jsonb->>'tenant_id' AS tid, :'j'::jsonb->>'membership_id' AS m1 \gset
INSERT INTO coditect.users (tenant_id, email, role) VALUES (:'tid', 'two@t23.test', 'owner') RETURNING id AS u2 \gset
INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES (:'tid', :'u2', 'owner') RETURNING id AS m2 \gset

SELECT dblink_connect(c, format('host=%s port=%s dbname=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
                                current_setting('port'), current_database()))
  FROM unnest(ARRAY['t23_one', 't23_two']) c;
-- One: demotes the second owner and holds its transaction open.
SELECT dblink_exec('t23_one', 'BEGIN');
SELECT dblink_exec('t23_one', format('UPDATE coditect.memberships SET role = %L WHERE id = %L', 'admin', :'m2'));
-- Two: demotes the first owner; it waits for one's tenant lock.
SELECT dblink_send_query('t23_two', format('UPDATE coditect.memberships SET role = %L WHERE id = %L', 'admin', :'m1'));
SELECT pg_sleep(0.2);
SELECT is(dblink_is_busy('t23_two'), 1, 'the second demotion waits for the first');
SELECT dblink_exec('t23_one', 'COMMIT');
SELECT throws_ok($$SELECT * FROM dblink_get_result('t23_two') AS r(x text)$$, 'CD409', NULL,
                 'then it sees the first demotion and is refused');
SELECT * FROM dblink_get_result('t23_two') AS r(x text);  -- the end of its results
SELECT is((SELECT count(*)::int FROM coditect.memberships WHERE tenant_id = :'tid' AND role = 'owner' AND revoked_at IS NULL),
          1, 'one owner is left');
SELECT is((SELECT id FROM coditect.memberships WHERE tenant_id = :'tid' AND role = 'owner'), :'m1'::uuid,
          'the one whose demotion was refused');

-- An admin editing a member's account while an owner promotes that member: the admin's write
-- waits for the promotion and is then refused (the account is an owner's now).
INSERT INTO coditect.users (tenant_id, email, role) VALUES (:'tid', 'admin@t23.test', 'admin') RETURNING id AS ua \gset
INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES (:'tid', :'ua', 'admin');
INSERT INTO coditect.users (tenant_id, email) VALUES (:'tid', 'member@t23.test') RETURNING id AS um \gset
INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES (:'tid', :'um', 'member') RETURNING id AS mm \gset
SELECT user_id AS u1 FROM coditect.memberships WHERE id = :'m1' \gset
SELECT dblink_exec('t23_one', 'BEGIN');
SELECT * FROM dblink('t23_one', format('SELECT coditect.set_request_context(%L, %L, %L)::text', :'tid', :'u1', 'owner')) AS r(x text);
SELECT dblink_exec('t23_one', format('UPDATE coditect.memberships SET role = %L WHERE id = %L', 'owner', :'mm'));
SELECT dblink_exec('t23_two', 'BEGIN');
SELECT * FROM dblink('t23_two', format('SELECT coditect.set_request_context(%L, %L, %L)::text', :'tid', :'ua', 'admin')) AS r(x text);
SELECT dblink_send_query('t23_two', format('UPDATE coditect.users SET email = %L WHERE id = %L', 'taken@t23.test', :'um'));
SELECT pg_sleep(0.2);
SELECT is(dblink_is_busy('t23_two'), 1, 'the admin''s edit waits for the promotion');
SELECT dblink_exec('t23_one', 'COMMIT');
SELECT throws_ok($$SELECT * FROM dblink_get_result('t23_two') AS r(x text)$$, 'CD403', NULL,
                 'then it is refused: the account is an owner''s now');
SELECT * FROM dblink_get_result('t23_two') AS r(x text);
SELECT dblink_exec('t23_two', 'ROLLBACK');

-- Under REPEATABLE READ the lock would not show the other's change: such a change is refused.
SELECT dblink_exec('t23_one', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT throws_ok(format('SELECT dblink_exec(%L, %L)', 't23_one',
                        format('UPDATE coditect.memberships SET role = %L WHERE id = %L', 'admin', :'m1')),
                 'CD400', NULL, 'an ownership change under REPEATABLE READ is refused');
SELECT dblink_exec('t23_one', 'ROLLBACK');
SELECT dblink_disconnect(c) FROM unnest(ARRAY['t23_one', 't23_two']) c;
DROP EXTENSION dblink;
SELECT * FROM finish();
SELECT coditect.purge_tenant(:'tid');
