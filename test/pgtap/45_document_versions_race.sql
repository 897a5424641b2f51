-- Document version numbers under concurrent sessions: eight sessions (dblink) add 25 versions
-- each to one document at once, every version its own transaction; the numbers are 1 to 200,
-- distinct and consecutive, nobody gets an error, and the document shows the last. Committed
-- fixtures, removed at the end.
\set ON_ERROR_STOP 1
SELECT no_plan();

CREATE EXTENSION IF NOT EXISTS dblink;
SELECT coditect.create_tenant('Versions', 't45-versions', 'v@t45.test', 'owner@t45.test') ->> 'tenant_id' AS tid \gset
INSERT INTO coditect.documents (tenant_id, title) VALUES (:'tid', 'Raced') RETURNING id AS doc \gset
-- One blob for all (content is not the point here), held once per version.
INSERT INTO coditect.storage_blobs (tenant_id, sha256, size_bytes, status, ref_count)
VALUES (:'tid', sha256('raced'::bytea), 5, 'ready', 200) RETURNING id AS blob \gset

SELECT dblink_connect('t45_' || g, format('host=%s port=%s dbname=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
                                          current_setting('port'), current_database()))
  FROM generate_series(1, 8) g;
SELECT dblink_send_query('t45_' || g, format(
    $q$DO $d$ BEGIN FOR i IN 1..25 LOOP
          INSERT INTO coditect.document_versions (tenant_id, document_id, version_number, blob_id, file_path, file_name,
                                                  file_size_bytes, mime_type, checksum, change_summary)
          VALUES (%L, %L, 0, %L, 'db:x', 'raced.txt', 5, 'text/plain', encode(sha256('raced'::bytea), 'hex'), 'session ' || %s || '-' || i);
          COMMIT;
      END LOOP; END $d$$q$, :'tid', :'doc', :'blob', g))
  FROM generate_series(1, 8) g;
SELECT count(*) FROM generate_series(1, 8) g, LATERAL dblink_get_result('t45_' || g) AS r(x text);
SELECT count(*) FROM generate_series(1, 8) g, LATERAL dblink_get_result('t45_' || g) AS r(x text);  -- the end of each
SELECT is(dblink_error_message('t45_' || g), 'OK', 'session ' || g || ' added its versions without an error')
  FROM generate_series(1, 8) g;
SELECT dblink_disconnect('t45_' || g) FROM generate_series(1, 8) g;

SELECT is((SELECT array_agg(version_number ORDER BY version_number) FROM coditect.document_versions WHERE document_id = :'doc'),
          (SELECT array_agg(g) FROM generate_series(1, 200) g), 'version numbers 1 to 200: distinct and consecutive, no gaps');
SELECT is((SELECT count(DISTINCT change_summary)::int FROM coditect.document_versions WHERE document_id = :'doc'), 200,
          'every session''s every version is there');
SELECT is((SELECT version FROM coditect.documents WHERE id = :'doc'), 200, 'the document shows the last version');

SELECT * FROM finish();

SELECT coditect.purge_tenant(:'tid');
