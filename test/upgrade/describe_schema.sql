-- Describes everything the coditect extension put into the current database, one line per fact,
-- in a fixed order, so that two databases can be compared with diff (scripts/upgrade_test.sh:
-- a database updated with ALTER EXTENSION against a fresh CREATE EXTENSION of the same version).
-- Names, definitions, grants, owners and comments are described; oids, creation order and the
-- physical positions of dropped columns are not. Run with psql -X -qAt -v ON_ERROR_STOP=1.
--
-- Covered: every extension member by identity (pg_depend deptype 'e', any kind of object); the
-- extension's version and configuration tables; schemas; relations (kind, RLS flags, options,
-- partitioning, view definitions); columns (logical order, type, NOT NULL, default, identity,
-- generation, collation, grants); constraints of tables and domains; indexes; triggers (with
-- their enabled state); policies; rules; functions (pg_get_functiondef, grants, owner);
-- types (domains, enums, composites, ranges); sequences; comments on all of these; default
-- privileges; objects in the extension's schemas that are not members; pg_partman's
-- configuration of member tables; and the content of the catalog tables (see the end).

\set ON_ERROR_STOP 1
SET search_path = pg_catalog;

-- The oids this description is about.
CREATE TEMP TABLE ext AS SELECT oid, extname FROM pg_extension WHERE extname = 'coditect';
CREATE TEMP TABLE member AS
SELECT d.classid, d.objid, pg_describe_object(d.classid, d.objid, 0) AS ident
  FROM pg_depend d, ext
 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e';
CREATE TEMP TABLE rel AS
SELECT c.oid, c.oid::regclass::text AS name, c.relkind
  FROM pg_class c JOIN member m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid;
CREATE TEMP TABLE nsp AS
SELECT n.oid, n.nspname FROM pg_namespace n
 WHERE n.oid IN (SELECT objid FROM member WHERE classid = 'pg_namespace'::regclass)
    OR n.oid IN (SELECT relnamespace FROM pg_class WHERE oid IN (SELECT oid FROM rel))
    OR n.oid IN (SELECT pronamespace FROM pg_proc WHERE oid IN (SELECT objid FROM member WHERE classid = 'pg_proc'::regclass))
    OR n.oid IN (SELECT typnamespace FROM pg_type WHERE oid IN (SELECT objid FROM member WHERE classid = 'pg_type'::regclass));

CREATE FUNCTION pg_temp.acl(aclitem[]) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT coalesce((SELECT string_agg(regexp_replace(a::text, '^=', 'PUBLIC='), ' ' ORDER BY a::text) FROM unnest($1) a),
                   '(default)') $$;
CREATE FUNCTION pg_temp.cmt(p_class regclass, p_oid oid, p_sub int DEFAULT 0) RETURNS text LANGUAGE sql STABLE AS
$$ SELECT description FROM pg_description WHERE classoid = p_class AND objoid = p_oid AND objsubid = p_sub $$;

CREATE TEMP TABLE out (section text, object text, n int, line text);

-- The extension itself.
INSERT INTO out
SELECT 'extension', e.extname, 0, format('version %s, relocatable %s, schema %s', e.extversion, e.extrelocatable, e.extnamespace::regnamespace)
  FROM pg_extension e JOIN ext USING (oid)
UNION ALL
SELECT 'extension', e.extname, 1, format('configuration table %s where %L', c::regclass,
       coalesce(e.extcondition[i], ''))
  FROM pg_extension e JOIN ext USING (oid), unnest(e.extconfig) WITH ORDINALITY AS u(c, i);

-- Every member by identity: catches an object of any kind that one side lacks.
INSERT INTO out SELECT 'member', ident, 0, '' FROM member;

-- Schemas.
INSERT INTO out
SELECT 'schema', nspname, 0, format('owner %s, grants %s, comment %L', n.nspowner::regrole,
       pg_temp.acl(n.nspacl), pg_temp.cmt('pg_namespace', n.oid))
  FROM pg_namespace n JOIN nsp USING (oid, nspname);

-- Relations.
INSERT INTO out
SELECT 'relation', r.name, 0,
       format('kind %s, persistence %s, owner %s, row security %s, forced %s, options %s, replica identity %s, grants %s, comment %L',
              c.relkind, c.relpersistence, c.relowner::regrole, c.relrowsecurity, c.relforcerowsecurity,
              coalesce(c.reloptions::text, '{}'), c.relreplident, pg_temp.acl(c.relacl), pg_temp.cmt('pg_class', c.oid))
       || CASE WHEN c.relkind = 'p' THEN ', partitioned by ' || pg_get_partkeydef(c.oid) ELSE '' END
       || CASE WHEN c.relispartition THEN format(', partition of %s %s',
                 (SELECT inhparent::regclass FROM pg_inherits WHERE inhrelid = c.oid), pg_get_expr(c.relpartbound, c.oid))
               ELSE '' END
  FROM rel r JOIN pg_class c USING (oid)
