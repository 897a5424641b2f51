-- 87_guest_carts: carts before sign-in (issue 12). A tenant's cart lives under the tenant's
-- row-level security, which a visitor without an account has not got. So a guest cart is kept
-- apart, in an owner-only table, and reached only through its token: 128 random bits shown once
-- to its maker (stored as their SHA-256, like the document shares' tokens), used as a capability
-- by SECURITY DEFINER functions that take nothing else. One token reaches one cart; an unknown,
-- expired or claimed token is not found. At sign-in the cart is claimed: its items move into a
-- cart of the user's tenant (priced anew), and the guest cart is gone.

CREATE TABLE coditect_internal.guest_carts (
    id         uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    token_hash varchar(64) NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    currency   varchar(3) REFERENCES coditect.currencies (code),
    -- [{"product_id": ..., "quantity": n}], at most 50 products.
    items      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(items) = 'array' AND jsonb_array_length(items) <= 50),
    expires_at timestamptz NOT NULL DEFAULT now() + coditect.cart_ttl(),  -- (84_orders: a cart's life)
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX guest_carts_expires_idx ON coditect_internal.guest_carts (expires_at);
REVOKE ALL ON coditect_internal.guest_carts FROM PUBLIC;
COMMENT ON TABLE coditect_internal.guest_carts IS
    'Carts of visitors before sign-in, reached only by their token (stored as its SHA-256); 24 hours after the last change.';

-- The live guest cart of a token, locked; NULL for any other token.
CREATE FUNCTION coditect_internal.guest_cart_of(p_token uuid) RETURNS coditect_internal.guest_carts
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT g.* FROM coditect_internal.guest_carts g
     WHERE g.token_hash = coditect_internal.share_token_hash(p_token) AND g.expires_at > now()
       FOR UPDATE
$$;

-- What a guest cart shows: its items with the products' current names and prices.
CREATE FUNCTION coditect_internal.guest_cart_json(g coditect_internal.guest_carts) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
    SELECT jsonb_build_object(
        'currency', g.currency, 'expires_at', g.expires_at,
        'items', coalesce((SELECT jsonb_agg(jsonb_build_object('product_id', p.id, 'name', p.name, 'unit_amount', p.unit_amount,
                                                               'quantity', (i ->> 'quantity')::int) ORDER BY n)
                             FROM jsonb_array_elements(g.items) WITH ORDINALITY x (i, n)
                             JOIN coditect.products p ON p.id = (i ->> 'product_id')::uuid), '[]'),
        'subtotal', coalesce((SELECT sum(p.unit_amount * (i ->> 'quantity')::int)
                                FROM jsonb_array_elements(g.items) i JOIN coditect.products p ON p.id = (i ->> 'product_id')::uuid), 0))
$$;

-- POST /api/v1/guest-carts/ (no login): a new guest cart and its token, shown this once.
CREATE FUNCTION coditect.guest_cart_create() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    token uuid := coditect_internal.share_token_generate();
    g     coditect_internal.guest_carts;
BEGIN
    INSERT INTO coditect_internal.guest_carts (token_hash) VALUES (coditect_internal.share_token_hash(token)) RETURNING * INTO g;
    RETURN jsonb_build_object('token', token) || coditect_internal.guest_cart_json(g);
END
$$;

-- GET /api/v1/guest-carts/{token}/: the cart; NULL (404) for any token but a live cart's.
-- (A read: no lock, so that it runs in the gateway's read-only transaction of a GET.)
-- The row first, then its answer: on Citus a function of a scanned row would be pushed to the
-- shards, where the row's type is the shard's.
CREATE FUNCTION coditect.guest_cart_view(p_token uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g coditect_internal.guest_carts;
BEGIN
    SELECT x.* INTO g FROM coditect_internal.guest_carts x
     WHERE x.token_hash = coditect_internal.share_token_hash(p_token) AND x.expires_at > now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN coditect_internal.guest_cart_json(g);
END
$$;

-- POST /api/v1/guest-carts/{token}/add/ {"product_id", "quantity"}: adds to the quantity of an
-- active product, in the cart's one currency; the cart lives cart_ttl() (24 hours) from now.
CREATE FUNCTION coditect.guest_cart_add(p_token uuid, p_product uuid, p_quantity int DEFAULT 1) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g   coditect_internal.guest_carts := coditect_internal.guest_cart_of(p_token);
    p   coditect.products;
    q   int;
BEGIN
    IF g.id IS NULL THEN
        RETURN NULL;  -- (before looking at the body: an unknown token learns nothing)
    END IF;
    IF p_product IS NULL THEN
        RAISE EXCEPTION 'product_id is required' USING ERRCODE = 'CD400';
    END IF;
    SELECT * INTO p FROM coditect.products x WHERE x.id = p_product AND x.active;
    IF p.id IS NULL THEN
        RAISE EXCEPTION 'product % is not for sale', p_product USING ERRCODE = 'CD422';
    END IF;
    IF g.currency IS NOT NULL AND p.currency <> g.currency THEN
        RAISE EXCEPTION 'product "%" is priced in %, this cart in %', p.name, p.currency, g.currency USING ERRCODE = 'CD422';
    END IF;
    q := coalesce((SELECT (i ->> 'quantity')::int FROM jsonb_array_elements(g.items) i WHERE (i ->> 'product_id')::uuid = p.id), 0)
         + coalesce(p_quantity, 1);
    IF coalesce(p_quantity, 1) < 1 OR q > 10000 THEN
        RAISE EXCEPTION 'a quantity is 1 to 10000' USING ERRCODE = 'CD400';
    END IF;
    UPDATE coditect_internal.guest_carts x
       SET currency = p.currency, updated_at = now(), expires_at = now() + coditect.cart_ttl(),
           items = coalesce((SELECT jsonb_agg(i) FROM jsonb_array_elements(g.items) i WHERE (i ->> 'product_id')::uuid <> p.id), '[]')
                   || jsonb_build_array(jsonb_build_object('product_id', p.id, 'quantity', q))
     WHERE x.id = g.id
    RETURNING * INTO g;
    RETURN coditect_internal.guest_cart_json(g);
END
$$;

-- POST /api/v1/guest-carts/{token}/claim/ (signed in): the guest cart becomes a cart of the
-- caller's tenant, its items priced anew; the token stops working. Answers the cart (its get,
-- under the caller's row-level security). In two owner-rights steps, each where its rows are:
-- guest_cart_take_as takes the guest cart (the global table); guest_cart_fill_as makes the
-- tenant's cart, called in a query on the tenant's row, so that on Citus it runs on the
-- tenant's node through the caller's own connection (see nested_begin, 53_outbox), as the get
-- after it does (Citus refuses a shard group written over two logins' connections).
CREATE FUNCTION coditect_internal.guest_cart_take_as(p_token uuid) RETURNS coditect_internal.guest_carts
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g coditect_internal.guest_carts;
BEGIN
    PERFORM coditect.require_permission('cart.create');
    g := coditect_internal.guest_cart_of(p_token);
    IF g.id IS NULL THEN
        RAISE EXCEPTION 'guest cart not found' USING ERRCODE = 'CD404';
    END IF;
    DELETE FROM coditect_internal.guest_carts x WHERE x.id = g.id;
    RETURN g;
END
$$;

CREATE FUNCTION coditect_internal.guest_cart_fill_as(p_currency varchar, p_items jsonb) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    nested   text := coditect_internal.nested_begin();
    cart     uuid;
BEGIN
    PERFORM coditect.require_permission('cart.create');
    INSERT INTO coditect.carts (tenant_id, user_id, currency)
    VALUES (v_tenant, coditect.current_user_id(), p_currency)
    RETURNING id INTO cart;
    INSERT INTO coditect.cart_items (tenant_id, cart_id, product_id, quantity, unit_amount, currency)
    SELECT v_tenant, cart, p.id, (i ->> 'quantity')::int, p.unit_amount, p.currency
      FROM jsonb_array_elements(p_items) i JOIN coditect.products p ON p.id = (i ->> 'product_id')::uuid;
    PERFORM coditect_internal.nested_end(nested);
    RETURN cart;
END
$$;

CREATE FUNCTION coditect.guest_cart_claim(p_token uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    g        coditect_internal.guest_carts := coditect_internal.guest_cart_take_as(p_token);
    cart     uuid;
BEGIN
    SELECT coditect_internal.guest_cart_fill_as(g.currency, g.items) INTO cart FROM coditect.tenants t WHERE t.id = v_tenant;
    IF NOT FOUND THEN
        cart := coditect_internal.guest_cart_fill_as(g.currency, g.items);
    END IF;
    RETURN coditect.api_carts_get(cart);
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.guest_cart_take_as(uuid), coditect_internal.guest_cart_fill_as(varchar, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect_internal.guest_cart_take_as(uuid), coditect_internal.guest_cart_fill_as(varchar, jsonb)
    TO coditect_gateway, coditect_service;

-- Maintenance (the cart job's, 84_orders' expire_carts): guest carts past their time go.
CREATE FUNCTION coditect_internal.purge_guest_carts() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM coditect_internal.guest_carts g WHERE g.expires_at <= now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

SELECT coditect_internal.register_action('cart', 'guest_create', 'coditect.guest_cart_create()',
    'POST', '/api/v1/guest-carts/', '[]', p_auth => 'none', p_status => 201,
    p_summary => 'A cart before sign-in (no login): its token, shown this once, is the only way to it');
SELECT coditect_internal.register_action('cart', 'guest_view', 'coditect.guest_cart_view(uuid)',
    'GET', '/api/v1/guest-carts/{token}/', '[{"from": "path", "name": "token", "secret": true}]', p_auth => 'none',
    p_response => '{"null_answer": {"status": 404, "detail": "guest cart not found"}}',
    p_summary => 'A guest cart by its token (no login); unknown, expired or claimed: 404');
SELECT coditect_internal.register_action('cart', 'guest_add', 'coditect.guest_cart_add(uuid, uuid, integer)',
    'POST', '/api/v1/guest-carts/{token}/add/',
    '[{"from": "path", "name": "token", "secret": true}, {"from": "body_field", "name": "product_id"},
      {"from": "body_field", "name": "quantity"}]', p_auth => 'none',
    p_response => '{"null_answer": {"status": 404, "detail": "guest cart not found"}}',
    p_summary => 'Add a product to a guest cart (no login)');
SELECT coditect_internal.register_action('cart', 'guest_claim', 'coditect.guest_cart_claim(uuid)',
    'POST', '/api/v1/guest-carts/{token}/claim/', '[{"from": "path", "name": "token", "secret": true}]',
    p_permission => 'cart.create', p_response => '{"resource": "cart"}', p_status => 201,
    p_summary => 'At sign-in: the guest cart becomes a cart of the caller''s tenant (priced anew); the token stops working');
