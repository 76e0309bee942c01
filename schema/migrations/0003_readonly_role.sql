-- 0003 readonly_role: vkv_readonly reads the admin views and nothing else.
--
-- 0002 granted SELECT on views only, but a login in the role could still
-- store data (lo_from_bytea kept 10 MB in pg_largeobject), hold
-- pg_advisory_lock(7411001) so that `vkv-admin migrate` (and make run)
-- hung, keep a transaction open forever (vacuum blocked), pg_notify the
-- workers' channel and create temp tables.  What a database owner can
-- change is here; revoking EXECUTE on the built-in functions (large
-- objects, advisory locks, pg_notify) needs a superuser and lives in
-- schema/roles.sql, applied by make run and the tests as `postgres`.

-- Session defaults: read-only transactions, 30 s per statement, 60 s idle
-- in a transaction, 5 s lock waits.  PostgreSQL applies ALTER ROLE ... SET
-- only to the role that logs in, not to the groups it is in, so they are
-- set on every login that is a member of vkv_readonly now, and
-- vkv_readonly_login(name) creates new logins with them (the documented
-- way to make one: schema/README.md).
CREATE FUNCTION vkv_readonly_settings(login name) RETURNS void
LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE format('ALTER ROLE %I SET default_transaction_read_only = on', login);
    EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', login, '30s');
    EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', login, '60s');
    EXECUTE format('ALTER ROLE %I SET lock_timeout = %L', login, '5s');
END
$f$;

CREATE FUNCTION vkv_readonly_login(login name) RETURNS void
LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE format('CREATE ROLE %I LOGIN IN ROLE vkv_readonly', login);
    PERFORM vkv_readonly_settings(login);
END
$f$;
REVOKE EXECUTE ON FUNCTION vkv_readonly_settings(name), vkv_readonly_login(name) FROM PUBLIC;

SELECT vkv_readonly_settings('vkv_readonly');
SELECT vkv_readonly_settings(m.rolname)
  FROM pg_auth_members am
  JOIN pg_roles g ON g.oid = am.roleid AND g.rolname = 'vkv_readonly'
  JOIN pg_roles m ON m.oid = am.member
 WHERE m.rolcanlogin;

-- no temp tables for anyone but the owner (PUBLIC had TEMPORARY)
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
END
$$;
