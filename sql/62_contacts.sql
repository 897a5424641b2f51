-- 62_contacts: addresses, phone numbers and e-mail addresses of an entity (a tenant, user,
-- team or project), the seeds' polymorphic (entity_type, entity_id). The database checks the
-- reference with real foreign keys: each contact table has, per declared entity type, a
-- generated column holding entity_id when entity_type is that type, with a foreign key (tenant
-- included) ON DELETE CASCADE. Deleting an entity deletes its contacts; another tenant's entity
-- cannot be named. Both are declared once per entity type (declare_contact_entity) and once per
-- contact table (declare_contact_table), never written by hand per pair.

CREATE TYPE coditect.address_type AS ENUM ('billing', 'shipping', 'office', 'home');
COMMENT ON TYPE coditect.address_type IS 'What an address is for.';
CREATE TYPE coditect.phone_type AS ENUM ('work', 'mobile', 'home', 'fax');
COMMENT ON TYPE coditect.phone_type IS 'What a phone number is.';
CREATE TYPE coditect.email_type AS ENUM ('work', 'personal', 'notification');
COMMENT ON TYPE coditect.email_type IS 'What an e-mail address is for.';

-- The entity types contacts may name, and the contact tables.
CREATE TABLE coditect_internal.contact_entity_types (
    entity_type varchar(50) PRIMARY KEY CHECK (entity_type ~ '^[a-z][a-z_]*$'),
    relid       regclass NOT NULL UNIQUE
);
CREATE TABLE coditect_internal.contact_tables (
    relid regclass PRIMARY KEY
);
REVOKE ALL ON coditect_internal.contact_entity_types, coditect_internal.contact_tables FROM PUBLIC;
-- guard_contact runs as the writer and looks the entity's table up here.
GRANT SELECT ON coditect_internal.contact_entity_types TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.addresses (
    tenant_id     uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    entity_type   varchar(50) NOT NULL REFERENCES coditect_internal.contact_entity_types (entity_type),
    entity_id     uuid NOT NULL,
    address_type  coditect.address_type NOT NULL,
    label         varchar(100),
    full_name     varchar(255),
    company_name  varchar(255),
    address_line1 varchar(255) NOT NULL CHECK (address_line1 ~ '\S'),
    address_line2 varchar(255),
    city          varchar(100) NOT NULL CHECK (city ~ '\S'),
    state_code    varchar(6),
    postal_code   varchar(20) NOT NULL DEFAULT '',
    country_code  varchar(2) NOT NULL REFERENCES coditect.countries (alpha_2),
    latitude      numeric(9, 6) CHECK (latitude BETWEEN -90 AND 90),
    longitude     numeric(9, 6) CHECK (longitude BETWEEN -180 AND 180),
    -- A billing address's phone (the seeds' BillingAddress.phone): E.164, read as dialled in
    -- country_code (a_normalize_address_phone).
    phone         varchar(16) CHECK (phone ~ '^\+[1-9][0-9]{1,14}$'),
    is_default    boolean NOT NULL DEFAULT false,
    is_verified   boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- The subdivision, when given, is one of the country's (ISO 3166-2).
    FOREIGN KEY (country_code, state_code) REFERENCES coditect.subdivisions (country_code, code)
);
CREATE INDEX addresses_entity_idx ON coditect.addresses (tenant_id, entity_type, entity_id);
CREATE INDEX addresses_tenant_created_idx ON coditect.addresses (tenant_id, created_at DESC, id DESC);
-- One default address of each address type per entity: for the tenant itself (entity_id is
-- tenant_id), one default billing address per tenant, which checkout falls back on.
CREATE UNIQUE INDEX addresses_one_default ON coditect.addresses (tenant_id, entity_type, entity_id, address_type)
    WHERE is_default;
COMMENT ON COLUMN coditect.addresses.state_code IS 'ISO 3166-2 subdivision of country_code (US-CA), if any.';

