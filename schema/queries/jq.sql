-- jq.sql: every statement of the queue client (common/jq.c).  Each starts
-- with a "-- name: x" line; the build embeds them as SQLQ_X (sql_queries.h).
-- Parameters are always typed with casts; nothing here is built at run time.
-- The claim order, lease and retry rules are explained in schema/README.md.

-- name: jq_tx_begin
BEGIN

-- name: jq_tx_commit
COMMIT

-- name: jq_tx_rollback
ROLLBACK

-- name: jq_listen_job_new
LISTEN vkv_job_new

-- name: jq_listen_job_done
LISTEN vkv_job_done

-- name: jq_listen_job_cancel
LISTEN vkv_job_cancel

-- name: jq_wait_listen
-- this session's own channel for the jobs it waits on (migration 0011):
-- LISTENs on it and returns its name
SELECT job_wait_listen()

-- name: jq_auth_key
-- $1 sha256 of the key
SELECT tenant_id, is_admin::int
  FROM api_keys
 WHERE key_hash = $1::bytea AND revoked_at IS NULL

-- name: jq_key_hashes
-- the hashes of every usable key, at most $1 (api_limit.c)
SELECT key_hash FROM api_keys WHERE revoked_at IS NULL ORDER BY id DESC LIMIT $1::int

-- name: jq_tenant_create
INSERT INTO tenants (name) VALUES ($1::text)
ON CONFLICT (name) DO NOTHING
RETURNING id

-- name: jq_tenant_get
SELECT id FROM tenants WHERE name = $1::text

-- name: jq_key_create
-- $1 tenant, $2 sha256, $3 printable prefix, $4 is_admin
INSERT INTO api_keys (tenant_id, key_hash, key_prefix, is_admin)
SELECT t.id, $2::bytea, $3::text, $4::boolean FROM tenants t WHERE t.id = $1::bigint
RETURNING id

-- name: jq_key_revoke
UPDATE api_keys SET revoked_at = now()
 WHERE id = $1::bigint AND revoked_at IS NULL
RETURNING id

-- name: jq_tier_depth
-- queued jobs in tier $1: the cached count, recounted (up to $2, so the cost
-- is bounded by the limit) when older than 2 s by one caller at a time
-- (SKIP LOCKED: the others use the cached value meanwhile)
WITH stale AS MATERIALIZED (
    SELECT t.tier FROM tiers t
     WHERE t.tier = $1::smallint AND t.depth_at < now() - interval '2 seconds'
     FOR UPDATE SKIP LOCKED
),
fresh AS (
    UPDATE tiers t
       SET depth_at = now(),
           depth_cached = (SELECT count(*) FROM (
               SELECT 1 FROM jobs j WHERE j.tier = t.tier AND j.state = 'queued'
                LIMIT $2::bigint) q)
      FROM stale WHERE t.tier = stale.tier
    RETURNING t.depth_cached
)
SELECT coalesce((SELECT depth_cached FROM fresh),
                (SELECT depth_cached FROM tiers WHERE tier = $1::smallint))

-- name: jq_enqueue
-- $1 tenant, $2 task, $3 model, $4 tier, $5 params json text, $6 input bytea,
-- $7 input type, $8 idempotency key, $9 batch id, $10 deadline ms,
-- $11 max attempts, $12 the thumbnail (NULL = none; written with the
-- job, so one statement and one commit), $13 the SHA-256 of the API key
-- that asked (NULL = the caller looked the key up already): the key must
-- still be the tenant's and not revoked, else nothing is written (vkv-api
-- skips its own lookup for a key it saw recently, fcgi/README.md), $14 the
-- waiting connection's channel (job_wait_listen, migration 0011; NULL =
-- nobody waits on one): job_archive sends the finished job there.
-- Returns (id, existed) or one row (NULL, 0) for a batch that is not the
-- tenant's, (NULL, 2) for a refused key; no row: an idempotency race, run
-- again.
WITH b AS MATERIALIZED (
    SELECT ka.key_ok AND ($9::bigint IS NULL OR EXISTS (
                SELECT 1 FROM batches WHERE id = $9::bigint AND tenant_id = $1::bigint)) AS ok,
           ka.key_ok
      FROM (SELECT $13::bytea IS NULL OR EXISTS (
                SELECT 1 FROM api_keys a
                 WHERE a.key_hash = $13::bytea AND a.revoked_at IS NULL
                   AND a.tenant_id = $1::bigint) AS key_ok) ka
),
k AS (
    INSERT INTO idempotency (tenant_id, key, job_id)
    SELECT $1::bigint, $8::text, nextval('job_id_seq') FROM b
     WHERE b.ok AND $8::text IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING job_id
),
nid AS MATERIALIZED (
    SELECT CASE WHEN $8::text IS NULL THEN nextval('job_id_seq')
                ELSE (SELECT job_id FROM k) END AS id
      FROM b WHERE b.ok
),
fk AS MATERIALIZED (
    -- an index probe whatever the statistics (migration 0005)
    SELECT job_fair_key($1::bigint, $4::smallint) AS v
),
ins AS (
    INSERT INTO jobs (id, tenant_id, batch_id, task, model, tier, fair_key,
                      params, input, input_type, idempotency_key, max_attempts,
                      deadline_at, wait_channel)
    SELECT nid.id, $1::bigint, $9::bigint, $2::text, $3::text, $4::smallint, fk.v,
           coalesce($5::jsonb, '{}'::jsonb), $6::bytea, $7::text, $8::text,
           $11::int, now() + make_interval(secs => $10::int / 1000.0), $14::text
      FROM nid, fk
     WHERE nid.id IS NOT NULL
    RETURNING id, model
),
th AS (
    -- runs whether or not the query reads it (a data-modifying CTE)
    INSERT INTO job_thumbs (job_id, tenant_id, bytes)
    SELECT ins.id, $1::bigint, $12::bytea FROM ins WHERE $12::bytea IS NOT NULL
    ON CONFLICT (job_id) DO NOTHING
)
SELECT ins.id, 0 AS existed
  FROM ins
  LEFT JOIN LATERAL (
      -- wake workers only when it matters (schema/README.md
      -- "Notifications"): always for IMMEDIATE, else only when no job of
      -- this model and tier was waiting (the snapshot predates the insert).
      -- Probed newest first (job_model_waiting): claimed jobs leave dead
      -- index entries at the old end of the range until vacuum.
      SELECT pg_notify('vkv_job_new', ins.model)
       WHERE $4::smallint = 3 OR NOT job_model_waiting($3::text, $4::smallint)) n ON true
