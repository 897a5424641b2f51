-- 30_pm: project management: sprints, milestones and tasks, their rules, task numbers and keys,
-- the task actions and a project's tasks_count (issue 9). Comments are in 32_task_comments.sql,
-- the activity feed in 34_task_activity.sql, boards in 36_boards.sql.

CREATE TYPE coditect.task_type AS ENUM ('task', 'bug', 'feature', 'epic');
CREATE TYPE coditect.task_status AS ENUM ('backlog', 'todo', 'in_progress', 'in_review', 'done', 'cancelled');
COMMENT ON TYPE coditect.task_status IS
    'backlog -> todo -> in_progress -> in_review -> done; cancelled from any open state; done and cancelled reopen to todo.';
CREATE TYPE coditect.task_priority AS ENUM ('low', 'medium', 'high', 'urgent');
CREATE TYPE coditect.sprint_status AS ENUM ('planned', 'active', 'completed', 'cancelled');
CREATE TYPE coditect.milestone_status AS ENUM ('open', 'in_progress', 'completed', 'cancelled');

------------------------------------------------------------------------------------------------
-- Sprints
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.sprints (
    tenant_id    uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    project_id   uuid NOT NULL,
    name         varchar(255) NOT NULL CHECK (name ~ '\S'),
    goal         text NOT NULL DEFAULT '',
    status       coditect.sprint_status NOT NULL DEFAULT 'planned',
    start_date   date NOT NULL,
    end_date     date NOT NULL,
    completed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    -- The target of tasks' (tenant, project, sprint): a task's sprint is of its project.
    CONSTRAINT sprints_tenant_project_id_key UNIQUE (tenant_id, project_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT sprints_end_after_start CHECK (end_date > start_date),
    -- Half-open ranges: a sprint may start on the day the previous one ends. Cancelled and
    -- deleted sprints take no dates.
    CONSTRAINT sprints_no_overlap EXCLUDE USING gist (
        tenant_id WITH =, project_id WITH =, daterange(start_date, end_date) WITH &&)
        WHERE (deleted_at IS NULL AND status <> 'cancelled')
);
CREATE UNIQUE INDEX sprints_one_active_key ON coditect.sprints (tenant_id, project_id)
    WHERE status = 'active' AND deleted_at IS NULL;
CREATE UNIQUE INDEX sprints_tenant_project_name_key ON coditect.sprints (tenant_id, project_id, name)
    WHERE deleted_at IS NULL;
CREATE INDEX sprints_project_status_idx ON coditect.sprints (tenant_id, project_id, status);
CREATE INDEX sprints_dates_idx ON coditect.sprints (tenant_id, start_date, end_date);

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('sprint', NULL,      'planned',   NULL),
    ('sprint', 'planned', 'active',    NULL),
    ('sprint', 'planned', 'cancelled', NULL),
    ('sprint', 'active',  'completed', 'completed_at'),
    ('sprint', 'active',  'cancelled', NULL);

------------------------------------------------------------------------------------------------
-- Milestones
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.milestones (
    tenant_id        uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    project_id       uuid NOT NULL,
    title            varchar(255) NOT NULL CHECK (title ~ '\S'),
    description      text NOT NULL DEFAULT '',
    status           coditect.milestone_status NOT NULL DEFAULT 'open',
    due_date         date,
    progress_percent integer NOT NULL DEFAULT 0 CHECK (progress_percent BETWEEN 0 AND 100),
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT milestones_tenant_project_id_key UNIQUE (tenant_id, project_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON COLUMN coditect.milestones.progress_percent IS
    'Done tasks over all non-cancelled live tasks of the milestone, in percent; kept by the database.';
CREATE UNIQUE INDEX milestones_tenant_project_title_key ON coditect.milestones (tenant_id, project_id, title)
    WHERE deleted_at IS NULL;
CREATE INDEX milestones_project_status_idx ON coditect.milestones (tenant_id, project_id, status);
CREATE INDEX milestones_due_date_idx ON coditect.milestones (tenant_id, due_date);

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('milestone', NULL,          'open',        NULL),
    ('milestone', 'open',        'in_progress', NULL),
    ('milestone', 'open',        'completed',   'completed_at'),
    ('milestone', 'in_progress', 'completed',   'completed_at'),
    ('milestone', 'open',        'cancelled',   NULL),
    ('milestone', 'in_progress', 'cancelled',   NULL),
    ('milestone', 'completed',   'in_progress', NULL);

------------------------------------------------------------------------------------------------
-- Tasks
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.tasks (
    tenant_id      uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    project_id     uuid NOT NULL,
    number         integer NOT NULL,      -- per project, from 1, given by the database
    key            varchar(21),           -- <project key>-<number> when the project has a key
    title          varchar(500) NOT NULL CHECK (title ~ '\S'),
    description    text NOT NULL DEFAULT '',
    task_type      coditect.task_type NOT NULL DEFAULT 'task',
    status         coditect.task_status NOT NULL DEFAULT 'backlog',
    priority       coditect.task_priority NOT NULL DEFAULT 'medium',
    assignee_id    uuid,
    reporter_id    uuid DEFAULT coditect.current_user_id(),
    sprint_id      uuid,
    milestone_id   uuid,
    parent_task_id uuid,
    -- Enforced, not advisory: estimates off the scale are a data error a board cannot sum.
    story_points   integer CHECK (story_points IN (1, 2, 3, 5, 8, 13, 21, 34, 55, 89)),
    due_date       timestamptz,
    started_at     timestamptz,
    completed_at   timestamptz,
    tags           coditect.json_array NOT NULL DEFAULT '[]'
                   CHECK (NOT jsonb_path_exists(tags, 'strict $[*] ? (@.type() != "string")')),  -- strict: no nested arrays
    custom_fields  coditect.json_object NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT tasks_tenant_project_id_key UNIQUE (tenant_id, project_id, id),
    CONSTRAINT tasks_project_number_key UNIQUE (tenant_id, project_id, number),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (tenant_id, reporter_id) REFERENCES coditect.users (tenant_id, id),
    -- With the project in the key, a sprint, milestone or parent of another project is refused.
    FOREIGN KEY (tenant_id, project_id, sprint_id) REFERENCES coditect.sprints (tenant_id, project_id, id),
    FOREIGN KEY (tenant_id, project_id, milestone_id) REFERENCES coditect.milestones (tenant_id, project_id, id),
    FOREIGN KEY (tenant_id, project_id, parent_task_id) REFERENCES coditect.tasks (tenant_id, project_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.tasks', '{tenant_id,assignee_id}', '{assignee_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.tasks', '{tenant_id,reporter_id}', '{reporter_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.tasks', '{tenant_id,project_id,sprint_id}', '{sprint_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.tasks', '{tenant_id,project_id,milestone_id}', '{milestone_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.tasks', '{tenant_id,project_id,parent_task_id}', '{parent_task_id}');
CREATE UNIQUE INDEX tasks_tenant_key_key ON coditect.tasks (tenant_id, key);
-- A project's tasks of a status, newest first (the board's and the list's common call): the page
-- is read in index order and the count needs no sort; the seeds' (project, status) is its prefix.
CREATE INDEX tasks_project_status_idx ON coditect.tasks (tenant_id, project_id, status, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX tasks_assignee_idx ON coditect.tasks (tenant_id, assignee_id);
CREATE INDEX tasks_sprint_idx ON coditect.tasks (tenant_id, sprint_id);
CREATE INDEX tasks_milestone_idx ON coditect.tasks (tenant_id, milestone_id);
CREATE INDEX tasks_parent_idx ON coditect.tasks (tenant_id, parent_task_id);
CREATE INDEX tasks_due_date_idx ON coditect.tasks (tenant_id, due_date);
CREATE INDEX tasks_tenant_created_idx ON coditect.tasks (tenant_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('task', NULL,          'backlog',     NULL),
    ('task', NULL,          'todo',        NULL),
    ('task', 'backlog',     'todo',        NULL),
    ('task', 'todo',        'backlog',     NULL),
    ('task', 'todo',        'in_progress', 'started_at'),
    ('task', 'in_progress', 'todo',        NULL),
    ('task', 'in_progress', 'in_review',   NULL),
    ('task', 'in_review',   'in_progress', NULL),
    ('task', 'in_review',   'done',        'completed_at'),
    ('task', 'backlog',     'cancelled',   NULL),
    ('task', 'todo',        'cancelled',   NULL),
    ('task', 'in_progress', 'cancelled',   NULL),
    ('task', 'in_review',   'cancelled',   NULL),
    ('task', 'done',        'todo',        NULL),
    ('task', 'cancelled',   'todo',        NULL);

-- The last task number of each project. A new task takes the next under the counter row's lock:
-- inserts into one project wait for each other only there (no table lock), and a rolled-back
-- insert gives its number back, so numbers have no gaps.
CREATE TABLE coditect_internal.task_counters (
    tenant_id   uuid NOT NULL,
    project_id  uuid NOT NULL,
    last_number integer NOT NULL,
    PRIMARY KEY (tenant_id, project_id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id) ON DELETE CASCADE
);
REVOKE ALL ON coditect_internal.task_counters FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.task_counters', '');

-- BEFORE INSERT OR UPDATE OF project_id, number, key: a task's number and key are given once by
-- the database; a task stays in its project. Runs as the owner, the counters' only user.
CREATE FUNCTION coditect_internal.number_task() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- A row for another tenant than the context's is the policy's to refuse (it checks before
    -- the constraints): this owner-rights code does not touch that tenant's rows first.
    IF coditect.current_tenant_id() IS NOT NULL AND NEW.tenant_id IS DISTINCT FROM coditect.current_tenant_id() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.project_id, NEW.number, NEW.key) IS DISTINCT FROM (OLD.project_id, OLD.number, OLD.key) THEN
            RAISE EXCEPTION 'a task keeps its project, number and key' USING ERRCODE = 'CD422';
        END IF;
        RETURN NEW;
    END IF;
    INSERT INTO coditect_internal.task_counters AS c (tenant_id, project_id, last_number)
    VALUES (NEW.tenant_id, NEW.project_id, 1)
    ON CONFLICT (tenant_id, project_id) DO UPDATE SET last_number = c.last_number + 1
    RETURNING last_number INTO NEW.number;
    NEW.key := (SELECT p.key FROM coditect.projects p WHERE p.tenant_id = NEW.tenant_id AND p.id = NEW.project_id)
               || '-' || NEW.number;
    RETURN NEW;
END
$$;

-- BEFORE INSERT OR UPDATE OF parent_task_id: at most three levels (a task, its subtask and that
-- one's), and no task its own ancestor. The project row is locked first, so two moves in one
-- project cannot together make a cycle or a fourth level.
CREATE FUNCTION coditect_internal.check_task_hierarchy() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    above  int;      -- levels from NEW's parent up to its root, the parent included
    below  int;      -- levels of NEW's subtree, NEW included
    cyclic boolean;
BEGIN
    IF NEW.parent_task_id IS NULL
       OR (coditect.current_tenant_id() IS NOT NULL AND NEW.tenant_id IS DISTINCT FROM coditect.current_tenant_id()) THEN
        RETURN NEW;  -- another tenant's row: the policy refuses it
    END IF;
    PERFORM 1 FROM coditect.projects WHERE tenant_id = NEW.tenant_id AND id = NEW.project_id FOR NO KEY UPDATE;
    IF NEW.parent_task_id = NEW.id THEN
        RAISE EXCEPTION 'a task cannot be its own parent' USING ERRCODE = 'CD422';
    END IF;
    WITH RECURSIVE up (id, parent, depth, path) AS (
        SELECT t.id, t.parent_task_id, 1, ARRAY[t.id] FROM coditect.tasks t
         WHERE t.tenant_id = NEW.tenant_id AND t.id = NEW.parent_task_id
        UNION ALL
        SELECT t.id, t.parent_task_id, u.depth + 1, u.path || t.id FROM up u
          JOIN coditect.tasks t ON t.tenant_id = NEW.tenant_id AND t.id = u.parent
         WHERE NOT t.id = ANY (u.path))
    SELECT max(depth), bool_or(id = NEW.id) INTO above, cyclic FROM up;
    IF cyclic THEN
        RAISE EXCEPTION 'a task cannot be moved under its own subtask' USING ERRCODE = 'CD422';
    END IF;
    WITH RECURSIVE down (id, depth) AS (
        SELECT NEW.id, 1
        UNION ALL
        SELECT t.id, d.depth + 1 FROM down d
          JOIN coditect.tasks t ON t.tenant_id = NEW.tenant_id AND t.parent_task_id = d.id
         WHERE d.depth < 4)
    SELECT max(depth) INTO below FROM down;
    IF above + below > 3 THEN
        RAISE EXCEPTION 'subtasks go at most 3 levels deep (this would make %)', above + below
            USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;

-- BEFORE UPDATE OF status: a reopened task is no longer complete.
CREATE FUNCTION coditect_internal.reopen_task() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.status IN ('done', 'cancelled') AND NEW.status NOT IN ('done', 'cancelled') THEN
        NEW.completed_at := NULL;
    END IF;
    RETURN NEW;
END
$$;

-- AFTER a task change: the progress of the milestones it left and joined. Runs as the owner:
-- clients hold no privilege on progress_percent.
CREATE FUNCTION coditect_internal.update_milestone_progress() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ms uuid;
    tenant uuid := coalesce(NEW.tenant_id, OLD.tenant_id);
BEGIN
    FOR ms IN SELECT DISTINCT m FROM unnest(ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.milestone_id END,
                                                  CASE WHEN TG_OP <> 'DELETE' THEN NEW.milestone_id END]) m
               WHERE m IS NOT NULL LOOP
        UPDATE coditect.milestones m
           SET progress_percent = coalesce((
               SELECT round(100.0 * count(*) FILTER (WHERE t.status = 'done')
                            / nullif(count(*) FILTER (WHERE t.status <> 'cancelled'), 0))
                 FROM coditect.tasks t
                WHERE t.tenant_id = tenant AND t.milestone_id = ms AND t.deleted_at IS NULL), 0)
         WHERE m.tenant_id = tenant AND m.id = ms;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER number_task BEFORE INSERT OR UPDATE OF project_id, number, key ON coditect.tasks
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.number_task();
CREATE TRIGGER check_task_hierarchy BEFORE INSERT OR UPDATE OF parent_task_id ON coditect.tasks
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.check_task_hierarchy();
CREATE TRIGGER reopen_task BEFORE UPDATE OF status ON coditect.tasks
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.reopen_task();
CREATE TRIGGER update_milestone_progress
    AFTER INSERT OR UPDATE OF status, milestone_id, deleted_at OR DELETE ON coditect.tasks
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.update_milestone_progress();
ALTER TABLE coditect.tasks ENABLE ALWAYS TRIGGER number_task, ENABLE ALWAYS TRIGGER check_task_hierarchy, ENABLE ALWAYS TRIGGER reopen_task,
    ENABLE ALWAYS TRIGGER update_milestone_progress;

------------------------------------------------------------------------------------------------
-- Resources
------------------------------------------------------------------------------------------------

SELECT coditect_internal.register_resource('coditect.sprints', 'sprint', p_state_machine => 'sprint',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin", "restore": "admin"}',
    p_create => '{project_id,name,goal,start_date,end_date}',
    p_update => '{name,goal,status,start_date,end_date}',
    p_filters => '{"project_id": ["exact"], "status": ["exact", "in"], "start_date": ["gte", "lt"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,start_date,name}', p_default_ordering => '-start_date',
    p_example => '{"name": "Sprint 12", "goal": "Ship the board view", "start_date": "2026-12-01", "end_date": "2026-12-15"}');

SELECT coditect_internal.register_resource('coditect.milestones', 'milestone', p_state_machine => 'milestone',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin", "restore": "admin"}',
    p_create => '{project_id,title,description,due_date}',
    p_update => '{title,description,status,due_date}',
    p_filters => '{"project_id": ["exact"], "status": ["exact", "in"], "due_date": ["gte", "lt", "isnull"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,title}', p_audit_exclude => '{progress_percent}',
    p_example => '{"title": "Public beta", "due_date": "2027-03-31"}');
-- progress_percent is the trigger's alone (on insert: protect_insert_columns, 00_base).
REVOKE INSERT, UPDATE ON coditect.milestones FROM coditect_gateway, coditect_service;
GRANT INSERT, UPDATE (project_id, title, description, status, due_date, completed_at, deleted_at)
    ON coditect.milestones TO coditect_gateway, coditect_service;
SELECT coditect_internal.protect_insert_columns('coditect.milestones', '{progress_percent}');

SELECT coditect_internal.register_resource('coditect.tasks', 'task', p_state_machine => 'task',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "admin", "restore": "admin"}',
    p_create => '{project_id,title,description,task_type,status,priority,assignee_id,sprint_id,milestone_id,parent_task_id,story_points,due_date,tags,custom_fields}',
    p_update => '{title,description,task_type,status,priority,assignee_id,sprint_id,milestone_id,parent_task_id,story_points,due_date,tags,custom_fields}',
    p_filters => '{"project_id": ["exact"], "key": ["exact", "in"], "status": ["exact", "in"], "priority": ["exact", "in"], "task_type": ["exact", "in"],
                   "assignee_id": ["exact", "isnull"], "sprint_id": ["exact", "isnull"], "milestone_id": ["exact", "isnull"],
                   "parent_task_id": ["exact", "isnull"], "due_date": ["gte", "lt", "isnull"], "tags": ["contains"],
                   "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,updated_at,priority,status,title,number}', p_search => '{title,description}',
    p_also_under => '{"project": "project_id"}',
    p_example => '{"title": "Board view groups tasks by column", "task_type": "feature", "priority": "high",
                   "story_points": 5, "tags": ["frontend"]}');

-- Actions: a status change with the refusal naming the allowed targets (the state machine's
-- CD422), and a move to a sprint of the task's project (NULL: out of any sprint).
CREATE FUNCTION coditect.task_transition(p_id uuid, p_status coditect.task_status) RETURNS jsonb
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect.api_tasks_update(p_id, jsonb_build_object('status', p_status))
$$;
CREATE FUNCTION coditect.task_move_to_sprint(p_id uuid, p_sprint_id uuid) RETURNS jsonb
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect.api_tasks_update(p_id, jsonb_build_object('sprint_id', p_sprint_id))
$$;
SELECT coditect_internal.register_action('task', 'transition', 'coditect.task_transition(uuid, coditect.task_status)',
    'POST', '/api/v1/tasks/{id}/transition/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "status", "required": true}]',
    p_permission => 'task.update', p_response => '{"resource": "task"}',
    p_summary => 'Move a task to another status (422 names the allowed ones)');
SELECT coditect_internal.register_action('task', 'move_to_sprint', 'coditect.task_move_to_sprint(uuid, uuid)',
    'POST', '/api/v1/tasks/{id}/sprint/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "sprint_id", "required": true}]',
    p_permission => 'task.update', p_response => '{"resource": "task"}',
    p_summary => 'Put a task in a sprint of its project (sprint_id null: out of the sprint)');


-- Detail answers of projects carry tasks_count (the seeds' frontend contract): the live tasks,
-- subtasks and cancelled ones included, counted under the caller's row-level security.
-- PL/pgSQL, not SQL: Citus cannot route a SQL function's statement on its parameters.
CREATE FUNCTION coditect_internal.project_tasks_count(p coditect.projects) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT count(*) FROM coditect.tasks t
             WHERE t.tenant_id OPERATOR(pg_catalog.=) p.tenant_id AND t.project_id OPERATOR(pg_catalog.=) p.id
               AND t.deleted_at IS NULL);
END
$$;
COMMENT ON FUNCTION coditect_internal.project_tasks_count(coditect.projects) IS
    'The project''s live tasks (subtasks and cancelled ones included).';
SELECT coditect_internal.register_computed_field('project', 'tasks_count',
    'coditect_internal.project_tasks_count(coditect.projects)');
