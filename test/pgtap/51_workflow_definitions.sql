-- Workflow definitions through SQL (sql/50_workflow_definitions.sql): valid definitions answer
-- [], invalid ones every problem with its path, edge conditions are parsed by PostgreSQL's
-- jsonpath parser, the JSON Schema's shape, and the functions' properties. The rules one by one
-- are the unit tests' (test/unit/workflow_definition_test.cpp).
BEGIN;
SELECT no_plan();

CREATE FUNCTION pg_temp.problems(d jsonb) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg((p->>'path') || ' ' || (p->>'code') ORDER BY n), '{}')
      FROM jsonb_array_elements(coditect.workflow_definition_problems(d)) WITH ORDINALITY AS x(p, n)
$$;
-- A condition node "c" between start and end whose conditional edge carries `cond`.
CREATE FUNCTION pg_temp.branch(cond text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'nodes', '[{"id": "s", "type": "start"}, {"id": "c", "type": "condition"}, {"id": "e", "type": "end"}]'::jsonb,
        'edges', jsonb_build_array('{"from": "s", "to": "c"}'::jsonb,
                                   jsonb_build_object('from', 'c', 'to', 'e', 'condition', cond),
                                   '{"from": "c", "to": "e"}'::jsonb))
$$;

------------------------------------------------------------------------------------------------
-- The functions
------------------------------------------------------------------------------------------------

SELECT function_returns('coditect', 'workflow_definition_problems', ARRAY['jsonb'], 'jsonb', 'problems(jsonb) returns jsonb');
SELECT function_returns('coditect', 'workflow_definition_schema', ARRAY[]::text[], 'jsonb', 'schema() returns jsonb');
SELECT is(p.provolatile::text || p.proparallel::text || l.lanname, 'isc', p.proname || ': IMMUTABLE, PARALLEL SAFE, in C')
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'coditect'::regnamespace AND p.proname LIKE 'workflow\_definition\_%';
SELECT ok(has_function_privilege('public', 'coditect.workflow_definition_problems(jsonb)', 'EXECUTE'), 'problems: executable by PUBLIC');
SELECT ok(has_function_privilege('public', 'coditect.workflow_definition_schema()', 'EXECUTE'), 'schema: executable by PUBLIC');
SELECT is(coditect.workflow_definition_problems(NULL), NULL, 'NULL in, NULL out (STRICT)');

------------------------------------------------------------------------------------------------
-- Valid definitions
------------------------------------------------------------------------------------------------

SELECT is(coditect.workflow_definition_problems($${
    "nodes": [{"id": "start", "type": "start"},
              {"id": "write", "type": "task", "name": "Write", "settings": {"title": "Write the report", "queue": "editors"}},
              {"id": "review", "type": "approval", "settings": {"min_role": "admin", "expire_after": "3 days"}},
              {"id": "big", "type": "condition"},
              {"id": "tell", "type": "notification", "settings": {"webhook": "https://hooks.example.test/wf"}},
              {"id": "done", "type": "end"}, {"id": "refused", "type": "end"}],
    "edges": [{"from": "start", "to": "write"}, {"from": "write", "to": "review"},
              {"from": "review", "to": "big", "on": "approved"}, {"from": "review", "to": "refused", "on": "rejected"},
              {"from": "review", "to": "write", "on": "expired"},
              {"from": "big", "to": "tell", "condition": "$.amount > 1000 && $.currency == \"EUR\""},
              {"from": "big", "to": "done"}, {"from": "tell", "to": "done"}]}$$), '[]'::jsonb,
   'a definition with a task, an approval with every outcome, a condition and a notification: no problems');
SELECT is(coditect.workflow_definition_problems(pg_temp.branch(c)), '[]'::jsonb, 'condition ' || c || ': parses')
  FROM unnest(ARRAY['$.ok', '$.n >= 3 || !($.skip == true)', 'exists($.items[*] ? (@.price > 10))',
                    '$.name like_regex "^A" flag "i"', '$.name starts with "x"', 'strict $.a[last] == 1']) c;

------------------------------------------------------------------------------------------------
-- Invalid definitions: every problem at once, with its path
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.problems($${
    "nodes": [{"id": "s", "type": "start"}, {"id": "s", "type": "task"}, {"id": "x", "type": "loop"},
              {"id": "a", "type": "approval", "settings": {"approvers": ["bob"]}}, {"id": "t", "type": "start"}],
    "edges": [{"from": "s", "to": "gone"}, {"from": "a", "to": "s", "on": "approved"}, {"from": "t", "to": "a"}]}$$),
   ARRAY['$.nodes[1].id duplicate_id', '$.nodes[2].type unknown_node_type', '$.nodes[3].settings.approvers[0] invalid_setting',
         '$.edges[0].to dangling_edge', '$.edges[1].to edge_into_start', '$.nodes[4].type several_starts', '$.nodes no_end', '$.nodes[2] unreachable'],
   'duplicate id, unknown type, a bad approver, a dangling edge, an edge into the start, two starts, no end, an unreachable node: all reported');