UNION ALL
SELECT 'relation', r.name, 1, 'inherits ' || i.inhparent::regclass::text
  FROM rel r JOIN pg_class c USING (oid) JOIN pg_inherits i ON i.inhrelid = c.oid
 WHERE NOT c.relispartition
UNION ALL
SELECT 'relation', r.name, 2 + l.n::int, 'view: ' || l.line
  FROM rel r, regexp_split_to_table(pg_get_viewdef(r.oid), E'\n') WITH ORDINALITY AS l(line, n)
 WHERE r.relkind IN ('v', 'm');

-- Columns, in logical order (dropped columns do not count).
INSERT INTO out
SELECT 'column', r.name, row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum)::int,
       format('%s %s%s%s%s%s%s, grants %s, comment %L',
              quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
              CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
              CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END,
              CASE WHEN a.attgenerated <> '' THEN ' GENERATED ' || a.attgenerated::text ELSE '' END,
              CASE WHEN d.adbin IS NOT NULL THEN ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid) ELSE '' END,
              CASE WHEN a.attcollation <> t.typcollation THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END,
              pg_temp.acl(a.attacl), pg_temp.cmt('pg_class', r.oid, a.attnum))
  FROM rel r
  JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum;

-- Constraints of member tables and of member domains.
INSERT INTO out
SELECT 'constraint', coalesce(r.name, co.contypid::regtype::text) || ' ' || quote_ident(co.conname), 0,
       pg_get_constraintdef(co.oid) || format(', comment %L', pg_temp.cmt('pg_constraint', co.oid))
  FROM pg_constraint co
  LEFT JOIN rel r ON r.oid = co.conrelid
 WHERE r.oid IS NOT NULL
    OR co.contypid IN (SELECT objid FROM member WHERE classid = 'pg_type'::regclass);

-- Indexes of member tables (the indexes themselves are not members).
INSERT INTO out
SELECT 'index', r.name || ' ' || quote_ident(ic.relname), 0,
       pg_get_indexdef(i.indexrelid)
       || CASE WHEN i.indisclustered THEN ' CLUSTERED' ELSE '' END
       || CASE WHEN i.indisreplident THEN ' REPLICA IDENTITY' ELSE '' END
       || CASE WHEN NOT i.indisvalid THEN ' INVALID' ELSE '' END
       || format(', comment %L', pg_temp.cmt('pg_class', i.indexrelid))
  FROM rel r JOIN pg_index i ON i.indrelid = r.oid JOIN pg_class ic ON ic.oid = i.indexrelid;

-- Triggers (not the internal ones of foreign keys; their constraints are above).
INSERT INTO out
SELECT 'trigger', r.name || ' ' || quote_ident(t.tgname), 0,
       pg_get_triggerdef(t.oid) || format(' [enabled %s], comment %L', t.tgenabled, pg_temp.cmt('pg_trigger', t.oid))
  FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid
 WHERE NOT t.tgisinternal;

-- Policies.
INSERT INTO out
SELECT 'policy', r.name || ' ' || quote_ident(p.polname), 0,
       format('%s FOR %s TO %s USING (%s) WITH CHECK (%s), comment %L',
              CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END, p.polcmd,
              (SELECT string_agg(CASE WHEN x = 0 THEN 'public' ELSE x::regrole::text END, ',' ORDER BY 1)
                 FROM unnest(p.polroles) x),
              pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
              pg_temp.cmt('pg_policy', p.oid))
  FROM rel r JOIN pg_policy p ON p.polrelid = r.oid;

-- Rules (not the _RETURN rule of views; their definitions are above).
INSERT INTO out
SELECT 'rule', r.name || ' ' || quote_ident(w.rulename), 0, pg_get_ruledef(w.oid) || format(' [enabled %s]', w.ev_enabled::text)
  FROM rel r JOIN pg_rewrite w ON w.ev_class = r.oid
 WHERE w.rulename <> '_RETURN';

