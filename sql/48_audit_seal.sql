-- 48_audit_seal: a tamper-evident audit trail (issue 11, item 10). The immutability triggers stop
-- changes through SQL; a superuser or someone with the files can still change the rows. Seals
-- make such a change visible: every hour of the trail (all tenants together, UTC hours) is hashed
-- once it is over, and each hour's seal hashes the previous seal, so a changed, removed or added
-- row, or a changed or removed seal, breaks a digest or a link that coditect.audit_verify()
-- recomputes. After 40_storage: the rows are hashed with its resumable SHA-256 (bounded memory).
--
-- Canonical form of a row (audit_row_canonical): the JSON array, as jsonb text, of its columns
-- in table order, created_at as integer microseconds since the epoch (independent of TimeZone
-- and DateStyle) and ip_address as inet's text (with its mask, e.g. 192.0.2.7/32). A period's
-- rows digest is the SHA-256 of the concatenated SHA-256s of its rows' canonical texts, in
-- (created_at, id) order. A seal's hash is
-- sha256(previous hash || rows digest || int8send(start µs) || int8send(end µs) || int8send(count)),
-- the first seal's previous hash 32 zero bytes.

CREATE TABLE coditect_internal.audit_seals (
    seq          bigint PRIMARY KEY CHECK (seq >= 1),
    period_start timestamptz NOT NULL UNIQUE,
    period_end   timestamptz NOT NULL,
    row_count    bigint NOT NULL CHECK (row_count >= 0),
    rows_digest  bytea NOT NULL CHECK (octet_length(rows_digest) = 32),
    prev_hash    bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash         bytea NOT NULL CHECK (octet_length(hash) = 32),
    sealed_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (period_end > period_start)
);
COMMENT ON TABLE coditect_internal.audit_seals IS
    'Hash chain over coditect.audit_logs, one seal per UTC hour; written by coditect.audit_seal() only.';
REVOKE ALL ON coditect_internal.audit_seals FROM PUBLIC;

-- Seals are append-only for every role, owner and superusers included, in replica mode too.
CREATE TRIGGER audit_seals_immutable_row BEFORE UPDATE OR DELETE ON coditect_internal.audit_seals
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.reject_audit_change('coditect_internal.audit_seals');
CREATE TRIGGER audit_seals_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON coditect_internal.audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION coditect_internal.reject_audit_change('coditect_internal.audit_seals');
ALTER TABLE coditect_internal.audit_seals ENABLE ALWAYS TRIGGER audit_seals_immutable_row;
ALTER TABLE coditect_internal.audit_seals ENABLE ALWAYS TRIGGER audit_seals_immutable;

-- The canonical text of an audit row (see the head of this file).
CREATE FUNCTION coditect_internal.audit_row_canonical(r coditect.audit_logs) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.jsonb_build_array(r.id, r.tenant_id, r.user_id, r.action, r.resource_type, r.resource_id,
                                        r.ip_address::text, r.user_agent, r.request_method, r.request_path,
                                        r.request_id, r.changes, r.metadata, r.severity,
                                        (pg_catalog.extract('epoch', r.created_at) * 1000000)::bigint)::text
$$;

-- A seal's hash from its fields.
CREATE FUNCTION coditect_internal.audit_seal_hash(p_prev bytea, p_digest bytea, p_start timestamptz,
                                                  p_end timestamptz, p_count bigint) RETURNS bytea
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.sha256(p_prev || p_digest
        || pg_catalog.int8send((pg_catalog.extract('epoch', p_start) * 1000000)::bigint)
        || pg_catalog.int8send((pg_catalog.extract('epoch', p_end) * 1000000)::bigint)
        || pg_catalog.int8send(p_count))
$$;

