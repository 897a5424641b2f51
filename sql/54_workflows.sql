-- 54_workflows: workflows, their executions, steps and approvals (issue 11), and the small engine
-- that runs them in the database.
--
-- A workflow row is one VERSION of a workflow: versions of one workflow share lineage_id and are
-- numbered from 1. A draft is edited freely; publishing (status draft -> active) freezes it for
-- good (workflows_guard refuses any other change to a published version, whoever writes) and
-- archives the lineage's previously active version; editing then means POST .../versions/, a new
-- draft copying the latest version. An execution is pinned to the version it started on (its
-- workflow_id), and its current_step is always a node id of that version's definition.
--
-- The engine (workflow_start / workflow_complete_step / workflow_decide / workflow_cancel) runs
-- as the owner: clients may read executions, steps and approvals under row-level security but not
-- write them, so every state they hold was reached through the graph. Each call moves the
-- execution along the definition's edges, through automatic nodes (condition, notification), to
-- the next node that waits for a person or an outside system (task, approval) or to an end.
-- Expected failures (a condition that does not evaluate, an outcome with no edge, a loop that
-- never waits) set the failed state and error_message on the execution and its step; the steps
-- before stay as they were.

CREATE TYPE coditect.workflow_type AS ENUM ('approval', 'automation', 'review', 'deployment', 'custom');
CREATE TYPE coditect.workflow_status AS ENUM ('draft', 'active', 'paused', 'archived');
COMMENT ON TYPE coditect.workflow_status IS
    'draft -> active (published: immutable) -> paused <-> active -> archived. Publishing a version archives the active one.';
CREATE TYPE coditect.workflow_trigger_type AS ENUM ('manual', 'scheduled', 'webhook', 'event');
CREATE TYPE coditect.workflow_execution_status AS ENUM ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled');
CREATE TYPE coditect.workflow_step_status AS ENUM ('pending', 'running', 'completed', 'failed', 'skipped');
-- The seeds' four, and cancelled: an approval no longer needed (another approver decided the
-- step, or the execution was cancelled), which is neither a decision nor an expiry.
CREATE TYPE coditect.workflow_approval_status AS ENUM ('pending', 'approved', 'rejected', 'expired', 'cancelled');

------------------------------------------------------------------------------------------------
-- Checks of a workflow's definition and triggers (CHECK constraints: every writer)
------------------------------------------------------------------------------------------------