CREATE TABLE coditect.phone_numbers (
    tenant_id    uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    entity_type  varchar(50) NOT NULL REFERENCES coditect_internal.contact_entity_types (entity_type),
    entity_id    uuid NOT NULL,
    phone_type   coditect.phone_type NOT NULL,
    label        varchar(100),
    region_code  varchar(2) NOT NULL REFERENCES coditect.countries (alpha_2),
    country_code varchar(5) NOT NULL DEFAULT '' CHECK (country_code ~ '^(\+[1-9][0-9]{0,3})?$'),
    phone_number varchar(50) NOT NULL CHECK (phone_number ~ '^\+[1-9][0-9]{1,14}$'),
    extension    varchar(20) CHECK (extension ~ '^[0-9]{1,20}$'),
    is_default   boolean NOT NULL DEFAULT false,
    is_verified  boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX phone_numbers_entity_idx ON coditect.phone_numbers (tenant_id, entity_type, entity_id);
CREATE INDEX phone_numbers_tenant_created_idx ON coditect.phone_numbers (tenant_id, created_at DESC, id DESC);
-- One default phone number per entity.
CREATE UNIQUE INDEX phone_numbers_one_default ON coditect.phone_numbers (tenant_id, entity_type, entity_id)
    WHERE is_default;
COMMENT ON COLUMN coditect.phone_numbers.region_code IS
    'The ISO 3166-1 country the number belongs to; a national form is read as dialled there.';
COMMENT ON COLUMN coditect.phone_numbers.phone_number IS
    'E.164 (+442079460958), normalized from what the client sent by libphonenumber.';
COMMENT ON COLUMN coditect.phone_numbers.country_code IS 'The calling code (+44), from the number.';

CREATE TABLE coditect.email_addresses (
    tenant_id   uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    entity_type varchar(50) NOT NULL REFERENCES coditect_internal.contact_entity_types (entity_type),
    entity_id   uuid NOT NULL,
    email_type  coditect.email_type NOT NULL,
    label       varchar(100),
    email       coditect.email NOT NULL,
    is_default  boolean NOT NULL DEFAULT false,
    is_verified boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX email_addresses_tenant_created_idx ON coditect.email_addresses (tenant_id, created_at DESC, id DESC);
CREATE INDEX email_addresses_email_idx ON coditect.email_addresses (tenant_id, lower(email));
-- An address once per entity, whatever its case; one default per entity.
CREATE UNIQUE INDEX email_addresses_entity_email_key
    ON coditect.email_addresses (tenant_id, entity_type, entity_id, lower(email));
CREATE UNIQUE INDEX email_addresses_one_default ON coditect.email_addresses (tenant_id, entity_type, entity_id)
    WHERE is_default;

------------------------------------------------------------------------------------------------
-- The polymorphic reference, declared once per entity type and once per contact table
------------------------------------------------------------------------------------------------

-- Links one contact table to one entity type: the column ref_<type> (entity_id when
-- entity_type is <type>), its foreign key to the entity ON DELETE CASCADE (the tenant in it),
-- and the index the cascade looks rows up by. For the tenant itself, no key but a CHECK that it
-- is the row's tenant: tenant_id's own key then guarantees it exists and cascades, and Citus
-- refuses a key from ref_tenant (not the distribution column) to tenants (id).
CREATE FUNCTION coditect_internal.link_contact_entity(p_contacts regclass, p_type text, p_entity regclass)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col  text := 'ref_' || p_type;
    tbl  text := (SELECT c.relname FROM pg_class c WHERE c.oid = p_contacts);
    tenanted boolean := EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = p_entity
                                   AND a.attname = 'tenant_id' AND NOT a.attisdropped);
BEGIN
    EXECUTE format('ALTER TABLE %s ADD COLUMN %I uuid GENERATED ALWAYS AS '
                   '(CASE WHEN entity_type = %L THEN entity_id END) STORED', p_contacts, col, p_type);
    IF tenanted THEN
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I FOREIGN KEY (tenant_id, %I) REFERENCES %s (tenant_id, id) '
                       'ON DELETE CASCADE', p_contacts, tbl || '_' || col || '_fkey', col, p_entity);
        EXECUTE format('CREATE INDEX %I ON %s (tenant_id, %I) WHERE %I IS NOT NULL', tbl || '_' || col || '_idx',
                       p_contacts, col, col);
    ELSE
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (%I IS NULL OR %I = tenant_id)',
                       p_contacts, tbl || '_' || col || '_own_tenant', col, col);
    END IF;
    -- Internal: hidden from the API (a declaration after the resource's regenerates it).
    IF EXISTS (SELECT 1 FROM coditect_internal.resources r WHERE r.relid = p_contacts) THEN
        INSERT INTO coditect_internal.resource_columns (resource, column_name, readable, on_create, on_update)
        SELECT r.name, col, false, false, false FROM coditect_internal.resources r WHERE r.relid = p_contacts;
        PERFORM coditect_internal.generate_resource_functions(r.name)
           FROM coditect_internal.resources r WHERE r.relid = p_contacts;
    END IF;
END
$$;

-- An entity type contacts may name: its table (keyed by (tenant_id, id), or the tenants table).
CREATE FUNCTION coditect_internal.declare_contact_entity(p_type text, p_entity regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO coditect_internal.contact_entity_types (entity_type, relid) VALUES (p_type, p_entity);
    PERFORM coditect_internal.link_contact_entity(c.relid, p_type, p_entity) FROM coditect_internal.contact_tables c;
END
$$;

-- A table of contacts (tenant_id, entity_type, entity_id, is_verified): linked to every
-- declared entity type, guarded by guard_contact.
CREATE FUNCTION coditect_internal.declare_contact_table(p_contacts regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO coditect_internal.contact_tables (relid) VALUES (p_contacts);
    PERFORM coditect_internal.link_contact_entity(p_contacts, e.entity_type, e.relid)
       FROM coditect_internal.contact_entity_types e;
    EXECUTE format('CREATE TRIGGER guard_contact BEFORE INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_contact()', p_contacts);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER guard_contact', p_contacts);
END
$$;

-- The rules of every contact row, for every writer:
--   - the entity exists, live, in the row's tenant (the foreign key is the race-proof backstop;
--     this says which entity is missing, as a 422);
--   - in a request context, a user's contacts are that user's to write, everything else needs
--     contact.manage (administrators); a cascade from the entity's deletion passes;
--   - is_verified is set only by the service role (or the owner, who bypasses row-level
--     security); a changed address, number or e-mail is no longer verified.
CREATE FUNCTION coditect_internal.guard_contact() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me      uuid := coditect.current_user_id();
    ent     regclass;
    live    boolean;
    service boolean := pg_has_role(current_user, 'coditect_service', 'MEMBER') OR NOT row_security_active(TG_RELID);
    row_    jsonb := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
    old_    jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END;
    kept    text[] := ARRAY['is_verified', 'is_default', 'label', 'updated_at', 'created_at'];
BEGIN
    -- A row for another tenant than the context's: row-level security refuses it next.
    IF row_security_active(TG_RELID) AND (row_ ->> 'tenant_id')::uuid IS DISTINCT FROM coditect.current_tenant_id() THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    SELECT e.relid INTO ent FROM coditect_internal.contact_entity_types e WHERE e.entity_type = row_ ->> 'entity_type';
    IF ent IS NULL THEN
        RAISE EXCEPTION 'contacts belong to one of: % (not "%")',
            (SELECT string_agg(entity_type, ', ' ORDER BY entity_type) FROM coditect_internal.contact_entity_types),
            row_ ->> 'entity_type' USING ERRCODE = 'CD422';
    END IF;
    IF TG_OP <> 'DELETE' THEN
        EXECUTE format('SELECT %s FROM %s e WHERE e.id = $2%s',
                       CASE WHEN EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ent AND a.attname = 'deleted_at'
                                            AND NOT a.attisdropped) THEN 'e.deleted_at IS NULL' ELSE 'true' END,
                       ent,
                       CASE WHEN EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ent AND a.attname = 'tenant_id'
                                            AND NOT a.attisdropped) THEN ' AND e.tenant_id = $1' ELSE ' AND e.id = $1' END)
           INTO live USING (row_ ->> 'tenant_id')::uuid, (row_ ->> 'entity_id')::uuid;
        IF live IS NOT TRUE THEN
            RAISE EXCEPTION '% % not found in this tenant', row_ ->> 'entity_type', row_ ->> 'entity_id' USING ERRCODE = 'CD422';
        END IF;
    END IF;
    IF me IS NOT NULL AND NOT (row_ ->> 'entity_type' = 'user' AND (row_ ->> 'entity_id')::uuid = me
                               AND (old_ IS NULL OR (old_ ->> 'entity_type' = 'user' AND (old_ ->> 'entity_id')::uuid = me)))
       AND NOT coditect.has_permission('contact.manage') THEN
        IF TG_OP = 'DELETE' THEN
            -- The entity's own deletion cascades here: the entity is already gone.
            EXECUTE format('SELECT count(*) = 0 FROM %s e WHERE e.id = $1', ent) INTO live USING (row_ ->> 'entity_id')::uuid;
            IF live THEN
                RETURN OLD;
            END IF;
        END IF;
        RAISE EXCEPTION 'only administrators manage contacts other than their own user''s' USING ERRCODE = 'CD403';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF (row_ -> 'is_verified') IS DISTINCT FROM coalesce(old_ -> 'is_verified', 'false') AND NOT service THEN
        RAISE EXCEPTION 'only the service role sets is_verified' USING ERRCODE = 'CD403';
    END IF;
    -- What was verified is the contact itself: changing it clears the flag, unless the service
    -- sets both at once.
    -- (Generated columns, ref_*, are not computed yet in a BEFORE trigger: left out.)
    IF TG_OP = 'UPDATE' AND NEW.is_verified AND OLD.is_verified
       AND (SELECT jsonb_object_agg(k, v) FROM jsonb_each(row_) x(k, v) WHERE k <> ALL (kept) AND k NOT LIKE 'ref\_%')
           IS DISTINCT FROM
           (SELECT jsonb_object_agg(k, v) FROM jsonb_each(old_) x(k, v) WHERE k <> ALL (kept) AND k NOT LIKE 'ref\_%') THEN
        NEW.is_verified := false;
    END IF;
    RETURN NEW;
