-- roles.sql: what only a superuser can take from PUBLIC, so that the
-- read-only role (schema/migrations/0003_readonly_role.sql) reads views and
-- nothing else.  Not a migration: migrations run as the service role, which
-- cannot revoke EXECUTE on built-in functions.  Idempotent; applied as the
-- `postgres` superuser by scripts/run.sh after every `vkv-admin migrate`, and
-- by tests/lib/pg_tmp.sh (pg_tmp_migrate):
--   psql -U postgres -d DB -v ON_ERROR_STOP=1 -v u=SERVICE_ROLE -f schema/roles.sql
-- The service role (:u) gets back what it uses: advisory locks (the
-- migration lock) and pg_notify (job wake-ups).  Large objects: nobody.

REVOKE EXECUTE ON FUNCTION
    pg_catalog.lo_from_bytea(oid, bytea), pg_catalog.lo_create(oid), pg_catalog.lo_creat(integer),
    pg_catalog.lo_import(text), pg_catalog.lo_import(text, oid), pg_catalog.lo_put(oid, bigint, bytea),
    pg_catalog.lo_open(oid, integer), pg_catalog.lowrite(integer, bytea),
    pg_catalog.lo_truncate(integer, integer), pg_catalog.lo_truncate64(integer, bigint),
    pg_catalog.lo_unlink(oid)
    FROM PUBLIC;

REVOKE EXECUTE ON FUNCTION
    pg_catalog.pg_advisory_lock(bigint), pg_catalog.pg_advisory_lock(integer, integer),
    pg_catalog.pg_advisory_lock_shared(bigint), pg_catalog.pg_advisory_lock_shared(integer, integer),
    pg_catalog.pg_try_advisory_lock(bigint), pg_catalog.pg_try_advisory_lock(integer, integer),
    pg_catalog.pg_try_advisory_lock_shared(bigint), pg_catalog.pg_try_advisory_lock_shared(integer, integer),
    pg_catalog.pg_advisory_xact_lock(bigint), pg_catalog.pg_advisory_xact_lock(integer, integer),
    pg_catalog.pg_advisory_xact_lock_shared(bigint), pg_catalog.pg_advisory_xact_lock_shared(integer, integer),
    pg_catalog.pg_try_advisory_xact_lock(bigint), pg_catalog.pg_try_advisory_xact_lock(integer, integer),
    pg_catalog.pg_try_advisory_xact_lock_shared(bigint),
    pg_catalog.pg_try_advisory_xact_lock_shared(integer, integer),
    pg_catalog.pg_notify(text, text)
    FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    pg_catalog.pg_advisory_lock(bigint), pg_catalog.pg_advisory_unlock(bigint),
    pg_catalog.pg_try_advisory_lock(bigint), pg_catalog.pg_advisory_xact_lock(bigint),
    pg_catalog.pg_try_advisory_xact_lock(bigint), pg_catalog.pg_notify(text, text)
    TO :"u";
