-- File storage (sql/40_storage.sql): chunking, the resumable whole-file SHA-256, dedup within a
-- tenant and never across tenants, offset conflicts, checksum mismatches that lose nothing,
-- tier limits on declare and on the bytes received (every tier), completion checking size and
-- hash, who may upload and download, the analyst's view, the audit trail without bytes, the
-- tus adapters, release and purge. As a gateway login through the storage functions; the DBA
-- only to set fixtures up and to damage data on purpose. Everything rolled back.
BEGIN;
SELECT no_plan();

CREATE ROLE tap41_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap41_analyst LOGIN;

-- Fixtures: tenant A (professional) with an owner, a member, a second member and a guest;
-- tenant B (professional) with its owner.
SELECT coditect.create_tenant('Files A', 't41-a', 'a@t41.test', 'owner@t41-a.test', NULL, 'professional') AS ja \gset
SELECT coditect.create_tenant('Files B', 't41-b', 'b@t41.test', 'owner@t41-b.test', NULL, 'professional') AS jb \gset
SELECT :'ja'::jsonb ->> 'tenant_id' AS ta, :'ja'::jsonb ->> 'user_id' AS owner_a,
       :'jb'::jsonb ->> 'tenant_id' AS tb, :'jb'::jsonb ->> 'user_id' AS owner_b \gset
INSERT INTO coditect.users (tenant_id, email, role)
SELECT :'ta', r || '@t41-a.test', CASE r WHEN 'member2' THEN 'member' ELSE r END::coditect.member_role
  FROM unnest(ARRAY['member', 'member2', 'guest']) r;
INSERT INTO coditect.memberships (tenant_id, user_id, role)
SELECT tenant_id, id, role FROM coditect.users WHERE tenant_id = :'ta' AND role <> 'owner';
SELECT id AS member_a FROM coditect.users WHERE email = 'member@t41-a.test' \gset
SELECT id AS member2_a FROM coditect.users WHERE email = 'member2@t41-a.test' \gset
SELECT id AS guest_a FROM coditect.users WHERE email = 'guest@t41-a.test' \gset

-- t41.run(tenant, user, role, sql): sql's answer as text in that request context, or
-- 'SQLSTATE: message'. Its writes stay (a failure rolls back only its own).
CREATE SCHEMA t41;
GRANT USAGE ON SCHEMA t41 TO PUBLIC;
CREATE FUNCTION t41.run(p_tenant uuid, p_user uuid, p_role text, p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    PERFORM coditect.set_request_context(p_tenant, p_user, p_role);
    EXECUTE p_sql INTO r;
    RETURN coalesce(r, 'null');
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- Deterministic bytes: n bytes of the repeated pattern p (hex).
CREATE FUNCTION t41.bytes(p_hex text, n int) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT substring(decode(repeat(p_hex, n / (length(p_hex) / 2) + 1), 'hex') FROM 1 FOR n)
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA t41 TO PUBLIC;
-- The whole content of a blob as the DBA sees it (past RLS), and its chunk sizes.
CREATE FUNCTION t41.content(p_blob uuid) RETURNS bytea LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(data, '' ORDER BY seq), '') FROM coditect.storage_chunks WHERE blob_id = p_blob
$$;
CREATE FUNCTION t41.chunk_sizes(p_blob uuid) RETURNS int[] LANGUAGE sql STABLE AS $$
    SELECT array_agg(octet_length(data) ORDER BY seq) FROM coditect.storage_chunks WHERE blob_id = p_blob
$$;

------------------------------------------------------------------------------------------------
-- Shape
------------------------------------------------------------------------------------------------

SELECT has_table('coditect', t, t || ' exists') FROM unnest(ARRAY['storage_blobs', 'storage_chunks', 'upload_sessions']) t;
SELECT is((SELECT attstorage FROM pg_attribute WHERE attrelid = 'coditect.storage_chunks'::regclass AND attname = 'data'),
          'e', 'chunk bytes are stored uncompressed out of line (EXTERNAL): ranged reads fetch only their slices');
SELECT is(coditect.storage_chunk_size(), 1048576, 'chunks are 1 MiB');
SELECT is(ARRAY[coditect.storage_max_file_size('trial'), coditect.storage_max_file_size('starter'),
                coditect.storage_max_file_size('professional'), coditect.storage_max_file_size('enterprise')],
          ARRAY[10485760, 10485760, 104857600, 1073741824]::bigint[], 'file size limits: 10 MiB, 10 MiB, 100 MiB, 1 GiB');