-- Functions and procedures: the whole definition (language, volatility, security, SET
-- search_path, body), then owner, grants and comment. Aggregates by their signature.
INSERT INTO out
SELECT 'function', p.oid::regprocedure::text, 0,
       format('owner %s, grants %s, config %s, comment %L', p.proowner::regrole, pg_temp.acl(p.proacl),
              coalesce(p.proconfig::text, '{}'), pg_temp.cmt('pg_proc', p.oid))
  FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
UNION ALL
SELECT 'function', p.oid::regprocedure::text, l.n::int, l.line
  FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
  LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid,
       regexp_split_to_table(
           CASE WHEN p.prokind = 'a'
                THEN format('AGGREGATE %s (sfunc %s, stype %s, finalfunc %s, initcond %s)', p.oid::regprocedure,
                            a.aggtransfn, format_type(a.aggtranstype, NULL), a.aggfinalfn, a.agginitval)
                ELSE pg_get_functiondef(p.oid) END, E'\n') WITH ORDINALITY AS l(line, n);

-- Types: domains, enums (labels in order), composites, ranges.
INSERT INTO out
SELECT 'type', t.oid::regtype::text, 0,
       format('type %s, owner %s, grants %s, comment %L', t.typtype, t.typowner::regrole, pg_temp.acl(t.typacl),
              pg_temp.cmt('pg_type', t.oid))
       || CASE t.typtype
            WHEN 'd' THEN format(', domain over %s%s%s%s', format_type(t.typbasetype, t.typtypmod),
                                 CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END,
                                 CASE WHEN t.typdefaultbin IS NOT NULL THEN ' DEFAULT ' || pg_get_expr(t.typdefaultbin, 0) ELSE '' END,
                                 CASE WHEN t.typcollation <> bt.typcollation THEN ' COLLATE ' || t.typcollation::regcollation::text ELSE '' END)
            WHEN 'e' THEN ', enum (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                          FROM pg_enum e WHERE e.enumtypid = t.oid) || ')'
            WHEN 'r' THEN ', range of ' || (SELECT format_type(rngsubtype, NULL) FROM pg_range WHERE rngtypid = t.oid)
            ELSE '' END
  FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
  LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
UNION ALL
SELECT 'type', t.oid::regtype::text, a.attnum::int,
       format('attribute %s %s', quote_ident(a.attname), format_type(a.atttypid, a.atttypmod))
  FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
  JOIN pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE t.typtype = 'c';

-- Sequences.
INSERT INTO out
SELECT 'sequence', r.name, 0,
       format('%s start %s increment %s min %s max %s cache %s cycle %s, owned by %s', format_type(s.seqtypid, NULL),
              s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
              (SELECT d.refobjid::regclass || '.' || a.attname FROM pg_depend d
                 JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid AND d.deptype IN ('a', 'i')
                  AND d.refclassid = 'pg_class'::regclass LIMIT 1))
  FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid;

-- Default privileges set in the extension's schemas or database-wide.
INSERT INTO out
SELECT 'default privileges', format('%s in %s for %s', d.defaclrole::regrole,
       coalesce(d.defaclnamespace::regnamespace::text, '(all schemas)'), d.defaclobjtype), 0, pg_temp.acl(d.defaclacl)
  FROM pg_default_acl d
 WHERE d.defaclnamespace = 0 OR d.defaclnamespace IN (SELECT oid FROM nsp);

-- Objects in the extension's schemas that are not members (made by a function at run time,
-- or left behind by an update); members of other extensions (pg_partman's, in the schema of
-- the partition template) are not ours to describe.
CREATE TEMP TABLE other_member AS
SELECT classid, objid FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e' AND refobjid NOT IN (SELECT oid FROM ext);
INSERT INTO out
SELECT 'not a member', pg_describe_object('pg_class'::regclass, c.oid, 0), 0, ''
  FROM pg_class c
 WHERE c.relnamespace IN (SELECT oid FROM nsp) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c')
   AND c.oid NOT IN (SELECT oid FROM rel)
   AND c.oid NOT IN (SELECT objid FROM other_member WHERE classid = 'pg_class'::regclass)
   AND c.reltype NOT IN (SELECT objid FROM member WHERE classid = 'pg_type'::regclass
                         UNION ALL SELECT objid FROM other_member WHERE classid = 'pg_type'::regclass)
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                     AND d.deptype IN ('a', 'i') AND d.refobjid IN (SELECT oid FROM rel))
UNION ALL
SELECT 'not a member', pg_describe_object('pg_proc'::regclass, p.oid, 0), 0, ''
  FROM pg_proc p
 WHERE p.pronamespace IN (SELECT oid FROM nsp)
   AND p.oid NOT IN (SELECT objid FROM member WHERE classid = 'pg_proc'::regclass)
   AND p.oid NOT IN (SELECT objid FROM other_member WHERE classid = 'pg_proc'::regclass)
