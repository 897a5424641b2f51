-- Checks what scripts/license_race.sh left behind: 32 clients x 5 attempts raced for a 5-seat
-- license with distinct machines, then for another one all from the same machine.
BEGIN;
SELECT plan(9);

SELECT is((SELECT count(*)::int FROM race.outcomes WHERE license = 'distinct'), 160,
          'every distinct-machine attempt finished (none errored)');
SELECT is((SELECT count(DISTINCT result)::int FROM race.outcomes WHERE license = 'distinct' AND result <> 'full'), 5,
          'exactly 5 seats were handed out to distinct machines');
SELECT is((SELECT count(*)::int FROM coditect.license_sessions s JOIN race.licenses l ON l.id = s.license_id
            WHERE l.name = 'distinct' AND s.status = 'active'), 5, 'and exactly 5 sessions are active');
SELECT is((SELECT seats_in_use FROM coditect.licenses l JOIN race.licenses r USING (id) WHERE r.name = 'distinct'), 5,
          'the seat counter agrees');
SELECT is((SELECT count(*)::int FROM race.outcomes WHERE license = 'same'), 160,
          'every same-machine attempt finished');
SELECT is((SELECT count(DISTINCT result)::int FROM race.outcomes WHERE license = 'same'), 1,
          'the same machine racing with itself always got one and the same session');
SELECT is((SELECT count(*)::int FROM coditect.license_sessions s JOIN race.licenses l ON l.id = s.license_id
            WHERE l.name = 'same'), 1, 'only one session row exists for it');
-- Invariants over every license in the database.
SELECT is((SELECT count(*)::int FROM coditect.licenses l
            WHERE l.seats_in_use <> (SELECT count(*) FROM coditect.license_sessions s
                                      WHERE s.tenant_id = l.tenant_id AND s.license_id = l.id AND s.status = 'active')
               OR l.seats_in_use > l.seats_total), 0,
          'for every license: seats_in_use = active sessions <= seats_total');
SELECT is((SELECT count(*)::int FROM (SELECT 1 FROM coditect.license_sessions WHERE status = 'active'
                                       GROUP BY tenant_id, license_id, hardware_id HAVING count(*) > 1) d), 0,
          'no machine holds two active sessions of one license');

SELECT * FROM finish();
ROLLBACK;