SELECT ok(NOT has_table_privilege('coditect_gateway', 'coditect.' || t, p), format('the gateway has no %s on %s', p, t))
  FROM unnest(ARRAY['storage_blobs', 'storage_chunks', 'upload_sessions']) t, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) p;
SELECT ok(EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = 'coditect'
                    AND ('coditect.' || t)::regclass = ANY (e.extconfig)), t || ' is dumped by pg_dump')
  FROM unnest(ARRAY['storage_blobs', 'storage_chunks', 'upload_sessions']) t;

------------------------------------------------------------------------------------------------
-- The analyst's view (first: a request context, once set, lasts until the transaction ends).
-- Rows written by the DBA, one blob of two chunks per tenant.
------------------------------------------------------------------------------------------------

INSERT INTO coditect.storage_blobs (tenant_id, sha256, size_bytes, status, ref_count)
SELECT t, sha256(t::text::bytea), 2, 'ready', 1 FROM unnest(ARRAY[:'ta', :'tb']::uuid[]) t;
INSERT INTO coditect.storage_chunks (tenant_id, blob_id, seq, data)
SELECT b.tenant_id, b.id, s, '\x01' FROM coditect.storage_blobs b, generate_series(0, 1) s;
SELECT coditect.bind_analyst('tap41_analyst', :'tb') IS NOT NULL AS _ \gset
SET SESSION AUTHORIZATION tap41_analyst;
SELECT (SELECT count(*) FROM coditect.storage_blobs) AS an_blobs,
       (SELECT count(*) FROM coditect.storage_blobs WHERE tenant_id <> :'tb') AS an_foreign_blobs,
       (SELECT count(*) FROM coditect.storage_chunks WHERE tenant_id <> :'tb') AS an_foreign_chunks,
       (SELECT count(*) FROM coditect.storage_chunks) AS an_chunks,
       (SELECT count(*) FROM coditect.upload_sessions WHERE tenant_id <> :'tb') AS an_foreign_uploads \gset
RESET SESSION AUTHORIZATION;
SELECT is(:an_blobs::int, 1, 'the analyst bound to B sees B''s blob');
SELECT is(:an_chunks::int, 2, '... and its chunks');
SELECT is(:an_foreign_blobs::int + :an_foreign_chunks::int + :an_foreign_uploads::int, 0,
          '... and no blob, chunk or upload of another tenant');
SELECT ok(NOT has_table_privilege('coditect_analyst', 'coditect.' || t, p), format('an analyst has no %s on %s', p, t))
  FROM unnest(ARRAY['storage_blobs', 'storage_chunks', 'upload_sessions']) t, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) p;
DELETE FROM coditect.storage_blobs;

------------------------------------------------------------------------------------------------
-- An upload in pieces: chunking, the hash, reads
------------------------------------------------------------------------------------------------

SET ROLE tap41_gateway;
SELECT t41.run(:'ta', :'member_a', 'member',
               $$SELECT coditect.storage_begin_upload(2500000, '{"filename": "plan.pdf", "content_type": "application/pdf"}')$$) AS up1 \gset
SELECT :'up1'::jsonb ->> 'id' AS up1_id \gset
SELECT is(:'up1'::jsonb ->> 'upload_offset', '0', 'a new upload is at offset 0');
SELECT is(:'up1'::jsonb ->> 'status', 'uploading', '... uploading');
SELECT is(t41.run(:'ta', :'member_a', 'member',
                  format($$SELECT coditect.storage_append(%L, 0, t41.bytes('ab', 700000)) ->> 'upload_offset'$$, :'up1_id')),
          '700000', 'a first piece of 700,000 bytes moves the offset');
-- Wrong offsets: conflicts, nothing written.
SELECT alike(t41.run(:'ta', :'member_a', 'member',
                    format($$SELECT coditect.storage_append(%L, 0, t41.bytes('cd', 10))$$, :'up1_id')),
            'CD409: offset 0 does not match the upload''s offset 700000', 'an append at an old offset is a conflict (CD409)');