SELECT is(pg_temp.problems('{"nodes": [{"id": "s", "type": "start"}, {"id": "lost", "type": "task"}, {"id": "e", "type": "end"}], "edges": [{"from": "s", "to": "e"}]}'),
          ARRAY['$.nodes[1] unreachable', '$.nodes[1] no_path_to_end'], 'a node off the graph: unreachable, no path to an end');
SELECT is(pg_temp.problems('{"nodes": [{"id": "s", "type": "start"}, {"id": "n", "type": "notification"}, {"id": "e", "type": "end"}], "edges": [{"from": "s", "to": "n"}, {"from": "n", "to": "e"}]}'),
          ARRAY['$.nodes[1].settings missing_setting'], 'a notification without webhook or channel');
SELECT is(pg_temp.problems('[]'), ARRAY['$ wrong_type'], 'not an object');
SELECT is(pg_temp.problems('{}'), ARRAY['$.nodes missing_field', '$.edges missing_field'], 'no nodes, no edges');

------------------------------------------------------------------------------------------------
-- Conditions: PostgreSQL's jsonpath parser decides
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.problems(pg_temp.branch(c)), ARRAY['$.edges[1].condition invalid_condition'], 'condition ' || c || ': does not parse')
  FROM unnest(ARRAY['$.a ==', '$.a == (1', '@ == 1', 'last == 1', '$.a like_regex "x" flag "z"',
                    '$.a like_regex "x" flag "x"', '$.a like_regex "("', '$.a = 1']) c;
SELECT matches(coditect.workflow_definition_problems(pg_temp.branch('$.a ==')) -> 0 ->> 'message',
               'syntax error', 'the message is the parser''s');
SELECT matches(coditect.workflow_definition_problems(pg_temp.branch('$.a like_regex "x" flag "z"')) -> 0 ->> 'message',
               'flag', 'with its detail');
SELECT is(pg_temp.problems(jsonb_set(jsonb_set(pg_temp.branch('$.a =='), '{edges,2,condition}', '"(("'),
                                     '{edges,0,condition}', '"$.b >"')),
          ARRAY['$.edges[0].condition invalid_condition', '$.edges[0].condition condition_not_allowed',
                '$.edges[1].condition invalid_condition', '$.edges[2].condition invalid_condition', '$.nodes[1] missing_default_edge'],
          'every condition is parsed, in one call');
-- The backend carries on after the parser's errors: the same transaction still works.
SELECT is(jsonb_path_match('{"amount": 2000}', '$.amount > 1000'), true, 'the transaction is healthy after parse errors');

------------------------------------------------------------------------------------------------
-- The JSON Schema
------------------------------------------------------------------------------------------------

SELECT is(coditect.workflow_definition_schema() ->> '$schema', 'https://json-schema.org/draft/2020-12/schema', 'schema: draft 2020-12');
SELECT is(coditect.workflow_definition_schema() -> 'required', '["nodes", "edges"]', 'schema: nodes and edges required');
SELECT is(coditect.workflow_definition_schema() #> '{$defs,node,properties,type,enum}',
          '["start", "task", "approval", "notification", "condition", "end"]', 'schema: the node types');
SELECT is(coditect.workflow_definition_schema() #> '{$defs,edge,properties,on,enum}', '["approved", "rejected", "expired"]', 'schema: the outcomes');
SELECT is(ARRAY(SELECT jsonb_array_elements_text(coditect.workflow_definition_schema() #> '{$defs,approval_settings,properties,min_role,enum}')),
          enum_range(NULL::coditect.member_role)::text[], 'schema: min_role is coditect.member_role, in its order');
SELECT is(coditect.workflow_definition_schema() #> '{$defs,approval_settings,oneOf}',
          '[{"required": ["approvers"]}, {"required": ["min_role"]}]', 'schema: an approval has approvers or a minimum role');
SELECT is(jsonb_array_length(coditect.workflow_definition_schema() #> '{$defs,node,allOf}'), 6, 'schema: settings tied to each node type');

-- Published beside the resources: api_catalog()'s schemas (OpenAPI components) hold it as the function answers it.
SELECT is(coditect.api_catalog() #> '{schemas,WorkflowDefinition}', coditect.workflow_definition_schema(),
          'api_catalog() publishes the schema as WorkflowDefinition');

SELECT * FROM finish();
ROLLBACK;