END
$$;

-- Phone numbers: E.164 from what the client typed, read as dialled in region_code.
CREATE FUNCTION coditect.phone_e164(p_number text, p_region text) RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_phone_e164' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION coditect.phone_e164(text, text) IS
    'A phone number in E.164 (libphonenumber), valid for the region (ISO 3166-1 alpha-2); CD422 otherwise.';
CREATE FUNCTION coditect.phone_calling_code(p_region text) RETURNS int
    AS 'MODULE_PATHNAME', 'coditect_phone_calling_code' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION coditect.phone_e164(text, text), coditect.phone_calling_code(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.phone_e164(text, text), coditect.phone_calling_code(text)
    TO coditect_gateway, coditect_service, coditect_analyst;

CREATE FUNCTION coditect_internal.normalize_phone_number() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.phone_number IS DISTINCT FROM OLD.phone_number
       OR NEW.region_code IS DISTINCT FROM OLD.region_code THEN
        NEW.phone_number := coditect.phone_e164(NEW.phone_number, NEW.region_code);
    END IF;
    NEW.country_code := '+' || coditect.phone_calling_code(NEW.region_code);
    RETURN NEW;
END
$$;
-- Named to run before guard_contact (alphabetical), which then sees the normalized number.
CREATE TRIGGER a_normalize_phone_number BEFORE INSERT OR UPDATE ON coditect.phone_numbers
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.normalize_phone_number();
ALTER TABLE coditect.phone_numbers ENABLE ALWAYS TRIGGER a_normalize_phone_number;

-- An address's phone in E.164, read as dialled in the address's country.
CREATE FUNCTION coditect_internal.normalize_address_phone() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.phone IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.phone IS DISTINCT FROM OLD.phone
                                  OR NEW.country_code IS DISTINCT FROM OLD.country_code) THEN
        NEW.phone := coditect.phone_e164(NEW.phone, NEW.country_code);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER a_normalize_address_phone BEFORE INSERT OR UPDATE ON coditect.addresses
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.normalize_address_phone();
ALTER TABLE coditect.addresses ENABLE ALWAYS TRIGGER a_normalize_address_phone;