SELECT alike(t41.run(:'ta', :'member_a', 'member',
                    format($$SELECT coditect.storage_append(%L, 800000, t41.bytes('cd', 10))$$, :'up1_id')),
            'CD409:%', 'an append past the offset is a conflict too');
-- A checksum mismatch: nothing lost, nothing added.
SELECT alike(t41.run(:'ta', :'member_a', 'member',
                    format($$SELECT coditect.storage_append(%L, 700000, t41.bytes('cd', 1800000), sha256('other'::bytea))$$, :'up1_id')),
            'CD460:%', 'a piece whose SHA-256 differs from the one sent is refused (CD460)');
RESET ROLE;
SELECT is((SELECT upload_offset FROM coditect.upload_sessions WHERE id = :'up1_id'), 700000::bigint,
          '... the offset stays where it was');
SELECT is(t41.content((SELECT blob_id FROM coditect.upload_sessions WHERE id = :'up1_id')), t41.bytes('ab', 700000),
          '... and the bytes stored before it are intact');
SET ROLE tap41_gateway;
SELECT t41.run(:'ta', :'member_a', 'member',
               format($$SELECT coditect.storage_append(%L, 700000, t41.bytes('cd', 1800000), sha256(t41.bytes('cd', 1800000)))$$,
                      :'up1_id')) AS fin1 \gset
SELECT is(:'fin1'::jsonb ->> 'status', 'completed', 'the piece that reaches the declared length completes the upload');
SELECT :'fin1'::jsonb -> 'blob' ->> 'id' AS blob1 \gset
SELECT is(:'fin1'::jsonb -> 'blob' ->> 'sha256', encode(sha256(t41.bytes('ab', 700000) || t41.bytes('cd', 1800000)), 'hex'),
          'the blob''s SHA-256 is that of the whole file (resumed across pieces)');
SELECT is(:'fin1'::jsonb -> 'blob' ->> 'size', '2500000', '... its size the declared length');
SELECT is(:'fin1'::jsonb -> 'blob' ->> 'content_type', 'application/pdf', '... with the declared content type');
SELECT is(:'fin1'::jsonb -> 'target', 'null'::jsonb, 'no target: the completion hook made nothing');
RESET ROLE;
SELECT is(t41.chunk_sizes(:'blob1'), ARRAY[1048576, 1048576, 402848],
          'stored in 1 MiB chunks (the partial chunk of the first piece was topped up), the last shorter');
SELECT is(t41.content(:'blob1'), t41.bytes('ab', 700000) || t41.bytes('cd', 1800000), 'the stored bytes are the bytes sent');
SELECT is((SELECT status::text || ref_count FROM coditect.storage_blobs WHERE id = :'blob1'), 'ready1',
          'the blob is ready with one reference (the upload''s)');
SET ROLE tap41_gateway;
SELECT is(t41.run(:'ta', :'member_a', 'member', format($$SELECT encode(coditect.storage_read(%L, 1048570, 12), 'hex')$$, :'blob1')),
          encode(substring(t41.bytes('ab', 700000) || t41.bytes('cd', 1800000) FROM 1048571 FOR 12), 'hex'),
          'storage_read: a range across a chunk boundary');
SELECT is(t41.run(:'ta', :'member_a', 'member', format($$SELECT octet_length(coditect.storage_read(%L, 2097152, 1048576))$$, :'blob1')),
          '402848', 'storage_read: fewer bytes at the end');
SELECT is(t41.run(:'ta', :'member_a', 'member', format($$SELECT octet_length(coditect.storage_read(%L, 9000000, 10))$$, :'blob1')),
          '0', 'storage_read: none past the end');
SELECT alike(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.storage_read(%L, 0, 1048577)$$, :'blob1')),
            'CD400:%', 'storage_read: at most one chunk''s size at a time');
SELECT alike(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.storage_append(%L, 2500000, '\x00')$$, :'up1_id')),
            'CD409: the upload is complete%', 'a completed upload takes no more bytes');

------------------------------------------------------------------------------------------------
-- Dedup within a tenant, never across tenants
------------------------------------------------------------------------------------------------

SELECT t41.run(:'ta', :'member2_a', 'member', $$SELECT coditect.storage_begin_upload(2500000, '{"filename": "copy.pdf"}') ->> 'id'$$) AS up2 \gset
SELECT t41.run(:'ta', :'member2_a', 'member',
               format($$SELECT coditect.storage_append(%L, 0, t41.bytes('ab', 700000) || t41.bytes('cd', 1800000))$$, :'up2')) AS fin2 \gset
