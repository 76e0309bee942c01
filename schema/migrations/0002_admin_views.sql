-- 0002_admin_views: documented views for admin SQL and the read-only role
-- vkv_readonly that may read them (never api_keys, inputs or result bytes).
-- Example queries: schema/README.md "Admin SQL".

-- every finished job with names and durations
CREATE VIEW admin_job_history AS
    SELECT h.id, h.tenant_id, t.name AS tenant, h.batch_id, h.task, h.model,
           h.tier, tr.name AS tier_name, h.state, h.attempts, h.max_attempts,
           h.enqueued_at, h.started_at, h.finished_at,
           extract(epoch FROM (h.started_at - h.enqueued_at)) * 1000 AS wait_ms,
           extract(epoch FROM (h.finished_at - h.started_at)) * 1000 AS run_ms,
           h.worker, h.device, h.error, h.input_type, h.input_bytes,
           h.result_type, octet_length(h.result_bytes) AS result_bytes, h.timings
      FROM job_history h
      LEFT JOIN tenants t ON t.id = h.tenant_id
      JOIN tiers tr ON tr.tier = h.tier;

-- live jobs (queued and running) with their wait so far
CREATE VIEW admin_live_jobs AS
    SELECT j.id, j.tenant_id, t.name AS tenant, j.batch_id, j.task, j.model,
           j.tier, tr.name AS tier_name, j.state, j.cancel_requested,
           j.attempts, j.max_attempts, j.enqueued_at, j.started_at,
           j.run_after, j.deadline_at, j.lease_until, j.worker, j.device,
           j.last_error,
           extract(epoch FROM (coalesce(j.started_at, now()) - j.enqueued_at)) * 1000
               AS wait_ms
      FROM jobs j
      LEFT JOIN tenants t ON t.id = j.tenant_id
      JOIN tiers tr ON tr.tier = j.tier;

-- queue depth and oldest wait per tier, right now
CREATE VIEW admin_queue_depth AS
    SELECT tr.tier, tr.name AS tier_name, tr.paused,
           count(j.id) FILTER (WHERE j.state = 'queued') AS queued,
           count(j.id) FILTER (WHERE j.state = 'queued' AND j.run_after > now())
               AS retry_waiting,
           count(j.id) FILTER (WHERE j.state = 'running') AS running,
           extract(epoch FROM (now() - min(j.enqueued_at)
               FILTER (WHERE j.state = 'queued'))) * 1000 AS oldest_wait_ms
      FROM tiers tr
      LEFT JOIN jobs j ON j.tier = tr.tier
     GROUP BY tr.tier, tr.name, tr.paused;

-- wait (enqueued -> last start) percentiles per tier and hour, finished jobs
CREATE VIEW admin_wait_percentiles AS
    SELECT date_trunc('hour', h.enqueued_at) AS hour, h.tier,
           tr.name AS tier_name, count(*) AS jobs,
           percentile_cont(0.50) WITHIN GROUP (ORDER BY
               extract(epoch FROM (h.started_at - h.enqueued_at)) * 1000) AS p50_ms,
           percentile_cont(0.90) WITHIN GROUP (ORDER BY
               extract(epoch FROM (h.started_at - h.enqueued_at)) * 1000) AS p90_ms,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY
               extract(epoch FROM (h.started_at - h.enqueued_at)) * 1000) AS p99_ms,
           max(extract(epoch FROM (h.started_at - h.enqueued_at)) * 1000) AS max_ms
      FROM job_history h
      JOIN tiers tr ON tr.tier = h.tier
     WHERE h.started_at IS NOT NULL
     GROUP BY 1, 2, 3;

-- usage per day, tenant, model and task
CREATE VIEW admin_usage AS
    SELECT date_trunc('day', h.finished_at) AS day, h.tenant_id,
           t.name AS tenant, h.model, h.task, count(*) AS jobs,
           count(*) FILTER (WHERE h.state = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE h.state = 'failed') AS failed,
           count(*) FILTER (WHERE h.state = 'canceled') AS canceled,
           count(*) FILTER (WHERE h.state = 'expired') AS expired,
           sum(h.attempts) AS attempts,
           sum(extract(epoch FROM (h.finished_at - h.started_at))) AS run_seconds,
           sum(h.input_bytes) AS input_bytes
      FROM job_history h
      LEFT JOIN tenants t ON t.id = h.tenant_id
     GROUP BY 1, 2, 3, 4, 5;

-- workers and whether they were seen in the last 30 s
CREATE VIEW admin_workers AS
    SELECT name, device, started_at, last_seen,
           last_seen > now() - interval '30 seconds' AS up
      FROM workers;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vkv_readonly') THEN
        CREATE ROLE vkv_readonly NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO vkv_readonly;
GRANT SELECT ON admin_job_history, admin_live_jobs, admin_queue_depth,
    admin_wait_percentiles, admin_usage, admin_workers, tenants, tiers,
    batches, queue_settings, schema_migrations TO vkv_readonly;