-- Digest and count of the rows of every UTC hour in [p_from, p_to) (hour-aligned bounds), one
-- ordered pass over the rows; hours without rows are answered too. Memory: one hash state.
CREATE FUNCTION coditect_internal.audit_period_digests(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (period_start timestamptz, period_end timestamptz, row_count bigint, rows_digest bytea)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    st bytea;
BEGIN
    period_start := p_from;
    period_end := p_from + interval '1 hour';
    row_count := 0;
    st := NULL;
    -- The row is passed as a coditect.audit_logs built from its columns, not as `a`: on Citus the
    -- query runs on the shards, whose row type is the shard's (audit_logs_102008), not the table's.
    FOR r IN SELECT a.created_at,
                    pg_catalog.sha256(pg_catalog.convert_to(coditect_internal.audit_row_canonical(
                        ROW(a.id, a.tenant_id, a.user_id, a.action, a.resource_type, a.resource_id, a.ip_address,
                            a.user_agent, a.request_method, a.request_path, a.request_id, a.changes, a.metadata,
                            a.severity, a.created_at)::coditect.audit_logs), 'UTF8')) AS h
               FROM coditect.audit_logs a
              WHERE a.created_at >= p_from AND a.created_at < p_to
              ORDER BY a.created_at, a.id LOOP
        WHILE r.created_at >= period_end LOOP
            rows_digest := coditect_internal.sha256_digest(coditect_internal.sha256_resume(st, NULL));
            RETURN NEXT;
            period_start := period_end;
            period_end := period_end + interval '1 hour';
            row_count := 0;
            st := NULL;
        END LOOP;
        st := coditect_internal.sha256_resume(st, r.h);
        row_count := row_count + 1;
    END LOOP;
    WHILE period_end <= p_to LOOP
        rows_digest := coditect_internal.sha256_digest(coditect_internal.sha256_resume(st, NULL));
        RETURN NEXT;
        period_start := period_end;
        period_end := period_end + interval '1 hour';
        row_count := 0;
        st := NULL;
    END LOOP;
END
$$;

-- Scheduler / DBA: seals every complete hour not sealed yet, from the last seal on (the first
-- run starts at the hour of the oldest audit row). An hour is complete when it ended at least
-- 5 minutes ago AND no transaction of this database that began before its end is still open
-- (created_at is the transaction's start, so an open transaction may still commit rows into it)
-- AND no prepared transaction exists (their start is unknown). A row that appears later in a
-- sealed hour was therefore written past the guards: verify reports it as added. Returns how many
-- hours it sealed.
CREATE FUNCTION coditect.audit_seal() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_last coditect_internal.audit_seals;
    v_horizon timestamptz;
    v_start timestamptz;
    v_prev bytea;
    v_seq bigint;
    v_hash bytea;
    p record;
    n integer := 0;
BEGIN
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'coditect.audit_seal() must run in a READ COMMITTED transaction'
            USING ERRCODE = 'CD409', HINT = 'An older snapshot could miss rows committed into the hours it seals.';
    END IF;
    -- One sealer at a time; readers (verify) go on.
    LOCK TABLE coditect_internal.audit_seals IN EXCLUSIVE MODE;
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    SELECT least(pg_catalog.now() - interval '5 minutes',
                 (SELECT min(s.xact_start) FROM pg_catalog.pg_stat_activity s
                   WHERE s.datid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
                     AND s.pid <> pg_catalog.pg_backend_pid()
                     AND s.backend_type NOT IN ('autovacuum worker', 'autovacuum launcher', 'walsender')),
                 CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts x
                                    WHERE x.database = pg_catalog.current_database())
                      THEN '-infinity'::timestamptz END)
      INTO v_horizon;
    v_horizon := pg_catalog.date_trunc('hour', v_horizon, 'UTC');

    SELECT * INTO v_last FROM coditect_internal.audit_seals ORDER BY seq DESC LIMIT 1;
    IF v_last.seq IS NULL THEN
        SELECT pg_catalog.date_trunc('hour', min(a.created_at), 'UTC') INTO v_start FROM coditect.audit_logs a;
        IF v_start IS NULL THEN
            RETURN 0;
        END IF;
        v_prev := pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
        v_seq := 0;
    ELSE
        v_start := v_last.period_end;
        v_prev := v_last.hash;
        v_seq := v_last.seq;
    END IF;
    IF v_start + interval '1 hour' > v_horizon THEN
        RETURN 0;
    END IF;

    FOR p IN SELECT * FROM coditect_internal.audit_period_digests(v_start, v_horizon) LOOP
        v_seq := v_seq + 1;
        v_hash := coditect_internal.audit_seal_hash(v_prev, p.rows_digest, p.period_start, p.period_end, p.row_count);
        INSERT INTO coditect_internal.audit_seals (seq, period_start, period_end, row_count, rows_digest, prev_hash, hash)
        VALUES (v_seq, p.period_start, p.period_end, p.row_count, p.rows_digest, v_prev, v_hash);
        v_prev := v_hash;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- DBA and services: recomputes the seals of the hours overlapping [p_from, p_to) and says what
-- changed since they were sealed. Per seal: its hash against its own fields (seal_altered), its
-- link to the seal before it (chain_broken: prev_hash, contiguous hours, a missing seal), and,
-- unless the hour is past retention (retired: its partition may be dropped), the rows' count and
-- digest (rows_removed, rows_added, rows_altered). Rows before the first seal within retention
-- are unsealed_rows (nothing legitimate is written there). Rows after the last seal are not yet
-- sealed and not a problem.
CREATE FUNCTION coditect.audit_verify(p_from timestamptz, p_to timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_retired_before timestamptz;
    v_first coditect_internal.audit_seals;
    v_head coditect_internal.audit_seals;
    v_before coditect_internal.audit_seals;
    s coditect_internal.audit_seals;
    p record;
    v_lo timestamptz;
    v_hi timestamptz;
    v_n bigint;
    v_checked integer := 0;
    v_retired integer := 0;
    v_problems jsonb := '[]';
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_from >= p_to THEN
        RAISE EXCEPTION 'audit_verify needs p_from < p_to, got % and %', coalesce(p_from::text, 'NULL'),
            coalesce(p_to::text, 'NULL') USING ERRCODE = 'CD400';
    END IF;
    v_retired_before := pg_catalog.now() - coditect.audit_retention();
    SELECT * INTO v_first FROM coditect_internal.audit_seals ORDER BY seq LIMIT 1;
    SELECT * INTO v_head FROM coditect_internal.audit_seals ORDER BY seq DESC LIMIT 1;

    -- Rows before the chain (within retention and the range).
    v_lo := greatest(p_from, v_retired_before);
    v_hi := least(p_to, coalesce(v_first.period_start, '-infinity'));
    IF v_lo < v_hi THEN
        SELECT count(*) INTO v_n FROM coditect.audit_logs a WHERE a.created_at >= v_lo AND a.created_at < v_hi;
        IF v_n > 0 THEN
            v_problems := v_problems || pg_catalog.jsonb_build_object('problem', 'unsealed_rows', 'seq', NULL,
                'period_start', v_lo, 'period_end', v_hi, 'found_rows', v_n,
                'detail', 'rows before the first seal');
        END IF;
    END IF;

    -- Each seal: its own hash, its link, and (within retention) its rows.
    FOR s IN SELECT * FROM coditect_internal.audit_seals x
              WHERE x.period_start < p_to AND x.period_end > p_from ORDER BY x.seq LOOP
        v_checked := v_checked + 1;
        IF s.hash IS DISTINCT FROM coditect_internal.audit_seal_hash(s.prev_hash, s.rows_digest, s.period_start,
                                                                      s.period_end, s.row_count) THEN
            v_problems := v_problems || pg_catalog.jsonb_build_object('problem', 'seal_altered', 'seq', s.seq,
                'period_start', s.period_start, 'period_end', s.period_end,
                'detail', 'the seal''s hash does not match its fields');
        END IF;
        v_before := NULL;
        SELECT * INTO v_before FROM coditect_internal.audit_seals x WHERE x.seq = s.seq - 1;
        IF s.seq = 1 THEN
            IF s.prev_hash <> pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex') THEN
                v_problems := v_problems || pg_catalog.jsonb_build_object('problem', 'chain_broken', 'seq', s.seq,
                    'period_start', s.period_start, 'period_end', s.period_end,
                    'detail', 'the first seal does not start the chain');
            END IF;
        ELSIF v_before.seq IS NULL THEN
            v_problems := v_problems || pg_catalog.jsonb_build_object('problem', 'chain_broken', 'seq', s.seq,
                'period_start', s.period_start, 'period_end', s.period_end,
                'detail', pg_catalog.format('seal %s is missing', s.seq - 1));
        ELSIF v_before.hash <> s.prev_hash OR v_before.period_end <> s.period_start THEN
            v_problems := v_problems || pg_catalog.jsonb_build_object('problem', 'chain_broken', 'seq', s.seq,
                'period_start', s.period_start, 'period_end', s.period_end,
                'detail', pg_catalog.format('does not follow seal %s', v_before.seq));
        END IF;
        IF s.period_end <= v_retired_before THEN
            v_retired := v_retired + 1;
        END IF;
    END LOOP;

    -- The rows of the sealed hours within retention, in one ordered pass.
    SELECT min(x.period_start), max(x.period_end) INTO v_lo, v_hi FROM coditect_internal.audit_seals x
     WHERE x.period_start < p_to AND x.period_end > p_from AND x.period_end > v_retired_before;
    IF v_lo IS NOT NULL THEN
        FOR p IN SELECT d.period_start, d.period_end, d.row_count, d.rows_digest, x.seq,
                        x.row_count AS sealed_rows, x.rows_digest AS sealed_digest
                   FROM coditect_internal.audit_period_digests(v_lo, v_hi) d
                   JOIN coditect_internal.audit_seals x ON x.period_start = d.period_start
                  WHERE x.period_end = d.period_end AND x.period_end > v_retired_before LOOP
            IF p.row_count <> p.sealed_rows OR p.rows_digest <> p.sealed_digest THEN
                v_problems := v_problems || pg_catalog.jsonb_build_object(
                    'problem', CASE WHEN p.row_count < p.sealed_rows THEN 'rows_removed'
                                    WHEN p.row_count > p.sealed_rows THEN 'rows_added'
                                    ELSE 'rows_altered' END,
                    'seq', p.seq, 'period_start', p.period_start, 'period_end', p.period_end,
                    'sealed_rows', p.sealed_rows, 'found_rows', p.row_count,
                    'detail', 'the hour''s rows differ from what was sealed');
            END IF;
        END LOOP;
    END IF;

    RETURN pg_catalog.jsonb_build_object(
        'intact', pg_catalog.jsonb_array_length(v_problems) = 0,
        'from', p_from, 'to', p_to, 'seals_checked', v_checked, 'retired', v_retired,
        'sealed_until', v_head.period_end,
        'head', CASE WHEN v_head.seq IS NOT NULL THEN pg_catalog.jsonb_build_object(
                    'seq', v_head.seq, 'hash', pg_catalog.encode(v_head.hash, 'hex')) END,
        'problems', v_problems);
END
$$;

REVOKE ALL ON FUNCTION coditect.audit_seal(), coditect.audit_verify(timestamptz, timestamptz),
    coditect_internal.audit_row_canonical(coditect.audit_logs),
    coditect_internal.audit_seal_hash(bytea, bytea, timestamptz, timestamptz, bigint),
    coditect_internal.audit_period_digests(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.audit_verify(timestamptz, timestamptz) TO coditect_service;