UNION ALL
SELECT i.job_id, 1
  FROM idempotency i, b
 WHERE b.ok AND $8::text IS NOT NULL AND i.tenant_id = $1::bigint
   AND i.key = $8::text AND NOT EXISTS (SELECT 1 FROM k)
UNION ALL
SELECT NULL, CASE WHEN b.key_ok THEN 0 ELSE 2 END FROM b WHERE NOT b.ok

-- name: jq_enqueue_plain
-- jq_enqueue for a job with no idempotency key and no batch (most single
-- jobs): the same row, fair key, thumbnail and wake-up, without the
-- idempotency and batch steps, whose plan nodes cost PostgreSQL about a
-- fifth of the statement even when they do nothing (pgbench: 111-115 us
-- of CPU per enqueue against 134-146).  $1 tenant, $2 task, $3 model,
-- $4 tier, $5 params json text, $6 input bytea, $7 input type,
-- $8 deadline ms, $9 max attempts, $10 the thumbnail (NULL = none), $11
-- the SHA-256 of the API key that asked (NULL = the caller looked it up;
-- else checked as jq_enqueue's $13), $12 the waiter's channel (as
-- jq_enqueue's $14), $13 true when the input is its own thumbnail ($10
-- then NULL: the bytes are stored once, in jobs.input, and job_archive
-- copies them to job_thumbs when the job ends; migration 0012).
-- Returns (id, existed = 0), or no row for a refused key (nothing written).
WITH ka AS MATERIALIZED (
    SELECT 1 AS ok
     WHERE $11::bytea IS NULL OR EXISTS (
               SELECT 1 FROM api_keys a
                WHERE a.key_hash = $11::bytea AND a.revoked_at IS NULL
                  AND a.tenant_id = $1::bigint)
),
fk AS MATERIALIZED (
    -- an index probe whatever the statistics (migration 0005)
    SELECT job_fair_key($1::bigint, $4::smallint) AS v FROM ka
),
ins AS (
    INSERT INTO jobs (tenant_id, task, model, tier, fair_key, params, input, input_type,
                      max_attempts, deadline_at, wait_channel, thumb_is_input)
    SELECT $1::bigint, $2::text, $3::text, $4::smallint, fk.v,
           coalesce($5::jsonb, '{}'::jsonb), $6::bytea, $7::text,
           $9::int, now() + make_interval(secs => $8::int / 1000.0), $12::text,
           coalesce($13::boolean, false)
      FROM fk
    RETURNING id, model
),
th AS (
    INSERT INTO job_thumbs (job_id, tenant_id, bytes)
    SELECT ins.id, $1::bigint, $10::bytea FROM ins WHERE $10::bytea IS NOT NULL
)
SELECT ins.id, 0 AS existed
  FROM ins
  LEFT JOIN LATERAL (
      -- as jq_enqueue (schema/README.md "Notifications")
      SELECT pg_notify('vkv_job_new', ins.model)
       WHERE $4::smallint = 3 OR NOT job_model_waiting($3::text, $4::smallint)) n ON true

-- name: jq_enqueue_many
-- the group enqueue: n jobs of one tenant, task, model, tier and batch in
-- one statement (one round trip, one fairness lookup, at most one NOTIFY).
-- $1 tenant, $2 task, $3 model, $4 tier, $5 params text[] (NULL element =
-- {}), $6 inputs bytea[], $7 input types text[], $8 batch id, $9 deadline
-- ms, $10 max attempts, $11 thumbnails bytea[] (NULL element = none).
-- Returns the new ids in the arrays' order; no row for a batch that is not
-- the tenant's.  Fair keys advance by the quantum per job, as n single
-- enqueues in one transaction would.
WITH b AS MATERIALIZED (
    SELECT ($8::bigint IS NULL OR EXISTS (
                SELECT 1 FROM batches WHERE id = $8::bigint AND tenant_id = $1::bigint)) AS ok
),
u AS MATERIALIZED (
    SELECT x.n, nextval('job_id_seq') AS id, x.p, x.i, x.t, x.th
      FROM b, unnest($5::text[], $6::bytea[], $7::text[], $11::bytea[])
              WITH ORDINALITY AS x(p, i, t, th, n)
     WHERE b.ok
),
fk AS MATERIALIZED (
    SELECT job_fair_key($1::bigint, $4::smallint) AS v,
           (SELECT s.fair_quantum_ms FROM queue_settings s WHERE s.id = 1) AS q
),
wake AS MATERIALIZED (
    -- as jq_enqueue: the snapshot predates the insert
    SELECT $4::smallint = 3 OR NOT job_model_waiting($3::text, $4::smallint) AS w
),
ins AS (
    INSERT INTO jobs (id, tenant_id, batch_id, task, model, tier, fair_key,
                      params, input, input_type, max_attempts, deadline_at)
    SELECT u.id, $1::bigint, $8::bigint, $2::text, $3::text, $4::smallint,
           fk.v + (u.n - 1) * fk.q, coalesce(u.p::jsonb, '{}'::jsonb), u.i, u.t,
           $10::int, now() + make_interval(secs => $9::int / 1000.0)
      FROM u, fk
    RETURNING id
),
th AS (
    INSERT INTO job_thumbs (job_id, tenant_id, bytes)
    SELECT u.id, $1::bigint, u.th FROM u WHERE u.th IS NOT NULL
    ON CONFLICT (job_id) DO NOTHING
    RETURNING job_id
),
nt AS MATERIALIZED (
    SELECT pg_notify('vkv_job_new', $3::text) AS x
      FROM wake WHERE wake.w AND EXISTS (SELECT 1 FROM ins)
)
SELECT u.id, (SELECT count(*) FROM nt) + (SELECT count(*) FROM th) AS side
  FROM u ORDER BY u.n

-- name: jq_enqueue_rows
-- the single jobs of concurrent requests in one statement (vkv-api's group
-- enqueue, fcgi/api_group.c): each row its own tenant, task, model, tier,
-- params, input, type, idempotency key, deadline, max attempts and
-- thumbnail; no batch.  $1 tenants bigint[], $2 tasks text[], $3 models
-- text[], $4 tiers smallint[], $5 params text[] (NULL = {}), $6 inputs
-- bytea[], $7 input types text[], $8 idempotency keys text[] (NULL =
-- none), $9 deadlines ms int[] (NULL = none), $10 max attempts int[],
-- $11 thumbnails bytea[] (NULL = none), $12 the asking API keys' SHA-256
-- bytea[] (NULL = looked up by the caller; else checked as jq_enqueue's
-- $13, and a refused row writes nothing).
-- Returns one row per input row in order: (id, existed).  An idempotency
-- key used before (or by an earlier row of this statement) answers the
-- first job's id with existed = 1 and writes nothing; NULL id: the key's
-- first insert committed after our snapshot (a race; run that row again),
-- or with existed = 2 a refused API key.
-- Fair keys and wake-ups as jq_enqueue: per tenant and tier one fairness
-- lookup, the rows a quantum apart in their order; per model and tier one
-- wake-up test on a snapshot that predates the insert.
WITH x AS MATERIALIZED (
    SELECT x.n, x.ten, x.task, x.model, x.tier, x.p, x.i, x.t, x.k, x.dl, x.ma, x.th,
           nextval('job_id_seq') AS id,
           x.kh IS NULL OR EXISTS (
               SELECT 1 FROM api_keys a
                WHERE a.key_hash = x.kh AND a.revoked_at IS NULL AND a.tenant_id = x.ten) AS key_ok
      FROM unnest($1::bigint[], $2::text[], $3::text[], $4::smallint[], $5::text[],
                  $6::bytea[], $7::text[], $8::text[], $9::int[], $10::int[], $11::bytea[],
                  $12::bytea[])
           WITH ORDINALITY AS x(ten, task, model, tier, p, i, t, k, dl, ma, th, kh, n)
     ORDER BY x.n
),
k AS (
    INSERT INTO idempotency (tenant_id, key, job_id)
    SELECT x.ten, x.k, x.id FROM x WHERE x.k IS NOT NULL AND x.key_ok ORDER BY x.n
    ON CONFLICT DO NOTHING
    RETURNING tenant_id, key, job_id
),
nw AS MATERIALIZED (
    SELECT x.* FROM x
     WHERE x.key_ok AND (x.k IS NULL OR EXISTS (SELECT 1 FROM k WHERE k.job_id = x.id))
),
fk AS MATERIALIZED (
    SELECT g.ten, g.tier, job_fair_key(g.ten, g.tier) AS v
      FROM (SELECT DISTINCT nw.ten, nw.tier FROM nw) g
),
q AS MATERIALIZED (
    SELECT s.fair_quantum_ms AS q FROM queue_settings s WHERE s.id = 1
),
wake AS MATERIALIZED (
    SELECT g.model FROM (SELECT DISTINCT nw.model, nw.tier FROM nw) g
     WHERE g.tier = 3 OR NOT job_model_waiting(g.model, g.tier)
),
ins AS (
    INSERT INTO jobs (id, tenant_id, task, model, tier, fair_key, params, input, input_type,
                      idempotency_key, max_attempts, deadline_at)
    SELECT nw.id, nw.ten, nw.task, nw.model, nw.tier,
           fk.v + (row_number() OVER (PARTITION BY nw.ten, nw.tier ORDER BY nw.n) - 1) * q.q,
           coalesce(nw.p::jsonb, '{}'::jsonb), nw.i, nw.t, nw.k, nw.ma,
           now() + make_interval(secs => nw.dl / 1000.0)
      FROM nw JOIN fk ON fk.ten = nw.ten AND fk.tier = nw.tier, q
    RETURNING id
),
th AS (
    INSERT INTO job_thumbs (job_id, tenant_id, bytes)
    SELECT nw.id, nw.ten, nw.th FROM nw WHERE nw.th IS NOT NULL
    ON CONFLICT (job_id) DO NOTHING
    RETURNING job_id
),
nt AS MATERIALIZED (
    SELECT pg_notify('vkv_job_new', wake.model) AS x FROM wake
)
SELECT CASE WHEN NOT x.key_ok THEN NULL
            WHEN x.k IS NULL OR kk.job_id = x.id THEN x.id
            ELSE coalesce(kk.job_id, i.job_id) END AS id,
       CASE WHEN NOT x.key_ok THEN 2
            WHEN x.k IS NULL OR kk.job_id = x.id THEN 0 ELSE 1 END AS existed,
       (SELECT count(*) FROM nt) + (SELECT count(*) FROM th) + (SELECT count(*) FROM ins) AS side
  FROM x
  LEFT JOIN k kk ON kk.tenant_id = x.ten AND kk.key = x.k
  LEFT JOIN idempotency i ON x.key_ok AND x.k IS NOT NULL AND i.tenant_id = x.ten
                         AND i.key = x.k
 ORDER BY x.n

-- name: jq_enqueue_rows_plain
-- jq_enqueue_rows for rows with neither idempotency key nor batch (the
-- group enqueue's usual case), leaner per job: the client (common/jq.c)
-- passes the distinct (tenant, tier) pairs whose fair keys are looked up
-- and each row's pair and rank among that pair's rows, and the distinct
-- (model, tier) pairs whose wake-up is tested, so the statement has no
-- DISTINCT, window or join.  pgbench -M prepared, PostgreSQL CPU per job
-- at 2 / 4 / 8 / 16 rows: 136 / 90 / 53 / 47 us, against jq_enqueue_rows'
-- 201 us at 2 and 74 us at 8, and jq_enqueue_plain's 148-152 us for one
-- (so one row still takes jq_enqueue_plain: this one costs 208 us there).
-- $1 tenants bigint[], $2 tasks text[], $3 models text[], $4 tiers
-- smallint[], $5 params text[] (NULL = {}), $6 inputs bytea[], $7 input
-- types text[], $8 deadlines ms int[] (NULL = none), $9 max attempts
-- int[], $10 thumbnails bytea[] (NULL = none), $11 each row's pair (1-based
-- into $13/$14) int[], $12 each row's rank among its pair's rows (0-based)
-- int[], $13/$14 the pairs' tenants bigint[] and tiers smallint[], $15/$16
-- the wake-up pairs' models text[] and tiers smallint[], $17 the asking API
-- keys' SHA-256 bytea[] (NULL = looked up by the caller; else checked as
-- jq_enqueue's $13, and a refused row writes nothing and answers NULL).
-- Returns the ids in the rows' order.  Fair keys and wake-ups as
-- jq_enqueue_rows.
WITH x AS MATERIALIZED (
    SELECT x.n, x.ten, x.task, x.model, x.tier, x.p, x.i, x.t, x.dl, x.ma, x.th, x.g, x.r,
           CASE WHEN x.kh IS NULL OR EXISTS (
                    SELECT 1 FROM api_keys a
                     WHERE a.key_hash = x.kh AND a.revoked_at IS NULL AND a.tenant_id = x.ten)
                THEN nextval('job_id_seq') END AS id
      FROM unnest($1::bigint[], $2::text[], $3::text[], $4::smallint[], $5::text[],
                  $6::bytea[], $7::text[], $8::int[], $9::int[], $10::bytea[], $11::int[],
                  $12::int[], $17::bytea[])
           WITH ORDINALITY AS x(ten, task, model, tier, p, i, t, dl, ma, th, g, r, kh, n)
),
fk AS MATERIALIZED (
    SELECT array_agg(job_fair_key(g.ten, g.tier) ORDER BY g.n) AS v,
           (SELECT s.fair_quantum_ms FROM queue_settings s WHERE s.id = 1) AS q
      FROM unnest($13::bigint[], $14::smallint[]) WITH ORDINALITY AS g(ten, tier, n)
),
nt AS MATERIALIZED (
    -- as jq_enqueue: the snapshot predates the insert
    SELECT pg_notify('vkv_job_new', w.model) AS x
      FROM unnest($15::text[], $16::smallint[]) AS w(model, tier)
     WHERE w.tier = 3 OR NOT job_model_waiting(w.model, w.tier)
),
ins AS (
    INSERT INTO jobs (id, tenant_id, task, model, tier, fair_key, params, input, input_type,
                      max_attempts, deadline_at)
    SELECT x.id, x.ten, x.task, x.model, x.tier, fk.v[x.g] + x.r * fk.q,
           coalesce(x.p::jsonb, '{}'::jsonb), x.i, x.t, x.ma,
           now() + make_interval(secs => x.dl / 1000.0)
      FROM x, fk
     WHERE x.id IS NOT NULL
),
th AS (
    INSERT INTO job_thumbs (job_id, tenant_id, bytes)
    SELECT x.id, x.ten, x.th FROM x WHERE x.th IS NOT NULL AND x.id IS NOT NULL
)
SELECT x.id, (SELECT count(*) FROM nt) AS side FROM x ORDER BY x.n

-- name: jq_batch_create
INSERT INTO batches (tenant_id, tier, label, n_expected)
VALUES ($1::bigint, $2::smallint, $3::text, $4::int)
RETURNING id

-- name: jq_batch_get
-- $1 tenant (0 = any), $2 batch id
SELECT json_build_object(
           'id', b.id, 'tenant_id', b.tenant_id, 'tier', b.tier,
           'label', b.label, 'created_at', b.created_at,
           'total', greatest(b.n_expected, count(s.state)),
           'counts', json_build_object(
               'queued', count(*) FILTER (WHERE s.state = 'queued'),
               'running', count(*) FILTER (WHERE s.state = 'running'),
               'succeeded', count(*) FILTER (WHERE s.state = 'succeeded'),
               'failed', count(*) FILTER (WHERE s.state = 'failed'),
               'canceled', count(*) FILTER (WHERE s.state = 'canceled'),
               'expired', count(*) FILTER (WHERE s.state = 'expired')),
           -- jobs in a final state: never above total (total counts them)
           'finished', count(*) FILTER (WHERE s.state IN ('succeeded', 'failed',
                                                          'canceled', 'expired')),
           'done', count(s.state) >= b.n_expected
                   AND count(*) FILTER (WHERE s.state IN ('queued', 'running')) = 0
       )::text
  FROM batches b
  LEFT JOIN LATERAL (
      SELECT state FROM jobs WHERE batch_id = b.id
      UNION ALL
      SELECT state FROM job_history WHERE batch_id = b.id) s ON true
 WHERE b.id = $2::bigint AND ($1::bigint = 0 OR b.tenant_id = $1::bigint)
 GROUP BY b.id

-- name: jq_job_get
-- $1 tenant (0 = any), $2 job id
SELECT job_json(j, true)::text
  FROM jobs_all j
 WHERE j.id = $2::bigint AND ($1::bigint = 0 OR j.tenant_id = $1::bigint)

-- name: jq_job_result_bytes
SELECT result_bytes, coalesce(result_type, 'application/octet-stream')
  FROM job_history
 WHERE id = $2::bigint AND ($1::bigint = 0 OR tenant_id = $1::bigint)
   AND result_bytes IS NOT NULL

-- name: jq_job_list
-- $1 tenant (0 = any), $2 state, $3 tier, $4 task, $5 model, $6 batch,
-- $7 created_after, $8 limit, $9 cursor (id < cursor; NULL = newest)
SELECT json_build_object(
           'jobs', coalesce(json_agg(job_json(j, false) ORDER BY j.id DESC), '[]'),
           'next_cursor', CASE WHEN count(*) = $8::int THEN min(j.id) END)::text
  FROM (SELECT * FROM jobs_all
         WHERE ($1::bigint = 0 OR tenant_id = $1::bigint)
           AND ($2::text IS NULL OR state = $2::text)
           AND ($3::smallint IS NULL OR tier = $3::smallint)
           AND ($4::text IS NULL OR task = $4::text)
           AND ($5::text IS NULL OR model = $5::text)
           AND ($6::bigint IS NULL OR batch_id = $6::bigint)
           AND ($7::timestamptz IS NULL OR enqueued_at > $7::timestamptz)
           AND ($9::bigint IS NULL OR id < $9::bigint)
         ORDER BY id DESC
         LIMIT $8::int) j

-- name: jq_job_cancel
-- $1 tenant (0 = any), $2 job id.  Returns (state, changed): ('canceled',
-- 1), ('cancel_requested', 1), or (final state already reached, 0).
-- No row: unknown, another tenant's, or a race with completion (run again).
WITH j0 AS MATERIALIZED (
    SELECT j.id, j.state, j.last_error FROM jobs j
     WHERE j.id = $2::bigint AND ($1::bigint = 0 OR j.tenant_id = $1::bigint)
     FOR UPDATE
),
h AS (
    SELECT a.archived_id AS id
      FROM j0, LATERAL job_archive(ARRAY[j0.id], ARRAY['canceled'], ARRAY[j0.last_error]) a
     WHERE j0.state = 'queued'
),
r AS (
    UPDATE jobs j SET cancel_requested = true FROM j0
     WHERE j.id = j0.id AND j0.state = 'running'
    RETURNING j.id
)
SELECT 'canceled'::text, 1 AS changed
  FROM h CROSS JOIN LATERAL (SELECT pg_notify('vkv_job_done', h.id::text)) n
UNION ALL
SELECT 'cancel_requested', 1
  FROM r CROSS JOIN LATERAL (SELECT pg_notify('vkv_job_cancel', r.id::text)) n
UNION ALL
SELECT jh.state, 0 FROM job_history jh
 WHERE jh.id = $2::bigint AND ($1::bigint = 0 OR jh.tenant_id = $1::bigint)
   AND NOT EXISTS (SELECT 1 FROM j0)

-- name: jq_queue_stats
SELECT json_build_object(
           'tiers', json_agg(json_build_object(
               'tier', d.tier, 'name', d.tier_name, 'paused', d.paused,
               'queued', d.queued, 'retry_waiting', d.retry_waiting,
               'running', d.running,
               'oldest_wait_ms', round(d.oldest_wait_ms)) ORDER BY d.tier DESC),
           'queued', sum(d.queued), 'running', sum(d.running),
           'paused', coalesce(json_agg(d.tier ORDER BY d.tier DESC)
                              FILTER (WHERE d.paused), '[]'))::text
  FROM admin_queue_depth d

-- name: jq_station_stats
-- Moondream Station's /v1/stats counts (fcgi/handlers/h_station.c):
-- $1 stale seconds (a worker not seen for that long is not counted, as in
-- jq_workers).  requests_processed: jobs that ran to an answer (succeeded
-- or failed); timeouts: jobs that expired before a worker started them.
SELECT json_build_object(
           'workers', (SELECT count(*) FROM workers
                        WHERE coalesce(device->>'state', '') NOT IN ('stopped', 'device_lost')
                          AND last_seen > now() - make_interval(secs => $1::int)),
           'queue_size', (SELECT count(*) FROM jobs WHERE state = 'queued'),
           'processing', (SELECT count(*) FROM jobs WHERE state = 'running'),
           'requests_processed', (SELECT count(*) FROM job_history
                                   WHERE state IN ('succeeded', 'failed')),
           'timeouts', (SELECT count(*) FROM job_history WHERE state = 'expired'))::text

-- name: jq_metrics
SELECT string_agg(line, E'\n' ORDER BY ord, line) || E'\n'
  FROM (
    SELECT 1 AS ord, '# TYPE vkv_queue_depth gauge' AS line
    UNION ALL SELECT 2, format('vkv_queue_depth{tier="%s"} %s', tier_name, queued)
      FROM admin_queue_depth
    UNION ALL SELECT 3, '# TYPE vkv_queue_running gauge'
    UNION ALL SELECT 4, format('vkv_queue_running{tier="%s"} %s', tier_name, running)
      FROM admin_queue_depth
    UNION ALL SELECT 5, '# TYPE vkv_queue_oldest_wait_seconds gauge'
    UNION ALL SELECT 6, format('vkv_queue_oldest_wait_seconds{tier="%s"} %s', tier_name,
                               round(coalesce(oldest_wait_ms, 0)::numeric / 1000, 3))
      FROM admin_queue_depth
    UNION ALL SELECT 7, '# TYPE vkv_tier_paused gauge'
    UNION ALL SELECT 8, format('vkv_tier_paused{tier="%s"} %s', tier_name, paused::int)
      FROM admin_queue_depth
    UNION ALL SELECT 9, '# TYPE vkv_jobs gauge'
    UNION ALL SELECT 10, format('vkv_jobs{state="%s"} %s', s.state, coalesce(c.n, 0))
      FROM (VALUES ('queued'), ('running'), ('succeeded'), ('failed'),
                   ('canceled'), ('expired')) s(state)
      LEFT JOIN (SELECT state, count(*) AS n FROM jobs GROUP BY state
                 UNION ALL
                 SELECT state, count(*) FROM job_history GROUP BY state) c
        ON c.state = s.state
  ) m

-- name: jq_tier_pause
UPDATE tiers SET paused = true, paused_at = now()
 WHERE tier = $1::smallint
RETURNING tier

-- name: jq_tier_resume
WITH t AS (
    UPDATE tiers SET paused = false, paused_at = NULL
     WHERE tier = $1::smallint
    RETURNING tier
)
SELECT t.tier FROM t CROSS JOIN LATERAL (SELECT pg_notify('vkv_job_new', '')) n

-- name: jq_claim
-- $1 worker, $2 device, $3 models (text[], at least one), $4 max jobs,
-- $5 lease s.  Steps (schema/README.md "Claim order"):
-- 1. probe: for every (model, unpaused tier) the first claimable job in
--    (fair_key, id) order, locked with SKIP LOCKED (one index probe each on
--    jobs_model_claim_idx, so the plan never depends on statistics);
-- 2. the aged lane: when open (one claim per aged_interval_ms), the probe
--    of tier < 3 with the oldest fair_key older than aging_ms is the head;
-- 3. otherwise the head is the probe with the highest tier, then the
--    lowest fair_key;
-- 4. the batch is filled with more jobs of the head's model and tier, in
--    (fair_key, id) order (equality on both: again one index range).
WITH st AS MATERIALIZED (
    SELECT s.aging_ms, s.aged_next_at <= now() AS lane_open,
           (extract(epoch FROM now()) * 1000)::bigint AS now_ms
      FROM queue_settings s WHERE s.id = 1
),
tiers_on AS MATERIALIZED (
    SELECT t.tier FROM tiers t WHERE NOT t.paused
),
cand AS MATERIALIZED (
    SELECT p.id, p.model, p.tier, p.fair_key
      FROM unnest($3::text[]) AS m(model)
     CROSS JOIN tiers_on o
     CROSS JOIN LATERAL (
         SELECT j.id, j.model, j.tier, j.fair_key FROM jobs j
          WHERE j.state = 'queued' AND j.model = m.model AND j.tier = o.tier
            AND j.run_after <= now()
            AND (j.deadline_at IS NULL OR j.deadline_at > now())
          ORDER BY j.fair_key, j.id
          LIMIT 1
          FOR UPDATE SKIP LOCKED) p
),
aged AS MATERIALIZED (
    SELECT c.id FROM cand c, st
     WHERE st.lane_open AND c.tier < 3 AND c.fair_key < st.now_ms - st.aging_ms
     ORDER BY c.fair_key, c.id
     LIMIT 1
),
lane AS (
    UPDATE queue_settings s
       SET aged_next_at = now() + make_interval(secs => s.aged_interval_ms / 1000.0)
     WHERE s.id = 1 AND s.aged_next_at <= now() AND EXISTS (SELECT 1 FROM aged)
    RETURNING 1
),
head AS MATERIALIZED (
    SELECT c.id, c.model, c.tier FROM cand c
     ORDER BY (EXISTS (SELECT 1 FROM lane) AND c.id = (SELECT id FROM aged)) DESC,
              c.tier DESC, c.fair_key, c.id
     LIMIT 1
),
more AS MATERIALIZED (
    SELECT j.id FROM jobs j
     WHERE $4::int > 1
       AND j.state = 'queued' AND j.model = (SELECT model FROM head)
       AND j.tier = (SELECT tier FROM head) AND j.id <> (SELECT id FROM head)
       AND j.run_after <= now()
       AND (j.deadline_at IS NULL OR j.deadline_at > now())
     ORDER BY j.fair_key, j.id
     LIMIT greatest($4::int - 1, 0)
     FOR UPDATE SKIP LOCKED
),
upd AS (
    UPDATE jobs j
       SET state = 'running', attempts = j.attempts + 1, worker = $1::text,
           device = $2::text, started_at = now(),
           lease_until = now() + make_interval(secs => $5::int)
     WHERE j.id IN (SELECT id FROM head UNION ALL SELECT id FROM more)
    RETURNING j.id, j.tenant_id, j.batch_id, j.task, j.model, j.tier,
              j.attempts, j.max_attempts, j.params, j.input, j.input_type,
              j.enqueued_at, j.fair_key
)
SELECT id, tenant_id, coalesce(batch_id, 0), task, model, tier::int, attempts,
       max_attempts, params::text, input, coalesce(input_type, ''),
       (extract(epoch FROM enqueued_at) * 1000)::bigint
  FROM upd
 ORDER BY tier DESC, fair_key, id

-- name: jq_claim_models
-- the models that have queued jobs (claims by a worker that takes any
-- model: it probes each of them)
-- model: one index probe per distinct model (a loose index scan)
WITH RECURSIVE m AS (
    (SELECT j.model FROM jobs j WHERE j.state = 'queued' ORDER BY j.model LIMIT 1)
    UNION ALL
    SELECT (SELECT j.model FROM jobs j
             WHERE j.state = 'queued' AND j.model > m.model
             ORDER BY j.model LIMIT 1)
      FROM m WHERE m.model IS NOT NULL
)
SELECT coalesce(array_agg(model) FILTER (WHERE model IS NOT NULL), '{}')::text FROM m

-- name: jq_heartbeat
-- $1 worker, $2 ids, $3 lease s.  Per id: 1 cancel requested, -1 lease
-- lost, 0 fine; in the order of $2.
WITH u AS (
    UPDATE jobs j SET lease_until = now() + make_interval(secs => $3::int)
     WHERE j.id = ANY ($2::bigint[]) AND j.state = 'running' AND j.worker = $1::text
    RETURNING j.id, j.cancel_requested
)
SELECT x.id, CASE WHEN u.id IS NULL THEN -1 WHEN u.cancel_requested THEN 1 ELSE 0 END
  FROM unnest($2::bigint[]) WITH ORDINALITY AS x(id, ord)
  LEFT JOIN u ON u.id = x.id
 ORDER BY x.ord

-- name: jq_complete
-- $1 worker, $2 id, $3 result json, $4 result bytes, $5 result type,
-- $6 timings json.  No row: the lease was lost.
WITH c AS MATERIALIZED (
    SELECT j.id FROM jobs j
     WHERE j.id = $2::bigint AND j.state = 'running' AND j.worker = $1::text
     FOR UPDATE
),
h AS (
    SELECT a.archived_id AS id
      FROM c, LATERAL job_archive(ARRAY[c.id], ARRAY['succeeded'], NULL, ARRAY[$3::jsonb],
                                  ARRAY[$4::bytea], ARRAY[$5::text], ARRAY[$6::jsonb]) a
)
SELECT h.id FROM h CROSS JOIN LATERAL (SELECT pg_notify('vkv_job_done', h.id::text)) n

-- name: jq_complete_many
-- $1 worker, $2 ids, $3 result json texts (same length).  Returns the ids
-- completed (the others had lost their lease).  The notification's payload
-- lists all of them (ids are short: 256 fit the 8000-byte payload limit).
WITH c AS MATERIALIZED (
    SELECT j.id, x.res FROM unnest($2::bigint[], $3::text[]) AS x(id, res)
      JOIN jobs j ON j.id = x.id
     WHERE j.state = 'running' AND j.worker = $1::text
     FOR UPDATE OF j
),
agg AS (
    SELECT array_agg(c.id) AS ids, array_agg('succeeded'::text) AS states,
           array_agg(c.res::jsonb) AS results
      FROM c
),
h AS (
    SELECT a.archived_id AS id
      FROM agg, LATERAL job_archive(agg.ids, agg.states, NULL, agg.results) a
)
-- one notification for the whole batch: the ids, comma-separated
SELECT h.id FROM h
  CROSS JOIN LATERAL (SELECT pg_notify('vkv_job_done', (SELECT string_agg(id::text, ',')
                                                         FROM h))) n

-- name: jq_fail
-- $1 worker, $2 id, $3 message, $4 transient.  Returns the resulting state
-- ('queued' for a retry, 'failed', 'canceled'); no row: the lease was lost.
WITH cur AS MATERIALIZED (
    SELECT j.id, j.cancel_requested,
           (NOT j.cancel_requested AND $4::boolean
            AND j.attempts < j.max_attempts) AS retry
      FROM jobs j
     WHERE j.id = $2::bigint AND j.state = 'running' AND j.worker = $1::text
     FOR UPDATE
),
rq AS (
    UPDATE jobs j
       SET state = 'queued', worker = NULL, device = NULL, lease_until = NULL,
           last_error = $3::text,
           run_after = now() + make_interval(secs =>
               least(s.retry_max_ms::float8,
                     s.retry_base_ms * power(2, greatest(j.attempts - 1, 0)))
               * (1 + random() * 0.1) / 1000.0)
      FROM cur, queue_settings s
     WHERE j.id = cur.id AND cur.retry AND s.id = 1
    RETURNING j.id
),
h AS (
    SELECT a.archived_id AS id, a.archived_state AS state
      FROM (SELECT * FROM cur WHERE NOT cur.retry) e,
           LATERAL job_archive(ARRAY[e.id],
                               ARRAY[CASE WHEN e.cancel_requested THEN 'canceled'
                                          ELSE 'failed' END],
                               ARRAY[$3::text]) a
)
SELECT 'queued'::text FROM rq
UNION ALL
SELECT h.state FROM h CROSS JOIN LATERAL (SELECT pg_notify('vkv_job_done', h.id::text)) n

-- name: jq_requeue_expired
-- running jobs whose lease expired: queued again, or failed when attempts
-- are used up, or canceled when a cancel was requested; queued jobs past
-- their deadline: expired.  Returns the number of jobs changed.
WITH exp AS MATERIALIZED (
    SELECT j.id, j.cancel_requested, j.attempts >= j.max_attempts AS exhausted
      FROM jobs j
     WHERE j.state = 'running' AND j.lease_until < now()
     FOR UPDATE SKIP LOCKED
),
dl AS MATERIALIZED (
    SELECT j.id FROM jobs j
     WHERE j.state = 'queued' AND j.deadline_at < now()
     FOR UPDATE SKIP LOCKED
),
rq AS (
    UPDATE jobs j
       SET state = 'queued', lease_until = NULL,
           last_error = 'lease expired on worker ' || coalesce(j.worker, '?'),
           worker = NULL, device = NULL
      FROM exp
     WHERE j.id = exp.id AND NOT exp.exhausted AND NOT exp.cancel_requested
    RETURNING j.id
),
ended AS MATERIALIZED (
    SELECT j.id,
           CASE WHEN j.state = 'queued' THEN 'expired'
                WHEN j.cancel_requested THEN 'canceled' ELSE 'failed' END AS state,
           CASE WHEN j.state = 'queued'
                THEN 'deadline passed before the job started'
                    || coalesce(' (last error: ' || j.last_error || ')', '')
                WHEN j.cancel_requested THEN 'canceled while running'
                ELSE 'lease expired on worker ' || coalesce(j.worker, '?')
                    || ' after ' || j.attempts || ' attempts'
                    || coalesce(' (last error: ' || j.last_error || ')', '')
           END AS error
      FROM jobs j
     WHERE j.id IN (SELECT id FROM exp WHERE exhausted OR cancel_requested
                    UNION ALL SELECT id FROM dl)
),
agg AS (
    SELECT array_agg(id) AS ids, array_agg(state) AS states, array_agg(error) AS errors
      FROM ended
),
h AS (
    SELECT a.archived_id AS id FROM agg, LATERAL job_archive(agg.ids, agg.states, agg.errors) a
),
nh AS (
    SELECT count(*) AS n FROM h CROSS JOIN LATERAL
        (SELECT pg_notify('vkv_job_done', h.id::text)) x
)
SELECT (SELECT n FROM nh) + (SELECT count(*) FROM rq)

-- name: jq_workers_prune
-- $1 seconds: forget workers not seen for that long (dead workers stayed
-- listed in /v1/gpus and /v1/health for the 30 days of retention)
WITH d AS (DELETE FROM workers WHERE last_seen < now() - make_interval(secs => $1::int) RETURNING 1)
SELECT count(*) FROM d

-- name: jq_worker_upsert
INSERT INTO workers (name, device, last_seen)
VALUES ($1::text, coalesce($2::jsonb, '{}'::jsonb), now())
ON CONFLICT (name) DO UPDATE SET device = EXCLUDED.device, last_seen = now()

-- name: jq_workers
-- $1 stale seconds
SELECT json_build_object('workers', coalesce(json_agg(json_build_object(
           'name', name,
           -- a worker that said it stopped (SIGTERM, device lost) is down at
           -- once; one that went silent is down after the stale time
           'status', CASE WHEN device->>'state' IN ('stopped', 'device_lost') THEN 'down'
                          WHEN last_seen > now() - make_interval(secs => $1::int)
                          THEN 'up' ELSE 'down' END,
           'started_at', started_at, 'last_seen', last_seen,
           'device', device) ORDER BY name), '[]'))::text
  FROM workers

-- name: jq_retention
-- $1 days.  Deletes finished jobs, idempotency keys and empty batches older
-- than that, and the dashboard's job thumbnails older than one day (or $1
-- days when fewer); returns the rows deleted.
WITH h AS (
    DELETE FROM job_history
     WHERE finished_at < now() - make_interval(days => $1::int)
    RETURNING 1
),
i AS (
    DELETE FROM idempotency
     WHERE created_at < now() - make_interval(days => $1::int)
    RETURNING 1
),
w AS (
    DELETE FROM workers
     WHERE last_seen < now() - make_interval(days => $1::int)
    RETURNING 1
),
b AS (
    DELETE FROM batches bt
     WHERE bt.created_at < now() - make_interval(days => $1::int)
       AND NOT EXISTS (SELECT 1 FROM jobs WHERE batch_id = bt.id)
       AND NOT EXISTS (SELECT 1 FROM job_history hh WHERE hh.batch_id = bt.id
                        AND hh.finished_at >= now() - make_interval(days => $1::int))
    RETURNING 1
),
t AS (
    DELETE FROM job_thumbs
     WHERE created_at < now() - make_interval(days => least($1::int, 1))
    RETURNING 1
)
SELECT (SELECT count(*) FROM h) + (SELECT count(*) FROM i)
     + (SELECT count(*) FROM w) + (SELECT count(*) FROM b) + (SELECT count(*) FROM t)

