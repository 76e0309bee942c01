-- migrate.sql: statements of the migration runner (vkv-admin migrate and the
-- schema check every program runs at start).  The migration files
-- themselves (schema/migrations/) are embedded whole and run as scripts.

-- name: mig_lock
-- one migrator at a time (released at session end or by mig_unlock)
SELECT pg_advisory_lock(7411001)

-- name: mig_lock_timeout
-- the lock waits at most 10 s: a session holding it (a stuck migrator, or
-- any login that took pg_advisory_lock(7411001)) made make run hang
SET lock_timeout = '10s'

-- name: mig_lock_timeout_off
SET lock_timeout = 0

-- name: mig_lock_holder
-- who holds the migration lock, for the error message
SELECT a.pid, coalesce(a.usename, '?'), coalesce(nullif(a.application_name, ''), '?'),
       coalesce(a.client_addr::text, 'local'), coalesce(a.state, '?'),
       date_trunc('second', now() - coalesce(a.xact_start, a.backend_start))::text
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 7411001 AND l.granted
 LIMIT 1

-- name: mig_unlock
SELECT pg_advisory_unlock(7411001)

-- name: mig_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     int PRIMARY KEY,
    name        text NOT NULL,
    sha256      text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)

-- name: mig_table_exists
SELECT to_regclass('schema_migrations') IS NOT NULL

-- name: mig_list
SELECT version, name, sha256 FROM schema_migrations ORDER BY version

-- name: mig_record
INSERT INTO schema_migrations (version, name, sha256)
VALUES ($1::int, $2::text, $3::text)

-- name: pgx_session
-- run on every new connection: our statements are prepared once and run
-- many times with parameters; plan them once (generic plans) instead of
-- re-planning each execution (the claim and enqueue plans are shaped by
-- their equality probes, not by parameter values)
SET plan_cache_mode = force_generic_plan

-- name: pgx_session_toast
-- run on every new connection, after pgx_session: large values this
-- session writes (job inputs: JPEG/PNG/WebP, result bytes, thumbnails) are
-- already compressed, and pglz spends ~2 ms failing to shrink a 60 KB JPEG
-- (most of an enqueue's time); lz4 gives up in microseconds.  Set only
-- where the server was built with lz4: one row when set, none otherwise.
SELECT set_config('default_toast_compression', 'lz4', false)
  FROM pg_settings
 WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)
