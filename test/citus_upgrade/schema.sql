-- The first step of the test-only update of scripts/citus_upgrade_test.sh (versions after the
-- current one, never released), written by the rules for update scripts on Citus (README,
-- Running on Citus, Upgrading the extension): the schema, on every node. The script adds before
-- this the \echo guard and a CREATE OR REPLACE of coditect_internal.check_board_columns that
-- allows column names of 200 characters instead of 100 (a function the boards' CHECK runs on
-- the shards). The catalog's rows are the second step (catalog.sql).

-- A function every node defines for itself (Citus carries no function of an extension script):
-- a plain statement, run on the coordinator and again on every worker.
CREATE FUNCTION coditect_internal.board_color_normalize() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.color := lower(NEW.color);
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.board_color_normalize() FROM PUBLIC;

-- A new column with a default, an index leading with tenant_id, a trigger (calling the function
-- above) and a changed policy on a distributed table: every node applies them to its own table
-- and the shards it holds (coditect_internal.alter_table).
SELECT coditect_internal.alter_table('coditect.boards',
    $$ALTER TABLE coditect.boards ADD COLUMN color text NOT NULL DEFAULT 'slate'
          CONSTRAINT boards_color_check CHECK (color ~ '^[a-z]{1,20}$')$$,
    $$CREATE INDEX boards_tenant_color_idx ON coditect.boards (tenant_id, color)$$,
    $$CREATE TRIGGER board_color_normalize BEFORE INSERT OR UPDATE OF color ON coditect.boards
          FOR EACH ROW EXECUTE FUNCTION coditect_internal.board_color_normalize()$$,
    $$ALTER TABLE coditect.boards ENABLE ALWAYS TRIGGER board_color_normalize$$,
    $$ALTER POLICY tenant_isolation ON coditect.boards
          USING (tenant_id = coditect.current_tenant_id() AND color <> 'hidden')
          WITH CHECK (tenant_id = coditect.current_tenant_id())$$);
-- A new column on a global catalog (a reference table): likewise, on every node's placement.
SELECT coditect_internal.alter_table('coditect.currencies',
    $$ALTER TABLE coditect.currencies ADD COLUMN symbol text$$);

-- A new tenant table: made by every node's run (Citus makes no table of an extension on the
-- workers; each node's extension owns its own); registered in the second step, distributed by
-- coditect.distribute() after the update.
CREATE TABLE coditect.board_labels (
    tenant_id  uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    board_id   uuid NOT NULL,
    name       varchar(100) NOT NULL CHECK (name ~ '\S'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, board_id) REFERENCES coditect.boards (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX board_labels_tenant_board_idx ON coditect.board_labels (tenant_id, board_id, created_at);
