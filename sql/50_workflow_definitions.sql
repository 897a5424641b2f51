-- 50_workflow_definitions: a workflow's definition (issue 11) is checked, not trusted. Nodes
-- (start, task, approval, notification, condition, end) with type-specific settings, and edges,
-- conditional ones carrying an SQL/JSON path predicate over the execution's context_data. The
-- checks are C++ (src_ext/workflow_definition.cpp, unit-tested), the conditions parsed by
-- PostgreSQL's jsonpath parser; the workflow tables call the validator from their checks.
-- Both functions are pure: executable by PUBLIC (sql/89_api_grants.sql), like the other helpers
-- that CHECK constraints call.

CREATE FUNCTION coditect.workflow_definition_problems(jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'coditect_workflow_definition_problems' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION coditect.workflow_definition_problems(jsonb) IS
    'Every problem of a workflow definition at once, as [{path, code, message}] (path: an SQL/JSON path into the definition); [] when it is valid';

CREATE FUNCTION coditect.workflow_definition_schema() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'coditect_workflow_definition_schema' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION coditect.workflow_definition_schema() IS
    'The JSON Schema (draft 2020-12) of a workflow definition; the graph rules are workflow_definition_problems''s';

-- Published in the API's OpenAPI document as the component WorkflowDefinition.
SELECT coditect_internal.register_api_schema('WorkflowDefinition', 'coditect.workflow_definition_schema()');