-- E-mail addresses are stored with their domain in lower case (the local part is the mail
-- server's to interpret).
CREATE FUNCTION coditect_internal.normalize_email_address() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.email := split_part(NEW.email, '@', 1) || '@' || lower(substr(NEW.email, strpos(NEW.email, '@') + 1));
    RETURN NEW;
END
$$;
CREATE TRIGGER a_normalize_email_address BEFORE INSERT OR UPDATE OF email ON coditect.email_addresses
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.normalize_email_address();
ALTER TABLE coditect.email_addresses ENABLE ALWAYS TRIGGER a_normalize_email_address;

SELECT coditect_internal.declare_contact_table(t)
  FROM unnest('{coditect.addresses,coditect.phone_numbers,coditect.email_addresses}'::regclass[]) t;
SELECT coditect_internal.declare_contact_entity(e, t)
  FROM (VALUES ('tenant', 'coditect.tenants'::regclass), ('user', 'coditect.users'::regclass),
               ('team', 'coditect.teams'::regclass), ('project', 'coditect.projects'::regclass)) v(e, t);

------------------------------------------------------------------------------------------------
-- API
------------------------------------------------------------------------------------------------

SELECT coditect_internal.declare_permission('contact.manage', 'Manage the contacts of any entity', 'admin');

-- Members write their own user's contacts (guard_contact); administrators everyone's. Reads:
-- the read rule below.
SELECT coditect_internal.register_resource('coditect.addresses', 'address', p_plural => 'addresses',
    p_roles => '{"view": "member", "create": "member", "update": "member", "delete": "member"}',
    p_create => '{entity_type,entity_id,address_type,label,full_name,company_name,address_line1,address_line2,city,state_code,postal_code,country_code,latitude,longitude,phone,is_default}',
    p_update => '{address_type,label,full_name,company_name,address_line1,address_line2,city,state_code,postal_code,country_code,latitude,longitude,phone,is_default}',
    p_hidden => ARRAY(SELECT 'ref_' || entity_type FROM coditect_internal.contact_entity_types),
    p_filters => '{"entity_type": ["exact"], "entity_id": ["exact"], "address_type": ["exact", "in"],
                   "country_code": ["exact", "in"], "is_default": ["exact"], "is_verified": ["exact"],
                   "created_at": ["gte", "lt"]}',
    p_search => '{label,full_name,company_name,address_line1,city,postal_code}',
    p_example => '{"entity_type": "user", "address_type": "billing", "address_line1": "1 Market St",
                   "city": "San Francisco", "state_code": "US-CA", "postal_code": "94105", "country_code": "US"}');