SELECT is(:'fin2'::jsonb -> 'blob' ->> 'id', :'blob1'::text, 'the same bytes uploaded again in the tenant: the same blob');
SELECT t41.run(:'tb', :'owner_b', 'owner', $$SELECT coditect.storage_begin_upload(2500000) ->> 'id'$$) AS up_b \gset
SELECT t41.run(:'tb', :'owner_b', 'owner',
               format($$SELECT coditect.storage_append(%L, 0, t41.bytes('ab', 700000) || t41.bytes('cd', 1800000))$$, :'up_b')) AS fin_b \gset
SELECT :'fin_b'::jsonb -> 'blob' ->> 'id' AS blob_b \gset
SELECT isnt(:'blob_b'::uuid, :'blob1'::uuid, 'the same bytes in another tenant: a blob of its own (no dedup across tenants)');
SELECT is(:'fin_b'::jsonb -> 'blob' ->> 'sha256', (:'fin1'::jsonb -> 'blob' ->> 'sha256'), '... with the same SHA-256');
-- Another tenant's blob is not there: not readable, not downloadable.
SELECT alike(t41.run(:'tb', :'owner_b', 'owner', format($$SELECT coditect.blob_download(%L)$$, :'blob1')), 'CD404:%',
            'another tenant''s blob cannot be downloaded (CD404)');
SELECT is(t41.run(:'tb', :'owner_b', 'owner', format($$SELECT octet_length(coditect.storage_read(%L, 0, 100))$$, :'blob1')), '0',
          '... nor read: no byte of it is visible');
SELECT alike(t41.run(:'tb', :'owner_b', 'owner', format($$SELECT coditect.upload_progress(%L)$$, :'up1_id')), 'CD404:%',
            'another tenant''s upload is not found');
SELECT alike(t41.run(:'tb', :'owner_b', 'owner', format($$SELECT coditect.storage_append(%L, 2500000, '\x00')$$, :'up1_id')), 'CD404:%',
            '... and cannot be appended to');
RESET ROLE;
SELECT is((SELECT ref_count FROM coditect.storage_blobs WHERE id = :'blob1'), 2, 'the deduplicated blob has two references');
SELECT is((SELECT count(*)::int FROM coditect.storage_blobs WHERE tenant_id = :'ta'), 1,
          'the duplicate''s bytes were dropped: one blob in tenant A');
SELECT is((SELECT count(*)::int FROM coditect.storage_chunks WHERE tenant_id = :'ta'), 3, '... and its three chunks only');
SELECT is((SELECT blob_id FROM coditect.upload_sessions WHERE id = :'up2'), :'blob1'::uuid, 'the second upload points at the first blob');
SELECT is((SELECT count(*)::int FROM coditect.storage_blobs b WHERE b.tenant_id = :'tb'), 1, 'tenant B holds its own copy');

------------------------------------------------------------------------------------------------
-- Who uploads and downloads
------------------------------------------------------------------------------------------------

SET ROLE tap41_gateway;
SELECT alike(t41.run(:'ta', :'guest_a', 'guest', $$SELECT coditect.storage_begin_upload(10)$$), 'CD403:%',
            'a guest cannot upload (upload.create is for members and above)');
SELECT alike(t41.run(:'ta', :'guest_a', 'guest', format($$SELECT coditect.blob_download(%L)$$, :'blob1')), 'CD403:%',
            'a guest cannot download a blob');
SELECT alike(t41.run(:'ta', :'member2_a', 'member', format($$SELECT coditect.storage_append(%L, 0, '\x00')$$, :'up1_id')), 'CD404:%',
            'another member''s upload is not found');
SELECT alike(t41.run(:'ta', :'member2_a', 'member', format($$SELECT coditect.upload_progress(%L)$$, :'up1_id')), 'CD404:%',
            '... nor is its status');
SELECT is(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.blob_download(%L) ->> 'filename'$$, :'blob1')), 'plan.pdf',
          'the uploader downloads the blob, under the name it gave');
