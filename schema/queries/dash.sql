-- dash.sql: the read-only statements behind the operator's dashboard
-- (fcgi/handlers/h_dash.c, web/).  Every job-derived figure carries the
-- caller's tenant: $1 tenant (0 = every tenant, admin keys only).

-- name: dash_stats
-- Per tier and window (5 min, 1 h, 24 h): jobs finished, jobs/s (succeeded
-- or failed), wait p50/p99 (enqueued -> last start, jobs that started);
-- and a per-minute series of the last 60 minutes for the charts.
WITH h AS (
    SELECT tier, state, finished_at,
           extract(epoch FROM (started_at - enqueued_at)) * 1000 AS wait_ms
      FROM job_history
     WHERE finished_at > now() - interval '24 hours'
       AND ($1::bigint = 0 OR tenant_id = $1::bigint)
),
per AS (
    SELECT w.name, w.secs, t.tier,
           count(h.tier) AS finished,
           count(h.tier) FILTER (WHERE h.state IN ('succeeded', 'failed')) AS done,
           count(h.tier) FILTER (WHERE h.state = 'failed') AS failed,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY h.wait_ms) AS p50,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY h.wait_ms) AS p99
      FROM (VALUES ('5m', 300), ('1h', 3600), ('24h', 86400)) w(name, secs)
     CROSS JOIN tiers t
      LEFT JOIN h ON h.tier = t.tier
                 AND h.finished_at > now() - make_interval(secs => w.secs)
     GROUP BY w.name, w.secs, t.tier
),
ser AS (
    SELECT date_trunc('minute', finished_at) AS minute, tier, count(*) AS finished,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_ms) AS p50,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY wait_ms) AS p99
      FROM h
     WHERE finished_at > date_trunc('minute', now()) - interval '59 minutes'
     GROUP BY 1, 2
)
SELECT json_build_object(
           'now', now(),
           'scope', CASE WHEN $1::bigint = 0 THEN 'all' ELSE 'tenant' END,
           'windows', (SELECT json_agg(json_build_object(
                   'window', wn.name, 'seconds', wn.secs,
                   'tiers', (SELECT json_agg(json_build_object(
                           'tier', p.tier,
                           'name', (ARRAY['BACKGROUND','PRELOAD','INTERACTIVE','IMMEDIATE'])[p.tier + 1],
                           'finished', p.finished, 'failed', p.failed,
                           'jobs_per_s', round(p.done::numeric / p.secs, 4),
                           'wait_p50_ms', round(p.p50::numeric, 1),
                           'wait_p99_ms', round(p.p99::numeric, 1)) ORDER BY p.tier DESC)
                       FROM per p WHERE p.name = wn.name)) ORDER BY wn.secs)
                 FROM (VALUES ('5m', 300), ('1h', 3600), ('24h', 86400)) wn(name, secs)),
           'series', coalesce((SELECT json_agg(json_build_object(
                   'minute', s.minute, 'tier', s.tier, 'finished', s.finished,
                   'wait_p50_ms', round(s.p50::numeric, 1),
                   'wait_p99_ms', round(s.p99::numeric, 1)) ORDER BY s.minute, s.tier)
                 FROM ser s), '[]'))::text

-- name: dash_job_input
-- $1 tenant (0 = any), $2 job id: the input image while the job is queued
-- or running (a finished job's input is dropped with it, schema/README.md)
SELECT input, coalesce(input_type, 'application/octet-stream')
  FROM jobs
 WHERE id = $2::bigint AND ($1::bigint = 0 OR tenant_id = $1::bigint)
   AND input IS NOT NULL

-- name: dash_job_exists
-- $1 tenant (0 = any), $2 job id: 1 when the job exists for that tenant
SELECT 1 FROM jobs_all
 WHERE id = $2::bigint AND ($1::bigint = 0 OR tenant_id = $1::bigint)

-- name: dash_tenants
-- Tenants, their keys (prefix and flags only: never the hash) and their
-- live job counts.
SELECT json_build_object('tenants', coalesce(json_agg(json_build_object(
           'id', t.id, 'name', t.name, 'created_at', t.created_at,
           'queued', (SELECT count(*) FROM jobs j WHERE j.tenant_id = t.id AND j.state = 'queued'),
           'running', (SELECT count(*) FROM jobs j WHERE j.tenant_id = t.id AND j.state = 'running'),
           'keys', (SELECT coalesce(json_agg(json_build_object(
                        'id', k.id, 'prefix', k.key_prefix, 'is_admin', k.is_admin,
                        'created_at', k.created_at, 'revoked_at', k.revoked_at)
                        ORDER BY k.id), '[]')
                      FROM api_keys k WHERE k.tenant_id = t.id)) ORDER BY t.id), '[]'))::text
  FROM tenants t

-- name: dash_settings
SELECT json_build_object('settings', json_build_object(
           'aging_ms', aging_ms, 'aged_interval_ms', aged_interval_ms,
           'fair_quantum_ms', fair_quantum_ms, 'retry_base_ms', retry_base_ms,
           'retry_max_ms', retry_max_ms))::text
  FROM queue_settings
 WHERE id = 1

-- name: dash_thumb_put
-- $1 tenant, $2 job id, $3 the WebP bytes (vkv-api at enqueue)
INSERT INTO job_thumbs (job_id, tenant_id, bytes)
VALUES ($2::bigint, $1::bigint, $3::bytea)
ON CONFLICT (job_id) DO NOTHING

-- name: dash_job_thumb
-- $1 tenant (0 = any), $2 job id: (1, bytes) when a thumbnail is kept,
-- (0, NULL) when the job exists without one, no row when no such job.  A
-- live job whose input is its own thumbnail has it in jobs.input (0012);
-- one snapshot sees either that or the job_thumbs row its archive wrote.
SELECT CASE WHEN coalesce(t.bytes, l.input) IS NULL THEN 0 ELSE 1 END,
       coalesce(t.bytes, l.input)
  FROM jobs_all j
  LEFT JOIN job_thumbs t ON t.job_id = j.id
  LEFT JOIN jobs l ON l.id = j.id AND l.thumb_is_input
 WHERE j.id = $2::bigint AND ($1::bigint = 0 OR j.tenant_id = $1::bigint)