SELECT coditect_internal.register_resource('coditect.phone_numbers', 'phone_number',
    p_roles => '{"view": "member", "create": "member", "update": "member", "delete": "member"}',
    p_create => '{entity_type,entity_id,phone_type,label,region_code,phone_number,extension,is_default}',
    p_update => '{phone_type,label,region_code,phone_number,extension,is_default}',
    p_hidden => ARRAY(SELECT 'ref_' || entity_type FROM coditect_internal.contact_entity_types),
    p_filters => '{"entity_type": ["exact"], "entity_id": ["exact"], "phone_type": ["exact", "in"],
                   "phone_number": ["exact"], "is_default": ["exact"], "is_verified": ["exact"],
                   "created_at": ["gte", "lt"]}',
    p_example => '{"entity_type": "user", "phone_type": "mobile", "region_code": "GB", "phone_number": "020 7946 0958"}');
SELECT coditect_internal.register_resource('coditect.email_addresses', 'email_address', p_plural => 'email_addresses',
    p_roles => '{"view": "member", "create": "member", "update": "member", "delete": "member"}',
    p_create => '{entity_type,entity_id,email_type,label,email,is_default}',
    p_update => '{email_type,label,email,is_default}',
    p_hidden => ARRAY(SELECT 'ref_' || entity_type FROM coditect_internal.contact_entity_types),
    p_filters => '{"entity_type": ["exact"], "entity_id": ["exact"], "email_type": ["exact", "in"],
                   "email": ["exact"], "is_default": ["exact"], "is_verified": ["exact"],
                   "created_at": ["gte", "lt"]}',
    p_example => '{"entity_type": "user", "email_type": "work", "email": "ada@example.com"}');

-- Who reads (the tenant policy first): a user's contacts are that user's and contact.manage's
-- (owners, administrators); the tenant's, teams' and projects' are every member's. A caller
-- without a user (a service, an analyst) reads the tenant's all.
SELECT coditect_internal.narrow_tenant_policy('coditect.addresses', 'SELECT',
    $$entity_type <> 'user' OR entity_id = coditect.current_user_id()
      OR coditect.current_user_id() IS NULL OR coditect.has_permission('contact.manage')$$);
SELECT coditect_internal.narrow_tenant_policy('coditect.phone_numbers', 'SELECT',
    $$entity_type <> 'user' OR entity_id = coditect.current_user_id()
      OR coditect.current_user_id() IS NULL OR coditect.has_permission('contact.manage')$$);
SELECT coditect_internal.narrow_tenant_policy('coditect.email_addresses', 'SELECT',
    $$entity_type <> 'user' OR entity_id = coditect.current_user_id()
      OR coditect.current_user_id() IS NULL OR coditect.has_permission('contact.manage')$$);