SELECT is(t41.run(:'ta', :'member2_a', 'member', format($$SELECT coditect.blob_download(%L) ->> 'filename'$$, :'blob1')), 'copy.pdf',
          'the second uploader of the same bytes too, under its own name');
SELECT is(t41.run(:'ta', :'owner_a', 'owner', format($$SELECT coditect.blob_download(%L) ->> 'size'$$, :'blob1')), '2500000',
          'an owner downloads any blob of the tenant');
SELECT t41.run(:'ta', :'member_a', 'member', $$SELECT coditect.storage_begin_upload(3) ->> 'id'$$) AS up3 \gset
SELECT t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.storage_append(%L, 0, '\x010203') -> 'blob' ->> 'id'$$, :'up3'))
    AS blob3 \gset
SELECT alike(t41.run(:'ta', :'member2_a', 'member', format($$SELECT coditect.blob_download(%L)$$, :'blob3')), 'CD404:%',
            'a member does not download another member''s upload');
SELECT alike(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.blob_download(%L)$$, (SELECT coditect.uuid_generate_v7()))),
            'CD404:%', 'an unknown blob is CD404');
RESET ROLE;
SELECT throws_ok($$SELECT coditect.storage_begin_upload(10)$$, 'CD403', 'no request context',
                 'without a request context nothing is uploaded');

-- Direct writes are refused to the gateway: bytes cannot change after their hash was checked.
SET ROLE tap41_gateway;
SELECT alike(t41.run(:'ta', :'owner_a', 'owner', format($$UPDATE coditect.storage_chunks SET data = '\x00' WHERE blob_id = %L RETURNING 1$$, :'blob1')),
            '42501:%', 'the gateway cannot rewrite chunks');
SELECT alike(t41.run(:'ta', :'owner_a', 'owner', format($$UPDATE coditect.upload_sessions SET upload_offset = 0 WHERE id = %L RETURNING 1$$, :'up1_id')),
            '42501:%', '... nor move an upload''s offset');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Tier limits: when declared, and on the bytes received
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE tiers AS
SELECT t::coditect.tenant_tier AS tier, coditect.storage_max_file_size(t::coditect.tenant_tier) AS lim
  FROM unnest(ARRAY['trial', 'starter', 'professional', 'enterprise']) t;
GRANT SELECT ON tiers TO PUBLIC;
-- On declare, at each tier: the limit itself is accepted, one byte more is CD413.
UPDATE coditect.tenants SET license_tier = 'trial' WHERE id = :'ta';
SET ROLE tap41_gateway;
SELECT is(t41.run(:'ta', :'member_a', 'member', format('SELECT coditect.storage_begin_upload(%s) ->> ''upload_length''', lim)),
          lim::text, format('%s: an upload of exactly %s bytes is accepted', tier, lim))
  FROM tiers WHERE tier IN ('trial');
SELECT alike(t41.run(:'ta', :'member_a', 'member', format('SELECT coditect.storage_begin_upload(%s)', lim + 1)),
            'CD413:%', format('%s: %s bytes is too large (CD413)', tier, lim + 1))
  FROM tiers WHERE tier IN ('trial');
RESET ROLE;
UPDATE coditect.tenants SET license_tier = 'starter' WHERE id = :'ta';
SET ROLE tap41_gateway;
SELECT is(t41.run(:'ta', :'member_a', 'member', format('SELECT coditect.storage_begin_upload(%s) ->> ''upload_length''', lim)),
          lim::text, format('%s: an upload of exactly %s bytes is accepted', tier, lim)) FROM tiers WHERE tier = 'starter';
SELECT alike(t41.run(:'ta', :'member_a', 'member', format('SELECT coditect.storage_begin_upload(%s)', lim + 1)),
            'CD413:%', format('%s: %s bytes is too large (CD413)', tier, lim + 1)) FROM tiers WHERE tier = 'starter';
RESET ROLE;
UPDATE coditect.tenants SET license_tier = 'professional' WHERE id = :'ta';
SET ROLE tap41_gateway;
SELECT is(t41.run(:'ta', :'member_a', 'member', format('SELECT coditect.storage_begin_upload(%s) ->> ''upload_length''', lim)),
          lim::text, format('%s: an upload of exactly %s bytes is accepted', tier, lim)) FROM tiers WHERE tier = 'professional';