-- The validator's problems (50_workflow_definitions), all of them in one refusal.
CREATE FUNCTION coditect_internal.check_workflow_definition(p_definition jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    problems jsonb := coditect.workflow_definition_problems(p_definition);
BEGIN
    IF jsonb_array_length(problems) > 0 THEN
        RAISE EXCEPTION 'the workflow definition has % problem(s): %', jsonb_array_length(problems),
            (SELECT string_agg(format('%s: %s', p ->> 'path', p ->> 'message'), '; ')
               FROM jsonb_array_elements(problems) p)
            USING ERRCODE = 'CD422', HINT = 'coditect.workflow_definition_problems(definition) lists them as JSON';
    END IF;
    RETURN true;
END
$$;

-- A workflow's triggers: [{"type": "manual"}, {"type": "webhook"},
-- {"type": "scheduled", "cron": "0 9 * * 1", "context": {...}},
-- {"type": "event", "resource": "task", "on": ["update"], "condition": "$.changes.status[1] == \"in_review\""}].
-- The shape only; that an event's resource exists is workflows_guard's check (it reads the catalog).
CREATE FUNCTION coditect_internal.check_workflow_triggers(p_triggers jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t     jsonb;
    n     int := 0;
    kind  text;
    bad   text;
    allowed text[];
    seen  text[] := '{}';
BEGIN
    IF jsonb_typeof(p_triggers) IS DISTINCT FROM 'array' OR jsonb_array_length(p_triggers) > 20 THEN
        RAISE EXCEPTION 'triggers must be a JSON array of at most 20 triggers' USING ERRCODE = 'CD400';
    END IF;
    FOR t IN SELECT value FROM jsonb_array_elements(p_triggers) LOOP
        n := n + 1;
        kind := CASE WHEN jsonb_typeof(t) = 'object' THEN t ->> 'type' END;
        IF kind IS NULL OR kind <> ALL (enum_range(NULL::coditect.workflow_trigger_type)::text[]) THEN
            RAISE EXCEPTION 'trigger %: must be an object whose type is manual, scheduled, webhook or event', n
                USING ERRCODE = 'CD400';
        END IF;
        allowed := CASE kind WHEN 'event' THEN '{type,resource,on,condition}'
                             WHEN 'scheduled' THEN '{type,cron,context}' ELSE '{type}' END;
        SELECT string_agg(k, ', ' ORDER BY k) INTO bad FROM jsonb_object_keys(t) k WHERE k <> ALL (allowed);
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'trigger % (%): unknown field(s) % (fields: %)', n, kind, bad, array_to_string(allowed, ', ')
                USING ERRCODE = 'CD400';
        END IF;
        IF kind IN ('manual', 'webhook') THEN
            IF kind = ANY (seen) THEN
                RAISE EXCEPTION 'trigger %: a workflow has one % trigger', n, kind USING ERRCODE = 'CD400';
            END IF;
            seen := seen || kind;
        ELSIF kind = 'scheduled' THEN
            -- pg_cron's syntax: five fields or @hourly-style names, at most once a minute (not
            -- pg_cron's "N seconds": a tenant's schedules share the scheduler with everyone's).
            -- pg_cron checks the expression itself when the version is published.
            IF jsonb_typeof(t -> 'cron') IS DISTINCT FROM 'string'
               OR (t ->> 'cron') !~ '^\s*[0-9A-Za-z*/,-]+(\s+[0-9A-Za-z*/,-]+){4}\s*$|^@(yearly|annually|monthly|weekly|daily|hourly)$' THEN
                RAISE EXCEPTION 'trigger %: cron must be a cron expression such as "0 9 * * 1" (at most once a minute)', n
                    USING ERRCODE = 'CD400';
            END IF;
            IF t ? 'context' AND jsonb_typeof(t -> 'context') <> 'object' THEN
                RAISE EXCEPTION 'trigger %: context must be a JSON object', n USING ERRCODE = 'CD400';
            END IF;
        ELSE
            IF jsonb_typeof(t -> 'resource') IS DISTINCT FROM 'string' OR (t ->> 'resource') !~ '^[a-z][a-z_]*$' THEN
                RAISE EXCEPTION 'trigger %: resource must name a resource, such as "task"', n USING ERRCODE = 'CD400';
            END IF;
            IF t ? 'on' AND (jsonb_typeof(t -> 'on') <> 'array' OR jsonb_array_length(t -> 'on') = 0
                             OR EXISTS (SELECT 1 FROM jsonb_array_elements(t -> 'on') v
                                         WHERE v #>> '{}' IS NULL OR v #>> '{}' NOT IN ('create', 'update', 'delete', 'restore'))) THEN
                RAISE EXCEPTION 'trigger %: on must be a non-empty array of create, update, delete, restore', n
                    USING ERRCODE = 'CD400';
            END IF;
            IF t ? 'condition' THEN
                IF jsonb_typeof(t -> 'condition') <> 'string' THEN
                    RAISE EXCEPTION 'trigger %: condition must be an SQL/JSON path predicate (a string)', n USING ERRCODE = 'CD400';
                END IF;
                BEGIN
                    PERFORM (t ->> 'condition')::jsonpath;
                EXCEPTION WHEN syntax_error OR data_exception OR feature_not_supported THEN
                    RAISE EXCEPTION 'trigger %: condition is not an SQL/JSON path predicate: %', n, SQLERRM USING ERRCODE = 'CD400';
                END;
            END IF;
        END IF;
    END LOOP;
    RETURN true;
END
$$;

------------------------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.workflows (
    tenant_id             uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                    uuid NOT NULL,  -- given by protect_columns (no default: see 00_base)
    lineage_id            uuid NOT NULL,  -- the first version's id, shared by all versions
    project_id            uuid,
    name                  varchar(255) NOT NULL CHECK (name ~ '\S'),
    description           text NOT NULL DEFAULT '',
    workflow_type         coditect.workflow_type NOT NULL DEFAULT 'custom',
    version               integer NOT NULL DEFAULT 1,
    status                coditect.workflow_status NOT NULL DEFAULT 'draft',
    definition            jsonb NOT NULL
                          CONSTRAINT workflows_definition_check CHECK (coditect_internal.check_workflow_definition(definition)),
    triggers              coditect.json_array NOT NULL DEFAULT '[{"type": "manual"}]'
                          CONSTRAINT workflows_triggers_check CHECK (coditect_internal.check_workflow_triggers(triggers)),
    -- The seeds' "7 days default, configurable per workflow", in hours (a plain number for
    -- clients); a node's expire_after overrides it.
    approval_expiry_hours integer NOT NULL DEFAULT 168 CHECK (approval_expiry_hours BETWEEN 1 AND 8760),
    created_by            uuid DEFAULT coditect.current_user_id(),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    published_at          timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT workflows_lineage_version_key UNIQUE (tenant_id, lineage_id, version),
    CONSTRAINT workflows_published_check CHECK ((status = 'draft') = (published_at IS NULL)),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.workflows', '{tenant_id,project_id}', '{project_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.workflows', '{tenant_id,created_by}', '{created_by}');
COMMENT ON TABLE coditect.workflows IS
    'Workflow versions: a draft is edited, a published version (active, paused, archived) never changes; versions of one workflow share lineage_id.';
COMMENT ON COLUMN coditect.workflows.definition IS
    'The graph (nodes and edges, README "Workflow definitions"), checked by coditect.workflow_definition_problems on every write.';
CREATE INDEX workflows_tenant_status_idx ON coditect.workflows (tenant_id, status);
CREATE INDEX workflows_tenant_type_idx ON coditect.workflows (tenant_id, workflow_type);
CREATE INDEX workflows_tenant_created_idx ON coditect.workflows (tenant_id, created_at DESC, id DESC);
CREATE INDEX workflows_project_idx ON coditect.workflows (tenant_id, project_id);
-- One version of a workflow runs (active or paused), and one is being edited.
CREATE UNIQUE INDEX workflows_one_live_key ON coditect.workflows (tenant_id, lineage_id) WHERE status IN ('active', 'paused');
CREATE UNIQUE INDEX workflows_one_draft_key ON coditect.workflows (tenant_id, lineage_id) WHERE status = 'draft';

CREATE TABLE coditect.workflow_executions (
    tenant_id     uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    workflow_id   uuid NOT NULL,  -- the version it runs, for its whole life
    triggered_by  uuid,
    trigger_type  coditect.workflow_trigger_type NOT NULL DEFAULT 'manual',
    status        coditect.workflow_execution_status NOT NULL DEFAULT 'pending',
    current_step  varchar(100),
    started_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    error_message text,
    context_data  coditect.json_object NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- NO ACTION, not the seeds' CASCADE: a version that ran keeps its history (archive it); a
    -- tenant's purge removes both in one statement.
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES coditect.workflows (tenant_id, id),
    FOREIGN KEY (tenant_id, triggered_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.workflow_executions', '{tenant_id,triggered_by}', '{triggered_by}');
CREATE INDEX workflow_executions_workflow_started_idx ON coditect.workflow_executions (tenant_id, workflow_id, started_at DESC);
CREATE INDEX workflow_executions_tenant_status_idx ON coditect.workflow_executions (tenant_id, status);
CREATE INDEX workflow_executions_tenant_created_idx ON coditect.workflow_executions (tenant_id, created_at DESC, id DESC);

CREATE TABLE coditect.workflow_steps (
    tenant_id     uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    execution_id  uuid NOT NULL,
    step_id       varchar(100) NOT NULL,  -- the node's id in the pinned definition
    step_name     varchar(255) NOT NULL DEFAULT '',
    step_type     varchar(50) NOT NULL,   -- the node's type
    status        coditect.workflow_step_status NOT NULL DEFAULT 'pending',
    started_at    timestamptz,
    completed_at  timestamptz,
    input_data    coditect.json_object NOT NULL DEFAULT '{}',
    output_data   coditect.json_object NOT NULL DEFAULT '{}',
    error_message text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, execution_id) REFERENCES coditect.workflow_executions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX workflow_steps_execution_started_idx ON coditect.workflow_steps (tenant_id, execution_id, started_at DESC);
CREATE INDEX workflow_steps_tenant_created_idx ON coditect.workflow_steps (tenant_id, created_at DESC, id DESC);

CREATE TABLE coditect.workflow_approvals (
    tenant_id   uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    step_id     uuid NOT NULL,            -- the approval step (workflow_steps.id)
    execution_id uuid NOT NULL,           -- the step's execution, for lists and the engine
    approver_id uuid,                     -- a listed approver; NULL when min_role decides
    min_role    coditect.member_role,     -- members of this role or above decide
    status      coditect.workflow_approval_status NOT NULL DEFAULT 'pending',
    comment     text NOT NULL DEFAULT '',
    decided_by  uuid,
    approved_at timestamptz,              -- when it was approved (the seeds' field)
    decided_at  timestamptz,              -- when it was approved, rejected, expired or cancelled
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, step_id) REFERENCES coditect.workflow_steps (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, execution_id) REFERENCES coditect.workflow_executions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, approver_id) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (tenant_id, decided_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.workflow_approvals', '{tenant_id,approver_id}', '{approver_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.workflow_approvals', '{tenant_id,decided_by}', '{decided_by}');
CREATE INDEX workflow_approvals_approver_status_idx ON coditect.workflow_approvals (tenant_id, approver_id, status);
CREATE INDEX workflow_approvals_step_status_idx ON coditect.workflow_approvals (tenant_id, step_id, status);
CREATE INDEX workflow_approvals_tenant_created_idx ON coditect.workflow_approvals (tenant_id, created_at DESC, id DESC);
-- The expiry job's scan: pending approvals are few.
CREATE INDEX workflow_approvals_pending_expiry_idx ON coditect.workflow_approvals (tenant_id, expires_at)
    WHERE status = 'pending';

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('workflow', NULL,     'draft',    NULL),
    ('workflow', 'draft',  'active',   'published_at'),
    ('workflow', 'active', 'paused',   NULL),
    ('workflow', 'paused', 'active',   NULL),
    ('workflow', 'active', 'archived', NULL),
    ('workflow', 'paused', 'archived', NULL),
    ('workflow_execution', NULL,      'running',   NULL),
    ('workflow_execution', 'running', 'completed', 'completed_at'),
    ('workflow_execution', 'running', 'failed',    'completed_at'),
    ('workflow_execution', 'running', 'cancelled', 'completed_at'),
    ('workflow_step', NULL,      'running',   'started_at'),
    ('workflow_step', NULL,      'completed', 'started_at'),
    ('workflow_step', NULL,      'failed',    'started_at'),
    ('workflow_step', 'running', 'completed', 'completed_at'),
    ('workflow_step', 'running', 'failed',    'completed_at'),
    ('workflow_step', 'running', 'skipped',   'completed_at'),
    ('workflow_approval', NULL,      'pending',   NULL),
    ('workflow_approval', 'pending', 'approved',  'approved_at'),
    ('workflow_approval', 'pending', 'rejected',  'decided_at'),
    ('workflow_approval', 'pending', 'expired',   'decided_at'),
    ('workflow_approval', 'pending', 'cancelled', 'decided_at');

------------------------------------------------------------------------------------------------
-- Rules for every writer
------------------------------------------------------------------------------------------------

-- The node of a definition with this id (NULL when none).
CREATE FUNCTION coditect_internal.workflow_node(p_definition jsonb, p_id text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT n FROM jsonb_array_elements(p_definition -> 'nodes') n WHERE n ->> 'id' = p_id LIMIT 1
$$;

-- The resource an event trigger may watch: a tenant resource of the catalog, but none of the
-- workflow engine's own or the outbox's (their rows change as the engine runs: no loops).
CREATE FUNCTION coditect_internal.workflow_event_resource_type(p_resource text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT replace(initcap(replace(r.name, '_', ' ')), ' ', '')
      FROM coditect_internal.resources r
      JOIN coditect_internal.tenant_tables t ON t.relid = coalesce(r.rls_relid, r.relid)
     WHERE r.name = p_resource AND r.name !~ '^(workflow|webhook)'
$$;

-- BEFORE INSERT OR UPDATE: versions, immutability of published versions, users named in the
-- definition, the resources of event triggers. Publishing archives the running version.
CREATE FUNCTION coditect_internal.workflows_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad text;
BEGIN
    -- A row for another tenant than the context's is the policy's to refuse.
    IF coditect.current_tenant_id() IS NOT NULL AND NEW.tenant_id IS DISTINCT FROM coditect.current_tenant_id() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.lineage_id IS NULL OR NEW.lineage_id = NEW.id THEN
            NEW.lineage_id := NEW.id;
            NEW.version := 1;
        ELSE
            -- A next version: numbered under the lineage's row locks, so two at once do not
            -- take the same number (the unique key would refuse the second anyway).
            PERFORM 1 FROM coditect.workflows w WHERE w.tenant_id = NEW.tenant_id AND w.lineage_id = NEW.lineage_id FOR UPDATE;
            SELECT max(w.version) + 1 INTO NEW.version FROM coditect.workflows w
             WHERE w.tenant_id = NEW.tenant_id AND w.lineage_id = NEW.lineage_id;
            IF NEW.version IS NULL THEN
                RAISE EXCEPTION 'workflow % not found', NEW.lineage_id USING ERRCODE = 'CD404';
            END IF;
        END IF;
    ELSE
        IF (NEW.lineage_id, NEW.version) IS DISTINCT FROM (OLD.lineage_id, OLD.version) THEN
            RAISE EXCEPTION 'a workflow version keeps its lineage and number' USING ERRCODE = 'CD422';
        END IF;
        -- (project_id and created_by may become NULL: their rows' deletion, ON DELETE SET NULL.)
        IF OLD.status <> 'draft' AND ((NEW.name, NEW.description, NEW.workflow_type, NEW.definition, NEW.triggers,
                                       NEW.approval_expiry_hours)
                                      IS DISTINCT FROM (OLD.name, OLD.description, OLD.workflow_type, OLD.definition,
                                                        OLD.triggers, OLD.approval_expiry_hours)
                                      OR (NEW.project_id IS DISTINCT FROM OLD.project_id AND NEW.project_id IS NOT NULL)
                                      OR (NEW.created_by IS DISTINCT FROM OLD.created_by AND NEW.created_by IS NOT NULL)) THEN
            RAISE EXCEPTION 'workflow "%" version % is published and cannot change; create the next version to edit it', OLD.name, OLD.version
                USING ERRCODE = 'CD422', HINT = 'POST /api/v1/workflows/{id}/versions/ makes a draft of the next version';
        END IF;
        IF OLD.status = 'draft' AND NEW.status = 'active' THEN
            UPDATE coditect.workflows w SET status = 'archived'
             WHERE w.tenant_id = NEW.tenant_id AND w.lineage_id = NEW.lineage_id AND w.id <> NEW.id
               AND w.status IN ('active', 'paused');
        END IF;
        IF NEW.definition IS NOT DISTINCT FROM OLD.definition AND NEW.triggers IS NOT DISTINCT FROM OLD.triggers THEN
            RETURN NEW;
        END IF;
    END IF;
    -- Users named by the definition are users of this tenant.
    SELECT string_agg(format('%s: no user %s in this tenant', u.path, u.id), '; ') INTO bad
      FROM (SELECT format('$.nodes[%s].settings.assignee', n.i - 1) AS path, n.node #>> '{settings,assignee}' AS id
              FROM jsonb_array_elements(NEW.definition -> 'nodes') WITH ORDINALITY n (node, i)
             WHERE n.node #>> '{settings,assignee}' IS NOT NULL
            UNION ALL
            SELECT format('$.nodes[%s].settings.approvers[%s]', n.i - 1, a.j - 1), a.id #>> '{}'
              FROM jsonb_array_elements(NEW.definition -> 'nodes') WITH ORDINALITY n (node, i),
                   jsonb_array_elements(n.node #> '{settings,approvers}') WITH ORDINALITY a (id, j)
             WHERE jsonb_typeof(n.node #> '{settings,approvers}') = 'array') u
     WHERE NOT EXISTS (SELECT 1 FROM coditect.users x WHERE x.tenant_id = NEW.tenant_id AND x.id = u.id::uuid);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'the workflow definition names unknown users: %', bad USING ERRCODE = 'CD422';
    END IF;
    SELECT string_agg(format('trigger %s: "%s" is not a resource a workflow can watch', t.i, t.trig ->> 'resource'), '; ') INTO bad
      FROM jsonb_array_elements(NEW.triggers) WITH ORDINALITY t (trig, i)
     WHERE t.trig ->> 'type' = 'event' AND coditect_internal.workflow_event_resource_type(t.trig ->> 'resource') IS NULL;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '%', bad USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;

-- BEFORE INSERT OR UPDATE of executions and steps: the node they name is a node of the pinned
-- version's definition, and they stay with their version and execution.
CREATE FUNCTION coditect_internal.workflow_node_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    node text;
    def  jsonb;
BEGIN
    -- Another tenant's row is the policy's to refuse; this owner-rights code reads nothing of it.
    IF coditect.current_tenant_id() IS NOT NULL AND NEW.tenant_id IS DISTINCT FROM coditect.current_tenant_id() THEN
        RETURN NEW;
    END IF;
    IF coditect_internal.trigger_table_name(TG_TABLE_NAME) = 'workflow_executions' THEN
        IF TG_OP = 'UPDATE' AND NEW.workflow_id IS DISTINCT FROM OLD.workflow_id THEN
            RAISE EXCEPTION 'an execution stays on the workflow version it started on' USING ERRCODE = 'CD422';
        END IF;
        node := NEW.current_step;
        SELECT w.definition INTO def FROM coditect.workflows w WHERE w.tenant_id = NEW.tenant_id AND w.id = NEW.workflow_id;
    ELSE
        IF TG_OP = 'UPDATE' AND (NEW.execution_id, NEW.step_id) IS DISTINCT FROM (OLD.execution_id, OLD.step_id) THEN
            RAISE EXCEPTION 'a step stays on its execution and node' USING ERRCODE = 'CD422';
        END IF;
        node := NEW.step_id;
        SELECT w.definition INTO def FROM coditect.workflow_executions e
          JOIN coditect.workflows w ON w.tenant_id = e.tenant_id AND w.id = e.workflow_id
         WHERE e.tenant_id = NEW.tenant_id AND e.id = NEW.execution_id;
    END IF;
    IF node IS NOT NULL AND def IS NOT NULL AND coditect_internal.workflow_node(def, node) IS NULL THEN
        RAISE EXCEPTION '"%" is not a step of this workflow version (its steps: %)', node,
            (SELECT string_agg(n ->> 'id', ', ') FROM jsonb_array_elements(def -> 'nodes') n)
            USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;

-- BEFORE UPDATE OF status of approvals: a decision is made by whom the approval names (the
-- listed approver, or a member of at least min_role), whoever writes it.
CREATE FUNCTION coditect_internal.workflow_approval_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.status NOT IN ('approved', 'rejected') OR NEW.status = OLD.status THEN
        RETURN NEW;
    END IF;
    IF NOT coalesce(NEW.decided_by = OLD.approver_id
                    OR (OLD.approver_id IS NULL AND OLD.min_role IS NOT NULL AND EXISTS (
                            SELECT 1 FROM coditect.memberships m
                             WHERE m.tenant_id = NEW.tenant_id AND m.user_id = NEW.decided_by AND m.revoked_at IS NULL
                               AND coditect_internal.role_rank(m.role::text) >= coditect_internal.role_rank(OLD.min_role::text))), false) THEN
        RAISE EXCEPTION 'only an approver of this step decides it' USING ERRCODE = 'CD403';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER workflows_guard BEFORE INSERT OR UPDATE ON coditect.workflows
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.workflows_guard();
CREATE TRIGGER workflow_node_guard BEFORE INSERT OR UPDATE OF workflow_id, current_step ON coditect.workflow_executions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.workflow_node_guard();
CREATE TRIGGER workflow_node_guard BEFORE INSERT OR UPDATE OF execution_id, step_id ON coditect.workflow_steps
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.workflow_node_guard();
CREATE TRIGGER workflow_approval_guard BEFORE UPDATE OF status ON coditect.workflow_approvals
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.workflow_approval_guard();
ALTER TABLE coditect.workflows ENABLE ALWAYS TRIGGER workflows_guard;
ALTER TABLE coditect.workflow_executions ENABLE ALWAYS TRIGGER workflow_node_guard;
ALTER TABLE coditect.workflow_steps ENABLE ALWAYS TRIGGER workflow_node_guard;
ALTER TABLE coditect.workflow_approvals ENABLE ALWAYS TRIGGER workflow_approval_guard;

-- What an approval's status is now: a pending one past its deadline reads as expired before the
-- expiry job has run (the job then follows the node's "expired" edge).
CREATE VIEW coditect.workflow_approval_states WITH (security_invoker = true) AS
SELECT a.tenant_id, a.id, a.step_id, a.execution_id, a.approver_id, a.min_role,
       CASE WHEN a.status = 'pending' AND a.expires_at <= now() THEN 'expired'::coditect.workflow_approval_status
            ELSE a.status END AS status,
       a.comment, a.decided_by, a.approved_at,
       CASE WHEN a.status = 'pending' AND a.expires_at <= now() THEN a.expires_at ELSE a.decided_at END AS decided_at,
       a.expires_at, a.created_at
  FROM coditect.workflow_approvals a;
COMMENT ON VIEW coditect.workflow_approval_states IS
    'Approvals as of now: a pending approval past expires_at is expired, whether or not the expiry job has run.';
REVOKE ALL ON coditect.workflow_approval_states FROM PUBLIC;
GRANT SELECT ON coditect.workflow_approval_states TO coditect_gateway, coditect_service, coditect_analyst;

------------------------------------------------------------------------------------------------
-- Secrets of workflows: one per workflow (lineage), for its webhook trigger and for signing the
-- notifications its nodes post to a URL; made like the endpoints' (53_outbox), only the owner
-- reads them (shown once, when an admin rotates one).
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect_internal.webhook_verify(p_secret bytea, p_header text, p_body bytea, p_tolerance_seconds int)
RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_webhook_verify' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION coditect_internal.webhook_verify(bytea, text, bytea, int) IS
    'valid, malformed, mismatch or expired: the header "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" against the body, now() within the tolerance';

-- An owner-only table (no policy to leak past), keyed like every tenant table (on Citus it is
-- distributed with the workflows) and also looked up by the lineage alone: the public webhook
-- endpoint knows the workflow but not yet its tenant.
-- Two secrets, so that what the workflow signs cannot start it: `secret` checks the webhook
-- trigger's requests, `notification_secret` signs the notifications it posts to URLs.
CREATE TABLE coditect_internal.workflow_secrets (
    lineage_id          uuid NOT NULL,
    tenant_id           uuid NOT NULL,
    secret              bytea NOT NULL,
    notification_secret bytea NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, lineage_id),
    FOREIGN KEY (tenant_id, lineage_id) REFERENCES coditect.workflows (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX workflow_secrets_lineage_idx ON coditect_internal.workflow_secrets (lineage_id);
REVOKE ALL ON coditect_internal.workflow_secrets FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.workflow_secrets', '');

-- Signed webhook requests already received, kept past the signature's tolerance: a replayed
-- request (same signature) is refused instead of starting the workflow again.
CREATE TABLE coditect_internal.workflow_webhook_receipts (
    lineage_id     uuid NOT NULL,
    signature_hash text NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lineage_id, signature_hash)
);
REVOKE ALL ON coditect_internal.workflow_webhook_receipts FROM PUBLIC;

-- The lineage's notification secret, made (with the webhook secret) on first use.
CREATE FUNCTION coditect_internal.workflow_secret(p_tenant uuid, p_lineage uuid) RETURNS bytea
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s bytea;
BEGIN
    SELECT x.notification_secret INTO s FROM coditect_internal.workflow_secrets x
     WHERE x.lineage_id = p_lineage AND x.tenant_id = p_tenant;
    IF s IS NULL THEN
        INSERT INTO coditect_internal.workflow_secrets (lineage_id, tenant_id, secret, notification_secret)
        VALUES (p_lineage, p_tenant, coditect_internal.webhook_secret_text(), coditect_internal.webhook_secret_text())
        ON CONFLICT (tenant_id, lineage_id) DO NOTHING;
        SELECT x.notification_secret INTO STRICT s FROM coditect_internal.workflow_secrets x
         WHERE x.lineage_id = p_lineage AND x.tenant_id = p_tenant;
    END IF;
    RETURN s;
END
$$;

------------------------------------------------------------------------------------------------
-- The engine
------------------------------------------------------------------------------------------------

-- The node after p_node: a condition node's first edge whose condition holds against the
-- context (else its default edge), an approval's edge for the outcome, else the one edge.
-- NULL when there is none (an outcome without an edge). A condition that does not evaluate to
-- a boolean raises (jsonb_path_match's error): the caller fails the execution with it.
CREATE FUNCTION coditect_internal.workflow_next(p_definition jsonb, p_node jsonb, p_context jsonb, p_outcome text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e jsonb;
    fallback text;
BEGIN
    FOR e IN SELECT x FROM jsonb_array_elements(p_definition -> 'edges') x WHERE x ->> 'from' = p_node ->> 'id' LOOP
        CASE p_node ->> 'type'
            WHEN 'condition' THEN
                IF NOT e ? 'condition' THEN
                    fallback := e ->> 'to';
                ELSIF jsonb_path_match(p_context, (e ->> 'condition')::jsonpath) THEN
                    RETURN e ->> 'to';
                END IF;
            WHEN 'approval' THEN
                IF e ->> 'on' = p_outcome THEN
                    RETURN e ->> 'to';
                END IF;
            ELSE
                RETURN e ->> 'to';
        END CASE;
    END LOOP;
    RETURN fallback;
END
$$;

CREATE FUNCTION coditect_internal.workflow_step_add(p_tenant uuid, p_execution uuid, p_node jsonb,
                                                    p_status coditect.workflow_step_status,
                                                    p_output jsonb DEFAULT '{}', p_error text DEFAULT NULL)
RETURNS uuid
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO coditect.workflow_steps (tenant_id, execution_id, step_id, step_name, step_type, status,
                                         input_data, output_data, error_message, completed_at)
    VALUES (p_tenant, p_execution, p_node ->> 'id', coalesce(p_node ->> 'name', ''), p_node ->> 'type', p_status,
            coalesce(p_node -> 'settings', '{}'), p_output, p_error,
            CASE WHEN p_status <> 'running' THEN now() END)
    RETURNING id
$$;

-- What the outbox posts about an execution.
CREATE FUNCTION coditect_internal.workflow_event_payload(w coditect.workflows, p_execution uuid, p_step text)
RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('workflow_id', w.id, 'workflow_name', w.name, 'workflow_version', w.version,
                              'execution_id', p_execution, 'step', p_step)
$$;

-- The failed state, with the reason on the execution and on the step that failed (if any).
CREATE FUNCTION coditect_internal.workflow_fail(w coditect.workflows, p_execution uuid, p_step text, p_message text,
                                               p_context jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE coditect.workflow_steps s SET status = 'failed', error_message = p_message
     WHERE s.tenant_id = w.tenant_id AND s.execution_id = p_execution AND s.status = 'running';
    UPDATE coditect.workflow_executions e SET status = 'failed', error_message = p_message, current_step = p_step,
           context_data = coalesce(p_context, e.context_data)
     WHERE e.tenant_id = w.tenant_id AND e.id = p_execution;
    PERFORM coditect_internal.outbox_emit(w.tenant_id, 'workflow.failed',
        coditect_internal.workflow_event_payload(w, p_execution, p_step) || jsonb_build_object('error', p_message));
END
$$;

-- Enters node p_node of a running execution and goes on through automatic nodes until one
-- waits (task, approval) or ends the execution. current_step, and the context when p_context
-- gives a new one, are written where it stops, in one update.
CREATE FUNCTION coditect_internal.workflow_advance(p_tenant uuid, p_execution uuid, p_node text,
                                                   p_context jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e      coditect.workflow_executions;
    w      coditect.workflows;
    cur    text := p_node;
    node   jsonb;
    nxt    text;
    n      int;
    visits int := 0;
    a      record;
    ctx    jsonb;
BEGIN
    SELECT * INTO STRICT e FROM coditect.workflow_executions x WHERE x.tenant_id = p_tenant AND x.id = p_execution;
    SELECT * INTO STRICT w FROM coditect.workflows x WHERE x.tenant_id = p_tenant AND x.id = e.workflow_id;
    ctx := coalesce(p_context, e.context_data);
    LOOP
        visits := visits + 1;
        node := coditect_internal.workflow_node(w.definition, cur);
        IF visits > 100 THEN
            PERFORM coditect_internal.workflow_fail(w, p_execution, cur,
                format('the execution went through 100 steps without waiting, at "%s": a loop whose exit never holds', cur), ctx);
            RETURN;
        END IF;
        CASE node ->> 'type'
            WHEN 'end' THEN
                PERFORM coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'completed');
                UPDATE coditect.workflow_executions x SET status = 'completed', current_step = cur, context_data = ctx
                 WHERE x.tenant_id = p_tenant AND x.id = p_execution;
                PERFORM coditect_internal.outbox_emit(p_tenant, 'workflow.completed',
                    coditect_internal.workflow_event_payload(w, p_execution, cur));
                RETURN;
            WHEN 'task' THEN
                PERFORM coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'running');
                UPDATE coditect.workflow_executions x SET current_step = cur, context_data = ctx
                 WHERE x.tenant_id = p_tenant AND x.id = p_execution;
                RETURN;
            WHEN 'approval' THEN
                UPDATE coditect.workflow_executions x SET current_step = cur, context_data = ctx
                 WHERE x.tenant_id = p_tenant AND x.id = p_execution;
                FOR a IN
                    WITH step AS (SELECT coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'running') AS id)
                    INSERT INTO coditect.workflow_approvals AS ap (tenant_id, step_id, execution_id, approver_id, min_role, expires_at)
                    SELECT p_tenant, step.id, p_execution, who.approver, (node #>> '{settings,min_role}')::coditect.member_role,
                           now() + coalesce((node #>> '{settings,expire_after}')::interval, make_interval(hours => w.approval_expiry_hours))
                      FROM step,
                           LATERAL (SELECT (v #>> '{}')::uuid AS approver
                                      FROM jsonb_array_elements(coalesce(node #> '{settings,approvers}', '[null]')) v) who
                    RETURNING ap.id, ap.approver_id, ap.min_role, ap.expires_at
                LOOP
                    PERFORM coditect_internal.outbox_emit(p_tenant, 'approval.requested',
                        coditect_internal.workflow_event_payload(w, p_execution, cur)
                        || jsonb_build_object('approval_id', a.id, 'approver_id', a.approver_id, 'min_role', a.min_role,
                                              'expires_at', a.expires_at, 'title', node #>> '{settings,title}'));
                END LOOP;
                RETURN;
            WHEN 'notification' THEN
                n := coditect_internal.outbox_emit(p_tenant, 'workflow.notification',
                    coditect_internal.workflow_event_payload(w, p_execution, cur)
                    || jsonb_build_object('message', node #>> '{settings,message}', 'context', ctx),
                    node #>> '{settings,channel}', node #>> '{settings,webhook}',
                    CASE WHEN node #> '{settings,webhook}' IS NOT NULL THEN coditect_internal.workflow_secret(p_tenant, w.lineage_id) END);
                PERFORM coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'completed',
                                                            jsonb_build_object('deliveries', n));
                nxt := coditect_internal.workflow_next(w.definition, node, ctx, NULL);
            WHEN 'condition' THEN
                BEGIN
                    nxt := coditect_internal.workflow_next(w.definition, node, ctx, NULL);
                EXCEPTION WHEN data_exception OR syntax_error THEN
                    PERFORM coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'failed', '{}',
                                                                format('a condition did not evaluate: %s', SQLERRM));
                    PERFORM coditect_internal.workflow_fail(w, p_execution, cur,
                        format('step "%s": a condition did not evaluate: %s', cur, SQLERRM), ctx);
                    RETURN;
                END;
                PERFORM coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'completed', jsonb_build_object('next', nxt));
            ELSE  -- start
                PERFORM coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'completed');
                nxt := coditect_internal.workflow_next(w.definition, node, ctx, NULL);
        END CASE;
        cur := nxt;
    END LOOP;
END
$$;

-- An execution's context stays under 64 KiB: it travels in every notification (the outbox takes
-- payloads of 256 KiB), and a refusal belongs to the call that grows it, not to a later job.
CREATE FUNCTION coditect_internal.workflow_context_check(p_context jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF octet_length(p_context::text) > 65536 THEN
        RAISE EXCEPTION 'an execution''s context is at most 64 KiB of JSON (this one would be % bytes)', octet_length(p_context::text)
            USING ERRCODE = 'CD400';
    END IF;
END
$$;

-- Leaves the waiting node of an execution with an outcome (a task: NULL; an approval:
-- approved, rejected or expired): its output goes into the context under the node's id, and
-- the execution goes on by the matching edge, or fails when the definition has none.
CREATE FUNCTION coditect_internal.workflow_leave(e coditect.workflow_executions, p_outcome text, p_output jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w   coditect.workflows;
    ctx jsonb := e.context_data || jsonb_build_object(e.current_step, p_output);
    nxt text;
BEGIN
    PERFORM coditect_internal.workflow_context_check(ctx);
    SELECT * INTO STRICT w FROM coditect.workflows x WHERE x.tenant_id = e.tenant_id AND x.id = e.workflow_id;
    UPDATE coditect.workflow_steps s SET status = 'completed', output_data = p_output
     WHERE s.tenant_id = e.tenant_id AND s.execution_id = e.id AND s.step_id = e.current_step AND s.status = 'running';
    nxt := coditect_internal.workflow_next(w.definition, coditect_internal.workflow_node(w.definition, e.current_step), ctx, p_outcome);
    IF nxt IS NULL THEN
        PERFORM coditect_internal.workflow_fail(w, e.id, e.current_step,
            format('step "%s" ended %s and the workflow has no edge for that', e.current_step, p_outcome), ctx);
    ELSE
        PERFORM coditect_internal.workflow_advance(e.tenant_id, e.id, nxt, ctx);
    END IF;
END
$$;

-- Starts the running version of the workflow p_workflow is a version of. Every trigger comes
-- here: the API (manual), an event, pg_cron (scheduled), a signed webhook.
CREATE FUNCTION coditect_internal.workflow_start_as(p_tenant uuid, p_workflow uuid, p_context jsonb,
                                                    p_trigger coditect.workflow_trigger_type, p_user uuid)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w     coditect.workflows;
    state text;
    id    uuid;
BEGIN
    SELECT x.* INTO w FROM coditect.workflows v
      JOIN coditect.workflows x ON x.tenant_id = v.tenant_id AND x.lineage_id = v.lineage_id AND x.status = 'active'
     WHERE v.tenant_id = p_tenant AND v.id = p_workflow
       FOR KEY SHARE OF x;
    IF w.id IS NULL THEN
        SELECT string_agg(format('version %s is %s', v.version, v.status), ', ' ORDER BY v.version) INTO state
          FROM coditect.workflows s JOIN coditect.workflows v ON v.tenant_id = s.tenant_id AND v.lineage_id = s.lineage_id
         WHERE s.tenant_id = p_tenant AND s.id = p_workflow;
        IF state IS NULL THEN
            RAISE EXCEPTION 'workflow % not found', p_workflow USING ERRCODE = 'CD404';
        END IF;
        RAISE EXCEPTION 'the workflow has no active version to start (%)', state USING ERRCODE = 'CD409';
    END IF;
    IF jsonb_typeof(p_context) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'context must be a JSON object' USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.workflow_context_check(p_context);
    IF p_trigger = 'manual' AND NOT w.triggers @> '[{"type": "manual"}]' THEN
        RAISE EXCEPTION 'workflow "%" is not started by hand (its triggers: %)', w.name, w.triggers USING ERRCODE = 'CD409';
    END IF;
    INSERT INTO coditect.workflow_executions (tenant_id, workflow_id, triggered_by, trigger_type, status, context_data)
    VALUES (p_tenant, w.id, p_user, p_trigger, 'running', p_context)
    RETURNING workflow_executions.id INTO id;
    PERFORM coditect_internal.workflow_advance(p_tenant, id,
        (SELECT n ->> 'id' FROM jsonb_array_elements(w.definition -> 'nodes') n WHERE n ->> 'type' = 'start'));
    RETURN id;
END
$$;

-- The execution of the request's tenant, locked; 404 when there is none.
CREATE FUNCTION coditect_internal.workflow_execution_for_update(p_execution uuid) RETURNS coditect.workflow_executions
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    e coditect.workflow_executions;
BEGIN
    SELECT * INTO e FROM coditect.workflow_executions x
     WHERE x.tenant_id = v_tenant AND x.id = p_execution FOR UPDATE;
    IF e.id IS NULL THEN
        RAISE EXCEPTION 'workflow execution % not found', p_execution USING ERRCODE = 'CD404';
    END IF;
    RETURN e;
END
$$;

-- The API's start (the action workflow.start: the catalog writes coditect.workflow_start around it).
CREATE FUNCTION coditect_internal.workflow_start_manual(p_workflow uuid, p_context jsonb DEFAULT '{}') RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('workflow.start');
    RETURN coditect_internal.workflow_start_as(coditect.current_tenant_id(), p_workflow, coalesce(p_context, '{}'),
                                               'manual', coditect.current_user_id());
END
$$;

CREATE FUNCTION coditect_internal.workflow_complete_step_as(p_execution uuid, p_step text, p_output jsonb DEFAULT '{}') RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e    coditect.workflow_executions;
    node jsonb;
BEGIN
    PERFORM coditect.require_permission('workflow_execution.complete_step');
    e := coditect_internal.workflow_execution_for_update(p_execution);
    IF e.status <> 'running' THEN
        RAISE EXCEPTION 'the execution is %, not running', e.status USING ERRCODE = 'CD409';
    END IF;
    IF e.current_step IS DISTINCT FROM p_step THEN
        RAISE EXCEPTION 'the execution is at step "%", not "%"', e.current_step, p_step USING ERRCODE = 'CD409';
    END IF;
    node := coditect_internal.workflow_node((SELECT w.definition FROM coditect.workflows w
                                              WHERE w.tenant_id = e.tenant_id AND w.id = e.workflow_id), p_step);
    IF node ->> 'type' <> 'task' THEN
        RAISE EXCEPTION 'step "%" is an approval: an approver decides it (POST /api/v1/workflow-approvals/{id}/decide/)', p_step
            USING ERRCODE = 'CD409';
    END IF;
    IF node #>> '{settings,assignee}' IS NOT NULL AND (node #>> '{settings,assignee}')::uuid IS DISTINCT FROM coditect.current_user_id()
       AND coditect_internal.role_rank(coditect.current_user_role()) < coditect_internal.role_rank('admin') THEN
        RAISE EXCEPTION 'step "%" is assigned to another user', p_step USING ERRCODE = 'CD403';
    END IF;
    IF jsonb_typeof(coalesce(p_output, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'output must be a JSON object' USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.workflow_leave(e, NULL, coalesce(p_output, '{}'));
    RETURN e.id;
END
$$;

CREATE FUNCTION coditect_internal.workflow_decide_as(p_approval uuid, p_decision text, p_comment text DEFAULT '') RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    a    coditect.workflow_approvals;
    e    coditect.workflow_executions;
    me   uuid := coditect.current_user_id();
    output jsonb;
BEGIN
    PERFORM coditect.require_permission('workflow_approval.decide');
    IF p_decision IS NULL OR p_decision NOT IN ('approved', 'rejected') THEN
        RAISE EXCEPTION 'decision must be approved or rejected' USING ERRCODE = 'CD400';
    END IF;
    SELECT * INTO a FROM coditect.workflow_approvals x WHERE x.tenant_id = v_tenant AND x.id = p_approval;
    IF a.id IS NULL THEN
        RAISE EXCEPTION 'workflow approval % not found', p_approval USING ERRCODE = 'CD404';
    END IF;
    e := coditect_internal.workflow_execution_for_update(a.execution_id);  -- the execution first, as the engine locks
    SELECT * INTO STRICT a FROM coditect.workflow_approvals x WHERE x.tenant_id = a.tenant_id AND x.id = p_approval FOR UPDATE;
    IF a.status <> 'pending' THEN
        RAISE EXCEPTION 'the approval is already %', a.status USING ERRCODE = 'CD409';
    END IF;
    IF a.expires_at <= now() THEN
        RAISE EXCEPTION 'the approval expired at %', a.expires_at USING ERRCODE = 'CD409';
    END IF;
    -- coalesce: a NULL anywhere (no listed approver, no role) is a refusal, not a pass.
    IF NOT coalesce(a.approver_id = me OR (a.approver_id IS NULL AND a.min_role IS NOT NULL
            AND coditect_internal.role_rank(coditect.current_user_role()) >= coditect_internal.role_rank(a.min_role::text)), false) THEN
        RAISE EXCEPTION 'you are not an approver of this step' USING ERRCODE = 'CD403';
    END IF;
    UPDATE coditect.workflow_approvals x SET status = p_decision::coditect.workflow_approval_status,
           comment = coalesce(p_comment, ''), decided_by = me, decided_at = now()
     WHERE x.tenant_id = a.tenant_id AND x.id = a.id;
    UPDATE coditect.workflow_approvals x SET status = 'cancelled'
     WHERE x.tenant_id = a.tenant_id AND x.step_id = a.step_id AND x.status = 'pending';
    output := jsonb_build_object('decision', p_decision, 'decided_by', me, 'comment', coalesce(p_comment, ''));
    PERFORM coditect_internal.outbox_emit(a.tenant_id, 'approval.decided',
        jsonb_build_object('approval_id', a.id, 'execution_id', e.id, 'step', e.current_step) || output);
    PERFORM coditect_internal.workflow_leave(e, p_decision, output);
    RETURN a.id;
END
$$;

CREATE FUNCTION coditect_internal.workflow_cancel_as(p_execution uuid) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e coditect.workflow_executions;
BEGIN
    PERFORM coditect.require_permission('workflow_execution.cancel');
    e := coditect_internal.workflow_execution_for_update(p_execution);
    IF e.triggered_by IS DISTINCT FROM coditect.current_user_id()
       AND coditect_internal.role_rank(coditect.current_user_role()) < coditect_internal.role_rank('admin') THEN
        RAISE EXCEPTION 'only who started an execution, or an admin, cancels it' USING ERRCODE = 'CD403';
    END IF;
    IF e.status <> 'running' THEN
        RAISE EXCEPTION 'the execution is already %', e.status USING ERRCODE = 'CD409';
    END IF;
    UPDATE coditect.workflow_approvals x SET status = 'cancelled'
     WHERE x.tenant_id = e.tenant_id AND x.execution_id = e.id AND x.status = 'pending';
    UPDATE coditect.workflow_steps x SET status = 'skipped'
     WHERE x.tenant_id = e.tenant_id AND x.execution_id = e.id AND x.status = 'running';
    UPDATE coditect.workflow_executions x SET status = 'cancelled' WHERE x.tenant_id = e.tenant_id AND x.id = e.id;
    RETURN e.id;
END
$$;

-- Expiry, for every tenant (the pg_cron job): the approvals past their deadline expire, and
-- their executions follow the node's "expired" edge or fail. Returns the steps expired.
CREATE FUNCTION coditect.workflow_expire_approvals() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s     record;
    e     coditect.workflow_executions;
    n     int := 0;
    msg   text;
    state text;
BEGIN
    FOR s IN SELECT DISTINCT a.tenant_id, a.execution_id, a.step_id FROM coditect.workflow_approvals a
              WHERE a.status = 'pending' AND a.expires_at <= now() LOOP
        SELECT * INTO e FROM coditect.workflow_executions x
         WHERE x.tenant_id = s.tenant_id AND x.id = s.execution_id AND x.status = 'running' FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN e.id IS NULL;  -- an engine call holds it: the next run expires it
        -- One execution's failure (whatever its tenant's data) must not stop the others': it
        -- fails that execution, and the job goes on.
        BEGIN
            UPDATE coditect.workflow_approvals x SET status = 'expired'
             WHERE x.tenant_id = s.tenant_id AND x.step_id = s.step_id AND x.status = 'pending';
            PERFORM coditect_internal.outbox_emit(s.tenant_id, 'approval.decided',
                jsonb_build_object('execution_id', e.id, 'step', e.current_step, 'decision', 'expired'));
            PERFORM coditect_internal.workflow_leave(e, 'expired', '{"decision": "expired"}');
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
            UPDATE coditect.workflow_approvals x SET status = 'expired'
             WHERE x.tenant_id = s.tenant_id AND x.step_id = s.step_id AND x.status = 'pending';
            UPDATE coditect.workflow_steps x SET status = 'failed', error_message = left(state || ': ' || msg, 1000)
             WHERE x.tenant_id = e.tenant_id AND x.execution_id = e.id AND x.status = 'running';
            UPDATE coditect.workflow_executions x SET status = 'failed',
                   error_message = left(format('the approval expired and moving on failed: %s: %s', state, msg), 1000)
             WHERE x.tenant_id = e.tenant_id AND x.id = e.id;
        END;
        n := n + 1;
    END LOOP;
    DELETE FROM coditect_internal.workflow_webhook_receipts r WHERE r.received_at < now() - interval '1 hour';
    RETURN n;
END
$$;
COMMENT ON FUNCTION coditect.workflow_expire_approvals() IS
    'Expires the approvals past their deadline (all tenants; the pg_cron job coditect-workflow-expiry) and moves their executions on';

------------------------------------------------------------------------------------------------
-- Triggers: events (the audit trail, same transaction), schedules (pg_cron), signed webhooks.
-- A version's event and scheduled triggers are live while it is the active version:
-- workflow_sync_triggers keeps the event subscriptions and the pg_cron jobs in step with that.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect_internal.workflow_event_triggers (
    tenant_id     uuid NOT NULL,
    workflow_id   uuid NOT NULL,
    position      integer NOT NULL,   -- the trigger's place in the version's triggers, from 1
    resource_type text NOT NULL,      -- as in audit_logs ('Task')
    verbs         text[] NOT NULL,
    condition     jsonpath,
    PRIMARY KEY (tenant_id, workflow_id, position),
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES coditect.workflows (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX workflow_event_triggers_resource_idx ON coditect_internal.workflow_event_triggers (tenant_id, resource_type);
REVOKE ALL ON coditect_internal.workflow_event_triggers FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.workflow_event_triggers', '');

-- The audit trigger's WHEN condition (src_ext/pg_workflow_events.cpp): whether the tenant has a
-- subscription on the resource type, from a per-backend cache; workflow_events_changed() drops
-- every backend's cache after the subscriptions change. So an audited write of a table nobody
-- watches costs a hash lookup, not a trigger call.
CREATE FUNCTION coditect_internal.workflow_events_watched(p_tenant uuid, p_resource_type text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_workflow_events_watched' LANGUAGE C VOLATILE;
CREATE FUNCTION coditect_internal.workflow_events_changed() RETURNS void
    AS 'MODULE_PATHNAME', 'coditect_workflow_events_changed' LANGUAGE C VOLATILE;

-- pg_cron's job name for a version's scheduled trigger.
CREATE FUNCTION coditect_internal.workflow_job_name(p_workflow uuid, p_position int) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'coditect-workflow-' || p_workflow || '-' || p_position
$$;

-- The pg_cron jobs of each version's scheduled triggers, by tenant (pg_cron's job names are
-- names: 63 bytes, no room for the tenant), to remove them and to count a tenant's.
CREATE TABLE coditect_internal.workflow_cron_jobs (
    tenant_id   uuid NOT NULL,
    workflow_id uuid NOT NULL,
    position    integer NOT NULL,
    jobid       bigint NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, position)
);
REVOKE ALL ON coditect_internal.workflow_cron_jobs FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.workflow_cron_jobs', '');

-- AFTER INSERT, UPDATE OF status or DELETE of a version.
CREATE FUNCTION coditect_internal.workflow_sync_triggers() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w      coditect.workflows := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    live   boolean := TG_OP <> 'DELETE' AND NEW.status = 'active';
    cron   boolean := EXISTS (SELECT 1 FROM pg_catalog.pg_extension x WHERE x.extname = 'pg_cron');
    job    bigint;
    sched  record;
BEGIN
    DELETE FROM coditect_internal.workflow_event_triggers t WHERE t.tenant_id = w.tenant_id AND t.workflow_id = w.id;
    PERFORM coditect_internal.workflow_events_changed();
    FOR job IN DELETE FROM coditect_internal.workflow_cron_jobs j WHERE j.tenant_id = w.tenant_id AND j.workflow_id = w.id
                RETURNING j.jobid LOOP
        IF cron THEN
            EXECUTE 'SELECT cron.unschedule(jobid) FROM cron.job WHERE jobid = $1' USING job;
        END IF;
    END LOOP;
    IF NOT live THEN
        RETURN NULL;
    END IF;
    -- Caps per tenant: every audited write of a watched resource runs its subscriptions, and
    -- schedules share pg_cron with every tenant.
    IF (SELECT count(*) FROM coditect_internal.workflow_event_triggers t WHERE t.tenant_id = w.tenant_id)
       + (SELECT count(*) FROM jsonb_array_elements(w.triggers) x WHERE x ->> 'type' = 'event') > 50 THEN
        RAISE EXCEPTION 'a tenant''s active workflows have at most 50 event triggers' USING ERRCODE = 'CD422';
    END IF;
    IF w.triggers @> '[{"type": "scheduled"}]' THEN
        IF (SELECT count(*) FROM coditect_internal.workflow_cron_jobs j WHERE j.tenant_id = w.tenant_id)
           + (SELECT count(*) FROM jsonb_array_elements(w.triggers) x WHERE x ->> 'type' = 'scheduled') > 20 THEN
            RAISE EXCEPTION 'a tenant''s active workflows have at most 20 scheduled triggers' USING ERRCODE = 'CD422';
        END IF;
    END IF;
    INSERT INTO coditect_internal.workflow_event_triggers (tenant_id, workflow_id, position, resource_type, verbs, condition)
    SELECT w.tenant_id, w.id, t.i, coditect_internal.workflow_event_resource_type(t.trig ->> 'resource'),
           coalesce(ARRAY(SELECT jsonb_array_elements_text(t.trig -> 'on')), '{create,update,delete,restore}'),
           (t.trig ->> 'condition')::jsonpath
      FROM jsonb_array_elements(w.triggers) WITH ORDINALITY t (trig, i)
     WHERE t.trig ->> 'type' = 'event';
    IF w.triggers @> '[{"type": "scheduled"}]' AND NOT cron THEN
        RAISE EXCEPTION 'scheduled triggers need pg_cron in this database (see README "Scheduled maintenance")' USING ERRCODE = 'CD422';
    END IF;
    -- The job runs as this function's owner, in this database; pg_cron checks the expression.
    FOR sched IN SELECT x.trig, x.i FROM jsonb_array_elements(w.triggers) WITH ORDINALITY x (trig, i)
                  WHERE x.trig ->> 'type' = 'scheduled' LOOP
        INSERT INTO coditect_internal.workflow_cron_jobs (tenant_id, workflow_id, position, jobid)
        VALUES (w.tenant_id, w.id, sched.i, coditect_internal.workflow_cron_schedule(coditect_internal.workflow_job_name(w.id, sched.i::int),
            sched.trig ->> 'cron', format('SELECT coditect_internal.workflow_fire_scheduled(%L, %L, %s)', w.tenant_id, w.id, sched.i)));
    END LOOP;
    RETURN NULL;
END
$$;

-- cron.schedule_in_database through dynamic SQL: the extension works without pg_cron, and
-- pg_cron's refusal of an expression becomes a clear 422.
CREATE FUNCTION coditect_internal.workflow_cron_schedule(p_name text, p_schedule text, p_command text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job bigint;
BEGIN
    EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, pg_catalog.current_database())'
       INTO job USING p_name, p_schedule, p_command;
    RETURN job;
EXCEPTION WHEN invalid_parameter_value OR invalid_text_representation THEN
    RAISE EXCEPTION 'the cron expression "%" is not one pg_cron runs: %', p_schedule, SQLERRM USING ERRCODE = 'CD422';
END
$$;

CREATE TRIGGER workflow_sync_triggers AFTER INSERT OR UPDATE OF status OR DELETE ON coditect.workflows
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.workflow_sync_triggers();
ALTER TABLE coditect.workflows ENABLE ALWAYS TRIGGER workflow_sync_triggers;

-- pg_cron's command for a scheduled trigger. A job left behind by a version no longer active
-- starts nothing.
CREATE FUNCTION coditect_internal.workflow_fire_scheduled(p_tenant uuid, p_workflow uuid, p_position int) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w coditect.workflows;
BEGIN
    SELECT * INTO w FROM coditect.workflows x WHERE x.tenant_id = p_tenant AND x.id = p_workflow AND x.status = 'active';
    IF w.id IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN coditect_internal.workflow_start_as(p_tenant, p_workflow,
        coalesce(w.triggers -> (p_position - 1) -> 'context', '{}') || jsonb_build_object('scheduled_at', now()),
        'scheduled', NULL);
END
$$;

-- AFTER INSERT on the audit trail: a row change of a watched resource starts the workflows
-- whose event trigger matches it, in the transaction that made the change. The event is
-- {action, resource_type, resource_id, user_id, changes} (changes as in audit_logs:
-- {"column": [old, new]}); the trigger's condition is evaluated against it (an error counts as
-- false: a trigger never breaks the change it watches), and the execution's context is
-- {"event": event}. Called only for the rows of watched resource types (the WHEN condition).
CREATE FUNCTION coditect_internal.workflow_on_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s     record;
    ev    jsonb;
    msg   text;
    state text;
BEGIN
    FOR s IN SELECT t.workflow_id, t.verbs, t.condition FROM coditect_internal.workflow_event_triggers t
              WHERE t.tenant_id = NEW.tenant_id AND t.resource_type = NEW.resource_type
              ORDER BY t.workflow_id, t.position LOOP
        ev := coalesce(ev, jsonb_build_object('action', NEW.action, 'resource_type', NEW.resource_type,
                                              'resource_id', NEW.resource_id, 'user_id', NEW.user_id, 'changes', NEW.changes));
        IF split_part(NEW.action, '.', 2) = ANY (s.verbs)
           AND (s.condition IS NULL OR coalesce(jsonb_path_match(ev, s.condition, '{}', true), false)) THEN
            -- A workflow that cannot start (its context too large, a notification refused) is
            -- recorded in the audit trail; the change it watches goes on.
            BEGIN
                PERFORM coditect_internal.workflow_start_as(NEW.tenant_id, s.workflow_id, jsonb_build_object('event', ev),
                                                           'event', NEW.user_id);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
                PERFORM coditect_internal.audit_event(NEW.tenant_id, 'workflow.trigger_failed', 'Workflow', s.workflow_id::text,
                    jsonb_build_object('trigger', 'event', 'event_action', NEW.action, 'event_resource_id', NEW.resource_id,
                                       'error', left(state || ': ' || msg, 1000)), 'error');
            END;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
CREATE TRIGGER workflow_events AFTER INSERT ON coditect.audit_logs
    FOR EACH ROW WHEN (coditect_internal.workflow_events_watched(NEW.tenant_id, NEW.resource_type))
    EXECUTE FUNCTION coditect_internal.workflow_on_audit();

-- POST /api/v1/workflows/{lineage_id}/webhook/ (no login): the body, signed with the workflow's
-- secret in Coditect-Signature, starts its active version with {"webhook": body} as context.
-- Unknown workflows, and workflows without a webhook trigger or a secret, are not found (NULL:
-- 404); a bad or stale signature is 401; a replayed one 409.
CREATE FUNCTION coditect.workflow_webhook(p_workflow uuid, p_signature text, p_body bytea) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sec     coditect_internal.workflow_secrets;
    w       coditect.workflows;
    verdict text;
    body    jsonb;
    started uuid;
BEGIN
    -- Ids are the server's (uuid v7), so one tenant at most; should two ever hold it, neither is
    -- chosen (TOO_MANY_ROWS: no request starts a workflow of a tenant picked at random).
    BEGIN
        SELECT * INTO STRICT sec FROM coditect_internal.workflow_secrets x WHERE x.lineage_id = p_workflow;
    EXCEPTION WHEN no_data_found OR too_many_rows THEN
        RETURN NULL;
    END;
    SELECT * INTO w FROM coditect.workflows x
     WHERE x.tenant_id = sec.tenant_id AND x.lineage_id = p_workflow AND x.status = 'active';
    IF sec.lineage_id IS NULL OR w.id IS NULL OR NOT w.triggers @> '[{"type": "webhook"}]' THEN
        RETURN NULL;
    END IF;
    verdict := coditect_internal.webhook_verify(sec.secret, coalesce(p_signature, ''), coalesce(p_body, ''), 300);
    IF verdict <> 'valid' THEN
        RAISE EXCEPTION 'the Coditect-Signature header is %', CASE verdict WHEN 'expired' THEN 'more than 300 s away from now'
                                                                       WHEN 'mismatch' THEN 'not a signature of this body'
                                                                       ELSE 'malformed (t=<unix seconds>,v1=<hex HMAC-SHA256>)' END
            USING ERRCODE = 'CD401';
    END IF;
    BEGIN
        body := convert_from(p_body, 'UTF8')::jsonb;
    EXCEPTION WHEN data_exception OR untranslatable_character OR character_not_in_repertoire THEN
        RAISE EXCEPTION 'the body must be a JSON object' USING ERRCODE = 'CD400';
    END;
    IF jsonb_typeof(body) <> 'object' THEN
        RAISE EXCEPTION 'the body must be a JSON object' USING ERRCODE = 'CD400';
    END IF;
    -- A request is its timestamp and body (a header rewritten around a valid v1, with another
    -- v0 or v1 beside it, is the same request).
    INSERT INTO coditect_internal.workflow_webhook_receipts (lineage_id, signature_hash)
    VALUES (p_workflow, encode(sha256(convert_to(substring(p_signature FROM '(?:^|,)t=([0-9]+)') || '.', 'UTF8') || p_body), 'hex'))
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'this signed request was already received' USING ERRCODE = 'CD409';
    END IF;
    started := coditect_internal.workflow_start_as(w.tenant_id, w.id, jsonb_build_object('webhook', body), 'webhook', NULL);
    RETURN (SELECT jsonb_build_object('execution_id', e.id, 'workflow_id', e.workflow_id, 'status', e.status,
                                      'current_step', e.current_step)
              FROM coditect.workflow_executions e WHERE e.tenant_id = w.tenant_id AND e.id = started);
END
$$;

-- POST /api/v1/workflows/{id}/webhook-secret/ (admins): new secrets for the workflow (all its
-- versions), shown this once; the old ones stop working.
CREATE FUNCTION coditect.workflow_rotate_secret(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    lineage uuid;
    s       bytea := coditect_internal.webhook_secret_text();
    ns      bytea := coditect_internal.webhook_secret_text();
BEGIN
    PERFORM coditect.require_permission('workflow.rotate_secret');
    SELECT w.lineage_id INTO lineage FROM coditect.workflows w WHERE w.tenant_id = v_tenant AND w.id = p_id;
    IF lineage IS NULL THEN
        RAISE EXCEPTION 'workflow % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    INSERT INTO coditect_internal.workflow_secrets AS x (lineage_id, tenant_id, secret, notification_secret, created_at)
    VALUES (lineage, v_tenant, s, ns, now())
    ON CONFLICT (tenant_id, lineage_id) DO UPDATE SET secret = excluded.secret, notification_secret = excluded.notification_secret,
                                                      created_at = excluded.created_at;  -- no now() here: Citus refuses it
    RETURN jsonb_build_object('secret', convert_from(s, 'UTF8'), 'notification_secret', convert_from(ns, 'UTF8'),
                              'webhook_path', '/api/v1/workflows/' || lineage || '/webhook/',
                              'signature_header', 'Coditect-Signature');
END
$$;

------------------------------------------------------------------------------------------------
-- Resources and actions
------------------------------------------------------------------------------------------------

SELECT coditect_internal.register_resource('coditect.workflows', 'workflow', p_state_machine => 'workflow',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin"}',
    p_create => '{project_id,name,description,workflow_type,definition,triggers,approval_expiry_hours}',
    p_update => '{project_id,name,description,workflow_type,definition,triggers,approval_expiry_hours,status}',
    p_filters => '{"project_id": ["exact"], "lineage_id": ["exact"], "status": ["exact", "in"], "workflow_type": ["exact", "in"],
                   "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,name,version}', p_search => '{name,description}',
    p_also_under => '{"project": "project_id"}',
    p_example => '{"name": "Expense approval", "workflow_type": "approval",
                   "definition": {"nodes": [{"id": "start", "type": "start"},
                                            {"id": "amount", "type": "condition"},
                                            {"id": "review", "type": "approval", "settings": {"min_role": "admin"}},
                                            {"id": "done", "type": "end"}],
                                  "edges": [{"from": "start", "to": "amount"},
                                            {"from": "amount", "to": "review", "condition": "$.amount > 1000"},
                                            {"from": "amount", "to": "done"},
                                            {"from": "review", "to": "done", "on": "approved"},
                                            {"from": "review", "to": "done", "on": "rejected"}]},
                   "triggers": [{"type": "manual"}]}');

-- Versions, states and publication are the database's: clients write the draft's fields and
-- the status (publishing, pausing, archiving go through the state machine).
REVOKE INSERT, UPDATE ON coditect.workflows FROM coditect_gateway, coditect_service;
-- Not id or lineage_id: ids are the database's (the secrets and webhook paths are keyed by them;
-- protect_insert_columns, 00_base, gives the id).
GRANT INSERT, UPDATE (project_id, name, description, workflow_type, definition, triggers, approval_expiry_hours, status)
    ON coditect.workflows TO coditect_gateway, coditect_service;
SELECT coditect_internal.protect_insert_columns('coditect.workflows', '{id,lineage_id,version,status,published_at}');

SELECT coditect_internal.register_resource('coditect.workflow_executions', 'workflow_execution',
    p_state_machine => 'workflow_execution', p_writable => false,
    p_roles => '{"view": "guest"}',
    p_filters => '{"workflow_id": ["exact"], "status": ["exact", "in"], "trigger_type": ["exact", "in"],
                   "triggered_by": ["exact"], "started_at": ["gte", "lt"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,started_at}', p_also_under => '{"workflow": "workflow_id"}');

SELECT coditect_internal.register_resource('coditect.workflow_steps', 'workflow_step',
    p_state_machine => 'workflow_step', p_writable => false,
    p_roles => '{"view": "guest"}', p_parent => 'workflow_execution', p_parent_column => 'execution_id',
    p_path => '/api/v1/workflow-executions/{workflow_execution_id}/steps/',
    p_filters => '{"status": ["exact", "in"], "step_id": ["exact"]}',
    p_orderings => '{created_at}', p_default_ordering => 'created_at', p_page_size => 100);

-- The table takes the mechanisms; the API reads the view (expiry correct on read).
SELECT coditect_internal.register_tenant_table('coditect.workflow_approvals', 'workflow_approval', p_writable => false);
SELECT coditect_internal.register_state_machine('coditect.workflow_approvals', 'workflow_approval');
SELECT coditect_internal.register_resource('coditect.workflow_approval_states', 'workflow_approval',
    p_plural => 'workflow_approvals', p_path => '/api/v1/workflow-approvals/',
    p_roles => '{"view": "guest"}', p_mechanisms => false, p_rls_table => 'coditect.workflow_approvals',
    p_filters => '{"execution_id": ["exact"], "step_id": ["exact"], "approver_id": ["exact", "isnull"],
                   "status": ["exact", "in"], "expires_at": ["gte", "lt"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,expires_at}');

-- Publishing: the draft becomes the active version (the state machine stamps published_at).
CREATE FUNCTION coditect.workflow_publish(p_id uuid) RETURNS jsonb
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect.api_workflows_update(p_id, '{"status": "active"}')
$$;
-- The next version: a draft copying the workflow's latest version, to edit and publish. As the
-- owner (a client may not name a lineage), for the request's tenant.
CREATE FUNCTION coditect_internal.workflow_new_version_as(p_id uuid) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    src coditect.workflows;
    id  uuid;
BEGIN
    PERFORM coditect.require_permission('workflow.create');
    SELECT l.* INTO src FROM coditect.workflows w
      JOIN coditect.workflows l ON l.tenant_id = w.tenant_id AND l.lineage_id = w.lineage_id
     WHERE w.tenant_id = v_tenant AND w.id = p_id
     ORDER BY l.version DESC LIMIT 1;
    -- (tenant_id is the context's: this owner-rights code writes no other tenant's rows.)
    IF src.id IS NULL THEN
        RAISE EXCEPTION 'workflow % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    IF src.status = 'draft' THEN
        RAISE EXCEPTION 'version % of this workflow is a draft already: edit it (id %)', src.version, src.id USING ERRCODE = 'CD409';
    END IF;
    INSERT INTO coditect.workflows (tenant_id, lineage_id, project_id, name, description, workflow_type, definition,
                                    triggers, approval_expiry_hours, created_by)
    VALUES (src.tenant_id, src.lineage_id, src.project_id, src.name, src.description, src.workflow_type, src.definition,
            src.triggers, src.approval_expiry_hours, coditect.current_user_id())
    RETURNING workflows.id INTO id;
    RETURN id;
END
$$;

-- The actions that move an execution or make a version: the engine (owner rights) does the
-- work and answers the row's id; the catalog writes the invoker function of each (p_as), which
-- answers the row through the generated get, under the caller's row-level security.
SELECT coditect_internal.register_action('workflow', 'publish', 'coditect.workflow_publish(uuid)',
    'POST', '/api/v1/workflows/{id}/publish/', '[{"from": "path", "name": "id"}]',
    p_permission => 'workflow.update', p_response => '{"resource": "workflow"}',
    p_summary => 'Publish a draft: it becomes the active version (immutable) and the previous active one is archived');
SELECT coditect_internal.register_action('workflow', 'new_version', 'coditect.workflow_new_version(uuid)',
    'POST', '/api/v1/workflows/{id}/versions/', '[{"from": "path", "name": "id"}]',
    p_permission => 'workflow.create', p_as => 'coditect_internal.workflow_new_version_as(uuid)', p_status => 201,
    p_summary => 'Make the next version of a workflow: a draft copying its latest version');
SELECT coditect_internal.register_action('workflow', 'start', 'coditect.workflow_start(uuid, jsonb)',
    'POST', '/api/v1/workflows/{id}/start/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "context"}]',
    p_min_role => 'member', p_as => 'coditect_internal.workflow_start_manual(uuid, jsonb)',
    p_answers => 'workflow_execution', p_status => 201,
    p_summary => 'Start the active version of a workflow by hand, with a context object');
SELECT coditect_internal.register_action('workflow', 'rotate_secret', 'coditect.workflow_rotate_secret(uuid)',
    'POST', '/api/v1/workflows/{id}/webhook-secret/', '[{"from": "path", "name": "id"}]',
    p_min_role => 'admin', p_secret => true,
    p_summary => 'A new secret for the workflow''s webhook trigger and signed notifications (shown once)');
SELECT coditect_internal.register_action('workflow', 'webhook', 'coditect.workflow_webhook(uuid, text, bytea)',
    'POST', '/api/v1/workflows/{id}/webhook/',
    '[{"from": "path", "name": "id"}, {"from": "header", "name": "Coditect-Signature"}, {"from": "body_octets"}]',
    p_auth => 'none', p_status => 201,
    p_response => '{"null_answer": {"status": 404, "detail": "workflow not found"}}',
    p_summary => 'Start a workflow from a signed webhook (no login; Coditect-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>)');
SELECT coditect_internal.register_action('workflow_execution', 'complete_step', 'coditect.workflow_complete_step(uuid, text, jsonb)',
    'POST', '/api/v1/workflow-executions/{id}/complete/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "step", "required": true}, {"from": "body_field", "name": "output"}]',
    p_min_role => 'member', p_as => 'coditect_internal.workflow_complete_step_as(uuid, text, jsonb)',
    p_summary => 'Complete the task step the execution waits at (step: its node id), with an output object');
SELECT coditect_internal.register_action('workflow_execution', 'cancel', 'coditect.workflow_cancel(uuid)',
    'POST', '/api/v1/workflow-executions/{id}/cancel/', '[{"from": "path", "name": "id"}]',
    p_min_role => 'member', p_as => 'coditect_internal.workflow_cancel_as(uuid)',
    p_summary => 'Cancel a running execution (who started it, or an admin)');
SELECT coditect_internal.register_action('workflow_approval', 'decide', 'coditect.workflow_decide(uuid, text, text)',
    'POST', '/api/v1/workflow-approvals/{id}/decide/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "decision", "required": true},
      {"from": "body_field", "name": "comment"}]',
    p_min_role => 'guest', p_as => 'coditect_internal.workflow_decide_as(uuid, text, text)',
    p_summary => 'Approve or reject (decision: approved | rejected); only an approver of the step, once');
GRANT EXECUTE ON FUNCTION coditect_internal.workflow_event_resource_type(text) TO coditect_gateway, coditect_service;