-- name: jq_job_get_final
-- $1 tenant (0 = any), $2 job id: one row, the job's JSON once it has
-- ended, NULL while it is queued or running; no row when there is no such
-- job.  The synchronous wait's one statement per look (state + JSON).
SELECT CASE WHEN j.state IN ('queued', 'running') THEN NULL
            ELSE job_json(j, true)::text END
  FROM jobs_all j
 WHERE j.id = $2::bigint AND ($1::bigint = 0 OR j.tenant_id = $1::bigint)

-- name: jq_settings_set
-- NULL leaves a setting as it is.  Returns the settings as JSON.
UPDATE queue_settings SET
       aging_ms = coalesce($1::int, aging_ms),
       aged_interval_ms = coalesce($2::int, aged_interval_ms),
       fair_quantum_ms = coalesce($3::int, fair_quantum_ms),
       retry_base_ms = coalesce($4::int, retry_base_ms),
       retry_max_ms = coalesce($5::int, retry_max_ms)
 WHERE id = 1
RETURNING json_build_object('aging_ms', aging_ms, 'aged_interval_ms', aged_interval_ms,
                            'fair_quantum_ms', fair_quantum_ms,
                            'retry_base_ms', retry_base_ms,
                            'retry_max_ms', retry_max_ms)::text