SELECT alike(t41.run(:'ta', :'member_a', 'member', format('SELECT coditect.storage_begin_upload(%s)', lim + 1)),
            'CD413:%', format('%s: %s bytes is too large (CD413)', tier, lim + 1)) FROM tiers WHERE tier = 'professional';
RESET ROLE;
UPDATE coditect.tenants SET license_tier = 'enterprise' WHERE id = :'ta';
SET ROLE tap41_gateway;
SELECT is(t41.run(:'ta', :'member_a', 'member', format('SELECT coditect.storage_begin_upload(%s) ->> ''upload_length''', lim)),
          lim::text, format('%s: an upload of exactly %s bytes is accepted', tier, lim)) FROM tiers WHERE tier = 'enterprise';
SELECT alike(t41.run(:'ta', :'member_a', 'member', format('SELECT coditect.storage_begin_upload(%s)', lim + 1)),
            'CD413:%', format('%s: %s bytes is too large (CD413)', tier, lim + 1)) FROM tiers WHERE tier = 'enterprise';
-- On the bytes received: an upload declared under enterprise, one per tier it is then moved
-- to; positioned (by the DBA, as if that many bytes had arrived) 100 bytes below the tier's
-- limit: 100 more bytes fit, 101 do not.
SELECT t41.run(:'ta', :'member_a', 'member', 'SELECT coditect.storage_begin_upload(1073741824) ->> ''id''') AS big \gset
RESET ROLE;
SELECT set_config('t41.big', :'big', false) IS NOT NULL AS _ \gset
SELECT set_config('t41.ta', :'ta', false), set_config('t41.member', :'member_a', false) \gset
CREATE FUNCTION t41.received_at(p_tier coditect.tenant_tier) RETURNS text[] LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    lim    bigint := coditect.storage_max_file_size(p_tier);
    u      uuid := current_setting('t41.big')::uuid;
    fits   text;
    over   text;
BEGIN
    UPDATE coditect.tenants SET license_tier = p_tier WHERE id = current_setting('t41.ta')::uuid;
    -- As if lim - 100 bytes had been received: offset only (no append reaches the chunks
    -- before the limit check refuses or the test rolls it back).
    UPDATE coditect.upload_sessions SET upload_offset = lim - 100 WHERE id = u;
    over := t41.run(current_setting('t41.ta')::uuid, current_setting('t41.member')::uuid, 'member',
                    format('SELECT coditect.storage_append(%L, %s, t41.bytes(''ee'', 101))', u, lim - 100));
    fits := t41.run(current_setting('t41.ta')::uuid, current_setting('t41.member')::uuid, 'member',
                    format('SELECT coditect.storage_append(%L, %s, t41.bytes(''ee'', 100)) ->> ''upload_offset''', u, lim - 100));
    UPDATE coditect.upload_sessions SET upload_offset = 0, hash_state = coditect_internal.sha256_resume(NULL, NULL) WHERE id = u;
    DELETE FROM coditect.storage_chunks WHERE blob_id = (SELECT blob_id FROM coditect.upload_sessions WHERE id = u);
    RETURN ARRAY[fits, over];
END $$;
SELECT is((t41.received_at(tier))[2] LIKE 'CD413:%', true, format('%s: 101 bytes arriving 100 below the %s-byte limit are refused (CD413)', tier, lim))
  FROM tiers ORDER BY lim, tier;
-- (At enterprise the limit is the declared length: the 100 bytes pass the limit and reach
-- completion, which finds the skipped bytes missing.)
SELECT ok((t41.received_at(tier))[1] IN (lim::text, 'XX001: upload ' || :'big' || ': 0 bytes stored, 1073741824 declared'),
          format('%s: 100 bytes arriving 100 below the limit pass it', tier))
  FROM tiers ORDER BY lim, tier;
UPDATE coditect.tenants SET license_tier = 'professional' WHERE id = :'ta';
SET ROLE tap41_gateway;
SELECT t41.run(:'ta', :'member_a', 'member', 'SELECT coditect.storage_begin_upload(5) ->> ''id''') AS five \gset
SELECT alike(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.storage_append(%L, 0, '\x010203040506')$$, :'five')),
            'CD413:%', 'more bytes than the declared length are refused (CD413)');

------------------------------------------------------------------------------------------------
-- Completion verifies the size and the whole file's SHA-256
------------------------------------------------------------------------------------------------