UNION ALL
SELECT 'not a member', pg_describe_object('pg_type'::regclass, t.oid, 0), 0, ''
  FROM pg_type t
 WHERE t.typnamespace IN (SELECT oid FROM nsp) AND t.typtype IN ('d', 'e', 'r', 'm', 'b')
   AND t.oid NOT IN (SELECT objid FROM member WHERE classid = 'pg_type'::regclass)
   AND t.oid NOT IN (SELECT objid FROM other_member WHERE classid = 'pg_type'::regclass)
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                     AND d.deptype IN ('a', 'i'));

-- pg_partman's configuration of member tables (wherever pg_partman is installed).
DO $$
DECLARE
    s name := (SELECT extnamespace::regnamespace::name FROM pg_extension WHERE extname = 'pg_partman');
    t text;
    k text;
BEGIN
    IF s IS NULL THEN
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['part_config', 'part_config_sub'] LOOP
        k := CASE t WHEN 'part_config' THEN 'parent_table' ELSE 'sub_parent' END;
        EXECUTE format($q$
            INSERT INTO pg_temp.out
            SELECT 'pg_partman', %L || ' ' || c.%I, 0, to_jsonb(c)::text
              FROM %I.%I c
             WHERE to_regclass(c.%I) IN (SELECT oid FROM pg_temp.rel)$q$,
            t, k, s, t, k);
    END LOOP;
END
$$;

-- Content of the catalog tables: every member table except the ones that hold tenants' data
-- (pg_temp.data_tables() of data_tables.psql) and partitions (their parent is described).
-- Rows are described without columns that a fresh install fills differently (a uuid or a
-- timestamp with a default: generated ids, created_at); a single-column uuid foreign key is
-- described by the referenced row instead of its id (role_permissions -> permissions.codename).
CREATE FUNCTION pg_temp.row_expr(p_table regclass, p_alias text, p_depth int DEFAULT 0) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    parts text[] := '{}';
    a record;
    fk record;
BEGIN
    FOR a IN SELECT at.attname, at.attnum, at.atttypid, (d.adbin IS NOT NULL) AS has_default
               FROM pg_attribute at LEFT JOIN pg_attrdef d ON d.adrelid = at.attrelid AND d.adnum = at.attnum
              WHERE at.attrelid = p_table AND at.attnum > 0 AND NOT at.attisdropped
              ORDER BY at.attnum LOOP
        SELECT co.confrelid, (SELECT attname FROM pg_attribute WHERE attrelid = co.confrelid AND attnum = co.confkey[1]) AS refcol
          INTO fk
          FROM pg_constraint co
         WHERE co.conrelid = p_table AND co.contype = 'f' AND co.conkey = ARRAY[a.attnum]
         LIMIT 1;
        IF fk.confrelid IS NOT NULL AND a.atttypid = 'uuid'::regtype AND p_depth < 3 THEN
            parts := parts || format('%L, (SELECT %s FROM %s r%s WHERE r%s.%I = %s.%I)', a.attname,
                                     pg_temp.row_expr(fk.confrelid, 'r' || (p_depth + 1), p_depth + 1),
                                     fk.confrelid::regclass, p_depth + 1, p_depth + 1, fk.refcol, p_alias, a.attname);
        ELSIF a.has_default AND a.atttypid IN ('uuid'::regtype, 'timestamptz'::regtype, 'timestamp'::regtype) THEN
            CONTINUE;
        ELSE
            parts := parts || format('%L, %s.%I', a.attname, p_alias, a.attname);
        END IF;
    END LOOP;
    RETURN format('jsonb_build_object(%s)', array_to_string(parts, ', '));
END
$$;

\ir data_tables.psql
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT r.oid, r.name FROM pg_temp.rel r JOIN pg_class c USING (oid)
              WHERE r.relkind IN ('r', 'p') AND NOT c.relispartition AND r.oid <> ALL (pg_temp.data_tables())
              ORDER BY r.name LOOP
        EXECUTE format('INSERT INTO pg_temp.out SELECT %L, %L, 0, %s::text FROM %s r0',
                       'content', t.name, pg_temp.row_expr(t.oid, 'r0'), t.oid::regclass);
    END LOOP;
END
$$;

SELECT section || ' ' || object || CASE WHEN line = '' THEN '' ELSE ': ' || line END
  FROM out
 ORDER BY section, object, n, line;