SELECT t41.run(:'ta', :'member_a', 'member',
               format($$SELECT coditect.storage_begin_upload(4, jsonb_build_object('sha256', %L)) ->> 'id'$$,
                      encode(sha256('\x01020304'::bytea), 'hex'))) AS decl \gset
SELECT is(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.storage_append(%L, 0, '\x0102') ->> 'upload_offset'$$, :'decl')),
          '2', 'an upload with a declared SHA-256: the first half');
SELECT alike(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.storage_append(%L, 2, '\x0399')$$, :'decl')),
            'CD460: the file''s SHA-256 is%', 'a last piece that makes the whole file differ from the declared SHA-256 is refused (CD460)');
SELECT is(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.upload_progress(%L) ->> 'upload_offset'$$, :'decl')), '2',
          '... and the upload resumes from before it');
SELECT is(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.storage_append(%L, 2, '\x0304') ->> 'status'$$, :'decl')),
          'completed', '... the right bytes complete it');
SELECT t41.run(:'ta', :'member_a', 'member', $$SELECT coditect.storage_begin_upload(2000000) ->> 'id'$$) AS damaged \gset
SELECT t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.storage_append(%L, 0, t41.bytes('77', 1500000))$$, :'damaged')) AS _ \gset
RESET ROLE;
DELETE FROM coditect.storage_chunks WHERE blob_id = (SELECT blob_id FROM coditect.upload_sessions WHERE id = :'damaged') AND seq = 0;
SET ROLE tap41_gateway;
SELECT alike(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.storage_append(%L, 1500000, t41.bytes('77', 500000))$$, :'damaged')),
            'XX001:%', 'completion counts the stored bytes: a lost chunk is found (XX001), nothing completes');
SELECT alike(t41.run(:'ta', :'member_a', 'member', $$SELECT coditect.storage_begin_upload(0) ->> 'status'$$), 'completed',
            'an empty file is complete when declared');
SELECT alike(t41.run(:'ta', :'member_a', 'member', $$SELECT coditect.storage_begin_upload(0) -> 'blob' ->> 'sha256'$$),
            'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', '... with the SHA-256 of no bytes');

------------------------------------------------------------------------------------------------
-- Metadata and the tus adapters
------------------------------------------------------------------------------------------------

SELECT alike(t41.run(:'ta', :'member_a', 'member', $$SELECT coditect.storage_begin_upload(1, '{"filename": "a/b"}')$$), 'CD400:%',
            'a filename with a slash is refused');
SELECT alike(t41.run(:'ta', :'member_a', 'member', $$SELECT coditect.storage_begin_upload(1, '{"content_type": "pdf"}')$$), 'CD400:%',
            'a content type that is not type/subtype is refused');
SELECT alike(t41.run(:'ta', :'member_a', 'member', $$SELECT coditect.storage_begin_upload(1, '{"size": 5}')$$), 'CD400:%',
            'metadata values are strings');
SELECT alike(t41.run(:'ta', :'member_a', 'member', $$SELECT coditect.storage_begin_upload(1, '{"target_kind": "spreadsheet", "target_id": "0190aaaa-0000-7000-8000-000000000001"}')$$),
            'CD400: unknown upload target "spreadsheet"%', 'an unknown upload target is refused (the document layer''s hook)');
SELECT alike(t41.run(:'ta', :'member_a', 'member', $$SELECT coditect.storage_begin_upload(-1)$$), 'CD400:%', 'a negative length is refused');
RESET ROLE;
SELECT is(coditect_internal.tus_metadata('filename ' || encode(convert_to('Été.pdf', 'UTF8'), 'base64') || ',is_confidential'),
          '{"filename": "Été.pdf", "is_confidential": ""}'::jsonb, 'tus Upload-Metadata: base64 UTF-8 values, a key without value');
SELECT throws_ok($$SELECT coditect_internal.tus_metadata('filename !!!notbase64')$$, 'CD400', NULL, 'malformed Upload-Metadata is CD400');
SELECT throws_ok($$SELECT coditect_internal.tus_metadata('a YQ==,a YQ==')$$, 'CD400', NULL, 'a repeated metadata key is CD400');
SELECT throws_ok($$SELECT coditect_internal.tus_number('12a', 'Upload-Length')$$, 'CD400',
                 'Upload-Length must be a non-negative whole number', 'a malformed Upload-Length is CD400');
SET ROLE tap41_gateway;
SELECT t41.run(:'ta', :'member_a', 'member',
               format($$SELECT coditect.upload_create('3', %L) ->> 'id'$$, 'filename ' || encode('t.txt', 'base64'))) AS tus \gset
SELECT alike(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.upload_append(%L, '0', 'md5 AAAA', '\x616263')$$, :'tus')),
            'CD400: Upload-Checksum%', 'tus: a checksum algorithm other than sha256 is CD400');
SELECT alike(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.upload_append(%L, '0', 'sha256 %s', '\x616263')$$,
                                                         :'tus', encode(sha256('abd'::bytea), 'base64'))),
            'CD460:%', 'tus: a sha256 Upload-Checksum that does not match is CD460');
SELECT is(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.upload_append(%L, '0', 'sha256 %s', '\x616263') ->> 'status'$$,
                                                       :'tus', encode(sha256('abc'::bytea), 'base64'))),
          'completed', 'tus: a matching checksum is accepted');
SELECT is(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.upload_progress(%L) ->> 'upload_offset'$$, :'tus')), '3',
          'tus: the status of a completed upload');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- The audit trail
------------------------------------------------------------------------------------------------

SELECT is((SELECT count(*)::int FROM coditect.audit_logs WHERE tenant_id = :'ta' AND changes ? 'data'), 0,
          'chunk bytes never enter the audit trail');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs WHERE tenant_id = :'ta' AND changes::text LIKE '%hash_state%'
              AND changes -> 'hash_state' ->> 0 <> '[REDACTED]'), 0, 'nor do hash states');
SELECT cmp_ok((SELECT count(*)::int FROM coditect.audit_logs WHERE tenant_id = :'ta' AND action = 'storage_chunk.create'), '>=', 3,
              'chunk writes are audited (blob, sequence)');
SELECT ok(EXISTS (SELECT 1 FROM coditect.audit_logs WHERE tenant_id = :'ta' AND action = 'upload.update'
                    AND changes ? 'status' AND resource_id = :'up1_id'), 'an upload''s completion is audited');

------------------------------------------------------------------------------------------------
-- Release and purge
------------------------------------------------------------------------------------------------

SELECT lives_ok(format($$SELECT coditect_internal.storage_release(%L, %L)$$, :'ta', :'blob1'), 'release one of two references');
SELECT is((SELECT ref_count FROM coditect.storage_blobs WHERE id = :'blob1'), 1, '... one is left, the blob stays');
SELECT lives_ok(format($$SELECT coditect_internal.storage_release(%L, %L)$$, :'ta', :'blob1'), 'release the last reference');
SELECT is((SELECT count(*)::int FROM coditect.storage_blobs WHERE id = :'blob1'), 0, '... the blob is gone');
SELECT is((SELECT count(*)::int FROM coditect.storage_chunks WHERE blob_id = :'blob1'), 0, '... with its chunks');
UPDATE coditect.upload_sessions SET expires_at = now() - interval '1 minute' WHERE id = :'damaged';
SELECT :'damaged' AS damaged_id, (SELECT blob_id FROM coditect.upload_sessions WHERE id = :'damaged') AS damaged_blob \gset
SET ROLE tap41_gateway;
SELECT alike(t41.run(:'ta', :'member_a', 'member', format($$SELECT coditect.upload_progress(%L)$$, :'damaged')), 'CD410:%',
            'an expired upload is gone (CD410)');
RESET ROLE;
SELECT cmp_ok(coditect.purge_upload_sessions('7 days'), '>=', 1, 'purge_upload_sessions removes expired uploads');
SELECT is((SELECT count(*)::int FROM coditect.upload_sessions WHERE id = :'damaged_id')
          + (SELECT count(*)::int FROM coditect.storage_blobs WHERE id = :'damaged_blob'), 0,
          '... with their unfinished bytes');
SELECT throws_ok($$SELECT coditect.purge_upload_sessions(NULL)$$, 'CD400', NULL, 'a NULL age is CD400');
SELECT ok(NOT has_function_privilege('coditect_gateway', 'coditect.purge_upload_sessions(interval)', 'EXECUTE'),
          'only the DBA purges');

SELECT * FROM finish();
ROLLBACK;
